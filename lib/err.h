/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One error convention: functions return 0 (or a value >= 0) on success and a negative errno on
 * failure, and fill an optional caller-owned tk_err with a message a user can act on.  The
 * struct is fixed-size, so there is nothing to free and nothing can leak.
 */
typedef struct tk_err {
	int code;      /* negative errno, 0 when unset */
	char msg[512]; /* human-readable, without trailing newline */
} tk_err;

/*
 * The setters below take a negative errno and return it, so that what a function returns and
 * what it stores in err are the same code.  A code >= 0 is a bug in the caller: it fails an
 * assertion (and becomes -EIO where assertions are compiled out).  %m in fmt is the text of code,
 * whatever errno says by the time the message is formatted.
 */

/* Sets err (if not NULL) and returns code. */
int tk_err_set(tk_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to err->msg (the text of code when it is empty) and returns code. */
int tk_err_wrap(tk_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets err from code with strerror text only when err is still unset; returns code. */
int tk_err_errno(tk_err *err, int code, const char *what);

/* What to show for a failure with code: err's message, or the text of code when err has none. */
const char *tk_err_text(const tk_err *err, int code);

#if defined(__clang_analyzer__) && !defined(TK_ERR_IMPL)
/*
 * scan-build analyses one file at a time and cannot see into err.c.  Tell it what the contract
 * says: these return their code, and the code is negative.  Otherwise it explores "failed, yet
 * returned >= 0" paths that cannot happen (a NULL dereference after a failed calloc, say).
 */
#define TK_ERR_MODEL_(fn, err, code, ...)                                                          \
	({                                                                                         \
		int tk_code_ = (code);                                                             \
		(void)(fn)(err, tk_code_, __VA_ARGS__);                                            \
		if (tk_code_ >= 0)                                                                 \
			__builtin_unreachable();                                                   \
		tk_code_;                                                                          \
	})
#define tk_err_set(err, code, ...)    TK_ERR_MODEL_(tk_err_set, err, code, __VA_ARGS__)
#define tk_err_wrap(err, code, ...)   TK_ERR_MODEL_(tk_err_wrap, err, code, __VA_ARGS__)
#define tk_err_errno(err, code, what) TK_ERR_MODEL_(tk_err_errno, err, code, what)
#endif

static inline void tk_err_clear(tk_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
