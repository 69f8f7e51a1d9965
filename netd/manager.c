/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager: owns the database, the netlink and nftables handles and the in-memory model. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "netd.h"
#include "nft.h"
#include "nl.h"
#include "store.h"

int manager_open(struct manager *m, tk_err *err)
{
	int r;

	if (mkdir(m->state_dir, 0700) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create state directory '%s': %m",
				  m->state_dir);
	m->started = time(NULL);
	if ((r = db_open(m, err)) < 0)
		return tk_err_wrap(err, r, "opening state database in '%s'", m->state_dir);
	if ((r = db_load(m, err)) < 0)
		return tk_err_wrap(err, r, "loading state");
	if ((r = tk_nl_open(&m->nl, err)) < 0)
		return tk_err_wrap(err, r, "opening rtnetlink");
	if ((r = tk_nft_open(&m->nft, err)) < 0)
		return tk_err_wrap(err, r, "opening nftables");
	if ((r = reaper_start(m, err)) < 0 || (r = lifecycle_open(m, err)) < 0)
		return r;
	return 0;
}

void manager_close(struct manager *m)
{
	lifecycle_close(m);
	reaper_stop(m);
	while (m->networks) {
		struct network *n = m->networks;
		m->networks = n->next;
		network_free(n);
	}
	while (m->tenants) {
		struct tenant *t = m->tenants;
		m->tenants = t->next;
		free(t);
	}
	m->nft = tk_nft_close(m->nft);
	m->nl = tk_nl_close(m->nl);
	m->store = tk_store_close(m->store);
}

struct tenant *manager_tenant(struct manager *m, const char *name)
{
	for (struct tenant *t = m->tenants; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

struct network *manager_network(struct manager *m, const char *name)
{
	for (struct network *n = m->networks; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

struct network *manager_network_by_id(struct manager *m, int64_t id)
{
	for (struct network *n = m->networks; n; n = n->next)
		if (n->id == id)
			return n;
	return NULL;
}

int caller_may_manage(const struct tk_caller *c, const struct tenant *t, tk_err *err)
{
	return tk_caller_may_manage(c, t->owner_uid, t->owner_gid, t->name, err);
}
