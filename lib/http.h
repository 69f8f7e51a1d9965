/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A Docker plugin endpoint: HTTP/1.1 POST requests with JSON bodies on a unix socket, served by
 * libmicrohttpd in the daemon's own event loop (MHD_USE_EPOLL, no threads of its own).  Shared by
 * volumed (VolumeDriver) and netd (NetworkDriver, IpamDriver); built as its own static library so
 * the CNI plugins, which link libtenantkit, do not pull in libmicrohttpd.
 *
 * Connections are accepted here, counted against the caller's per-uid limit
 * (tk_server_conn_acquire), and handed to libmicrohttpd.  Callers are identified by SO_PEERCRED
 * like on the local socket.  Each request's handler runs through tk_server_submit: on a worker
 * thread while its connection is suspended, or directly when the server has no workers.
 */

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "server.h"

/* Docker's plugin content type, and the one body of every failure: {"Err": msg}. */
#define TK_HTTP_CONTENT_TYPE "application/vnd.docker.plugins.v1+json"
#define TK_HTTP_BODY_MAX     (64u << 10)

struct tk_http;

struct tk_http_config {
	const char *name; /* for log lines and errors: "Docker volume-plugin API" */
	const char *socket_path;
	gid_t admin_gid; /* (gid_t)-1: only root */
	/*
	 * Answers one POST to url with body (NUL-terminated, len bytes, may be empty) from c, with
	 * the state lock held: returns the HTTP status and sets *ret to the reply body (stolen;
	 * NULL answers 500 with a generic error).
	 */
	unsigned (*handle)(void *userdata, const struct tk_caller *c, const char *url,
			   const char *body, size_t len, json_t **ret);
	void *userdata;
	/*
	 * GET mode (netd's metrics), instead of handle: answers GET requests (anything else gets
	 * 405) with a text body, *ret_body (malloc'd, stolen; NULL answers 500) of *ret_len bytes
	 * and *ret_type, and returns the status.  Failures are answered as plain text.
	 */
	unsigned (*handle_get)(void *userdata, const struct tk_caller *c, const char *url,
			       char **ret_body, size_t *ret_len, const char **ret_type);
	/*
	 * Where to listen instead of socket_path (GET mode): "unix:/PATH", "127.0.0.1:PORT" or
	 * "[::1]:PORT": this host only.  Over TCP there are no peer credentials: every caller is
	 * uid -1, not an admin.
	 */
	const char *address;
	/* Frees userdata when the server stops (NULL: the caller keeps it). */
	void (*free_userdata)(void *userdata);
};

/* Whether address is one tk_http_start takes (above), with the reason when it is not. */
int tk_http_address_check(const char *address, tk_err *err);

/*
 * Listens on cfg->socket_path or cfg->address (a unix socket: mode 0660, parent directories made
 * 0755 like Docker's).  From success on, the server owns cfg->userdata (cfg->free_userdata); on
 * failure the caller does.
 */
int tk_http_start(const struct tk_http_config *cfg, struct tk_http **ret, tk_err *err);
/* For the server's extra event source: poll this fd, wait at most the timeout, then run. */
int tk_http_fd(struct tk_http *h);
int tk_http_timeout_ms(struct tk_http *h);
void tk_http_run(struct tk_http *h);
/* Stops serving, removes the socket and frees the userdata; NULL is fine. Returns NULL. */
struct tk_http *tk_http_stop(struct tk_http *h);

/* {"Err": msg}, as every failure answers. */
json_t *tk_http_error(const char *msg);
