/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Docker's remote NetworkDriver and IpamDriver plugin APIs (moby libnetwork docs/remote.md and
 * docs/ipam.md) on their own socket, served by lib/http in netd's loop.  Each request maps onto
 * what the local protocol does, with the caller's SO_PEERCRED authorised the same way:
 *
 *   RequestPool      a subnet from netd's pools (or --subnet), held until CreateNetwork
 *   RequestAddress   the network's gateway, or an address of netd's IPAM held until
 *                    CreateEndpoint
 *   CreateNetwork    network.create "docker-<12 hex of the id>" of tenant -o tenant=NAME
 *   CreateEndpoint   the endpoint: veth on the bridge, anti-spoofing elements for its address and
 *                    MAC, the container end left down in netd's netns as tkd<12 hex> for dockerd
 *                    to move into the container (Join names it)
 *   DeleteEndpoint   endpoint.del; Release* give back what was only held
 *   Program/RevokeExternalConnectivity   endpoint.ports with Docker's port map
 *
 * What is held between two requests lives in memory: the row of a network or endpoint is
 * written when Docker creates it, and from then on survives restarts like any other.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockernet.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "netd.h"
#include "nl.h"
#include "store.h"

#define CARVE_LEN4 24
#define CARVE_LEN6 64
/*
 * Pools or addresses held for Docker at once, in all and for one uid that is not an admin: a
 * tenant owner who requests and never uses them cannot exhaust what the others need.
 */
#define PENDING_MAX	4096
#define PENDING_PER_UID 64
/*
 * dockerd makes the two requests of one API call within a second: a hold still unused after ten
 * minutes is one that a dockerd which died in between will never use or give back, and would
 * otherwise keep its address (or subnet) and its place under the caps until netd restarts.
 * TK_NETD_DOCKER_HOLD_SECONDS shortens it, for tests.
 */
#define HOLD_SECONDS 600

/* A subnet given to Docker's IPAM (RequestPool) whose network does not exist yet. */
struct pending_pool {
	struct tk_prefix prefix;
	char tenant[TK_NAME_MAX + 1]; /* --ipam-opt tenant=, "" when not given */
	uid_t uid;		      /* who asked, for the per-uid cap */
	uint64_t since;		      /* CLOCK_MONOTONIC seconds */
	struct pending_pool *next;
};

/* An address given to Docker's IPAM (RequestAddress) whose endpoint does not exist yet. */
struct pending_addr {
	int64_t network_id;
	struct tk_addr addr;
	uid_t uid;
	uint64_t since; /* CLOCK_MONOTONIC seconds */
	struct pending_addr *next;
};

struct docker {
	struct manager *m;
	struct pending_pool *pools;
	struct pending_addr *addrs;
	unsigned n_pools, n_addrs;
	unsigned hold_seconds;
};

static uint64_t now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Gives back the holds older than d->hold_seconds. */
static void holds_expire(struct docker *d)
{
	const uint64_t now = now_seconds();
	char text[TK_PREFIX_STRLEN];

	for (struct pending_pool **pp = &d->pools; *pp;) {
		struct pending_pool *gone = *pp;
		if (now - gone->since < d->hold_seconds) {
			pp = &gone->next;
			continue;
		}
		tk_prefix_format(&gone->prefix, text, sizeof(text));
		log_info("Docker pool %s of uid %u unused for %u s: given back", text,
			 (unsigned)gone->uid, d->hold_seconds);
		*pp = gone->next;
		free(gone);
		d->n_pools--;
	}
	for (struct pending_addr **pa = &d->addrs; *pa;) {
		struct pending_addr *gone = *pa;
		struct network *n;
		if (now - gone->since < d->hold_seconds) {
			pa = &gone->next;
			continue;
		}
		if ((n = manager_network_by_id(d->m, gone->network_id))) {
			tk_addr_format(&gone->addr, text, sizeof(text));
			log_info("Docker address %s of network '%s' unused for %u s: given back",
				 text, n->name, d->hold_seconds);
			tk_ipam_pool_release(gone->addr.family == AF_INET ? n->pool4 : n->pool6,
					     &gone->addr);
		}
		*pa = gone->next;
		free(gone);
		d->n_addrs--;
	}
}

static bool prefix_equal(const struct tk_prefix *a, const struct tk_prefix *b)
{
	return a->len == b->len && tk_addr_equal(&a->addr, &b->addr);
}

static struct pending_pool *pool_find(struct docker *d, const struct tk_prefix *p)
{
	for (struct pending_pool *pp = d->pools; pp; pp = pp->next)
		if (prefix_equal(&pp->prefix, p))
			return pp;
	return NULL;
}

static void pool_forget(struct docker *d, const struct tk_prefix *p)
{
	for (struct pending_pool **pp = &d->pools; *pp; pp = &(*pp)->next)
		if (prefix_equal(&(*pp)->prefix, p)) {
			struct pending_pool *gone = *pp;
			*pp = gone->next;
			free(gone);
			d->n_pools--;
			return;
		}
}

/* Forgets a held address; true when it was held (and so is still reserved in the pool). */
static bool addr_forget(struct docker *d, const struct network *n, const struct tk_addr *a)
{
	for (struct pending_addr **pa = &d->addrs; *pa; pa = &(*pa)->next)
		if ((*pa)->network_id == n->id && tk_addr_equal(&(*pa)->addr, a)) {
			struct pending_addr *gone = *pa;
			*pa = gone->next;
			free(gone);
			d->n_addrs--;
			return true;
		}
	return false;
}

static void addrs_forget_network(struct docker *d, int64_t network_id)
{
	for (struct pending_addr **pa = &d->addrs; *pa;) {
		struct pending_addr *gone = *pa;
		if (gone->network_id != network_id) {
			pa = &gone->next;
			continue;
		}
		*pa = gone->next;
		free(gone);
		d->n_addrs--;
	}
}

/* -EAGAIN when c may hold no more: n_all held in all, n_uid of them by c's uid. */
static int pending_check(const struct tk_caller *c, unsigned n_all, unsigned n_uid,
			 const char *what, tk_err *err)
{
	if (n_all >= PENDING_MAX || (!c->admin && n_uid >= PENDING_PER_UID))
		return tk_err_set(err, -EAGAIN, "too many %s requested and not yet used%s", what,
				  c->admin ? "" : " by this uid");
	return 0;
}

static unsigned pools_of(const struct docker *d, uid_t uid)
{
	unsigned n = 0;

	for (const struct pending_pool *pp = d->pools; pp; pp = pp->next)
		n += pp->uid == uid;
	return n;
}

static unsigned addrs_of(const struct docker *d, uid_t uid)
{
	unsigned n = 0;

	for (const struct pending_addr *pa = d->addrs; pa; pa = pa->next)
		n += pa->uid == uid;
	return n;
}

static struct network *network_by_subnet(struct manager *m, const struct tk_prefix *p)
{
	for (struct network *n = m->networks; n; n = n->next)
		if ((n->has4 && prefix_equal(&n->subnet4, p)) ||
		    (n->has6 && prefix_equal(&n->subnet6, p)))
			return n;
	return NULL;
}

static int find_network(struct docker *d, const struct tk_caller *c, const char *network_id,
			struct network **ret, tk_err *err)
{
	char name[TK_NAME_MAX + 1];
	struct network *n;
	int r;

	if ((r = tk_dnet_network_name(network_id, name, sizeof(name), err)) < 0)
		return r;
	if (!(n = manager_network(d->m, name)))
		return tk_err_set(err, -ENOENT, "no network '%s' (Docker network %.12s)", name,
				  network_id);
	*ret = n;
	return caller_may_manage(c, n->tenant, err);
}

/* The endpoint of Docker's ids; another tenant's gets the answer a missing one gets. */
static int find_endpoint(struct docker *d, const struct tk_caller *c,
			 const struct tk_dnet_request *req, struct endpoint *ret, tk_err *err)
{
	char ifname[TK_IFNAME_MAX + 1];
	int r;

	if ((r = tk_dnet_endpoint_ifname(req->endpoint_id, ifname, sizeof(ifname), err)) < 0)
		return r;
	r = db_endpoint_find(d->m, req->endpoint_id, ifname, ret, err);
	if (r == -ENOENT || (r >= 0 && caller_may_manage(c, ret->network->tenant, NULL) < 0))
		return tk_err_set(err, -ENOENT, "no endpoint %.12s", req->endpoint_id);
	return r;
}

static int used_append(struct tk_prefix **used, size_t *n_used, size_t *size,
		       const struct tk_prefix *p, tk_err *err)
{
	if (*n_used == *size) {
		size_t bigger = *size ? *size * 2 : 64;
		struct tk_prefix *grown = realloc(*used, bigger * sizeof(*grown));
		if (!grown)
			return tk_err_set(err, -ENOMEM, "out of memory");
		*used = grown;
		*size = bigger;
	}
	(*used)[(*n_used)++] = *p;
	return 0;
}

/* The lowest free subnet of the pools: past networks, held pools and the host's prefixes. */
static int carve(struct docker *d, int family, struct tk_prefix *ret, tk_err *err)
{
	struct manager *m = d->m;
	_cleanup_free_ struct tk_prefix *used = NULL;
	size_t n_used = 0, size = 0;
	int r;

	if ((r = subnet_host_prefixes(m, family, &used, &n_used, &size, err)) < 0)
		return r;
	for (struct network *o = m->networks; o; o = o->next)
		if ((family == AF_INET ? o->has4 : o->has6) &&
		    (r = used_append(&used, &n_used, &size,
				     family == AF_INET ? &o->subnet4 : &o->subnet6, err)) < 0)
			return r;
	for (struct pending_pool *pp = d->pools; pp; pp = pp->next)
		if (pp->prefix.addr.family == family &&
		    (r = used_append(&used, &n_used, &size, &pp->prefix, err)) < 0)
			return r;
	if (family == AF_INET6)
		return tk_ipam_carve(&m->pool6, CARVE_LEN6, used, n_used, ret, err);
	r = -ENOSPC;
	for (size_t i = 0; i < m->pools4.n; i++) {
		tk_err_clear(err);
		r = tk_ipam_carve(&m->pools4.p[i], CARVE_LEN4, used, n_used, ret, err);
		if (r != -ENOSPC)
			break;
	}
	return r;
}

/* A requested subnet may not overlap a network's or a held pool (netd checks the rest later). */
static int overlap_check(struct docker *d, const struct tk_prefix *p, tk_err *err)
{
	char text[TK_PREFIX_STRLEN];

	for (struct network *o = d->m->networks; o; o = o->next)
		if ((o->has4 && tk_prefix_overlaps(p, &o->subnet4)) ||
		    (o->has6 && tk_prefix_overlaps(p, &o->subnet6)))
			return tk_err_set(err, -EADDRINUSE, "subnet %s overlaps network '%s'",
					  tk_prefix_format(p, text, sizeof(text)), o->name);
	for (struct pending_pool *pp = d->pools; pp; pp = pp->next)
		if (tk_prefix_overlaps(p, &pp->prefix))
			return tk_err_set(err, -EADDRINUSE,
					  "subnet %s overlaps a pool Docker is creating a network "
					  "with",
					  tk_prefix_format(p, text, sizeof(text)));
	return 0;
}

/*
 * A tenant owner's pool is one a network of its could have: of a network's size, within the
 * ranges tenant owners may choose (netd's, or the named tenant's own).  A hold of anything
 * wider (0.0.0.0/0) would keep every other network out of what it overlaps.
 */
static int owner_pool_check(struct docker *d, const struct tk_tenant *t, const struct tk_prefix *p,
			    tk_err *err)
{
	char text[TK_PREFIX_STRLEN];

	int r;

	if ((r = network_subnet_size_check(p, err)) < 0)
		return r;
	tk_prefix_format(p, text, sizeof(text));
	if (!tk_prefix_list_covers(&d->m->allow, p) &&
	    !(t && tk_prefix_list_covers(&t->allow_subnets, p)))
		return tk_err_set(err, -EPERM,
				  "subnet %s is outside the ranges tenant owners may choose", text);
	return 0;
}

static int request_pool(struct docker *d, const struct tk_caller *c,
			const struct tk_dnet_request *req, json_t **ret, tk_err *err)
{
	int family = req->v6 ? AF_INET6 : AF_INET;
	char text[TK_PREFIX_STRLEN];
	struct tk_tenant *t = NULL;
	struct pending_pool *pp;
	struct tk_prefix p;
	int r;

	holds_expire(d);
	if (req->ipam_tenant &&
	    (r = tk_tenant_find(&d->m->tenants, c, req->ipam_tenant, &t, err)) < 0)
		return r;
	if ((r = pending_check(c, d->n_pools, c->admin ? 0 : pools_of(d, c->uid), "pools", err)) <
	    0)
		return r;
	if (req->pool) {
		if ((r = tk_prefix_parse(req->pool, &p, err)) < 0)
			return tk_err_wrap(err, r, "--subnet");
		if (p.addr.family != family)
			return tk_err_set(err, -EINVAL, "subnet '%s' is not an %s subnet",
					  req->pool, req->v6 ? "IPv6" : "IPv4");
		if (!c->admin && (r = owner_pool_check(d, t, &p, err)) < 0)
			return r;
		if ((r = overlap_check(d, &p, err)) < 0)
			return r;
	} else if ((r = carve(d, family, &p, err)) < 0) {
		return tk_err_wrap(err, r, "allocating a subnet");
	}
	if (!(pp = calloc(1, sizeof(*pp))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	pp->prefix = p;
	pp->uid = c->uid;
	pp->since = now_seconds();
	if (t)
		snprintf(pp->tenant, sizeof(pp->tenant), "%s", t->name);
	pp->next = d->pools;
	d->pools = pp;
	d->n_pools++;
	tk_prefix_format(&p, text, sizeof(text));
	*ret = json_pack("{s:s, s:s, s:{}}", "PoolID", text, "Pool", text, "Data");
	return 0;
}

static int parse_pool_id(const char *pool_id, struct tk_prefix *ret, tk_err *err)
{
	int r = tk_prefix_parse(pool_id, ret, err);

	return r < 0 ? tk_err_wrap(err, r, "PoolID") : 0;
}

/* Docker sends an address with or without its length. */
static int parse_address(const char *s, struct tk_addr *ret, tk_err *err)
{
	struct tk_prefix p;
	int r;

	if (!strchr(s, '/'))
		return tk_addr_parse(s, ret, err);
	if ((r = tk_prefix_parse_host(s, &p, err)) < 0)
		return r;
	*ret = p.addr;
	return 0;
}

static json_t *address_json(const struct tk_addr *a, unsigned len)
{
	char text[TK_PREFIX_STRLEN], addr[TK_ADDR_STRLEN];

	snprintf(text, sizeof(text), "%s/%u", tk_addr_format(a, addr, sizeof(addr)), len);
	return json_pack("{s:s, s:{}}", "Address", text, "Data");
}

/* The gateway netd gives a subnet: what network_create will put on the bridge. */
static int default_gateway(const struct tk_prefix *p, struct tk_addr *ret, tk_err *err)
{
	struct tk_ipam_pool *pool = NULL;
	int r;

	if ((r = tk_ipam_pool_new(p, &pool, err)) < 0)
		return r;
	tk_ipam_pool_default_gateway(pool, ret);
	tk_ipam_pool_free(pool);
	return 0;
}

static int gateway_check(const struct tk_addr *gw, const char *requested, tk_err *err)
{
	char text[TK_ADDR_STRLEN];
	struct tk_addr a;
	int r;

	if (!requested)
		return 0;
	if ((r = parse_address(requested, &a, err)) < 0)
		return tk_err_wrap(err, r, "--gateway");
	if (!tk_addr_equal(&a, gw))
		return tk_err_set(err, -EINVAL,
				  "tenantkit networks have their gateway at %s, not %s (leave out "
				  "--gateway)",
				  tk_addr_format(gw, text, sizeof(text)), requested);
	return 0;
}

static int request_address(struct docker *d, const struct tk_caller *c,
			   const struct tk_dnet_request *req, json_t **ret, tk_err *err)
{
	struct pending_addr *pa;
	struct tk_ipam_pool *pool;
	struct tk_prefix p;
	struct tk_addr a, gw;
	struct network *n;
	bool v4;
	int r;

	holds_expire(d);
	if ((r = parse_pool_id(req->pool_id, &p, err)) < 0)
		return r;
	if (!(n = network_by_subnet(d->m, &p))) {
		/* Before CreateNetwork Docker asks only for the gateway. */
		if (!pool_find(d, &p))
			return tk_err_set(err, -ENOENT, "no pool '%s'", req->pool_id);
		if (!req->gateway)
			return tk_err_set(err, -EINVAL, "pool '%s' has no network yet",
					  req->pool_id);
		if ((r = default_gateway(&p, &gw, err)) < 0 ||
		    (r = gateway_check(&gw, req->req_address, err)) < 0)
			return r;
		*ret = address_json(&gw, p.len);
		return 0;
	}
	if ((r = caller_may_manage(c, n->tenant, err)) < 0)
		return r;
	v4 = p.addr.family == AF_INET;
	if (req->gateway) {
		gw = v4 ? n->gateway4 : n->gateway6;
		if ((r = gateway_check(&gw, req->req_address, err)) < 0)
			return r;
		*ret = address_json(&gw, p.len);
		return 0;
	}
	if ((r = pending_check(c, d->n_addrs, c->admin ? 0 : addrs_of(d, c->uid), "addresses",
			       err)) < 0)
		return r;
	pool = v4 ? n->pool4 : n->pool6;
	if (req->req_address) {
		if ((r = parse_address(req->req_address, &a, err)) < 0)
			return r;
		if (!tk_prefix_contains(&p, &a))
			return tk_err_set(err, -EADDRNOTAVAIL,
					  "address '%s' is not in network '%s'", req->req_address,
					  n->name);
		r = tk_ipam_pool_reserve(pool, &a, err);
	} else {
		r = tk_ipam_pool_alloc(pool, &a, err);
	}
	if (r < 0)
		return tk_err_wrap(err, r, "network '%s'", n->name);
	if (!(pa = calloc(1, sizeof(*pa)))) {
		tk_ipam_pool_release(pool, &a);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	*pa = (struct pending_addr){ .network_id = n->id,
				     .addr = a,
				     .uid = c->uid,
				     .since = now_seconds(),
				     .next = d->addrs };
	d->addrs = pa;
	d->n_addrs++;
	*ret = address_json(&a, p.len);
	return 0;
}

static int release_address(struct docker *d, const struct tk_caller *c,
			   const struct tk_dnet_request *req, tk_err *err)
{
	struct tk_prefix p;
	struct tk_addr a;
	struct network *n;
	int r;

	if ((r = parse_pool_id(req->pool_id, &p, err)) < 0 ||
	    (r = parse_address(req->req_address, &a, err)) < 0)
		return r;
	/* Gone with its network, held by an endpoint (DeleteEndpoint gave it back), a gateway. */
	if (!(n = network_by_subnet(d->m, &p)) || caller_may_manage(c, n->tenant, NULL) < 0)
		return 0;
	if (addr_forget(d, n, &a))
		tk_ipam_pool_release(p.addr.family == AF_INET ? n->pool4 : n->pool6, &a);
	return 0;
}

static int release_pool(struct docker *d, const struct tk_caller *c,
			const struct tk_dnet_request *req, tk_err *err)
{
	struct tk_prefix p;
	int r;

	if ((r = parse_pool_id(req->pool_id, &p, err)) < 0)
		return r;
	/* Only its holder's (or an admin's: dockerd's): another uid's pool answers as none. */
	for (struct pending_pool *pp = d->pools; pp; pp = pp->next)
		if (prefix_equal(&pp->prefix, &p) && (c->admin || pp->uid == c->uid)) {
			pool_forget(d, &p);
			break;
		}
	return 0;
}

static int pool_tenant_check(struct docker *d, const char *pool, const char *tenant, tk_err *err)
{
	struct pending_pool *pp;
	struct tk_prefix p;

	if (!pool || tk_prefix_parse(pool, &p, NULL) < 0 || !(pp = pool_find(d, &p)))
		return 0;
	if (pp->tenant[0] && strcmp(pp->tenant, tenant) != 0)
		return tk_err_set(err, -EINVAL, "--ipam-opt tenant=%s and -o tenant=%s differ",
				  pp->tenant, tenant);
	return 0;
}

static void pool_forget_text(struct docker *d, const char *pool)
{
	struct tk_prefix p;

	if (pool && tk_prefix_parse(pool, &p, NULL) >= 0)
		pool_forget(d, &p);
}

static int create_network(struct docker *d, const struct tk_caller *c,
			  const struct tk_dnet_request *req, tk_err *err)
{
	struct network_params np = { .subnet4 = req->pool4,
				     .subnet6 = req->pool6,
				     .ipv6 = req->ipv6,
				     .nat = req->nat,
				     .internal = req->internal,
				     .caller = c,
				     .mtu = req->mtu };
	char name[TK_NAME_MAX + 1];
	struct tk_addr gw;
	struct tk_prefix p;
	struct network *n;
	int r;

	if ((r = tk_dnet_network_name(req->network_id, name, sizeof(name), err)) < 0 ||
	    (r = tk_tenant_find(&d->m->tenants, c, req->tenant, &np.tenant, err)) < 0 ||
	    (r = pool_tenant_check(d, req->pool4, req->tenant, err)) < 0 ||
	    (r = pool_tenant_check(d, req->pool6, req->tenant, err)) < 0)
		return r;
	if (req->ipv6 && !req->pool6)
		return tk_err_set(err, -EINVAL,
				  "--ipv6 needs an IPv6 pool from --ipam-driver "
				  "tenantkit-net");
	/* Docker's IPAM view of the gateways must be the bridge's. */
	if ((r = tk_prefix_parse(req->pool4, &p, err)) < 0 ||
	    (r = default_gateway(&p, &gw, err)) < 0 ||
	    (r = gateway_check(&gw, req->gateway4, err)) < 0)
		return r;
	if (req->pool6 && ((r = tk_prefix_parse(req->pool6, &p, err)) < 0 ||
			   (r = default_gateway(&p, &gw, err)) < 0 ||
			   (r = gateway_check(&gw, req->gateway6, err)) < 0))
		return r;
	np.name = name;
	if ((r = network_create(d->m, &np, &n, err)) < 0)
		return r;
	pool_forget_text(d, req->pool4);
	pool_forget_text(d, req->pool6);
	return 0;
}

static int delete_network(struct docker *d, const struct tk_caller *c,
			  const struct tk_dnet_request *req, tk_err *err)
{
	struct network *n = NULL;
	int r = find_network(d, c, req->network_id, &n, err);
	int64_t id;

	if (r == -ENOENT) {
		tk_err_clear(err);
		return 0; /* already gone: Docker retries a delete that failed half-way */
	}
	if (r < 0)
		return r;
	id = n->id;
	/* Held addresses go with the network; kept (and still reserved) if it stays. */
	if ((r = network_delete(d->m, n, err)) >= 0)
		addrs_forget_network(d, id);
	return r;
}

/* Gives back an address held since RequestAddress: endpoint_add reserves it again. */
static int unhold(struct docker *d, struct network *n, const char *text, tk_err *err)
{
	struct tk_addr a;
	int r;

	if (!text)
		return 0;
	if ((r = parse_address(text, &a, err)) < 0)
		return r;
	if (addr_forget(d, n, &a))
		tk_ipam_pool_release(a.family == AF_INET ? n->pool4 : n->pool6, &a);
	return 0;
}

static int create_endpoint(struct docker *d, const struct tk_caller *c,
			   const struct tk_dnet_request *req, json_t **ret, tk_err *err)
{
	const char *ips[3] = { req->address, req->address6, NULL };
	char ifname[TK_IFNAME_MAX + 1], mac[TK_MAC_STRLEN];
	struct endpoint_params p = { .netns = "", .ips = ips, .mac = req->mac, .docker = true };
	struct endpoint e;
	int r;

	if ((r = find_network(d, c, req->network_id, &p.network, err)) < 0 ||
	    (r = tk_dnet_endpoint_ifname(req->endpoint_id, ifname, sizeof(ifname), err)) < 0)
		return r;
	if (req->address6 && !p.network->has6)
		return tk_err_set(err, -EINVAL, "network '%s' has no IPv6 subnet", p.network->name);
	if ((r = unhold(d, p.network, req->address, err)) < 0 ||
	    (r = unhold(d, p.network, req->address6, err)) < 0)
		return r;
	p.container_id = req->endpoint_id;
	p.ifname = ifname;
	if ((r = endpoint_add(d->m, c, &p, &e, err)) < 0)
		return r;
	/* Docker wants back only what it did not give. */
	if (req->mac)
		*ret = json_object();
	else
		*ret = json_pack("{s:{s:s}}", "Interface", "MacAddress",
				 tk_mac_format(e.mac, mac, sizeof(mac)));
	return 0;
}

static int delete_endpoint(struct docker *d, const struct tk_caller *c,
			   const struct tk_dnet_request *req, tk_err *err)
{
	struct endpoint e;
	int r = find_endpoint(d, c, req, &e, err);

	if (r == -ENOENT) {
		/* Released already: its container's netns went away with the veth. */
		tk_err_clear(err);
		return 0;
	}
	if (r < 0 || (r = endpoint_del(d->m, &e, err)) < 0)
		return r;
	return 0;
}

/*
 * The sandbox's path, a label of a netns that dies with the machine, is written like the
 * endpoint's row (tk_store_begin_ephemeral): a durable commit would fsync once more in every
 * `docker run`.
 */
static int set_netns(struct manager *m, int64_t id, const char *netns, tk_err *err)
{
	int r;

	if ((r = tk_store_begin_ephemeral(m->store, err)) < 0)
		return r;
	if ((r = db_endpoint_set_netns(m, id, netns, err)) < 0 ||
	    (r = tk_store_commit(m->store, err)) < 0) {
		tk_store_rollback(m->store);
		return r;
	}
	return 0;
}

/*
 * dockerd configures the container's interface itself and announces nothing (Docker 20.10), while
 * a freed address is given out again at once: the network's other containers would keep its
 * previous holder's MAC until their entries went stale and their probes failed.  So netd
 * announces the container's addresses at Join, before dockerd brings the interface up.
 */
static void announce(const struct endpoint *e)
{
	char who[1100];

	snprintf(who, sizeof(who), "Docker endpoint '%s'", e->container_id);
	endpoint_announce_by_host(e->network, who, e->mac, e->has4 ? &e->ip4 : NULL,
				  e->has6 ? &e->ip6 : NULL);
}

static int join(struct docker *d, const struct tk_caller *c, const struct tk_dnet_request *req,
		json_t **ret, tk_err *err)
{
	char gw[TK_ADDR_STRLEN];
	struct endpoint e;
	json_t *o;
	int r;

	if ((r = find_endpoint(d, c, req, &e, err)) < 0)
		return r;
	/*
	 * The sandbox's netns, recorded as a CNI endpoint's path is: endpoint.check opens it
	 * for root and admins (endpoint_open_netns, with its checks), never for the tenant.
	 */
	if (req->sandbox_key) {
		if (req->sandbox_key[0] != '/' || strlen(req->sandbox_key) >= sizeof(e.netns))
			return tk_err_set(err, -EINVAL,
					  "\"SandboxKey\" must be an absolute path shorter than "
					  "%zu bytes",
					  sizeof(e.netns));
		if (strcmp(e.netns, req->sandbox_key) != 0 &&
		    (r = set_netns(d->m, e.id, req->sandbox_key, err)) < 0)
			return r;
	}
	announce(&e);
	o = json_pack("{s:{s:s, s:s}, s:s}", "InterfaceName", "SrcName", e.ifname, "DstPrefix",
		      "eth", "Gateway", tk_addr_format(&e.network->gateway4, gw, sizeof(gw)));
	if (o && e.network->has6)
		json_object_set_new(
			o, "GatewayIPv6",
			json_string(tk_addr_format(&e.network->gateway6, gw, sizeof(gw))));
	*ret = o;
	return 0;
}

/* endpoint.ports, which the ports feature adds to the local protocol; NULL: clear. */
static int set_ports(struct docker *d, const struct tk_caller *c, const struct tk_dnet_request *req,
		     json_t *mappings, bool clearing, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *request = NULL, *reply = NULL;
	const char *msg = NULL;
	struct endpoint e;
	json_int_t code = 0;
	int r;

	if ((r = find_endpoint(d, c, req, &e, err)) < 0) {
		if (clearing && r == -ENOENT) {
			tk_err_clear(err);
			return 0;
		}
		return r;
	}
	request = json_pack("{s:s, s:{s:s, s:s, s:s, s:O}}", "op", "endpoint.ports", "args",
			    "network", e.network->name, "container_id", e.container_id, "ifname",
			    e.ifname, "port_mappings", mappings);
	if (!request)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (!(reply = rpc_dispatch(d->m, c, request)))
		return tk_err_set(err, -EIO, "endpoint.ports gave no answer");
	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	json_unpack(reply, "{s:{s?I, s?s}}", "error", "code", &code, "msg", &msg);
	if (code == EOPNOTSUPP && msg && strncmp(msg, "unknown op", 10) == 0) {
		if (clearing)
			return 0; /* nothing can have been published */
		return tk_err_set(err, -EOPNOTSUPP,
				  "published ports need netd's endpoint.ports, which this netd "
				  "does not have");
	}
	return tk_err_set(err, code > 0 ? -(int)code : -EIO, "%s",
			  msg ? msg : "endpoint.ports failed");
}

static int endpoint_info(struct docker *d, const struct tk_caller *c,
			 const struct tk_dnet_request *req, json_t **ret, tk_err *err)
{
	struct endpoint e;
	int r = find_endpoint(d, c, req, &e, err);

	if (r < 0)
		return r;
	*ret = json_pack("{s:{s:s, s:s, s:s}}", "Value", "tenant", e.network->tenant->name,
			 "network", e.network->name, "host_veth", e.host_ifname);
	return 0;
}

static int handle(struct docker *d, const struct tk_caller *c, const struct tk_dnet_request *req,
		  json_t **ret, tk_err *err)
{
	int r;

	switch (req->op) {
	case TK_DNET_ACTIVATE:
		*ret = json_pack("{s:[s, s]}", "Implements", "NetworkDriver", "IpamDriver");
		return 0;
	case TK_DNET_CAPABILITIES:
		*ret = json_pack("{s:s, s:s}", "Scope", "local", "ConnectivityScope", "local");
		return 0;
	case TK_DNET_IPAM_CAPABILITIES:
		/* netd keeps its own records: nothing to replay after a dockerd restart. */
		*ret = json_pack("{s:b, s:b}", "RequiresMACAddress", 0, "RequiresRequestReplay", 0);
		return 0;
	case TK_DNET_IPAM_ADDRESS_SPACES:
		*ret = json_pack("{s:s, s:s}", "LocalDefaultAddressSpace", "tenantkit",
				 "GlobalDefaultAddressSpace", "tenantkit-global");
		return 0;
	case TK_DNET_ALLOCATE_NETWORK:
	case TK_DNET_FREE_NETWORK:
		return tk_err_set(err, -EOPNOTSUPP,
				  "tenantkit-net networks are local: swarm scope is not supported");
	case TK_DNET_REQUEST_POOL: return request_pool(d, c, req, ret, err);
	case TK_DNET_REQUEST_ADDRESS: return request_address(d, c, req, ret, err);
	case TK_DNET_JOIN: return join(d, c, req, ret, err);
	case TK_DNET_CREATE_ENDPOINT: return create_endpoint(d, c, req, ret, err);
	case TK_DNET_ENDPOINT_INFO: return endpoint_info(d, c, req, ret, err);
	default: break;
	}
	*ret = json_object();
	switch (req->op) {
	case TK_DNET_RELEASE_POOL: return release_pool(d, c, req, err);
	case TK_DNET_RELEASE_ADDRESS: return release_address(d, c, req, err);
	case TK_DNET_CREATE_NETWORK: return create_network(d, c, req, err);
	case TK_DNET_DELETE_NETWORK: return delete_network(d, c, req, err);
	case TK_DNET_DELETE_ENDPOINT: return delete_endpoint(d, c, req, err);
	case TK_DNET_LEAVE: {
		struct endpoint e;
		/* Docker moved the interface back; DeleteEndpoint removes it.  Only authorise. */
		r = find_endpoint(d, c, req, &e, err);
		if (r == -ENOENT)
			tk_err_clear(err);
		return r == -ENOENT ? 0 : r;
	}
	case TK_DNET_PROGRAM_EXTERNAL:
		/* Docker sends its port map, empty without -p, with every container it starts. */
		if (!req->port_mappings)
			return 0;
		return set_ports(d, c, req, req->port_mappings,
				 json_array_size(req->port_mappings) == 0, err);
	case TK_DNET_REVOKE_EXTERNAL: {
		_cleanup_(json_decrefp) json_t *none = json_array();
		return set_ports(d, c, req, none, true, err);
	}
	default: return 0; /* DiscoverNew, DiscoverDelete */
	}
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Through lib/http, with the state lock held. */
static unsigned serve(void *userdata, const struct tk_caller *c, const char *url, const char *body,
		      size_t len, json_t **ret)
{
	struct docker *d = userdata;
	struct tk_dnet_request req;
	json_t *result = NULL;
	tk_err err = {};
	uint64_t t0 = now_us();
	size_t shown = len < 1024 ? len : 1024;
	int r;

	/* What dockerd sends (without its final newline), and how long netd takes for it. */
	while (shown > 0 && (body[shown - 1] == '\n' || body[shown - 1] == '\r'))
		shown--;
	log_debug("Docker network API %s from uid %u: %.*s", url, (unsigned)c->uid, (int)shown,
		  body);
	if ((r = tk_dnet_request_decode(url, body, len, &req, &err)) < 0) {
		log_ratelimit_warning("Docker network API %s from uid %u: %s", url,
				      (unsigned)c->uid, err.msg);
		*ret = tk_http_error(err.msg);
		return r == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	r = handle(d, c, &req, &result, &err);
	tk_dnet_request_done(&req);
	if (r < 0) {
		json_decref(result);
		log_ratelimit_full_errno(LOG_WARNING, r, "Docker network API %s from uid %u: %s",
					 url, (unsigned)c->uid, err.msg);
		*ret = tk_http_error(err.msg[0] ? err.msg : "failed");
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	log_debug("Docker network API %s answered in %.1f ms", url, (now_us() - t0) / 1000.0);
	*ret = result;
	return MHD_HTTP_OK;
}

static void docker_free(void *userdata)
{
	struct docker *d = userdata;

	while (d->pools) {
		struct pending_pool *next = d->pools->next;
		free(d->pools);
		d->pools = next;
	}
	while (d->addrs) {
		struct pending_addr *next = d->addrs->next;
		free(d->addrs);
		d->addrs = next;
	}
	free(d);
}

int docker_start(struct manager *m, const char *socket_path, struct tk_http **ret, tk_err *err)
{
	struct tk_http_config cfg = {
		.name = "Docker network-plugin API",
		.socket_path = socket_path,
		.admin_gid = m->admin_gid,
		.handle = serve,
		.free_userdata = docker_free,
	};
	const char *hold;
	struct docker *d;
	int r;

	/*
	 * dockerd sets iptables' FORWARD policy to drop when it has to turn IPv4 forwarding on
	 * itself, and dockerd loads br_netfilter, which passes bridged IPv4 through that chain:
	 * the containers of one tenantkit network could no longer reach each other.  A dockerd
	 * started after netd finds forwarding on and leaves the policy alone.
	 */
	if ((r = tk_sysctl_write("/proc/sys/net/ipv4/ip_forward", "1", err)) < 0)
		return tk_err_wrap(err, r, "enabling IPv4 forwarding for Docker's networks");
	if (!(d = calloc(1, sizeof(*d))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	d->m = m;
	d->hold_seconds = HOLD_SECONDS;
	if ((hold = getenv("TK_NETD_DOCKER_HOLD_SECONDS")))
		d->hold_seconds = (unsigned)strtoul(hold, NULL, 10);
	cfg.userdata = d;
	if ((r = tk_http_start(&cfg, ret, err)) < 0)
		docker_free(d);
	return r;
}
