// SPDX-License-Identifier: GPL-2.0
/*
 * kgen_ppbench: n kmalloc(64)+kfree pairs in its init, timed with
 * ktime_get_ns(); under qemu -icount shift=0 one ns is one instruction.
 * Loaded as another module (the payload targets brd) it measures what the
 * payload costs everybody else; as the payload's target, what an
 * intercepted call costs. Its init fails on purpose (-EAGAIN) so that it
 * needs no rmmod between runs.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/slab.h>

static int n = 200000;
module_param(n, int, 0444);
static char *label = "run";
module_param(label, charp, 0444);

static int __init ppb_init(void)
{
	u64 t0, t1;
	void *p;
	int i;

	for (i = 0; i < 1000; i++) {
		p = kmalloc(64, GFP_KERNEL);
		OPTIMIZER_HIDE_VAR(p);
		kfree(p);
	}
	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		p = kmalloc(64, GFP_KERNEL);
		OPTIMIZER_HIDE_VAR(p);
		kfree(p);
	}
	t1 = ktime_get_ns();
	pr_info("BENCH %s: %d kmalloc(64)+kfree pairs: %llu ns, %llu per pair\n",
		label, n, t1 - t0, div_u64(t1 - t0, n));
	return -EAGAIN;
}

module_init(ppb_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen payload prototype: allocation cost benchmark");
