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
sec end
