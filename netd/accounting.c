/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Accounting (docs/accounting.md): per tenant and per endpoint, bytes and packets in and out and
 * drops by reason, as totals that never go back.
 *
 * Nothing here touches a packet.  The kernel counts: a container's traffic on its host veth's own
 * counters, drops in nftables set elements that only the drop paths look up (firewall.c), limit
 * drops in the tenant's HTB classes (shaping.c).  Those counters start over when their object is
 * made again (a rebuilt ruleset, a deleted class, a reboot), so each one is kept in the table
 * counters as base + seen: seen is the kernel's value when last read, base what earlier lives of
 * the counter counted.  A value below seen means the counter started over, and seen goes into
 * base; where netd itself is about to make one start over (a rebuild, a class it deletes) it
 * reads it first and folds it in.  An endpoint's totals go into its tenant's row when it goes,
 * and so do a network's, so a tenant's total (its row + its endpoints' + its networks') only grows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netd.h"
#include "nl.h"
#include "prom.h"
#include "store.h"
#include "tc.h"

enum acct {
	ACCT_TX_BYTES,
	ACCT_TX_PACKETS,
	ACCT_RX_BYTES,
	ACCT_RX_PACKETS,
	ACCT_SPOOFING,
	ACCT_ISOLATION,
	ACCT_LIMIT_EGRESS,
	ACCT_LIMIT_INGRESS,
	_ACCT_MAX,
};

/* Row names in the table; "transmit" is what the containers sent, "receive" what they got. */
static const char *const acct_names[_ACCT_MAX] = {
	[ACCT_TX_BYTES] = "transmit_bytes",	    [ACCT_TX_PACKETS] = "transmit_packets",
	[ACCT_RX_BYTES] = "receive_bytes",	    [ACCT_RX_PACKETS] = "receive_packets",
	[ACCT_SPOOFING] = "drops_spoofing",	    [ACCT_ISOLATION] = "drops_isolation",
	[ACCT_LIMIT_EGRESS] = "drops_limit_egress", [ACCT_LIMIT_INGRESS] = "drops_limit_ingress",
};

enum kind { KIND_TENANT, KIND_NETWORK, KIND_ENDPOINT };
static const char *const kind_names[] = { "tenant", "network", "endpoint" };

struct counters {
	uint64_t base[_ACCT_MAX], seen[_ACCT_MAX];
	unsigned dirty; /* a bit per counter that changed since loaded */
};

/* The kernel's value k of counter i: lower than the last one means it started over. */
static void observe(struct counters *c, enum acct i, uint64_t k)
{
	if (k < c->seen[i])
		c->base[i] += c->seen[i];
	if (k != c->seen[i]) {
		c->seen[i] = k;
		c->dirty |= 1u << i;
	}
}

/* Counter i is about to start over: what it counted so far becomes base. */
static void fold(struct counters *c, enum acct i)
{
	if (c->seen[i] > 0) {
		c->base[i] += c->seen[i];
		c->seen[i] = 0;
		c->dirty |= 1u << i;
	}
}

static uint64_t total(const struct counters *c, enum acct i)
{
	return c->base[i] + c->seen[i];
}

/* ---- the table -------------------------------------------------------------------------- */

static enum acct acct_from_name(const char *name)
{
	for (int i = 0; i < _ACCT_MAX; i++)
		if (strcmp(name, acct_names[i]) == 0)
			return (enum acct)i;
	return _ACCT_MAX;
}

static int load(struct manager *m, enum kind kind, int64_t id, struct counters *ret, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	*ret = (struct counters){};
	if ((r = tk_store_stmt(m->store,
			       "SELECT name, base, seen FROM counters "
			       "WHERE kind = ? AND object_id = ?",
			       &st, err)) < 0)
		return r;
	sqlite3_bind_text(st, 1, kind_names[kind], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum acct i = acct_from_name(tk_store_column_text(st, 0));

		if (i == _ACCT_MAX)
			continue; /* a counter of a later netd */
		ret->base[i] = (uint64_t)sqlite3_column_int64(st, 1);
		ret->seen[i] = (uint64_t)sqlite3_column_int64(st, 2);
	}
	if (rc != SQLITE_DONE)
		return tk_store_step_error(m->store, rc, "reading counters", err);
	return 0;
}

static int store(struct manager *m, enum kind kind, int64_t id, int64_t tenant_id,
		 struct counters *c, tk_err *err)
{
	sqlite3_stmt *st;
	int r;

	for (int i = 0; i < _ACCT_MAX; i++) {
		if (!(c->dirty & (1u << i)))
			continue;
		if ((r = tk_store_stmt(
			     m->store,
			     "INSERT INTO counters (tenant_id, kind, object_id, name, base, "
			     "seen) VALUES (?, ?, ?, ?, ?, ?) "
			     "ON CONFLICT (kind, object_id, name) DO UPDATE SET "
			     "base = excluded.base, seen = excluded.seen",
			     &st, err)) < 0)
			return r;
		sqlite3_bind_int64(st, 1, tenant_id);
		sqlite3_bind_text(st, 2, kind_names[kind], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, id);
		sqlite3_bind_text(st, 4, acct_names[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (int64_t)c->base[i]);
		sqlite3_bind_int64(st, 6, (int64_t)c->seen[i]);
		if ((r = tk_store_step_done(m->store, st, err)) < 0)
			return r;
	}
	c->dirty = 0;
	return 0;
}

static int forget(struct manager *m, enum kind kind, int64_t id, tk_err *err)
{
	sqlite3_stmt *st;
	int r;

	if ((r = tk_store_stmt(m->store, "DELETE FROM counters WHERE kind = ? AND object_id = ?",
			       &st, err)) < 0)
		return r;
	sqlite3_bind_text(st, 1, kind_names[kind], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	return tk_store_step_done(m->store, st, err);
}

/* ---- what the kernel counts now ----------------------------------------------------------- */

struct entry {
	char name[16];
	uint64_t v[4];
};

/*
 * Values by name (interface, or a class minor in hex).  ok: read, so a missing name counts 0,
 * unless partial: links came and went through every reading (tk_nl_link_stats_foreach), and a
 * missing name is unknown.  Read as 0, it would have the next reading count all of a port's
 * traffic a second time (observe).
 */
struct table {
	struct entry *e;
	size_t n, size;
	bool ok, partial, sorted;
};

enum { LINKS, SPOOFING, ISOLATION, LIMIT_EGRESS, LIMIT_INGRESS, _TABLES };

struct snapshot {
	struct table t[_TABLES]; /* LINKS by ifindex in decimal, the others by name */
	struct tk_nl *nl;	 /* to look up a port's ifindex */
};

static void snapshot_free(struct snapshot *s)
{
	for (int i = 0; i < _TABLES; i++)
		free(s->t[i].e);
}

static int table_add(struct table *t, const char *name, const uint64_t *v, size_t n)
{
	if (t->n == t->size) {
		size_t size = t->size ? t->size * 2 : 64;
		struct entry *e = reallocarray(t->e, size, sizeof(*e));

		if (!e)
			return -ENOMEM;
		t->e = e;
		t->size = size;
	}
	t->e[t->n] = (struct entry){};
	snprintf(t->e[t->n].name, sizeof(t->e[0].name), "%s", name);
	memcpy(t->e[t->n].v, v, n * sizeof(*v));
	t->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The values of name: NULL when the table could not be read (nothing is known). */
static const uint64_t *table_get(struct table *t, const char *name)
{
	static const uint64_t zero[4];
	struct entry key = {}, *e;

	if (!t->ok)
		return NULL;
	if (!t->sorted) {
		if (t->n > 1)
			qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
		t->sorted = true;
	}
	snprintf(key.name, sizeof(key.name), "%s", name);
	e = t->n ? bsearch(&key, t->e, t->n, sizeof(*t->e), entry_cmp) : NULL;
	return e ? e->v : t->partial ? NULL : zero;
}

static int stats_cb(int ifindex, uint64_t rx_bytes, uint64_t rx_packets, uint64_t tx_bytes,
		    uint64_t tx_packets, void *userdata)
{
	const uint64_t v[4] = { rx_bytes, rx_packets, tx_bytes, tx_packets };
	char key[16];

	snprintf(key, sizeof(key), "%d", ifindex);
	return table_add(userdata, key, v, 4);
}

static int drops_cb(const char *ifname, uint64_t packets, void *userdata)
{
	return table_add(userdata, ifname, &packets, 1);
}

static int class_cb(uint16_t minor, uint64_t drops, void *userdata)
{
	char name[8];

	snprintf(name, sizeof(name), "%x", minor);
	return table_add(userdata, name, &drops, 1);
}

/* -ENOENT (no tables, no class) reads as "all zero"; any other failure as "unknown". */
static void table_done(struct table *t, int r, const char *what, const tk_err *err)
{
	t->ok = r >= 0 || r == -ENOENT;
	if (!t->ok)
		log_warning("Reading %s, ignoring: %s", what, err->msg);
}

/* Said once when links start coming and going through every reading, and once when they stop. */
static void links_partial(struct table *t, bool partial)
{
	static bool was_partial;

	t->partial = partial;
	if (partial && !was_partial)
		log_info("Links come and go through every reading of the ports' counters: read in "
			 "part, a port missing keeps its last reading (%zu links read)",
			 t->n);
	else if (!partial && was_partial)
		log_info("The ports' counters are read whole again (%zu links)", t->n);
	was_partial = partial;
}

static int limit_drops(struct manager *m, int ifindex, struct table *t, tk_err *err)
{
	return ifindex > 0 ? tk_tc_class_drops(m->nl, ifindex, class_cb, t, err) : -ENOENT;
}

static void snapshot_read(struct manager *m, struct snapshot *s, unsigned which)
{
	tk_err err = {};
	int r;

	*s = (struct snapshot){ .nl = m->nl };
	if (which & (1u << LINKS)) {
		r = tk_nl_link_stats_foreach(m->nl, stats_cb, &s->t[LINKS], &err);
		table_done(&s->t[LINKS], r, "the ports' counters", &err);
		if (r >= 0)
			links_partial(&s->t[LINKS], r > 0);
	}
	if (which & (1u << SPOOFING)) {
		r = firewall_drops_foreach(m, FIREWALL_DROPS_SPOOFING, drops_cb, &s->t[SPOOFING],
					   &err);
		table_done(&s->t[SPOOFING], r, "the spoofing drops", &err);
	}
	if (which & (1u << ISOLATION)) {
		r = firewall_drops_foreach(m, FIREWALL_DROPS_ISOLATION, drops_cb, &s->t[ISOLATION],
					   &err);
		table_done(&s->t[ISOLATION], r, "the isolation drops", &err);
	}
	for (int d = 0; d < _SHAPING_DIR_MAX; d++) {
		struct table *t = &s->t[LIMIT_EGRESS + d];

		if (!(which & (1u << (LIMIT_EGRESS + d))))
			continue;
		r = limit_drops(m, m->shaping_ifindex[d], t, &err);
		table_done(t, r, "the limit drops", &err);
	}
}

/* Each counter of c the snapshot has a value for. */
static void observe_endpoint(struct snapshot *s, const struct endpoint *e, struct counters *c)
{
	const uint64_t *v;
	char key[16] = "none"; /* a port gone: as a name missing from the table */
	int ifindex;

	if (e->lease)
		return; /* no port, nothing counted */
	/* SIOCGIFINDEX, a hash lookup: the counters are by index (tk_nl_link_stats_foreach) */
	if (s->t[LINKS].ok && tk_nl_ifindex(s->nl, e->host_ifname, &ifindex, NULL) >= 0)
		snprintf(key, sizeof(key), "%d", ifindex);
	if ((v = table_get(&s->t[LINKS], key)))
		/* The port's receive is what the container sent. */
		for (int i = 0; i < 4; i++)
			observe(c, (enum acct)(ACCT_TX_BYTES + i), v[i]);
	if ((v = table_get(&s->t[SPOOFING], e->host_ifname)))
		observe(c, ACCT_SPOOFING, v[0]);
}

static void observe_tenant(struct snapshot *s, const struct tk_tenant *t, struct counters *c)
{
	char minor[8];
	const uint64_t *v;

	snprintf(minor, sizeof(minor), "%x", (unsigned)(uint16_t)(t->id + 1)); /* shaping.c */
	for (int d = 0; d < _SHAPING_DIR_MAX; d++)
		if ((v = table_get(&s->t[LIMIT_EGRESS + d], minor)))
			observe(c, (enum acct)(ACCT_LIMIT_EGRESS + d), v[0]);
}

/* ---- reading: stats.get, the metrics, and saving ---------------------------------------- */

struct tenant_sum {
	uint64_t v[_ACCT_MAX];
};

static json_t *drops_json(const uint64_t *v, bool spoof, bool isolation, bool limit)
{
	json_t *o = json_object();

	if (o && spoof)
		json_object_set_new(o, "spoofing", json_integer((json_int_t)v[ACCT_SPOOFING]));
	if (o && isolation)
		json_object_set_new(o, "isolation", json_integer((json_int_t)v[ACCT_ISOLATION]));
	if (o && limit)
		json_object_set_new(
			o, "limit",
			json_integer((json_int_t)(v[ACCT_LIMIT_EGRESS] + v[ACCT_LIMIT_INGRESS])));
	return o;
}

static json_t *traffic_json(const uint64_t *v, json_t *o)
{
	for (int i = ACCT_TX_BYTES; o && i <= ACCT_RX_PACKETS; i++)
		json_object_set_new(o, acct_names[i], json_integer((json_int_t)v[i]));
	return o;
}

struct walk {
	struct manager *m;
	struct snapshot *snap;
	struct tenant_sum *sum;
	json_t *endpoints; /* NULL: totals only */
	tk_err *err;
};

static int endpoint_cb(struct endpoint *e, void *userdata)
{
	struct walk *w = userdata;
	struct counters c;
	uint64_t v[_ACCT_MAX];
	json_t *o;
	int r;

	if ((r = load(w->m, KIND_ENDPOINT, e->id, &c, w->err)) < 0)
		return r;
	observe_endpoint(w->snap, e, &c);
	if ((r = store(w->m, KIND_ENDPOINT, e->id, e->network->tenant->id, &c, w->err)) < 0)
		return r;
	for (int i = 0; i < _ACCT_MAX; i++)
		w->sum->v[i] += v[i] = total(&c, (enum acct)i);
	if (!w->endpoints)
		return 0;
	o = json_pack("{s:s, s:s, s:s, s:s}", "container_id", e->container_id, "ifname", e->ifname,
		      "network", e->network->name, "host_ifname", e->lease ? "" : e->host_ifname);
	if (!o || json_array_append_new(w->endpoints, traffic_json(v, o)) < 0 ||
	    json_object_set_new(o, "drops", drops_json(v, true, false, false)) < 0)
		return tk_err_set(w->err, -ENOMEM, "out of memory");
	return 0;
}

/*
 * The networks ordered by tenant (then as listed), so that a reading walks each tenant's own
 * instead of every network for every tenant (16 million steps at 4,096 tenants).  Made for each
 * reading or slice: networks come and go between two slices.
 */
struct net_ref {
	struct network *n;
	size_t pos;
};
struct by_tenant {
	struct net_ref *v;
	size_t count;
};

static int net_ref_cmp(const void *a, const void *b)
{
	const struct net_ref *x = a, *y = b;
	int64_t i = x->n->tenant->id, j = y->n->tenant->id;

	return i != j ? (i < j ? -1 : 1) : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

static int by_tenant_make(struct manager *m, struct by_tenant *ret, tk_err *err)
{
	size_t n = 0;

	*ret = (struct by_tenant){};
	for (struct network *x = m->networks; x; x = x->next)
		n++;
	if (n && !(ret->v = calloc(n, sizeof(*ret->v))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	n = 0;
	for (struct network *x = m->networks; x; x = x->next, n++)
		ret->v[n] = (struct net_ref){ x, n };
	if (n > 1)
		qsort(ret->v, n, sizeof(*ret->v), net_ref_cmp);
	ret->count = n;
	return 0;
}

/* Where t's networks start in b (b->count when it has none). */
static size_t by_tenant_first(const struct by_tenant *b, const struct tk_tenant *t)
{
	size_t lo = 0, hi = b->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->v[mid].n->tenant->id < t->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * t's totals (its own row, its networks', and sum: what its endpoints' walk added up) into out
 * (NULL: only recorded), and with details its networks' and endpoints (the walk's array).
 * Endpoints are walked apart, all tenants' in one query (collect) or by pages (the save): one
 * query per tenant scanned every endpoint row each time (4,096 scans of 10,000 rows).
 */
static int tenant_walk(struct manager *m, struct snapshot *snap, const struct by_tenant *nets,
		       struct tk_tenant *t, json_t *out, bool details, struct tenant_sum *sum,
		       json_t *endpoints, tk_err *err)
{
	json_t *networks = NULL, *o;
	struct counters c;
	int r;

	if (out && details &&
	    (!(networks = json_array()) ||
	     json_object_set_new(out, "endpoints", json_incref(endpoints)) < 0 ||
	     json_object_set_new(out, "networks", networks) < 0))
		return tk_err_set(err, -ENOMEM, "out of memory");
	for (size_t k = by_tenant_first(nets, t); k < nets->count && nets->v[k].n->tenant == t;
	     k++) {
		struct network *n = nets->v[k].n;
		const uint64_t *v;

		if ((r = load(m, KIND_NETWORK, n->id, &c, err)) < 0)
			return r;
		if ((v = table_get(&snap->t[ISOLATION], n->bridge)))
			observe(&c, ACCT_ISOLATION, v[0]);
		if ((r = store(m, KIND_NETWORK, n->id, t->id, &c, err)) < 0)
			return r;
		sum->v[ACCT_ISOLATION] += total(&c, ACCT_ISOLATION);
		if (networks &&
		    (!(o = json_pack("{s:s, s:{s:I}}", "name", n->name, "drops", "isolation",
				     (json_int_t)total(&c, ACCT_ISOLATION))) ||
		     json_array_append_new(networks, o) < 0))
			return tk_err_set(err, -ENOMEM, "out of memory");
	}
	if ((r = load(m, KIND_TENANT, t->id, &c, err)) < 0)
		return r;
	observe_tenant(snap, t, &c);
	if ((r = store(m, KIND_TENANT, t->id, t->id, &c, err)) < 0)
		return r;
	for (int i = 0; i < _ACCT_MAX; i++)
		sum->v[i] += total(&c, (enum acct)i);
	if (out && (!traffic_json(sum->v, out) ||
		    json_object_set_new(out, "drops", drops_json(sum->v, true, true, true)) < 0))
		return tk_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* A tenant being read by collect: its answer, its endpoints' sums and rows. */
struct tenant_state {
	struct tk_tenant *t;
	json_t *out;
	json_t *endpoints; /* with details */
	struct tenant_sum sum;
};

static int tenant_state_cmp(const void *a, const void *b)
{
	int64_t i = ((const struct tenant_state *)a)->t->id,
		j = ((const struct tenant_state *)b)->t->id;

	return i < j ? -1 : i > j;
}

struct collect_ctx {
	struct manager *m;
	struct snapshot *snap;
	struct tenant_state *ts;
	size_t n;
	tk_err *err;
};

/* One endpoint of the single walk over all of them, into its tenant's sums (if it is read). */
static int collect_endpoint_cb(struct endpoint *e, void *userdata)
{
	struct collect_ctx *x = userdata;
	struct tenant_state key = { .t = e->network->tenant }, *ts;
	struct walk w;

	if (!(ts = bsearch(&key, x->ts, x->n, sizeof(*x->ts), tenant_state_cmp)))
		return 0;
	w = (struct walk){ x->m, x->snap, &ts->sum, ts->endpoints, x->err };
	return endpoint_cb(e, &w);
}

static void tenant_states_free(struct tenant_state *ts, size_t n)
{
	for (size_t i = 0; ts && i < n; i++)
		json_decref(ts[i].endpoints);
	free(ts);
}

static const unsigned all_tables = (1u << _TABLES) - 1;

static unsigned save_gen; /* bumped when a save in progress must read the kernel again */

/*
 * Reads the tenants c may see (only: just that one), records what moved, answers in ret (with
 * each tenant's endpoints and networks when details).
 */
static int collect(struct manager *m, const struct tk_caller *c, struct tk_tenant *only,
		   json_t *ret, bool details, tk_err *err)
{
	_cleanup_free_ struct net_ref *refs = NULL;
	struct tenant_state *ts = NULL;
	struct collect_ctx x;
	struct by_tenant nets;
	struct snapshot snap;
	size_t n = 0;
	int r = 0;

	if ((r = by_tenant_make(m, &nets, err)) < 0)
		return r;
	refs = nets.v;
	for (struct tk_tenant *t = m->tenants.list; t; t = t->next)
		n++;
	if (n && !(ts = calloc(n, sizeof(*ts))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	n = 0;
	for (struct tk_tenant *t = m->tenants.list; t; t = t->next) {
		json_t *o = NULL;

		if ((only && t != only) || (c && tk_tenant_may_manage(c, t, NULL) < 0))
			continue;
		ts[n].t = t;
		if ((ret && (!(o = json_pack("{s:s}", "name", t->name)) ||
			     json_array_append_new(ret, o) < 0)) ||
		    (ret && details && !(ts[n].endpoints = json_array()))) {
			tenant_states_free(ts, n + 1);
			return tk_err_set(err, -ENOMEM, "out of memory");
		}
		ts[n++].out = o;
	}
	if (n > 1)
		qsort(ts, n, sizeof(*ts), tenant_state_cmp);
	snapshot_read(m, &snap, all_tables);
	if ((r = tk_store_begin_ephemeral(m->store, err)) < 0)
		goto out;
	x = (struct collect_ctx){ m, &snap, ts, n, err };
	r = db_endpoints_foreach(m, NULL, only, collect_endpoint_cb, &x, err);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = tenant_walk(m, &snap, &nets, ts[i].t, ts[i].out, details, &ts[i].sum,
				ts[i].endpoints, err);
	if (r < 0 || (r = tk_store_commit(m->store, err)) < 0)
		tk_store_rollback(m->store);
	/*
	 * A save in progress reads the kernel again: its reading is older than what this stored,
	 * and observe() would take the difference for a counter that started over, and count the
	 * counter's whole life twice.
	 */
	save_gen++;
out:
	snapshot_free(&snap);
	tenant_states_free(ts, n);
	return r;
}

int accounting_stats(struct manager *m, const struct tk_caller *c, const char *tenant, json_t **ret,
		     tk_err *err)
{
	_cleanup_(json_decrefp) json_t *tenants = json_array();
	struct tk_tenant *t = NULL;
	int r;

	if (!tenants)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (tenant && (r = tk_tenant_find(&m->tenants, c, tenant, &t, err)) < 0)
		return r;
	/* Every tenant's endpoints could be more than a message holds: those of one tenant. */
	if ((r = collect(m, c, t, tenants, t != NULL, err)) < 0)
		return tk_err_wrap(err, r, "reading the counters");
	if (!(*ret = json_pack("{s:O}", "tenants", tenants)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

void accounting_save(struct manager *m)
{
	tk_err err = {};

	if (collect(m, NULL, NULL, NULL, false, &err) < 0)
		log_warning("Saving the traffic counters, ignoring: %s", err.msg);
}

/*
 * The periodic save, in slices: a reading of every counter holds the state lock for as long as
 * it takes, and an attach would wait that long.  So a pass reads the kernel's counters once and
 * then records them a slice at a time, each slice in its own transaction, the lock released
 * between slices: SAVE_SLICE_OBJECTS endpoints by id, then tenants with their networks.  The
 * snapshot stays valid across slices as long as no counter was about to start over: a detach,
 * a network or limit gone, a rebuild (save_gen) have the next slice read it again.  (Veth names
 * are never reused.)  What is made meanwhile is read too (its counters start at 0); a tenant list
 * that changed shape may have one tenant skipped or read twice in this pass, which the next
 * pass, or the reading when it goes, makes up for.
 */
#define SAVE_SLICE_OBJECTS 256

static struct {
	bool active;
	struct snapshot snap;
	unsigned gen;
	int64_t after; /* endpoints first, by id: the last one recorded; -1 when all are */
	size_t next;   /* then tenants with their networks: position in the tenant list */
} save_pass;

/* The next SAVE_SLICE_OBJECTS endpoints after save_pass.after, or the next tenants'. */
static int save_slice(struct manager *m, const struct by_tenant *nets, bool *ret_done, tk_err *err)
{
	struct tenant_sum sum = {};
	struct walk w = { m, &save_pass.snap, &sum, NULL, err };
	size_t pos = 0, objects = 0;
	struct tk_tenant *t;
	int64_t last = 0;
	int r;

	*ret_done = false;
	if (save_pass.after >= 0) {
		r = db_endpoints_page(m, NULL, NULL, save_pass.after, SAVE_SLICE_OBJECTS,
				      endpoint_cb, &w, &last, err);
		if (r >= 0)
			save_pass.after = last > 0 ? last : -1;
		return r;
	}
	for (t = m->tenants.list; t && pos < save_pass.next; t = t->next)
		pos++;
	for (; t && objects < SAVE_SLICE_OBJECTS; t = t->next, pos++) {
		objects += 1 + t->n_networks;
		sum = (struct tenant_sum){};
		if ((r = tenant_walk(m, &save_pass.snap, nets, t, NULL, false, &sum, NULL, err)) <
		    0)
			return r;
	}
	save_pass.next = pos;
	*ret_done = !t;
	return 0;
}

bool accounting_save_step(struct manager *m)
{
	_cleanup_free_ struct net_ref *refs = NULL;
	struct by_tenant nets;
	bool done = true;
	tk_err err = {};
	int r;

	if (by_tenant_make(m, &nets, &err) < 0) {
		log_warning("Saving the traffic counters, ignoring: %s", err.msg);
		return true;
	}
	refs = nets.v;
	if (!save_pass.active || save_pass.gen != save_gen) {
		if (save_pass.active) {
			snapshot_free(&save_pass.snap);
		} else {
			save_pass.after = 0;
			save_pass.next = 0;
		}
		snapshot_read(m, &save_pass.snap, all_tables);
		save_pass.active = true;
		save_pass.gen = save_gen;
	}
	if ((r = tk_store_begin_ephemeral(m->store, &err)) >= 0) {
		r = save_slice(m, &nets, &done, &err);
		if (r < 0 || (r = tk_store_commit(m->store, &err)) < 0)
			tk_store_rollback(m->store);
	}
	if (r < 0)
		log_warning("Saving the traffic counters, ignoring: %s", err.msg);
	if (!done && r >= 0)
		return false;
	snapshot_free(&save_pass.snap);
	save_pass.active = false;
	return true;
}

/* ---- the metrics ------------------------------------------------------------------------ */

static const struct {
	const char *name, *help;
	enum acct i;
} traffic_metrics[] = {
	{ "transmit_bytes_total", "Bytes sent by the containers (their host veths' receive).",
	  ACCT_TX_BYTES },
	{ "transmit_packets_total", "Packets sent by the containers.", ACCT_TX_PACKETS },
	{ "receive_bytes_total", "Bytes delivered to the containers.", ACCT_RX_BYTES },
	{ "receive_packets_total", "Packets delivered to the containers.", ACCT_RX_PACKETS },
};

static uint64_t value_of(json_t *o, enum acct i)
{
	return (uint64_t)json_integer_value(json_object_get(o, acct_names[i]));
}

static void metrics_write(struct tk_prom *p, json_t *tenants)
{
	static const char *const reasons[] = { "spoofing", "isolation", "limit" };
	char name[96], help[160];
	size_t i, j;
	json_t *t, *e;

	for (size_t k = 0; k < ELEMENTSOF(traffic_metrics); k++) {
		snprintf(name, sizeof(name), "tenantkit_tenant_%s", traffic_metrics[k].name);
		snprintf(help, sizeof(help), "Per tenant: %s", traffic_metrics[k].help);
		tk_prom_family(p, name, "counter", help);
		json_array_foreach(tenants, i, t)
		{
			const char *l[] = { "tenant",
					    json_string_value(json_object_get(t, "name")) };
			tk_prom_sample(p, l, 1, value_of(t, traffic_metrics[k].i));
		}
	}
	tk_prom_family(p, "tenantkit_tenant_drops_total", "counter",
		       "Per tenant: packets dropped, by reason (spoofing, isolation, limit).");
	json_array_foreach(tenants, i, t)
	{
		json_t *drops = json_object_get(t, "drops");

		for (size_t k = 0; k < ELEMENTSOF(reasons); k++) {
			const char *l[] = { "tenant", json_string_value(json_object_get(t, "name")),
					    "reason", reasons[k] };
			tk_prom_sample(
				p, l, 2,
				(uint64_t)json_integer_value(json_object_get(drops, reasons[k])));
		}
	}
	for (size_t k = 0; k < ELEMENTSOF(traffic_metrics); k++) {
		snprintf(name, sizeof(name), "tenantkit_endpoint_%s", traffic_metrics[k].name);
		snprintf(help, sizeof(help), "Per endpoint: %s", traffic_metrics[k].help);
		tk_prom_family(p, name, "counter", help);
		json_array_foreach(tenants, i, t)
		{
			json_array_foreach(json_object_get(t, "endpoints"), j, e)
			{
				const char *l[] = {
					"tenant",
					json_string_value(json_object_get(t, "name")),
					"network",
					json_string_value(json_object_get(e, "network")),
					"endpoint",
					json_string_value(json_object_get(e, "container_id")),
					"ifname",
					json_string_value(json_object_get(e, "ifname")),
				};
				tk_prom_sample(p, l, 4, value_of(e, traffic_metrics[k].i));
			}
		}
	}
}

int accounting_metrics(struct manager *m, struct tk_prom *p, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *tenants = json_array();
	int r;

	if (!tenants)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = collect(m, NULL, NULL, tenants, true, err)) < 0)
		return r;
	metrics_write(p, tenants);
	return 0;
}

/* ---- objects that go, counters about to start over --------------------------------------- */

/* Adds what c counted to its tenant's row and forgets c's rows (in the caller's transaction). */
static int roll_into_tenant(struct manager *m, enum kind kind, int64_t id,
			    const struct tk_tenant *t, const struct counters *c, tk_err *err)
{
	struct counters tc;
	int r;

	if ((r = load(m, KIND_TENANT, t->id, &tc, err)) < 0)
		return r;
	for (int i = 0; i < _ACCT_MAX; i++)
		if (total(c, (enum acct)i) > 0) {
			tc.base[i] += total(c, (enum acct)i);
			tc.dirty |= 1u << i;
		}
	if ((r = store(m, KIND_TENANT, t->id, t->id, &tc, err)) < 0)
		return r;
	return forget(m, kind, id, err);
}

int accounting_endpoint_gone(struct manager *m, const struct endpoint *e, bool veth_gone,
			     tk_err *err)
{
	struct counters c;
	struct tk_link_info l;
	uint64_t v;
	tk_err kerr = {};
	int r;
	save_gen++; /* a save in progress reads the kernel again */

	if ((r = load(m, KIND_ENDPOINT, e->id, &c, err)) < 0)
		return r;
	/* A veth the kernel deleted took its counters along: the last reading stands. */
	if (!e->lease && !veth_gone) {
		if ((r = tk_nl_link_get(m->nl, e->host_ifname, &l, &kerr)) >= 0) {
			observe(&c, ACCT_TX_BYTES, l.rx_bytes);
			observe(&c, ACCT_TX_PACKETS, l.rx_packets);
			observe(&c, ACCT_RX_BYTES, l.tx_bytes);
			observe(&c, ACCT_RX_PACKETS, l.tx_packets);
		} else if (r != -ENODEV) {
			log_warning("Reading the counters of '%s', ignoring: %s", e->host_ifname,
				    kerr.msg);
		}
	}
	if (!e->lease) {
		r = firewall_drops_get(m, FIREWALL_DROPS_SPOOFING, e->host_ifname, &v, &kerr);
		if (r >= 0)
			observe(&c, ACCT_SPOOFING, v);
		else if (r != -ENOENT)
			log_warning("Reading the drops of '%s', ignoring: %s", e->host_ifname,
				    kerr.msg);
	}
	return roll_into_tenant(m, KIND_ENDPOINT, e->id, e->network->tenant, &c, err);
}

int accounting_network_gone(struct manager *m, const struct network *n, tk_err *err)
{
	struct counters c;
	uint64_t v;
	tk_err kerr = {};
	int r;
	save_gen++; /* a save in progress reads the kernel again */

	if ((r = load(m, KIND_NETWORK, n->id, &c, err)) < 0)
		return r;
	r = firewall_drops_get(m, FIREWALL_DROPS_ISOLATION, n->bridge, &v, &kerr);
	if (r >= 0)
		observe(&c, ACCT_ISOLATION, v);
	else if (r != -ENOENT)
		log_warning("Reading the drops of '%s', ignoring: %s", n->bridge, kerr.msg);
	return roll_into_tenant(m, KIND_NETWORK, n->id, n->tenant, &c, err);
}

static int fold_endpoint_cb(struct endpoint *e, void *userdata)
{
	struct walk *w = userdata;
	struct counters c;
	const uint64_t *v;
	int r;

	if (e->lease)
		return 0;
	if ((r = load(w->m, KIND_ENDPOINT, e->id, &c, w->err)) < 0)
		return r;
	if ((v = table_get(&w->snap->t[SPOOFING], e->host_ifname)))
		observe(&c, ACCT_SPOOFING, v[0]);
	fold(&c, ACCT_SPOOFING);
	return store(w->m, KIND_ENDPOINT, e->id, e->network->tenant->id, &c, w->err);
}

static int fold_firewall(struct manager *m, struct snapshot *snap, tk_err *err)
{
	struct walk w = { .m = m, .snap = snap, .err = err };
	struct counters c;
	int r;

	for (struct network *n = m->networks; n; n = n->next) {
		const uint64_t *v;

		if ((r = load(m, KIND_NETWORK, n->id, &c, err)) < 0)
			return r;
		if ((v = table_get(&snap->t[ISOLATION], n->bridge)))
			observe(&c, ACCT_ISOLATION, v[0]);
		fold(&c, ACCT_ISOLATION);
		if ((r = store(m, KIND_NETWORK, n->id, n->tenant->id, &c, err)) < 0)
			return r;
	}
	return db_endpoints_foreach(m, NULL, NULL, fold_endpoint_cb, &w, err);
}

void accounting_before_rebuild(struct manager *m)
{
	struct snapshot snap;
	tk_err err = {};
	int r;
	save_gen++; /* a save in progress reads the kernel again */

	snapshot_read(m, &snap, 1u << SPOOFING | 1u << ISOLATION);
	/* Unreadable counters are not folded: their next reading finds out what happened. */
	if (snap.t[SPOOFING].ok && snap.t[ISOLATION].ok) {
		if ((r = tk_store_begin_ephemeral(m->store, &err)) >= 0 &&
		    (r = fold_firewall(m, &snap, &err)) >= 0)
			r = tk_store_commit(m->store, &err);
		if (r < 0) {
			tk_store_rollback(m->store);
			log_warning("Keeping the drop counters before the ruleset is rebuilt, "
				    "ignoring: %s",
				    err.msg);
		}
	}
	snapshot_free(&snap);
}

void accounting_limits_gone(struct manager *m, int dir, int ifindex, const struct tk_tenant *only)
{
	struct snapshot snap = {};
	struct table *t = &snap.t[LIMIT_EGRESS + dir];
	enum acct i = (enum acct)(ACCT_LIMIT_EGRESS + dir);
	struct counters c;
	tk_err err = {};
	int r;
	save_gen++; /* a save in progress reads the kernel again */

	table_done(t, limit_drops(m, ifindex, t, &err), "the limit drops", &err);
	if (!t->ok)
		goto out;
	if ((r = tk_store_begin_ephemeral(m->store, &err)) < 0)
		goto fail;
	for (struct tk_tenant *p = m->tenants.list; p; p = p->next) {
		if (only && p->id != only->id)
			continue;
		if ((r = load(m, KIND_TENANT, p->id, &c, &err)) < 0)
			break;
		observe_tenant(&snap, p, &c);
		fold(&c, i);
		if ((r = store(m, KIND_TENANT, p->id, p->id, &c, &err)) < 0)
			break;
	}
	if (r >= 0 && tk_store_commit(m->store, &err) >= 0)
		goto out;
fail:
	tk_store_rollback(m->store);
	log_warning("Keeping the limit drops before their classes go, ignoring: %s", err.msg);
out:
	snapshot_free(&snap);
}
