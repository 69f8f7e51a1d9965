/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "announce.h"

#include <errno.h>
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
