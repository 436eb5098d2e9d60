// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: stack_trace_save() (5.2; needs CONFIG_STACKTRACE). */
#include <linux/stacktrace.h>

static unsigned int __maybe_unused kgen_probe(unsigned long *store, unsigned int size)
{
	return stack_trace_save(store, size, 0);
}
