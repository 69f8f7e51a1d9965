/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replaces the bridge tenantkit table with one batch holding N dual-stack ports in sets shaped
 * like netd's anti-spoofing sets, the way netd rebuilds its firewall at start: test-nft-scale.sh
 * runs it inside a throwaway network namespace.
 *
 *   nft-fill N   prints the number of set elements, then commits them
 */
#include <errno.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nft.h"

enum { IFNAME = TK_NFT_IFNAME, IPV4 = TK_NFT_IPV4, IPV6 = TK_NFT_IPV6, ETHER = TK_NFT_ETHER };
static const struct tk_nft_set sets[] = {
	{ "ports", 11, NFPROTO_BRIDGE, { IFNAME }, 1 },
	{ "port_mac", 12, NFPROTO_BRIDGE, { IFNAME, ETHER }, 2 },
	{ "port_ip4", 13, NFPROTO_BRIDGE, { IFNAME, IPV4, ETHER }, 3 },
	{ "port_ip6", 14, NFPROTO_BRIDGE, { IFNAME, IPV6, ETHER }, 3 },
	{ "ports6", 15, NFPROTO_BRIDGE, { IFNAME }, 1 },
};

static int port(struct tk_nft_batch *b, unsigned i, tk_err *err)
{
	const uint8_t mac[6] = {
		0x02, 0, (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i
	};
	struct tk_addr a4 = { .family = AF_INET }, a6 = { .family = AF_INET6 },
		       ll = { .family = AF_INET6 };
	char ifname[16];
	int r;

	snprintf(ifname, sizeof(ifname), "tkv%08x", i);
	a4.bytes[0] = 10;
	memcpy(a6.bytes, (const uint8_t[]){ 0xfd, 0x7e }, 2);
	memcpy(ll.bytes, (const uint8_t[]){ 0xfe, 0x80 }, 2);
	for (int k = 0; k < 3; k++) {
		a4.bytes[3 - k] = a6.bytes[15 - k] = ll.bytes[15 - k] = (uint8_t)(i >> (8 * k));
	}
	const union tk_nft_value p[] = { { .ifname = ifname }, { .mac = mac } },
				 k4[] = { p[0], { .addr = &a4 }, p[1] },
				 k6[] = { p[0], { .addr = &a6 }, p[1] },
				 kll[] = { p[0], { .addr = &ll }, p[1] };
	if ((r = tk_nft_batch_element(b, &sets[0], true, p, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &sets[1], true, p, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &sets[2], true, k4, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &sets[3], true, k6, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &sets[3], true, kll, err)) < 0)
		return r;
	return tk_nft_batch_element(b, &sets[4], true, p, err);
}

int main(int argc, char **argv)
{
	_cleanup_(tk_nft_closep) struct tk_nft *nft = NULL;
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	tk_err err = { 0 };
	unsigned long n;
	int r;

	if (argc != 2 || (n = strtoul(argv[1], NULL, 10)) == 0 || n > 1u << 24) {
		fprintf(stderr, "usage: nft-fill N (1..16777216)\n");
		return 2;
	}
	if ((r = tk_nft_open(&nft, &err)) < 0 || (r = tk_nft_batch_new(nft, &b, &err)) < 0)
		goto fail;
	tk_nft_batch_table_delete(b, NFPROTO_BRIDGE);
	tk_nft_batch_table_add(b, NFPROTO_BRIDGE);
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
		tk_nft_batch_set_add(b, &sets[s]);
	for (unsigned i = 0; i < n; i++)
		if ((r = port(b, i, &err)) < 0)
			goto fail;
	printf("%lu elements\n", n * 6);
	if ((r = tk_nft_batch_commit(b, &err)) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "nft-fill: %s (%s)\n", err.msg, strerror(-r));
	return 1;
}
