// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe: the sched_process_exit tracepoint passes group_dead
 * (6.16); before, only the task. -Werror turns a prototype mismatch into a
 * failure.
 */
#include <linux/sched.h>
#include <trace/events/sched.h>

static void kgen_probe_exit(void *data, struct task_struct *p, bool group_dead)
{
}

static int __maybe_unused kgen_probe(void)
{
	return register_trace_sched_process_exit(kgen_probe_exit, NULL);
}
