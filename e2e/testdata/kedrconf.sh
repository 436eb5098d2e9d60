# Runs inside the kgen VM (busybox sh, as root, in /root) with the
# kernel's Debian modules at /lib/modules/$(uname -r) (as
# scripts/extract-modules.sh extracted them), the payload example as
# /root/payload_dump_stack.ko, the kretprobe example as
# /root/vfs_read_lat.ko and compressed copies of it (.ko.xz, .ko.zst,
# .ko.gz). Prints raw facts in
# "=== section" blocks; kedrconf_test.go asserts on them.
set -u
sec() { echo "=== $1"; }
mods() { cut -d' ' -f1 /proc/modules | sort | tr '\n' ' '; echo; }
fsmounts() { grep -E ' (debugfs|tracefs) ' /proc/mounts | cut -d' ' -f2,3; }
# instances: the tracefs instances the kernel has (they outlive mounts)
instances() {
	mkdir -p /tmp/tfs && mount -t tracefs nodev /tmp/tfs && ls /tmp/tfs/instances
	umount /tmp/tfs
}
D=/tmp/kedr/debugfs
P=/root/vfs_read_lat.ko
PAY=/root/payload_dump_stack.ko
PNAME=payload_dump_stack
REL=$(uname -r)

sec start
mods
fsmounts

# 1. module NAME as modprobe: configfs first, then null_blk; unload -c
#    removes both.
echo 'module null_blk nr_devices=1' >nb.conf
sec nb-load
kgen load -c nb.conf 2>&1; echo "rc=$?"
sec nb-mods
mods
sec nb-params
cat /sys/module/null_blk/parameters/nr_devices
sec nb-unload
kgen unload -c nb.conf 2>&1; echo "rc=$?"
sec nb-after
mods

# 2. A dependency loaded before stays loaded.
echo 'module configfs' >cfs.conf
kgen load -c cfs.conf >/dev/null 2>&1
sec pre-load
kgen load -c nb.conf 2>&1; echo "rc=$?"
mods
sec pre-unload
kgen unload -c nb.conf 2>&1; echo "rc=$?"
mods
kgen unload -c cfs.conf >/dev/null 2>&1
sec pre-after
mods

# 3. The seed's configuration, its paths changed: KEDR's core module is
#    dummy here, the payload is examples/payload.yaml watching null_blk,
#    loaded (as KEDR's target) after it.
cat >seed.conf <<EOC
on_load mkdir -p "$D"

# Mount debugfs to enable tracepoints later
on_load mount debugfs -t debugfs "$D"

# This allows to roll back in case of error while loading a payload
on_unload mount | grep "$D"; if test \$? -eq 0; then umount "$D"; fi

# A module the payload does not watch (KEDR's core modules were here)
module dummy

# Payload modules
payload $PAY target=null_blk 
on_load echo 1 > $D/tracing/events/$PNAME/enable
# The target: its kmalloc calls from its init on go through the payload
module null_blk

# After tracepoints are enabled for all payloads, unmount debugfs
on_load umount "$D"
EOC
dmesg -c >/dev/null
sec seed-load
kgen load -c seed.conf 2>&1; echo "rc=$?"
sec seed-mods
mods
sec seed-mounts
fsmounts
sec seed-enable
cat /sys/kernel/tracing/events/$PNAME/enable 2>&1
sec seed-stats
cat /sys/kernel/debug/kgen/$PNAME/stats 2>&1
sec seed-stacks
dmesg | grep -c 'Call Trace'
sec seed-trace
kgen trace $PNAME --duration 2s 2>&1 >/tmp/seed.trace
head -c 600 /tmp/seed.trace; echo
grep -c . /tmp/seed.trace
sec seed-unload
kgen unload -c seed.conf 2>&1; echo "rc=$?"
sec seed-after
mods
fsmounts
ls /run/kgen /run/kgen/kedrconf 2>&1
sec seed-instances
instances

# 4. A failing middle line rolls everything back.
sed "s#/events/$PNAME/enable#/events/no_such_event/enable#" seed.conf >fail.conf
sec fail-load
kgen load -c fail.conf 2>&1; echo "rc=$?"
sec fail-after
mods
fsmounts
ls /run/kgen /run/kgen/kedrconf 2>&1
sec fail-instances
instances

# 5. Compressed modules: kgen load PATH.ko.{xz,zst,gz}, and module PATH.
for c in xz zst gz; do
	sec "compressed-$c"
	kgen load $P.$c 2>&1; echo "rc=$?"
	mods
	kgen unload vfs_read_lat >/dev/null 2>&1; echo "unload rc=$?"
	mods
done
F=$(cd /lib/modules/$REL && find kernel -name 'dummy.ko*')
echo "module /lib/modules/$REL/$F numdummies=2" >path.conf
sec path-load
kgen load -c path.conf 2>&1; echo "rc=$?"
mods
ls /sys/class/net | grep -c dummy
sec path-unload
kgen unload -c path.conf 2>&1; echo "rc=$?"
mods

# 6. Errors that say what to do.
sec err-unknown
echo 'module no_such_module_kgen' >bad.conf
kgen load -c bad.conf 2>&1; echo "rc=$?"
sec err-nodep
mv /lib/modules/$REL/modules.dep /tmp/modules.dep
kgen load -c nb.conf 2>&1; echo "rc=$?"
mv /tmp/modules.dep /lib/modules/$REL/modules.dep
sec end
