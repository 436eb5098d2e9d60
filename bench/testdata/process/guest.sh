# kgen bench, the process kind's part: run with sh by the guest script of
# bench/main.go in the same `kgen vm --icount` boot, with loop and
# process.ko (examples/process.yaml) in /root/pr. Each run is loop's
# 200,000 getppid calls: "KGBENCH fact pr_<key> <instructions per call>".
# It computes nothing: bench validates every figure (bench/process.go). A
# failing step is counted in pr_status and named in pr_failed.
P=/root/pr
N=200000
D=/sys/kernel/debug/kgen/process
T=/sys/kernel/tracing
fail=0
try() {
	"$@" >&2 && return 0
	fail=$((fail + 1))
	echo "KGBENCH fact pr_failed $*"
	return 1
}
# L KEY: the loop, not followed (or followed system-wide).
L() { $P/loop $N pr_$1 | sed 's/^/KGBENCH fact /'; }
# F KEY CONTROLFILE: the loop in a new tree that CONTROLFILE makes followed.
F() { sh -c "echo \$\$ > $2 && exec $P/loop $N pr_$1" | sed 's/^/KGBENCH fact /'; }
stat() { awk -v r=$1 -v c=$2 '$1 == r && $2 == c { print $3 }' $D/stats; }

grep -q " /sys/kernel/debug " /proc/mounts || mount -t debugfs none /sys/kernel/debug
grep -q " $T " /proc/mounts || mount -t tracefs nodev $T
$P/loop $N warmup >/dev/null
L base1
sleep 1000 &
S=$!
if try kgen load $P/process.ko follow_pid=$S; then
	echo "KGBENCH fact pr_others_exclusive $(stat process exclusive)"
	L others
	F followed $D/follow_pid
	echo "KGBENCH fact pr_followed_calls $(stat getppid calls)"
	echo "KGBENCH fact pr_followed_exits $(stat process sys_exits)"
	echo 1 > $D/trace_syscall_entry
	F followed_entry $D/follow_pid
	echo 0 > $D/trace_syscall_entry
	echo "KGBENCH fact pr_followed_entry_enters $(stat process sys_enters)"
	echo 0 > $D/trace_syscalls
	F followed_nosys $D/follow_pid
	echo 1 > $D/trace_syscalls
	echo $S > $D/follow_pid
	# Another user of the syscall tracepoints: kgen gives every task its flag back.
	echo 'common_pid == 1' > $T/events/raw_syscalls/filter
	echo 1 > $T/events/raw_syscalls/enable
	sleep 0.2
	echo "KGBENCH fact pr_shared_exclusive $(stat process exclusive)"
	L others_shared
	echo 0 > $T/events/raw_syscalls/enable
	echo 0 > $T/events/raw_syscalls/filter
	try kgen unload process
fi
kill $S
echo 1 > $T/events/raw_syscalls/enable
F ftrace $T/set_event_pid
echo 0 > $T/events/raw_syscalls/enable
echo > $T/set_event_pid
L base2
echo "KGBENCH fact pr_status $fail"
