// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe: __assign_str(dst) takes one argument (6.10; before,
 * __assign_str(dst, src)). The TRACE_EVENT stage headers (5.18+) hold the
 * macro; a wrong argument count is a preprocessor error. The fake __entry
 * and __data_offsets give the one-argument expansion what it refers to.
 */
#include <linux/types.h>
#include <linux/string.h>
#include <linux/trace_events.h>
#include <trace/stages/stage6_event_callback.h>

static void __maybe_unused kgen_probe(void *p)
{
	struct {
		u32 __data_loc_s;
	} *__entry = p;
	struct {
		u32 s;
		const char *s_ptr_;
	} __data_offsets = { 0, "x" };

	__assign_str(s);
}
