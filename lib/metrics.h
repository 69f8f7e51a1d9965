/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A daemon's Prometheus endpoint (netd --metrics, volumed --metrics): GET /metrics at ADDR, one of
 * "unix:/PATH", "127.0.0.1:PORT" or "[::1]:PORT" (tk_http_address_check), served by lib/http's
 * GET mode in the daemon's loop.  The daemon only writes its families into a tk_prom; the
 * address check, the listening socket, the dispatch (404 elsewhere, 405 for anything but GET,
 * 500 with the reason as text) and the content type are here, once.
 */

#include <sys/types.h>

#include "err.h"
#include "http.h"
#include "prom.h"

/*
 * Writes the page's families into p, with the state lock held (the handler runs like any
 * request's); a failure answers 500 with err's message.
 */
typedef int (*tk_metrics_write_fn)(void *userdata, struct tk_prom *p, tk_err *err);

/* --metrics ARG: 0 when tk_metrics_start takes it, else prints "PROG: --metrics <why>", -EINVAL. */
int tk_metrics_arg(const char *prog, const char *arg);

/*
 * Listens on address and answers GET /metrics with write's page.  userdata stays the caller's.
 * Poll, run and stop the server with tk_http_fd, tk_http_timeout_ms, tk_http_run, tk_http_stop.
 */
int tk_metrics_start(const char *address, gid_t admin_gid, tk_metrics_write_fn write,
		     void *userdata, struct tk_http **ret, tk_err *err);
