/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Endpoints: a veth pair whose peer is created directly inside the container's network namespace,
 * addresses and default routes there, the host end on the bridge, and the port's elements in the
 * anti-spoofing sets.  Every step has an undo, so a failure leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include "announce.h"
#include "log.h"
#include "netd.h"
#include "netns.h"
#include "nl.h"
#include "store.h"

/*
 * Only a network namespace the caller owns (through its user namespace) is acceptable from a
 * non-admin, or any tenant could plant interfaces in someone else's namespace.  "Owns" is the
 * kernel's rule for using it: the caller's uid owns the outermost user namespace above the
 * netns (rootless podman: the user namespace the user made).  A netns of the host's user
 * namespace (rootful containers, `ip netns add`) is only for root and the admin group.
 */
static int check_netns_owner(const struct tk_caller *c, int fd, tk_err *err)
{
	bool host = false;
	uid_t owner = 0;

	if (c->admin)
		return 0;
	if (tk_netns_owner(fd, &host, &owner, err) < 0)
		return tk_err_wrap(err, -EACCES, "permission denied");
	if (host)
		return tk_err_set(
			err, -EACCES,
			"permission denied: the netns belongs to the host's user namespace "
			"(only root or the admin group may attach to it)");
	if (owner != c->uid)
		return tk_err_set(err, -EACCES,
				  "permission denied: the netns belongs to a user namespace of uid "
				  "%u, not uid %u",
				  (unsigned)owner, (unsigned)c->uid);
	return 0;
}

/*
 * The netns comes as a descriptor the client opened with its own rights (SCM_RIGHTS), so netd
 * never resolves a path a tenant chose: no FIFO to hang on, no symlink to swap, no mount
 * namespace of its own to look in, no "exists?" oracle.  Only root and the admin group may
 * still name a path instead; it is opened without blocking or following a final symlink.
 */
int endpoint_open_netns(const struct tk_caller *c, const char *path, int *ret_fd, tk_err *err)
{
	static struct stat self; /* netd's own netns never changes */
	_cleanup_close_ int fd = -1;
	struct statx stx;
	struct stat st;
	int r;

	if (self.st_ino == 0 && stat("/proc/self/ns/net", &self) < 0)
		return tk_err_set(err, -errno, "cannot stat own netns: %m");
	if (c->passed_fd >= 0) {
		/*
		 * From the inode as cached, before fstatfs() or an ioctl: a file on a FUSE mount
		 * (a tenant may have one in its own user namespace) cannot make netd wait for its
		 * daemon.  Every namespace file, bind-mounted or not, is on nsfs's one superblock.
		 */
		if (statx(c->passed_fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) <
			    0 ||
		    makedev(stx.stx_dev_major, stx.stx_dev_minor) != self.st_dev)
			return tk_err_set(
				err, -EINVAL,
				"the descriptor passed as netns: not a network namespace");
		if ((r = tk_netns_verify(c->passed_fd, err)) < 0)
			return tk_err_wrap(err, r, "the descriptor passed as netns");
		fd = fcntl(c->passed_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return tk_err_set(err, -errno, "cannot duplicate the netns descriptor: %m");
	} else if (!c->admin) {
		return tk_err_set(
			err, -EINVAL,
			"the netns must be passed as a descriptor (SCM_RIGHTS), as netctl "
			"and the CNI plugins do; netd opens netns paths only for root and "
			"the admin group");
	} else if (!path || !path[0]) {
		return tk_err_set(err, -EINVAL, "no netns: pass a descriptor or a path");
	} else if ((r = tk_netns_open(path, TK_NETNS_NOFOLLOW, &fd, err)) < 0) {
		return r;
	}
	if (fstat(fd, &st) < 0)
		return tk_err_set(err, -errno, "cannot stat the netns: %m");
	if (st.st_dev == self.st_dev && st.st_ino == self.st_ino)
		return tk_err_set(err, -EINVAL, "the netns is netd's own network namespace");
	if ((r = check_netns_owner(c, fd, err)) < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Static requests: "10.200.0.7" or "10.200.0.7/24"; the length, if given, must match. */
static int reserve_static(struct manager *m, bool cluster, struct endpoint *e, const char *s,
			  tk_err *err)
{
	struct network *n = e->network;
	struct tk_prefix p;
	int r;

	if (strchr(s, '/')) {
		if ((r = tk_prefix_parse_host(s, &p, err)) < 0)
			return r;
	} else if ((r = tk_addr_parse(s, &p.addr, err)) < 0) {
		return r;
	} else {
		p.len = p.addr.family == AF_INET ? n->subnet4.len : n->subnet6.len;
	}
	bool v4 = p.addr.family == AF_INET;
	if (v4 ? e->has4 : e->has6)
		return tk_err_set(err, -EINVAL, "more than one IPv%c address requested",
				  v4 ? '4' : '6');
	if (!v4 && !n->has6)
		return tk_err_set(err, -EINVAL, "network '%s' has no IPv6 subnet for '%s'", n->name,
				  s);
	if (p.len != (v4 ? n->subnet4.len : n->subnet6.len) ||
	    !tk_prefix_contains(v4 ? &n->subnet4 : &n->subnet6, &p.addr))
		return tk_err_set(err, -EADDRNOTAVAIL, "address '%s' is not in network '%s'", s,
				  n->name);
	/* cluster: only from the blocks this host holds (cluster-blocks.c) */
	if (cluster && (r = cluster_blocks_static(m, n, &p.addr, err)) < 0)
		return r;
	if ((r = tk_ipam_pool_reserve(v4 ? n->pool4 : n->pool6, &p.addr, err)) < 0)
		return tk_err_wrap(err, r, "requested address '%s'", s);
	if (v4) {
		e->ip4 = p.addr;
		e->has4 = true;
	} else {
		e->ip6 = p.addr;
		e->has6 = true;
	}
	return 0;
}

/* What announce() sends through: sockets of the container's netns, and its interface's index. */
struct announcer {
	struct tk_nl *nl;
	int na_fd; /* -1 on a network without IPv6 */
	int ifindex;
};

static void announcer_closep(struct announcer *a)
{
	a->nl = tk_nl_close(a->nl);
	closep(&a->na_fd);
}

/*
 * The host's neighbour entries for a detached container's addresses go with it: the address is
 * given out again, and the next container with it has another MAC, which the host would not ask
 * for until its entry for the old one went stale and its probes failed, some 30 s.
 */
static void forget_neighbours(struct manager *m, const struct endpoint *e)
{
	const struct tk_addr *addrs[] = { e->has4 ? &e->ip4 : NULL, e->has6 ? &e->ip6 : NULL };
	tk_err err = {};

	for (size_t i = 0; i < ELEMENTSOF(addrs); i++)
		if (addrs[i] && tk_nl_neigh_set(m->nl, e->network->bridge_ifindex, addrs[i], e->mac,
						false, &err) < 0)
			log_warning(
				"Forgetting the neighbour entry of container '%s', ignoring: %s",
				e->container_id, err.msg);
}

static void release_addresses(const struct endpoint *e)
{
	if (e->has4)
		tk_ipam_pool_release(e->network->pool4, &e->ip4);
	if (e->has6)
		tk_ipam_pool_release(e->network->pool6, &e->ip6);
}

static int assign_addresses(struct manager *m, struct endpoint *e, const char *const *ips,
			    tk_err *err)
{
	struct network *n = e->network;
	/* A network of the cluster hands out addresses of this host's own blocks only. */
	bool cluster = m->cluster && cluster_network(m, n->name);
	int r = 0;

	for (size_t i = 0; ips && ips[i]; i++)
		if ((r = reserve_static(m, cluster, e, ips[i], err)) < 0)
			goto fail;
	if (n->has4 && !e->has4) {
		if ((r = cluster ? cluster_blocks_alloc(m, n, AF_INET, &e->ip4, err)
				 : tk_ipam_pool_alloc(n->pool4, &e->ip4, err)) < 0)
			goto fail;
		e->has4 = true;
	}
	if (n->has6 && !e->has6) {
		if ((r = cluster ? cluster_blocks_alloc(m, n, AF_INET6, &e->ip6, err)
				 : tk_ipam_pool_alloc(n->pool6, &e->ip6, err)) < 0)
			goto fail;
		e->has6 = true;
	}
	return 0;
fail:
	release_addresses(e);
	e->has4 = e->has6 = false;
	return r;
}

/*
 * A container on two networks (or twice on one) gets a default route per interface: the first
 * keeps the kernel's default metric, later ones a higher one of their own.
 */
static int add_default_route(struct tk_nl *cnl, int ifindex, const struct tk_prefix *any,
			     const struct tk_addr *gateway, tk_err *err)
{
	int r = tk_nl_route_add(cnl, ifindex, any, gateway, 0, err);

	if (r == -EEXIST) {
		tk_err_clear(err);
		r = tk_nl_route_add(cnl, ifindex, any, gateway, 1024 + (unsigned)ifindex, err);
	}
	return r;
}

/* The container's netlink socket and, for IPv6, its advertisements' socket: both at once. */
static int open_container(int netns_fd, bool ipv6, struct announcer *ret, tk_err *err)
{
	int r;

	if ((r = tk_netns_enter(netns_fd, err)) < 0)
		return r;
	if ((r = tk_nl_open_container(&ret->nl, err)) >= 0 && ipv6 &&
	    (r = tk_na_socket(&ret->na_fd, err)) < 0)
		ret->nl = tk_nl_close(ret->nl);
	tk_netns_leave();
	return r;
}

/* On success *announcer holds the sockets announce() needs (the netlink one configured it). */
static int configure_container(const struct endpoint *e, int netns_fd, struct announcer *announcer,
			       tk_err *err)
{
	_cleanup_(announcer_closep) struct announcer a = { .na_fd = -1 };
	struct tk_nl *cnl;
	struct network *n = e->network;
	struct tk_prefix any = {};
	int r, ifindex;

	if ((r = open_container(netns_fd, e->has6, &a, err)) < 0)
		return r;
	cnl = a.nl;
	if ((r = tk_nl_ifindex(cnl, e->ifname, &ifindex, err)) < 0)
		return r;
	/*
	 * Up before the addresses: an IPv6 address added to a link that is down gets its prefix
	 * route only when the link comes up, from allocations that may not sleep (the kernel's
	 * fixup_permanent_addr(), under the device's lock) and whose failure nothing reports; the
	 * default route would then find no way to its gateway ("No route to host").  Added to a
	 * link that is up, the address gets its route in its own request, which may sleep.  Up
	 * before the routes too: the kernel refuses a gateway on a link that is down.
	 */
	if ((r = (n->has6 ? tk_nl_link_set_up : tk_nl_link_set_up_without_ipv6)(cnl, ifindex,
										err)) < 0)
		return r;
	if (e->has4) {
		struct tk_prefix p = { .addr = e->ip4, .len = n->subnet4.len };
		if ((r = tk_nl_addr_add(cnl, ifindex, &p, err)) < 0)
			return r;
	}
	if (e->has6) {
		struct tk_prefix p = { .addr = e->ip6, .len = n->subnet6.len };
		if ((r = tk_nl_addr_add(cnl, ifindex, &p, err)) < 0)
			return r;
	}
	any.addr.family = AF_INET;
	if (e->has4 && (r = add_default_route(cnl, ifindex, &any, &n->gateway4, err)) < 0)
		return r;
	any.addr.family = AF_INET6;
	if (e->has6 && (r = add_default_route(cnl, ifindex, &any, &n->gateway6, err)) < 0)
		return r;
	a.ifindex = ifindex;
	*announcer = a;
	a = (struct announcer){ .na_fd = -1 };
	return 0;
}

/*
 * The container tells its network's others where its addresses now are: an address is given out
 * again as soon as it is free, and their neighbour caches would keep the previous container's
 * MAC until their entries went stale and the probes to it failed, a while in which nothing of
 * theirs reached it.  Only after the port's elements exist: before, the port forwards nothing.
 * A container that cannot is still attached; its neighbours find it the slow way.
 */
static void announce(struct manager *m, const struct endpoint *e, const struct announcer *a)
{
	tk_err err = {};

	/*
	 * The port forwards once the kernel has applied its carrier change, which it does from a
	 * workqueue, late on a busy machine: now, so that the container is reachable when the reply
	 * says so, and its announcements are not dropped by a port still off.
	 */
	if (tk_nl_link_settle(m->nl, e->host_ifname, &err) < 0) {
		log_warning("Container '%s' %s, ignoring: %s", e->container_id, e->ifname, err.msg);
		tk_err_clear(&err);
	}
	if ((e->has4 && tk_nl_arp_announce(a->nl, a->ifindex, &e->ip4, &err) < 0) ||
	    (e->has6 && tk_na_send(a->na_fd, a->ifindex, e->mac, &e->ip6, &err) < 0))
		log_warning("Announcing the addresses of container '%s' %s, ignoring: %s",
			    e->container_id, e->ifname, err.msg);
}

void endpoint_announce_by_host(const struct network *n, const char *who, const uint8_t mac[6],
			       const struct tk_addr *ip4, const struct tk_addr *ip6)
{
	/* Opened once and kept: closing a packet socket waits for an RCU grace period. */
	static int fd = -1;
	tk_err err = {};

	if ((fd < 0 && tk_announce_socket(&fd, &err) < 0) ||
	    (ip4 && tk_announce_send(fd, n->bridge_ifindex, mac, ip4, &err) < 0) ||
	    (ip6 && tk_announce_send(fd, n->bridge_ifindex, mac, ip6, &err) < 0))
		log_warning("Announcing the addresses of %s on network '%s', ignoring: %s", who,
			    n->name, err.msg);
}

/*
 * docker: the container end stays down and unconfigured in netd's netns; Docker moves it.
 * *ret_ifindex: the host veth's index, e->host_ifindex unless another link held that.  e is only
 * read: the store's helper thread reads it meanwhile.
 */
static int plumb(struct manager *m, const struct endpoint *e, int netns_fd, bool docker,
		 int *ret_ifindex, struct announcer *announcer, tk_err *err)
{
	struct network *n = e->network;
	const uint32_t group = firewall_port_group(e);
	int r, ifindex = e->host_ifindex;

	r = tk_nl_veth_add(m->nl, e->host_ifname, e->host_mac, e->ifname, netns_fd, e->mac, n->mtu,
			   n->bridge_ifindex, &ifindex, group, err);
	/* The container's previous interface of that name may still be queued for deletion. */
	if (r == -EEXIST && reaper_drain(m)) {
		tk_err_clear(err);
		r = tk_nl_veth_add(m->nl, e->host_ifname, e->host_mac, e->ifname, netns_fd, e->mac,
				   n->mtu, n->bridge_ifindex, &ifindex, group, err);
	}
	if (r == -EEXIST)
		return tk_err_set(err, -EEXIST, "interface '%s' already exists in netns '%s'",
				  e->ifname, e->netns);
	/* Ports netd did not make count too (the kernel made no veth: one request). */
	if (r == -EXFULL)
		return tk_err_set(err, -ENOSPC,
				  "network '%s' is full: its bridge '%s' has %d ports, the most a "
				  "Linux bridge takes",
				  n->name, n->bridge, TK_BRIDGE_MAX_PORTS);
	if (r < 0)
		return r;
	/*
	 * The port comes up first, while the container's end is still down: without carrier the
	 * kernel has not yet made its IPv6 link-local address, and never will (addr_gen_mode none).
	 * On an IPv4-only network the port has no IPv6 at all: with it, the port itself sends the
	 * container MLD reports from :: (it joins ff02::2 where the host forwards), and such a
	 * network carries no IPv6.
	 */
	if ((r = fault_point("endpoint-veth", err)) < 0 ||
	    (!n->has6 && (r = link_without_ipv6(e->host_ifname, err)) < 0) ||
	    (r = shaping_endpoint(m, e, err)) < 0 ||
	    /* a new veth: no other program's qdisc on it yet */
	    (!r && (r = firewall_fast_path_new_port(m, e, ifindex, err)) < 0) ||
	    (r = tk_nl_port_set_up(m->nl, e->host_ifname, err)) < 0 ||
	    (!docker && (r = configure_container(e, netns_fd, announcer, err)) < 0) ||
	    (r = fault_point("endpoint-container", err)) < 0) {
		(void)tk_nl_link_del(m->nl, e->host_ifname, NULL);
		return r;
	}
	*ret_ifindex = ifindex;
	return 0;
}

static int endpoint_prepare(const struct endpoint_params *p, struct endpoint *e, tk_err *err)
{
	int r;

	if ((r = tk_container_id_validate(p->container_id, err)) < 0 ||
	    (r = tk_ifname_validate(p->ifname, err)) < 0)
		return r;
	if (strlen(p->netns) >= sizeof(e->netns))
		return tk_err_set(err, -ENAMETOOLONG, "netns path is too long");
	e->network = p->network;
	e->lease = p->lease;
	e->cni_name = p->cni_name;
	snprintf(e->container_id, sizeof(e->container_id), "%s", p->container_id);
	snprintf(e->ifname, sizeof(e->ifname), "%s", p->ifname);
	snprintf(e->netns, sizeof(e->netns), "%s", p->netns);
	if (p->mac) {
		if ((r = tk_mac_parse(p->mac, e->mac, err)) < 0)
			return r;
		if (e->mac[0] & 1)
			return tk_err_set(err, -EINVAL, "MAC address '%s' is multicast", p->mac);
	} else {
		tk_mac_random(e->mac);
	}
	return 0;
}

/*
 * A MAC the runtime chose must be its network's only one: the bridge would learn it on both
 * ports and send each one's frames to the other, as would the fast path, whose elements a MAC and
 * an address key.  (netd's own are random: 46 bits.)
 */
static int mac_unused(struct manager *m, const struct endpoint *e, tk_err *err)
{
	struct endpoint holder;
	char buf[TK_MAC_STRLEN];
	const char *remote = m->cluster ? overlay_mac_holder(e->network, e->mac) : NULL;
	int r;

	/* On a network that spans hosts: nor another host's (netd/overlay.c, mac_free). */
	if (remote)
		return tk_err_set(err, -EADDRINUSE,
				  "MAC address %s is already another host's endpoint on network "
				  "'%s' (registration '%s')",
				  tk_mac_format(e->mac, buf, sizeof(buf)), e->network->name,
				  remote);
	r = db_endpoint_find_by_mac(m, e->network, e->mac, &holder, err);

	if (r <= 0 || (strcmp(holder.container_id, e->container_id) == 0 &&
		       strcmp(holder.ifname, e->ifname) == 0))
		return r < 0 ? r : 0;
	return tk_err_set(err, -EADDRINUSE,
			  "MAC address %s is already container '%s' %s's on network '%s'",
			  tk_mac_format(e->mac, buf, sizeof(buf)), holder.container_id,
			  holder.ifname, e->network->name);
}

/* Drops the row of an endpoint whose kernel side could not be built. */
static int forget_endpoint(struct manager *m, const struct endpoint *e)
{
	tk_err err = {};
	int r;

	if ((r = tk_store_begin_ephemeral(m->store, &err)) < 0 ||
	    (r = db_endpoint_delete(m, e->id, &err)) < 0 ||
	    (r = tk_store_commit(m->store, &err)) < 0) {
		tk_store_rollback(m->store);
		log_error("Cannot drop the record of failed endpoint %lld: %s; its veth is gone, "
			  "so the next reconcile will",
			  (long long)e->id, err.msg);
	}
	return r;
}

static void count_endpoint(struct network *n, int delta)
{
	n->n_endpoints += delta;
	n->tenant->n_endpoints += delta;
}

/* An address-only lease: one row, no kernel work. */
static int lease_add(struct manager *m, struct endpoint *e, tk_err *err)
{
	int r;

	db_endpoint_assign_id(m, e);
	if ((r = tk_store_begin_ephemeral(m->store, err)) < 0 ||
	    (r = db_endpoint_insert(m, e, err)) < 0 || (r = tk_store_commit(m->store, err)) < 0) {
		tk_store_rollback(m->store);
		release_addresses(e);
		return tk_err_wrap(err, r, "leasing addresses to container '%s'", e->container_id);
	}
	count_endpoint(e->network, +1);
	m->n_endpoints++;
	log_info("Leased addresses of network '%s' to container '%s' %s", e->network->name,
		 e->container_id, e->ifname);
	return 0;
}

struct persist_ctx {
	struct manager *m;
	const struct endpoint *e;
	const struct port_list *ports;
	bool committed; /* the row is in the database */
};

/* On the store's helper thread: the endpoint's row, committed, then its nftables elements. */
static int persist(struct tk_store *s, void *userdata, tk_err *err)
{
	struct persist_ctx *job = userdata;
	int r;

	if ((r = tk_store_begin_ephemeral(s, err)) < 0 ||
	    (r = db_endpoint_insert(job->m, job->e, err)) < 0 ||
	    (job->ports && job->ports->n > 0 &&
	     (r = ports_db_store(job->m, job->e->id, job->ports, err)) < 0) ||
	    (r = tk_store_commit(s, err)) < 0) {
		tk_store_rollback(s);
		return r;
	}
	job->committed = true;
	if ((r = fault_point("endpoint-row", err)) < 0)
		return r;
	return firewall_endpoint_ports(job->m, job->e, job->ports, true, err);
}

int endpoint_add(struct manager *m, const struct tk_caller *c, const struct endpoint_params *p,
		 struct endpoint *e, tk_err *err)
{
	struct network *n = p->network;
	struct tk_tenant *t = n->tenant;
	_cleanup_close_ int netns_fd = -1;
	_cleanup_(announcer_closep) struct announcer announcer = { .na_fd = -1 };
	struct persist_ctx job = { .m = m, .e = e, .ports = p->ports };
	tk_err job_err = {};
	int r, q, plumbed, ifindex = 0;

	*e = (struct endpoint){};
	if ((r = endpoint_prepare(p, e, err)) < 0)
		return r;
	if (p->mac && !p->lease && (r = mac_unused(m, e, err)) < 0)
		return r;
	if (t->max_endpoints >= 0 && t->n_endpoints >= t->max_endpoints)
		return tk_err_set(err, -EDQUOT,
				  "tenant '%s' already has its maximum of %lld endpoint(s)",
				  t->name, (long long)t->max_endpoints);
	/*
	 * A Linux bridge takes 1,023 ports ("Exchange full" beyond); netd stops earlier, where
	 * every port of a full bridge was still seen to answer (docs/netd.8: --max-ports).
	 */
	if (!p->lease && n->n_ports >= m->max_ports)
		return tk_err_set(err, -ENOSPC,
				  "network '%s' is full: it has %u container interfaces, the most "
				  "netd puts on one bridge (--max-ports %u)",
				  n->name, n->n_ports, m->max_ports);
	if (p->docker) {
		/* The container end waits in netd's own netns, where dockerd looks for it. */
		if ((netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
			return tk_err_set(err, -errno, "cannot open netd's netns: %m");
	} else if (!p->lease && (r = endpoint_open_netns(c, p->netns, &netns_fd, err)) < 0) {
		return r;
	}
	if ((r = assign_addresses(m, e, p->ips, err)) < 0)
		return r;
	if (p->ports && p->ports->n > 0 &&
	    ((r = ports_check(m, c, e, p->ports, err)) < 0 ||
	     (r = ports_bridge_localnet(n, err)) < 0)) {
		release_addresses(e);
		return tk_err_wrap(err, r, "attaching container '%s' to network '%s'",
				   p->container_id, n->name);
	}
	if (p->lease)
		return lease_add(m, e, err);

	/*
	 * The row and the port's nftables elements, its fast path's included, are written on the
	 * store's helper thread while this one builds the veth (the id, and so the veth's name, MAC
	 * and ifindex, come from netd, not from the insert or the kernel): one batch.  A crash in
	 * between leaves either a veth no row describes, which reconcile removes, or a row whose
	 * veth is missing, which reconcile releases (lifecycle.c).  The port forwards nothing
	 * before its elements exist.
	 */
	db_endpoint_assign_id(m, e);
	if ((r = tk_store_job_start(m->store, persist, &job, err)) < 0)
		goto release;
	plumbed = plumb(m, e, netns_fd, p->docker, &ifindex, &announcer, err);
	q = tk_store_job_finish(m->store, &job_err);
	if ((r = plumbed) >= 0 && (r = q) < 0 && err)
		*err = job_err;
	if (r >= 0 && p->ports && p->ports->n > 0)
		r = ports_port_hairpin(m, e, true, err);
	/* Another link held the index: the kernel chose, and the elements follow (rare). */
	if (r >= 0 && ifindex != e->host_ifindex) {
		r = firewall_fast_path_move(m, e, ifindex, err);
		e->host_ifindex = ifindex;
	}
	if (r >= 0)
		r = fault_point("endpoint-firewall", err);
	if (r < 0) {
		if (q >= 0)
			(void)firewall_endpoint_ports(m, e, p->ports, false, NULL);
		if (plumbed >= 0)
			(void)tk_nl_link_del(m->nl, e->host_ifname, NULL);
		/* plumb() may have queued the port for the fast path, however far it got. */
		attacher_cancel(m, e->id);
		/*
		 * A row that could not be dropped keeps its addresses until DEL or restart, and counts
		 * as an endpoint, as its release (its veth is gone: lifecycle) will un-count it.
		 */
		if (job.committed && forget_endpoint(m, e) < 0) {
			count_endpoint(n, +1);
			n->n_ports++;
			m->n_endpoints++;
			return tk_err_wrap(err, r, "attaching container '%s' to network '%s'",
					   p->container_id, n->name);
		}
		goto release;
	}

	if (announcer.nl)
		announce(m, e, &announcer);
	count_endpoint(n, +1);
	n->n_ports++;
	m->n_endpoints++;
	log_info("Attached container '%s' %s to network '%s' via '%s'", e->container_id, e->ifname,
		 n->name, e->host_ifname);
	return 0;

release:
	release_addresses(e);
	return tk_err_wrap(err, r, "attaching container '%s' to network '%s'", p->container_id,
			   n->name);
}

/* veth_gone: the kernel already deleted the host veth (with the container's netns), so there is
 * nothing left for the reaper. */
static int endpoint_remove(struct manager *m, const struct endpoint *e, bool veth_gone, tk_err *err)
{
	struct network *n = e->network;
	_cleanup_free_ struct port_list *ports = malloc(sizeof(*ports));
	int r;

	if (!ports)
		return tk_err_set(err, -ENOMEM, "out of memory");
	/* Its published ports go in the same batch; their rows go with its row (cascade). */
	if ((r = ports_db_load(m, e->id, ports, err)) < 0)
		return tk_err_wrap(err, r, "detaching container '%s'", e->container_id);
	if ((r = tk_store_begin_ephemeral(m->store, err)) < 0)
		return r;
	if ((r = accounting_endpoint_gone(m, e, veth_gone, err)) < 0 ||
	    (r = fault_point("endpoint-del", err)) < 0 ||
	    (r = db_endpoint_delete(m, e->id, err)) < 0 ||
	    (!e->lease && (r = firewall_endpoint_ports(m, e, ports, false, err)) < 0))
		goto rollback;
	if ((r = tk_store_commit(m->store, err)) < 0) {
		if (!e->lease)
			(void)firewall_endpoint_ports(m, e, ports, true, NULL);
		goto rollback;
	}
	/* Without its port elements the veth is already mute; the kernel's slow part runs later. */
	if (!e->lease && !veth_gone)
		reaper_queue(m, e->host_ifname);
	if (!e->lease) {
		attacher_cancel(m, e->id);
		forget_neighbours(m, e);
	}
	release_addresses(e);
	count_endpoint(n, -1);
	n->n_ports -= !e->lease;
	m->n_endpoints--;
	if (veth_gone)
		log_info("Released container '%s' %s from network '%s': its host veth '%s' is gone",
			 e->container_id, e->ifname, n->name, e->host_ifname);
	else
		log_info("Detached container '%s' %s from network '%s'", e->container_id, e->ifname,
			 n->name);
	return 1;

rollback:
	tk_store_rollback(m->store);
	return tk_err_wrap(err, r, "detaching container '%s'", e->container_id);
}

int endpoint_del(struct manager *m, const struct endpoint *e, tk_err *err)
{
	return endpoint_remove(m, e, false, err);
}

int endpoint_release(struct manager *m, const struct endpoint *e, tk_err *err)
{
	return endpoint_remove(m, e, true, err);
}
