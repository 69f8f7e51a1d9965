/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager: owns the database, the netlink and nftables handles and the in-memory model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "netd.h"
#include "nft.h"
#include "nl.h"
#include "store.h"

static unsigned tenant_networks(const struct tk_tenant *t)
{
	return t->n_networks;
}

const struct tk_tenant_kind netd_tenants = {
	.limits = (const enum tk_tenant_limit[]){ TK_TENANT_MAX_NETWORKS, TK_TENANT_MAX_ENDPOINTS,
						  TK_TENANT_MAX_ADDRESSES4, TK_TENANT_MAX_PREFIXES6,
						  TK_TENANT_EGRESS, TK_TENANT_INGRESS,
						  TK_TENANT_WEIGHT },
	.n_limits = 7,
	.usage_json = tenant_usage_json,
	.held = tenant_networks,
	.held_what = "network(s)",
	.allow_subnets = true,
};

/* FNV-1a */
static size_t name_hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

static size_t id_hash(int64_t id)
{
	return (size_t)((uint64_t)id * 11400714819323198485ull >> 16);
}

static void index_free(struct manager *m)
{
	free(m->network_by_name);
	free(m->network_by_id);
	m->network_by_name = m->network_by_id = NULL;
	m->network_slots = 0;
}

void manager_networks_changed(struct manager *m)
{
	size_t n = 0, slots = 16;

	index_free(m);
	for (struct network *o = m->networks; o; o = o->next)
		n++;
	while (slots < 2 * n)
		slots *= 2;
	m->network_by_name = calloc(slots, sizeof(*m->network_by_name));
	m->network_by_id = calloc(slots, sizeof(*m->network_by_id));
	if (!m->network_by_name || !m->network_by_id) {
		index_free(m);
		return;
	}
	m->network_slots = slots;
	for (struct network *o = m->networks; o; o = o->next) {
		size_t i = name_hash(o->name) & (slots - 1), j = id_hash(o->id) & (slots - 1);

		while (m->network_by_name[i])
			i = (i + 1) & (slots - 1);
		m->network_by_name[i] = o;
		while (m->network_by_id[j])
			j = (j + 1) & (slots - 1);
		m->network_by_id[j] = o;
	}
}

int manager_open(struct manager *m, tk_err *err)
{
	int r;

	m->started = time(NULL);
	if ((r = db_open(m, err)) < 0)
		return tk_err_wrap(err, r, "opening state database in '%s'", m->state_dir);
	if ((r = db_load(m, err)) < 0 || (r = ports_tenants_load(m, err)) < 0)
		return tk_err_wrap(err, r, "loading state");
	if ((r = tk_nl_open(&m->nl, err)) < 0)
		return tk_err_wrap(err, r, "opening rtnetlink");
	if ((r = tk_nft_open(&m->nft, err)) < 0)
		return tk_err_wrap(err, r, "opening nftables");
	if ((r = reaper_start(m, err)) < 0 || (r = attacher_start(m, err)) < 0 ||
	    (r = lifecycle_open(m, err)) < 0)
		return r;
	return 0;
}

void manager_close(struct manager *m)
{
	attacher_stop(m);
	lifecycle_close(m);
	reaper_stop(m);
	while (m->networks) {
		struct network *n = m->networks;
		m->networks = n->next;
		network_free(n);
	}
	index_free(m);
	tk_tenants_done(&m->tenants);
	subnet_cache_free(m);
	shaping_close(m);
	m->nft = tk_nft_close(m->nft);
	m->nl = tk_nl_close(m->nl);
	m->store = tk_store_close(m->store);
}

struct network *manager_network(struct manager *m, const char *name)
{
	if (m->network_slots) {
		for (size_t i = name_hash(name) & (m->network_slots - 1); m->network_by_name[i];
		     i = (i + 1) & (m->network_slots - 1))
			if (strcmp(m->network_by_name[i]->name, name) == 0)
				return m->network_by_name[i];
		return NULL;
	}
	for (struct network *n = m->networks; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

struct network *manager_network_by_id(struct manager *m, int64_t id)
{
	if (m->network_slots) {
		for (size_t i = id_hash(id) & (m->network_slots - 1); m->network_by_id[i];
		     i = (i + 1) & (m->network_slots - 1))
			if (m->network_by_id[i]->id == id)
				return m->network_by_id[i];
		return NULL;
	}
	for (struct network *n = m->networks; n; n = n->next)
		if (n->id == id)
			return n;
	return NULL;
}
