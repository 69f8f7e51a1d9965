/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The local protocol: one JSON object per SOCK_SEQPACKET message over AF_UNIX.
 *   request  {"op":"endpoint.add","args":{...}}
 *   reply    {"ok":true,"result":{...}}
 *            {"ok":false,"error":{"code":N,"msg":"...","details":"..."}}
 * code is a positive errno value.  Messages are at most TK_RPC_MAX_MSG bytes.  A request may
 * carry one descriptor (SCM_RIGHTS), such as the container's netns the client opened.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "err.h"

/* Below what one SOCK_SEQPACKET message can carry even with SO_SNDBUFFORCE (about 4 MiB). */
#define TK_RPC_MAX_MSG ((4u << 20) - (128u << 10))

/* Binds and listens on path (removing a stale socket), CLOEXEC|NONBLOCK, chmod mode. */
int tk_rpc_listen(const char *path, mode_t mode, int *ret_fd, tk_err *err);
/* The same for a SOCK_STREAM socket (HTTP). */
int tk_rpc_listen_stream(const char *path, mode_t mode, int *ret_fd, tk_err *err);
/*
 * A client's deadline for one call: TK_RPC_TIMEOUT_MS from the environment (1..3600000) when
 * set, else TK_RPC_TIMEOUT_MS_DEFAULT.  Runtimes give a CNI plugin seconds, so no call waits
 * for a stopped or wedged daemon longer than that.
 */
#define TK_RPC_TIMEOUT_MS_DEFAULT 10000
#define TK_RPC_TIMEOUT_MS_MAX	  3600000
int tk_rpc_timeout_ms(void);
/* Milliseconds on CLOCK_MONOTONIC, for deadlines that span several calls. */
int64_t tk_rpc_now_ms(void);

/* connect() within the default deadline; -ETIMEDOUT when the daemon's backlog stays full. */
int tk_rpc_connect(const char *path, int *ret_fd, tk_err *err);
int tk_rpc_connect_timeout(const char *path, int timeout_ms, int *ret_fd, tk_err *err);

/* Serialises msg (not consumed) and sends it as one message (waiting at most 5 s for room). */
int tk_rpc_send(int fd, json_t *msg, tk_err *err);
/* The same with pass_fd (>= 0) attached as SCM_RIGHTS; the caller keeps its copy. */
int tk_rpc_send_fd(int fd, json_t *msg, int pass_fd, tk_err *err);
/*
 * Receives one message; -ECONNRESET on orderly EOF, -EMSGSIZE when too big, -EBADMSG when not
 * JSON.  Descriptors that come with it are closed.
 */
int tk_rpc_recv(int fd, json_t **ret, tk_err *err);
/*
 * The same, keeping at most one passed descriptor (CLOEXEC) in *ret_fd (-1: none).  More than
 * one, truncated control data (MSG_CTRUNC) or anything but SCM_RIGHTS is -EBADMSG, with every
 * received descriptor closed and the message consumed.
 */
int tk_rpc_recv_fd(int fd, json_t **ret, int *ret_fd, tk_err *err);

/* Validates a request: an object with string "op" and optional object "args" (else empty). */
int tk_rpc_parse_request(json_t *msg, const char **ret_op, json_t **ret_args, tk_err *err);
/* Builds replies; result is stolen (NULL = empty object). */
json_t *tk_rpc_reply_ok(json_t *result);
json_t *tk_rpc_reply_error(const tk_err *e);
/*
 * Decodes a reply.  On ok:true returns 0 and a new reference to result; on ok:false returns
 * -code and copies msg (and details) into err.
 */
int tk_rpc_parse_reply(json_t *msg, json_t **ret_result, tk_err *err);

/*
 * connect + send {"op","args"} + recv + parse; args is not consumed (NULL = {}).  Each call has
 * the default deadline (tk_rpc_timeout_ms()); when it passes, -ETIMEDOUT with a message that
 * says so.
 */
int tk_rpc_call(const char *path, const char *op, json_t *args, json_t **ret_result, tk_err *err);
/* The same over a connected socket, so callers can tell "cannot connect" from "refused". */
int tk_rpc_call_fd(int fd, const char *op, json_t *args, json_t **ret_result, tk_err *err);
/*
 * The same with pass_fd (>= 0: sent with the request as SCM_RIGHTS) and a deadline of
 * timeout_ms for the send and the reply (<= 0: the default).
 */
int tk_rpc_call_full(int fd, const char *op, json_t *args, int pass_fd, int timeout_ms,
		     json_t **ret_result, tk_err *err);
/*
 * tk_rpc_call_full in two halves, so that a client can do its own work while the daemon does
 * its (netctl formats one page of a listing while netd builds the next): _begin sends the
 * request and starts the deadline, _end waits for the reply and parses it.  A request the
 * daemon refused by closing still gets its answer from _end.
 */
struct tk_rpc_pending {
	int fd, timeout_ms;
	int64_t deadline; /* ms on CLOCK_MONOTONIC */
	int send_r;	  /* -EPIPE or -ECONNRESET: the daemon closed; its refusal may be queued */
	tk_err send_err;
};
int tk_rpc_call_begin(int fd, const char *op, json_t *args, int pass_fd, int timeout_ms,
		      struct tk_rpc_pending *ret, tk_err *err);
int tk_rpc_call_end(struct tk_rpc_pending *p, json_t **ret_result, tk_err *err);

int tk_rpc_peer_cred(int fd, struct ucred *ret, tk_err *err);
