/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rate limit behind log_ratelimit_*: bursts, silence, the suppressed count, new intervals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

#define SEC 1000000ull

static void test_burst_then_silence(void **state)
{
	struct tk_ratelimit rl = { .interval_us = 10 * SEC, .burst = 3 };
	unsigned s = 99;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_true(tk_ratelimit_below(&rl, 100 * SEC + (uint64_t)i, &s));
		assert_int_equal(s, 0);
	}
	/* A million more in the same interval: none gets through. */
	for (int i = 0; i < 1000000; i++)
		assert_false(tk_ratelimit_below(&rl, 100 * SEC + 5 * SEC, &s));
	assert_int_equal(rl.suppressed, 1000000);
	/* Still inside the interval, one microsecond before its end. */
	assert_false(tk_ratelimit_below(&rl, 110 * SEC - 1, NULL));
	/* The next interval lets a line through and reports what was dropped. */
	assert_true(tk_ratelimit_below(&rl, 110 * SEC, &s));
	assert_int_equal(s, 1000001);
	assert_true(tk_ratelimit_below(&rl, 110 * SEC + 1, &s));
	assert_int_equal(s, 0);
}

static void test_clock_going_back_starts_over(void **state)
{
	struct tk_ratelimit rl = { .interval_us = 10 * SEC, .burst = 1 };
	unsigned s;

	(void)state;
	assert_true(tk_ratelimit_below(&rl, 50 * SEC, &s));
	assert_false(tk_ratelimit_below(&rl, 51 * SEC, &s));
	assert_true(tk_ratelimit_below(&rl, 1 * SEC, &s));
	assert_int_equal(s, 1);
}

static void test_zero_means_unlimited(void **state)
{
	struct tk_ratelimit rl = { .interval_us = 0, .burst = 3 };

	(void)state;
	for (int i = 0; i < 100; i++)
		assert_true(tk_ratelimit_below(&rl, 7, NULL));
}

static int count_logged(int n)
{
	int logged = 0;

	for (int i = 0; i < n; i++) {
		/* The same call site every time: one limit. */
		int r = log_ratelimit_full_errno(LOG_WARNING, -EMFILE, "test line %d: %m", i);
		assert_int_equal(r, -EMFILE);
		logged += tk_log_max_level() >= LOG_WARNING;
	}
	return logged;
}

static void test_macro_limits_lines(void **state)
{
	FILE *saved = stderr;
	char *buf = NULL;
	size_t len = 0;
	int lines = 0;

	(void)state;
	stderr = open_memstream(&buf, &len);
	assert_non_null(stderr);
	(void)count_logged(100000);
	fclose(stderr);
	stderr = saved;
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	/* The run takes far less than one interval. */
	assert_int_equal(lines, TK_RATELIMIT_BURST);
	assert_non_null(strstr(buf, "test line 0: Too many open files"));
	assert_null(strstr(buf, "test line 10:"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_silence),
		cmocka_unit_test(test_clock_going_back_starts_over),
		cmocka_unit_test(test_zero_means_unlimited),
		cmocka_unit_test(test_macro_limits_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
