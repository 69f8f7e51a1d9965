/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * rtnetlink verbs at tenantkit's level.  Only nl.c includes libnl headers; libnl's NLE_* codes are
 * translated to -errno here and kernel extack text is appended to err.
 *
 * A tk_nl handle is bound to the network namespace it was opened in (a netlink socket stays in
 * the netns it was created in), so the daemon opens one for its own netns and one per container
 * netns it configures; the calling thread never stays in a foreign netns.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cleanup.h"
#include "err.h"

struct tk_nl;
struct nlmsghdr;

/*
 * Copies the kernel's extended-ack message of an NLMSG_ERROR message into buf ("" when there is
 * none).  Shared by the rtnetlink and nftables code.
 */
void tk_netlink_extack(const struct nlmsghdr *error, char *buf, size_t size);

/* A socket in the caller's current network namespace. */
int tk_nl_open(struct tk_nl **ret, tk_err *err);
/* A socket inside the network namespace netns_fd refers to (setns, socket, setns back). */
int tk_nl_open_netns(int netns_fd, struct tk_nl **ret, tk_err *err);
/* tk_nl_open for a container's namespace, which the caller entered (tk_netns_enter). */
int tk_nl_open_container(struct tk_nl **ret, tk_err *err);
struct tk_nl *tk_nl_close(struct tk_nl *nl);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tk_nl *, tk_nl_close);

struct tk_link_info {
	char name[16];
	char kind[16]; /* "bridge", "veth", "" when unknown */
	int ifindex;
	int master; /* ifindex of the bridge, 0 when none */
	unsigned mtu;
	uint32_t group; /* IFLA_GROUP, 0 by default */
	uint8_t mac[6];
	bool up;
	char alias[64]; /* IFLA_IFALIAS, "" when none (longer ones are cut) */
	/* The link's own counters (IFLA_STATS64): what it received and what it sent. */
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
};

/*
 * Creates a bridge (NLM_F_CREATE|NLM_F_EXCL): -EEXIST when the name is taken. mtu 0 = default.
 * Without multicast snooping: multicast reaches every port, as on a hub, and a new port costs
 * no per-port querier state (with snooping, each new port re-arms the multicast timers of every
 * port of the bridge, which makes attaching a container O(ports)).  With its own MAC (mac, or
 * NULL for the kernel's choice): a bridge without one takes its lowest port's, and changes it
 * when that port leaves.
 */
int tk_nl_bridge_add(struct tk_nl *nl, const char *name, const uint8_t *mac, unsigned mtu,
		     int *ret_ifindex, tk_err *err);
/* Sets a link's device group (IFLA_GROUP, what `meta iifgroup` reads). */
int tk_nl_link_set_group(struct tk_nl *nl, int ifindex, uint32_t group, tk_err *err);
int tk_nl_link_set_group_by_name(struct tk_nl *nl, const char *name, uint32_t group, tk_err *err);
/*
 * Deletes every link of device group group at once (ifindex 0 and IFLA_GROUP): one
 * unregistration, so one wait for RCU where deleting them one by one waits once each.  -ENODEV
 * when none is in it; -EOPNOTSUPP, and nothing deleted, when one of them is a device the kernel
 * cannot delete (a NIC).
 */
int tk_nl_group_del(struct tk_nl *nl, uint32_t group, tk_err *err);
/* Sets a link's MAC address. */
int tk_nl_link_set_mac(struct tk_nl *nl, int ifindex, const uint8_t mac[6], tk_err *err);

/*
 * Creates a veth pair in one message: host_name (with host_mac, NULL = kernel's choice) in this
 * handle's netns, enslaved to
 * master_ifindex (0 = none), and peer_name directly in the netns peer_netns_fd refers to, with
 * peer_mac (NULL = kernel's choice) and mtu (0 = default).  Both ends stay down, so that the
 * caller can set the port up without IPv6 (tk_nl_port_set_up) before the container's end brings
 * carrier.  -EEXIST when host_name exists here or
 * peer_name exists in the peer netns.
 * *host_ifindex: the index the host end should get (0 = kernel's choice), and on success the
 * one it got: the wanted one, or the kernel's choice when another link holds it.  host_group: its
 * device group (0 = the default group).
 */
int tk_nl_veth_add(struct tk_nl *nl, const char *host_name, const uint8_t *host_mac,
		   const char *peer_name, int peer_netns_fd, const uint8_t *peer_mac, unsigned mtu,
		   int master_ifindex, int *host_ifindex, uint32_t host_group, tk_err *err);

/* Deletes a link by name; -ENODEV when it does not exist. */
int tk_nl_link_del(struct tk_nl *nl, const char *name, tk_err *err);
int tk_nl_link_get(struct tk_nl *nl, const char *name, struct tk_link_info *ret, tk_err *err);
/*
 * Only the ifindex of the link called name in the handle's netns (SIOCGIFINDEX): a plain lookup,
 * where tk_nl_link_get makes the kernel describe the whole link.  -ENODEV when there is none.
 */
int tk_nl_ifindex(struct tk_nl *nl, const char *name, int *ret, tk_err *err);
int tk_nl_link_set_up(struct tk_nl *nl, int ifindex, tk_err *err);
/*
 * Sets a link up without an IPv6 link-local address (addr_gen_mode none), so it sends no DAD,
 * router solicitations or MLD reports: for interfaces of IPv4-only networks, whose IPv6 chatter
 * would only be flooded to every port of the bridge.  Two requests, addr_gen_mode first: within
 * one request the kernel applies the flags first, and a link with carrier (the container's end
 * of a veth whose port is up) can make its link-local address before addr_gen_mode is read.
 */
int tk_nl_link_set_up_without_ipv6(struct tk_nl *nl, int ifindex, tk_err *err);
/*
 * Sets a bridge port up, by name, without IPv6: a port needs no address of its own.  Two requests
 * as above: even without carrier a veth just created can count as ready for addresses (its
 * operational state is still "unknown" until the kernel's link watcher has run).
 */
int tk_nl_port_set_up(struct tk_nl *nl, const char *name, tk_err *err);
/*
 * Makes the kernel apply link name's pending carrier change now (ETHTOOL_GLINK runs
 * linkwatch_sync_dev), which it otherwise does from a workqueue, late on a busy machine: a bridge
 * port starts forwarding only then.
 */
int tk_nl_link_settle(struct tk_nl *nl, const char *name, tk_err *err);
int tk_nl_link_set_master(struct tk_nl *nl, int ifindex, int master_ifindex, tk_err *err);
/*
 * Hairpin mode on a bridge port, by name: the bridge may send a frame back out of the port it
 * came in by (a container reaching its own published port through the host's DNAT).
 */
int tk_nl_port_set_hairpin(struct tk_nl *nl, const char *name, bool on, tk_err *err);

/* Sets the interface's alias (IFLA_IFALIAS, at most 255 bytes): who made it. */
int tk_nl_link_set_alias(struct tk_nl *nl, int ifindex, const char *alias, tk_err *err);

/*
 * Calls cb for every link whose name starts with prefix; stops and returns cb's value if < 0.
 * Returns 0 when cb saw every link, 1 when links kept coming and going through every attempt:
 * cb then saw each link it was given once, but a link may be missing (made or deleted meanwhile
 * and, on kernels that dump by hash bucket, one that was there all along), so absence from such
 * a listing proves nothing.
 */
typedef int (*tk_nl_link_cb)(const struct tk_link_info *link, void *userdata);
int tk_nl_link_foreach(struct tk_nl *nl, const char *prefix, tk_nl_link_cb cb, void *userdata,
		       tk_err *err);

/*
 * One listing of the links, kept to be looked up by name: with thousands of veths each listing
 * (and each tk_nl_link_get of a veth) costs the kernel a walk of every netns id per veth (see
 * tk_nl_link_stats_foreach), so work that needs several looks at the links shares one.
 */
struct tk_link_list {
	struct tk_link_info *links; /* sorted by name */
	size_t n;
	/* Links kept coming and going through every attempt: one missing proves nothing. */
	bool partial;
};
/*
 * Lists every link, or only those of kind ("bridge"), which the kernel filters before it
 * describes them (a strict-checked dump): no veth's cost then.  Replaces what ret held.
 */
int tk_nl_link_list(struct tk_nl *nl, const char *kind, struct tk_link_list *ret, tk_err *err);
const struct tk_link_info *tk_link_list_find(const struct tk_link_list *list, const char *name);
/* cb for each link whose name starts with prefix, in name order; stops at cb's value if < 0. */
int tk_link_list_foreach(const struct tk_link_list *list, const char *prefix, tk_nl_link_cb cb,
			 void *userdata);
void tk_link_list_done(struct tk_link_list *list);
/*
 * Calls cb with every link's own counters (RTM_GETSTATS, IFLA_STATS_LINK_64), by ifindex: a dump
 * of counters alone.  tk_nl_link_foreach's full descriptions make the kernel look up, for each
 * veth, the id of its peer's netns by walking every netns id (idr_for_each): with a veth per
 * container netns that is links x namespaces, 3 s a dump at 10,000 containers.
 */
typedef int (*tk_nl_stats_cb)(int ifindex, uint64_t rx_bytes, uint64_t rx_packets,
			      uint64_t tx_bytes, uint64_t tx_packets, void *userdata);
/*
 * Returns 0 when cb saw every link, 1 when links kept coming and going through every attempt
 * and cb saw a partial reading: each link it reports was read and reported once, but a link may
 * be missing, so a missing link means "not read", not "counted nothing".
 */
int tk_nl_link_stats_foreach(struct tk_nl *nl, tk_nl_stats_cb cb, void *userdata, tk_err *err);

/* One link's counters in such a reading. */
struct tk_link_stats {
	int ifindex;
	uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets;
};
/*
 * Sorts v by ifindex and keeps one entry per link, the largest of each of its counters (they
 * only grow): a kernel that dumps links by hash bucket can report a link twice in an
 * interrupted dump.  Returns how many entries are left.
 */
size_t tk_link_stats_unique(struct tk_link_stats *v, size_t n);

/*
 * Adds addr/plen to ifindex.  IPv6 addresses are added with IFA_F_NODAD so they are usable at
 * once.  -EEXIST when already present.
 */
int tk_nl_addr_add(struct tk_nl *nl, int ifindex, const struct tk_prefix *addr, tk_err *err);
int tk_nl_addr_del(struct tk_nl *nl, int ifindex, const struct tk_prefix *addr, tk_err *err);
/*
 * Calls cb for each address on ifindex of family (AF_UNSPEC = all).  Returns 1 when links kept
 * coming and going through every attempt to list them, as tk_nl_link_foreach: an address may
 * then be missing.  Bounded either way, also in a namespace whose owner churns its links.
 */
typedef int (*tk_nl_addr_cb)(const struct tk_prefix *addr, void *userdata);
int tk_nl_addr_foreach(struct tk_nl *nl, int ifindex, int family, tk_nl_addr_cb cb, void *userdata,
		       tk_err *err);

/*
 * A route to dst (len 0 = default) via gateway (NULL = on-link) out of ifindex, with priority
 * (the metric; 0 = the kernel's default).  -EEXIST when the same route exists.
 */
int tk_nl_route_add(struct tk_nl *nl, int ifindex, const struct tk_prefix *dst,
		    const struct tk_addr *gateway, unsigned priority, tk_err *err);
/*
 * Finds the gateway of the default route of family on ifindex; -ENOENT when there is none (or,
 * the routes listed in part after a bounded number of interrupted attempts, none was seen).
 */
int tk_nl_route_get_default(struct tk_nl *nl, int ifindex, int family, struct tk_addr *ret_gateway,
			    tk_err *err);

/*
 * Calls cb for every address (as configured, with its prefix length) and every route destination
 * except default routes, of every table, in the handle's netns: what the host already reaches.
 * kind is "address" or "route"; ifindex 0 when the route has no device.
 */
typedef int (*tk_nl_host_cb)(const struct tk_prefix *p, const char *kind, int ifindex,
			     void *userdata);
int tk_nl_host_prefixes(struct tk_nl *nl, tk_nl_host_cb cb, void *userdata, tk_err *err);

/* Writes "1" to /proc/sys/net/ipv{4,6}/... forwarding of the current netns. */
int tk_sysctl_write(const char *path, const char *value, tk_err *err);

/*
 * Link notifications (RTNLGRP_LINK) of the caller's network namespace, on a non-blocking socket
 * of their own with a large receive buffer: netd learns that a host veth is gone (its peer's
 * namespace was destroyed) without polling; and tc's (RTNLGRP_TC), for qdiscs that another
 * program (the reference bandwidth plugin) puts on a port.
 */
struct tk_nl_watch;
/* rcvbuf: the socket's receive buffer in bytes (set with SO_RCVBUFFORCE when permitted). */
int tk_nl_watch_open(struct tk_nl_watch **ret, int rcvbuf, tk_err *err);
struct tk_nl_watch *tk_nl_watch_close(struct tk_nl_watch *w);
/* For poll/epoll: readable when notifications are queued. */
int tk_nl_watch_fd(const struct tk_nl_watch *w);
/*
 * Reads every queued notification without blocking and calls cb with the name of each link
 * deleted (RTM_DELLINK of the link itself, not of its bridge port) whose name starts with prefix.
 * Returns 0 when the queue is empty, or -ENOBUFS when the kernel dropped notifications because
 * the socket overflowed: the caller must then compare with a full dump, as it cannot know what
 * it missed.  Either way the queue has been read empty, so the next overflow is reported too.
 */
typedef void (*tk_nl_link_gone_cb)(const char *name, void *userdata);
/*
 * A qdisc came to the ingress slot of device ifindex (RTNLGRP_TC), of that kind (`ingress`,
 * `clsact`), or left it (kind NULL).  In order, so the last one read is what is there now.
 */
typedef void (*tk_nl_ingress_cb)(int ifindex, const char *kind, void *userdata);
int tk_nl_watch_read(struct tk_nl_watch *w, const char *prefix, tk_nl_link_gone_cb cb,
		     tk_nl_ingress_cb ingress, void *userdata, tk_err *err);

/*
 * Address and route notifications (IPv4 and IPv6) of the caller's network namespace, on a
 * non-blocking socket of their own: they tell when what tk_nl_host_prefixes reports may have
 * changed, so that a caller can keep a copy instead of dumping every address and route of the
 * host (tens of thousands with thousands of bridges) for each question.
 */
struct tk_nl_prefix_watch;
int tk_nl_prefix_watch_open(struct tk_nl_prefix_watch **ret, tk_err *err);
struct tk_nl_prefix_watch *tk_nl_prefix_watch_close(struct tk_nl_prefix_watch *w);
/*
 * Reads every queued notification without blocking.  Returns 1 when one of them concerned an
 * address or route for which ignore(ifindex, userdata) is false (a route without an interface,
 * or with several, always counts), or when notifications were lost (the socket overflowed); 0
 * when there were none or every one was ignored.
 */
typedef bool (*tk_nl_ifindex_pred)(int ifindex, void *userdata);
int tk_nl_prefix_watch_changed(struct tk_nl_prefix_watch *w, tk_nl_ifindex_pred ignore,
			       void *userdata, tk_err *err);

/*
 * Overlay (netd/overlay.c, docs/cluster.md): a VXLAN device with VNI vni, learning off, no
 * multicast group, UDP port 4789, local address local, the proxy flag (ARP/ND for remote
 * containers are answered from the device's neighbour entries), MTU mtu (0: the kernel's), down.
 */
int tk_nl_vxlan_add(struct tk_nl *nl, const char *name, uint32_t vni, const struct tk_addr *local,
		    unsigned mtu, int *ret_ifindex, tk_err *err);
/* A static FDB entry (NTF_SELF) on VXLAN device ifindex: mac -> remote underlay dst. */
int tk_nl_fdb_set(struct tk_nl *nl, int ifindex, const uint8_t mac[6], const struct tk_addr *dst,
		  bool add, tk_err *err);
/* A permanent neighbour entry ip -> mac on ifindex (the VXLAN device answers ARP/ND from it). */
int tk_nl_neigh_set(struct tk_nl *nl, int ifindex, const struct tk_addr *ip, const uint8_t mac[6],
		    bool add, tk_err *err);

/*
 * A gratuitous ARP request from interface ifindex for its own IPv4 address own, sender and
 * target (RFC 5227's announcement; IPv6's counterpart is in announce.h).  The kernel's resolver,
 * asked to resolve the interface's own address (a new neighbour entry with NTF_USE), sends
 * exactly that at once; the entry is deleted before its next probe.  No packet socket: closing
 * one waits for an RCU grace period (announce.h).
 */
int tk_nl_arp_announce(struct tk_nl *nl, int ifindex, const struct tk_addr *own, tk_err *err);

/* What tk_nl_fdb_set and tk_nl_neigh_set make, as the kernel lists them. */
struct tk_neigh_info {
	bool fdb;	/* the device's own FDB entry (NTF_SELF): mac -> remote underlay */
	bool permanent; /* NUD_PERMANENT */
	uint8_t mac[6];
	struct tk_addr addr; /* the FDB entry's remote, or the neighbour's address */
};
typedef int (*tk_nl_neigh_cb)(const struct tk_neigh_info *n, void *userdata);
/*
 * Device ifindex's FDB entries (fdb) or its IPv4 and IPv6 neighbours (!fdb) with a MAC and an
 * address; a bridge's entries of the device as its port are not listed.
 */
int tk_nl_neigh_foreach(struct tk_nl *nl, int ifindex, bool fdb, tk_nl_neigh_cb cb, void *userdata,
			tk_err *err);
