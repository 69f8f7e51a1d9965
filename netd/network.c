/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tenant networks: a bridge with gateway addresses, pools, and their place in the firewall. */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "netd.h"
#include "nl.h"
#include "store.h"

#define CARVE_LEN4 24
#define CARVE_LEN6 64

struct network *network_free(struct network *n)
{
	if (!n)
		return NULL;
	tk_ipam_pool_free(n->pool4);
	tk_ipam_pool_free(n->pool6);
	free(n);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct network *, network_free);

static int check_overlap(struct manager *m, const struct tk_prefix *p, tk_err *err)
{
	char buf[TK_PREFIX_STRLEN], other[TK_PREFIX_STRLEN];

	for (struct network *o = m->networks; o; o = o->next) {
		const struct tk_prefix *q = p->addr.family == AF_INET ? &o->subnet4 : &o->subnet6;
		bool has = p->addr.family == AF_INET ? o->has4 : o->has6;
		if (has && tk_prefix_overlaps(p, q))
			return tk_err_set(err, -EADDRINUSE, "subnet %s overlaps %s of network '%s'",
					  tk_prefix_format(p, buf, sizeof(buf)),
					  tk_prefix_format(q, other, sizeof(other)), o->name);
	}
	return 0;
}

static int parse_requested(const char *requested, int family, struct tk_prefix *ret, tk_err *err)
{
	int r;

	if ((r = tk_prefix_parse(requested, ret, err)) < 0)
		return r;
	if (ret->addr.family != family)
		return tk_err_set(err, -EINVAL, "subnet '%s' is not an %s subnet", requested,
				  family == AF_INET ? "IPv4" : "IPv6");
	return network_subnet_size_check(ret, err);
}

int network_subnet_size_check(const struct tk_prefix *p, tk_err *err)
{
	char text[TK_PREFIX_STRLEN];

	if (p->addr.family == AF_INET ? p->len >= 12 && p->len <= 30
				      : p->len >= 48 && p->len <= 124)
		return 0;
	return tk_err_set(err, -EINVAL, "%s subnet '%s' must be between %s",
			  p->addr.family == AF_INET ? "IPv4" : "IPv6",
			  tk_prefix_format(p, text, sizeof(text)),
			  p->addr.family == AF_INET ? "/12 and /30" : "/48 and /124");
}

/* Every pool is taken: the error names them all, and the option that sets them. */
static int pools_full(struct manager *m, int family, tk_err *err)
{
	char pools[TK_PREFIX_LIST_MAX * TK_PREFIX_STRLEN];

	if (family == AF_INET6)
		tk_prefix_format(&m->pool6, pools, sizeof(pools));
	else
		tk_prefix_list_format(&m->pools4, pools, sizeof(pools));
	return tk_err_set(err, -ENOSPC,
			  "no free /%u left in the %s pool %s (netd --pool%c): every /%u there "
			  "belongs to a network or is reached by the host",
			  family == AF_INET6 ? CARVE_LEN6 : CARVE_LEN4,
			  family == AF_INET6 ? "IPv6" : "IPv4", pools,
			  family == AF_INET6 ? '6' : '4',
			  family == AF_INET6 ? CARVE_LEN6 : CARVE_LEN4);
}

/*
 * Takes the requested subnet, or carves the lowest free one out of the daemon's pools (in their
 * order), past every network's subnet and everything the host already reaches.
 */
static int pick_subnet(struct manager *m, const struct network_params *np, const char *requested,
		       int family, struct tk_prefix *ret, tk_err *err)
{
	_cleanup_free_ struct tk_prefix *used = NULL;
	size_t n_used = 0, size = 0;
	int r = -ENOSPC;

	if (requested) {
		if ((r = parse_requested(requested, family, ret, err)) < 0 ||
		    (r = check_overlap(m, ret, err)) < 0)
			return r;
		return subnet_check(m, np, ret, err);
	}
	if ((r = subnet_host_prefixes(m, family, &used, &n_used, &size, err)) < 0)
		return r;
	for (struct network *o = m->networks; o; o = o->next) {
		bool has = family == AF_INET ? o->has4 : o->has6;
		if (!has)
			continue;
		if (n_used == size) {
			size_t bigger = size ? size * 2 : 64;
			struct tk_prefix *p = realloc(used, bigger * sizeof(*p));
			if (!p)
				return tk_err_set(err, -ENOMEM, "out of memory");
			used = p;
			size = bigger;
		}
		used[n_used++] = family == AF_INET ? o->subnet4 : o->subnet6;
	}
	if (family == AF_INET6)
		r = tk_ipam_carve(&m->pool6, CARVE_LEN6, used, n_used, ret, err);
	for (size_t i = 0; family == AF_INET && i < m->pools4.n; i++) {
		tk_err_clear(err);
		r = tk_ipam_carve(&m->pools4.p[i], CARVE_LEN4, used, n_used, ret, err);
		if (r != -ENOSPC)
			break;
	}
	if (r == -ENOSPC)
		return pools_full(m, family, err);
	return r < 0 ? tk_err_wrap(err, r, "allocating a subnet") : 0;
}

/* Address space is a limit like the number of networks: checked before anything is made. */
static int check_address_caps(struct manager *m, const struct network *n, tk_err *err)
{
	const struct tk_tenant *t = n->tenant;
	uint64_t used4, used6, add4 = 0, add6 = 0;

	tenant_address_usage(m, t, &used4, &used6);
	if (n->has4)
		add4 = tk_prefix_size(&n->subnet4, 32);
	if (n->has6)
		add6 = tk_prefix_size(&n->subnet6, 64);
	if (t->max_addresses4 >= 0 && used4 + add4 > (uint64_t)t->max_addresses4)
		return tk_err_set(err, -EDQUOT,
				  "tenant '%s' may have at most %lld IPv4 addresses; it has %llu "
				  "and this network needs %llu more",
				  t->name, (long long)t->max_addresses4, (unsigned long long)used4,
				  (unsigned long long)add4);
	if (t->max_prefixes6 >= 0 && used6 + add6 > (uint64_t)t->max_prefixes6)
		return tk_err_set(err, -EDQUOT,
				  "tenant '%s' may have at most %lld IPv6 /64s; it has %llu and "
				  "this network needs %llu more",
				  t->name, (long long)t->max_prefixes6, (unsigned long long)used6,
				  (unsigned long long)add6);
	return 0;
}

static int network_prepare(struct manager *m, const struct network_params *p, struct network *n,
			   tk_err *err)
{
	int r;

	snprintf(n->name, sizeof(n->name), "%s", p->name);
	n->tenant = p->tenant;
	n->mtu = p->mtu ? p->mtu : 1500;
	n->internal = p->internal;
	n->nat = p->nat && !p->internal;
	n->has4 = true;
	n->has6 = p->ipv6 || p->subnet6;
	if (n->mtu < 576 || n->mtu > 65535)
		return tk_err_set(err, -EINVAL, "MTU %u is out of range (576..65535)", n->mtu);
	if (n->has6 && n->mtu < 1280)
		return tk_err_set(err, -EINVAL, "MTU %u is too small for IPv6 (minimum 1280)",
				  n->mtu);
	if ((r = pick_subnet(m, p, p->subnet4, AF_INET, &n->subnet4, err)) < 0)
		return r;
	if (n->has6 && (r = pick_subnet(m, p, p->subnet6, AF_INET6, &n->subnet6, err)) < 0)
		return r;
	if ((r = check_address_caps(m, n, err)) < 0)
		return r;
	if ((r = tk_ipam_pool_new(&n->subnet4, &n->pool4, err)) < 0)
		return r;
	tk_ipam_pool_default_gateway(n->pool4, &n->gateway4);
	if ((r = tk_ipam_pool_reserve(n->pool4, &n->gateway4, err)) < 0)
		return r;
	if (n->has6) {
		if ((r = tk_ipam_pool_new(&n->subnet6, &n->pool6, err)) < 0)
			return r;
		tk_ipam_pool_default_gateway(n->pool6, &n->gateway6);
		if ((r = tk_ipam_pool_reserve(n->pool6, &n->gateway6, err)) < 0)
			return r;
	}
	return 0;
}

static int add_gateway(struct manager *m, struct network *n, const struct tk_addr *gw,
		       const struct tk_prefix *subnet, json_t *actions, tk_err *err)
{
	struct tk_prefix p = { .addr = *gw, .len = subnet->len };
	char buf[TK_PREFIX_STRLEN];
	int r = tk_nl_addr_add(m->nl, n->bridge_ifindex, &p, err);

	if (r == -EEXIST)
		return 0;
	if (r < 0)
		return tk_err_wrap(err, r, "adding gateway address to bridge '%s'", n->bridge);
	report_action(actions, "added %s to bridge '%s'", tk_prefix_format(&p, buf, sizeof(buf)),
		      n->bridge);
	return 0;
}

/*
 * Written only when it is not want yet: each write of IPv6's all/forwarding, even of the value
 * it has, makes the kernel walk every IPv6 route of the netns (to purge routers' default routes),
 * which with thousands of bridges cost milliseconds per network; disable_ipv6 takes the RTNL.
 */
static int sysctl_read(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	int v;

	return f && fscanf(f, "%d", &v) == 1 ? v : -1;
}

static int sysctl_ensure(const char *path, int want, tk_err *err)
{
	char value[16];

	if (sysctl_read(path) == want)
		return 0;
	snprintf(value, sizeof(value), "%d", want);
	return tk_sysctl_write(path, value, err);
}

/*
 * IPv6 forwarding turned on makes the kernel drop the default routes that router advertisements
 * gave interfaces with accept_ra 1, and ignore further advertisements there: the host would lose
 * its IPv6 default route, and its addresses from them would expire.  Such interfaces go to
 * accept_ra 2 (accept them all the same).  Where systemd-networkd or NetworkManager
 * handle advertisements, accept_ra is 0 and stays.
 */
static void keep_router_advertisements(void)
{
	_cleanup_(closedirp) DIR *d = opendir("/proc/sys/net/ipv6/conf");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char path[64 + sizeof(de->d_name)];
		tk_err err = {};

		/* Not "default" nor netd's own links: tenant bridges take no advertisements. */
		if (de->d_name[0] == '.' || strcmp(de->d_name, "all") == 0 ||
		    strcmp(de->d_name, "default") == 0 || strcmp(de->d_name, "lo") == 0 ||
		    strncmp(de->d_name, "tk", 2) == 0)
			continue;
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", de->d_name);
		if (sysctl_read(path) != 1)
			continue;
		if (tk_sysctl_write(path, "2", &err) < 0)
			log_warning("Keeping router advertisements on '%s' with IPv6 forwarding on "
				    "failed, ignoring: %s",
				    de->d_name, err.msg);
		else
			log_info("IPv6 forwarding goes on: '%s' keeps accepting router "
				 "advertisements (accept_ra 2)",
				 de->d_name);
	}
}

/* Forwarding is what makes a gateway route; it is per network namespace, and idempotent. */
static int enable_forwarding(const struct network *n, tk_err *err)
{
	static const char forwarding6[] = "/proc/sys/net/ipv6/conf/all/forwarding";
	int r = sysctl_ensure("/proc/sys/net/ipv4/ip_forward", 1, err);

	if (r < 0 || !n->has6 || sysctl_read(forwarding6) == 1)
		return r;
	keep_router_advertisements();
	return tk_sysctl_write(forwarding6, "1", err);
}

/*
 * The bridge carries the id of the database that made it, so that a netd with another database
 * (another --state-dir) never takes it over, and reconcile never deletes it.
 */
static int stamp_bridge(struct manager *m, struct network *n, const struct tk_link_info *link,
			tk_err *err)
{
	char alias[64];
	int r;

	snprintf(alias, sizeof(alias), "%s%s", NETD_ALIAS_PREFIX, m->db_id);
	if (link && strcmp(link->alias, alias) == 0)
		return 0;
	if (link && strncmp(link->alias, NETD_ALIAS_PREFIX, strlen(NETD_ALIAS_PREFIX)) == 0)
		return tk_err_set(err, -EEXIST,
				  "bridge '%s' belongs to another netd (database %s, this one is "
				  "%s): one netd per host",
				  n->bridge, link->alias + strlen(NETD_ALIAS_PREFIX), m->db_id);
	if ((r = tk_nl_link_set_alias(m->nl, n->bridge_ifindex, alias, err)) < 0)
		return tk_err_wrap(err, r, "stamping bridge '%s'", n->bridge);
	return 0;
}

/*
 * An IPv4-only network carries no IPv6, from the host either: without this its bridge would still
 * send MLD reports (from :: even without a link-local address) to every container.
 */
int link_without_ipv6(const char *ifname, tk_err *err)
{
	char path[64 + IFNAMSIZ];
	int r;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	r = tk_sysctl_write(path, "1", err);
	if (r == -ENOENT && access("/proc/sys/net/ipv6", F_OK) < 0) {
		tk_err_clear(err); /* a host without IPv6 */
		return 0;
	}
	return r < 0 ? tk_err_wrap(err, r, "disabling IPv6 on '%s'", ifname) : 0;
}

/* link_without_ipv6 for a bridge, which may have it already. */
static int bridge_without_ipv6(const char *ifname, tk_err *err)
{
	char path[64 + IFNAMSIZ];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	return sysctl_read(path) == 1 ? 0 : link_without_ipv6(ifname, err);
}

/*
 * A bridge with an IPv6 subnet has IPv6 and a link-local address whatever the host's defaults
 * for new links say (default.disable_ipv6, default.addr_gen_mode 1), and no duplicate address
 * detection: without a link-local address, or while it is tentative (a second or two after the
 * first port comes up), the kernel sends no neighbour solicitation on the bridge for what it
 * routes, so the first packet the host routes to a container waits a second in the neighbour
 * queue (a connection's first SYN is lost), or all of them are lost.  The bridge's addresses
 * derive from its MAC, netd's own, as the gateway's address is (added nodad).  Set on a bridge
 * netd finds too (an older netd's, with no port yet); addr_gen_mode only on a new one, as a
 * change makes the kernel replace the link-local address.
 */
static int bridge_ipv6(const char *ifname, bool created, tk_err *err)
{
	static const char *const settings[] = { "addr_gen_mode", "accept_dad", "disable_ipv6" };
	char path[64 + IFNAMSIZ];
	int r;

	for (size_t i = created ? 0 : 1; i < ELEMENTSOF(settings); i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", ifname, settings[i]);
		if ((r = sysctl_ensure(path, 0, err)) < 0)
			return tk_err_wrap(err, r, "setting %s of '%s'", settings[i], ifname);
	}
	return 0;
}

/*
 * The gateway's MAC: 0a:7f and the network's id, set, so the kernel keeps it.  A bridge left to
 * itself takes its lowest port's MAC and moves to the next one's when that container goes; every
 * other container's neighbour entry for the gateway would then point nowhere until it probed
 * again, for some seconds.  The same on every host of a cluster, which no frame crosses.
 */
void network_gateway_mac(const struct network *n, uint8_t mac[6])
{
	uint32_t id = (uint32_t)(n->id & 0xffffffffu);

	mac[0] = 0x0a, mac[1] = 0x7f;
	mac[2] = (uint8_t)(id >> 24), mac[3] = (uint8_t)(id >> 16);
	mac[4] = (uint8_t)(id >> 8), mac[5] = (uint8_t)id;
}

int network_realize(struct manager *m, struct network *n, const struct tk_link_list *links,
		    json_t *actions, tk_err *err)
{
	const struct tk_link_info *listed = links ? tk_link_list_find(links, n->bridge) : NULL;
	struct tk_link_info link = {};
	uint8_t mac[6];
	int r;

	network_gateway_mac(n, mac);
	if (listed) {
		link = *listed;
		r = 0;
	} else {
		r = tk_nl_link_get(m->nl, n->bridge, &link, err);
	}
	if (r == -ENODEV) {
		tk_err_clear(err);
		r = tk_nl_bridge_add(m->nl, n->bridge, mac, n->mtu, &n->bridge_ifindex, err);
		if (r < 0)
			return tk_err_wrap(err, r, "creating bridge '%s'", n->bridge);
		report_action(actions, "created bridge '%s'", n->bridge);
		if ((r = stamp_bridge(m, n, NULL, err)) < 0 ||
		    (n->has6 && (r = bridge_ipv6(n->bridge, true, err)) < 0))
			return r;
	} else if (r < 0) {
		return r;
	} else {
		n->bridge_ifindex = link.ifindex;
		if ((r = stamp_bridge(m, n, &link, err)) < 0 ||
		    (n->has6 && (r = bridge_ipv6(n->bridge, false, err)) < 0))
			return r;
		/* a bridge made before netd set its MAC */
		if (memcmp(link.mac, mac, sizeof(mac)) != 0) {
			if ((r = tk_nl_link_set_mac(m->nl, link.ifindex, mac, err)) < 0)
				return tk_err_wrap(err, r, "setting the MAC of bridge '%s'",
						   n->bridge);
			report_action(actions, "set the MAC of bridge '%s'", n->bridge);
		}
	}
	/* A restart finds most of it done: each write here would take the RTNL for nothing. */
	if (!n->has6 && (r = bridge_without_ipv6(n->bridge, err)) < 0)
		return r;
	/* Up before the gateways, for their prefix routes: configure_container() says why. */
	if (!link.up && (r = tk_nl_link_set_up(m->nl, n->bridge_ifindex, err)) < 0)
		return tk_err_wrap(err, r, "setting bridge '%s' up", n->bridge);
	if (n->has4 && (r = add_gateway(m, n, &n->gateway4, &n->subnet4, actions, err)) < 0)
		return r;
	if (n->has6 && (r = add_gateway(m, n, &n->gateway6, &n->subnet6, actions, err)) < 0)
		return r;
	return enable_forwarding(n, err);
}

static void undo_bridge(struct manager *m, const struct network *n)
{
	tk_err e = {};
	int r = tk_nl_link_del(m->nl, n->bridge, &e);

	if (r < 0 && r != -ENODEV)
		log_error_errno(r, "Failed to remove bridge '%s' while undoing: %s", n->bridge,
				e.msg);
}

static void network_attach(struct manager *m, struct network *n)
{
	struct network **tail = &m->networks;

	while (*tail)
		tail = &(*tail)->next;
	*tail = n;
	n->tenant->n_networks++;
	manager_networks_changed(m);
}

int network_create(struct manager *m, const struct network_params *p, struct network **ret,
		   tk_err *err)
{
	_cleanup_(network_freep) struct network *n = NULL;
	struct tk_tenant *t = p->tenant;
	int r;

	if ((r = tk_name_validate(p->name, "network name", err)) < 0)
		return r;
	if (manager_network(m, p->name))
		return tk_err_set(err, -EEXIST, "network '%s' already exists", p->name);
	if (t->max_networks >= 0 && t->n_networks >= t->max_networks)
		return tk_err_set(err, -EDQUOT,
				  "tenant '%s' already has its maximum of %lld network(s)", t->name,
				  (long long)t->max_networks);
	if (!(n = calloc(1, sizeof(*n))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = network_prepare(m, p, n, err)) < 0)
		return r;

	if ((r = tk_store_begin(m->store, err)) < 0)
		return r;
	if ((r = db_network_insert(m, n, err)) < 0)
		goto rollback;
	/* -EEXIST: the bridge is not ours (another netd's), so it is not ours to remove. */
	if ((r = network_realize(m, n, NULL, NULL, err)) == -EEXIST)
		goto rollback;
	if (r < 0 || (r = fault_point("network-bridge", err)) < 0)
		goto undo_bridge;
	if ((r = firewall_network(m, n, true, err)) < 0)
		goto undo_bridge;
	if ((r = fault_point("network-firewall", err)) < 0 ||
	    (r = shaping_network(m, n, err)) < 0 || (r = tk_store_commit(m->store, err)) < 0)
		goto undo_firewall;

	log_info("Created network '%s' of tenant '%s' on bridge '%s'", n->name, t->name, n->bridge);
	network_attach(m, n);
	*ret = TAKE_PTR(n);
	return 0;

undo_firewall:
	(void)firewall_network(m, n, false, NULL);
undo_bridge:
	undo_bridge(m, n);
rollback:
	tk_store_rollback(m->store);
	return tk_err_wrap(err, r, "creating network '%s'", p->name);
}

static int unlink_in_firewall(struct network *other, void *userdata)
{
	void **ctx = userdata;
	return firewall_link(ctx[0], ctx[1], other, false, ctx[2]);
}

static int relink_in_firewall(struct network *other, void *userdata)
{
	void **ctx = userdata;
	(void)firewall_link(ctx[0], ctx[1], other, true, NULL);
	return 0;
}

/*
 * A delete that failed: the database rolled back, and the firewall given back what the delete
 * took from it (adding an element that is there changes nothing), its links' included: without
 * them the networks still linked in the database could not reach each other.
 */
static void network_delete_undo(struct manager *m, struct network *n)
{
	void *ctx[3] = { m, n, NULL };

	tk_store_rollback(m->store);
	(void)firewall_network(m, n, true, NULL);
	(void)db_links_foreach(m, n, relink_in_firewall, ctx, NULL);
}

int network_delete(struct manager *m, struct network *n, tk_err *err)
{
	void *ctx[3] = { m, n, err };
	int r;

	if (n->n_endpoints > 0)
		return tk_err_set(err, -EBUSY, "network '%s' still has %u endpoint(s)", n->name,
				  n->n_endpoints);
	if ((r = tk_store_begin(m->store, err)) < 0)
		return r;
	if ((r = db_links_foreach(m, n, unlink_in_firewall, ctx, err)) < 0 ||
	    (r = accounting_network_gone(m, n, err)) < 0 ||
	    (r = db_network_delete(m, n, err)) < 0 ||
	    (r = firewall_network(m, n, false, err)) < 0 ||
	    (r = fault_point("network-delete", err)) < 0) {
		network_delete_undo(m, n);
		return tk_err_wrap(err, r, "deleting network '%s'", n->name);
	}
	r = tk_nl_link_del(m->nl, n->bridge, err);
	if (r < 0 && r != -ENODEV) {
		network_delete_undo(m, n);
		return tk_err_wrap(err, r, "deleting bridge '%s'", n->bridge);
	}
	tk_err_clear(err);
	/*
	 * A commit that fails (a full disk) keeps the network: the transaction rolled back, the
	 * bridge made again as at its creation (a new index, which the firewall's elements then
	 * get), and the elements given back.
	 */
	if ((r = fault_point("network-delete-commit", err)) < 0 ||
	    (r = tk_store_commit(m->store, err)) < 0) {
		tk_err again = {};

		tk_store_rollback(m->store);
		if (network_realize(m, n, NULL, NULL, &again) < 0 ||
		    shaping_network(m, n, &again) < 0)
			log_error("Cannot make bridge '%s' of network '%s' again (a restart will): "
				  "%s",
				  n->bridge, n->name, again.msg);
		network_delete_undo(m, n);
		return tk_err_wrap(err, r, "deleting network '%s'", n->name);
	}
	log_info("Deleted network '%s' and bridge '%s'", n->name, n->bridge);
	for (struct network **pp = &m->networks; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	n->tenant->n_networks--;
	network_free(n);
	manager_networks_changed(m);
	return 0;
}

int network_link(struct manager *m, struct network *a, struct network *b, bool link, tk_err *err)
{
	int r;

	if (a == b)
		return tk_err_set(err, -EINVAL, "cannot link network '%s' with itself", a->name);
	if (a->tenant != b->tenant)
		return tk_err_set(
			err, -EPERM,
			"networks '%s' and '%s' belong to different tenants and cannot be linked",
			a->name, b->name);
	if ((r = tk_store_begin(m->store, err)) < 0)
		return r;
	if ((r = db_link_set(m, a, b, link, err)) < 0 ||
	    (r = firewall_link(m, a, b, link, err)) < 0) {
		tk_store_rollback(m->store);
		goto fail;
	}
	if ((r = tk_store_commit(m->store, err)) < 0) {
		(void)firewall_link(m, a, b, !link, NULL);
		goto fail;
	}
	log_info("%s networks '%s' and '%s'", link ? "Linked" : "Unlinked", a->name, b->name);
	return 0;
fail:
	return tk_err_wrap(err, r, "%s networks '%s' and '%s'", link ? "linking" : "unlinking",
			   a->name, b->name);
}
