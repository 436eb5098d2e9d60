// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe: the per-task syscall work bits (5.11, generic entry):
 * set_task_syscall_work(t, SYSCALL_TRACEPOINT); before, the thread flag
 * TIF_SYSCALL_TRACEPOINT.
 */
#include <linux/sched.h>
#include <linux/thread_info.h>

static void __maybe_unused kgen_probe(struct task_struct *t)
{
	set_task_syscall_work(t, SYSCALL_TRACEPOINT);
	clear_task_syscall_work(t, SYSCALL_TRACEPOINT);
}
