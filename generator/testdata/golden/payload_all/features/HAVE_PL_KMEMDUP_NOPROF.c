// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): kmemdup_noprof(const void *src, size_t len, gfp_t flags) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe HAVE_PL_KMEMDUP_NOPROF_SYM decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static void *(*kgen_probe)(const void *src, size_t len, gfp_t flags) __maybe_unused = kmemdup_noprof;
void *kmemdup_noprof(const void *src, size_t len, gfp_t flags);
