# Runs inside the kgen VM (busybox sh, as root, in /root, 2 CPUs) with
# otst.ko (examples/otst.yaml) and otst3.ko (testdata/otst3.yaml: shots 3,
# max_symbols 2). Prints raw kernel-side facts in "=== section" blocks;
# e2e_test.go asserts on them.
set -u
sec() { echo "=== $1"; }
P=/proc/driver/otst
P3=/proc/driver/otst3
# w FILE TEXT: write TEXT (no newline) with one write(2); prints rc and
# the shell's error, which names the errno ("write error: File exists").
w() { echo -n "$2" 2>/tmp/werr >"$1"; echo "rc=$? $(cat /tmp/werr)"; }
# wait_empty FILE: until no symbol is listed (the probe fired), 10 s max.
wait_empty() {
	n=0
	while [ -n "$(cat "$1")" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
	cat "$1"
}
# nth N: the Nth line of stdin
nth() { sed -n "${1}p"; }

sec cpus
nproc

# 1. The README flow: arm, trigger once, the trace in dmesg and as an
#    event, the list empty afterwards.
sec load
kgen load otst.ko; echo "rc=$?"
sec kallsyms
grep -wE 'ksys_sync|write_null' /proc/kallsyms
kgen trace otst --json --duration 6s >/tmp/readme.json 2>/tmp/readme.err &
sleep 1
dmesg -c >/dev/null
sec readme-arm
w $P ksys_sync
w $P vfs_fsync
sec readme-list
cat $P
sync
sec readme-after
wait_empty_one() { n=0; while grep -qx ksys_sync $1 && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done; }
wait_empty_one $P
cat $P
echo "-- disarm"
printf -- '-vfs_fsync\n' >$P; echo "rc=$?"
cat $P
wait
sec readme-dmesg
dmesg -c
sec readme-events
cat /tmp/readme.json
sec readme-trace-summary
cat /tmp/readme.err

# 1b. The original's raw address, when asked for (raw_addresses=1); the
#     README flow above logged it hashed, the default.
sec raw
kgen load otst3.ko raw_addresses=1 >/dev/null 2>&1; echo "rc=$?"
dmesg -c >/dev/null
w $P3 ksys_sync
sync; sync; sync
wait_empty $P3
sec raw-dmesg
dmesg -c | grep 'triggered stacktrace'
kgen unload otst3 >/dev/null 2>&1; echo "rc=$?"

# 2. Exactly once on SMP: two writers hammer write_null on both CPUs while
#    it is armed 20 times; every arming must give exactly one trace.
sec smp
kgen load otst3.ko >/dev/null; echo "rc=$?"
taskset -c 0 dd if=/dev/zero of=/dev/null bs=1 count=1000000000 2>/dev/null &
h0=$!
taskset -c 1 dd if=/dev/zero of=/dev/null bs=1 count=1000000000 2>/dev/null &
h1=$!
kgen trace otst --json >/tmp/smp.json 2>/tmp/smp.err &
tr=$!
kgen trace otst3 --json >/tmp/smp3.json 2>/tmp/smp3.err &
tr3=$!
sleep 1
dmesg -c >/dev/null
for i in $(seq 1 20); do
	w $P write_null
	echo "left=[$(wait_empty $P)]"
done
echo "-- shots 3"
for i in $(seq 1 5); do
	w $P3 write_null
	echo "left=[$(wait_empty $P3)]"
done
sleep 1
kill $tr $tr3
wait $tr $tr3 2>/dev/null
sec smp-stats
cat /sys/kernel/debug/kgen/otst/stats
cat /sys/kernel/debug/kgen/otst3/stats
sec smp-dmesg
dmesg -c
sec smp-events
cat /tmp/smp.json
sec smp3-events
cat /tmp/smp3.json
sec smp-trace-summary
cat /tmp/smp.err /tmp/smp3.err
# A disarm still queued when the module goes: arm, and unload at once.
sec smp-pending-unload
w $P3 write_null
kgen unload otst3; echo "rc=$?"
kill $h0 $h1
wait $h0 $h1 2>/dev/null

# 3. Every bad input returns its errno, and logs at most one line.
sec bad-load
kgen load otst3.ko; echo "rc=$?"
echo "kgnobody:x:65534:65534:nobody:/:/bin/sh" >>/etc/passwd
echo "kgnobody:x:65534:" >>/etc/group
sec noadmin-who
su -s /bin/sh kgnobody -c "id -u; grep CapEff /proc/self/status; ls -l $P3"
dmesg -c >/dev/null
sec bad
echo "empty"; w $P3 "
"
echo "dash"; w $P3 "-"
# KSYM_NAME_LEN is 128 before 6.1, 512 from 6.1: the longest name is one
# less. Names this long exist nowhere, so a length that passes gives ENOENT.
echo "long127"; w $P3 "$(printf '%127s' '' | tr ' ' a)"
echo "long128"; w $P3 "$(printf '%128s' '' | tr ' ' a)"
echo "long511"; w $P3 "$(printf '%511s' '' | tr ' ' a)"
echo "long512"; w $P3 "$(printf '%512s' '' | tr ' ' a)"
echo "long600"; w $P3 "$(printf '%600s' '' | tr ' ' a)"
echo "long4096"; w $P3 "$(printf '%4096s' '' | tr ' ' a)"
echo "nosuch"; w $P3 kgen_no_such_symbol
# A writer without CAP_SYS_ADMIN: uid 65534 through su, on a file whose
# mode (0666) lets it open it. The handler checks the opener's
# capabilities, whatever the file's mode.
echo "noadmin"; su -s /bin/sh kgnobody -c "out=\$(echo -n ksys_sync 2>&1 >$P3); echo \"rc=\$? \$out\""
# kprobes' own blacklist (NOKPROBE_SYMBOL): the breakpoint handlers
case $(uname -m) in
aarch64) blacklisted=do_debug_exception ;;
*) blacklisted=kprobe_int3_handler ;;
esac
echo "blacklisted"; w $P3 $blacklisted
echo "space"; w $P3 "a b"
echo "semicolon"; w $P3 "vfs_read;x"
echo "newline-inside"; w $P3 "vfs_read
x"
echo "digit"; w $P3 9abc
echo "colon"; w $P3 "vfs_read:"
echo "binary"; w $P3 "$(printf 'vfs\001read')"
echo "nomodule"; w $P3 kgen_no_such_module:vfs_read
echo "twocolons"; w $P3 a:b:c
echo "first"; w $P3 ksys_sync
echo "twice"; w $P3 ksys_sync
echo "second"; w $P3 vfs_fsync
echo "full"; w $P3 do_nanosleep
echo "disarm-unarmed"; w $P3 -do_nanosleep
echo "clear"; w $P3 clear
echo "list"; cat $P3
sec bad-dmesg
dmesg -c
sec bad-unload
kgen unload otst3; echo "rc=$?"

# 4. Load-time symbols (module parameter); a bad one fails the load and
#    leaves nothing behind.
sec param
kgen load otst3.ko symbols=ksys_sync,vfs_fsync shots=2; echo "rc=$?"
cat $P3
cat /sys/module/otst3/parameters/shots
kgen unload otst3; echo "rc=$?"
kgen load otst3.ko symbols=kgen_no_such_symbol; echo "rc=$?"
echo "-- empty list"
kgen load otst3.ko symbols= >/dev/null 2>&1; echo "rc=$?"
cat $P3
kgen unload otst3 >/dev/null 2>&1; echo "rc=$?"
sec param-after
ls $P3 2>&1
grep otst3 /proc/modules

# 4b. A probe whose function (otst3's own /proc show function; every otst
#     module names it otst_show) went with its module is not listed, and the
#     symbol can be armed again once the module is back.
sec gone
kgen load otst3.ko >/dev/null 2>&1; echo "rc=$?"
w $P otst3:otst_show
echo "list=[$(grep otst3 $P)]"
kgen unload otst3 >/dev/null 2>&1; echo "rc=$?"
echo "list=[$(grep otst3 $P)]"
kgen load otst3.ko >/dev/null 2>&1; echo "rc=$?"
w $P otst3:otst_show
cat $P3 >/dev/null
echo "list=[$(wait_empty $P)]"
kgen unload otst3 >/dev/null 2>&1; echo "rc=$?"

# 5. 100 arm/trigger cycles, then unload with several symbols armed.
sec cycles
ok=0
for i in $(seq 1 100); do
	printf ksys_sync >$P && sync && [ -z "$(wait_empty $P)" ] && ok=$((ok + 1))
done
echo "ok=$ok"
w $P ksys_sync
w $P vfs_fsync
w $P do_nanosleep
w $P write_null
cat $P
sec cycles-unload
kgen unload otst; echo "rc=$?"

# 6. Nothing left behind; a clean kernel log.
sec modules-after
cat /proc/modules
sec proc-after
ls /proc/driver/
mount -t debugfs none /sys/kernel/debug
sec kprobes-after
cat /sys/kernel/debug/kprobes/list
umount /sys/kernel/debug
sec mounts-after
grep -E ' (debugfs|tracefs) ' /proc/mounts || true
sec dmesg
dmesg
sec end
