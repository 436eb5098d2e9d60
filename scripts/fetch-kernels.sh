#!/usr/bin/env bash
# fetch-kernels.sh: fetch real Debian amd64 kernels (headers + kbuild + image)
# for kgen's compile and VM tests, without installing anything into the system.
#
# usage: scripts/fetch-kernels.sh [debian-5.10 debian-6.1 debian-6.12 debug-6.1 debian-6.1-arm64 ...]
#        (default: all five)
#
# debian-6.1-arm64 is Debian bookworm's arm64 linux-headers and -common with
# the amd64 linux-kbuild-6.1 of the same version, whose host tools (fixdep,
# modpost) run on this machine, as Debian's cross-build docs do. Build with
# ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- (its make.env says so; the
# compiler is Debian's gcc-12-aarch64-linux-gnu). For kgen vm it also gets the
# arm64 image package's kernel as Image, for qemu-system-aarch64 -M virt
# -kernel (bookworm's vmlinuz is an uncompressed Image with an EFI stub; a
# gzip or EFI zboot one is unpacked; no vmlinux: the -dbg package is 800 MB),
# its virtio modules and Debian's busybox-static:arm64 as busybox (all
# extracted, not installed). The headers stay usable alone: the image step
# has its own stamp (.image-done).
#
# debug-6.1 is not a Debian build: it is Debian bookworm's linux-source-6.1
# configured with scripts/debug-6.1.config (tinyconfig + what kgen needs +
# KASAN, lockdep, atomic-sleep, list and object debugging) and built here,
# about 9 minutes of 2 CPUs (the full make log goes to
# $KGEN_KERNELS/debug-6.1/build.log). See build_debug below.
#
# Environment:
#   KGEN_KERNELS       where kernels go (default ~/.cache/kgen/kernels)
#   KGEN_JOBS          make -j for building debug-6.1 (default: nproc)
#   KGEN_APT_TRUSTED=1 last resort: mark the suites [trusted=yes] when the
#                      host keyring lacks a suite's key (prefer
#                      `apt-get install debian-archive-keyring`).
#
# Layout, per kernel NAME:
#   $KGEN_KERNELS/NAME/kdir      -> root/usr/src/linux-headers-<release> (a
#                                   usable KDIR: make -C kdir M=DIR modules)
#   $KGEN_KERNELS/NAME/vmlinux   uncompressed ELF kernel (boot with qemu -kernel;
#                                none for debian-6.1-arm64, which boots
#                                its Image)
#   $KGEN_KERNELS/NAME/Image     (arm64) the uncompressed arm64 kernel image
#                                (qemu-system-aarch64 -kernel)
#   $KGEN_KERNELS/NAME/busybox   (arm64) Debian's static arm64 busybox
#   $KGEN_KERNELS/NAME/vm-modules/ (arm64) virtio_mmio.ko, virtio_console.ko:
#                                kgen vm's output port on qemu's virt machine
#   $KGEN_KERNELS/NAME/make.env  extra make variables, VAR=value one per line
#   $KGEN_KERNELS/NAME/release   kernel release (uname -r in the guest,
#                                first word of a module's vermagic)
#   $KGEN_KERNELS/NAME/config    the kernel's .config (from the image package,
#                                or the headers' .config when headers only)
#   $KGEN_KERNELS/NAME/root/     dpkg -x root of headers, -common, kbuild
#   $KGEN_KERNELS/NAME/glibc/    the suite's libc6, only when the kbuild host
#                                tools need a newer glibc than the host's
#   $KGEN_KERNELS/NAME/libcrypto/ the suite's libssl, only when the host lacks
#                                the libcrypto scripts/sign-file links
#   $KGEN_KERNELS/NAME/.done     stamp: a rerun is a no-op (debug-6.1: it
#                                holds the source version and the hashes of
#                                the config fragment and patches; a change of
#                                any of them rebuilds)
#   $KGEN_KERNELS/.debs/         downloaded .deb cache
#   $KGEN_KERNELS/.apt/SUITE/    private apt lists/cache/status per suite
#                                (SUITE-arm64: the same with arm64 packages too)
#   $KGEN_KERNELS/READY          names of the bootable kernels ready to use
#                                (with a vmlinux, or an Image and busybox),
#                                one a line
#
# Use a kernel:
#   make -C "$K/kdir" M="$PWD" modules $(cat "$K/make.env")
set -euo pipefail

KGEN_KERNELS=${KGEN_KERNELS:-$HOME/.cache/kgen/kernels}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=${KGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KGEN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
ALL_KERNELS=(debian-5.10 debian-6.1 debian-6.12 debug-6.1 debian-6.1-arm64)

log() { printf '%s\n' "fetch-kernels: $*" >&2; }
die() { printf '%s\n' "fetch-kernels: error: $*" >&2; exit 1; }

human() { numfmt --to=iec --suffix=B "$1" 2>/dev/null || echo "${1}B"; }

# suite_of NAME: the Debian suite whose kernel NAME is.
suite_of() {
	case "$1" in
	debian-5.10) echo bullseye ;;
	debian-6.1) echo bookworm ;;
	debian-6.12) echo trixie ;;
	debug-6.1) echo bookworm ;;
	debian-6.1-arm64) echo bookworm ;;
	*) die "unknown kernel '$1': known kernels are ${ALL_KERNELS[*]}" ;;
	esac
}

# suite_key_uid SUITE: the keyring uid that must exist for SUITE.
suite_key_uid() {
	case "$1" in
	bullseye) echo '(11/bullseye)' ;;
	bookworm) echo '(12/bookworm)' ;;
	trixie) echo '(13/trixie)' ;;
	esac
}

need_tools() {
	local t missing=()
	for t in apt-get apt-cache dpkg-deb numfmt xz zstd gzip readelf flock sort sha256sum; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (run scripts/install-deps.sh as root)"
}

# ---- private apt --------------------------------------------------------
# Every apt call runs with APT_CONFIG pointing at a private config: `-o
# Dir::Etc::parts=` on the command line comes too late to stop the host's
# apt.conf.d (docker-clean disables the package cache, appstream/packagekit
# hooks) from applying, but a main config file read first does.
# A second argument adds a foreign architecture (arm64): its lists live in
# their own .apt/SUITE-ARCH, so the amd64-only suites download no more.
APT_CONF=
setup_apt() { # SUITE [FOREIGN_ARCH]
	local suite=$1 foreign=${2:-} d=$KGEN_KERNELS/.apt/$1${2:+-$2} trust="signed-by=$KEYRING"
	local archs=amd64 archlist='"amd64";'
	if [[ -n $foreign ]]; then
		archs+=",$foreign"
		archlist+=" \"$foreign\";"
	fi
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/etc/apt.conf.d" \
		"$d/etc/preferences.d" "$d/etc/sources.list.d" "$d/state"
	: >"$d/status.new" && mv -f "$d/status.new" "$d/status" # always empty
	: >"$d/etc/apt.conf"
	if [[ ${KGEN_APT_TRUSTED:-} == 1 ]]; then
		trust="trusted=yes"
		log "warning: KGEN_APT_TRUSTED=1: $suite is NOT signature-checked"
	else
		[[ -r $KEYRING ]] || die "no $KEYRING: apt-get install debian-archive-keyring"
		if command -v gpg >/dev/null 2>&1 &&
			! gpg --show-keys "$KEYRING" 2>/dev/null | grep -qF "$(suite_key_uid "$suite")"; then
			die "$KEYRING has no key for $suite: upgrade it (apt-get install debian-archive-keyring) or, as a last resort, rerun with KGEN_APT_TRUSTED=1"
		fi
	fi
	cat >"$d/sources.list" <<EOF
deb [arch=$archs $trust] $MIRROR $suite main
deb [arch=$archs $trust] $SECURITY_MIRROR $suite-security main
EOF
	{
		cat <<EOF
Dir::Etc::main "$d/etc/apt.conf";
Dir::Etc::parts "$d/etc/apt.conf.d";
Dir::Etc::sourcelist "$d/sources.list";
Dir::Etc::sourceparts "$d/etc/sources.list.d";
Dir::Etc::preferences "$d/etc/preferences";
Dir::Etc::preferencesparts "$d/etc/preferences.d";
Dir::State "$d/state";
Dir::State::Lists "$d/lists";
Dir::State::status "$d/status";
Dir::Cache "$d/cache";
Dir::Cache::archives "$d/cache/archives";
Dir::Cache::pkgcache "pkgcache.bin";
Dir::Cache::srcpkgcache "srcpkgcache.bin";
APT::Architecture "amd64";
APT::Architectures { $archlist };
Acquire::Languages { "none"; };
APT::Get::List-Cleanup "true";
EOF
		# _apt cannot read root's home: download as root instead of warning.
		if [[ $(id -u) == 0 ]]; then echo 'APT::Sandbox::User "root";'; fi
		# keep the host's proxy settings, if any
		local p v
		for p in Acquire::http::Proxy Acquire::https::Proxy; do
			v=$(apt-config shell V "$p" 2>/dev/null | sed -n "s/^V='\(.*\)'$/\1/p") || true
			if [[ -n $v ]]; then echo "$p \"$v\";"; fi
		done
	} >"$d/apt.conf"
	APT_CONF=$d/apt.conf
	log "$suite: apt-get update (private lists in $d)"
	local out
	if ! out=$(apt_get -q update 2>&1); then
		printf '%s\n' "$out" >&2
		die "$suite: apt-get update failed (is $MIRROR reachable?)"
	fi
	grep -E '^(W|E): ' <<<"$out" >&2 || true
	# apt-get update exits 0 even when a source failed to download or verify
	if grep -qE '^E: ' <<<"$out"; then
		die "$suite: apt-get update reported errors (see above)"
	fi
}

apt_get() { APT_CONFIG=$APT_CONF apt-get "$@"; }
apt_cache() { APT_CONFIG=$APT_CONF apt-cache "$@"; }

# candidate_version PKG: the version apt would download, or empty.
candidate_version() {
	apt_cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n1
}

# download SUITE PKG VERSION: fetch PKG=VERSION into .debs (cached); prints its path.
download() {
	local suite=$1 pkg=$2 ver=$3 line file size
	line=$(apt_get -q download --print-uris "$pkg=$ver" 2>&1 | grep "^'" | head -n1) ||
		die "$suite: package $pkg=$ver not downloadable from $suite/$suite-security"
	read -r _ file size _ <<<"$line"
	local path=$KGEN_KERNELS/.debs/$file
	if [[ -f $path && $(stat -c %s "$path") == "$size" ]]; then
		log "$suite: cached   $file ($(human "$size"))"
	else
		log "$suite: download $file ($(human "$size"))"
		local out
		if ! out=$(cd "$KGEN_KERNELS/.debs" && apt_get -q download "$pkg=$ver" 2>&1); then
			printf '%s\n' "$out" >&2
			die "$suite: apt-get download $pkg=$ver failed"
		fi
		[[ -f $path ]] || die "$suite: apt-get download $pkg=$ver produced no $file"
	fi
	printf '%s\n' "$path"
}

# ---- vmlinux from a bzImage ---------------------------------------------
is_elf() { [[ $(head -c4 "$1" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; }

extract_vmlinux() { # BZIMAGE OUT
	local img=$1 out=$2 magic tool off
	for spec in 'fd377a585a00:xz -dc' '28b52ffd:zstd -dcq' '1f8b0800:gzip -dcq' '1f8b0808:gzip -dcq'; do
		magic=${spec%%:*} tool=${spec#*:}
		local pat
		pat=$(sed 's/../\\x&/g' <<<"$magic") # hex -> \xNN for grep -P
		for off in $(LC_ALL=C grep -obUaP "$pat" "$img" 2>/dev/null | cut -d: -f1); do
			# the stream is followed by the rest of the bzImage: ignore
			# trailing-garbage errors, judge by the ELF header.
			tail -c "+$((off + 1))" "$img" | $tool >"$out.tmp" 2>/dev/null || true
			if [[ -s $out.tmp ]] && is_elf "$out.tmp"; then
				mv -f "$out.tmp" "$out"
				echo "${tool%% *}@$off"
				return 0
			fi
		done
	done
	rm -f "$out.tmp"
	return 1
}

# ---- host tools needing a newer glibc -----------------------------------
# max_glibc FILE: the highest GLIBC_x.y version FILE needs (empty if none).
max_glibc() {
	readelf -V --wide "$1" 2>/dev/null | grep -o 'Name: GLIBC_[0-9.]*' | sed 's/Name: GLIBC_//' |
		sort -V | tail -n1
}

version_gt() { [[ $1 != "$2" && $(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n1) == "$1" ]]; }

# wrap_new_glibc NAME SUITE DIR: find ELF executables under DIR/root that need
# a newer glibc than the host's; if any, extract the suite's libc6 into
# DIR/glibc and replace each with a wrapper running it through that libc.
wrap_new_glibc() {
	local name=$1 suite=$2 dir=$3 host f need list=()
	host=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
	[[ -n $host ]] || host=$(ldd --version 2>/dev/null | head -n1 | grep -o '[0-9.]*$')
	while IFS= read -r -d '' f; do
		[[ $f == *.real ]] && continue
		is_elf "$f" || continue
		need=$(max_glibc "$f")
		[[ -n $need ]] && version_gt "$need" "$host" && list+=("$f")
	done < <(find "$dir/root" -type f -perm -u+x -print0)
	((${#list[@]} > 0)) || return 0
	log "$name: ${#list[@]} host tools need glibc > $host: wrapping them with $suite's libc6"
	local ver deb
	ver=$(candidate_version libc6)
	[[ -n $ver ]] || die "$suite: no libc6 package found"
	deb=$(download "$suite" libc6 "$ver")
	rm -rf "$dir/glibc"
	dpkg-deb -x "$deb" "$dir/glibc"
	local ld libdir
	ld=$(find "$dir/glibc" -name 'ld-linux-x86-64.so.2' \( -type f -o -type l \) | head -n1)
	libdir=$(dirname "$(find "$dir/glibc" -name 'libc.so.6' | head -n1)")
	[[ -n $ld && -e $libdir/libc.so.6 ]] || die "$suite: libc6 $ver has no ld-linux-x86-64.so.2/libc.so.6"
	local base
	for f in "${list[@]}"; do
		base=$(basename "$f")
		need=$(max_glibc "$f")
		mv -f "$f" "$f.real"
		cat >"$f" <<EOF
#!/bin/sh
# kgen: $base needs glibc $need (host has $host): run it with $suite's libc6.
exec '$ld' --library-path '$libdir' --argv0 "\$0" "\$(dirname "\$0")/$base.real" "\$@"
EOF
		chmod 755 "$f"
		log "$name: wrapped ${f#"$dir/root/"}"
	done
}

# ---- make.env -----------------------------------------------------------
write_make_env() { # KDIR OUT
	local kdir=$1 out=$2 cc want host_cc host_major want_major
	: >"$out.tmp"
	want=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$kdir/.config")
	want_major=$(sed -n 's/^CONFIG_GCC_VERSION=\([0-9]*\)$/\1/p' "$kdir/.config")
	want_major=$((${want_major:-0} / 10000))
	host_major=$(gcc -dumpversion 2>/dev/null | cut -d. -f1 || true)
	host_cc=gcc
	command -v "gcc-$host_major" >/dev/null 2>&1 && host_cc=gcc-$host_major
	# The tree's Makefile/config names the compiler it was built with
	# (e.g. gcc-10); when the host lacks it, use the host's gcc.
	if [[ -n $want ]] && ! command -v "$want" >/dev/null 2>&1; then
		echo "CC=$host_cc" >>"$out.tmp"
	fi
	# Built by a newer gcc than ours: flags probed with that gcc are unknown
	# to ours (-fmin-function-alignment), and BTF for modules needs the
	# matching pahole/resolve_btfids setup: turn both off.
	if [[ -n $host_major ]] && ((want_major > host_major)); then
		for cc in CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT CONFIG_DEBUG_INFO_BTF_MODULES; do
			grep -q "^$cc=y" "$kdir/.config" && echo "$cc=" >>"$out.tmp"
		done
	fi
	mv -f "$out.tmp" "$out"
}

write_ready() {
	local n tmp=$KGEN_KERNELS/READY.tmp
	: >"$tmp"
	for n in "$KGEN_KERNELS"/*/; do
		n=$(basename "$n")
		[[ -f $KGEN_KERNELS/$n/.done && -e $KGEN_KERNELS/$n/kdir/Makefile ]] || continue
		if [[ -s $KGEN_KERNELS/$n/vmlinux ]] ||
			[[ -f $KGEN_KERNELS/$n/.image-done && -s $KGEN_KERNELS/$n/Image && -s $KGEN_KERNELS/$n/busybox && -d $KGEN_KERNELS/$n/vm-modules ]]; then
			echo "$n" >>"$tmp"
		fi
	done
	mv -f "$tmp" "$KGEN_KERNELS/READY"
}

# ---- one kernel ---------------------------------------------------------
fetch_one() {
	local name=$1 suite dir
	if [[ $name == debug-* ]]; then
		build_debug "$name"
		return
	fi
	if [[ $name == *-arm64 ]]; then
		fetch_cross_headers "$name" arm64
		fetch_cross_image "$name" arm64
		write_ready
		return
	fi
	suite=$(suite_of "$name")
	dir=$KGEN_KERNELS/$name
	if [[ -f $dir/.done ]]; then
		log "$name: ready ($(cat "$dir/release")), nothing to do"
		return 0
	fi
	local start=$SECONDS
	setup_apt "$suite"
	local mm=${name#debian-} re rel
	re="^linux-headers-${mm//./\\.}\\.[0-9]+(-[0-9]+|\\+deb[0-9]+)-amd64\$"
	rel=$(apt_cache pkgnames linux-headers- | grep -E "$re" | sort -V | tail -n1 || true)
	[[ -n $rel ]] || die "$suite: no linux-headers-$mm.*-amd64 package in $suite/$suite-security"
	rel=${rel#linux-headers-}
	log "$name: newest ABI in $suite is $rel"

	# headers + what they depend on from the kernel itself (-common, kbuild)
	local hver pkgs=() p
	hver=$(candidate_version "linux-headers-$rel")
	pkgs+=("linux-headers-$rel=$hver")
	for p in $(apt_cache show --no-all-versions "linux-headers-$rel" | sed -n 's/^Depends: //p' |
		tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep -E '^linux-(headers|kbuild)-'); do
		local v
		v=$(candidate_version "$p")
		[[ -n $v ]] || die "$suite: linux-headers-$rel depends on $p, which is not in $suite"
		pkgs+=("$p=$v")
	done
	local img="linux-image-$rel-unsigned" iver
	iver=$(candidate_version "$img")
	if [[ -z $iver ]]; then
		img="linux-image-$rel"
		iver=$(candidate_version "$img")
	fi
	[[ -n $iver ]] || die "$suite: neither linux-image-$rel-unsigned nor linux-image-$rel in $suite"

	local debs=() d
	for p in "${pkgs[@]}"; do
		d=$(download "$suite" "${p%%=*}" "${p#*=}")
		debs+=("$d")
	done
	local imgdeb
	imgdeb=$(download "$suite" "$img" "$iver")

	rm -rf "$dir"
	write_ready # no longer ready while it is being rebuilt
	mkdir -p "$dir/root"
	for d in "${debs[@]}"; do
		dpkg-deb -x "$d" "$dir/root"
		log "$name: extracted $(basename "$d")"
	done
	local kdir=$dir/root/usr/src/linux-headers-$rel
	[[ -f $kdir/Makefile ]] || die "$suite: linux-headers-$rel has no usr/src/linux-headers-$rel/Makefile"
	# The flavour's Makefile includes /usr/src/linux-headers-<v>-common/Makefile:
	# point it (and any other absolute /usr/src reference) at our root.
	sed -i "s#/usr/src/linux-headers-#$dir/root/usr/src/linux-headers-#g" "$kdir/Makefile"
	ln -sfn "root/usr/src/linux-headers-$rel" "$dir/kdir"
	local broken
	broken=$(find -L "$dir/root/usr/src" -maxdepth 2 -type l 2>/dev/null | head -n3)
	[[ -z $broken ]] || die "$name: dangling links in headers tree: $broken"

	# vmlinux (+config, System.map) from the image package
	local tmp
	tmp=$(mktemp -d "$dir/.img.XXXXXX")
	# (Debian's boot/System.map is a placeholder pointing at the -dbg
	# package, so it is not kept.)
	dpkg-deb --fsys-tarfile "$imgdeb" | tar -x -C "$tmp" \
		"./boot/vmlinuz-$rel" "./boot/config-$rel" ||
		die "$suite: $img has no boot/vmlinuz-$rel"
	cp "$tmp/boot/config-$rel" "$dir/config"
	local how
	how=$(extract_vmlinux "$tmp/boot/vmlinuz-$rel" "$dir/vmlinux") ||
		die "$name: no xz/zstd/gzip stream holding an ELF kernel in $img's vmlinuz-$rel"
	rm -rf "$tmp"
	log "$name: extracted vmlinux ($how, $(human "$(stat -c %s "$dir/vmlinux")"))"
	if command -v file >/dev/null 2>&1; then
		file -b "$dir/vmlinux" | grep -q 'ELF 64-bit LSB executable, x86-64' ||
			die "$name: vmlinux is not an x86-64 ELF: $(file -b "$dir/vmlinux")"
	fi

	wrap_new_glibc "$name" "$suite" "$dir"

	local krel
	# UTS_RELEASE is what vermagic and uname -r say (Debian's
	# include/config/kernel.release holds the upstream version instead).
	krel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h" 2>/dev/null)
	[[ $krel == "$rel" ]] || die "$name: utsrelease.h says '$krel', package says '$rel'"
	echo "$rel" >"$dir/release"
	write_make_env "$kdir" "$dir/make.env"
	touch "$dir/.done"
	write_ready
	log "$name: ready: $rel in $((SECONDS - start))s (make.env: $(tr '\n' ' ' <"$dir/make.env"))"
}

# ---- headers only, for a foreign architecture ---------------------------
# fetch_cross_headers NAME ARCH: debian-<mm>-<arch> is the suite's newest
# linux-headers-<mm>.*-<arch> and its -common (ARCH's packages), with the
# amd64 linux-kbuild-<mm> of the same version: the kbuild package holds the
# host tools (fixdep, modpost, ...) that the headers' scripts/ links to, and
# they must run here. No image: compile tests only.
fetch_cross_headers() {
	local name=$1 arch=$2 suite dir
	suite=$(suite_of "$name")
	dir=$KGEN_KERNELS/$name
	if [[ -f $dir/.done ]]; then
		log "$name: ready ($(cat "$dir/release")), nothing to do"
		return 0
	fi
	local start=$SECONDS
	setup_apt "$suite" "$arch"
	local mm=${name#debian-} re rel
	mm=${mm%-"$arch"}
	re="^linux-headers-${mm//./\\.}\\.[0-9]+(-[0-9]+|\\+deb[0-9]+)-$arch\$"
	rel=$(apt_cache pkgnames linux-headers- | grep -E "$re" | sort -V | tail -n1 || true)
	[[ -n $rel ]] || die "$suite: no linux-headers-$mm.*-$arch package in $suite/$suite-security"
	rel=${rel#linux-headers-}
	log "$name: newest ABI in $suite is $rel"

	local hver pkgs=() p v kbuild=
	hver=$(candidate_version "linux-headers-$rel:$arch")
	[[ -n $hver ]] || die "$suite: no version of linux-headers-$rel:$arch"
	pkgs+=("linux-headers-$rel:$arch=$hver")
	for p in $(apt_cache show --no-all-versions "linux-headers-$rel:$arch" | sed -n 's/^Depends: //p' |
		tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/:.*//; s/ //g' | grep -E '^linux-(headers|kbuild)-'); do
		# -common is Architecture: all; kbuild is taken for the host (amd64)
		v=$(candidate_version "$p:amd64")
		[[ -n $v ]] || v=$(candidate_version "$p")
		[[ -n $v ]] || die "$suite: linux-headers-$rel depends on $p, which is not in $suite"
		if [[ $p == linux-kbuild-* ]]; then
			kbuild=$p
			# the host tools must come from the same kernel source
			[[ $v == "$hver" ]] || die "$suite: $p:amd64 is $v, linux-headers-$rel:$arch is $hver: the mirror is mid-update, retry later"
			pkgs+=("$p:amd64=$v")
		else
			pkgs+=("$p=$v")
		fi
	done
	[[ -n $kbuild ]] || die "$suite: linux-headers-$rel:$arch depends on no linux-kbuild package"

	local debs=() d
	for p in "${pkgs[@]}"; do
		d=$(download "$suite" "${p%%=*}" "${p#*=}")
		debs+=("$d")
	done

	rm -rf "$dir"
	write_ready
	mkdir -p "$dir/root"
	for d in "${debs[@]}"; do
		dpkg-deb -x "$d" "$dir/root"
		log "$name: extracted $(basename "$d")"
	done
	local kdir=$dir/root/usr/src/linux-headers-$rel
	[[ -f $kdir/Makefile ]] || die "$suite: linux-headers-$rel has no usr/src/linux-headers-$rel/Makefile"
	sed -i "s#/usr/src/linux-headers-#$dir/root/usr/src/linux-headers-#g" "$kdir/Makefile"
	ln -sfn "root/usr/src/linux-headers-$rel" "$dir/kdir"
	local broken
	broken=$(find -L "$dir/root/usr/src" -maxdepth 2 -type l 2>/dev/null | head -n3)
	[[ -z $broken ]] || die "$name: dangling links in headers tree: $broken"
	grep -q "^CONFIG_${arch^^}=y" "$kdir/.config" || die "$name: $kdir/.config is not an $arch kernel's (no CONFIG_${arch^^}=y)"
	cp "$kdir/.config" "$dir/config"
	local fixdep=$kdir/scripts/basic/fixdep
	[[ -x $fixdep ]] || die "$name: no executable scripts/basic/fixdep in $kdir (from $kbuild)"
	if command -v file >/dev/null 2>&1; then
		file -L -b "$fixdep" | grep -q 'x86-64' ||
			die "$name: $kbuild's fixdep is not an x86-64 program: $(file -L -b "$fixdep")"
	fi

	wrap_new_glibc "$name" "$suite" "$dir"

	local krel
	krel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h" 2>/dev/null)
	[[ $krel == "$rel" ]] || die "$name: utsrelease.h says '$krel', package says '$rel'"
	echo "$rel" >"$dir/release"
	local cross
	case $arch in
	arm64) cross=aarch64-linux-gnu- ;;
	*) die "$name: no cross compiler prefix known for $arch" ;;
	esac
	printf 'ARCH=%s\nCROSS_COMPILE=%s\n' "$arch" "$cross" >"$dir/make.env"
	touch "$dir/.done"
	write_ready
	log "$name: ready: $rel (headers only, $kbuild:amd64) in $((SECONDS - start))s (make.env: $(tr '\n' ' ' <"$dir/make.env"))"
}

# fetch_cross_image NAME ARCH: the image package of the headers' release
# (its kernel, decompressed, as NAME/Image) and the suite's busybox-static
# (NAME/busybox), both ARCH's packages, for booting under qemu. Debian
# bookworm's arm64 vmlinuz is a gzipped Image; qemu -kernel takes that too,
# but decompressing it once here saves doing it on every boot. An EFI zboot
# image (MZ header, "zimg" at offset 4: later Debian releases) holds the
# compressed Image at the offset and size its header gives.
fetch_cross_image() {
	local name=$1 arch=$2 suite dir rel
	suite=$(suite_of "$name")
	dir=$KGEN_KERNELS/$name
	rel=$(<"$dir/release")
	if [[ -f $dir/.image-done && -s $dir/Image && -s $dir/busybox && -d $dir/vm-modules ]]; then
		log "$name: image ready ($(cat "$dir/.image-done")), nothing to do"
		return 0
	fi
	local start=$SECONDS
	[[ $APT_CONF == */"$suite-$arch"/apt.conf ]] || setup_apt "$suite" "$arch"
	local img="linux-image-$rel-unsigned" iver bver
	iver=$(candidate_version "$img:$arch")
	if [[ -z $iver ]]; then
		img="linux-image-$rel"
		iver=$(candidate_version "$img:$arch")
	fi
	[[ -n $iver ]] || die "$suite: neither linux-image-$rel-unsigned:$arch nor linux-image-$rel:$arch in $suite"
	bver=$(candidate_version "busybox-static:$arch")
	[[ -n $bver ]] || die "$suite: no busybox-static:$arch"
	local imgdeb bbdeb
	imgdeb=$(download "$suite" "$img:$arch" "$iver")
	bbdeb=$(download "$suite" "busybox-static:$arch" "$bver")
	rm -f "$dir/.image-done"
	local tmp
	tmp=$(mktemp -d "$dir/.img.XXXXXX")
	dpkg-deb --fsys-tarfile "$imgdeb" | tar -x -C "$tmp" "./boot/vmlinuz-$rel" ||
		die "$suite: $img:$arch has no boot/vmlinuz-$rel"
	local z=$tmp/boot/vmlinuz-$rel how
	case $(head -c2 "$z" | od -An -tx1 | tr -d ' \n') in
	1f8b)
		gzip -dc "$z" >"$dir/Image.tmp"
		how=gzip
		;;
	4d5a)
		if [[ $(dd if="$z" bs=1 skip=4 count=4 status=none) == zimg ]]; then
			local off size comp
			off=$(od -An -tu4 -j8 -N4 "$z" | tr -d ' ')
			size=$(od -An -tu4 -j12 -N4 "$z" | tr -d ' ')
			comp=$(dd if="$z" bs=1 skip=24 count=32 status=none | tr -d '\0')
			case $comp in
			gzip) tail -c "+$((off + 1))" "$z" | head -c "$size" | gzip -dc >"$dir/Image.tmp" ;;
			zstd) tail -c "+$((off + 1))" "$z" | head -c "$size" | zstd -qdc >"$dir/Image.tmp" ;;
			xz) tail -c "+$((off + 1))" "$z" | head -c "$size" | xz -dc >"$dir/Image.tmp" ;;
			*) die "$name: EFI zboot image compressed with '$comp': not supported" ;;
			esac
			how="EFI zboot, $comp"
		else
			cp "$z" "$dir/Image.tmp" # an uncompressed Image with an EFI stub
			how=uncompressed
		fi
		;;
	*) die "$name: $img's vmlinuz-$rel is neither gzip nor an EFI (MZ) image" ;;
	esac
	# The guest's output port is virtio-console on virtio-mmio, both
	# modules in Debian's arm64 kernel (and depending on none).
	dpkg-deb --fsys-tarfile "$imgdeb" | tar -x -C "$tmp" --wildcards \
		"*/modules/$rel/kernel/drivers/virtio/virtio_mmio.ko*" "*/modules/$rel/kernel/drivers/char/virtio_console.ko*" ||
		die "$suite: $img:$arch has no virtio_mmio or virtio_console module"
	rm -rf "$dir/vm-modules"
	mkdir -p "$dir/vm-modules"
	local m
	for m in $(find "$tmp" -name 'virtio_*.ko*'); do
		case $m in
		*.xz) xz -dc "$m" >"$dir/vm-modules/$(basename "${m%.xz}")" ;;
		*.zst) zstd -qdc "$m" >"$dir/vm-modules/$(basename "${m%.zst}")" ;;
		*) cp "$m" "$dir/vm-modules/" ;;
		esac
	done
	[[ -s $dir/vm-modules/virtio_mmio.ko && -s $dir/vm-modules/virtio_console.ko ]] ||
		die "$name: virtio_mmio.ko or virtio_console.ko missing from $img"
	rm -rf "$tmp"
	# the arm64 Image header: "ARM\x64" at offset 56
	[[ $(dd if="$dir/Image.tmp" bs=1 skip=56 count=4 status=none | od -An -tx1 | tr -d ' \n') == 41524d64 ]] ||
		die "$name: the kernel in $img has no arm64 Image header (ARM\\x64 at offset 56)"
	mv -f "$dir/Image.tmp" "$dir/Image"
	tmp=$(mktemp -d "$dir/.bb.XXXXXX")
	dpkg-deb -x "$bbdeb" "$tmp"
	[[ -f $tmp/bin/busybox ]] || die "$suite: busybox-static:$arch has no bin/busybox"
	if command -v file >/dev/null 2>&1; then
		file -b "$tmp/bin/busybox" | grep -q 'statically linked' ||
			die "$name: busybox-static:$arch's busybox is not static: $(file -b "$tmp/bin/busybox")"
	fi
	mv -f "$tmp/bin/busybox" "$dir/busybox"
	rm -rf "$tmp"
	printf '%s %s, busybox-static %s\n' "$img" "$iver" "$bver" >"$dir/.image-done"
	log "$name: Image ($how, $(human "$(stat -c %s "$dir/Image")")) and busybox ready in $((SECONDS - start))s"
}

# ---- a debug kernel, built from Debian's source -------------------------
# debug-<mm> is Debian's linux-source-<mm> (the Debian-patched tree) with
# scripts/debug-<mm>.config merged onto `make tinyconfig`, and the patches
# scripts/debug-<mm>-*.patch applied in name order. It is built in place:
# the tree is the KDIR.
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Bump when the build steps below change in a way that needs a rebuild.
DEBUG_RECIPE=2

# debug_inputs NAME: the repo files a debug kernel is built from.
debug_inputs() {
	local f
	echo "$SCRIPT_DIR/$1.config"
	for f in "$SCRIPT_DIR/$1"-*.patch; do
		if [[ -f $f ]]; then echo "$f"; fi
	done
}

# debug_inputs_hash NAME: one hash over the recipe, fragment and patches.
debug_inputs_hash() {
	local f
	{
		echo "recipe $DEBUG_RECIPE"
		while IFS= read -r f; do
			echo "$(basename "$f") $(sha256sum <"$f" | cut -d' ' -f1)"
		done < <(debug_inputs "$1")
	} | sha256sum | cut -c1-16
}

# check_config FRAGMENT CONFIG: every option the fragment sets must be in
# the final .config with that value (olddefconfig drops options whose
# dependencies are unmet, silently).
check_config() {
	local frag=$1 cfg=$2 line opt have lost=()
	while IFS= read -r line; do
		[[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]] || continue
		opt=${BASH_REMATCH[1]}
		grep -qxF -- "$line" "$cfg" && continue
		have=$(grep -E "^($opt=|# $opt is not set)" "$cfg" || true)
		lost+=("$line (now: ${have:-absent})")
	done <"$frag"
	if ((${#lost[@]} > 0)); then
		printf '  %s\n' "${lost[@]}" >&2
		die "$(basename "$frag"): ${#lost[@]} options did not survive make olddefconfig (above): a dependency is missing from the fragment"
	fi
}

# make_progress NAME: read make's output, one status line every 30 s.
make_progress() {
	local name=$1 n=0 last=$SECONDS start=$SECONDS line what=
	while IFS= read -r line; do
		case $line in
		"  CC "* | "  AS "* | "  AR "* | "  LD "* | "  HOSTCC "*)
			n=$((n + 1))
			what=${line##* }
			;;
		esac
		if ((SECONDS - last >= 30)); then
			log "$name: $((SECONDS - start))s, $n objects built (${DEBUG_OBJECTS_HINT}), at $what"
			last=$SECONDS
		fi
	done
	log "$name: $n objects built in $((SECONDS - start))s"
}
# About how many objects make_progress counts in a full build.
DEBUG_OBJECTS_HINT="a full build is about 1450"

# debug_make NAME SRC LOG TARGET...: make TARGETs in SRC, output to LOG,
# a summary to stderr.
debug_make() {
	local name=$1 src=$2 logf=$3 jobs
	shift 3
	jobs=${KGEN_JOBS:-$(nproc)}
	log "$name: make -j$jobs $* (full log: $logf)"
	echo "+ make -j$jobs CC=$DEBUG_CC $*" >>"$logf"
	set +e
	make -C "$src" -j"$jobs" CC="$DEBUG_CC" KBUILD_BUILD_USER=kgen KBUILD_BUILD_HOST=kgen "$@" 2>&1 |
		tee -a "$logf" | make_progress "$name"
	local rc=${PIPESTATUS[0]}
	set -e
	if ((rc != 0)); then
		grep -E ': (error|fatal error): |^make.*Error ' "$logf" | head -n 20 >&2 || true
		tail -n 15 "$logf" >&2
		die "$name: make $* failed (exit $rc); full log: $logf"
	fi
}

build_debug() {
	local name=$1 suite dir mm=${1#debug-}
	suite=$(suite_of "$name")
	dir=$KGEN_KERNELS/$name
	local frag=$SCRIPT_DIR/$name.config pkg=linux-source-$mm inputs
	[[ -f $frag ]] || die "$name: no config fragment $frag"
	local t missing=()
	for t in make gcc ld bc flex bison perl patch tar; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[[ -f /usr/include/libelf.h ]] || missing+=(libelf-dev)
	((${#missing[@]} == 0)) || die "$name: building a kernel needs ${missing[*]} (run scripts/install-deps.sh as root)"
	inputs=$(debug_inputs_hash "$name")
	if [[ -f $dir/.done ]]; then
		local have now
		have=$(sed -n 's/^source=//p' "$dir/.done")
		if [[ $(sed -n 's/^inputs=//p' "$dir/.done") != "$inputs" ]]; then
			log "$name: $(basename "$frag"), its patches or the recipe changed: rebuilding"
		elif ! now=$(setup_apt "$suite" 2>/dev/null && candidate_version "$pkg") || [[ -z $now ]]; then
			log "$name: ready ($(cat "$dir/release"), $pkg $have); could not ask $suite for a newer $pkg (offline?): keeping it"
			return 0
		elif [[ $now == "$have" ]]; then
			log "$name: ready ($(cat "$dir/release"), $pkg $have), nothing to do"
			return 0
		else
			log "$name: $pkg $have -> $now: rebuilding"
		fi
	fi
	local start=$SECONDS
	setup_apt "$suite"
	local ver deb
	ver=$(candidate_version "$pkg")
	[[ -n $ver ]] || die "$suite: no $pkg package in $suite/$suite-security"
	deb=$(download "$suite" "$pkg" "$ver")

	rm -rf "$dir"
	write_ready # no longer ready while it is being rebuilt
	mkdir -p "$dir"
	local logf=$dir/build.log tarball
	: >"$logf"
	dpkg-deb -x "$deb" "$dir/.pkg"
	tarball=$(find "$dir/.pkg/usr/src" -maxdepth 1 -name "linux-source-$mm.tar.*" | head -n1)
	[[ -n $tarball ]] || die "$name: $pkg $ver has no usr/src/linux-source-$mm.tar.*"
	log "$name: unpacking $(basename "$tarball") ($pkg $ver)"
	tar -xf "$tarball" -C "$dir"
	rm -rf "$dir/.pkg"
	local src=$dir/linux-source-$mm
	[[ -f $src/Makefile ]] || die "$name: $(basename "$tarball") has no linux-source-$mm/Makefile"
	local p
	while IFS= read -r p; do
		[[ $p == *.patch ]] || continue
		log "$name: patch $(basename "$p")"
		patch -d "$src" -p1 --batch --forward <"$p" >>"$logf" 2>&1 ||
			die "$name: $(basename "$p") does not apply to $pkg $ver (see $logf): update the patch"
	done < <(debug_inputs "$name")

	# The compiler by its versioned name, as Debian builds its kernels:
	# CONFIG_CC_VERSION_TEXT then names gcc-N, which is what kgen build and
	# a generated Makefile use when it is installed, so Kbuild does not warn
	# "the compiler differs from the one used to build the kernel".
	DEBUG_CC=gcc
	local major
	major=$(gcc -dumpversion | cut -d. -f1)
	if command -v "gcc-$major" >/dev/null 2>&1; then DEBUG_CC=gcc-$major; fi
	log "$name: configuring: tinyconfig + $(basename "$frag") (CC=$DEBUG_CC)"
	{
		make -C "$src" CC="$DEBUG_CC" tinyconfig &&
			"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$frag" &&
			make -C "$src" CC="$DEBUG_CC" olddefconfig
	} >>"$logf" 2>&1 || die "$name: configuring failed (see $logf)"
	check_config "$frag" "$src/.config"

	debug_make "$name" "$src" "$logf" vmlinux modules_prepare
	# `make modules` with no =m writes Module.symvers, which external
	# modules need to resolve vmlinux's exports.
	debug_make "$name" "$src" "$logf" modules
	[[ -s $src/Module.symvers ]] || die "$name: make modules wrote no Module.symvers"

	local rel
	rel=$(make -s -C "$src" CC="$DEBUG_CC" kernelrelease)
	[[ -n $rel ]] || die "$name: make kernelrelease printed nothing"
	ln -sfn "linux-source-$mm" "$dir/kdir"
	ln -f "$src/vmlinux" "$dir/vmlinux" 2>/dev/null || cp "$src/vmlinux" "$dir/vmlinux"
	cp "$src/.config" "$dir/config"
	echo "$rel" >"$dir/release"
	write_make_env "$src" "$dir/make.env"
	printf 'source=%s\ninputs=%s\n' "$ver" "$inputs" >"$dir/.done"
	write_ready
	log "$name: ready: $rel from $pkg $ver in $((SECONDS - start))s (make.env: $(tr '\n' ' ' <"$dir/make.env"))"
}

# ---- libcrypto for scripts/sign-file -----------------------------------
# fetch_sign_libs NAME: the kernel's scripts/sign-file links the suite's
# libcrypto; when the host lacks that soname (bullseye's libcrypto.so.1.1 on
# bookworm), extract the suite's libssl package into NAME/libcrypto (run
# sign-file with LD_LIBRARY_PATH=NAME/libcrypto/usr/lib/x86_64-linux-gnu).
# kgen signs modules itself; its tests compare against sign-file.
fetch_sign_libs() {
	local name=$1 dir=$KGEN_KERNELS/$1 sf soname pkg ver deb
	sf=$(find "$dir/root" -path '*/scripts/sign-file' -type f 2>/dev/null | head -n1)
	[[ -n $sf ]] || return 0
	[[ -f $sf.real ]] && sf=$sf.real
	soname=$(ldd "$sf" 2>/dev/null | awk '/libcrypto\.so.*not found/ {print $1}' | head -n1)
	[[ -n $soname ]] || return 0
	[[ -e $dir/libcrypto/usr/lib/x86_64-linux-gnu/$soname ]] && return 0
	case $soname in
	libcrypto.so.1.1) pkg=libssl1.1 ;;
	*) log "$name: warning: sign-file needs $soname, which the host lacks; kgen's sign-file comparison tests cannot run it"; return 0 ;;
	esac
	setup_apt "$(suite_of "$name")"
	ver=$(candidate_version "$pkg")
	[[ -n $ver ]] || die "$name: no $pkg package for sign-file's $soname"
	deb=$(download "$(suite_of "$name")" "$pkg" "$ver")
	rm -rf "$dir/libcrypto"
	dpkg-deb -x "$deb" "$dir/libcrypto"
	log "$name: extracted $pkg $ver for scripts/sign-file into $dir/libcrypto"
}

main() {
	need_tools
	local names=("$@")
	((${#names[@]} > 0)) || names=("${ALL_KERNELS[@]}")
	local n
	for n in "${names[@]}"; do suite_of "$n" >/dev/null; done
	mkdir -p "$KGEN_KERNELS/.debs"
	exec 9>"$KGEN_KERNELS/.lock"
	flock 9
	for n in "${names[@]}"; do
		fetch_one "$n"
		if [[ $n == debian-* && $n != *-arm64 ]]; then fetch_sign_libs "$n"; fi
	done
	write_ready
}

# Sourced (scripts/fetch-tools.sh reuses the private apt above): no main.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
