// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: regs_get_kernel_argument() (x86 4.20, arm64 5.x). */
#include <linux/ptrace.h>

static unsigned long __maybe_unused kgen_probe(struct pt_regs *regs)
{
	return regs_get_kernel_argument(regs, 0);
}
