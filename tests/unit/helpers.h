/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shorthands for the unit tests; include after <cmocka.h>. */

#include "addr.h"

/* A prefix or address that must parse. */
static inline struct tk_prefix P(const char *s) {
	struct tk_prefix p;

	assert_int_equal(tk_prefix_parse(s, &p, NULL), 0);
	return p;
}

static inline struct tk_addr
A(const char *s) {
	struct tk_addr a;

	assert_int_equal(tk_addr_parse(s, &a, NULL), 0);
	return a;
}
