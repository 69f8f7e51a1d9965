/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "announce.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void tk_na_message(const uint8_t mac[6], const struct tk_addr *a, uint8_t ret[TK_NA_LEN])
{
	memset(ret, 0, TK_NA_LEN);
	ret[0] = ND_NEIGHBOR_ADVERT;
	ret[4] = 0x20; /* override; not solicited (it goes to all nodes), not a router */
	memcpy(ret + 8, a->bytes, 16);
	ret[24] = ND_OPT_TARGET_LINKADDR;
	ret[25] = 1; /* in units of 8 bytes */
	memcpy(ret + 26, mac, 6);
}

int tk_na_socket(int *ret_fd, tk_err *err)
{
	/* RFC 4861 7.1.2: a receiver drops a neighbour advertisement with another hop limit. */
	const int hops = 255;
	struct icmp6_filter nothing;
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);

	if (fd < 0)
		return tk_err_set(err, -errno, "cannot open an ICMPv6 socket: %m");
	/* It only sends: the kernel need not copy it the namespace's ICMPv6 meanwhile. */
	ICMP6_FILTER_SETBLOCKALL(&nothing);
	if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &nothing, sizeof(nothing)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0) {
		int r = tk_err_set(err, -errno, "cannot set up an ICMPv6 socket: %m");

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int tk_na_send(int fd, int ifindex, const uint8_t mac[6], const struct tk_addr *a, tk_err *err)
{
	uint8_t na[TK_NA_LEN];
	struct sockaddr_in6 all_nodes = { .sin6_family = AF_INET6,
					  .sin6_addr = { { { 0xff, 0x02, [15] = 1 } } },
					  .sin6_scope_id = (uint32_t)ifindex };
	struct iovec iov = { .iov_base = na, .iov_len = sizeof(na) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} control = {};
	struct msghdr msg = { .msg_name = &all_nodes,
			      .msg_namelen = sizeof(all_nodes),
			      .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	struct in6_pktinfo info = { .ipi6_ifindex = (unsigned)ifindex };
	char buf[TK_ADDR_STRLEN];

	tk_na_message(mac, a, na);
	/* From the address itself, which the bridge's checks want of an advertisement. */
	memcpy(&info.ipi6_addr, a->bytes, 16);
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(info));
	memcpy(CMSG_DATA(c), &info, sizeof(info));
	if (sendmsg(fd, &msg, 0) < 0)
		return tk_err_set(err, -errno, "cannot advertise %s on interface %d: %m",
				  tk_addr_format(a, buf, sizeof(buf)), ifindex);
	return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void arp_announcement(const uint8_t mac[6], const struct tk_addr *a,
			     struct tk_announcement *f)
{
	uint8_t *p = f->payload;

	f->ethertype = ETH_P_ARP;
	memset(f->dst, 0xff, 6);
	put16(p, 1);		/* hardware: Ethernet */
	put16(p + 2, ETH_P_IP); /* protocol */
	p[4] = 6;
	p[5] = 4;
	put16(p + 6, 2); /* reply, whose target MAC Linux wants to be the sender's (arp_is_garp) */
	memcpy(p + 8, mac, 6);
	memcpy(p + 14, a->bytes, 4);
	memcpy(p + 18, mac, 6);
	memcpy(p + 24, a->bytes, 4);
	f->len = 28;
}

/* RFC 4443 2.3: over the pseudo-header (source, destination, length, next header) and body. */
static uint16_t icmp6_checksum(const uint8_t *ip6, size_t body_len)
{
	uint32_t sum = (uint32_t)body_len + IPPROTO_ICMPV6;

	for (size_t i = 8; i < 40 + body_len; i += 2) /* body_len is even */
		sum += (uint32_t)(ip6[i] << 8 | ip6[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void na_announcement(const uint8_t mac[6], const struct tk_addr *a,
			    struct tk_announcement *f)
{
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	uint8_t *ip6 = f->payload, *na = ip6 + 40;

	f->ethertype = ETH_P_IPV6;
	memcpy(f->dst, (const uint8_t[]){ 0x33, 0x33, 0, 0, 0, 1 }, 6);
	memset(ip6, 0, 40);
	ip6[0] = 0x60;
	put16(ip6 + 4, TK_NA_LEN);
	ip6[6] = IPPROTO_ICMPV6;
	ip6[7] = 255;
	memcpy(ip6 + 8, a->bytes, 16);
	memcpy(ip6 + 24, all_nodes, 16);
	tk_na_message(mac, a, na);
	put16(na + 2, icmp6_checksum(ip6, TK_NA_LEN));
	f->len = 40 + TK_NA_LEN;
}

void tk_announce_frame(const uint8_t mac[6], const struct tk_addr *a, struct tk_announcement *ret)
{
	if (a->family == AF_INET)
		arp_announcement(mac, a, ret);
	else
		na_announcement(mac, a, ret);
}

int tk_announce_socket(int *ret_fd, tk_err *err)
{
	/* Protocol 0: it only sends, so the kernel copies it no frame. */
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return tk_err_set(err, -errno, "cannot open a packet socket: %m");
	*ret_fd = fd;
	return 0;
}

int tk_announce_send(int fd, int ifindex, const uint8_t mac[6], const struct tk_addr *a,
		     tk_err *err)
{
	struct tk_announcement f;
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
	char buf[TK_ADDR_STRLEN];

	tk_announce_frame(mac, a, &f);
	to.sll_protocol = htons(f.ethertype);
	memcpy(to.sll_addr, f.dst, 6);
	if (sendto(fd, f.payload, f.len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return tk_err_set(err, -errno, "cannot announce %s on interface %d: %m",
				  tk_addr_format(a, buf, sizeof(buf)), ifindex);
	return 0;
}
