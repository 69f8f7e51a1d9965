/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "cleanup.h"

int tk_netns_verify(int fd, tk_err *err)
{
	struct statfs sfs;
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return tk_err_set(err, -EBADF, "not an open descriptor");
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC)
		return tk_err_set(err, -EINVAL, "not a network namespace");
	if (flags & O_PATH)
		return tk_err_set(err, -EINVAL,
				  "an O_PATH descriptor: open the namespace for reading");
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		return tk_err_set(err, -EINVAL, "not a network namespace");
	return 0;
}

int tk_netns_open(const char *path, unsigned flags, int *ret_fd, tk_err *err)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	char proc[64];
	struct statfs sfs;
	struct stat st;

	if (path[0] != '/')
		return tk_err_set(err, -EINVAL, "netns path '%s' is not absolute", path);
	/* O_PATH opens nothing: a FIFO cannot make this wait, a device sees no open(). */
	pfd = open(path,
		   O_PATH | O_CLOEXEC | O_NONBLOCK | (flags & TK_NETNS_NOFOLLOW ? O_NOFOLLOW : 0));
	if (pfd < 0)
		return tk_err_set(err, -errno, "cannot open netns '%s': %m", path);
	if (fstat(pfd, &st) < 0)
		return tk_err_set(err, -errno, "cannot stat netns '%s': %m", path);
	if (S_ISLNK(st.st_mode))
		return tk_err_set(err, -ELOOP, "netns path '%s' is a symbolic link", path);
	if (!S_ISREG(st.st_mode) || fstatfs(pfd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC)
		return tk_err_set(err, -EINVAL, "'%s' is not a network namespace", path);
	/* The same inode, now opened for setns() and ioctls: nsfs files have no open() to run. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT && !(flags & TK_NETNS_NOFOLLOW)) {
		/*
		 * A client without /proc (a runtime's minimal chroot): the path once more,
		 * non-blocking, and it must still be the inode just checked.  Daemons never get here.
		 */
		struct stat again;

		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0 && (fstat(fd, &again) < 0 || again.st_dev != st.st_dev ||
				again.st_ino != st.st_ino))
			return tk_err_set(err, -EAGAIN, "netns '%s' changed while it was opened",
					  path);
	}
	if (fd < 0)
		return tk_err_set(err, -errno, "cannot reopen netns '%s': %m", path);
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		return tk_err_set(err, -EINVAL, "'%s' is not a network namespace", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int tk_netns_owner(int fd, bool *ret_host, uid_t *ret_uid, tk_err *err)
{
	_cleanup_close_ int ns = -1;
	uid_t owner = (uid_t)-1;

	ns = ioctl(fd, NS_GET_USERNS);
	if (ns < 0)
		return tk_err_set(err, -errno, "cannot find the owner of the netns: %m");
	/* Nesting is limited to 32 levels; the loop ends at the caller's own user namespace. */
	for (int depth = 0; depth <= 33; depth++) {
		int parent = ioctl(ns, NS_GET_PARENT);

		if (parent < 0 && errno == EPERM) {
			/* ns is the caller's own user namespace: owner owns the one below it. */
			*ret_host = depth == 0;
			if (depth > 0)
				*ret_uid = owner;
			return 0;
		}
		if (parent < 0)
			return tk_err_set(err, -errno, "cannot walk the user namespaces: %m");
		if (ioctl(ns, NS_GET_OWNER_UID, &owner) < 0) {
			close(parent);
			return tk_err_set(err, -errno, "cannot find the owner of the netns: %m");
		}
		close(ns);
		ns = parent;
	}
	return tk_err_set(err, -ELOOP, "user namespaces nested deeper than the kernel allows");
}

/* The way back, opened once: entering runs for every endpoint. */
static int self_fd = -1;

int tk_netns_enter(int netns_fd, tk_err *err)
{
	if (self_fd < 0 && (self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
		return tk_err_set(err, -errno, "cannot open own network namespace: %m");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return tk_err_set(err, -errno,
				  "cannot enter the container's network namespace: %m");
	return 0;
}

void tk_netns_leave(void)
{
	if (setns(self_fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "cannot return to own network namespace: %m\n");
		abort();
	}
}
