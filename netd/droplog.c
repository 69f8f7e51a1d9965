/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The drop log: the firewall's drop rules send what they drop, rate-limited, to an nflog group
 * (netd/firewall.c, docs/firewall.md); netd binds that group and keeps the last DROPLOG_RING
 * packets, each mapped back to its tenant, network and endpoint, for `netctl log drops`
 * (log.drops).  Only root may bind an nflog group, so tenants see their drops through netd,
 * authorised like any read.  With --drop-log-external netd leaves the group to another reader
 * (ulogd) and the prefix ("tk-drop spoofing" ...) and input interface tell that reader the rest.
 *
 * Like nftables' src/mnl.c, this talks netlink with libmnl directly: nfnetlink_log has no
 * library in tenantkit's dependencies, and its messages are few and simple.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "json.h"
#include "log.h"
#include "netd.h"
#include "server.h"
#include "store.h"

struct drop_entry {
	uint64_t seq;
	int64_t time_ms;
	char reason[16];
	/* "" when the packet maps to no tenant (a stale port, traffic from outside to nobody) */
	char tenant[TK_NAME_MAX + 1], network[TK_NAME_MAX + 1];
	int64_t tenant_id;   /* who may read it: a tenant made later under that name may not */
	int64_t endpoint_id; /* 0: none known */
	char container_id[65], ifname[TK_IFNAME_MAX + 1];
	char in[IF_NAMESIZE], out[IF_NAMESIZE];
	char mac[18];
	const char *proto; /* "tcp", "udp", "icmp", "icmpv6", "arp", "ipv4", "ipv6", "other" */
	char src[TK_ADDR_STRLEN], dst[TK_ADDR_STRLEN];
	int sport, dport; /* -1: none */
};

static struct {
	int group; /* -1: the rules do not log */
	bool external;
	struct mnl_socket *nl;
	char why_not[sizeof(((tk_err *)0)->msg) +
		     64]; /* why netd does not read the group, "" when it does */
	struct drop_entry *ring;
	uint64_t next_seq; /* of the next entry; entries seq >= next_seq - DROPLOG_RING remain */
	uint64_t lost;	   /* packets the kernel could not queue to us (ENOBUFS) */
} dl = { .group = DROPLOG_GROUP_DEFAULT, .next_seq = 1 };

int droplog_group(void)
{
	return dl.group;
}

void droplog_configure(int group, bool external)
{
	dl.group = group;
	dl.external = external;
}

static int droplog_bind(tk_err *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nfulnl_msg_config_cmd cmd = { .command = NFULNL_CFG_CMD_BIND };
	struct nfulnl_msg_config_mode mode = { .copy_range = htonl(DROPLOG_SNAPLEN),
					       .copy_mode = NFULNL_COPY_PACKET };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	ssize_t n;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons((uint16_t)dl.group);
	mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
	mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
	/* Each packet at once, not batched for up to a second: the log is read as it happens. */
	mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(1));
	if (mnl_socket_sendto(dl.nl, nlh, nlh->nlmsg_len) < 0)
		return tk_err_set(err, -errno, "sending the nflog config: %m");
	n = mnl_socket_recvfrom(dl.nl, buf, sizeof(buf));
	if (n < 0)
		return tk_err_set(err, -errno, "reading the nflog config reply: %m");
	if (mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(dl.nl), NULL, NULL) < 0)
		return tk_err_set(err, -errno,
				  errno == EBUSY ? "nflog group %d is bound by another process "
						   "(ulogd?): start netd with "
						   "--drop-log-external to leave it to that reader"
						 : "binding nflog group %d: %m",
				  dl.group);
	return 0;
}

int droplog_open(struct manager *m, tk_err *err)
{
	tk_err why = {};

	(void)m;
	if (dl.group < 0 || dl.external) {
		snprintf(dl.why_not, sizeof(dl.why_not), "%s",
			 dl.group < 0 ? "the drop log is off (--drop-log off)"
				      : "the drop log is left to another reader "
					"(--drop-log-external)");
		return 0;
	}
	if (!(dl.ring = calloc(DROPLOG_RING, sizeof(*dl.ring))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (!(dl.nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK)) ||
	    mnl_socket_bind(dl.nl, 0, MNL_SOCKET_AUTOPID) < 0)
		tk_err_set(&why, -errno, "opening an nfnetlink socket: %m");
	else if (droplog_bind(&why) >= 0) {
		log_info("Drop log: reading nflog group %d", dl.group);
		return 0;
	}
	/* The firewall still drops (and counts): say why there is no log, and go on. */
	log_warning("No drop log: %s", why.msg);
	snprintf(dl.why_not, sizeof(dl.why_not), "netd cannot read the drop log: %s", why.msg);
	droplog_close();
	return 0;
}

int droplog_fd(void)
{
	return dl.nl ? mnl_socket_get_fd(dl.nl) : -1;
}

void droplog_close(void)
{
	if (dl.nl)
		mnl_socket_close(dl.nl);
	dl.nl = NULL;
	free(dl.ring);
	dl.ring = NULL;
}

/* ---- one packet ----------------------------------------------------------------------------- */

struct packet {
	const char *prefix;
	uint16_t hw_protocol;
	uint32_t indev, outdev;
	const uint8_t *hwaddr;
	size_t hwaddr_len;
	const uint8_t *payload;
	size_t len;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, NFULA_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static void format_addr(int family, const uint8_t *bytes, char *buf, size_t size)
{
	struct tk_addr a = { .family = family };

	memcpy(a.bytes, bytes, family == AF_INET ? 4 : 16);
	tk_addr_format(&a, buf, size);
}

static const char *l4_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	default: return NULL;
	}
}

static void ports(struct drop_entry *e, uint8_t proto, const uint8_t *l4, size_t len)
{
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && len >= 4) {
		e->sport = l4[0] << 8 | l4[1];
		e->dport = l4[2] << 8 | l4[3];
	}
}

/* Addresses, protocol and ports from the copied packet, which starts at its network header. */
static void parse_payload(struct drop_entry *e, const struct packet *p)
{
	const uint8_t *d = p->payload;
	size_t len = p->len;

	e->sport = e->dport = -1;
	e->proto = "other";
	if (p->hw_protocol == ETH_P_IP && len >= 20 && (d[0] >> 4) == 4) {
		size_t ihl = (size_t)(d[0] & 0xf) * 4;
		const char *name = l4_name(d[9]);
		e->proto = name ? name : "ipv4";
		format_addr(AF_INET, d + 12, e->src, sizeof(e->src));
		format_addr(AF_INET, d + 16, e->dst, sizeof(e->dst));
		if (ihl >= 20 && ihl < len)
			ports(e, d[9], d + ihl, len - ihl);
	} else if (p->hw_protocol == ETH_P_IPV6 && len >= 40 && (d[0] >> 4) == 6) {
		const char *name = l4_name(d[6]);
		e->proto = name ? name : "ipv6";
		format_addr(AF_INET6, d + 8, e->src, sizeof(e->src));
		format_addr(AF_INET6, d + 24, e->dst, sizeof(e->dst));
		ports(e, d[6], d + 40, len - 40);
	} else if (p->hw_protocol == ETH_P_ARP && len >= 28 && d[4] == 6 && d[5] == 4) {
		/* sender and target protocol addresses of an Ethernet/IPv4 ARP packet */
		e->proto = "arp";
		format_addr(AF_INET, d + 14, e->src, sizeof(e->src));
		format_addr(AF_INET, d + 24, e->dst, sizeof(e->dst));
	}
}

static int64_t endpoint_by_addr(struct manager *m, const struct network *n, const char *addr)
{
	sqlite3_stmt *st;
	int64_t id = 0;

	if (!addr[0] ||
	    tk_store_stmt(m->store,
			  "SELECT id FROM endpoints WHERE network_id = ? AND (ip4 = ? OR ip6 = ?) "
			  "LIMIT 1",
			  &st, NULL) < 0)
		return 0;
	sqlite3_bind_int64(st, 1, n->id);
	sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, addr, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

static void set_endpoint(struct manager *m, struct drop_entry *e, int64_t id)
{
	struct endpoint ep = {};

	if (id <= 0 || db_endpoint_find_by_id(m, id, &ep, NULL) < 0)
		return;
	e->endpoint_id = ep.id;
	snprintf(e->container_id, sizeof(e->container_id), "%.64s", ep.container_id);
	snprintf(e->ifname, sizeof(e->ifname), "%s", ep.ifname);
	snprintf(e->tenant, sizeof(e->tenant), "%s", ep.network->tenant->name);
	e->tenant_id = ep.network->tenant->id;
	snprintf(e->network, sizeof(e->network), "%s", ep.network->name);
}

/* The network whose bridge is name ("tk-<id in hex>"), NULL for any other name. */
static struct network *bridge_network(struct manager *m, const char *name)
{
	char *end;
	unsigned long long id;

	if (strncmp(name, "tk-", 3) != 0 || !name[3])
		return NULL;
	id = strtoull(name + 3, &end, 16);
	return *end ? NULL : manager_network_by_id(m, (int64_t)id);
}

/*
 * Which tenant the packet is about: the sender's when it came from a container's port (its
 * veth names the endpoint) or from a tenant's bridge (the endpoint is found by its source
 * address); else, traffic from outside dropped on its way to a tenant, the receiver's.
 */
static void map_packet(struct manager *m, struct drop_entry *e)
{
	struct network *n;

	if (strncmp(e->in, "tkv", 3) == 0 && strlen(e->in) == 11) {
		char *end;
		unsigned long id = strtoul(e->in + 3, &end, 16);
		if (!*end)
			set_endpoint(m, e, (int64_t)id);
	} else if ((n = bridge_network(m, e->in))) {
		snprintf(e->tenant, sizeof(e->tenant), "%s", n->tenant->name);
		e->tenant_id = n->tenant->id;
		snprintf(e->network, sizeof(e->network), "%s", n->name);
		set_endpoint(m, e, endpoint_by_addr(m, n, e->src));
	} else if ((n = bridge_network(m, e->out))) {
		snprintf(e->tenant, sizeof(e->tenant), "%s", n->tenant->name);
		e->tenant_id = n->tenant->id;
		snprintf(e->network, sizeof(e->network), "%s", n->name);
		set_endpoint(m, e, endpoint_by_addr(m, n, e->dst));
	}
}

static void record(struct manager *m, const struct packet *p)
{
	struct drop_entry *e = &dl.ring[dl.next_seq % DROPLOG_RING];
	struct timespec now;

	memset(e, 0, sizeof(*e));
	e->seq = dl.next_seq++;
	clock_gettime(CLOCK_REALTIME, &now);
	e->time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	snprintf(e->reason, sizeof(e->reason), "%s",
		 p->prefix && strncmp(p->prefix, DROPLOG_PREFIX, strlen(DROPLOG_PREFIX)) == 0
			 ? p->prefix + strlen(DROPLOG_PREFIX)
			 : "unknown");
	if (p->indev)
		(void)if_indextoname(p->indev, e->in);
	if (p->outdev)
		(void)if_indextoname(p->outdev, e->out);
	if (p->hwaddr && p->hwaddr_len >= 6)
		snprintf(e->mac, sizeof(e->mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->hwaddr[0],
			 p->hwaddr[1], p->hwaddr[2], p->hwaddr[3], p->hwaddr[4], p->hwaddr[5]);
	parse_payload(e, p);
	map_packet(m, e);
}

static int packet_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[NFULA_MAX + 1] = {};
	struct packet p = {};

	if ((nlh->nlmsg_type & 0xff) != NFULNL_MSG_PACKET ||
	    mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb) < 0)
		return MNL_CB_OK;
	if (tb[NFULA_PACKET_HDR] &&
	    mnl_attr_get_payload_len(tb[NFULA_PACKET_HDR]) >= sizeof(struct nfulnl_msg_packet_hdr))
		p.hw_protocol = ntohs(((const struct nfulnl_msg_packet_hdr *)mnl_attr_get_payload(
					       tb[NFULA_PACKET_HDR]))
					      ->hw_protocol);
	if (tb[NFULA_PREFIX])
		p.prefix = mnl_attr_get_str(tb[NFULA_PREFIX]);
	/* In the bridge family the input device is the bridge, the port comes as physindev. */
	if (tb[NFULA_IFINDEX_PHYSINDEV])
		p.indev = ntohl(mnl_attr_get_u32(tb[NFULA_IFINDEX_PHYSINDEV]));
	else if (tb[NFULA_IFINDEX_INDEV])
		p.indev = ntohl(mnl_attr_get_u32(tb[NFULA_IFINDEX_INDEV]));
	if (tb[NFULA_IFINDEX_OUTDEV])
		p.outdev = ntohl(mnl_attr_get_u32(tb[NFULA_IFINDEX_OUTDEV]));
	if (tb[NFULA_HWADDR] &&
	    mnl_attr_get_payload_len(tb[NFULA_HWADDR]) >= sizeof(struct nfulnl_msg_packet_hw)) {
		const struct nfulnl_msg_packet_hw *hw = mnl_attr_get_payload(tb[NFULA_HWADDR]);
		p.hwaddr = hw->hw_addr;
		p.hwaddr_len = ntohs(hw->hw_addrlen);
	}
	if (tb[NFULA_PAYLOAD]) {
		p.payload = mnl_attr_get_payload(tb[NFULA_PAYLOAD]);
		p.len = mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]);
	}
	record(data, &p);
	return MNL_CB_OK;
}

void droplog_run(struct manager *m)
{
	static char buf[1 << 16];

	if (!dl.nl)
		return;
	/* A bounded batch per wake-up, so requests are served in between even in a flood. */
	for (int i = 0; i < 256; i++) {
		ssize_t n = mnl_socket_recvfrom(dl.nl, buf, sizeof(buf));
		if (n < 0 && errno == ENOBUFS) {
			/* The kernel dropped log messages it could not queue: count, go on. */
			dl.lost++;
			continue;
		}
		if (n <= 0)
			break;
		tk_server_state_lock();
		(void)mnl_cb_run(buf, (size_t)n, 0, 0, packet_cb, m);
		tk_server_state_unlock();
	}
}

/* ---- log.drops ------------------------------------------------------------------------------- */

static json_t *opt_str(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *opt_int(int64_t v, bool known)
{
	return known ? json_integer(v) : json_null();
}

static json_t *entry_json(const struct drop_entry *e)
{
	return json_pack("{s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, "
			 "s:o, s:o}",
			 "seq", (json_int_t)e->seq, "time_ms", (json_int_t)e->time_ms, "reason",
			 e->reason, "tenant", opt_str(e->tenant), "network", opt_str(e->network),
			 "endpoint_id", opt_int(e->endpoint_id, e->endpoint_id > 0), "container_id",
			 opt_str(e->container_id), "ifname", opt_str(e->ifname), "in",
			 opt_str(e->in), "out", opt_str(e->out), "mac", opt_str(e->mac), "proto",
			 e->proto ? e->proto : "other", "src", opt_str(e->src), "dst",
			 opt_str(e->dst), "sport", opt_int(e->sport, e->sport >= 0), "dport",
			 opt_int(e->dport, e->dport >= 0));
}

/* Entries without a tenant (a stale port, a probe of nobody) are root's and the admin group's. */
static bool entry_visible(struct manager *m, const struct tk_caller *c, const struct drop_entry *e,
			  const struct tk_tenant *only)
{
	/* By id: a tenant deleted and made again under its name is another tenant. */
	const struct tk_tenant *t =
		e->tenant[0] ? tk_tenant_get_by_id(&m->tenants, e->tenant_id) : NULL;

	if (only)
		return t == only;
	return c->admin || (t && caller_may_manage(c, t, NULL) >= 0);
}

int op_log_drops(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
		 tk_err *err)
{
	const char *tenant = NULL;
	struct tk_tenant *only = NULL;
	json_int_t since = 0, limit = 1000;
	uint64_t first, s;
	json_t *entries;
	int r;

	if ((r = tk_json_unpack(args, "log.drops args", err, "{s?s, s?I, s?I}", "tenant", &tenant,
				"since", &since, "limit", &limit)) < 0 ||
	    (tenant && (r = tk_tenant_find(&m->tenants, c, tenant, &only, err)) < 0))
		return r;
	if (since < 0 || limit < 1 || limit > DROPLOG_RING)
		return tk_err_set(err, -EINVAL, "since must be >= 0 and limit 1..%d", DROPLOG_RING);
	if (!dl.ring)
		return tk_err_set(err, -EOPNOTSUPP, "%s", dl.why_not);
	first = dl.next_seq > DROPLOG_RING ? dl.next_seq - DROPLOG_RING : 1;
	/* A since from before a restart of netd (past the end) starts from the oldest again. */
	if ((uint64_t)since + 1 > first && (uint64_t)since < dl.next_seq)
		first = (uint64_t)since + 1;
	entries = json_array();
	for (s = first; s < dl.next_seq; s++) {
		const struct drop_entry *e = &dl.ring[s % DROPLOG_RING];
		if (!entry_visible(m, c, e, only))
			continue;
		if (json_array_size(entries) == (size_t)limit)
			break;
		json_array_append_new(entries, entry_json(e));
	}
	/* next: where the caller goes on from (--follow); everything up to it was looked at. */
	*ret = json_pack("{s:o, s:I, s:I, s:i}", "entries", entries, "next", (json_int_t)(s - 1),
			 "lost", (json_int_t)dl.lost, "group", dl.group);
	return *ret ? 0 : tk_err_set(err, -ENOMEM, "out of memory");
}
