# probe-test's workload in e2e: the fixture's calls, then a little of
# everything the listed kernel functions serve.
echo go > /sys/kernel/debug/ptfix_call
cat /proc/version /proc/meminfo >/dev/null
echo hello > /tmp/f; cat /tmp/f >/dev/null; rm /tmp/f
seq 1 100 | wc -l >/dev/null
sleep 0.1
