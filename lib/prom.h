/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A writer of the Prometheus text exposition format, version 0.0.4: "# HELP" and "# TYPE" once
 * per metric family, then one line per sample, `name{label="value",...} value`.  Label values
 * and help texts are escaped as the format requires (backslash, double quote in label values,
 * newline); metric and label names are checked.  The text is built in memory: the caller sends
 * it with TK_PROM_CONTENT_TYPE.  A mistake (a bad name, a sample before its family, memory)
 * is kept and reported once, by tk_prom_finish, so a page of calls needs no error checks.
 */

#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "err.h"

#define TK_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct tk_prom;

int tk_prom_new(struct tk_prom **ret, tk_err *err);
struct tk_prom *tk_prom_free(struct tk_prom *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tk_prom *, tk_prom_free);

/* Starts the family name: type is "counter", "gauge" or "untyped"; help is one line of text. */
void tk_prom_family(struct tk_prom *p, const char *name, const char *type, const char *help);
/*
 * One sample of the family last started: labels holds n_labels name/value pairs
 * ({"tenant", "alpha", "reason", "spoofing"}), in the order they are printed.
 */
void tk_prom_sample(struct tk_prom *p, const char *const *labels, size_t n_labels, uint64_t value);
/* The text (malloc'd, NUL-terminated; the caller frees it), or the first mistake. */
int tk_prom_finish(struct tk_prom *p, char **ret_text, size_t *ret_len, tk_err *err);
