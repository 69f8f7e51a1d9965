/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder until the btrfs backend lands: probes as unsupported. */
#include <errno.h>

#include "volumed.h"

static int btrfs_probe(struct manager *m, tk_err *err)
{
	(void)m;
	return tk_err_set(err, -EOPNOTSUPP, "the btrfs backend is not built yet");
}

const struct backend backend_btrfs = {
	.name = "btrfs",
	.probe = btrfs_probe,
};
