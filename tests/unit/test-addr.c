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
#include "cleanup.h"

/*
 * Asserts that call fails with the negative errno `expected`, and that it filled err with the same
 * code and a message.  call refers to `err`.
 */
#define assert_refused(call, expected)                                                             \
	do {                                                                                       \
		tk_err _e = {};                                                                    \
		tk_err *err = &_e;                                                                 \
		assert_int_equal((call), (expected));                                              \
		assert_int_equal(_e.code, (expected));                                             \
		assert_true(strlen(_e.msg) > 0);                                                   \
	} while (0)

/* Like assert_refused, and the message contains needle. */
#define assert_refused_msg(call, expected, needle)                                                 \
	do {                                                                                       \
		tk_err _e = {};                                                                    \
		tk_err *err = &_e;                                                                 \
		assert_int_equal((call), (expected));                                              \
		assert_int_equal(_e.code, (expected));                                             \
		if (!strstr(_e.msg, (needle)))                                                     \
			fail_msg("'%s' does not mention '%s'", _e.msg, (needle));                  \
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
	static const char *const good[] = {
		"10.0.0.1",	   "0.0.0.0", "255.255.255.255",
		"fd7e::1",	   "::",      "2001:db8::ff00:42:8329",
		"::ffff:10.0.0.1", "fe80::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	};
	char buf[TK_ADDR_STRLEN];
	struct tk_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(tk_addr_parse(good[i], &a, NULL), 0);
		assert_string_equal(tk_addr_format(&a, buf, sizeof(buf)), good[i]);
	}
	assert_int_equal(tk_addr_parse("10.1.2.3", &a, NULL), 0);
	assert_int_equal(a.family, AF_INET);
	assert_memory_equal(a.bytes, ((uint8_t[]){ 10, 1, 2, 3 }), 4);
	assert_int_equal(tk_addr_parse("fd00::2", &a, NULL), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.bytes[0], 0xfd);
	assert_int_equal(a.bytes[15], 2);
	/* v6 text is normalised. */
	assert_int_equal(tk_addr_parse("FD7E:0000:0:0::0001", &a, NULL), 0);
	assert_string_equal(tk_addr_format(&a, buf, sizeof(buf)), "fd7e::1");
	/* A buffer too small gets a placeholder, never an overflow. */
	{
		char small[4];
		a = A("10.0.0.1");
		assert_ptr_equal(tk_addr_format(&a, small, sizeof(small)), small);
		assert_string_equal(small, "?");
	}
}

static void test_addr_equal(void **state)
{
	struct tk_addr a = A("10.0.0.1"), b = A("10.0.0.1"), c = A("10.0.0.2"),
		       mapped = A("::ffff:10.0.0.1"), v6 = A("fd00::1"), v6b = A("fd00:0::1");

	(void)state;
	assert_true(tk_addr_equal(&a, &b));
	assert_false(tk_addr_equal(&a, &c));
	assert_true(tk_addr_equal(&v6, &v6b));
	assert_false(tk_addr_equal(&v6, &a));
	/* A v4-mapped v6 address is a v6 address: it never equals the v4 one. */
	assert_int_equal(mapped.family, AF_INET6);
	assert_false(tk_addr_equal(&a, &mapped));
	assert_false(tk_addr_equal(&mapped, &a));
}

static void test_addr_refused(void **state)
{
	static const char *const bad[] = { "",		 "10.0.0",     "10.0.0.256", "10.0.0.1 ",
					   " 10.0.0.1",	 "fd00:::1",   "hello",	     "10.0.0.1/24",
					   "1.2.3.4.5",	 "010.0.0.1",  "fd00::g",    "10.0.0.1\n",
					   "fe80::1%lo", "0x0a.0.0.1", "::1 ",	     "1.2.3.-4" };
	struct tk_addr a = { .family = 12345 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(tk_addr_parse(bad[i], &a, err), -EINVAL);
	/* ret is only written on success, and err is optional. */
	assert_int_equal(a.family, 12345);
	assert_int_equal(tk_addr_parse("nope", &a, NULL), -EINVAL);
	assert_refused_msg(tk_addr_parse("nope", &a, err), -EINVAL, "'nope'");
}

static void test_prefix_parse(void **state)
{
	struct tk_prefix p;

	(void)state;
	assert_string_equal(fmt_prefix("10.200.0.0/16"), "10.200.0.0/16");
	assert_string_equal(fmt_prefix("fd7e::/48"), "fd7e::/48");
	assert_string_equal(fmt_prefix("fd7e:0:0:1::/64"), "fd7e:0:0:1::/64");
	assert_string_equal(fmt_prefix("0.0.0.0/0"), "0.0.0.0/0");
	assert_string_equal(fmt_prefix("::/0"), "::/0");
	assert_string_equal(fmt_prefix("10.0.0.7/32"), "10.0.0.7/32");
	assert_string_equal(fmt_prefix("fd00::7/128"), "fd00::7/128");
	assert_string_equal(fmt_prefix("10.0.0.128/25"), "10.0.0.128/25");
	assert_int_equal(tk_prefix_parse("10.0.0.0/24", &p, NULL), 0);
	assert_int_equal(p.len, 24);
	assert_int_equal(p.addr.family, AF_INET);
	assert_int_equal(tk_prefix_parse("fd00::/64", &p, NULL), 0);
	assert_int_equal(p.len, 64);
	assert_int_equal(p.addr.family, AF_INET6);
}

static void test_prefix_refused(void **state)
{
	static const char *const bad[] = {
		/* Host bits set. */
		"10.0.0.1/24", "10.0.0.128/24", "fd00::1/64", "10.0.0.1/0", "fd00::8000:0:0:0/64",
		/* Lengths out of range. */
		"10.0.0.0/33", "10.0.0.0/99999999999999999999", "fd00::/129", "fd00::/1280",
		"10.0.0.0/-1",
		/* Missing or garbled parts. */
		"10.0.0.0", "10.0.0.0/", "/24", "/", "", "hello/24", "10.0.0/24", "10.0.0.0/abc",
		"10.0.0.0/+24", "10.0.0.0/0x18",
		/* Trailing junk. */
		"10.0.0.0/24x", "10.0.0.0/24 ", "10.0.0.0/24\n", "10.0.0.0/24/8", "fd00::/64%eth0",
		/* Leading or inner spaces. */
		" 10.0.0.0/24", "\t10.0.0.0/24", "10.0.0.0 /24", "10.0.0.0/ 24",
		/* Longer than any prefix. */
		"10.0.0.0000000000000000000000000000000000000000000000000/24"
	};
	struct tk_prefix p = { .len = 77 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_refused(tk_prefix_parse(bad[i], &p, err), -EINVAL);
		assert_int_equal(tk_prefix_parse(bad[i], &p, NULL), -EINVAL);
	}
	assert_int_equal(p.len, 77); /* never written */
}

static void test_prefix_messages(void **state)
{
	struct tk_prefix p;

	(void)state;
	/* Host bits: the message suggests the subnet the user probably meant. */
	assert_refused_msg(tk_prefix_parse("10.0.0.1/24", &p, err), -EINVAL,
			   "did you mean '10.0.0.0/24'");
	assert_refused_msg(tk_prefix_parse("10.1.2.3/12", &p, err), -EINVAL,
			   "did you mean '10.0.0.0/12'");
	assert_refused_msg(tk_prefix_parse("fd00::1/64", &p, err), -EINVAL,
			   "did you mean 'fd00::/64'");
	/* Lengths: the valid range for the family. */
	assert_refused_msg(tk_prefix_parse("10.0.0.0/33", &p, err), -EINVAL, "0..32");
	assert_refused_msg(tk_prefix_parse("fd00::/129", &p, err), -EINVAL, "0..128");
	/* A bad address part is named. */
	assert_refused_msg(tk_prefix_parse("10.0.0.300/24", &p, err), -EINVAL, "'10.0.0.300'");
	assert_refused_msg(tk_prefix_parse("10.0.0.0", &p, err), -EINVAL, "CIDR");
}

static void test_prefix_parse_host(void **state)
{
	char buf[TK_PREFIX_STRLEN];
	struct tk_prefix p;

	(void)state;
	/* The host part is kept: it is the address being asked for. */
	assert_int_equal(tk_prefix_parse_host("10.0.0.5/24", &p, NULL), 0);
	assert_string_equal(tk_prefix_format(&p, buf, sizeof(buf)), "10.0.0.5/24");
	assert_int_equal(p.addr.bytes[3], 5);
	assert_int_equal(tk_prefix_parse_host("fd00::5/64", &p, NULL), 0);
	assert_string_equal(tk_prefix_format(&p, buf, sizeof(buf)), "fd00::5/64");
	/* A plain subnet is a valid host prefix too. */
	assert_int_equal(tk_prefix_parse_host("10.0.0.0/24", &p, NULL), 0);
	assert_string_equal(tk_prefix_format(&p, buf, sizeof(buf)), "10.0.0.0/24");

	assert_refused(tk_prefix_parse_host("10.0.0.5/40", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse_host("10.0.0.5/33", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse_host("fd00::5/129", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse_host("10.0.0.5", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse_host("10.0.0.5/24 ", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse_host(" 10.0.0.5/24", &p, err), -EINVAL);
	assert_refused(tk_prefix_parse_host("", &p, err), -EINVAL);
}

static void test_contains(void **state)
{
	struct tk_prefix a = P("10.200.0.0/16"), b = P("10.200.5.0/24"), c = P("10.201.0.0/24"),
			 d = P("fd7e::/48"), f = P("0.0.0.0/0"), g = P("::/0"),
			 h = P("10.200.5.9/32"), k = P("fd7e::9/128");
	struct tk_addr x = A("10.200.5.9"), y = A("fd7e:0:0:1::9"), z = A("fd7e::9");

	(void)state;
	assert_true(tk_prefix_contains(&a, &x));
	assert_true(tk_prefix_contains(&b, &x));
	assert_false(tk_prefix_contains(&c, &x));
	assert_true(tk_prefix_contains(&d, &y));
	/* Other family, including /0 of the other family. */
	assert_false(tk_prefix_contains(&a, &y));
	assert_false(tk_prefix_contains(&d, &x));
	assert_false(tk_prefix_contains(&f, &y));
	assert_false(tk_prefix_contains(&g, &x));
	assert_true(tk_prefix_contains(&f, &x));
	assert_true(tk_prefix_contains(&g, &y));
	/* Host prefixes contain exactly their address. */
	assert_true(tk_prefix_contains(&h, &x));
	assert_true(tk_prefix_contains(&k, &z));
	assert_false(tk_prefix_contains(&k, &y));
	/* Edges of the range. */
	struct tk_addr first = A("10.200.0.0"), last = A("10.200.255.255"), past = A("10.201.0.0"),
		       before = A("10.199.255.255");
	assert_true(tk_prefix_contains(&a, &first));
	assert_true(tk_prefix_contains(&a, &last));
	assert_false(tk_prefix_contains(&a, &past));
	assert_false(tk_prefix_contains(&a, &before));
	/* A v4-mapped address is not in the v4 subnet. */
	struct tk_addr mapped = A("::ffff:10.200.5.9");
	assert_false(tk_prefix_contains(&a, &mapped));
}

static void test_overlaps(void **state)
{
	struct tk_prefix a = P("10.200.0.0/16"), b = P("10.200.5.0/24"), c = P("10.201.0.0/24"),
			 d = P("fd7e::/48"), e = P("fd7e:0:0:1::/64"), f = P("0.0.0.0/0"),
			 g = P("::/0"), lo = P("10.0.0.0/25"), hi = P("10.0.0.128/25"),
			 mapped = P("::ffff:10.200.0.0/112"), other6 = P("fd7f::/48");

	(void)state;
	assert_true(tk_prefix_overlaps(&a, &a));
	assert_true(tk_prefix_overlaps(&a, &b));
	assert_true(tk_prefix_overlaps(&b, &a));
	assert_false(tk_prefix_overlaps(&b, &c));
	assert_false(tk_prefix_overlaps(&c, &b));
	assert_true(tk_prefix_overlaps(&d, &e));
	assert_true(tk_prefix_overlaps(&e, &d));
	assert_false(tk_prefix_overlaps(&d, &other6));
	assert_true(tk_prefix_overlaps(&f, &c));
	assert_true(tk_prefix_overlaps(&g, &e));
	/* Adjacent halves touch but do not overlap. */
	assert_false(tk_prefix_overlaps(&lo, &hi));
	assert_false(tk_prefix_overlaps(&hi, &lo));
	/* Mixed families never overlap, whatever the lengths or bytes. */
	assert_false(tk_prefix_overlaps(&a, &d));
	assert_false(tk_prefix_overlaps(&d, &a));
	assert_false(tk_prefix_overlaps(&f, &g));
	assert_false(tk_prefix_overlaps(&g, &f));
	assert_false(tk_prefix_overlaps(&f, &d));
	assert_false(tk_prefix_overlaps(&a, &mapped));
	assert_false(tk_prefix_overlaps(&mapped, &a));
}

static void test_mac(void **state)
{
	char buf[TK_MAC_STRLEN];
	uint8_t mac[6];

	(void)state;
	assert_int_equal(tk_mac_parse("02:42:0a:c8:00:02", mac, NULL), 0);
	assert_memory_equal(mac, ((uint8_t[]){ 0x02, 0x42, 0x0a, 0xc8, 0x00, 0x02 }), 6);
	assert_string_equal(tk_mac_format(mac, buf, sizeof(buf)), "02:42:0a:c8:00:02");
	/* Upper case is accepted and formatted in lower case. */
	assert_int_equal(tk_mac_parse("AA:BB:CC:DD:EE:FF", mac, NULL), 0);
	assert_string_equal(tk_mac_format(mac, buf, sizeof(buf)), "aa:bb:cc:dd:ee:ff");
	assert_int_equal(tk_mac_parse("00:00:00:00:00:00", mac, NULL), 0);
	assert_string_equal(tk_mac_format(mac, buf, sizeof(buf)), "00:00:00:00:00:00");
	/*
	 * The parser checks syntax only: multicast and broadcast parse.  Refusing a multicast MAC
	 * for an endpoint is netd's policy (endpoint_prepare), with its own message.
	 */
	assert_int_equal(tk_mac_parse("01:00:5e:00:00:01", mac, NULL), 0);
	assert_int_equal(mac[0] & 1, 1);
	assert_int_equal(tk_mac_parse("ff:ff:ff:ff:ff:ff", mac, NULL), 0);
	/* Every octet value survives format then parse. */
	for (unsigned v = 0; v < 256; v++) {
		uint8_t in[6] = { (uint8_t)v, (uint8_t)~v, 0, 0xff, (uint8_t)v, (uint8_t)(v * 7) },
			out[6];
		assert_int_equal(tk_mac_parse(tk_mac_format(in, buf, sizeof(buf)), out, NULL), 0);
		assert_memory_equal(in, out, 6);
	}
}

static void test_mac_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"02:42:0a:c8:00",
		"02:42:0a:c8:00:0",
		"02:42:0a:c8:00:02:",
		"02:42:0a:c8:00:02:03",
		"02:42:0a:c8:00:0201",
		"02-42-0a-c8-00-02",
		"0242.0ac8.0002",
		"0g:42:0a:c8:00:02",
		" 2:42:0a:c8:00:02",
		"02:42:0a:c8:00: 2",
		"02:42:+a:c8:00:02",
		"02:42:-a:c8:00:02",
		"0x:42:0a:c8:00:02",
		"02:42:0a:c8:00:02\n",
		" 02:42:0a:c8:00:02",
		"2:42:0a:c8:00:002",
		"02:42:0a:c8:0:002",
	};
	uint8_t mac[6];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_refused(tk_mac_parse(bad[i], mac, err), -EINVAL);
		assert_int_equal(tk_mac_parse(bad[i], mac, NULL), -EINVAL);
	}
	assert_refused_msg(tk_mac_parse("nope", mac, err), -EINVAL, "'nope'");
}

static void test_mac_random(void **state)
{
	static const uint8_t zero[6];
	uint8_t a[6], b[6];
	bool differs = false;

	(void)state;
	tk_mac_random(b);
	for (int i = 0; i < 100; i++) {
		tk_mac_random(a);
		assert_int_equal(a[0] & 1, 0); /* unicast */
		assert_int_equal(a[0] & 2, 2); /* locally administered */
		assert_memory_not_equal(a, zero, 6);
		differs |= memcmp(a, b, 6) != 0;
	}
	/* 46 random bits: a hundred draws that all repeat the first one means no randomness. */
	assert_true(differs);
}

/* What the kernel made for 02:42:ac:11:00:02 (RFC 4291's modified EUI-64: the U/L bit flipped). */
static void test_link_local(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0x42, 0xac, 0x11, 0x00, 0x02 };
	struct tk_addr ll = tk_addr_link_local(mac);
	char buf[TK_ADDR_STRLEN];

	(void)state;
	assert_string_equal(tk_addr_format(&ll, buf, sizeof(buf)), "fe80::42:acff:fe11:2");
}

static void test_names(void **state)
{
	char name[TK_NAME_MAX + 2];
	tk_err e = {};

	(void)state;
	assert_int_equal(tk_name_validate("alpha", "tenant name", NULL), 0);
	assert_int_equal(tk_name_validate("alpha-net_2.x", "network name", NULL), 0);
	assert_int_equal(tk_name_validate("9lives", "tenant name", NULL), 0);
	assert_int_equal(tk_name_validate("A", "tenant name", NULL), 0);
	assert_int_equal(tk_name_validate("x-", "tenant name", NULL), 0);

	/* 63 bytes are fine, 64 are not. */
	memset(name, 'a', TK_NAME_MAX);
	name[TK_NAME_MAX] = '\0';
	assert_int_equal(strlen(name), 63);
	assert_int_equal(tk_name_validate(name, "tenant name", NULL), 0);
	name[TK_NAME_MAX] = 'a';
	name[TK_NAME_MAX + 1] = '\0';
	assert_refused_msg(tk_name_validate(name, "tenant name", err), -EINVAL,
			   "tenant name must be 1 to 63");
	assert_refused_msg(tk_name_validate("", "network name", err), -EINVAL,
			   "network name must be 1 to 63");

	static const char *const bad[] = { "-x",	".x",  "..",   ".",    "_x",	"a/b",
					   "../a",	"a b", "a\tb", "a\nb", "a\x01", "a\x7f",
					   "tenant;rm", "ä",   "aä",   "a:b",  "a@b",	"$(id)",
					   "a\\b",	"a'b", "a\"b", "a*" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(tk_name_validate(bad[i], "tenant name", err), -EINVAL);

	/* The message names what was being validated and quotes the input. */
	tk_name_validate("a/b", "network name", &e);
	assert_string_equal(
		e.msg, "network name 'a/b' may only contain letters, digits, '_', '.' and '-'");
	tk_name_validate("-x", "tenant name", &e);
	assert_string_equal(e.msg, "tenant name '-x' must start with a letter or digit");
}

static void test_ifnames(void **state)
{
	(void)state;
	assert_int_equal(tk_ifname_validate("eth0", NULL), 0);
	assert_int_equal(tk_ifname_validate("tkv0a1b2c3d", NULL), 0);
	assert_int_equal(tk_ifname_validate("e", NULL), 0);
	/* Whatever the kernel accepts: only "." and ".." are special. */
	assert_int_equal(tk_ifname_validate("...", NULL), 0);
	assert_int_equal(tk_ifname_validate("-eth", NULL), 0);
	assert_int_equal(tk_ifname_validate("veth.100", NULL), 0);
	/* IFNAMSIZ is 16 with the NUL: 15 bytes fit, 16 do not. */
	assert_int_equal(tk_ifname_validate("abcdefghijklmno", NULL), 0);
	assert_refused_msg(tk_ifname_validate("abcdefghijklmnop", err), -EINVAL, "1 to 15");
	assert_refused(tk_ifname_validate("", err), -EINVAL);
	assert_refused_msg(tk_ifname_validate(".", err), -EINVAL, "'.'");
	assert_refused_msg(tk_ifname_validate("..", err), -EINVAL, "'..'");
	assert_refused_msg(tk_ifname_validate("eth/0", err), -EINVAL, "forbidden");
	assert_refused(tk_ifname_validate("eth:0", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth 0", err), -EINVAL);
	assert_refused(tk_ifname_validate(" eth0", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth0\t", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth\n", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth\v0", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth\x01", err), -EINVAL);
	assert_refused(tk_ifname_validate("eth\x7f", err), -EINVAL);
	assert_refused(tk_ifname_validate("ethä", err), -EINVAL);
	assert_refused(tk_ifname_validate("/", err), -EINVAL);
}

static void test_container_ids(void **state)
{
	char id[1026];

	(void)state;
	assert_int_equal(tk_container_id_validate("abc123", NULL), 0);
	assert_int_equal(tk_container_id_validate("k8s_pod.1-x", NULL), 0);
	assert_int_equal(tk_container_id_validate("0", NULL), 0);
	assert_int_equal(
		tk_container_id_validate(
			"3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f", NULL),
		0);
	/* 1024 bytes are fine, 1025 are not. */
	memset(id, 'a', 1024);
	id[1024] = '\0';
	assert_int_equal(tk_container_id_validate(id, NULL), 0);
	id[1024] = 'a';
	id[1025] = '\0';
	assert_refused_msg(tk_container_id_validate(id, err), -EINVAL, "1 to 1024");
	assert_refused_msg(tk_container_id_validate("", err), -EINVAL, "1 to 1024");

	static const char *const bad[] = { "-abc", ".abc", "_abc",  "a/../b", "..",  "a b",
					   "a:b",  "a\nb", "a\x01", "ä",      "a;b", "a/b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(tk_container_id_validate(bad[i], err), -EINVAL);
	assert_refused_msg(tk_container_id_validate("a/b", err), -EINVAL, "'a/b'");
}

/* Issue 17: subnets that would capture the host's own traffic are named, whatever their size. */
static void test_prefix_reserved(void **state)
{
	static const struct {
		const char *prefix, *what;
	} cases[] = {
		{ "169.254.169.0/24", "link-local" }, { "127.0.0.0/24", "loopback" },
		{ "224.0.0.0/24", "multicast" },      { "255.255.255.0/24", "broadcast" },
		{ "0.0.0.0/24", "this network" },     { "fe80::/64", "link-local" },
		{ "ff02::/64", "multicast" },	      { "::/96", "unspecified" },
		{ "::ffff:0:0/96", "IPv4-mapped" },   { "0.0.0.0/5", "this network" },
		{ "128.0.0.0/1", "link-local" },
	};
	static const char *const clear[] = { "10.200.0.0/24", "203.0.113.128/25", "172.16.0.0/12",
					     "100.64.0.0/10", "fd7e::/48",	  "2001:db8::/64",
					     "1.0.0.0/8" };
	struct tk_prefix p, range;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const char *what;

		assert_int_equal(tk_prefix_parse(cases[i].prefix, &p, NULL), 0);
		what = tk_prefix_reserved(&p, &range);
		if (!what || !strstr(what, cases[i].what))
			fail_msg("%s: got '%s', expected '%s'", cases[i].prefix, what ?: "(null)",
				 cases[i].what);
		assert_true(tk_prefix_overlaps(&p, &range));
	}
	for (size_t i = 0; i < ELEMENTSOF(clear); i++) {
		assert_int_equal(tk_prefix_parse(clear[i], &p, NULL), 0);
		if (tk_prefix_reserved(&p, NULL))
			fail_msg("%s is not reserved", clear[i]);
	}
}

static void test_prefix_size(void **state)
{
	struct tk_prefix p;

	(void)state;
	assert_int_equal(tk_prefix_parse("10.200.0.0/16", &p, NULL), 0);
	assert_int_equal(tk_prefix_size(&p, 32), 65536);
	assert_int_equal(tk_prefix_parse("10.200.0.0/30", &p, NULL), 0);
	assert_int_equal(tk_prefix_size(&p, 32), 4);
	assert_int_equal(tk_prefix_parse("fd7e::/48", &p, NULL), 0);
	assert_int_equal(tk_prefix_size(&p, 64), 65536);
	assert_int_equal(tk_prefix_parse("fd7e::/64", &p, NULL), 0);
	assert_int_equal(tk_prefix_size(&p, 64), 1);
	assert_int_equal(tk_prefix_parse("fd7e::/120", &p, NULL), 0);
	assert_int_equal(tk_prefix_size(&p, 64), 1);
	assert_int_equal(tk_prefix_parse("::/0", &p, NULL), 0);
	assert_true(tk_prefix_size(&p, 64) == UINT64_C(1) << 63);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_roundtrip),	  cmocka_unit_test(test_addr_equal),
		cmocka_unit_test(test_addr_refused),	  cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_prefix_refused),	  cmocka_unit_test(test_prefix_messages),
		cmocka_unit_test(test_prefix_parse_host), cmocka_unit_test(test_contains),
		cmocka_unit_test(test_overlaps),	  cmocka_unit_test(test_mac),
		cmocka_unit_test(test_mac_refused),	  cmocka_unit_test(test_mac_random),
		cmocka_unit_test(test_link_local),	  cmocka_unit_test(test_names),
		cmocka_unit_test(test_ifnames),		  cmocka_unit_test(test_container_ids),
		cmocka_unit_test(test_prefix_reserved),	  cmocka_unit_test(test_prefix_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
