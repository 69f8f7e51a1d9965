/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netd --cluster: tenants and networks shared by every host through etcd (docs/cluster.md).
 *
 * etcd is the authority for what exists cluster-wide; each host keeps its SQLite database and its
 * kernel state as today, and applies what etcd says.  A create is made locally first (all of
 * netd's validation, authorisation and kernel work), then published with one txn that fails when
 * the name, subnet or VNI is taken; a lost txn undoes the local create.  A delete is refused by a
 * txn while any host has endpoints on the network (its usage key) or networks of the tenant
 * exist, then made locally; the other hosts follow from the watch.
 *
 * Threads: the keeper (host lease: register, keep alive, re-register after expiry) and the
 * watcher (list, then watch from the list's revision, again after compaction) each use their own
 * etcd handle.  Watch events are queued and applied on the loop thread (cluster_run), like every
 * other change of netd's state.  The loop thread's own etcd handle serves requests.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "json.h"
#include "log.h"
#include "netd.h"
#include "store.h"

#define PREFIX	"/tenantkit/v1/"
#define VNI_MAX ((1 << 24) - 1)
/*
 * Address blocks (cluster-blocks.c): a host's record of a block is one 64-bit map, so a block has
 * at most 64 addresses (/26); at least 4 (/30), or a /24 would be 64 claims for 64 containers.
 */
#define BLOCK_LEN4_DEFAULT 26
#define BLOCK_LEN4_MIN	   26
#define BLOCK_LEN4_MAX	   30
#define LINKS_MAX	   64 /* links of one network that a delete removes from etcd */

struct cluster_event {
	bool deleted;
	char *key, *value;
	int64_t rev; /* the key's mod revision (of the delete for a delete) */
	struct cluster_event *next;
};

struct used {
	char name[TK_NAME_MAX + 1];
	struct used *next;
};

struct cluster {
	struct cluster_config cfg;
	struct tk_etcd *etcd; /* the loop thread's */
	pthread_t keeper, watcher;
	bool threads;
	volatile bool stop;
	int efd;

	pthread_mutex_t lock; /* over what follows */
	int64_t lease;	      /* 0: not registered */
	bool healthy;
	char error[512];
	int64_t last_ok;		    /* time of the last answer from etcd */
	struct cluster_event *queue, *last; /* from the watcher */
	struct used *used;		    /* networks this host published usage keys for */

	bool sync_wanted; /* the loop's, under the state lock: see cluster_sync_later */
};

static void key_of(char *buf, size_t size, const char *kind, const char *name)
{
	snprintf(buf, size, PREFIX "%s/%s", kind, name);
}

static void set_health(struct cluster *cl, int r, const tk_err *err)
{
	pthread_mutex_lock(&cl->lock);
	if (r >= 0) {
		cl->healthy = true;
		cl->error[0] = '\0';
		cl->last_ok = time(NULL);
	} else {
		cl->healthy = false;
		snprintf(cl->error, sizeof(cl->error), "%s", err ? err->msg : strerror(-r));
	}
	pthread_mutex_unlock(&cl->lock);
}

/* ---- the host lease ---- */

static int host_value(struct cluster *cl, char **ret)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "host", cl->cfg.host, "underlay",
			      cl->cfg.underlay, "ttl", (json_int_t)cl->cfg.ttl, "since",
			      (json_int_t)time(NULL));

	*ret = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return *ret ? 0 : -ENOMEM;
}

/*
 * Grants a lease and puts hosts/<me> with it: refused while another live host holds the name
 * (its underlay differs); a previous run of this host (same underlay) is replaced.  Then the
 * member record and the usage keys this host publishes.
 */
static int host_register(struct cluster *cl, struct tk_etcd *e, tk_err *err)
{
	char key[512], mkey[512];
	_cleanup_free_ char *value = NULL;
	struct tk_etcd_kvs kvs = {};
	int64_t lease, mod = 0;
	bool ok;
	int r;

	key_of(key, sizeof(key), "hosts", cl->cfg.host);
	key_of(mkey, sizeof(mkey), "members", cl->cfg.host);
	if (host_value(cl, &value) < 0)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = tk_etcd_get(e, key, false, &kvs, err)) < 0)
		return r;
	if (kvs.n == 1) {
		_cleanup_(json_decrefp) json_t *o = json_loads(kvs.kv[0].value, 0, NULL);
		const char *underlay = json_string_value(json_object_get(o, "underlay"));

		if (!underlay || strcmp(underlay, cl->cfg.underlay) != 0) {
			r = tk_err_set(err, -EEXIST,
				       "host name '%s' is taken by a live host with underlay '%s'",
				       cl->cfg.host, underlay ? underlay : "?");
			tk_etcd_kvs_done(&kvs);
			return r;
		}
		mod = kvs.kv[0].mod_revision;
	}
	tk_etcd_kvs_done(&kvs);
	if ((r = tk_etcd_lease_grant(e, cl->cfg.ttl, &lease, err)) < 0)
		return r;
	{
		/* Only over what was read: two hosts starting under one name at once, one wins. */
		const struct tk_etcd_cmp cmp[] = {
			{ .key = key, .target = mod ? TK_ETCD_MOD : TK_ETCD_CREATE, .number = mod },
		};
		const struct tk_etcd_op ops[] = {
			{ .kind = TK_ETCD_OP_PUT, .key = key, .value = value, .lease = lease },
			{ .kind = TK_ETCD_OP_PUT, .key = mkey, .value = value },
		};
		if ((r = tk_etcd_txn(e, cmp, 1, ops, 2, NULL, 0, &ok, NULL, err)) >= 0 && !ok)
			r = tk_err_set(err, -EAGAIN,
				       "host name '%s' was taken by another host meanwhile",
				       cl->cfg.host);
		if (r < 0) {
			(void)tk_etcd_lease_revoke(e, lease, NULL);
			return r;
		}
	}
	pthread_mutex_lock(&cl->lock);
	cl->lease = lease;
	pthread_mutex_unlock(&cl->lock);
	/*
	 * The loop may have seen hosts/<me> come back through the watch before the lease was set
	 * here, and then had no lease to claim back blocks and publish endpoints with: a sync
	 * now does both.
	 */
	(void)!write(cl->efd, &(uint64_t){ 1 }, sizeof(uint64_t));
	log_info("cluster: host '%s' registered (underlay %s, lease %" PRIx64 ", TTL %u s)",
		 cl->cfg.host, cl->cfg.underlay, (uint64_t)lease, cl->cfg.ttl);
	return 0;
}

static void sleep_ms(struct cluster *cl, unsigned ms)
{
	for (unsigned t = 0; t < ms && !cl->stop; t += 100)
		usleep(100 * 1000);
}

static void *keeper_thread(void *userdata)
{
	struct cluster *cl = userdata;
	struct tk_etcd *e = NULL;
	tk_err err = {};

	if (tk_etcd_open(cl->cfg.endpoints, 1000 * cl->cfg.ttl / 3, &e, &err) < 0) {
		log_error("cluster: %s", err.msg);
		return NULL;
	}
	while (!cl->stop) {
		int64_t lease, ttl;
		bool was_healthy;
		int r;

		sleep_ms(cl, 1000 * cl->cfg.ttl / 3);
		if (cl->stop)
			break;
		pthread_mutex_lock(&cl->lock);
		lease = cl->lease;
		pthread_mutex_unlock(&cl->lock);
		if (lease == 0)
			r = host_register(cl, e, &err);
		else if ((r = tk_etcd_lease_keepalive(e, lease, &ttl, &err)) == -ENOENT) {
			/* Expired while etcd did not hear from us: everything under it is gone. */
			log_warning("cluster: the lease of host '%s' expired; registering again",
				    cl->cfg.host);
			pthread_mutex_lock(&cl->lock);
			cl->lease = 0;
			pthread_mutex_unlock(&cl->lock);
			r = host_register(cl, e, &err);
		}
		/* Once per outage, not at every renewal. */
		pthread_mutex_lock(&cl->lock);
		was_healthy = cl->healthy;
		pthread_mutex_unlock(&cl->lock);
		if (r < 0 && was_healthy)
			log_warning("cluster: %s", err.msg);
		else if (r >= 0 && !was_healthy)
			log_info("cluster: etcd answers again");
		set_health(cl, r, &err);
	}
	tk_etcd_close(e);
	return NULL;
}

/* ---- the watch ---- */

static void queue_event(struct cluster *cl, bool deleted, const char *key, const char *value,
			int64_t rev)
{
	struct cluster_event *ev = calloc(1, sizeof(*ev));
	uint64_t one = 1;

	if (!ev || !(ev->key = strdup(key)) || !(ev->value = strdup(value ? value : ""))) {
		if (ev)
			free(ev->key);
		free(ev);
		log_error("cluster: out of memory queueing '%s'", key);
		return;
	}
	ev->deleted = deleted;
	ev->rev = rev;
	pthread_mutex_lock(&cl->lock);
	if (cl->last)
		cl->last->next = ev;
	else
		cl->queue = ev;
	cl->last = ev;
	pthread_mutex_unlock(&cl->lock);
	(void)!write(cl->efd, &one, sizeof(one));
}

static int on_watch_event(const struct tk_etcd_event *ev, void *userdata)
{
	queue_event(userdata, ev->deleted, ev->kv.key, ev->deleted ? ev->prev.value : ev->kv.value,
		    ev->kv.mod_revision);
	return 0;
}

/* A full list: one "sync" marker (key ""), then every key, so cluster_run can see what is gone. */
static int list_all(struct cluster *cl, struct tk_etcd *e, int64_t *ret_revision, tk_err *err)
{
	struct tk_etcd_kvs kvs = {};
	int r;

	if ((r = tk_etcd_get(e, PREFIX, true, &kvs, err)) < 0)
		return r;
	queue_event(cl, false, "", "begin", 0);
	for (size_t i = 0; i < kvs.n; i++)
		queue_event(cl, false, kvs.kv[i].key, kvs.kv[i].value, kvs.kv[i].mod_revision);
	queue_event(cl, false, "", "end", 0);
	*ret_revision = kvs.revision;
	tk_etcd_kvs_done(&kvs);
	return 0;
}

static void *watcher_thread(void *userdata)
{
	struct cluster *cl = userdata;
	struct tk_etcd *e = NULL;
	int64_t next = 0;
	bool warned = false;
	tk_err err = {};

	if (tk_etcd_open(cl->cfg.endpoints, 3000, &e, &err) < 0) {
		log_error("cluster: %s", err.msg);
		return NULL;
	}
	while (!cl->stop) {
		int64_t revision;
		int r;

		if (next == 0) {
			if (list_all(cl, e, &revision, &err) < 0) {
				if (!warned)
					log_warning("cluster: listing %s: %s", PREFIX, err.msg);
				warned = true;
				sleep_ms(cl, 1000);
				continue;
			}
			warned = false;
			next = revision + 1;
		}
		r = tk_etcd_watch(e, PREFIX, true, next, on_watch_event, cl, &cl->stop, &next,
				  &err);
		if (r == -ECANCELED)
			break;
		if (r == -ERANGE)
			next = 0; /* compacted: list again */
		log_debug("cluster: watch ended (%s); resuming at revision %" PRId64, err.msg,
			  next);
		sleep_ms(cl, 500);
	}
	tk_etcd_close(e);
	return NULL;
}

/* ---- applying what etcd says ---- */

static int seen_set(struct manager *m, const char *kind, const char *name, bool seen)
{
	sqlite3_stmt *st;
	int r;

	r = tk_store_stmt(m->store,
			  seen ? "INSERT OR IGNORE INTO cluster_seen (kind, name) VALUES (?, ?)"
			       : "DELETE FROM cluster_seen WHERE kind = ? AND name = ?",
			  &st, NULL);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return tk_store_step_done(m->store, st, NULL);
}

static bool seen_get(struct manager *m, const char *kind, const char *name)
{
	sqlite3_stmt *st;

	if (tk_store_stmt(m->store, "SELECT 1 FROM cluster_seen WHERE kind = ? AND name = ?", &st,
			  NULL) < 0)
		return false;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_ROW;
}

/*
 * A change the cluster made, applied as root's request would be (the same checks and side
 * effects: shaping, host ports, the database).
 */
static int apply_op(struct manager *m, const char *op, json_t *args, tk_err *err)
{
	static const struct tk_caller root = { .admin = true, .passed_fd = -1 };
	_cleanup_(json_decrefp) json_t *req = json_pack("{s:s, s:O}", "op", op, "args", args);
	_cleanup_(json_decrefp) json_t *reply = req ? rpc_dispatch(m, &root, req) : NULL;
	json_t *e = json_object_get(reply, "error");
	json_int_t code = json_integer_value(json_object_get(e, "code"));

	if (!reply)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	return tk_err_set(err, code > 0 ? -(int)code : -EIO, "%s",
			  json_string_value(json_object_get(e, "msg")) ?: "failed");
}

/* The limits tenant.set changes, and host_ports (the rest of a tenant is fixed at its creation). */
static bool tenant_settable(const char *k)
{
	return strncmp(k, "max_", 4) == 0 || strcmp(k, "egress") == 0 ||
	       strcmp(k, "ingress") == 0 || strcmp(k, "weight") == 0 ||
	       strcmp(k, "host_ports") == 0;
}

/* Where a tenant's record in etcd differs from this host's copy: tenant.set with the differences. */
static void tenant_follow(struct manager *m, struct tk_tenant *t, json_t *rec)
{
	_cleanup_(json_decrefp) json_t *cur = tk_tenant_to_json(&m->tenants, t);
	_cleanup_(json_decrefp) json_t *set = json_pack("{s:s}", "name", t->name);
	char name[TK_NAME_MAX + 1];
	const char *k;
	json_t *v;
	tk_err err = {};

	if (!cur || !set)
		return;
	json_object_foreach(rec, k, v)
	{
		json_t *have = json_object_get(cur, k);

		if (tenant_settable(k) && have && !json_equal(have, v))
			json_object_set(set, k, v);
	}
	if (json_object_size(set) < 2)
		return;
	snprintf(name, sizeof(name), "%s", t->name);
	if (apply_op(m, "tenant.set", set, &err) < 0)
		log_error("cluster: cannot change tenant '%s' as the cluster did: %s", name,
			  err.msg);
	else
		log_info("cluster: changed the limits of tenant '%s' as the cluster did", name);
}

/* The record's owner (absent: none) is the local tenant's. */
static bool same_owner(const struct tk_tenant *t, json_t *rec)
{
	json_t *uid = json_object_get(rec, "owner_uid"), *gid = json_object_get(rec, "owner_gid");

	return (uid ? json_integer_value(uid) : -1) == t->owner_uid &&
	       (gid ? json_integer_value(gid) : -1) == t->owner_gid;
}

static void apply_tenant(struct manager *m, const char *name, const char *value, bool deleted)
{
	struct tk_tenant *t = tk_tenant_get(&m->tenants, name);
	_cleanup_(json_decrefp) json_t *o = NULL;
	tk_err err = {};
	int r;

	/* A tenant this host had before it joined, and did not take for the cluster's, is its own. */
	if (t && !seen_get(m, "tenant", name) && deleted)
		return;
	if (deleted) {
		_cleanup_(json_decrefp) json_t *args = json_pack("{s:s}", "name", name);

		if (t && (r = apply_op(m, "tenant.delete", args, &err)) < 0)
			log_error(
				"cluster: tenant '%s' was deleted in the cluster but not here: %s",
				name, err.msg);
		else if (t)
			log_info("cluster: deleted tenant '%s' as the cluster did", name);
		if (!t || r >= 0)
			(void)seen_set(m, "tenant", name, false);
		return;
	}
	if (tk_json_parse(value, strlen(value), "cluster tenant", &o, &err) < 0) {
		log_error("cluster: tenant '%s': %s", name, err.msg);
		return;
	}
	/*
	 * A tenant this host had before it joined is the cluster's only with the same owner: else
	 * this host's owner would manage the cluster's networks of that name, which reach the other
	 * owner's containers on every other host.
	 */
	if (t && !seen_get(m, "tenant", name) && !same_owner(t, o)) {
		log_error("cluster: the cluster's tenant '%s' has another owner than this host's "
			  "tenant of that name: this host keeps its own and takes none of the "
			  "cluster's networks of that tenant; rename one of them",
			  name);
		return;
	}
	(void)seen_set(m, "tenant", name, true);
	if (t)
		tenant_follow(m, t, o);
	else if (apply_op(m, "tenant.create", o, &err) < 0)
		log_error("cluster: cannot create tenant '%s' of the cluster: %s", name, err.msg);
	else
		log_info("cluster: created tenant '%s' of the cluster", name);
}

/* Whether a subnet of the cluster's record (NULL: none) is the local network's (has, prefix). */
static bool same_subnet(const char *subnet, bool has, const struct tk_prefix *prefix)
{
	struct tk_prefix q;

	if (!subnet)
		return !has;
	return has && tk_prefix_parse(subnet, &q, NULL) >= 0 && q.len == prefix->len &&
	       tk_addr_equal(&q.addr, &prefix->addr);
}

/*
 * A network this host had before the cluster's record of that name came (made before it joined
 * the cluster) joins the cluster's only when it is the same: the same tenant's, with the same
 * subnets.  Another tenant's would be bridged to the cluster's through the overlay.
 */
static bool joins(struct manager *m, const struct network *n, const char *tenant,
		  const struct network_params *p)
{
	return strcmp(n->tenant->name, tenant) == 0 && seen_get(m, "tenant", tenant) &&
	       same_subnet(p->subnet4, n->has4, &n->subnet4) &&
	       same_subnet(p->subnet6, n->has6, &n->subnet6);
}

/* false: this host has no network of the cluster's by that name (then it gets no VNI). */
static bool apply_network(struct manager *m, const char *name, const char *value, bool deleted)
{
	struct network *n = manager_network(m, name), *made = NULL;
	_cleanup_(json_decrefp) json_t *o = NULL;
	struct network_params p = {};
	const char *tenant;
	json_int_t mtu = 1500;
	int nat = 1, internal = 0, r;
	tk_err err = {};

	/* Only the cluster's network goes with its record: a local one of that name stays. */
	if (n && !seen_get(m, "network", name) && deleted)
		return false;
	if (deleted) {
		if (n && (r = network_delete(m, n, &err)) < 0)
			log_error(
				"cluster: network '%s' was deleted in the cluster but not here: %s",
				name, err.msg);
		else if (n)
			log_info("cluster: deleted network '%s' as the cluster did", name);
		if (!n || r >= 0)
			(void)seen_set(m, "network", name, false);
		return false;
	}
	p.name = name;
	p.force = true; /* the creating host checked it; this host's own routes are logged */
	if (tk_json_parse(value, strlen(value), "cluster network", &o, &err) < 0 ||
	    tk_json_unpack_lax(o, "cluster network", &err, "{s:s, s?s, s?s, s?I, s?b, s?b}",
			       "tenant", &tenant, "subnet", &p.subnet4, "subnet6", &p.subnet6,
			       "mtu", &mtu, "nat", &nat, "internal", &internal) < 0) {
		log_error("cluster: network '%s': %s", name, err.msg);
		return n && seen_get(m, "network", name);
	}
	if (n && !seen_get(m, "network", name) && !joins(m, n, tenant, &p)) {
		log_error(
			"cluster: the cluster's network '%s' (tenant '%s', %s) is not this host's "
			"network of that name (tenant '%s'): this host keeps its own and does not "
			"join the cluster's; rename one of them",
			name, tenant,
			p.subnet4   ? p.subnet4
			: p.subnet6 ? p.subnet6
				    : "no subnet",
			n->tenant->name);
		return false;
	}
	if (!n && tk_tenant_get(&m->tenants, tenant) && !seen_get(m, "tenant", tenant)) {
		log_error(
			"cluster: network '%s' is of the cluster's tenant '%s', which is not this "
			"host's tenant of that name: not made here",
			name, tenant);
		return false;
	}
	(void)seen_set(m, "network", name, true);
	if (n)
		return true;
	if (!(p.tenant = tk_tenant_get(&m->tenants, tenant))) {
		log_error("cluster: network '%s' of unknown tenant '%s'", name, tenant);
		return true;
	}
	p.ipv6 = p.subnet6 != NULL;
	p.nat = nat && !internal;
	p.internal = internal;
	p.mtu = (unsigned)mtu;
	if (network_create(m, &p, &made, &err) < 0)
		log_error("cluster: cannot create network '%s' of the cluster: %s", name, err.msg);
	else
		log_info("cluster: created network '%s' (%s) of the cluster", name,
			 p.subnet4 ? p.subnet4 : p.subnet6);
	return true;
}

static json_t *vnis;	    /* network name -> VNI, from the network records */
static json_t *block_sizes; /* network name -> IPv4 block prefix length, where not the default */

static void note_vni(const char *name, const char *value, bool deleted)
{
	_cleanup_(json_decrefp) json_t *o = deleted ? NULL : json_loads(value, 0, NULL);
	json_t *vni = json_object_get(o, "vni"), *bs = json_object_get(o, "block_size");

	if ((!vnis && !(vnis = json_object())) || (!block_sizes && !(block_sizes = json_object())))
		return;
	if (deleted || !json_is_integer(vni))
		json_object_del(vnis, name);
	else
		json_object_set(vnis, name, vni);
	if (json_is_integer(bs) && json_integer_value(bs) >= BLOCK_LEN4_MIN &&
	    json_integer_value(bs) <= BLOCK_LEN4_MAX)
		json_object_set(block_sizes, name, bs);
	else
		json_object_del(block_sizes, name);
}

unsigned cluster_block_len4(const char *network)
{
	json_t *bs = block_sizes ? json_object_get(block_sizes, network) : NULL;

	return bs ? (unsigned)json_integer_value(bs) : BLOCK_LEN4_DEFAULT;
}

static void note_own_usage(struct manager *m, const char *network_host);
static void apply_link(struct manager *m, const char *rest, const char *value, bool deleted);
static void prune_links(struct manager *m, json_t *listed);

static void apply(struct manager *m, const struct cluster_event *ev, json_t *listed)
{
	const char *rest = ev->key + strlen(PREFIX);
	const char *slash = strchr(rest, '/');
	char kind[32];

	if (strncmp(ev->key, PREFIX, strlen(PREFIX)) != 0 || !slash ||
	    (size_t)(slash - rest) >= sizeof(kind))
		return;
	snprintf(kind, sizeof(kind), "%.*s", (int)(slash - rest), rest);
	if (listed)
		json_object_set_new(listed, ev->key, json_true());
	if (strcmp(kind, "tenants") == 0 && !strchr(slash + 1, '/'))
		apply_tenant(m, slash + 1, ev->value, ev->deleted);
	else if (strcmp(kind, "networks") == 0 && !strchr(slash + 1, '/')) {
		note_vni(slash + 1, ev->value, ev->deleted);
		if (!apply_network(m, slash + 1, ev->value, ev->deleted))
			note_vni(slash + 1, NULL, true);
		overlay_endpoints_changed(); /* published only while the network is the cluster's */
		if (ev->deleted)
			cluster_blocks_forget(slash + 1);
	} else if (strcmp(kind, "blocks") == 0) {
		cluster_blocks_event(m, ev->key, ev->value, ev->deleted, ev->rev);
		overlay_note_block(slash + 1, ev->value, ev->deleted);
	} else if (strcmp(kind, "reserved") == 0) {
		if (ev->deleted)
			cluster_blocks_record_gone(m, ev->key, ev->value);
		overlay_note_record(slash + 1, ev->value, ev->deleted);
	} else if (strcmp(kind, "endpoints") == 0)
		overlay_note_endpoint(slash + 1, ev->value, ev->deleted);
	else if (strcmp(kind, "usage") == 0 && !ev->deleted)
		note_own_usage(m, slash + 1);
	else if (strcmp(kind, "links") == 0)
		apply_link(m, slash + 1, ev->value, ev->deleted);
	if (strcmp(kind, "hosts") == 0 && !strchr(slash + 1, '/'))
		overlay_note_host(slash + 1, ev->value, ev->deleted);
	if (strcmp(kind, "hosts") == 0 && ev->deleted)
		log_info("cluster: host '%s' left (its lease ended)", slash + 1);
	else if (strcmp(kind, "hosts") == 0)
		log_debug("cluster: host '%s' is up", slash + 1);
}

/*
 * After a full list: what this host took from the cluster before but the list lacks was deleted
 * while it was away (networks first, then tenants).  What it never saw is its own and stays.
 */
static void prune(struct manager *m, json_t *listed)
{
	char key[512];

	for (struct network *n = m->networks, *next; n; n = next) {
		next = n->next;
		key_of(key, sizeof(key), "networks", n->name);
		if (!json_object_get(listed, key) && seen_get(m, "network", n->name)) {
			char name[TK_NAME_MAX + 1];

			snprintf(name, sizeof(name), "%s", n->name);
			apply_network(m, name, "", true);
		} else if (!json_object_get(listed, key))
			log_info("cluster: network '%s' is local to this host (not in the cluster)",
				 n->name);
	}
	for (struct tk_tenant *t = m->tenants.list, *next; t; t = next) {
		next = t->next;
		key_of(key, sizeof(key), "tenants", t->name);
		if (!json_object_get(listed, key) && seen_get(m, "tenant", t->name)) {
			char name[TK_NAME_MAX + 1];

			snprintf(name, sizeof(name), "%s", t->name);
			apply_tenant(m, name, "", true);
		} else if (!json_object_get(listed, key))
			log_info("cluster: tenant '%s' is local to this host (not in the cluster)",
				 t->name);
	}
}

/*
 * A full list arrives in key order, links/ and networks/ before tenants/: tenants are applied
 * first, links last.
 */
static void apply_list(struct manager *m, struct cluster_event *evs)
{
	_cleanup_(json_decrefp) json_t *listed = json_object();

	cluster_blocks_listed(m, true);
	overlay_list_begin(); /* the list has every endpoint record there is */
	for (int pass = 0; pass < 3; pass++)
		for (struct cluster_event *ev = evs; ev && ev->key[0]; ev = ev->next) {
			int of = strncmp(ev->key, PREFIX "tenants/", strlen(PREFIX "tenants/")) == 0
					 ? 0
				 : strncmp(ev->key, PREFIX "links/", strlen(PREFIX "links/")) == 0
					 ? 2
					 : 1;
			if (of == pass)
				apply(m, ev, listed);
		}
	cluster_blocks_listed(m, false);
	if (listed) {
		prune(m, listed);
		prune_links(m, listed);
	}
}

static void free_events(struct cluster_event *ev)
{
	while (ev) {
		struct cluster_event *next = ev->next;
		free(ev->key);
		free(ev->value);
		free(ev);
		ev = next;
	}
}

static struct cluster *cluster_of(struct manager *m)
{
	return m->cluster;
}

/* endpoints/<net>/<this host>/<mac>: this host's own record coming back through the watch. */
static bool own_record(const struct cluster *cl, const struct cluster_event *ev)
{
	static const char prefix[] = PREFIX "endpoints/";
	const char *net_end, *host_end;

	if (strncmp(ev->key, prefix, strlen(prefix)) != 0 ||
	    !(net_end = strchr(ev->key + strlen(prefix), '/')) ||
	    !(host_end = strchr(net_end + 1, '/')))
		return false;
	return (size_t)(host_end - net_end - 1) == strlen(cl->cfg.host) &&
	       strncmp(net_end + 1, cl->cfg.host, strlen(cl->cfg.host)) == 0;
}

/*
 * Blocks first: a host back from a lost lease claims its blocks again before it publishes the
 * endpoints addressed from them, or the other hosts would refuse each record (an address of a
 * block nobody holds) until the claim came through.
 */
static void sync_now(struct manager *m)
{
	cluster_of(m)->sync_wanted = false;
	cluster_blocks_sync(m);
	cluster_usage_sync(m);
}

void cluster_run(struct manager *m)
{
	struct cluster *cl = cluster_of(m);
	struct cluster_event *evs;
	bool only_own = true;
	uint64_t n;

	if (!cl)
		return;
	(void)!read(cl->efd, &n, sizeof(n));
	tk_server_state_lock();
	pthread_mutex_lock(&cl->lock);
	evs = cl->queue;
	/* A list still being queued is applied whole, next time. */
	for (struct cluster_event *ev = evs; ev; ev = ev->next)
		if (!ev->key[0] && strcmp(ev->value, "begin") == 0) {
			struct cluster_event *end = ev->next;
			while (end && (end->key[0] || strcmp(end->value, "end") != 0))
				end = end->next;
			if (!end) {
				evs = NULL;
				break;
			}
		}
	if (evs)
		cl->queue = cl->last = NULL;
	pthread_mutex_unlock(&cl->lock);
	for (struct cluster_event *ev = evs; ev; ev = ev->next) {
		if (!ev->key[0] && strcmp(ev->value, "begin") == 0) {
			only_own = false;
			apply_list(m, ev->next);
			while (ev->next &&
			       (ev->next->key[0] || strcmp(ev->next->value, "end") != 0))
				ev = ev->next;
			continue;
		}
		if (ev->key[0])
			apply(m, ev, NULL);
		only_own &= ev->key[0] && own_record(cl, ev);
	}
	/*
	 * Only this host's records back from etcd (one per attach or detach): nothing for a sync
	 * to do that the one after the op has not done.  Anything else, or a wake-up without an
	 * event (the publisher's retry, the keeper's new lease), syncs.
	 */
	if (!evs || !only_own)
		sync_now(m);
	free_events(evs);
	tk_server_state_unlock();
}

struct tk_etcd *cluster_etcd(struct manager *m)
{
	return cluster_of(m)->etcd;
}

const char *cluster_host(struct manager *m)
{
	return cluster_of(m)->cfg.host;
}

const char *cluster_underlay(struct manager *m)
{
	return cluster_of(m)->cfg.underlay;
}

int64_t cluster_lease(struct manager *m)
{
	struct cluster *cl = cluster_of(m);
	int64_t lease;

	pthread_mutex_lock(&cl->lock);
	lease = cl->lease;
	pthread_mutex_unlock(&cl->lock);
	return lease;
}

void cluster_health(struct manager *m, int r, const tk_err *err)
{
	set_health(cluster_of(m), r, err);
}

bool cluster_network(struct manager *m, const char *name)
{
	return cluster_of(m) && seen_get(m, "network", name);
}

int cluster_fd(struct manager *m)
{
	struct cluster *cl = cluster_of(m);

	return cl ? cl->efd : -1;
}

/* ---- usage: which hosts have endpoints on a network ---- */

static bool used_has(struct cluster *cl, const char *name)
{
	for (struct used *u = cl->used; u; u = u->next)
		if (strcmp(u->name, name) == 0)
			return true;
	return false;
}

/* Records that this host holds usage/<name>/<me>; false when out of memory. */
static bool used_add(struct cluster *cl, const char *name)
{
	struct used *u;

	pthread_mutex_lock(&cl->lock);
	if (!used_has(cl, name) && (u = calloc(1, sizeof(*u)))) {
		snprintf(u->name, sizeof(u->name), "%s", name);
		u->next = cl->used;
		cl->used = u;
	}
	pthread_mutex_unlock(&cl->lock);
	return used_has(cl, name);
}

/*
 * usage/<network>/<host> seen in the list or the watch: when it is this host's (one a previous
 * run of netd wrote), it is tracked like one written now, so cluster_usage_sync removes it once
 * the network has no endpoint here; otherwise the network would stay undeletable forever.
 */
static void note_own_usage(struct manager *m, const char *network_host)
{
	struct cluster *cl = cluster_of(m);
	const char *slash = strchr(network_host, '/');
	char name[TK_NAME_MAX + 1];

	if (!cl || !slash || strcmp(slash + 1, cl->cfg.host) != 0 ||
	    (size_t)(slash - network_host) >= sizeof(name))
		return;
	snprintf(name, sizeof(name), "%.*s", (int)(slash - network_host), network_host);
	used_add(cl, name);
}

/*
 * Before this host's first endpoint on n: usage/<n>/<me>, only while the network exists in etcd.
 * A delete's txn that finds no usage key and this one exclude each other: whichever etcd orders
 * first wins.  The key has no lease: a host that is down still has its containers, so its
 * networks stay until it comes back and detaches them (or an operator removes the key).
 */
static int usage_acquire(struct manager *m, const char *network, tk_err *err)
{
	struct cluster *cl = cluster_of(m);
	char nkey[512], ukey[512];
	bool ok;
	int r;

	pthread_mutex_lock(&cl->lock);
	ok = used_has(cl, network);
	pthread_mutex_unlock(&cl->lock);
	if (ok)
		return 0;
	key_of(nkey, sizeof(nkey), "networks", network);
	snprintf(ukey, sizeof(ukey), PREFIX "usage/%s/%s", network, cl->cfg.host);
	{
		const struct tk_etcd_cmp cmp = { .key = nkey,
						 .target = TK_ETCD_VERSION,
						 .result = TK_ETCD_GREATER,
						 .number = 0 };
		const struct tk_etcd_op put = { .kind = TK_ETCD_OP_PUT, .key = ukey, .value = "" };
		r = tk_etcd_txn(cl->etcd, &cmp, 1, &put, 1, NULL, 0, &ok, NULL, err);
	}
	set_health(cl, r, err);
	/* etcd unreachable or without quorum: transient, as the block path says (CNI code 11) */
	if (r < 0)
		return tk_err_wrap(err, -EAGAIN,
				   "cluster: this host's first endpoint on network '%s' must be "
				   "recorded in etcd; try again later",
				   network);
	if (!ok)
		return tk_err_set(err, -ENOENT, "network '%s' is being deleted in the cluster",
				  network);
	if (!used_add(cl, network))
		return tk_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* Withdraws the usage keys of networks this host no longer has endpoints on. */
static void usage_release(struct cluster *cl, struct manager *m)
{
	pthread_mutex_lock(&cl->lock);
	for (struct used **pp = &cl->used; *pp;) {
		struct used *u = *pp;
		struct network *n = manager_network(m, u->name);
		char ukey[512];

		if (n && n->n_endpoints > 0) {
			pp = &u->next;
			continue;
		}
		snprintf(ukey, sizeof(ukey), PREFIX "usage/%s/%s", u->name, cl->cfg.host);
		if (tk_etcd_delete(cl->etcd, ukey, false, NULL, NULL) < 0) {
			pp = &u->next; /* again next time */
			continue;
		}
		*pp = u->next;
		free(u);
	}
	pthread_mutex_unlock(&cl->lock);
}

void cluster_usage_sync(struct manager *m)
{
	struct cluster *cl = cluster_of(m);

	if (!cl)
		return;
	usage_release(cl, m);
	overlay_sync(m, vnis, cl->cfg.host, cl->cfg.underlay, cluster_lease(m));
}

/*
 * After an endpoint op: the op's reply goes first, the overlay and blocks catch up right after
 * (cluster_sync_run, from the loop once it has nothing else to do).  One sync then serves a burst
 * of ops, and a container's ADD does not wait for the VXLAN devices' dump or for etcd: its
 * record reaches the other hosts through the watch either way.
 */
void cluster_sync_later(struct manager *m)
{
	if (!cluster_of(m))
		return;
	cluster_of(m)->sync_wanted = true;
	overlay_endpoints_changed();
}

bool cluster_sync_wanted(struct manager *m)
{
	return cluster_of(m) && cluster_of(m)->sync_wanted;
}

void cluster_sync_run(struct manager *m)
{
	if (cluster_sync_wanted(m))
		sync_now(m);
}

/* ---- publishing creates and guarding deletes ---- */

/*
 * Besides its limits.  host_ports too (the same range on every host); egress_ip is an address of
 * the creating host, so it stays there.
 */
static const char *const tenant_keys[] = { "name", "owner_uid", "owner_gid", "allow_subnets",
					   "host_ports" };

/* What another host needs to make the same tenant: the args of tenant.create, limits explicit. */
static char *tenant_record(json_t *t)
{
	_cleanup_(json_decrefp) json_t *o = json_object();
	const char *k;
	json_t *v;

	if (!o)
		return NULL;
	json_object_foreach(t, k, v)
	{
		bool keep = tenant_settable(k);

		for (size_t i = 0; i < ELEMENTSOF(tenant_keys); i++)
			keep = keep || strcmp(k, tenant_keys[i]) == 0;
		/* tenant.create takes no owner rather than a null one; a null limit is "unlimited". */
		if (keep && !(json_is_null(v) && strncmp(k, "owner_", 6) == 0))
			json_object_set(o, k, v);
	}
	return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}

/*
 * Puts tenant t's record if the compare on its key holds: *ret_ok says whether it did.  A new
 * tenant's key must not exist yet (exists false), a changed tenant's must still (exists true).
 */
static int put_tenant_record(struct cluster *cl, json_t *t, bool exists, const char *what,
			     bool *ret_ok, tk_err *err)
{
	const char *name = json_string_value(json_object_get(t, "name"));
	_cleanup_free_ char *value = tenant_record(t);
	char key[512];
	int r;

	if (!name || !value)
		return tk_err_set(err, -ENOMEM, "out of memory");
	key_of(key, sizeof(key), "tenants", name);
	{
		const struct tk_etcd_cmp cmp = { .key = key,
						 .target =
							 exists ? TK_ETCD_VERSION : TK_ETCD_CREATE,
						 .result =
							 exists ? TK_ETCD_GREATER : TK_ETCD_EQUAL };
		const struct tk_etcd_op put = { .kind = TK_ETCD_OP_PUT,
						.key = key,
						.value = value };
		r = tk_etcd_txn(cl->etcd, &cmp, 1, &put, 1, NULL, 0, ret_ok, NULL, err);
	}
	set_health(cl, r, err);
	if (r < 0)
		return tk_err_wrap(err, r, "cluster: publishing %s tenant '%s'", what, name);
	return 0;
}

static int publish_tenant(struct manager *m, json_t *t, tk_err *err)
{
	const char *name = json_string_value(json_object_get(t, "name"));
	bool ok;
	int r;

	if ((r = put_tenant_record(cluster_of(m), t, false, "the new", &ok, err)) < 0)
		return r;
	if (!ok)
		return tk_err_set(
			err, -EEXIST,
			"tenant '%s' already exists in the cluster (another host made it)", name);
	(void)seen_set(m, "tenant", name, true);
	return 0;
}

static void subnet_key(char *buf, size_t size, const char *cidr)
{
	char c[64];

	snprintf(c, sizeof(c), "%s", cidr);
	for (char *p = c; *p; p++)
		if (*p == '/')
			*p = '-';
	key_of(buf, size, "subnets", c);
}

/*
 * One txn: the network, its subnets and a VNI, each only if nobody has it, and only while its
 * tenant exists.  A VNI someone has is tried again with another; anything else taken fails.
 */
static int publish_network(struct manager *m, json_t *net, unsigned block_len4, tk_err *err)
{
	struct cluster *cl = cluster_of(m);
	const char *name = json_string_value(json_object_get(net, "name"));
	const char *tenant = json_string_value(json_object_get(net, "tenant"));
	const char *s4 = json_string_value(json_object_get(net, "subnet"));
	const char *s6 = json_string_value(json_object_get(net, "subnet6"));
	char nkey[512], tkey[512], ikey[512], s4key[512], s6key[512], vkey[512], vname[16];
	int r;

	if (!name || !tenant)
		return tk_err_set(err, -EINVAL, "cluster: a network without name or tenant");
	/* Published, it would be made on every other host as the cluster's tenant's network. */
	if (!seen_get(m, "tenant", tenant))
		return tk_err_set(
			err, -ENOENT,
			"cluster: tenant '%s' is this host's own, not the cluster's (this "
			"host had it before it joined; the cluster has none of that name, "
			"or one with another owner): its networks cannot be made in "
			"cluster mode",
			tenant);
	key_of(nkey, sizeof(nkey), "networks", name);
	key_of(tkey, sizeof(tkey), "tenants", tenant);
	snprintf(ikey, sizeof(ikey), PREFIX "tenant-networks/%s/%s", tenant, name);
	subnet_key(s4key, sizeof(s4key), s4 ? s4 : "");
	subnet_key(s6key, sizeof(s6key), s6 ? s6 : "");
	for (int attempt = 0; attempt < 16; attempt++) {
		uint32_t vni = 1 + (uint32_t)(random() % VNI_MAX);
		_cleanup_free_ char *value = NULL;
		struct tk_etcd_cmp cmp[5];
		struct tk_etcd_op ops[5];
		struct tk_etcd_kvs kvs = {};
		size_t nc = 0, no = 0;
		json_t *rec;
		bool ok;

		snprintf(vname, sizeof(vname), "%u", vni);
		key_of(vkey, sizeof(vkey), "vnis", vname);
		rec = json_pack("{s:s, s:s, s:O, s:O, s:I, s:s, s:I}", "name", name, "tenant",
				tenant, "mtu", json_object_get(net, "mtu"), "nat",
				json_object_get(net, "nat"), "vni", (json_int_t)vni, "created_by",
				cl->cfg.host, "block_size", (json_int_t)block_len4);
		if (rec && json_is_true(json_object_get(net, "internal")))
			json_object_set_new(rec, "internal", json_true());
		if (rec && s4)
			json_object_set_new(rec, "subnet", json_string(s4));
		if (rec && s6)
			json_object_set_new(rec, "subnet6", json_string(s6));
		value = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(rec);
		if (!value)
			return tk_err_set(err, -ENOMEM, "out of memory");
		cmp[nc++] = (struct tk_etcd_cmp){ .key = tkey,
						  .target = TK_ETCD_VERSION,
						  .result = TK_ETCD_GREATER };
		cmp[nc++] = (struct tk_etcd_cmp){ .key = nkey, .target = TK_ETCD_CREATE };
		cmp[nc++] = (struct tk_etcd_cmp){ .key = vkey, .target = TK_ETCD_CREATE };
		ops[no++] =
			(struct tk_etcd_op){ .kind = TK_ETCD_OP_PUT, .key = nkey, .value = value };
		ops[no++] =
			(struct tk_etcd_op){ .kind = TK_ETCD_OP_PUT, .key = vkey, .value = name };
		ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_PUT, .key = ikey, .value = "" };
		if (s4) {
			cmp[nc++] = (struct tk_etcd_cmp){ .key = s4key, .target = TK_ETCD_CREATE };
			ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_PUT,
							 .key = s4key,
							 .value = name };
		}
		if (s6) {
			cmp[nc++] = (struct tk_etcd_cmp){ .key = s6key, .target = TK_ETCD_CREATE };
			ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_PUT,
							 .key = s6key,
							 .value = name };
		}
		{
			/* On failure, read back each compared key to say which one was taken. */
			struct tk_etcd_op get[5];
			for (size_t i = 0; i < nc; i++)
				get[i] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_GET,
							      .key = cmp[i].key };
			r = tk_etcd_txn(cl->etcd, cmp, nc, ops, no, get, nc, &ok, &kvs, err);
		}
		set_health(cl, r, err);
		if (r < 0)
			return tk_err_wrap(err, r, "cluster: publishing network '%s'", name);
		if (ok) {
			tk_etcd_kvs_done(&kvs);
			note_vni(name, value, false);
			(void)seen_set(m, "network", name, true);
			return 0;
		}
		{
			bool has_tenant = false, vni_taken = false;
			const char *taken = NULL;

			for (size_t i = 0; i < kvs.n; i++) {
				if (strcmp(kvs.kv[i].key, tkey) == 0)
					has_tenant = true;
				else if (strcmp(kvs.kv[i].key, vkey) == 0)
					vni_taken = true;
				else if (!taken)
					taken = kvs.kv[i].key + strlen(PREFIX);
			}
			if (!has_tenant)
				r = tk_err_set(err, -ENOENT,
					       "tenant '%s' does not exist in the cluster", tenant);
			else if (taken)
				r = tk_err_set(
					err, -EEXIST,
					"'%s' is taken in the cluster (another host made it)",
					taken);
			tk_etcd_kvs_done(&kvs);
			if (!has_tenant || taken || !vni_taken)
				return r < 0 ? r : tk_err_set(err, -EAGAIN, "cluster: txn lost");
		}
	}
	return tk_err_set(err, -EAGAIN, "cluster: no free VNI found for network '%s'", name);
}

/* links/<a>/<b>, the names in order: one key per linked pair of cluster networks. */
static void link_key(char *buf, size_t size, const char *a, const char *b)
{
	bool ab = strcmp(a, b) < 0;

	snprintf(buf, size, PREFIX "links/%s/%s", ab ? a : b, ab ? b : a);
}

/* The names of the networks one is linked with (at most max). */
struct link_names {
	char (*names)[TK_NAME_MAX + 1];
	size_t n, max;
};

static int link_name(struct network *other, void *userdata)
{
	struct link_names *l = userdata;

	if (l->n < l->max)
		snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", other->name);
	return 0;
}

/* Deletes the network's keys unless a host has endpoints on it. */
static int unpublish_network(struct manager *m, struct network *n, tk_err *err)
{
	struct cluster *cl = cluster_of(m);
	char nkey[512], ukey[512], ikey[512], s4[512], s6[512], vkey[512], buf[TK_PREFIX_STRLEN];
	char bkey[512], rkey[512], lkey[512], lkeys[LINKS_MAX][512];
	char lnames[LINKS_MAX][TK_NAME_MAX + 1];
	struct link_names ln = { lnames, 0, LINKS_MAX };
	json_t *vni = json_object_get(vnis, n->name);
	struct tk_etcd_op ops[8 + LINKS_MAX];
	struct tk_etcd_kvs kvs = {};
	size_t no = 0;
	bool ok;
	int r;

	cluster_usage_sync(m);
	/* Its links: links/<n>/ in one, the keys where it comes second one by one. */
	(void)db_links_foreach(m, n, link_name, &ln, NULL);
	snprintf(lkey, sizeof(lkey), PREFIX "links/%s/", n->name);
	ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = lkey, .prefix = true };
	for (size_t i = 0; i < ln.n; i++)
		if (strcmp(lnames[i], n->name) < 0) {
			link_key(lkeys[i], sizeof(lkeys[i]), lnames[i], n->name);
			ops[no++] =
				(struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = lkeys[i] };
		}
	key_of(nkey, sizeof(nkey), "networks", n->name);
	snprintf(ukey, sizeof(ukey), PREFIX "usage/%s/", n->name);
	snprintf(ikey, sizeof(ikey), PREFIX "tenant-networks/%s/%s", n->tenant->name, n->name);
	subnet_key(s4, sizeof(s4), n->has4 ? tk_prefix_format(&n->subnet4, buf, sizeof(buf)) : "");
	subnet_key(s6, sizeof(s6), n->has6 ? tk_prefix_format(&n->subnet6, buf, sizeof(buf)) : "");
	snprintf(vkey, sizeof(vkey), PREFIX "vnis/%" JSON_INTEGER_FORMAT, json_integer_value(vni));
	ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = nkey };
	ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = ikey };
	if (vni)
		ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = vkey };
	if (n->has4)
		ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = s4 };
	if (n->has6)
		ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = s6 };
	/* No host has endpoints on it (the compare): its address blocks and records go too. */
	snprintf(bkey, sizeof(bkey), PREFIX "blocks/%s/", n->name);
	snprintf(rkey, sizeof(rkey), PREFIX "reserved/%s/", n->name);
	ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = bkey, .prefix = true };
	ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE, .key = rkey, .prefix = true };
	{
		const struct tk_etcd_cmp cmp = { .key = ukey,
						 .prefix = true,
						 .target = TK_ETCD_CREATE };
		const struct tk_etcd_op get = { .kind = TK_ETCD_OP_GET,
						.key = ukey,
						.prefix = true };
		r = tk_etcd_txn(cl->etcd, &cmp, 1, ops, no, &get, 1, &ok, &kvs, err);
	}
	set_health(cl, r, err);
	if (r < 0)
		return tk_err_wrap(err, r, "cluster: deleting network '%s'", n->name);
	if (!ok) {
		char hosts[256] = "";

		for (size_t i = 0; i < kvs.n; i++) {
			const char *h = kvs.kv[i].key + strlen(ukey);
			size_t l = strlen(hosts);

			snprintf(hosts + l, sizeof(hosts) - l, "%s'%s'", l ? ", " : "", h);
		}
		tk_etcd_kvs_done(&kvs);
		return tk_err_set(err, -EBUSY, "network '%s' still has endpoints on host(s) %s",
				  n->name, hosts);
	}
	note_vni(n->name, NULL, true);
	cluster_blocks_forget(n->name);
	(void)seen_set(m, "network", n->name, false);
	return 0;
}

static int unpublish_tenant(struct manager *m, const char *name, tk_err *err)
{
	struct cluster *cl = cluster_of(m);
	char tkey[512], ikey[512];
	bool ok;
	int r;

	key_of(tkey, sizeof(tkey), "tenants", name);
	snprintf(ikey, sizeof(ikey), PREFIX "tenant-networks/%s/", name);
	{
		const struct tk_etcd_cmp cmp = { .key = ikey,
						 .prefix = true,
						 .target = TK_ETCD_CREATE };
		const struct tk_etcd_op del = { .kind = TK_ETCD_OP_DELETE, .key = tkey };
		r = tk_etcd_txn(cl->etcd, &cmp, 1, &del, 1, NULL, 0, &ok, NULL, err);
	}
	set_health(cl, r, err);
	if (r < 0)
		return tk_err_wrap(err, r, "cluster: deleting tenant '%s'", name);
	if (!ok)
		return tk_err_set(err, -EBUSY, "tenant '%s' still has networks in the cluster",
				  name);
	(void)seen_set(m, "tenant", name, false);
	return 0;
}

/* tenant.set done here: the tenant's new record, only while the tenant exists in the cluster. */
static int publish_tenant_change(struct manager *m, json_t *t, tk_err *err)
{
	bool ok;
	int r;

	if ((r = put_tenant_record(cluster_of(m), t, true, "the limits of", &ok, err)) < 0)
		return r;
	if (!ok)
		return tk_err_set(err, -ENOENT, "tenant '%s' was deleted in the cluster",
				  json_string_value(json_object_get(t, "name")));
	return 0;
}

/*
 * The value names each network's VNI: a key left behind by a network deleted meanwhile (its
 * delete txn removes the keys its host knew of) never links a new network of the same name.
 */
static char *link_value(const char *a, const char *b)
{
	json_t *va = json_object_get(vnis, a), *vb = json_object_get(vnis, b);
	_cleanup_(json_decrefp) json_t *o = NULL;

	if (!va || !vb)
		return NULL;
	o = json_pack("{s:{s:O, s:O}}", "vnis", a, va, b, vb);
	return o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

static int publish_link(struct manager *m, const char *a, const char *b, bool link, tk_err *err)
{
	struct cluster *cl = cluster_of(m);
	_cleanup_free_ char *value = link ? link_value(a, b) : NULL;
	char key[512], ka[512], kb[512];
	bool ok = true;
	int r;

	if (link && !value)
		return tk_err_set(err, -ENOENT,
				  "networks '%s' and '%s' are not both in the cluster", a, b);
	link_key(key, sizeof(key), a, b);
	key_of(ka, sizeof(ka), "networks", a);
	key_of(kb, sizeof(kb), "networks", b);
	if (link) {
		const struct tk_etcd_cmp cmp[] = {
			{ .key = ka, .target = TK_ETCD_VERSION, .result = TK_ETCD_GREATER },
			{ .key = kb, .target = TK_ETCD_VERSION, .result = TK_ETCD_GREATER },
		};
		const struct tk_etcd_op put = { .kind = TK_ETCD_OP_PUT,
						.key = key,
						.value = value };
		r = tk_etcd_txn(cl->etcd, cmp, 2, &put, 1, NULL, 0, &ok, NULL, err);
	} else
		r = tk_etcd_delete(cl->etcd, key, false, NULL, err);
	set_health(cl, r, err);
	if (r < 0)
		return tk_err_wrap(err, r, "cluster: publishing the %s of networks '%s' and '%s'",
				   link ? "link" : "unlink", a, b);
	if (!ok)
		return tk_err_set(err, -ENOENT, "network '%s' or '%s' was deleted in the cluster",
				  a, b);
	return 0;
}

struct link_find {
	const struct network *target;
	bool found;
};

static int link_find(struct network *other, void *userdata)
{
	struct link_find *f = userdata;

	f->found = f->found || other == f->target;
	return 0;
}

static bool linked(struct manager *m, struct network *a, struct network *b)
{
	struct link_find f = { b, false };

	return db_links_foreach(m, a, link_find, &f, NULL) >= 0 && f.found;
}

/* links/<a>/<b> from the watch: linked or unlinked here, if both are the networks it names. */
static void apply_link(struct manager *m, const char *rest, const char *value, bool deleted)
{
	_cleanup_(json_decrefp) json_t *o = json_loads(value, 0, NULL);
	json_t *want = json_object_get(o, "vnis");
	const char *slash = strchr(rest, '/');
	char a[TK_NAME_MAX + 1];
	struct network *na, *nb;
	tk_err err = {};

	if (!slash || (size_t)(slash - rest) >= sizeof(a))
		return;
	snprintf(a, sizeof(a), "%.*s", (int)(slash - rest), rest);
	na = manager_network(m, a);
	nb = manager_network(m, slash + 1);
	if (!na || !nb || !json_equal(json_object_get(want, a), json_object_get(vnis, a)) ||
	    !json_equal(json_object_get(want, slash + 1), json_object_get(vnis, slash + 1))) {
		log_debug("cluster: ignoring links/%s (not these networks)", rest);
		return;
	}
	if (linked(m, na, nb) == !deleted)
		return;
	if (network_link(m, na, nb, !deleted, &err) < 0)
		log_error("cluster: cannot %s networks '%s' and '%s' as the cluster did: %s",
			  deleted ? "unlink" : "link", a, slash + 1, err.msg);
}

/* After a full list: links between cluster networks that etcd no longer has were undone. */
static void prune_links(struct manager *m, json_t *listed)
{
	char names[LINKS_MAX][TK_NAME_MAX + 1], key[512];

	for (struct network *n = m->networks; n; n = n->next) {
		struct link_names l = { names, 0, LINKS_MAX };

		if (!seen_get(m, "network", n->name) ||
		    db_links_foreach(m, n, link_name, &l, NULL) < 0)
			continue;
		for (size_t i = 0; i < l.n; i++) {
			struct network *other = manager_network(m, names[i]);
			tk_err err = {};

			link_key(key, sizeof(key), n->name, names[i]);
			if (!other || strcmp(n->name, names[i]) > 0 ||
			    json_object_get(listed, key) || !seen_get(m, "network", names[i]))
				continue;
			if (network_link(m, n, other, false, &err) < 0)
				log_error("cluster: %s", err.msg);
			else
				log_info("cluster: unlinked '%s' and '%s' as the cluster did",
					 n->name, names[i]);
		}
	}
}

/* ---- the ops cluster mode changes ---- */

static json_t *reply_error(const char *op, const struct tk_caller *c, int r, tk_err *err)
{
	return tk_server_reply(op, r, NULL, c, err);
}

static bool reply_ok(json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

static void add_vni(json_t *net)
{
	const char *name = json_string_value(json_object_get(net, "name"));
	json_t *vni = name ? json_object_get(vnis, name) : NULL;

	json_object_set(net, "vni", vni ? vni : json_null());
	json_object_set_new(net, "block_size",
			    vni ? json_integer(cluster_block_len4(name)) : json_null());
}

/* The address blocks a host holds: ["<network> <block>", ...]. */
static json_t *host_blocks(const struct tk_etcd_kvs *blocks, const char *host)
{
	json_t *list = json_array();

	for (size_t i = 0; i < blocks->n && list; i++) {
		_cleanup_(json_decrefp) json_t *v = json_loads(blocks->kv[i].value, 0, NULL);
		const char *h = json_string_value(json_object_get(v, "host"));
		char item[512], *slash;

		if (!h || strcmp(h, host) != 0)
			continue;
		snprintf(item, sizeof(item), "%s", blocks->kv[i].key + strlen(PREFIX "blocks/"));
		if ((slash = strchr(item, '/')))
			*slash = ' ';
		json_array_append_new(list, json_string(item));
	}
	return list;
}

/*
 * Drops the blocks of networks the caller may not see: entries "<network> <block>" (host.list) or
 * objects with "network" (status).
 */
static void blocks_visible(struct manager *m, const struct tk_caller *c, json_t *blocks)
{
	for (size_t i = json_array_size(blocks); i-- > 0;) {
		json_t *b = json_array_get(blocks, i);
		char name[TK_NAME_MAX + 1] = "";
		struct network *n;

		if (json_is_string(b))
			snprintf(name, sizeof(name), "%.*s",
				 (int)strcspn(json_string_value(b), " "), json_string_value(b));
		else
			snprintf(name, sizeof(name), "%s",
				 json_string_value(json_object_get(b, "network")) ?: "");
		n = manager_network(m, name);
		if (!n || caller_may_manage(c, n->tenant, NULL) < 0)
			json_array_remove(blocks, i);
	}
}

static json_t *hosts_json(struct manager *m, tk_err *err, int *ret)
{
	struct cluster *cl = cluster_of(m);
	struct tk_etcd_kvs members = {}, live = {}, blocks = {};
	json_t *list = json_array();

	if ((*ret = tk_etcd_get(cl->etcd, PREFIX "members/", true, &members, err)) < 0 ||
	    (*ret = tk_etcd_get(cl->etcd, PREFIX "hosts/", true, &live, err)) < 0 ||
	    (*ret = tk_etcd_get(cl->etcd, PREFIX "blocks/", true, &blocks, err)) < 0) {
		set_health(cl, *ret, err);
		tk_etcd_kvs_done(&members);
		tk_etcd_kvs_done(&live);
		json_decref(list);
		return NULL;
	}
	set_health(cl, 0, NULL);
	for (size_t i = 0; i < members.n; i++) {
		const char *name = members.kv[i].key + strlen(PREFIX "members/");
		_cleanup_(json_decrefp) json_t *v = json_loads(members.kv[i].value, 0, NULL);
		json_t *h;
		int64_t ttl = -1;
		bool up = false;

		for (size_t j = 0; j < live.n; j++)
			if (strcmp(live.kv[j].key + strlen(PREFIX "hosts/"), name) == 0) {
				up = true;
				if (tk_etcd_lease_ttl(cl->etcd, live.kv[j].lease, &ttl, NULL) < 0)
					ttl = -1;
			}
		h = json_pack("{s:s, s:o, s:s, s:o, s:b, s:o}", "name", name, "underlay",
			      json_incref(json_object_get(v, "underlay")) ?: json_null(), "state",
			      up ? "up" : "down", "lease_ttl",
			      ttl >= 0 ? json_integer(ttl) : json_null(), "self",
			      strcmp(name, cl->cfg.host) == 0, "blocks",
			      host_blocks(&blocks, name));
		json_array_append_new(list, h);
	}
	tk_etcd_kvs_done(&members);
	tk_etcd_kvs_done(&live);
	tk_etcd_kvs_done(&blocks);
	return list;
}

json_t *cluster_status_json(struct manager *m)
{
	struct cluster *cl = cluster_of(m);
	json_t *o;

	if (!cl)
		return json_null();
	pthread_mutex_lock(&cl->lock);
	o = json_pack("{s:s, s:s, s:s, s:I, s:b, s:b, s:o, s:o}", "host", cl->cfg.host, "underlay",
		      cl->cfg.underlay, "etcd", cl->cfg.endpoints, "ttl", (json_int_t)cl->cfg.ttl,
		      "registered", cl->lease != 0, "healthy", cl->healthy, "error",
		      cl->error[0] ? json_string(cl->error) : json_null(), "last_contact",
		      cl->last_ok ? json_integer(cl->last_ok) : json_null());
	pthread_mutex_unlock(&cl->lock);
	if (o)
		json_object_set_new(o, "blocks", cluster_blocks_json(m));
	return o;
}

static json_t *op_hosts(struct manager *m, const struct tk_caller *c, json_t *request)
{
	json_t *args = json_object_get(request, "args"), *list;
	tk_err err = {};
	int r;

	if (args && (r = tk_json_unpack(args, "host.list args", &err, "{}")) < 0)
		return reply_error("host.list", c, r, &err);
	if (!(list = hosts_json(m, &err, &r)))
		return reply_error("host.list", c, r, &err);
	{
		size_t i;
		json_t *h;

		json_array_foreach(list, i, h) blocks_visible(m, c, json_object_get(h, "blocks"));
	}
	return tk_server_reply("host.list", 0, json_pack("{s:o}", "hosts", list), c, &err);
}

/*
 * network.create's block_size (cluster mode only): the IPv4 prefix length of the network's address
 * blocks, BLOCK_LEN4_MIN..MAX; its IPv6 blocks have as many addresses.  *ret_request is the request
 * without it, for the local op.
 */
static int block_size_arg(json_t *request, unsigned *ret, json_t **ret_request, tk_err *err)
{
	json_t *bs = json_object_get(json_object_get(request, "args"), "block_size");
	json_int_t v;

	*ret = 0;
	*ret_request = json_incref(request);
	if (!bs)
		return 0;
	v = json_integer_value(bs);
	if (!json_is_integer(bs) || v < BLOCK_LEN4_MIN || v > BLOCK_LEN4_MAX)
		return tk_err_set(
			err, -EINVAL,
			"block_size must be an IPv4 prefix length from %d (64 addresses) to "
			"%d (4 addresses)",
			BLOCK_LEN4_MIN, BLOCK_LEN4_MAX);
	json_decref(*ret_request);
	if (!(*ret_request = json_deep_copy(request)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	json_object_del(json_object_get(*ret_request, "args"), "block_size");
	*ret = (unsigned)v;
	return 0;
}

/* A block size given must fit the network's IPv4 subnet (a smaller subnet is one block). */
static int block_size_fits(json_t *net, unsigned len4, tk_err *err)
{
	const char *s4 = json_string_value(json_object_get(net, "subnet"));
	struct tk_prefix p;

	if (!len4 || !s4 || tk_prefix_parse(s4, &p, NULL) < 0 || p.len <= len4)
		return 0;
	return tk_err_set(err, -EINVAL,
			  "block size /%u does not fit subnet %s of network '%s': a block must "
			  "lie inside the subnet",
			  len4, s4, json_string_value(json_object_get(net, "name")));
}

static json_t *create_then_publish(struct manager *m, const struct tk_caller *c, json_t *request,
				   const char *op, bool tenant)
{
	_cleanup_(json_decrefp) json_t *local = NULL;
	json_t *reply, *result;
	unsigned block_len4 = 0;
	tk_err err = {};
	int r;

	if (!tenant && (r = block_size_arg(request, &block_len4, &local, &err)) < 0)
		return reply_error(op, c, r, &err);
	reply = rpc_dispatch(m, c, local ? local : request);
	if (!reply_ok(reply))
		return reply;
	result = json_object_get(reply, "result");
	r = tenant ? publish_tenant(m, result, &err)
	    : block_size_fits(result, block_len4, &err) < 0
		    ? err.code
		    : publish_network(m, result, block_len4 ?: BLOCK_LEN4_DEFAULT, &err);
	if (r < 0) {
		/* Undo the local create: the cluster refused it. */
		const char *name = json_string_value(json_object_get(result, "name"));
		tk_err undo = {};

		if (tenant) {
			struct tk_tenant *t = tk_tenant_get(&m->tenants, name);
			if (t && tk_tenant_delete(&m->tenants, t, &undo) < 0)
				log_error("cluster: undoing tenant '%s': %s", name, undo.msg);
		} else {
			struct network *n = manager_network(m, name);
			if (n && network_delete(m, n, &undo) < 0)
				log_error("cluster: undoing network '%s': %s", name, undo.msg);
		}
		json_decref(reply);
		return reply_error(op, c, r, &err);
	}
	if (!tenant)
		add_vni(result);
	return reply;
}

static json_t *delete_guarded(struct manager *m, const struct tk_caller *c, json_t *request,
			      const char *op, bool tenant)
{
	const char *name =
		json_string_value(json_object_get(json_object_get(request, "args"), "name"));
	tk_err err = {};
	int r;

	if (!name)
		return rpc_dispatch(m, c, request); /* its own error */
	if (tenant) {
		struct tk_tenant *t = NULL;

		if ((r = tk_require_admin(c, op, &err)) < 0 ||
		    (r = tk_tenant_find(&m->tenants, c, name, &t, &err)) < 0)
			return reply_error(op, c, r, &err);
		if (t->n_networks > 0)
			return rpc_dispatch(m, c, request); /* refused locally, with its message */
		r = unpublish_tenant(m, name, &err);
	} else {
		struct network *n = manager_network(m, name);

		if (!n)
			return rpc_dispatch(m, c, request);
		if ((r = caller_may_manage(c, n->tenant, &err)) < 0)
			return reply_error(op, c, r, &err);
		if (n->n_endpoints > 0)
			return rpc_dispatch(m, c, request);
		r = unpublish_network(m, n, &err);
	}
	if (r < 0)
		return reply_error(op, c, r, &err);
	return rpc_dispatch(m, c, request);
}

/* Whether key (under PREFIX kind) is one of host's: by its path, or for a block by its value. */
static bool key_of_host(const struct tk_etcd_kv *kv, size_t kind, const char *host)
{
	const char *rest = kv->key + strlen(PREFIX), *last = strrchr(rest, '/');
	size_t hl = strlen(host);

	switch (kind) {
	case 0: /* reserved/<net>/<block>/<host> */
	case 1: /* usage/<net>/<host> */ return last && strcmp(last + 1, host) == 0;
	case 2: /* endpoints/<net>/<host>/<mac> */
		return last && last - rest > (ptrdiff_t)hl + 1 && last[-(ptrdiff_t)hl - 1] == '/' &&
		       strncmp(last - hl, host, hl) == 0 &&
		       strchr(strchr(rest, '/') + 1, '/') == last - hl - 1;
	default: { /* blocks/<net>/<block>: {"host"} */
		_cleanup_(json_decrefp) json_t *o = json_loads(kv->value, 0, NULL);
		const char *h = json_string_value(json_object_get(o, "host"));
		return h && strcmp(h, host) == 0;
	}
	}
}

#define RETIRE_TXN_OPS 100 /* deletes per txn: etcd's --max-txn-ops is 128 by default */

/*
 * host.retire NAME: a host that will not come back.  Refused while its lease is alive (hosts/);
 * else its records of address blocks (their addresses become free for the blocks' holders), its
 * usage keys (its networks become deletable), any endpoint or block key of it and its member
 * record go, in txns that each require hosts/<name> to be absent: a host that registers again
 * meanwhile stops the retirement.
 */
static int host_retire(struct manager *m, const char *name, json_t **ret, tk_err *err)
{
	static const char *const kinds[] = { "reserved/", "usage/", "endpoints/", "blocks/" };
	struct cluster *cl = cluster_of(m);
	_cleanup_(json_decrefp) json_t *keys = json_array();
	json_int_t counts[ELEMENTSOF(kinds)] = {};
	struct tk_etcd_kvs kvs = {};
	char hkey[512], mkey[512], prefix[512];
	bool member, ok = true;
	int r;

	if (!keys)
		return tk_err_set(err, -ENOMEM, "out of memory");
	key_of(hkey, sizeof(hkey), "hosts", name);
	key_of(mkey, sizeof(mkey), "members", name);
	if ((r = tk_etcd_get(cl->etcd, hkey, false, &kvs, err)) < 0)
		goto fail;
	if (kvs.n > 0) {
		int64_t ttl = -1;

		(void)tk_etcd_lease_ttl(cl->etcd, kvs.kv[0].lease, &ttl, NULL);
		tk_etcd_kvs_done(&kvs);
		return tk_err_set(err, -EBUSY,
				  "host '%s' is alive (its lease has %" PRId64 " s left): stop its "
				  "netd and let the lease end before retiring it",
				  name, ttl);
	}
	if ((r = tk_etcd_get(cl->etcd, mkey, false, &kvs, err)) < 0)
		goto fail;
	member = kvs.n > 0;
	tk_etcd_kvs_done(&kvs);
	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		snprintf(prefix, sizeof(prefix), PREFIX "%s", kinds[k]);
		if ((r = tk_etcd_get(cl->etcd, prefix, true, &kvs, err)) < 0)
			goto fail;
		for (size_t i = 0; i < kvs.n; i++)
			if (key_of_host(&kvs.kv[i], k, name)) {
				json_array_append_new(keys, json_string(kvs.kv[i].key));
				counts[k]++;
			}
		tk_etcd_kvs_done(&kvs);
	}
	if (!member && json_array_size(keys) == 0)
		return tk_err_set(err, -ENOENT, "no host '%s' in the cluster", name);
	if (member)
		json_array_append_new(keys, json_string(mkey));
	for (size_t at = 0; at < json_array_size(keys) && ok; at += RETIRE_TXN_OPS) {
		struct tk_etcd_op ops[RETIRE_TXN_OPS];
		const struct tk_etcd_cmp cmp = { .key = hkey, .target = TK_ETCD_CREATE };
		size_t no = 0;

		for (size_t i = at; i < json_array_size(keys) && no < RETIRE_TXN_OPS; i++)
			ops[no++] = (struct tk_etcd_op){ .kind = TK_ETCD_OP_DELETE,
							 .key = json_string_value(
								 json_array_get(keys, i)) };
		if ((r = tk_etcd_txn(cl->etcd, &cmp, 1, ops, no, NULL, 0, &ok, NULL, err)) < 0)
			goto fail;
	}
	set_health(cl, 0, NULL);
	if (!ok)
		return tk_err_set(err, -EBUSY,
				  "host '%s' registered again while it was being retired", name);
	log_info("cluster: retired host '%s': %" JSON_INTEGER_FORMAT
		 " record(s) of address blocks, "
		 "%" JSON_INTEGER_FORMAT " usage key(s) removed",
		 name, counts[0], counts[1]);
	*ret = json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", name, "records", counts[0], "usage",
			 counts[1], "endpoints", counts[2], "blocks", counts[3]);
	return *ret ? 0 : tk_err_set(err, -ENOMEM, "out of memory");
fail:
	set_health(cl, r, err);
	return tk_err_wrap(err, r, "cluster: retiring host '%s'", name);
}

static json_t *op_host_retire(struct manager *m, const struct tk_caller *c, json_t *request)
{
	json_t *args = json_object_get(request, "args"), *result = NULL;
	const char *name = NULL;
	tk_err err = {};
	int r;

	if ((r = tk_require_admin(c, "host.retire", &err)) < 0 ||
	    (r = tk_json_unpack(args, "host.retire args", &err, "{s:s}", "name", &name)) < 0 ||
	    (r = tk_name_validate(name, "host name", &err)) < 0)
		return reply_error("host.retire", c, r, &err);
	if (strcmp(name, cluster_host(m)) == 0)
		return reply_error("host.retire", c,
				   tk_err_set(&err, -EINVAL,
					      "host '%s' is this host: stop its netd and retire it "
					      "from another host",
					      name),
				   &err);
	r = host_retire(m, name, &result, &err);
	return tk_server_reply("host.retire", r, result, c, &err);
}

/* tenant.set of a cluster tenant: made here, then published; undone if etcd refuses. */
static json_t *set_then_publish(struct manager *m, const struct tk_caller *c, json_t *request)
{
	json_t *args = json_object_get(request, "args"), *reply;
	const char *name = json_string_value(json_object_get(args, "name"));
	struct tk_tenant *t = name ? tk_tenant_get(&m->tenants, name) : NULL;
	_cleanup_(json_decrefp) json_t *before = NULL, *undo = NULL;
	const char *k;
	json_t *v;
	tk_err err = {}, e2 = {};
	int r;

	if (!t || !seen_get(m, "tenant", name))
		return rpc_dispatch(m, c, request); /* this host's own, or its error */
	before = tk_tenant_to_json(&m->tenants, t);
	reply = rpc_dispatch(m, c, request);
	if (!reply_ok(reply) ||
	    (r = publish_tenant_change(m, json_object_get(reply, "result"), &err)) >= 0)
		return reply;
	json_decref(reply);
	undo = json_pack("{s:s}", "name", name);
	json_object_foreach(args, k, v)
	{
		if (undo && tenant_settable(k) && json_object_get(before, k))
			json_object_set(undo, k, json_object_get(before, k));
	}
	if (!undo || apply_op(m, "tenant.set", undo, &e2) < 0)
		log_error("cluster: undoing the change of tenant '%s': %s", name, e2.msg);
	return reply_error("tenant.set", c, r, &err);
}

/* network.link/unlink of two cluster networks: made here, then published; undone if refused. */
static json_t *link_then_publish(struct manager *m, const struct tk_caller *c, json_t *request,
				 bool link)
{
	json_t *args = json_object_get(request, "args"), *reply;
	const char *a = json_string_value(json_object_get(args, "a"));
	const char *b = json_string_value(json_object_get(args, "b"));
	const char *op = link ? "network.link" : "network.unlink";
	struct network *na = a ? manager_network(m, a) : NULL;
	struct network *nb = b ? manager_network(m, b) : NULL;
	tk_err err = {}, e2 = {};
	int r;

	if (!na || !nb || !seen_get(m, "network", a) || !seen_get(m, "network", b))
		return rpc_dispatch(m, c, request);
	reply = rpc_dispatch(m, c, request);
	if (!reply_ok(reply) || (r = publish_link(m, a, b, link, &err)) >= 0)
		return reply;
	json_decref(reply);
	if ((na = manager_network(m, a)) && (nb = manager_network(m, b)) &&
	    network_link(m, na, nb, !link, &e2) < 0)
		log_error("cluster: undoing the %s of '%s' and '%s': %s", op, a, b, e2.msg);
	return reply_error(op, c, r, &err);
}

json_t *cluster_dispatch(struct manager *m, const struct tk_caller *c, json_t *request)
{
	const char *op = json_string_value(json_object_get(request, "op"));
	json_t *reply, *result;

	if (op && strcmp(op, "host.list") == 0 && !m->cluster) {
		tk_err err = {};
		return reply_error(
			op, c,
			tk_err_set(&err, -EOPNOTSUPP,
				   "netd is not in cluster mode (no --cluster): no hosts"),
			&err);
	}
	if (op && !m->cluster && strcmp(op, "network.create") == 0 &&
	    json_object_get(json_object_get(request, "args"), "block_size")) {
		tk_err err = {};
		return reply_error(op, c,
				   tk_err_set(&err, -EINVAL,
					      "block_size is a property of cluster networks: netd "
					      "is not in cluster mode (no --cluster)"),
				   &err);
	}
	if (op && !m->cluster && strcmp(op, "host.retire") == 0) {
		tk_err err = {};
		return reply_error(
			op, c,
			tk_err_set(&err, -EOPNOTSUPP,
				   "netd is not in cluster mode (no --cluster): no hosts"),
			&err);
	}
	if (!m->cluster || !op)
		return rpc_dispatch(m, c, request);
	if (strcmp(op, "host.list") == 0)
		return op_hosts(m, c, request);
	if (strcmp(op, "tenant.create") == 0 || strcmp(op, "network.create") == 0)
		return create_then_publish(m, c, request, op, op[0] == 't');
	if (strcmp(op, "tenant.delete") == 0 || strcmp(op, "network.delete") == 0)
		return delete_guarded(m, c, request, op, op[0] == 't');
	if (strcmp(op, "tenant.set") == 0)
		return set_then_publish(m, c, request);
	if (strcmp(op, "network.link") == 0 || strcmp(op, "network.unlink") == 0)
		return link_then_publish(m, c, request, strcmp(op, "network.link") == 0);
	if (strcmp(op, "host.retire") == 0)
		return op_host_retire(m, c, request);
	if (strcmp(op, "endpoint.add") == 0) {
		json_t *args = json_object_get(request, "args");
		const char *network = json_string_value(json_object_get(args, "network"));
		struct network *n = network ? manager_network(m, network) : NULL;
		tk_err err = {};
		int r;

		/*
		 * Only for a caller who may use the network (the local op answers the others), and
		 * a network of the cluster: one made before cluster mode stays this host's own.
		 */
		if (n && caller_may_manage(c, n->tenant, NULL) >= 0 &&
		    seen_get(m, "network", network) && (r = usage_acquire(m, network, &err)) < 0)
			return reply_error(op, c, r, &err);
	}
	reply = rpc_dispatch(m, c, request);
	result = json_object_get(reply, "result");
	if (!reply_ok(reply))
		;
	else if (strcmp(op, "status") == 0) {
		json_object_set_new(result, "cluster", cluster_status_json(m));
		blocks_visible(m, c, json_object_get(json_object_get(result, "cluster"), "blocks"));
	} else if (strcmp(op, "network.inspect") == 0)
		add_vni(result);
	else if (strcmp(op, "network.list") == 0) {
		size_t i;
		json_t *net;

		json_array_foreach(json_object_get(result, "networks"), i, net) add_vni(net);
	}
	if (strcmp(op, "endpoint.add") == 0 || strcmp(op, "endpoint.del") == 0) {
		/*
		 * The last endpoint of a network here gone: its usage key goes before the reply,
		 * so a delete of the network on any host right after the detach is not refused.
		 */
		usage_release(cluster_of(m), m);
		cluster_sync_later(m);
	}
	return reply;
}

/* ---- start and stop ---- */

int cluster_open(struct manager *m, const struct cluster_config *cfg, tk_err *err)
{
	struct cluster *cl;
	sigset_t all, old;
	int r;

	if (!cfg->endpoints)
		return 0;
	if (!cfg->host || !cfg->host[0] || !cfg->underlay || !cfg->underlay[0])
		return tk_err_set(err, -EINVAL, "--cluster needs --host-name and --underlay");
	if ((r = tk_name_validate(cfg->host, "host name", err)) < 0)
		return r;
	{
		struct tk_addr a;
		if ((r = tk_addr_parse(cfg->underlay, &a, err)) < 0)
			return tk_err_wrap(err, r, "--underlay");
	}
	if (cfg->ttl < 2 || cfg->ttl > 10)
		return tk_err_set(err, -EINVAL, "--cluster-ttl %u is out of range (2..10 s)",
				  cfg->ttl);
	if ((r = tk_store_exec(m->store,
			       "CREATE TABLE IF NOT EXISTS cluster_seen (kind TEXT NOT NULL, "
			       "name TEXT NOT NULL, PRIMARY KEY (kind, name));",
			       err)) < 0)
		return r;
	if (!(cl = calloc(1, sizeof(*cl))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	cl->cfg = *cfg;
	cl->efd = -1;
	pthread_mutex_init(&cl->lock, NULL);
	m->cluster = cl;
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if ((cl->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return tk_err_set(err, -errno, "eventfd: %m");
	if ((r = tk_etcd_open(cfg->endpoints, 3000, &cl->etcd, err)) < 0)
		return r;
	/* At start etcd must answer: a host that cannot register does not serve. */
	if ((r = host_register(cl, cl->etcd, err)) < 0)
		return tk_err_wrap(err, r, "cluster: registering host '%s' at %s", cfg->host,
				   cfg->endpoints);
	set_health(cl, 0, NULL);
	/* The threads take no signal: SIGTERM is the loop's (signalfd), blocked there later. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&cl->keeper, NULL, keeper_thread, cl) != 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return tk_err_set(err, -EAGAIN, "cannot start the cluster keeper thread");
	}
	if (pthread_create(&cl->watcher, NULL, watcher_thread, cl) != 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		cl->stop = true;
		pthread_join(cl->keeper, NULL);
		return tk_err_set(err, -EAGAIN, "cannot start the cluster watch thread");
	}
	if ((r = overlay_publisher_start(cfg->endpoints, 3000, cl->efd, err)) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		cl->stop = true;
		pthread_join(cl->keeper, NULL);
		pthread_join(cl->watcher, NULL);
		return r;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	cl->threads = true;
	return 0;
}

void cluster_close(struct manager *m)
{
	struct cluster *cl = cluster_of(m);

	if (!cl)
		return;
	cl->stop = true;
	if (cl->threads) {
		pthread_join(cl->keeper, NULL);
		pthread_join(cl->watcher, NULL);
	}
	overlay_publisher_stop();
	/* Leaving on purpose: the host key goes now rather than after the TTL. */
	if (cl->lease && cl->etcd)
		(void)tk_etcd_lease_revoke(cl->etcd, cl->lease, NULL);
	tk_etcd_close(cl->etcd);
	free_events(cl->queue);
	while (cl->used) {
		struct used *u = cl->used;
		cl->used = u->next;
		free(u);
	}
	if (cl->efd >= 0)
		close(cl->efd);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
	m->cluster = NULL;
	json_decref(vnis);
	vnis = NULL;
	json_decref(block_sizes);
	block_sizes = NULL;
	cluster_blocks_free();
}
