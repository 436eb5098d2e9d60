# Runs inside the kgen VM (busybox sh, as root, in /root) on a kernel booted
# with module.sig_enforce=1. Files: /root/unsigned/vfs_read_lat.ko (kgen
# build, unsigned), /root/<case>/vfs_read_lat.ko signed by kgen with a key
# the kernel does not have (rsa-sha256, ecdsa-sha256, rsa-sha3-256) and
# /root/loop.ko, Debian's module signed with Debian's key. Prints raw facts
# in "=== section" blocks; sign_test.go asserts on them.
set -u
sec() { echo "=== $1"; }

sec enforce
cat /sys/module/module/parameters/sig_enforce

for c in unsigned rsa-sha256 ecdsa-sha256 rsa-sha3-256; do
	sec "$c"
	dmesg -c >/dev/null
	kgen load /root/$c/vfs_read_lat.ko 2>&1
	echo "rc=$?"
	grep -c '^vfs_read_lat ' /proc/modules
	dmesg | grep 'Loading of'
done

sec debian
kgen load /root/loop.ko 2>&1
echo "rc=$?"
grep -c '^loop ' /proc/modules
kgen unload loop 2>&1
echo "unload rc=$?"

sec end
