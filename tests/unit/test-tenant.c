/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/tenant: rows of a daemon's tenants table (netd's and volumed's kinds), the list in id
 * order across a reopen, lookups with authorisation, tenant.create's arguments and the ops,
 * against a throwaway SQLite database.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "json.h"
#include "store.h"
#include "tenant.h"

static void usage_json(const struct tk_tenant *t, json_t *o)
{
	json_object_set_new(o, "volumes", json_integer(t->n_volumes));
}

static unsigned volumes_held(const struct tk_tenant *t)
{
	return t->n_volumes;
}

static const struct tk_tenant_kind volumes_kind = {
	.limits = (const enum tk_tenant_limit[]){ TK_TENANT_MAX_BYTES, TK_TENANT_MAX_VOLUMES },
	.n_limits = 2,
	.usage_json = usage_json,
	.held = volumes_held,
	.held_what = "volume(s)",
};

static const struct tk_tenant_kind networks_kind = {
	.limits = (const enum tk_tenant_limit[]){ TK_TENANT_MAX_NETWORKS, TK_TENANT_MAX_ENDPOINTS },
	.n_limits = 2,
};

/* netd's kind since the bounds: address-space caps and allowed subnets, added by a migration. */
static const struct tk_tenant_kind bounded_kind = {
	.limits =
		(const enum tk_tenant_limit[]){ TK_TENANT_MAX_NETWORKS, TK_TENANT_MAX_ENDPOINTS,
						TK_TENANT_MAX_ADDRESSES4, TK_TENANT_MAX_PREFIXES6 },
	.n_limits = 4,
	.allow_subnets = true,
};

/* clang-format off */
static const char *const bounded_migrations[] = {
	TK_TENANTS_TABLE_SQL("max_networks INTEGER, max_endpoints INTEGER")
	"ALTER TABLE tenants ADD COLUMN max_addresses4 INTEGER;"
	"ALTER TABLE tenants ADD COLUMN max_prefixes6 INTEGER;"
	"ALTER TABLE tenants ADD COLUMN allow_subnets TEXT;",
};
/* clang-format on */

static const char *const volume_migrations[] = {
	TK_TENANTS_TABLE_SQL("max_bytes INTEGER, max_volumes INTEGER"),
};
static const char *const network_migrations[] = {
	TK_TENANTS_TABLE_SQL("max_networks INTEGER, max_endpoints INTEGER"),
};

static const struct tk_caller root = { .uid = 0, .admin = true };
static const struct tk_caller alice = { .uid = 1000, .gid = 1000 };
static const struct tk_caller bob = { .uid = 1001, .gid = 1000 };

struct fixture {
	char dir[64], path[96];
	struct tk_tenants ts;
};

static void open_tenants(struct fixture *f, const struct tk_tenant_kind *kind,
			 const char *const *migrations)
{
	tk_err err = {};

	f->ts = (struct tk_tenants){ .kind = kind };
	assert_int_equal(tk_store_open(f->path, migrations, 1, &f->ts.store, &err), 0);
	assert_int_equal(tk_tenants_load(&f->ts, &err), 0);
}

static void close_tenants(struct fixture *f)
{
	tk_tenants_done(&f->ts);
	assert_null(f->ts.list);
	f->ts.store = tk_store_close(f->ts.store);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || tk_test_dir_make("tenant", f->dir, f->path) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r;

	close_tenants(f);
	r = tk_test_dir_remove(f->dir);
	free(f);
	return r;
}

static struct tk_tenant params(const char *name, int64_t uid)
{
	struct tk_tenant p = { .owner_uid = uid,
			       .owner_gid = -1,
			       .max_networks = -1,
			       .max_endpoints = -1,
			       .max_bytes = -1,
			       .max_volumes = -1 };

	snprintf(p.name, sizeof(p.name), "%s", name);
	return p;
}

/* Created tenants survive a reopen, in id order, with the kind's limits and nothing else. */
static void test_create_and_reload(void **state)
{
	struct fixture *f = *state;
	struct tk_tenant p, *a = NULL, *b = NULL;
	tk_err err = {};

	open_tenants(f, &volumes_kind, volume_migrations);
	p = params("beta", 1000);
	p.max_bytes = 1 << 30;
	p.max_volumes = 3;
	p.max_networks = 7; /* not a limit of this kind: not stored */
	assert_int_equal(tk_tenant_create(&f->ts, &p, &b, &err), 0);
	p = params("alpha", -1);
	assert_int_equal(tk_tenant_create(&f->ts, &p, &a, &err), 0);
	assert_true(b->id < a->id);
	assert_int_equal(b->max_networks, -1);
	close_tenants(f);

	open_tenants(f, &volumes_kind, volume_migrations);
	b = f->ts.list;
	assert_non_null(b);
	assert_string_equal(b->name, "beta");
	assert_int_equal(b->owner_uid, 1000);
	assert_int_equal(b->owner_gid, -1);
	assert_int_equal(b->max_bytes, 1 << 30);
	assert_int_equal(b->max_volumes, 3);
	assert_int_equal(b->max_networks, -1);
	assert_true(b->created > 0);
	a = b->next;
	assert_non_null(a);
	assert_string_equal(a->name, "alpha");
	assert_int_equal(a->max_bytes, -1);
	assert_null(a->next);
	assert_ptr_equal(tk_tenant_get(&f->ts, "alpha"), a);
	assert_ptr_equal(tk_tenant_get_by_id(&f->ts, b->id), b);
	assert_null(tk_tenant_get(&f->ts, "gamma"));
}

static void test_create_refused(void **state)
{
	struct fixture *f = *state;
	struct tk_tenant p, *t = NULL;
	tk_err err = {};

	open_tenants(f, &networks_kind, network_migrations);
	p = params("alpha", -1);
	assert_int_equal(tk_tenant_create(&f->ts, &p, &t, &err), 0);
	t = NULL;
	assert_int_equal(tk_tenant_create(&f->ts, &p, &t, &err), -EEXIST);
	assert_int_equal(err.code, -EEXIST);
	assert_string_equal(err.msg, "tenant 'alpha' already exists");
	assert_null(t);
	p = params("-bad", -1);
	assert_int_equal(tk_tenant_create(&f->ts, &p, &t, &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_null(f->ts.list->next);
}

static void test_find_authorises(void **state)
{
	struct fixture *f = *state;
	struct tk_tenant p, *t = NULL, *found = NULL;
	tk_err err = {};

	open_tenants(f, &networks_kind, network_migrations);
	p = params("alpha", 1000);
	assert_int_equal(tk_tenant_create(&f->ts, &p, &t, &err), 0);
	assert_int_equal(tk_tenant_find(&f->ts, &alice, "alpha", &found, &err), 0);
	assert_ptr_equal(found, t);
	assert_int_equal(tk_tenant_find(&f->ts, &root, "alpha", &found, &err), 0);
	assert_int_equal(tk_tenant_find(&f->ts, &bob, "alpha", &found, &err), -EACCES);
	assert_int_equal(err.code, -EACCES);
	assert_int_equal(tk_tenant_find(&f->ts, &alice, "nope", &found, &err), -ENOENT);
	assert_string_equal(err.msg, "no tenant 'nope'");
	/* The owner group counts too. */
	t->owner_uid = -1;
	t->owner_gid = 1000;
	assert_int_equal(tk_tenant_may_manage(&bob, t, NULL), 0);
}

/* A tenant that still holds something stays, row and all. */
static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct tk_tenant p, *t = NULL;
	tk_err err = {};

	open_tenants(f, &volumes_kind, volume_migrations);
	p = params("alpha", -1);
	assert_int_equal(tk_tenant_create(&f->ts, &p, &t, &err), 0);
	t->n_volumes = 2;
	assert_int_equal(tk_tenant_delete(&f->ts, t, &err), -EBUSY);
	assert_int_equal(err.code, -EBUSY);
	assert_string_equal(err.msg, "tenant 'alpha' still has 2 volume(s); delete them first");
	t->n_volumes = 0;
	assert_int_equal(tk_tenant_delete(&f->ts, t, &err), 0);
	assert_null(f->ts.list);
	close_tenants(f);
	open_tenants(f, &volumes_kind, volume_migrations);
	assert_null(f->ts.list);
}

static json_t *J(const char *text)
{
	json_t *j = NULL;

	assert_int_equal(tk_json_parse(text, strlen(text), "test", &j, NULL), 0);
	return j;
}

/* tenant.create's arguments: the kind's limits only, in range; sizes as volumed takes them. */
static void test_params_from_json(void **state)
{
	static const struct {
		const char *args;
		int code;
		const char *needle;
	} bad[] = {
		{ "{\"name\":\"a\",\"max_networks\":3}", -EINVAL, "no 'max_networks'" },
		{ "{\"name\":\"a\",\"owner_uid\":4294967295}", -EINVAL, "owner_uid 4294967295" },
		{ "{\"name\":\"a\",\"owner_gid\":-2}", -EINVAL, "owner_gid -2 is out of range" },
		{ "{\"name\":\"a\",\"max_volumes\":1048577}", -EINVAL, "max_volumes 1048577" },
		{ "{\"name\":\"a\",\"max_volumes\":\"3\"}", -EINVAL,
		  "max_volumes must be a number" },
		{ "{\"name\":\"a\",\"max_bytes\":0}", -EINVAL, "max_bytes must be a positive" },
		{ "{\"name\":\"a\",\"max_bytes\":\"1X\"}", -EINVAL, "max_bytes: size '1X'" },
		{ "{\"name\":\"a\",\"color\":\"red\"}", -EINVAL, "tenant.create args" },
		{ "{\"owner_uid\":1}", -EINVAL, "tenant.create args" },
	};
	struct fixture *f = *state;
	struct tk_tenant p;
	tk_err err = {};
	json_t *args;

	open_tenants(f, &volumes_kind, volume_migrations);
	args = J("{\"name\":\"a\",\"owner_uid\":5,\"max_bytes\":\"1G\",\"max_volumes\":null}");
	assert_int_equal(tk_tenant_params_from_json(&f->ts, args, &p, &err), 0);
	json_decref(args);
	assert_string_equal(p.name, "a");
	assert_int_equal(p.owner_uid, 5);
	assert_int_equal(p.owner_gid, -1);
	assert_int_equal(p.max_bytes, 1 << 30);
	assert_int_equal(p.max_volumes, -1);
	assert_int_equal(p.max_networks, -1);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tk_err_clear(&err);
		args = J(bad[i].args);
		assert_int_equal(tk_tenant_params_from_json(&f->ts, args, &p, &err), bad[i].code);
		assert_int_equal(err.code, bad[i].code);
		if (!strstr(err.msg, bad[i].needle))
			fail_msg("%s: '%s' does not contain '%s'", bad[i].args, err.msg,
				 bad[i].needle);
		json_decref(args);
	}
}

/* The ops both daemons serve: admin-only create and delete, listings filtered by owner. */
static void test_ops(void **state)
{
	struct fixture *f = *state;
	json_t *args, *ret = NULL, *expected;
	tk_err err = {};

	open_tenants(f, &volumes_kind, volume_migrations);
	args = J("{\"name\":\"alpha\",\"owner_uid\":1000,\"max_volumes\":2}");
	assert_int_equal(tk_tenant_op_create(&f->ts, &alice, args, &ret, &err), -EACCES);
	assert_int_equal(tk_tenant_op_create(&f->ts, &root, args, &ret, &err), 0);
	json_decref(args);
	/* Keys in the order of the protocol documents, unset limits as null. */
	json_object_del(ret, "created");
	json_object_del(ret, "id");
	expected = J("{\"name\":\"alpha\",\"owner_uid\":1000,\"owner_gid\":null,"
		     "\"max_bytes\":null,\"max_volumes\":2,\"volumes\":0}");
	assert_true(json_equal(ret, expected));
	assert_string_equal(json_object_iter_key(json_object_iter(ret)), "name");
	json_decref(expected);
	json_decref(ret);
	args = J("{\"name\":\"beta\"}");
	assert_int_equal(tk_tenant_op_create(&f->ts, &root, args, &ret, &err), 0);
	json_decref(args);
	json_decref(ret);

	args = J("{}");
	assert_int_equal(tk_tenant_op_list(&f->ts, &alice, args, &ret, &err), 0);
	assert_int_equal(json_array_size(json_object_get(ret, "tenants")), 1);
	json_decref(ret);
	assert_int_equal(tk_tenant_op_list(&f->ts, &root, args, &ret, &err), 0);
	assert_int_equal(json_array_size(json_object_get(ret, "tenants")), 2);
	json_decref(ret);
	json_decref(args);

	args = J("{\"name\":\"beta\"}");
	assert_int_equal(tk_tenant_op_inspect(&f->ts, &alice, args, &ret, &err), -EACCES);
	assert_int_equal(tk_tenant_op_delete(&f->ts, &alice, args, &ret, &err), -EACCES);
	assert_int_equal(tk_tenant_op_delete(&f->ts, &root, args, &ret, &err), 0);
	json_decref(ret);
	assert_int_equal(tk_tenant_op_inspect(&f->ts, &root, args, &ret, &err), -ENOENT);
	json_decref(args);
}

/*
 * The address caps take the daemon's defaults when absent (-1 or null: unlimited), and the
 * allowed subnets survive a reopen; a kind without them refuses the keys.
 */
static void test_defaults_and_allow_subnets(void **state)
{
	struct fixture *f = *state;
	int64_t defaults[_TK_TENANT_LIMIT_MAX];
	json_t *args, *ret = NULL, *expected;
	struct tk_tenant *t;
	tk_err err = {};

	for (size_t i = 0; i < _TK_TENANT_LIMIT_MAX; i++)
		defaults[i] = -1;
	defaults[TK_TENANT_MAX_ADDRESSES4] = 4096;
	defaults[TK_TENANT_MAX_PREFIXES6] = 256;
	open_tenants(f, &bounded_kind, bounded_migrations);
	f->ts.limit_defaults = defaults;
	args = J("{\"name\":\"a\",\"allow_subnets\":[\"192.0.2.0/24\",\"fd00::/56\"]}");
	assert_int_equal(tk_tenant_op_create(&f->ts, &root, args, &ret, &err), 0);
	json_decref(args);
	json_decref(ret);
	args = J("{\"name\":\"b\",\"max_addresses4\":-1,\"max_prefixes6\":null}");
	assert_int_equal(tk_tenant_op_create(&f->ts, &root, args, &ret, &err), 0);
	json_decref(args);
	json_decref(ret);
	args = J("{\"name\":\"c\",\"allow_subnets\":[\"192.0.2.1/24\"]}");
	assert_int_equal(tk_tenant_op_create(&f->ts, &root, args, &ret, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "allow_subnets"));
	json_decref(args);

	close_tenants(f);
	open_tenants(f, &bounded_kind, bounded_migrations);
	assert_non_null(t = tk_tenant_get(&f->ts, "a"));
	assert_int_equal(t->max_addresses4, 4096);
	assert_int_equal(t->max_prefixes6, 256);
	assert_int_equal(t->max_networks, -1);
	assert_int_equal(t->allow_subnets.n, 2);
	ret = tk_tenant_to_json(&f->ts, t);
	json_object_del(ret, "created");
	json_object_del(ret, "id");
	expected = J("{\"name\":\"a\",\"owner_uid\":null,\"owner_gid\":null,"
		     "\"max_networks\":null,\"max_endpoints\":null,\"max_addresses4\":4096,"
		     "\"max_prefixes6\":256,\"allow_subnets\":[\"192.0.2.0/24\",\"fd00::/56\"]}");
	assert_true(json_equal(ret, expected));
	json_decref(expected);
	json_decref(ret);
	assert_non_null(t = tk_tenant_get(&f->ts, "b"));
	assert_int_equal(t->max_addresses4, -1);
	assert_int_equal(t->max_prefixes6, -1);
	assert_int_equal(t->allow_subnets.n, 0);
}

/* A kind without address caps or allowed subnets refuses those keys. */
static void test_kind_without_bounds(void **state)
{
	struct fixture *f = *state;
	json_t *args, *ret = NULL;
	tk_err err = {};

	open_tenants(f, &volumes_kind, volume_migrations);
	args = J("{\"name\":\"v\",\"allow_subnets\":[]}");
	assert_int_equal(tk_tenant_op_create(&f->ts, &root, args, &ret, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "keeps no 'allow_subnets'"));
	json_decref(args);
	args = J("{\"name\":\"v\",\"max_addresses4\":5}");
	assert_int_equal(tk_tenant_op_create(&f->ts, &root, args, &ret, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "keeps no 'max_addresses4'"));
	json_decref(args);
}

static void test_rate_parse(void **state)
{
	static const struct {
		const char *s;
		int r;
		int64_t bps;
	} cases[] = {
		{ "100mbit", 0, 100000000 },  { "1gbit", 0, 1000000000 },
		{ "1.5gbit", 0, 1500000000 }, { "500kbit", 0, 500000 },
		{ "10mbps", 0, 80000000 },    { "8000", 0, 8000 },
		{ "1Mibit", 0, 1048576 },     { "100gbit", 0, 100000000000 },
		{ "10parsecs", -EINVAL, 0 },  { "-1", -EINVAL, 0 },
		{ "", -EINVAL, 0 },	      { "mbit", -EINVAL, 0 },
		{ "1e9", -EINVAL, 0 },	      { "0x10mbit", -EINVAL, 0 },
		{ " 1mbit", -EINVAL, 0 },     { "1 mbit", -EINVAL, 0 },
		{ "inf", -EINVAL, 0 },	      { "nan", -EINVAL, 0 },
		{ "0", -ERANGE, 0 },	      { "7999bit", -ERANGE, 0 },
		{ "101gbit", -ERANGE, 0 },    { "99999999999999999999999999tbit", -ERANGE, 0 },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tk_err err = {};
		int64_t v = -7;

		assert_int_equal(tk_rate_parse(cases[i].s, "egress", &v, &err), cases[i].r);
		if (cases[i].r == 0)
			assert_true(v == cases[i].bps);
		else
			assert_non_null(strstr(err.msg, "egress '"));
	}
	assert_string_equal(tk_rate_format(100000000, buf, sizeof(buf)), "100mbit");
	assert_string_equal(tk_rate_format(1500000000, buf, sizeof(buf)), "1.5gbit");
	assert_string_equal(tk_rate_format(8000, buf, sizeof(buf)), "8kbit");
}

static const struct tk_tenant_kind shaped_kind = {
	.limits = (const enum tk_tenant_limit[]){ TK_TENANT_MAX_NETWORKS, TK_TENANT_EGRESS,
						  TK_TENANT_INGRESS, TK_TENANT_WEIGHT },
	.n_limits = 4,
};
static const char *const shaped_migrations[] = {
	TK_TENANTS_TABLE_SQL("max_networks INTEGER, egress INTEGER, ingress INTEGER, "
			     "weight INTEGER"),
};

/* Rates and weights: parsed, stored, changed by tenant.set, reloaded; bad ones change nothing. */
static void test_rates_and_set(void **state)
{
	struct fixture *f = *state;
	struct tk_tenant p, *t = NULL;
	json_t *args, *ret = NULL;
	tk_err err = {};

	open_tenants(f, &shaped_kind, shaped_migrations);
	args = J("{\"name\":\"a\",\"egress\":\"100mbit\",\"ingress\":2000000,\"weight\":3}");
	assert_int_equal(tk_tenant_op_create(&f->ts, &root, args, &ret, &err), 0);
	json_decref(args);
	assert_int_equal(json_integer_value(json_object_get(ret, "egress")), 100000000);
	assert_int_equal(json_integer_value(json_object_get(ret, "ingress")), 2000000);
	assert_int_equal(json_integer_value(json_object_get(ret, "weight")), 3);
	json_decref(ret);
	for (const char *const *bad =
		     (const char *const[]){
			     "{\"name\":\"b\",\"egress\":-1}", "{\"name\":\"b\",\"egress\":\"-1\"}",
			     "{\"name\":\"b\",\"egress\":true}", "{\"name\":\"b\",\"weight\":0}",
			     "{\"name\":\"b\",\"weight\":-1}", "{\"name\":\"b\",\"weight\":101}",
			     NULL };
	     *bad; bad++) {
		args = J(*bad);
		assert_true(tk_tenant_op_create(&f->ts, &root, args, &ret, &err) < 0);
		json_decref(args);
	}
	assert_null(tk_tenant_get(&f->ts, "b"));

	t = tk_tenant_get(&f->ts, "a");
	args = J("{\"name\":\"a\",\"egress\":null,\"ingress\":\"1gbit\"}");
	assert_int_equal(tk_tenant_set_params_from_json(&f->ts, t, args, &p, &err), 0);
	json_decref(args);
	assert_true(p.egress == -1 && p.ingress == 1000000000 && p.weight == 3);
	assert_true(t->egress == 100000000); /* not yet */
	assert_int_equal(tk_tenant_update(&f->ts, t, &p, &err), 0);
	args = J("{\"name\":\"a\",\"ingress\":\"10parsecs\"}");
	assert_int_equal(tk_tenant_set_params_from_json(&f->ts, t, args, &p, &err), -EINVAL);
	json_decref(args);
	args = J("{\"name\":\"a\"}");
	assert_int_equal(tk_tenant_set_params_from_json(&f->ts, t, args, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nothing to set"));
	json_decref(args);
	args = J("{\"name\":\"a\",\"max_bytes\":5}");
	assert_int_equal(tk_tenant_set_params_from_json(&f->ts, t, args, &p, &err), -EINVAL);
	json_decref(args);

	close_tenants(f);
	open_tenants(f, &shaped_kind, shaped_migrations);
	t = tk_tenant_get(&f->ts, "a");
	assert_non_null(t);
	assert_true(t->egress == -1 && t->ingress == 1000000000 && t->weight == 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_authorises, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params_from_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_and_allow_subnets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kind_without_bounds, setup, teardown),
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test_setup_teardown(test_rates_and_set, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
