/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemons' request loop: a listening SOCK_SEQPACKET socket (lib/rpc), callers identified by
 * SO_PEERCRED, SIGTERM/SIGINT for a clean stop, sd_notify READY=1, and optionally one more event
 * source (volumed's HTTP server) served from the same thread, so handlers never race.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* Who is asking, from SO_PEERCRED and SO_PEERGROUPS. */
struct tk_caller {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool admin; /* root, or the admin group as primary or supplementary group */
	/*
	 * The descriptor passed with the request (SCM_RIGHTS), -1 when none: borrowed by the
	 * handler, closed by the server after dispatch.
	 */
	int passed_fd;
};

struct tk_server {
	const char *name; /* for log lines: "netd" */
	const char *socket_path;
	const char *socket_group; /* NULL: root's group keeps the socket */
	gid_t admin_gid;	  /* (gid_t)-1: only root is admin */
	/* Returns the reply to send (owned by the caller of dispatch), NULL to drop the client. */
	json_t *(*dispatch)(void *userdata, const struct tk_caller *c, json_t *request);
	void *userdata;
	/* Optional second event source: poll extra_fd() for input, or wait extra_timeout_ms(). */
	int (*extra_fd)(void *userdata);
	int (*extra_timeout_ms)(void *userdata); /* -1: no timeout */
	void (*extra_run)(void *userdata);
};

/* Serves until SIGTERM or SIGINT; removes the socket on the way out. */
int tk_server_run(const struct tk_server *s, tk_err *err);

/* Identifies the peer of a connected AF_UNIX socket. */
void tk_caller_identify(int fd, gid_t admin_gid, struct tk_caller *ret);

/* A group name or number. */
int tk_parse_gid(const char *s, gid_t *ret);

/*
 * Test hook: fails with -EIO at the named point when the environment variable env (a
 * comma-separated list of points) names it, so tests can prove that a failure half-way leaves
 * nothing behind.  "point@sleep" makes it wait there for a minute instead, so a test can kill
 * the daemon half-way.
 */
int tk_fault_point(const char *env, const char *point, tk_err *err);

/* Logs a change made to the kernel and adds it to actions (when not NULL) for the reply. */
void tk_report_action(json_t *actions, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 0 for root and the admin group, else -EACCES naming op. */
int tk_require_admin(const struct tk_caller *c, const char *op, tk_err *err);

/* Root, the admin group, or the owner (uid or gid; -1: none) of the tenant may act on it. */
int tk_caller_may_manage(const struct tk_caller *c, int64_t owner_uid, int64_t owner_gid,
			 const char *tenant, tk_err *err);

/*
 * The reply to a request op that a handler answered with r and result (stolen): ok, or the
 * error in err (filled from r when the handler left it empty), logged with who asked.
 */
json_t *tk_server_reply(const char *op, int r, json_t *result, const struct tk_caller *c,
			tk_err *err);
