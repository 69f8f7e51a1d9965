/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UDP request/response latency, for bench/datapath.
 *
 * Usage: bench-pingpong server PORT
 *        bench-pingpong client ADDR PORT COUNT
 * (ADDR IPv4 or IPv6; the server takes both)
 * The server echoes every datagram.  The client sends a 64-byte datagram, waits for its echo,
 * and repeats COUNT times after 100 unmeasured warm-up round trips; it prints
 * "<median µs> <p99 µs> <lost>" (a request unanswered within 1 s counts as lost).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int serve(int fd, const union bench_addr *a, socklen_t len)
{
	char buf[2048];

	if (bind(fd, &a->sa, len) < 0) {
		perror("bench-pingpong: bind");
		return 1;
	}
	for (;;) {
		union bench_addr from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, &from.sa, &from_len);

		if (n < 0 && errno != EINTR)
			return 1;
		if (n >= 0)
			sendto(fd, buf, (size_t)n, 0, &from.sa, from_len);
	}
}

static int ping(int fd, const union bench_addr *a, socklen_t len, const char *text, long count)
{
	struct timeval tv = { .tv_sec = 1 };
	char buf[64] = { 0 }, in[2048];
	double *us = calloc((size_t)count, sizeof(*us));
	long n = 0, lost = 0;

	if (!us || connect(fd, &a->sa, len) < 0 ||
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
		fprintf(stderr, "bench-pingpong: no answer from %s\n", text);
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
	union bench_addr a;
	socklen_t len;
	int fd;

	if (argc == 3 && strcmp(argv[1], "server") == 0)
		(void)bench_addr(NULL, argv[2], &a, &len);
	else if (!(argc == 5 && strcmp(argv[1], "client") == 0 &&
		   bench_addr(argv[2], argv[3], &a, &len) == 0)) {
		fprintf(stderr, "usage: bench-pingpong server PORT | client ADDR PORT COUNT\n");
		return 2;
	}
	if ((fd = bench_socket(&a)) < 0) {
		perror("bench-pingpong: socket");
		return 1;
	}
	return argc == 3 ? serve(fd, &a, len) : ping(fd, &a, len, argv[2], atol(argv[4]));
}
