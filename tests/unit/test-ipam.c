/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* IPAM: pools, reservations, exhaustion, release, and carving subnets out of a pool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "helpers.h"

#include "ipam.h"

static const char *str(const struct tk_addr *a)
{
	static char buf[4][TK_ADDR_STRLEN];
	static int i;

	return tk_addr_format(a, buf[i++ % 4], sizeof(buf[0]));
}

static struct tk_ipam_pool *pool_of(const char *subnet)
{
	struct tk_prefix p = P(subnet);
	struct tk_ipam_pool *pool = NULL;

	assert_int_equal(tk_ipam_pool_new(&p, &pool, NULL), 0);
	return pool;
}

/* A pool as netd uses it: the gateway reserved first. */
static struct tk_ipam_pool *network_pool(const char *subnet)
{
	struct tk_ipam_pool *pool = pool_of(subnet);
	struct tk_addr gw;

	tk_ipam_pool_default_gateway(pool, &gw);
	assert_int_equal(tk_ipam_pool_reserve(pool, &gw, NULL), 0);
	return pool;
}

static void test_v4_reservations(void **state)
{
	struct tk_ipam_pool *pool = pool_of("10.200.0.0/24");
	struct tk_addr gw, a;
	tk_err err = {};

	(void)state;
	/* 256 addresses minus network and broadcast. */
	assert_int_equal(tk_ipam_pool_available(pool), 254);
	tk_ipam_pool_default_gateway(pool, &gw);
	assert_string_equal(str(&gw), "10.200.0.1");
	assert_int_equal(tk_ipam_pool_reserve(pool, &gw, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), 253);

	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "10.200.0.2");

	a = A("10.200.0.0");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, &err), -EADDRNOTAVAIL);
	assert_true(strlen(err.msg) > 0);
	a = A("10.200.0.255");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("10.200.1.5");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("fd7e::5");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("10.200.0.2");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "10.200.0.2"));
	a = A("10.200.0.77");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), 251);
	tk_ipam_pool_free(pool);
}

static void test_v4_exhaustion(void **state)
{
	/* /29: 8 addresses, network and broadcast reserved, gateway taken: 5 for containers. */
	struct tk_ipam_pool *pool = network_pool("10.9.0.0/29");
	struct tk_addr a, seen[5];
	tk_err err = {};

	(void)state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(tk_ipam_pool_alloc(pool, &seen[i], NULL), 0);
		assert_true(tk_prefix_contains(tk_ipam_pool_subnet(pool), &seen[i]));
		for (int j = 0; j < i; j++)
			assert_false(tk_addr_equal(&seen[i], &seen[j]));
	}
	assert_string_equal(str(&seen[0]), "10.9.0.2");
	assert_string_equal(str(&seen[4]), "10.9.0.6");
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, &err), -ENOSPC);
	assert_int_equal(err.code, -ENOSPC);
	assert_int_equal(tk_ipam_pool_available(pool), 0);

	/* Releasing one makes exactly that one available again. */
	assert_int_equal(tk_ipam_pool_release(pool, &seen[2]), 0);
	assert_int_equal(tk_ipam_pool_available(pool), 1);
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_true(tk_addr_equal(&a, &seen[2]));
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), -ENOSPC);
	tk_ipam_pool_free(pool);
}

static void test_release(void **state)
{
	struct tk_ipam_pool *pool = network_pool("10.9.0.0/24");
	struct tk_addr a, b, gw;
	size_t avail;

	(void)state;
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	avail = tk_ipam_pool_available(pool);
	/* Releasing something not allocated, reserved or foreign changes nothing. */
	b = A("10.9.0.200");
	assert_int_equal(tk_ipam_pool_release(pool, &b), 0);
	b = A("10.9.0.0");
	assert_int_equal(tk_ipam_pool_release(pool, &b), 0);
	b = A("10.9.0.255");
	assert_int_equal(tk_ipam_pool_release(pool, &b), 0);
	b = A("192.168.0.1");
	assert_int_equal(tk_ipam_pool_release(pool, &b), 0);
	assert_int_equal(tk_ipam_pool_available(pool), avail);
	/* Twice is once. */
	assert_int_equal(tk_ipam_pool_release(pool, &a), 0);
	assert_int_equal(tk_ipam_pool_release(pool, &a), 0);
	assert_int_equal(tk_ipam_pool_available(pool), avail + 1);
	/* The gateway reservation is an ordinary reservation: netd never releases it. */
	tk_ipam_pool_default_gateway(pool, &gw);
	assert_int_equal(tk_ipam_pool_reserve(pool, &gw, NULL), -EADDRINUSE);
	tk_ipam_pool_free(pool);
}

static void test_next_fit(void **state)
{
	struct tk_ipam_pool *pool = network_pool("10.9.0.0/24");
	struct tk_addr a, b, c;

	(void)state;
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_int_equal(tk_ipam_pool_alloc(pool, &b, NULL), 0);
	tk_ipam_pool_release(pool, &a);
	/* A just-freed address is not handed out again while later ones are free. */
	assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), 0);
	assert_string_equal(str(&c), "10.9.0.4");
	/* .5 to .254 first; only after wrapping around is the freed .2 found. */
	for (int i = 0; i < 250; i++)
		assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), 0);
	assert_string_equal(str(&c), "10.9.0.254");
	assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), 0);
	assert_string_equal(str(&c), "10.9.0.2");
	assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), -ENOSPC);
	tk_ipam_pool_free(pool);
}

static void test_too_small_or_large(void **state)
{
	struct tk_ipam_pool *pool = NULL;
	struct tk_prefix p;
	tk_err err = {};

	(void)state;
	static const char *const bad[] = { "10.0.0.0/31", "10.0.0.1/32", "fd00::/127",
					   "fd00::1/128", "10.0.0.0/11" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tk_prefix_parse(bad[i], &p, NULL), 0);
		assert_int_equal(tk_ipam_pool_new(&p, &pool, &err), -EINVAL);
		assert_true(strlen(err.msg) > 0);
	}
	p = P("10.0.0.0/30");
	assert_int_equal(tk_ipam_pool_new(&p, &pool, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), 2);
	tk_ipam_pool_free(pool);
	p = P("10.16.0.0/12");
	assert_int_equal(tk_ipam_pool_new(&p, &pool, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), (1u << 20) - 2);
	tk_ipam_pool_free(pool);
}

static void test_v6(void **state)
{
	struct tk_ipam_pool *pool = network_pool("fd7e:0:0:1::/64");
	struct tk_addr a, gw;

	(void)state;
	tk_ipam_pool_default_gateway(pool, &gw);
	assert_string_equal(str(&gw), "fd7e:0:0:1::1");
	/* Only the subnet-router anycast address is reserved; no broadcast in IPv6. */
	assert_int_equal(tk_ipam_pool_available(pool), TK_IPAM_V6_HOSTS - 2);
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "fd7e:0:0:1::2");
	a = A("fd7e:0:0:1::");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("fd7e:0:0:1::ffff");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), 0);
	/* Beyond the handed-out host range, and outside the subnet. */
	a = A("fd7e:0:0:1::1:0");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("fd7e:0:0:1:8000::5");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("fd7e:0:0:2::5");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	tk_ipam_pool_free(pool);

	/* A small v6 subnet is exhausted like a v4 one. */
	pool = network_pool("fd00::/126");
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "fd00::3");
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), -ENOSPC);
	tk_ipam_pool_free(pool);
}

static void test_carve_v4(void **state)
{
	struct tk_prefix pool = P("10.200.0.0/16"), used[3], got;
	char buf[TK_PREFIX_STRLEN];
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_ipam_carve(&pool, 24, NULL, 0, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "10.200.0.0/24");
	used[0] = P("10.200.0.0/24");
	used[1] = P("10.200.1.0/25"); /* a partial overlap also takes the /24 */
	used[2] = P("10.200.3.0/24");
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 3, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "10.200.2.0/24");
	/* A used prefix larger than the pool leaves nothing. */
	used[0] = P("10.0.0.0/8");
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 1, &got, &err), -ENOSPC);
	assert_true(strlen(err.msg) > 0);
	/* Children larger than the pool, or longer than an address, are refused. */
	assert_int_equal(tk_ipam_carve(&pool, 15, NULL, 0, &got, NULL), -EINVAL);
	assert_int_equal(tk_ipam_carve(&pool, 33, NULL, 0, &got, NULL), -EINVAL);
}

static void test_carve_exhaustion(void **state)
{
	struct tk_prefix pool = P("10.200.0.0/22"), used[4], got;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(tk_ipam_carve(&pool, 24, used, (size_t)i, &used[i], NULL), 0);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < i; j++)
			assert_false(tk_prefix_overlaps(&used[i], &used[j]));
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 4, &got, NULL), -ENOSPC);
}

static void test_carve_v6(void **state)
{
	struct tk_prefix pool = P("fd7e::/48"), used[2], got;
	char buf[TK_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(tk_ipam_carve(&pool, 64, NULL, 0, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "fd7e::/64");
	used[0] = got;
	used[1] = P("fd7e:0:0:1::/64");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 2, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "fd7e:0:0:2::/64");
	/* An IPv4 prefix never blocks an IPv6 carve. */
	used[0] = P("0.0.0.0/0");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 1, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "fd7e::/64");
	/* A very wide span (/8 into /64s) still finds the lowest free child. */
	pool = P("fd00::/8");
	used[0] = P("fd00::/64");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 1, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "fd00:0:0:1::/64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_reservations),
		cmocka_unit_test(test_v4_exhaustion),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_next_fit),
		cmocka_unit_test(test_too_small_or_large),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_carve_v4),
		cmocka_unit_test(test_carve_exhaustion),
		cmocka_unit_test(test_carve_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
