/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names, addresses, prefixes and MACs: what the daemon accepts from the outside world. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "helpers.h"

#include "addr.h"

/* Asserts that parse fails with code and a message that names the input. */
#define assert_refused(call, expected)                                                             \
	do {                                                                                       \
		tk_err _e = {};                                                                    \
		tk_err *err = &_e;                                                                 \
		assert_int_equal((call), (expected));                                              \
		assert_int_equal(_e.code, (expected));                                             \
		assert_true(strlen(_e.msg) > 0);                                                   \
	} while (0)

static const char *fmt_prefix(const char *in)
{
	static char buf[TK_PREFIX_STRLEN];
	struct tk_prefix p;

	assert_int_equal(tk_prefix_parse(in, &p, NULL), 0);
	return tk_prefix_format(&p, buf, sizeof(buf));
}

static void test_addr_roundtrip(void **state)
{
	static const char *const good[] = { "10.0.0.1", "0.0.0.0", "255.255.255.255",
					    "fd7e::1",	"::",	   "2001:db8::ff00:42:8329" };
	char buf[TK_ADDR_STRLEN];
	struct tk_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(tk_addr_parse(good[i], &a, NULL), 0);
		assert_string_equal(tk_addr_format(&a, buf, sizeof(buf)), good[i]);
	}
	assert_int_equal(tk_addr_parse("10.1.2.3", &a, NULL), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.bytes[3], 3);
	assert_int_equal(tk_addr_parse("fd00::2", &a, NULL), 0);
	assert_int_equal(a.family, AF_INET6);
}

static void test_addr_refused(void **state)
{
	static const char *const bad[] = { "",		"10.0.0",      "10.0.0.256",
					   "10.0.0.1 ", " 10.0.0.1",   "fd00:::1",
					   "hello",	"10.0.0.1/24", "1.2.3.4.5" };
	struct tk_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(tk_addr_parse(bad[i], &a, err), -EINVAL);
}

static void test_prefix_parse(void **state)
{
	struct tk_prefix p;

	(void)state;
	assert_string_equal(fmt_prefix("10.200.0.0/16"), "10.200.0.0/16");
	assert_string_equal(fmt_prefix("fd7e::/48"), "fd7e::/48");
	assert_string_equal(fmt_prefix("0.0.0.0/0"), "0.0.0.0/0");
	assert_string_equal(fmt_prefix("10.0.0.7/32"), "10.0.0.7/32");
	assert_int_equal(tk_prefix_parse("10.0.0.0/24", &p, NULL), 0);
	assert_int_equal(p.len, 24);

	/* Host bits set, lengths out of range, missing or garbled parts. */
	assert_refused(tk_prefix_parse("10.0.0.1/24", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("fd00::1/64", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("10.0.0.0/33", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("fd00::/129", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("10.0.0.0", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("10.0.0.0/", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("10.0.0.0/-1", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("10.0.0.0/24x", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("/24", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse("", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse(" 10.0.0.0/24", &p, err), -EINVAL);
}

static void test_prefix_parse_host(void **state)
{
	char buf[TK_PREFIX_STRLEN];
	struct tk_prefix p;

	(void)state;
	assert_int_equal(tk_prefix_parse_host("10.0.0.5/24", &p, NULL), 0);
	assert_string_equal(tk_prefix_format(&p, buf, sizeof(buf)), "10.0.0.5/24");
	assert_int_equal(tk_prefix_parse_host("fd00::5/64", &p, NULL), 0);
	assert_int_equal(p.len, 64);
	assert_refused(tk_prefix_parse_host("10.0.0.5/40", &p, err), -EINVAL);
}

static void test_contains_overlaps(void **state)
{
	struct tk_prefix a = P("10.200.0.0/16"), b = P("10.200.5.0/24"), c = P("10.201.0.0/24"),
			 d = P("fd7e::/48"), e = P("fd7e:0:0:1::/64"), f = P("0.0.0.0/0");
	struct tk_addr x = A("10.200.5.9"), y = A("fd7e:0:0:1::9");

	(void)state;
	assert_true(tk_prefix_contains(&a, &x));
	assert_true(tk_prefix_contains(&b, &x));
	assert_false(tk_prefix_contains(&c, &x));
	assert_false(tk_prefix_contains(&a, &y)); /* other family */
	assert_true(tk_prefix_contains(&d, &y));
	assert_true(tk_prefix_contains(&f, &x));

	assert_true(tk_prefix_overlaps(&a, &b));
	assert_true(tk_prefix_overlaps(&b, &a));
	assert_false(tk_prefix_overlaps(&b, &c));
	assert_true(tk_prefix_overlaps(&d, &e));
	assert_false(tk_prefix_overlaps(&a, &d)); /* families never overlap */
	assert_true(tk_prefix_overlaps(&f, &c));
}

static void test_mac(void **state)
{
	char buf[TK_MAC_STRLEN];
	uint8_t mac[6];

	(void)state;
	assert_int_equal(tk_mac_parse("02:42:0a:c8:00:02", mac, NULL), 0);
	assert_int_equal(mac[0], 0x02);
	assert_int_equal(mac[5], 0x02);
	assert_string_equal(tk_mac_format(mac, buf, sizeof(buf)), "02:42:0a:c8:00:02");
	assert_int_equal(tk_mac_parse("AA:BB:CC:DD:EE:FF", mac, NULL), 0);
	assert_string_equal(tk_mac_format(mac, buf, sizeof(buf)), "aa:bb:cc:dd:ee:ff");

	assert_refused(tk_mac_parse("02:42:0a:c8:00", mac, err), -EINVAL);
	assert_refused(tk_mac_parse("02:42:0a:c8:00:02:", mac, err), -EINVAL);
	assert_refused(tk_mac_parse("02-42-0a-c8-00-02", mac, err), -EINVAL);
	assert_refused(tk_mac_parse("0g:42:0a:c8:00:02", mac, err), -EINVAL);
	assert_refused(tk_mac_parse(" 2:42:0a:c8:00:02", mac, err), -EINVAL);
	assert_refused(tk_mac_parse("", mac, err), -EINVAL);
}

static void test_mac_random(void **state)
{
	uint8_t a[6], b[6];

	(void)state;
	for (int i = 0; i < 100; i++) {
		tk_mac_random(a);
		assert_int_equal(a[0] & 1, 0); /* unicast */
		assert_int_equal(a[0] & 2, 2); /* locally administered */
	}
	tk_mac_random(b);
	assert_memory_not_equal(a, b, 6);
}

static void test_names(void **state)
{
	char longest[TK_NAME_MAX + 2];

	(void)state;
	assert_int_equal(tk_name_validate("alpha", "tenant name", NULL), 0);
	assert_int_equal(tk_name_validate("alpha-net_2.x", "network name", NULL), 0);
	assert_int_equal(tk_name_validate("9lives", "tenant name", NULL), 0);
	memset(longest, 'a', TK_NAME_MAX);
	longest[TK_NAME_MAX] = '\0';
	assert_int_equal(tk_name_validate(longest, "tenant name", NULL), 0);
	longest[TK_NAME_MAX] = 'a';
	longest[TK_NAME_MAX + 1] = '\0';
	assert_refused(tk_name_validate(longest, "tenant name", err), -EINVAL);

	static const char *const bad[] = { "",	   "-x",   ".x",	"..", "a/b", "a b",
					   "a\tb", "a\nb", "tenant;rm", "ä",  "a:b", "_x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(tk_name_validate(bad[i], "tenant name", err), -EINVAL);

	tk_err e = {};
	tk_name_validate("a/b", "network name", &e);
	assert_non_null(strstr(e.msg, "network name"));
}

static void test_ifnames(void **state)
{
	(void)state;
	assert_int_equal(tk_ifname_validate("eth0", NULL), 0);
	assert_int_equal(tk_ifname_validate("abcdefghijklmno", NULL), 0); /* 15 bytes */
	assert_refused(tk_ifname_validate("abcdefghijklmnop", err), -EINVAL);
	assert_refused(tk_ifname_validate("", err), -EINVAL);
	assert_refused(tk_ifname_validate(".", err), -EINVAL);
	assert_refused(tk_ifname_validate("..", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth/0", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth:0", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth 0", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth\n", err), -EINVAL);
}

static void test_container_ids(void **state)
{
	char id[1026];

	(void)state;
	assert_int_equal(tk_container_id_validate("abc123", NULL), 0);
	assert_int_equal(tk_container_id_validate("k8s_pod.1-x", NULL), 0);
	memset(id, 'a', 1024);
	id[1024] = '\0';
	assert_int_equal(tk_container_id_validate(id, NULL), 0);
	id[1024] = 'a';
	id[1025] = '\0';
	assert_refused(tk_container_id_validate(id, err), -EINVAL);
	assert_refused(tk_container_id_validate("", err), -EINVAL);
	assert_refused(tk_container_id_validate("-abc", err), -EINVAL);
	assert_refused(tk_container_id_validate("a/../b", err), -EINVAL);
	assert_refused(tk_container_id_validate("a b", err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_roundtrip),	  cmocka_unit_test(test_addr_refused),
		cmocka_unit_test(test_prefix_parse),	  cmocka_unit_test(test_prefix_parse_host),
		cmocka_unit_test(test_contains_overlaps), cmocka_unit_test(test_mac),
		cmocka_unit_test(test_mac_random),	  cmocka_unit_test(test_names),
		cmocka_unit_test(test_ifnames),		  cmocka_unit_test(test_container_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
