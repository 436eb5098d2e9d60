# Runs inside the kgen VM (busybox sh, as root, in /root): Debian bookworm's
# trace-cmd and perf (/opt/tools, scripts/fetch-tools.sh) record and print
# kgen's events of every kind (kretprobe, otst, process). Prints raw output in "=== section" blocks;
# tools_test.go asserts on them.
set -u
sec() { echo "=== $1"; }
TC=/opt/tools/bin/trace-cmd
PERF=/opt/tools/bin/perf
cd /tmp
# tcrec OUT ARGS...: trace-cmd record -q -o OUT ARGS. trace-cmd 3.1.6
# sometimes writes a file with no event at all in this guest (seen in 2 of
# about 12 runs, on 5.10 and 6.1, with the events in the kernel's buffer):
# then record again, at most 3 times, saying so; the test counts retries.
tcrec() {
	out=$1
	shift
	for try in 1 2 3; do
		$TC record -q -o "$out" "$@" >/dev/null 2>&1
		rc=$?
		[ "$($TC report -i "$out" 2>/dev/null | grep -cE '\[[0-9]+\] +[0-9]+\.[0-9]+: ')" -gt 0 ] && break
		echo "tcrec-retry: $out held no event (try $try)"
	done
	echo "rc=$rc"
}

sec versions
$TC --version 2>&1 | grep version
$PERF --version 2>&1

sec load
kgen load /root/vfs_read_lat.ko; echo "rc=$?"
kgen load /root/krstack.ko; echo "rc=$?"
kgen load /root/otst.ko; echo "rc=$?"
T=$(awk '$3 == "tracefs" { print $2; exit }' /proc/mounts)
echo "tracefs=$T"

# 1. kretprobe: args, retval, latency (the README example).
sec lat-format
cat $T/events/vfs_read_lat/vfs_read_lat_vfs_read/format
tcrec lat.dat -e vfs_read_lat dd if=/dev/zero of=/dev/null bs=8192 count=3
sec lat-report
$TC report -i lat.dat 2>&1
sec lat-filter
# a kernel filter on a kgen field at record time, and libtraceevent's own
# filter at report time
tcrec latf.dat -e vfs_read_lat -f 'count == 16384' \
	sh -c 'dd if=/dev/zero of=/dev/null bs=8192 count=2; dd if=/dev/zero of=/dev/null bs=16384 count=2'
$TC report -i latf.dat 2>&1
sec lat-report-filter
tcrec latr.dat -e vfs_read_lat \
	sh -c 'dd if=/dev/zero of=/dev/null bs=8192 count=2; dd if=/dev/zero of=/dev/null bs=16384 count=2'
echo "-- unfiltered: $($TC report latr.dat 2>&1 | grep -c "comm='dd'") lines of dd"
# -F before the file: trace-cmd 3.1 applies it to the inputs that follow
$TC report -F 'vfs_read_lat_vfs_read: count == 8192 && comm == "dd"' latr.dat 2>&1

# 2. kretprobe with stack: true; -R stacktrace adds ftrace's own
#    symbolised kernel_stack after each event.
sec stack-report
tcrec stack.dat -e krstack dd if=/dev/zero of=/dev/null bs=512 count=2
$TC report -i stack.dat 2>&1
sec stack-trigger
tcrec stackt.dat -e krstack -R stacktrace dd if=/dev/zero of=/dev/null bs=512 count=1
$TC report -i stackt.dat 2>&1

# 3. otst: one shot of ksys_sync.
sec otst-report
tcrec otst.dat -e otst sh -c 'echo -n ksys_sync > /proc/driver/otst; sync'
$TC report -i otst.dat 2>&1
sec otst-filter
tcrec otstf.dat -e otst sh -c 'echo -n ksys_sync > /proc/driver/otst; echo -n do_nanosleep > /proc/driver/otst; sync; sleep 1'
$TC report -F 'otst_trigger: symbol == "do_nanosleep"' otstf.dat 2>&1
echo "-- ksys_sync"
$TC report -F 'otst_trigger: symbol == "ksys_sync"' otstf.dat 2>&1

# 3b. process: cat's openat with its path, its exec with argv, its exit.
sec process-report
kgen load /root/process.ko taskcomm_filter=cat >/dev/null 2>&1; echo "rc=$?"
tcrec proc.dat -e process cat /nonexistent_tools
$TC report -i proc.dat 2>&1
kgen unload process >/dev/null 2>&1; echo "rc=$?"

# 4. perf: the same events through perf's copy of libtraceevent.
sec perf-script
$PERF record -q -e vfs_read_lat:vfs_read_lat_vfs_read -e krstack:krstack_vfs_read -e otst:otst_trigger \
	-o perf.data -a sh -c 'dd if=/dev/zero of=/dev/null bs=8192 count=2; echo -n ksys_sync > /proc/driver/otst; sync' >/dev/null 2>&1
echo "rc=$?"
$PERF --no-pager script -i perf.data 2>&1
sec perf-callchain
$PERF record -q -g -e otst:otst_trigger -o perfg.data -a sh -c 'echo -n ksys_sync > /proc/driver/otst; sync' >/dev/null 2>&1
echo "rc=$?"
$PERF --no-pager script -i perfg.data 2>&1
sec perf-filter
$PERF record -q -e vfs_read_lat:vfs_read_lat_vfs_read --filter 'count == 16384' -o perff.data -a \
	sh -c 'dd if=/dev/zero of=/dev/null bs=8192 count=2; dd if=/dev/zero of=/dev/null bs=16384 count=2' >/dev/null 2>&1
echo "rc=$?"
$PERF --no-pager script -i perff.data 2>&1

# 5. Another tool takes kgen's instance: trace-cmd extract -B turns its
#    tracing and events off and deletes it (which fails with EBUSY while
#    kgen trace reads it).
sec extract-while-tracing
kgen trace krstack --json >ext1.json 2>ext1.err &
KT=$!
sleep 3
$TC extract -B kgen_krstack -o ext.dat >/dev/null 2>&1; echo "extract rc=$?"
echo "-- instances"
ls $T/instances
sleep 1 # kgen trace looks at its instance each 200 ms while idle
dd if=/dev/zero of=/dev/null bs=1000 count=2 2>/dev/null
sleep 2
kill $KT # SIGTERM: a background job of a script ignores SIGINT
wait $KT
cat ext1.json
sec extract-while-tracing-err
cat ext1.err
sec extract-between
$TC extract -B kgen_krstack -o ext2.dat >/dev/null 2>&1; echo "extract rc=$?"
echo "-- instances"
ls $T/instances
kgen trace krstack --json --duration 5s >ext2.json 2>ext2.err &
sleep 2
dd if=/dev/zero of=/dev/null bs=1001 count=2 2>/dev/null
wait
cat ext2.json
sec extract-between-err
cat ext2.err
echo "-- instances"
ls $T/instances
cat $T/instances/kgen_krstack/events/krstack/enable

sec unload
kgen unload otst; echo "rc=$?"
kgen unload krstack; echo "rc=$?"
kgen unload vfs_read_lat; echo "rc=$?"
sec dmesg
dmesg
sec end
