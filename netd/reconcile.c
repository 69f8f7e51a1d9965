/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bring the kernel to the database: recreate bridges and gateway addresses, re-attach host veths
 * to their bridges, remove tk-prefixed links nobody recorded, and replace the nftables tables with
 * the recorded elements in one atomic batch.  An endpoint whose host veth vanished is released
 * (row, addresses, elements): the kernel deletes a veth pair with the container's netns, so the
 * container is gone, and waiting for a DEL that some runtimes never send would leak its addresses
 * forever.  A container whose netns still exists keeps its veth and is never released.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netd.h"
#include "nl.h"

struct idset {
	int64_t *ids;
	size_t n, size;
};

/* Parses "<prefix><hex>" exactly, so that only names tenantkit makes are ever touched. */
static bool parse_tk_name(const char *name, const char *prefix, size_t hex_len, int64_t *ret)
{
	size_t pl = strlen(prefix), n = strlen(name);
	char *end;

	if (strncmp(name, prefix, pl) != 0 || n == pl || n - pl > 12)
		return false;
	if (hex_len && n - pl != hex_len)
		return false;
	if (strspn(name + pl, "0123456789abcdef") != n - pl)
		return false;
	*ret = (int64_t)strtoull(name + pl, &end, 16);
	return true;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

struct scan {
	struct manager *m;
	struct idset endpoints;
	struct idset foreign; /* ifindexes of another netd's bridges */
	json_t *actions;
	char (*stale)[16];
	size_t n_stale, size_stale;
};

static int collect_endpoint(struct endpoint *e, void *userdata)
{
	struct idset *s = userdata;

	if (s->n == s->size) {
		size_t size = s->size ? s->size * 2 : 64;
		int64_t *ids = realloc(s->ids, size * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		s->ids = ids;
		s->size = size;
	}
	s->ids[s->n++] = e->id & 0xffffffff;
	return 0;
}

static bool is_stale(struct scan *s, const char *name)
{
	int64_t id;

	if (parse_tk_name(name, "tk-", 0, &id))
		return !manager_network_by_id(s->m, id);
	if (parse_tk_name(name, "tkv", 8, &id))
		return s->endpoints.n == 0 ||
		       !bsearch(&id, s->endpoints.ids, s->endpoints.n, sizeof(int64_t), cmp_id);
	return false;
}

/* A bridge stamped by another database, and so not this netd's to judge. */
static bool foreign_alias(const struct manager *m, const char *alias)
{
	size_t pl = strlen(NETD_ALIAS_PREFIX);

	return strncmp(alias, NETD_ALIAS_PREFIX, pl) == 0 && strcmp(alias + pl, m->db_id) != 0;
}

static int idset_add(struct idset *s, int64_t id)
{
	if (s->n == s->size) {
		size_t size = s->size ? s->size * 2 : 16;
		int64_t *ids = realloc(s->ids, size * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		s->ids = ids;
		s->size = size;
	}
	s->ids[s->n++] = id;
	return 0;
}

static bool idset_has(const struct idset *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->ids[i] == id)
			return true;
	return false;
}

static int collect_foreign(const struct tk_link_info *link, void *userdata)
{
	struct scan *s = userdata;

	if (!foreign_alias(s->m, link->alias))
		return 0;
	report_action(s->actions,
		      "left bridge '%s' and its ports alone: another netd's (database %s)",
		      link->name, link->alias + strlen(NETD_ALIAS_PREFIX));
	return idset_add(&s->foreign, link->ifindex);
}

static int collect_stale(const struct tk_link_info *link, void *userdata)
{
	struct scan *s = userdata;

	/* Another netd's bridges, and the ports on them, are left alone. */
	if (idset_has(&s->foreign, link->ifindex) ||
	    (link->master && idset_has(&s->foreign, link->master)))
		return 0;
	if (!is_stale(s, link->name))
		return 0;
	if (s->n_stale == s->size_stale) {
		size_t size = s->size_stale ? s->size_stale * 2 : 16;
		char(*names)[16] = realloc(s->stale, size * sizeof(*names));
		if (!names)
			return -ENOMEM;
		s->stale = names;
		s->size_stale = size;
	}
	snprintf(s->stale[s->n_stale++], 16, "%s", link->name);
	return 0;
}

static int remove_stale_links(struct manager *m, const struct tk_link_list *links, json_t *actions,
			      tk_err *err)
{
	struct scan s = { .m = m, .actions = actions };
	int r;

	r = db_endpoints_foreach(m, NULL, NULL, collect_endpoint, &s.endpoints, err);
	if (r >= 0) {
		if (s.endpoints.n > 0) /* ids is NULL then, and qsort's base must not be */
			qsort(s.endpoints.ids, s.endpoints.n, sizeof(int64_t), cmp_id);
		r = tk_link_list_foreach(links, "tk-", collect_foreign, &s);
	}
	if (r >= 0)
		r = tk_link_list_foreach(links, "tk", collect_stale, &s);
	if (r == -ENOMEM)
		r = tk_err_set(err, -ENOMEM, "out of memory");
	/* Another netd's bridge missing from a partial listing would make its ports look stale. */
	if (r >= 0 && links->partial && s.n_stale > 0) {
		report_action(actions,
			      "left %zu unknown link(s) for the next reconcile: links kept coming "
			      "and going while they were listed",
			      s.n_stale);
		s.n_stale = 0;
	}
	for (size_t i = 0; r >= 0 && i < s.n_stale; i++) {
		tk_err e = {};
		int q = tk_nl_link_del(m->nl, s.stale[i], &e);
		if (q < 0 && q != -ENODEV)
			report_action(actions, "failed to remove unknown link '%s': %s", s.stale[i],
				      e.msg);
		else
			report_action(actions, "removed unknown link '%s'", s.stale[i]);
	}
	free(s.endpoints.ids);
	free(s.foreign.ids);
	free(s.stale);
	return r;
}

static int refuse_foreign(const struct tk_link_info *link, void *userdata)
{
	void **ctx = userdata;

	if (!foreign_alias(ctx[0], link->alias))
		return 0;
	return tk_err_set(ctx[1], -EBUSY,
			  "bridge '%s' belongs to another netd (database %s; this one is %s): "
			  "one netd per host; stop the other one, or remove its networks first",
			  link->name, link->alias + strlen(NETD_ALIAS_PREFIX),
			  ((struct manager *)ctx[0])->db_id);
}

int reconcile_claim(struct manager *m, tk_err *err)
{
	_cleanup_(tk_link_list_done) struct tk_link_list bridges = {};
	void *ctx[2] = { m, err };
	int r;

	/* Bridges only: at start, before anything else, and without every veth's cost. */
	if ((r = tk_nl_link_list(m->nl, "bridge", &bridges, err)) < 0)
		return r;
	return tk_link_list_foreach(&bridges, "tk-", refuse_foreign, ctx);
}

static int collect_veth(const struct tk_link_info *link, void *userdata)
{
	int64_t id;

	return parse_tk_name(link->name, "tkv", 8, &id) ? idset_add(userdata, id) : 0;
}

struct gone_scan {
	struct idset present; /* low 32 bits of the ids whose tkv link exists, sorted */
	struct idset gone;    /* endpoint ids */
};

static int collect_gone(struct endpoint *e, void *userdata)
{
	struct gone_scan *g = userdata;
	int64_t low = e->id & 0xffffffff;

	if (e->lease || (g->present.n > 0 &&
			 bsearch(&low, g->present.ids, g->present.n, sizeof(int64_t), cmp_id)))
		return 0;
	return idset_add(&g->gone, e->id);
}

int reconcile_release_gone(struct manager *m, const struct tk_link_list *links, json_t *actions,
			   tk_err *err)
{
	_cleanup_(tk_link_list_done) struct tk_link_list own = {};
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	struct gone_scan g = {};
	int r;

	if (!e)
		return tk_err_set(err, -ENOMEM, "out of memory");
	/*
	 * The listing, then the database: a veth is listed before its row is read, so a row added
	 * after the listing (the state lock is held throughout) cannot be taken for gone.
	 */
	if (!links && (r = tk_nl_link_list(m->nl, NULL, &own, err)) < 0)
		return r;
	r = tk_link_list_foreach(links ?: &own, "tkv", collect_veth, &g.present);
	if (r >= 0) {
		if (g.present.n > 0)
			qsort(g.present.ids, g.present.n, sizeof(int64_t), cmp_id);
		r = db_endpoints_foreach(m, NULL, NULL, collect_gone, &g, err);
	}
	for (size_t i = 0; r >= 0 && i < g.gone.n; i++) {
		tk_err e_err = {};
		int ifindex, q = db_endpoint_find_by_id(m, g.gone.ids[i], e, &e_err);

		/* Missing from a listing that links kept changing proves nothing: ask for it. */
		if (q >= 0 && tk_nl_ifindex(m->nl, e->host_ifname, &ifindex, NULL) >= 0)
			continue;
		if (q >= 0)
			q = endpoint_release(m, e, &e_err);
		if (q == -ENOENT)
			continue;
		if (q < 0)
			report_action(actions, "failed to release endpoint %lld: %s",
				      (long long)g.gone.ids[i], e_err.msg);
		else
			report_action(actions,
				      "released endpoint '%s' %s of network '%s': host veth '%s' "
				      "is gone (its network namespace was destroyed)",
				      e->container_id, e->ifname, e->network->name, e->host_ifname);
	}
	free(g.present.ids);
	free(g.gone.ids);
	return r;
}

struct check {
	struct manager *m;
	const struct tk_link_list *links;
	json_t *actions;
	tk_err *err;
};

static int check_endpoint(struct endpoint *e, void *userdata)
{
	struct check *c = userdata;
	const struct tk_link_info *link;
	int r;

	if (e->lease)
		return 0;
	/*
	 * Not listed: gone, and released by reconcile_release_gone below (which asks the kernel
	 * again), or missed by a partial listing and left for the next reconcile.
	 */
	if (!(link = tk_link_list_find(c->links, e->host_ifname)))
		return 0;
	r = 0;
	if (link->master != e->network->bridge_ifindex) {
		r = tk_nl_link_set_master(c->m->nl, link->ifindex, e->network->bridge_ifindex,
					  c->err);
		if (r >= 0)
			report_action(c->actions, "re-attached '%s' to bridge '%s'", e->host_ifname,
				      e->network->bridge);
	}
	if (r >= 0 && !link->up)
		r = tk_nl_port_set_up(c->m->nl, e->host_ifname, c->err);
	if (r == -ENODEV) { /* gone since it was listed: the link watch releases it */
		tk_err_clear(c->err);
		r = 0;
	}
	return r;
}

static unsigned count_networks(const struct manager *m)
{
	unsigned c = 0;

	for (const struct network *n = m->networks; n; n = n->next)
		c++;
	return c;
}

int reconcile(struct manager *m, json_t *actions, tk_err *err)
{
	/*
	 * One listing serves every step: with thousands of veths each listing costs seconds (see
	 * tk_link_list).  Only netd makes or deletes its links, and it holds the state lock; what
	 * vanishes meanwhile (a container's netns destroyed) the link watch reports.
	 */
	_cleanup_(tk_link_list_done) struct tk_link_list links = {};
	struct check c = { m, &links, actions, err };
	int r;

	if ((r = tk_nl_link_list(m->nl, NULL, &links, err)) < 0)
		return r;
	reaper_check_links(m, &links);
	for (struct network *n = m->networks; n; n = n->next)
		if ((r = network_realize(m, n, &links, actions, err)) < 0)
			return tk_err_wrap(err, r, "network '%s'", n->name);
	if ((r = remove_stale_links(m, &links, actions, err)) < 0)
		return r;
	if ((r = db_endpoints_foreach(m, NULL, NULL, check_endpoint, &c, err)) < 0)
		return r;
	if ((r = firewall_rebuild(m, &links, err)) < 0)
		return tk_err_wrap(err, r, "rebuilding the nftables tables");
	/* After the rebuild: every row's elements exist then, so each release removes all. */
	if ((r = reconcile_release_gone(m, &links, actions, err)) < 0)
		return r;
	report_action(actions, "loaded nftables tables with %u network(s) and %llu endpoint(s)",
		      count_networks(m), (unsigned long long)m->n_endpoints);
	return 0;
}
