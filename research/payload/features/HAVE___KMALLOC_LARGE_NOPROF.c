// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: __kmalloc_large_noprof() (6.10) with this signature, out of line
 * (taking its address fails where it is undeclared; the redeclaration
 * after it fails where it is a static inline or has another signature). */
#include <linux/slab.h>

static void *(*kgen_probe)(size_t, gfp_t) __maybe_unused = __kmalloc_large_noprof;
void *__kmalloc_large_noprof(size_t, gfp_t);
