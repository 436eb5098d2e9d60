// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): vzalloc_node_noprof(unsigned long size, int node) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe HAVE_PL_VZALLOC_NODE_NOPROF_SYM decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static void *(*kgen_probe)(unsigned long size, int node) __maybe_unused = vzalloc_node_noprof;
void *vzalloc_node_noprof(unsigned long size, int node);
