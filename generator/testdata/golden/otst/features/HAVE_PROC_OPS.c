// SPDX-License-Identifier: GPL-2.0
/* kgen feature probe: struct proc_ops (5.6) replaced file_operations for /proc. */
#include <linux/proc_fs.h>

static const struct proc_ops kgen_probe_ops __maybe_unused = {
	.proc_read = NULL,
};
