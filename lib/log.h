/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
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
