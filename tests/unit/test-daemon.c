/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/daemon: the flags both daemons share with a daemon's own, the walk over the handler table
 * (with the shared tenant.* ops behind it), and main()'s error path.
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

#include "cleanup.h"
#include "daemon.h"
#include "json.h"
#include "log.h"

/* The skeleton never looks inside: a test's manager is whatever the test needs. */
struct manager {
	int calls;
	const struct tk_caller *caller;
};

static int op_ping(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
		   tk_err *err)
{
	int r;

	if ((r = tk_json_unpack(args, "ping args", err, "{}")) < 0)
		return r;
	m->calls++;
	m->caller = c;
	*ret = json_pack("{s:i}", "calls", m->calls);
	return 0;
}

/* Returns a code other than the one it stored: the reply carries the returned one. */
static int op_mismatch(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
		       tk_err *err)
{
	(void)m, (void)c, (void)args, (void)ret;
	tk_err_set(err, -EINVAL, "stored");
	return -EBUSY;
}

static const struct tk_rpc_handler handlers[] = {
	{ "ping", op_ping },
	{ "mismatch", op_mismatch },
};

static const struct tk_caller root = { .uid = 0, .admin = true };

static json_t *call(struct manager *m, struct tk_tenants *ts, const char *text)
{
	json_t *request = NULL, *reply;

	assert_int_equal(tk_json_parse(text, strlen(text), "test", &request, NULL), 0);
	reply = tk_rpc_dispatch(handlers, ELEMENTSOF(handlers), m, ts, &root, request);
	json_decref(request);
	assert_non_null(reply);
	return reply;
}

static int error_code(json_t *reply)
{
	return (int)json_integer_value(json_object_get(json_object_get(reply, "error"), "code"));
}

static void test_dispatch(void **state)
{
	struct manager m = {};
	struct tk_tenants ts = {};
	json_t *reply;

	(void)state;
	reply = call(&m, &ts, "{\"op\":\"ping\"}");
	assert_true(json_is_true(json_object_get(reply, "ok")));
	assert_int_equal(m.calls, 1);
	assert_ptr_equal(m.caller, &root);
	json_decref(reply);

	reply = call(&m, &ts, "{\"op\":\"pong\"}");
	assert_int_equal(error_code(reply), EOPNOTSUPP);
	json_decref(reply);
	reply = call(&m, &ts, "{\"args\":{}}");
	assert_int_equal(error_code(reply), EINVAL);
	json_decref(reply);
	reply = call(&m, &ts, "{\"op\":\"mismatch\"}");
	assert_int_equal(error_code(reply), EBUSY);
	json_decref(reply);
	/* The tenant ops are there for every daemon that has tenants, and only then. */
	reply = call(&m, &ts, "{\"op\":\"tenant.inspect\",\"args\":{\"name\":\"x\"}}");
	assert_int_equal(error_code(reply), ENOENT);
	json_decref(reply);
	reply = call(&m, NULL, "{\"op\":\"tenant.inspect\",\"args\":{\"name\":\"x\"}}");
	assert_int_equal(error_code(reply), EOPNOTSUPP);
	json_decref(reply);
	assert_int_equal(m.calls, 1);
}

static const char *arg_color = "none";

static int parse_option(int c, const char *arg)
{
	if (c != 'c')
		return -EINVAL;
	if (strcmp(arg, "red") != 0) {
		fprintf(stderr, "testd: no color '%s'\n", arg);
		return -EINVAL;
	}
	arg_color = arg;
	return 0;
}

static const struct option options[] = {
	{ "color", required_argument, NULL, 'c' },
	{},
};

static const struct tk_daemon testd = {
	.name = "testd",
	.summary = "A daemon for tests.",
	.socket_env = "TK_TESTD_SOCKET",
	.default_socket = "/run/testd.sock",
	.short_options = "c:",
	.options = options,
	.parse_option = parse_option,
};

static bool start(struct tk_daemon_args *a, int *ret_exit, ...)
{
	char *argv[16] = { (char *)"testd" };
	int argc = 1;
	va_list ap;

	va_start(ap, ret_exit);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	optind = 0;
	return tk_daemon_start(&testd, a, argc, argv, ret_exit);
}

static void test_start(void **state)
{
	struct tk_daemon_args a;
	int code = -1;

	(void)state;
	unsetenv("TK_TESTD_SOCKET");
	assert_true(start(&a, &code, NULL));
	assert_string_equal(a.socket, "/run/testd.sock");
	assert_int_equal(a.admin_gid, (gid_t)-1);
	assert_int_equal(a.log_level, LOG_INFO);

	setenv("TK_TESTD_SOCKET", "/tmp/env.sock", 1);
	assert_true(start(&a, &code, "-d", "/tmp/state", "--color", "red", "--log-level", "debug",
			  "--admin-group", "0", "--socket-group", "adm", NULL));
	assert_string_equal(a.socket, "/tmp/env.sock");
	assert_string_equal(a.state_dir, "/tmp/state");
	assert_string_equal(a.socket_group, "adm");
	assert_int_equal(a.log_level, LOG_DEBUG);
	assert_int_equal(a.admin_gid, 0);
	assert_string_equal(arg_color, "red");
	assert_true(start(&a, &code, "-s", "/tmp/flag.sock", NULL));
	assert_string_equal(a.socket, "/tmp/flag.sock");
	unsetenv("TK_TESTD_SOCKET");

	/* Usage errors: exit status 2. */
	assert_false(start(&a, &code, "--color", "blue", NULL));
	assert_int_equal(code, 2);
	assert_false(start(&a, &code, "--log-level", "loud", NULL));
	assert_int_equal(code, 2);
	assert_false(start(&a, &code, "extra", NULL));
	assert_int_equal(code, 2);
	assert_false(start(&a, &code, "--pool4", "10.0.0.0/8", NULL));
	assert_int_equal(code, 2);
	/* An admin group that does not exist: refused, exit status 1. */
	assert_false(start(&a, &code, "-g", "no-such-group-here", NULL));
	assert_int_equal(code, EXIT_FAILURE);
}

/* main()'s error path says what failed, never a literal "%m", even when err is empty. */
static void test_fail_message(void **state)
{
	char buf[512] = {}, expected[256];
	int saved = dup(STDERR_FILENO);
	FILE *f = tmpfile();
	tk_err err = {};

	(void)state;
	assert_non_null(f);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	assert_int_equal(tk_daemon_fail(&testd, -EADDRINUSE, &err), EXIT_FAILURE);
	tk_err_set(&err, -EINVAL, "--pool4: '%s' is not a CIDR prefix", "x");
	assert_int_equal(tk_daemon_fail(&testd, err.code, &err), EXIT_FAILURE);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	assert_true(pread(fileno(f), buf, sizeof(buf) - 1, 0) > 0);
	fclose(f);
	snprintf(expected, sizeof(expected),
		 "testd: %s\ntestd: --pool4: 'x' is not a CIDR prefix\n", strerror(EADDRINUSE));
	assert_string_equal(buf, expected);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_fail_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
