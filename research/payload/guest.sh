#!/bin/sh
# guest.sh: the prototype's checks, run inside `kgen vm` (see run-vm.sh).
# /root/m holds kgen_pp.ko, kgen_pp2.ko and the Debian modules (uncompressed).
# Prints "CHECK <name> ok|FAIL ..." lines; exits non-zero if one failed.
M=/root/m
P=/sys/module/kgen_pp/parameters
fails=0
ok() { echo "CHECK $1 ok"; }
bad() { echo "CHECK $1 FAIL $2"; fails=$((fails + 1)); }
log() { echo "--- dmesg: $1"; dmesg -c | sed 's/^\[[ 0-9.]*\] //'; }
stat() { cat $P/stats 2>/dev/null | tr '\n' ' '; echo; }
val() { grep "^$1 " $P/stats | cut -d' ' -f2; }
dmesg -c >/dev/null
dmesg -n 1
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || mount -t debugfs nodev /sys/kernel/debug
TR=/sys/kernel/tracing
[ -e $TR/enabled_functions ] || TR=/sys/kernel/debug/tracing
uname -r

echo "=== (a) count + dump_stack, brd as target"
insmod $M/kgen_pp.ko target=brd dump=1 || bad a-load-payload "insmod kgen_pp"
insmod $M/brd.ko rd_nr=2 rd_size=1024 || bad a-load-brd "insmod brd"
stat
log "payload + brd init"
init=$(val times)
[ "$init" -ge 2 ] && ok a-init-calls || bad a-init-calls "times=$init"
grep -q kgen_pp $TR/enabled_functions 2>/dev/null; cat $TR/enabled_functions
# operation 1: the ramdisk works
[ -e /dev/ram0 ] || mknod /dev/ram0 b 1 0
dd if=/dev/urandom of=/tmp/x bs=4k count=16 2>/dev/null
dd if=/tmp/x of=/dev/ram0 bs=4k 2>/dev/null
dd if=/dev/ram0 bs=4k count=16 2>/dev/null | cmp - /tmp/x && ok a-brd-works || bad a-brd-works "data differs"
# operation 2: opening a minor brd does not have yet creates a ramdisk (brd_probe -> brd_alloc -> kzalloc)
[ -e /dev/ram7 ] || mknod /dev/ram7 b 1 7
dd if=/dev/ram7 of=/dev/null bs=4k count=1 2>/dev/null
stat
op=$(val times)
[ "$op" -gt "$init" ] && ok a-op-calls || bad a-op-calls "times $init -> $op"
log "operation (brd_probe)"

echo "=== (d2) unload the target while the payload stays"
rmmod brd || bad d2-rmmod-brd "rmmod brd"
stat
log "rmmod brd"
grep -q 'target brd detached' $P/stats && ok d2-detached || bad d2-detached "$(head -1 $P/stats)"
n=$(grep -c . $TR/enabled_functions)
[ "$n" = 0 ] && ok d2-no-hook || bad d2-no-hook "$(cat $TR/enabled_functions)"

echo "=== (b0) fault simulation on brd: its first allocation fails"
echo 1 >$P/fault
echo 0 >$P/dump
# brd_init stops at a failed brd_alloc on 5.10; 6.1 and 6.12 ignore it (one
# ramdisk fewer): record which, the check that init fails is on null_blk below
if insmod $M/brd.ko rd_nr=2 rd_size=1024; then
	echo "INFO brd init survives a failed first allocation: $(ls /sys/block | grep ram | tr '\n' ' ')"
	rmmod brd
else
	echo "INFO brd init fails on a failed first allocation"
fi
stat
log "brd with fault=1"
echo 0 >$P/fault
insmod $M/brd.ko rd_nr=2 rd_size=1024 && ok b0-loads-after || bad b0-loads-after "insmod brd"
dd if=/tmp/x of=/dev/ram0 bs=4k 2>/dev/null
dd if=/dev/ram0 bs=4k count=16 2>/dev/null | cmp - /tmp/x && ok b0-brd-works || bad b0-brd-works "data differs"
stat
log "brd with fault=0"

echo "=== (c) pass-through: another module's allocations are not intercepted"
before=$(val times)
pt0=$(val passed_through)
insmod $M/configfs.ko 2>/dev/null
insmod $M/null_blk.ko nr_devices=1 || bad c-null_blk "insmod null_blk"
dd if=/dev/nullb0 of=/dev/null bs=4k count=16 2>/dev/null && ok c-null_blk-works || bad c-null_blk-works "dd"
after=$(val times)
pt1=$(val passed_through)
[ "$before" = "$after" ] && ok c-not-counted || bad c-not-counted "times $before -> $after"
[ "$pt1" -gt "$pt0" ] && ok c-passed-through || bad c-passed-through "passed_through $pt0 -> $pt1"
stat
rmmod null_blk
log "null_blk while the payload targets brd"

echo "=== conflict: a second IPMODIFY user on the same functions"
if insmod $M/kgen_pp2.ko target=brd; then bad x-eexist "kgen_pp2 loaded while brd is loaded"; else ok x-eexist; fi
rmmod brd
insmod $M/kgen_pp2.ko target=brd dump=0 || bad x-load-pp2 "insmod kgen_pp2"
if insmod $M/brd.ko rd_nr=2; then bad x-ebusy "brd loaded with two IPMODIFY payloads"; else ok x-ebusy; fi
lsmod | grep -q '^brd ' && bad x-ebusy-clean "brd loaded"
rmmod kgen_pp2
n=$(grep -c . $TR/enabled_functions)
[ "$n" = 0 ] && ok x-no-hook || bad x-no-hook "$(cat $TR/enabled_functions)"
log "conflict"

echo "=== (b) fault simulation: null_blk's init fails when its first allocation fails"
rmmod kgen_pp || bad b-rmmod "rmmod kgen_pp (1)"
insmod $M/kgen_pp.ko target=null_blk dump=0 fault=1 trace=1 || bad b-load "insmod kgen_pp target=null_blk"
if insmod $M/null_blk.ko nr_devices=1; then bad b-init-fails "insmod null_blk succeeded"; else ok b-init-fails; fi
lsmod | grep -q '^null_blk ' && bad b-not-loaded "null_blk is loaded" || ok b-not-loaded
stat
log "null_blk with fault=1"
echo 0 >$P/fault
echo 0 >$P/trace
insmod $M/null_blk.ko nr_devices=1 && ok b-loads-after || bad b-loads-after "insmod null_blk"
dd if=/dev/nullb0 of=/dev/null bs=4k count=16 2>/dev/null && ok b-null_blk-works || bad b-null_blk-works "dd"
rmmod null_blk
rmmod kgen_pp
log "null_blk with fault=0"

echo "=== (d1) unload the payload while its target (null_blk) allocates"
insmod $M/kgen_pp.ko target=null_blk dump=1 || bad d1-load "insmod kgen_pp target=null_blk"
insmod $M/null_blk.ko nr_devices=1 || bad d1-null_blk "insmod null_blk"
mkdir -p /sys/kernel/config
mount -t configfs none /sys/kernel/config || bad d1-configfs "mount configfs"
C=/sys/kernel/config/nullb
touch /tmp/loop
(i=0; while [ -e /tmp/loop ]; do mkdir $C/d$i && rmdir $C/d$i; i=$((i + 1)); done) &
sleep 3
stat
t1=$(val times)
rmmod kgen_pp && ok d1-rmmod || bad d1-rmmod "rmmod kgen_pp (2)"
sleep 2
rm /tmp/loop
wait
[ "$t1" -gt 4 ] && ok d1-loop-intercepted || bad d1-loop-intercepted "times=$t1"
mkdir $C/z && rmdir $C/z && ok d1-target-works || bad d1-target-works "configfs mkdir"
n=$(grep -c . $TR/enabled_functions)
[ "$n" = 0 ] && ok d1-no-hook || bad d1-no-hook "$(cat $TR/enabled_functions)"
umount /sys/kernel/config
rmmod null_blk
log "null_blk loop, payload unloaded under it"

echo "=== leak check on null_blk: use it and unload it"
insmod $M/kgen_pp.ko target=null_blk dump=0
insmod $M/null_blk.ko nr_devices=2
mount -t configfs none /sys/kernel/config
for i in 1 2 3; do mkdir $C/e$i; done
for i in 1 2 3; do rmdir $C/e$i; done
umount /sys/kernel/config
rmmod null_blk
log "null_blk leak check"
rmmod kgen_pp
rmmod brd 2>/dev/null
rmmod configfs 2>/dev/null
log "the end"

echo "=== end"
lsmod
dmesg | grep -E 'BUG|WARNING|Oops|Call Trace' && bad dmesg-clean "see above" || ok dmesg-clean
echo "RESULT fails=$fails"
[ $fails = 0 ]
