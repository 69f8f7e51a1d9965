/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rpc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
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

int tk_rpc_connect(const char *path, int *ret_fd, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	int r;

	if ((r = sockaddr_for(path, &sa, err)) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tk_err_set(err, -errno, "socket: %m");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return tk_err_set(err, -errno, "cannot reach the daemon at '%s': %m", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int tk_rpc_send(int fd, json_t *msg, tk_err *err)
{
	_cleanup_(tk_json_text_freep) char *text = json_dumps(msg, JSON_COMPACT);
	size_t len;
	ssize_t n;

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
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		n = send(fd, text, len, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return tk_err_set(err, -errno, "send: %m");
		/* A non-blocking socket whose reader is slow: wait a bounded time for room. */
		if (poll(&pfd, 1, 5000) <= 0)
			return tk_err_set(err, -ETIMEDOUT,
					  "send: the peer does not read its replies");
	}
}

int tk_rpc_recv(int fd, json_t **ret, tk_err *err)
{
	_cleanup_free_ char *buf = NULL;
	ssize_t len, n;

	do
		len = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (len < 0 && errno == EINTR);
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
		(void)recv(fd, NULL, 0, MSG_TRUNC);
		return tk_err_set(err, -EMSGSIZE, "message of %zd bytes exceeds the %u byte limit",
				  len, TK_RPC_MAX_MSG);
	}
	buf = malloc((size_t)len);
	if (!buf)
		return tk_err_set(err, -ENOMEM, "out of memory");
	do
		n = recv(fd, buf, (size_t)len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return tk_err_set(err, -errno, "recv: %m");
	return tk_json_parse(buf, (size_t)n, "message", ret, err);
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

	if (tk_json_unpack_lax(msg, "reply", err, "{s:b, s?o}", "ok", &ok, "result", &result) < 0)
		return -EBADMSG;
	if (ok) {
		*ret_result = result ? json_incref(result) : json_object();
		return 0;
	}
	if (tk_json_unpack_lax(msg, "reply", err, "{s:{s:I, s:s, s?s}}", "error", "code", &code,
			       "msg", &text, "details", &details) < 0)
		return -EBADMSG;
	if (code <= 0 || code > 4095)
		code = EIO;
	if (details)
		return tk_err_set(err, (int)-code, "%s (%s)", text, details);
	return tk_err_set(err, (int)-code, "%s", text);
}

int tk_rpc_call_fd(int fd, const char *op, json_t *args, json_t **ret_result, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *request = NULL, *reply = NULL;
	int r;

	request =
		json_pack("{s:s, s:o}", "op", op, "args", args ? json_incref(args) : json_object());
	if (!request)
		return tk_err_set(err, -ENOMEM, "out of memory");
	r = tk_rpc_send(fd, request, err);
	/* A daemon that refused the connection (too many of this uid's) said why, then closed. */
	if ((r == -EPIPE || r == -ECONNRESET) && tk_rpc_recv(fd, &reply, NULL) >= 0)
		return tk_rpc_parse_reply(reply, ret_result, err);
	if (r < 0 || (r = tk_rpc_recv(fd, &reply, err)) < 0)
		return r;
	return tk_rpc_parse_reply(reply, ret_result, err);
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
