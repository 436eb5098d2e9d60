#!/usr/bin/env bash
# fetch-tools.sh: fetch Debian bookworm's trace-cmd and perf with every
# shared library they need, for the VM test that reads kgen's events with the
# standard tools (e2e/tools_test.go). Nothing is installed into the system:
# the packages are extracted (dpkg-deb -x) into one root, and a guest runs
# the programs through that root's own dynamic loader.
#
# usage: scripts/fetch-tools.sh
#
# Layout ($KGEN_KERNELS, default ~/.cache/kgen/kernels):
#   .tools/bookworm/root/          dpkg -x of trace-cmd, linux-perf and the
#                                  closure of their dependencies
#   .tools/bookworm/guest/         what a guest needs of root/: the programs,
#                                  libtraceevent's plugins and the libraries
#                                  they link (kgen vm --add guest:/opt/tools)
#   .tools/bookworm/bin/trace-cmd  guest wrappers: run the program through
#   .tools/bookworm/bin/perf       guest/'s ld-linux with --library-path
#   .tools/bookworm/packages       the packages extracted, one a line
#   .tools/bookworm/.done          stamp: a rerun is a no-op
# Environment: as scripts/fetch-kernels.sh (KGEN_KERNELS, KGEN_APT_TRUSTED,
# KGEN_DEBIAN_MIRROR).
set -euo pipefail

# shellcheck source=fetch-kernels.sh
source "$(dirname "${BASH_SOURCE[0]}")/fetch-kernels.sh"

log() { printf '%s\n' "fetch-tools: $*" >&2; }
die() { printf '%s\n' "fetch-tools: error: $*" >&2; exit 1; }

SUITE=bookworm
TOOLS=(trace-cmd linux-perf)
GUEST_ROOT=/opt/tools # where the guest has guest/ (kgen vm --add guest:/opt/tools)

# needed FILE: the sonames FILE links against.
needed() { readelf -d --wide "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }

# build_guest DIR: DIR/guest gets the programs, the plugins and the shared
# libraries they need (followed through NEEDED, symlinks resolved), about
# 34 MB instead of the 155 MB the packages unpack to; DIR/bin the wrappers.
build_guest() {
	local d=$1 r=$1/root g=$1/guest
	local libdirs=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu)
	local ld=lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
	[[ -f $r/$ld ]] || die "$SUITE: libc6 brought no $ld"
	local f
	for f in usr/bin/trace-cmd usr/bin/perf; do
		is_elf "$r/$f" || die "$SUITE: $f is not an ELF program"
	done
	rm -rf "$g"
	copy() { mkdir -p "$g/$(dirname "$1")" && cp -L "$r/$1" "$g/$1"; }
	local queue=(usr/bin/trace-cmd usr/bin/perf "$ld") seen=" " so l found
	for f in "$r"/usr/lib/x86_64-linux-gnu/traceevent/plugins/*.so; do
		queue+=("${f#"$r/"}")
	done
	while ((${#queue[@]} > 0)); do
		f=${queue[0]}
		queue=("${queue[@]:1}")
		copy "$f"
		for so in $(needed "$r/$f"); do
			[[ $seen == *" $so "* ]] && continue
			seen+="$so "
			found=
			for l in "${libdirs[@]}"; do
				if [[ -e $r/$l/$so ]]; then
					found=$l/$so
					break
				fi
			done
			[[ -n $found ]] || die "$SUITE: $so (needed by $f) is in no package fetched"
			queue+=("$found")
		done
	done
	mkdir -p "$d/bin"
	local libpath=$GUEST_ROOT/lib/x86_64-linux-gnu:$GUEST_ROOT/usr/lib/x86_64-linux-gnu
	for f in trace-cmd perf; do
		{
			echo '#!/bin/sh'
			echo "# kgen: Debian $SUITE's $f from $GUEST_ROOT, run by its own loader and libraries."
			# perf 6.1 has its own libtraceevent: the library's plugins
			# do not link with it.
			[[ $f == trace-cmd ]] && echo "export TRACEEVENT_PLUGIN_DIR=$GUEST_ROOT/usr/lib/x86_64-linux-gnu/traceevent/plugins"
			echo "exec $GUEST_ROOT/$ld --library-path $libpath $GUEST_ROOT/usr/bin/$f \"\$@\""
		} >"$d/bin/$f"
		chmod 755 "$d/bin/$f"
	done
}

fetch_tools() {
	local dir=$KGEN_KERNELS/.tools/$SUITE
	if [[ -f $dir/.done ]]; then
		log "$SUITE tools: already fetched ($dir)"
		return 0
	fi
	setup_apt "$SUITE"
	# With an empty dpkg status, --print-uris lists the whole dependency
	# closure, libc6 included: the guest has no libraries of its own.
	local out
	if ! out=$(apt_get -q install --print-uris -y --no-install-recommends "${TOOLS[@]}" 2>&1); then
		printf '%s\n' "$out" >&2
		die "$SUITE: apt-get cannot resolve ${TOOLS[*]}"
	fi
	local file pkgs=() pkg ver
	while read -r _ file _; do
		pkg=${file%%_*}
		ver=${file#*_}
		ver=${ver%_*}
		ver=${ver//%3a/:}
		pkgs+=("$pkg=$ver")
	done < <(grep "^'" <<<"$out")
	((${#pkgs[@]} > 0)) || die "$SUITE: no packages listed for ${TOOLS[*]}"
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/root" "$dir.tmp/bin"
	local p deb
	for p in "${pkgs[@]}"; do
		deb=$(download "$SUITE" "${p%%=*}" "${p#*=}")
		dpkg-deb -x "$deb" "$dir.tmp/root"
		echo "$p" >>"$dir.tmp/packages"
	done
	build_guest "$dir.tmp"
	touch "$dir.tmp/.done"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	log "$SUITE tools: ready in $dir (${#pkgs[@]} packages; guest tree $(du -sh "$dir/guest" | cut -f1))"
}

need_tools
mkdir -p "$KGEN_KERNELS/.debs" "$KGEN_KERNELS/.tools"
# Its own lock: a kernel fetch (which may build a kernel for minutes) holds
# $KGEN_KERNELS/.lock.
exec 9>"$KGEN_KERNELS/.tools/.lock"
flock 9
fetch_tools
