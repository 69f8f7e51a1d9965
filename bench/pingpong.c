/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UDP request/response latency, for bench/datapath.
 *
 * Usage: bench-pingpong server PORT
 *        bench-pingpong client ADDR PORT COUNT
 * The server echoes every datagram.  The client sends a 64-byte datagram, waits for its echo,
 * and repeats COUNT times after 100 unmeasured warm-up round trips; it prints
 * "<median µs> <p99 µs> <lost>" (a request unanswered within 1 s counts as lost).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int serve(int fd, const struct sockaddr_in *addr)
{
	char buf[2048];

	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		perror("bench-pingpong: bind");
		return 1;
	}
	for (;;) {
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);

		if (n < 0 && errno != EINTR)
			return 1;
		if (n >= 0)
			sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
	}
}

static int ping(int fd, const struct sockaddr_in *addr, long count)
{
	struct timeval tv = { .tv_sec = 1 };
	char buf[64] = { 0 }, in[2048];
	double *us = calloc((size_t)count, sizeof(*us));
	long n = 0, lost = 0;

	if (!us || connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		perror("bench-pingpong: client");
		free(us);
		return 1;
	}
	for (long i = 0; i < count + 100; i++) {
		double t0 = now_us();
		ssize_t r;

		memcpy(buf, &i, sizeof(i));
		if (send(fd, buf, sizeof(buf), 0) < 0) {
			perror("bench-pingpong: send");
			free(us);
			return 1;
		}
		/* A late echo of an earlier request is not this one's answer. */
		do
			r = recv(fd, in, sizeof(in), 0);
		while (r >= (ssize_t)sizeof(i) && memcmp(in, &i, sizeof(i)) != 0);
		if (r < 0) {
			lost++;
			continue;
		}
		if (i >= 100)
			us[n++] = now_us() - t0;
	}
	if (n == 0) {
		fprintf(stderr, "bench-pingpong: no answer from %s\n", inet_ntoa(addr->sin_addr));
		free(us);
		return 1;
	}
	qsort(us, (size_t)n, sizeof(*us), cmp_double);
	printf("%.1f %.1f %ld\n", us[n / 2], us[(size_t)((double)n * 0.99)], lost);
	free(us);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		perror("bench-pingpong: socket");
		return 1;
	}
	if (argc == 3 && strcmp(argv[1], "server") == 0) {
		addr.sin_port = htons((uint16_t)atoi(argv[2]));
		return serve(fd, &addr);
	}
	if (argc == 5 && strcmp(argv[1], "client") == 0 &&
	    inet_pton(AF_INET, argv[2], &addr.sin_addr) == 1) {
		addr.sin_port = htons((uint16_t)atoi(argv[3]));
		return ping(fd, &addr, atol(argv[4]));
	}
	fprintf(stderr, "usage: bench-pingpong server PORT | client ADDR PORT COUNT\n");
	return 2;
}
