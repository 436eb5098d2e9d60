// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: ktime_get_mono_fast_ns(), NMI-safe (3.17). */
#include <linux/ktime.h>
#include <linux/timekeeping.h>

static u64 __maybe_unused kgen_probe(void)
{
	return ktime_get_mono_fast_ns();
}
