/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The xfs backend: a directory per volume at <root>/<tenant>/<volume> on an XFS mounted with
 * prjquota, tagged with a project id of its own (inherited by everything created inside) whose
 * block hard limit is the volume's size.  No image: the quota is the limit.
 *
 * quotactl needs the filesystem: quotactl_fd(2) on the root's descriptor where the kernel has it
 * (5.14), else quotactl(2) on the root's block device from /proc/self/mountinfo.
 *
 * A volume is a directory of the root's filesystem: create and activate bind it onto itself
 * nosuid,nodev (volume_bind_inert), as loop volumes are mounted, and remove unmounts that first.
 * Untested here: the test kernel has no XFS quota support, so test-volume-xfs.sh skips.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "log.h"
#include "volume.h"
#include "volumed.h"

#ifndef PRJQUOTA
#define PRJQUOTA 2
#endif

/* Project ids of volumes: 0x7e000000 | volume id, clear of the small ids admins hand out. */
#define PROJID_BASE 0x7e000000u
#define PROJID_MAX  0x00ffffffu

/* Deeper than this, remove() moves directories up instead of descending (bounded fds and stack). */
#define REMOVE_DEPTH_MAX 64

static int projid_of(const struct volume *v, uint32_t *ret, tk_err *err)
{
	if (v->id <= 0 || v->id > PROJID_MAX)
		return tk_err_set(err, -ERANGE, "volume id %lld does not fit in a project id",
				  (long long)v->id);
	*ret = PROJID_BASE | (uint32_t)v->id;
	return 0;
}

static bool have_cap_sys_admin(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &header, data) < 0)
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN);
}

/* The mount source of the filesystem fd is on ("/dev/sdb1"), from /proc/self/mountinfo. */
static int block_device_of(int fd, char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	struct stat st;

	if (!f || fstat(fd, &st) < 0)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned major, minor;
		char source[4096], *sep;

		/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - xfs /dev/root rw,prjquota" */
		if (sscanf(line, "%*d %*d %u:%u", &major, &minor) != 2 ||
		    makedev(major, minor) != st.st_dev || !(sep = strstr(line, " - ")) ||
		    sscanf(sep, " - %*s %4095s", source) != 1)
			continue;
		snprintf(buf, size, "%s", source);
		return 0;
	}
	return -ENODEV;
}

/* quotactl(cmd, PRJQUOTA, id) on the filesystem of the volume root. */
static int xfs_quotactl(struct manager *m, int cmd, uint32_t id, void *addr)
{
	char device[4096];
	int r;

#ifdef SYS_quotactl_fd
	if (syscall(SYS_quotactl_fd, m->root_fd, QCMD(cmd, PRJQUOTA), id, addr) == 0)
		return 0;
	/* ENOSYS: no such syscall, or no quota support: the old call tells which. */
	if (errno != ENOSYS)
		return -errno;
#endif
	if ((r = block_device_of(m->root_fd, device, sizeof(device))) < 0)
		return r;
	if (quotactl(QCMD(cmd, PRJQUOTA), device, (int)id, addr) < 0)
		return -errno;
	return 0;
}

/* 0 when project quotas are accounted and enforced on the root's filesystem. */
static int project_quota_state(struct manager *m, tk_err *err)
{
	struct fs_quota_statv state = { .qs_version = FS_QSTATV_VERSION1 };
	int r = xfs_quotactl(m, Q_XGETQSTATV, 0, &state);

	if (r == -ENOSYS)
		return tk_err_set(err, -EOPNOTSUPP, "kernel without XFS quota support");
	if (r == -ENOENT || r == -ESRCH || (r >= 0 && !(state.qs_flags & FS_QUOTA_PDQ_ACCT)))
		return tk_err_set(err, -EOPNOTSUPP, "not mounted with prjquota");
	if (r < 0)
		return tk_err_set(err, -EOPNOTSUPP, "cannot query XFS quotas: %s", strerror(-r));
	if (!(state.qs_flags & FS_QUOTA_PDQ_ENFD))
		return tk_err_set(err, -EOPNOTSUPP,
				  "project quotas are accounted but not enforced (pqnoenforce)");
	return 0;
}

static int set_limit(struct manager *m, uint32_t projid, uint64_t bytes, tk_err *err)
{
	struct fs_disk_quota q = {
		.d_version = FS_DQUOT_VERSION,
		.d_flags = FS_PROJ_QUOTA,
		.d_fieldmask = FS_DQ_BHARD | FS_DQ_BSOFT,
		.d_id = projid,
		/* In 512-byte basic blocks, rounded up; 0 lifts the limit. */
		.d_blk_hardlimit = (bytes + 511) / 512,
	};
	int r = xfs_quotactl(m, Q_XSETQLIM, projid, &q);

	if (r < 0)
		return tk_err_set(err, r, "cannot set the quota of project %u: %s", projid,
				  strerror(-r));
	return 0;
}

/* Opens the volume's directory for reading; -ENOENT with "directory missing" when absent. */
static int open_volume_dir(struct manager *m, const struct volume *v, int *ret_fd, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	char path[4096];
	int r;

	volume_path(m, v, path, sizeof(path));
	r = volume_tenant_dir(m, v->tenant, false, &dir_fd, err);
	if (r >= 0)
		r = tk_open_beneath(dir_fd, v->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, ret_fd,
				    err);
	if (r == -ENOENT)
		return tk_err_set(err, -ENOENT, "volume directory missing: '%s' does not exist",
				  path);
	return r < 0 ? tk_err_wrap(err, r, "'%s'", path) : 0;
}

static int get_projid(int fd, struct fsxattr *ret, tk_err *err)
{
	if (ioctl(fd, FS_IOC_FSGETXATTR, ret) < 0)
		return tk_err_set(err, -errno, "FS_IOC_FSGETXATTR: %m");
	return 0;
}

static int set_projid(int fd, uint32_t projid, tk_err *err)
{
	struct fsxattr fsx;
	int r;

	if ((r = get_projid(fd, &fsx, err)) < 0)
		return r;
	fsx.fsx_projid = projid;
	fsx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
	if (ioctl(fd, FS_IOC_FSSETXATTR, &fsx) < 0)
		return tk_err_set(err, -errno, "cannot set project id %u: %m", projid);
	return 0;
}

/* Moves directory name in fd to a fresh name in top_fd. */
static int move_up(int fd, const char *name, int top_fd, unsigned *moved, tk_err *err)
{
	for (;;) {
		char new_name[32];

		snprintf(new_name, sizeof(new_name), ".tk-remove-%u", (*moved)++);
		if (renameat2(fd, name, top_fd, new_name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST)
			return tk_err_set(err, -errno, "cannot move '%s' up: %m", name);
	}
}

/*
 * Empties the directory fd (at depth below top_fd) without following symlinks or leaving the
 * filesystem.  Directories deeper than REMOVE_DEPTH_MAX are moved up into top_fd instead, so the
 * caller goes round again; *again says so.
 */
static int remove_contents(int fd, int top_fd, dev_t dev, unsigned depth, unsigned *moved,
			   bool *again, tk_err *err)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int dup_fd, r;

	if ((dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return tk_err_set(err, -errno, "dup: %m");
	if (!(d = fdopendir(dup_fd))) {
		close(dup_fd);
		return tk_err_set(err, -errno, "fdopendir: %m");
	}
	/* The duplicate shares fd's offset, which an earlier pass left at the end. */
	rewinddir(d);
	while ((errno = 0, de = readdir(d))) {
		_cleanup_close_ int child = -1;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return tk_err_set(err, -errno, "cannot stat '%s': %m", de->d_name);
		}
		if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
				return tk_err_set(err, -errno, "cannot remove '%s': %m",
						  de->d_name);
			continue;
		}
		if (st.st_dev != dev)
			return tk_err_set(err, -EBUSY, "'%s' has a filesystem mounted on it",
					  de->d_name);
		if (depth >= REMOVE_DEPTH_MAX) {
			if ((r = move_up(fd, de->d_name, top_fd, moved, err)) < 0)
				return r;
			*again = true;
			continue;
		}
		child = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (child < 0)
			return tk_err_set(err, -errno, "cannot open '%s': %m", de->d_name);
		if ((r = remove_contents(child, top_fd, dev, depth + 1, moved, again, err)) < 0)
			return r;
		if (unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return tk_err_set(err, -errno, "cannot remove '%s': %m", de->d_name);
	}
	if (errno)
		return tk_err_set(err, -errno, "readdir: %m");
	return 0;
}

/* Removes the directory name in dir_fd and everything in it; 0 when it does not exist. */
static int remove_tree(int dir_fd, const char *name, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	unsigned moved = 0;
	struct stat st;
	bool again;
	int r;

	r = tk_open_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, &fd, err);
	if (r == -ENOENT) {
		tk_err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return tk_err_set(err, -errno, "fstat: %m");
	do {
		again = false;
		if ((r = remove_contents(fd, fd, st.st_dev, 0, &moved, &again, err)) < 0)
			return r;
	} while (again);
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return tk_err_set(err, -errno, "cannot remove '%s': %m", name);
	return 0;
}

static int xfs_probe(struct manager *m, tk_err *err)
{
	struct statfs st;
	int r;

	if (fstatfs(m->root_fd, &st) < 0)
		return tk_err_set(err, -errno, "statfs of the volume root: %m");
	if (st.f_type != XFS_SUPER_MAGIC)
		return tk_err_set(err, -EOPNOTSUPP, "volume root is not on XFS");
	if ((r = project_quota_state(m, err)) < 0)
		return r;
	/* Setting limits and project ids on files of other users both need it. */
	if (!have_cap_sys_admin())
		return tk_err_set(err, -EOPNOTSUPP, "XFS project quota limits need CAP_SYS_ADMIN");
	return 0;
}

static int setup_dir(struct manager *m, struct volume *v, uint32_t projid, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	if ((r = open_volume_dir(m, v, &fd, err)) < 0 || (r = set_projid(fd, projid, err)) < 0 ||
	    (r = fault_point("xfs-limit", err)) < 0 || (r = set_limit(m, projid, v->size, err)) < 0)
		return r;
	if (fchown(fd, v->uid, v->gid) < 0 || fchmod(fd, v->mode) < 0)
		return tk_err_set(err, -errno, "cannot set owner and mode of '%s': %m", v->name);
	return 0;
}

static int xfs_create(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	uint32_t projid = 0;
	char path[4096];
	int r;

	if (v->fs[0] && strcmp(v->fs, "xfs") != 0)
		return tk_err_set(err, -EOPNOTSUPP, "xfs volumes are xfs, not '%s'", v->fs);
	volume_path(m, v, path, sizeof(path));
	if ((r = projid_of(v, &projid, err)) < 0 ||
	    (r = volume_tenant_dir(m, v->tenant, true, &dir_fd, err)) < 0)
		return r;
	/* 0700 until the owner and mode are set, so nobody gets in before the limit is on. */
	if (mkdirat(dir_fd, v->name, 0700) < 0) {
		v->adopted = errno == EEXIST; /* not ours: the create's undo leaves it */
		return tk_err_set(err, -errno, "cannot create '%s': %m", path);
	}
	if ((r = setup_dir(m, v, projid, err)) < 0 || (r = volume_bind_inert(m, v, err)) < 0) {
		(void)set_limit(m, projid, 0, NULL);
		if (volume_unbind(m, v, NULL) < 0 || unlinkat(dir_fd, v->name, AT_REMOVEDIR) < 0)
			log_error("Undoing the create of '%s': %m", path);
		return r;
	}
	snprintf(v->fs, sizeof(v->fs), "xfs");
	return 0;
}

static int xfs_remove(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	uint32_t projid = 0;
	int r;

	if (v->state == VOLUME_CREATING && v->adopted)
		return 0;
	if ((r = projid_of(v, &projid, err)) < 0)
		return r;
	r = volume_tenant_dir(m, v->tenant, false, &dir_fd, NULL);
	if (r < 0 && r != -ENOENT)
		return tk_err_set(err, r, "cannot open the directory of tenant '%s': %s",
				  v->tenant->name, strerror(-r));
	/* The data first: while any is left the limit stays, so a failure leaves a usable volume. */
	if (r >= 0 && (r = volume_unbind(m, v, err)) < 0)
		return r;
	if (r >= 0 && ((r = fault_point("volume-unbound", err)) < 0 ||
		       (r = remove_tree(dir_fd, v->name, err)) < 0)) {
		volume_rebind_inert(m, v); /* what is left stays inert */
		return tk_err_wrap(err, r, "removing the directory of '%s'", v->name);
	}
	r = set_limit(m, projid, 0, err);
	/* No quota record for the project (ESRCH, ENOENT): nothing to clear. */
	if (r < 0 && r != -ESRCH && r != -ENOENT)
		return r;
	return 0;
}

static int xfs_activate(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	struct fsxattr fsx;
	uint32_t projid = 0;
	int r;

	/* Remounted without prjquota, the limits would be gone without anyone noticing. */
	if ((r = project_quota_state(m, err)) < 0 || (r = projid_of(v, &projid, err)) < 0 ||
	    (r = open_volume_dir(m, v, &fd, err)) < 0 || (r = get_projid(fd, &fsx, err)) < 0)
		return r;
	if (fsx.fsx_projid != projid || !(fsx.fsx_xflags & FS_XFLAG_PROJINHERIT))
		return tk_err_set(
			err, -EUCLEAN, "'%s' has project id %u%s, not %u: its data is not limited",
			v->name, fsx.fsx_projid,
			fsx.fsx_xflags & FS_XFLAG_PROJINHERIT ? "" : " (not inherited)", projid);
	if ((r = set_limit(m, projid, v->size, err)) < 0 || (r = volume_bind_inert(m, v, err)) < 0)
		return r;
	snprintf(v->fs, sizeof(v->fs), "xfs");
	return 0;
}

static int xfs_resize(struct manager *m, struct volume *v, uint64_t size, tk_err *err)
{
	uint32_t projid = 0;
	int r;

	if ((r = projid_of(v, &projid, err)) < 0)
		return r;
	return set_limit(m, projid, size, err);
}

/* total_inodes is the project's inode hard limit, which volumed never sets: 0. */
static int xfs_usage(struct manager *m, const struct volume *v, struct volume_usage *ret,
		     tk_err *err)
{
	struct fs_disk_quota q = {};
	uint32_t projid = 0;
	int r;

	if ((r = projid_of(v, &projid, err)) < 0)
		return r;
	if ((r = xfs_quotactl(m, Q_XGETQUOTA, projid, &q)) < 0)
		return tk_err_set(err, r, "cannot read the quota of project %u: %s", projid,
				  strerror(-r));
	ret->used_bytes = q.d_bcount * 512;
	ret->used_inodes = q.d_icount;
	ret->total_inodes = q.d_ino_hardlimit;
	ret->source = "quota";
	return 0;
}

const struct backend backend_xfs = {
	.name = "xfs",
	.probe = xfs_probe,
	.create = xfs_create,
	.remove = xfs_remove,
	.activate = xfs_activate,
	.resize = xfs_resize,
	.usage = xfs_usage,
	.snapshot = NULL,
};
