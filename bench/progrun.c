/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-progrun IFNAME SRC_MAC DST_MAC SRC_IP DST_IP REPEAT
 *
 * What the programs on IFNAME's tcx ingress cost one 64-byte UDP datagram from SRC to DST, as
 * the kernel times them (BPF_PROG_TEST_RUN, REPEAT runs on one CPU, the mean): each program in
 * the hook's order while it says "next", as tcx runs them, on a packet whose input device is
 * IFNAME.  Prints "<names> <ns per packet> <verdict>".  Nothing is sent: a redirect is only
 * decided.  The kernel runs the repeats on one buffer, so a program that rewrites the frame (the
 * fast path's routing: TTL, MACs) sees its own output from the second run on: not for them.  Unlike a whole-path A/B on a shared VM, this reads a program's cost alone, to the
 * nanosecond, without enabling run-time statistics for every program on the host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TCX_NEXT (-1)
/* Not in Debian 12's linux/bpf.h (6.1); the kernel's value since 6.6. */
#define TCX_INGRESS 46

static int bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet, IPv4 and UDP headers and 64 bytes of payload, as bench-blast sends. */
static size_t frame(uint8_t *f, const struct ether_addr *src_mac, const struct ether_addr *dst_mac,
		    struct in_addr src, struct in_addr dst)
{
	uint8_t *ip = f + 14, *udp = ip + 20;
	uint16_t tot = 20 + 8 + 64, csum;

	memset(f, 0, 14 + tot);
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[6] = 0x40; /* don't fragment */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	csum = ip_checksum(ip, 20);
	ip[10] = (uint8_t)(csum >> 8);
	ip[11] = (uint8_t)csum;
	udp[0] = 40000 >> 8;
	udp[1] = 40000 & 0xff;
	udp[2] = 5201 >> 8;
	udp[3] = 5201 & 0xff;
	udp[4] = 0;
	udp[5] = 8 + 64;
	return 14 + tot;
}

static int prog_name(int fd, char *name, size_t size)
{
	struct bpf_prog_info info = {};
	union bpf_attr attr = {};

	attr.info.bpf_fd = (uint32_t)fd;
	attr.info.info_len = sizeof(info);
	attr.info.info = (uint64_t)(uintptr_t)&info;
	if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0)
		return -errno;
	snprintf(name, size, "%s", info.name);
	return 0;
}

int main(int argc, char **argv)
{
	struct ether_addr src_mac, dst_mac;
	struct in_addr src, dst;
	uint32_t ids[16], n_ids = 16, total_ns = 0;
	uint8_t pkt[256], out[256];
	char names[256] = "";
	union bpf_attr attr = {};
	unsigned ifindex;
	long repeat;
	size_t len;
	int verdict = TCX_NEXT;

	if (argc != 7 || !(ifindex = if_nametoindex(argv[1])) || !ether_aton_r(argv[2], &src_mac) ||
	    !ether_aton_r(argv[3], &dst_mac) || inet_pton(AF_INET, argv[4], &src) != 1 ||
	    inet_pton(AF_INET, argv[5], &dst) != 1 || (repeat = strtol(argv[6], NULL, 10)) < 1) {
		fprintf(stderr,
			"usage: bench-progrun IFNAME SRC_MAC DST_MAC SRC_IP DST_IP REPEAT\n");
		return 2;
	}
	len = frame(pkt, &src_mac, &dst_mac, src, dst);

	attr.query.target_fd = ifindex; /* target_ifindex in newer headers */
	attr.query.attach_type = TCX_INGRESS;
	attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
	attr.query.prog_cnt = n_ids;
	if (bpf(BPF_PROG_QUERY, &attr) < 0) {
		fprintf(stderr, "bench-progrun: tcx ingress of %s: %m\n", argv[1]);
		return 1;
	}
	n_ids = attr.query.prog_cnt;
	if (n_ids == 0) {
		fprintf(stderr, "bench-progrun: no program on the tcx ingress of %s\n", argv[1]);
		return 1;
	}
	for (uint32_t i = 0; i < n_ids && verdict == TCX_NEXT; i++) {
		struct __sk_buff ctx = { .ifindex = ifindex, .ingress_ifindex = ifindex };
		char name[BPF_OBJ_NAME_LEN];
		int fd;

		memset(&attr, 0, sizeof(attr));
		attr.prog_id = ids[i];
		if ((fd = bpf(BPF_PROG_GET_FD_BY_ID, &attr)) < 0 ||
		    prog_name(fd, name, sizeof(name))) {
			fprintf(stderr, "bench-progrun: program %u: %m\n", ids[i]);
			return 1;
		}
		memset(&attr, 0, sizeof(attr));
		attr.test.prog_fd = (uint32_t)fd;
		attr.test.data_in = (uint64_t)(uintptr_t)pkt;
		attr.test.data_size_in = (uint32_t)len;
		attr.test.data_out = (uint64_t)(uintptr_t)out;
		attr.test.data_size_out = sizeof(out);
		attr.test.ctx_in = (uint64_t)(uintptr_t)&ctx;
		attr.test.ctx_size_in = sizeof(ctx);
		attr.test.repeat = (uint32_t)repeat;
		if (bpf(BPF_PROG_TEST_RUN, &attr) < 0) {
			fprintf(stderr, "bench-progrun: running %s: %m\n", name);
			return 1;
		}
		close(fd);
		total_ns += attr.test.duration;
		verdict = (int)attr.test.retval;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? "+" : "",
			 name);
	}
	printf("%s %u %d\n", names, total_ns, verdict);
	return 0;
}
