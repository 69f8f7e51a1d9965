/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replaces the tenantkit tables with one batch holding N dual-stack ports, the way netd rebuilds
 * its firewall at start: test-nft-scale.sh runs it inside a throwaway network namespace.
 *
 *   nft-fill N   prints the number of set elements and the batch's size in bytes
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nft.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct tk_nft *, tk_nft_close);

static int port(struct tk_nft_batch *b, unsigned i, tk_err *err)
{
	const uint8_t mac[6] = { 0x02, 0, (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
				 (uint8_t)i };
	struct tk_addr addrs[3] = { { .family = AF_INET }, { .family = AF_INET6 },
				    { .family = AF_INET6 } };
	char ifname[16];

	snprintf(ifname, sizeof(ifname), "tkv%08x", i);
	addrs[0].bytes[0] = 10;
	addrs[0].bytes[1] = (uint8_t)(i >> 16);
	addrs[0].bytes[2] = (uint8_t)(i >> 8);
	addrs[0].bytes[3] = (uint8_t)i;
	addrs[1].bytes[0] = 0xfd;
	addrs[1].bytes[1] = 0x7e;
	addrs[2].bytes[0] = 0xfe;
	addrs[2].bytes[1] = 0x80;
	for (int k = 1; k <= 2; k++) {
		addrs[k].bytes[13] = (uint8_t)(i >> 16);
		addrs[k].bytes[14] = (uint8_t)(i >> 8);
		addrs[k].bytes[15] = (uint8_t)i;
	}
	return tk_nft_batch_port(b, true, ifname, mac, addrs, 3, err);
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
	if ((r = tk_nft_open(&nft, &err)) < 0 || (r = tk_nft_batch_new(nft, true, &b, &err)) < 0)
		goto fail;
	for (unsigned i = 0; i < n; i++)
		if ((r = port(b, i, &err)) < 0)
			goto fail;
	/* ports, port_mac, ports6, port_ip4 and two port_ip6 elements per port */
	printf("%lu elements\n", n * 6);
	if ((r = tk_nft_batch_commit(b, &err)) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "nft-fill: %s\n", err.msg);
	return 1;
}
