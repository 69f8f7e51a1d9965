/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The error contract (lib/err.h): every setter takes and returns a negative errno, stores the
 * same code it returns, and %m means the text of that code.  Logging leaves errno alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "log.h"

static void test_set(void **state)
{
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_err_set(&err, -EEXIST, "tenant '%s' already exists", "a"), -EEXIST);
	assert_int_equal(err.code, -EEXIST);
	assert_string_equal(err.msg, "tenant 'a' already exists");
	/* NULL is allowed and still returns the code. */
	assert_int_equal(tk_err_set(NULL, -EINVAL, "x"), -EINVAL);
}

/* %m is the code's text, whatever errno holds when the message is formatted. */
static void test_percent_m(void **state)
{
	char expected[128];
	tk_err err = {};

	(void)state;
	errno = EPERM;
	assert_int_equal(tk_err_set(&err, -ENOENT, "cannot open '%s': %m", "/x"), -ENOENT);
	snprintf(expected, sizeof(expected), "cannot open '/x': %s", strerror(ENOENT));
	assert_string_equal(err.msg, expected);
	assert_null(strstr(err.msg, "%m"));
	/* The caller's errno is left as it was. */
	assert_int_equal(errno, EPERM);

	errno = 0;
	assert_int_equal(tk_err_wrap(&err, -ENOENT, "at %m"), -ENOENT);
	assert_true(strncmp(err.msg, "at ", 3) == 0);
	assert_null(strstr(err.msg, "%m"));
	assert_int_equal(errno, 0);
}

static void test_wrap(void **state)
{
	char expected[128];
	tk_err err = {};

	(void)state;
	tk_err_set(&err, -EADDRINUSE, "address taken");
	assert_int_equal(tk_err_wrap(&err, -EADDRINUSE, "attaching '%s'", "c1"), -EADDRINUSE);
	assert_string_equal(err.msg, "attaching 'c1': address taken");
	assert_int_equal(err.code, -EADDRINUSE);
	/* Wrapping an empty error names the code. */
	tk_err_clear(&err);
	assert_int_equal(tk_err_wrap(&err, -EBUSY, "deleting"), -EBUSY);
	snprintf(expected, sizeof(expected), "deleting: %s", strerror(EBUSY));
	assert_string_equal(err.msg, expected);
	/* Wrapping with another code changes the code, so the return value and err agree. */
	assert_int_equal(tk_err_wrap(&err, -EBADMSG, "reply"), -EBADMSG);
	assert_int_equal(err.code, -EBADMSG);
}

static void test_errno_and_text(void **state)
{
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_err_errno(&err, -EIO, "op"), -EIO);
	assert_int_equal(err.code, -EIO);
	assert_true(strncmp(err.msg, "op: ", 4) == 0);
	/* An error already set keeps its message. */
	tk_err_set(&err, -EACCES, "permission denied: uid 5");
	assert_int_equal(tk_err_errno(&err, -EACCES, "op"), -EACCES);
	assert_string_equal(err.msg, "permission denied: uid 5");

	assert_string_equal(tk_err_text(&err, -EACCES), "permission denied: uid 5");
	tk_err_clear(&err);
	assert_string_equal(tk_err_text(&err, -ENOENT), strerror(ENOENT));
	assert_string_equal(tk_err_text(NULL, -ENOSPC), strerror(ENOSPC));
}

/* Runs fn in a child: true when it died of SIGABRT (a failed assertion). */
static bool aborts(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* No core files and no assertion text in the test output. */
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void set_positive(void)
{
	tk_err err = {};
	(void)tk_err_set(&err, EINVAL, "positive");
}

static void set_zero(void)
{
	(void)tk_err_set(NULL, 0, "zero");
}

static void wrap_positive(void)
{
	tk_err err = {};
	(void)tk_err_wrap(&err, ENOENT, "positive");
}

static void errno_positive(void)
{
	(void)tk_err_errno(NULL, EIO, "positive");
}

static void set_negative(void)
{
	(void)tk_err_set(NULL, -EINVAL, "fine");
}

static void test_codes_asserted(void **state)
{
	(void)state;
#ifdef NDEBUG
	skip();
#endif
	assert_true(aborts(set_positive));
	assert_true(aborts(set_zero));
	assert_true(aborts(wrap_positive));
	assert_true(aborts(errno_positive));
	assert_false(aborts(set_negative));
}

/* Logging formats %m from its error argument and gives the caller its errno back. */
static void test_log_keeps_errno(void **state)
{
	char buf[256] = {}, expected[128];
	int saved = dup(STDERR_FILENO), fd;
	FILE *f = tmpfile();

	(void)state;
	assert_non_null(f);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	errno = EAGAIN;
	assert_int_equal(log_error_errno(-ENOENT, "open: %m"), -ENOENT);
	assert_int_equal(errno, EAGAIN);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	fd = fileno(f);
	assert_true(pread(fd, buf, sizeof(buf) - 1, 0) > 0);
	snprintf(expected, sizeof(expected), "open: %s\n", strerror(ENOENT));
	assert_string_equal(buf, expected);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_percent_m),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_errno_and_text),
		cmocka_unit_test(test_codes_asserted),
		cmocka_unit_test(test_log_keeps_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
