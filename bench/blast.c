/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU time per 64-byte UDP datagram, for bench/datapath: the cost of the path, not the rate a
 * shared machine happens to leave for it.
 *
 * Usage: bench-blast sink PORT [ADDR HELLO_PORT]
 *        bench-blast send ADDR PORT COUNT
 *        bench-blast answer PORT COUNT
 * (ADDR IPv4 or IPv6; the sink takes both, or ADDR's family)
 * The sender sends COUNT datagrams (after 1,000 unmeasured ones) with blocking sendto() and
 * prints the CPU time its process used per datagram, in ns.  Over veths, the whole path (the
 * bridge, netfilter's hooks, routing, NAT, the receiver's socket) runs in the softirq that the
 * sender's own send raises and runs on its way out, and this kernel charges that softirq to the
 * task it interrupts, so the figure holds it, while time spent waiting for a CPU does not count.
 * The sink only receives, on any address, and never waits on its socket: it drains it every
 * 100 us.  A sink blocked in recv() had the sender's softirq wake it for many datagrams, and on
 * this VM waking a task is a hypercall that took ~20% of the sender's samples, a share that
 * varied with the receiver's timing from one run to the next, on both sides of a comparison
 * (docs/benchmarks.md, 2026-12-05).
 * The way back through a NAT (bench/datapath's natback paths): a sink given ADDR and HELLO_PORT
 * sends "hello" there from its socket every 100 ms, which opens the connection; "answer" waits
 * for one on PORT and then sends COUNT datagrams, as "send" does, to where it came from (the
 * masquerading host's address and port, which the NAT translates back to the sink's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"

static double cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
		(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)) *
	       1e3;
}

static int sink(int fd, const union bench_addr *a, socklen_t len, const union bench_addr *hello,
		socklen_t hello_len)
{
	enum { BATCH = 64 };
	static char buf[BATCH][2048];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	const struct timespec pause = { .tv_nsec = 100000 };
	int size = 8 << 20;

	/* Room for what arrives in a pause, so that nothing is dropped before the socket. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		perror("bench-blast: SO_RCVBUFFORCE");
	if (bind(fd, &a->sa, len) < 0) {
		perror("bench-blast: bind");
		return 1;
	}
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = buf[i], .iov_len = sizeof(buf[i]) };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	for (unsigned i = 0;; i++) {
		if (hello && i % 1000 == 0) /* every 100 ms of pauses, or sooner when busy */
			(void)sendto(fd, "hello", 5, 0, &hello->sa, hello_len);
		if (recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL) <= 0)
			nanosleep(&pause, NULL);
	}
}

static int send_all(int fd, const union bench_addr *a, socklen_t len, long count)
{
	char buf[64] = "bench-blast";
	double t0 = 0;

	for (long i = -1000; i < count; i++) {
		if (i == 0)
			t0 = cpu_ns();
		/* A full queue on the way drops the datagram; the path's cost is spent either way. */
		if (sendto(fd, buf, sizeof(buf), 0, &a->sa, len) < 0 && i == -1000) {
			perror("bench-blast: sendto");
			return 1;
		}
	}
	printf("%.0f\n", (cpu_ns() - t0) / (double)count);
	return 0;
}

/* Waits for a datagram on the bound fd (10 s at most), then sends count to its source. */
static int answer(int fd, const union bench_addr *a, socklen_t len, long count)
{
	const struct timeval wait = { .tv_sec = 10 };
	union bench_addr from;
	socklen_t from_len = sizeof(from);
	char buf[64];

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait)) < 0 ||
	    bind(fd, &a->sa, len) < 0) {
		perror("bench-blast: bind");
		return 1;
	}
	if (recvfrom(fd, buf, sizeof(buf), 0, &from.sa, &from_len) < 0) {
		perror("bench-blast: waiting for a hello");
		return 1;
	}
	return send_all(fd, &from, from_len, count);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	union bench_addr a, hello;
	socklen_t len, hello_len = 0;
	int fd, r;

	if ((argc == 3 || argc == 5) && strcmp(mode, "sink") == 0) {
		if (argc == 5 && bench_addr(argv[3], argv[4], &hello, &hello_len) < 0) {
			fprintf(stderr, "bench-blast: invalid IP address '%s'\n", argv[3]);
			return 2;
		}
		(void)bench_addr(NULL, argv[2], &a, &len);
		if (argc == 5 && hello.sa.sa_family == AF_INET) { /* any IPv4 address */
			a.in = (struct sockaddr_in){ .sin_family = AF_INET,
						     .sin_port = a.in6.sin6_port };
			len = sizeof(a.in);
		}
	} else if (argc == 5 && strcmp(mode, "send") == 0 && atol(argv[4]) > 0) {
		if (bench_addr(argv[2], argv[3], &a, &len) < 0) {
			fprintf(stderr, "bench-blast: invalid IP address '%s'\n", argv[2]);
			return 2;
		}
	} else if (argc == 4 && strcmp(mode, "answer") == 0 && atol(argv[3]) > 0) {
		(void)bench_addr(NULL, argv[2], &a, &len);
	} else {
		fprintf(stderr,
			"usage: bench-blast sink PORT [ADDR HELLO_PORT] | send ADDR PORT COUNT | "
			"answer PORT COUNT\n");
		return 2;
	}
	if ((fd = bench_socket(&a)) < 0) {
		perror("bench-blast: socket");
		return 1;
	}
	if (strcmp(mode, "sink") == 0)
		r = sink(fd, &a, len, hello_len ? &hello : NULL, hello_len);
	else if (strcmp(mode, "send") == 0)
		r = send_all(fd, &a, len, atol(argv[4]));
	else
		r = answer(fd, &a, len, atol(argv[3]));
	close(fd);
	return r;
}
