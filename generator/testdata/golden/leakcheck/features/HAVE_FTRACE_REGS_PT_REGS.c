// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe: struct ftrace_regs wraps a struct pt_regs whose
 * argument registers ftrace saves even without SAVE_REGS (x86 5.11-6.6,
 * before ftrace_regs_get_argument()).
 */
#include <linux/ftrace.h>
#include <linux/ptrace.h>

static unsigned long __maybe_unused kgen_probe(struct ftrace_regs *fregs)
{
	return regs_get_kernel_argument(&fregs->regs, 0);
}
