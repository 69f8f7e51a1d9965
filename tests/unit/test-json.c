/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/json: the parser every request goes through, and strict versus lax unpacking. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

/* Sentinel for "the out-parameter was not touched". */
static json_t sentinel;

static json_t *parse(const char *text)
{
	json_t *j = NULL;

	assert_int_equal(tk_json_parse(text, strlen(text), "test", &j, NULL), 0);
	assert_non_null(j);
	return j;
}

/* Asserts that text[0..len) is refused with -EBADMSG, a located message containing needle. */
static void expect_refused(const char *text, size_t len, const char *needle)
{
	json_t *j = &sentinel;
	tk_err err = {};

	assert_int_equal(tk_json_parse(text, len, "request", &j, &err), -EBADMSG);
	assert_int_equal(err.code, -EBADMSG);
	assert_ptr_equal(j, &sentinel);
	/* Named after what was being parsed, and located. */
	assert_int_equal(strncmp(err.msg, "request: line ", 14), 0);
	assert_non_null(strstr(err.msg, " column "));
	if (needle && !strstr(err.msg, needle))
		fail_msg("'%s' does not mention '%s'", err.msg, needle);
	/* err is optional. */
	assert_int_equal(tk_json_parse(text, len, "request", &j, NULL), -EBADMSG);
	assert_ptr_equal(j, &sentinel);
}

static void test_parse_valid(void **state)
{
	json_t *j;

	(void)state;
	j = parse("{\"op\":\"status\",\"args\":{\"n\":[1,2,{\"x\":null}]}}");
	assert_true(json_is_object(j));
	assert_string_equal(json_string_value(json_object_get(j, "op")), "status");
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "args"), "n")), 3);
	json_decref(j);

	/* Scalars are valid JSON; whether they are valid requests is decided later. */
	j = parse("42");
	assert_true(json_is_integer(j));
	assert_int_equal(json_integer_value(j), 42);
	json_decref(j);
	j = parse("  \"x\"\n");
	assert_string_equal(json_string_value(j), "x");
	json_decref(j);

	/* Only len bytes are read: what follows is not trailing garbage. */
	assert_int_equal(tk_json_parse("{\"a\":1}garbage", 7, "test", &j, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	json_decref(j);

	/* The same key in different objects is not a duplicate. */
	j = parse("{\"a\":{\"a\":1},\"b\":{\"a\":2}}");
	assert_int_equal(json_object_size(j), 2);
	json_decref(j);
}

static void test_parse_malformed(void **state)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
		{ "", "end of file" },
		{ "   ", "end of file" },
		{ "{", NULL },
		{ "{\"op\":", NULL },
		{ "{\"op\":\"stat", NULL }, /* truncated inside a string */
		{ "{\"op\":\"x\"", NULL },
		{ "{\"op\":\"x\"} trailing", "end of file expected" },
		{ "{\"op\":\"x\"}{}", "end of file expected" },
		{ "{'op':'x'}", NULL },
		{ "{\"a\":1,\"a\":2}", "duplicate object key" },
		{ "{\"o\":{\"k\":1,\"k\":1}}", "duplicate object key" }, /* nested, same value */
		{ "[1,2,]", NULL },
		{ "{\"a\":1,}", NULL },
		{ "nul", NULL },
		{ "NaN", NULL },
		{ "{\"op\":\"\\ud800\"}", NULL }, /* lone surrogate */
		{ "{\"a\":99999999999999999999}", "too big integer" },
		{ "\"\xc3\"", "0xc3" },	    /* truncated UTF-8 sequence */
		{ "\xef\xbb\xbf{}", NULL }, /* byte order mark */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i].text, strlen(bad[i].text), bad[i].needle);
}

static void test_parse_location(void **state)
{
	tk_err err = {};
	json_t *j = NULL;

	(void)state;
	/* The error points at the line a user has to fix. */
	assert_int_equal(tk_json_parse("{\"a\":\n  tru}", 12, "config", &j, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "config: line 2 column "));
	assert_non_null(strstr(err.msg, "tru"));
}

static void test_parse_nul(void **state)
{
	json_t *j = NULL;

	(void)state;
	/* NUL bytes inside the given length are never silently cut off. */
	expect_refused("{\"a\":1}\0", 8, "end of file expected");
	expect_refused("{\"a\":1}\0{", 9, "end of file expected");
	expect_refused("\0{\"a\":1}", 8, NULL);
	expect_refused("{\"a\":\"x\0y\"}", 11, "control character");
	/* Nor can a name smuggle one in as an escape. */
	expect_refused("{\"name\":\"a\\u0000b\"}", 19, "\\u0000");
	/* Without the NUL in len the same buffer is fine. */
	assert_int_equal(tk_json_parse("{\"a\":1}\0", 7, "request", &j, NULL), 0);
	json_decref(j);
}

static void test_parse_depth(void **state)
{
	enum { DEPTH = 4096 };
	static char deep[2 * DEPTH];

	(void)state;
	/* A hostile client cannot recurse the parser off the stack. */
	memset(deep, '[', DEPTH);
	memset(deep + DEPTH, ']', DEPTH);
	expect_refused(deep, sizeof(deep), "depth");
}

static void test_unpack_strict(void **state)
{
	json_t *j = parse("{\"name\":\"alpha\",\"mtu\":1400,\"extra\":true}");
	const char *name = NULL;
	json_int_t mtu = 0;
	tk_err err = {};

	(void)state;
	/* An unknown key is refused, and the message names it and what was being read. */
	assert_int_equal(tk_json_unpack(j, "network.create args", &err, "{s:s, s:I}", "name", &name,
					"mtu", &mtu),
			 -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_int_equal(strncmp(err.msg, "network.create args: ", 21), 0);
	assert_non_null(strstr(err.msg, "extra"));
	/* Asking for every key succeeds. */
	assert_int_equal(tk_json_unpack(j, "x", NULL, "{s:s, s:I, s:b}", "name", &name, "mtu", &mtu,
					"extra", &(int){ 0 }),
			 0);
	assert_string_equal(name, "alpha");
	assert_int_equal(mtu, 1400);
	/* So does an optional key that is absent. */
	assert_int_equal(tk_json_unpack(j, "x", NULL, "{s:s, s:I, s:b, s?s}", "name", &name, "mtu",
					&mtu, "extra", &(int){ 0 }, "absent", &name),
			 0);
	json_decref(j);

	/* Strictness reaches into nested objects. */
	j = parse("{\"name\":\"x\",\"sub\":{\"a\":1,\"sneaky\":2}}");
	tk_err_clear(&err);
	assert_int_equal(tk_json_unpack(j, "args", &err, "{s:s, s:{s:i}}", "name", &name, "sub",
					"a", &(int){ 0 }),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "sneaky"));
	json_decref(j);
}

static void test_unpack_errors(void **state)
{
	json_t *j = parse("{\"name\":\"alpha\",\"mtu\":1400}");
	const char *name = NULL;
	json_int_t mtu = 0;
	tk_err err = {};

	(void)state;
	/* A missing required key is named. */
	assert_int_equal(tk_json_unpack(j, "args", &err, "{s:s, s:I, s:s}", "name", &name, "mtu",
					&mtu, "owner", &name),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "owner"));
	/* A wrong type is explained. */
	tk_err_clear(&err);
	assert_int_equal(tk_json_unpack(j, "args", &err, "{s:I, s:I}", "name", &mtu, "mtu", &mtu),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "integer"));
	/* Not an object at all. */
	tk_err_clear(&err);
	assert_int_equal(
		tk_json_unpack(json_object_get(j, "mtu"), "args", &err, "{s:s}", "name", &name),
		-EINVAL);
	assert_true(strlen(err.msg) > strlen("args: "));
	/* A missing root (json_object_get of an absent key) is an error, not a crash. */
	tk_err_clear(&err);
	assert_int_equal(tk_json_unpack(NULL, "args", &err, "{}"), -EINVAL);
	assert_string_equal(err.msg, "args: missing");
	assert_int_equal(tk_json_unpack_lax(NULL, "args", NULL, "{}"), -EINVAL);
	json_decref(j);
}

static void test_unpack_lax(void **state)
{
	json_t *j = parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"type\":\"x\","
			  "\"ranges\":[]},\"dns\":{}}");
	const char *version = NULL, *type = NULL;
	tk_err err = {};

	(void)state;
	/* Keys it was not asked about are ignored, at any depth. */
	assert_int_equal(tk_json_unpack_lax(j, "cni config", &err, "{s:s, s:{s:s}}", "cniVersion",
					    &version, "ipam", "type", &type),
			 0);
	assert_string_equal(version, "1.0.0");
	assert_string_equal(type, "x");
	/* The same call in strict mode is refused. */
	assert_int_equal(tk_json_unpack(j, "cni config", &err, "{s:s, s:{s:s}}", "cniVersion",
					&version, "ipam", "type", &type),
			 -EINVAL);
	/* Lax is not lenient about what it was asked for. */
	tk_err_clear(&err);
	assert_int_equal(tk_json_unpack_lax(j, "cni config", &err, "{s:s, s:s}", "cniVersion",
					    &version, "type", &type),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "type"));
	tk_err_clear(&err);
	assert_int_equal(tk_json_unpack_lax(j, "cni config", &err, "{s:i}", "name", &(int){ 0 }),
			 -EINVAL);
	assert_int_equal(strncmp(err.msg, "cni config: ", 12), 0);
	json_decref(j);
}

/* A plugin request's body: an object or blank; NUL bytes and other JSON values are refused. */
static void test_parse_object_or_blank(void **state)
{
	static const char nul[] = " \0 ";
	json_t *j = &sentinel;
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_json_parse_object_or_blank(NULL, 0, "body", &j, NULL), 0);
	assert_null(j);
	j = &sentinel;
	assert_int_equal(tk_json_parse_object_or_blank(" \r\n\t", 4, "body", &j, NULL), 0);
	assert_null(j);
	assert_int_equal(tk_json_parse_object_or_blank(" {\"a\": 1} ", 10, "body", &j, NULL), 0);
	assert_true(json_is_object(j));
	json_decref(j);
	j = &sentinel;
	assert_int_equal(tk_json_parse_object_or_blank("[1]", 3, "body", &j, &err), -EBADMSG);
	assert_string_equal(err.msg, "body: the body must be a JSON object");
	assert_ptr_equal(j, &sentinel);
	assert_int_equal(tk_json_parse_object_or_blank(nul, sizeof(nul) - 1, "body", &j, NULL),
			 -EBADMSG);
	assert_int_equal(tk_json_parse_object_or_blank("{", 1, "body", &j, NULL), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_location),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_parse_depth),
		cmocka_unit_test(test_unpack_strict),
		cmocka_unit_test(test_unpack_errors),
		cmocka_unit_test(test_unpack_lax),
		cmocka_unit_test(test_parse_object_or_blank),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
