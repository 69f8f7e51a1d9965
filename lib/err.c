/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The definitions, not scan-build's model of them (err.h). */
#define TK_ERR_IMPL
#include "err.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Truncation may cut a multi-byte UTF-8 character; the message then is not valid UTF-8 and
 * cannot travel in JSON.  Drops an incomplete character at the end.
 */
static void trim_utf8(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char lead;

	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)s[i - 1];
	if (lead < 0x80)
		return;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

/* The contract of every setter: a negative errno in, the same code out. */
static int checked(int code)
{
	assert(code < 0 && "tk_err codes are negative errno values");
	return code < 0 ? code : -EIO;
}

/* %m in fmt is the text of code: errno may be anything by now (a log call, a close on cleanup). */
static void format_code(char *buf, size_t size, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static void format_code(char *buf, size_t size, int code, const char *fmt, va_list ap)
{
	int saved = errno;

	errno = -code;
	vsnprintf(buf, size, fmt, ap);
	errno = saved;
}

int tk_err_set(tk_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	code = checked(code);
	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	format_code(err->msg, sizeof(err->msg), code, fmt, ap);
	va_end(ap);
	trim_utf8(err->msg);
	return code;
}

int tk_err_wrap(tk_err *err, int code, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	code = checked(code);
	if (!err)
		return code;
	va_start(ap, fmt);
	format_code(prefix, sizeof(prefix), code, fmt, ap);
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
	trim_utf8(err->msg);
	err->code = code;
	return code;
}

int tk_err_errno(tk_err *err, int code, const char *what)
{
	code = checked(code);
	if (!err || err->code != 0)
		return code;
	return tk_err_set(err, code, "%s: %s", what, strerror(-code));
}

const char *tk_err_text(const tk_err *err, int code)
{
	if (err && err->msg[0])
		return err->msg;
	return strerror(code < 0 ? -code : code ? code : EIO);
}
