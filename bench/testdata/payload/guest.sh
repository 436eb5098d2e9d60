# kgen bench, the payload kind's part: run with sh by the guest script of
# bench/main.go in the same `kgen vm --icount` boot, after the vfs_read
# rows, with the modules in /root/pl. It computes nothing: it prints
# "KGBENCH run|fact" lines that bench validates (bench/payload.go). A
# failing step skips its section (whose rows then say invalid) and is
# counted in pl_status.
P=/root/pl
D=/sys/kernel/debug/kgen
# the function kmalloc(64) reaches on this kernel
case $(uname -r) in
5.10.*) s1=kmem_cache_alloc_trace ;;
6.1.*) s1=kmalloc_trace ;;
*) s1=__kmalloc_cache_noprof ;;
esac
echo "KGBENCH fact pl_alloc_fn $s1"
dmesg -c >/dev/null
fail=0

# try CMD...: CMD, or a failure counted and named.
try() {
	"$@" >&2 && return 0
	fail=$((fail + 1))
	echo "KGBENCH fact pl_failed $*"
	return 1
}

# run KEY [PARAM=VALUE...]: one load of the workload module (its init is
# the timed loop), its unload, and its lines from the kernel log.
run() {
	k=$1
	shift
	try kgen load $P/kgbench_pl.ko label=$k "$@" && try kgen unload kgbench_pl
	dmesg -c | sed -n 's/.*kgbench_pl: \(KGBENCH .*\)/\1/p'
}

# stats KEY PAYLOAD: the payload's counters of the workload's functions
# (passed: other callers' calls of all its functions together), and how
# many of the two it hooks.
stats() {
	awk -v k=$1 -v a=$s1 -v m=$2 '
	($1 == a || $1 == "kfree") && $2 == "calls" {
		print "KGBENCH fact pl_" k "_" ($1 == a ? "alloc" : "free") "_calls " $3
	}
	# calls of other callers let through: one counter for every function
	$1 == m && $2 == "passed" {
		print "KGBENCH fact pl_" k "_alloc_passed " $3
		print "KGBENCH fact pl_" k "_free_passed " $3
	}
	($1 == a || $1 == "kfree") && $2 == "hooked" { h += $3 }
	$2 == "fired" || $2 == "faults" { print "KGBENCH fact pl_" k "_" $2 " " $3 }
	END { print "KGBENCH fact pl_" k "_hooked " h + 0 }' $D/$2/stats
}

# events KEY PAYLOAD: events its instance recorded (one CPU under --icount)
events() {
	t=$(awk '$3 == "tracefs" { print $2; exit }' /proc/mounts)
	awk -v k=$1 '$1 == "entries:" || $1 == "overrun:" { n += $2 }
	END { print "KGBENCH fact pl_" k "_events " n + 0 }' $t/instances/kgen_$2/per_cpu/cpu0/stats
}

run warmup
run base1

# everybody else's calls: payloads attached to brd
if try kgen load $P/kgbench_pltrace.ko target=brd; then
	if try kgen load $P/brd.ko rd_nr=1; then
		run others
		stats others kgbench_pltrace
		try kgen unload brd
	fi
	run waiting
	try kgen unload kgbench_pltrace
fi
if try kgen load $P/kgbench_plone.ko target=brd; then
	if try kgen load $P/brd.ko rd_nr=1; then
		run others_one
		stats others_one kgbench_plone
		try kgen unload brd
	fi
	try kgen unload kgbench_plone
fi
if try kgen load $P/kgbench_plleak.ko target=brd; then
	if try kgen load $P/brd.ko rd_nr=1; then
		run others_leak
		stats others_leak kgbench_plleak
		try kgen unload brd
	fi
	try kgen unload kgbench_plleak
fi

# the floor: empty kprobes on both functions
if try kgen load $P/kgbench_kpfloor.ko sym1=$s1 sym2=kfree; then
	run kprobe
	try kgen unload kgbench_kpfloor
	dmesg -c | sed -n 's/.*kgbench_kpfloor: \(KGBENCH .*\)/\1/p'
fi

# the target's own calls, per action
if try kgen load $P/kgbench_pltrace.ko; then
	run trace
	stats trace kgbench_pltrace
	events trace kgbench_pltrace
	try kgen unload kgbench_pltrace
fi
if try kgen load $P/kgbench_pldump.ko; then
	run dump_off
	stats dump_off kgbench_pldump
	try kgen unload kgbench_pldump
fi
if try kgen load $P/kgbench_pldump.ko; then
	echo 1 >$D/kgbench_pldump/points/kmalloc/expression
	lvl=$(awk '{ print $1 }' /proc/sys/kernel/printk)
	dmesg -n 1 # the stacks go to the log, not to the serial console
	run dump_on n=100 warm=0
	dmesg -n $lvl
	stats dump_on kgbench_pldump
	try kgen unload kgbench_pldump
fi
if try kgen load $P/kgbench_plfault.ko; then
	run fault
	stats fault kgbench_plfault
	try kgen unload kgbench_plfault
fi
if try kgen load $P/kgbench_plleak.ko; then
	run leak
	stats leak kgbench_plleak
	awk '$1 == "possible" { print "KGBENCH fact pl_leak_possible " $3 }' $D/kgbench_plleak/leaks/kgbench_pl/info
	try kgen unload kgbench_plleak
fi

run base2
echo "KGBENCH fact pl_status $fail"
