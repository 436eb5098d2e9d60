// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture of kgen probe-test (e2e/probetest_test.go): functions that
 * crash the kernel only when they are kprobed, and 100 that never do.
 *
 * At load it saves the first bytes of each crasher. Writing to debugfs
 * ptfix_call calls the ordinary functions ptfix_fNNN whose NNN % 4 != 3
 * (the others are never called: untriggered), then each crasher, which
 * first compares its live text with the saved bytes: a kprobe changed
 * them (an int3, or the ftrace call of a kprobe on ftrace) -> BUG().
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bug.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/string.h>

#define PTFIX_TEXT 16	/* bytes compared: endbr64 and the 5-byte fentry site fit */

int ptfix_sink;

#define PTFIX_FN(n)						\
	noinline int ptfix_f##n(int x);				\
	noinline int ptfix_f##n(int x)				\
	{							\
		WRITE_ONCE(ptfix_sink, READ_ONCE(ptfix_sink) + x + 1##n); \
		return x;					\
	}
#define PTFIX_TEN(d)							\
	PTFIX_FN(d##0) PTFIX_FN(d##1) PTFIX_FN(d##2) PTFIX_FN(d##3)	\
	PTFIX_FN(d##4) PTFIX_FN(d##5) PTFIX_FN(d##6) PTFIX_FN(d##7)	\
	PTFIX_FN(d##8) PTFIX_FN(d##9)
PTFIX_TEN(00) PTFIX_TEN(01) PTFIX_TEN(02) PTFIX_TEN(03) PTFIX_TEN(04)
PTFIX_TEN(05) PTFIX_TEN(06) PTFIX_TEN(07) PTFIX_TEN(08) PTFIX_TEN(09)

#define PTFIX_REF(n) ptfix_f##n,
#define PTFIX_REFS(d)							\
	PTFIX_REF(d##0) PTFIX_REF(d##1) PTFIX_REF(d##2) PTFIX_REF(d##3)	\
	PTFIX_REF(d##4) PTFIX_REF(d##5) PTFIX_REF(d##6) PTFIX_REF(d##7)	\
	PTFIX_REF(d##8) PTFIX_REF(d##9)
static int (*const ptfix_fns[])(int) = {
	PTFIX_REFS(00) PTFIX_REFS(01) PTFIX_REFS(02) PTFIX_REFS(03) PTFIX_REFS(04)
	PTFIX_REFS(05) PTFIX_REFS(06) PTFIX_REFS(07) PTFIX_REFS(08) PTFIX_REFS(09)
};

noinline int ptfix_crash_a(int x);
noinline int ptfix_crash_a(int x)
{
	WRITE_ONCE(ptfix_sink, READ_ONCE(ptfix_sink) ^ x);
	return x;
}

noinline int ptfix_crash_b(int x);
noinline int ptfix_crash_b(int x)
{
	WRITE_ONCE(ptfix_sink, READ_ONCE(ptfix_sink) + 2 * x);
	return x;
}

static int (*const ptfix_crashers[])(int) = { ptfix_crash_a, ptfix_crash_b };
static u8 ptfix_saved[ARRAY_SIZE(ptfix_crashers)][PTFIX_TEXT];
static struct dentry *ptfix_file;

static ssize_t ptfix_call(struct file *file, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ptfix_fns); i++)
		if (i % 4 != 3)
			ptfix_fns[i]((int)i);
	for (i = 0; i < ARRAY_SIZE(ptfix_crashers); i++) {
		/* Probed: its text is not what it was at load. */
		BUG_ON(memcmp(ptfix_saved[i], (const void *)ptfix_crashers[i], PTFIX_TEXT));
		ptfix_crashers[i]((int)i);
	}
	return (ssize_t)count;
}

static const struct file_operations ptfix_fops = {
	.owner = THIS_MODULE,
	.write = ptfix_call,
};

static int __init ptfix_init(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ptfix_crashers); i++)
		memcpy(ptfix_saved[i], (const void *)ptfix_crashers[i], PTFIX_TEXT);
	ptfix_file = debugfs_create_file("ptfix_call", 0200, NULL, NULL, &ptfix_fops);
	return 0;
}

static void __exit ptfix_exit(void)
{
	debugfs_remove(ptfix_file);
}

module_init(ptfix_init);
module_exit(ptfix_exit);
MODULE_DESCRIPTION("kgen probe-test fixture: functions that crash when kprobed");
MODULE_LICENSE("GPL");
