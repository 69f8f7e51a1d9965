/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <errno.h>
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
