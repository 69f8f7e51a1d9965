/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "err.h"

/*
 * Opens path (absolute) and checks that it is a network namespace (nsfs, CLONE_NEWNET):
 * -ENOENT when it does not exist, -EINVAL when it is something else.  Kept apart from nl.c so
 * that the CNI plugins, which need this and no netlink, link nothing but libc and jansson.
 */
int tk_netns_open(const char *path, int *ret_fd, tk_err *err);
