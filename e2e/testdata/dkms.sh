# Runs inside the kgen VM: the module DKMS built (not kgen build) loads,
# traces and unloads. e2e's TestDKMS asserts on the sections.
set -u
sec() { echo "=== $1"; }
sec load
kgen load vfs_read_lat.ko; echo "rc=$?"
sec modules
grep '^vfs_read_lat ' /proc/modules
kgen trace vfs_read_lat --json --duration 3s >/tmp/lat.json 2>/dev/null &
sleep 1
dd if=/dev/zero of=/dev/null bs=8192 count=3 2>/dev/null
wait
sec events
cat /tmp/lat.json
sec unload
kgen unload vfs_read_lat; echo "rc=$?"
sec end
