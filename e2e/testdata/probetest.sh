# Runs inside the kgen VM (busybox sh, as root, in /root) with
# probetest.ko (examples/probetest.yaml). Prints raw kernel-side facts in
# "=== section" blocks; probetest_test.go asserts on them.
set -u
sec() { echo "=== $1"; }
D=/sys/kernel/debug/kgen/probetest
sec load
kgen load probetest.ko >/dev/null 2>&1; echo "rc=$?"
# Staged across writes: a name split between two writes is one name.
sec stage
printf 'vfs_re' > $D/probes; echo "rc=$?"
printf 'ad\nnotify_die\njiffies\nno_such_function_x\nksys_sync\n' > $D/probes; echo "rc=$?"
printf 'bad name\n' > $D/probes 2>/dev/null; echo "bad rc=$?"
sec staged
cat $D/probes
sec arm
echo arm > $D/ctl; echo "rc=$?"
printf 'vfs_write\n' > $D/probes 2>/dev/null; echo "stage while armed rc=$?"
# 10 read(2) calls: vfs_read hits at least 10 times
dd if=/proc/version of=/dev/null bs=1 count=10 2>/dev/null
sec armed
cat $D/probes
cat $D/stats
sec disarm
echo disarm > $D/ctl; echo "rc=$?"
cat $D/probes >/tmp/a
dd if=/proc/version of=/dev/null bs=1 count=10 2>/dev/null
sync
cat $D/probes >/tmp/b
cat /tmp/a
cmp -s /tmp/a /tmp/b; echo "frozen rc=$?"
sec clear
echo clear > $D/ctl; echo "rc=$?"
cat $D/probes | wc -l
echo bogus > $D/ctl 2>/dev/null; echo "bogus rc=$?"
sec unload
# armed again at unload: the module unregisters them itself
printf 'vfs_read\n' > $D/probes; echo arm > $D/ctl
kgen unload probetest >/dev/null 2>&1; echo "rc=$?"
sec end
