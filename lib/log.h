/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Messages go to stderr; with journal prefixes ("<N>") when stderr is the journal. */
void tk_log_setup(int max_level, bool journal_prefix);
int tk_log_level_parse(const char *s); /* "err", "warning", "info", "debug" or -EINVAL */
int tk_log_max_level(void);

/* Logs and returns -abs(error); %m expands to strerror(abs(error)). */
int tk_log_internal(int level, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_full_errno(level, error, ...)                                                          \
	({                                                                                         \
		int _l_ = (level), _e_ = (error);                                                  \
		_l_ <= tk_log_max_level() ? tk_log_internal(_l_, _e_, __VA_ARGS__)                 \
					  : -(_e_ < 0 ? -_e_ : _e_);                               \
	})

#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error(...)		      (void)log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...)	      (void)log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_info(...)		      (void)log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...)		      (void)log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)

/*
 * Rate limiting for log lines a client can trigger again and again (as systemd's
 * log_ratelimit_*): at most burst lines per interval, then silence until the interval ends;
 * the first line after that says how many were dropped.
 */
struct tk_ratelimit {
	uint64_t interval_us;
	unsigned burst;
	uint64_t begin_us;   /* start of the current interval */
	unsigned num;	     /* lines let through in it */
	unsigned suppressed; /* lines dropped since the last one let through */
};

#define TK_RATELIMIT_INTERVAL_US (10ull * 1000 * 1000)
#define TK_RATELIMIT_BURST	 10

/*
 * Pure: true when a line at now_us may be logged.  When it may and lines were dropped before
 * it, *ret_suppressed (if not NULL) says how many; else 0.
 */
bool tk_ratelimit_below(struct tk_ratelimit *rl, uint64_t now_us, unsigned *ret_suppressed);
/* tk_ratelimit_below at CLOCK_MONOTONIC, safe to call from several threads. */
bool tk_ratelimit_check(struct tk_ratelimit *rl, unsigned *ret_suppressed);

/* Like log_full_errno, with one rate limit per call site; returns -abs(error) either way. */
#define log_ratelimit_full_errno(level, error, fmt, ...)                                           \
	({                                                                                         \
		static struct tk_ratelimit _rl_ = { .interval_us = TK_RATELIMIT_INTERVAL_US,       \
						    .burst = TK_RATELIMIT_BURST };                 \
		int _rl_l_ = (level), _rl_e_ = (error);                                            \
		unsigned _rl_s_ = 0;                                                               \
		_rl_l_ <= tk_log_max_level() && tk_ratelimit_check(&_rl_, &_rl_s_)                 \
			? (_rl_s_ ? tk_log_internal(_rl_l_, _rl_e_,                                \
						    fmt " (%u similar message(s) suppressed)",     \
						    ##__VA_ARGS__, _rl_s_)                         \
				  : tk_log_internal(_rl_l_, _rl_e_, fmt, ##__VA_ARGS__))           \
			: -(_rl_e_ < 0 ? -_rl_e_ : _rl_e_);                                        \
	})

#define log_ratelimit_warning_errno(error, ...)                                                    \
	log_ratelimit_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_ratelimit_warning(...) (void)log_ratelimit_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_ratelimit_error(...)   (void)log_ratelimit_full_errno(LOG_ERR, 0, __VA_ARGS__)
