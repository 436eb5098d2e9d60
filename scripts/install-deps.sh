#!/usr/bin/env bash
# install-deps.sh: install what kgen's build, tests, VM and demo need on a
# Debian bookworm host. Idempotent: packages already installed are skipped,
# and apt-get update runs only when something is missing.
#
# usage: scripts/install-deps.sh [--arm64]
#   --arm64 (or KGEN_ARM64=1) also installs the arm64 cross compiler and
#           qemu-system-arm (~50 MB download, ~200 MB installed).
# Run as root (only needed when something is missing).
set -euo pipefail

log() { printf '%s\n' "install-deps: $*"; }
die() { printf '%s\n' "install-deps: error: $*" >&2; exit 1; }

arm64=${KGEN_ARM64:-0}
for a in "$@"; do
	case "$a" in
	--arm64) arm64=1 ;;
	-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$a' (usage: $0 [--arm64])" ;;
	esac
done

pkgs=(
	# building modules against a kernel's Kbuild, and the debug-6.1 kernel
	gcc make libc6-dev binutils bc flex bison libelf-dev libssl-dev patch
	# checking (make C=1)
	sparse
	# modinfo/insmod, initramfs assembly, (de)compressing kernels
	kmod cpio xz-utils zstd gzip file
	# the VM: a static busybox for the guest, qemu for x86-64
	busybox-static qemu-system-x86
	# scripts/fetch-kernels.sh: signed Debian archives over apt, flock
	ca-certificates debian-archive-keyring gpgv gnupg util-linux
	# the module signing tests: keys made and signatures checked by openssl
	openssl
)
((arm64 == 1)) && pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm)

# one dpkg-query for all (unknown packages are simply absent from its output)
declare -A installed=()
while read -r name status; do
	[[ $status == ii ]] && installed[${name%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null || true)
missing=()
for p in "${pkgs[@]}"; do
	[[ -n ${installed[$p]:-} ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	log "all ${#pkgs[@]} packages already installed"
else
	[[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]}: rerun as root (sudo $0)"
	export DEBIAN_FRONTEND=noninteractive
	log "apt-get update"
	apt-get -qq update >/tmp/kgen-install-deps.log 2>&1 ||
		{ cat /tmp/kgen-install-deps.log >&2; die "apt-get update failed"; }
	log "installing ${#missing[@]} packages: ${missing[*]}"
	apt-get -qq -y --no-install-recommends install "${missing[@]}" >>/tmp/kgen-install-deps.log 2>&1 ||
		{ tail -n 30 /tmp/kgen-install-deps.log >&2; die "apt-get install failed (full log: /tmp/kgen-install-deps.log)"; }
	log "installed"
fi

# Go: Debian's golang is too old; kgen needs Go >= 1.26 (go.mod).
gobin=$(command -v go 2>/dev/null || true)
[[ -z $gobin && -x /usr/local/go/bin/go ]] && gobin=/usr/local/go/bin/go
if [[ -z $gobin ]]; then
	die "go not found: install Go >= 1.26 from https://go.dev/dl/ into /usr/local/go and add /usr/local/go/bin to PATH (Debian's golang package is too old)"
fi
# outside any module and with the local toolchain: fast and no download.
gover=$(cd / && GOTOOLCHAIN=local "$gobin" version 2>/dev/null | awk '{print $3}' | sed 's/^go//')
if [[ $(printf '%s\n%s\n' "1.26" "${gover%%[!0-9.]*}" | sort -V | head -n1) != 1.26 ]]; then
	die "$gobin is go$gover: kgen needs Go >= 1.26 (https://go.dev/dl/; Debian's golang is too old)"
fi
[[ $(command -v go 2>/dev/null) == "$gobin" ]] || log "note: add $(dirname "$gobin") to PATH"
log "go $gover at $gobin"
