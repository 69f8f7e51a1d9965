/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rpc.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"

static int sockaddr_for(const char *path, struct sockaddr_un *sa, tk_err *err)
{
	size_t len = strlen(path);

	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (len == 0 || len >= sizeof(sa->sun_path))
		return tk_err_set(err, -ENAMETOOLONG,
				  "socket path '%s' is empty or longer than %zu bytes", path,
				  sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, len);
	return 0;
}

static int listen_unix(const char *path, int type, mode_t mode, int *ret_fd, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	int r;

	if ((r = sockaddr_for(path, &sa, err)) < 0)
		return r;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return tk_err_set(err, -errno, "socket: %m");
	/* A stale socket from a killed daemon would make bind fail with EADDRINUSE. */
	if (unlink(path) < 0 && errno != ENOENT)
		return tk_err_set(err, -errno, "cannot remove stale socket '%s': %m", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return tk_err_set(err, -errno, "cannot bind '%s': %m", path);
	if (chmod(path, mode) < 0)
		return tk_err_set(err, -errno, "cannot chmod '%s': %m", path);
	if (listen(fd, SOMAXCONN) < 0)
		return tk_err_set(err, -errno, "cannot listen on '%s': %m", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int tk_rpc_listen(const char *path, mode_t mode, int *ret_fd, tk_err *err)
{
	return listen_unix(path, SOCK_SEQPACKET, mode, ret_fd, err);
}

int tk_rpc_listen_stream(const char *path, mode_t mode, int *ret_fd, tk_err *err)
{
	return listen_unix(path, SOCK_STREAM, mode, ret_fd, err);
}

int64_t tk_rpc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tk_rpc_timeout_ms(void)
{
	const char *s = getenv("TK_RPC_TIMEOUT_MS");
	char *end;
	long v;

	if (!s || !*s)
		return TK_RPC_TIMEOUT_MS_DEFAULT;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > TK_RPC_TIMEOUT_MS_MAX)
		return TK_RPC_TIMEOUT_MS_DEFAULT;
	return (int)v;
}

/* What is left of deadline (ms on CLOCK_MONOTONIC), at least 0. */
static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - tk_rpc_now_ms();

	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int tk_rpc_connect_timeout(const char *path, int timeout_ms, int *ret_fd, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	struct timeval tv;
	int r;

	if ((r = sockaddr_for(path, &sa, err)) < 0)
		return r;
	if (timeout_ms <= 0)
		timeout_ms = tk_rpc_timeout_ms();
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tk_err_set(err, -errno, "socket: %m");
	/* An AF_UNIX connect() waits for room in the listener's backlog for up to SO_SNDTIMEO. */
	tv = (struct timeval){ .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EAGAIN || errno == EINPROGRESS)
			return tk_err_set(err, -ETIMEDOUT,
					  "the daemon at '%s' accepted no connection within %d ms",
					  path, timeout_ms);
		return tk_err_set(err, -errno, "cannot reach the daemon at '%s': %m", path);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int tk_rpc_connect(const char *path, int *ret_fd, tk_err *err)
{
	return tk_rpc_connect_timeout(path, 0, ret_fd, err);
}

/*
 * Sends text as one message, with pass_fd attached when >= 0.  Never blocks: a full queue at
 * the peer is waited for with poll() until deadline (ms on CLOCK_MONOTONIC).
 */
static int send_text(int fd, const char *text, size_t len, int pass_fd, int64_t deadline,
		     tk_err *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control = {};
	struct iovec iov = { .iov_base = (void *)text, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int n;

		if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return tk_err_set(err, -errno, "send: %m");
		/* A slow reader: wait a bounded time for room. */
		n = poll(&pfd, 1, remaining_ms(deadline));
		if (n < 0 && errno != EINTR)
			return tk_err_set(err, -errno, "poll: %m");
		if (n == 0)
			return tk_err_set(err, -ETIMEDOUT,
					  "send: the peer does not read its messages");
	}
}

static int send_msg(int fd, json_t *msg, int pass_fd, int64_t deadline, tk_err *err)
{
	_cleanup_(tk_json_text_freep) char *text = json_dumps(msg, JSON_COMPACT);
	size_t len;

	if (!text)
		return tk_err_set(err, -ENOMEM, "cannot serialise message");
	len = strlen(text);
	if (len > TK_RPC_MAX_MSG)
		return tk_err_set(err, -EMSGSIZE, "message of %zu bytes exceeds the %u byte limit",
				  len, TK_RPC_MAX_MSG);
	/* Big listings exceed the default send buffer; only root may force it larger. */
	if (len > 64 * 1024) {
		int size = (int)len + 4096;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
	return send_text(fd, text, len, pass_fd, deadline, err);
}

int tk_rpc_send(int fd, json_t *msg, tk_err *err)
{
	return send_msg(fd, msg, -1, tk_rpc_now_ms() + 5000, err);
}

int tk_rpc_send_fd(int fd, json_t *msg, int pass_fd, tk_err *err)
{
	return send_msg(fd, msg, pass_fd, tk_rpc_now_ms() + 5000, err);
}

/*
 * How many descriptors one message may bring before MSG_CTRUNC: enough to see (and close) a
 * client's extras, which the kernel installs only when there is room for them.
 */
#define MAX_FDS_SEEN 4

/* The descriptors in mh's SCM_RIGHTS data: at most one is kept, anything else refused. */
static int take_fds(struct msghdr *mh, int *ret_fd, tk_err *err)
{
	int fds[MAX_FDS_SEEN], n = 0, r = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t count;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			r = tk_err_set(err, -EBADMSG,
				       "message carried control data other than descriptors");
			continue;
		}
		count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count && n < MAX_FDS_SEEN; i++)
			memcpy(&fds[n++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	if (r == 0 && (mh->msg_flags & MSG_CTRUNC))
		r = tk_err_set(err, -EBADMSG, "message carried more descriptors than allowed");
	else if (r == 0 && n > 1)
		r = tk_err_set(err, -EBADMSG,
			       "message carried %d descriptors, at most one is allowed", n);
	if (r < 0 || !ret_fd) {
		/* Refused, or not wanted here: nothing of it may stay open in this process. */
		for (int i = 0; i < n; i++)
			close(fds[i]);
		return r;
	}
	*ret_fd = n ? fds[0] : -1;
	return 0;
}

/*
 * Receives one message.  With deadline >= 0 (ms on CLOCK_MONOTONIC) waits at most until then,
 * naming timeout_ms in the error; else as the socket does (blocking or not).
 */
static int recv_msg(int fd, int64_t deadline, int timeout_ms, json_t **ret, int *ret_fd,
		    tk_err *err)
{
	int wait = deadline >= 0 ? MSG_DONTWAIT : 0;
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_SEEN)];
		struct cmsghdr align;
	} control;
	_cleanup_free_ char *buf = NULL;
	struct iovec iov;
	struct msghdr mh;
	ssize_t len, n;
	int r;

	if (deadline >= 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		do
			n = poll(&pfd, 1, remaining_ms(deadline));
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return tk_err_set(err, -errno, "poll: %m");
		if (n == 0)
			return tk_err_set(err, -ETIMEDOUT,
					  "no reply within %d ms (the daemon is stopped, wedged or "
					  "overloaded)",
					  timeout_ms);
	}
	/*
	 * A peer that closed with our request unread leaves ECONNRESET pending, and the kernel
	 * reports it before the messages still queued for us (a daemon's "too many connections"
	 * refusal): the error is reported once, so ask again for what is queued.
	 */
	bool reset = false;
	do
		len = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | wait);
	while (len < 0 && (errno == EINTR || (errno == ECONNRESET && !reset && (reset = true))));
	if (len < 0)
		return tk_err_set(err, -errno, "recv: %m");
	if (len == 0) {
		/* recv() says 0 for an empty message and for EOF alike: ask poll() which it was. */
		struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };
		char c;

		(void)recv(fd, &c, 1, MSG_DONTWAIT);
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP)))
			return tk_err_set(err, -ECONNRESET, "connection closed");
		return tk_err_set(err, -EBADMSG, "empty message");
	}
	if ((size_t)len > TK_RPC_MAX_MSG) {
		/* Consuming it without a control buffer closes whatever descriptors it carried. */
		(void)recv(fd, NULL, 0, MSG_TRUNC | MSG_DONTWAIT);
		return tk_err_set(err, -EMSGSIZE, "message of %zd bytes exceeds the %u byte limit",
				  len, TK_RPC_MAX_MSG);
	}
	buf = malloc((size_t)len);
	if (!buf)
		return tk_err_set(err, -ENOMEM, "out of memory");
	iov = (struct iovec){ .iov_base = buf, .iov_len = (size_t)len };
	mh = (struct msghdr){ .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | wait);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return tk_err_set(err, -errno, "recv: %m");
	if ((r = take_fds(&mh, ret_fd, err)) < 0)
		return r;
	if ((r = tk_json_parse(buf, (size_t)n, "message", ret, err)) < 0 && ret_fd) {
		closep(ret_fd);
		*ret_fd = -1;
	}
	return r;
}

int tk_rpc_recv(int fd, json_t **ret, tk_err *err)
{
	return recv_msg(fd, -1, 0, ret, NULL, err);
}

int tk_rpc_recv_fd(int fd, json_t **ret, int *ret_fd, tk_err *err)
{
	int passed = -1, r;

	r = recv_msg(fd, -1, 0, ret, &passed, err);
	if (r >= 0)
		*ret_fd = passed;
	return r;
}

int tk_rpc_parse_request(json_t *msg, const char **ret_op, json_t **ret_args, tk_err *err)
{
	json_t *op, *args, *value;
	const char *key;

	if (!json_is_object(msg))
		return tk_err_set(err, -EINVAL, "request must be a JSON object");
	op = json_object_get(msg, "op");
	if (!json_is_string(op))
		return tk_err_set(err, -EINVAL, "request needs a string \"op\"");
	json_object_foreach(msg, key, value)
	{
		if (strcmp(key, "op") != 0 && strcmp(key, "args") != 0)
			return tk_err_set(err, -EINVAL, "request has unknown key '%s'", key);
	}
	args = json_object_get(msg, "args");
	if (!args) {
		/* Owned by msg, so the caller borrows args exactly as when it was sent. */
		args = json_object();
		if (!args || json_object_set_new(msg, "args", args) < 0)
			return tk_err_set(err, -ENOMEM, "out of memory");
	}
	if (!json_is_object(args))
		return tk_err_set(err, -EINVAL, "request \"args\" must be an object");
	*ret_op = json_string_value(op);
	*ret_args = args;
	return 0;
}

json_t *tk_rpc_reply_ok(json_t *result)
{
	return json_pack("{s:b, s:o}", "ok", 1, "result", result ? result : json_object());
}

json_t *tk_rpc_reply_error(const tk_err *e)
{
	int code = e && e->code < 0 ? -e->code : EIO;
	const char *msg = e && e->msg[0] ? e->msg : strerror(code);

	json_t *reply =
		json_pack("{s:b, s:{s:i, s:s}}", "ok", 0, "error", "code", code, "msg", msg);

	/* A message that is not valid UTF-8 must not cost the client its answer. */
	return reply
		       ?: json_pack("{s:b, s:{s:i, s:s}}", "ok", 0, "error", "code", code, "msg",
				    strerror(code));
}

int tk_rpc_parse_reply(json_t *msg, json_t **ret_result, tk_err *err)
{
	json_t *result = NULL;
	const char *text = NULL, *details = NULL;
	json_int_t code = 0;
	int ok = 0;

	/* Not the daemon's refusal but a broken answer: -EBADMSG, in err as in the return value. */
	if (tk_json_unpack_lax(msg, "reply", err, "{s:b, s?o}", "ok", &ok, "result", &result) < 0)
		return tk_err_wrap(err, -EBADMSG, "malformed reply");
	if (ok) {
		*ret_result = result ? json_incref(result) : json_object();
		return 0;
	}
	if (tk_json_unpack_lax(msg, "reply", err, "{s:{s:I, s:s, s?s}}", "error", "code", &code,
			       "msg", &text, "details", &details) < 0)
		return tk_err_wrap(err, -EBADMSG, "malformed reply");
	if (code <= 0 || code > 4095)
		code = EIO;
	if (details)
		return tk_err_set(err, (int)-code, "%s (%s)", text, details);
	return tk_err_set(err, (int)-code, "%s", text);
}

int tk_rpc_call_begin(int fd, const char *op, json_t *args, int pass_fd, int timeout_ms,
		      struct tk_rpc_pending *ret, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *request = NULL;
	int r;

	if (timeout_ms <= 0)
		timeout_ms = tk_rpc_timeout_ms();
	*ret = (struct tk_rpc_pending){ .fd = fd,
					.timeout_ms = timeout_ms,
					.deadline = tk_rpc_now_ms() + timeout_ms };
	request =
		json_pack("{s:s, s:o}", "op", op, "args", args ? json_incref(args) : json_object());
	if (!request)
		return tk_err_set(err, -ENOMEM, "out of memory");
	r = send_msg(fd, request, pass_fd, ret->deadline, &ret->send_err);
	/* A daemon that refused the connection (too many of this uid's) said why, then closed. */
	if (r == -EPIPE || r == -ECONNRESET) {
		ret->send_r = r;
		return 0;
	}
	if (r < 0 && err)
		*err = ret->send_err;
	return r;
}

int tk_rpc_call_end(struct tk_rpc_pending *p, json_t **ret_result, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *reply = NULL;
	int r;

	if (p->send_r < 0) {
		if (recv_msg(p->fd, p->deadline, p->timeout_ms, &reply, NULL, NULL) >= 0)
			return tk_rpc_parse_reply(reply, ret_result, err);
		if (err)
			*err = p->send_err;
		return p->send_r;
	}
	if ((r = recv_msg(p->fd, p->deadline, p->timeout_ms, &reply, NULL, err)) < 0)
		return r;
	return tk_rpc_parse_reply(reply, ret_result, err);
}

int tk_rpc_call_full(int fd, const char *op, json_t *args, int pass_fd, int timeout_ms,
		     json_t **ret_result, tk_err *err)
{
	struct tk_rpc_pending p;
	int r;

	if ((r = tk_rpc_call_begin(fd, op, args, pass_fd, timeout_ms, &p, err)) < 0)
		return r;
	return tk_rpc_call_end(&p, ret_result, err);
}

int tk_rpc_call_fd(int fd, const char *op, json_t *args, json_t **ret_result, tk_err *err)
{
	return tk_rpc_call_full(fd, op, args, -1, 0, ret_result, err);
}

int tk_rpc_call(const char *path, const char *op, json_t *args, json_t **ret_result, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	if ((r = tk_rpc_connect(path, &fd, err)) < 0)
		return r;
	return tk_rpc_call_fd(fd, op, args, ret_result, err);
}

int tk_rpc_peer_cred(int fd, struct ucred *ret, tk_err *err)
{
	socklen_t len = sizeof(*ret);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret, &len) < 0)
		return tk_err_set(err, -errno, "SO_PEERCRED: %m");
	return 0;
}
