/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Between nl.c and nl-tc.c only: the two halves of the rtnetlink boundary share a handle. */

#include "err.h"

struct tk_nl;
struct nl_sock;

/* The handle's socket, its last error forgotten: for one request. */
struct nl_sock *tk_nl_request(struct tk_nl *nl);
/* The error of that request (libnl's nle, or the kernel's errno and extack): "what: reason". */
int tk_nl_fail(struct tk_nl *nl, int nle, tk_err *err, const char *what);
