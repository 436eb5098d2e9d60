#!/usr/bin/env bash
# demo.sh: build examples/kretprobe.yaml, examples/otst.yaml and
# examples/process.yaml for Debian's 6.1 kernel and run them in a VM: load,
# a workload, the event stream, the histogram, unload; a one-time
# stacktrace of ksys_sync; kgen run following a shell script, strace style;
# the payload kind on Debian's own brd and null_blk: KEDR's dump_stack
# payload, a simulated kmalloc failure, a leak check.
# Run through "make demo" (which installs deps, builds kgen and fetches the
# kernel first).
set -euo pipefail
cd "$(dirname "$0")/.."
kernels=${KGEN_KERNELS:-$HOME/.cache/kgen/kernels}
k=$kernels/${KGEN_DEMO_KERNEL:-debian-6.1}
kgen=bin/kgen
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "demo: kgen build examples/kretprobe.yaml --kdir $k/kdir"
$kgen build examples/kretprobe.yaml --kdir "$k/kdir" -o "$out"
echo "demo: kgen build examples/otst.yaml --kdir $k/kdir"
$kgen build examples/otst.yaml --kdir "$k/kdir" -o "$out"
echo "demo: kgen build examples/process.yaml --kdir $k/kdir"
$kgen build examples/process.yaml --kdir "$k/kdir" -o "$out"

for ex in payload fsim leakcheck; do
	echo "demo: kgen build examples/$ex.yaml --kdir $k/kdir"
	$kgen build examples/$ex.yaml --kdir "$k/kdir" -o "$out"
done
scripts/extract-modules.sh "$(basename "$k")" >/dev/null   # Debian's brd, null_blk, configfs
ko=$k/modules/ko

echo "demo: booting $(cat "$k/release") in qemu (software emulation: ~10 s)"
exec $kgen vm --kernel "$k/vmlinux" --add "$out/vfs_read_lat.ko:/root/vfs_read_lat.ko" \
	--add "$out/otst.ko:/root/otst.ko" --add "$out/process.ko:/root/process.ko" \
	--add "$out/payload_dump_stack.ko:/root/" --add "$out/fsim.ko:/root/" --add "$out/leakcheck.ko:/root/" \
	--add "$ko/brd.ko:/root/" --add "$ko/null_blk.ko:/root/" --add "$ko/configfs.ko:/root/" --timeout 4m -- '
set -e
kgen load vfs_read_lat.ko
echo "--- kgen trace vfs_read_lat (2 s) while dd reads 8 KiB blocks and fails a read"
kgen trace vfs_read_lat --duration 2s &
sleep 0.5
dd if=/dev/zero of=/dev/null bs=8192 count=5 2>/dev/null
dd if=/dev/zero of=/dev/null bs=100 count=5 2>/dev/null   # filtered out by "when"
cat /proc/self/mem 2>/dev/null || true                      # a failing read: ret < 0
wait
echo "--- latency histogram (/sys/kernel/debug/kgen/vfs_read_lat/hist_vfs_read)"
cat /sys/kernel/debug/kgen/vfs_read_lat/hist_vfs_read
echo "--- kgen unload vfs_read_lat"
kgen unload vfs_read_lat

echo "--- otst: echo -n ksys_sync > /proc/driver/otst; sync; sync"
kgen load otst.ko
kgen trace otst --json --duration 2s &
sleep 0.5
dmesg -c >/dev/null
echo -n ksys_sync > /proc/driver/otst
cat /proc/driver/otst
sync; sync                                                  # two calls, one trace
wait
echo "--- the kernel log (one trace, then the probe removed itself)"
dmesg | grep "otst: symbol ksys_sync registered!"
dmesg | sed -n "/otst: triggered stacktrace/,/<\/TASK>/p" | grep -vE "\] (Code|RIP|RSP|RAX|RDX|RBP|R10|R13):"
dmesg | grep "otst: symbol ksys_sync unregistered!"
echo "--- cat /proc/driver/otst (empty: the symbol fired)"
cat /proc/driver/otst
kgen unload otst

echo "--- kgen run process.ko -- sh -c ... (follows the script and its children)"
kgen run process.ko -- sh -c "cat /etc/nonexistent; sleep 0.1 & wait; exit 3" || echo "(exit status $?, passed on from the script)"

D=/sys/kernel/debug/kgen
echo "--- payload (KEDR payload_dump_stack): kgen load payload_dump_stack.ko target=brd, then Debian'"'"'s brd"
kgen load payload_dump_stack.ko target=brd
kgen load brd.ko rd_nr=2
kgen trace payload_dump_stack --duration 1s | cut -c1-220
dmesg | grep -A3 "payload_dump_stack: kmalloc_trace" | head -8
rmmod brd
kgen unload payload_dump_stack

echo "--- fault simulation: fail null_blk'"'"'s first kmalloc (points/kmalloc/expression: times = 1)"
kgen load fsim.ko target=null_blk
echo "times = 1" > $D/fsim/points/kmalloc/expression
kgen load configfs.ko
kgen load null_blk.ko || echo "(null_blk refused to load, cleanly: its allocation failed)"
cat $D/fsim/last_fault
echo 0 > $D/fsim/points/kmalloc/expression
kgen load null_blk.ko && ls /sys/block | grep nullb
rmmod null_blk
kgen unload fsim

echo "--- leak check: brd loaded, used, unloaded"
kgen load leakcheck.ko target=brd
kgen load brd.ko rd_nr=1
dd if=/dev/zero of=/dev/ram0 bs=4k count=4 2>/dev/null
rmmod brd
kgen unload leakcheck | sed -n "/^leaks/,\$p"
'
