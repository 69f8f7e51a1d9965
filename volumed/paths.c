/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where volumes live.  Names were validated on the way in; opening beneath the root makes sure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "volume.h"
#include "volumed.h"

static int open_subdir(int dirfd, const char *name, mode_t mode, bool create, int *ret_fd,
		       tk_err *err)
{
	if (create && mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create directory '%s': %m", name);
	return tk_open_beneath(dirfd, name, O_PATH | O_DIRECTORY, 0, ret_fd, err);
}

/*
 * 0711, like the root (manager.c): rootless podman runs as the tenant's uid, which is no owner or
 * group of these directories, and must still traverse them to reach its volume, so others keep
 * search (x) permission.  They lose read: nobody lists tenants or volumes.  What a host user could
 * reach through them is what a volume's own mode allows, and a setuid file or a device node a
 * rootful container left in a volume is inert, because every volume is on a nosuid,nodev mount
 * (loop volumes as mounted, btrfs and xfs through volume_bind_inert()).
 */
int volume_tenant_dir(struct manager *m, const struct tk_tenant *t, bool create, int *ret_fd,
		      tk_err *err)
{
	return open_subdir(m->root_fd, t->name, 0711, create, ret_fd, err);
}

int volume_image_dir(struct manager *m, const struct tk_tenant *t, bool create, int *ret_fd,
		     tk_err *err)
{
	_cleanup_close_ int images_fd = -1;
	int r;

	/* Tenant names cannot start with '.', so ".images" never meets a tenant's directory. */
	if ((r = open_subdir(m->root_fd, ".images", 0700, create, &images_fd, err)) < 0)
		return r;
	return open_subdir(images_fd, t->name, 0700, create, ret_fd, err);
}

int volume_path(const struct manager *m, const struct volume *v, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s/%s", m->root, v->tenant->name, v->name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

bool path_is_mounted(const char *path, char *source, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		char *fields[5], *save = NULL, *sep, *tok;
		int n = 0;

		/* Only the first five fields: the rest is searched for " - " below, untouched. */
		while (n < 5 && (tok = strtok_r(n ? NULL : line, " \n", &save)))
			fields[n++] = tok;
		if (n < 5)
			continue;
		unescape_octal(fields[4]);
		if (strcmp(fields[4], path) != 0)
			continue;
		/* The last mount on a path is the visible one: keep reading. */
		found = true;
		if (source && size && (sep = strstr(save ? save : "", " - "))) {
			char fstype[64], src[4096];
			if (sscanf(sep, " - %63s %4095s", fstype, src) == 2) {
				unescape_octal(src);
				snprintf(source, size, "%s", src);
			}
		}
	}
	return found;
}
