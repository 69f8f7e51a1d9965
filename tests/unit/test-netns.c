/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tk_netns_open with what an unprivileged process can open: its own network namespace, another
 * kind of namespace, a regular file, a directory, a missing path and a relative one.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns.h"

static void expect_refused(const char *path, int code, const char *needle)
{
	tk_err err = {};
	int fd = -42;

	assert_int_equal(tk_netns_open(path, 0, &fd, &err), code);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, needle))
		fail_msg("'%s' does not mention '%s'", err.msg, needle);
	if (!strstr(err.msg, path))
		fail_msg("'%s' does not name the path '%s'", err.msg, path);
	/* ret_fd is only set on success. */
	assert_int_equal(fd, -42);
}

static void test_own_netns(void **state)
{
	struct stat a, b;
	tk_err err = {};
	int fd = -1;

	(void)state;
	assert_int_equal(tk_netns_open("/proc/self/ns/net", 0, &fd, &err), 0);
	assert_true(fd >= 0);
	assert_int_equal(err.code, 0);
	/* The same namespace, and CLOEXEC like every fd. */
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat("/proc/self/ns/net", &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_dev, b.st_dev);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* err may be NULL. */
	assert_int_equal(tk_netns_open("/proc/self/ns/net", 0, &fd, NULL), 0);
	close(fd);
}

static void test_not_a_netns(void **state)
{
	char file[] = "/tmp/tk-unit-netns.XXXXXX";
	int tmp;

	(void)state;
	/* nsfs, but the namespace of another kind. */
	expect_refused("/proc/self/ns/uts", -EINVAL, "not a network namespace");
	expect_refused("/proc/self/ns/mnt", -EINVAL, "not a network namespace");
	/* A regular file, a directory, a character device. */
	tmp = mkstemp(file);
	assert_true(tmp >= 0);
	close(tmp);
	expect_refused(file, -EINVAL, "not a network namespace");
	unlink(file);
	expect_refused("/tmp", -EINVAL, "not a network namespace");
	expect_refused("/dev/null", -EINVAL, "not a network namespace");
}

static void test_bad_paths(void **state)
{
	(void)state;
	expect_refused("/run/netns/tk-unit-no-such-netns", -ENOENT, "cannot open");
	expect_refused("proc/self/ns/net", -EINVAL, "not absolute");
	expect_refused("", -EINVAL, "not absolute");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_netns),
		cmocka_unit_test(test_not_a_netns),
		cmocka_unit_test(test_bad_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
