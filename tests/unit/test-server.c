/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemons' request loop, the parts that need no running server: group parsing, fault
 * injection, who may do what, how a handler's answer becomes a reply, and the peer's identity
 * on a real socketpair (SO_PEERCRED works unprivileged).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "server.h"

#define FAULTS "TK_TEST_UNIT_FAULTS"

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("'%s' does not mention '%s'", haystack, needle);
}

static void test_parse_gid(void **state)
{
	static const char *const bad[] = {
		"",
		"12x",
		"x12",
		"-1",
		"4294967295",
		"99999999999999999999",
		"no-such-group-tk-unit",
	};
	gid_t gid;

	(void)state;
	/* Debian has a group called root, with gid 0. */
	gid = 42;
	assert_int_equal(tk_parse_gid("root", &gid), 0);
	assert_int_equal(gid, 0);
	assert_int_equal(tk_parse_gid("0", &gid), 0);
	assert_int_equal(gid, 0);
	assert_int_equal(tk_parse_gid("1234", &gid), 0);
	assert_int_equal(gid, 1234);
	/* The largest gid that is not (gid_t)-1, which means "none" to chown(2). */
	assert_int_equal(tk_parse_gid("4294967294", &gid), 0);
	assert_int_equal(gid, 4294967294u);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gid = 42;
		if (tk_parse_gid(bad[i], &gid) != -EINVAL)
			fail_msg("'%s' was accepted as gid %u", bad[i], (unsigned)gid);
		/* ret is only set on success. */
		assert_int_equal(gid, 42);
	}
}

static int fault(const char *faults, const char *point, tk_err *err)
{
	if (faults)
		assert_int_equal(setenv(FAULTS, faults, 1), 0);
	else
		assert_int_equal(unsetenv(FAULTS), 0);
	tk_err_clear(err);
	return tk_fault_point(FAULTS, point, err);
}

static void test_fault_point(void **state)
{
	tk_err err = {};

	(void)state;
	assert_int_equal(fault(NULL, "veth", &err), 0);
	assert_int_equal(fault("", "veth", &err), 0);
	assert_int_equal(err.code, 0);

	assert_int_equal(fault("veth", "veth", &err), -EIO);
	assert_int_equal(err.code, -EIO);
	assert_contains(err.msg, "'veth'");
	assert_int_equal(fault("bridge,veth", "veth", &err), -EIO);
	assert_int_equal(fault("veth,bridge", "veth", &err), -EIO);
	assert_int_equal(fault("a,,veth", "veth", &err), -EIO);
	assert_int_equal(fault("bridge,veth", "bridge", &err), -EIO);
	assert_int_equal(fault(",veth,", "veth", &err), -EIO);

	/* A point matches whole names only. */
	assert_int_equal(fault("veth2", "veth", &err), 0);
	assert_int_equal(fault("xveth", "veth", &err), 0);
	assert_int_equal(fault("vet", "veth", &err), 0);
	assert_int_equal(fault("bridge,veth-peer", "veth", &err), 0);
	/* Only "@sleep" exactly is the sleeping form (which would hold this test for a minute). */
	assert_int_equal(fault("veth@sleepy,veth@other", "veth", &err), 0);
	assert_int_equal(err.code, 0);
	/* A NULL err is allowed. */
	assert_int_equal(fault("veth", "veth", NULL), -EIO);
	assert_int_equal(unsetenv(FAULTS), 0);
}

static const struct tk_caller root_caller = { .pid = 1, .uid = 0, .gid = 0, .admin = true };
static const struct tk_caller user_caller = { .pid = 2, .uid = 1000, .gid = 1000 };
static const struct tk_caller group_caller = { .pid = 3, .uid = 1001, .gid = 2000 };

static void test_require_admin(void **state)
{
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_require_admin(&root_caller, "tenant.create", &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(tk_require_admin(&user_caller, "tenant.create", &err), -EACCES);
	assert_int_equal(err.code, -EACCES);
	assert_contains(err.msg, "'tenant.create'");
	assert_int_equal(tk_require_admin(&user_caller, "x", NULL), -EACCES);
}

static void test_caller_may_manage(void **state)
{
	tk_err err = {};

	(void)state;
	/* The admin manages everything, owned or not. */
	assert_int_equal(tk_caller_may_manage(&root_caller, -1, -1, "alpha", &err), 0);
	assert_int_equal(tk_caller_may_manage(&root_caller, 1000, 2000, "alpha", &err), 0);
	/* The owning uid, or the owning group as the caller's group. */
	assert_int_equal(tk_caller_may_manage(&user_caller, 1000, -1, "alpha", &err), 0);
	assert_int_equal(tk_caller_may_manage(&group_caller, -1, 2000, "alpha", &err), 0);
	assert_int_equal(tk_caller_may_manage(&group_caller, 1000, 2000, "alpha", &err), 0);
	assert_int_equal(err.code, 0);

	/* No owner: only the admin. */
	assert_int_equal(tk_caller_may_manage(&user_caller, -1, -1, "alpha", &err), -EACCES);
	assert_int_equal(err.code, -EACCES);
	assert_contains(err.msg, "uid 1000");
	assert_contains(err.msg, "'alpha'");
	/* Somebody else's tenant, by uid and by group. */
	tk_err_clear(&err);
	assert_int_equal(tk_caller_may_manage(&user_caller, 1001, 2000, "beta", &err), -EACCES);
	assert_contains(err.msg, "'beta'");
	/* A caller's gid is not taken for its uid, nor its uid for its gid. */
	assert_int_equal(tk_caller_may_manage(&group_caller, 2000, -1, "beta", NULL), -EACCES);
	assert_int_equal(tk_caller_may_manage(&group_caller, -1, 1001, "beta", NULL), -EACCES);
}

static json_t *error_of(json_t *reply)
{
	assert_true(json_is_false(json_object_get(reply, "ok")));
	return json_object_get(reply, "error");
}

static void test_server_reply(void **state)
{
	tk_err err = {};
	json_t *reply;

	(void)state;
	/* Success: the result is stolen into the reply. */
	reply = tk_server_reply("status", 0, json_pack("{s:i}", "n", 7), &user_caller, &err);
	assert_non_null(reply);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "result"), "n")),
			 7);
	json_decref(reply);

	/* The handler's own message is kept, and the code goes on the wire positive. */
	tk_err_set(&err, -EEXIST, "network 'n1' already exists");
	reply = tk_server_reply("network.create", -EEXIST, NULL, &user_caller, &err);
	assert_int_equal(json_integer_value(json_object_get(error_of(reply), "code")), EEXIST);
	assert_string_equal(json_string_value(json_object_get(error_of(reply), "msg")),
			    "network 'n1' already exists");
	json_decref(reply);

	/* A handler that failed without a message: the reply still says what failed. */
	tk_err_clear(&err);
	reply = tk_server_reply("volume.create", -ENOSPC, NULL, &user_caller, &err);
	assert_int_equal(json_integer_value(json_object_get(error_of(reply), "code")), ENOSPC);
	assert_contains(json_string_value(json_object_get(error_of(reply), "msg")),
			"volume.create");
	json_decref(reply);

	/* Success without a result is a failure (the result could not be built), and a result
	 * that comes with a failure is released (LeakSanitizer watches this binary). */
	tk_err_clear(&err);
	reply = tk_server_reply("status", 0, NULL, &user_caller, &err);
	assert_int_equal(json_integer_value(json_object_get(error_of(reply), "code")), ENOMEM);
	json_decref(reply);
	tk_err_clear(&err);
	reply = tk_server_reply("status", -EIO, json_object(), &user_caller, &err);
	assert_int_equal(json_integer_value(json_object_get(error_of(reply), "code")), EIO);
	json_decref(reply);
}

static void test_report_action(void **state)
{
	json_t *actions = json_array();

	(void)state;
	tk_report_action(actions, "created bridge '%s'", "tk-1");
	tk_report_action(actions, "removed %d links", 2);
	tk_report_action(NULL, "not recorded anywhere");
	assert_int_equal(json_array_size(actions), 2);
	assert_string_equal(json_string_value(json_array_get(actions, 0)), "created bridge 'tk-1'");
	assert_string_equal(json_string_value(json_array_get(actions, 1)), "removed 2 links");
	json_decref(actions);
}

static void test_caller_identify(void **state)
{
	struct tk_caller c;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	tk_caller_identify(sv[0], (gid_t)-1, &c);
	assert_int_equal(c.pid, getpid());
	assert_int_equal(c.uid, getuid());
	assert_int_equal(c.gid, getgid());
	/* Without an admin group only root is admin. */
	assert_int_equal(c.admin, getuid() == 0);
	/* The admin group counts as the primary group... */
	tk_caller_identify(sv[0], getgid(), &c);
	assert_true(c.admin);
	/* ...and a group the peer is not in does not. */
	tk_caller_identify(sv[0], 4294967000u, &c);
	assert_int_equal(c.admin, getuid() == 0);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_gid),	cmocka_unit_test(test_fault_point),
		cmocka_unit_test(test_require_admin),	cmocka_unit_test(test_caller_may_manage),
		cmocka_unit_test(test_server_reply),	cmocka_unit_test(test_report_action),
		cmocka_unit_test(test_caller_identify),
	};

	/* tk_server_reply logs every failure it answers: keep TAP output readable. */
	tk_log_setup(LOG_CRIT, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
