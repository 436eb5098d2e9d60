// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: __kmalloc_cache_noprof() (6.11) with this signature, out of line
 * (taking its address fails where it is undeclared; the redeclaration
 * after it fails where it is a static inline or has another signature). */
#include <linux/slab.h>

static void *(*kgen_probe)(struct kmem_cache *, gfp_t, size_t) __maybe_unused = __kmalloc_cache_noprof;
void *__kmalloc_cache_noprof(struct kmem_cache *, gfp_t, size_t);
