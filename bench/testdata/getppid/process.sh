# The process kind's cost figures (README "Spec reference (kind: process)"),
# not yet part of make bench. From the repository root:
#   CGO_ENABLED=0 go build -o /tmp/loop ./bench/testdata/getppid/loop.go
#   kgen build examples/process.yaml --kdir K/kdir -o out
#   kgen vm --kernel K/vmlinux --icount --timeout 8m --add bench/testdata/getppid/process.sh:/root/bench.sh \
#     --add /tmp/loop:/root/loop --add out/ptrace.ko:/root/ptrace.ko -- 'sh /root/bench.sh'
# Each line: "<case> <instructions per getppid>" (guest time is
# instructions under --icount); compare within one boot.
set -u
D=/sys/kernel/debug/kgen/ptrace
T=/sys/kernel/tracing
mount -t tracefs nodev $T
sleep 3	# 6.12 runs crypto self-tests after boot
L() { for i in 1 2 3; do /root/loop 200000 "$1"; done; }
/root/loop 200000 warmup
L base
sleep 1000 & F=$!
kgen load ptrace.ko follow_pid=$F >/dev/null
grep exclusive $D/stats
L notfollowed-exclusive
echo 'common_pid == 1' > $T/events/raw_syscalls/filter
echo 1 > $T/events/raw_syscalls/enable
sleep 0.1
grep exclusive $D/stats
L notfollowed-shared
echo 0 > $T/events/raw_syscalls/enable
echo 0 > $T/events/raw_syscalls/filter
sleep 0.1
echo 0 > $D/follow_pid
L followed-syscalls
echo 0 > $D/trace_syscalls
L followed-nosyscalls
kgen unload ptrace >/dev/null
L base-after
echo 1 > $T/events/raw_syscalls/enable
for i in 1 2 3; do sh -c "echo \$\$ > $T/set_event_pid; exec /root/loop 200000 ftrace-set_event_pid"; done
echo 0 > $T/events/raw_syscalls/enable
echo > $T/set_event_pid
L base-end
