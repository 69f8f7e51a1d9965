/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Two overflows of a link watch in a row are both reported: the kernel reports an overflow
 * once, then drops notifications silently until the queue has been read empty, so a reader
 * that stopped at the first -ENOBUFS missed the second (test-lifecycle.sh runs this inside
 * its throwaway network namespace).  Exits 0 when both are reported.
 */
#include <errno.h>
#include <stdio.h>

#include "nl.h"

static int churn(struct tk_nl *nl, int round, tk_err *err)
{
	char name[16];
	int r;

	/* Each bridge makes several notifications of ~1 KiB: 20 overflow a 4 KiB queue. */
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "wo%d-%d", round, i);
		if ((r = tk_nl_bridge_add(nl, name, NULL, 0, NULL, err)) < 0 ||
		    (r = tk_nl_link_del(nl, name, err)) < 0)
			return r;
	}
	return 0;
}

static void ignore(const char *name, void *userdata)
{
	(void)name;
	(void)userdata;
}

int main(void)
{
	_cleanup_(tk_nl_closep) struct tk_nl *nl = NULL;
	struct tk_nl_watch *w = NULL;
	tk_err err = {};
	int r, round;

	if (tk_nl_open(&nl, &err) < 0 || tk_nl_watch_open(&w, 4096, &err) < 0) {
		fprintf(stderr, "watch-overflow: %s\n", err.msg);
		return 1;
	}
	for (round = 1; round <= 2; round++) {
		if (churn(nl, round, &err) < 0) {
			fprintf(stderr, "watch-overflow: %s\n", err.msg);
			break;
		}
		err = (tk_err){};
		if ((r = tk_nl_watch_read(w, "wo", ignore, NULL, NULL, &err)) != -ENOBUFS) {
			fprintf(stderr, "watch-overflow: overflow %d not reported (%d)\n", round,
				r);
			break;
		}
	}
	tk_nl_watch_close(w);
	return round > 2 ? 0 : 1;
}
