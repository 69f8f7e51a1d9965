/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the backends share: running the filesystem tools (mkfs, resize2fs) that have no library
 * interface, and making directory volumes (btrfs, xfs) as inert as mounted loop volumes.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "volume.h"
#include "volumed.h"

extern char **environ;

int run_program(const char *const argv[], tk_err *err)
{
	_cleanup_close_ int out_r = -1, out_w = -1;
	posix_spawn_file_actions_t actions;
	char output[400] = "";
	size_t len = 0;
	int pipefd[2], status, r;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return tk_err_set(err, -errno, "pipe: %m");
	out_r = pipefd[0];
	out_w = pipefd[1];
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, out_w, 1);
	posix_spawn_file_actions_adddup2(&actions, out_w, 2);
	/* posix_spawnp only reads argv; its prototype predates const. */
	r = posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	if (r != 0)
		return tk_err_set(err, -r, "cannot run %s: %s", argv[0], strerror(r));
	close(TAKE_FD(out_w));
	/* Keep the start of the output: tools print the reason first. */
	while ((n = read(out_r, output + len, sizeof(output) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
		if (len == sizeof(output) - 1) {
			char sink[4096];
			while (read(out_r, sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	output[len] = '\0';
	while (len && (output[len - 1] == '\n' || output[len - 1] == ' '))
		output[--len] = '\0';
	for (char *p = output; *p; p++)
		if (*p == '\n')
			*p = ' ';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return tk_err_set(err, -errno, "waiting for %s: %m", argv[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return tk_err_set(err, -EIO, "%s failed (exit %d): %s", argv[0],
				  WEXITSTATUS(status), output);
	return tk_err_set(err, -EIO, "%s killed by signal %d", argv[0], WTERMSIG(status));
}

/* The volume's directory, opened beneath its tenant's directory (a mount on it is crossed). */
static int open_volume(struct manager *m, const struct volume *v, int *ret_fd, tk_err *err)
{
	_cleanup_close_ int dir_fd = -1;
	int r;

	if ((r = volume_tenant_dir(m, v->tenant, false, &dir_fd, err)) < 0)
		return r;
	return tk_open_beneath(dir_fd, v->name, O_PATH | O_DIRECTORY, 0, ret_fd, err);
}

static bool fd_is_inert(int fd)
{
	struct statvfs st;

	return fstatvfs(fd, &st) == 0 && (st.f_flag & ST_NOSUID) && (st.f_flag & ST_NODEV);
}

int volume_is_inert(struct manager *m, const struct volume *v)
{
	_cleanup_close_ int fd = -1;
	int r;

	if ((r = open_volume(m, v, &fd, NULL)) < 0)
		return r;
	return fd_is_inert(fd);
}

/*
 * Sets nosuid,nodev on the mount fd is the top of (attached or not), keeping its other flags;
 * with mount_setattr(2) (5.12), else with a bind remount, which keeps ro and noexec as statvfs
 * reports them and the atime flags.
 */
static int set_inert(int fd, const char *path, tk_err *err)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV;
	char target[64];
	struct statvfs st;

	if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0)
		return 0;
	if (errno != ENOSYS)
		return tk_err_set(err, -errno, "cannot make '%s' nosuid,nodev: %m", path);
	if (fstatvfs(fd, &st) < 0)
		return tk_err_set(err, -errno, "statvfs '%s': %m", path);
	flags |= (st.f_flag & ST_RDONLY ? MS_RDONLY : 0) | (st.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(NULL, target, NULL, flags, NULL) < 0)
		return tk_err_set(err, -errno, "cannot remount '%s' nosuid,nodev: %m", path);
	return 0;
}

/*
 * Binds the directory fd onto itself.  With the new mount API the bind is made detached, made
 * nosuid,nodev there and only then attached: the copies that mount propagation makes at attach
 * time (in mount namespaces that are slaves of volumed's) carry the flags too.  Without it (before
 * 5.12) the bind is made and remounted, and such copies stay without them.
 */
static int bind_inert(int fd, const char *path, tk_err *err)
{
	_cleanup_close_ int tree =
		open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	char target[64];
	int r;

	if (tree >= 0) {
		if ((r = set_inert(tree, path, err)) < 0)
			return r;
		if (move_mount(tree, "", fd, "",
			       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			return tk_err_set(err, -errno, "cannot mount '%s' onto itself: %m", path);
		return 0;
	}
	if (errno != ENOSYS)
		return tk_err_set(err, -errno, "cannot clone the mount of '%s': %m", path);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(target, target, NULL, MS_BIND, NULL) < 0)
		return tk_err_set(err, -errno, "cannot bind '%s' onto itself: %m", path);
	return 1;
}

/*
 * A btrfs subvolume or an xfs project directory is only a directory of the root's filesystem, so
 * setuid files and device nodes that a rootful container leaves in it would work for host users.
 * Binds the directory onto itself nosuid,nodev, then makes the bind private, so that mounts made
 * later beneath the volume do not propagate into the root filesystem's peer group.  Nothing to do
 * when the directory already sits on a nosuid,nodev mount (its own bind, or a root mounted so);
 * a mount point that is not (someone's plain bind) is made so.  Containers bind-mount the
 * volume's path, which resolves to this mount, flags included.
 */
int volume_bind_inert(struct manager *m, const struct volume *v, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	char path[4096], target[64];
	int r;

	volume_path(m, v, path, sizeof(path));
	if ((r = open_volume(m, v, &fd, err)) < 0)
		return tk_err_wrap(err, r, "'%s'", path);
	if (fd_is_inert(fd))
		return 0;
	r = path_is_mounted(path, NULL, 0) ? 1 : bind_inert(fd, path, err);
	if (r < 0)
		return r;
	/* fd is the directory below the new mount: open its top. */
	close(TAKE_FD(fd));
	if ((r = open_volume(m, v, &fd, err)) < 0)
		return tk_err_wrap(err, r, "'%s'", path);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if ((!fd_is_inert(fd) && (r = set_inert(fd, path, err)) < 0) ||
	    (mount(NULL, target, NULL, MS_PRIVATE, NULL) < 0 &&
	     (r = tk_err_set(err, -errno, "cannot make the mount of '%s' private: %m", path)) <
		     0)) {
		if (umount2(target, MNT_DETACH) < 0)
			log_debug("Unmounting '%s': %m", path);
		return r;
	}
	return 0;
}

/* After a delete that failed past volume_unbind(): what is left of the volume stays inert. */
void volume_rebind_inert(struct manager *m, const struct volume *v)
{
	tk_err err = {};

	if (volume_bind_inert(m, v, &err) < 0)
		log_error("Cannot bind '%s' nosuid,nodev again (the next start will): %s", v->name,
			  err.msg);
}

/* Unmounts whatever is mounted on the volume's path (its inert bind), so that it can go. */
int volume_unbind(struct manager *m, const struct volume *v, tk_err *err)
{
	char path[4096];

	volume_path(m, v, path, sizeof(path));
	while (path_is_mounted(path, NULL, 0))
		if (umount2(path, UMOUNT_NOFOLLOW) < 0 &&
		    umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
			return tk_err_set(err, -errno, "cannot unmount '%s': %m", path);
	return 0;
}
