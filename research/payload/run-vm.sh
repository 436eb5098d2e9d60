#!/usr/bin/env bash
# run-vm.sh debian-5.10|debian-6.1|debian-6.12 [KGEN [bench]]: build the
# prototype for that kernel (in a temporary copy of this directory) and run
# guest.sh (or, with "bench", bench.sh under --icount) in `kgen vm` with the
# Debian modules scripts/extract-modules.sh extracted.
set -euo pipefail
name=$1 kgen=${2:-kgen} what=${3:-guest}
K=${KGEN_KERNELS:-$HOME/.cache/kgen/kernels}/$name
here=$(cd "$(dirname "$0")" && pwd)
[[ -d $K/modules/ko ]] || "$here/../../scripts/extract-modules.sh" "$name"
b=$(mktemp -d)
trap 'rm -rf "$b"' EXIT
cp -r "$here"/. "$b/"
make -s -C "$b" clean >/dev/null
make -s -C "$b" KDIR="$K/kdir" MAKEENV="$(tr '\n' ' ' <"$K/make.env") W=1" >/dev/null
# no wrapper may tail-call its real function (it would be redirected again, forever)
if "$here/relocs.sh" "$b/kgen_pp.ko" | grep jmp; then
	echo "run-vm: kgen_pp.ko tail-calls an intercepted function (above)" >&2
	exit 1
fi
mkdir "$b/m"
cp "$b"/kgen_pp*.ko "$K"/modules/ko/*.ko "$b/m/"
if [[ $what == bench ]]; then
	"$kgen" vm --kernel "$K/vmlinux" --icount --timeout 10m --add "$b/m/:/root/" --add "$here/bench.sh:/root/bench.sh" -- sh /root/bench.sh
	exit 0
fi
"$kgen" vm --kernel "$K/vmlinux" --timeout 5m --add "$b/m/:/root/" --add "$here/guest.sh:/root/guest.sh" -- sh /root/guest.sh
