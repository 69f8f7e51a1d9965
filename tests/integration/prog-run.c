/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * prog-run DEV SRC_MAC DST_MAC SRC_IP SPORT DST_IP DPORT [LENGTH]: the first BPF program on DEV's tcx
 * ingress, run once (BPF_PROG_TEST_RUN) on a UDP datagram of 16 bytes from SRC_IP:SPORT to
 * DST_IP:DPORT (IPv4 or IPv6, TTL 64, checksums right) in a frame from SRC_MAC to DST_MAC, as if
 * it came in by DEV: the kernel gives the frame its packet type by DEV's MAC, as on receipt.
 * The frame carries a checksum of the whole packet, as from a NIC that sums what it receives
 * (CHECKSUM_COMPLETE), and the kernel checks after the run that the program kept it true to
 * the frame it changed.  LENGTH puts a lie in the IP header's length field (IPv4's total
 * length, IPv6's payload length; the checksums made for it).  Prints the program's verdict
 * (7: redirect, -1: next), or the error:
 * EBADMSG for a checksum the program left stale.  Nothing is sent.  (test-ports.sh: the NAT
 * path's way back.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TK_BPF_TCX_INGRESS 46
/* Linux 6.11; not in Debian 12's linux/bpf.h. */
#define TK_BPF_F_TEST_SKB_CHECKSUM_COMPLETE (1U << 2)

static int bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The frame's IP and UDP headers and payload at ip; returns the frame's length. */
static size_t datagram(uint8_t *ip, int family, const uint8_t *src, const uint8_t *dst,
		       uint16_t sport, uint16_t dport)
{
	const size_t alen = family == AF_INET ? 4 : 16, hlen = family == AF_INET ? 20 : 40;
	const uint16_t ulen = 8 + 16;
	uint8_t *udp = ip + hlen;
	uint32_t pseudo;

	if (family == AF_INET) {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(hlen + ulen));
		ip[6] = 0x40; /* don't fragment */
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, src, alen);
		memcpy(ip + 16, dst, alen);
		put16(ip + 10, fold(sum16(0, ip, hlen)));
	} else {
		ip[0] = 0x60;
		put16(ip + 4, ulen);
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, src, alen);
		memcpy(ip + 24, dst, alen);
	}
	put16(udp, sport);
	put16(udp + 2, dport);
	put16(udp + 4, ulen);
	memcpy(udp + 8, "tenantkit prog-r", 16);
	pseudo = sum16(sum16(17u + ulen, src, alen), dst, alen);
	put16(udp + 6, fold(sum16(pseudo, udp, ulen)));
	return 14 + hlen + ulen;
}

static int first_program(unsigned ifindex)
{
	uint32_t ids[16];
	union bpf_attr attr = {};
	int fd;

	attr.query.target_fd = ifindex;
	attr.query.attach_type = TK_BPF_TCX_INGRESS;
	attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
	attr.query.prog_cnt = 16;
	if (bpf(BPF_PROG_QUERY, &attr) < 0)
		return -errno;
	if (attr.query.prog_cnt == 0)
		return -ENOENT;
	memset(&attr, 0, sizeof(attr));
	attr.prog_id = ids[0];
	fd = bpf(BPF_PROG_GET_FD_BY_ID, &attr);
	return fd < 0 ? -errno : fd;
}

int main(int argc, char **argv)
{
	struct ether_addr src_mac, dst_mac;
	uint8_t src[16], dst[16], frame[128] = {}, out[256];
	union bpf_attr attr = {};
	const bool args = argc == 8 || argc == 9;
	unsigned ifindex = args ? if_nametoindex(argv[1]) : 0;
	int family = args && strchr(argv[4], ':') ? AF_INET6 : AF_INET;
	long sport = args ? strtol(argv[5], NULL, 10) : 0;
	long dport = args ? strtol(argv[7], NULL, 10) : 0;
	long length = argc == 9 ? strtol(argv[8], NULL, 10) : -1;
	size_t len;
	struct __sk_buff ctx = { .ifindex = ifindex, .ingress_ifindex = ifindex };
	int fd;

	if (!ifindex || !ether_aton_r(argv[2], &src_mac) || !ether_aton_r(argv[3], &dst_mac) ||
	    inet_pton(family, argv[4], src) != 1 || inet_pton(family, argv[6], dst) != 1 ||
	    sport < 1 || sport > 65535 || dport < 1 || dport > 65535 ||
	    (argc == 9 && (length < 0 || length > 65535))) {
		fprintf(stderr,
			"usage: prog-run DEV SRC_MAC DST_MAC SRC_IP SPORT DST_IP DPORT [LENGTH]\n");
		return 2;
	}
	memcpy(frame, &dst_mac, 6);
	memcpy(frame + 6, &src_mac, 6);
	put16(frame + 12, family == AF_INET ? 0x0800 : 0x86dd);
	if ((fd = first_program(ifindex)) < 0) {
		fprintf(stderr, "prog-run: the tcx ingress of %s: %s\n", argv[1], strerror(-fd));
		return 1;
	}
	attr.test.prog_fd = (uint32_t)fd;
	attr.test.data_in = (uint64_t)(uintptr_t)frame;
	len = datagram(frame + 14, family, src, dst, (uint16_t)sport, (uint16_t)dport);
	if (length >= 0 && family == AF_INET) {
		put16(frame + 14 + 2, (uint16_t)length);
		put16(frame + 14 + 10, 0);
		put16(frame + 14 + 10, fold(sum16(0, frame + 14, 20)));
	} else if (length >= 0) {
		put16(frame + 14 + 4, (uint16_t)length);
	}
	attr.test.data_size_in = (uint32_t)len;
	attr.test.data_out = (uint64_t)(uintptr_t)out;
	attr.test.data_size_out = sizeof(out);
	attr.test.ctx_in = (uint64_t)(uintptr_t)&ctx;
	attr.test.ctx_size_in = sizeof(ctx);
	attr.test.repeat = 1;
	attr.test.flags = TK_BPF_F_TEST_SKB_CHECKSUM_COMPLETE;
	if (bpf(BPF_PROG_TEST_RUN, &attr) < 0) {
		printf("%s\n", strerrorname_np(errno) ? strerrorname_np(errno) : strerror(errno));
		return 0;
	}
	printf("%d\n", (int)attr.test.retval);
	return 0;
}
