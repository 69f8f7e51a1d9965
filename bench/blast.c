/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU time per 64-byte UDP datagram, for bench/datapath: the cost of the path, not the rate a
 * shared machine happens to leave for it.
 *
 * Usage: bench-blast sink PORT
 *        bench-blast send ADDR PORT COUNT
 * (ADDR IPv4 or IPv6; the sink takes both)
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

static int sink(int fd, const union bench_addr *a, socklen_t len)
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
	for (;;)
		if (recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL) <= 0)
			nanosleep(&pause, NULL);
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

int main(int argc, char **argv)
{
	union bench_addr a;
	socklen_t len;
	int fd, r;

	if (argc == 3 && strcmp(argv[1], "sink") == 0) {
		(void)bench_addr(NULL, argv[2], &a, &len);
	} else if (argc == 5 && strcmp(argv[1], "send") == 0 && atol(argv[4]) > 0) {
		if (bench_addr(argv[2], argv[3], &a, &len) < 0) {
			fprintf(stderr, "bench-blast: invalid IP address '%s'\n", argv[2]);
			return 2;
		}
	} else {
		fprintf(stderr, "usage: bench-blast sink PORT | send ADDR PORT COUNT\n");
		return 2;
	}
	if ((fd = bench_socket(&a)) < 0) {
		perror("bench-blast: socket");
		return 1;
	}
	r = argc == 3 ? sink(fd, &a, len) : send_all(fd, &a, len, atol(argv[4]));
	close(fd);
	return r;
}
