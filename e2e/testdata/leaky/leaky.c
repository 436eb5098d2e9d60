// SPDX-License-Identifier: GPL-2.0
/*
 * leaky: the target of the payload kind's VM tests (kgen e2e TestVMPayload).
 * It makes exactly known allocator calls, so that a test can count what a
 * payload saw, failed or reported.
 *
 * At init (leaky_init), in this order:
 *   leaky_alloc_a() three times: kmalloc(100), the first object freed at once
 *   leaky_alloc_b() twice:       kmalloc(200), both kept
 *   one kfree() of memory a kernel helper allocated for us: the path string
 *   kobject_get_path() returns (kzalloc'ed inside lib/kobject.c, so by the
 *   kernel's call, not ours; and not by an allocator of any payload family:
 *   the same on every kernel, whatever the payload hooks)
 * If an allocation fails, init frees what it allocated and fails -ENOMEM.
 * The exit function frees nothing. So a leak check sees 5 allocations,
 * 1 free, 1 unallocated free (kfree), and at unload 4 possible leaks:
 * 2 objects of 100 bytes allocated in leaky_alloc_a and 2 of 200 bytes in
 * leaky_alloc_b.
 *
 * At run time, a write of "N [SIZE [atomic]]" to /proc/leaky_alloc makes N
 * calls kmalloc(SIZE, GFP_KERNEL or GFP_ATOMIC) (default SIZE 64) from
 * leaky_alloc_op, in the writer's context, and frees each object at once.
 * The write fails with -ENOMEM if any call returned NULL. Reading gives the
 * totals "calls C failed F".
 *
 * Test code only: it leaks memory on purpose.
 */
#include <linux/atomic.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#define LEAKY_A_SIZE 100
#define LEAKY_B_SIZE 200

static void *leaky_a[3];
static void *leaky_b[2];
static atomic_t leaky_calls = ATOMIC_INIT(0);
static atomic_t leaky_failed = ATOMIC_INIT(0);
static struct proc_dir_entry *leaky_proc;

/* noinline: each is a frame of its own in the allocation's stack. */
static noinline int leaky_alloc_a(unsigned int i)
{
	leaky_a[i] = kmalloc(LEAKY_A_SIZE, GFP_KERNEL);
	return leaky_a[i] ? 0 : -ENOMEM;
}

static noinline int leaky_alloc_b(unsigned int i)
{
	leaky_b[i] = kmalloc(LEAKY_B_SIZE, GFP_KERNEL);
	return leaky_b[i] ? 0 : -ENOMEM;
}

static noinline int leaky_alloc_op(size_t size, gfp_t flags)
{
	void *p = kmalloc(size, flags);

	atomic_inc(&leaky_calls);
	if (!p) {
		atomic_inc(&leaky_failed);
		return -ENOMEM;
	}
	kfree(p);
	barrier(); /* no tail call: kfree is called from here */
	return 0;
}

static ssize_t leaky_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char buf[32], mode[8] = "";
	unsigned int n, i;
	size_t size = 64;
	gfp_t flags = GFP_KERNEL;
	int err = 0;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	if (sscanf(buf, "%u %zu %7s", &n, &size, mode) < 1 || n > 10000 || !size || size > 65536)
		return -EINVAL;
	if (!strcmp(mode, "atomic"))
		flags = GFP_ATOMIC;
	else if (mode[0])
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (leaky_alloc_op(size, flags))
			err = -ENOMEM;
	}
	return err ? err : count;
}

static int leaky_show(struct seq_file *m, void *v)
{
	seq_printf(m, "calls %d failed %d\n", atomic_read(&leaky_calls), atomic_read(&leaky_failed));
	return 0;
}

static int leaky_open(struct inode *inode, struct file *file)
{
	return single_open(file, leaky_show, NULL);
}

static const struct proc_ops leaky_proc_ops = {
	.proc_open = leaky_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = leaky_write,
};

static int __init leaky_init(void)
{
	unsigned int i;
	char *path;

	for (i = 0; i < ARRAY_SIZE(leaky_a); i++) {
		if (leaky_alloc_a(i))
			goto fail;
	}
	kfree(leaky_a[0]);
	leaky_a[0] = NULL;
	for (i = 0; i < ARRAY_SIZE(leaky_b); i++) {
		if (leaky_alloc_b(i))
			goto fail;
	}
	path = kobject_get_path(&THIS_MODULE->mkobj.kobj, GFP_KERNEL);
	if (!path)
		goto fail;
	pr_info("leaky: %s: 4 objects kept\n", path);
	kfree(path);
	leaky_proc = proc_create("leaky_alloc", 0600, NULL, &leaky_proc_ops);
	if (!leaky_proc)
		goto fail;
	return 0;
fail:
	for (i = 0; i < ARRAY_SIZE(leaky_a); i++)
		kfree(leaky_a[i]);
	for (i = 0; i < ARRAY_SIZE(leaky_b); i++)
		kfree(leaky_b[i]);
	return -ENOMEM;
}

static void __exit leaky_exit(void)
{
	proc_remove(leaky_proc);
	/* leaky_a[1], leaky_a[2], leaky_b[0] and leaky_b[1] leak on purpose */
}

module_init(leaky_init);
module_exit(leaky_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen test: leaks exactly known objects; kmalloc on demand through /proc/leaky_alloc");
