// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: ftrace_instruction_pointer_set() (5.18-6.6; WITH_ARGS kernels): redirect without SAVE_REGS. */
#include <linux/ftrace.h>

static void __maybe_unused kgen_probe(struct ftrace_regs *fregs)
{
	ftrace_instruction_pointer_set(fregs, 0);
}
