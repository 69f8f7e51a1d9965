/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netd's side of bench/endpoints: endpoint.add or endpoint.del for containers FROM..TO-1, each
 * request on its own connection as a CNI plugin makes it, timed end to end from the client.
 *
 * Usage: bench-endpoints-client SOCKET add|del|setup|lease FROM TO NETWORKS NETNS_PREFIX
 *   (networks bench-net-0 .. bench-net-<NETWORKS-1> must exist); prints one
 *   "netd add|del <microseconds>" line per endpoint, for bench-report.  setup creates tenants
 *   bench-FROM .. bench-<TO-1>, each with a network bench-net-<i>, and prints nothing: the
 *   benchmarks' thousands of tenants without a netctl process for each.  lease adds
 *   address-only endpoints (as tenant-ipam does: a row and an address, no veth) for containers
 *   FROM..TO-1 with 64-hex-digit ids as runtimes make them, and prints nothing: the rows that
 *   `bench/endpoints -l` lists.  stats makes FROM stats.get requests without a tenant (one
 *   reading of every counter, as netd's 60-second save makes it) one after the other and prints
 *   "stats <microseconds>" for each.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rpc.h"

static void call(const char *socket, const char *op, json_t *args)
{
	json_t *result = NULL;
	tk_err err = {};

	if (tk_rpc_call(socket, op, args, &result, &err) < 0) {
		fprintf(stderr, "bench-endpoints-client: %s: %s\n", op, err.msg);
		exit(EXIT_FAILURE);
	}
	json_decref(result);
	json_decref(args);
}

int main(int argc, char **argv)
{
	unsigned from, to, networks;
	bool add;

	if (argc != 7 || (networks = (unsigned)atoi(argv[5])) == 0) {
		fprintf(stderr, "Usage: bench-endpoints-client SOCKET add|del FROM TO NETWORKS "
				"NETNS_PREFIX\n");
		return 2;
	}
	add = strcmp(argv[2], "add") == 0;
	from = (unsigned)atoi(argv[3]);
	to = (unsigned)atoi(argv[4]);
	if (strcmp(argv[2], "setup") == 0) {
		for (unsigned i = from; i < to; i++) {
			char tenant[32], net[32];

			snprintf(tenant, sizeof(tenant), "bench-%u", i);
			snprintf(net, sizeof(net), "bench-net-%u", i);
			call(argv[1], "tenant.create", json_pack("{s:s}", "name", tenant));
			call(argv[1], "network.create",
			     json_pack("{s:s, s:s}", "name", net, "tenant", tenant));
		}
		return 0;
	}
	if (strcmp(argv[2], "stats") == 0) {
		for (unsigned i = 0; i < from; i++) {
			double t = now_us();

			call(argv[1], "stats.get", json_object());
			printf("stats %.1f\n", now_us() - t);
			fflush(stdout);
		}
		return 0;
	}
	if (strcmp(argv[2], "lease") == 0) {
		for (unsigned i = from; i < to; i++) {
			char net[32], id[65];
			uint64_t x = i;

			snprintf(net, sizeof(net), "bench-net-%u", i % networks);
			/* splitmix64 steps: distinct, runtime-looking ids */
			for (int k = 0; k < 4; k++) {
				uint64_t z = (x += 0x9e3779b97f4a7c15ull);
				z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
				z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
				snprintf(id + 16 * k, sizeof(id) - 16 * k, "%016llx",
					 (unsigned long long)(z ^ (z >> 31)));
			}
			call(argv[1], "endpoint.add",
			     json_pack("{s:s, s:s, s:s, s:b}", "network", net, "container_id", id,
				       "ifname", "eth0", "lease", 1));
		}
		return 0;
	}
	for (unsigned i = from; i < to; i++) {
		char net[32], id[32], netns[4096];
		double t;

		snprintf(net, sizeof(net), "bench-net-%u", i % networks);
		snprintf(id, sizeof(id), "bench-%u", i);
		snprintf(netns, sizeof(netns), "%s%u", argv[6], i);
		t = now_us();
		if (add)
			call(argv[1], "endpoint.add",
			     json_pack("{s:s, s:s, s:s, s:s}", "network", net, "container_id", id,
				       "ifname", "eth0", "netns", netns));
		else
			call(argv[1], "endpoint.del",
			     json_pack("{s:s, s:s}", "container_id", id, "ifname", "eth0"));
		printf("netd %s %.1f\n", argv[2], now_us() - t);
	}
	return 0;
}
