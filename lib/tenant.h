/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Tenants, as both daemons keep them: one row of the daemon's tenants table each, loaded into a
 * list in id order at start, created, found (and authorised), listed and deleted by the tenant.*
 * ops that netd and volumed share.  Each daemon's table stores the limits that daemon enforces
 * (netd: networks, endpoints and the address-space caps, plus the subnets a tenant's owner may
 * choose; volumed: bytes and volumes); the usage counters are the daemon's to keep, from what it
 * loads and changes.
 */

#include <errno.h>
#include <jansson.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"
#include "server.h"

struct tk_store;

enum tk_tenant_limit {
	TK_TENANT_MAX_NETWORKS,
	TK_TENANT_MAX_ENDPOINTS,
	TK_TENANT_MAX_BYTES,
	TK_TENANT_MAX_VOLUMES,
	TK_TENANT_MAX_ADDRESSES4, /* IPv4 addresses in all its subnets */
	TK_TENANT_MAX_PREFIXES6,  /* IPv6 /64s in all its subnets */
	TK_TENANT_EGRESS,	  /* bit/s out of all its containers (docs/bandwidth.md) */
	TK_TENANT_INGRESS,	  /* bit/s into all its containers */
	TK_TENANT_WEIGHT,	  /* its share of a contended link (-1: the default, 1) */
	_TK_TENANT_LIMIT_MAX,
	_TK_TENANT_LIMIT_INVALID = -EINVAL,
};

struct tk_tenant {
	int64_t id;
	char name[TK_NAME_MAX + 1];
	int64_t owner_uid; /* -1: none */
	int64_t owner_gid; /* -1: none */
	/* -1: unlimited, and always so for a limit the daemon does not store. */
	int64_t max_networks, max_endpoints, max_bytes, max_volumes;
	int64_t max_addresses4, max_prefixes6;
	int64_t egress, ingress, weight; /* bit/s, bit/s, 1..TK_TENANT_WEIGHT_MAX */
	/* Subnets its owner may choose beside the daemon's; empty where the kind keeps none. */
	struct tk_prefix_list allow_subnets;
	/* netd only (its tenant_net table): the host ports it owns (0-0: none), its egress address. */
	uint16_t host_port_min, host_port_max;
	bool has_egress_ip;
	struct tk_addr egress_ip;
	int64_t created;
	/* Usage, counted by the daemon. */
	unsigned n_networks, n_endpoints, n_volumes;
	uint64_t bytes; /* the sum of the sizes of the tenant's volumes */
	struct tk_tenant *next;
};

/* What one daemon's tenants are like. */
struct tk_tenant_kind {
	/* The limits of its tenants table, in column order (columns and JSON keys: "max_bytes"). */
	const enum tk_tenant_limit *limits;
	size_t n_limits;
	/* Adds the usage keys of t ("networks": 2, ...) to its JSON object o. */
	void (*usage_json)(const struct tk_tenant *t, json_t *o);
	/* How many things t holds, which keep it from being deleted, and what they are ("volume(s)"). */
	unsigned (*held)(const struct tk_tenant *t);
	const char *held_what;
	/* Its table has an allow_subnets column ("a/n,b/m" or NULL), tenant.create the key. */
	bool allow_subnets;
};

struct tk_tenants {
	const struct tk_tenant_kind *kind;
	struct tk_store *store;
	/* In id order, so listings are the same before and after a restart. */
	struct tk_tenant *list;
	/* NULL, or what tenant.create gives each limit it is not given (-1: unlimited). */
	const int64_t *limit_defaults;
};

/*
 * The tenants table of a daemon's first migration, with its limit columns in the order of its
 * kind's limits, e.g. TK_TENANTS_TABLE_SQL("max_bytes INTEGER, max_volumes INTEGER").
 */
#define TK_TENANTS_TABLE_SQL(limit_columns)                                                        \
	"CREATE TABLE tenants ("                                                                   \
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"                                                  \
	"  name TEXT NOT NULL UNIQUE,"                                                             \
	"  owner_uid INTEGER, owner_gid INTEGER,"                                                  \
	"  " limit_columns ","                                                                     \
	"  created INTEGER NOT NULL);"

#define TK_TENANT_WEIGHT_MAX 100
/* Rates netd can shape to: 8 kbit/s .. 100 Gbit/s. */
#define TK_RATE_MIN INT64_C(8000)
#define TK_RATE_MAX INT64_C(100000000000)

/*
 * A rate as tc writes it: a number with an optional unit, bit kbit mbit gbit tbit (bits per
 * second, decimal multiples, like a bare number), bps kbps mbps gbps (bytes per second) or the
 * binary kibit mibit gibit; fractions allowed ("1.5gbit").  -EINVAL for anything else, -ERANGE
 * outside TK_RATE_MIN..TK_RATE_MAX.
 */
int tk_rate_parse(const char *s, const char *what, int64_t *ret_bps, tk_err *err);
/* "100mbit", "1.5gbit", "8kbit": the shortest exact-enough form of bps. */
const char *tk_rate_format(int64_t bps, char *buf, size_t size);

/* "max_networks", ...; NULL for anything else. */
const char *tk_tenant_limit_to_string(enum tk_tenant_limit l);

/* Reads every row of the tenants table into ts->list (which must be empty). */
int tk_tenants_load(struct tk_tenants *ts, tk_err *err);
/* Frees the list. */
void tk_tenants_done(struct tk_tenants *ts);

struct tk_tenant *tk_tenant_get(const struct tk_tenants *ts, const char *name);
struct tk_tenant *tk_tenant_get_by_id(const struct tk_tenants *ts, int64_t id);

/* Root, the admin group and the tenant's owner (uid or gid) may act on t; else -EACCES. */
int tk_tenant_may_manage(const struct tk_caller *c, const struct tk_tenant *t, tk_err *err);
/* The tenant called name if c may manage it: -ENOENT or -EACCES otherwise. */
int tk_tenant_find(const struct tk_tenants *ts, const struct tk_caller *c, const char *name,
		   struct tk_tenant **ret, tk_err *err);

/*
 * Creates a tenant like p (name, owners, the kind's limits), recorded in the store and appended
 * to the list.  -EINVAL for a bad name, -EEXIST when the name is taken.
 */
int tk_tenant_create(struct tk_tenants *ts, const struct tk_tenant *p, struct tk_tenant **ret,
		     tk_err *err);
/* Deletes t (row and list entry, t is freed); -EBUSY while it holds something. */
int tk_tenant_delete(struct tk_tenants *ts, struct tk_tenant *t, tk_err *err);

/* {name, id, owner_uid, owner_gid, <limits>, <usage>, created}; unset values are null. */
json_t *tk_tenant_to_json(const struct tk_tenants *ts, const struct tk_tenant *t);

/*
 * The args of tenant.create: name, owner_uid?, owner_gid?, the kind's limits (integers, null;
 * max_bytes also a size like "10G") and allow_subnets (an array of CIDRs) where the kind keeps
 * them.  Fills p with the limit defaults (else -1) for every limit not given.
 */
int tk_tenant_params_from_json(const struct tk_tenants *ts, json_t *args, struct tk_tenant *p,
			       tk_err *err);

/*
 * The args of tenant.set: name and any of the kind's limits (null: unlimited, or the default
 * for weight).  Fills p with t's values and the ones given; -EINVAL when nothing is given.
 */
int tk_tenant_set_params_from_json(const struct tk_tenants *ts, const struct tk_tenant *t,
				   json_t *args, struct tk_tenant *p, tk_err *err);
/* Writes p's limits to t's row, then to t. */
int tk_tenant_update(struct tk_tenants *ts, struct tk_tenant *t, const struct tk_tenant *p,
		     tk_err *err);

/* The tenant.* ops of both protocols (docs/protocol.md, docs/volumed-protocol.md). */
int tk_tenant_op_create(struct tk_tenants *ts, const struct tk_caller *c, json_t *args,
			json_t **ret, tk_err *err);
int tk_tenant_op_list(struct tk_tenants *ts, const struct tk_caller *c, json_t *args, json_t **ret,
		      tk_err *err);
int tk_tenant_op_inspect(struct tk_tenants *ts, const struct tk_caller *c, json_t *args,
			 json_t **ret, tk_err *err);
int tk_tenant_op_delete(struct tk_tenants *ts, const struct tk_caller *c, json_t *args,
			json_t **ret, tk_err *err);
