// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: kmem_cache_alloc_node_trace() (< 6.1) with this signature, out of line
 * (taking its address fails where it is undeclared; the redeclaration
 * after it fails where it is a static inline or has another signature). */
#include <linux/slab.h>

static void *(*kgen_probe)(struct kmem_cache *, gfp_t, int, size_t) __maybe_unused = kmem_cache_alloc_node_trace;
void *kmem_cache_alloc_node_trace(struct kmem_cache *, gfp_t, int, size_t);
