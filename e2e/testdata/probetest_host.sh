# Runs inside the kgen VM (busybox sh, as root, in /root) with
# /root/kgen_ptest.ko: kgen probe-test --host on the guest's own kernel,
# once uninterrupted (D1) and once SIGKILLed twice while a group is armed
# and resumed (D2). Prints raw facts in "=== section" blocks;
# probetest_host_test.go asserts on them.
set -u
sec() { echo "=== $1"; }
# Functions the workload calls, syscalls nothing here makes, and a name
# the kernel lacks.
cat >/root/ph.list <<'LIST'
vfs_read
vfs_write
ksys_read
ksys_write
do_sys_openat2
do_filp_open
vfs_open
do_mkdirat
vfs_mkdir
do_rmdir
vfs_rmdir
do_unlinkat
vfs_unlink
do_renameat2
vfs_rename
ksys_sync
do_truncate
do_pipe2
pipe_read
pipe_write
kernel_clone
do_exit
do_nanosleep
vfs_statx
__x64_sys_reboot
__x64_sys_kexec_load
__x64_sys_swapon
__x64_sys_swapoff
__x64_sys_pivot_root
__x64_sys_quotactl
__x64_sys_sethostname
__x64_sys_setdomainname
__x64_sys_acct
__x64_sys_syslog
__x64_sys_init_module
__x64_sys_delete_module
__x64_sys_mount_setattr
__x64_sys_fsmount
__x64_sys_userfaultfd
kgen_no_such_fn
LIST
# The workload: the same calls every time; its pid is logged at its start
# (the group is armed then), so the script knows when to kill kgen.
cat >/root/ph.wl <<'WL'
echo $$ >>/tmp/wl.pids
mkdir -p /tmp/wd && cd /tmp/wd
dd if=/dev/zero of=f bs=1k count=8 2>/dev/null
cat f >/dev/null
mv f g
truncate -s 100 g
rm g
mkdir d && rmdir d
echo x | cat >/dev/null
stat /tmp >/dev/null
sync
sleep 0.5
WL
mkdir -p /etc/systemd/system
U=/etc/systemd/system/kgen-probe-test.service
W=/etc/systemd/system/multi-user.target.wants/kgen-probe-test.service
PT="probe-test --host --ko /root/kgen_ptest.ko --probes /root/ph.list --workload /root/ph.wl --group 8 --timeout 60s --dir"
# killarmed D N: runs kgen $PT D and SIGKILLs it once the workload has started N
# times in this run (group N armed, D/host.json there), then waits for the
# orphaned workload to end.
killarmed() {
	rm -f /tmp/wl.pids
	kgen $PT "$1" >>/tmp/d2.log 2>&1 &
	p=$!
	i=0
	while [ ! -e "$1/host.json" ] || [ "$(cat /tmp/wl.pids 2>/dev/null | wc -l)" -lt "$2" ]; do
		i=$((i + 1))
		if [ $i -gt 3000 ] || ! kill -0 $p 2>/dev/null; then
			echo "kgen did not reach group $2 (i=$i)"
			break
		fi
		usleep 20000
	done
	[ -e "$1/host.json" ] && echo "host.json while armed: yes"
	grep -q kgen_ptest /proc/modules && echo "module loaded: yes"
	kill -9 $p
	wait $p 2>/dev/null
	w=$(tail -n 1 /tmp/wl.pids)
	while kill -0 "$w" 2>/dev/null; do usleep 20000; done
}
sec d1
start=$(cut -d' ' -f1 /proc/uptime)
kgen $PT /root/D1 >/tmp/d1.log 2>&1; echo "rc=$?"
echo "took $start $(cut -d' ' -f1 /proc/uptime)"
cat /tmp/d1.log
sec d1-after
ls $U $W 2>&1
grep -c kgen_ptest /proc/modules
ls /root/D1
sec d2-kill1
killarmed /root/D2 2
sec unit
cat $U
readlink $W
sec d2-kill2
killarmed /root/D2 2
sec d2
start=$(cut -d' ' -f1 /proc/uptime)
kgen $PT /root/D2 >>/tmp/d2.log 2>&1; echo "rc=$?"
echo "took $start $(cut -d' ' -f1 /proc/uptime)"
cat /tmp/d2.log
sec d2-after
ls $U $W 2>&1
grep -c kgen_ptest /proc/modules
cat /sys/kernel/debug/kprobes/list
# D3: a crash the kernel survives. The fixture BUG()s when one of its
# crashers is probed; with panic_on_oops 0 the oops kills the workload's
# shell and the kernel goes on. Console loglevel 0 keeps the oops off the
# console (kgen vm would end the boot); /dev/kmsg still has it.
sec d3
insmod /root/ptfix.ko; echo "insmod rc=$?"
echo 0 >/proc/sys/kernel/panic_on_oops
echo 0 >/proc/sys/kernel/panic_on_warn
echo "0 4 0 7" >/proc/sys/kernel/printk
printf 'ptfix_f000\nptfix_f001\nptfix_f002\nptfix_f003\nptfix_f004\nptfix_crash_a\nptfix_f005\nptfix_f006\nvfs_read\ndo_nanosleep\n' >/root/ph3.list
kgen probe-test --host --ko /root/kgen_ptest.ko --probes /root/ph3.list --workload /root/ptfix_wl.sh --group 8 --timeout 60s --no-unit --dir /root/D3 >/tmp/d3.log 2>&1; echo "rc=$?"
cat /tmp/d3.log
ls $U 2>&1
sec D3-crash
cat /root/D3/crash/ptfix_crash_a.txt; echo
# D4: kgen itself is killed after the kernel logged a crash while a group
# was armed (the workload oopses in the background and sleeps on): the
# resumed run reads the kernel log after the group's mark and counts the
# group as crashed without running it again.
sec d4
printf 'ptfix_crash_a\n' >/root/ph4.list
printf '(echo go >/sys/kernel/debug/ptfix_call) &\nsleep 5\n' >/root/ph4.wl
n0=$(dmesg | grep -c 'kernel BUG at')
P4="probe-test --host --ko /root/kgen_ptest.ko --probes /root/ph4.list --workload /root/ph4.wl --timeout 60s --no-unit --dir /root/D4"
kgen $P4 >/tmp/d4.log 2>&1 &
p=$!
i=0
while [ "$(dmesg | grep -c 'kernel BUG at')" -le "$n0" ] && [ $i -lt 500 ]; do
	i=$((i + 1))
	usleep 20000
done
kill -9 $p
wait $p 2>/dev/null
[ -e /root/D4/host.json ] && echo "killed with host.json: yes"
kgen $P4 >>/tmp/d4.log 2>&1; echo "rc=$?"
cat /tmp/d4.log
sec D4-failed
cat /root/D4/probes.failed
for d in D1 D2 D3; do
	for c in passed failed untriggered unregistered; do
		sec "$d-$c"
		cat /root/$d/probes.$c
	done
	sec "$d-report"
	cat /root/$d/report.json
done
sec end
