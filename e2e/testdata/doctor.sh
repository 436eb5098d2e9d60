# Runs inside the kgen VM (busybox sh, as root): kgen doctor on this boot
# (the kernel command line says which: normal, module.sig_enforce=1 or
# lockdown=integrity) and, on the normal boot, kgen list on the running
# kernel and kgen doctor with kprobes disabled. Prints "=== section"
# blocks; doctor_test.go asserts on them. The guest has no kernel headers.
set -u
sec() { echo "=== $1"; }
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null

sec cmdline
cat /proc/cmdline
# doctor before anything mounts debugfs or tracefs: it must say they
# are mountable
sec doctor-unmounted
kgen doctor; echo "rc=$?"
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
sec doctor
kgen doctor; echo "rc=$?"
sec doctor-load-only
kgen doctor --load-only --json; echo "rc=$?"
case " $(cat /proc/cmdline) " in
*" module.sig_enforce=1 "* | *" lockdown="*)
	sec load
	kgen load /root/vfs_read_lat.ko; echo "rc=$?"
	;;
*)
	# each kgen list of functions reads kallsyms (~150,000 lines): list
	# once with and once without --all, and grep those
	sec list-time
	t0=$(date +%s)
	kgen list 'kprobe:*' >/tmp/def; echo "rc=$?" >>/tmp/def
	echo "list-seconds $(($(date +%s) - t0))"
	kgen list --all >/tmp/all
	sec list-vfs
	grep '^kprobe:vfs_rea' /tmp/def; tail -n1 /tmp/def
	sec list-blacklisted
	grep -c '^kprobe:' /tmp/def; grep -c '^kprobe:.* (blacklisted: ' /tmp/all
	grep '^kprobe:do_int3 ' /tmp/all; grep -c '^kprobe:do_int3$' /tmp/def
	sec list-tp
	kgen list -v 'tracepoint:sched:sched_process_exec'; echo "rc=$?"
	sec list-tp-count
	kgen list 'tracepoint:*' | grep -c '^tracepoint:'
	sec kprobes-off
	echo 0 > /sys/kernel/debug/kprobes/enabled
	kgen doctor --load-only; echo "rc=$?"
	echo 1 > /sys/kernel/debug/kprobes/enabled
	sec load
	kgen load /root/vfs_read_lat.ko; echo "rc=$?"
	;;
esac
sec end
