# kgen probe-test's default workload: what busybox reaches in a few
# seconds. Its exit status does not matter; the kernel's health does.
# files on tmpfs and ramfs
mkdir -p /tmp/w /tmp/r
mount -t tmpfs none /tmp/w
mount -t ramfs none /tmp/r
for d in /tmp/w /tmp/r; do
	dd if=/dev/zero of=$d/f bs=4k count=64 2>/dev/null
	cp $d/f $d/g; mv $d/g $d/h; ln -s h $d/l; ln $d/h $d/hard
	cat $d/l >/dev/null; ls -lR $d >/dev/null; chmod 600 $d/h; touch $d/h
	truncate -s 1000 $d/h 2>/dev/null; rm -f $d/f $d/h $d/l $d/hard
done
sync
umount /tmp/w; umount /tmp/r
# pipes, processes, signals
seq 1 2000 | sort -r | uniq | wc -l >/dev/null
for i in 1 2 3 4 5; do sh -c 'echo $$' >/dev/null & done
wait
sleep 10 & p=$!; kill -TERM $p; wait $p
sleep 10 & p=$!; kill -STOP $p; kill -CONT $p; kill -KILL $p; wait $p
# loopback sockets
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
nc -l -p 7777 >/dev/null 2>&1 & p=$!
sleep 0.2
echo hello | nc -w 1 127.0.0.1 7777 2>/dev/null
kill $p 2>/dev/null; wait $p
ping -c 2 -i 0.2 127.0.0.1 >/dev/null 2>&1
# proc, sys, timers
cat /proc/meminfo /proc/stat /proc/interrupts /proc/self/maps >/dev/null
find /sys/kernel -maxdepth 2 >/dev/null 2>&1
usleep 100000 2>/dev/null || sleep 0.1
date >/dev/null; uptime >/dev/null
# module load and unload (the kernel's own, when the guest has one)
for m in /root/*.ko; do
	case $m in */kgen_ptest.ko) continue ;; esac
	[ -e "$m" ] && insmod "$m" && rmmod "$m"
done
sync
