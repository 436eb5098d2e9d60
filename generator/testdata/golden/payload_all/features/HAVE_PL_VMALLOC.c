// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): vmalloc(unsigned long size) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe HAVE_PL_VMALLOC_SYM decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static void *(*kgen_probe)(unsigned long size) __maybe_unused = vmalloc;
void *vmalloc(unsigned long size);
