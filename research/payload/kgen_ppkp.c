// SPDX-License-Identifier: GPL-2.0
/*
 * kgen_ppkp: the comparison floor for bench.sh: kprobes with an empty
 * pre_handler on the two functions kgen_ppbench's loop calls.
 */
#include <linux/kprobes.h>
#include <linux/module.h>

static char *sym1 = "kmalloc_trace", *sym2 = "kfree";
module_param(sym1, charp, 0444);
module_param(sym2, charp, 0444);

static int ppkp_pre(struct kprobe *p, struct pt_regs *regs)
{
	return 0;
}

static struct kprobe ppkp1 = { .pre_handler = ppkp_pre };
static struct kprobe ppkp2 = { .pre_handler = ppkp_pre };

static int __init ppkp_init(void)
{
	int err;

	ppkp1.symbol_name = sym1;
	ppkp2.symbol_name = sym2;
	err = register_kprobe(&ppkp1);
	if (err)
		return err;
	err = register_kprobe(&ppkp2);
	if (err)
		unregister_kprobe(&ppkp1);
	return err;
}

static void __exit ppkp_exit(void)
{
	unregister_kprobe(&ppkp2);
	unregister_kprobe(&ppkp1);
}

module_init(ppkp_init);
module_exit(ppkp_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen payload prototype: empty kprobes, the cost floor");
