/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "rpc.h"
#include "server.h"

int tk_parse_gid(const char *s, gid_t *ret)
{
	struct group *g = getgrnam(s);
	char *end;
	unsigned long v;

	if (g) {
		*ret = g->gr_gid;
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v >= (gid_t)-1)
		return -EINVAL;
	*ret = (gid_t)v;
	return 0;
}

/* The admin group counts through the peer's supplementary groups as well. */
void tk_caller_identify(int fd, gid_t admin_gid, struct tk_caller *c)
{
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	(void)tk_rpc_peer_cred(fd, &cred, NULL);
	*c = (struct tk_caller){
		.pid = cred.pid, .uid = cred.uid, .gid = cred.gid, .passed_fd = -1
	};
	c->admin = cred.uid == 0 || (admin_gid != (gid_t)-1 && cred.gid == admin_gid);
	if (!c->admin && admin_gid != (gid_t)-1 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (groups[i] == admin_gid)
				c->admin = true;
}

struct client {
	int fd;
	struct tk_caller caller;
};

static void client_free(int epfd, struct client *cl)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	free(cl);
}

static void serve_client(const struct tk_server *s, int epfd, struct client *cl)
{
	_cleanup_(json_decrefp) json_t *request = NULL, *reply = NULL;
	tk_err err = {};
	int r;

	r = tk_rpc_recv_fd(cl->fd, &request, &cl->caller.passed_fd, &err);
	if (r == -EAGAIN || r == -EINTR)
		return;
	if (r == -ECONNRESET) {
		client_free(epfd, cl);
		return;
	}
	if (r < 0) {
		log_warning("Bad message from uid %u pid %d: %s", (unsigned)cl->caller.uid,
			    (int)cl->caller.pid, err.msg);
		reply = tk_rpc_reply_error(&err);
	} else {
		reply = s->dispatch(s->userdata, &cl->caller, request);
		closep(&cl->caller.passed_fd);
		cl->caller.passed_fd = -1;
	}
	if (!reply || tk_rpc_send(cl->fd, reply, &err) < 0)
		client_free(epfd, cl);
}

static int accept_client(const struct tk_server *s, int epfd, int listen_fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct client *cl;
	int fd;

	/* Non-blocking: tk_rpc_send waits (bounded) for a slow reader, nothing else ever blocks. */
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR || errno == ECONNABORTED ? 0 : -errno;
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return -ENOMEM;
	}
	cl->fd = fd;
	tk_caller_identify(fd, s->admin_gid, &cl->caller);
	ev.data.ptr = cl;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(cl);
		return -errno;
	}
	/* Clients send their request right after connecting: serve it without another wakeup. */
	serve_client(s, epfd, cl);
	return 0;
}

static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	size_t len;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	len = strlen(path);
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		(void)sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
			     offsetof(struct sockaddr_un, sun_path) + len);
}

static int listen_socket(const struct tk_server *s, int *ret_fd, tk_err *err)
{
	gid_t gid;
	int r;

	if ((r = tk_rpc_listen(s->socket_path, 0660, ret_fd, err)) < 0)
		return r;
	if (!s->socket_group)
		return 0;
	if (tk_parse_gid(s->socket_group, &gid) < 0)
		return tk_err_set(err, -EINVAL, "unknown socket group '%s'", s->socket_group);
	if (chown(s->socket_path, (uid_t)-1, gid) < 0)
		return tk_err_set(err, -errno, "cannot give group %u the socket '%s': %m",
				  (unsigned)gid, s->socket_path);
	return 0;
}

int tk_server_run(const struct tk_server *s, tk_err *err)
{
	_cleanup_close_ int listen_fd = -1, epfd = -1, sigfd = -1;
	struct epoll_event ev = { .events = EPOLLIN };
	int extra_fd = s->extra_fd ? s->extra_fd(s->userdata) : -1;
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return tk_err_set(err, -errno, "setting up the event loop: %m");
	if ((r = listen_socket(s, &listen_fd, err)) < 0)
		return r;
	ev.data.ptr = &listen_fd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
	ev.data.ptr = &sigfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev);
	if (extra_fd >= 0) {
		ev.data.ptr = &extra_fd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, extra_fd, &ev) < 0)
			return tk_err_set(err, -errno, "watching the second event source: %m");
	}

	log_info("%s %s listening on '%s'", s->name, TK_VERSION, s->socket_path);
	notify_ready();
	for (;;) {
		struct epoll_event events[16];
		int timeout = s->extra_timeout_ms ? s->extra_timeout_ms(s->userdata) : -1;
		int n = epoll_wait(epfd, events, ELEMENTSOF(events), timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tk_err_set(err, -errno, "epoll_wait: %m");
		if (n == 0 && s->extra_run)
			s->extra_run(s->userdata);
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr == &sigfd) {
				log_info("%s: stopping on signal", s->name);
				unlink(s->socket_path);
				return 0;
			}
			if (events[i].data.ptr == &listen_fd) {
				if ((r = accept_client(s, epfd, listen_fd)) < 0)
					log_warning_errno(r, "Failed to accept a connection: %m");
				continue;
			}
			if (events[i].data.ptr == &extra_fd) {
				s->extra_run(s->userdata);
				continue;
			}
			serve_client(s, epfd, events[i].data.ptr);
		}
	}
}

int tk_fault_point(const char *env, const char *point, tk_err *err)
{
	const char *faults = getenv(env);
	size_t len = strlen(point);

	for (const char *f = faults; f && *f; f = strchrnul(f, ',') + (strchr(f, ',') ? 1 : 0)) {
		if (strncmp(f, point, len) != 0)
			continue;
		if (f[len] == ',' || f[len] == '\0')
			return tk_err_set(err, -EIO, "injected fault at '%s'", point);
		/* "point@sleep": hold still there, so a test can kill the daemon half-way. */
		if (strncmp(f + len, "@sleep", 6) == 0 &&
		    (f[len + 6] == ',' || f[len + 6] == '\0')) {
			log_info("Fault point '%s': sleeping", point);
			sleep(60);
		}
	}
	return 0;
}

void tk_report_action(json_t *actions, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_info("%s", buf);
	if (actions)
		json_array_append_new(actions, json_string(buf));
}

int tk_require_admin(const struct tk_caller *c, const char *op, tk_err *err)
{
	if (c->admin)
		return 0;
	return tk_err_set(err, -EACCES, "permission denied: '%s' needs root or the admin group",
			  op);
}

int tk_caller_may_manage(const struct tk_caller *c, int64_t owner_uid, int64_t owner_gid,
			 const char *tenant, tk_err *err)
{
	if (c->admin)
		return 0;
	if (owner_uid >= 0 && (uid_t)owner_uid == c->uid)
		return 0;
	if (owner_gid >= 0 && (gid_t)owner_gid == c->gid)
		return 0;
	return tk_err_set(err, -EACCES, "permission denied: uid %u does not own tenant '%s'",
			  (unsigned)c->uid, tenant);
}

json_t *tk_server_reply(const char *op, int r, json_t *result, const struct tk_caller *c,
			tk_err *err)
{
	if (r >= 0 && result)
		return tk_rpc_reply_ok(result);
	if (r >= 0)
		r = tk_err_set(err, -ENOMEM, "out of memory");
	json_decref(result);
	if (!err->code)
		tk_err_errno(err, r, op);
	/* The code a handler returns is the answer; err only explains it (lib/err.h). */
	err->code = r;
	log_full_errno(r == -EACCES || r == -EINVAL ? LOG_WARNING : LOG_ERR, r,
		       "Request '%s' from uid %u pid %d failed: %s", op, (unsigned)c->uid,
		       (int)c->pid, err->msg);
	return tk_rpc_reply_error(err);
}
