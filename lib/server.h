/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemons' request loop: a listening SOCK_SEQPACKET socket (lib/rpc), callers identified by
 * SO_PEERCRED, SIGTERM/SIGINT for a clean stop, sd_notify READY=1, and optionally one more event
 * source (volumed's HTTP server) served from the same thread.
 *
 * The loop never blocks on a client: each connection has one request at a time, and its reply
 * waits in the connection until the socket has room.  Handlers run on the loop thread, or with
 * workers > 0 on up to that many worker threads; either way under the state lock, so handlers
 * never race.  A handler that does slow work touching no shared state (mkfs) may drop the lock
 * around it (tk_server_state_unlock/lock), so others are served meanwhile.
 *
 * Each uid other than root and the admin group may hold TK_SERVER_CONNS_PER_UID connections and
 * TK_SERVER_INFLIGHT_PER_UID requests not yet answered; all of them together stay
 * TK_SERVER_FDS_ADMIN below what root may use, so root can always reach the daemon.
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

#define TK_SERVER_CONNS_PER_UID	   64u
#define TK_SERVER_INFLIGHT_PER_UID 4u
/* Worker threads beyond tk_server.workers that only requests of root and the admin group start. */
#define TK_SERVER_WORKERS_ADMIN 4u
/* Of RLIMIT_NOFILE: fds the daemon keeps for itself, and those only root's connections get. */
#define TK_SERVER_FDS_RESERVED 256u
#define TK_SERVER_FDS_ADMIN    128u

struct tk_server {
	const char *name; /* for log lines: "netd" */
	const char *socket_path;
	const char *socket_group; /* NULL: root's group keeps the socket */
	gid_t admin_gid;	  /* (gid_t)-1: only root is admin */
	/*
	 * Returns the reply to send (owned by the caller of dispatch), NULL to drop the client.
	 * Called with the state lock held, on a worker thread when workers > 0.
	 */
	json_t *(*dispatch)(void *userdata, const struct tk_caller *c, json_t *request);
	void *userdata;
	/* Optional second event source: poll extra_fd() for input, or wait extra_timeout_ms(). */
	int (*extra_fd)(void *userdata);
	int (*extra_timeout_ms)(void *userdata); /* -1: no timeout */
	/*
	 * On the loop thread, without the state lock: with workers > 0 it must take the lock (or
	 * tk_server_submit its work) before touching shared state.
	 */
	void (*extra_run)(void *userdata);
	unsigned workers; /* 0: dispatch on the loop thread; else at most this many threads */
};

/* Serves until SIGTERM or SIGINT; removes the socket on the way out. */
int tk_server_run(const struct tk_server *s, tk_err *err);

/* Raises the soft RLIMIT_NOFILE to the hard limit; call at start, before tk_server_run. */
void tk_server_raise_fd_limit(void);

/* The lock over the daemon's state (see above); not recursive. */
void tk_server_state_lock(void);
void tk_server_state_unlock(void);
/*
 * Whether some thread holds the state lock: for a guard (tk_store_set_guard) that catches state
 * touched without it.  The holder may have handed work to a helper that runs meanwhile, so
 * this cannot say which thread holds it.
 */
bool tk_server_state_locked(void);

/*
 * For the second event source: runs work(data) on a worker thread (on the loop thread when
 * there are no workers) with the state lock held, then done(data) on the loop thread.
 * Counts as one of c's requests in flight: -EAGAIN when c has too many.  Call on the loop thread.
 */
int tk_server_submit(const struct tk_caller *c, void (*work)(void *data), void (*done)(void *data),
		     void *data, tk_err *err);
/*
 * Connection accounting for the second event source, on the loop thread: -EUSERS when c's uid
 * (or tenant owners together) already hold as many connections as they may.
 */
int tk_server_conn_acquire(const struct tk_caller *c, tk_err *err);
void tk_server_conn_release(const struct tk_caller *c);

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
