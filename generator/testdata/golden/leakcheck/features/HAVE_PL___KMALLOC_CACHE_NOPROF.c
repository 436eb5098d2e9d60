// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): __kmalloc_cache_noprof(struct kmem_cache *s, gfp_t flags, size_t size) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe HAVE_PL___KMALLOC_CACHE_NOPROF_SYM decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static void *(*kgen_probe)(struct kmem_cache *s, gfp_t flags, size_t size) __maybe_unused = __kmalloc_cache_noprof;
void *__kmalloc_cache_noprof(struct kmem_cache *s, gfp_t flags, size_t size);
