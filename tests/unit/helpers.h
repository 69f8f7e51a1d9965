/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shorthands for the unit tests; include after <cmocka.h>. */

#include <stdio.h>
#include <stdlib.h>

#include "addr.h"

/* A fresh directory /tmp/tk-test-<name>.XXXXXX in dir, and dir/state.db in path; -1 on failure. */
static inline int tk_test_dir_make(const char *name, char dir[64], char path[96])
{
	snprintf(dir, 64, "/tmp/tk-test-%s.XXXXXX", name);
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, 96, "%s/state.db", dir);
	return 0;
}

/* Removes dir and everything in it; -1 on failure. */
static inline int tk_test_dir_remove(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

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
