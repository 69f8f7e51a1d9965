/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What networks, links and endpoints mean for the nftables sets (lib/nft.c owns the rules).  Each
 * change is one batch, applied atomically by the kernel.
 */
#include <errno.h>
#include <sys/socket.h>

#include "log.h"
#include "netd.h"
#include "nft.h"

static int network_elements(struct tk_nft_batch *b, const struct network *n, bool add, tk_err *err)
{
	int r;

	if ((r = tk_nft_batch_bridge(b, add, n->bridge, n->nat, err)) < 0)
		return r;
	if (n->has4 && (r = tk_nft_batch_gateway(b, add, n->bridge, &n->gateway4, err)) < 0)
		return r;
	if (n->has6 && (r = tk_nft_batch_gateway(b, add, n->bridge, &n->gateway6, err)) < 0)
		return r;
	return 0;
}

/*
 * The link-local address a container's kernel makes from its MAC (modified EUI-64, RFC 4291
 * appendix A), which is what it gets: netd sets the MAC when it creates the interface, and a
 * fresh network namespace generates link-local addresses in EUI-64 mode.
 */
static struct tk_addr link_local(const uint8_t mac[6])
{
	struct tk_addr a = { .family = AF_INET6 };

	a.bytes[0] = 0xfe;
	a.bytes[1] = 0x80;
	a.bytes[8] = mac[0] ^ 0x02;
	a.bytes[9] = mac[1];
	a.bytes[10] = mac[2];
	a.bytes[11] = 0xff;
	a.bytes[12] = 0xfe;
	a.bytes[13] = mac[3];
	a.bytes[14] = mac[4];
	a.bytes[15] = mac[5];
	return a;
}

/*
 * A port may send from its addresses and, on an IPv6 network, from its one link-local address.
 * On an IPv4-only network it has no IPv6 address at all, so it sends no IPv6.
 */
static int endpoint_elements(struct tk_nft_batch *b, const struct endpoint *e, bool add,
			     tk_err *err)
{
	struct tk_addr addrs[3];
	size_t n = 0;

	if (e->has4)
		addrs[n++] = e->ip4;
	if (e->has6) {
		addrs[n++] = e->ip6;
		addrs[n++] = link_local(e->mac);
	}
	return tk_nft_batch_port(b, add, e->host_ifname, e->mac, addrs, n, err);
}

int firewall_network(struct manager *m, const struct network *n, bool add, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	int r;

	if ((r = tk_nft_batch_new(m->nft, false, &b, err)) < 0 ||
	    (r = network_elements(b, n, add, err)) < 0)
		return r;
	return tk_nft_batch_commit(b, err);
}

int firewall_link(struct manager *m, const struct network *a, const struct network *b, bool add,
		  tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *batch = NULL;
	int r;

	if ((r = tk_nft_batch_new(m->nft, false, &batch, err)) < 0 ||
	    (r = tk_nft_batch_link(batch, add, a->bridge, b->bridge, err)) < 0)
		return r;
	return tk_nft_batch_commit(batch, err);
}

int firewall_endpoint(struct manager *m, const struct endpoint *e, bool add, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	int r;

	if ((r = tk_nft_batch_new(m->nft, false, &b, err)) < 0 ||
	    (r = endpoint_elements(b, e, add, err)) < 0)
		return r;
	return tk_nft_batch_commit(b, err);
}

struct rebuild {
	struct tk_nft_batch *batch;
	const struct network *network;
	tk_err *err;
};

static int rebuild_link(struct network *other, void *userdata)
{
	struct rebuild *ctx = userdata;

	/* Each pair is visited from both ends: add it once. */
	if (other->id < ctx->network->id)
		return 0;
	return tk_nft_batch_link(ctx->batch, true, ctx->network->bridge, other->bridge, ctx->err);
}

static int rebuild_endpoint(struct endpoint *e, void *userdata)
{
	struct rebuild *ctx = userdata;
	return e->lease ? 0 : endpoint_elements(ctx->batch, e, true, ctx->err);
}

int firewall_rebuild(struct manager *m, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	struct rebuild ctx = { .err = err };
	int r;

	if ((r = tk_nft_batch_new(m->nft, true, &b, err)) < 0)
		return r;
	ctx.batch = b;
	for (const struct network *n = m->networks; n; n = n->next) {
		ctx.network = n;
		if ((r = network_elements(b, n, true, err)) < 0 ||
		    (r = db_links_foreach(m, n, rebuild_link, &ctx, err)) < 0)
			return r;
	}
	if ((r = db_endpoints_foreach(m, NULL, NULL, rebuild_endpoint, &ctx, err)) < 0)
		return r;
	return tk_nft_batch_commit(b, err);
}
