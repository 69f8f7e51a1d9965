/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Docker volume-plugin API over HTTP/1.1 on a unix socket, served by libmicrohttpd in
 * volumed's own event loop (MHD_USE_EPOLL, no threads of its own).  Requests that touch volumes
 * go to the server's worker threads (tk_server_submit) while their connection is suspended, so
 * a slow create of one tenant does not hold up anyone else's request.  Connections are accepted
 * here, counted against the caller's per-uid limit, and then handed to libmicrohttpd.  Callers
 * are identified by SO_PEERCRED like on the local socket.  podman only looks at the status:
 * every failure is 500 with {"Err":"…"}.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dockerapi.h"
#include "json.h"
#include "log.h"
#include "rpc.h"
#include "volume.h"
#include "volumed.h"

#define BODY_MAX (64u << 10)

struct dockerapi {
	struct manager *m;
	struct MHD_Daemon *daemon;
	int listen_fd;
	int epfd; /* the listen fd and libmicrohttpd's epoll fd */
	bool listen_paused;
	struct timespec paused_at;
	bool started; /* libmicrohttpd took the connection just added */
	char path[108];
};

/* One request: its body, collected over the handler's calls, and its answer from a worker. */
struct upload {
	struct dockerapi *d;
	struct MHD_Connection *conn;
	char *data;
	size_t len;
	bool too_big;
	bool submitted;
	struct tk_caller caller;
	struct tk_docker_request req;
	char url[64];
	/* Filled by the worker: */
	unsigned status;
	json_t *answer;
};

/* A connection's caller, for its share of the per-uid connection limit. */
struct peer {
	struct tk_caller caller;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	json_decref(body);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/vnd.docker.plugins.v1+json");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, const tk_err *err)
{
	return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, json_pack("{s:s}", "Err", err->msg));
}

/*
 * Status is a map[string]interface{} in podman and Docker: Go decodes every JSON number in it
 * as a float64, which `podman volume inspect --format '{{.Status.size}}'` prints as
 * 1.6777216e+07.  Numbers go out as decimal strings, which print as they are.
 */
static json_t *status_of(json_t *volume)
{
	const char *key;
	json_t *value;
	char text[32];

	json_object_foreach(volume, key, value)
	{
		if (!json_is_integer(value))
			continue;
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		json_object_set_new(volume, key, json_string(text));
	}
	return volume;
}

/*
 * Docker shows CreatedAt in `docker volume inspect` when the driver gives it, as RFC 3339 (Go's
 * time.Time): without it the field is empty.
 */
static json_t *volume_entry(struct manager *m, const struct volume *v)
{
	time_t created = (time_t)v->created;
	char path[4096], when[32];
	struct tm tm;

	json_t *o;

	volume_path(m, v, path, sizeof(path));
	o = json_pack("{s:s, s:s, s:o}", "Name", v->name, "Mountpoint", path, "Status",
		      status_of(volume_to_json(m, v)));
	/* Go cannot parse "" as a time: no time, no field. */
	if (o && v->created > 0 && gmtime_r(&created, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		json_object_set_new(o, "CreatedAt", json_string(when));
	return o;
}

static int do_create(struct manager *m, const struct tk_caller *c,
		     const struct tk_docker_request *req, tk_err *err)
{
	struct tk_docker_create_opts o;
	struct volume_params p;
	struct volume *v;
	int r;

	if ((r = tk_docker_create_opts_decode(req->opts, &o, err)) < 0)
		return r;
	p = (struct volume_params){ .name = req->name,
				    .size = o.size,
				    .fs = o.fs,
				    .uid = o.uid,
				    .gid = o.gid,
				    .mode = o.mode };
	if (!(p.tenant = manager_tenant(m, o.tenant)))
		return tk_err_set(err, -ENOENT, "no tenant '%s' (create it with volctl)", o.tenant);
	if ((r = caller_may_manage(c, p.tenant, err)) < 0)
		return r;
	if (o.backend && !(p.backend = backend_by_name(o.backend)))
		return tk_err_set(err, -EINVAL, "unknown backend '%s' (loop, btrfs or xfs)",
				  o.backend);
	return volume_create(m, &p, &v, err);
}

/* Answers one decoded request; on failure returns -errno with err set. */
static int handle(struct manager *m, const struct tk_caller *c, const struct tk_docker_request *req,
		  json_t **ret, tk_err *err)
{
	struct volume *v = NULL;
	char path[4096];
	json_t *list;
	int r;

	switch (req->op) {
	case TK_DOCKER_ACTIVATE:
		*ret = json_pack("{s:[s]}", "Implements", "VolumeDriver");
		return 0;
	case TK_DOCKER_CAPABILITIES:
		*ret = json_pack("{s:{s:s}}", "Capabilities", "Scope", "local");
		return 0;
	case TK_DOCKER_CREATE:
		r = do_create(m, c, req, err);
		*ret = json_pack("{s:s}", "Err", "");
		return r;
	case TK_DOCKER_LIST:
		list = json_array();
		for (v = m->volumes; v; v = v->next)
			if (caller_may_manage(c, v->tenant, NULL) >= 0)
				json_array_append_new(list, volume_entry(m, v));
		*ret = json_pack("{s:o, s:s}", "Volumes", list, "Err", "");
		return 0;
	default: break;
	}
	if ((r = volume_find(m, c, req->name, &v, err)) < 0)
		return r;
	volume_path(m, v, path, sizeof(path));
	switch (req->op) {
	case TK_DOCKER_REMOVE:
		r = volume_delete(m, v, false, err);
		*ret = json_pack("{s:s}", "Err", "");
		return r;
	case TK_DOCKER_MOUNT:
		r = volume_mount_ref(m, v, req->id, true, err);
		*ret = json_pack("{s:s, s:s}", "Mountpoint", path, "Err", "");
		return r;
	case TK_DOCKER_UNMOUNT:
		r = volume_mount_ref(m, v, req->id, false, err);
		*ret = json_pack("{s:s}", "Err", "");
		return r;
	case TK_DOCKER_PATH:
		*ret = json_pack("{s:s, s:s}", "Mountpoint", path, "Err", "");
		return 0;
	case TK_DOCKER_GET:
		*ret = json_pack("{s:o, s:s}", "Volume", volume_entry(m, v), "Err", "");
		return 0;
	default: return tk_err_set(err, -ENOSYS, "unhandled request");
	}
}

/* On a worker thread with the state lock held. */
static void serve_work(void *data)
{
	struct upload *up = data;
	json_t *result = NULL;
	tk_err err = {};
	int r;

	r = handle(up->d->m, &up->caller, &up->req, &result, &err);
	if (r < 0) {
		json_decref(result);
		log_ratelimit_full_errno(r == -ENOENT ? LOG_DEBUG : LOG_WARNING, r,
					 "Docker API %s from uid %u: %s", up->url,
					 (unsigned)up->caller.uid, err.msg);
		up->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		up->answer = json_pack("{s:s}", "Err", err.msg);
		return;
	}
	up->status = MHD_HTTP_OK;
	up->answer = result;
}

/* On the loop thread: the answer is there, let libmicrohttpd call on_request again. */
static void serve_done(void *data)
{
	struct upload *up = data;

	MHD_resume_connection(up->conn);
	MHD_run(up->d->daemon);
}

static enum MHD_Result serve(struct dockerapi *d, struct MHD_Connection *conn, const char *url,
			     struct upload *up)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	tk_err err = {};
	int r;

	if (up->submitted) {
		/* Resumed: the worker answered. */
		if (!up->answer)
			return MHD_NO;
		return reply(conn, up->status, TAKE_PTR(up->answer));
	}
	up->caller = (struct tk_caller){ .uid = (uid_t)-1, .gid = (gid_t)-1, .passed_fd = -1 };
	if (info)
		tk_caller_identify(info->connect_fd, d->m->admin_gid, &up->caller);
	if (up->too_big) {
		tk_err_set(&err, -EMSGSIZE, "request body over %u bytes", BODY_MAX);
		return reply_error(conn, &err);
	}
	if ((r = tk_docker_request_decode(url, up->data, up->len, &up->req, &err)) < 0) {
		log_ratelimit_warning("Docker API %s from uid %u: %s", url,
				      (unsigned)up->caller.uid, err.msg);
		return r == -ENOENT
			       ? reply(conn, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "Err", err.msg))
			       : reply_error(conn, &err);
	}
	snprintf(up->url, sizeof(up->url), "%s", url);
	up->d = d;
	up->conn = conn;
	up->submitted = true;
	MHD_suspend_connection(conn);
	if (tk_server_submit(&up->caller, serve_work, serve_done, up, &err) < 0) {
		log_ratelimit_warning("Docker API %s from uid %u: %s", url,
				      (unsigned)up->caller.uid, err.msg);
		up->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		up->answer = json_pack("{s:s}", "Err", err.msg);
		MHD_resume_connection(conn);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct dockerapi *d = cls;
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
		if (up->too_big || up->len + n > BODY_MAX) {
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
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			     json_pack("{s:s}", "Err", "the plugin API takes POST requests"));
	return serve(d, conn, url, up);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (up) {
		if (up->submitted)
			tk_docker_request_done(&up->req);
		json_decref(up->answer);
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct dockerapi *d = cls;
	struct peer *p = *socket_context;
	const union MHD_ConnectionInfo *info;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		/* Counted in dockerapi_run before it was added; remember whom to uncount. */
		d->started = true;
		info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!(p = calloc(1, sizeof(*p))))
			return; /* never released: the count stays one too high */
		if (info)
			tk_caller_identify(info->connect_fd, d->m->admin_gid, &p->caller);
		*socket_context = p;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && p) {
		tk_server_conn_release(&p->caller);
		free(p);
		*socket_context = NULL;
	}
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	/* Clients cause most of these (bad requests, hangups): keep the log bounded. */
	log_ratelimit_warning("Docker API: %s", buf);
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

int dockerapi_start(struct manager *m, const char *socket_path, struct dockerapi **ret, tk_err *err)
{
	_cleanup_free_ struct dockerapi *d = calloc(1, sizeof(*d));
	struct epoll_event ev = { .events = EPOLLIN };
	const union MHD_DaemonInfo *info;
	int r;

	if (!d)
		return tk_err_set(err, -ENOMEM, "out of memory");
	d->listen_fd = d->epfd = -1;
	if (strlen(socket_path) >= sizeof(d->path))
		return tk_err_set(err, -ENAMETOOLONG, "socket path too long: '%s'", socket_path);
	snprintf(d->path, sizeof(d->path), "%s", socket_path);
	d->m = m;
	if ((r = make_parent_dirs(socket_path, err)) < 0 ||
	    (r = tk_rpc_listen_stream(socket_path, 0660, &d->listen_fd, err)) < 0)
		return tk_err_wrap(err, r, "Docker plugin socket");
	/* Connections come from dockerapi_run (per-uid limits), not from libmicrohttpd's accept. */
	d->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
					     MHD_USE_NO_LISTEN_SOCKET,
				     0, NULL, NULL, on_request, d, MHD_OPTION_EXTERNAL_LOGGER,
				     on_mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
				     NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, d,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)(1u << 20),
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (!d->daemon) {
		r = tk_err_set(err, -EIO, "libmicrohttpd cannot serve '%s'", socket_path);
		goto fail;
	}
	info = MHD_get_daemon_info(d->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || (d->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		r = tk_err_set(err, -EIO, "cannot watch the Docker plugin socket: %m");
		goto fail;
	}
	ev.data.fd = info->epoll_fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev) < 0) {
		r = tk_err_set(err, -errno, "cannot watch the Docker plugin socket: %m");
		goto fail;
	}
	ev.data.fd = d->listen_fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->listen_fd, &ev) < 0) {
		r = tk_err_set(err, -errno, "cannot watch the Docker plugin socket: %m");
		goto fail;
	}
	log_info("Serving the Docker volume-plugin API on '%s'", socket_path);
	*ret = TAKE_PTR(d);
	return 0;
fail:
	if (d->daemon)
		MHD_stop_daemon(d->daemon);
	if (d->epfd >= 0)
		close(d->epfd);
	close(d->listen_fd);
	unlink(socket_path);
	return r;
}

int dockerapi_fd(struct dockerapi *d)
{
	return d->epfd;
}

static int64_t ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

int dockerapi_timeout_ms(struct dockerapi *d)
{
	MHD_UNSIGNED_LONG_LONG ms;
	int timeout = -1;

	if (MHD_get_timeout(d->daemon, &ms) == MHD_YES)
		timeout = ms > 60000 ? 60000 : (int)ms;
	if (d->listen_paused) {
		int64_t left = 100 - ms_since(&d->paused_at);
		left = left < 0 ? 0 : left;
		if (timeout < 0 || left < timeout)
			timeout = (int)left;
	}
	return timeout;
}

/* Over the limit: a reply that says why, then the door. */
static void refuse(int fd, const tk_err *err)
{
	_cleanup_(json_decrefp) json_t *body = json_pack("{s:s}", "Err", err->msg);
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char buf[1024];
	int n;

	if (!text)
		return;
	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
		     "application/vnd.docker.plugins.v1+json\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s",
		     strlen(text), text);
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void accept_connections(struct dockerapi *d)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = d->listen_fd };

	if (d->listen_paused) {
		if (ms_since(&d->paused_at) < 100)
			return;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->listen_fd, &ev) == 0)
			d->listen_paused = false;
	}
	for (int i = 0; i < 64; i++) {
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);
		struct tk_caller c;
		tk_err err = {};
		int fd = accept4(d->listen_fd, (struct sockaddr *)&sa, &len,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Not polled for 100 ms, instead of waking up for it in a loop. */
				log_ratelimit_warning_errno(-errno,
							    "Docker API: cannot accept: %m");
				if (epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->listen_fd, NULL) == 0) {
					d->listen_paused = true;
					clock_gettime(CLOCK_MONOTONIC, &d->paused_at);
				}
			}
			return;
		}
		tk_caller_identify(fd, d->m->admin_gid, &c);
		if (tk_server_conn_acquire(&c, &err) < 0) {
			log_ratelimit_warning("Docker API: refusing a connection from uid %u: %s",
					      (unsigned)c.uid, err.msg);
			refuse(fd, &err);
			close(fd);
			continue;
		}
		d->started = false;
		/* libmicrohttpd owns fd from here, and closes it if it cannot take it. */
		if (MHD_add_connection(d->daemon, fd, (struct sockaddr *)&sa, len) != MHD_YES &&
		    !d->started)
			tk_server_conn_release(&c);
	}
}

void dockerapi_run(struct dockerapi *d)
{
	accept_connections(d);
	MHD_run(d->daemon);
}

struct dockerapi *dockerapi_stop(struct dockerapi *d)
{
	if (!d)
		return NULL;
	MHD_stop_daemon(d->daemon);
	close(d->epfd);
	close(d->listen_fd);
	unlink(d->path);
	free(d);
	return NULL;
}
