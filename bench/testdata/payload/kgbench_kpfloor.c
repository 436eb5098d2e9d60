// SPDX-License-Identifier: GPL-2.0
/*
 * The payload kind's floor in kgen bench: kprobes with an empty
 * pre_handler on the two functions kgbench_pl's loop calls (sym1: the
 * kmalloc function kmalloc(64) reaches on this kernel, sym2: kfree).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/module.h>

static char *sym1 = "kmalloc_trace", *sym2 = "kfree";
module_param(sym1, charp, 0444);
module_param(sym2, charp, 0444);

static int kpf_pre(struct kprobe *p, struct pt_regs *regs)
{
	return 0;
}

static struct kprobe kpf1 = { .pre_handler = kpf_pre };
static struct kprobe kpf2 = { .pre_handler = kpf_pre };

static int __init kpf_init(void)
{
	int err;

	kpf1.symbol_name = sym1;
	kpf2.symbol_name = sym2;
	err = register_kprobe(&kpf1);
	if (err)
		return err;
	err = register_kprobe(&kpf2);
	if (err)
		unregister_kprobe(&kpf1);
	return err;
}

static void __exit kpf_exit(void)
{
	unregister_kprobe(&kpf2);
	unregister_kprobe(&kpf1);
	pr_info("KGBENCH fact pl_kprobe_nmissed %lu\n", kpf1.nmissed + kpf2.nmissed);
}

module_init(kpf_init);
module_exit(kpf_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen bench: empty kprobes on the payload workload's functions");
