// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): kmem_cache_alloc_lru_noprof(struct kmem_cache *s, struct list_lru *lru, gfp_t flags) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe HAVE_PL_KMEM_CACHE_ALLOC_LRU_NOPROF_SYM decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static void *(*kgen_probe)(struct kmem_cache *s, struct list_lru *lru, gfp_t flags) __maybe_unused = kmem_cache_alloc_lru_noprof;
void *kmem_cache_alloc_lru_noprof(struct kmem_cache *s, struct list_lru *lru, gfp_t flags);
