/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The btrfs backend: a subvolume per volume at <root>/<tenant>/<volume>, with a level-1 qgroup
 * 1/<subvolume id> of its own that holds the volume's size as its limit (max_rfer) and has the
 * subvolume's level-0 qgroup 0/<id> as a member.  libbtrfsutil can neither enable quotas nor set
 * limits, so this speaks the ioctls directly.
 *
 * Why a level-1 qgroup: any user may create a subvolume (or a snapshot of one they own) inside
 * their volume, and that subvolume gets a level-0 qgroup of its own.  With simple quotas (squota,
 * Linux 6.7), which volumed enables when quotas are off, the kernel puts a subvolume created
 * inside subvolume S into the level-1 qgroups 0/S belongs to, at any depth, so what the tenant
 * writes there counts against the volume's limit.  Verified on 6.18: 4M in the volume plus a
 * nested subvolume filled until EDQUOT stop at 16M for a 16M volume; a snapshot that the tenant
 * takes of its volume into the volume counts the same way.  activate() and resize() also adopt
 * nested subvolumes that are not members (made before, or made to escape; see below).
 *
 * What does not hold:
 * - With full qgroups (someone else enabled quotas, or a kernel without simple quotas) nothing
 *   adopts a nested subvolume when it is made: it escapes the limit until the next activate or
 *   resize.  volumed says so at start.
 * - BTRFS_IOC_SUBVOL_CREATE_V2 and BTRFS_IOC_SNAP_CREATE_V2 take an explicit qgroup inherit list
 *   from any user, no capability needed; an empty one turns the automatic parent off, so such a
 *   subvolume escapes until the next activate or resize (and one naming another volume's 1/<id>
 *   charges that volume).  Only a seccomp filter on those two ioctls in the tenant's containers
 *   closes this.
 * - Simple quotas charge an extent to the subvolume that wrote it, for as long as it exists:
 *   data a volume.snapshot shares with its source counts against the source, and once the source
 *   is deleted against no volume.  Data written before quotas were enabled never counts.
 *
 * qgroup limits are only as good as the qgroup numbers: once full qgroups are marked inconsistent
 * (after some snapshot or relation changes, or an unclean quota state) they stop meaning
 * anything, so every operation that depends on them checks the status and rescans first.  Simple
 * quotas are never inconsistent.
 *
 * remove() deletes subvolumes nested in a volume first, so they cannot block a delete.
 *
 * A subvolume is a directory of the root's filesystem: create, snapshot and activate bind it onto
 * itself nosuid,nodev (volume_bind_inert), as loop volumes are mounted, and remove unmounts that.
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

/*
 * Debian 12's uapi headers predate simple quotas: the kernel's include/uapi/linux/btrfs.h defines
 * this cmd of BTRFS_IOC_QUOTA_CTL as 4 since Linux 6.7.  Older kernels answer EINVAL.
 */
#ifndef BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA
#define BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA 4
#endif
/* A limit of this many bytes lifts it (the kernel's CLEAR_VALUE). */
#define QGROUP_NO_LIMIT UINT64_MAX
#define QGROUP_FMT	"%" PRIu64 "/%" PRIu64
#define QGROUP_ARGS(q)                                                                             \
	(uint64_t)((q) >> BTRFS_QGROUP_LEVEL_SHIFT),                                               \
		(uint64_t)((q) & ((1ULL << BTRFS_QGROUP_LEVEL_SHIFT) - 1))

static const char full_mode_hole[] =
	"a subvolume that a tenant creates inside its volume escapes the volume's limit with full "
	"qgroups (not simple quotas)";

/* The volume's level-1 qgroup 1/<subvolume id>, which holds its limit. */
static uint64_t group_of(uint64_t id)
{
	return (1ULL << BTRFS_QGROUP_LEVEL_SHIFT) | id;
}

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

/* 1 when quotas are on as simple quotas, 0 when on as full qgroups, -ENOENT when off. */
static int quota_simple(int fd, tk_err *err)
{
	char path[256], mode[32];
	int r;

	if ((r = qgroups_path(fd, "", path, sizeof(path), err)) < 0)
		return r;
	if (access(path, F_OK) < 0)
		return -ENOENT;
	/* Kernels before 6.7 have no "mode" file, and only full qgroups. */
	r = read_qgroups_file(fd, "mode", mode, sizeof(mode), err);
	if (r == -ENOENT) {
		tk_err_clear(err);
		return 0;
	}
	return r < 0 ? r : strcmp(mode, "squota") == 0;
}

/*
 * Enables quotas when they are off, as simple quotas where the kernel has them (see the top), then
 * makes them consistent.  1 when it enabled them.
 */
static int quota_ensure(int fd, tk_err *err)
{
	struct btrfs_ioctl_quota_ctl_args ctl = { .cmd = BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA };
	int r;

	if ((r = quota_simple(fd, err)) != -ENOENT)
		return r < 0 ? r : qgroups_make_consistent(fd, err);
	tk_err_clear(err);
	log_info("Enabling btrfs simple quotas on the volume root's filesystem");
	if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &ctl) < 0) {
		if (errno != EINVAL)
			return tk_err_set(err, -errno, "cannot enable btrfs simple quotas: %m");
		log_warning("This kernel has no btrfs simple quotas, enabling full qgroups: %s",
			    full_mode_hole);
		ctl.cmd = BTRFS_QUOTA_CTL_ENABLE; /* which starts a rescan */
		if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &ctl) < 0)
			return tk_err_set(err, -errno, "cannot enable btrfs quotas: %m");
	}
	return (r = qgroups_make_consistent(fd, err)) < 0 ? r : 1;
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

/*
 * max_rfer: with simple quotas a qgroup's referenced and exclusive bytes are the same number (what
 * its members wrote), with full qgroups referenced counts data shared with a snapshot in full.
 */
static int qgroup_limit(int fd, uint64_t qgroup, uint64_t bytes, tk_err *err)
{
	struct btrfs_ioctl_qgroup_limit_args args = {
		.qgroupid = qgroup,
		.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER,
		.lim.max_rfer = bytes,
	};

	if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0)
		return tk_err_set(err, -errno,
				  "cannot limit qgroup " QGROUP_FMT " to %" PRIu64 " bytes: %m",
				  QGROUP_ARGS(qgroup), bytes);
	return 0;
}

static int qgroup_create(int fd, uint64_t qgroup, tk_err *err)
{
	struct btrfs_ioctl_qgroup_create_args args = { .create = 1, .qgroupid = qgroup };

	if (ioctl(fd, BTRFS_IOC_QGROUP_CREATE, &args) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create qgroup " QGROUP_FMT ": %m",
				  QGROUP_ARGS(qgroup));
	return 0;
}

/* With full qgroups the kernel may mark the numbers inconsistent: the caller rescans. */
static int qgroup_assign(int fd, uint64_t child, uint64_t parent, bool assign, tk_err *err)
{
	struct btrfs_ioctl_qgroup_assign_args args = { .assign = assign,
						       .src = child,
						       .dst = parent };

	if (ioctl(fd, BTRFS_IOC_QGROUP_ASSIGN, &args) < 0 && errno != (assign ? EEXIST : ENOENT))
		return tk_err_set(err, -errno,
				  "cannot %s qgroup " QGROUP_FMT " %s " QGROUP_FMT ": %m",
				  assign ? "assign" : "unassign", QGROUP_ARGS(child),
				  assign ? "to" : "from", QGROUP_ARGS(parent));
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

/* Appends the offsets of the items (id, type, *) in tree to ids. */
static int tree_offsets(int fd, uint64_t tree, uint64_t id, uint32_t type, uint64_t **ids,
			size_t *n, size_t *cap, tk_err *err)
{
	struct btrfs_ioctl_search_args args = {
		.key = {
			.tree_id = tree,
			.min_objectid = id,
			.max_objectid = id,
			.min_type = type,
			.max_type = type,
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
			return -errno;
		if ((found = args.key.nr_items) == 0)
			return 0;
		for (uint32_t i = 0; i < found; i++) {
			struct btrfs_ioctl_search_header h;

			memcpy(&h, args.buf + pos, sizeof(h));
			pos += sizeof(h) + h.len;
			if (h.objectid != id || h.type != type)
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

/* The ids of the subvolumes inside subvolume id at any depth, parents before children. */
static int subvol_nested(int fd, uint64_t id, uint64_t **ids, size_t *n, tk_err *err)
{
	size_t cap = 0;
	int r;

	*ids = NULL;
	*n = 0;
	/* ROOT_REF items: (parent, ROOT_REF, child) in the root tree. */
	r = tree_offsets(fd, BTRFS_ROOT_TREE_OBJECTID, id, BTRFS_ROOT_REF_KEY, ids, n, &cap, err);
	for (size_t i = 0; r >= 0 && i < *n; i++)
		r = tree_offsets(fd, BTRFS_ROOT_TREE_OBJECTID, (*ids)[i], BTRFS_ROOT_REF_KEY, ids,
				 n, &cap, err);
	if (r < 0 && r != -ENOMEM)
		return tk_err_set(err, r, "cannot list the subvolumes inside %" PRIu64 ": %s", id,
				  strerror(-r));
	return r;
}

/*
 * fd: the tenant's directory, not the volume.  Creating and assigning qgroups start a transaction
 * in the subvolume of fd, which reserves space in its qgroups: in a full volume, EDQUOT.
 *
 * Makes qgroup 1/<id> hold the volume's limit, with 0/<id> and every subvolume nested in the
 * volume as members, and lifts any limit of 0/<id> (where volumed used to put it).  Idempotent,
 * so it also repairs what an admin or a tenant changed.
 */
static int group_setup(int fd, uint64_t id, uint64_t size, tk_err *err)
{
	_cleanup_free_ uint64_t *ids = NULL;
	size_t n = 0;
	int r;

	if ((r = qgroup_create(fd, group_of(id), err)) < 0 ||
	    (r = qgroup_assign(fd, id, group_of(id), true, err)) < 0 ||
	    (r = subvol_nested(fd, id, &ids, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		/* ENOENT: being deleted. */
		r = qgroup_assign(fd, ids[i], group_of(id), true, err);
		if (r == -ENOENT)
			tk_err_clear(err);
		else if (r < 0)
			return r;
	}
	if ((r = qgroup_limit(fd, group_of(id), size, err)) < 0 ||
	    (r = qgroup_limit(fd, id, QGROUP_NO_LIMIT, err)) < 0)
		return r;
	return qgroups_make_consistent(fd, err);
}

/*
 * Drops the volume's level-1 qgroup, after its subvolumes.  Its members go first: the kernel keeps
 * a qgroup that has any, and a deleted subvolume's 0/<id> lives on while a snapshot shares its
 * data (simple quotas) or until the cleaner is done.
 */
static void group_remove(int fd, uint64_t id)
{
	struct btrfs_ioctl_qgroup_create_args args = { .create = 0, .qgroupid = group_of(id) };
	_cleanup_free_ uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int r;

	/* (parent, QGROUP_RELATION, child) and (child, QGROUP_RELATION, parent) in the quota tree. */
	r = tree_offsets(fd, BTRFS_QUOTA_TREE_OBJECTID, group_of(id), BTRFS_QGROUP_RELATION_KEY,
			 &ids, &n, &cap, NULL);
	if (r == -ENOENT) /* quotas are off */
		return;
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (ids[i] < group_of(id))
			r = qgroup_assign(fd, ids[i], group_of(id), false, NULL);
	if (r < 0 ||
	    (ioctl(fd, BTRFS_IOC_QGROUP_CREATE, &args) < 0 && errno != ENOENT && errno != ENOTCONN))
		log_warning("Cannot remove qgroup " QGROUP_FMT ", ignoring: %s",
			    QGROUP_ARGS(group_of(id)), strerror(r < 0 ? -r : errno));
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
 * Deleting a subvolume reserves metadata in the qgroups of the one it is in, so in a full volume
 * it fails with EDQUOT: the limit is lifted meanwhile, and set to size again on failure.
 */
static int destroy_nested(int fd, uint64_t id, uint64_t size, tk_err *err)
{
	_cleanup_free_ uint64_t *ids = NULL;
	size_t n = 0;
	int r;

	if ((r = subvol_nested(fd, id, &ids, &n, err)) < 0 || n == 0)
		return r;
	(void)qgroup_limit(fd, group_of(id), QGROUP_NO_LIMIT, NULL);
	for (size_t i = n; i > 0; i--)
		if ((r = destroy_by_id(fd, ids[i - 1], err)) < 0) {
			tk_err again = {};
			if (qgroup_limit(fd, group_of(id), size, &again) < 0)
				log_error("%s", again.msg);
			return r;
		}
	log_info("Deleted %zu subvolume(s) nested in subvolume %" PRIu64, n, id);
	return 0;
}

/*
 * Deletes the subvolume name in dir_fd, with whatever is nested in it and its qgroups; 0 when
 * there is none.  size: its limit, in case it has to be set again.
 */
static int destroy_subvol(int dir_fd, const char *name, uint64_t size, tk_err *err)
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
	if ((r = destroy_nested(fd, id, size, err)) < 0)
		return r;
	close(TAKE_FD(fd));
	snprintf(args.name, sizeof(args.name), "%s", name);
	if (ioctl(dir_fd, BTRFS_IOC_SNAP_DESTROY_V2, &args) < 0) {
		if (errno == ENOENT)
			goto qgroups;
		/* Kernels before 5.7. */
		if (errno != ENOTTY && errno != EOPNOTSUPP)
			return tk_err_set(err, -errno, "cannot delete subvolume '%s': %m", name);
		struct btrfs_ioctl_vol_args v1 = {};
		snprintf(v1.name, sizeof(v1.name), "%s", name);
		if (ioctl(dir_fd, BTRFS_IOC_SNAP_DESTROY, &v1) < 0 && errno != ENOENT)
			return tk_err_set(err, -errno, "cannot delete subvolume '%s': %m", name);
	}
qgroups:
	qgroup_remove(dir_fd, id);
	group_remove(dir_fd, id);
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
	_cleanup_close_ int dir_fd = -1, fd = -1;
	uint64_t id = 0;
	int r;

	if ((r = open_subvol(m, v, &fd, &id, err)) < 0 ||
	    (r = open_tenant_dir(m, v, false, &dir_fd, err)) < 0 ||
	    (r = fault_point("btrfs-limit", err)) < 0 ||
	    (r = group_setup(dir_fd, id, v->size, err)) < 0)
		return r;
	if (fchown(fd, v->uid, v->gid) < 0 || fchmod(fd, v->mode) < 0)
		return tk_err_set(err, -errno, "cannot set owner and mode of '%s': %m", v->name);
	snprintf(v->fs, sizeof(v->fs), "btrfs");
	return 0;
}

/* Says at start (and in --check) when limits will not cover nested subvolumes; changes nothing. */
static void warn_full_mode(struct manager *m)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (ioctl_fd(m->root_fd, "the volume root", &fd, NULL) < 0)
		return;
	r = quota_simple(fd, NULL);
	if (r == 0)
		log_warning("btrfs quotas are on as full qgroups under '%s' (enabled by someone "
			    "else): %s",
			    m->root, full_mode_hole);
	else if (r == -ENOENT && access(SYSFS_BTRFS "/features/simple_quota", F_OK) < 0)
		log_warning("This kernel has no btrfs simple quotas (Linux 6.7), so volumed will "
			    "enable full qgroups: %s",
			    full_mode_hole);
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
	warn_full_mode(m);
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
	if (ioctl(dir_fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0) {
		v->adopted = errno == EEXIST; /* not ours: the create's undo leaves it */
		return tk_err_set(err, -errno, "cannot create subvolume '%s': %m", path);
	}
	if ((r = subvol_setup(m, v, err)) < 0 || (r = volume_bind_inert(m, v, err)) < 0) {
		tk_err undo = {};
		if (volume_unbind(m, v, &undo) < 0 ||
		    destroy_subvol(dir_fd, v->name, v->size, &undo) < 0)
			log_error("Undoing the create of '%s': %s", path, undo.msg);
		return r;
	}
	return 0;
}

static int btrfs_remove(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	int r;

	if (v->state == VOLUME_CREATING && v->adopted)
		return 0;
	r = open_tenant_dir(m, v, false, &dir_fd, err);
	if (r == -ENOENT) {
		tk_err_clear(err);
		return 0;
	}
	/* A mount point cannot be deleted: its inert bind goes first, and comes back if it stays. */
	if (r < 0 || (r = volume_unbind(m, v, err)) < 0)
		return r;
	if ((r = fault_point("volume-unbound", err)) < 0 ||
	    (r = destroy_subvol(dir_fd, v->name, v->size, err)) < 0)
		volume_rebind_inert(m, v);
	return r < 0 ? r : 0;
}

static int btrfs_activate(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1, fd = -1;
	uint64_t id = 0;
	int r;

	/* Quotas may have been switched off (or gone inconsistent) while volumed was not running. */
	if ((r = open_subvol(m, v, &fd, &id, err)) < 0 ||
	    (r = open_tenant_dir(m, v, false, &dir_fd, err)) < 0 ||
	    (r = quota_ensure(dir_fd, err)) < 0)
		return r;
	if (r > 0)
		log_warning("btrfs quotas were off: what volume '%s' held before is not counted "
			    "against its size (simple quotas count what is written after they are "
			    "enabled)",
			    v->name);
	/* The bind does not survive a reboot, or a restart in a mount namespace of volumed's own. */
	if ((r = group_setup(dir_fd, id, v->size, err)) < 0 ||
	    (r = volume_bind_inert(m, v, err)) < 0)
		return r;
	snprintf(v->fs, sizeof(v->fs), "btrfs");
	return 0;
}

static int btrfs_resize(struct manager *m, struct volume *v, uint64_t size, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1, fd = -1;
	uint64_t id = 0;
	int r;

	if ((r = open_subvol(m, v, &fd, &id, err)) < 0 ||
	    (r = open_tenant_dir(m, v, false, &dir_fd, err)) < 0 ||
	    (r = quota_ensure(dir_fd, err)) < 0)
		return r;
	return group_setup(dir_fd, id, size, err);
}

/*
 * Bytes are the level-1 qgroup's referenced bytes (data and tree blocks of the volume and what is
 * nested in it), as the limit counts them, as of the last transaction commit (at most commit=
 * seconds, 30, old).  btrfs keeps no count of a subvolume's inodes (counting means walking its
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
	snprintf(name, sizeof(name), "1_%" PRIu64 "/referenced", id);
	if ((r = read_qgroups_file(fd, name, value, sizeof(value), err)) < 0)
		return r == -ENOENT ? tk_err_set(err, r,
						 "btrfs quotas are off, or qgroup 1/%" PRIu64
						 " is missing",
						 id)
				    : r;
	errno = 0;
	ret->used_bytes = strtoull(value, &end, 10);
	if (errno || end == value)
		return tk_err_set(err, -EIO, "unexpected qgroup value '%s'", value);
	ret->used_inodes = ret->total_inodes = 0;
	ret->source = "qgroup";
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
	/* Snapshots can leave full qgroups inconsistent: subvol_setup() rescans after its changes. */
	if ((r = subvol_setup(m, dst, err)) < 0 || (r = volume_bind_inert(m, dst, err)) < 0) {
		tk_err undo = {};
		if (volume_unbind(m, dst, &undo) < 0 ||
		    destroy_subvol(dir_fd, dst->name, dst->size, &undo) < 0)
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
