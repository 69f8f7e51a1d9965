/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemons' Prometheus endpoint (metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

struct metrics {
	tk_metrics_write_fn write;
	void *userdata;
};

int tk_metrics_arg(const char *prog, const char *arg)
{
	tk_err err = {};

	if (tk_http_address_check(arg, &err) < 0) {
		fprintf(stderr, "%s: --metrics %s\n", prog, err.msg);
		return -EINVAL;
	}
	return 0;
}

/* A plain-text answer, a line of before, s and after, or NULL (lib/http says "out of memory"). */
static unsigned answer_text(unsigned status, char **ret_body, size_t *ret_len, const char *before,
			    const char *s, const char *after)
{
	if (asprintf(ret_body, "%s%s%s\n", before, s, after) < 0)
		*ret_body = NULL;
	*ret_len = *ret_body ? strlen(*ret_body) : 0;
	return status;
}

static unsigned metrics_get(void *userdata, const struct tk_caller *c, const char *url,
			    char **ret_body, size_t *ret_len, const char **ret_type)
{
	struct metrics *mx = userdata;
	_cleanup_(tk_prom_freep) struct tk_prom *p = NULL;
	tk_err err = {};

	(void)c;
	if (strcmp(url, "/metrics") != 0)
		return answer_text(404, ret_body, ret_len, "no '", url,
				   "' here: the metrics are at /metrics");
	if (tk_prom_new(&p, &err) < 0 || mx->write(mx->userdata, p, &err) < 0 ||
	    tk_prom_finish(p, ret_body, ret_len, &err) < 0)
		return answer_text(500, ret_body, ret_len, "", err.msg, "");
	*ret_type = TK_PROM_CONTENT_TYPE;
	return 200;
}

int tk_metrics_start(const char *address, gid_t admin_gid, tk_metrics_write_fn write,
		     void *userdata, struct tk_http **ret, tk_err *err)
{
	struct metrics *mx = calloc(1, sizeof(*mx));
	int r;

	if (!mx)
		return tk_err_set(err, -ENOMEM, "out of memory");
	*mx = (struct metrics){ .write = write, .userdata = userdata };
	const struct tk_http_config cfg = {
		.name = "metrics endpoint",
		.address = address,
		.admin_gid = admin_gid,
		.handle_get = metrics_get,
		.userdata = mx,
		.free_userdata = free,
	};
	if ((r = tk_http_start(&cfg, ret, err)) < 0)
		free(mx);
	return r;
}
