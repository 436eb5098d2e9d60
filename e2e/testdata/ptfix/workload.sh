# probe-test's workload in e2e: the fixture's calls, then a little of
# everything the listed kernel functions serve.
echo go > /sys/kernel/debug/ptfix_call
cat /proc/version /proc/meminfo >/dev/null
echo hello > /tmp/f; cat /tmp/f >/dev/null; rm /tmp/f
seq 1 100 | wc -l >/dev/null
sleep 0.1
# A report that does not panic the guest, logged while vfs_fsync is armed
# (TestVMProbeTestSweep's "warner" on debian-6.1): the guest's own check of
# its log must charge it to the group that had vfs_fsync, not a later one.
if grep -q '^vfs_fsync ' /sys/kernel/debug/kgen/kgen_ptest/probes 2>/dev/null; then
	echo "WARNING: kgen e2e: a report while vfs_fsync is armed" >/dev/kmsg
fi
