/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libmicrohttpd glue of the Docker plugin sockets (http.h): accept with per-uid limits,
 * collect the body, run the daemon's handler through tk_server_submit, answer JSON.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "http.h"
#include "log.h"
#include "rpc.h"

struct tk_http {
	struct tk_http_config cfg;
	struct MHD_Daemon *daemon;
	int listen_fd;
	int epfd; /* the listen fd and libmicrohttpd's epoll fd */
	bool listen_paused;
	struct timespec paused_at;
	bool started; /* libmicrohttpd took the connection just added */
	char path[108];
};

/* One request: its body, collected over the handler's calls, and its answer. */
struct upload {
	struct tk_http *h;
	struct MHD_Connection *conn;
	char *data;
	size_t len;
	bool too_big;
	bool submitted;
	bool in_submit; /* tk_server_submit has not returned: the answer needs no resume */
	bool answered;
	struct tk_caller caller;
	char url[128];
	/* Filled by the handler: */
	unsigned status;
	json_t *answer;
	char *text; /* GET mode's answer instead */
	size_t text_len;
	const char *text_type;
};

/* A connection's caller, for its share of the per-uid connection limit. */
struct peer {
	struct tk_caller caller;
};

json_t *tk_http_error(const char *msg)
{
	return json_pack("{s:s}", "Err", msg);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	json_decref(body);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, TK_HTTP_CONTENT_TYPE);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* GET mode: text (malloc'd, freed here) of len bytes. */
static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, char *text,
				  size_t len, const char *type)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A failure, in the mode's language: {"Err": msg}, or msg as a line of text. */
static enum MHD_Result reply_msg(struct tk_http *h, struct MHD_Connection *conn, unsigned status,
				 const char *msg)
{
	char *text;

	if (!h->cfg.handle_get)
		return reply(conn, status, tk_http_error(msg));
	if (asprintf(&text, "%s\n", msg) < 0)
		return MHD_NO;
	return reply_text(conn, status, text, strlen(text), "text/plain; charset=utf-8");
}

static enum MHD_Result reply_error(struct tk_http *h, struct MHD_Connection *conn,
				   const tk_err *err)
{
	return reply_msg(h, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, err->msg);
}

/* The handler's answer. */
static enum MHD_Result reply_answer(struct MHD_Connection *conn, struct upload *up)
{
	if (up->h->cfg.handle_get)
		return reply_text(conn, up->status, TAKE_PTR(up->text), up->text_len,
				  up->text_type);
	return reply(conn, up->status, TAKE_PTR(up->answer));
}

/* With the state lock held: on a worker thread, or on the loop thread without workers. */
static void serve_work(void *data)
{
	struct upload *up = data;
	const struct tk_http_config *cfg = &up->h->cfg;

	up->answer = NULL;
	if (cfg->handle_get) {
		up->text_type = "text/plain; charset=utf-8";
		up->status = cfg->handle_get(cfg->userdata, &up->caller, up->url, &up->text,
					     &up->text_len, &up->text_type);
		if (!up->text && (up->text = strdup("out of memory\n"))) {
			up->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			up->text_len = strlen(up->text);
			up->text_type = "text/plain; charset=utf-8";
		}
		return;
	}
	up->status = cfg->handle(cfg->userdata, &up->caller, up->url, up->data ? up->data : "",
				 up->len, &up->answer);
	if (!up->answer) {
		up->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		up->answer = tk_http_error("out of memory");
	}
}

/* On the loop thread: the answer is there, let libmicrohttpd call on_request again. */
static void serve_done(void *data)
{
	struct upload *up = data;

	up->answered = true;
	if (up->in_submit)
		return; /* answered synchronously: serve() replies */
	MHD_resume_connection(up->conn);
	MHD_run(up->h->daemon);
}

static enum MHD_Result serve(struct tk_http *h, struct MHD_Connection *conn, const char *url,
			     struct upload *up)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	tk_err err = {};
	int r;

	if (up->submitted) {
		/* Resumed: the handler answered. */
		if (!up->answer && !up->text)
			return MHD_NO;
		return reply_answer(conn, up);
	}
	up->caller = (struct tk_caller){ .uid = (uid_t)-1, .gid = (gid_t)-1, .passed_fd = -1 };
	if (info)
		tk_caller_identify(info->connect_fd, h->cfg.admin_gid, &up->caller);
	if (up->too_big) {
		tk_err_set(&err, -EMSGSIZE, "request body over %u bytes", TK_HTTP_BODY_MAX);
		return reply_error(h, conn, &err);
	}
	if (strlen(url) >= sizeof(up->url))
		return reply_msg(h, conn, MHD_HTTP_NOT_FOUND, "unknown endpoint");
	snprintf(up->url, sizeof(up->url), "%s", url);
	up->h = h;
	up->conn = conn;
	up->submitted = true;
	up->in_submit = true;
	r = tk_server_submit(&up->caller, serve_work, serve_done, up, &err);
	up->in_submit = false;
	if (r < 0) {
		log_ratelimit_warning("%s %s from uid %u: %s", h->cfg.name, url,
				      (unsigned)up->caller.uid, err.msg);
		return reply_msg(h, conn, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
	}
	if (up->answered)
		return reply_answer(conn, up);
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct tk_http *h = cls;
	struct upload *up = *con_cls;

	(void)version;
	if (!up) {
		if (!(up = calloc(1, sizeof(*up))))
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (up->too_big || up->len + n > TK_HTTP_BODY_MAX) {
			up->too_big = true;
			return MHD_YES;
		}
		char *grown = realloc(up->data, up->len + n + 1);
		if (!grown)
			return MHD_NO;
		memcpy(grown + up->len, upload_data, n);
		up->data = grown;
		up->len += n;
		up->data[up->len] = '\0';
		return MHD_YES;
	}
	if (h->cfg.handle_get && strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return reply_msg(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is served here");
	if (!h->cfg.handle_get && strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			     tk_http_error("the plugin API takes POST requests"));
	return serve(h, conn, url, up);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (up) {
		json_decref(up->answer);
		free(up->text);
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct tk_http *h = cls;
	struct peer *p = *socket_context;
	const union MHD_ConnectionInfo *info;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		/* Counted in accept_connections before it was added; remember whom to uncount. */
		h->started = true;
		info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!(p = calloc(1, sizeof(*p))))
			return; /* never released: the count stays one too high */
		if (info)
			tk_caller_identify(info->connect_fd, h->cfg.admin_gid, &p->caller);
		*socket_context = p;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && p) {
		tk_server_conn_release(&p->caller);
		free(p);
		*socket_context = NULL;
	}
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct tk_http *h = cls;
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	/* Clients cause most of these (bad requests, hangups): keep the log bounded. */
	log_ratelimit_warning("%s: %s", h->cfg.name, buf);
}

/* Creates the directories up to the socket (/run/docker/plugins) as Docker would. */
static int make_parent_dirs(const char *path, tk_err *err)
{
	char dir[108];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return tk_err_set(err, -errno, "cannot create '%s': %m", dir);
		*p = '/';
	}
	return 0;
}

static int watch(struct tk_http *h, tk_err *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD);

	if (!info || (h->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return tk_err_set(err, -EIO, "cannot watch the %s socket: %m", h->cfg.name);
	ev.data.fd = info->epoll_fd;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev) < 0)
		return tk_err_set(err, -errno, "cannot watch the %s socket: %m", h->cfg.name);
	ev.data.fd = h->listen_fd;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->listen_fd, &ev) < 0)
		return tk_err_set(err, -errno, "cannot watch the %s socket: %m", h->cfg.name);
	return 0;
}

/* "127.0.0.1:PORT" or "[::1]:PORT" into sa; 1 for "unix:PATH" (path in *ret_path). */
static int address_parse(const char *address, struct sockaddr_storage *sa, socklen_t *ret_len,
			 const char **ret_path, tk_err *err)
{
	const char *port = NULL;
	unsigned long v;
	char *end;

	if (strncmp(address, "unix:", 5) == 0) {
		if (address[5] != '/' || strlen(address + 5) >= sizeof(((struct tk_http *)0)->path))
			return tk_err_set(err, -EINVAL,
					  "'%s': a unix socket needs an absolute path of at most "
					  "107 bytes",
					  address);
		*ret_path = address + 5;
		return 1;
	}
	*sa = (struct sockaddr_storage){};
	if (strncmp(address, "127.0.0.1:", 10) == 0) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*ret_len = sizeof(*in);
		port = address + 10;
	} else if (strncmp(address, "[::1]:", 6) == 0) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		*ret_len = sizeof(*in6);
		port = address + 6;
	}
	if (!port)
		return tk_err_set(err, -EINVAL,
				  "'%s' is not unix:/PATH, 127.0.0.1:PORT or [::1]:PORT (served "
				  "on this host only)",
				  address);
	errno = 0;
	v = strtoul(port, &end, 10);
	if (errno || end == port || *end || port[0] < '0' || port[0] > '9' || v < 1 || v > 65535)
		return tk_err_set(err, -EINVAL, "'%s': the port must be 1..65535", address);
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)v);
	else
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)v);
	return 0;
}

int tk_http_address_check(const char *address, tk_err *err)
{
	struct sockaddr_storage sa;
	socklen_t len;
	const char *path;
	int r = address_parse(address, &sa, &len, &path, err);

	return r < 0 ? r : 0;
}

static int listen_tcp(const struct sockaddr_storage *sa, socklen_t len, const char *address,
		      int *ret_fd, tk_err *err)
{
	_cleanup_close_ int fd =
		socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0)
		return tk_err_set(err, -errno, "'%s': cannot create a socket: %m", address);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, len) < 0 || listen(fd, 128) < 0)
		return tk_err_set(err, -errno, "cannot listen on '%s': %m", address);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int listen_on(struct tk_http *h, const struct tk_http_config *cfg, tk_err *err)
{
	const char *socket_path = cfg->socket_path;
	struct sockaddr_storage sa;
	socklen_t len = 0;
	int r;

	if (cfg->address) {
		if ((r = address_parse(cfg->address, &sa, &len, &socket_path, err)) < 0)
			return r;
		if (r == 0)
			return listen_tcp(&sa, len, cfg->address, &h->listen_fd, err);
	}
	if (strlen(socket_path) >= sizeof(h->path))
		return tk_err_set(err, -ENAMETOOLONG, "socket path too long: '%s'", socket_path);
	snprintf(h->path, sizeof(h->path), "%s", socket_path);
	if ((r = make_parent_dirs(socket_path, err)) < 0)
		return r;
	return tk_rpc_listen_stream(socket_path, 0660, &h->listen_fd, err);
}

int tk_http_start(const struct tk_http_config *cfg, struct tk_http **ret, tk_err *err)
{
	_cleanup_free_ struct tk_http *h = calloc(1, sizeof(*h));
	const char *where = cfg->address ? cfg->address : cfg->socket_path;
	int r;

	if (!h)
		return tk_err_set(err, -ENOMEM, "out of memory");
	h->cfg = *cfg;
	h->listen_fd = h->epfd = -1;
	if ((r = listen_on(h, cfg, err)) < 0)
		return tk_err_wrap(err, r, "%s socket", cfg->name);
	/* Connections come from accept_connections (per-uid limits), not from libmicrohttpd. */
	h->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
					     MHD_USE_NO_LISTEN_SOCKET,
				     0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
				     on_mhd_log, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)(1u << 20),
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (!h->daemon) {
		r = tk_err_set(err, -EIO, "libmicrohttpd cannot serve '%s'", where);
		goto fail;
	}
	if ((r = watch(h, err)) < 0)
		goto fail;
	log_info("Serving the %s on '%s'", cfg->name, where);
	*ret = TAKE_PTR(h);
	return 0;
fail:
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	if (h->epfd >= 0)
		close(h->epfd);
	close(h->listen_fd);
	if (h->path[0])
		unlink(h->path);
	return r;
}

int tk_http_fd(struct tk_http *h)
{
	return h->epfd;
}

static int64_t ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

int tk_http_timeout_ms(struct tk_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;
	int timeout = -1;

	if (MHD_get_timeout(h->daemon, &ms) == MHD_YES)
		timeout = ms > 60000 ? 60000 : (int)ms;
	if (h->listen_paused) {
		int64_t left = 100 - ms_since(&h->paused_at);
		left = left < 0 ? 0 : left;
		if (timeout < 0 || left < timeout)
			timeout = (int)left;
	}
	return timeout;
}

/* Over the limit: a reply that says why, then the door. */
static void refuse(int fd, const tk_err *err)
{
	_cleanup_(json_decrefp) json_t *body = tk_http_error(err->msg);
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char buf[1024];
	int n;

	if (!text)
		return;
	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: " TK_HTTP_CONTENT_TYPE
		     "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     strlen(text), text);
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void accept_connections(struct tk_http *h)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = h->listen_fd };

	if (h->listen_paused) {
		if (ms_since(&h->paused_at) < 100)
			return;
		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->listen_fd, &ev) == 0)
			h->listen_paused = false;
	}
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		struct tk_caller c;
		tk_err err = {};
		int fd = accept4(h->listen_fd, (struct sockaddr *)&sa, &len,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Not polled for 100 ms, instead of waking up for it in a loop. */
				log_ratelimit_warning_errno(-errno, "%s: cannot accept: %m",
							    h->cfg.name);
				if (epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->listen_fd, NULL) == 0) {
					h->listen_paused = true;
					clock_gettime(CLOCK_MONOTONIC, &h->paused_at);
				}
			}
			return;
		}
		tk_caller_identify(fd, h->cfg.admin_gid, &c);
		if (tk_server_conn_acquire(&c, &err) < 0) {
			log_ratelimit_warning("%s: refusing a connection from uid %u: %s",
					      h->cfg.name, (unsigned)c.uid, err.msg);
			refuse(fd, &err);
			close(fd);
			continue;
		}
		h->started = false;
		/* libmicrohttpd owns fd from here, and closes it if it cannot take it. */
		if (MHD_add_connection(h->daemon, fd, (struct sockaddr *)&sa, len) != MHD_YES &&
		    !h->started)
			tk_server_conn_release(&c);
	}
}

void tk_http_run(struct tk_http *h)
{
	accept_connections(h);
	MHD_run(h->daemon);
}

struct tk_http *tk_http_stop(struct tk_http *h)
{
	if (!h)
		return NULL;
	MHD_stop_daemon(h->daemon);
	close(h->epfd);
	close(h->listen_fd);
	if (h->path[0])
		unlink(h->path);
	if (h->cfg.free_userdata)
		h->cfg.free_userdata(h->cfg.userdata);
	free(h);
	return NULL;
}
