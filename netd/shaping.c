/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-tenant bandwidth: limits and weighted sharing (docs/bandwidth.md).  Two IFB devices take
 * a shaped tenant's packets, tks-egress what its containers send (from its ports' ingress) and
 * tks-ingress what they receive from outside its networks (from its bridges' egress and its VXLAN
 * devices' ingress); on each, an HTB class per tenant (1:<id + 1>) holds the tenant's limit, and
 * with --egress-capacity/--ingress-capacity the classes share a parent class of that rate by
 * weight.  Nothing is installed for a tenant without a limit when no capacity is set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "fastpath.h"
#include "log.h"
#include "netd.h"
#include "nl.h"
#include "tc.h"

static const char *const ifb_names[_SHAPING_DIR_MAX] = { "tks-egress", "tks-ingress" };

/* 1:1 is the capacity's class, so tenant classes start at 1:2. */
#define ROOT_MINOR    1
#define MAX_TENANT_ID (TK_TC_BULK_MAJOR - 2) /* its class 1:<id + 1> has bands: tc.h */

static int64_t rate_of(const struct tk_tenant *t, enum shaping_dir d)
{
	return d == SHAPING_EGRESS ? t->egress : t->ingress;
}

static int64_t weight_of(const struct tk_tenant *t)
{
	return t->weight > 0 ? t->weight : 1;
}

static bool shaped(const struct manager *m, const struct tk_tenant *t, enum shaping_dir d)
{
	return m->capacity[d] > 0 || rate_of(t, d) > 0;
}

static uint16_t minor_of(const struct tk_tenant *t)
{
	return (uint16_t)(t->id + 1);
}

/* The largest frame of any network (a VLAN tag included), which the classes' queues must take. */
static uint32_t frame_of(const struct manager *m)
{
	return (m->shaping_mtu > 1500 ? m->shaping_mtu : 1500) + 18;
}

static int device(struct manager *m, enum shaping_dir d, tk_err *err)
{
	uint64_t cap = (uint64_t)m->capacity[d];
	int r;

	if (m->shaping_ifindex[d] > 0)
		return 0;
	if ((m->shaping_meter[d] = tk_tc_meter_open(err)) < 0)
		return m->shaping_meter[d];
	if ((r = tk_tc_ifb_ensure(m->nl, ifb_names[d], &m->shaping_ifindex[d], NULL, err)) < 0 ||
	    (m->capacity[d] > 0 &&
	     ((r = tk_tc_class_set(m->nl, m->shaping_ifindex[d], 0, ROOT_MINOR, cap, cap, 60000, 0,
				   err)) < 0 ||
	      (r = tk_tc_meter_set(m->shaping_meter[d], ROOT_MINOR, cap, err)) < 0))) {
		close(m->shaping_meter[d]);
		m->shaping_ifindex[d] = 0; /* the meter goes with it: made again next time */
		return r;
	}
	return 0;
}

void shaping_close(struct manager *m)
{
	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		if (m->shaping_ifindex[d] > 0)
			close(m->shaping_meter[d]);
}

/* The weights of all tenants, with p's for t's (t NULL: p is not in the list yet). */
static int64_t weight_sum(const struct manager *m, const struct tk_tenant *t,
			  const struct tk_tenant *p)
{
	int64_t sum = 0;

	for (const struct tk_tenant *o = m->tenants.list; o; o = o->next)
		sum += o == t && p ? weight_of(p) : weight_of(o);
	if (!t && p)
		sum += weight_of(p);
	return sum;
}

/*
 * The class in direction d of the tenant with p's values.  With a capacity, its guaranteed rate
 * is its weighted share of the capacity among all tenants (weights summing to sum), and it may
 * borrow up to its limit or the capacity; the quantum, with which HTB divides what is borrowed,
 * follows the weight too.  leaf: its leaf is set too (a new class, a new ceil, a larger frame).
 */
static int class_apply(struct manager *m, const struct tk_tenant *p, enum shaping_dir d,
		       int64_t sum, bool leaf, tk_err *err)
{
	int64_t lim = rate_of(p, d), cap = m->capacity[d], rate, ceil;
	int r;

	if (!shaped(m, p, d)) {
		if (m->shaping_ifindex[d] > 0)
			accounting_limits_gone(m, d, m->shaping_ifindex[d], p);
		if (m->shaping_ifindex[d] > 0 &&
		    (r = tk_tc_class_del(m->nl, m->shaping_ifindex[d], minor_of(p), err)) < 0 &&
		    r != -ENOENT)
			return r;
		tk_err_clear(err);
		return 0;
	}
	if ((r = device(m, d, err)) < 0)
		return r;
	if (cap <= 0)
		r = tk_tc_class_set(m->nl, m->shaping_ifindex[d], 0, minor_of(p), (uint64_t)lim,
				    (uint64_t)lim, 30280, leaf ? frame_of(m) : 0, err);
	else {
		ceil = lim > 0 && lim < cap ? lim : cap;
		rate = (int64_t)((double)cap * (double)weight_of(p) / (double)(sum > 0 ? sum : 1));
		if (rate < TK_RATE_MIN)
			rate = TK_RATE_MIN;
		if (rate > ceil)
			rate = ceil;
		r = tk_tc_class_set(m->nl, m->shaping_ifindex[d], ROOT_MINOR, minor_of(p),
				    (uint64_t)rate, (uint64_t)ceil, (uint32_t)(3028 * weight_of(p)),
				    leaf ? frame_of(m) : 0, err);
	}
	if (r < 0)
		return r;
	/* The tenant's bucket, at its ceil: below it, its ports bypass the class. */
	return tk_tc_meter_set(m->shaping_meter[d], minor_of(p),
			       (uint64_t)(cap <= 0		 ? lim
					  : lim > 0 && lim < cap ? lim
								 : cap),
			       err);
}

int shaping_rebalance(struct manager *m, const struct tk_tenant *fresh, tk_err *err)
{
	int64_t sum = weight_sum(m, NULL, NULL);
	int r;

	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		for (struct tk_tenant *o = m->tenants.list; m->capacity[d] > 0 && o; o = o->next)
			if ((r = class_apply(m, o, (enum shaping_dir)d, sum, o == fresh, err)) < 0)
				return tk_err_wrap(err, r, "shaping tenant '%s'", o->name);
	return 0;
}

/* A meter program (lib/nl-tc.c) on one of the device's tcx hooks, or ours taken off it (!to). */
static int meter_attach(int ifindex, bool egress, const struct tk_tc_redirect *to, int chain,
			tk_err *err)
{
	_cleanup_close_ int prog = -1;

	if (to->ifb > 0 && (prog = tk_tc_meter_load(to, egress, chain, err)) < 0)
		return prog;
	return tk_tcx_attach(ifindex, egress, prog, err);
}

/*
 * p's redirection in direction d (to), and its meter's (meter): with the fast path (chain >= 0)
 * the meter runs on tcx, and the shaper's filter behind it has none of its own.
 */
static void redirect_of(const struct manager *m, const struct tk_tenant *p, enum shaping_dir d,
			int chain, struct tk_tc_redirect *to, struct tk_tc_redirect *meter)
{
	*to = *meter = (struct tk_tc_redirect){
		.ifb = m->shaping_ifindex[d],
		.classid = TK_TC_HANDLE(1, minor_of(p)),
		.meter = m->shaping_meter[d],
		.shared = m->capacity[d] > 0 ? ROOT_MINOR : 0,
	};
	if (chain >= 0)
		to->meter = -1;
}

/*
 * What arrives on device ifindex (a port: what its container sends; a VXLAN device: what other
 * hosts send the network), shaped by p's limit in direction d: the shaper's filter (a BPF
 * classifier and mirred) on its ingress qdisc; with the fast path (tcx), the meter on its tcx
 * ingress, where what passes it goes on past that filter, to the fast path by a tail call;
 * without, the meter in the classifier.  p NULL or not shaped: all of it goes, and the fast path
 * takes the hook.
 */
static int arrivals_apply(struct manager *m, int ifindex, const struct tk_tenant *p,
			  enum shaping_dir d, tk_err *err)
{
	struct tk_tc_redirect to = {}, meter = {};
	int chain = firewall_fast_chain(), r;

	if (p && shaped(m, p, d))
		redirect_of(m, p, d, chain, &to, &meter);
	if ((r = tk_tc_port_redirect(m->nl, ifindex, &to, NULL, err)) < 0)
		return r;
	if (chain < 0)
		return 0;
	/* Another program's qdisc (the bandwidth plugin's) keeps the port off the fast path. */
	if (to.ifb <= 0 && r > 0)
		return 0;
	return to.ifb > 0 ? meter_attach(ifindex, false, &meter, chain, err)
			  : firewall_fast_hook(ifindex, true, err);
}

/*
 * A port: what its container sends.  What it receives is shaped where that enters the network
 * (bridge_apply, shaping_overlay), not here: a meter an earlier netd left on its egress goes.
 */
static int port_apply(struct manager *m, const struct endpoint *e, const struct tk_tenant *p,
		      tk_err *err)
{
	int ifindex, r;

	if (e->lease)
		return 0;
	if ((r = tk_nl_ifindex(m->nl, e->host_ifname, &ifindex, err)) == -ENODEV) {
		tk_err_clear(err);
		return 0; /* gone with its container: lifecycle releases it */
	}
	if (r < 0 || (r = meter_attach(ifindex, true, &(struct tk_tc_redirect){}, -1, err)) < 0)
		return r;
	return arrivals_apply(m, ifindex, p, SHAPING_EGRESS, err);
}

static int bridge_ifindex(struct manager *m, const struct network *n, int *ret, tk_err *err)
{
	*ret = n->bridge_ifindex;
	return *ret > 0 ? 0 : tk_nl_ifindex(m->nl, n->bridge, ret, err);
}

/*
 * What the host sends into network n (what it routes there, NAT's replies, published ports) is
 * shaped on its bridge's egress, with the meter on the bridge's tcx egress; p NULL or not shaped:
 * all of it goes.  Traffic between two of the tenant's containers, which the fast path or the
 * bridge takes from port to port, is shaped once, as what its sender sends.
 */
static int bridge_apply(struct manager *m, const struct network *n, const struct tk_tenant *p,
			tk_err *err)
{
	struct tk_tc_redirect to = {}, meter = {};
	int chain = firewall_fast_chain(), ifindex, r;

	if ((r = bridge_ifindex(m, n, &ifindex, err)) < 0)
		return r;
	if (p && shaped(m, p, SHAPING_INGRESS))
		redirect_of(m, p, SHAPING_INGRESS, chain, &to, &meter);
	if ((r = tk_tc_port_redirect(m->nl, ifindex, NULL, &to, err)) < 0)
		return r;
	return meter_attach(ifindex, true, chain >= 0 ? &meter : &(struct tk_tc_redirect){}, -1,
			    err);
}

int shaping_overlay(struct manager *m, const struct network *n, int ifindex, tk_err *err)
{
	int r;

	if (!shaped(m, n->tenant, SHAPING_INGRESS))
		return 0;
	return (r = arrivals_apply(m, ifindex, n->tenant, SHAPING_INGRESS, err)) < 0 ? r : 1;
}

struct overlay_ctx {
	struct manager *m;
	const struct tk_tenant *t, *p;
	tk_err *err;
};

static int overlay_cb(const struct tk_link_info *link, void *userdata)
{
	struct overlay_ctx *ctx = userdata;
	int ifindex;

	if ((link->kind[0] && strcmp(link->kind, "vxlan") != 0) || link->master <= 0)
		return 0;
	for (const struct network *n = ctx->m->networks; n; n = n->next)
		if (n->tenant == ctx->t && bridge_ifindex(ctx->m, n, &ifindex, NULL) >= 0 &&
		    ifindex == link->master)
			return arrivals_apply(ctx->m, link->ifindex, ctx->p, SHAPING_INGRESS,
					      ctx->err);
	return 0;
}

/* What enters t's networks, shaped by p's values: their bridges and VXLAN devices. */
static int entries_apply(struct manager *m, const struct tk_tenant *t, const struct tk_tenant *p,
			 tk_err *err)
{
	struct overlay_ctx ctx = { .m = m, .t = t, .p = p, .err = err };
	bool any = false;
	int r;

	for (const struct network *n = m->networks; n; n = n->next)
		if (n->tenant == t) {
			if ((r = bridge_apply(m, n, p, err)) < 0)
				return r;
			any = true;
		}
	return any && m->cluster ? tk_nl_link_foreach(m->nl, "tkx", overlay_cb, &ctx, err) : 0;
}

bool shaping_from_port(const struct manager *m, const struct endpoint *e)
{
	return shaped(m, e->network->tenant, SHAPING_EGRESS);
}

int shaping_endpoint(struct manager *m, const struct endpoint *e, tk_err *err)
{
	const struct tk_tenant *t = e->network->tenant;
	int r;

	if (!shaped(m, t, SHAPING_EGRESS))
		return 0;
	return (r = port_apply(m, e, t, err)) < 0 ? r : 1;
}

struct ports_ctx {
	struct manager *m;
	const struct tk_tenant *p;
	tk_err *err;
	bool clear; /* at start: ports of unshaped tenants are cleared too */
};

static int port_cb(struct endpoint *e, void *userdata)
{
	struct ports_ctx *ctx = userdata;

	return port_apply(ctx->m, e, ctx->p, ctx->err);
}

int shaping_check(struct manager *m, const struct tk_tenant *p, tk_err *err)
{
	bool any = false;

	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		any |= shaped(m, p, (enum shaping_dir)d);
	if (any && p->id > MAX_TENANT_ID)
		return tk_err_set(err, -ERANGE,
				  "tenant '%s' has id %lld: netd shapes tenants with ids up to %d",
				  p->name, (long long)p->id, MAX_TENANT_ID);
	return 0;
}

int shaping_tenant_set(struct manager *m, struct tk_tenant *t, const struct tk_tenant *from,
		       const struct tk_tenant *p, tk_err *err)
{
	int64_t sum = weight_sum(m, t, p);
	int r;

	if ((r = shaping_check(m, p, err)) < 0)
		return r;
	/* Devices are redirected after a class appears, and before one disappears. */
	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		if (shaped(m, p, (enum shaping_dir)d) &&
		    (r = class_apply(m, p, (enum shaping_dir)d, sum, true, err)) < 0)
			return r;
	if (shaped(m, from, SHAPING_EGRESS) != shaped(m, p, SHAPING_EGRESS)) {
		struct ports_ctx ctx = { .m = m, .p = p, .err = err };

		if ((r = db_endpoints_foreach(m, NULL, t, port_cb, &ctx, err)) < 0)
			return r;
	}
	if (shaped(m, from, SHAPING_INGRESS) != shaped(m, p, SHAPING_INGRESS) &&
	    (r = entries_apply(m, t, p, err)) < 0)
		return r;
	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		if (!shaped(m, p, (enum shaping_dir)d) &&
		    (r = class_apply(m, p, (enum shaping_dir)d, sum, true, err)) < 0)
			return r;
	return 0;
}

int shaping_tenant_new(struct manager *m, struct tk_tenant *t, tk_err *err)
{
	int r;

	if ((r = shaping_check(m, t, err)) < 0)
		return r;
	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		if (m->capacity[d] <= 0 &&
		    (r = class_apply(m, t, (enum shaping_dir)d, 0, true, err)) < 0)
			return r;
	return shaping_rebalance(m, t, err);
}

void shaping_tenant_gone(struct manager *m, const struct tk_tenant *old)
{
	tk_err err = {};

	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		if (m->shaping_ifindex[d] > 0 &&
		    tk_tc_class_del(m->nl, m->shaping_ifindex[d], minor_of(old), &err) < 0 &&
		    err.code != -ENOENT)
			log_warning("Removing the shaping class of tenant '%s', ignoring: %s",
				    old->name, err.msg);
	if (shaping_rebalance(m, NULL, &err) < 0)
		log_warning("Rebalancing the tenants' shares, ignoring: %s", err.msg);
}

static int start_port_cb(struct endpoint *e, void *userdata)
{
	struct ports_ctx *ctx = userdata;
	const struct tk_tenant *t = e->network->tenant;
	bool any = shaped(ctx->m, t, SHAPING_EGRESS);
	tk_err err = {};

	/* A port left redirected by an earlier run is cleared too. */
	if ((any || ctx->clear) && port_apply(ctx->m, e, any ? t : NULL, &err) < 0)
		log_warning("Shaping container '%s' of tenant '%s', ignoring: %s", e->container_id,
			    t->name, err.msg);
	return 0;
}

int shaping_start(struct manager *m, tk_err *err)
{
	struct ports_ctx ctx = { .m = m };
	int64_t sum = weight_sum(m, NULL, NULL);
	bool had = false, any = false;
	int ifindex, r;

	for (const struct network *n = m->networks; n; n = n->next)
		if (n->mtu > m->shaping_mtu)
			m->shaping_mtu = n->mtu;
	/* The devices are rebuilt from the database: what an earlier run left is not trusted. */
	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		if (tk_nl_ifindex(m->nl, ifb_names[d], &ifindex, NULL) >= 0) {
			had = true;
			accounting_limits_gone(m, d, ifindex, NULL);
			if ((r = tk_nl_link_del(m->nl, ifb_names[d], err)) < 0)
				return r;
		}
	for (struct tk_tenant *t = m->tenants.list; t; t = t->next) {
		/* With a capacity every tenant has a class: one beyond the ids' range takes another's. */
		if ((r = shaping_check(m, t, err)) < 0)
			return r;
		for (int d = 0; d < _SHAPING_DIR_MAX; d++) {
			if ((r = class_apply(m, t, (enum shaping_dir)d, sum, true, err)) < 0)
				return tk_err_wrap(err, r, "shaping tenant '%s'", t->name);
			any |= shaped(m, t, (enum shaping_dir)d);
		}
	}
	if (!had && !any)
		return 0;
	/* The overlay's devices are visited as the cluster makes them (shaping_overlay). */
	for (const struct network *n = m->networks; n; n = n->next) {
		tk_err e = {};

		if ((had || shaped(m, n->tenant, SHAPING_INGRESS)) &&
		    bridge_apply(m, n, n->tenant, &e) < 0)
			log_warning("Shaping network '%s' of tenant '%s', ignoring: %s", n->name,
				    n->tenant->name, e.msg);
	}
	ctx.clear = had;
	return db_endpoints_foreach(m, NULL, NULL, start_port_cb, &ctx, err);
}

int shaping_network(struct manager *m, const struct network *n, tk_err *err)
{
	unsigned mtu = m->shaping_mtu;
	int64_t sum = weight_sum(m, NULL, NULL);
	int r;

	if (shaped(m, n->tenant, SHAPING_INGRESS) && (r = bridge_apply(m, n, n->tenant, err)) < 0)
		return r;
	if (n->mtu <= mtu || n->mtu <= 1500) {
		m->shaping_mtu = n->mtu > mtu ? n->mtu : mtu;
		return 0;
	}
	m->shaping_mtu = n->mtu;
	for (struct tk_tenant *t = m->tenants.list; t; t = t->next)
		for (int d = 0; d < _SHAPING_DIR_MAX; d++)
			if (shaped(m, t, (enum shaping_dir)d) &&
			    (r = class_apply(m, t, (enum shaping_dir)d, sum, true, err)) < 0) {
				m->shaping_mtu = mtu; /* larger queues left behind do no harm */
				return tk_err_wrap(err, r, "shaping tenant '%s'", t->name);
			}
	return 0;
}

json_t *shaping_to_json(const struct manager *m)
{
	json_t *o = json_object();

	for (int d = 0; o && d < _SHAPING_DIR_MAX; d++)
		json_object_set_new(o, d == SHAPING_EGRESS ? "egress_capacity" : "ingress_capacity",
				    m->capacity[d] > 0 ? json_integer(m->capacity[d])
						       : json_null());
	return o;
}
