// SPDX-License-Identifier: GPL-2.0
/* The same prototype under another name: a second IPMODIFY user. */
#include "kgen_pp.c"
