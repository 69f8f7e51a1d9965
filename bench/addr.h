/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A UDP address of bench-blast's and bench-pingpong's: IPv4 or IPv6. */
union bench_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/*
 * text (IPv4 or IPv6) and port into a, its size into len; text NULL: any address, as an IPv6
 * socket that is not IPv6-only binds it, for both families.  -1: text is neither.
 */
static inline int bench_addr(const char *text, const char *port, union bench_addr *a,
			     socklen_t *len)
{
	uint16_t p = htons((uint16_t)atoi(port));

	memset(a, 0, sizeof(*a));
	if (text && inet_pton(AF_INET, text, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = p;
		*len = sizeof(a->in);
		return 0;
	}
	if (text && inet_pton(AF_INET6, text, &a->in6.sin6_addr) != 1)
		return -1;
	a->in6.sin6_family = AF_INET6;
	a->in6.sin6_port = p;
	*len = sizeof(a->in6);
	return 0;
}

/* A UDP socket for a; one bound to any address takes both families. */
static inline int bench_socket(const union bench_addr *a)
{
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), off = 0;

	if (fd >= 0 && a->sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	return fd;
}
