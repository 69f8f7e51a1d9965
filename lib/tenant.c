/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tenants of both daemons: rows, the in-memory list, and the tenant.* ops. */
#include "tenant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "volume.h"

static const struct {
	const char *name;
	size_t offset;
	int64_t max;
	bool size; /* also a size like "10G" */
	bool rate; /* a rate: "100mbit" or bit/s, TK_RATE_MIN..max; null (not -1) for none */
	int64_t min;
} limits[_TK_TENANT_LIMIT_MAX] = {
	[TK_TENANT_MAX_NETWORKS] = { "max_networks", offsetof(struct tk_tenant, max_networks),
				     1 << 20 },
	[TK_TENANT_MAX_ENDPOINTS] = { "max_endpoints", offsetof(struct tk_tenant, max_endpoints),
				      1 << 24 },
	[TK_TENANT_MAX_BYTES] = { "max_bytes", offsetof(struct tk_tenant, max_bytes), INT64_MAX,
				  true },
	[TK_TENANT_MAX_VOLUMES] = { "max_volumes", offsetof(struct tk_tenant, max_volumes),
				    1 << 20 },
	[TK_TENANT_MAX_ADDRESSES4] = { "max_addresses4", offsetof(struct tk_tenant, max_addresses4),
				       INT64_C(1) << 40 },
	[TK_TENANT_MAX_PREFIXES6] = { "max_prefixes6", offsetof(struct tk_tenant, max_prefixes6),
				      INT64_C(1) << 40 },
	[TK_TENANT_EGRESS] = { "egress", offsetof(struct tk_tenant, egress), TK_RATE_MAX,
			       .rate = true, .min = TK_RATE_MIN },
	[TK_TENANT_INGRESS] = { "ingress", offsetof(struct tk_tenant, ingress), TK_RATE_MAX,
				.rate = true, .min = TK_RATE_MIN },
	[TK_TENANT_WEIGHT] = { "weight", offsetof(struct tk_tenant, weight), TK_TENANT_WEIGHT_MAX,
			       .min = 1 },
};

static const struct {
	const char *unit;
	double bps;
} rate_units[] = {
	{ "bit", 1 },	  { "kbit", 1e3 },     { "mbit", 1e6 },	       { "gbit", 1e9 },
	{ "tbit", 1e12 }, { "bps", 8 },	       { "kbps", 8e3 },	       { "mbps", 8e6 },
	{ "gbps", 8e9 },  { "kibit", 1024.0 }, { "mibit", 1048576.0 }, { "gibit", 1073741824.0 },
};

int tk_rate_parse(const char *s, const char *what, int64_t *ret_bps, tk_err *err)
{
	double v, mult = 0;
	const char *end;

	/* Digits, maybe a fraction, a unit: strtod alone would take "-1", "inf", "1e9", hex. */
	if (!s || !(s[0] >= '0' && s[0] <= '9') || strlen(s) > 64)
		goto bad;
	end = s + strspn(s, "0123456789");
	if (*end == '.')
		end += 1 + strspn(end + 1, "0123456789");
	errno = 0;
	v = strtod(s, NULL);
	if (errno != 0 && errno != ERANGE)
		goto bad;
	if (!*end)
		mult = 1;
	for (size_t i = 0; !mult && i < ELEMENTSOF(rate_units); i++)
		if (strcasecmp(end, rate_units[i].unit) == 0)
			mult = rate_units[i].bps;
	if (!mult)
		goto bad;
	v *= mult;
	if (!(v >= (double)TK_RATE_MIN && v <= (double)TK_RATE_MAX))
		return tk_err_set(err, -ERANGE,
				  "%s '%s' is out of range (8kbit..100gbit, or null for none)",
				  what, s);
	*ret_bps = (int64_t)(v + 0.5);
	return 0;
bad:
	return tk_err_set(err, -EINVAL,
			  "%s '%s' is not a rate: a number and a unit like 100mbit, 1gbit, "
			  "500kbit or 10mbps (bytes)",
			  what, s ? s : "");
}

const char *tk_rate_format(int64_t bps, char *buf, size_t size)
{
	static const struct {
		const char *unit;
		int64_t div;
	} u[] = { { "gbit", 1000000000 }, { "mbit", 1000000 }, { "kbit", 1000 } };

	for (size_t i = 0; i < ELEMENTSOF(u); i++)
		if (bps >= u[i].div && bps % (u[i].div / 1000) == 0) {
			snprintf(buf, size, "%.6g%s", (double)bps / (double)u[i].div, u[i].unit);
			return buf;
		}
	snprintf(buf, size, "%lldbit", (long long)bps);
	return buf;
}

const char *tk_tenant_limit_to_string(enum tk_tenant_limit l)
{
	return l >= 0 && l < _TK_TENANT_LIMIT_MAX ? limits[l].name : NULL;
}

static int64_t *limit_of(struct tk_tenant *t, enum tk_tenant_limit l)
{
	/* offsetof an int64_t member: aligned, though clang's -Wcast-align cannot know. */
	return (int64_t *)(void *)((char *)t + limits[l].offset);
}

static int64_t limit_value(const struct tk_tenant *t, enum tk_tenant_limit l)
{
	return *(const int64_t *)(const void *)((const char *)t + limits[l].offset);
}

static void limits_unset(struct tk_tenant *t)
{
	for (size_t l = 0; l < _TK_TENANT_LIMIT_MAX; l++)
		*limit_of(t, (enum tk_tenant_limit)l) = -1;
}

/* "SELECT id, name, owner_uid, owner_gid, <limits>, created FROM tenants" and the like. */
static int build_sql(const struct tk_tenant_kind *k, bool insert, char *buf, size_t size,
		     tk_err *err)
{
	FILE *f = fmemopen(buf, size, "w");
	int r = 0;

	if (!f)
		return tk_err_set(err, -ENOMEM, "out of memory");
	fputs(insert ? "INSERT INTO tenants (name, owner_uid, owner_gid, "
		     : "SELECT id, name, owner_uid, owner_gid, ",
	      f);
	for (size_t i = 0; i < k->n_limits; i++)
		fprintf(f, "%s, ", limits[k->limits[i]].name);
	if (k->allow_subnets)
		fputs("allow_subnets, ", f);
	if (insert) {
		fputs("created) VALUES (?, ?, ?, ", f);
		for (size_t i = 0; i < k->n_limits + k->allow_subnets; i++)
			fputs("?, ", f);
		fputs("?)", f);
	} else {
		fputs("created FROM tenants ORDER BY id", f);
	}
	if (ferror(f) || fflush(f) != 0 || ftell(f) >= (long)size)
		r = tk_err_set(err, -ENAMETOOLONG, "tenants query too long");
	fclose(f);
	return r;
}

int tk_tenants_load(struct tk_tenants *ts, tk_err *err)
{
	const struct tk_tenant_kind *k = ts->kind;
	struct tk_tenant **tail = &ts->list;
	sqlite3_stmt *st;
	char sql[512];
	int r, rc;

	if ((r = build_sql(k, false, sql, sizeof(sql), err)) < 0 ||
	    (r = tk_store_stmt(ts->store, sql, &st, err)) < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tk_tenant *t = calloc(1, sizeof(*t));
		int col = 0;

		if (!t) {
			sqlite3_reset(st);
			return tk_err_set(err, -ENOMEM, "out of memory");
		}
		limits_unset(t);
		t->id = sqlite3_column_int64(st, col++);
		snprintf(t->name, sizeof(t->name), "%s", tk_store_column_text(st, col++));
		t->owner_uid = tk_store_column_opt_int(st, col++);
		t->owner_gid = tk_store_column_opt_int(st, col++);
		for (size_t i = 0; i < k->n_limits; i++)
			*limit_of(t, k->limits[i]) = tk_store_column_opt_int(st, col++);
		t->created = sqlite3_column_int64(st, col + k->allow_subnets);
		*tail = t;
		tail = &t->next;
		if (k->allow_subnets && sqlite3_column_type(st, col) != SQLITE_NULL &&
		    (r = tk_prefix_list_parse(tk_store_column_text(st, col), "allow_subnets",
					      &t->allow_subnets, err)) < 0) {
			sqlite3_reset(st);
			return tk_err_wrap(err, r, "corrupt state database: tenant '%s'", t->name);
		}
	}
	return rc == SQLITE_DONE ? 0 : tk_store_step_error(ts->store, rc, "loading tenants", err);
}

void tk_tenants_done(struct tk_tenants *ts)
{
	while (ts->list) {
		struct tk_tenant *t = ts->list;
		ts->list = t->next;
		free(t);
	}
}

struct tk_tenant *tk_tenant_get(const struct tk_tenants *ts, const char *name)
{
	for (struct tk_tenant *t = ts->list; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

struct tk_tenant *tk_tenant_get_by_id(const struct tk_tenants *ts, int64_t id)
{
	for (struct tk_tenant *t = ts->list; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

int tk_tenant_may_manage(const struct tk_caller *c, const struct tk_tenant *t, tk_err *err)
{
	return tk_caller_may_manage(c, t->owner_uid, t->owner_gid, t->name, err);
}

int tk_tenant_find(const struct tk_tenants *ts, const struct tk_caller *c, const char *name,
		   struct tk_tenant **ret, tk_err *err)
{
	struct tk_tenant *t = tk_tenant_get(ts, name);

	if (!t)
		return tk_err_set(err, -ENOENT, "no tenant '%s'", name);
	*ret = t;
	return tk_tenant_may_manage(c, t, err);
}

static int insert_row(struct tk_tenants *ts, struct tk_tenant *t, tk_err *err)
{
	const struct tk_tenant_kind *k = ts->kind;
	sqlite3_stmt *st;
	char sql[512];
	int r, col = 1;

	if ((r = build_sql(k, true, sql, sizeof(sql), err)) < 0 ||
	    (r = tk_store_stmt(ts->store, sql, &st, err)) < 0)
		return r;
	sqlite3_bind_text(st, col++, t->name, -1, SQLITE_STATIC);
	tk_store_bind_opt_int(st, col++, t->owner_uid);
	tk_store_bind_opt_int(st, col++, t->owner_gid);
	for (size_t i = 0; i < k->n_limits; i++)
		tk_store_bind_opt_int(st, col++, limit_value(t, k->limits[i]));
	if (k->allow_subnets && t->allow_subnets.n) {
		char allow[TK_PREFIX_LIST_MAX * TK_PREFIX_STRLEN];

		sqlite3_bind_text(st, col++,
				  tk_prefix_list_format(&t->allow_subnets, allow, sizeof(allow)),
				  -1, SQLITE_TRANSIENT);
	} else if (k->allow_subnets) {
		sqlite3_bind_null(st, col++);
	}
	sqlite3_bind_int64(st, col, t->created);
	if ((r = tk_store_step_done(ts->store, st, err)) < 0)
		return r;
	t->id = sqlite3_last_insert_rowid(tk_store_db(ts->store));
	return 0;
}

int tk_tenant_create(struct tk_tenants *ts, const struct tk_tenant *p, struct tk_tenant **ret,
		     tk_err *err)
{
	_cleanup_free_ struct tk_tenant *t = NULL;
	struct tk_tenant **tail = &ts->list;
	int r;

	if ((r = tk_name_validate(p->name, "tenant name", err)) < 0)
		return r;
	if (tk_tenant_get(ts, p->name))
		return tk_err_set(err, -EEXIST, "tenant '%s' already exists", p->name);
	if (!(t = calloc(1, sizeof(*t))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	limits_unset(t);
	snprintf(t->name, sizeof(t->name), "%s", p->name);
	t->owner_uid = p->owner_uid;
	t->owner_gid = p->owner_gid;
	for (size_t i = 0; i < ts->kind->n_limits; i++)
		*limit_of(t, ts->kind->limits[i]) = limit_value(p, ts->kind->limits[i]);
	if (ts->kind->allow_subnets)
		t->allow_subnets = p->allow_subnets;
	t->created = time(NULL);
	if ((r = insert_row(ts, t, err)) < 0)
		return tk_err_wrap(err, r, "creating tenant '%s'", p->name);
	log_info("Created tenant '%s' (id %lld)", t->name, (long long)t->id);
	/* Appended, so listings come in id order before and after a restart. */
	while (*tail)
		tail = &(*tail)->next;
	*tail = t;
	*ret = TAKE_PTR(t);
	return 0;
}

int tk_tenant_delete(struct tk_tenants *ts, struct tk_tenant *t, tk_err *err)
{
	sqlite3_stmt *st;
	int r;

	if (ts->kind->held && ts->kind->held(t) > 0)
		return tk_err_set(err, -EBUSY, "tenant '%s' still has %u %s; delete them first",
				  t->name, ts->kind->held(t), ts->kind->held_what);
	if ((r = tk_store_stmt(ts->store, "DELETE FROM tenants WHERE id = ?", &st, err)) < 0)
		return tk_err_wrap(err, r, "deleting tenant '%s'", t->name);
	sqlite3_bind_int64(st, 1, t->id);
	if ((r = tk_store_step_done(ts->store, st, err)) < 0)
		return tk_err_wrap(err, r, "deleting tenant '%s'", t->name);
	log_info("Deleted tenant '%s'", t->name);
	for (struct tk_tenant **pp = &ts->list; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	free(t);
	return 0;
}

static json_t *opt_int(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *prefixes_json(const struct tk_prefix_list *l)
{
	json_t *a = json_array();
	char buf[TK_PREFIX_STRLEN];

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(tk_prefix_format(&l->p[i], buf, sizeof(buf))));
	return a;
}

json_t *tk_tenant_to_json(const struct tk_tenants *ts, const struct tk_tenant *t)
{
	json_t *o =
		json_pack("{s:s, s:I, s:o, s:o}", "name", t->name, "id", (json_int_t)t->id,
			  "owner_uid", opt_int(t->owner_uid), "owner_gid", opt_int(t->owner_gid));

	if (!o)
		return NULL;
	for (size_t i = 0; i < ts->kind->n_limits; i++)
		json_object_set_new(o, limits[ts->kind->limits[i]].name,
				    opt_int(limit_value(t, ts->kind->limits[i])));
	if (ts->kind->allow_subnets)
		json_object_set_new(o, "allow_subnets", prefixes_json(&t->allow_subnets));
	if (ts->kind->usage_json)
		ts->kind->usage_json(t, o);
	json_object_set_new(o, "created", json_integer(t->created));
	return o;
}

static int owner_from_json(json_int_t v, const char *what, int64_t *ret, tk_err *err)
{
	if (v < -1 || v > 0xfffffffe)
		return tk_err_set(err, -EINVAL, "%s %lld is out of range (0..%lld)", what,
				  (long long)v, 0xfffffffeLL);
	*ret = v;
	return 0;
}

static int limit_from_json(json_t *j, enum tk_tenant_limit l, int64_t *ret, tk_err *err)
{
	const char *what = limits[l].name;
	uint64_t size;
	int r;

	if (!j)
		return 0;
	if (json_is_null(j)) {
		*ret = -1;
		return 0;
	}
	if (limits[l].rate) {
		char num[32];

		if (json_is_string(j))
			return tk_rate_parse(json_string_value(j), what, ret, err);
		if (!json_is_integer(j))
			return tk_err_set(err, -EINVAL, "%s must be a rate like \"100mbit\"", what);
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(j));
		return tk_rate_parse(num, what, ret, err);
	}
	if (limits[l].size) {
		if ((r = tk_size_from_json(j, what, &size, err)) < 0)
			return r;
		if (size > INT64_MAX)
			return tk_err_set(err, -ERANGE, "%s is too large", what);
		*ret = (int64_t)size;
		return 0;
	}
	if (!json_is_integer(j))
		return tk_err_set(err, -EINVAL, "%s must be a number", what);
	if ((json_integer_value(j) < limits[l].min &&
	     !(limits[l].min == 0 && json_integer_value(j) == -1)) ||
	    json_integer_value(j) > limits[l].max)
		return tk_err_set(err, -EINVAL, "%s %lld is out of range (%lld..%lld)", what,
				  (long long)json_integer_value(j), (long long)limits[l].min,
				  (long long)limits[l].max);
	*ret = json_integer_value(j);
	return 0;
}

/* "allow_subnets": an array of CIDR strings. */
static int allow_from_json(json_t *j, struct tk_prefix_list *ret, tk_err *err)
{
	size_t i;
	json_t *v;
	int r;

	*ret = (struct tk_prefix_list){};
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_array(j) || json_array_size(j) > TK_PREFIX_LIST_MAX)
		return tk_err_set(err, -EINVAL,
				  "'allow_subnets' must be an array of at most %d CIDRs",
				  TK_PREFIX_LIST_MAX);
	json_array_foreach(j, i, v)
	{
		if (!json_is_string(v))
			return tk_err_set(err, -EINVAL, "'allow_subnets' entries must be strings");
		if ((r = tk_prefix_parse(json_string_value(v), &ret->p[ret->n], err)) < 0)
			return tk_err_wrap(err, r, "allow_subnets");
		ret->n++;
	}
	return 0;
}

static bool kind_has(const struct tk_tenant_kind *k, enum tk_tenant_limit l)
{
	for (size_t i = 0; i < k->n_limits; i++)
		if (k->limits[i] == l)
			return true;
	return false;
}

int tk_tenant_params_from_json(const struct tk_tenants *ts, json_t *args, struct tk_tenant *p,
			       tk_err *err)
{
	json_int_t uid = -1, gid = -1;
	json_t *l[_TK_TENANT_LIMIT_MAX] = {}, *allow = NULL;
	const char *name;
	int r;

	*p = (struct tk_tenant){};
	limits_unset(p);
	for (size_t i = 0; ts->limit_defaults && i < ts->kind->n_limits; i++)
		*limit_of(p, ts->kind->limits[i]) = ts->limit_defaults[ts->kind->limits[i]];
	r = tk_json_unpack(
		args, "tenant.create args", err,
		"{s:s, s?I, s?I, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?o}", "name", &name,
		"owner_uid", &uid, "owner_gid", &gid, limits[TK_TENANT_MAX_NETWORKS].name,
		&l[TK_TENANT_MAX_NETWORKS], limits[TK_TENANT_MAX_ENDPOINTS].name,
		&l[TK_TENANT_MAX_ENDPOINTS], limits[TK_TENANT_MAX_BYTES].name,
		&l[TK_TENANT_MAX_BYTES], limits[TK_TENANT_MAX_VOLUMES].name,
		&l[TK_TENANT_MAX_VOLUMES], limits[TK_TENANT_MAX_ADDRESSES4].name,
		&l[TK_TENANT_MAX_ADDRESSES4], limits[TK_TENANT_MAX_PREFIXES6].name,
		&l[TK_TENANT_MAX_PREFIXES6], limits[TK_TENANT_EGRESS].name, &l[TK_TENANT_EGRESS],
		limits[TK_TENANT_INGRESS].name, &l[TK_TENANT_INGRESS],
		limits[TK_TENANT_WEIGHT].name, &l[TK_TENANT_WEIGHT], "allow_subnets", &allow);
	if (r < 0 || (r = owner_from_json(uid, "owner_uid", &p->owner_uid, err)) < 0 ||
	    (r = owner_from_json(gid, "owner_gid", &p->owner_gid, err)) < 0)
		return r;
	if (strlen(name) >= sizeof(p->name))
		return tk_name_validate(name, "tenant name", err);
	snprintf(p->name, sizeof(p->name), "%s", name);
	for (size_t i = 0; i < _TK_TENANT_LIMIT_MAX; i++) {
		if (!l[i])
			continue;
		if (!kind_has(ts->kind, (enum tk_tenant_limit)i))
			return tk_err_set(err, -EINVAL,
					  "tenant.create args: this daemon keeps no '%s'",
					  limits[i].name);
		if ((r = limit_from_json(l[i], (enum tk_tenant_limit)i,
					 limit_of(p, (enum tk_tenant_limit)i), err)) < 0)
			return r;
	}
	if (allow && !ts->kind->allow_subnets)
		return tk_err_set(err, -EINVAL, "tenant.create args: this daemon keeps no '%s'",
				  "allow_subnets");
	return allow_from_json(allow, &p->allow_subnets, err);
}

int tk_tenant_set_params_from_json(const struct tk_tenants *ts, const struct tk_tenant *t,
				   json_t *args, struct tk_tenant *p, tk_err *err)
{
	const char *key;
	bool any = false;
	json_t *v;
	int r;

	*p = *t;
	json_object_foreach(args, key, v)
	{
		size_t i;

		if (strcmp(key, "name") == 0)
			continue;
		for (i = 0; i < ts->kind->n_limits; i++)
			if (strcmp(key, limits[ts->kind->limits[i]].name) == 0)
				break;
		if (i == ts->kind->n_limits)
			return tk_err_set(err, -EINVAL, "tenant.set args: unknown key '%s'", key);
		if ((r = limit_from_json(v, ts->kind->limits[i], limit_of(p, ts->kind->limits[i]),
					 err)) < 0)
			return r;
		any = true;
	}
	if (!any)
		return tk_err_set(err, -EINVAL, "tenant.set args: nothing to set");
	return 0;
}

int tk_tenant_update(struct tk_tenants *ts, struct tk_tenant *t, const struct tk_tenant *p,
		     tk_err *err)
{
	const struct tk_tenant_kind *k = ts->kind;
	char sql[512];
	size_t len;
	sqlite3_stmt *st;
	int r;

	len = (size_t)snprintf(sql, sizeof(sql), "UPDATE tenants SET ");
	for (size_t i = 0; i < k->n_limits && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s%s = ?", i ? ", " : "",
					limits[k->limits[i]].name);
	if (len >= sizeof(sql) ||
	    len + (size_t)snprintf(sql + len, sizeof(sql) - len, " WHERE id = ?") >= sizeof(sql))
		return tk_err_set(err, -ENAMETOOLONG, "tenants query too long");
	if ((r = tk_store_stmt(ts->store, sql, &st, err)) < 0)
		return tk_err_wrap(err, r, "updating tenant '%s'", t->name);
	for (size_t i = 0; i < k->n_limits; i++)
		tk_store_bind_opt_int(st, (int)i + 1, limit_value(p, k->limits[i]));
	sqlite3_bind_int64(st, (int)k->n_limits + 1, t->id);
	if ((r = tk_store_step_done(ts->store, st, err)) < 0)
		return tk_err_wrap(err, r, "updating tenant '%s'", t->name);
	for (size_t i = 0; i < k->n_limits; i++)
		*limit_of(t, k->limits[i]) = limit_value(p, k->limits[i]);
	log_info("Updated the limits of tenant '%s'", t->name);
	return 0;
}

int tk_tenant_op_create(struct tk_tenants *ts, const struct tk_caller *c, json_t *args,
			json_t **ret, tk_err *err)
{
	struct tk_tenant p, *t = NULL;
	int r;

	if ((r = tk_require_admin(c, "tenant.create", err)) < 0 ||
	    (r = tk_tenant_params_from_json(ts, args, &p, err)) < 0 ||
	    (r = tk_tenant_create(ts, &p, &t, err)) < 0)
		return r;
	*ret = tk_tenant_to_json(ts, t);
	return 0;
}

int tk_tenant_op_list(struct tk_tenants *ts, const struct tk_caller *c, json_t *args, json_t **ret,
		      tk_err *err)
{
	json_t *list;
	int r;

	if ((r = tk_json_unpack(args, "tenant.list args", err, "{}")) < 0)
		return r;
	list = json_array();
	for (struct tk_tenant *t = ts->list; t; t = t->next)
		if (tk_tenant_may_manage(c, t, NULL) >= 0)
			json_array_append_new(list, tk_tenant_to_json(ts, t));
	*ret = json_pack("{s:o}", "tenants", list);
	return 0;
}

int tk_tenant_op_inspect(struct tk_tenants *ts, const struct tk_caller *c, json_t *args,
			 json_t **ret, tk_err *err)
{
	struct tk_tenant *t = NULL;
	const char *name;
	int r;

	if ((r = tk_json_unpack(args, "tenant.inspect args", err, "{s:s}", "name", &name)) < 0 ||
	    (r = tk_tenant_find(ts, c, name, &t, err)) < 0)
		return r;
	*ret = tk_tenant_to_json(ts, t);
	return 0;
}

int tk_tenant_op_delete(struct tk_tenants *ts, const struct tk_caller *c, json_t *args,
			json_t **ret, tk_err *err)
{
	struct tk_tenant *t = NULL;
	const char *name;
	int r;

	if ((r = tk_require_admin(c, "tenant.delete", err)) < 0 ||
	    (r = tk_json_unpack(args, "tenant.delete args", err, "{s:s}", "name", &name)) < 0 ||
	    (r = tk_tenant_find(ts, c, name, &t, err)) < 0 ||
	    (r = tk_tenant_delete(ts, t, err)) < 0)
		return r;
	*ret = json_object();
	return 0;
}
