/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>

#include "cleanup.h"

int tk_netns_open(const char *path, int *ret_fd, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	struct statfs sfs;

	if (path[0] != '/')
		return tk_err_set(err, -EINVAL, "netns path '%s' is not absolute", path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return tk_err_set(err, -errno, "cannot open netns '%s': %m", path);
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC ||
	    ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		return tk_err_set(err, -EINVAL, "'%s' is not a network namespace", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}
