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

static unsigned tenant_volumes(const struct tk_tenant *t)
{
	return t->n_volumes;
}

const struct tk_tenant_kind volumed_tenants = {
	.limits = (const enum tk_tenant_limit[]){ TK_TENANT_MAX_BYTES, TK_TENANT_MAX_VOLUMES },
	.n_limits = 2,
	.usage_json = tenant_usage_json,
	.held = tenant_volumes,
	.held_what = "volume(s)",
};

int manager_open(struct manager *m, tk_err *err)
{
	int r;

	m->started = time(NULL);
	/* First: it creates the state directory, in which the volume root is by default. */
	if ((r = db_open(m, err)) < 0)
		return tk_err_wrap(err, r, "opening state database in '%s'", m->state_dir);
	/* 0711: tenants' rootless podman must traverse it; see volume_tenant_dir() for why it is safe. */
	if (mkdir(m->root, 0711) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create volume root '%s': %m", m->root);
	m->root_fd = open(m->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (m->root_fd < 0)
		return tk_err_set(err, -errno, "cannot open volume root '%s': %m", m->root);
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
	tk_tenants_done(&m->tenants);
	m->store = tk_store_close(m->store);
	if (m->root_fd >= 0)
		close(m->root_fd);
	m->root_fd = -1;
}

struct volume *manager_volume(struct manager *m, const char *name)
{
	for (struct volume *v = m->volumes; v; v = v->next)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
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
