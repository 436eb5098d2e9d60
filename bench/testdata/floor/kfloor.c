// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of kgen's entry-only probes: a kprobe on vfs_read whose pre
 * handler does nothing, so its cost per hit is the kprobe machinery alone.
 */
#include <linux/kprobes.h>
#include <linux/module.h>

static int kfloor_pre(struct kprobe *kp, struct pt_regs *regs)
{
	return 0;
}

static struct kprobe kfloor_kp = {
	.symbol_name = "vfs_read",
	.pre_handler = kfloor_pre,
};

static int __init kfloor_init(void)
{
	return register_kprobe(&kfloor_kp);
}

static void __exit kfloor_exit(void)
{
	unregister_kprobe(&kfloor_kp);
	pr_info("kgbench_kfloor: nmissed %lu\n", kfloor_kp.nmissed);
}

module_init(kfloor_init);
module_exit(kfloor_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen bench floor: empty kprobe on vfs_read");
