/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/blocks: carving a subnet into per-host blocks, their keys, and each host's try order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blocks.h"

static struct tk_prefix prefix(const char *s)
{
	struct tk_prefix p;

	assert_int_equal(tk_prefix_parse(s, &p, NULL), 0);
	return p;
}

static void assert_block(const char *subnet, uint8_t len, uint64_t i, const char *want)
{
	struct tk_prefix s = prefix(subnet), b;
	char buf[TK_PREFIX_STRLEN];

	assert_int_equal(tk_block_nth(&s, len, i, &b, NULL), 0);
	assert_string_equal(tk_prefix_format(&b, buf, sizeof(buf)), want);
}

static void test_count(void **state)
{
	struct tk_prefix s = prefix("10.32.0.0/16"), s6 = prefix("fd7e::/48");
	uint64_t n = 0;
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_block_count(&s, 26, &n, NULL), 0);
	assert_int_equal(n, 1024);
	assert_int_equal(tk_block_count(&s, 16, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(tk_block_count(&s, 32, &n, NULL), 0);
	assert_int_equal(n, 65536);
	assert_int_equal(tk_block_count(&s, 15, &n, &err), -EINVAL);
	assert_int_equal(tk_block_count(&s, 33, &n, &err), -EINVAL);
	assert_int_equal(tk_block_count(&s6, 64, &n, NULL), 0);
	assert_int_equal(n, 65536);
	assert_int_equal(tk_block_count(&s6, 80, &n, NULL), 0);
	assert_true(n == (uint64_t)1 << 32);
	assert_int_equal(tk_block_count(&s6, 122, &n, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "use larger blocks"));
}

static void test_nth(void **state)
{
	struct tk_prefix s = prefix("10.32.0.0/24"), b;
	tk_err err = {};

	(void)state;
	assert_block("10.32.0.0/24", 26, 0, "10.32.0.0/26");
	assert_block("10.32.0.0/24", 26, 1, "10.32.0.64/26");
	assert_block("10.32.0.0/24", 26, 3, "10.32.0.192/26");
	/* Carries across bytes. */
	assert_block("10.32.0.0/16", 26, 5, "10.32.1.64/26");
	assert_block("10.32.0.0/16", 26, 1023, "10.32.255.192/26");
	assert_block("10.0.0.0/8", 32, 0xffffff, "10.255.255.255/32");
	assert_block("10.32.0.0/24", 24, 0, "10.32.0.0/24");
	assert_block("fd7e::/48", 64, 0x41, "fd7e:0:0:41::/64");
	assert_block("fd7e:0:0:41::/64", 96, 0xffffffff, "fd7e::41:ffff:ffff:0:0/96");
	assert_block("fd7e::/112", 122, 3, "fd7e::c0/122");
	assert_int_equal(tk_block_nth(&s, 26, 4, &b, &err), -ERANGE);
}

static void test_key(void **state)
{
	struct tk_prefix b = prefix("10.32.0.64/26"), back;
	struct tk_prefix b6 = prefix("fd7e::c0/122");
	char buf[TK_PREFIX_STRLEN];
	tk_err err = {};

	(void)state;
	assert_string_equal(tk_block_key(&b, buf, sizeof(buf)), "10.32.0.64-26");
	assert_int_equal(tk_block_key_parse(buf, &back, NULL), 0);
	assert_true(back.len == 26 && tk_addr_equal(&back.addr, &b.addr));
	assert_string_equal(tk_block_key(&b6, buf, sizeof(buf)), "fd7e::c0-122");
	assert_int_equal(tk_block_key_parse(buf, &back, NULL), 0);
	assert_true(back.len == 122 && tk_addr_equal(&back.addr, &b6.addr));
	assert_int_equal(tk_block_key_parse("10.32.0.64/26", &back, &err), -EINVAL);
	assert_int_equal(tk_block_key_parse("10.32.0.65-26", &back, &err), -EINVAL);
	assert_int_equal(tk_block_key_parse("", &back, &err), -EINVAL);
}

/* Every block exactly once in n tries, for sizes with many divisors and for primes. */
static void test_candidates(void **state)
{
	static const uint64_t sizes[] = { 1, 2, 3, 4, 16, 60, 64, 97, 1024, 4096 };
	static const char *const hosts[] = { "h1", "h2", "node-17.example" };

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
			uint64_t n = sizes[s];
			uint8_t *seen = calloc(n, 1);

			assert_non_null(seen);
			for (uint64_t k = 0; k < n; k++) {
				uint64_t c = tk_block_candidate(hosts[h], n, k);
				assert_true(c < n);
				assert_int_equal(seen[c], 0);
				seen[c] = 1;
			}
			free(seen);
		}
	/* Stable for one name; the first choices of different names differ. */
	assert_int_equal(tk_block_candidate("h1", 1024, 7), tk_block_candidate("h1", 1024, 7));
	assert_true(tk_block_candidate("h1", 1024, 0) != tk_block_candidate("h2", 1024, 0) ||
		    tk_block_candidate("h1", 1024, 1) != tk_block_candidate("h2", 1024, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_nth),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_candidates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
