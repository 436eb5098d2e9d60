// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): __kmalloc_node_noprof(size_t size, kmem_buckets *b, gfp_t flags, int node) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe HAVE_PL___KMALLOC_NODE_NOPROF_SYM decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static void *(*kgen_probe)(size_t size, kmem_buckets *b, gfp_t flags, int node) __maybe_unused = __kmalloc_node_noprof;
void *__kmalloc_node_noprof(size_t size, kmem_buckets *b, gfp_t flags, int node);
