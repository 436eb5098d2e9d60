#!/usr/bin/env bash
# demo.sh: build examples/kretprobe.yaml, examples/otst.yaml and
# examples/process.yaml for Debian's 6.1 kernel and run them in a VM: load,
# a workload, the event stream, the histogram, unload; a one-time
# stacktrace of ksys_sync; kgen run following a shell script, strace style.
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

echo "demo: booting $(cat "$k/release") in qemu (software emulation: ~10 s)"
exec $kgen vm --kernel "$k/vmlinux" --add "$out/vfs_read_lat.ko:/root/vfs_read_lat.ko" \
	--add "$out/otst.ko:/root/otst.ko" --add "$out/process.ko:/root/process.ko" --timeout 3m -- '
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
'
