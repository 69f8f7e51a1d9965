/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "addr.h"
#include "cleanup.h"
#include "err.h"
#include "ipam.h"
#include "server.h"
#include "tenant.h"

/* Port numbers 1..1023: the 1,024th port of a Linux bridge gets EXFULL ("Exchange full"). */
#define TK_BRIDGE_MAX_PORTS 1023

struct tk_store;
struct tk_nl;
struct tk_link_list;
struct tk_nft;

struct network {
	int64_t id;
	char name[TK_NAME_MAX + 1];
	struct tk_tenant *tenant;
	char bridge[TK_IFNAME_MAX + 1]; /* tk-<id in hex> */
	int bridge_ifindex;		/* 0 until known */
	bool has4, has6;
	struct tk_prefix subnet4, subnet6;
	struct tk_addr gateway4, gateway6;
	struct tk_ipam_pool *pool4, *pool6;
	unsigned mtu;
	bool nat;
	bool internal; /* no traffic in or out but its links' (and the host's, as its gateway) */
	int64_t created;
	unsigned n_endpoints;
	unsigned n_ports; /* veth endpoints: ports of the bridge (leases take none) */
	struct network *next;
};

struct endpoint {
	int64_t id;
	struct network *network;
	char container_id[1025];
	char ifname[TK_IFNAME_MAX + 1];
	char netns[4096];
	char host_ifname[TK_IFNAME_MAX + 1]; /* tkv<8 hex of id> */
	uint8_t host_mac[6];		     /* 0a:7e:<4 bytes of id>, so both ends are known */
	int host_ifindex; /* a new endpoint's: endpoint_host_ifindex(); 0 if loaded (ask the kernel) */
	uint8_t mac[6];
	bool has4, has6;
	struct tk_addr ip4, ip6;
	int64_t created;
	bool lease; /* addresses only (tenant-ipam): no veth, netns or firewall elements */
	/* an add's: the CNI network whose runtime makes it (its GC's scope); NULL: none, or loaded */
	const char *cni_name;
};

/*
 * The host veth's ifindex, which netd chooses as it chooses its name and MAC, so that the fast
 * path's elements (whose `fwd` value is that index) go in the attach's one nftables batch,
 * written while the veth is being made (docs/firewall.md).  From the top half of the positive
 * ifindexes: the kernel numbers the links it makes itself in a netns upwards from 1, one per
 * link ever made there (the veths netd numbers do not count), so it reaches 2^30 only after a
 * billion links; the index follows from the id, so netd's own veths never share one.  Should a
 * link hold it all the same, the kernel chooses (tk_nl_veth_add) and the attach corrects its
 * elements in a second batch.
 */
#define ENDPOINT_IFINDEX_BASE 0x40000000
static inline int endpoint_host_ifindex(int64_t id)
{
	return ENDPOINT_IFINDEX_BASE | (int)(id & (ENDPOINT_IFINDEX_BASE - 1));
}

/*
 * droplog.c: the drop log (docs/firewall.md, "Drop log").  The drop rules log to nflog group
 * DROPLOG_GROUP_DEFAULT (--drop-log) with the prefix DROPLOG_PREFIX "<reason>", at most
 * DROPLOG_PORT_RATE packets a second (burst DROPLOG_PORT_BURST) per input interface and
 * DROPLOG_RATE (burst DROPLOG_BURST) per reason in all; netd keeps the last DROPLOG_RING.
 */
#define DROPLOG_GROUP_DEFAULT 7271
#define DROPLOG_PREFIX	      "tk-drop "
#define DROPLOG_PORT_RATE     10
#define DROPLOG_PORT_BURST    20
#define DROPLOG_RATE	      100
#define DROPLOG_BURST	      200
#define DROPLOG_SNAPLEN	      128 /* bytes of each packet: its headers */
#define DROPLOG_METER_SIZE    65536
#define DROPLOG_RING	      4096
struct manager;
/* The group the rules log to, -1 when they do not (--drop-log off). */
int droplog_group(void);
/* From the options, before the firewall is built: external leaves the group to ulogd & co. */
void droplog_configure(int group, bool external);
/* Binds the group unless off or external; a group that cannot be bound is logged, not fatal. */
int droplog_open(struct manager *m, tk_err *err);
/* The socket to poll, -1 when netd reads no drop log. */
int droplog_fd(void);
/* Reads what the kernel queued (on the loop thread; takes the state lock). */
void droplog_run(struct manager *m);
void droplog_close(void);
/* log.drops: the entries c may see after since (docs/protocol.md). */
int op_log_drops(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
		 tk_err *err);

/* shaping.c: which way a tenant's traffic goes, seen from its containers */
enum shaping_dir {
	SHAPING_EGRESS,
	SHAPING_INGRESS,
	_SHAPING_DIR_MAX,
};

struct manager {
	const char *state_dir;
	const char *socket_path;
	struct tk_prefix_list pools4; /* carved in order, lowest free /24 first */
	struct tk_prefix pool6;
	struct tk_prefix_list allow; /* subnets tenant owners may choose */
	/* What tenant.create gives a limit it is not given (-1: unlimited): the address caps. */
	int64_t tenant_defaults[_TK_TENANT_LIMIT_MAX];
	unsigned max_ports; /* veth endpoints per network (bridge ports) */
	char db_id[33];	    /* stamped on bridges: which database made them */
	gid_t admin_gid;    /* (gid_t)-1: only root */
	int64_t started;

	struct tk_store *store;
	struct tk_nl *nl;
	struct tk_nft *nft;
	struct tk_tenants tenants; /* of kind netd_tenants */
	struct network *networks;
	/* Open-addressing indexes of networks by name and by id (manager.c), NULL when stale. */
	struct network **network_by_name, **network_by_id;
	size_t network_slots;
	uint64_t n_endpoints;
	int64_t next_endpoint_id; /* ids come from here, so a veth is named before its row exists */
	struct reaper *reaper;	  /* deletes veths off the request path (reaper.c) */
	struct attacher *attacher;   /* puts the fast path on new ports (attacher.c) */
	const char *socket_group;    /* NULL: root's group; may write the pending-DEL spool */
	struct lifecycle *lifecycle; /* link notifications and the pending-DEL spool */
	struct cluster *cluster;     /* NULL without --cluster */
	int64_t capacity[_SHAPING_DIR_MAX];    /* bit/s the tenants share by weight; -1: none */
	int shaping_ifindex[_SHAPING_DIR_MAX]; /* the IFB devices, 0 until made */
	int shaping_meter[_SHAPING_DIR_MAX];   /* their meters' BPF maps, with the devices */
	unsigned shaping_mtu;		       /* the largest network MTU the classes take */
	struct host_prefixes *host; /* what the host reaches, kept between requests (subnet.c) */
};

/* manager.c */
int manager_open(struct manager *m, tk_err *err);
void manager_close(struct manager *m);
static inline int fault_point(const char *point, tk_err *err)
{
	return tk_fault_point("TK_NETD_FAULT", point, err);
}
#define report_action tk_report_action
/* netd's tenants keep network and endpoint limits. */
extern const struct tk_tenant_kind netd_tenants;
struct network *manager_network(struct manager *m, const char *name);
struct network *manager_network_by_id(struct manager *m, int64_t id);
/*
 * After m->networks gained or lost a network: rebuilds the indexes behind the two lookups above
 * (4,096 networks walked for each request were the largest part of netd's own cost per
 * endpoint.add).  Without memory for them the lookups walk the list.
 */
void manager_networks_changed(struct manager *m);
static inline int caller_may_manage(const struct tk_caller *c, const struct tk_tenant *t,
				    tk_err *err)
{
	return tk_tenant_may_manage(c, t, err);
}

/* subnet.c: which subnets a network may have */
struct network_params;
/*
 * A requested subnet p: refused when it overlaps a reserved range (loopback, link-local,
 * multicast, broadcast, ...) or the addresses and routes of netd's netns, unless an admin forces
 * it (then a warning is logged); for a tenant owner also when it lies outside the allowed ranges
 * (netd's --allow-subnets and the tenant's allow_subnets).  Overlap with other networks is
 * checked by the caller and cannot be forced.
 */
int subnet_check(struct manager *m, const struct network_params *np, const struct tk_prefix *p,
		 tk_err *err);
/* Appends every prefix the host reaches (addresses, non-default routes) of family to *used. */
int subnet_host_prefixes(struct manager *m, int family, struct tk_prefix **used, size_t *n_used,
			 size_t *size, tk_err *err);
/* Frees what subnet.c keeps of the host's prefixes. */
void subnet_cache_free(struct manager *m);
/* The address space t's networks take: IPv4 addresses, IPv6 /64s. */
void tenant_address_usage(struct manager *m, const struct tk_tenant *t, uint64_t *ret4,
			  uint64_t *ret6);

/* db.c: typed access to the state database */
int db_open(struct manager *m, tk_err *err);
int db_load(struct manager *m, tk_err *err);
int db_network_insert(struct manager *m, struct network *n, tk_err *err);
int db_network_delete(struct manager *m, const struct network *n, tk_err *err);
int db_link_set(struct manager *m, const struct network *a, const struct network *b, bool linked,
		tk_err *err);
/* Calls cb for each network linked to n (both directions). */
int db_links_foreach(struct manager *m, const struct network *n,
		     int (*cb)(struct network *other, void *userdata), void *userdata, tk_err *err);
/* Gives e the next id, its creation time and the host end's name and MAC, which follow from it. */
void db_endpoint_assign_id(struct manager *m, struct endpoint *e);
/* Inserts e with its id; may run on the store's helper thread (it reads only e and the store). */
int db_endpoint_insert(struct manager *m, const struct endpoint *e, tk_err *err);
int db_endpoint_delete(struct manager *m, int64_t id, tk_err *err);
int db_endpoint_set_netns(struct manager *m, int64_t id, const char *netns, tk_err *err);
/* -ENOENT when there is no such endpoint. */
int db_endpoint_find(struct manager *m, const char *container_id, const char *ifname,
		     struct endpoint *ret, tk_err *err);
/* -ENOENT when there is no endpoint with that id. */
int db_endpoint_find_by_id(struct manager *m, int64_t id, struct endpoint *ret, tk_err *err);
/* The container interface of network n with MAC mac, into ret: 1, or 0 when there is none. */
int db_endpoint_find_by_mac(struct manager *m, const struct network *n, const uint8_t mac[6],
			    struct endpoint *ret, tk_err *err);
/*
 * Calls cb, in id order, for the endpoints of network (NULL: all) and tenant (NULL: all) whose id
 * is above after, at most limit of them (0: all).  cb returns < 0 to fail, > 0 to end the page
 * after this endpoint.  *ret_last (may be NULL): the id of the last endpoint given to cb when the
 * page ended before the end of the list (more may follow), 0 when the list is complete.
 */
int db_endpoints_page(struct manager *m, const struct network *network,
		      const struct tk_tenant *tenant, int64_t after, int64_t limit,
		      int (*cb)(struct endpoint *e, void *userdata), void *userdata,
		      int64_t *ret_last, tk_err *err);
/* The ids and networks of the same endpoints (after < id <= until, 0: no bound), in id order. */
int db_endpoint_ids(struct manager *m, const struct network *network,
		    const struct tk_tenant *tenant, int64_t after, int64_t until,
		    int (*cb)(int64_t id, const struct network *n, void *userdata), void *userdata,
		    tk_err *err);
/* The same, only up to id until (0: no bound); *ret_last is 0 once until is reached. */
int db_endpoints_range(struct manager *m, const struct network *network,
		       const struct tk_tenant *tenant, const char *cni_name, int64_t after,
		       int64_t until, int64_t limit, int (*cb)(struct endpoint *e, void *userdata),
		       void *userdata, int64_t *ret_last, tk_err *err);
/* Calls cb for endpoints of network (NULL: all) and tenant (NULL: all). */
int db_endpoints_foreach(struct manager *m, const struct network *network,
			 const struct tk_tenant *tenant,
			 int (*cb)(struct endpoint *e, void *userdata), void *userdata,
			 tk_err *err);

/* Published ports: host port -> endpoint port, per protocol (ports.c, docs/firewall.md). */
#define PORTS_MAX 64 /* mappings per endpoint */
struct port_mapping {
	uint8_t protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t host_port, container_port;
	bool has_host_ip; /* only packets to this address of the host; else any of its addresses */
	struct tk_addr host_ip;
};
struct port_list {
	unsigned n;
	struct port_mapping p[PORTS_MAX];
};

/* firewall.c: what a network or endpoint means for the nft sets */
int firewall_network(struct manager *m, const struct network *n, bool add, tk_err *err);
int firewall_link(struct manager *m, const struct network *a, const struct network *b, bool add,
		  tk_err *err);
/* The group a port's host veth is made in, its network's id: `ip link show group N` lists them. */
uint32_t firewall_port_group(const struct endpoint *e);
/*
 * The fast path's program on port ifindex's tcx ingress (e's host veth), unless the port's meter
 * holds that hook (e's tenant's egress is shaped: the meter tail-calls the fast path), or
 * another program's qdisc holds the port's ingress (foreign: the reference bandwidth plugin's,
 * for its egress limit, whose filters must see every frame), when it takes the program off.
 */
int firewall_fast_path_hook(struct manager *m, const struct endpoint *e, int ifindex, bool foreign,
			    tk_err *err);
/*
 * The same for e's new port, after the reply (attacher.c), where its program would make the
 * attach wait for an RCU grace period: the port forwards by the bridge until then.
 */
int firewall_fast_path_new_port(struct manager *m, const struct endpoint *e, int ifindex,
				tk_err *err);
/* The attacher's: endpoint_id's port, as firewall_fast_path_hook decides now. */
void firewall_fast_path_attach_now(struct manager *m, int64_t endpoint_id);
/* Hooks e's port again: a qdisc came to its ingress (taken) or left it (!taken). */
int firewall_fast_path_ingress(struct manager *m, const struct endpoint *e, bool taken,
			       tk_err *err);
/* The same for every port: after notifications were lost. */
int firewall_fast_path_recheck_all(struct manager *m, tk_err *err);
/* The chain a shaped port's meter tail-calls the fast path through (fastpath.h); -1: none. */
int firewall_fast_chain(void);
/* {"fast_path": "on" or "off: why", "nat_path" and "nat_replies": the same}, for status */
json_t *firewall_datapath_to_json(void);
/*
 * {"fast_path_packets": {WAY: n, ...}, "fast_path_bytes": {...}}, what the fast path's programs
 * sent each way since netd started (lib/fastpath.h, enum tk_fast_way); empty without one.
 */
json_t *firewall_fast_counts_to_json(void);
/* The same as tenantkit_fast_path_{packets,bytes}_total{way=...}. */
struct tk_prom;
void firewall_fast_counts_metrics(struct tk_prom *p);
/*
 * --nat-uplink: the interfaces (n at most FIREWALL_UPLINKS_MAX; names kept, not copied) on whose
 * tcx ingress the NAT path takes the world's replies, at every rebuild; release takes it off.
 */
#define FIREWALL_UPLINKS_MAX 8
void firewall_nat_uplinks(const char *const *names, size_t n);
void firewall_nat_uplinks_release(void);
/* The fast path's program on ifindex's tcx ingress, or ours off it (!on); none: nothing. */
int firewall_fast_hook(int ifindex, bool on, tk_err *err);
/* Its fast path's elements to host_ifindex, when the veth did not get the index netd chose. */
int firewall_fast_path_move(struct manager *m, const struct endpoint *e, int host_ifindex,
			    tk_err *err);
/* The overlay's elements (netd/overlay.c): member underlay addresses, VXLAN ports, remote peers. */
int firewall_overlay_host(struct manager *m, const struct tk_addr *underlay, bool local, bool add,
			  tk_err *err);
int firewall_overlay_port(struct manager *m, const char *ifname, bool ipv6, bool add, tk_err *err);
/* group: the network's (firewall_network_group), for the fast path's elements. */
int firewall_overlay_peer(struct manager *m, uint32_t group, const char *ifname, int ifindex,
			  const uint8_t mac[6], const struct tk_addr *ip4,
			  const struct tk_addr *ip6, bool add, tk_err *err);
/* The device group of the network's ports, under which the fast path finds them. */
uint32_t firewall_network_group(const struct network *n);
/*
 * The VXLAN device ifname's fast path to network n's ports, behind the meter of n's tenant where
 * what it receives is shaped (shaping_overlay); n NULL: taken off.
 */
int firewall_overlay_fast(struct manager *m, const struct network *n, const char *ifname,
			  tk_err *err);
/*
 * An endpoint's elements, with its published ports (NULL: none) in the same batch, and its fast
 * path's (after the batch on add, before it on removal).
 */
int firewall_endpoint_ports(struct manager *m, const struct endpoint *e,
			    const struct port_list *ports, bool add, tk_err *err);
/* Replaces e's published ports old (NULL: none) with new (NULL: none) in one batch. */
int firewall_ports(struct manager *m, const struct endpoint *e, const struct port_list *old,
		   const struct port_list *new, tk_err *err);
/* Replaces both tables with the state of the database, in one atomic batch. */
int firewall_rebuild(struct manager *m, const struct tk_link_list *links, tk_err *err);
/*
 * Drops by reason, counted in nftables per bridge (isolation) or per container port (spoofing):
 * foreach calls cb for every element with its packets, get reads one; -ENOENT when the tables
 * (or the element) are not there.
 */
enum firewall_drops {
	FIREWALL_DROPS_SPOOFING,
	FIREWALL_DROPS_ISOLATION,
};
typedef int (*firewall_drops_cb)(const char *ifname, uint64_t packets, void *userdata);
int firewall_drops_foreach(struct manager *m, enum firewall_drops reason, firewall_drops_cb cb,
			   void *userdata, tk_err *err);
int firewall_drops_get(struct manager *m, enum firewall_drops reason, const char *ifname,
		       uint64_t *ret, tk_err *err);

/* network.c / endpoint.c */
struct network_params {
	const char *name;
	struct tk_tenant *tenant;
	const char *subnet4, *subnet6; /* NULL: allocate */
	bool ipv6, nat;
	bool internal; /* implies !nat */
	bool force; /* admin only: accept a reserved or host-overlapping subnet, with a warning */
	const struct tk_caller *caller; /* NULL: netd itself (treated as an admin) */
	unsigned mtu;
};
int network_create(struct manager *m, const struct network_params *p, struct network **ret,
		   tk_err *err);
int network_delete(struct manager *m, struct network *n, tk_err *err);
/* A subnet of a network's size: IPv4 /12 to /30, IPv6 /48 to /124. */
int network_subnet_size_check(const struct tk_prefix *p, tk_err *err);
int network_link(struct manager *m, struct network *a, struct network *b, bool link, tk_err *err);
/* Sets disable_ipv6 on a link netd made (bridges and ports of IPv4-only networks). */
int link_without_ipv6(const char *ifname, tk_err *err);
/*
 * Brings the kernel bridge of n to the recorded state; appends what it did to actions.  links,
 * if not NULL, is a listing that saves asking the kernel for the bridge.
 */
int network_realize(struct manager *m, struct network *n, const struct tk_link_list *links,
		    json_t *actions, tk_err *err);
/* The gateway's MAC, the bridge's: 0a:7f and the network's id. */
void network_gateway_mac(const struct network *n, uint8_t mac[6]);
struct network *network_free(struct network *n);

struct endpoint_params {
	struct network *network;
	const char *container_id, *ifname, *netns;
	const char *const *ips; /* static requests, NULL-terminated, may be NULL */
	const char *mac;	/* NULL: random */
	bool lease;		/* addresses only: netns is not used */
	const char *cni_name;	/* a CNI plugin's ADD: its configuration's name */
	/*
	 * Docker's network driver (docker.c): the container end, named ifname, is left down in
	 * netd's own netns for dockerd to move into the container; netns is not used.
	 */
	bool docker;
	const struct port_list *ports; /* published ports, NULL: none */
};
int endpoint_add(struct manager *m, const struct tk_caller *c, const struct endpoint_params *p,
		 struct endpoint *ret, tk_err *err);
/* 1 when deleted, 0 when there was nothing to delete. */
int endpoint_del(struct manager *m, const struct endpoint *e, tk_err *err);
/* endpoint_del for an endpoint whose host veth the kernel already deleted (its netns is gone). */
int endpoint_release(struct manager *m, const struct endpoint *e, tk_err *err);
/*
 * The container's netns for c: the descriptor c passed (SCM_RIGHTS), or for admins only the
 * path, opened O_PATH|O_NONBLOCK|O_NOFOLLOW and checked.  Never netd's own netns, and one of a
 * user namespace c's uid owns unless c is an admin.
 */
int endpoint_open_netns(const struct tk_caller *c, const char *path, int *ret_fd, tk_err *err);
/*
 * The announcements (lib/announce.h) of a container whose interface netd does not configure, a
 * Docker container's or another host's, made by the host out of network n's bridge: its
 * neighbours then have mac for ip4 and ip6 (either may be NULL).  Logs what fails.
 */
void endpoint_announce_by_host(const struct network *n, const char *who, const uint8_t mac[6],
			       const struct tk_addr *ip4, const struct tk_addr *ip6);

/* check.c */
/*
 * Compares the kernel with endpoint e, seen from the container's netns (endpoint_open_netns: the
 * passed descriptor, else for admins netns_path or the recorded path): appends one
 * {"msg", "details"} object per difference to problems.  Fails only when it cannot look.
 */
int endpoint_check(struct manager *m, const struct tk_caller *c, const struct endpoint *e,
		   const char *netns_path, json_t *problems, tk_err *err);

/* attacher.c */
int attacher_start(struct manager *m, tk_err *err);
/* Queues the fast path for endpoint_id's port; false when it cannot be queued. */
bool attacher_queue(struct manager *m, int64_t endpoint_id);
/* Takes endpoint_id's port off the queue (0: every port): its fast path is decided now. */
void attacher_cancel(struct manager *m, int64_t endpoint_id);
/* Ports queued. */
size_t attacher_pending(struct manager *m);
/* A request begins (or ends): the thread waits for netd to be idle. */
void attacher_request(struct manager *m, bool begins);
/* Stops the thread; what is still queued waits for the next start's rebuild. */
void attacher_stop(struct manager *m);

/* reaper.c */
int reaper_start(struct manager *m, tk_err *err);
/* With a listing of the links: another program's link in the reaper's group stops its batches. */
void reaper_check_links(struct manager *m, const struct tk_link_list *links);
/* Queues a host veth for deletion (or deletes it now when it cannot be queued). */
void reaper_queue(struct manager *m, const char *ifname);
/* Waits until every queued deletion is done; true when there was one to wait for. */
bool reaper_drain(struct manager *m);
/* Deletions queued or under way. */
size_t reaper_pending(struct manager *m);
/* Finishes the queue and stops the thread. */
void reaper_stop(struct manager *m);

/* reconcile.c */
/* The alias of the bridges a netd makes: this prefix, then its database's id. */
#define NETD_ALIAS_PREFIX "tenantkit:netd:"
int reconcile(struct manager *m, json_t *actions, tk_err *err);
/* At start: refuses (-EBUSY) when tk bridges of another netd's database are in this netns. */
int reconcile_claim(struct manager *m, tk_err *err);
/*
 * Releases every veth endpoint whose host veth is missing from the kernel (its container's netns
 * was destroyed): the tkv links of links (NULL: a listing of its own) against the database.  At
 * start, and when link notifications were lost.
 */
int reconcile_release_gone(struct manager *m, const struct tk_link_list *links, json_t *actions,
			   tk_err *err);

/*
 * lifecycle.c: containers that go away without a DEL reaching netd.  Link notifications release
 * the endpoint whose host veth the kernel deleted; the pending-DEL spool beside the socket holds
 * the DELs plugins could not deliver, applied as their writer's uid would have been.
 */
int lifecycle_open(struct manager *m, tk_err *err);
void lifecycle_close(struct manager *m);
/* The server's extra event source (link notifications and the spool), and its handler. */
int lifecycle_fd(void *userdata);
void lifecycle_run(void *userdata);
/* Applies every recorded DEL now: at start, and before an ADD, so a DEL recorded before it
 * cannot remove what the ADD makes. */
void lifecycle_spool_apply(struct manager *m, bool only_if_changed);
/* A pass stopped at its bound: the loop runs another 100 ms later (extra_timeout). */
bool lifecycle_spool_more(struct manager *m);

/*
 * cluster.c: netd --cluster (docs/cluster.md).  Without --cluster (endpoints NULL) nothing
 * here runs and every op is netd's own.
 */
struct cluster_config {
	const char *endpoints; /* "http://H:P[,...]"; NULL: a single host */
	const char *host;      /* this host's name in the cluster */
	const char *underlay;  /* its underlay address */
	unsigned ttl;	       /* of the host lease, seconds */
};
int cluster_open(struct manager *m, const struct cluster_config *cfg, tk_err *err);
void cluster_close(struct manager *m);
/* rpc_dispatch, with the cluster's part of the ops that have one (host.list). */
json_t *cluster_dispatch(struct manager *m, const struct tk_caller *c, json_t *request);
/* The loop's event source for watch events (-1 without --cluster), and its handler. */
int cluster_fd(struct manager *m);
void cluster_run(struct manager *m);
/* Withdraws the usage keys of networks this host no longer has endpoints on, then syncs the overlay. */
void cluster_usage_sync(struct manager *m);
/* Asks for that sync and the blocks' once the loop is idle; _run does it (state lock held). */
void cluster_sync_later(struct manager *m);
bool cluster_sync_wanted(struct manager *m);
void cluster_sync_run(struct manager *m);
json_t *cluster_status_json(struct manager *m);
/* For cluster-blocks.c: the loop thread's etcd handle, this host, its lease (0: none now). */
struct tk_etcd *cluster_etcd(struct manager *m);
const char *cluster_host(struct manager *m);
const char *cluster_underlay(struct manager *m);
int64_t cluster_lease(struct manager *m);
void cluster_health(struct manager *m, int r, const tk_err *err);
/* A network of the cluster (not one made before cluster mode, which stays this host's own). */
bool cluster_network(struct manager *m, const char *name);
/* The prefix length of the network's IPv4 address blocks (its record's block_size; default 26). */
unsigned cluster_block_len4(const char *network);

/*
 * cluster-blocks.c: per-host address blocks of cluster networks (docs/cluster.md, "Address
 * blocks").  alloc hands out an address from this host's own blocks, claiming a block or
 * publishing more of one through etcd only when they are used up; static checks a requested
 * address against them.  The rest keeps the cache in step with the watch and etcd.
 */
int cluster_blocks_alloc(struct manager *m, struct network *n, int family, struct tk_addr *ret,
			 tk_err *err);
int cluster_blocks_static(struct manager *m, struct network *n, const struct tk_addr *a,
			  tk_err *err);
void cluster_blocks_event(struct manager *m, const char *key, const char *value, bool deleted,
			  int64_t rev);
void cluster_blocks_listed(struct manager *m, bool begin);
void cluster_blocks_sync(struct manager *m);
void cluster_blocks_forget(const char *network);
json_t *cluster_blocks_json(struct manager *m);
void cluster_blocks_free(void);
/* The block of n's subnet a lies in; -ENOENT outside the subnet. */
int cluster_blocks_of(struct network *n, const struct tk_addr *a, struct tk_prefix *ret);
/* reserved/<net>/<block>/<host> went (value: what it was): its addresses are no longer kept off. */
void cluster_blocks_record_gone(struct manager *m, const char *key, const char *value);

/* overlay.c: VXLAN devices, endpoint records, FDB and neighbour entries (docs/cluster.md) */
struct tk_etcd;
void overlay_note_endpoint(const char *rest, const char *value, bool deleted);
void overlay_note_host(const char *name, const char *value, bool deleted);
/* blocks/<rest> and reserved/<rest> events: what registrations are checked against. */
void overlay_note_block(const char *rest, const char *value, bool deleted);
void overlay_note_record(const char *rest, const char *value, bool deleted);
void overlay_list_begin(void);
void overlay_firewall_lost(void);
void overlay_sync(struct manager *m, json_t *vnis, const char *host, const char *underlay,
		  int64_t lease);
/* An endpoint came or went: the next sync compares every endpoint with its published record. */
void overlay_endpoints_changed(void);
/* The key ("<net>/<host>/<mac>") of another host's programmed record holding mac on n, or NULL. */
const char *overlay_mac_holder(const struct network *n, const uint8_t mac[6]);
/* overlay-publish.c: this host's endpoint records, written to etcd off the loop thread. */
int overlay_publisher_start(const char *endpoints, unsigned timeout_ms, int wake_fd, tk_err *err);
void overlay_publisher_stop(void);
/* Queues a put (value NULL: a delete) of key; -ENOMEM. */
int overlay_publish(const char *key, const char *value, int64_t lease);
/* Keys whose last write failed since the last call (key -> true: a put, false: a delete). */
json_t *overlay_publish_failed(void);

/* docker.c: Docker's NetworkDriver and IpamDriver plugin APIs on their own socket */
struct tk_http;
/* Serves the socket in netd's loop through lib/http (tk_http_fd, _run, _stop). */
int docker_start(struct manager *m, const char *socket_path, struct tk_http **ret, tk_err *err);

/*
 * ports.c: published ports and the tenant's host ports and egress address.  Mappings are rows
 * of port_mappings (deleted with their endpoint), checked against the tenant's host ports, the
 * other mappings and the host's sockets.
 */
/* Parses [{host_port, container_port, protocol?, host_ip?}] (null or absent: none). */
int ports_from_json(json_t *j, struct port_list *ret, tk_err *err);
json_t *ports_to_json(const struct port_list *l);
/* Whether c may publish l for endpoint e (e->id: its own current mappings do not conflict). */
int ports_check(struct manager *m, const struct tk_caller *c, const struct endpoint *e,
		const struct port_list *l, tk_err *err);
int ports_db_load(struct manager *m, int64_t endpoint_id, struct port_list *ret, tk_err *err);
/* Replaces the rows of endpoint_id with l, inside the caller's transaction. */
int ports_db_store(struct manager *m, int64_t endpoint_id, const struct port_list *l, tk_err *err);
/* Replaces e's mappings with l atomically (rows and elements); an empty l clears them. */
int ports_set(struct manager *m, const struct tk_caller *c, const struct endpoint *e,
	      const struct port_list *l, tk_err *err);
/* Lets the host reach published ports over 127.0.0.1 through n's bridge (route_localnet). */
int ports_bridge_localnet(const struct network *n, tk_err *err);
/* Lets e reach its own published ports (hairpin mode on its bridge port). */
int ports_port_hairpin(struct manager *m, const struct endpoint *e, bool on, tk_err *err);
/* Calls cb for every mapping, with its endpoint's addresses (rebuild). */
int ports_foreach(struct manager *m,
		  int (*cb)(struct endpoint *e, const struct port_list *l, void *userdata),
		  void *userdata, tk_err *err);
/* tenant_net rows into the loaded tenants (start). */
int ports_tenants_load(struct manager *m, tk_err *err);
/* tenant.create: takes host_ports and egress_ip out of args into ret's fields. */
int ports_tenant_params(struct manager *m, json_t *args, struct tk_tenant *ret, tk_err *err);
/* Gives the new tenant t the fields p got from ports_tenant_params, and records them. */
int ports_tenant_apply(struct manager *m, struct tk_tenant *t, const struct tk_tenant *p,
		       tk_err *err);

/*
 * tenant.set: takes host_ports ("FIRST-LAST", "none" or null) out of args into ret, refused when
 * the range overlaps another tenant's or strands a published mapping; *ret_changed when it differs.
 */
int ports_tenant_set_params(struct manager *m, const struct tk_tenant *t, json_t *args,
			    struct tk_tenant *ret, bool *ret_changed, tk_err *err);
/* Records p's host ports as t's (tenant_net) and gives them to t. */
int ports_tenant_set_apply(struct manager *m, struct tk_tenant *t, const struct tk_tenant *p,
			   tk_err *err);

/*
 * shaping.c: per-tenant limits and weights with tc (docs/bandwidth.md).  Kernel first, then the
 * caller records: shaping_tenant_set takes t's shaping from from's limits to p's (t's ports,
 * bridges and VXLAN devices are redirected or cleared when that changes), then shaping_rebalance spreads the capacity by
 * the weights once the list has them (fresh, a tenant new to the list, gets its leaf queues).
 */
/* -ERANGE when p would be shaped but its id does not fit a tc class. */
int shaping_check(struct manager *m, const struct tk_tenant *p, tk_err *err);
int shaping_tenant_new(struct manager *m, struct tk_tenant *t, tk_err *err);
int shaping_tenant_set(struct manager *m, struct tk_tenant *t, const struct tk_tenant *from,
		       const struct tk_tenant *p, tk_err *err);
int shaping_rebalance(struct manager *m, const struct tk_tenant *fresh, tk_err *err);
/* After old was deleted from the list (old is a copy). */
void shaping_tenant_gone(struct manager *m, const struct tk_tenant *old);
/*
 * Redirects a new port of a tenant whose egress is shaped, and then returns 1: its tcx hooks are
 * set, the fast path included.  0: not shaped, nothing done.
 */
int shaping_endpoint(struct manager *m, const struct endpoint *e, tk_err *err);
/*
 * Whether the shaper takes what e's port receives (its tenant's egress): the fast path after
 * it, and a clsact qdisc on the port is netd's own.
 */
bool shaping_from_port(const struct manager *m, const struct endpoint *e);
/*
 * The VXLAN device ifindex of network n: where its tenant's ingress is shaped, what the device
 * receives is metered on its tcx ingress, which tail-calls the fast path, and redirected to the
 * shaper, and returns 1; 0: not shaped, nothing done.
 */
int shaping_overlay(struct manager *m, const struct network *n, int ifindex, tk_err *err);
/* At start, after reconcile: the devices and classes from the database. */
int shaping_start(struct manager *m, tk_err *err);
/*
 * A new network n: its bridge's egress is shaped where its tenant's ingress is, and an MTU larger
 * than any before it enlarges every class's queue to take it.
 */
int shaping_network(struct manager *m, const struct network *n, tk_err *err);
/* Closes the meters (the ports' classifiers keep theirs). */
void shaping_close(struct manager *m);
/* {egress_capacity, ingress_capacity} for status. */
json_t *shaping_to_json(const struct manager *m);

/*
 * accounting.c: per tenant and per endpoint traffic and drops by reason, as monotonic totals
 * kept in the table counters (docs/accounting.md).
 */
/* stats.get: the tenants c may see (or the one named), with their endpoints and networks. */
int accounting_stats(struct manager *m, const struct tk_caller *c, const char *tenant, json_t **ret,
		     tk_err *err);
struct tk_prom;
/* GET /metrics: every tenant's families, written into p (lib/metrics). */
int accounting_metrics(struct manager *m, struct tk_prom *p, tk_err *err);
/* Reads and records every counter at once: when netd stops. */
void accounting_save(struct manager *m);
/*
 * The periodic save, one slice (some SAVE_SLICE_OBJECTS endpoints and networks) per call, with
 * the state lock held; call again, the lock released in between, until it returns true.
 */
bool accounting_save_step(struct manager *m);
/*
 * In the transaction that deletes e (or n): its totals go into its tenant's, read from the
 * kernel first (veth_gone: the veth's counters went with it, the last reading stands).
 */
int accounting_endpoint_gone(struct manager *m, const struct endpoint *e, bool veth_gone,
			     tk_err *err);
int accounting_network_gone(struct manager *m, const struct network *n, tk_err *err);
/* Before the nftables tables are replaced: the drop counters they hold are kept. */
void accounting_before_rebuild(struct manager *m);
/*
 * Before HTB classes of direction dir (enum shaping_dir) on ifindex go away: only's (NULL: every
 * tenant's) limit drops are kept.
 */
void accounting_limits_gone(struct manager *m, int dir, int ifindex, const struct tk_tenant *only);

/* json-out.c */
void tenant_usage_json(const struct tk_tenant *t, json_t *o);
json_t *network_to_json(struct manager *m, const struct network *n);
/* An endpoint's keys, in docs/protocol.md's order: endpoint.list's "fields" picks some. */
enum endpoint_field {
	ENDPOINT_FIELD_ID,
	ENDPOINT_FIELD_KIND,
	ENDPOINT_FIELD_NETWORK,
	ENDPOINT_FIELD_TENANT,
	ENDPOINT_FIELD_CONTAINER_ID,
	ENDPOINT_FIELD_IFNAME,
	ENDPOINT_FIELD_NETNS,
	ENDPOINT_FIELD_HOST_IFNAME,
	ENDPOINT_FIELD_HOST_MAC,
	ENDPOINT_FIELD_MAC,
	ENDPOINT_FIELD_IPS,
	ENDPOINT_FIELD_CREATED,
	_ENDPOINT_FIELD_MAX,
	_ENDPOINT_FIELD_INVALID = -EINVAL,
};
#define ENDPOINT_FIELDS_ALL ((1u << _ENDPOINT_FIELD_MAX) - 1)
int endpoint_fields_from_json(json_t *names, unsigned *ret, tk_err *err);
/* Only the keys in fields, a mask of 1 << ENDPOINT_FIELD_*; endpoint_to_json: all of them. */
json_t *endpoint_to_json_fields(const struct endpoint *e, unsigned fields);
json_t *endpoint_to_json(const struct endpoint *e);
/* The same values as an array, in that order (endpoint.list's "rows"), and the keys' names. */
json_t *endpoint_to_json_row(const struct endpoint *e, unsigned fields);
json_t *endpoint_field_names_json(unsigned fields);

/* rpc-handlers.c */
json_t *rpc_dispatch(struct manager *m, const struct tk_caller *c, json_t *request);
