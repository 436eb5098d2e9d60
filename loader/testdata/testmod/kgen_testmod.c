// SPDX-License-Identifier: GPL-2.0
/*
 * kgen_testmod: a hand-written module following the conventions of the
 * modules kgen generates, for the loader's VM tests. Writing N to
 * /sys/module/kgen_testmod/parameters/fire emits N "tick" events in the
 * trace system kgen_testmod; counters are in debugfs kgen/kgen_testmod/stats.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/atomic.h>

#define CREATE_TRACE_POINTS
#include "kgen_testmod_trace.h"

static atomic64_t kgen_testmod_hits = ATOMIC64_INIT(0);
static atomic64_t kgen_testmod_emitted = ATOMIC64_INIT(0);
static long kgen_testmod_base;
static struct dentry *kgen_testmod_parent;
static struct dentry *kgen_testmod_dir;
static bool kgen_testmod_made_parent;

module_param_named(base, kgen_testmod_base, long, 0444);
MODULE_PARM_DESC(base, "added to each event's val");

static noinline void kgen_testmod_emit(u64 seq)
{
	trace_tick(seq, kgen_testmod_base + (long long)seq, _RET_IP_,
		   (unsigned long)kgen_testmod_emit);
	atomic64_inc(&kgen_testmod_emitted);
}

static int kgen_testmod_fire_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n, i;
	int ret = kstrtouint(val, 0, &n);

	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		u64 seq = atomic64_inc_return(&kgen_testmod_hits);

		kgen_testmod_emit(seq);
	}
	return 0;
}

static const struct kernel_param_ops kgen_testmod_fire_ops = {
	.set = kgen_testmod_fire_set,
	.get = param_get_uint,
};
static unsigned int kgen_testmod_fire;
module_param_cb(fire, &kgen_testmod_fire_ops, &kgen_testmod_fire, 0644);
MODULE_PARM_DESC(fire, "write N to emit N tick events");

static int kgen_testmod_stats_show(struct seq_file *m, void *v)
{
	seq_printf(m, "fire hits %lld\n", (long long)atomic64_read(&kgen_testmod_hits));
	seq_printf(m, "fire filtered 0\n");
	seq_printf(m, "fire nmissed 0\n");
	seq_printf(m, "fire emitted %lld\n", (long long)atomic64_read(&kgen_testmod_emitted));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kgen_testmod_stats);

static int kgen_testmod_hist_show(struct seq_file *m, void *v)
{
	seq_printf(m, "[0, 1) %lld\n", (long long)atomic64_read(&kgen_testmod_hits));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kgen_testmod_hist);

static int __init kgen_testmod_init(void)
{
	kgen_testmod_parent = debugfs_lookup("kgen", NULL);
	if (!kgen_testmod_parent) {
		kgen_testmod_parent = debugfs_create_dir("kgen", NULL);
		kgen_testmod_made_parent = true;
	}
	if (IS_ERR_OR_NULL(kgen_testmod_parent)) {
		pr_err("cannot create debugfs dir kgen\n");
		return -ENOMEM;
	}
	kgen_testmod_dir = debugfs_create_dir(KBUILD_MODNAME, kgen_testmod_parent);
	if (IS_ERR_OR_NULL(kgen_testmod_dir)) {
		pr_err("cannot create debugfs dir kgen/" KBUILD_MODNAME "\n");
		if (kgen_testmod_made_parent)
			debugfs_remove(kgen_testmod_parent);
		else
			dput(kgen_testmod_parent);
		return -ENOMEM;
	}
	debugfs_create_file("stats", 0444, kgen_testmod_dir, NULL, &kgen_testmod_stats_fops);
	debugfs_create_file("hist_fire", 0444, kgen_testmod_dir, NULL, &kgen_testmod_hist_fops);
	return 0;
}

static void __exit kgen_testmod_exit(void)
{
	debugfs_remove_recursive(kgen_testmod_dir);
	if (kgen_testmod_made_parent)
		debugfs_remove(kgen_testmod_parent);
	else
		dput(kgen_testmod_parent);
}

module_init(kgen_testmod_init);
module_exit(kgen_testmod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen loader test module");
