/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local protocol and the JSON helpers under it: what a malformed or hostile client can send,
 * and the wire round trip over a real SOCK_SEQPACKET socketpair.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "json.h"
#include "rpc.h"

static json_t *parse(const char *text)
{
	json_t *j = NULL;

	assert_int_equal(tk_json_parse(text, strlen(text), "test", &j, NULL), 0);
	return j;
}

static void test_json_parse_malformed(void **state)
{
	static const char *const bad[] = { "",
					   "{",
					   "{\"op\":",
					   "{\"op\":\"x\"} trailing",
					   "{'op':'x'}",
					   "{\"a\":1,\"a\":2}", /* duplicate keys are refused */
					   "[1,2,]",
					   "nul",
					   "{\"op\":\"\\ud800\"}" };
	json_t *j = NULL;
	tk_err err = {};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tk_err_clear(&err);
		assert_int_equal(tk_json_parse(bad[i], strlen(bad[i]), "request", &j, &err),
				 -EBADMSG);
		assert_non_null(strstr(err.msg, "request"));
	}
	/* An embedded NUL inside the given length is not silently truncated. */
	assert_int_equal(tk_json_parse("{\"a\":1}\0{", 9, "request", &j, &err), -EBADMSG);
	/* Scalars are valid JSON; whether they are valid requests is decided later. */
	j = parse("42");
	assert_true(json_is_integer(j));
	json_decref(j);
}

static void test_json_unpack_strict(void **state)
{
	json_t *j = parse("{\"name\":\"alpha\",\"mtu\":1400,\"extra\":true}");
	const char *name = NULL;
	json_int_t mtu = 0;
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_json_unpack(j, "network.create args", &err, "{s:s, s:I}", "name", &name,
					"mtu", &mtu),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "network.create args"));
	assert_non_null(strstr(err.msg, "extra"));
	/* The lax variant ignores keys it was not asked about (CNI configs carry many). */
	assert_int_equal(
		tk_json_unpack_lax(j, "cni config", NULL, "{s:s, s:I}", "name", &name, "mtu", &mtu),
		0);
	assert_string_equal(name, "alpha");
	assert_int_equal(mtu, 1400);
	/* Wrong types and missing keys name the problem. */
	tk_err_clear(&err);
	assert_int_equal(tk_json_unpack(j, "x", &err, "{s:i, s:I, s:b}", "name", &mtu, "mtu", &mtu,
					"extra", &(int){ 0 }),
			 -EINVAL);
	assert_true(strlen(err.msg) > 0);
	assert_int_equal(tk_json_unpack(NULL, "x", &err, "{}"), -EINVAL);
	json_decref(j);
}

static void expect_bad_request(const char *text, const char *needle)
{
	json_t *msg = parse(text), *args = NULL;
	const char *op = NULL;
	tk_err err = {};

	assert_int_equal(tk_rpc_parse_request(msg, &op, &args, &err), -EINVAL);
	assert_non_null(strstr(err.msg, needle));
	json_decref(msg);
}

static void test_parse_request(void **state)
{
	json_t *msg, *args = NULL;
	const char *op = NULL;

	(void)state;
	expect_bad_request("[]", "object");
	expect_bad_request("\"status\"", "object");
	expect_bad_request("{}", "op");
	expect_bad_request("{\"op\":42}", "op");
	expect_bad_request("{\"op\":null}", "op");
	expect_bad_request("{\"op\":\"status\",\"args\":[]}", "args");
	expect_bad_request("{\"op\":\"status\",\"args\":\"x\"}", "args");
	expect_bad_request("{\"op\":\"status\",\"arg\":{}}", "arg");

	msg = parse("{\"op\":\"network.inspect\",\"args\":{\"name\":\"n\"}}");
	assert_int_equal(tk_rpc_parse_request(msg, &op, &args, NULL), 0);
	assert_string_equal(op, "network.inspect");
	assert_string_equal(json_string_value(json_object_get(args, "name")), "n");
	json_decref(msg);

	/* Missing args become an empty object owned by the message (the caller borrows it). */
	msg = parse("{\"op\":\"status\"}");
	assert_int_equal(tk_rpc_parse_request(msg, &op, &args, NULL), 0);
	assert_true(json_is_object(args));
	assert_int_equal(json_object_size(args), 0);
	assert_ptr_equal(args, json_object_get(msg, "args"));
	json_decref(msg);
}

static void test_replies(void **state)
{
	json_t *reply, *result = NULL;
	tk_err e = {}, got = {};

	(void)state;
	reply = tk_rpc_reply_ok(json_pack("{s:i}", "n", 3));
	assert_int_equal(tk_rpc_parse_reply(reply, &result, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(result, "n")), 3);
	json_decref(result);
	json_decref(reply);

	reply = tk_rpc_reply_ok(NULL);
	assert_int_equal(tk_rpc_parse_reply(reply, &result, NULL), 0);
	assert_true(json_is_object(result));
	json_decref(result);
	json_decref(reply);

	/* Found by fuzz-rpc: ok without a result must hand out exactly one reference. */
	reply = parse("{\"ok\":true}");
	assert_int_equal(tk_rpc_parse_reply(reply, &result, NULL), 0);
	assert_int_equal(result->refcount, 1);
	json_decref(result);
	json_decref(reply);

	/* Codes travel as positive errno values and come back negative. */
	tk_err_set(&e, -EADDRINUSE, "address 10.0.0.5 is already in use");
	reply = tk_rpc_reply_error(&e);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(reply, "error"), "code")),
		EADDRINUSE);
	assert_int_equal(tk_rpc_parse_reply(reply, &result, &got), -EADDRINUSE);
	assert_string_equal(got.msg, "address 10.0.0.5 is already in use");
	json_decref(reply);

	/* details are appended; nonsense codes become EIO; a malformed reply is EBADMSG. */
	reply = parse("{\"ok\":false,\"error\":{\"code\":2,\"msg\":\"gone\",\"details\":\"why\"}}");
	assert_int_equal(tk_rpc_parse_reply(reply, &result, &got), -ENOENT);
	assert_non_null(strstr(got.msg, "gone"));
	assert_non_null(strstr(got.msg, "why"));
	json_decref(reply);
	reply = parse("{\"ok\":false,\"error\":{\"code\":-7,\"msg\":\"odd\"}}");
	assert_int_equal(tk_rpc_parse_reply(reply, &result, &got), -EIO);
	json_decref(reply);
	reply = parse("{\"ok\":\"yes\"}");
	assert_int_equal(tk_rpc_parse_reply(reply, &result, &got), -EBADMSG);
	json_decref(reply);
	reply = parse("{\"ok\":false}");
	assert_int_equal(tk_rpc_parse_reply(reply, &result, &got), -EBADMSG);
	json_decref(reply);
}

static void test_wire(void **state)
{
	json_t *sent = json_pack("{s:s, s:{s:s}}", "op", "status", "args", "x", "y"), *got = NULL;
	int sv[2];
	tk_err err = {};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	assert_true(json_equal(sent, got));
	json_decref(got);

	/* Not JSON: EBADMSG, and the stream stays usable for the next message. */
	assert_int_equal(send(sv[0], "{nope", 5, 0), 5);
	assert_int_equal(tk_rpc_recv(sv[1], &got, &err), -EBADMSG);
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	json_decref(got);

	/* An empty message is not end of stream. */
	assert_int_equal(send(sv[0], "", 0, 0), 0);
	assert_int_equal(tk_rpc_recv(sv[1], &got, &err), -EBADMSG);

	/* The peer going away is ECONNRESET. */
	close(sv[0]);
	assert_int_equal(tk_rpc_recv(sv[1], &got, &err), -ECONNRESET);
	close(sv[1]);
	json_decref(sent);
}

static void test_wire_large(void **state)
{
	size_t len = 1u << 20;
	char *big = malloc(len + 1);
	json_t *sent, *got = NULL;
	int sv[2];

	(void)state;
	assert_non_null(big);
	memset(big, 'x', len);
	big[len] = '\0';
	sent = json_pack("{s:s}", "blob", big);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	/* One message of more than a MiB: the receiver must see it whole. */
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	assert_int_equal(strlen(json_string_value(json_object_get(got, "blob"))), len);
	json_decref(got);
	json_decref(sent);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_parse_malformed),
		cmocka_unit_test(test_json_unpack_strict),
		cmocka_unit_test(test_parse_request),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_wire_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
