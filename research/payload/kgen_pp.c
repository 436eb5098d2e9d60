// SPDX-License-Identifier: GPL-2.0
/*
 * kgen_pp: hand-written prototype of the payload kind's interception (not
 * generated; see docs/payload-design.md).
 *
 * A module notifier catches the target module (param target=) at
 * MODULE_STATE_COMING, before its init runs, and registers one ftrace_ops
 * (IPMODIFY) per kmalloc-family function this kernel has, filtered on that
 * function only. The callback returns at once unless the caller (parent_ip)
 * is inside the target's text; then it redirects the call to a wrapper with
 * the function's signature, which runs the payload in the caller's own
 * context: count, dump_stack, fault (return NULL without calling the real
 * function) or call the real function and record the allocation. The
 * wrapper's own call re-enters the callback with parent_ip inside this
 * module, outside the target, so it passes through.
 *
 * Parameters (0644 ones can change at run time in /sys/module/<name>/parameters):
 *   target=NAME  the target module (default brd)
 *   fault=N      fail the target's N-th kmalloc-family call (1-based, counted
 *                from the target's load); 0 = off
 *   dump=N       dump_stack() for the next N intercepted calls
 *   trace=1      one log line per intercepted call
 *   stats        (read) counters
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/ftrace.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/hash.h>

#include "features.h"

static char target[MODULE_NAME_LEN] = "brd";
module_param_string(target, target, sizeof(target), 0444);
MODULE_PARM_DESC(target, "the module whose calls are intercepted");
static int fault;
module_param(fault, int, 0644);
MODULE_PARM_DESC(fault, "fail the target's N-th kmalloc-family call (1-based); 0: off");
static int dump = 1;
module_param(dump, int, 0644);
MODULE_PARM_DESC(dump, "dump_stack() for the next N intercepted calls");
static bool trace;
module_param(trace, bool, 0644);
MODULE_PARM_DESC(trace, "log every intercepted call");

/* ---- the target ----------------------------------------------------- */

/* Text ranges of the target, read locklessly by the ftrace callback. */
struct pp_range {
	unsigned long start;
	unsigned long size;
};

static struct pp_range pp_text, pp_init;
static DEFINE_MUTEX(pp_lock);		/* the fields below */
static struct module *pp_mod;		/* the attached target, or NULL */
static bool pp_in_init;			/* its init is running */

static __always_inline bool pp_in_target(unsigned long a)
{
	return a - READ_ONCE(pp_text.start) < READ_ONCE(pp_text.size) ||
	       a - READ_ONCE(pp_init.start) < READ_ONCE(pp_init.size);
}

static void pp_set_ranges(struct module *mod)
{
#ifdef KGEN_HAVE_MODULE_MEMORY
	pp_text.start = (unsigned long)mod->mem[MOD_TEXT].base;
	pp_init.start = (unsigned long)mod->mem[MOD_INIT_TEXT].base;
	WRITE_ONCE(pp_text.size, mod->mem[MOD_TEXT].size);
	WRITE_ONCE(pp_init.size, mod->mem[MOD_INIT_TEXT].size);
#else
	pp_text.start = (unsigned long)mod->core_layout.base;
	pp_init.start = (unsigned long)mod->init_layout.base;
	WRITE_ONCE(pp_text.size, mod->core_layout.text_size);
	WRITE_ONCE(pp_init.size, mod->init_layout.text_size);
#endif
}

static void pp_clear_ranges(void)
{
	WRITE_ONCE(pp_text.size, 0);
	WRITE_ONCE(pp_init.size, 0);
}

/* ---- counters, leak table ------------------------------------------- */

static atomic_t pp_inflight = ATOMIC_INIT(0);	/* wrappers running */
static atomic_t pp_times = ATOMIC_INIT(0);	/* alloc calls, this target load */
static atomic_t pp_faults = ATOMIC_INIT(0);
static DEFINE_PER_CPU(unsigned long, pp_others); /* calls passed through */

#define PP_LEAK_BITS 10
#define PP_LEAK_SLOTS (1 << PP_LEAK_BITS)
#define PP_LEAK_PROBES 16
#define PP_TOMBSTONE ((unsigned long)1)

struct pp_alloc {
	unsigned long ptr;	/* 0: empty, PP_TOMBSTONE: deleted */
	size_t size;
	unsigned long caller;
};

static DEFINE_SPINLOCK(pp_leak_lock);
static struct pp_alloc pp_leaks[PP_LEAK_SLOTS];
static unsigned long pp_allocs, pp_frees, pp_live, pp_unalloc_frees, pp_dropped;

static void pp_leak_add(const void *p, size_t size, unsigned long caller)
{
	unsigned long h = hash_ptr(p, PP_LEAK_BITS), flags;
	int i;

	spin_lock_irqsave(&pp_leak_lock, flags);
	pp_allocs++;
	for (i = 0; i < PP_LEAK_PROBES; i++) {
		struct pp_alloc *a = &pp_leaks[(h + i) & (PP_LEAK_SLOTS - 1)];

		if (a->ptr == 0 || a->ptr == PP_TOMBSTONE) {
			a->ptr = (unsigned long)p;
			a->size = size;
			a->caller = caller;
			pp_live++;
			goto out;
		}
	}
	pp_dropped++;	/* bounded: counted, never an oops */
out:
	spin_unlock_irqrestore(&pp_leak_lock, flags);
}

static void pp_leak_del(const void *p)
{
	unsigned long h = hash_ptr(p, PP_LEAK_BITS), flags;
	int i;

	if (ZERO_OR_NULL_PTR(p))
		return;
	spin_lock_irqsave(&pp_leak_lock, flags);
	pp_frees++;
	for (i = 0; i < PP_LEAK_PROBES; i++) {
		struct pp_alloc *a = &pp_leaks[(h + i) & (PP_LEAK_SLOTS - 1)];

		if (a->ptr == 0)
			break;
		if (a->ptr == (unsigned long)p) {
			a->ptr = PP_TOMBSTONE;
			pp_live--;
			goto out;
		}
	}
	pp_unalloc_frees++;
out:
	spin_unlock_irqrestore(&pp_leak_lock, flags);
}

static void pp_leak_report_and_clear(const char *who)
{
	unsigned long flags;
	int i, shown = 0;

	spin_lock_irqsave(&pp_leak_lock, flags);
	pr_info("%s: leak check: allocations: %lu, frees: %lu, possible leaks: %lu, unallocated frees: %lu, not tracked (table full): %lu\n",
		who, pp_allocs, pp_frees, pp_live, pp_unalloc_frees, pp_dropped);
	for (i = 0; i < PP_LEAK_SLOTS; i++) {
		struct pp_alloc *a = &pp_leaks[i];

		if (a->ptr > PP_TOMBSTONE && shown++ < 8)
			pr_info("%s: possible leak: %zu bytes from %pS\n", who,
				a->size, (void *)a->caller);
		a->ptr = 0;
	}
	pp_allocs = pp_frees = pp_live = pp_unalloc_frees = pp_dropped = 0;
	spin_unlock_irqrestore(&pp_leak_lock, flags);
}

/* ---- the wrappers ---------------------------------------------------- */

enum {
#ifdef KGEN_HAVE___KMALLOC
	PP___kmalloc,
#endif
#ifdef KGEN_HAVE_KMEM_CACHE_ALLOC_TRACE
	PP_kmem_cache_alloc_trace,
#endif
#ifdef KGEN_HAVE_KMEM_CACHE_ALLOC_NODE_TRACE
	PP_kmem_cache_alloc_node_trace,
#endif
#ifdef KGEN_HAVE_KMALLOC_ORDER_TRACE
	PP_kmalloc_order_trace,
#endif
#ifdef KGEN_HAVE_KMALLOC_TRACE
	PP_kmalloc_trace,
#endif
#ifdef KGEN_HAVE_KMALLOC_NODE_TRACE
	PP_kmalloc_node_trace,
#endif
#ifdef KGEN_HAVE_KMALLOC_LARGE
	PP_kmalloc_large,
#endif
#ifdef KGEN_HAVE___KMALLOC_NOPROF
	PP___kmalloc_noprof,
#endif
#ifdef KGEN_HAVE___KMALLOC_CACHE_NOPROF
	PP___kmalloc_cache_noprof,
#endif
#ifdef KGEN_HAVE___KMALLOC_CACHE_NODE_NOPROF
	PP___kmalloc_cache_node_noprof,
#endif
#ifdef KGEN_HAVE___KMALLOC_LARGE_NOPROF
	PP___kmalloc_large_noprof,
#endif
	PP_kfree,
	PP_NFUNCS
};

struct pp_func {
	const char *name;
	void *wrapper;
	struct ftrace_ops ops;
	bool registered;
	atomic_t calls;
};

static struct pp_func pp_funcs[PP_NFUNCS];

/* Runs first in every wrapper: false means "fault: do not call the real function". */
static notrace bool pp_enter(int fn, size_t size, gfp_t flags, unsigned long caller)
{
	int times, d, f;

	atomic_inc(&pp_inflight);
	atomic_inc(&pp_funcs[fn].calls);
	if (fn == PP_kfree)
		return true;
	times = atomic_inc_return(&pp_times);
	if (READ_ONCE(trace))
		pr_info("%s(%zu, %#x) #%d from %pS%s\n", pp_funcs[fn].name, size,
			(unsigned int)flags, times, (void *)caller,
			READ_ONCE(pp_in_init) ? " [init]" : "");
	d = READ_ONCE(dump);
	while (d > 0) {
		int old = cmpxchg(&dump, d, d - 1);

		if (old == d) {
			pr_info("dump_stack for %s(%zu) #%d from %pS\n",
				pp_funcs[fn].name, size, times, (void *)caller);
			dump_stack();
			break;
		}
		d = old;
	}
	f = READ_ONCE(fault);
	if (f > 0 && times == f) {
		atomic_inc(&pp_faults);
		pr_info("fault: %s(%zu) #%d from %pS returns NULL\n",
			pp_funcs[fn].name, size, times, (void *)caller);
		return false;
	}
	return true;
}

/* Runs last: the wrapper's call to the real function is then never a tail call. */
static notrace void *pp_leave(void *p, size_t size, unsigned long caller)
{
	if (p)
		pp_leak_add(p, size, caller);
	atomic_dec(&pp_inflight);
	return p;
}

#define PP_WRAP_SIZE_FLAGS(fn)							\
static notrace void *pp_w_##fn(size_t size, gfp_t flags)			\
{										\
	void *p = NULL;								\
										\
	if (pp_enter(PP_##fn, size, flags, _RET_IP_))				\
		p = fn(size, flags);						\
	return pp_leave(p, size, _RET_IP_);					\
}
#define PP_WRAP_CACHE_FLAGS_SIZE(fn)						\
static notrace void *pp_w_##fn(struct kmem_cache *s, gfp_t flags, size_t size)	\
{										\
	void *p = NULL;								\
										\
	if (pp_enter(PP_##fn, size, flags, _RET_IP_))				\
		p = fn(s, flags, size);						\
	return pp_leave(p, size, _RET_IP_);					\
}
#define PP_WRAP_CACHE_FLAGS_NODE_SIZE(fn)					\
static notrace void *pp_w_##fn(struct kmem_cache *s, gfp_t flags, int node,	\
			       size_t size)					\
{										\
	void *p = NULL;								\
										\
	if (pp_enter(PP_##fn, size, flags, _RET_IP_))				\
		p = fn(s, flags, node, size);					\
	return pp_leave(p, size, _RET_IP_);					\
}

#ifdef KGEN_HAVE___KMALLOC
PP_WRAP_SIZE_FLAGS(__kmalloc)
#endif
#ifdef KGEN_HAVE_KMEM_CACHE_ALLOC_TRACE
PP_WRAP_CACHE_FLAGS_SIZE(kmem_cache_alloc_trace)
#endif
#ifdef KGEN_HAVE_KMEM_CACHE_ALLOC_NODE_TRACE
PP_WRAP_CACHE_FLAGS_NODE_SIZE(kmem_cache_alloc_node_trace)
#endif
#ifdef KGEN_HAVE_KMALLOC_ORDER_TRACE
static notrace void *pp_w_kmalloc_order_trace(size_t size, gfp_t flags, unsigned int order)
{
	void *p = NULL;

	if (pp_enter(PP_kmalloc_order_trace, size, flags, _RET_IP_))
		p = kmalloc_order_trace(size, flags, order);
	return pp_leave(p, size, _RET_IP_);
}
#endif
#ifdef KGEN_HAVE_KMALLOC_TRACE
PP_WRAP_CACHE_FLAGS_SIZE(kmalloc_trace)
#endif
#ifdef KGEN_HAVE_KMALLOC_NODE_TRACE
PP_WRAP_CACHE_FLAGS_NODE_SIZE(kmalloc_node_trace)
#endif
#ifdef KGEN_HAVE_KMALLOC_LARGE
PP_WRAP_SIZE_FLAGS(kmalloc_large)
#endif
#ifdef KGEN_HAVE___KMALLOC_NOPROF
PP_WRAP_SIZE_FLAGS(__kmalloc_noprof)
#endif
#ifdef KGEN_HAVE___KMALLOC_CACHE_NOPROF
PP_WRAP_CACHE_FLAGS_SIZE(__kmalloc_cache_noprof)
#endif
#ifdef KGEN_HAVE___KMALLOC_CACHE_NODE_NOPROF
PP_WRAP_CACHE_FLAGS_NODE_SIZE(__kmalloc_cache_node_noprof)
#endif
#ifdef KGEN_HAVE___KMALLOC_LARGE_NOPROF
PP_WRAP_SIZE_FLAGS(__kmalloc_large_noprof)
#endif

static notrace void pp_w_kfree(const void *objp)
{
	pp_enter(PP_kfree, 0, 0, _RET_IP_);
	pp_leak_del(objp);	/* before: once freed, the address can be reallocated */
	kfree(objp);
	atomic_dec(&pp_inflight);
}

#define PP_FUNC(fn) [PP_##fn] = { .name = #fn, .wrapper = pp_w_##fn }

static struct pp_func pp_funcs[PP_NFUNCS] = {
#ifdef KGEN_HAVE___KMALLOC
	PP_FUNC(__kmalloc),
#endif
#ifdef KGEN_HAVE_KMEM_CACHE_ALLOC_TRACE
	PP_FUNC(kmem_cache_alloc_trace),
#endif
#ifdef KGEN_HAVE_KMEM_CACHE_ALLOC_NODE_TRACE
	PP_FUNC(kmem_cache_alloc_node_trace),
#endif
#ifdef KGEN_HAVE_KMALLOC_ORDER_TRACE
	PP_FUNC(kmalloc_order_trace),
#endif
#ifdef KGEN_HAVE_KMALLOC_TRACE
	PP_FUNC(kmalloc_trace),
#endif
#ifdef KGEN_HAVE_KMALLOC_NODE_TRACE
	PP_FUNC(kmalloc_node_trace),
#endif
#ifdef KGEN_HAVE_KMALLOC_LARGE
	PP_FUNC(kmalloc_large),
#endif
#ifdef KGEN_HAVE___KMALLOC_NOPROF
	PP_FUNC(__kmalloc_noprof),
#endif
#ifdef KGEN_HAVE___KMALLOC_CACHE_NOPROF
	PP_FUNC(__kmalloc_cache_noprof),
#endif
#ifdef KGEN_HAVE___KMALLOC_CACHE_NODE_NOPROF
	PP_FUNC(__kmalloc_cache_node_noprof),
#endif
#ifdef KGEN_HAVE___KMALLOC_LARGE_NOPROF
	PP_FUNC(__kmalloc_large_noprof),
#endif
	PP_FUNC(kfree),
};

/* ---- the ftrace side ------------------------------------------------- */

#if defined(KGEN_HAVE_FTRACE_REGS_SET_INSTRUCTION_POINTER) || \
	defined(KGEN_HAVE_FTRACE_INSTRUCTION_POINTER_SET)
#define PP_FL_REGS 0
#else
#define PP_FL_REGS FTRACE_OPS_FL_SAVE_REGS	/* 5.10: regs is NULL without it */
#endif
#ifdef KGEN_HAVE_FTRACE_OPS_FL_RECURSION_SAFE
#define PP_FL_RECURSION FTRACE_OPS_FL_RECURSION_SAFE	/* the callback calls nothing */
#else
#define PP_FL_RECURSION 0	/* 5.11+: no FL_RECURSION, the callback calls nothing */
#endif

#ifdef KGEN_HAVE_FTRACE_REGS
static notrace void pp_cb(unsigned long ip, unsigned long parent_ip,
			  struct ftrace_ops *op, struct ftrace_regs *fregs)
#else
static notrace void pp_cb(unsigned long ip, unsigned long parent_ip,
			  struct ftrace_ops *op, struct pt_regs *regs)
#endif
{
	if (likely(!pp_in_target(parent_ip))) {
#ifndef PP_NO_PASS_COUNT	/* KCFLAGS=-DPP_NO_PASS_COUNT: measure without it */
		this_cpu_inc(pp_others);
#endif
		return;
	}
#if defined(KGEN_HAVE_FTRACE_REGS_SET_INSTRUCTION_POINTER)
	ftrace_regs_set_instruction_pointer(fregs, (unsigned long)op->private);
#elif defined(KGEN_HAVE_FTRACE_INSTRUCTION_POINTER_SET)
	ftrace_instruction_pointer_set(fregs, (unsigned long)op->private);
#elif defined(KGEN_HAVE_FTRACE_REGS)
	instruction_pointer_set(ftrace_get_regs(fregs), (unsigned long)op->private);
#else
	instruction_pointer_set(regs, (unsigned long)op->private);
#endif
}

static void pp_free_filter(struct ftrace_ops *ops)
{
#ifdef KGEN_HAVE_FTRACE_FREE_FILTER
	ftrace_free_filter(ops);
#else
	ftrace_set_filter(ops, NULL, 0, 1);	/* reset: frees the hash */
#endif
}

static void pp_unregister(void)
{
	int i;

	for (i = PP_NFUNCS - 1; i >= 0; i--) {
		struct pp_func *f = &pp_funcs[i];

		if (!f->registered)
			continue;
		unregister_ftrace_function(&f->ops);
		pp_free_filter(&f->ops);
		f->registered = false;
	}
	/*
	 * No CPU is in pp_cb any more (ftrace synchronised), so no new
	 * wrapper starts; wait for the ones running (one may sleep in the
	 * real allocator).
	 */
	while (atomic_read(&pp_inflight))
		msleep(1);
}

static int pp_register(void)
{
	char buf[KSYM_NAME_LEN];
	int i, err;

	for (i = 0; i < PP_NFUNCS; i++) {
		struct pp_func *f = &pp_funcs[i];

		memset(&f->ops, 0, sizeof(f->ops));
		f->ops.func = pp_cb;
		f->ops.flags = FTRACE_OPS_FL_IPMODIFY | PP_FL_REGS | PP_FL_RECURSION;
		f->ops.private = f->wrapper;
		strscpy(buf, f->name, sizeof(buf));
		err = ftrace_set_filter(&f->ops, buf, strlen(buf), 1);
		if (err == -EINVAL) {
			/*
			 * Not an ftrace location: a name the headers declare
			 * but the kernel inlines (5.10's kmalloc_large). The
			 * kind resolves names from Module.symvers instead.
			 */
			pp_free_filter(&f->ops);
			pr_info("%s is not a traceable function in this kernel: skipped\n",
				f->name);
			continue;
		}
		if (err) {
			pr_err("attach to %s: %s cannot be traced by ftrace: %d\n",
			       target, f->name, err);
			goto fail;
		}
		err = register_ftrace_function(&f->ops);
		if (err) {
			if (err == -EBUSY)
				pr_err("attach to %s: %s is already redirected by another ftrace IPMODIFY user (a livepatch, another payload, a kprobe with a post_handler): unload it first (-EBUSY)\n",
				       target, f->name);
			else
				pr_err("attach to %s: register ftrace on %s: %d\n",
				       target, f->name, err);
			pp_free_filter(&f->ops);
			goto fail;
		}
		f->registered = true;
		atomic_set(&f->calls, 0);
	}
	return 0;
fail:
	pp_unregister();
	return err;
}

/* ---- module notifier -------------------------------------------------- */

static void pp_report(const char *why)
{
	int i;

	for (i = 0; i < PP_NFUNCS; i++)
		if (atomic_read(&pp_funcs[i].calls))
			pr_info("%s: %s: %s: %d calls\n", target, why,
				pp_funcs[i].name, atomic_read(&pp_funcs[i].calls));
	pr_info("%s: %s: kmalloc-family calls %d, faults %d\n", target, why,
		atomic_read(&pp_times), atomic_read(&pp_faults));
}

static void pp_detach(const char *why)
{
	pp_unregister();
	pp_clear_ranges();
	pp_report(why);
	pp_leak_report_and_clear(target);
	pp_mod = NULL;
	WRITE_ONCE(pp_in_init, false);
}

static int pp_notify(struct notifier_block *nb, unsigned long state, void *data)
{
	struct module *mod = data;
	int err = 0;

	if (strcmp(mod->name, target))
		return NOTIFY_DONE;
	mutex_lock(&pp_lock);
	switch (state) {
	case MODULE_STATE_COMING:
		if (pp_mod)
			break;
		atomic_set(&pp_times, 0);
		atomic_set(&pp_faults, 0);
		pp_set_ranges(mod);
		WRITE_ONCE(pp_in_init, true);
		err = pp_register();
		if (err) {
			pp_clear_ranges();
			WRITE_ONCE(pp_in_init, false);
			break;
		}
		pp_mod = mod;
		pr_info("attached to %s (text %lu bytes, init text %lu bytes, %d functions)\n",
			target, pp_text.size, pp_init.size, PP_NFUNCS);
		break;
	case MODULE_STATE_LIVE:
		if (pp_mod != mod)
			break;
		/* init text is freed (and may be reused) after LIVE */
		WRITE_ONCE(pp_init.size, 0);
		WRITE_ONCE(pp_in_init, false);
		pp_report("init done");
		break;
	case MODULE_STATE_GOING:
		if (pp_mod == mod)
			pp_detach("unloaded");
		break;
	}
	mutex_unlock(&pp_lock);
	/* COMING: an error fails the target's load (the user sees it from insmod) */
	return err ? notifier_from_errno(err) : NOTIFY_OK;
}

static struct notifier_block pp_nb = {
	.notifier_call = pp_notify,
};

/* ---- stats and load/unload -------------------------------------------- */

static unsigned long pp_others_sum(void)
{
	unsigned long s = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		s += per_cpu(pp_others, cpu);
	return s;
}

static int pp_stats_get(char *buf, const struct kernel_param *kp)
{
	int i, n = 0;

	mutex_lock(&pp_lock);
	n += scnprintf(buf + n, PAGE_SIZE - n, "target %s %s\n", target,
		       pp_mod ? "attached" : "detached");
	for (i = 0; i < PP_NFUNCS; i++)
		n += scnprintf(buf + n, PAGE_SIZE - n, "%s %d\n", pp_funcs[i].name,
			       atomic_read(&pp_funcs[i].calls));
	n += scnprintf(buf + n, PAGE_SIZE - n,
		       "times %d\nfaults %d\npassed_through %lu\nallocations %lu\nfrees %lu\npossible_leaks %lu\nunallocated_frees %lu\n",
		       atomic_read(&pp_times), atomic_read(&pp_faults), pp_others_sum(),
		       pp_allocs, pp_frees, pp_live, pp_unalloc_frees);
	mutex_unlock(&pp_lock);
	return n;
}

static const struct kernel_param_ops pp_stats_ops = {
	.get = pp_stats_get,
};
module_param_cb(stats, &pp_stats_ops, NULL, 0444);

static int __init pp_init_module(void)
{
	struct kobject *kobj;
	int err;

	err = register_module_notifier(&pp_nb);
	if (err)
		return err;
	/*
	 * KEDR's rule: the payload must be loaded before its target. The
	 * module kset is reachable through our own kobject; a built-in
	 * module has a kobject too but no struct module.
	 */
	kobj = kset_find_obj(THIS_MODULE->mkobj.kobj.kset, target);
	if (kobj) {
		struct module *m = container_of(kobj, struct module_kobject, kobj)->mod;

		kobject_put(kobj);
		mutex_lock(&pp_lock);
		err = m && pp_mod != m ? -EEXIST : 0;	/* pp_mod == m: attached by a racing COMING */
		mutex_unlock(&pp_lock);
		if (err) {
			unregister_module_notifier(&pp_nb);
			pr_err("target %s is already loaded: unload it, load %s, then load %s\n",
			       target, KBUILD_MODNAME, target);
			return err;
		}
	}
	pr_info("waiting for %s; ftrace flags %#lx\n", target,
		(unsigned long)(FTRACE_OPS_FL_IPMODIFY | PP_FL_REGS | PP_FL_RECURSION));
	return 0;
}

static void __exit pp_exit_module(void)
{
	unregister_module_notifier(&pp_nb);
	mutex_lock(&pp_lock);
	if (pp_mod)
		pp_detach("payload unloaded");	/* the target runs on, untouched */
	mutex_unlock(&pp_lock);
	/*
	 * A wrapper that decremented pp_inflight may still be on its last
	 * instructions; tasks preempted there are not quiescent for RCU tasks.
	 */
	synchronize_rcu_tasks();
	pr_info("unloaded; %lu calls passed through\n", pp_others_sum());
}

module_init(pp_init_module);
module_exit(pp_exit_module);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen payload prototype: intercept one module's kmalloc-family calls");
