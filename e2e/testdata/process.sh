# Runs inside the kgen VM (busybox sh, as root, in /root) with process.ko
# (examples/process.yaml). Prints raw kernel-side facts in "=== section"
# blocks; process_test.go asserts on them.
# How long each kgen trace runs: the debug kernel (KASAN, lockdep) runs
# the followed script several times slower under TCG.
TD=4 TD3=3
case $(uname -r) in *-debug) TD=16 TD3=12 ;; esac
# arm64 under TCG is slower too; its read system call is 63 (x86_64: 0).
# LN: the no-loss run's calls; the readers of arm64 under TCG and of the
# debug kernel need over the two minutes kgen run drains for to format
# 200,000 events (arm64's 50,000 too, when make test runs it beside the
# main run's guests).
RD=0 LN=200000
case $(uname -r) in *-debug) LN=50000 ;; esac
case $(uname -m) in aarch64) TD=16 TD3=12 RD=63 LN=20000 ;; esac
set -u
sec() { echo "=== $1"; }
D=/sys/kernel/debug/kgen/process
T=/sys/kernel/tracing
ctl() { echo "$2" >$D/$1; echo "rc=$? $1=$(cat $D/$1)"; }

# The followed tree: waits for /tmp/go, then forks, execs, opens a missing
# file, gets a signal, forks a grandchild after the tracer started, exits 3.
cat >/tmp/target.sh <<'EOS'
read x </tmp/go
cat /nonexistent_kgen 2>/dev/null
sh -c 'exit 7'
(sleep 0.2; sh -c 'exit 5') &
trap 'echo got-usr1' USR1
kill -USR1 $$
wait
exit 3
EOS
# started stopped: the child waits on a fifo until the tracer is loaded
run_target() {
	rm -f /tmp/go; mkfifo /tmp/go
	sh /tmp/target.sh &
	TP=$!
}

# tracefs stays mounted across kgen unload: ftrace is checked after it.
mount -t tracefs nodev $T
# 1. The followed tree, an outside process doing the same things.
run_target
sh -c 'while [ ! -e /tmp/stop ]; do cat /nonexistent_outside 2>/dev/null; sleep 0.1; done' &
OP=$!
sec load
kgen load process.ko follow_pid=$TP; echo "rc=$?"
echo "target=$TP outside=$OP"
kgen trace process --json --duration ${TD}s >/tmp/run1.json 2>/tmp/run1.err &
TR=$!
sleep 1
sec stats-loaded
cat $D/stats | grep '^process '
echo go >/tmp/go
wait $TP; echo "target-rc=$?"
wait $TR
sec run1-summary
cat /tmp/run1.err
sec run1
cat /tmp/run1.json

# 2. Filters and toggles, at run time through debugfs.
sec controls
for c in follow_pid trace_lifecycle trace_syscalls trace_signals uid_filter taskcomm_filter trace_syscall_entry follow_exec; do echo "$c=$(cat $D/$c) param=$(cat /sys/module/process/parameters/$c)"; done
sec uid
echo >$D/../../../tracing/instances/kgen_process/trace 2>/dev/null
run_target
ctl uid_filter 4242
ctl follow_pid $TP
kgen trace process --json --duration ${TD3}s >/tmp/uid.json 2>/tmp/uid.err &
TR=$!; sleep 1; echo go >/tmp/go; wait $TP; wait $TR
ctl uid_filter -1
echo "events=$(grep -c . /tmp/uid.json)"
cat /tmp/uid.err
grep '^process filtered' $D/stats
sec comm
run_target
ctl taskcomm_filter cat
ctl follow_pid $TP
kgen trace process --json --duration ${TD3}s >/tmp/comm.json 2>/tmp/comm.err &
TR=$!; sleep 1; echo go >/tmp/go; wait $TP; wait $TR
ctl taskcomm_filter ""
cat /tmp/comm.err
sec comm-events
cat /tmp/comm.json
sec toggle
run_target
ctl trace_syscalls 0
ctl follow_pid $TP
kgen trace process --json --duration ${TD3}s >/tmp/toggle.json 2>/tmp/toggle.err &
TR=$!; sleep 1; echo go >/tmp/go; wait $TP; wait $TR
ctl trace_syscalls 1
cat /tmp/toggle.err
sec toggle-events
cat /tmp/toggle.json
sec entry
run_target
ctl trace_syscall_entry 1
ctl follow_pid $TP
kgen trace process --json --duration ${TD3}s >/tmp/entry.json 2>/tmp/entry.err &
TR=$!; sleep 1; echo go >/tmp/go; wait $TP; wait $TR
ctl trace_syscall_entry 0
cat /tmp/entry.err
sec entry-events
cat /tmp/entry.json

# 3. ftrace raw_syscalls sees every syscall of a process kgen does not
#    follow: enabled while kgen runs, and before kgen loads.
ftrace_count() {
	echo >$T/trace
	echo 1 >$T/events/raw_syscalls/sys_enter/enable
	sleep 0.1
	echo "$1 during: $(grep '^process exclusive' $D/stats 2>/dev/null)"
	dd if=/dev/zero of=/dev/null bs=1 count=1000 2>/dev/null
	echo 0 >$T/events/raw_syscalls/sys_enter/enable
	echo "$1 dd-reads=$(grep ' dd-' $T/trace | grep -c "sys_enter: NR $RD ")"
}
sec ftrace
run_target
ctl follow_pid $TP
echo "exclusive=$(grep '^process exclusive' $D/stats)"
ftrace_count while-loaded
echo "exclusive-after=$(grep '^process exclusive' $D/stats)"
echo go >/tmp/go; wait $TP
touch /tmp/stop; wait $OP
sec unload
kgen unload process; echo "rc=$?"
ftrace_count after-unload
echo 1 >$T/events/raw_syscalls/sys_enter/enable
run_target
kgen load process.ko follow_pid=$TP >/dev/null; echo "rc=$?"
echo >$T/trace
sleep 0.1
dd if=/dev/zero of=/dev/null bs=1 count=1000 2>/dev/null
echo 0 >$T/events/raw_syscalls/sys_enter/enable
echo "before-load dd-reads=$(grep ' dd-' $T/trace | grep -c "sys_enter: NR $RD ")"
echo "exclusive=$(grep '^process exclusive' $D/stats)"
echo go >/tmp/go; wait $TP
kgen unload process >/dev/null; echo "rc=$?"
# 4. kgen run: a command followed from its first instruction, its status
#    passed on; -p attaches to a running process until Ctrl-C.
sec run
kgen run process.ko -- sh -c 'trap "echo usr1" USR1; cat /nonexistent_run; kill -USR1 $$; sh -c "exit 2"; exit 4' >/tmp/run.out 2>/tmp/run.err
echo "rc=$?"
cat /tmp/run.out
sec run-err
cat /tmp/run.err
sec run-true
kgen run process.ko -- true >/tmp/true.out 2>/tmp/true.err
echo "rc=$?"
cat /tmp/true.out /tmp/true.err
# 200,000 system calls: every one an event, none lost, counted exactly,
# with a ring buffer that holds the burst (the reader, formatting text on
# the guest's one CPU, is far slower than the loop) ...
sec loop
kgen run --buffer-kb 32768 process.ko -- /root/loop $LN e2e >/tmp/loop.out 2>/tmp/loop.err
echo "rc=$?"
echo "loop-n=$LN"
echo "getppid-lines=$(grep -c '^[0-9]* getppid() = [0-9]' /tmp/loop.out)"
grep -E 'events lost| getppid$' /tmp/loop.err
# ... and with a small one the loss is counted and said, never silent.
sec loop-small
kgen run --buffer-kb 64 process.ko -- /root/loop 20000 e2e >/tmp/loop.out 2>/tmp/loop.err
echo "rc=$?"
echo "getppid-lines=$(grep -c '^[0-9]* getppid() = [0-9]' /tmp/loop.out)"
grep -E 'events lost| getppid$' /tmp/loop.err
sec attach
sh -c 'while [ ! -e /tmp/stop2 ]; do cat /nonexistent_attach 2>/dev/null; sleep 0.2; done' &
AP=$!
kgen run process.ko -p $AP >/tmp/attach.out 2>/tmp/attach.err &
KR=$!
# Ctrl-C once kgen run traces (the load takes seconds on a debug kernel):
# its instance has all the module's events on, and a few of the target's
# openat calls went by.
n=0
while [ "$(cat $T/instances/kgen_process/events/process/enable 2>/dev/null)" != 1 ] && [ $n -lt 600 ]; do
	sleep 0.1
	n=$((n + 1))
done
sleep 3
kill -INT $KR; wait $KR; echo "rc=$?"
touch /tmp/stop2; wait $AP
echo "attach-openat=$(grep -c 'openat(AT_FDCWD, "/nonexistent_attach", O_RDONLY) = -1 ENOENT' /tmp/attach.out)"
echo "loaded=$(lsmod | grep -c '^process')"
# 5. follow_exec armed on a process that exits without exec'ing: a later
#    process given its pid (ns_last_pid) is not followed.
sec exec-pending
kgen load process.ko >/dev/null; echo "rc=$?"
sleep 100 &
P=$!
ctl follow_exec 1
ctl follow_pid $P
kill $P; wait $P 2>/dev/null
grep '^process execs' $D/stats | sed 's/^/before-/'
[ -e /proc/sys/kernel/ns_last_pid ] || echo "no-ns_last_pid"
echo $((P - 1)) >/proc/sys/kernel/ns_last_pid 2>/dev/null
sh -c 'exec cat /nonexistent_reuse' 2>/dev/null &
Q=$!
wait $Q
echo "pid=$P reused=$Q"
grep '^process execs' $D/stats | sed 's/^/after-/'
kgen unload process >/dev/null; echo "rc=$?"
sec left
lsmod | grep -c '^process' ; ls $T/instances
sec dmesg
dmesg | grep -E 'BUG|WARNING|Oops|process:' 
sec end
