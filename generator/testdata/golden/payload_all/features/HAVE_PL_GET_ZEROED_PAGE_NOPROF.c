// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): get_zeroed_page_noprof(gfp_t flags) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe HAVE_PL_GET_ZEROED_PAGE_NOPROF_SYM decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static unsigned long (*kgen_probe)(gfp_t flags) __maybe_unused = get_zeroed_page_noprof;
unsigned long get_zeroed_page_noprof(gfp_t flags);
