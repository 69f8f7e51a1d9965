/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tk_err_set(tk_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int tk_err_wrap(tk_err *err, int code, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	if (!old[0])
		snprintf(old, sizeof(old), "%s", strerror(-code));
	/* Truncation keeps the context, which is what the user needs most. */
	size_t n = strnlen(prefix, sizeof(prefix));
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, prefix, n);
	memcpy(err->msg + n, ": ", 2);
	size_t rest = sizeof(err->msg) - n - 3;
	size_t m = strnlen(old, rest);
	memcpy(err->msg + n + 2, old, m);
	err->msg[n + 2 + m] = '\0';
	err->code = code;
	return code;
}

int tk_err_errno(tk_err *err, int code, const char *what)
{
	if (!err || err->code != 0)
		return code;
	return tk_err_set(err, code, "%s: %s", what, strerror(-code));
}
