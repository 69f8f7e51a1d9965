/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Decoding of Docker volume-plugin API requests, as podman and Docker send them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dockerapi.h"

static int decode(const char *path, const char *body, struct tk_docker_request *req)
{
	tk_err err = {};
	int r = tk_docker_request_decode(path, body, body ? strlen(body) : 0, req, &err);

	if (r < 0)
		assert_true(err.msg[0] != '\0'); /* every refusal says why */
	return r;
}

static void test_routes(void **state)
{
	static const struct {
		const char *path, *body;
		enum tk_docker_op op;
	} cases[] = {
		{ "/Plugin.Activate", NULL, TK_DOCKER_ACTIVATE },
		{ "/Plugin.Activate", "", TK_DOCKER_ACTIVATE },
		{ "/VolumeDriver.Capabilities", "{}", TK_DOCKER_CAPABILITIES },
		{ "/VolumeDriver.List", NULL, TK_DOCKER_LIST }, /* podman sends no body */
		{ "/VolumeDriver.List", " \n", TK_DOCKER_LIST },
		{ "/VolumeDriver.Get", "{\"Name\":\"data\"}", TK_DOCKER_GET },
		{ "/VolumeDriver.Path", "{\"Name\":\"data\"}", TK_DOCKER_PATH },
		{ "/VolumeDriver.Remove", "{\"Name\":\"data\"}", TK_DOCKER_REMOVE },
		{ "/VolumeDriver.Mount", "{\"Name\":\"data\",\"ID\":\"c1\"}", TK_DOCKER_MOUNT },
		{ "/VolumeDriver.Unmount", "{\"Name\":\"data\",\"ID\":\"c1\"}", TK_DOCKER_UNMOUNT },
		{ "/VolumeDriver.Create", "{\"Name\":\"data\",\"Opts\":null}", TK_DOCKER_CREATE },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tk_docker_request req;
		assert_int_equal(decode(cases[i].path, cases[i].body, &req), 0);
		assert_int_equal(req.op, cases[i].op);
		tk_docker_request_done(&req);
	}
}

static void test_fields(void **state)
{
	struct tk_docker_request req;

	(void)state;
	/* Fields Docker may add are ignored. */
	assert_int_equal(decode("/VolumeDriver.Mount",
				"{\"Name\":\"data\",\"ID\":\"abc\",\"Future\":[1,2]}", &req),
			 0);
	assert_string_equal(req.name, "data");
	assert_string_equal(req.id, "abc");
	assert_null(req.opts);
	tk_docker_request_done(&req);

	assert_int_equal(
		decode("/VolumeDriver.Create",
		       "{\"Name\":\"web\",\"Opts\":{\"size\":\"64M\",\"tenant\":\"alpha\"}}", &req),
		0);
	assert_string_equal(req.name, "web");
	assert_non_null(req.opts);
	tk_docker_request_done(&req);
}

static void test_malformed(void **state)
{
	static const struct {
		const char *path, *body;
		int code;
	} cases[] = {
		{ "/VolumeDriver.Frob", "{}", -ENOENT },
		{ "/volumedriver.get", "{\"Name\":\"x\"}", -ENOENT },
		{ "", "", -ENOENT },
		{ "/VolumeDriver.Get", NULL, -EINVAL },
		{ "/VolumeDriver.Get", "{}", -EINVAL },
		{ "/VolumeDriver.Get", "{\"Name\":3}", -EINVAL },
		{ "/VolumeDriver.Get", "[\"Name\"]", -EBADMSG },
		{ "/VolumeDriver.Get", "{\"Name\":", -EBADMSG },
		{ "/VolumeDriver.Get", "{\"Name\":\"a\",\"Name\":\"b\"}", -EBADMSG },
		{ "/VolumeDriver.Mount", "{\"Name\":\"x\"}", -EINVAL },
		{ "/VolumeDriver.Unmount", "{\"ID\":\"x\"}", -EINVAL },
		{ "/VolumeDriver.Create", "{\"Name\":\"x\",\"Opts\":[1]}", -EINVAL },
		{ "/VolumeDriver.Create", "{\"Name\":\"x\",\"Opts\":\"size=1G\"}", -EINVAL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tk_docker_request req;
		assert_int_equal(decode(cases[i].path, cases[i].body, &req), cases[i].code);
		assert_null(req.body); /* nothing to free after a refusal */
	}
}

/* The decoded strings point into the JSON: it lives until the next call. */
static json_t *held;

static int opts(const char *json, struct tk_docker_create_opts *o)
{
	tk_err err = {};
	int r;

	json_decref(held);
	held = json_loads(json, 0, NULL);
	assert_non_null(held);
	r = tk_docker_create_opts_decode(held, o, &err);
	if (r < 0)
		assert_true(err.msg[0] != '\0');
	return r;
}

static void test_create_opts(void **state)
{
	struct tk_docker_create_opts o;

	(void)state;
	assert_int_equal(opts("{\"tenant\":\"alpha\",\"size\":\"64M\"}", &o), 0);
	assert_int_equal(o.size, 64ull << 20);
	assert_int_equal(o.mode, 0755);
	assert_int_equal(o.uid, 0);
	assert_null(o.backend);
	assert_int_equal(
		opts("{\"tenant\":\"a\",\"size\":\"1G\",\"backend\":\"btrfs\",\"fs\":\"xfs\","
		     "\"uid\":\"1000\",\"gid\":\"33\",\"mode\":\"0700\"}",
		     &o),
		0);
	assert_string_equal(o.backend, "btrfs");
	assert_string_equal(o.fs, "xfs");
	assert_int_equal(o.uid, 1000);
	assert_int_equal(o.gid, 33);
	assert_int_equal(o.mode, 0700);

	assert_int_equal(opts("{\"size\":\"64M\"}", &o), -EINVAL);		    /* no tenant */
	assert_int_equal(opts("{\"tenant\":\"a\"}", &o), -EINVAL);		    /* no size */
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"64X\"}", &o), -EINVAL); /* bad unit */
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":64}", &o), -EINVAL); /* not a string */
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"color\":\"red\"}", &o), -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"uid\":\"-1\"}", &o), -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"uid\":\"4294967295\"}", &o),
			 -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"uid\":\" 1\"}", &o), -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"mode\":\"0800\"}", &o), -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"mode\":\"17777\"}", &o),
			 -EINVAL);
	/* Permission bits only: setuid, setgid and sticky bits are refused (issue 17). */
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"mode\":\"07777\"}", &o),
			 -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"mode\":\"4755\"}", &o), -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"mode\":\"2770\"}", &o), -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"mode\":\"1777\"}", &o), -EINVAL);
	assert_int_equal(opts("{\"tenant\":\"a\",\"size\":\"1M\",\"gid\":\"\"}", &o), -EINVAL);
	json_decref(held);
	held = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_create_opts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
