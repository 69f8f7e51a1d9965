/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The loop backend: a sparse image file per volume under <root>/.images/<tenant>/, attached to a
 * loop device with LOOP_CONFIGURE (autoclear, direct I/O), formatted once, mounted at the
 * volume's path.  The filesystem's capacity is the hard limit; mounting with "discard" makes
 * deleted data punch holes in the image, so the host only pays for what is stored.
 */
#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "volume.h"
#include "volumed.h"

/* Mount options every volume gets: a tenant's files never act as devices or setuid programs. */
#define VOLUME_MOUNT_FLAGS (MS_NOSUID | MS_NODEV)
/* mkfs.xfs refuses anything smaller. */
#define XFS_SIZE_MIN (300ULL << 20)
/*
 * mkfs.ext4's smallest journal is 1024 blocks (4M), and an image that holds it is bigger than
 * the tenant asked for: a smaller volume would hold about 4M whatever its size (measured on
 * Debian 12: 1M, 2M and 3M volumes took 4M, 5M and 6M of data; from 4M on, exactly the size).
 */
#define EXT4_SIZE_MIN (4ULL << 20)

static void blkid_free_probep(blkid_probe *pr)
{
	if (*pr)
		blkid_free_probe(*pr);
}

static int image_name(const struct volume *v, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s.img", v->name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int image_path(const struct manager *m, const struct volume *v, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/.images/%s/%s.img", m->root, v->tenant->name,
			     v->name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * 1 and the type and UUID when fd holds a filesystem, 0 when it holds nothing libblkid knows,
 * -EUCLEAN when the signatures contradict each other.
 */
static int probe_filesystem(int fd, char *type, size_t type_size, char *uuid, size_t uuid_size,
			    tk_err *err)
{
	_cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe();
	const char *value;
	int r;

	if (!pr || blkid_probe_set_device(pr, fd, 0, 0) < 0)
		return tk_err_set(err, -ENOMEM, "cannot set up libblkid");
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID);
	r = blkid_do_safeprobe(pr);
	if (r == 1)
		return 0;
	if (r == -2)
		return tk_err_set(err, -EUCLEAN, "the image holds contradicting signatures");
	if (r < 0)
		return tk_err_set(err, -EIO, "libblkid cannot probe the image");
	type[0] = uuid[0] = '\0';
	if (blkid_probe_lookup_value(pr, "TYPE", &value, NULL) == 0)
		snprintf(type, type_size, "%s", value);
	if (blkid_probe_lookup_value(pr, "UUID", &value, NULL) == 0)
		snprintf(uuid, uuid_size, "%s", value);
	return 1;
}

static int read_sysfs_line(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Whether loop device dev is backed by the file st describes (its device and inode). */
static bool loop_backed_by(const char *dev, const struct stat *st)
{
	_cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
	struct loop_info64 info;

	return fd >= 0 && ioctl(fd, LOOP_GET_STATUS64, &info) == 0 &&
	       info.lo_device == (uint64_t)st->st_dev && info.lo_inode == (uint64_t)st->st_ino;
}

/*
 * The loop device ("/dev/loopN") backed by image, found through sysfs; -ENOENT when none.
 * sysfs names the backing file by its path in the attacher's mount namespace, so the same path
 * in another namespace (another volumed's root) may be another file: the inode decides.
 */
static int find_loop_device(const char *image, char *dev, size_t size)
{
	_cleanup_(closedirp) DIR *d = opendir("/sys/block");
	struct dirent *de;
	struct stat st;

	if (!d)
		return -errno;
	if (stat(image, &st) < 0)
		return -errno;
	while ((de = readdir(d))) {
		char path[300 + sizeof(de->d_name)], backing[4096], name[32];
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		if (read_sysfs_line(path, backing, sizeof(backing)) < 0 ||
		    strcmp(backing, image) != 0)
			continue;
		snprintf(name, sizeof(name), "/dev/%.16s", de->d_name);
		if (!loop_backed_by(name, &st))
			continue;
		snprintf(dev, size, "%s", name);
		return 0;
	}
	return -ENOENT;
}

static int loop_direct_io(const char *dev)
{
	/* "" so that scan-build, which takes -errno for possibly 0, sees nothing read as "off". */
	char path[64], value[8] = "";

	snprintf(path, sizeof(path), "/sys/block/%s/loop/dio", dev + strlen("/dev/"));
	if (read_sysfs_line(path, value, sizeof(value)) < 0)
		return -1;
	return value[0] == '1';
}

/* How long a detach may take before volumed reports the device as stuck. */
#define LOOP_DETACH_TIMEOUT_MS 10000

/* What dev ("/dev/loopN") is bound to, as sysfs says; -ENOENT once it is free. */
static int loop_backing(const char *dev, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", dev + strlen("/dev/"));
	return read_sysfs_line(path, buf, size);
}

/*
 * Detaches dev and waits until the kernel has let go of it.  Autoclear and LOOP_CLR_FD both
 * detach only at the last close, which is not ours when another process has the device open
 * for a moment (another daemon that was handed the same free device, a tool listing loop
 * devices, a filesystem still being unmounted): without the wait, a failed create answered
 * while its device was still bound.  own_fd (closed here) is our descriptor of dev, or -1.
 */
static int loop_detach(const char *dev, int own_fd, tk_err *err)
{
	_cleanup_close_ int fd = own_fd;
	char bound[4096], now[4096];

	if (loop_backing(dev, bound, sizeof(bound)) < 0)
		return 0;
	if (fd < 0)
		fd = open(dev, O_RDONLY | O_CLOEXEC);
	/* ENXIO: the kernel is detaching it already. */
	if (fd >= 0 && ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
		return tk_err_set(err, -errno, "cannot detach %s: %m", dev);
	if (fd >= 0)
		close(TAKE_FD(fd));
	for (int ms = 0; ms < LOOP_DETACH_TIMEOUT_MS; ms += 10) {
		/* Free, or already bound again by someone else to another file. */
		if (loop_backing(dev, now, sizeof(now)) < 0 || strcmp(now, bound) != 0)
			return 0;
		usleep(10 * 1000);
	}
	return tk_err_set(err, -EBUSY,
			  "%s is still attached to '%s' after %d s: another process holds it open",
			  dev, bound, LOOP_DETACH_TIMEOUT_MS / 1000);
}

/*
 * Unmounts everything on path; when busy, lazily (then the device stays until its users go)
 * if lazy, else not at all: -EBUSY.
 */
static int unmount_all(const char *path, bool lazy, tk_err *err)
{
	while (path_is_mounted(path, NULL, 0)) {
		if (umount2(path, UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EBUSY && !lazy)
			return tk_err_set(err, -EBUSY,
					  "'%s' is in use: a process has a file or directory open "
					  "in it; stop it and retry",
					  path);
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
			return tk_err_set(err, -errno, "cannot unmount '%s': %m", path);
	}
	return 0;
}

/* The pre-5.8 way, for kernels without LOOP_CONFIGURE. */
static int loop_set_fd(int loop_fd, const struct loop_config *config)
{
	struct loop_info64 info = config->info;

	if (ioctl(loop_fd, LOOP_SET_FD, config->fd) < 0)
		return -errno;
	info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
	if (ioctl(loop_fd, LOOP_SET_STATUS64, &info) < 0) {
		int r = -errno;
		ioctl(loop_fd, LOOP_CLR_FD, 0);
		return r;
	}
	(void)ioctl(loop_fd, LOOP_SET_DIRECT_IO, 1UL);
	return 0;
}

static int loop_configure(int loop_fd, struct loop_config *config)
{
	if (ioctl(loop_fd, LOOP_CONFIGURE, config) == 0)
		return 0;
	if (errno == EINVAL && (config->info.lo_flags & LO_FLAGS_DIRECT_IO)) {
		/* Kernels that refuse direct I/O the backing file cannot do: go buffered. */
		config->info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
		if (ioctl(loop_fd, LOOP_CONFIGURE, config) == 0)
			return 0;
	}
	if (errno == EINVAL || errno == ENOTTY)
		return loop_set_fd(loop_fd, config);
	return -errno;
}

/*
 * Attaches image_fd to a free loop device with autoclear, so the device goes away by itself once
 * the volume is unmounted and the returned fd is closed.
 */
static int loop_attach(int image_fd, const char *image, char *dev, size_t size, int *ret_fd,
		       tk_err *err)
{
	_cleanup_close_ int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	struct loop_config config = {
		.fd = (uint32_t)image_fd,
		.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO,
	};

	if (control < 0)
		return tk_err_set(err, -errno, "cannot open /dev/loop-control: %m");
	/* Informational only (64 bytes): sysfs backing_file is what identifies the image. */
	memcpy(config.info.lo_file_name, image,
	       strnlen(image, sizeof(config.info.lo_file_name) - 1));
	/* Another process can take the free device between GET_FREE and CONFIGURE: retry. */
	for (int attempt = 0; attempt < 64; attempt++) {
		_cleanup_close_ int fd = -1;
		int n = ioctl(control, LOOP_CTL_GET_FREE), r;

		if (n < 0)
			return tk_err_set(err, -errno, "no free loop device: %m");
		snprintf(dev, size, "/dev/loop%d", n);
		if ((fd = open(dev, O_RDWR | O_CLOEXEC)) < 0)
			return tk_err_set(err, -errno, "cannot open %s: %m", dev);
		r = loop_configure(fd, &config);
		if (r == -EBUSY)
			continue;
		if (r < 0)
			return tk_err_set(err, r, "cannot attach %s to %s: %s", image, dev,
					  strerror(-r));
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
	return tk_err_set(err, -EBUSY, "every free loop device was taken by someone else");
}

/* Journal and inode tables are kept small: the volume's size is for the tenant's data. */
static uint64_t journal_mib(uint64_t size)
{
	uint64_t mib = size >> 26; /* 1/64 of the volume */
	return mib < 4 ? 4 : mib > 128 ? 128 : mib;
}

/*
 * ext4 with the options below: the journal, inode tables and bitmaps (under 1/128), and the
 * clusters ext4 keeps back for delayed allocation (2%, at most 4096 blocks).  fit_capacity()
 * corrects what this misses.
 */
static uint64_t image_size_guess(uint64_t size)
{
	uint64_t reserve = size / 50 < (16ULL << 20) ? size / 50 : 16ULL << 20;
	return size + (journal_mib(size) << 20) + size / 128 + reserve;
}

static int make_filesystem(const struct volume *v, const char *dev, tk_err *err)
{
	char journal[32];

	snprintf(journal, sizeof(journal), "size=%llu", (unsigned long long)journal_mib(v->size));
	if (strcmp(v->fs, "xfs") == 0) {
		const char *const argv[] = { "mkfs.xfs", "-q", "-K", "-L", "tenantkit", dev, NULL };
		return run_program(argv, err);
	}
	/* -m 0: no blocks reserved for root, so the limit the tenant meets is the size asked. */
	const char *const argv[] = { "mkfs.ext4",
				     "-q",
				     "-F",
				     "-m",
				     "0",
				     "-b",
				     "4096",
				     "-i",
				     "65536",
				     "-J",
				     journal,
				     "-E",
				     "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
				     dev,
				     NULL };
	return run_program(argv, err);
}

/* From fs/ext4/ext4.h: not in the uapi headers. */
#ifndef EXT4_IOC_RESIZE_FS
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)
#endif

static int mount_volume(struct manager *m, const struct volume *v, const char *dev,
			const char *path, tk_err *err);

/*
 * ext4 grows online only with CAP_SYS_RESOURCE, which some hosts withhold even from root.  Then
 * the volume is grown offline, if nobody has it open; a loop fd of ours keeps the device
 * (autoclear) across the unmount.
 */
static int grow_ext4_offline(struct manager *m, const struct volume *v, const char *dev,
			     const char *path, bool *ret_grown, tk_err *err)
{
	_cleanup_close_ int hold = open(dev, O_RDONLY | O_CLOEXEC);
	const char *const fsck[] = { "e2fsck", "-f", "-p", dev, NULL };
	const char *const resize[] = { "resize2fs", dev, NULL };
	int r;

	if (hold < 0)
		return tk_err_set(err, -errno, "cannot open %s: %m", dev);
	if (umount2(path, UMOUNT_NOFOLLOW) < 0)
		return tk_err_set(err, errno == EBUSY ? -EBUSY : -errno,
				  "'%s' is in use, and this host does not let volumed grow ext4 "
				  "online (no CAP_SYS_RESOURCE): stop its users and retry (%m)",
				  v->name);
	r = run_program(fsck, err);
	if (r >= 0 && (r = run_program(resize, err)) >= 0)
		*ret_grown = true;
	/* Not mounted again, it is mounted at the next Mount (loop_activate), or by the next start. */
	if (mount_volume(m, v, dev, path, r < 0 ? NULL : err) < 0 && r >= 0)
		r = -EIO;
	return r;
}

/* Grows the filesystem to bytes; *ret_grown: it did, whatever failed after (a remount). */
static int grow_filesystem(struct manager *m, const struct volume *v, const char *dev,
			   const char *path, uint64_t bytes, bool *ret_grown, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	struct statvfs st;
	uint64_t blocks;
	int r;

	if (strcmp(v->fs, "xfs") == 0) {
		const char *const argv[] = { "xfs_growfs", path, NULL };
		if ((r = run_program(argv, err)) >= 0)
			*ret_grown = true;
		return r;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstatvfs(fd, &st) < 0)
		return tk_err_set(err, -errno, "cannot open '%s': %m", path);
	blocks = bytes / st.f_bsize;
	if (ioctl(fd, EXT4_IOC_RESIZE_FS, &blocks) == 0) {
		*ret_grown = true;
		return 0;
	}
	/* resize2fs can finish offline whatever the kernel refused (EPERM: no CAP_SYS_RESOURCE). */
	log_full_errno(errno == EPERM ? LOG_DEBUG : LOG_WARNING, -errno,
		       "Growing '%s' online failed (%m): growing it offline", v->name);
	close(TAKE_FD(fd));
	return grow_ext4_offline(m, v, dev, path, ret_grown, err);
}

/*
 * Mounts on the mount point as opened beneath the volume root, so a symlink planted anywhere on
 * the path cannot send the mount elsewhere.
 */
static int mount_volume(struct manager *m, const struct volume *v, const char *dev,
			const char *path, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1, fd = -1;
	char target[64];
	int r;

	if ((r = volume_tenant_dir(m, v->tenant, false, &dir_fd, err)) < 0 ||
	    (r = tk_open_beneath(dir_fd, v->name, O_PATH | O_DIRECTORY, 0, &fd, err)) < 0)
		return r;
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(dev, target, v->fs, VOLUME_MOUNT_FLAGS, "discard") < 0)
		return tk_err_set(err, -errno, "cannot mount %s (%s) on '%s': %m", dev, v->fs,
				  path);
	return 0;
}

/* Sets the ownership and mode of the volume's top directory, through the mount. */
static int set_owner(const struct volume *v, const char *path, tk_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fchown(fd, v->uid, v->gid) < 0 || fchmod(fd, v->mode) < 0)
		return tk_err_set(err, -errno, "cannot set owner and mode of '%s': %m", path);
	return 0;
}

/*
 * What the tenant can store: the free space it may use, plus what it already uses unless the
 * filesystem is new (then "used" is the filesystem's own, like xfs's log).
 */
static int capacity_of(const char *path, bool fresh, uint64_t *ret, tk_err *err)
{
	struct statvfs st;

	if (statvfs(path, &st) < 0)
		return tk_err_set(err, -errno, "statvfs '%s': %m", path);
	*ret = (uint64_t)(st.f_bavail + (fresh ? 0 : st.f_blocks - st.f_bfree)) * st.f_frsize;
	return 0;
}

/*
 * Grows the image by delta bytes and tells the loop device and the filesystem.  When the
 * filesystem did not grow, the image and the device shrink back: a filesystem grows to its
 * device's size, so the next grow would hand the tenant this one's room as well as its own.
 * *ret_grown: the filesystem grew, whatever failed after.
 */
static int grow_image(struct manager *m, const struct volume *v, int image_fd, const char *dev,
		      const char *path, uint64_t delta, bool *ret_grown, tk_err *err)
{
	_cleanup_close_ int loop_fd = -1;
	bool grown = false;
	struct stat st;
	int r;

	if (fstat(image_fd, &st) < 0 || ftruncate(image_fd, st.st_size + (off_t)delta) < 0)
		return tk_err_set(err, -errno, "cannot grow the image of '%s': %m", v->name);
	if ((loop_fd = open(dev, O_RDONLY | O_CLOEXEC)) < 0 ||
	    ioctl(loop_fd, LOOP_SET_CAPACITY, 0) < 0)
		r = tk_err_set(err, -errno, "cannot update the capacity of %s: %m", dev);
	else if ((r = grow_filesystem(m, v, dev, path, (uint64_t)st.st_size + delta, &grown,
				      err)) >= 0 ||
		 grown) {
		*ret_grown |= grown;
		return r;
	}
	if (ftruncate(image_fd, st.st_size) < 0 ||
	    (loop_fd >= 0 && ioctl(loop_fd, LOOP_SET_CAPACITY, 0) < 0))
		log_warning("Cannot shrink the image of '%s' back to %lld bytes: %m", v->name,
			    (long long)st.st_size);
	return r;
}

/*
 * The filesystem's own metadata (journal, inode tables, ext4's reserve for delayed allocation)
 * comes on top of the size asked for, so the tenant can store what it asked for and not
 * noticeably more: measure what the filesystem made of the image and grow it by what is missing.
 */
static int fit_capacity(struct manager *m, const struct volume *v, int image_fd, const char *dev,
			const char *path, uint64_t target, bool fresh, bool *ret_grown, tk_err *err)
{
	for (int round = 0; round < 4; round++) {
		uint64_t capacity = 0;
		int r;

		if ((r = capacity_of(path, fresh, &capacity, err)) < 0)
			return r;
		if (capacity + target / 400 >= target)
			return 0;
		/* Metadata grows with the filesystem: ask for a little more than is missing. */
		if ((r = grow_image(m, v, image_fd, dev, path, target - capacity + target / 800,
				    ret_grown, err)) < 0)
			return r;
	}
	return 0;
}

static int open_image(struct manager *m, const struct volume *v, int flags, int *ret_fd,
		      tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	char name[TK_NAME_MAX + 8];
	int fd, r;

	if ((r = volume_image_dir(m, v->tenant, flags & O_CREAT, &dir_fd, err)) < 0)
		return r;
	image_name(v, name, sizeof(name));
	fd = openat(dir_fd, name, flags | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return tk_err_set(err, -errno, "cannot open the image of '%s': %m", v->name);
	*ret_fd = fd;
	return 0;
}

static int unlink_image(struct manager *m, const struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	char name[TK_NAME_MAX + 8];
	int r;

	if ((r = volume_image_dir(m, v->tenant, false, &dir_fd, NULL)) == -ENOENT)
		return 0;
	if (r < 0)
		return tk_err_set(err, r, "cannot open the image directory of '%s'", v->name);
	image_name(v, name, sizeof(name));
	if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
		return tk_err_set(err, -errno, "cannot remove the image of '%s': %m", v->name);
	return 0;
}

static int remove_mountpoint(struct manager *m, const struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	int r;

	if ((r = volume_tenant_dir(m, v->tenant, false, &dir_fd, NULL)) == -ENOENT)
		return 0;
	if (r < 0)
		return tk_err_set(err, r, "cannot open the directory of tenant '%s'",
				  v->tenant->name);
	if (unlinkat(dir_fd, v->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return tk_err_set(err, -errno, "cannot remove the mount point of '%s': %m",
				  v->name);
	return 0;
}

static int make_mountpoint(struct manager *m, const struct volume *v, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	int r;

	if ((r = volume_tenant_dir(m, v->tenant, true, &dir_fd, err)) < 0)
		return r;
	if (mkdirat(dir_fd, v->name, 0755) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create the mount point of '%s': %m",
				  v->name);
	return 0;
}

/* Detaches v's device after a failure, which is what gets reported; clears v->device. */
static void loop_detach_logged(struct volume *v, int own_fd)
{
	tk_err err = {};

	if (v->device[0] && loop_detach(v->device, own_fd, &err) < 0)
		log_warning("Cleaning up after '%s': %s", v->name, err.msg);
	else if (!v->device[0] && own_fd >= 0)
		close(own_fd);
	v->device[0] = '\0';
}

/* Attaches the image, makes sure it holds a filesystem (never formatting one that does). */
static int attach_and_format(struct manager *m, struct volume *v, int image_fd, bool may_format,
			     int *ret_loop_fd, tk_err *err)
{
	_cleanup_close_ int loop_fd = -1;
	char image[4096], type[sizeof(v->fs)];
	int r;

	image_path(m, v, image, sizeof(image));
	if ((r = loop_attach(image_fd, image, v->device, sizeof(v->device), &loop_fd, err)) < 0) {
		v->device[0] = '\0';
		return r;
	}
	r = probe_filesystem(loop_fd, type, sizeof(type), v->uuid, sizeof(v->uuid), err);
	if (r < 0)
		goto fail;
	if (r == 0 && !may_format) {
		r = tk_err_set(err, -EUCLEAN, "the image of '%s' holds no filesystem", v->name);
		goto fail;
	}
	if (r == 0) {
		if ((r = make_filesystem(v, v->device, err)) < 0)
			goto fail;
		r = probe_filesystem(loop_fd, type, sizeof(type), v->uuid, sizeof(v->uuid), err);
		if (r == 0)
			r = tk_err_set(err, -EIO, "no filesystem on %s after mkfs", v->device);
		if (r < 0)
			goto fail;
	} else {
		log_info("Image of '%s' already holds %s %s: keeping it", v->name, type, v->uuid);
	}
	snprintf(v->fs, sizeof(v->fs), "%s", type);
	v->direct_io = loop_direct_io(v->device);
	*ret_loop_fd = TAKE_FD(loop_fd);
	return 0;
fail:
	loop_detach_logged(v, TAKE_FD(loop_fd));
	return r;
}

static int loop_probe(struct manager *m, tk_err *err)
{
	(void)m;
	if (access("/dev/loop-control", R_OK | W_OK) < 0)
		return tk_err_set(err, -errno, "no /dev/loop-control: %m");
	return 0;
}

static int loop_create(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int image_fd = -1, loop_fd = -1;
	char path[4096];
	struct stat st;
	bool had_image;
	int r;

	if (!v->fs[0])
		snprintf(v->fs, sizeof(v->fs), "ext4");
	if (strcmp(v->fs, "ext4") != 0 && strcmp(v->fs, "xfs") != 0)
		return tk_err_set(err, -EOPNOTSUPP,
				  "the loop backend formats ext4 or xfs, not '%s'", v->fs);
	volume_path(m, v, path, sizeof(path));
	if ((r = open_image(m, v, O_CREAT, &image_fd, err)) < 0)
		return r;
	if (fstat(image_fd, &st) < 0)
		return tk_err_set(err, -errno, "fstat: %m");
	v->adopted = had_image = st.st_size > 0;
	if (!had_image && ftruncate(image_fd, (off_t)image_size_guess(v->size)) < 0) {
		r = tk_err_set(err, -errno, "cannot size the image of '%s': %m", v->name);
		goto fail;
	}
	if ((r = fault_point("loop-attach", err)) < 0 ||
	    (r = attach_and_format(m, v, image_fd, true, &loop_fd, err)) < 0 ||
	    (r = fault_point("loop-mount", err)) < 0 || (r = make_mountpoint(m, v, err)) < 0 ||
	    (r = mount_volume(m, v, v->device, path, err)) < 0)
		goto fail;
	if ((r = fit_capacity(m, v, image_fd, v->device, path, v->size, true, &(bool){ false },
			      err)) < 0 ||
	    (r = set_owner(v, path, err)) < 0) {
		(void)unmount_all(path, true, NULL);
		goto fail;
	}
	return 0;
fail:
	/* The device is free before the reply (see loop_detach); an image we did not make stays. */
	if (loop_fd >= 0)
		loop_detach_logged(v, TAKE_FD(loop_fd));
	if (!had_image)
		unlink_image(m, v, NULL);
	remove_mountpoint(m, v, NULL);
	v->device[0] = '\0';
	return r;
}

static int loop_remove(struct manager *m, struct volume *v, tk_err *err)
{
	char path[4096], image[4096], dev[32];
	int r;

	volume_path(m, v, path, sizeof(path));
	image_path(m, v, image, sizeof(image));
	/*
	 * Never lazily: a process that kept the filesystem could go on writing to an image whose
	 * bytes the tenant no longer pays for, and do it again with the next volume.
	 */
	if ((r = unmount_all(path, false, err)) < 0)
		return r;
	/*
	 * A crash between attach and mount leaves a device that autoclear never releases.  One
	 * still attached after the unmount is held by a mount of its filesystem in another mount
	 * namespace (a container's, made without Docker's Mount): the volume is mounted again,
	 * from the same device, and stays.
	 */
	if (find_loop_device(image, dev, sizeof(dev)) == 0 && (r = loop_detach(dev, -1, err)) < 0) {
		tk_err again = {};

		if (mount_volume(m, v, dev, path, &again) < 0)
			log_error("Cannot mount '%s' again: %s", v->name, again.msg);
		return tk_err_wrap(err, r, "'%s' is still mounted in another mount namespace",
				   v->name);
	}
	/*
	 * The mount point first: a directory that is not empty (written to while the volume was
	 * unmounted by hand) keeps the image, and the volume stays whole, mounted again by its next
	 * Mount (loop_activate() makes the mount point again too).
	 */
	if ((r = remove_mountpoint(m, v, err)) < 0)
		return r;
	/* The undo of a create that found its image there keeps it, as the create's own does. */
	if (!(v->state == VOLUME_CREATING && v->adopted) && (r = unlink_image(m, v, err)) < 0)
		return r;
	v->device[0] = '\0';
	return 0;
}

static int loop_activate(struct manager *m, struct volume *v, tk_err *err)
{
	_cleanup_close_ int image_fd = -1, loop_fd = -1;
	char path[4096], image[4096];
	int r;

	volume_path(m, v, path, sizeof(path));
	image_path(m, v, image, sizeof(image));
	if (path_is_mounted(path, v->device, sizeof(v->device))) {
		v->direct_io = loop_direct_io(v->device);
		return 0;
	}
	/*
	 * Still attached: its filesystem is mounted in another mount namespace (a container's), or
	 * a crash came between attach and mount.  Mounted from that device: a second one would be
	 * a second filesystem on the same image, and corrupt it.
	 */
	if (find_loop_device(image, v->device, sizeof(v->device)) == 0) {
		if ((r = make_mountpoint(m, v, err)) < 0 ||
		    (r = mount_volume(m, v, v->device, path, err)) < 0)
			return r;
		v->direct_io = loop_direct_io(v->device);
		return 0;
	}
	if ((r = open_image(m, v, 0, &image_fd, err)) < 0)
		return r == -ENOENT ? tk_err_set(err, r, "image '%s' is missing", image) : r;
	if ((r = attach_and_format(m, v, image_fd, false, &loop_fd, err)) < 0)
		return r;
	if ((r = make_mountpoint(m, v, err)) < 0 ||
	    (r = mount_volume(m, v, v->device, path, err)) < 0) {
		loop_detach_logged(v, TAKE_FD(loop_fd));
		return r;
	}
	return 0;
}

static int loop_resize(struct manager *m, struct volume *v, uint64_t size, tk_err *err)
{
	_cleanup_close_ int image_fd = -1;
	bool grown = false;
	char path[4096];
	int r;

	volume_path(m, v, path, sizeof(path));
	if (!v->device[0] || !path_is_mounted(path, NULL, 0))
		return tk_err_set(err, -EIO, "'%s' is not mounted, so it cannot grow online",
				  v->name);
	if ((r = open_image(m, v, 0, &image_fd, err)) < 0)
		return r;
	r = fit_capacity(m, v, image_fd, v->device, path, size, false, &grown, err);
	if (r >= 0 && (r = fault_point("loop-grown", err)) < 0)
		grown = true;
	/* A filesystem does not shrink back: what grew part way counts as grown in full. */
	if (r < 0 && grown)
		v->size = size;
	return r;
}

/*
 * Not mounted where it belongs (unmounted by hand, or its mount failed at start): the numbers of
 * the filesystem's superblock, read from the image with nothing attached or mounted.  They are
 * as of the last time the filesystem wrote its superblock, exact after a clean unmount.
 */
static int image_usage(struct manager *m, const struct volume *v, struct volume_usage *ret,
		       tk_err *err)
{
	_cleanup_close_ int dir_fd = -1, fd = -1;
	char name[TK_NAME_MAX + 8];
	struct tk_fs_usage u = {};
	uint8_t buf[4096];
	ssize_t n;
	int r;

	if ((r = volume_image_dir(m, v->tenant, false, &dir_fd, err)) < 0)
		return r;
	image_name(v, name, sizeof(name));
	if ((fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return tk_err_set(err, -errno, "cannot open the image of '%s': %m", v->name);
	if ((n = pread(fd, buf, sizeof(buf), 0)) < 0)
		return tk_err_set(err, -errno, "cannot read the image of '%s': %m", v->name);
	if ((r = tk_superblock_usage(buf, (size_t)n, &u, err)) < 0)
		return tk_err_wrap(err, r, "the image of '%s'", v->name);
	ret->used_bytes = u.used_bytes;
	ret->used_inodes = u.used_inodes;
	ret->total_inodes = u.total_inodes;
	ret->source = "superblock";
	return 0;
}

/* From fs/xfs/libxfs/xfs_fs.h: not in the uapi headers. */
struct xfs_fsop_resblks {
	uint64_t resblks, resblks_avail;
};
#ifndef XFS_IOC_GET_RESBLKS
#define XFS_IOC_GET_RESBLKS _IOR('X', 115, struct xfs_fsop_resblks)
#endif

/*
 * statfs of the mounted filesystem when the volume's path is the top of its loop device's
 * mount (the same device: a path statfs-ed after an unmount would report the volume root's
 * filesystem), else its superblock.  "Used" excludes what ext4 and xfs count as overhead
 * (journal, inode tables, an internal log), which the image holds beyond the volume's size, and
 * xfs's reserve pool (5% up to 32M, held back from statfs's free blocks while mounted and
 * given back to the superblock's count on unmount), so both ways count the same.
 */
static int loop_usage(struct manager *m, const struct volume *v, struct volume_usage *ret,
		      tk_err *err)
{
	_cleanup_close_ int dir_fd = -1, fd = -1;
	struct xfs_fsop_resblks res = {};
	struct stat dir, dev;
	struct statvfs st;

	if (v->device[0] && stat(v->device, &dev) == 0 && S_ISBLK(dev.st_mode) &&
	    volume_tenant_dir(m, v->tenant, false, &dir_fd, NULL) >= 0 &&
	    tk_open_beneath(dir_fd, v->name, O_RDONLY | O_DIRECTORY, 0, &fd, NULL) >= 0 &&
	    fstat(fd, &dir) == 0 && dir.st_dev == dev.st_rdev && fstatvfs(fd, &st) == 0) {
		uint64_t used = (uint64_t)(st.f_blocks - st.f_bfree) * st.f_frsize, reserve = 0;
		if (strcmp(v->fs, "xfs") == 0 && ioctl(fd, XFS_IOC_GET_RESBLKS, &res) == 0)
			reserve = res.resblks_avail * st.f_bsize;
		ret->used_bytes = used > reserve ? used - reserve : 0;
		ret->total_inodes = st.f_files;
		ret->used_inodes = st.f_files - st.f_ffree;
		ret->source = "statfs";
		return 0;
	}
	return image_usage(m, v, ret, err);
}

static uint64_t loop_min_size(const char *fs, const char **ret_why)
{
	if (strcmp(fs, "xfs") == 0) {
		*ret_why = "mkfs.xfs refuses smaller filesystems";
		return XFS_SIZE_MIN;
	}
	*ret_why = "the ext4 journal needs 4M";
	return EXT4_SIZE_MIN;
}

const struct backend backend_loop = {
	.name = "loop",
	.probe = loop_probe,
	.create = loop_create,
	.remove = loop_remove,
	.activate = loop_activate,
	.ensure = loop_activate,
	.resize = loop_resize,
	.usage = loop_usage,
	.min_size = loop_min_size,
};
