// SPDX-License-Identifier: GPL-2.0
/*
 * badmod: the positive control for the debug kernel's checkers (kgen's
 * e2e TestVMDebugChecks). At load it does the one bad thing its "bug"
 * parameter names, so that a test can prove each checker's report reaches
 * the console and fails the run:
 *
 *   oob    writes one byte past a kmalloc()ed object        (KASAN)
 *   sleep  kmalloc(GFP_KERNEL) holding a spinlock           (DEBUG_ATOMIC_SLEEP)
 *   order  takes two mutexes in one order, then the other   (lockdep)
 *   list   adds a list entry twice                          (DEBUG_LIST)
 *   timer  frees an object holding an armed timer           (DEBUG_OBJECTS)
 *   none   nothing: the control's own control
 *
 * Test code only: it corrupts memory on purpose.
 */
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timer.h>

static char *bug = "none";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "the bad thing to do at load: oob, sleep, order, list, timer or none");

static noinline void badmod_oob(void)
{
	volatile size_t size = 17; /* hidden from the compiler's bounds checks */
	char *p = kmalloc(size, GFP_KERNEL);

	if (!p)
		return;
	p[size] = 'x';
	kfree(p);
}

static DEFINE_SPINLOCK(badmod_spin);

static noinline void badmod_sleep(void)
{
	void *p;

	/*
	 * The handler bug DEBUG_ATOMIC_SLEEP exists for: an allocation that
	 * may sleep, in atomic context. It sleeps only under memory pressure,
	 * so only the checker sees it in a test.
	 */
	spin_lock(&badmod_spin);
	p = kmalloc(64, GFP_KERNEL);
	spin_unlock(&badmod_spin);
	kfree(p);
}

static DEFINE_MUTEX(badmod_a);
static DEFINE_MUTEX(badmod_b);

static noinline void badmod_order(void)
{
	mutex_lock(&badmod_a);
	mutex_lock(&badmod_b);
	mutex_unlock(&badmod_b);
	mutex_unlock(&badmod_a);

	mutex_lock(&badmod_b);
	mutex_lock(&badmod_a);
	mutex_unlock(&badmod_a);
	mutex_unlock(&badmod_b);
}

static noinline void badmod_list(void)
{
	LIST_HEAD(head);
	struct list_head entry;

	list_add(&entry, &head);
	list_add(&entry, &head); /* DEBUG_LIST refuses it */
	list_del(&entry);
}

struct badmod_obj {
	struct timer_list timer;
};

static void badmod_timer_fn(struct timer_list *t)
{
}

static noinline void badmod_timer(void)
{
	struct badmod_obj *o = kzalloc(sizeof(*o), GFP_KERNEL);

	if (!o)
		return;
	timer_setup(&o->timer, badmod_timer_fn, 0);
	mod_timer(&o->timer, jiffies + 3600 * HZ);
	kfree(o); /* ODEBUG's fixup deactivates the timer */
}

static int __init badmod_init(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} bugs[] = {
		{ "oob", badmod_oob },	   { "sleep", badmod_sleep },
		{ "order", badmod_order }, { "list", badmod_list },
		{ "timer", badmod_timer },
	};
	size_t i;

	if (!strcmp(bug, "none"))
		return 0;
	for (i = 0; i < ARRAY_SIZE(bugs); i++) {
		if (!strcmp(bug, bugs[i].name)) {
			pr_info("badmod: doing %s\n", bug);
			bugs[i].fn();
			pr_info("badmod: did %s\n", bug);
			return 0;
		}
	}
	pr_err("badmod: unknown bug '%s'\n", bug);
	return -EINVAL;
}

static void __exit badmod_exit(void)
{
}

module_init(badmod_init);
module_exit(badmod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen test: does one bad thing on purpose for the debug kernel's checkers");
