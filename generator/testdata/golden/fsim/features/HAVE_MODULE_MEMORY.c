// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: struct module mem[MOD_TEXT] (6.4); before, core_layout/init_layout. */
#include <linux/module.h>

static unsigned long __maybe_unused kgen_probe(struct module *m)
{
	return (unsigned long)m->mem[MOD_TEXT].base + m->mem[MOD_INIT_TEXT].size;
}
