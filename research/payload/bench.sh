#!/bin/sh
# bench.sh: run in `kgen vm --icount` (run-vm.sh NAME KGEN bench): cost of
# the prototype per kmalloc+kfree pair, for other callers and for the target.
M=/root/m
# busybox insmod retries a failed finit_module with init_module: each
# label runs twice. Labels are single words (busybox splits the params).
b() { insmod $M/kgen_ppbench.ko label="$1" 2>/dev/null; dmesg -c | grep BENCH; }
case $(uname -r) in
5.10.*) s1=kmem_cache_alloc_trace ;;
6.1.*) s1=kmalloc_trace ;;
*) s1=__kmalloc_cache_noprof ;;
esac
dmesg -n 1
sleep 5	# 6.12 runs crypto self-tests after boot
dmesg -c >/dev/null
b warmup
b baseline
insmod $M/kgen_pp.ko target=brd dump=0
insmod $M/brd.ko rd_nr=1
b others_payload_attached_to_brd
rmmod brd
b others_payload_waiting_no_ops
rmmod kgen_pp
insmod $M/kgen_pp.ko target=kgen_ppbench dump=0
b target_count_and_leak_table
rmmod kgen_pp
b baseline2
insmod $M/kgen_ppkp.ko sym1=$s1 sym2=kfree && b kprobe_floor_empty_pre_handler
rmmod kgen_ppkp
dmesg -c | grep -E 'BUG|WARNING|Oops'
true
