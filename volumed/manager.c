/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager: owns the database, the volume root and the in-memory model. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "volume.h"
#include "volumed.h"

int manager_open(struct manager *m, tk_err *err)
{
	int r;

	if (mkdir(m->state_dir, 0700) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create state directory '%s': %m",
				  m->state_dir);
	if (mkdir(m->root, 0711) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create volume root '%s': %m", m->root);
	m->root_fd = open(m->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (m->root_fd < 0)
		return tk_err_set(err, -errno, "cannot open volume root '%s': %m", m->root);
	m->started = time(NULL);
	if ((r = db_open(m, err)) < 0)
		return tk_err_wrap(err, r, "opening state database in '%s'", m->state_dir);
	if ((r = db_load(m, err)) < 0)
		return tk_err_wrap(err, r, "loading state");
	return 0;
}

void manager_close(struct manager *m)
{
	while (m->volumes) {
		struct volume *v = m->volumes;
		m->volumes = v->next;
		free(v);
	}
	while (m->tenants) {
		struct vtenant *t = m->tenants;
		m->tenants = t->next;
		free(t);
	}
	m->store = tk_store_close(m->store);
	if (m->root_fd >= 0)
		close(m->root_fd);
	m->root_fd = -1;
}

struct vtenant *manager_tenant(struct manager *m, const char *name)
{
	for (struct vtenant *t = m->tenants; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

struct volume *manager_volume(struct manager *m, const char *name)
{
	for (struct volume *v = m->volumes; v; v = v->next)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

int caller_may_manage(const struct tk_caller *c, const struct vtenant *t, tk_err *err)
{
	return tk_caller_may_manage(c, t->owner_uid, t->owner_gid, t->name, err);
}

static const struct backend *const backends[] = { &backend_btrfs, &backend_xfs, &backend_loop };

const struct backend *backend_at(size_t i)
{
	return i < ELEMENTSOF(backends) ? backends[i] : NULL;
}

const struct backend *backend_by_name(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(backends); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

const struct backend *backend_select(struct manager *m)
{
	const struct backend *b;
	struct statfs st;

	if (fstatfs(m->root_fd, &st) < 0)
		return &backend_loop;
	b = backend_by_name(tk_backend_for((long)st.f_type, backend_xfs.probe(m, NULL) == 0));
	/* btrfs without the rights to enable quotas, say: a loop image still gives a hard limit. */
	return b && b->probe(m, NULL) == 0 ? b : &backend_loop;
}
