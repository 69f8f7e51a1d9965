/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Pure helpers for volumed: sizes as people write them, and opening paths so that nothing in
 * them (symlinks, "..", magic links) can lead outside the directory they are meant to be in.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/*
 * "4096", "512K", "512M", "10G", "1T" (also "512MiB", "10GB": powers of 1024 either way, as
 * Docker's size options mean them).  Zero, negative numbers, fractions, unknown suffixes and
 * values that do not fit in 63 bits are refused with -EINVAL / -ERANGE.
 */
int tk_size_parse(const char *s, uint64_t *ret, tk_err *err);
/* A size in JSON: a positive integer of bytes or a string for tk_size_parse; what names it. */
int tk_size_from_json(json_t *j, const char *what, uint64_t *ret, tk_err *err);
/* The largest unit that divides bytes exactly: 536870912 -> "512M", 1000 -> "1000". */
const char *tk_size_format(uint64_t bytes, char *buf, size_t size);

/*
 * openat2(dirfd, name, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): the
 * result is inside dirfd's tree whatever name holds.  -EXDEV for an escape ("..", absolute
 * paths), -ELOOP for a symlink anywhere in the path.
 */
int tk_open_beneath(int dirfd, const char *name, int flags, mode_t mode, int *ret_fd, tk_err *err);
/* Its fallback where openat2 is missing (ENOSYS): a new fd, or -errno. */
long tk_open_beneath_walk(int dirfd, const char *name, int flags, mode_t mode);

/*
 * The backend for volumes under a root on a filesystem of type fs_type (statfs f_type): the
 * filesystem's own quotas where it has them (btrfs; XFS when project quotas are enforced), a
 * loop image per volume everywhere else.
 */
const char *tk_backend_for(long fs_type, bool xfs_project_quota);

/*
 * What a filesystem image uses, read from its superblock alone (no mount, no e2fsprogs), for a
 * loop volume that is not mounted.  buf holds the image's first 4096 bytes.  ext4: the data
 * blocks in use as statfs counts them (blocks - free - the overhead mkfs recorded; with no
 * overhead recorded, metadata is included), inodes in use and in all.  xfs: data blocks in use
 * outside an internal log, inodes allocated and free.  The counts are those of the last time the
 * filesystem wrote its superblock: exact after a clean unmount.  -EMEDIUMTYPE for anything else.
 */
struct tk_fs_usage {
	const char *fs; /* "ext4", "xfs" */
	uint64_t used_bytes, total_bytes, used_inodes, total_inodes;
};
int tk_superblock_usage(const void *buf, size_t len, struct tk_fs_usage *ret, tk_err *err);
