/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The announcements of a container's addresses, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "announce.h"

static void test_neighbour_advertisement(void **state)
{
	static const uint8_t mac[6] = { 0x0a, 0x7f, 0, 0, 0, 5 };
	static const uint8_t expected[TK_NA_LEN] = {
		136,  0, 0,    0, /* type, code, checksum (the kernel's) */
		0x20, 0, 0,    0, /* override; neither solicited nor a router */
		0xfd, 0, 0,    0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, /* target */
		2,    1, 0x0a, 0x7f, 0, 0, 0, 5, /* target link-layer address, 8 bytes */
	};
	struct tk_addr a;
	uint8_t na[TK_NA_LEN];

	(void)state;
	assert_int_equal(tk_addr_parse("fd00:77::2", &a, NULL), 0);
	memset(na, 0xaa, sizeof(na));
	tk_na_message(mac, &a, na);
	assert_memory_equal(na, expected, sizeof(expected));
}

/* Sent by the host for a Docker container: the whole frame after the Ethernet header. */
static void test_arp_frame(void **state)
{
	static const uint8_t mac[6] = { 0x0a, 0x7f, 0, 0, 0, 5 };
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t expected[28] = {
		0,    1,    8, 0, 6, 4, 0,  2,	      /* Ethernet, IPv4, reply */
		0x0a, 0x7f, 0, 0, 0, 5, 10, 77, 0, 2, /* sender: the container */
		0x0a, 0x7f, 0, 0, 0, 5, 10, 77, 0, 2, /* target: the same */
	};
	struct tk_announcement f;
	struct tk_addr a;

	(void)state;
	assert_int_equal(tk_addr_parse("10.77.0.2", &a, NULL), 0);
	tk_announce_frame(mac, &a, &f);
	assert_int_equal(f.ethertype, 0x0806);
	assert_memory_equal(f.dst, broadcast, 6);
	assert_int_equal(f.len, sizeof(expected));
	assert_memory_equal(f.payload, expected, sizeof(expected));
}

static void test_na_frame(void **state)
{
	static const uint8_t mac[6] = { 0x0a, 0x7f, 0, 0, 0, 5 };
	static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t expected[72] = {
		/* IPv6: 32 bytes of ICMPv6, hop limit 255, from the address to ff02::1 */
		0x60,
		0,
		0,
		0,
		0,
		32,
		58,
		255,
		0xfd,
		0,
		0,
		0x77,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		2,
		0xff,
		2,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		1,
		/* the advertisement, its checksum computed apart (Python) */
		136,
		0,
		0x51,
		0x28,
		0x20,
		0,
		0,
		0,
		0xfd,
		0,
		0,
		0x77,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		2,
		2,
		1,
		0x0a,
		0x7f,
		0,
		0,
		0,
		5,
	};
	struct tk_announcement f;
	struct tk_addr a;

	(void)state;
	assert_int_equal(tk_addr_parse("fd00:77::2", &a, NULL), 0);
	tk_announce_frame(mac, &a, &f);
	assert_int_equal(f.ethertype, 0x86dd);
	assert_memory_equal(f.dst, all_nodes_mac, 6);
	assert_int_equal(f.len, sizeof(expected));
	assert_memory_equal(f.payload, expected, sizeof(expected));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neighbour_advertisement),
		cmocka_unit_test(test_arp_frame),
		cmocka_unit_test(test_na_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
