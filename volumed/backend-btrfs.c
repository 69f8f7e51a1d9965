/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The btrfs backend: a subvolume per volume at <root>/<tenant>/<volume>, its level-0 qgroup
 * limited to the volume's size (max_rfer, so a snapshot's shared data counts in full).
 * libbtrfsutil can neither enable quotas nor set limits, so this speaks the ioctls directly.
 *
 * qgroup limits are only as good as the qgroup numbers: once the kernel marks them inconsistent
 * (after some snapshot or relation changes, or an unclean quota state) they stop meaning
 * anything, so every operation that depends on them checks the status and rescans first.
 *
 * Known hole: with full qgroups (not simple quotas) a subvolume that a tenant creates inside its
 * volume (any user may create one) gets a qgroup of its own that no limit covers.  remove()
 * deletes such nested subvolumes, so at least they cannot block a delete.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "log.h"
#include "volume.h"
#include "volumed.h"

/* What a qgroup's directory in sysfs holds: /sys/fs/btrfs/<fsid>/qgroups/<level>_<id>/. */
#define SYSFS_BTRFS "/sys/fs/btrfs"

static int ioctl_fd(int path_fd, const char *what, int *ret_fd, tk_err *err)
{
	/* O_PATH descriptors cannot carry ioctls: reopen the same directory for reading. */
	int fd = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return tk_err_set(err, -errno, "cannot open %s: %m", what);
	*ret_fd = fd;
	return 0;
}

static int btrfs_fsid(int fd, char *buf, size_t size, tk_err *err)
{
	struct btrfs_ioctl_fs_info_args info = {};
	const uint8_t *u = info.fsid;

	if (ioctl(fd, BTRFS_IOC_FS_INFO, &info) < 0)
		return tk_err_set(err, -errno, "BTRFS_IOC_FS_INFO: %m");
	snprintf(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
	return 0;
}

static int read_sysfs(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	if ((n = read(fd, buf, size - 1)) < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* /sys/fs/btrfs/<fsid>/qgroups/<name>: that directory exists while quotas are on. */
static int qgroups_path(int fd, const char *name, char *buf, size_t size, tk_err *err)
{
	char fsid[40];
	int r;

	if ((r = btrfs_fsid(fd, fsid, sizeof(fsid), err)) < 0)
		return r;
	snprintf(buf, size, SYSFS_BTRFS "/%s/qgroups/%s", fsid, name);
	return 0;
}

/* Reads /sys/fs/btrfs/<fsid>/qgroups/<name>; -ENOENT when quotas are off. */
static int read_qgroups_file(int fd, const char *name, char *buf, size_t size, tk_err *err)
{
	char path[256];
	int r;

	if ((r = qgroups_path(fd, name, path, sizeof(path), err)) < 0)
		return r;
	if ((r = read_sysfs(path, buf, size)) < 0 && r != -ENOENT)
		return tk_err_set(err, r, "cannot read %s: %s", path, strerror(-r));
	return r;
}

static bool have_cap_sys_admin(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &header, data) < 0)
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN);
}

static int rescan_wait(int fd, tk_err *err)
{
	while (ioctl(fd, BTRFS_IOC_QUOTA_RESCAN_WAIT) < 0)
		if (errno != EINTR)
			return tk_err_set(err, -errno, "waiting for the qgroup rescan: %m");
	return 0;
}

/*
 * Makes the qgroup numbers trustworthy: waits for a rescan someone else started (its numbers are
 * partial until it ends), and rescans when the kernel says they are inconsistent.  Simple quotas
 * (mode "squota") are never inconsistent and never rescan.  A rescan reads the whole filesystem:
 * on a big one this blocks volumed for as long, which is the price of limits that hold.
 */
static int qgroups_make_consistent(int fd, tk_err *err)
{
	struct btrfs_ioctl_quota_rescan_args rescan = {};
	char value[16];
	int r;

	if ((r = rescan_wait(fd, err)) < 0)
		return r;
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((r = read_qgroups_file(fd, "inconsistent", value, sizeof(value), err)) < 0)
			return r == -ENOENT ? tk_err_set(err, r, "btrfs quotas are not enabled")
					    : r;
		if (strcmp(value, "0") == 0)
			return 0;
		log_info("btrfs qgroups are inconsistent, so limits are not enforced: rescanning");
		if (ioctl(fd, BTRFS_IOC_QUOTA_RESCAN, &rescan) < 0 && errno != EINPROGRESS)
			return tk_err_set(err, -errno, "cannot start a qgroup rescan: %m");
		if ((r = rescan_wait(fd, err)) < 0)
			return r;
	}
	return tk_err_set(err, -EIO,
			  "btrfs qgroups stay inconsistent after a rescan, so limits would not be "
			  "enforced");
}

/* Enables quotas when they are off (which starts a rescan), then makes them consistent. */
static int quota_ensure(int fd, tk_err *err)
{
	struct btrfs_ioctl_quota_ctl_args ctl = { .cmd = BTRFS_QUOTA_CTL_ENABLE };
	char path[256];
	int r;

	if ((r = qgroups_path(fd, "", path, sizeof(path), err)) < 0)
		return r;
	if (access(path, F_OK) < 0) {
		log_info("Enabling btrfs quotas on the volume root's filesystem");
		if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &ctl) < 0)
			return tk_err_set(err, -errno, "cannot enable btrfs quotas: %m");
	}
	return qgroups_make_consistent(fd, err);
}

/* The id of the subvolume fd is the top directory of; -ENOTTY when it is a plain directory. */
static int subvol_id(int fd, uint64_t *ret, tk_err *err)
{
	struct btrfs_ioctl_ino_lookup_args args = { .objectid = BTRFS_FIRST_FREE_OBJECTID };
	struct stat st;

	if (fstat(fd, &st) < 0)
		return tk_err_set(err, -errno, "fstat: %m");
	if (st.st_ino != BTRFS_FIRST_FREE_OBJECTID)
		return tk_err_set(err, -ENOTTY, "not a btrfs subvolume");
	if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) < 0)
		return tk_err_set(err, -errno, "BTRFS_IOC_INO_LOOKUP: %m");
	*ret = args.treeid;
	return 0;
}

static int qgroup_limit(int fd, uint64_t id, uint64_t bytes, tk_err *err)
{
	struct btrfs_ioctl_qgroup_limit_args args = {
		.qgroupid = id,
		.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER,
		.lim.max_rfer = bytes,
	};

	if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0)
		return tk_err_set(err, -errno,
				  "cannot limit qgroup 0/%" PRIu64 " to %" PRIu64 " bytes: %m", id,
				  bytes);
	return 0;
}

/* The qgroup of a deleted subvolume; newer kernels drop it themselves once the cleaner is done. */
static void qgroup_remove(int fd, uint64_t id)
{
	struct btrfs_ioctl_qgroup_create_args args = { .create = 0, .qgroupid = id };

	/* EBUSY: the cleaner still holds its extents; ENOENT: already gone; ENOTCONN: quotas off. */
	if (ioctl(fd, BTRFS_IOC_QGROUP_CREATE, &args) < 0 && errno != EBUSY && errno != ENOENT &&
	    errno != ENOTCONN)
		log_debug("Removing qgroup 0/%" PRIu64 ": %m (ignored)", id);
}

/* Appends the ids of the subvolumes directly inside subvolume id (ROOT_REF items). */
static int subvol_children(int fd, uint64_t id, uint64_t **ids, size_t *n, size_t *cap, tk_err *err)
{
	struct btrfs_ioctl_search_args args = {
		.key = {
			.tree_id = BTRFS_ROOT_TREE_OBJECTID,
			.min_objectid = id,
			.max_objectid = id,
			.min_type = BTRFS_ROOT_REF_KEY,
			.max_type = BTRFS_ROOT_REF_KEY,
			.max_offset = UINT64_MAX,
			.max_transid = UINT64_MAX,
		},
	};

	for (;;) {
		bool progress = false;
		size_t pos = 0;
		uint32_t found;

		args.key.nr_items = 4096;
		if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0)
			return tk_err_set(err, -errno,
					  "cannot list the subvolumes inside %" PRIu64 ": %m", id);
		if ((found = args.key.nr_items) == 0)
			return 0;
		for (uint32_t i = 0; i < found; i++) {
			struct btrfs_ioctl_search_header h;

			memcpy(&h, args.buf + pos, sizeof(h));
			pos += sizeof(h) + h.len;
			if (h.objectid != id || h.type != BTRFS_ROOT_REF_KEY)
				continue;
			if (*n == *cap) {
				uint64_t *p = reallocarray(*ids, *cap ? *cap * 2 : 16, sizeof(*p));
				if (!p)
					return tk_err_set(err, -ENOMEM, "out of memory");
				*ids = p;
				*cap = *cap ? *cap * 2 : 16;
			}
			(*ids)[(*n)++] = h.offset;
			args.key.min_offset = h.offset + 1;
			progress = true;
		}
		if (!progress || args.key.min_offset == 0) /* 0: the last offset was UINT64_MAX */
			return 0;
	}
}

static int destroy_by_id(int fd, uint64_t id, tk_err *err)
{
	struct btrfs_ioctl_vol_args_v2 args = { .flags = BTRFS_SUBVOL_SPEC_BY_ID, .subvolid = id };

	if (ioctl(fd, BTRFS_IOC_SNAP_DESTROY_V2, &args) < 0 && errno != ENOENT)
		return tk_err_set(err, -errno, "cannot delete subvolume %" PRIu64 ": %m", id);
	qgroup_remove(fd, id);
	return 0;
}

/*
 * Deletes the subvolumes a tenant made inside subvolume id, deepest first (a subvolume with
 * subvolumes inside cannot be deleted); iterative, since the nesting depth is the tenant's choice.
 */
static int destroy_nested(int fd, uint64_t id, tk_err *err)
{
	_cleanup_free_ uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int r;

	if ((r = subvol_children(fd, id, &ids, &n, &cap, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if ((r = subvol_children(fd, ids[i], &ids, &n, &cap, err)) < 0)
			return r;
	for (size_t i = n; i > 0; i--)
		if ((r = destroy_by_id(fd, ids[i - 1], err)) < 0)
			return r;
	if (n > 0)
		log_info("Deleted %zu subvolume(s) nested in subvolume %" PRIu64, n, id);
	return 0;
}

/* Deletes the subvolume name in dir_fd, with whatever is nested in it; 0 when there is none. */
static int destroy_subvol(int dir_fd, const char *name, tk_err *err)
{
	struct btrfs_ioctl_vol_args_v2 args = {};
	_cleanup_close_ int fd = -1;
	uint64_t id = 0;
	int r;

	r = tk_open_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, &fd, err);
	if (r == -ENOENT) {
		tk_err_clear(err);
		return 0;
	}
	if (r < 0 || (r = subvol_id(fd, &id, err)) < 0)
		return tk_err_wrap(err, r, "'%s'", name);
	if ((r = destroy_nested(fd, id, err)) < 0)
		return r;
	close(TAKE_FD(fd));
	snprintf(args.name, sizeof(args.name), "%s", name);
	if (ioctl(dir_fd, BTRFS_IOC_SNAP_DESTROY_V2, &args) < 0) {
		if (errno == ENOENT)
			return 0;
		/* Kernels before 5.7. */
		if (errno != ENOTTY && errno != EOPNOTSUPP)
			return tk_err_set(err, -errno, "cannot delete subvolume '%s': %m", name);
		struct btrfs_ioctl_vol_args v1 = {};
		snprintf(v1.name, sizeof(v1.name), "%s", name);
		if (ioctl(dir_fd, BTRFS_IOC_SNAP_DESTROY, &v1) < 0 && errno != ENOENT)
			return tk_err_set(err, -errno, "cannot delete subvolume '%s': %m", name);
	}
	qgroup_remove(dir_fd, id);
	return 0;
}

/* The tenant's directory, opened so that it takes ioctls. */
static int open_tenant_dir(struct manager *m, const struct volume *v, bool create, int *ret_fd,
			   tk_err *err)
{
	_cleanup_close_ int path_fd = -1;
	int r;

	if ((r = volume_tenant_dir(m, v->tenant, create, &path_fd, err)) < 0)
		return r;
	return ioctl_fd(path_fd, "the tenant's directory", ret_fd, err);
}

/* The volume's subvolume and its id; -ENOENT with "subvolume missing" when it is not there. */
static int open_subvol(struct manager *m, const struct volume *v, int *ret_fd, uint64_t *ret_id,
		       tk_err *err)
{
	_cleanup_close_ int dir_fd = -1, fd = -1;
	char path[4096];
	int r;

	volume_path(m, v, path, sizeof(path));
	r = volume_tenant_dir(m, v->tenant, false, &dir_fd, err);
	if (r >= 0)
		r = tk_open_beneath(dir_fd, v->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, &fd,
				    err);
	if (r == -ENOENT)
		return tk_err_set(err, -ENOENT, "subvolume missing: '%s' does not exist", path);
	if (r < 0 || (r = subvol_id(fd, ret_id, err)) < 0)
		return tk_err_wrap(err, r, "'%s'", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Limit, owner and mode of a subvolume that was just made; the caller undoes on failure. */
static int subvol_setup(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	uint64_t id = 0;
	int r;

	if ((r = open_subvol(m, v, &fd, &id, err)) < 0 ||
	    (r = fault_point("btrfs-limit", err)) < 0 ||
	    (r = qgroup_limit(fd, id, v->size, err)) < 0)
		return r;
	if (fchown(fd, v->uid, v->gid) < 0 || fchmod(fd, v->mode) < 0)
		return tk_err_set(err, -errno, "cannot set owner and mode of '%s': %m", v->name);
	snprintf(v->fs, sizeof(v->fs), "btrfs");
	return 0;
}

static int btrfs_probe(struct manager *m, tk_err *err)
{
	struct statfs st;

	if (fstatfs(m->root_fd, &st) < 0)
		return tk_err_set(err, -errno, "statfs of the volume root: %m");
	if (st.f_type != BTRFS_SUPER_MAGIC)
		return tk_err_set(err, -EOPNOTSUPP, "volume root is not on btrfs");
	/* Enabling quotas and setting limits both need it, even for root in a user namespace. */
	if (!have_cap_sys_admin())
		return tk_err_set(err, -EOPNOTSUPP, "btrfs qgroup limits need CAP_SYS_ADMIN");
	return 0;
}

static int btrfs_create(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	struct btrfs_ioctl_vol_args args = {};
	char path[4096];
	int r;

	if (v->fs[0] && strcmp(v->fs, "btrfs") != 0)
		return tk_err_set(err, -EOPNOTSUPP, "btrfs volumes are btrfs, not '%s'", v->fs);
	volume_path(m, v, path, sizeof(path));
	if ((r = open_tenant_dir(m, v, true, &dir_fd, err)) < 0 ||
	    (r = quota_ensure(dir_fd, err)) < 0)
		return r;
	snprintf(args.name, sizeof(args.name), "%s", v->name);
	if (ioctl(dir_fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0)
		return tk_err_set(err, -errno, "cannot create subvolume '%s': %m", path);
	if ((r = subvol_setup(m, v, err)) < 0) {
		tk_err undo = {};
		if (destroy_subvol(dir_fd, v->name, &undo) < 0)
			log_error("Undoing the create of '%s': %s", path, undo.msg);
		return r;
	}
	return 0;
}

static int btrfs_remove(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	int r;

	r = open_tenant_dir(m, v, false, &dir_fd, err);
	if (r == -ENOENT) {
		tk_err_clear(err);
		return 0;
	}
	if (r < 0 || (r = destroy_subvol(dir_fd, v->name, err)) < 0)
		return r;
	return 0;
}

static int btrfs_activate(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	uint64_t id = 0;
	int r;

	/* Quotas may have been switched off (or gone inconsistent) while volumed was not running. */
	if ((r = open_subvol(m, v, &fd, &id, err)) < 0 || (r = quota_ensure(fd, err)) < 0 ||
	    (r = qgroup_limit(fd, id, v->size, err)) < 0)
		return r;
	snprintf(v->fs, sizeof(v->fs), "btrfs");
	return 0;
}

static int btrfs_resize(struct manager *m, struct volume *v, uint64_t size, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	uint64_t id = 0;
	int r;

	if ((r = open_subvol(m, v, &fd, &id, err)) < 0 || (r = quota_ensure(fd, err)) < 0)
		return r;
	return qgroup_limit(fd, id, size, err);
}

/*
 * Bytes are the qgroup's referenced bytes (data and the subvolume's own tree blocks), as the
 * limit counts them, as of the last transaction commit (at most commit= seconds, 30, old).  btrfs keeps no count of a subvolume's inodes (counting means walking its
 * tree) and has no inode limit, so both inode numbers are reported as 0.
 */
static int btrfs_usage(struct manager *m, const struct volume *v, struct volume_usage *ret,
		       tk_err *err)
{
	_cleanup_close_ int fd = -1;
	char name[64], value[32], *end;
	uint64_t id = 0;
	int r;

	if ((r = open_subvol(m, v, &fd, &id, err)) < 0)
		return r;
	snprintf(name, sizeof(name), "0_%" PRIu64 "/referenced", id);
	if ((r = read_qgroups_file(fd, name, value, sizeof(value), err)) < 0)
		return r == -ENOENT ? tk_err_set(err, r, "btrfs quotas are not enabled") : r;
	errno = 0;
	ret->used_bytes = strtoull(value, &end, 10);
	if (errno || end == value)
		return tk_err_set(err, -EIO, "unexpected qgroup value '%s'", value);
	ret->used_inodes = ret->total_inodes = 0;
	return 0;
}

static int btrfs_snapshot(struct manager *m, const struct volume *src, struct volume *dst,
			  tk_err *err)
{
	_cleanup_close_ int dir_fd = -1, src_fd = -1;
	struct btrfs_ioctl_vol_args_v2 args = {};
	uint64_t src_id = 0;
	char path[4096];
	int r;

	volume_path(m, dst, path, sizeof(path));
	if ((r = open_subvol(m, src, &src_fd, &src_id, err)) < 0 ||
	    (r = open_tenant_dir(m, dst, true, &dir_fd, err)) < 0 ||
	    (r = quota_ensure(dir_fd, err)) < 0)
		return r;
	args.fd = src_fd;
	snprintf(args.name, sizeof(args.name), "%s", dst->name);
	if (ioctl(dir_fd, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0)
		return tk_err_set(err, -errno, "cannot snapshot '%s' as '%s': %m", src->name, path);
	/* Snapshotting is one of the things that can leave the qgroup numbers inconsistent. */
	if ((r = qgroups_make_consistent(dir_fd, err)) < 0 || (r = subvol_setup(m, dst, err)) < 0) {
		tk_err undo = {};
		if (destroy_subvol(dir_fd, dst->name, &undo) < 0)
			log_error("Undoing the snapshot '%s': %s", path, undo.msg);
		return r;
	}
	return 0;
}

const struct backend backend_btrfs = {
	.name = "btrfs",
	.probe = btrfs_probe,
	.create = btrfs_create,
	.remove = btrfs_remove,
	.activate = btrfs_activate,
	.resize = btrfs_resize,
	.usage = btrfs_usage,
	.snapshot = btrfs_snapshot,
};
