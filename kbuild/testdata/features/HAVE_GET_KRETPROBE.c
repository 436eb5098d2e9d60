// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: get_kretprobe(ri) (5.11; before, ri->rp). */
#include <linux/kprobes.h>

static __maybe_unused struct kretprobe *kgen_probe(struct kretprobe_instance *ri)
{
	return get_kretprobe(ri);
}
