/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int log_max = LOG_INFO;
static bool log_journal;

void tk_log_setup(int max_level, bool journal_prefix)
{
	log_max = max_level;
	log_journal = journal_prefix;
}

int tk_log_max_level(void)
{
	return log_max;
}

int tk_log_level_parse(const char *s)
{
	static const char *const names[] = { [LOG_ERR] = "err",
					     [LOG_WARNING] = "warning",
					     [LOG_INFO] = "info",
					     [LOG_DEBUG] = "debug" };
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (names[i] && strcmp(s, names[i]) == 0)
			return i;
	return -EINVAL;
}

int tk_log_internal(int level, int error, const char *fmt, ...)
{
	int e = error < 0 ? -error : error, saved = errno;
	char buf[2048];
	va_list ap;

	/* %m is the text of error, and logging leaves the caller's errno alone. */
	errno = e;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	errno = saved;
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else
		fprintf(stderr, "%s\n", buf);
	return -e;
}

bool tk_ratelimit_below(struct tk_ratelimit *rl, uint64_t now_us, unsigned *ret_suppressed)
{
	if (ret_suppressed)
		*ret_suppressed = 0;
	if (rl->interval_us == 0 || rl->burst == 0)
		return true;
	if (rl->begin_us == 0 || now_us < rl->begin_us ||
	    now_us - rl->begin_us >= rl->interval_us) {
		rl->begin_us = now_us ? now_us : 1;
		rl->num = 0;
	}
	if (rl->num >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->num++;
	if (ret_suppressed)
		*ret_suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

bool tk_ratelimit_check(struct tk_ratelimit *rl, unsigned *ret_suppressed)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&lock);
	ok = tk_ratelimit_below(rl, (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000,
				ret_suppressed);
	pthread_mutex_unlock(&lock);
	return ok;
}
