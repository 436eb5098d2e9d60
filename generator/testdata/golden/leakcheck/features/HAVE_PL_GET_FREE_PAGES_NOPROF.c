// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): get_free_pages_noprof(gfp_t flags, unsigned int order) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe HAVE_PL_GET_FREE_PAGES_NOPROF_SYM decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static unsigned long (*kgen_probe)(gfp_t flags, unsigned int order) __maybe_unused = get_free_pages_noprof;
unsigned long get_free_pages_noprof(gfp_t flags, unsigned int order);
