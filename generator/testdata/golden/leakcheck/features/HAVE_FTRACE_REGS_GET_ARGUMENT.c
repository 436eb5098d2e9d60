// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: ftrace_regs_get_argument() (6.0; WITH_ARGS kernels): a function's argument in an ftrace callback without SAVE_REGS. */
#include <linux/ftrace.h>

static unsigned long __maybe_unused kgen_probe(struct ftrace_regs *fregs)
{
	return ftrace_regs_get_argument(fregs, 0);
}
