/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local protocol: what a malformed or hostile client can send, how replies carry errors, and
 * the wire round trip over a real SOCK_SEQPACKET socketpair.  The JSON parser under it is tested
 * in test-json.c.
 */
#include <errno.h>
#include <fcntl.h>
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

/* Sentinels for "the out-parameter was not touched". */
static json_t sentinel;
static const char sentinel_op[] = "untouched";

static json_t *parse(const char *text)
{
	json_t *j = NULL;

	assert_int_equal(tk_json_parse(text, strlen(text), "test", &j, NULL), 0);
	return j;
}

static json_t *error_of(json_t *reply)
{
	return json_object_get(reply, "error");
}

static void expect_bad_request(const char *text, const char *needle)
{
	json_t *msg = parse(text), *args = &sentinel;
	const char *op = sentinel_op;
	tk_err err = {};

	assert_int_equal(tk_rpc_parse_request(msg, &op, &args, &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("'%s' does not mention '%s'", err.msg, needle);
	assert_ptr_equal(op, sentinel_op);
	assert_ptr_equal(args, &sentinel);
	json_decref(msg);
}

static void test_parse_request_refused(void **state)
{
	(void)state;
	/* Not an object. */
	expect_bad_request("[]", "object");
	expect_bad_request("\"status\"", "object");
	expect_bad_request("null", "object");
	/* op missing or not a string. */
	expect_bad_request("{}", "\"op\"");
	expect_bad_request("{\"args\":{}}", "\"op\"");
	expect_bad_request("{\"op\":42}", "\"op\"");
	expect_bad_request("{\"op\":null}", "\"op\"");
	expect_bad_request("{\"op\":[\"status\"]}", "\"op\"");
	expect_bad_request("{\"op\":{}}", "\"op\"");
	/* args present but not an object. */
	expect_bad_request("{\"op\":\"status\",\"args\":[]}", "\"args\"");
	expect_bad_request("{\"op\":\"status\",\"args\":\"x\"}", "\"args\"");
	expect_bad_request("{\"op\":\"status\",\"args\":null}", "\"args\"");
	/* Unknown top-level keys are named, so a typo is obvious. */
	expect_bad_request("{\"op\":\"status\",\"arg\":{}}", "unknown key 'arg'");
	expect_bad_request("{\"op\":\"status\",\"args\":{},\"id\":1}", "unknown key 'id'");
}

static void test_parse_request(void **state)
{
	json_t *msg, *args = NULL;
	const char *op = NULL;

	(void)state;
	msg = parse("{\"op\":\"network.inspect\",\"args\":{\"name\":\"n\"}}");
	assert_int_equal(tk_rpc_parse_request(msg, &op, &args, NULL), 0);
	assert_string_equal(op, "network.inspect");
	/* Borrowed from the message, not copied. */
	assert_ptr_equal(args, json_object_get(msg, "args"));
	assert_string_equal(json_string_value(json_object_get(args, "name")), "n");
	json_decref(msg);
}

static void test_parse_request_no_args(void **state)
{
	json_t *msg, *args = NULL, *again = NULL;
	const char *op = NULL;

	(void)state;
	/* Missing args become an empty object owned by the message: the caller borrows it. */
	msg = parse("{\"op\":\"status\"}");
	assert_int_equal(tk_rpc_parse_request(msg, &op, &args, NULL), 0);
	assert_string_equal(op, "status");
	assert_true(json_is_object(args));
	assert_int_equal(json_object_size(args), 0);
	assert_ptr_equal(args, json_object_get(msg, "args"));
	assert_int_equal(args->refcount, 1);
	/* Parsing the same message again hands out the same object and adds nothing. */
	assert_int_equal(tk_rpc_parse_request(msg, &op, &again, NULL), 0);
	assert_ptr_equal(again, args);
	assert_int_equal(json_object_size(msg), 2);
	/* Freeing the message frees args too (LeakSanitizer checks this in the ASan build). */
	json_decref(msg);
}

static void test_reply_ok(void **state)
{
	json_t *reply, *result = &sentinel, *payload, *expected;

	(void)state;
	/* The result is stolen: the reply holds the only reference. */
	payload = json_pack("{s:i}", "n", 3);
	reply = tk_rpc_reply_ok(payload);
	assert_non_null(reply);
	assert_int_equal(payload->refcount, 1);
	expected = parse("{\"ok\":true,\"result\":{\"n\":3}}");
	assert_true(json_equal(reply, expected));
	json_decref(expected);
	/* Parsing returns a new reference to the same result. */
	assert_int_equal(tk_rpc_parse_reply(reply, &result, NULL), 0);
	assert_ptr_equal(result, payload);
	assert_int_equal(payload->refcount, 2);
	json_decref(result);
	json_decref(reply);

	/* No result means an empty object, on both sides. */
	reply = tk_rpc_reply_ok(NULL);
	expected = parse("{\"ok\":true,\"result\":{}}");
	assert_true(json_equal(reply, expected));
	json_decref(expected);
	assert_int_equal(tk_rpc_parse_reply(reply, &result, NULL), 0);
	assert_true(json_is_object(result));
	assert_int_equal(json_object_size(result), 0);
	json_decref(result);
	json_decref(reply);

	/* Found by fuzz-rpc: ok without a result must hand out exactly one reference. */
	reply = parse("{\"ok\":true}");
	assert_int_equal(tk_rpc_parse_reply(reply, &result, NULL), 0);
	assert_int_equal(result->refcount, 1);
	json_decref(result);
	json_decref(reply);
}

static void test_reply_error(void **state)
{
	json_t *reply, *expected, *result = &sentinel;
	tk_err e = {}, got = {};

	(void)state;
	/* Codes travel as positive errno values and come back negative. */
	tk_err_set(&e, -EADDRINUSE, "address 10.0.0.5 is already in use");
	reply = tk_rpc_reply_error(&e);
	expected = json_pack("{s:b, s:{s:i, s:s}}", "ok", 0, "error", "code", EADDRINUSE, "msg",
			     "address 10.0.0.5 is already in use");
	assert_true(json_equal(reply, expected));
	json_decref(expected);
	assert_int_equal(tk_rpc_parse_reply(reply, &result, &got), -EADDRINUSE);
	assert_int_equal(got.code, -EADDRINUSE);
	assert_string_equal(got.msg, "address 10.0.0.5 is already in use");
	assert_ptr_equal(result, &sentinel);
	json_decref(reply);

	/* No error, or one without a code, is reported as EIO rather than as success. */
	reply = tk_rpc_reply_error(NULL);
	assert_false(json_boolean_value(json_object_get(reply, "ok")));
	assert_int_equal(json_integer_value(json_object_get(error_of(reply), "code")), EIO);
	assert_string_equal(json_string_value(json_object_get(error_of(reply), "msg")),
			    strerror(EIO));
	json_decref(reply);
	reply = tk_rpc_reply_error(&(tk_err){ .code = 0, .msg = "half-set" });
	assert_int_equal(json_integer_value(json_object_get(error_of(reply), "code")), EIO);
	assert_string_equal(json_string_value(json_object_get(error_of(reply), "msg")), "half-set");
	json_decref(reply);

	/* A code without a message gets the errno text. */
	reply = tk_rpc_reply_error(&(tk_err){ .code = -ENOENT });
	assert_int_equal(tk_rpc_parse_reply(reply, &result, &got), -ENOENT);
	assert_string_equal(got.msg, strerror(ENOENT));
	json_decref(reply);
}

static void test_parse_reply_wire_forms(void **state)
{
	static const struct {
		const char *text;
		int code;
		const char *msg;
	} cases[] = {
		/* details are appended in parentheses. */
		{ "{\"ok\":false,\"error\":{\"code\":2,\"msg\":\"gone\",\"details\":\"why\"}}",
		  -ENOENT, "gone (why)" },
		{ "{\"ok\":false,\"error\":{\"code\":17,\"msg\":\"exists\"}}", -EEXIST, "exists" },
		/* Codes that are not errno values become EIO, never success or a wild number. */
		{ "{\"ok\":false,\"error\":{\"code\":0,\"msg\":\"zero\"}}", -EIO, "zero" },
		{ "{\"ok\":false,\"error\":{\"code\":-7,\"msg\":\"odd\"}}", -EIO, "odd" },
		{ "{\"ok\":false,\"error\":{\"code\":4096,\"msg\":\"big\"}}", -EIO, "big" },
		{ "{\"ok\":false,\"error\":{\"code\":9007199254740993,\"msg\":\"huge\"}}", -EIO,
		  "huge" },
		{ "{\"ok\":false,\"error\":{\"code\":4095,\"msg\":\"max\"}}", -4095, "max" },
		/* Malformed replies. */
		{ "{\"ok\":\"yes\"}", -EBADMSG, NULL },
		{ "{\"result\":{}}", -EBADMSG, NULL },
		{ "{\"ok\":false}", -EBADMSG, NULL },
		{ "{\"ok\":false,\"error\":\"bad\"}", -EBADMSG, NULL },
		{ "{\"ok\":false,\"error\":{\"code\":\"2\",\"msg\":\"x\"}}", -EBADMSG, NULL },
		{ "{\"ok\":false,\"error\":{\"code\":2}}", -EBADMSG, NULL },
		{ "{\"ok\":false,\"error\":{\"code\":2,\"msg\":\"x\",\"details\":3}}", -EBADMSG,
		  NULL },
		{ "[true]", -EBADMSG, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *reply = parse(cases[i].text), *result = &sentinel;
		tk_err got = {};

		assert_int_equal(tk_rpc_parse_reply(reply, &result, &got), cases[i].code);
		assert_ptr_equal(result, &sentinel);
		assert_true(strlen(got.msg) > 0);
		if (cases[i].msg) {
			assert_int_equal(got.code, cases[i].code);
			assert_string_equal(got.msg, cases[i].msg);
		}
		json_decref(reply);
	}
}

static void socket_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_wire_roundtrip(void **state)
{
	json_t *sent[3], *got = NULL, *result = NULL;
	tk_err e = {}, err = {};
	int sv[2];

	(void)state;
	socket_pair(sv);
	sent[0] = json_pack("{s:s, s:{s:s}}", "op", "status", "args", "x", "y");
	sent[1] = json_pack("{s:s, s:{s:s}}", "op", "tenant.list", "args", "name", "ünïcödé");
	sent[2] = json_pack("{s:s}", "op", "x");
	/* Message boundaries are kept: three sends are three receives, in order. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(tk_rpc_send(sv[0], sent[i], NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
		assert_true(json_equal(sent[i], got));
		json_decref(got);
	}
	/* send does not consume the message. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sent[i]->refcount, 1);
		json_decref(sent[i]);
	}

	/* An error reply survives the trip with code, text and details. */
	tk_err_set(&e, -EACCES, "tenant 'a' belongs to uid 1000");
	sent[0] = tk_rpc_reply_error(&e);
	json_object_set_new(error_of(sent[0]), "details", json_string("caller uid 1001"));
	assert_int_equal(tk_rpc_send(sv[1], sent[0], NULL), 0);
	assert_int_equal(tk_rpc_recv(sv[0], &got, NULL), 0);
	assert_int_equal(tk_rpc_parse_reply(got, &result, &err), -EACCES);
	assert_string_equal(err.msg, "tenant 'a' belongs to uid 1000 (caller uid 1001)");
	json_decref(got);
	json_decref(sent[0]);
	close(sv[0]);
	close(sv[1]);
}

static void test_wire_bad_messages(void **state)
{
	json_t *sent = json_pack("{s:s}", "op", "status"), *got = &sentinel;
	tk_err err = {};
	int sv[2];

	(void)state;
	socket_pair(sv);
	/* Not JSON: EBADMSG, and the stream stays usable for the next message. */
	assert_int_equal(send(sv[0], "{nope", 5, 0), 5);
	assert_int_equal(tk_rpc_recv(sv[1], &got, &err), -EBADMSG);
	assert_int_equal(err.code, -EBADMSG);
	assert_non_null(strstr(err.msg, "message"));
	assert_ptr_equal(got, &sentinel);
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	assert_true(json_equal(sent, got));
	json_decref(got);

	/* Two JSON documents in one message are one bad message, not two requests. */
	assert_int_equal(send(sv[0], "{}{}", 4, 0), 4);
	assert_int_equal(tk_rpc_recv(sv[1], &got, &err), -EBADMSG);

	/* An embedded NUL does not truncate the message into something valid. */
	assert_int_equal(send(sv[0], "{}\0junk", 7, 0), 7);
	assert_int_equal(tk_rpc_recv(sv[1], &got, &err), -EBADMSG);

	/* An empty message is not end of stream. */
	assert_int_equal(send(sv[0], "", 0, 0), 0);
	tk_err_clear(&err);
	assert_int_equal(tk_rpc_recv(sv[1], &got, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	got = NULL;
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	json_decref(got);

	json_decref(sent);
	close(sv[0]);
	close(sv[1]);
}

static void test_wire_peer_closed(void **state)
{
	json_t *sent = json_pack("{s:s}", "op", "status"), *got = NULL;
	tk_err err = {};
	int sv[2];

	(void)state;
	socket_pair(sv);
	/* What was sent before the close is still delivered, then the close is ECONNRESET. */
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	close(sv[0]);
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	assert_true(json_equal(sent, got));
	json_decref(got);
	got = &sentinel;
	assert_int_equal(tk_rpc_recv(sv[1], &got, &err), -ECONNRESET);
	assert_int_equal(err.code, -ECONNRESET);
	assert_true(strlen(err.msg) > 0);
	assert_ptr_equal(got, &sentinel);
	/* And stays so. */
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), -ECONNRESET);

	/* Sending to a closed peer is EPIPE, with send in the message. */
	tk_err_clear(&err);
	assert_int_equal(tk_rpc_send(sv[1], sent, &err), -EPIPE);
	assert_non_null(strstr(err.msg, "send"));
	close(sv[1]);

	/* A half-close by the peer looks the same to the reader. */
	socket_pair(sv);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), -ECONNRESET);
	close(sv[0]);
	close(sv[1]);
	json_decref(sent);
}

static json_t *blob(size_t len)
{
	char *big = malloc(len + 1);
	json_t *j;

	assert_non_null(big);
	memset(big, 'x', len);
	big[len] = '\0';
	j = json_pack("{s:s}", "blob", big);
	free(big);
	assert_non_null(j);
	return j;
}

static void test_wire_large(void **state)
{
	size_t len = 1u << 20;
	json_t *sent = blob(len), *got = NULL;
	int sv[2];

	(void)state;
	socket_pair(sv);
	/* One message of more than a MiB: the receiver must see it whole. */
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	assert_int_equal(strlen(json_string_value(json_object_get(got, "blob"))), len);
	assert_true(json_equal(sent, got));
	json_decref(got);
	json_decref(sent);
	close(sv[0]);
	close(sv[1]);
}

static void test_wire_too_large(void **state)
{
	json_t *sent = blob(TK_RPC_MAX_MSG), *got = NULL;
	tk_err err = {};
	int sv[2];

	(void)state;
	socket_pair(sv);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	/* Refused before anything reaches the socket, with the limit in the message. */
	assert_int_equal(tk_rpc_send(sv[0], sent, &err), -EMSGSIZE);
	assert_int_equal(err.code, -EMSGSIZE);
	assert_non_null(strstr(err.msg, "limit"));
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), -EAGAIN);
	json_decref(sent);
	close(sv[0]);
	close(sv[1]);
}

/* Found by review: a message cut inside a UTF-8 character made the error reply NULL. */
static void test_reply_error_long_utf8(void **state)
{
	char op[600];
	tk_err err = {};
	json_t *reply;

	(void)state;
	memset(op, 'a', 498);
	strcpy(op + 498, "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4");
	tk_err_set(&err, -EOPNOTSUPP, "unknown op '%s'", op);
	reply = tk_rpc_reply_error(&err);
	assert_non_null(reply);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "error"), "code")),
			 EOPNOTSUPP);
	json_decref(reply);
	/* Even a message that was never valid UTF-8 yields a reply. */
	snprintf(err.msg, sizeof(err.msg), "bad \xff byte");
	reply = tk_rpc_reply_error(&err);
	assert_non_null(reply);
	json_decref(reply);
	/* tk_err_wrap's truncation keeps UTF-8 whole too. */
	tk_err_set(&err, -EINVAL, "%s", op);
	tk_err_wrap(&err, -EINVAL, "context");
	reply = tk_rpc_reply_error(&err);
	assert_non_null(reply);
	assert_true(json_is_string(json_object_get(json_object_get(reply, "error"), "msg")));
	json_decref(reply);
}

/* What tk_rpc_parse_reply returns is what it stores in err, for every kind of reply. */
static void test_parse_reply_code_matches_err(void **state)
{
	static const struct {
		const char *text;
		int code;
	} cases[] = {
		{ "{\"ok\":false,\"error\":{\"code\":2,\"msg\":\"no tenant 'a'\"}}", -ENOENT },
		{ "{\"ok\":false,\"error\":{\"code\":0,\"msg\":\"zero\"}}", -EIO },
		{ "{\"ok\":false,\"error\":{\"code\":99999,\"msg\":\"huge\"}}", -EIO },
		/* Broken replies: -EBADMSG, not the -EINVAL of the JSON unpacking underneath. */
		{ "{\"ok\":\"yes\"}", -EBADMSG },
		{ "{\"result\":{}}", -EBADMSG },
		{ "{\"ok\":false}", -EBADMSG },
		{ "{\"ok\":false,\"error\":{\"code\":\"2\",\"msg\":\"x\"}}", -EBADMSG },
		{ "[]", -EBADMSG },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *reply = parse(cases[i].text), *result = &sentinel;
		tk_err err = {};

		assert_int_equal(tk_rpc_parse_reply(reply, &result, &err), cases[i].code);
		assert_int_equal(err.code, cases[i].code);
		assert_true(err.msg[0] != '\0');
		assert_ptr_equal(result, &sentinel);
		json_decref(reply);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_error_long_utf8),
		cmocka_unit_test(test_parse_request_refused),
		cmocka_unit_test(test_parse_request),
		cmocka_unit_test(test_parse_request_no_args),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_error),
		cmocka_unit_test(test_parse_reply_wire_forms),
		cmocka_unit_test(test_parse_reply_code_matches_err),
		cmocka_unit_test(test_wire_roundtrip),
		cmocka_unit_test(test_wire_bad_messages),
		cmocka_unit_test(test_wire_peer_closed),
		cmocka_unit_test(test_wire_large),
		cmocka_unit_test(test_wire_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
