// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: <linux/panic_notifier.h> (5.14); before, panic_notifier_list was in <linux/kernel.h>. */
#include <linux/notifier.h>
#include <linux/panic_notifier.h>

static struct atomic_notifier_head __maybe_unused *kgen_probe(void)
{
	return &panic_notifier_list;
}
