// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: trace_<event>_enabled() exists for every TRACE_EVENT (4.2). */
#include <linux/tracepoint.h>

TRACE_EVENT(kgen_probe,
	TP_PROTO(int x),
	TP_ARGS(x),
	TP_STRUCT__entry(__field(int, x)),
	TP_fast_assign(__entry->x = x;),
	TP_printk("%d", __entry->x)
);

static bool __maybe_unused kgen_probe_enabled(void)
{
	return trace_kgen_probe_enabled();
}
