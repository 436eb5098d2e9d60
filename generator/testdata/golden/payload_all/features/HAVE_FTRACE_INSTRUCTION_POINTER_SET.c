// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: ftrace_instruction_pointer_set() (5.18-6.6; WITH_ARGS kernels): redirect without SAVE_REGS. */
#include <linux/ftrace.h>

/*
 * Without WITH_ARGS (arm64 before 6.2) linux/ftrace.h defines it as a
 * no-op that compiles: the redirect would silently do nothing, so such a
 * kernel answers no and the payload takes SAVE_REGS and pt_regs instead.
 */
#ifndef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
#error "ftrace_instruction_pointer_set() is the generic no-op"
#endif

static void __maybe_unused kgen_probe(struct ftrace_regs *fregs)
{
	ftrace_instruction_pointer_set(fregs, 0);
}
