/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The announcements of a container's addresses, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "announce.h"

static const uint8_t mac[6] = { 0x0a, 0x7f, 0, 0, 0, 5 };

static struct tk_addr addr(const char *s)
{
	struct tk_addr a;

	assert_int_equal(tk_addr_parse(s, &a, NULL), 0);
	return a;
}

/* clang-format off */
static const uint8_t na[TK_NA_LEN] = {
	136, 0, 0, 0,           /* type, code, checksum (the kernel's, on a raw socket) */
	0x20, 0, 0, 0,          /* override; neither solicited nor a router */
	0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, /* target */
	2, 1, 0x0a, 0x7f, 0, 0, 0, 5,                         /* target link-layer address */
};

static const uint8_t arp_frame[28] = {
	0, 1, 8, 0, 6, 4, 0, 2,                 /* Ethernet, IPv4, reply */
	0x0a, 0x7f, 0, 0, 0, 5, 10, 77, 0, 2,   /* sender: the container */
	0x0a, 0x7f, 0, 0, 0, 5, 10, 77, 0, 2,   /* target: the same (a gratuitous reply) */
};

static const uint8_t na_frame[40 + TK_NA_LEN] = {
	/* IPv6: 32 bytes of ICMPv6, hop limit 255, from the address to ff02::1 */
	0x60, 0, 0, 0, 0, 32, 58, 255,
	0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	/* the advertisement, its checksum computed apart (Python) */
	136, 0, 0x51, 0x28, 0x20, 0, 0, 0,
	0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	2, 1, 0x0a, 0x7f, 0, 0, 0, 5,
};
/* clang-format on */

/* What a container's netd sends from a raw ICMPv6 socket in its netns. */
static void test_neighbour_advertisement(void **state)
{
	const struct tk_addr a = addr("fd00:77::2");
	uint8_t msg[TK_NA_LEN];

	(void)state;
	memset(msg, 0xaa, sizeof(msg));
	tk_na_message(mac, &a, msg);
	assert_memory_equal(msg, na, sizeof(na));
}

/* What the host sends out of a bridge: the frame after its Ethernet header. */
static void check_frame(const char *address, uint16_t ethertype, const uint8_t dst[6],
			const uint8_t *expected, size_t len)
{
	const struct tk_addr a = addr(address);
	struct tk_announcement f;

	tk_announce_frame(mac, &a, &f);
	assert_int_equal(f.ethertype, ethertype);
	assert_memory_equal(f.dst, dst, 6);
	assert_int_equal(f.len, len);
	assert_memory_equal(f.payload, expected, len);
}

static void test_frames(void **state)
{
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t all_nodes[6] = { 0x33, 0x33, 0, 0, 0, 1 };

	(void)state;
	check_frame("10.77.0.2", 0x0806, broadcast, arp_frame, sizeof(arp_frame));
	check_frame("fd00:77::2", 0x86dd, all_nodes, na_frame, sizeof(na_frame));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neighbour_advertisement),
		cmocka_unit_test(test_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
