// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of kgen's benchmark: a kretprobe on vfs_read whose return
 * handler does nothing, so its cost per hit is the kretprobe machinery alone.
 */
#include <linux/kprobes.h>
#include <linux/module.h>

static int floor_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return 0;
}

static struct kretprobe floor_krp = {
	.kp.symbol_name = "vfs_read",
	.handler = floor_ret,
};

static int __init floor_init(void)
{
	return register_kretprobe(&floor_krp);
}

static void __exit floor_exit(void)
{
	unregister_kretprobe(&floor_krp);
	pr_info("kgbench_floor: nmissed %d\n", floor_krp.nmissed);
}

module_init(floor_init);
module_exit(floor_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen bench floor: empty kretprobe on vfs_read");
