// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: ftrace_regs_set_instruction_pointer() (6.7; WITH_ARGS kernels): redirect without SAVE_REGS. */
#include <linux/ftrace.h>

/* Without WITH_ARGS it is the generic no-op (as ftrace_instruction_pointer_set). */
#ifndef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
#error "ftrace_regs_set_instruction_pointer() is the generic no-op"
#endif

static void __maybe_unused kgen_probe(struct ftrace_regs *fregs)
{
	ftrace_regs_set_instruction_pointer(fregs, 0);
}
