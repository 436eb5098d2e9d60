#!/usr/bin/env bash
# extract-modules.sh: extract real Debian modules (test targets for the
# payload kind) from the image packages scripts/fetch-kernels.sh downloaded.
#
# usage: scripts/extract-modules.sh [-m "brd null_blk ..."] [debian-5.10 debian-6.1 debian-6.12 debian-6.1-arm64 ...]
#        (default kernels: all four; default modules: $DEFAULT_MODULES below)
#
# Layout, per kernel NAME (next to fetch-kernels.sh's files):
#   $KGEN_KERNELS/NAME/modules/lib/modules/<release>/kernel/...  the modules as
#        Debian ships them (.ko on 5.10/6.1, .ko.xz on 6.12) plus their
#        dependencies, modules.order, modules.builtin[.modinfo] and the
#        modules.dep{,.bin}/... that depmod generated (Debian generates them at
#        install time; the image package does not ship them)
#   $KGEN_KERNELS/NAME/modules/ko/<mod>.ko   every one of them uncompressed,
#        flat (for insmod from a busybox guest)
#   $KGEN_KERNELS/NAME/modules/.done         stamp listing the modules
#
# Needs dpkg-deb, tar, xz, modinfo and depmod (kmod with +XZ).
set -euo pipefail

KGEN_KERNELS=${KGEN_KERNELS:-$HOME/.cache/kgen/kernels}
DEFAULT_MODULES="brd null_blk dummy vfat msdos fat loop zram veth scsi_debug"
ALL_KERNELS=(debian-5.10 debian-6.1 debian-6.12 debian-6.1-arm64)

log() { printf '%s\n' "extract-modules: $*" >&2; }
die() { printf '%s\n' "extract-modules: error: $*" >&2; exit 1; }

# Debian's arm64 kernel has no scsi_debug (CONFIG_SCSI_DEBUG is off there).
ARM64_MODULES="brd null_blk dummy vfat msdos fat loop zram veth"
mods=
if [[ ${1:-} == -m ]]; then
	[[ $# -ge 2 ]] || die "-m needs a list of module names"
	mods=$2
	shift 2
fi
kernels=("$@")
tmp=
trap '[[ -z $tmp ]] || rm -rf "$tmp"' EXIT
[[ ${#kernels[@]} -gt 0 ]] || kernels=("${ALL_KERNELS[@]}")
for t in dpkg-deb tar xz modinfo depmod; do
	command -v "$t" >/dev/null || die "$t not found (apt-get install dpkg xz-utils kmod)"
done

extract_one() { # NAME
	local name=$1 dir=$KGEN_KERNELS/$1 rel deb out mods=$mods
	if [[ -z $mods ]]; then
		mods=$DEFAULT_MODULES
		[[ $name != *-arm64 ]] || mods=$ARM64_MODULES
	fi
	[[ -s $dir/release ]] || die "$name: $dir/release missing: run scripts/fetch-kernels.sh $name first"
	rel=$(<"$dir/release")
	out=$dir/modules
	if [[ -f $out/.done && "$(<"$out/.done")" == "$mods" ]]; then
		log "$name: already extracted ($mods)"
		return
	fi
	deb=$(ls "$KGEN_KERNELS"/.debs/linux-image-"$rel"{-unsigned,}_*.deb 2>/dev/null | head -n1) ||
		true
	[[ -n $deb ]] || die "$name: no linux-image-$rel .deb in $KGEN_KERNELS/.debs: run scripts/fetch-kernels.sh $name"
	tmp=$(mktemp -d)
	# the whole modules tree is ~40-100 MB unpacked; only keep what we need
	# ./lib/modules (5.10, 6.1) or ./usr/lib/modules (6.12, merged /usr)
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "*/modules/$rel/*"
	local src=$tmp/lib/modules/$rel
	[[ -d $src ]] || src=$tmp/usr/lib/modules/$rel
	[[ -d $src/kernel ]] || die "$name: no modules/$rel/kernel in $deb"

	rm -rf "$out"
	mkdir -p "$out/lib/modules/$rel" "$out/ko"
	cp "$src"/modules.order "$src"/modules.builtin* "$out/lib/modules/$rel/"
	# closure over modinfo's depends=
	local -A seen=()
	local queue=($mods) m f dep
	while [[ ${#queue[@]} -gt 0 ]]; do
		m=${queue[0]}
		queue=("${queue[@]:1}")
		[[ -n ${seen[$m]:-} ]] && continue
		seen[$m]=1
		f=$(cd "$src" && find kernel -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n1)
		if [[ -z $f ]]; then
			grep -q "/$m.ko\$" "$src/modules.builtin" && { log "$name: $m is built in"; continue; }
			die "$name: module $m not in $deb"
		fi
		mkdir -p "$out/lib/modules/$rel/$(dirname "$f")"
		cp "$src/$f" "$out/lib/modules/$rel/$f"
		case $f in
		*.xz) xz -dc "$src/$f" >"$out/ko/$m.ko" ;;
		*.zst) zstd -qdc "$src/$f" >"$out/ko/$m.ko" ;;
		*.gz) gzip -dc "$src/$f" >"$out/ko/$m.ko" ;;
		*) cp "$src/$f" "$out/ko/$m.ko" ;;
		esac
		for dep in $(modinfo -F depends "$out/ko/$m.ko" | tr ',' ' '); do
			queue+=("$dep")
		done
	done
	depmod -b "$out" "$rel"
	rm -rf "$tmp"
	tmp=
	printf '%s\n' "$mods" >"$out/.done"
	log "$name: $(ls "$out/ko" | sed 's/\.ko$//' | tr '\n' ' ')-> $out"
}

for k in "${kernels[@]}"; do
	extract_one "$k"
done
