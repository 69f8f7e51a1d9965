/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local protocol: what a malformed or hostile client can send, how replies carry errors, and
 * the wire round trip over a real SOCK_SEQPACKET socketpair.  The JSON parser under it is tested
 * in test-json.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
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
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(reply, "error"), "code")),
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

/*
 * Whether anyone still holds the read end of pipe p: with every reader closed, a write fails
 * with EPIPE.  This is how the tests see that a received descriptor was closed.
 */
static bool pipe_has_reader(int write_fd)
{
	return write(write_fd, "x", 1) == 1;
}

static void send_raw_fds(int sock, const char *text, const int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} control = {};
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	assert_true(n <= 16);
	mh.msg_control = control.buf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)strlen(text));
}

static void test_wire_passed_fd(void **state)
{
	json_t *sent = json_pack("{s:s}", "op", "endpoint.add"), *got = NULL;
	struct stat a, b;
	int sv[2], p[2], fd = -2;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	socket_pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* The descriptor arrives with its message, as a new CLOEXEC descriptor of the same file. */
	assert_int_equal(tk_rpc_send_fd(sv[0], sent, p[0], NULL), 0);
	assert_int_equal(tk_rpc_recv_fd(sv[1], &got, &fd, NULL), 0);
	assert_true(json_equal(sent, got));
	json_decref(got);
	assert_true(fd >= 0 && fd != p[0]);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(p[0], &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(p[0]);
	assert_true(pipe_has_reader(p[1])); /* the received copy */
	close(fd);
	assert_false(pipe_has_reader(p[1]));
	close(p[1]);

	/* Without one, *ret_fd is -1. */
	fd = -2;
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	assert_int_equal(tk_rpc_recv_fd(sv[1], &got, &fd, NULL), 0);
	assert_int_equal(fd, -1);
	json_decref(got);

	/* A receiver that wants none closes what came. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(tk_rpc_send_fd(sv[0], sent, p[0], NULL), 0);
	close(p[0]);
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	json_decref(got);
	assert_false(pipe_has_reader(p[1]));
	close(p[1]);

	json_decref(sent);
	close(sv[0]);
	close(sv[1]);
}

static void test_wire_passed_fds_refused(void **state)
{
	json_t *sent = json_pack("{s:s}", "op", "status"), *got = &sentinel;
	int sv[2], p[2], fds[8], fd = -2;
	tk_err err = {};

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	socket_pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* Two descriptors: the message is refused and both are closed. */
	fds[0] = fds[1] = p[0];
	send_raw_fds(sv[0], "{\"op\":\"status\"}", fds, 2);
	close(p[0]);
	assert_int_equal(tk_rpc_recv_fd(sv[1], &got, &fd, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "at most one"));
	assert_ptr_equal(got, &sentinel);
	assert_int_equal(fd, -2);
	assert_false(pipe_has_reader(p[1]));
	close(p[1]);

	/* More than fit (MSG_CTRUNC): refused, none left open. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		fds[i] = p[0];
	send_raw_fds(sv[0], "{\"op\":\"status\"}", fds, ELEMENTSOF(fds));
	close(p[0]);
	tk_err_clear(&err);
	assert_int_equal(tk_rpc_recv_fd(sv[1], &got, &fd, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "descriptors"));
	assert_false(pipe_has_reader(p[1]));
	close(p[1]);

	/* A descriptor on a message that is not JSON is closed too. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	send_raw_fds(sv[0], "{nope", p, 1);
	close(p[0]);
	assert_int_equal(tk_rpc_recv_fd(sv[1], &got, &fd, NULL), -EBADMSG);
	assert_int_equal(fd, -2);
	assert_false(pipe_has_reader(p[1]));
	close(p[1]);

	/* The stream goes on. */
	assert_int_equal(tk_rpc_send(sv[0], sent, NULL), 0);
	assert_int_equal(tk_rpc_recv_fd(sv[1], &got, &fd, NULL), 0);
	assert_int_equal(fd, -1);
	json_decref(got);
	json_decref(sent);
	close(sv[0]);
	close(sv[1]);
}

static void test_timeout_env(void **state)
{
	(void)state;
	unsetenv("TK_RPC_TIMEOUT_MS");
	assert_int_equal(tk_rpc_timeout_ms(), TK_RPC_TIMEOUT_MS_DEFAULT);
	setenv("TK_RPC_TIMEOUT_MS", "1500", 1);
	assert_int_equal(tk_rpc_timeout_ms(), 1500);
	/* Nonsense never means "wait forever". */
	static const char *const bad[] = { "0", "-5", "abc", "10s", "", "99999999999" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		setenv("TK_RPC_TIMEOUT_MS", bad[i], 1);
		assert_int_equal(tk_rpc_timeout_ms(), TK_RPC_TIMEOUT_MS_DEFAULT);
	}
	unsetenv("TK_RPC_TIMEOUT_MS");
}

/* A peer that never answers: the call gives up at its deadline with a message that says so. */
static void test_call_deadline(void **state)
{
	json_t *result = &sentinel, *got = NULL;
	tk_err err = {};
	int64_t start;
	int sv[2];

	(void)state;
	socket_pair(sv);
	start = tk_rpc_now_ms();
	assert_int_equal(tk_rpc_call_full(sv[0], "status", NULL, -1, 200, &result, &err),
			 -ETIMEDOUT);
	assert_true(tk_rpc_now_ms() - start >= 190);
	assert_true(tk_rpc_now_ms() - start < 2000);
	assert_int_equal(err.code, -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "no reply within 200 ms"));
	assert_ptr_equal(result, &sentinel);
	/* The request did go out. */
	assert_int_equal(tk_rpc_recv(sv[1], &got, NULL), 0);
	json_decref(got);

	/* The default deadline comes from the environment. */
	setenv("TK_RPC_TIMEOUT_MS", "150", 1);
	start = tk_rpc_now_ms();
	assert_int_equal(tk_rpc_call_fd(sv[0], "status", NULL, &result, NULL), -ETIMEDOUT);
	assert_true(tk_rpc_now_ms() - start < 2000);
	unsetenv("TK_RPC_TIMEOUT_MS");
	close(sv[0]);
	close(sv[1]);
}

/* A reply already waiting is taken; the descriptor travels with the request. */
static void test_call_answered_with_fd(void **state)
{
	json_t *reply = tk_rpc_reply_ok(json_pack("{s:i}", "n", 7)), *result = NULL, *req = NULL;
	struct stat a, b;
	int sv[2], p[2], fd = -1;

	(void)state;
	socket_pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(tk_rpc_send(sv[1], reply, NULL), 0);
	assert_int_equal(tk_rpc_call_full(sv[0], "endpoint.add", NULL, p[0], 1000, &result, NULL),
			 0);
	assert_int_equal(json_integer_value(json_object_get(result, "n")), 7);
	assert_int_equal(tk_rpc_recv_fd(sv[1], &req, &fd, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(req, "op")), "endpoint.add");
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(p[0], &b), 0);
	assert_true(a.st_ino == b.st_ino);
	close(fd);
	close(p[0]);
	close(p[1]);
	json_decref(req);
	json_decref(result);
	json_decref(reply);
	close(sv[0]);
	close(sv[1]);
}

/* A listener whose backlog is full (a stopped daemon): connect gives up at the deadline. */
static void test_connect_deadline(void **state)
{
	char dir[] = "/tmp/tk-rpc-XXXXXX", path[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, fds[4], n = 0, r = 0;
	tk_err err = {};
	int64_t start;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	/* Nobody accepts: the first connection or two fill the backlog. */
	start = tk_rpc_now_ms();
	while (n < (int)ELEMENTSOF(fds) &&
	       (r = tk_rpc_connect_timeout(path, 200, &fds[n], &err)) == 0)
		n++;
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(n >= 1);
	assert_true(tk_rpc_now_ms() - start < 2000);
	assert_non_null(strstr(err.msg, "within 200 ms"));
	for (int i = 0; i < n; i++)
		close(fds[i]);
	close(lfd);
	unlink(path);
	rmdir(dir);
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
		cmocka_unit_test(test_wire_passed_fd),
		cmocka_unit_test(test_wire_passed_fds_refused),
		cmocka_unit_test(test_timeout_env),
		cmocka_unit_test(test_call_deadline),
		cmocka_unit_test(test_call_answered_with_fd),
		cmocka_unit_test(test_connect_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
