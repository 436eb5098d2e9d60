# Runs inside the arm64 kgen VM: the reduced scenario of every kind in one
# boot (TestVMArm64); the full ones run with KGEN_ARM64_FULL=1. Prints raw
# facts in "=== section" blocks; arm64_test.go asserts on them.
set -u
sec() { echo "=== $1"; }

# kretprobe: arguments (x0-x7) and the return value (x0)
sec kretprobe
kgen load vfs_read_lat.ko; echo "rc=$?"
kgen trace vfs_read_lat --json --duration 4s >/tmp/lat.json 2>/dev/null &
sleep 1
dd if=/dev/zero of=/dev/null bs=8192 count=3 2>/dev/null
wait
cat /tmp/lat.json
kgen unload vfs_read_lat >/dev/null; echo "rc=$?"

# otst: a one-time stack trace of ksys_sync
sec otst
dmesg -c >/dev/null
kgen load otst.ko; echo "rc=$?"
kgen trace otst --json --duration 4s >/tmp/otst.json 2>/dev/null &
sleep 1
echo -n ksys_sync >/proc/driver/otst; echo "rc=$?"
sync
wait
cat /tmp/otst.json
kgen unload otst >/dev/null; echo "rc=$?"
sec otst-dmesg
dmesg

# process: a followed shell that execs sh -c 'exit 7'
sec process
rm -f /tmp/go; mkfifo /tmp/go
sh -c 'read x </tmp/go; sh -c "exit 7"; exit 3' &
TP=$!
kgen load process.ko follow_pid=$TP; echo "rc=$?"
kgen trace process --json --duration 5s >/tmp/proc.json 2>/dev/null &
sleep 1
echo go >/tmp/go
wait $TP
wait
cat /tmp/proc.json
kgen unload process >/dev/null; echo "rc=$?"

# payload: dump_stack on Debian's brd's allocations
sec payload
dmesg -c >/dev/null
kgen load payload_dump_stack.ko; echo "rc=$?"
kgen load /root/m/brd.ko; echo "rc=$?"
kgen unload brd >/dev/null; echo "rc=$?"
kgen unload payload_dump_stack >/dev/null; echo "rc=$?"
sec payload-dmesg
dmesg

# probetest: the group module armed on real functions over a small
# workload (dd and sync: busybox runs its applets in a forked shell, no
# exec)
sec probetest
P=/sys/kernel/debug/kgen/probetest
cut -d' ' -f1 /proc/uptime
kgen load probetest.ko >/dev/null 2>&1; echo "rc=$?"
printf '%s\n' vfs_read vfs_write ksys_read ksys_write ksys_sync \
	__arm64_sys_read __arm64_sys_write __arm64_sys_openat __arm64_sys_sync \
	__arm64_sys_close do_sys_openat2 do_filp_open filp_close fput iterate_supers \
	kernel_clone wake_up_new_task do_exit do_group_exit \
	__arm64_sys_reboot notify_die jiffies no_such_function_x >$P/probes; echo "rc=$?"
echo arm >$P/ctl; echo "rc=$?"
dd if=/proc/version of=/dev/null bs=1 count=10 2>/dev/null
sync
echo disarm >$P/ctl; echo "rc=$?"
cat $P/probes >/tmp/ptcounts
kgen unload probetest >/dev/null 2>&1; echo "rc=$?"
sec probetest-counts
cat /tmp/ptcounts
sec probetest-time
cut -d' ' -f1 /proc/uptime
sec end
