// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: struct kernel_siginfo (4.20), what signal tracepoints pass; before, siginfo_t. */
#include <linux/signal.h>

static int __maybe_unused kgen_probe(struct kernel_siginfo *info)
{
	return info->si_signo;
}
