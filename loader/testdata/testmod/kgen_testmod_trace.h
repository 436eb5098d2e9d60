/* SPDX-License-Identifier: GPL-2.0 */
/* Trace events of kgen_testmod, the loader's hand-written test module. */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kgen_testmod

#if !defined(_KGEN_TESTMOD_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KGEN_TESTMOD_TRACE_H

#include <linux/tracepoint.h>
#include <linux/sched.h>

TRACE_EVENT(tick,
	TP_PROTO(u64 seq, long long val, unsigned long ip0, unsigned long ip1),
	TP_ARGS(seq, val, ip0, ip1),
	TP_STRUCT__entry(
		__field(int, pid)
		__array(char, comm, TASK_COMM_LEN)
		__field(u64, seq)
		__field(long long, val)
		__field(unsigned long, ip0)
		__field(unsigned long, ip1)
	),
	TP_fast_assign(
		__entry->pid = current->pid;
		memcpy(__entry->comm, current->comm, TASK_COMM_LEN);
		__entry->seq = seq;
		__entry->val = val;
		__entry->ip0 = ip0;
		__entry->ip1 = ip1;
	),
	TP_printk("pid=%d comm=\"%s\" seq=%llu val=%lld stack=0x%lx,0x%lx",
		  __entry->pid, __entry->comm, __entry->seq, __entry->val,
		  __entry->ip0, __entry->ip1)
);

#endif /* _KGEN_TESTMOD_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kgen_testmod_trace
#include <trace/define_trace.h>
