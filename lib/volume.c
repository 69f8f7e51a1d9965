/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "volume.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

static const struct {
	const char *suffix;
	unsigned shift;
} units[] = {
	{ "", 0 },    { "B", 0 },    { "K", 10 }, { "KB", 10 }, { "KIB", 10 }, { "M", 20 },
	{ "MB", 20 }, { "MIB", 20 }, { "G", 30 }, { "GB", 30 }, { "GIB", 30 }, { "T", 40 },
	{ "TB", 40 }, { "TIB", 40 }, { "P", 50 }, { "PB", 50 }, { "PIB", 50 },
};

int tk_size_parse(const char *s, uint64_t *ret, tk_err *err)
{
	char suffix[8];
	uint64_t v = 0;
	size_t i = 0, n;

	if (!isdigit((unsigned char)s[0]))
		return tk_err_set(err, -EINVAL,
				  "size '%s' must start with a digit (like 512M or 10G)", s);
	for (; isdigit((unsigned char)s[i]); i++) {
		if (v > (UINT64_MAX >> 1) / 10)
			return tk_err_set(err, -ERANGE, "size '%s' is too large", s);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	n = strlen(s + i);
	if (n >= sizeof(suffix))
		return tk_err_set(err, -EINVAL, "size '%s' has an unknown unit", s);
	memcpy(suffix, s + i, n + 1);
	for (char *c = suffix; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	for (size_t u = 0; u < ELEMENTSOF(units); u++) {
		if (strcmp(suffix, units[u].suffix) != 0)
			continue;
		if (v == 0)
			return tk_err_set(err, -EINVAL, "size '%s' must not be zero", s);
		if (v > (UINT64_MAX >> 1) >> units[u].shift)
			return tk_err_set(err, -ERANGE, "size '%s' is too large", s);
		*ret = v << units[u].shift;
		return 0;
	}
	return tk_err_set(err, -EINVAL, "size '%s' has an unknown unit (use K, M, G, T or P)", s);
}

int tk_size_from_json(json_t *j, const char *what, uint64_t *ret, tk_err *err)
{
	int r;

	if (json_is_integer(j) && json_integer_value(j) > 0) {
		*ret = (uint64_t)json_integer_value(j);
		return 0;
	}
	if (!json_is_string(j))
		return tk_err_set(err, -EINVAL,
				  "%s must be a positive number of bytes or a size like \"512M\"",
				  what);
	if ((r = tk_size_parse(json_string_value(j), ret, err)) < 0)
		return tk_err_wrap(err, r, "%s", what);
	return 0;
}

const char *tk_size_format(uint64_t bytes, char *buf, size_t size)
{
	static const char letters[] = "KMGTP";
	int u = -1;

	while (u < 4 && bytes != 0 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%llu", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%llu%c", (unsigned long long)bytes, letters[u]);
	return buf;
}

/*
 * Without openat2 (Linux < 5.6, or valgrind, which does not know it): one component at a time,
 * each opened with O_NOFOLLOW, refusing "..", "." and absolute paths.  Same result for the
 * names volumed builds; magic links cannot occur without a /proc component.
 */
long tk_open_beneath_walk(int dirfd, const char *name, int flags, mode_t mode)
{
	_cleanup_free_ char *copy = strdup(name);
	_cleanup_close_ int parent = -1;
	char *component, *next, *save = NULL;
	int at = dirfd;

	if (!copy)
		return -ENOMEM;
	if (name[0] == '/')
		return -EXDEV;
	for (component = strtok_r(copy, "/", &save); component; component = next) {
		next = strtok_r(NULL, "/", &save);
		if (strcmp(component, "..") == 0 || strcmp(component, ".") == 0)
			return -EXDEV;
		int fd = next ? openat(at, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			      : openat(at, component, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0) {
			struct stat st;
			int e = errno;
			/* O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR: say what it is. */
			if (e == ENOTDIR && fstatat(at, component, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				e = ELOOP;
			return -e;
		}
		closep(&parent);
		parent = fd;
		at = fd;
	}
	return parent >= 0 ? TAKE_FD(parent) : -EINVAL;
}

int tk_open_beneath(int dirfd, const char *name, int flags, mode_t mode, int *ret_fd, tk_err *err)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS &&
	    (fd = tk_open_beneath_walk(dirfd, name, flags, how.mode)) < 0)
		errno = (int)-fd;
	if (fd < 0) {
		if (errno == EXDEV)
			return tk_err_set(err, -EXDEV, "'%s' leads outside its directory", name);
		if (errno == ELOOP)
			return tk_err_set(err, -ELOOP, "'%s' goes through a symbolic link", name);
		return tk_err_set(err, -errno, "cannot open '%s': %m", name);
	}
	*ret_fd = (int)fd;
	return 0;
}

const char *tk_backend_for(long fs_type, bool xfs_project_quota)
{
	if (fs_type == BTRFS_SUPER_MAGIC)
		return "btrfs";
	if (fs_type == XFS_SUPER_MAGIC && xfs_project_quota)
		return "xfs";
	return "loop";
}

static uint64_t le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Offsets from fs/ext4/ext4.h (struct ext4_super_block, at byte 1024 of the image). */
static int ext4_usage(const uint8_t *sb, struct tk_fs_usage *ret, tk_err *err)
{
	const bool is64 = le(sb + 0x60, 4) & 0x80; /* INCOMPAT_64BIT */
	uint64_t blocks = le(sb + 0x4, 4), free_blocks = le(sb + 0xc, 4),
		 overhead = le(sb + 0x248, 4), inodes = le(sb + 0x0, 4),
		 free_inodes = le(sb + 0x10, 4), log_block = le(sb + 0x18, 4);

	if (is64) {
		blocks |= le(sb + 0x150, 4) << 32;
		free_blocks |= le(sb + 0x158, 4) << 32;
	}
	if (log_block > 6 || free_blocks + overhead > blocks || free_inodes > inodes)
		return tk_err_set(err, -EUCLEAN, "the ext4 superblock does not add up");
	ret->fs = "ext4";
	ret->used_bytes = (blocks - free_blocks - overhead) << (10 + log_block);
	ret->total_bytes = (blocks - overhead) << (10 + log_block);
	ret->used_inodes = inodes - free_inodes;
	ret->total_inodes = inodes;
	return 0;
}

/* Offsets from fs/xfs/libxfs/xfs_format.h (struct xfs_dsb, big-endian, at byte 0). */
static int xfs_usage(const uint8_t *sb, struct tk_fs_usage *ret, tk_err *err)
{
	uint64_t block = be(sb + 4, 4), dblocks = be(sb + 8, 8), logstart = be(sb + 48, 8),
		 logblocks = be(sb + 96, 4), icount = be(sb + 128, 8), ifree = be(sb + 136, 8),
		 fdblocks = be(sb + 144, 8);

	if (logstart == 0)
		logblocks = 0; /* an external log takes nothing of the data device */
	if (block < 512 || block > 65536 || fdblocks + logblocks > dblocks || ifree > icount)
		return tk_err_set(err, -EUCLEAN, "the xfs superblock does not add up");
	ret->fs = "xfs";
	ret->used_bytes = (dblocks - logblocks - fdblocks) * block;
	ret->total_bytes = (dblocks - logblocks) * block;
	ret->used_inodes = icount - ifree;
	ret->total_inodes = 0; /* xfs allocates inodes as it goes: no fixed number */
	return 0;
}

int tk_superblock_usage(const void *buf, size_t len, struct tk_fs_usage *ret, tk_err *err)
{
	const uint8_t *p = buf;

	if (len >= 4 && memcmp(p, "XFSB", 4) == 0 && len >= 160)
		return xfs_usage(p, ret, err);
	if (len >= 2048 && le(p + 1024 + 0x38, 2) == 0xef53)
		return ext4_usage(p + 1024, ret, err);
	return tk_err_set(err, -EMEDIUMTYPE, "neither an ext4 nor an xfs superblock");
}
