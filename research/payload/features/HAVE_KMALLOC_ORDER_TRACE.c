// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: kmalloc_order_trace() (< 6.1) with this signature, out of line
 * (taking its address fails where it is undeclared; the redeclaration
 * after it fails where it is a static inline or has another signature). */
#include <linux/slab.h>

static void *(*kgen_probe)(size_t, gfp_t, unsigned int) __maybe_unused = kmalloc_order_trace;
void *kmalloc_order_trace(size_t, gfp_t, unsigned int);
