/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

/*
 * Network namespaces by descriptor.  Kept apart from nl.c so that the CNI plugins, which need
 * this and no netlink, link nothing but libc and jansson.
 *
 * Opening never blocks and never opens anything but a namespace: the path is opened O_PATH
 * (a FIFO, socket or device is looked up, not opened), checked to be nsfs, and only then
 * reopened for reading through /proc/self/fd, which names the same inode.
 */
enum {
	TK_NETNS_NOFOLLOW = 1 << 0, /* refuse a symbolic link as the last component */
};

/*
 * Opens path (absolute) as a network namespace (nsfs, CLONE_NEWNET): -ENOENT when it does not
 * exist, -EINVAL when it is something else, -ELOOP for a symbolic link with TK_NETNS_NOFOLLOW.
 */
int tk_netns_open(const char *path, unsigned flags, int *ret_fd, tk_err *err);

/* 0 when fd is a network namespace usable for setns and ioctls (not O_PATH), else -EINVAL. */
int tk_netns_verify(int fd, tk_err *err);

/*
 * Who may use the netns fd as its owner: the uid owning the outermost user namespace above it
 * that is not the calling process's own (the uid the kernel's cap_capable() grants every
 * capability over it).  *ret_host is true when the netns belongs to the caller's own user
 * namespace (then only a privileged process may use it) and *ret_uid is not set.
 */
int tk_netns_owner(int fd, bool *ret_host, uid_t *ret_uid, tk_err *err);

/*
 * Moves the calling thread into the network namespace netns_fd refers to, where sockets it opens
 * stay; tk_netns_leave() brings it back to the namespace it was in at its first call, and aborts
 * when it cannot (every later operation would hit the wrong namespace).  Between the two the
 * thread does nothing but open sockets.
 */
int tk_netns_enter(int netns_fd, tk_err *err);
void tk_netns_leave(void);
