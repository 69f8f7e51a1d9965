/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel floor for bench/endpoints: the netlink work of one endpoint, done in-process by a
 * minimal libnl program with no daemon, database or firewall.  Per endpoint:
 *   veth pair created with the peer directly in the target netns and the host end enslaved
 *   (one request); IPv6 disabled on the host end (sysctl), which is then without IPv6
 *   link-local address and up; a socket in the
 *   netns; the peer's ifindex (SIOCGIFINDEX); addr_gen_mode none (the benchmark's networks
 *   are IPv4-only), then link up; its address; default route.  Removal deletes the host end.  This
 *   is the same request sequence netd sends.
 *
 * Usage: bench-floor setup|add|del FROM TO NETWORKS NETNS_PREFIX
 * prints one "floor add|del <microseconds>" line per endpoint, for bench-report.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "clock.h"

static _Noreturn void die(const char *what, int nle)
{
	fprintf(stderr, "bench-floor: %s: %s\n", what, nle ? nl_geterror(nle) : strerror(errno));
	exit(EXIT_FAILURE);
}

static struct nl_sock *nl_open(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		die("nl_socket_alloc", 0);
	if ((r = nl_connect(sk, NETLINK_ROUTE)) < 0)
		die("nl_connect", r);
	return sk;
}

/* Network k is 10.<160 + k / 256>.<k % 256>.0/24: up to 4,096 of them. */
static struct nl_addr *v4(unsigned net, unsigned host, int plen)
{
	uint8_t b[4] = { 10, (uint8_t)(160 + net / 256), (uint8_t)net, (uint8_t)host };
	struct nl_addr *a = nl_addr_build(AF_INET, b, 4);

	nl_addr_set_prefixlen(a, plen);
	return a;
}

static int bridge_ifindex(struct nl_sock *sk, unsigned net)
{
	struct rtnl_link *got;
	char name[16];
	int r, ifindex;

	snprintf(name, sizeof(name), "tkfb%u", net);
	if ((r = rtnl_link_get_kernel(sk, 0, name, &got)) < 0)
		die("bridge get", r);
	ifindex = rtnl_link_get_ifindex(got);
	rtnl_link_put(got);
	return ifindex;
}

/* As netd makes its bridges (tk_nl_bridge_add): without multicast snooping. */
static void bridge_no_snooping(struct nl_sock *sk, const char *name)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST);
	struct nlattr *linkinfo, *data;
	int r;

	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
	    !(linkinfo = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
	    nla_put_u8(msg, IFLA_BR_MCAST_SNOOPING, 0) < 0)
		die("bridge message", 0);
	nla_nest_end(msg, data);
	nla_nest_end(msg, linkinfo);
	if ((r = nl_send_sync(sk, msg)) < 0)
		die("bridge mcast_snooping", r);
}

/*
 * As netd makes the bridges and ports of IPv4-only networks: no IPv6 on them at all
 * (netd/network.c link_without_ipv6).  For a port this is work netd must do per endpoint: the
 * kernel walks every IPv6 route of the netns when it disables IPv6 on a link.
 */
static void link_without_ipv6(const char *name)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return; /* a kernel without IPv6 */
	if (write(fd, "1", 1) != 1)
		die("disable_ipv6", 0);
	close(fd);
}

static void bridge_add(struct nl_sock *sk, unsigned net)
{
	struct rtnl_link *br = rtnl_link_bridge_alloc();
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = v4(net, 1, 24);
	char name[16];
	int r;

	snprintf(name, sizeof(name), "tkfb%u", net);
	rtnl_link_set_name(br, name);
	rtnl_link_set_flags(br, IFF_UP);
	if ((r = rtnl_link_add(sk, br, NLM_F_CREATE | NLM_F_EXCL)) < 0)
		die("bridge add", r);
	rtnl_addr_set_ifindex(a, bridge_ifindex(sk, net));
	rtnl_addr_set_local(a, local);
	if ((r = rtnl_addr_add(sk, a, 0)) < 0)
		die("bridge address", r);
	rtnl_link_put(br);
	rtnl_addr_put(a);
	nl_addr_put(local);
	bridge_no_snooping(sk, name);
	link_without_ipv6(name);
}

/* A socket inside the netns: what any program configuring a container has to open. */
static struct nl_sock *nl_open_in(int netns_fd, int self_fd)
{
	struct nl_sock *sk;

	if (setns(netns_fd, CLONE_NEWNET) < 0)
		die("setns", 0);
	sk = nl_open();
	if (setns(self_fd, CLONE_NEWNET) < 0)
		die("setns back", 0);
	return sk;
}

static int ifindex_in(struct nl_sock *sk, const char *name)
{
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(nl_socket_get_fd(sk), SIOCGIFINDEX, &ifr) < 0)
		die("peer ifindex", 0);
	return ifr.ifr_ifindex;
}

/*
 * Up, or without an IPv6 link-local address, as netd sends it: addr_gen_mode first, then up, in
 * two requests (lib/nl.h says why).
 */
static void link_change(struct nl_sock *sk, struct rtnl_link *orig, bool up, bool no_link_local)
{
	struct rtnl_link *change = rtnl_link_alloc();
	int r = 0;

	if (up)
		rtnl_link_set_flags(change, IFF_UP);
	if (!rtnl_link_get_ifindex(orig)) /* by name, as netd does for the host end */
		rtnl_link_set_name(change, rtnl_link_get_name(orig));
	if ((no_link_local &&
	     (r = rtnl_link_inet6_set_addr_gen_mode(change, IN6_ADDR_GEN_MODE_NONE)) < 0) ||
	    (r = rtnl_link_change(sk, orig, change, 0)) < 0)
		die("link change", r);
	rtnl_link_put(change);
}

static void endpoint_add(struct nl_sock *sk, int self_fd, const char *netns, unsigned i,
			 unsigned net, unsigned host, int bridge_ifindex)
{
	struct rtnl_link *veth = rtnl_link_veth_alloc(), *peer = rtnl_link_veth_get_peer(veth),
			 *got;
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct rtnl_route *route = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *local = v4(net, host, 24), *gw = v4(net, 1, 32), *any = v4(0, 0, 0);
	uint8_t mac[6] = { 0x02, 0xbe, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
	struct nl_addr *lladdr = nl_addr_build(AF_LLC, mac, 6);
	struct nl_sock *csk;
	char name[16];
	int fd = open(netns, O_RDONLY | O_CLOEXEC), r, ifindex;

	if (fd < 0)
		die(netns, 0);
	memset(nl_addr_get_binary_addr(any), 0, 4);
	snprintf(name, sizeof(name), "tkf%08x", i);
	rtnl_link_set_name(veth, name);
	rtnl_link_set_master(veth, bridge_ifindex);
	rtnl_link_set_name(peer, "eth0");
	rtnl_link_set_addr(peer, lladdr);
	rtnl_link_set_ns_fd(peer, fd);
	rtnl_link_set_num_tx_queues(veth, 1); /* as netd: one queue each way */
	rtnl_link_set_num_rx_queues(veth, 1);
	rtnl_link_set_num_tx_queues(peer, 1);
	rtnl_link_set_num_rx_queues(peer, 1);
	if ((r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL)) < 0)
		die("veth add", r);
	link_without_ipv6(name);
	link_change(sk, veth, false, true);
	link_change(sk, veth, true, false);

	csk = nl_open_in(fd, self_fd);
	/* As netd: the ifindex alone (SIOCGIFINDEX on the netns's socket), not the whole link. */
	ifindex = ifindex_in(csk, "eth0");
	got = rtnl_link_alloc();
	rtnl_link_set_ifindex(got, ifindex);
	link_change(csk, got, false, true);
	link_change(csk, got, true, false);
	rtnl_addr_set_ifindex(a, ifindex);
	rtnl_addr_set_local(a, local);
	if ((r = rtnl_addr_add(csk, a, NLM_F_EXCL)) < 0)
		die("address add", r);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_nh_set_gateway(nh, gw);
	rtnl_route_add_nexthop(route, nh);
	rtnl_route_set_family(route, AF_INET);
	rtnl_route_set_dst(route, any);
	if ((r = rtnl_route_add(csk, route, NLM_F_EXCL)) < 0)
		die("route add", r);

	nl_socket_free(csk);
	close(fd);
	rtnl_link_put(got);
	rtnl_link_put(peer);
	rtnl_link_put(veth);
	rtnl_addr_put(a);
	rtnl_route_put(route);
	nl_addr_put(local);
	nl_addr_put(gw);
	nl_addr_put(any);
	nl_addr_put(lladdr);
}

static void endpoint_del(struct nl_sock *sk, unsigned i)
{
	struct rtnl_link *link = rtnl_link_alloc();
	char name[16];
	int r;

	snprintf(name, sizeof(name), "tkf%08x", i);
	rtnl_link_set_name(link, name);
	if ((r = rtnl_link_delete(sk, link)) < 0)
		die("veth delete", r);
	rtnl_link_put(link);
}

int main(int argc, char **argv)
{
	unsigned from, to, networks;
	int self_fd;
	struct nl_sock *sk;

	if (argc != 6 || (networks = (unsigned)atoi(argv[4])) == 0 || networks > 4096) {
		fprintf(stderr, "Usage: bench-floor setup|add|del FROM TO NETWORKS(1..4096) "
				"NETNS_PREFIX\n");
		return 2;
	}
	from = (unsigned)atoi(argv[2]);
	to = (unsigned)atoi(argv[3]);
	self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self_fd < 0)
		die("own netns", 0);
	sk = nl_open();
	if (strcmp(argv[1], "setup") == 0) {
		for (unsigned k = 0; k < networks; k++)
			bridge_add(sk, k);
	} else if (strcmp(argv[1], "add") == 0) {
		int *bridges = calloc(networks, sizeof(int));
		for (unsigned k = 0; k < networks; k++)
			bridges[k] = bridge_ifindex(sk, k);
		for (unsigned i = from; i < to; i++) {
			char path[4096];
			double t;

			snprintf(path, sizeof(path), "%s%u", argv[5], i);
			t = now_us();
			endpoint_add(sk, self_fd, path, i, i % networks, 2 + (i / networks) % 250,
				     bridges[i % networks]);
			printf("floor add %.1f\n", now_us() - t);
		}
		free(bridges);
	} else {
		for (unsigned i = from; i < to; i++) {
			double t = now_us();
			endpoint_del(sk, i);
			printf("floor del %.1f\n", now_us() - t);
		}
	}
	nl_socket_free(sk);
	close(self_fd);
	return 0;
}
