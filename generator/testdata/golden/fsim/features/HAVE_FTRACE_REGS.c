// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: ftrace callbacks take struct ftrace_regs * (5.11); before, struct pt_regs *. */
#include <linux/ftrace.h>

static void kgen_probe_cb(unsigned long ip, unsigned long pip, struct ftrace_ops *op, struct ftrace_regs *fregs)
{
}

static struct ftrace_ops kgen_probe_ops __maybe_unused = { .func = kgen_probe_cb };
