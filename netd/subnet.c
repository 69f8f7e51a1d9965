/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which subnets a network may have.  A tenant network's gateway address sits on a bridge in
 * netd's own netns, so a subnet there wins the host's routing: 169.254.169.0/24 would capture the
 * host's connections to the metadata address, a slice of the LAN the host's traffic to that
 * slice.  Reserved ranges and whatever the host already reaches are refused (an admin may force
 * them, with a warning); tenant owners are also held to the ranges the administrator allowed.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netd.h"
#include "nl.h"

/*
 * What the host reaches, outside netd's own bridges (whose prefixes are its networks'), kept
 * between requests: with thousands of networks a dump of every address and route is tens of
 * thousands of objects, and dumping it for each network.create made creating the 4,096th
 * network take some 100 ms.  Address and route notifications say when the copy is stale; those
 * about netd's bridges are ignored, since that is where netd itself adds and removes prefixes.
 */
struct host_entry {
	struct tk_prefix p;
	const char *kind;
	int ifindex;
};

struct host_prefixes {
	struct tk_nl_prefix_watch *watch;
	struct host_entry *v;
	size_t n, size;
	bool valid;
};

static bool is_netd_bridge(int ifindex, void *userdata)
{
	const struct manager *m = userdata;

	for (const struct network *n = m->networks; n; n = n->next)
		if (n->bridge_ifindex == ifindex)
			return true;
	return false;
}

static int host_keep(const struct tk_prefix *q, const char *kind, int ifindex, void *userdata)
{
	struct manager *m = userdata;
	struct host_prefixes *h = m->host;

	if (ifindex > 0 && is_netd_bridge(ifindex, m))
		return 0;
	if (h->n == h->size) {
		size_t size = h->size ? h->size * 2 : 64;
		struct host_entry *v = realloc(h->v, size * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->size = size;
	}
	h->v[h->n++] = (struct host_entry){ .p = *q, .kind = kind, .ifindex = ifindex };
	return 0;
}

/* Calls cb for what the host reaches (tk_nl_host_prefixes), netd's bridges left out. */
static int host_walk(struct manager *m, tk_nl_host_cb cb, void *userdata, tk_err *err)
{
	struct host_prefixes *h = m->host;
	int r;

	if (!h) {
		if (!(h = calloc(1, sizeof(*h))))
			return tk_err_set(err, -ENOMEM, "out of memory");
		m->host = h;
	}
	/* Subscribed before the dump, so that nothing between the two is missed. */
	if (!h->watch && (r = tk_nl_prefix_watch_open(&h->watch, err)) < 0)
		return r;
	if ((r = tk_nl_prefix_watch_changed(h->watch, is_netd_bridge, m, err)) < 0)
		return r;
	if (r > 0 || !h->valid) {
		h->n = 0;
		h->valid = false;
		r = tk_nl_host_prefixes(m->nl, host_keep, m, err);
		if (r == -ENOMEM)
			return tk_err_set(err, -ENOMEM, "out of memory");
		if (r < 0)
			return r;
		h->valid = true;
	}
	for (size_t i = 0; i < h->n; i++)
		if ((r = cb(&h->v[i].p, h->v[i].kind, h->v[i].ifindex, userdata)) < 0)
			return r;
	return 0;
}

void subnet_cache_free(struct manager *m)
{
	if (!m->host)
		return;
	tk_nl_prefix_watch_close(m->host->watch);
	free(m->host->v);
	free(m->host);
	m->host = NULL;
}

struct host_hit {
	const struct tk_prefix *p;
	struct tk_prefix hit;
	const char *kind;
	int ifindex;
};

/* An address as configured (203.0.113.5/24) as the prefix it reaches (203.0.113.0/24). */
static struct tk_prefix network_of(const struct tk_prefix *q)
{
	struct tk_prefix n = *q;
	unsigned bits = n.addr.family == AF_INET ? 32 : 128;

	for (unsigned i = n.len; i < bits; i++)
		n.addr.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	return n;
}

/*
 * Routes shorter than /8 say where the rest of the world is, as a default route does (a VPN's
 * 0.0.0.0/1 + 128.0.0.0/1), not what the host has: they would overlap every subnet.
 */
static bool default_like(const struct tk_prefix *q, const char *kind)
{
	return strcmp(kind, "route") == 0 && q->len < 8;
}

static int find_host_overlap(const struct tk_prefix *q, const char *kind, int ifindex,
			     void *userdata)
{
	struct host_hit *h = userdata;
	struct tk_prefix net = network_of(q);

	if (default_like(q, kind) || !tk_prefix_overlaps(h->p, &net))
		return 0;
	h->hit = *q;
	h->kind = kind;
	h->ifindex = ifindex;
	return -EADDRINUSE; /* stops the walk */
}

static int host_overlap(struct manager *m, const struct tk_prefix *p, bool forced, tk_err *err)
{
	struct host_hit h = { .p = p };
	char buf[TK_PREFIX_STRLEN], other[TK_PREFIX_STRLEN], ifname[IF_NAMESIZE] = "";
	int r = host_walk(m, find_host_overlap, &h, err);

	if (r != -EADDRINUSE)
		return r < 0 ? tk_err_wrap(err, r, "reading the host's addresses and routes") : 0;
	if (h.ifindex > 0 && !if_indextoname((unsigned)h.ifindex, ifname))
		snprintf(ifname, sizeof(ifname), "#%d", h.ifindex);
	tk_prefix_format(p, buf, sizeof(buf));
	tk_prefix_format(&h.hit, other, sizeof(other));
	if (!forced)
		return tk_err_set(err, -EADDRINUSE,
				  "subnet %s overlaps the host's %s %s%s%s: a network there would "
				  "capture the host's own traffic",
				  buf, h.kind, other, ifname[0] ? " on " : "", ifname);
	log_warning("Forced subnet %s overlaps the host's %s %s%s%s", buf, h.kind, other,
		    ifname[0] ? " on " : "", ifname);
	return 0;
}

int subnet_check(struct manager *m, const struct network_params *np, const struct tk_prefix *p,
		 tk_err *err)
{
	bool admin = !np->caller || np->caller->admin;
	char buf[TK_PREFIX_STRLEN], range[TK_PREFIX_STRLEN];
	char allowed[2 * TK_PREFIX_LIST_MAX * TK_PREFIX_STRLEN + 2];
	struct tk_prefix reserved;
	const char *what;

	if (np->force && !admin)
		return tk_err_set(err, -EPERM, "only an administrator may force a subnet");
	tk_prefix_format(p, buf, sizeof(buf));
	if ((what = tk_prefix_reserved(p, &reserved))) {
		tk_prefix_format(&reserved, range, sizeof(range));
		if (!np->force)
			return tk_err_set(
				err, -EINVAL,
				"subnet %s overlaps %s, which is %s: no network may use it", buf,
				range, what);
		log_warning("Forced subnet %s overlaps %s, which is %s", buf, range, what);
	}
	/* The administrator chose the ranges; it is not held to them. */
	if (!admin && !tk_prefix_list_covers(&m->allow, p) &&
	    !tk_prefix_list_covers(&np->tenant->allow_subnets, p)) {
		tk_prefix_list_format(&m->allow, allowed, sizeof(allowed) / 2);
		if (np->tenant->allow_subnets.n) {
			size_t n = strlen(allowed); /* < sizeof(allowed) / 2 */
			allowed[n] = ',';
			tk_prefix_list_format(&np->tenant->allow_subnets, allowed + n + 1,
					      sizeof(allowed) - n - 1);
		}
		return tk_err_set(err, -EPERM,
				  "subnet %s is outside the ranges allowed for tenant '%s' (%s)",
				  buf, np->tenant->name, allowed);
	}
	return host_overlap(m, p, np->force, err);
}

struct collect {
	int family;
	struct tk_prefix **used;
	size_t *n, *size;
};

static int collect_host(const struct tk_prefix *q, const char *kind, int ifindex, void *userdata)
{
	struct collect *c = userdata;

	(void)ifindex;
	if (q->addr.family != c->family || default_like(q, kind))
		return 0;
	if (*c->n == *c->size) {
		size_t size = *c->size ? *c->size * 2 : 64;
		struct tk_prefix *p = realloc(*c->used, size * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*c->used = p;
		*c->size = size;
	}
	(*c->used)[(*c->n)++] = network_of(q);
	return 0;
}

int subnet_host_prefixes(struct manager *m, int family, struct tk_prefix **used, size_t *n_used,
			 size_t *size, tk_err *err)
{
	struct collect c = { .family = family, .used = used, .n = n_used, .size = size };
	int r = host_walk(m, collect_host, &c, err);

	if (r == -ENOMEM)
		return tk_err_set(err, -ENOMEM, "out of memory");
	return r;
}

void tenant_address_usage(struct manager *m, const struct tk_tenant *t, uint64_t *ret4,
			  uint64_t *ret6)
{
	uint64_t a4 = 0, a6 = 0;

	for (const struct network *n = m->networks; n; n = n->next) {
		if (n->tenant != t)
			continue;
		if (n->has4)
			a4 += tk_prefix_size(&n->subnet4, 32);
		if (n->has6)
			a6 += tk_prefix_size(&n->subnet6, 64);
	}
	*ret4 = a4;
	*ret6 = a6;
}
