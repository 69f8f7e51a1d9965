/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json.h"

#include <errno.h>
#include <stdarg.h>

static int unpack(json_t *root, size_t flags, const char *what, tk_err *err, const char *fmt,
		  va_list ap)
{
	json_error_t jerr;

	if (!root)
		return tk_err_set(err, -EINVAL, "%s: missing", what);
	if (json_vunpack_ex(root, &jerr, flags, fmt, ap) < 0)
		return tk_err_set(err, -EINVAL, "%s: %s", what, jerr.text);
	return 0;
}

int tk_json_unpack(json_t *root, const char *what, tk_err *err, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = unpack(root, JSON_STRICT, what, err, fmt, ap);
	va_end(ap);
	return r;
}

int tk_json_unpack_lax(json_t *root, const char *what, tk_err *err, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = unpack(root, 0, what, err, fmt, ap);
	va_end(ap);
	return r;
}

int tk_json_parse_object_or_blank(const char *text, size_t len, const char *what, json_t **ret,
				  tk_err *err)
{
	json_t *j;
	size_t i;
	int r;

	for (i = 0; text && i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n')
			break;
	if (!text || i == len) {
		*ret = NULL;
		return 0;
	}
	if ((r = tk_json_parse(text, len, what, &j, err)) < 0)
		return r;
	if (!json_is_object(j)) {
		json_decref(j);
		return tk_err_set(err, -EBADMSG, "%s: the body must be a JSON object", what);
	}
	*ret = j;
	return 0;
}

int tk_json_parse(const char *text, size_t len, const char *what, json_t **ret, tk_err *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

	if (!j)
		return tk_err_set(err, -EBADMSG, "%s: line %d column %d: %s", what, jerr.line,
				  jerr.column, jerr.text);
	*ret = j;
	return 0;
}
