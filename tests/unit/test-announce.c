/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The neighbour advertisement a container sends for its IPv6 address, byte for byte. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neighbour_advertisement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
