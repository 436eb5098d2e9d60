// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: FTRACE_OPS_FL_RECURSION_SAFE (< 5.11): a callback that is recursion-safe must say so, or ftrace wraps it. */
#include <linux/ftrace.h>

static unsigned long kgen_probe __maybe_unused = FTRACE_OPS_FL_RECURSION_SAFE;
