# Runs inside the kgen VM (busybox sh, as root, in /root) with the payload
# kind's examples payload_dump_stack.ko, fsim.ko and leakcheck.ko, the
# fixture leaky.ko (testdata/leaky) and, in /root/m, Debian's own brd,
# null_blk and configfs (none on debug-6.1: the sections using them are
# skipped there). Prints raw kernel-side facts in "=== section" blocks;
# payload_test.go asserts on them.
set -u
sec() { echo "=== $1"; }
M=/root/m
D=/sys/kernel/debug/kgen
T=/sys/kernel/tracing
C=/sys/kernel/config
# w FILE TEXT: TEXT (no newline) in one write(2); prints rc and the shell's
# error, which names the errno ("write error: Invalid argument").
w() { echo -n "$2" 2>/tmp/werr >"$1"; echo "rc=$? $(cat /tmp/werr)"; }
# op ARGS: one write to the fixture's trigger (ARGS kmalloc calls in this
# process); prints 0, or 1 when one of them returned NULL.
op() { echo "$1" 2>/dev/null >/proc/leaky_alloc; echo $?; }
# ops N: N writes of one call each; prints their statuses in a row.
ops() { r=; i=0; while [ $i -lt $1 ]; do r="$r$(op 1)"; i=$((i + 1)); done; echo "$r"; }
hooks() { grep -c . $T/enabled_functions; }
loaded() { grep -cE "^($1) " /proc/modules; }
# ld ARGS: kgen load, its output and status on one line each
ld() { kgen load "$@" 2>&1; echo "rc=$?"; }
ul() { kgen unload "$1" 2>&1; echo "rc=$?"; }

# Mounted here, so that kgen load/unload never mount or unmount them
# between steps.
mount -t debugfs nodev /sys/kernel/debug
mount -t tracefs nodev $T
dmesg -c >/dev/null

sec targets
have=no
[ -e $M/brd.ko ] && [ -e $M/null_blk.ko ] && [ -e $M/configfs.ko ] && have=yes
echo "debian-modules=$have"
if [ $have = yes ]; then ld $M/configfs.ko; fi

# 1. The seed's payload (dump_stack on the kmalloc family) on brd: events
#    with stacks, dump_stack in the log, brd works; the target unloads
#    under the payload and leaves no hook.
if [ $have = yes ]; then
	sec seed-load
	ld payload_dump_stack.ko
	echo "target=$(cat /sys/module/payload_dump_stack/parameters/target)"
	echo "hooks-before-target=$(hooks)"
	dmesg -c >/dev/null
	ld $M/brd.ko rd_nr=2 rd_size=1024
	echo "hooks-with-target=$(hooks)"
	sec seed-brd
	[ -e /dev/ram0 ] || mknod /dev/ram0 b 1 0
	dd if=/dev/urandom of=/tmp/x bs=4k count=16 2>/dev/null
	dd if=/tmp/x of=/dev/ram0 bs=4k 2>/dev/null
	dd if=/dev/ram0 bs=4k count=16 2>/dev/null | cmp - /tmp/x && echo brd-works=yes || echo brd-works=no
	# a minor brd has no disk for yet: brd_probe allocates one at run time
	[ -e /dev/ram7 ] || mknod /dev/ram7 b 1 7
	dd if=/dev/ram7 of=/dev/null bs=4k count=1 2>/dev/null
	sec seed-stats
	cat $D/payload_dump_stack/stats
	sec seed-events
	kgen trace payload_dump_stack --json --duration 3s 2>/tmp/seed.err
	sec seed-trace-err
	cat /tmp/seed.err
	sec seed-dmesg
	dmesg -c
	sec seed-target-unload
	ul brd
	echo "hooks=$(hooks)"
	cat $T/enabled_functions
	sec seed-unload
	ul payload_dump_stack
	echo "hooks=$(hooks)"

	# 2. Leak check on a real module, loaded, used and unloaded: no
	#    possible leak.
	sec brd-leaks
	ld leakcheck.ko target=brd
	ld $M/brd.ko rd_nr=2 rd_size=1024
	dd if=/tmp/x of=/dev/ram0 bs=4k 2>/dev/null
	dd if=/dev/ram0 bs=4k count=16 2>/dev/null | cmp - /tmp/x && echo brd-works=yes || echo brd-works=no
	dd if=/dev/ram7 of=/dev/null bs=4k count=1 2>/dev/null
	ul brd
	sec brd-leaks-info
	cat $D/leakcheck/leaks/brd/info
	sec brd-leaks-possible
	cat $D/leakcheck/leaks/brd/possible_leaks
	sec brd-leaks-unallocated
	cat $D/leakcheck/leaks/brd/unallocated_frees
	sec brd-leaks-unload
	ul leakcheck
	echo "hooks=$(hooks)"
fi

# 3. Leak check on the fixture: its exact leaks.
sec leaky-leaks
ld leakcheck.ko target=leaky
ld leaky.ko
echo "ops=$(ops 3)"
cat /proc/leaky_alloc
sec leaky-info-live
cat $D/leakcheck/leaks/leaky/info
sec leaky-possible-live
cat $D/leakcheck/leaks/leaky/possible_leaks
sec leaky-unload
ul leaky
sec leaky-info
cat $D/leakcheck/leaks/leaky/info
sec leaky-possible
cat $D/leakcheck/leaks/leaky/possible_leaks
sec leaky-unallocated
cat $D/leakcheck/leaks/leaky/unallocated_frees
sec leaky-leaks-unload
ul leakcheck
echo "hooks=$(hooks)"

# 4. Fault simulation on a real module: null_blk's init, then an operation
#    (configfs mkdir), fail cleanly, and succeed with the indicator off;
#    bad expressions are refused and change nothing.
if [ $have = yes ]; then
	P=$D/fsim/points/kmalloc
	sec fsim-load
	ld fsim.ko
	echo "target=$(cat /sys/module/fsim/parameters/target)"
	echo "expression=$(cat $P/expression)"
	w $P/expression 1
	echo "expression=$(cat $P/expression)"
	dmesg -c >/dev/null
	sec fsim-init
	ld $M/null_blk.ko nr_devices=1
	echo "null_blk-loaded=$(loaded null_blk)"
	echo "last_fault=$(cat $D/fsim/last_fault)"
	cat $D/fsim/stats
	sec fsim-init-dmesg
	dmesg -c
	sec fsim-off
	w $P/expression 0
	ld $M/null_blk.ko nr_devices=1
	dd if=/dev/nullb0 of=/dev/null bs=4k count=16 2>/dev/null && echo nullb-works=yes || echo nullb-works=no
	sec fsim-op
	mkdir -p $C
	mount -t configfs none $C
	w $P/expression 1
	mkdir $C/nullb/f1 2>&1
	echo "mkdir-on=$?"
	w $P/expression 0
	mkdir $C/nullb/f2 2>&1
	echo "mkdir-off=$?"
	rmdir $C/nullb/f2
	sec fsim-bad
	w $P/expression 'size >'
	w $P/expression 'nosuchvar = 1'
	w $P/expression "$(head -c 300 /dev/zero | tr '\0' 1)"
	echo "expression=$(cat $P/expression)"
	# deep nesting, valued 0: refused or accepted, never a crash
	w $P/expression '((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((0))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))'
	w $P/expression '0*(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+1)))))))))))))))))))))))))))))))))))'
	echo "nullb-ok=$(mkdir $C/nullb/f3 && rmdir $C/nullb/f3 && echo yes)"
	sec fsim-unload
	ul null_blk
	ul fsim
	echo "hooks=$(hooks)"
fi

# 5. KEDR's indicator patterns on the fixture's run-time calls.
P=$D/fsim/points/kmalloc
sec pat-load
ld fsim.ko target=leaky
w $P/expression in_init
ld leaky.ko
echo "leaky-loaded=$(loaded leaky)"
w $P/expression 0
ld leaky.ko
echo "leaky-loaded=$(loaded leaky)"
sec pat-eexist
# attach: before: a payload for a target already loaded is refused
dmesg -c >/dev/null
ld leakcheck.ko target=leaky
echo "leakcheck-loaded=$(loaded leakcheck)"
sec pat-eexist-dmesg
dmesg -c
sec pat-in-init
w $P/expression in_init
echo "ops=$(ops 3)"
sec pat-every3
w $P/expression '(times % 3) = 0'
w $P/times 0
echo "ops=$(ops 9)"
echo "times=$(cat $P/times)"
sec pat-first
w $P/expression 'times = 1'
w $P/times 0
echo "ops=$(ops 9)"
echo "times=$(cat $P/times)"
sec pat-flags
w $P/expression '(flags = GFP_ATOMIC) && (size > 100)'
echo "atomic300=$(op '1 300 atomic') kernel300=$(op '1 300') atomic50=$(op '1 50 atomic')"
sec pat-rnd
w $P/expression 'rnd100 < 20'
echo "before $(cat /proc/leaky_alloc)"
op 200 >/dev/null
echo "after $(cat /proc/leaky_alloc)"
sec pat-pid
w $P/expression 1
cat >/tmp/tree.sh <<'EOS'
read x </tmp/go
echo 1 >/proc/leaky_alloc 2>/dev/null; echo "root=$?"
sh -c 'echo 1 >/proc/leaky_alloc 2>/dev/null; echo "child=$?"; sh -c "echo 1 >/proc/leaky_alloc 2>/dev/null; echo grandchild=\$?"'
(echo 1 >/proc/leaky_alloc 2>/dev/null; echo "subshell=$?")
EOS
rm -f /tmp/go
mkfifo /tmp/go
sh /tmp/tree.sh >/tmp/tree.out &
TP=$!
w $P/pid $TP
w $P/times 0
echo "pid=$(cat $P/pid) tree=$TP"
# this shell is the tree's parent, the sibling a child of this shell: outside
echo "outside=$(op 1)"
sh -c 'echo 1 >/proc/leaky_alloc 2>/dev/null; echo "sibling=$?"'
echo "times-outside=$(cat $P/times)"
echo go >/tmp/go
wait $TP
cat /tmp/tree.out
echo "times-tree=$(cat $P/times)"
echo "after=$(op 1)"
echo "last_fault=$(cat $D/fsim/last_fault)"
w $P/pid 0
echo "pid=$(cat $P/pid)"
sec pat-stats
cat $D/fsim/stats
sec pat-unload
ul leaky
ul fsim
echo "hooks=$(hooks)"

# 6. Unloading the payload while its target allocates and frees in a loop
#    (null_blk configfs devices): no hook left, the target still works.
if [ $have = yes ]; then
	sec loop
	ld leakcheck.ko target=null_blk
	ld $M/null_blk.ko nr_devices=1
	touch /tmp/loop
	# stops at the first failure: then loops= counts the good rounds
	(i=0; while [ -e /tmp/loop ] && mkdir $C/nullb/d$i && rmdir $C/nullb/d$i; do i=$((i + 1)); done; echo "loops=$i") >/tmp/loop.out 2>&1 &
	LP=$!
	sleep 3
	sec loop-stats
	cat $D/leakcheck/stats
	sec loop-unload
	ul leakcheck
	sleep 1
	kill -0 $LP 2>/dev/null && echo "loop-alive=yes" || echo "loop-alive=no"
	rm /tmp/loop
	wait $LP
	cat /tmp/loop.out
	echo "hooks=$(hooks)"
	echo "nullb-after=$(mkdir $C/nullb/z && rmdir $C/nullb/z && echo yes)"
	ul null_blk
	umount $C
	ul configfs
fi

sec left
echo "hooks=$(hooks)"
cat $T/enabled_functions
echo "modules:"
cat /proc/modules
echo "state:"
ls /run/kgen 2>/dev/null
sec dmesg
dmesg
sec end
