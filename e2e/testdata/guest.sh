# Runs inside the kgen VM (busybox sh, as root, in /root). Prints raw
# kernel-side facts in "=== section" blocks; e2e_test.go asserts on them.
set -u
sec() { echo "=== $1"; }

sec mounts-before
grep -E ' (debugfs|tracefs) ' /proc/mounts || true

# 1. The README example: fields, the "when" filter, the histogram.
sec lat-load
kgen load vfs_read_lat.ko; echo "rc=$?"
# The same listing as instances-after below, while an instance exists: it
# proves that path is where kgen's instances live.
sec lat-instances
ls /sys/kernel/tracing/instances/; echo "rc=$?"
kgen trace vfs_read_lat --json --duration 4s >/tmp/lat.json 2>/tmp/lat.err &
sleep 1
dd if=/dev/zero of=/dev/null bs=8192 count=3 2>/dev/null
dd if=/dev/zero of=/dev/null bs=100 count=3 2>/dev/null
wait
sec lat-events
cat /tmp/lat.json
sec lat-summary
cat /tmp/lat.err
sec lat-hist
cat /sys/kernel/debug/kgen/vfs_read_lat/hist_vfs_read
sec lat-unload
kgen unload vfs_read_lat; echo "rc=$?"

# 2. comm filter as a module parameter.
sec comm-load
kgen load reads.ko vfs_read_comm=dd; echo "rc=$?"
kgen trace reads --json --duration 4s >/tmp/comm.json 2>/dev/null &
sleep 1
dd if=/dev/zero of=/dev/null bs=512 count=2 2>/dev/null
head -c 700 /dev/zero >/dev/null
wait
sec comm-events
cat /tmp/comm.json
sec comm-unload
kgen unload reads >/dev/null 2>&1; echo "rc=$?"

# 3. pid filter: only the process whose pid is passed is traced.
# The target reads once kgen trace runs (/tmp/go-pid), however long the
# load takes (seconds on the debug kernel).
sh -c 'while [ ! -e /tmp/go-pid ]; do sleep 0.1; done; exec dd if=/dev/zero of=/dev/null bs=64 count=2 2>/dev/null' &
target=$!
sec pid-load
echo "target=$target"
kgen load reads.ko vfs_read_pid=$target; echo "rc=$?"
kgen trace reads --json --duration 4s >/tmp/pid.json 2>/dev/null &
sleep 1
touch /tmp/go-pid
dd if=/dev/zero of=/dev/null bs=32 count=2 2>/dev/null
wait
sec pid-events
cat /tmp/pid.json
sec pid-unload
kgen unload reads >/dev/null 2>&1; echo "rc=$?"

# 4. maxactive 1 and two sleepers: nmissed > 0.
sec nmissed-load
kgen load nanosleep.ko; echo "rc=$?"
sleep 1 & sleep 1 & wait
sec nmissed-stats
cat /sys/kernel/debug/kgen/nanosleep/stats
sec nmissed-unload
kgen unload nanosleep; echo "rc=$?"

# 4b. An entry-only probe (no retval, no latency) is a plain kprobe: "k"
# in the kprobes list, its args, when filter, stack and histogram at entry.
sec entry-load
kgen load read_sizes.ko; echo "rc=$?"
sec entry-kprobes
grep ' vfs_read+' /sys/kernel/debug/kprobes/list
kgen trace read_sizes --json --duration 4s >/tmp/entry.json 2>/dev/null &
sleep 1
dd if=/dev/zero of=/dev/null bs=333 count=5 2>/dev/null
dd if=/dev/zero of=/dev/null bs=100 count=3 2>/dev/null
wait
sec entry-events
cat /tmp/entry.json
sec entry-hist
cat /sys/kernel/debug/kgen/read_sizes/hist_vfs_read
sec entry-folded
kgen stacks --from-trace /tmp/entry.json --format folded; echo "rc=$?"
sec entry-unload
kgen unload read_sizes; echo "rc=$?"

# 4c. Stack counts in the module: 200,000 one-byte reads by dd, none lost.
sec stacks-load
kgen load read_stacks.ko; echo "rc=$?"
# Only the table is wanted: its event off, as bpftrace's @[kstack] = count().
echo 0 > /sys/kernel/tracing/instances/kgen_read_stacks/events/read_stacks/enable
dd if=/dev/zero of=/dev/null bs=1 count=200000 2>/dev/null
sec stacks-raw
cat /sys/kernel/debug/kgen/read_stacks/stacks
sec stacks-text
kgen stacks read_stacks; echo "rc=$?"
sec stacks-folded
kgen stacks read_stacks --format folded --pprof /tmp/stacks.pb.gz; echo "rc=$?"
sec stacks-pprof
wc -c </tmp/stacks.pb.gz
sec stacks-svg
kgen flamegraph read_stacks -o /tmp/stacks.svg >/dev/null; echo "rc=$?"
cat /tmp/stacks.svg
sec stacks-unload
kgen unload read_stacks; echo "rc=$?"

# 5. A module whose init fails: load fails and undoes everything.
sec rollback
kgen load nosuchfn.ko 2>&1; echo "rc=$?"
sec rollback-mounts
grep -E ' (debugfs|tracefs) ' /proc/mounts || true
sec rollback-modules
cat /proc/modules

# 6. Nothing left behind.
sec mounts-after
grep -E ' (debugfs|tracefs) ' /proc/mounts || true
sec modules-after
cat /proc/modules
mount -t debugfs none /sys/kernel/debug
sec kprobes-after
cat /sys/kernel/debug/kprobes/list
umount /sys/kernel/debug
sec instances-after
mount -t tracefs nodev /sys/kernel/tracing
ls /sys/kernel/tracing/instances/; echo "rc=$?"
umount /sys/kernel/tracing
sec dmesg
dmesg
sec end
