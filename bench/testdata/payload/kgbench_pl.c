// SPDX-License-Identifier: GPL-2.0
/*
 * The payload kind's benchmark workload: its init makes n kmalloc(64) +
 * kfree pairs timed with ktime_get_ns() (under qemu --icount one ns is one
 * instruction) and logs the clock before and after. The payloads of
 * kgen bench target this module, or another one (brd) to measure what
 * they cost everybody else. A kmalloc that returns NULL (a simulated
 * fault) is counted; kfree(NULL) does nothing.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compiler.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/slab.h>

static int n = 200000;
module_param(n, int, 0444);
MODULE_PARM_DESC(n, "timed kmalloc(64)+kfree pairs");
static int warm = 1000;
module_param(warm, int, 0444);
MODULE_PARM_DESC(warm, "untimed pairs first");
static char label[32] = "run";
module_param_string(label, label, sizeof(label), 0444);
MODULE_PARM_DESC(label, "the run's key in the output");

static int pairs(int count)
{
	int i, null = 0;
	void *p;

	for (i = 0; i < count; i++) {
		p = kmalloc(64, GFP_KERNEL);
		OPTIMIZER_HIDE_VAR(p);
		if (!p)
			null++;
		kfree(p);
	}
	return null;
}

static int __init plb_init(void)
{
	u64 t0, t1;
	int null;

	pairs(warm);
	t0 = ktime_get_ns();
	null = pairs(n);
	t1 = ktime_get_ns();
	pr_info("KGBENCH run pl_%s %llu %llu\n", label, t0, t1);
	pr_info("KGBENCH fact pl_%s_pairs %d\n", label, n);
	pr_info("KGBENCH fact pl_%s_null %d\n", label, null);
	return 0;
}

static void __exit plb_exit(void)
{
}

module_init(plb_init);
module_exit(plb_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen bench: kmalloc(64)+kfree pairs for the payload kind");
