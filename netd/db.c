/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state database: schema, loading at start, and typed rows for the managers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "netd.h"
#include "daemon.h"
#include "store.h"

/* The tenants table is a macro that the string literals after it continue. */
/* clang-format off */
static const char *const migrations[] = {
	/* 1: initial schema.  Bridge and host veth names derive from the ids, so they are not
	 * stored; AUTOINCREMENT keeps ids (and so names) from ever being reused. */
	TK_TENANTS_TABLE_SQL("max_networks INTEGER, max_endpoints INTEGER")
	"CREATE TABLE networks ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	"  subnet4 TEXT, gateway4 TEXT, subnet6 TEXT, gateway6 TEXT,"
	"  mtu INTEGER NOT NULL, nat INTEGER NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE network_links ("
	"  a INTEGER NOT NULL REFERENCES networks(id),"
	"  b INTEGER NOT NULL REFERENCES networks(id),"
	"  PRIMARY KEY (a, b), CHECK (a < b));"
	"CREATE TABLE endpoints ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  network_id INTEGER NOT NULL REFERENCES networks(id),"
	"  container_id TEXT NOT NULL, ifname TEXT NOT NULL, netns TEXT NOT NULL,"
	"  mac TEXT NOT NULL, ip4 TEXT, ip6 TEXT,"
	"  created INTEGER NOT NULL,"
	"  UNIQUE (container_id, ifname));"
	"CREATE INDEX endpoints_network ON endpoints(network_id);",
	/* 2: address-only leases for the tenant-ipam plugin live beside veth endpoints, so both
	 * share the (container_id, ifname) key, the pools and the tenant limits. */
	"ALTER TABLE endpoints ADD COLUMN kind TEXT NOT NULL DEFAULT 'veth' "
	"  CHECK (kind IN ('veth', 'ipam'));",
	/* 3: address-space caps and allowed subnets per tenant (NULL: unlimited, none); the
	 * database's id, stamped on the bridges it makes so that another netd's are never taken. */
	"ALTER TABLE tenants ADD COLUMN max_addresses4 INTEGER;"
	"ALTER TABLE tenants ADD COLUMN max_prefixes6 INTEGER;"
	"ALTER TABLE tenants ADD COLUMN allow_subnets TEXT;"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT INTO meta (key, value) VALUES ('db_id', lower(hex(randomblob(8))));",
	/* 4: published ports (one host port and protocol, one mapping), and what netd keeps of a
	 * tenant beside the shared columns: the host ports it owns and its egress address. */
	"CREATE TABLE port_mappings ("
	"  endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,"
	"  protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),"
	"  host_port INTEGER NOT NULL, container_port INTEGER NOT NULL, host_ip TEXT,"
	"  UNIQUE (protocol, host_port));"
	"CREATE INDEX port_mappings_endpoint ON port_mappings(endpoint_id);"
	"CREATE TABLE tenant_net ("
	"  tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,"
	"  host_port_min INTEGER NOT NULL, host_port_max INTEGER NOT NULL, egress_ip TEXT);",
	/* 5: per-tenant shaping (docs/bandwidth.md): bit/s out of and into its containers, and
	 * its weight on a contended link (NULL: unlimited, the default weight). */
	"ALTER TABLE tenants ADD COLUMN egress INTEGER;"
	"ALTER TABLE tenants ADD COLUMN ingress INTEGER;"
	"ALTER TABLE tenants ADD COLUMN weight INTEGER;",
	/* accounting: monotonic totals of the tenants', networks' and endpoints' counters
	 * (netd/accounting.c): base is what earlier lives of a kernel counter counted, seen its
	 * value when last read.  A tenant's row also holds what its gone endpoints counted. */
	"CREATE TABLE counters ("
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  kind TEXT NOT NULL CHECK (kind IN ('tenant', 'network', 'endpoint')),"
	"  object_id INTEGER NOT NULL, name TEXT NOT NULL,"
	"  base INTEGER NOT NULL DEFAULT 0, seen INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (kind, object_id, name));"
	"CREATE INDEX counters_tenant ON counters(tenant_id);",
	/* internal networks (docker network create --internal): nothing in or out but their links */
	"ALTER TABLE networks ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;",
	/* the CNI network (configuration name) whose runtime made an endpoint: its GC's scope */
	"ALTER TABLE endpoints ADD COLUMN cni_name TEXT;",
};
/* clang-format on */

int db_open(struct manager *m, tk_err *err)
{
	int r = tk_daemon_open_state(m->state_dir, "netd.db", migrations, ELEMENTSOF(migrations),
				     &netd_tenants, &m->store, &m->tenants, err);

	m->tenants.limit_defaults = m->tenant_defaults;
	return r;
}

static int parse_stored_prefix(const char *s, struct tk_prefix *p, tk_err *err)
{
	int r = tk_prefix_parse(s, p, err);
	return r < 0 ? tk_err_wrap(err, r, "corrupt state database") : 0;
}

static int network_from_row(struct manager *m, sqlite3_stmt *st, struct network *n, tk_err *err)
{
	int64_t tenant_id = sqlite3_column_int64(st, 2);
	int r;

	n->id = sqlite3_column_int64(st, 0);
	snprintf(n->name, sizeof(n->name), "%s", tk_store_column_text(st, 1));
	snprintf(n->bridge, sizeof(n->bridge), "tk-%llx", (unsigned long long)n->id);
	if (!(n->tenant = tk_tenant_get_by_id(&m->tenants, tenant_id)))
		return tk_err_set(err, -EIO, "network '%s' has no tenant", n->name);
	n->has4 = sqlite3_column_type(st, 3) != SQLITE_NULL;
	n->has6 = sqlite3_column_type(st, 5) != SQLITE_NULL;
	if (n->has4) {
		if ((r = parse_stored_prefix(tk_store_column_text(st, 3), &n->subnet4, err)) < 0 ||
		    (r = tk_addr_parse(tk_store_column_text(st, 4), &n->gateway4, err)) < 0)
			return r;
	}
	if (n->has6) {
		if ((r = parse_stored_prefix(tk_store_column_text(st, 5), &n->subnet6, err)) < 0 ||
		    (r = tk_addr_parse(tk_store_column_text(st, 6), &n->gateway6, err)) < 0)
			return r;
	}
	n->mtu = (unsigned)sqlite3_column_int64(st, 7);
	n->nat = sqlite3_column_int(st, 8) != 0;
	n->created = sqlite3_column_int64(st, 9);
	n->internal = sqlite3_column_int(st, 10) != 0;
	return 0;
}

/* Pools hold the gateway and every endpoint's addresses, so allocation never hands out a
 * recorded address twice. */
static int network_make_pools(struct network *n, tk_err *err)
{
	int r;

	if (n->has4) {
		if ((r = tk_ipam_pool_new(&n->subnet4, &n->pool4, err)) < 0 ||
		    (r = tk_ipam_pool_reserve(n->pool4, &n->gateway4, err)) < 0)
			return r;
	}
	if (n->has6) {
		if ((r = tk_ipam_pool_new(&n->subnet6, &n->pool6, err)) < 0 ||
		    (r = tk_ipam_pool_reserve(n->pool6, &n->gateway6, err)) < 0)
			return r;
	}
	return 0;
}

static int load_networks(struct manager *m, tk_err *err)
{
	sqlite3_stmt *st;
	struct network **tail = &m->networks;
	int r, rc;

	r = tk_store_stmt(
		m->store,
		"SELECT id, name, tenant_id, subnet4, gateway4, subnet6, gateway6, mtu, nat, "
		"created, internal FROM networks ORDER BY id",
		&st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct network *n = calloc(1, sizeof(*n));
		if (!n)
			return tk_err_set(err, -ENOMEM, "out of memory");
		*tail = n;
		tail = &n->next;
		if ((r = network_from_row(m, st, n, err)) < 0 ||
		    (r = network_make_pools(n, err)) < 0)
			return r;
		n->tenant->n_networks++;
	}
	manager_networks_changed(m);
	return rc == SQLITE_DONE ? 0 : tk_store_step_error(m->store, rc, "loading networks", err);
}

static int reserve_endpoint(struct endpoint *e, void *userdata)
{
	struct manager *m = userdata;
	tk_err err = {};
	int r;

	/* A collision here means the database was edited by hand: report it, keep serving. */
	if (e->has4 && (r = tk_ipam_pool_reserve(e->network->pool4, &e->ip4, &err)) < 0)
		log_warning_errno(r, "Endpoint %s/%s: %s", e->container_id, e->ifname, err.msg);
	if (e->has6 && (r = tk_ipam_pool_reserve(e->network->pool6, &e->ip6, &err)) < 0)
		log_warning_errno(r, "Endpoint %s/%s: %s", e->container_id, e->ifname, err.msg);
	e->network->n_endpoints++;
	e->network->n_ports += !e->lease;
	e->network->tenant->n_endpoints++;
	m->n_endpoints++;
	return 0;
}

/* Past every id ever used (AUTOINCREMENT's record too), so a veth name is never reused. */
static int load_next_endpoint_id(struct manager *m, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(
		m->store,
		"SELECT max(ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'endpoints'), 0), "
		"ifnull((SELECT max(id) FROM endpoints), 0))",
		&st, err);
	if (r < 0)
		return r;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return tk_store_step_error(m->store, rc, "reading the last endpoint id", err);
	m->next_endpoint_id = sqlite3_column_int64(st, 0) + 1;
	sqlite3_reset(st);
	return 0;
}

static int load_db_id(struct manager *m, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(m->store, "SELECT value FROM meta WHERE key = 'db_id'", &st, err);
	if (r < 0)
		return r;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return tk_store_step_error(m->store, rc, "reading the database id", err);
	snprintf(m->db_id, sizeof(m->db_id), "%s", tk_store_column_text(st, 0));
	sqlite3_reset(st);
	return 0;
}

int db_load(struct manager *m, tk_err *err)
{
	int r;

	if ((r = load_db_id(m, err)) < 0 || (r = load_networks(m, err)) < 0 ||
	    (r = load_next_endpoint_id(m, err)) < 0)
		return r;
	return db_endpoints_foreach(m, NULL, NULL, reserve_endpoint, m, err);
}

static int delete_by_id(struct manager *m, const char *sql, int64_t id, tk_err *err)
{
	sqlite3_stmt *st;
	int r = tk_store_stmt(m->store, sql, &st, err);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	return tk_store_step_done(m->store, st, err);
}

static void bind_opt_prefix(sqlite3_stmt *st, int col, bool has, const struct tk_prefix *p)
{
	char buf[TK_PREFIX_STRLEN];

	if (has)
		sqlite3_bind_text(st, col, tk_prefix_format(p, buf, sizeof(buf)), -1,
				  SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, col);
}

static void bind_opt_addr(sqlite3_stmt *st, int col, bool has, const struct tk_addr *a)
{
	char buf[TK_ADDR_STRLEN];

	if (has)
		sqlite3_bind_text(st, col, tk_addr_format(a, buf, sizeof(buf)), -1,
				  SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, col);
}

int db_network_insert(struct manager *m, struct network *n, tk_err *err)
{
	sqlite3_stmt *st;
	int r;

	r = tk_store_stmt(
		m->store,
		"INSERT INTO networks (name, tenant_id, subnet4, gateway4, subnet6, gateway6, "
		"mtu, nat, created, internal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		&st, err);
	if (r < 0)
		return r;
	n->created = time(NULL);
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, n->tenant->id);
	bind_opt_prefix(st, 3, n->has4, &n->subnet4);
	bind_opt_addr(st, 4, n->has4, &n->gateway4);
	bind_opt_prefix(st, 5, n->has6, &n->subnet6);
	bind_opt_addr(st, 6, n->has6, &n->gateway6);
	sqlite3_bind_int64(st, 7, n->mtu);
	sqlite3_bind_int(st, 8, n->nat);
	sqlite3_bind_int64(st, 9, n->created);
	sqlite3_bind_int(st, 10, n->internal);
	if ((r = tk_store_step_done(m->store, st, err)) < 0)
		return r;
	n->id = sqlite3_last_insert_rowid(tk_store_db(m->store));
	snprintf(n->bridge, sizeof(n->bridge), "tk-%llx", (unsigned long long)n->id);
	return 0;
}

int db_network_delete(struct manager *m, const struct network *n, tk_err *err)
{
	int r = delete_by_id(m, "DELETE FROM network_links WHERE a = ?1 OR b = ?1", n->id, err);
	if (r < 0)
		return r;
	return delete_by_id(m, "DELETE FROM networks WHERE id = ?", n->id, err);
}

int db_link_set(struct manager *m, const struct network *a, const struct network *b, bool linked,
		tk_err *err)
{
	sqlite3_stmt *st;
	int r;

	r = tk_store_stmt(m->store,
			  linked ? "INSERT OR IGNORE INTO network_links (a, b) VALUES (?, ?)"
				 : "DELETE FROM network_links WHERE a = ? AND b = ?",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, a->id < b->id ? a->id : b->id);
	sqlite3_bind_int64(st, 2, a->id < b->id ? b->id : a->id);
	return tk_store_step_done(m->store, st, err);
}

int db_links_foreach(struct manager *m, const struct network *n,
		     int (*cb)(struct network *other, void *userdata), void *userdata, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(m->store,
			  "SELECT b FROM network_links WHERE a = ?1 UNION "
			  "SELECT a FROM network_links WHERE b = ?1",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, n->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct network *other = manager_network_by_id(m, sqlite3_column_int64(st, 0));
		if (other && (r = cb(other, userdata)) < 0) {
			sqlite3_reset(st);
			return r;
		}
	}
	return rc == SQLITE_DONE ? 0
				 : tk_store_step_error(m->store, rc, "reading network links", err);
}

/* The host end's name and MAC follow from the id: nothing to store, nothing to look up. */
static void derive_host_side(struct endpoint *e)
{
	uint32_t id = (uint32_t)(e->id & 0xffffffffu);
	const uint8_t mac[6] = {
		0x0a,	    0x7e, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
		(uint8_t)id
	};

	snprintf(e->host_ifname, sizeof(e->host_ifname), "tkv%08x", id);
	memcpy(e->host_mac, mac, sizeof(mac));
	/* Not its index: an older netd's veth, or one whose index was taken, has the kernel's. */
	e->host_ifindex = 0;
}

void db_endpoint_assign_id(struct manager *m, struct endpoint *e)
{
	e->id = m->next_endpoint_id++;
	e->created = time(NULL);
	derive_host_side(e);
	e->host_ifindex = endpoint_host_ifindex(e->id);
}

int db_endpoint_insert(struct manager *m, const struct endpoint *e, tk_err *err)
{
	char mac[TK_MAC_STRLEN];
	sqlite3_stmt *st;
	int r;

	r = tk_store_stmt(
		m->store,
		"INSERT INTO endpoints (id, network_id, container_id, ifname, netns, mac, ip4, "
		"ip6, created, kind, cni_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		&st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, e->id);
	sqlite3_bind_int64(st, 2, e->network->id);
	sqlite3_bind_text(st, 3, e->container_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->ifname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->netns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, tk_mac_format(e->mac, mac, sizeof(mac)), -1, SQLITE_TRANSIENT);
	bind_opt_addr(st, 7, e->has4, &e->ip4);
	bind_opt_addr(st, 8, e->has6, &e->ip6);
	sqlite3_bind_int64(st, 9, e->created);
	sqlite3_bind_text(st, 10, e->lease ? "ipam" : "veth", -1, SQLITE_STATIC);
	if (e->cni_name)
		sqlite3_bind_text(st, 11, e->cni_name, -1, SQLITE_STATIC);
	r = tk_store_step_done(m->store, st, err);
	if (r == -EEXIST)
		return tk_err_set(err, -EEXIST, "container '%s' already has an interface '%s'",
				  e->container_id, e->ifname);
	return r;
}

/* Docker's Join: the sandbox's netns path, which endpoint.check opens for admins. */
int db_endpoint_set_netns(struct manager *m, int64_t id, const char *netns, tk_err *err)
{
	sqlite3_stmt *st;
	int r = tk_store_stmt(m->store, "UPDATE endpoints SET netns = ? WHERE id = ?", &st, err);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, netns, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	return tk_store_step_done(m->store, st, err);
}

int db_endpoint_delete(struct manager *m, int64_t id, tk_err *err)
{
	return delete_by_id(m, "DELETE FROM endpoints WHERE id = ?", id, err);
}

#define ENDPOINT_COLUMNS "id, network_id, container_id, ifname, netns, mac, ip4, ip6, created, kind"

/* A text column into a buffer, cut to its size as snprintf would (the row's length is known). */
static void copy_column(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const char *s = tk_store_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	if (n >= size)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* The row's network by manager_network_by_id, a hash lookup: fine for 10,000 rows a listing. */
static int endpoint_from_row(struct manager *m, sqlite3_stmt *st, struct endpoint *e, tk_err *err)
{
	int64_t network_id = sqlite3_column_int64(st, 1);
	int r;

	/* Field by field: zeroing all 5 KiB of it (netns is a path) was 50 MB for a listing. */
	e->ip4 = e->ip6 = (struct tk_addr){};
	e->id = sqlite3_column_int64(st, 0);
	e->network = manager_network_by_id(m, network_id);
	if (!e->network)
		return tk_err_set(err, -EIO, "endpoint %lld has no network", (long long)e->id);
	copy_column(st, 2, e->container_id, sizeof(e->container_id));
	copy_column(st, 3, e->ifname, sizeof(e->ifname));
	copy_column(st, 4, e->netns, sizeof(e->netns));
	derive_host_side(e);
	if ((r = tk_mac_parse(tk_store_column_text(st, 5), e->mac, err)) < 0)
		return r;
	e->has4 = sqlite3_column_type(st, 6) != SQLITE_NULL;
	e->has6 = sqlite3_column_type(st, 7) != SQLITE_NULL;
	if (e->has4 && (r = tk_addr_parse(tk_store_column_text(st, 6), &e->ip4, err)) < 0)
		return r;
	if (e->has6 && (r = tk_addr_parse(tk_store_column_text(st, 7), &e->ip6, err)) < 0)
		return r;
	e->created = sqlite3_column_int64(st, 8);
	e->lease = strcmp(tk_store_column_text(st, 9), "ipam") == 0;
	e->cni_name = NULL;
	return 0;
}

int db_endpoint_find(struct manager *m, const char *container_id, const char *ifname,
		     struct endpoint *ret, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(m->store,
			  "SELECT " ENDPOINT_COLUMNS
			  " FROM endpoints WHERE container_id = ? AND ifname = ?",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, container_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ifname, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return tk_err_set(err, -ENOENT, "container '%s' has no interface '%s'",
				  container_id, ifname);
	if (rc != SQLITE_ROW)
		return tk_store_step_error(m->store, rc, "looking up endpoint", err);
	r = endpoint_from_row(m, st, ret, err);
	sqlite3_reset(st);
	return r;
}

int db_endpoint_find_by_id(struct manager *m, int64_t id, struct endpoint *ret, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(m->store, "SELECT " ENDPOINT_COLUMNS " FROM endpoints WHERE id = ?", &st,
			  err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return tk_err_set(err, -ENOENT, "no endpoint %lld", (long long)id);
	if (rc != SQLITE_ROW)
		return tk_store_step_error(m->store, rc, "looking up endpoint", err);
	r = endpoint_from_row(m, st, ret, err);
	sqlite3_reset(st);
	return r;
}

int db_endpoint_find_by_mac(struct manager *m, const struct network *n, const uint8_t mac[6],
			    struct endpoint *ret, tk_err *err)
{
	char text[TK_MAC_STRLEN];
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(m->store,
			  "SELECT " ENDPOINT_COLUMNS " FROM endpoints"
			  " WHERE network_id = ? AND mac = ? AND kind = 'veth'",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, n->id);
	sqlite3_bind_text(st, 2, tk_mac_format(mac, text, sizeof(text)), -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return tk_store_step_error(m->store, rc, "looking up endpoint", err);
	r = endpoint_from_row(m, st, ret, err);
	sqlite3_reset(st);
	return r < 0 ? r : 1;
}

/* An endpoint listing's scope: ?1 network, ?2 tenant (NULL: any), ?3 after, ?until_param until. */
static void bind_range(sqlite3_stmt *st, const struct network *network,
		       const struct tk_tenant *tenant, int64_t after, int64_t until,
		       int until_param)
{
	if (network)
		sqlite3_bind_int64(st, 1, network->id);
	if (tenant)
		sqlite3_bind_int64(st, 2, tenant->id);
	sqlite3_bind_int64(st, 3, after);
	if (until > 0)
		sqlite3_bind_int64(st, until_param, until);
}

int db_endpoints_range(struct manager *m, const struct network *network,
		       const struct tk_tenant *tenant, const char *cni_name, int64_t after,
		       int64_t until, int64_t limit, int (*cb)(struct endpoint *e, void *userdata),
		       void *userdata, int64_t *ret_last, tk_err *err)
{
	/*
	 * On the stack: a 5 KiB malloc() is a "large" request, for which glibc first merges every
	 * small chunk the previous page's objects left in its fastbins (malloc_consolidate was 18 %
	 * of netd's time in a listing) and the page then rebuilds its objects from the merged chunks.
	 */
	struct endpoint row, *e = &row;
	sqlite3_stmt *st;
	int64_t last = 0, rows = 0;
	int r, rc;

	/* The primary key gives the order and the page; a tenant's endpoints are those of its
	 * networks, so that a page of one tenant is not a scan of everyone's. */
	r = tk_store_stmt(m->store,
			  "SELECT " ENDPOINT_COLUMNS " FROM endpoints WHERE id > ?3 "
			  "AND (?5 IS NULL OR id <= ?5) "
			  "AND (?1 IS NULL OR network_id = ?1) "
			  "AND (?2 IS NULL OR network_id IN "
			  "(SELECT id FROM networks WHERE tenant_id = ?2)) "
			  "AND (?6 IS NULL OR cni_name = ?6) "
			  "ORDER BY id LIMIT ?4",
			  &st, err);
	if (r < 0)
		return r;
	bind_range(st, network, tenant, after, until, 5);
	if (cni_name)
		sqlite3_bind_text(st, 6, cni_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = endpoint_from_row(m, st, e, err)) < 0)
			break;
		last = e->id;
		rows++;
		if ((r = cb(e, userdata)) < 0)
			break;
		if (r > 0) /* the callback has enough: the page ends here */
			break;
	}
	if (rc == SQLITE_ROW) {
		sqlite3_reset(st);
		if (r < 0)
			return r;
	} else if (rc != SQLITE_DONE) {
		return tk_store_step_error(m->store, rc, "reading endpoints", err);
	}
	/* More may follow: the page ended early or at limit, and not at the end of the run. */
	if (rc != SQLITE_ROW && !(limit > 0 && rows == limit))
		last = 0;
	if (until > 0 && last >= until)
		last = 0;
	if (ret_last)
		*ret_last = last;
	return 0;
}

int db_endpoint_ids(struct manager *m, const struct network *network,
		    const struct tk_tenant *tenant, int64_t after, int64_t until,
		    int (*cb)(int64_t id, const struct network *n, void *userdata), void *userdata,
		    tk_err *err)
{
	sqlite3_stmt *st;
	int r = 0, rc;

	/* Two integer columns, no row parsed: a fifth of the time endpoint rows take. */
	r = tk_store_stmt(m->store,
			  "SELECT id, network_id FROM endpoints WHERE id > ?3 "
			  "AND (?4 IS NULL OR id <= ?4) "
			  "AND (?1 IS NULL OR network_id = ?1) "
			  "AND (?2 IS NULL OR network_id IN "
			  "(SELECT id FROM networks WHERE tenant_id = ?2)) "
			  "ORDER BY id",
			  &st, err);
	if (r < 0)
		return r;
	bind_range(st, network, tenant, after, until, 4);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const struct network *n = manager_network_by_id(m, sqlite3_column_int64(st, 1));

		if (!n) {
			r = tk_err_set(err, -EIO, "endpoint %lld has no network", (long long)id);
			break;
		}
		if ((r = cb(id, n, userdata)) < 0)
			break;
	}
	if (rc == SQLITE_ROW) {
		sqlite3_reset(st);
		return r;
	}
	if (rc != SQLITE_DONE)
		return tk_store_step_error(m->store, rc, "reading endpoints", err);
	return 0;
}

int db_endpoints_page(struct manager *m, const struct network *network,
		      const struct tk_tenant *tenant, int64_t after, int64_t limit,
		      int (*cb)(struct endpoint *e, void *userdata), void *userdata,
		      int64_t *ret_last, tk_err *err)
{
	return db_endpoints_range(m, network, tenant, NULL, after, 0, limit, cb, userdata, ret_last,
				  err);
}

struct foreach_ctx {
	int (*cb)(struct endpoint *e, void *userdata);
	void *userdata;
};

/* For db_endpoints_foreach's callbacks, anything but a failure means "go on". */
static int foreach_one(struct endpoint *e, void *userdata)
{
	struct foreach_ctx *ctx = userdata;
	int r = ctx->cb(e, ctx->userdata);

	return r < 0 ? r : 0;
}

int db_endpoints_foreach(struct manager *m, const struct network *network,
			 const struct tk_tenant *tenant,
			 int (*cb)(struct endpoint *e, void *userdata), void *userdata, tk_err *err)
{
	struct foreach_ctx ctx = { cb, userdata };

	return db_endpoints_page(m, network, tenant, 0, 0, foreach_one, &ctx, NULL, err);
}
