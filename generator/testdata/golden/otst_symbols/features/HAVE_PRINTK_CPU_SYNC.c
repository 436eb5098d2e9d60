// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: printk_cpu_sync_get_irqsave() (5.19), the lock that keeps a CPU's dump whole. */
#include <linux/irqflags.h>
#include <linux/printk.h>

static void __maybe_unused kgen_probe(void)
{
	unsigned long flags;

	printk_cpu_sync_get_irqsave(flags);
	printk_cpu_sync_put_irqrestore(flags);
}
