/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder until the xfs backend lands: probes as unsupported. */
#include <errno.h>

#include "volumed.h"

static int xfs_probe(struct manager *m, tk_err *err)
{
	(void)m;
	return tk_err_set(err, -EOPNOTSUPP, "the xfs backend is not built yet");
}

const struct backend backend_xfs = {
	.name = "xfs",
	.probe = xfs_probe,
};
