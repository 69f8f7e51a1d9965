/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>

#include "err.h"

/* jansson >= 2.14 provides json_decrefp() for _cleanup_(json_decrefp). */

/*
 * For _cleanup_(tk_json_text_freep): frees what json_dumps returned with jansson's own free
 * function, which is not free() where a program gave jansson an allocator (the CNI plugins do).
 */
static inline void tk_json_text_freep(char **text)
{
	json_free_t free_fn;

	if (*text) {
		json_get_alloc_funcs(NULL, &free_fn);
		free_fn(*text);
	}
}

/*
 * json_unpack_ex with JSON_STRICT (unknown keys are refused) that turns jansson's error into a
 * tk_err naming `what` and the problem: "endpoint.add args: 1 object item(s) left unpacked: foo".
 */
int tk_json_unpack(json_t *root, const char *what, tk_err *err, const char *fmt, ...);
/* The same without JSON_STRICT, for objects that may carry keys we ignore (CNI). */
int tk_json_unpack_lax(json_t *root, const char *what, tk_err *err, const char *fmt, ...);

/* json_loads with JSON_REJECT_DUPLICATES; -EBADMSG with line/column in err. */
int tk_json_parse(const char *text, size_t len, const char *what, json_t **ret, tk_err *err);
/*
 * A request body (of the Docker plugin APIs): a JSON object, or nothing but white space (also
 * text NULL), which sets *ret to NULL.  -EBADMSG for anything else.
 */
int tk_json_parse_object_or_blank(const char *text, size_t len, const char *what, json_t **ret,
				  tk_err *err);
