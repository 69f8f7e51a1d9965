/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* IPAM: pools, reservations, exhaustion, release, and carving subnets out of a pool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

static const char *pstr(const struct tk_prefix *p)
{
	static char buf[4][TK_PREFIX_STRLEN];
	static int i;

	return tk_prefix_format(p, buf[i++ % 4], sizeof(buf[0]));
}

static struct tk_ipam_pool *pool_of(const char *subnet)
{
	struct tk_prefix p = P(subnet);
	struct tk_ipam_pool *pool = NULL;

	assert_int_equal(tk_ipam_pool_new(&p, &pool, NULL), 0);
	assert_non_null(pool);
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

/* The host index of a in subnet p (the low 32 bits of the difference). */
static uint32_t host_index(const struct tk_prefix *p, const struct tk_addr *a)
{
	size_t n = a->family == AF_INET ? 4 : 16;
	uint32_t x = 0, base = 0;

	for (size_t i = n - 4; i < n; i++) {
		x = x << 8 | a->bytes[i];
		base = base << 8 | p->addr.bytes[i];
	}
	return x - base;
}

static void test_v4_reservations(void **state)
{
	struct tk_ipam_pool *pool = pool_of("10.200.0.0/24");
	struct tk_addr gw, a;
	tk_err err = {};

	(void)state;
	assert_string_equal(pstr(tk_ipam_pool_subnet(pool)), "10.200.0.0/24");
	/* 256 addresses minus network and broadcast. */
	assert_int_equal(tk_ipam_pool_available(pool), 254);
	tk_ipam_pool_default_gateway(pool, &gw);
	assert_string_equal(str(&gw), "10.200.0.1");
	/* Naming the gateway does not reserve it: netd does that explicitly. */
	assert_int_equal(tk_ipam_pool_available(pool), 254);
	assert_int_equal(tk_ipam_pool_reserve(pool, &gw, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), 253);

	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "10.200.0.2");

	/* Network and broadcast addresses are never assignable. */
	a = A("10.200.0.0");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, &err), -EADDRNOTAVAIL);
	assert_int_equal(err.code, -EADDRNOTAVAIL);
	assert_non_null(strstr(err.msg, "10.200.0.0"));
	assert_non_null(strstr(err.msg, "10.200.0.0/24"));
	a = A("10.200.0.255");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	/* Nor is anything outside the subnet, of either family. */
	a = A("10.200.1.5");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("10.199.255.254");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("fd7e::5");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	a = A("::ffff:10.200.0.5");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
	/* Allocated and reserved addresses are in use. */
	tk_err_clear(&err);
	a = A("10.200.0.2");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, &err), -EADDRINUSE);
	assert_int_equal(err.code, -EADDRINUSE);
	assert_non_null(strstr(err.msg, "10.200.0.2"));
	assert_int_equal(tk_ipam_pool_reserve(pool, &gw, NULL), -EADDRINUSE);
	/* Refusals change nothing. */
	assert_int_equal(tk_ipam_pool_available(pool), 252);

	/* A static address is taken, and allocation then skips it. */
	a = A("10.200.0.3");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), 0);
	a = A("10.200.0.254");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), 250);
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "10.200.0.4");
	tk_ipam_pool_free(pool);
}

/* Allocates until -ENOSPC and checks every address handed out against the pool's rules. */
static void exhaust(const char *subnet, size_t expected, bool broadcast)
{
	struct tk_ipam_pool *pool = network_pool(subnet);
	const struct tk_prefix *p = tk_ipam_pool_subnet(pool);
	unsigned host_bits = (p->addr.family == AF_INET ? 32u : 128u) - p->len;
	size_t span, count = 0;
	uint8_t *seen;
	struct tk_addr a, gw;
	tk_err err = {};

	/* Only the first TK_IPAM_V6_HOSTS host indexes of a v6 subnet are handed out. */
	span = host_bits >= 16 && p->addr.family == AF_INET6 ? TK_IPAM_V6_HOSTS
							     : (size_t)1 << host_bits;
	seen = calloc(span, 1);
	assert_non_null(seen);
	tk_ipam_pool_default_gateway(pool, &gw);
	assert_int_equal(tk_ipam_pool_available(pool), expected);
	while (tk_ipam_pool_alloc(pool, &a, &err) == 0) {
		uint32_t idx = host_index(p, &a);

		assert_true(tk_prefix_contains(p, &a));
		assert_in_range(idx, 1, span - (broadcast ? 2 : 1)); /* not network or broadcast */
		assert_false(tk_addr_equal(&a, &gw));
		assert_int_equal(seen[idx], 0); /* never twice */
		seen[idx] = 1;
		count++;
		assert_true(count <= expected);
	}
	assert_int_equal(err.code, -ENOSPC);
	assert_non_null(strstr(err.msg, subnet));
	assert_int_equal(count, expected);
	assert_int_equal(tk_ipam_pool_available(pool), 0);
	/* Still exhausted on the next try, and the try changes nothing. */
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), -ENOSPC);
	assert_int_equal(tk_ipam_pool_available(pool), 0);
	free(seen);
	tk_ipam_pool_free(pool);
}

static void test_v4_exhaustion_sizes(void **state)
{
	(void)state;
	/* 2^(32-len) addresses minus network, broadcast and gateway; bitmap word edges included. */
	exhaust("10.9.0.0/30", 1, true);
	exhaust("10.9.0.0/29", 5, true);
	exhaust("10.9.0.64/26", 61, true); /* exactly one 64-bit word */
	exhaust("10.9.0.128/25", 125, true);
	exhaust("10.9.0.0/24", 253, true);
	exhaust("10.9.0.0/23", 509, true);
	exhaust("10.9.0.0/20", 4093, true);
}

static void test_v4_exhaustion(void **state)
{
	/* /29: 8 addresses, network and broadcast reserved, gateway taken: 5 for containers. */
	struct tk_ipam_pool *pool = network_pool("10.9.0.0/29");
	struct tk_addr a, seen[5];
	tk_err err = {};

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(tk_ipam_pool_alloc(pool, &seen[i], NULL), 0);
	assert_string_equal(str(&seen[0]), "10.9.0.2");
	assert_string_equal(str(&seen[4]), "10.9.0.6");
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, &err), -ENOSPC);
	assert_int_equal(err.code, -ENOSPC);
	assert_int_equal(tk_ipam_pool_available(pool), 0);
	/* A full pool refuses a static address as in use, not as unavailable. */
	a = A("10.9.0.4");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRINUSE);

	/* Releasing one makes exactly that one available again, to alloc or to reserve. */
	assert_int_equal(tk_ipam_pool_release(pool, &seen[2]), 0);
	assert_int_equal(tk_ipam_pool_available(pool), 1);
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_true(tk_addr_equal(&a, &seen[2]));
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), -ENOSPC);
	assert_int_equal(tk_ipam_pool_release(pool, &seen[4]), 0);
	assert_int_equal(tk_ipam_pool_reserve(pool, &seen[4], NULL), 0);
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
	/* Releasing something not allocated, reserved or foreign is a no-op returning 0. */
	static const char *const never[] = { "10.9.0.200",  "10.9.0.0", "10.9.0.255",
					     "192.168.0.1", "fd00::1",	"::ffff:10.9.0.2" };
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		b = A(never[i]);
		assert_int_equal(tk_ipam_pool_release(pool, &b), 0);
		assert_int_equal(tk_ipam_pool_available(pool), avail);
	}
	/* In particular network and broadcast stay reserved: they are never handed out. */
	b = A("10.9.0.0");
	assert_int_equal(tk_ipam_pool_reserve(pool, &b, NULL), -EADDRNOTAVAIL);
	/* Twice is once. */
	assert_int_equal(tk_ipam_pool_release(pool, &a), 0);
	assert_int_equal(tk_ipam_pool_release(pool, &a), 0);
	assert_int_equal(tk_ipam_pool_available(pool), avail + 1);
	/* The gateway reservation is an ordinary reservation: netd never releases it. */
	tk_ipam_pool_default_gateway(pool, &gw);
	assert_int_equal(tk_ipam_pool_reserve(pool, &gw, NULL), -EADDRINUSE);
	assert_int_equal(tk_ipam_pool_release(pool, &gw), 0);
	assert_int_equal(tk_ipam_pool_reserve(pool, &gw, NULL), 0);
	tk_ipam_pool_free(pool);
}

static void test_next_fit(void **state)
{
	struct tk_ipam_pool *pool = network_pool("10.9.0.0/24");
	struct tk_addr a, b, c;

	(void)state;
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_int_equal(tk_ipam_pool_alloc(pool, &b, NULL), 0);
	assert_string_equal(str(&b), "10.9.0.3");
	tk_ipam_pool_release(pool, &b);
	/* A just-freed address is not handed out again while later ones are free. */
	assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), 0);
	assert_string_equal(str(&c), "10.9.0.4");
	tk_ipam_pool_release(pool, &a);
	/* .5 to .254 first; only after wrapping around are the freed .2 and .3 found. */
	for (int i = 0; i < 250; i++)
		assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), 0);
	assert_string_equal(str(&c), "10.9.0.254");
	assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), 0);
	assert_string_equal(str(&c), "10.9.0.2");
	assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), 0);
	assert_string_equal(str(&c), "10.9.0.3");
	assert_int_equal(tk_ipam_pool_alloc(pool, &c, NULL), -ENOSPC);
	tk_ipam_pool_free(pool);
}

static void test_next_fit_wraps(void **state)
{
	struct tk_ipam_pool *pool = network_pool("10.9.0.0/29");
	struct tk_addr a, last;

	(void)state;
	/* Take .2 to .6, free .3: the cursor is past the end and wraps to find .3. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(tk_ipam_pool_alloc(pool, &last, NULL), 0);
	assert_string_equal(str(&last), "10.9.0.6");
	a = A("10.9.0.3");
	tk_ipam_pool_release(pool, &a);
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "10.9.0.3");
	/* Now the cursor is at .4: freeing .6 and .2 gives .6 first. */
	a = A("10.9.0.6");
	tk_ipam_pool_release(pool, &a);
	a = A("10.9.0.2");
	tk_ipam_pool_release(pool, &a);
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "10.9.0.6");
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "10.9.0.2");
	tk_ipam_pool_free(pool);
}

static void test_too_small_or_large(void **state)
{
	static char marker;
	struct tk_ipam_pool *pool = NULL, *untouched = (void *)&marker;
	struct tk_prefix p;
	tk_err err = {};

	(void)state;
	static const struct {
		const char *subnet, *needle;
	} bad[] = {
		{ "10.0.0.0/31", "/31" },  { "10.0.0.1/32", "/32" }, { "fd00::/127", "/127" },
		{ "fd00::1/128", "/128" }, { "10.0.0.0/11", "/11" }, { "0.0.0.0/0", "/0" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = P(bad[i].subnet);
		pool = untouched;
		tk_err_clear(&err);
		assert_int_equal(tk_ipam_pool_new(&p, &pool, &err), -EINVAL);
		assert_int_equal(err.code, -EINVAL);
		assert_non_null(strstr(err.msg, bad[i].needle));
		assert_ptr_equal(pool, untouched);
	}
	/* The smallest and largest v4 pools that are accepted. */
	p = P("10.0.0.0/30");
	assert_int_equal(tk_ipam_pool_new(&p, &pool, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), 2);
	tk_ipam_pool_free(pool);
	p = P("10.16.0.0/12");
	assert_int_equal(tk_ipam_pool_new(&p, &pool, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), TK_IPAM_MAX_HOSTS - 2);
	{
		struct tk_addr a = A("10.31.255.254"), b = A("10.31.255.255");
		assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), 0);
		assert_int_equal(tk_ipam_pool_reserve(pool, &b, NULL), -EADDRNOTAVAIL);
	}
	tk_ipam_pool_free(pool);
	/* Any v6 prefix length is fine: only the first TK_IPAM_V6_HOSTS are used. */
	p = P("fd00::/8");
	assert_int_equal(tk_ipam_pool_new(&p, &pool, NULL), 0);
	assert_int_equal(tk_ipam_pool_available(pool), TK_IPAM_V6_HOSTS - 1);
	tk_ipam_pool_free(pool);
	/* Freeing returns NULL and accepts NULL. */
	assert_null(tk_ipam_pool_free(NULL));
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
	/* The last host index is assignable. */
	a = A("fd7e:0:0:1::ffff");
	assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), 0);
	/* Beyond the handed-out host range, and outside the subnet. */
	static const char *const outside[] = { "fd7e:0:0:1::1:0", "fd7e:0:0:1:8000::5",
					       "fd7e:0:0:1:0:1::", "fd7e:0:0:2::5", "10.0.0.5" };
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		a = A(outside[i]);
		assert_int_equal(tk_ipam_pool_reserve(pool, &a, NULL), -EADDRNOTAVAIL);
		assert_int_equal(tk_ipam_pool_release(pool, &a), 0);
	}
	assert_int_equal(tk_ipam_pool_available(pool), TK_IPAM_V6_HOSTS - 4);
	tk_ipam_pool_free(pool);

	/* A small v6 subnet is exhausted like a v4 one, but its last address is usable. */
	pool = network_pool("fd00::/126");
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), 0);
	assert_string_equal(str(&a), "fd00::3");
	assert_int_equal(tk_ipam_pool_alloc(pool, &a, NULL), -ENOSPC);
	tk_ipam_pool_free(pool);
}

static void test_v6_exhaustion(void **state)
{
	(void)state;
	exhaust("fd00::/126", 2, false);
	exhaust("fd00::/120", 254, false);
	/* 16 host bits, and more: both bounded by TK_IPAM_V6_HOSTS. */
	exhaust("fd00::/112", TK_IPAM_V6_HOSTS - 2, false);
	exhaust("fd7e:0:0:1::/64", TK_IPAM_V6_HOSTS - 2, false);
}

static void test_carve_v4(void **state)
{
	struct tk_prefix pool = P("10.200.0.0/16"), used[4], got;
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_ipam_carve(&pool, 24, NULL, 0, &got, NULL), 0);
	assert_string_equal(pstr(&got), "10.200.0.0/24");
	/* Partial overlaps take the /24 too: a smaller used prefix, a larger one, and an edge. */
	used[0] = P("10.200.0.0/23"); /* covers .0 and .1 */
	used[1] = P("10.200.2.252/30");
	used[2] = P("10.200.3.0/32");
	used[3] = P("10.200.5.0/24");
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 4, &got, NULL), 0);
	assert_string_equal(pstr(&got), "10.200.4.0/24");
	/* Order of the used list does not matter: the lowest free child wins. */
	struct tk_prefix rev[4] = { used[3], used[2], used[1], used[0] };
	assert_int_equal(tk_ipam_carve(&pool, 24, rev, 4, &got, NULL), 0);
	assert_string_equal(pstr(&got), "10.200.4.0/24");
	/* Used prefixes outside the pool, or of the other family, are irrelevant. */
	used[0] = P("10.201.0.0/16");
	used[1] = P("10.199.0.0/16");
	used[2] = P("::/0");
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 3, &got, NULL), 0);
	assert_string_equal(pstr(&got), "10.200.0.0/24");
	/* Other child sizes. */
	used[0] = P("10.200.0.0/24");
	assert_int_equal(tk_ipam_carve(&pool, 26, used, 1, &got, NULL), 0);
	assert_string_equal(pstr(&got), "10.200.1.0/26");
	assert_int_equal(tk_ipam_carve(&pool, 17, used, 1, &got, NULL), 0);
	assert_string_equal(pstr(&got), "10.200.128.0/17");
	/* The pool itself is one child of its own length, unless anything in it is used. */
	assert_int_equal(tk_ipam_carve(&pool, 16, NULL, 0, &got, NULL), 0);
	assert_string_equal(pstr(&got), "10.200.0.0/16");
	assert_int_equal(tk_ipam_carve(&pool, 16, used, 1, &got, NULL), -ENOSPC);
	/* A used prefix larger than the pool leaves nothing. */
	used[0] = P("10.0.0.0/8");
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 1, &got, &err), -ENOSPC);
	assert_int_equal(err.code, -ENOSPC);
	assert_non_null(strstr(err.msg, "/24"));
	assert_non_null(strstr(err.msg, "10.200.0.0/16"));
}

static void test_carve_refused(void **state)
{
	struct tk_prefix pool = P("10.200.0.0/16"), pool6 = P("fd7e::/48"), got = { .len = 99 };
	tk_err err = {};

	(void)state;
	/* Children larger than the pool, or longer than an address, are refused. */
	assert_int_equal(tk_ipam_carve(&pool, 15, NULL, 0, &got, &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_non_null(strstr(err.msg, "/15"));
	assert_non_null(strstr(err.msg, "10.200.0.0/16"));
	assert_int_equal(tk_ipam_carve(&pool, 0, NULL, 0, &got, NULL), -EINVAL);
	assert_int_equal(tk_ipam_carve(&pool, 33, NULL, 0, &got, NULL), -EINVAL);
	assert_int_equal(tk_ipam_carve(&pool6, 47, NULL, 0, &got, NULL), -EINVAL);
	assert_int_equal(tk_ipam_carve(&pool6, 129, NULL, 0, &got, NULL), -EINVAL);
	assert_int_equal(got.len, 99); /* never written */
}

static void test_carve_exhaustion(void **state)
{
	struct tk_prefix pool = P("10.200.0.0/22"), used[256], got;
	char expect[TK_PREFIX_STRLEN];

	(void)state;
	/* Each carve, fed the previous ones, yields the next /24 until none is left. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(tk_ipam_carve(&pool, 24, used, (size_t)i, &used[i], NULL), 0);
		snprintf(expect, sizeof(expect), "10.200.%d.0/24", i);
		assert_string_equal(pstr(&used[i]), expect);
	}
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < i; j++)
			assert_false(tk_prefix_overlaps(&used[i], &used[j]));
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 4, &got, NULL), -ENOSPC);

	/* A freed hole in the middle is found again. */
	used[1] = used[3];
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 3, &got, NULL), 0);
	assert_string_equal(pstr(&got), "10.200.1.0/24");

	/* All 256 /24s of a /16. */
	pool = P("10.200.0.0/16");
	for (int i = 0; i < 256; i++)
		assert_int_equal(tk_ipam_carve(&pool, 24, used, (size_t)i, &used[i], NULL), 0);
	assert_string_equal(pstr(&used[255]), "10.200.255.0/24");
	assert_int_equal(tk_ipam_carve(&pool, 24, used, 256, &got, NULL), -ENOSPC);
}

static void test_carve_v6(void **state)
{
	struct tk_prefix pool = P("fd7e::/48"), used[256], got;

	(void)state;
	assert_int_equal(tk_ipam_carve(&pool, 64, NULL, 0, &got, NULL), 0);
	assert_string_equal(pstr(&got), "fd7e::/64");
	used[0] = got;
	used[1] = P("fd7e:0:0:1::/64");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 2, &got, NULL), 0);
	assert_string_equal(pstr(&got), "fd7e:0:0:2::/64");
	/* A used half of the pool skips to the other half. */
	used[0] = P("fd7e::/49");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 1, &got, NULL), 0);
	assert_string_equal(pstr(&got), "fd7e:0:0:8000::/64");
	/* A partial overlap: a /80 inside the first /64. */
	used[0] = P("fd7e:0:0:0:1::/80");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 1, &got, NULL), 0);
	assert_string_equal(pstr(&got), "fd7e:0:0:1::/64");
	/* An IPv4 prefix never blocks an IPv6 carve. */
	used[0] = P("0.0.0.0/0");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 1, &got, NULL), 0);
	assert_string_equal(pstr(&got), "fd7e::/64");
	/* A very wide span (/8 into /64s) still finds the lowest free child. */
	pool = P("fd00::/8");
	used[0] = P("fd00::/64");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 1, &got, NULL), 0);
	assert_string_equal(pstr(&got), "fd00:0:0:1::/64");

	/* Exhaustion: the 256 /64s of a /56. */
	pool = P("fd7e:0:0:ff00::/56");
	for (int i = 0; i < 256; i++) {
		assert_int_equal(tk_ipam_carve(&pool, 64, used, (size_t)i, &used[i], NULL), 0);
		assert_true(tk_prefix_overlaps(&pool, &used[i]));
	}
	assert_string_equal(pstr(&used[255]), "fd7e:0:0:ffff::/64");
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 256, &got, NULL), -ENOSPC);
}

/*
 * netd's default IPv4 pools (netd --pool4) hold 4,096 /24 networks (issue 13): carving them in
 * order, as netd does, yields 4,096 distinct subnets, fast, and then nothing.
 */
static void test_carve_default_pools(void **state)
{
	enum { N = 4096 };
	struct tk_prefix pools[2], *used = calloc(N + 1, sizeof(*used)), got;
	size_t n = 0;

	(void)state;
	assert_non_null(used);
	assert_int_equal(tk_prefix_parse("10.200.0.0/13", &pools[0], NULL), 0);
	assert_int_equal(tk_prefix_parse("10.208.0.0/13", &pools[1], NULL), 0);
	/* Something the host routes, inside the first pool: stepped over. */
	assert_int_equal(tk_prefix_parse("10.200.3.0/24", &used[n++], NULL), 0);
	for (int i = 0; i < N; i++) {
		int r = -ENOSPC;
		for (size_t p = 0; p < 2 && r == -ENOSPC; p++)
			r = tk_ipam_carve(&pools[p], 24, used, n, &got, NULL);
		if (i == N - 1) { /* the host's /24 took one */
			assert_int_equal(r, -ENOSPC);
			break;
		}
		assert_int_equal(r, 0);
		assert_int_equal(got.len, 24);
		for (size_t j = 0; j < n; j++)
			assert_false(tk_prefix_overlaps(&got, &used[j]));
		used[n++] = got;
	}
	assert_int_equal(n, N);
	assert_int_equal(tk_prefix_parse("10.200.0.0/24", &got, NULL), 0);
	assert_true(tk_addr_equal(&used[1].addr, &got.addr)); /* 10.200.0.0/24 first, as before */
	free(used);
}

/* Used prefixes of every shape against a v6 pool carved into /64s (a 2^16 window). */
static void test_carve_ranges(void **state)
{
	struct tk_prefix pool, used[4], got;
	char buf[TK_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(tk_prefix_parse("fd7e::/48", &pool, NULL), 0);
	assert_int_equal(tk_prefix_parse("fd7e::/63", &used[0], NULL), 0); /* children 0, 1 */
	assert_int_equal(tk_prefix_parse("fd7e:0:0:2::/120", &used[1], NULL), 0); /* inside 2 */
	assert_int_equal(tk_prefix_parse("fd7f::/48", &used[2], NULL), 0);	  /* elsewhere */
	assert_int_equal(tk_prefix_parse("fd7e:0:0:4::/62", &used[3], NULL), 0);  /* 4..7 */
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 4, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "fd7e:0:0:3::/64");
	used[1] = got; /* 3 taken, 2 free again */
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 4, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "fd7e:0:0:2::/64");
	/* A used prefix that holds the pool leaves nothing. */
	assert_int_equal(tk_prefix_parse("fd00::/8", &used[0], NULL), 0);
	assert_int_equal(tk_ipam_carve(&pool, 64, used, 1, &got, NULL), -ENOSPC);
	/* Deep v6 carve (window past 2^32 children): bits above the window set means "elsewhere". */
	assert_int_equal(tk_prefix_parse("fd7e:0:0:1::/64", &used[0], NULL), 0);
	assert_int_equal(tk_ipam_carve(&pool, 124, used, 1, &got, NULL), 0);
	assert_string_equal(tk_prefix_format(&got, buf, sizeof(buf)), "fd7e::/124");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_reservations),
		cmocka_unit_test(test_v4_exhaustion_sizes),
		cmocka_unit_test(test_v4_exhaustion),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_next_fit),
		cmocka_unit_test(test_next_fit_wraps),
		cmocka_unit_test(test_too_small_or_large),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_v6_exhaustion),
		cmocka_unit_test(test_carve_v4),
		cmocka_unit_test(test_carve_refused),
		cmocka_unit_test(test_carve_exhaustion),
		cmocka_unit_test(test_carve_default_pools),
		cmocka_unit_test(test_carve_ranges),
		cmocka_unit_test(test_carve_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
