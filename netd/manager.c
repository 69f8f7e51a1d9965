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
	tk_tenants_done(&m->tenants);
	subnet_cache_free(m);
	m->nft = tk_nft_close(m->nft);
	m->nl = tk_nl_close(m->nl);
	m->store = tk_store_close(m->store);
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
