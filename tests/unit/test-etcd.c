/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/etcd: the encoders and decoders of the JSON gateway.  The gateway ignores request fields it
 * does not know and omits zero values in answers, so the exact field names are what is tested.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "etcd.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	if (!j)
		fail_msg("bad test JSON: %s", jerr.text);
	return j;
}

/* j dumped with sorted keys equals want. */
static void assert_json(json_t *j, const char *want)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(s);
	if (strcmp(s, want) != 0)
		fail_msg("got  %s\nwant %s", s, want);
	free(s);
}

static void test_b64(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "",	       "Zg==",	   "Zm8=",    "Zm9v",
					   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	tk_err err = {};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(plain); i++) {
		_cleanup_free_ char *e = tk_etcd_b64_encode(plain[i], strlen(plain[i]));
		_cleanup_free_ char *d = NULL;
		size_t len;

		assert_string_equal(e, enc[i]);
		assert_int_equal(tk_etcd_b64_decode(enc[i], &d, &len, NULL), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_string_equal(d, plain[i]);
	}
	{
		/* Bytes, including NUL and 0xff, survive. */
		static const uint8_t bin[] = { 0, 0xff, 0x10, 0x80 };
		_cleanup_free_ char *e = tk_etcd_b64_encode(bin, sizeof(bin));
		_cleanup_free_ char *d = NULL;
		size_t len;

		assert_string_equal(e, "AP8QgA==");
		assert_int_equal(tk_etcd_b64_decode(e, &d, &len, NULL), 0);
		assert_int_equal(len, 4);
		assert_memory_equal(d, bin, 4);
	}
	static const char *const bad[] = { "Zg=", "Z===", "Zm9v!A==", "=Zg=", "Zg==Zg==" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *d = NULL;

		assert_int_equal(tk_etcd_b64_decode(bad[i], &d, NULL, &err), -EINVAL);
		assert_null(d);
		assert_non_null(strstr(err.msg, "base64"));
	}
}

static void test_prefix_end(void **state)
{
	_cleanup_free_ char *a = tk_etcd_prefix_end_b64("/tenantkit/v1/");
	_cleanup_free_ char *b = tk_etcd_prefix_end_b64("a\xff");
	_cleanup_free_ char *c = tk_etcd_prefix_end_b64("\xff\xff");
	_cleanup_free_ char *want = tk_etcd_b64_encode("/tenantkit/v10", 14);

	(void)state;
	assert_string_equal(a, want);	/* '/' + 1 = '0' */
	assert_string_equal(b, "Yg=="); /* "b": the 0xff is dropped */
	assert_string_equal(c, "AA=="); /* "\0": no upper bound */
}

static void test_json_int(void **state)
{
	json_t *o = parse("{\"a\":\"9007199254740993\",\"b\":7,\"c\":\"x\",\"d\":[]}");
	int64_t v = -1;
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_etcd_json_int(o, "a", &v, NULL), 0);
	assert_true(v == 9007199254740993LL); /* beyond a double's exact range */
	assert_int_equal(tk_etcd_json_int(o, "b", &v, NULL), 0);
	assert_int_equal(v, 7);
	assert_int_equal(tk_etcd_json_int(o, "missing", &v, NULL), 0);
	assert_int_equal(v, 0); /* the gateway omits zeros */
	assert_int_equal(tk_etcd_json_int(o, "c", &v, &err), -EPROTO);
	assert_int_equal(tk_etcd_json_int(o, "d", &v, &err), -EPROTO);
	json_decref(o);
}

static void test_requests(void **state)
{
	const struct tk_etcd_cmp cmp[] = {
		{ .key = "/k", .target = TK_ETCD_CREATE, .result = TK_ETCD_EQUAL, .number = 0 },
		{ .key = "/h", .target = TK_ETCD_LEASE, .result = TK_ETCD_EQUAL, .number = 42 },
		{ .key = "/u/",
		  .prefix = true,
		  .target = TK_ETCD_MOD,
		  .result = TK_ETCD_LESS,
		  .number = 9 },
		{ .key = "/v", .target = TK_ETCD_VALUE, .result = TK_ETCD_NOT_EQUAL, .value = "x" },
		{ .key = "/w", .target = TK_ETCD_VERSION, .result = TK_ETCD_GREATER, .number = 1 },
	};
	const struct tk_etcd_op success[] = {
		{ .kind = TK_ETCD_OP_PUT, .key = "/k", .value = "v", .lease = 42 },
		{ .kind = TK_ETCD_OP_DELETE, .key = "/d/", .prefix = true },
	};
	const struct tk_etcd_op failure[] = { { .kind = TK_ETCD_OP_GET, .key = "/k" } };
	json_t *j;

	(void)state;
	j = tk_etcd_txn_request(cmp, ELEMENTSOF(cmp), success, ELEMENTSOF(success), failure, 1);
	assert_json(j,
		    "{\"compare\":["
		    "{\"create_revision\":\"0\",\"key\":\"L2s=\",\"result\":\"EQUAL\","
		    "\"target\":\"CREATE\"},"
		    "{\"key\":\"L2g=\",\"lease\":\"42\",\"result\":\"EQUAL\",\"target\":\"LEASE\"},"
		    "{\"key\":\"L3Uv\",\"mod_revision\":\"9\",\"range_end\":\"L3Uw\","
		    "\"result\":\"LESS\",\"target\":\"MOD\"},"
		    "{\"key\":\"L3Y=\",\"result\":\"NOT_EQUAL\",\"target\":\"VALUE\","
		    "\"value\":\"eA==\"},"
		    "{\"key\":\"L3c=\",\"result\":\"GREATER\",\"target\":\"VERSION\","
		    "\"version\":\"1\"}],"
		    "\"failure\":[{\"request_range\":{\"key\":\"L2s=\"}}],"
		    "\"success\":[{\"request_put\":{\"key\":\"L2s=\",\"lease\":\"42\","
		    "\"value\":\"dg==\"}},"
		    "{\"request_delete_range\":{\"key\":\"L2Qv\",\"range_end\":\"L2Qw\"}}]}");
	json_decref(j);
	/* An unknown target is refused, not sent as something etcd would ignore. */
	{
		struct tk_etcd_cmp bad = { .key = "/k", .target = _TK_ETCD_TARGET_MAX };
		assert_null(tk_etcd_txn_request(&bad, 1, NULL, 0, NULL, 0));
	}
	j = tk_etcd_watch_request("/tenantkit/v1/", true, 17);
	assert_json(j, "{\"create_request\":{\"key\":\"L3RlbmFudGtpdC92MS8=\",\"prev_kv\":true,"
		       "\"range_end\":\"L3RlbmFudGtpdC92MTA=\",\"start_revision\":\"17\"}}");
	json_decref(j);
	j = tk_etcd_range_request("/a", false);
	assert_json(j, "{\"key\":\"L2E=\"}");
	json_decref(j);
}

static void test_parse_kvs(void **state)
{
	json_t *o = parse("{\"header\":{\"revision\":\"12\"},\"kvs\":[{\"key\":\"L2s=\","
			  "\"create_revision\":\"2\",\"mod_revision\":\"5\",\"version\":\"3\","
			  "\"value\":\"aG9zdC1h\",\"lease\":\"2324035598037950213\"},"
			  "{\"key\":\"L2U=\",\"mod_revision\":\"6\"}],\"count\":\"2\"}");
	json_t *empty = parse("{\"header\":{\"revision\":\"3\"}}");
	json_t *bad = parse("{\"header\":{},\"kvs\":[{\"value\":\"eA==\"}]}");
	struct tk_etcd_kvs kvs = {};
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_etcd_parse_kvs(o, &kvs, NULL), 0);
	assert_int_equal(kvs.revision, 12);
	assert_int_equal(kvs.n, 2);
	assert_string_equal(kvs.kv[0].key, "/k");
	assert_string_equal(kvs.kv[0].value, "host-a");
	assert_int_equal(kvs.kv[0].value_len, 6);
	assert_int_equal(kvs.kv[0].create_revision, 2);
	assert_int_equal(kvs.kv[0].mod_revision, 5);
	assert_int_equal(kvs.kv[0].version, 3);
	assert_true(kvs.kv[0].lease == 2324035598037950213LL);
	/* An empty value is omitted. */
	assert_string_equal(kvs.kv[1].value, "");
	assert_int_equal(kvs.kv[1].value_len, 0);
	tk_etcd_kvs_done(&kvs);
	/* No match: no "kvs", no "count". */
	assert_int_equal(tk_etcd_parse_kvs(empty, &kvs, NULL), 0);
	assert_int_equal(kvs.n, 0);
	assert_int_equal(kvs.revision, 3);
	assert_int_equal(tk_etcd_parse_kvs(bad, &kvs, &err), -EPROTO);
	tk_etcd_kvs_done(&kvs);
	json_decref(o);
	json_decref(empty);
	json_decref(bad);
}

static void test_parse_txn(void **state)
{
	json_t *won = parse("{\"header\":{\"revision\":\"2\"},\"succeeded\":true,\"responses\":["
			    "{\"response_put\":{\"header\":{\"revision\":\"2\"}}}]}");
	/* A lost txn has no "succeeded": false is a zero value. */
	json_t *lost = parse("{\"header\":{\"revision\":\"4\"},\"responses\":[{\"response_range\":"
			     "{\"header\":{},\"kvs\":[{\"key\":\"L2s=\",\"value\":\"aG9zdC1h\"}],"
			     "\"count\":\"1\"}},{\"response_range\":{\"header\":{}}}]}");
	struct tk_etcd_kvs kvs = {};
	bool ok = false;

	(void)state;
	assert_int_equal(tk_etcd_parse_txn(won, &ok, &kvs, NULL), 0);
	assert_true(ok);
	assert_int_equal(kvs.n, 0);
	assert_int_equal(tk_etcd_parse_txn(lost, &ok, &kvs, NULL), 0);
	assert_false(ok);
	assert_int_equal(kvs.n, 1);
	assert_string_equal(kvs.kv[0].value, "host-a");
	assert_int_equal(kvs.revision, 4);
	tk_etcd_kvs_done(&kvs);
	json_decref(won);
	json_decref(lost);
}

static void test_http_error(void **state)
{
	static const char body[] =
		"{\"error\":\"etcdserver: requested lease not found\","
		"\"message\":\"etcdserver: requested lease not found\",\"code\":5}";
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_etcd_http_error(404, body, strlen(body), &err), -ENOENT);
	assert_string_equal(err.msg,
			    "etcd answered HTTP 404: etcdserver: requested lease not found");
	assert_int_equal(tk_etcd_http_error(503, "no json", 7, &err), -EIO);
	assert_string_equal(err.msg, "etcd answered HTTP 503: no json");
	assert_int_equal(tk_etcd_http_error(400, "{\"code\":3,\"message\":\"m\"}", 24, &err),
			 -EINVAL);
}

struct seen {
	int n;
	char what[8][64];
};

static int record(const struct tk_etcd_event *ev, void *userdata)
{
	struct seen *s = userdata;

	snprintf(s->what[s->n++], 64, "%s %s=%s prev=%s@%lld", ev->deleted ? "DEL" : "PUT",
		 ev->kv.key, ev->kv.value, ev->has_prev ? ev->prev.value : "-",
		 (long long)ev->kv.mod_revision);
	return 0;
}

static int refuse(const struct tk_etcd_event *ev, void *userdata)
{
	(void)ev, (void)userdata;
	return -EUCLEAN;
}

static void test_watch_lines(void **state)
{
	static const char created[] =
		"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":true}}";
	static const char put[] =
		"{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"kv\":{\"key\":\"L2s="
		"\","
		"\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":\"1\","
		"\"value\":\"dg==\"}},{\"kv\":{\"key\":\"L2w=\",\"mod_revision\":\"4\","
		"\"value\":\"dw==\"}}]}}";
	static const char del[] =
		"{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":[{\"type\":\"DELETE\","
		"\"kv\":{\"key\":\"L2s=\",\"mod_revision\":\"5\"},\"prev_kv\":{\"key\":\"L2s=\","
		"\"value\":\"aG9zdC1j\"}}]}}";
	static const char compacted[] =
		"{\"result\":{\"header\":{\"revision\":\"9\"},\"canceled\":true,"
		"\"compact_revision\":\"5\"}}";
	static const char bad_type[] = "{\"result\":{\"header\":{},\"events\":[{\"type\":\"X\","
				       "\"kv\":{\"key\":\"L2s=\"}}]}}";
	struct seen s = {};
	int64_t next = 3;
	tk_err err = {};

	(void)state;
	assert_int_equal(
		tk_etcd_parse_watch_line(created, strlen(created), record, &s, &next, NULL), 1);
	assert_int_equal(tk_etcd_parse_watch_line(put, strlen(put), record, &s, &next, NULL), 0);
	assert_int_equal(next, 5);
	assert_int_equal(tk_etcd_parse_watch_line(del, strlen(del), record, &s, &next, NULL), 0);
	assert_int_equal(next, 6);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.what[0], "PUT /k=v prev=-@4");
	assert_string_equal(s.what[1], "PUT /l=w prev=-@4");
	assert_string_equal(s.what[2], "DEL /k= prev=host-c@5");
	assert_int_equal(
		tk_etcd_parse_watch_line(compacted, strlen(compacted), record, &s, &next, &err),
		-ERANGE);
	assert_non_null(strstr(err.msg, "compact revision 5"));
	assert_int_equal(
		tk_etcd_parse_watch_line(bad_type, strlen(bad_type), record, &s, &next, &err),
		-EPROTO);
	/* The callback stops the stream with its error; the revision still moves past it. */
	assert_int_equal(tk_etcd_parse_watch_line(put, strlen(put), refuse, NULL, &next, NULL),
			 -EUCLEAN);
	assert_int_equal(tk_etcd_parse_watch_line("{\"x\":1}", 7, record, &s, &next, &err),
			 -EPROTO);
}

static void test_open(void **state)
{
	struct tk_etcd *e = NULL;
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_etcd_open("https://a:1", 0, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "http://HOST:PORT"));
	assert_int_equal(tk_etcd_open(",", 0, &e, &err), -EINVAL);
	assert_null(e);
	assert_int_equal(tk_etcd_open("http://127.0.0.1:1/,http://127.0.0.2:1", 300, &e, &err), 0);
	assert_string_equal(tk_etcd_endpoint(e), "http://127.0.0.1:1");
	tk_etcd_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),	   cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_json_int),   cmocka_unit_test(test_requests),
		cmocka_unit_test(test_parse_kvs),  cmocka_unit_test(test_parse_txn),
		cmocka_unit_test(test_http_error), cmocka_unit_test(test_watch_lines),
		cmocka_unit_test(test_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
