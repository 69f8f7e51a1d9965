/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "nl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/pkt_sched.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include "cleanup.h"
#include "netns.h"
#include "nl-private.h"

struct tk_nl {
	struct nl_sock *sock;
	/* The kernel's own errno and extack text of the last failed request (see on_error). */
	int kernel_errno;
	char extack[200];
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_addr *, rtnl_addr_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_route *, rtnl_route_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cache *, nl_cache_free);

static int nle_to_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_EXIST: return -EEXIST;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_INVAL: return -EINVAL;
	case NLE_RANGE: return -ERANGE;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_INTR: return -EINTR;
	case NLE_BUSY: return -EBUSY;
	case NLE_MSGSIZE: return -EMSGSIZE;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NODEV: return -ENODEV;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_NOACCESS: return -EACCES;
	case NLE_PERM: return -EPERM;
	default: return -EIO;
	}
}

void tk_netlink_extack(const struct nlmsghdr *error, char *buf, size_t size)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(error);
	const struct nlattr *attr;
	size_t offset = sizeof(*e);

	buf[0] = '\0';
	if (!(error->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	/* The TLVs follow the echoed request, which is only its header when capped. */
	if (!(error->nlmsg_flags & NLM_F_CAPPED))
		offset += MNL_ALIGN(e->msg.nlmsg_len) - MNL_NLMSG_HDRLEN;
	mnl_attr_for_each(attr, error, offset)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
			snprintf(buf, size, "%s", mnl_attr_get_str(attr));
	}
}

/*
 * libnl maps kernel errnos onto its own smaller set (ENODEV and ENOENT both become
 * NLE_OBJ_NOTFOUND), so keep the kernel's errno and the extack message it sent with it.
 */
static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *userdata)
{
	struct tk_nl *nl = userdata;

	(void)who;
	nl->kernel_errno = -e->error;
	/* libnl hands over the payload; its header sits right before it. */
	tk_netlink_extack((const struct nlmsghdr *)(void *)((char *)e - NLMSG_HDRLEN), nl->extack,
			  sizeof(nl->extack));
	return NL_STOP;
}

static void request_start(struct tk_nl *nl)
{
	nl->kernel_errno = 0;
	nl->extack[0] = '\0';
}

static int request_fail(struct tk_nl *nl, int nle, tk_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int request_fail(struct tk_nl *nl, int nle, tk_err *err, const char *fmt, ...)
{
	int code = nl->kernel_errno > 0 ? -nl->kernel_errno : nle_to_errno(nle);
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (nl->extack[0])
		return tk_err_set(err, code, "%s: %s (%s)", what, strerror(-code), nl->extack);
	return tk_err_set(err, code, "%s: %s", what, strerror(-code));
}

int tk_nl_open(struct tk_nl **ret, tk_err *err)
{
	struct tk_nl *nl = calloc(1, sizeof(*nl));
	int one = 1, r;

	if (!nl)
		return tk_err_set(err, -ENOMEM, "out of memory");
	nl->sock = nl_socket_alloc();
	if (!nl->sock) {
		free(nl);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	if ((r = nl_connect(nl->sock, NETLINK_ROUTE)) < 0) {
		r = tk_err_set(err, nle_to_errno(r), "cannot open an rtnetlink socket: %s",
			       nl_geterror(r));
		tk_nl_close(nl);
		return r;
	}
	/* Big dumps (thousands of veths) must not fail with ENOBUFS. */
	nl_socket_set_buffer_size(nl->sock, 1 << 20, 1 << 20);
	setsockopt(nl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	nl_socket_modify_err_cb(nl->sock, NL_CB_CUSTOM, on_error, nl);
	*ret = nl;
	return 0;
}

int tk_nl_open_container(struct tk_nl **ret, tk_err *err)
{
	int r = tk_nl_open(ret, err);

	/*
	 * Inside a container netd reads its own interface and dumps of addresses and routes, whose
	 * messages the kernel packs into at most 32 KiB: one read into a buffer that size is enough,
	 * instead of libnl's peek and then read.
	 */
	if (r >= 0) {
		nl_socket_disable_msg_peek((*ret)->sock);
		nl_socket_set_msg_buf_size((*ret)->sock, 64 * 1024);
	}
	return r;
}

int tk_nl_open_netns(int netns_fd, struct tk_nl **ret, tk_err *err)
{
	int r;

	if ((r = tk_netns_enter(netns_fd, err)) < 0)
		return r;
	r = tk_nl_open_container(ret, err);
	tk_netns_leave();
	return r;
}

struct tk_nl *tk_nl_close(struct tk_nl *nl)
{
	if (nl) {
		nl_socket_free(nl->sock);
		free(nl);
	}
	return NULL;
}

/* For nl-tc.c, the tc half of this boundary (nl-private.h). */
struct nl_sock *tk_nl_request(struct tk_nl *nl)
{
	request_start(nl);
	return nl->sock;
}

int tk_nl_fail(struct tk_nl *nl, int nle, tk_err *err, const char *what)
{
	return request_fail(nl, nle, err, "%s", what);
}

static int ifname_set(struct rtnl_link *link, const char *name, tk_err *err)
{
	if (!name || strlen(name) > TK_IFNAME_MAX || !name[0])
		return tk_err_set(err, -EINVAL, "invalid interface name '%s'", name ? name : "");
	rtnl_link_set_name(link, name);
	return 0;
}

static int link_info(struct rtnl_link *link, struct tk_link_info *ret)
{
	struct nl_addr *mac = rtnl_link_get_addr(link);
	const char *kind = rtnl_link_get_type(link);

	*ret = (struct tk_link_info){
		.ifindex = rtnl_link_get_ifindex(link),
		.master = rtnl_link_get_master(link),
		.mtu = rtnl_link_get_mtu(link),
		.group = rtnl_link_get_group(link),
		.up = rtnl_link_get_flags(link) & IFF_UP,
		.rx_packets = rtnl_link_get_stat(link, RTNL_LINK_RX_PACKETS),
		.rx_bytes = rtnl_link_get_stat(link, RTNL_LINK_RX_BYTES),
		.tx_packets = rtnl_link_get_stat(link, RTNL_LINK_TX_PACKETS),
		.tx_bytes = rtnl_link_get_stat(link, RTNL_LINK_TX_BYTES),
	};
	snprintf(ret->name, sizeof(ret->name), "%s", rtnl_link_get_name(link) ?: "");
	snprintf(ret->kind, sizeof(ret->kind), "%s", kind ?: "");
	snprintf(ret->alias, sizeof(ret->alias), "%s", rtnl_link_get_ifalias(link) ?: "");
	if (mac && nl_addr_get_len(mac) == 6)
		memcpy(ret->mac, nl_addr_get_binary_addr(mac), 6);
	return 0;
}

int tk_nl_link_get(struct tk_nl *nl, const char *name, struct tk_link_info *ret, tk_err *err)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
	int r;

	request_start(nl);
	r = rtnl_link_get_kernel(nl->sock, 0, name, &link);
	if (r < 0) {
		if (nl->kernel_errno == ENODEV || r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV) {
			nl->kernel_errno = ENODEV;
			return request_fail(nl, r, err, "no interface '%s'", name);
		}
		return request_fail(nl, r, err, "cannot read interface '%s'", name);
	}
	return link_info(link, ret);
}

int tk_nl_ifindex(struct tk_nl *nl, const char *name, int *ret, tk_err *err)
{
	struct ifreq ifr = {};

	if (!name || !name[0] || strlen(name) > TK_IFNAME_MAX)
		return tk_err_set(err, -EINVAL, "invalid interface name '%s'", name ? name : "");
	memcpy(ifr.ifr_name, name, strlen(name));
	/* A netlink socket has no ioctls of its own: the kernel answers from the socket's netns. */
	if (ioctl(nl_socket_get_fd(nl->sock), SIOCGIFINDEX, &ifr) < 0)
		return tk_err_set(err, -errno,
				  errno == ENODEV ? "no interface '%s': %m"
						  : "cannot look up interface '%s': %m",
				  name);
	*ret = ifr.ifr_ifindex;
	return 0;
}

static int ifindex_of(struct tk_nl *nl, const char *name, int *ret, tk_err *err)
{
	/* Initialised for scan-build, which does not follow request_fail() (variadic) to see that
	 * tk_nl_link_get() fails with a negative code whenever it leaves info unwritten. */
	struct tk_link_info info = {};
	int r = tk_nl_link_get(nl, name, &info, err);

	if (r >= 0 && ret)
		*ret = info.ifindex;
	return r;
}

int tk_nl_bridge_add(struct tk_nl *nl, const char *name, const uint8_t *mac, unsigned mtu,
		     int *ret_ifindex, tk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlattr *linkinfo, *data;
	struct nl_msg *msg;
	int r;

	if (!name || !name[0] || strlen(name) > TK_IFNAME_MAX)
		return tk_err_set(err, -EINVAL, "invalid interface name '%s'", name ? name : "");
	/* libnl 3.7 has no setter for IFLA_BR_MCAST_SNOOPING, hence the message by hand. */
	msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
	if (!msg)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
	    (mac && nla_put(msg, IFLA_ADDRESS, 6, mac) < 0) ||
	    (mtu && nla_put_u32(msg, IFLA_MTU, mtu) < 0) ||
	    !(linkinfo = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
	    nla_put_u8(msg, IFLA_BR_MCAST_SNOOPING, 0) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	nla_nest_end(msg, data);
	nla_nest_end(msg, linkinfo);
	request_start(nl);
	if ((r = nl_send_sync(nl->sock, msg)) < 0) /* frees msg */
		return request_fail(nl, r, err, "cannot create bridge '%s'", name);
	return ifindex_of(nl, name, ret_ifindex, err);
}

int tk_nl_veth_add(struct tk_nl *nl, const char *host_name, const uint8_t *host_mac,
		   const char *peer_name, int peer_netns_fd, const uint8_t *peer_mac, unsigned mtu,
		   int master_ifindex, int *host_ifindex, uint32_t host_group, tk_err *err)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_veth_alloc(), *peer = NULL;
	_cleanup_(nl_addr_putp) struct nl_addr *mac = NULL, *hmac = NULL;
	int r;

	if (!link)
		return tk_err_set(err, -ENOMEM, "out of memory");
	peer = rtnl_link_veth_get_peer(link);
	if (host_mac) {
		if (!(hmac = nl_addr_build(AF_LLC, host_mac, 6)))
			return tk_err_set(err, -ENOMEM, "out of memory");
		rtnl_link_set_addr(link, hmac);
	}
	if ((r = ifname_set(link, host_name, err)) < 0 ||
	    (r = ifname_set(peer, peer_name, err)) < 0)
		return r;
	if (mtu) {
		rtnl_link_set_mtu(link, mtu);
		rtnl_link_set_mtu(peer, mtu);
	}
	if (peer_mac) {
		if (!(mac = nl_addr_build(AF_LLC, peer_mac, 6)))
			return tk_err_set(err, -ENOMEM, "out of memory");
		rtnl_link_set_addr(peer, mac);
	}
	rtnl_link_set_ns_fd(peer, peer_netns_fd);
	/*
	 * One queue each way: the kernel's default is one per CPU, each with its sysfs objects,
	 * which makes creating a veth slower the bigger the host.  A veth without XDP or GRO (the
	 * container default) hands packets to the per-CPU backlog whatever its queue count.
	 */
	rtnl_link_set_num_tx_queues(link, 1);
	rtnl_link_set_num_rx_queues(link, 1);
	rtnl_link_set_num_tx_queues(peer, 1);
	rtnl_link_set_num_rx_queues(peer, 1);
	if (master_ifindex > 0)
		rtnl_link_set_master(link, master_ifindex);
	if (host_group)
		rtnl_link_set_group(link, host_group);
	/*
	 * The peer's index stays the kernel's choice in its own netns (ifindexes are per netns).
	 * NLM_F_EXCL matters twice here: with ifi_index set the kernel looks the link up by index,
	 * and without EXCL it would change a link that holds the index instead of failing.
	 */
	if (*host_ifindex > 0)
		rtnl_link_set_ifindex(link, *host_ifindex);
	request_start(nl);
	r = rtnl_link_add(nl->sock, link, NLM_F_CREATE | NLM_F_EXCL);
	/*
	 * -EEXIST is a name here or in the peer netns, or the index (-EBUSY: taken in a race):
	 * once more with the kernel's index tells which.
	 */
	if (r < 0 && *host_ifindex > 0 &&
	    (nl->kernel_errno == EEXIST || nl->kernel_errno == EBUSY)) {
		rtnl_link_set_ifindex(link, 0);
		request_start(nl);
		if ((r = rtnl_link_add(nl->sock, link, NLM_F_CREATE | NLM_F_EXCL)) >= 0) {
			if ((r = tk_nl_ifindex(nl, host_name, host_ifindex, err)) < 0)
				(void)tk_nl_link_del(nl, host_name, NULL);
			return r;
		}
	}
	if (r < 0)
		return request_fail(nl, r, err, "cannot create veth pair '%s'/'%s'", host_name,
				    peer_name);
	return 0;
}

int tk_nl_link_del(struct tk_nl *nl, const char *name, tk_err *err)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_alloc();
	int r;

	if (!link)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = ifname_set(link, name, err)) < 0)
		return r;
	request_start(nl);
	if ((r = rtnl_link_delete(nl->sock, link)) < 0) {
		if (nl->kernel_errno == ENODEV || r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND)
			nl->kernel_errno = ENODEV;
		return request_fail(nl, r, err, "cannot delete interface '%s'", name);
	}
	return 0;
}

/* RTM_NEWLINK on an existing ifindex: set it up and/or enslave it, in one message. */
enum link_change_flags {
	LINK_UP = 1 << 0,
	LINK_NO_LINK_LOCAL6 = 1 << 1,
};

/* Puts addr_gen_mode none (no IPv6 link-local address) into a RTM_NEWLINK for an existing link. */
static int put_no_link_local6(struct nl_msg *msg)
{
	struct nlattr *spec, *inet6;

	if (!(spec = nla_nest_start(msg, IFLA_AF_SPEC)) ||
	    !(inet6 = nla_nest_start(msg, AF_INET6)) ||
	    nla_put_u8(msg, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE) < 0)
		return -ENOMEM;
	nla_nest_end(msg, inet6);
	nla_nest_end(msg, spec);
	return 0;
}

/* Changes the link ifindex or, when it is 0, the one called name. */
static int link_change(struct tk_nl *nl, int ifindex, const char *name, unsigned flags, int master,
		       tk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST);
	char what[IFNAMSIZ + 16];
	int r;

	if (!msg)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (flags & LINK_UP) {
		ifi.ifi_flags = IFF_UP;
		ifi.ifi_change = IFF_UP;
	}
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    (!ifindex && nla_put_string(msg, IFLA_IFNAME, name) < 0) ||
	    (master >= 0 && nla_put_u32(msg, IFLA_MASTER, (uint32_t)master) < 0) ||
	    ((flags & LINK_NO_LINK_LOCAL6) && put_no_link_local6(msg) < 0)) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	if (ifindex)
		snprintf(what, sizeof(what), "%d", ifindex);
	else
		snprintf(what, sizeof(what), "'%s'", name ?: "?");
	request_start(nl);
	if ((r = nl_send_sync(nl->sock, msg)) < 0) /* frees msg */
		return request_fail(nl, r, err,
				    flags & LINK_UP ? "cannot set interface %s up"
						    : "cannot attach interface %s to its bridge",
				    what);
	return 0;
}

int tk_nl_link_set_up(struct tk_nl *nl, int ifindex, tk_err *err)
{
	return link_change(nl, ifindex, NULL, LINK_UP, -1, err);
}

int tk_nl_link_set_up_without_ipv6(struct tk_nl *nl, int ifindex, tk_err *err)
{
	int r = link_change(nl, ifindex, NULL, LINK_NO_LINK_LOCAL6, -1, err);

	return r < 0 ? r : link_change(nl, ifindex, NULL, LINK_UP, -1, err);
}

int tk_nl_port_set_up(struct tk_nl *nl, const char *name, tk_err *err)
{
	int r = link_change(nl, 0, name, LINK_NO_LINK_LOCAL6, -1, err);

	return r < 0 ? r : link_change(nl, 0, name, LINK_UP, -1, err);
}

int tk_nl_link_settle(struct tk_nl *nl, const char *name, tk_err *err)
{
	struct ethtool_value link = { .cmd = ETHTOOL_GLINK };
	struct ifreq ifr = { .ifr_data = (char *)&link };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	/* A netlink socket takes device ioctls too (sock_do_ioctl). */
	if (ioctl(nl_socket_get_fd(nl->sock), SIOCETHTOOL, &ifr) < 0)
		return tk_err_set(err, -errno, "cannot read the link state of '%s': %m", name);
	return 0;
}

int tk_nl_port_set_hairpin(struct tk_nl *nl, const char *name, bool on, tk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_BRIDGE };
	struct nl_msg *msg;
	struct nlattr *protinfo;
	int r;

	if ((r = tk_nl_ifindex(nl, name, &ifi.ifi_index, err)) < 0)
		return r;
	/* The bridge's setlink finds the port by index only, and its options in a nested
	 * IFLA_PROTINFO (without NLA_F_NESTED it reads a bare STP state). */
	if (!(msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    !(protinfo = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED)) ||
	    nla_put_u8(msg, IFLA_BRPORT_MODE, on) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	nla_nest_end(msg, protinfo);
	request_start(nl);
	if ((r = nl_send_sync(nl->sock, msg)) < 0) /* frees msg */
		return request_fail(nl, r, err, "cannot turn hairpin mode %s on bridge port '%s'",
				    on ? "on" : "off", name);
	return 0;
}

int tk_nl_link_set_master(struct tk_nl *nl, int ifindex, int master_ifindex, tk_err *err)
{
	return link_change(nl, ifindex, NULL, 0, master_ifindex, err);
}

/*
 * RTM_NEWLINK for an existing link, ifindex or (0) the one called name, with one attribute: what
 * says what is being set.
 */
static int link_set_attr(struct tk_nl *nl, int ifindex, const char *name, int attr,
			 const void *data, int len, const char *what, tk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST);
	int r;

	if (!msg)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    (!ifindex && nla_put_string(msg, IFLA_IFNAME, name) < 0) ||
	    nla_put(msg, attr, len, data) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	request_start(nl);
	if ((r = nl_send_sync(nl->sock, msg)) < 0) { /* frees msg */
		if (ifindex || !name)
			return request_fail(nl, r, err, "cannot set the %s of interface %d", what,
					    ifindex);
		return request_fail(nl, r, err, "cannot set the %s of interface '%s'", what, name);
	}
	return 0;
}

int tk_nl_link_set_group(struct tk_nl *nl, int ifindex, uint32_t group, tk_err *err)
{
	return link_set_attr(nl, ifindex, NULL, IFLA_GROUP, &group, sizeof(group), "device group",
			     err);
}

int tk_nl_link_set_group_by_name(struct tk_nl *nl, const char *name, uint32_t group, tk_err *err)
{
	return link_set_attr(nl, 0, name, IFLA_GROUP, &group, sizeof(group), "device group", err);
}

int tk_nl_group_del(struct tk_nl *nl, uint32_t group, tk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_DELLINK, NLM_F_REQUEST);
	int r;

	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, IFLA_GROUP, group) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	request_start(nl);
	if ((r = nl_send_sync(nl->sock, msg)) < 0) /* frees msg */
		return request_fail(nl, r, err, "cannot delete the interfaces of device group %u",
				    group);
	return 0;
}

int tk_nl_link_set_mac(struct tk_nl *nl, int ifindex, const uint8_t mac[6], tk_err *err)
{
	return link_set_attr(nl, ifindex, NULL, IFLA_ADDRESS, mac, 6, "MAC address", err);
}

int tk_nl_link_set_alias(struct tk_nl *nl, int ifindex, const char *alias, tk_err *err)
{
	return link_set_attr(nl, ifindex, NULL, IFLA_IFALIAS, alias, (int)strlen(alias) + 1,
			     "alias", err);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_msg *, nlmsg_free);

/*
 * A link made or deleted while links (or addresses) are dumped marks the dump interrupted.
 * libnl's caches then dump again, for as long as it takes: under steady churn of other links on
 * the host (another runtime's containers starting) a dump of thousands never completes, and
 * netd's start or reconcile never returned.  So a bounded number of attempts (dump_bounded),
 * then the last one as it is, and the caller decides what a partial listing is good for.
 */
#define DUMP_ATTEMPTS	 3
#define DUMP_PATIENCE_MS 500

struct dump_request {
	int type;	   /* RTM_GET* */
	void *hdr;	   /* its family header */
	size_t len;	   /* of hdr */
	uint32_t ext_mask; /* IFLA_EXT_MASK, if not 0 */
	const char *kind;  /* only links of this kind (strict checking on), or NULL */
};

static int put_kind(struct nl_msg *msg, const char *kind)
{
	struct nlattr *info = nla_nest_start(msg, IFLA_LINKINFO);

	if (!info || nla_put_string(msg, IFLA_INFO_KIND, kind) < 0)
		return -NLE_NOMEM;
	return nla_nest_end(msg, info);
}

/* Into cache (emptied first): 0, or -NLE_DUMP_INTR when interrupted (cache is partial). */
static int dump_once(struct tk_nl *nl, struct nl_cache *cache, const struct dump_request *q)
{
	_cleanup_(nlmsg_freep) struct nl_msg *msg = nlmsg_alloc_simple(q->type, NLM_F_DUMP);
	int r;

	nl_cache_clear(cache);
	if (!msg)
		return -NLE_NOMEM;
	if ((r = nlmsg_append(msg, q->hdr, q->len, NLMSG_ALIGNTO)) < 0 ||
	    (q->ext_mask && (r = nla_put_u32(msg, IFLA_EXT_MASK, q->ext_mask)) < 0) ||
	    (q->kind && (r = put_kind(msg, q->kind)) < 0) || (r = nl_send_auto(nl->sock, msg)) < 0)
		return r;
	/* checkdup: a kernel that dumps by hash bucket may send an object twice when interrupted */
	return nl_cache_pickup_checkdup(nl->sock, cache);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * 0: cache holds a whole dump; 1: it holds the last one, every attempt interrupted; or libnl's
 * error.  Short dumps are tried for DUMP_PATIENCE_MS, as most complete between two links; a
 * long one (thousands of links) is tried DUMP_ATTEMPTS times, whatever they take.
 */
static int dump_bounded(struct tk_nl *nl, struct nl_cache *cache, const struct dump_request *q)
{
	const uint64_t start = now_ms();
	int nle;

	for (int attempt = 1;; attempt++) {
		if ((nle = dump_once(nl, cache, q)) != -NLE_DUMP_INTR)
			return nle;
		if (attempt >= DUMP_ATTEMPTS && now_ms() - start >= DUMP_PATIENCE_MS)
			return 1;
	}
}

static int cmp_link_name(const void *a, const void *b)
{
	return strcmp(((const struct tk_link_info *)a)->name,
		      ((const struct tk_link_info *)b)->name);
}

/* With NETLINK_GET_STRICT_CHK the kernel applies a dump's filters (IFLA_LINKINFO's kind). */
static int strict_check(struct tk_nl *nl, int on)
{
	return setsockopt(nl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on,
			  sizeof(on)) < 0
		       ? -errno
		       : 0;
}

static int list_dump(struct tk_nl *nl, const char *kind, struct nl_cache *cache)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	/* A kernel without strict checking (before 4.20) lists every link: the caller filters. */
	const bool strict = kind && strict_check(nl, 1) == 0;
	/* The counters are not needed here, and a dump without them is half as long. */
	const struct dump_request q = { RTM_GETLINK, &ifi, sizeof(ifi),
					RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS,
					strict ? kind : NULL };
	int r = dump_bounded(nl, cache, &q);

	if (strict)
		(void)strict_check(nl, 0);
	return r;
}

int tk_nl_link_list(struct tk_nl *nl, const char *kind, struct tk_link_list *ret, tk_err *err)
{
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	struct tk_link_info *links;
	size_t n = 0;
	int r;

	request_start(nl);
	if ((r = nl_cache_alloc_name("route/link", &cache)) < 0 ||
	    (r = list_dump(nl, kind, cache)) < 0)
		return request_fail(nl, r, err, "cannot list interfaces");
	links = calloc(nl_cache_nitems(cache) ?: 1, sizeof(*links));
	if (!links)
		return tk_err_set(err, -ENOMEM, "out of memory");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *link = (struct rtnl_link *)o;

		/* a kernel without the filter lists every link */
		if (kind && strcmp(rtnl_link_get_type(link) ?: "", kind) != 0)
			continue;
		link_info(link, &links[n++]);
	}
	qsort(links, n, sizeof(*links), cmp_link_name);
	tk_link_list_done(ret);
	*ret = (struct tk_link_list){ links, n, r > 0 };
	return 0;
}

/* The first link whose name is not before name. */
static size_t list_lower_bound(const struct tk_link_list *list, const char *name)
{
	size_t lo = 0, hi = list->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(list->links[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct tk_link_info *tk_link_list_find(const struct tk_link_list *list, const char *name)
{
	size_t i = list_lower_bound(list, name);

	return i < list->n && strcmp(list->links[i].name, name) == 0 ? &list->links[i] : NULL;
}

int tk_link_list_foreach(const struct tk_link_list *list, const char *prefix, tk_nl_link_cb cb,
			 void *userdata)
{
	size_t plen = strlen(prefix);
	int r;

	for (size_t i = list_lower_bound(list, prefix);
	     i < list->n && strncmp(list->links[i].name, prefix, plen) == 0; i++)
		if ((r = cb(&list->links[i], userdata)) < 0)
			return r;
	return 0;
}

void tk_link_list_done(struct tk_link_list *list)
{
	free(list->links);
	*list = (struct tk_link_list){};
}

int tk_nl_link_foreach(struct tk_nl *nl, const char *prefix, tk_nl_link_cb cb, void *userdata,
		       tk_err *err)
{
	_cleanup_(tk_link_list_done) struct tk_link_list list = {};
	int r;

	if ((r = tk_nl_link_list(nl, NULL, &list, err)) < 0 ||
	    (r = tk_link_list_foreach(&list, prefix, cb, userdata)) < 0)
		return r;
	return list.partial;
}

struct stats_dump {
	struct tk_link_stats *v;
	size_t n, size;
	bool oom;
};

static int stats_msg(struct nl_msg *msg, void *arg)
{
	struct stats_dump *d = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	const struct if_stats_msg *ifsm = nlmsg_data(h);
	struct rtnl_link_stats64 s;
	struct nlattr *a;

	if (h->nlmsg_type != RTM_NEWSTATS || !nlmsg_valid_hdr(h, sizeof(*ifsm)))
		return NL_OK;
	a = nlmsg_find_attr(h, sizeof(*ifsm), IFLA_STATS_LINK_64);
	if (!a || nla_len(a) < (int)sizeof(s))
		return NL_OK;
	memcpy(&s, nla_data(a), sizeof(s));
	if (d->n == d->size) {
		size_t size = d->size ? d->size * 2 : 256;
		struct tk_link_stats *v = reallocarray(d->v, size, sizeof(*v));

		if (!v) {
			d->oom = true;
			return NL_OK; /* the rest of the dump is still read off the socket */
		}
		d->v = v;
		d->size = size;
	}
	d->v[d->n++] = (struct tk_link_stats){ (int)ifsm->ifindex, s.rx_bytes, s.rx_packets,
					       s.tx_bytes, s.tx_packets };
	return NL_OK;
}

/* One dump into d: 0, or -NLE_DUMP_INTR when links came or went meanwhile (d is then partial). */
static int stats_dump_once(struct tk_nl *nl, struct stats_dump *d)
{
	struct if_stats_msg ifsm = { .family = AF_UNSPEC,
				     .filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64) };
	struct nl_cb *sock_cb = nl_socket_get_cb(nl->sock); /* a reference of its own */
	struct nl_cb *c = sock_cb ? nl_cb_clone(sock_cb) : NULL;
	int r;

	if (sock_cb)
		nl_cb_put(sock_cb);
	if (!c)
		return -NLE_NOMEM;
	d->n = 0;
	nl_cb_set(c, NL_CB_VALID, NL_CB_CUSTOM, stats_msg, d);
	if ((r = nl_send_simple(nl->sock, RTM_GETSTATS, NLM_F_DUMP, &ifsm, sizeof(ifsm))) >= 0)
		r = nl_recvmsgs(nl->sock, c);
	nl_cb_put(c);
	return r < 0 ? r : d->oom ? -NLE_NOMEM : 0;
}

static int stats_cmp(const void *a, const void *b)
{
	const int x = ((const struct tk_link_stats *)a)->ifindex,
		  y = ((const struct tk_link_stats *)b)->ifindex;

	return (x > y) - (x < y);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

size_t tk_link_stats_unique(struct tk_link_stats *v, size_t n)
{
	size_t kept = 0;

	if (n > 1)
		qsort(v, n, sizeof(*v), stats_cmp);
	for (size_t i = 0; i < n; i++) {
		struct tk_link_stats *last = kept ? &v[kept - 1] : NULL;

		if (!last || last->ifindex != v[i].ifindex) {
			v[kept++] = v[i];
			continue;
		}
		last->rx_bytes = max_u64(last->rx_bytes, v[i].rx_bytes);
		last->rx_packets = max_u64(last->rx_packets, v[i].rx_packets);
		last->tx_bytes = max_u64(last->tx_bytes, v[i].tx_bytes);
		last->tx_packets = max_u64(last->tx_packets, v[i].tx_packets);
	}
	return kept;
}

/*
 * A link made or deleted during the dump (containers come and go) marks it interrupted, and it
 * is read again, as libnl's caches do.  Under steady churn on a busy host every attempt can be
 * interrupted; the last one is then used as it is, not thrown away, or the counters of every
 * port would go unread for as long as the churn lasts.
 */
#define STATS_DUMP_ATTEMPTS 3

int tk_nl_link_stats_foreach(struct tk_nl *nl, tk_nl_stats_cb cb, void *userdata, tk_err *err)
{
	_cleanup_free_ struct tk_link_stats *v = NULL;
	struct stats_dump d = {};
	int nle = 0, r = 0;

	request_start(nl);
	for (int attempt = 0; attempt < STATS_DUMP_ATTEMPTS; attempt++)
		if ((nle = stats_dump_once(nl, &d)) != -NLE_DUMP_INTR)
			break;
	v = d.v;
	if (nle < 0 && nle != -NLE_DUMP_INTR)
		return request_fail(nl, nle, err, "cannot read the interfaces' counters");
	if (nle == -NLE_DUMP_INTR)
		d.n = tk_link_stats_unique(v, d.n);
	for (size_t i = 0; r >= 0 && i < d.n; i++)
		r = cb(v[i].ifindex, v[i].rx_bytes, v[i].rx_packets, v[i].tx_bytes, v[i].tx_packets,
		       userdata);
	return r < 0 ? r : nle == -NLE_DUMP_INTR;
}

static struct nl_addr *nl_addr_of(const struct tk_addr *a, unsigned plen)
{
	struct nl_addr *n = nl_addr_build(a->family, a->bytes, a->family == AF_INET ? 4 : 16);

	if (n)
		nl_addr_set_prefixlen(n, (int)plen);
	return n;
}

static int addr_request(struct tk_nl *nl, int ifindex, const struct tk_prefix *p, bool add,
			tk_err *err)
{
	_cleanup_(rtnl_addr_putp) struct rtnl_addr *a = rtnl_addr_alloc();
	_cleanup_(nl_addr_putp) struct nl_addr *local = nl_addr_of(&p->addr, p->len);
	char buf[TK_PREFIX_STRLEN];
	int r;

	if (!a || !local)
		return tk_err_set(err, -ENOMEM, "out of memory");
	rtnl_addr_set_ifindex(a, ifindex);
	rtnl_addr_set_family(a, p->addr.family);
	if ((r = rtnl_addr_set_local(a, local)) < 0)
		return tk_err_set(err, nle_to_errno(r), "invalid address: %s", nl_geterror(r));
	rtnl_addr_set_prefixlen(a, p->len);
	/* Duplicate detection would leave the address unusable for a second or more. */
	if (p->addr.family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	request_start(nl);
	r = add ? rtnl_addr_add(nl->sock, a, NLM_F_EXCL) : rtnl_addr_delete(nl->sock, a, 0);
	if (r < 0)
		return request_fail(nl, r, err, "cannot %s address %s on interface %d",
				    add ? "add" : "delete", tk_prefix_format(p, buf, sizeof(buf)),
				    ifindex);
	return 0;
}

int tk_nl_addr_add(struct tk_nl *nl, int ifindex, const struct tk_prefix *addr, tk_err *err)
{
	return addr_request(nl, ifindex, addr, true, err);
}

int tk_nl_addr_del(struct tk_nl *nl, int ifindex, const struct tk_prefix *addr, tk_err *err)
{
	return addr_request(nl, ifindex, addr, false, err);
}

static int tk_addr_of(struct nl_addr *n, struct tk_addr *ret)
{
	unsigned len = nl_addr_get_len(n);
	int family = nl_addr_get_family(n);

	if (!((family == AF_INET && len == 4) || (family == AF_INET6 && len == 16)))
		return -EAFNOSUPPORT;
	*ret = (struct tk_addr){ .family = family };
	memcpy(ret->bytes, nl_addr_get_binary_addr(n), len);
	return 0;
}

int tk_nl_addr_foreach(struct tk_nl *nl, int ifindex, int family, tk_nl_addr_cb cb, void *userdata,
		       tk_err *err)
{
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	struct ifaddrmsg ifa = { .ifa_family = (uint8_t)family };
	const struct dump_request q = { RTM_GETADDR, &ifa, sizeof(ifa), 0 };
	int r, partial;

	request_start(nl);
	if ((r = nl_cache_alloc_name("route/addr", &cache)) < 0 ||
	    (r = partial = dump_bounded(nl, cache, &q)) < 0)
		return request_fail(nl, r, err, "cannot list addresses");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct tk_prefix p;

		if (rtnl_addr_get_ifindex(a) != ifindex ||
		    (family != AF_UNSPEC && rtnl_addr_get_family(a) != family) ||
		    tk_addr_of(rtnl_addr_get_local(a), &p.addr) < 0)
			continue;
		p.len = (uint8_t)rtnl_addr_get_prefixlen(a);
		if ((r = cb(&p, userdata)) < 0)
			return r;
	}
	return partial;
}

int tk_nl_route_add(struct tk_nl *nl, int ifindex, const struct tk_prefix *dst,
		    const struct tk_addr *gateway, unsigned priority, tk_err *err)
{
	_cleanup_(rtnl_route_putp) struct rtnl_route *route = rtnl_route_alloc();
	int family = dst->len == 0 && gateway ? gateway->family : dst->addr.family;
	_cleanup_(nl_addr_putp) struct nl_addr *to = NULL;
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct tk_addr zero = { .family = family };
	char buf[TK_PREFIX_STRLEN];
	int r;

	if (!route || !nh) {
		if (nh) /* rtnl_route_nh_free() does not accept NULL */
			rtnl_route_nh_free(nh);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(route, nh); /* route owns nh now */
	to = nl_addr_of(dst->len ? &dst->addr : &zero, dst->len);
	if (!to)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (gateway) {
		_cleanup_(nl_addr_putp) struct nl_addr *via = nl_addr_of(gateway, 0);
		if (!via)
			return tk_err_set(err, -ENOMEM, "out of memory");
		nl_addr_set_prefixlen(via, gateway->family == AF_INET ? 32 : 128);
		rtnl_route_nh_set_gateway(nh, via);
	}
	rtnl_route_set_family(route, (uint8_t)family);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, RTPROT_STATIC);
	rtnl_route_set_scope(route, gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	if (priority)
		rtnl_route_set_priority(route, priority);
	if ((r = rtnl_route_set_dst(route, to)) < 0)
		return tk_err_set(err, nle_to_errno(r), "invalid route: %s", nl_geterror(r));
	request_start(nl);
	if ((r = rtnl_route_add(nl->sock, route, NLM_F_EXCL)) < 0) {
		struct tk_prefix shown = { .addr = dst->len ? dst->addr : zero, .len = dst->len };
		return request_fail(nl, r, err, "cannot add route to %s on interface %d",
				    tk_prefix_format(&shown, buf, sizeof(buf)), ifindex);
	}
	return 0;
}

int tk_nl_route_get_default(struct tk_nl *nl, int ifindex, int family, struct tk_addr *ret_gateway,
			    tk_err *err)
{
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	struct rtmsg rtm = { .rtm_family = (uint8_t)family };
	const struct dump_request q = { RTM_GETROUTE, &rtm, sizeof(rtm), 0 };
	int r;

	request_start(nl);
	if ((r = nl_cache_alloc_name("route/route", &cache)) < 0 ||
	    (r = dump_bounded(nl, cache, &q)) < 0)
		return request_fail(nl, r, err, "cannot list routes");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *route = (struct rtnl_route *)o;
		struct nl_addr *dst = rtnl_route_get_dst(route);
		struct rtnl_nexthop *nh;

		if (rtnl_route_get_table(route) != RT_TABLE_MAIN ||
		    rtnl_route_get_nnexthops(route) < 1 || (dst && nl_addr_get_prefixlen(dst) != 0))
			continue;
		nh = rtnl_route_nexthop_n(route, 0);
		if (rtnl_route_nh_get_ifindex(nh) != ifindex || !rtnl_route_nh_get_gateway(nh))
			continue;
		if (tk_addr_of(rtnl_route_nh_get_gateway(nh), ret_gateway) == 0)
			return 0;
	}
	return tk_err_set(err, -ENOENT, "no default route on interface %d", ifindex);
}

static int host_route_prefixes(struct tk_nl *nl, tk_nl_host_cb cb, void *userdata, tk_err *err)
{
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	struct rtmsg rtm = { .rtm_family = AF_UNSPEC };
	const struct dump_request q = { RTM_GETROUTE, &rtm, sizeof(rtm), 0 };
	int r;

	request_start(nl);
	if ((r = nl_cache_alloc_name("route/route", &cache)) < 0 ||
	    (r = dump_bounded(nl, cache, &q)) < 0)
		return request_fail(nl, r, err, "cannot list routes");
	if (r > 0)
		return tk_err_set(
			err, -EAGAIN,
			"the host's routes kept changing while they were listed; try again");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *route = (struct rtnl_route *)o;
		struct nl_addr *dst = rtnl_route_get_dst(route);
		struct rtnl_nexthop *nh;
		struct tk_prefix p;
		int ifindex = 0;

		/* A default route overlaps everything and says nothing about what is in use. */
		if (!dst || nl_addr_get_prefixlen(dst) == 0 || tk_addr_of(dst, &p.addr) < 0)
			continue;
		p.len = (uint8_t)nl_addr_get_prefixlen(dst);
		if (rtnl_route_get_nnexthops(route) > 0 && (nh = rtnl_route_nexthop_n(route, 0)))
			ifindex = rtnl_route_nh_get_ifindex(nh);
		if ((r = cb(&p, "route", ifindex, userdata)) < 0)
			return r;
	}
	return 0;
}

int tk_nl_host_prefixes(struct tk_nl *nl, tk_nl_host_cb cb, void *userdata, tk_err *err)
{
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };
	const struct dump_request q = { RTM_GETADDR, &ifa, sizeof(ifa), 0 };
	int r;

	request_start(nl);
	if ((r = nl_cache_alloc_name("route/addr", &cache)) < 0 ||
	    (r = dump_bounded(nl, cache, &q)) < 0)
		return request_fail(nl, r, err, "cannot list addresses");
	/* A subnet chosen from a partial listing could be one the host uses. */
	if (r > 0)
		return tk_err_set(
			err, -EAGAIN,
			"the host's addresses kept changing while they were listed (links "
			"coming and going); try again");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct tk_prefix p;

		if (tk_addr_of(rtnl_addr_get_local(a), &p.addr) < 0)
			continue;
		p.len = (uint8_t)rtnl_addr_get_prefixlen(a);
		if ((r = cb(&p, "address", rtnl_addr_get_ifindex(a), userdata)) < 0)
			return r;
	}
	return host_route_prefixes(nl, cb, userdata, err);
}

int tk_sysctl_write(const char *path, const char *value, tk_err *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = strlen(value);

	if (fd < 0)
		return tk_err_set(err, -errno, "cannot open '%s': %m", path);
	if (write(fd, value, len) != (ssize_t)len)
		return tk_err_set(err, -errno, "cannot write '%s' to '%s': %m", value, path);
	return 0;
}

struct tk_nl_watch {
	struct mnl_socket *sock;
	const char *prefix;
	tk_nl_link_gone_cb cb;
	tk_nl_ingress_cb ingress;
	void *userdata;
	/* Notifications are single messages, each well under a page: many fit in one read. */
	_Alignas(struct nlmsghdr) char buf[64 * 1024];
};

/*
 * Of all the link group's notifications the watch reads only a link's own RTM_DELLINK, and of the
 * tc group's only those of ingress qdiscs.  One veth's life on a bridge makes 16 others (its
 * creation and changes, its bridge port's: tests/integration/watch-filter.c), and so does every
 * other program's veth on the host.  The kernel drops them at the socket instead of queueing
 * them, where each woke netd's loop only to be read and thrown away, and they no longer fill
 * the queue toward an overflow.  Classic BPF loads halfwords and words in network byte order,
 * hence htons and htonl.
 */
static int watch_filter(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(struct nlmsghdr, nlmsg_type)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_DELLINK), 0, 2),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS,
			 NLMSG_HDRLEN + offsetof(struct ifinfomsg, ifi_family)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNSPEC, 4, 5),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_NEWQDISC), 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_DELQDISC), 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 NLMSG_HDRLEN + offsetof(struct tcmsg, tcm_parent)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(TC_H_INGRESS), 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff), /* the whole message */
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = ELEMENTSOF(code), .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

int tk_nl_watch_open(struct tk_nl_watch **ret, int rcvbuf, tk_err *err)
{
	struct tk_nl_watch *w = calloc(1, sizeof(*w));
	int size = rcvbuf, r;

	if (!w)
		return tk_err_set(err, -ENOMEM, "out of memory");
	w->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!w->sock) {
		free(w);
		return tk_err_set(err, -errno, "cannot open an rtnetlink socket: %m");
	}
	if (setsockopt(mnl_socket_get_fd(w->sock), SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)) < 0)
		(void)setsockopt(mnl_socket_get_fd(w->sock), SOL_SOCKET, SO_RCVBUF, &size,
				 sizeof(size));
	/* Before the bind: no notification the filter would drop is queued meanwhile. */
	if ((r = watch_filter(mnl_socket_get_fd(w->sock))) < 0) {
		tk_nl_watch_close(w);
		return tk_err_set(err, r, "cannot filter link notifications: %s", strerror(-r));
	}
	if (mnl_socket_bind(w->sock, 1u << (RTNLGRP_LINK - 1) | 1u << (RTNLGRP_TC - 1),
			    MNL_SOCKET_AUTOPID) < 0) {
		r = tk_err_set(err, -errno, "cannot subscribe to link notifications: %m");
		tk_nl_watch_close(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct tk_nl_watch *tk_nl_watch_close(struct tk_nl_watch *w)
{
	if (w) {
		mnl_socket_close(w->sock);
		free(w);
	}
	return NULL;
}

int tk_nl_watch_fd(const struct tk_nl_watch *w)
{
	return mnl_socket_get_fd(w->sock);
}

static int watch_attr(const struct nlattr *attr, void *data)
{
	const char **name = data;

	if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		*name = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static int kind_attr(const struct nlattr *attr, void *data)
{
	const char **kind = data;

	if (mnl_attr_get_type(attr) == TCA_KIND &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		*kind = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static int watch_msg(const struct nlmsghdr *nlh, void *data)
{
	struct tk_nl_watch *w = data;
	const struct ifinfomsg *ifi;
	const char *name = NULL;

	if (nlh->nlmsg_type == RTM_NEWQDISC || nlh->nlmsg_type == RTM_DELQDISC) {
		const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
		const char *kind = NULL;

		if (!w->ingress || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*tcm)) ||
		    tcm->tcm_parent != TC_H_INGRESS)
			return MNL_CB_OK;
		mnl_attr_parse(nlh, sizeof(*tcm), kind_attr, &kind);
		w->ingress(tcm->tcm_ifindex,
			   nlh->nlmsg_type == RTM_NEWQDISC && kind && strcmp(kind, "noop") != 0
				   ? kind
				   : NULL,
			   w->userdata);
		return MNL_CB_OK;
	}
	if (nlh->nlmsg_type != RTM_DELLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	/* AF_BRIDGE: a port left its bridge (the link may live on); AF_UNSPEC: the link is gone. */
	if (ifi->ifi_family != AF_UNSPEC)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifi), watch_attr, &name);
	if (name && strncmp(name, w->prefix, strlen(w->prefix)) == 0)
		w->cb(name, w->userdata);
	return MNL_CB_OK;
}

int tk_nl_watch_read(struct tk_nl_watch *w, const char *prefix, tk_nl_link_gone_cb cb,
		     tk_nl_ingress_cb ingress, void *userdata, tk_err *err)
{
	bool lost = false;

	w->prefix = prefix;
	w->cb = cb;
	w->ingress = ingress;
	w->userdata = userdata;
	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(w->sock), w->buf, sizeof(w->buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return lost ? tk_err_set(err, -ENOBUFS,
						 "link notifications were lost (overflow)")
				    : 0;
		/*
		 * The kernel reports an overflow once, then drops every notification silently
		 * until the queue has been read empty (NETLINK_S_CONGESTED): returning before that
		 * would let the caller's dump run while later losses go unreported.
		 */
		if (n < 0 && errno == ENOBUFS) {
			lost = true;
			continue;
		}
		if (n < 0)
			return tk_err_set(err, -errno, "reading link notifications: %m");
		if (mnl_cb_run(w->buf, (size_t)n, 0, 0, watch_msg, w) < 0 && errno != ENOENT)
			return tk_err_set(err, -errno, "parsing link notifications: %m");
	}
}

struct tk_nl_prefix_watch {
	struct mnl_socket *sock;
	tk_nl_ifindex_pred ignore;
	void *userdata;
	bool changed;
	int ignored; /* the last interface ignore() said yes to, in this read */
	_Alignas(struct nlmsghdr) char buf[64 * 1024];
};

int tk_nl_prefix_watch_open(struct tk_nl_prefix_watch **ret, tk_err *err)
{
	unsigned groups[] = { RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
			      RTNLGRP_IPV6_ROUTE };
	struct tk_nl_prefix_watch *w = calloc(1, sizeof(*w));
	int size = 4 << 20, r;

	if (!w)
		return tk_err_set(err, -ENOMEM, "out of memory");
	w->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!w->sock) {
		free(w);
		return tk_err_set(err, -errno, "cannot open an rtnetlink socket: %m");
	}
	if (setsockopt(mnl_socket_get_fd(w->sock), SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)) < 0)
		(void)setsockopt(mnl_socket_get_fd(w->sock), SOL_SOCKET, SO_RCVBUF, &size,
				 sizeof(size));
	if (mnl_socket_bind(w->sock, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (mnl_socket_setsockopt(w->sock, NETLINK_ADD_MEMBERSHIP, &groups[i],
					  sizeof(groups[i])) < 0)
			goto fail;
	*ret = w;
	return 0;
fail:
	r = tk_err_set(err, -errno, "cannot subscribe to address and route notifications: %m");
	tk_nl_prefix_watch_close(w);
	return r;
}

struct tk_nl_prefix_watch *tk_nl_prefix_watch_close(struct tk_nl_prefix_watch *w)
{
	if (w) {
		mnl_socket_close(w->sock);
		free(w);
	}
	return NULL;
}

static int route_oif_attr(const struct nlattr *attr, void *data)
{
	int *oif = data;

	if (mnl_attr_get_type(attr) == RTA_OIF && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
		*oif = (int)mnl_attr_get_u32(attr);
	else if (mnl_attr_get_type(attr) == RTA_MULTIPATH)
		*oif = -1; /* several interfaces: not one the caller can vouch for */
	return MNL_CB_OK;
}

static int prefix_watch_msg(const struct nlmsghdr *nlh, void *data)
{
	struct tk_nl_prefix_watch *w = data;
	int ifindex = 0;

	switch (nlh->nlmsg_type) {
	case RTM_NEWADDR:
	case RTM_DELADDR:
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
			break;
		ifindex = (int)((const struct ifaddrmsg *)mnl_nlmsg_get_payload(nlh))->ifa_index;
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
			break;
		mnl_attr_parse(nlh, sizeof(struct rtmsg), route_oif_attr, &ifindex);
		break;
	default: return MNL_CB_OK;
	}
	if (w->changed || ifindex == w->ignored)
		return MNL_CB_OK;
	if (ifindex <= 0 || !w->ignore(ifindex, w->userdata))
		w->changed = true;
	else
		w->ignored = ifindex; /* notifications come in runs about one interface */
	return MNL_CB_OK;
}

int tk_nl_prefix_watch_changed(struct tk_nl_prefix_watch *w, tk_nl_ifindex_pred ignore,
			       void *userdata, tk_err *err)
{
	w->ignore = ignore;
	w->userdata = userdata;
	w->changed = false;
	w->ignored = 0;
	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(w->sock), w->buf, sizeof(w->buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return w->changed;
		if (n < 0 && errno == ENOBUFS) {
			w->changed = true; /* lost: the queue keeps working, read on */
			continue;
		}
		if (n < 0)
			return tk_err_set(err, -errno,
					  "reading address and route notifications: %m");
		if (mnl_cb_run(w->buf, (size_t)n, 0, 0, prefix_watch_msg, w) < 0 && errno != ENOENT)
			return tk_err_set(err, -errno,
					  "parsing address and route notifications: %m");
	}
}

/* ---- overlay: VXLAN device, FDB and neighbour entries ---- */

static int addr_len(const struct tk_addr *a)
{
	return a->family == AF_INET6 ? 16 : 4;
}

int tk_nl_vxlan_add(struct tk_nl *nl, const char *name, uint32_t vni, const struct tk_addr *local,
		    unsigned mtu, int *ret_ifindex, tk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlattr *linkinfo, *data;
	struct nl_msg *msg;
	int r;

	if (!name || !name[0] || strlen(name) > TK_IFNAME_MAX)
		return tk_err_set(err, -EINVAL, "invalid interface name '%s'", name ? name : "");
	if (vni == 0 || vni >= (1u << 24))
		return tk_err_set(err, -EINVAL, "invalid VNI %u", vni);
	msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
	if (!msg)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
	    (mtu && nla_put_u32(msg, IFLA_MTU, mtu) < 0) ||
	    !(linkinfo = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "vxlan") < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
	    nla_put_u32(msg, IFLA_VXLAN_ID, vni) < 0 ||
	    nla_put(msg, local->family == AF_INET6 ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL,
		    addr_len(local), local->bytes) < 0 ||
	    nla_put_u16(msg, IFLA_VXLAN_PORT, htons(4789)) < 0 ||
	    nla_put_u8(msg, IFLA_VXLAN_LEARNING, 0) < 0 ||
	    nla_put_u8(msg, IFLA_VXLAN_PROXY, 1) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	nla_nest_end(msg, data);
	nla_nest_end(msg, linkinfo);
	request_start(nl);
	if ((r = nl_send_sync(nl->sock, msg)) < 0) /* frees msg */
		return request_fail(nl, r, err, "cannot create VXLAN device '%s' (VNI %u)", name,
				    vni);
	return ifindex_of(nl, name, ret_ifindex, err);
}

static int neigh_request(struct tk_nl *nl, bool add, uint8_t family, uint8_t flags, int ifindex,
			 const struct tk_addr *ip, const uint8_t mac[6], const char *what,
			 tk_err *err)
{
	struct ndmsg nd = { .ndm_family = family,
			    .ndm_ifindex = ifindex,
			    .ndm_state = NUD_PERMANENT,
			    .ndm_flags = flags };
	char buf[64], mbuf[32];
	struct nl_msg *msg;
	int r;

	msg = nlmsg_alloc_simple(add ? RTM_NEWNEIGH : RTM_DELNEIGH,
				 NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0));
	if (!msg)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (nlmsg_append(msg, &nd, sizeof(nd), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, NDA_LLADDR, 6, mac) < 0 ||
	    nla_put(msg, NDA_DST, addr_len(ip), ip->bytes) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	request_start(nl);
	if ((r = nl_send_sync(nl->sock, msg)) < 0) { /* frees msg */
		if (!add && (nl->kernel_errno == ENOENT || nl->kernel_errno == ENODEV))
			return 0;
		return request_fail(nl, r, err, "cannot %s %s entry %s -> %s",
				    add ? "add" : "delete", what,
				    tk_mac_format(mac, mbuf, sizeof(mbuf)),
				    tk_addr_format(ip, buf, sizeof(buf)));
	}
	return 0;
}

/* n's MAC and address, into info; false when it has not both (an IPv4 or IPv6 address). */
static bool neigh_info(struct rtnl_neigh *n, bool fdb, struct tk_neigh_info *info)
{
	struct nl_addr *ll = rtnl_neigh_get_lladdr(n), *dst = rtnl_neigh_get_dst(n);
	unsigned len = dst ? nl_addr_get_len(dst) : 0;

	if (!ll || nl_addr_get_len(ll) != 6 || (len != 4 && len != 16))
		return false;
	*info = (struct tk_neigh_info){ .fdb = fdb,
					.permanent = rtnl_neigh_get_state(n) & NUD_PERMANENT };
	memcpy(info->mac, nl_addr_get_binary_addr(ll), 6);
	info->addr.family = len == 4 ? AF_INET : AF_INET6;
	memcpy(info->addr.bytes, nl_addr_get_binary_addr(dst), len);
	return true;
}

int tk_nl_neigh_foreach(struct tk_nl *nl, int ifindex, bool fdb, tk_nl_neigh_cb cb, void *userdata,
			tk_err *err)
{
	const uint8_t families[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < (fdb ? 1 : ELEMENTSOF(families)); i++) {
		_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
		struct ndmsg nd = { .ndm_family = fdb ? AF_BRIDGE : families[i],
				    .ndm_ifindex = ifindex };
		const struct dump_request q = { RTM_GETNEIGH, &nd, sizeof(nd), 0 };
		int r;

		request_start(nl);
		if ((r = nl_cache_alloc_name("route/neigh", &cache)) < 0 ||
		    (r = dump_bounded(nl, cache, &q)) < 0)
			return request_fail(nl, r, err,
					    "cannot list the neighbours of interface %d", ifindex);
		for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
			struct rtnl_neigh *n = (struct rtnl_neigh *)o;
			struct tk_neigh_info info;

			if (rtnl_neigh_get_ifindex(n) != ifindex ||
			    (fdb && !(rtnl_neigh_get_flags(n) & NTF_SELF)) ||
			    !neigh_info(n, fdb, &info))
				continue;
			if ((r = cb(&info, userdata)) < 0)
				return r;
		}
	}
	return 0;
}

int tk_nl_fdb_set(struct tk_nl *nl, int ifindex, const uint8_t mac[6], const struct tk_addr *dst,
		  bool add, tk_err *err)
{
	return neigh_request(nl, add, AF_BRIDGE, NTF_SELF, ifindex, dst, mac, "FDB", err);
}

int tk_nl_neigh_set(struct tk_nl *nl, int ifindex, const struct tk_addr *ip, const uint8_t mac[6],
		    bool add, tk_err *err)
{
	return neigh_request(nl, add, (uint8_t)ip->family, 0, ifindex, ip, mac, "neighbour", err);
}

int tk_nl_arp_announce(struct tk_nl *nl, int ifindex, const struct tk_addr *own, tk_err *err)
{
	char buf[TK_ADDR_STRLEN];
	int r;

	for (int use = 1; use >= 0; use--) {
		struct ndmsg nd = { .ndm_family = AF_INET,
				    .ndm_ifindex = ifindex,
				    .ndm_flags = use ? NTF_USE : 0 };
		struct nl_msg *msg = nlmsg_alloc_simple(use ? RTM_NEWNEIGH : RTM_DELNEIGH,
							NLM_F_REQUEST | (use ? NLM_F_CREATE : 0));

		if (!msg || nlmsg_append(msg, &nd, sizeof(nd), NLMSG_ALIGNTO) < 0 ||
		    nla_put(msg, NDA_DST, 4, own->bytes) < 0) {
			nlmsg_free(msg);
			return tk_err_set(err, -ENOMEM, "out of memory");
		}
		request_start(nl);
		if ((r = nl_send_sync(nl->sock, msg)) < 0 && /* frees msg */
		    (use || nl->kernel_errno != ENOENT))
			return request_fail(nl, r, err, "cannot announce %s on interface %d",
					    tk_addr_format(own, buf, sizeof(buf)), ifindex);
	}
	return 0;
}
