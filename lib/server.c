/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
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

/*
 * The loop thread owns every connection: it accepts, reads one request at a time per
 * connection, and sends replies only when the socket has room (a reply waits in its connection,
 * EPOLLOUT says when to retry), so a client that does not read costs nothing but its own fd.
 * Handlers run either on the loop thread (workers == 0) or on a small pool of worker threads;
 * both hold the state lock, which slow kernel work (mkfs) drops in between.  Finished work comes
 * back to the loop thread through an eventfd.
 */

struct client {
	int fd;
	uint32_t events; /* what epoll watches for it */
	struct tk_caller caller;
	char *out; /* the reply that did not fit yet */
	size_t out_len;
	bool on_worker; /* its request is on a worker thread: job */
	struct job *job;
	bool inflight;	  /* it holds one of its uid's in-flight slots */
	bool close_after; /* close once the reply is out (it was refused) */
	bool gone;	  /* closed while its request was on a worker: free when that ends */
	bool closed;	  /* on srv.dead: later events of the same epoll batch must skip it */
	struct client *prev, *next; /* all of them, to free at exit */
};

struct job {
	struct client *cl; /* NULL: an external job (tk_server_submit) */
	json_t *request, *reply;
	uid_t uid;
	bool admin;
	void (*work)(void *data);
	void (*done)(void *data);
	void *data;
	struct job *next;
};

struct uid_slot {
	uid_t uid;
	unsigned conns, inflight;
};

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool state_locked;

static struct {
	const struct tk_server *s;
	int epfd, listen_fd, done_fd;
	uint64_t listen_paused_until; /* CLOCK_MONOTONIC µs; 0: the listen fd is polled */
	unsigned max_conns_admin, max_conns_user; /* from RLIMIT_NOFILE */
	unsigned conns_user, conns_admin;
	struct uid_slot *uids;
	size_t n_uids;
	struct client *clients;
	struct client *dead; /* closed during this batch of events, freed after it */

	pthread_mutex_t lock; /* the pool's queues */
	pthread_cond_t cond;
	/* FIFOs: first and last job (last is NULL when empty); root's and the admin group's first. */
	struct job *queue, *queue_last, *queue_admin, *queue_admin_last, *done;
	unsigned n_threads, n_idle, n_queued;
	pthread_t *threads;
	bool stopping;
} srv = { .epfd = -1,
	  .listen_fd = -1,
	  .done_fd = -1,
	  .lock = PTHREAD_MUTEX_INITIALIZER,
	  .cond = PTHREAD_COND_INITIALIZER };

void tk_server_state_lock(void)
{
	pthread_mutex_lock(&state_lock);
	atomic_store_explicit(&state_locked, true, memory_order_relaxed);
}

void tk_server_state_unlock(void)
{
	atomic_store_explicit(&state_locked, false, memory_order_relaxed);
	pthread_mutex_unlock(&state_lock);
}

bool tk_server_state_locked(void)
{
	return atomic_load_explicit(&state_locked, memory_order_relaxed);
}

static void *mfree(void *p)
{
	free(p);
	return NULL;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct uid_slot *uid_slot(uid_t uid)
{
	struct uid_slot *u;

	for (size_t i = 0; i < srv.n_uids; i++)
		if (srv.uids[i].uid == uid)
			return &srv.uids[i];
	/* Reuse a slot nobody holds anything in before growing. */
	for (size_t i = 0; i < srv.n_uids; i++)
		if (srv.uids[i].conns == 0 && srv.uids[i].inflight == 0) {
			srv.uids[i].uid = uid;
			return &srv.uids[i];
		}
	u = realloc(srv.uids, (srv.n_uids + 1) * sizeof(*u));
	if (!u)
		return NULL;
	srv.uids = u;
	srv.uids[srv.n_uids] = (struct uid_slot){ .uid = uid };
	return &srv.uids[srv.n_uids++];
}

int tk_server_conn_acquire(const struct tk_caller *c, tk_err *err)
{
	struct uid_slot *u;

	if (c->admin) {
		if (srv.conns_admin + srv.conns_user >= srv.max_conns_admin)
			return tk_err_set(err, -EUSERS, "too many connections (%u)",
					  srv.conns_admin + srv.conns_user);
		srv.conns_admin++;
		return 0;
	}
	if (!(u = uid_slot(c->uid)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (u->conns >= TK_SERVER_CONNS_PER_UID)
		return tk_err_set(err, -EUSERS, "too many connections for uid %u (at most %u)",
				  (unsigned)c->uid, TK_SERVER_CONNS_PER_UID);
	/* Whatever the tenants open, root keeps room for its own connections. */
	if (srv.conns_user >= srv.max_conns_user)
		return tk_err_set(err, -EUSERS,
				  "too many connections from tenant owners (%u); try again later",
				  srv.conns_user);
	u->conns++;
	srv.conns_user++;
	return 0;
}

void tk_server_conn_release(const struct tk_caller *c)
{
	struct uid_slot *u;

	if (c->admin) {
		srv.conns_admin--;
		return;
	}
	if ((u = uid_slot(c->uid)) && u->conns > 0) {
		u->conns--;
		srv.conns_user--;
	}
}

static int inflight_acquire(uid_t uid, bool admin, tk_err *err)
{
	struct uid_slot *u;

	if (admin)
		return 0;
	if (!(u = uid_slot(uid)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (u->inflight >= TK_SERVER_INFLIGHT_PER_UID)
		return tk_err_set(err, -EAGAIN,
				  "too many requests in flight for uid %u (at most %u); "
				  "try again when they are answered",
				  (unsigned)uid, TK_SERVER_INFLIGHT_PER_UID);
	u->inflight++;
	return 0;
}

static void inflight_release(uid_t uid, bool admin)
{
	struct uid_slot *u;

	if (!admin && (u = uid_slot(uid)) && u->inflight > 0)
		u->inflight--;
}

static void listen_resume(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &srv.listen_fd };

	if (srv.listen_paused_until && epoll_ctl(srv.epfd, EPOLL_CTL_MOD, srv.listen_fd, &ev) == 0)
		srv.listen_paused_until = 0;
}

/* The descriptor a request brought (lib/rpc) lives until its reply is ready. */
static void client_drop_passed_fd(struct client *cl)
{
	closep(&cl->caller.passed_fd);
	cl->caller.passed_fd = -1;
}

static void client_close(struct client *cl)
{
	if (!cl->on_worker)
		client_drop_passed_fd(cl);
	if (cl->fd >= 0) {
		epoll_ctl(srv.epfd, EPOLL_CTL_DEL, cl->fd, NULL);
		close(cl->fd);
		cl->fd = -1;
		tk_server_conn_release(&cl->caller);
		/* An fd came free: accepting may work again. */
		listen_resume();
	}
	if (cl->on_worker) {
		/* The worker still has its request; job_finish frees it. */
		cl->gone = true;
		return;
	}
	if (cl->inflight)
		inflight_release(cl->caller.uid, cl->caller.admin);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		srv.clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	cl->out = mfree(cl->out);
	/*
	 * Not freed yet: the batch epoll_wait returned may still hold an event for it (a job
	 * finished and its client hung up in the same wakeup).
	 */
	cl->closed = true;
	cl->prev = NULL;
	cl->next = srv.dead;
	srv.dead = cl;
}

static void clients_free_dead(void)
{
	while (srv.dead) {
		struct client *cl = srv.dead;

		srv.dead = cl->next;
		free(cl);
	}
}

static void client_watch(struct client *cl, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = cl };

	if (cl->events == events)
		return;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_MOD, cl->fd, &ev) < 0) {
		client_close(cl);
		return;
	}
	cl->events = events;
}

/* Sends the waiting reply if there is room; 0 when it went out, -EAGAIN when not yet. */
static int client_flush(struct client *cl)
{
	ssize_t n;

	do
		n = send(cl->fd, cl->out, cl->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	cl->out = mfree(cl->out);
	cl->out_len = 0;
	return 0;
}

/* After a flush: wait for room, close, or read the next request. */
static void client_flushed(struct client *cl, int r)
{
	if (r == -EAGAIN) {
		/* Read nothing more from it until this reply is out. */
		client_watch(cl, EPOLLOUT);
		return;
	}
	if (r < 0 || cl->close_after) {
		client_close(cl);
		return;
	}
	if (cl->inflight)
		inflight_release(cl->caller.uid, cl->caller.admin);
	cl->inflight = false;
	client_watch(cl, EPOLLIN);
}

/* The request's reply is ready; out is the wire text (NULL: drop the client). */
static void client_reply(struct client *cl, char *out)
{
	cl->on_worker = false;
	client_drop_passed_fd(cl);
	if (cl->gone || !out) {
		free(out);
		client_close(cl);
		return;
	}
	cl->out = out;
	cl->out_len = strlen(out);
	client_flushed(cl, client_flush(cl));
}

/* One message per reply: serialised here, sent when the socket has room. */
static char *reply_encode(int fd, json_t *reply)
{
	_cleanup_free_ char *text = NULL;
	size_t len;

	if (!reply || !(text = json_dumps(reply, JSON_COMPACT)))
		return NULL;
	len = strlen(text);
	if (len > TK_RPC_MAX_MSG) {
		tk_err err = {};
		_cleanup_(json_decrefp) json_t *e = NULL;

		tk_err_set(&err, -EMSGSIZE, "reply of %zu bytes exceeds the %u byte limit", len,
			   TK_RPC_MAX_MSG);
		free(text);
		e = tk_rpc_reply_error(&err);
		return e ? json_dumps(e, JSON_COMPACT) : NULL;
	}
	/* Big listings exceed the default send buffer; only root may force it larger. */
	if (len > 64 * 1024) {
		int size = (int)len + 4096;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
	return TAKE_PTR(text);
}

static void *worker_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&srv.lock);
	for (;;) {
		struct job *j;
		uint64_t one = 1;

		srv.n_idle++;
		while (!srv.queue_admin && !srv.queue && !srv.stopping)
			pthread_cond_wait(&srv.cond, &srv.lock);
		srv.n_idle--;
		if (srv.queue_admin) {
			j = srv.queue_admin;
			srv.queue_admin = j->next;
			if (!srv.queue_admin)
				srv.queue_admin_last = NULL;
		} else if (srv.queue) {
			j = srv.queue;
			srv.queue = j->next;
			if (!srv.queue)
				srv.queue_last = NULL;
		} else {
			break;
		}
		srv.n_queued--;
		pthread_mutex_unlock(&srv.lock);

		tk_server_state_lock();
		if (j->work)
			j->work(j->data);
		else
			j->reply = srv.s->dispatch(srv.s->userdata, &j->cl->caller, j->request);
		tk_server_state_unlock();

		pthread_mutex_lock(&srv.lock);
		j->next = srv.done;
		srv.done = j;
		(void)!write(srv.done_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&srv.lock);
	return NULL;
}

/*
 * Queues j for a worker, starting one more when all are busy and the pool may grow.  Root's and
 * the admin group's requests go first and may start TK_SERVER_WORKERS_ADMIN threads beyond the
 * pool, so tenant owners keeping every worker busy do not keep root waiting.
 */
static int job_queue(struct job *j, tk_err *err)
{
	bool admin = j->cl ? j->cl->caller.admin : j->admin;
	unsigned max = srv.s->workers + (admin ? TK_SERVER_WORKERS_ADMIN : 0);
	struct job **first = admin ? &srv.queue_admin : &srv.queue;
	struct job **last = admin ? &srv.queue_admin_last : &srv.queue_last;
	int r = 0;

	pthread_mutex_lock(&srv.lock);
	if (srv.n_queued + 1 > srv.n_idle && srv.n_threads < max) {
		int e = pthread_create(&srv.threads[srv.n_threads], NULL, worker_main, NULL);

		if (e == 0)
			srv.n_threads++;
		else if (srv.n_threads == 0)
			r = e > 0 ? -e : -EAGAIN; /* else the others get to it */
	}
	if (r == 0) {
		j->next = NULL;
		if (*last)
			(*last)->next = j;
		else
			*first = j;
		*last = j;
		srv.n_queued++;
		pthread_cond_signal(&srv.cond);
	}
	pthread_mutex_unlock(&srv.lock);
	if (r < 0)
		return tk_err_set(err, r, "cannot start a worker thread: %s", strerror(-r));
	return 0;
}

static void job_finish(struct job *j)
{
	if (j->cl) {
		struct client *cl = j->cl;

		cl->job = NULL;
		client_reply(cl, cl->gone ? NULL : reply_encode(cl->fd, j->reply));
		json_decref(j->request);
		json_decref(j->reply);
	} else {
		inflight_release(j->uid, j->admin);
		if (j->done)
			j->done(j->data);
	}
	free(j);
}

/* Runs on the loop thread when the eventfd says workers finished something. */
static void jobs_collect(void)
{
	struct job *done, *rev = NULL;
	uint64_t n;

	(void)!read(srv.done_fd, &n, sizeof(n));
	pthread_mutex_lock(&srv.lock);
	done = srv.done;
	srv.done = NULL;
	pthread_mutex_unlock(&srv.lock);
	/* Oldest first. */
	while (done) {
		struct job *next = done->next;
		done->next = rev;
		rev = done;
		done = next;
	}
	while (rev) {
		struct job *next = rev->next;
		job_finish(rev);
		rev = next;
	}
}

int tk_server_submit(const struct tk_caller *c, void (*work)(void *data), void (*done)(void *data),
		     void *data, tk_err *err)
{
	struct job *j;
	int r;

	if ((r = inflight_acquire(c->uid, c->admin, err)) < 0)
		return r;
	if (!srv.s || srv.s->workers == 0) {
		/* No pool: the loop thread does it, as it does the local protocol's requests. */
		tk_server_state_lock();
		work(data);
		tk_server_state_unlock();
		inflight_release(c->uid, c->admin);
		if (done)
			done(data);
		return 0;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		inflight_release(c->uid, c->admin);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	*j = (struct job){
		.uid = c->uid, .admin = c->admin, .work = work, .done = done, .data = data
	};
	if ((r = job_queue(j, err)) < 0) {
		inflight_release(c->uid, c->admin);
		free(j);
	}
	return r;
}

/*
 * The one place a request is received, with the descriptor it may carry (SCM_RIGHTS) in
 * cl->caller.passed_fd.  0 with *ret set, -EAGAIN when there was nothing, else -errno.
 */
static int client_recv(struct client *cl, json_t **ret, tk_err *err)
{
	client_drop_passed_fd(cl);
	return tk_rpc_recv_fd(cl->fd, ret, &cl->caller.passed_fd, err);
}

/* Refuses with a reply that says why, then closes. */
static void client_refuse(struct client *cl, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *reply = tk_rpc_reply_error(err);

	cl->close_after = true;
	client_reply(cl, reply_encode(cl->fd, reply));
}

static void serve_client(struct client *cl)
{
	_cleanup_(json_decrefp) json_t *request = NULL, *reply = NULL;
	struct job *j;
	tk_err err = {};
	int r;

	r = client_recv(cl, &request, &err);
	if (r == -EAGAIN || r == -EINTR)
		return;
	if (r < 0 && r != -EBADMSG && r != -EMSGSIZE && r != -ENOMEM) {
		/* -ECONNRESET: it hung up. */
		client_close(cl);
		return;
	}
	if (inflight_acquire(cl->caller.uid, cl->caller.admin, &err) < 0) {
		log_ratelimit_warning("Refusing a request from uid %u pid %d: %s",
				      (unsigned)cl->caller.uid, (int)cl->caller.pid, err.msg);
		client_refuse(cl, &err);
		return;
	}
	cl->inflight = true;
	if (r < 0) {
		log_ratelimit_warning("Bad message from uid %u pid %d: %s",
				      (unsigned)cl->caller.uid, (int)cl->caller.pid, err.msg);
		reply = tk_rpc_reply_error(&err);
		client_reply(cl, reply_encode(cl->fd, reply));
		return;
	}
	if (srv.s->workers > 0 && (j = calloc(1, sizeof(*j)))) {
		*j = (struct job){ .cl = cl, .request = TAKE_PTR(request) };
		/* Read nothing more from it until this is answered; hangups still show. */
		cl->on_worker = true;
		cl->job = j;
		client_watch(cl, 0);
		if (job_queue(j, NULL) == 0)
			return;
		cl->on_worker = false;
		cl->job = NULL;
		request = TAKE_PTR(j->request);
		free(j);
		if (cl->gone) {
			client_close(cl);
			return;
		}
	}
	tk_server_state_lock();
	reply = srv.s->dispatch(srv.s->userdata, &cl->caller, request);
	tk_server_state_unlock();
	client_reply(cl, reply_encode(cl->fd, reply));
}

static void client_event(struct client *cl, uint32_t events)
{
	if (cl->closed)
		return;
	if (cl->out) {
		if (events & (EPOLLERR | EPOLLHUP))
			client_close(cl);
		else if (events & EPOLLOUT)
			client_flushed(cl, client_flush(cl));
		return;
	}
	if (cl->on_worker) {
		/* Only hangups are watched meanwhile: the fd goes, the work finishes. */
		if (events & (EPOLLERR | EPOLLHUP))
			client_close(cl);
		return;
	}
	if (events & EPOLLIN)
		serve_client(cl);
	else if (events & (EPOLLERR | EPOLLHUP))
		client_close(cl);
}

/* Too many open files: stop polling the listen fd a while instead of spinning on it. */
static void listen_pause(int error)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &srv.listen_fd };

	log_ratelimit_warning_errno(error,
				    "Cannot accept connections: %m (%u open; pausing 100 ms)",
				    srv.conns_admin + srv.conns_user);
	if (epoll_ctl(srv.epfd, EPOLL_CTL_MOD, srv.listen_fd, &ev) == 0)
		srv.listen_paused_until = now_us() + 100 * 1000;
}

static void accept_clients(void)
{
	/* A bounded batch, so a flood of connections does not starve the rest of the loop. */
	for (int i = 0; i < 64; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct client *cl;
		tk_err err = {};
		int fd;

		fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				listen_pause(-errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_ratelimit_warning_errno(-errno,
							    "Failed to accept a connection: %m");
			return;
		}
		if (!(cl = calloc(1, sizeof(*cl)))) {
			close(fd);
			return;
		}
		cl->fd = fd;
		cl->events = ev.events;
		tk_caller_identify(fd, srv.s->admin_gid, &cl->caller);
		if (tk_server_conn_acquire(&cl->caller, &err) < 0) {
			_cleanup_(json_decrefp) json_t *reply = tk_rpc_reply_error(&err);
			_cleanup_free_ char *text = reply_encode(fd, reply);

			log_ratelimit_warning("Refusing a connection from uid %u pid %d: %s",
					      (unsigned)cl->caller.uid, (int)cl->caller.pid,
					      err.msg);
			if (text)
				(void)send(fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
			close(fd);
			free(cl);
			continue;
		}
		ev.data.ptr = cl;
		if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			tk_server_conn_release(&cl->caller);
			close(fd);
			free(cl);
			continue;
		}
		cl->next = srv.clients;
		if (cl->next)
			cl->next->prev = cl;
		srv.clients = cl;
		/* Clients send their request right after connecting: serve it without another wakeup. */
		serve_client(cl);
	}
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

/* The connection budgets from the fd limit: tenant owners never take root's headroom. */
static void limits_setup(void)
{
	struct rlimit rl;
	rlim_t n = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur;
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = 1u << 20;
	if (n > 1u << 20)
		n = 1u << 20;
	/* Kept for the daemon's own files (database, loop devices, pipes to mkfs). */
	srv.max_conns_admin = n > 2 * TK_SERVER_FDS_RESERVED ? (unsigned)n - TK_SERVER_FDS_RESERVED
							     : (unsigned)n / 2;
	srv.max_conns_user = srv.max_conns_admin > 2 * TK_SERVER_FDS_ADMIN
				     ? srv.max_conns_admin - TK_SERVER_FDS_ADMIN
				     : srv.max_conns_admin / 2;
}

void tk_server_raise_fd_limit(void)
{
	struct rlimit rl;

	/* Only the soft limit: the hard one is the administrator's (LimitNOFILE=). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void pool_stop(void)
{
	pthread_mutex_lock(&srv.lock);
	srv.stopping = true;
	pthread_cond_broadcast(&srv.cond);
	pthread_mutex_unlock(&srv.lock);
	/* Queued work still runs: a create half-way must finish (or undo) before the state goes. */
	for (unsigned i = 0; i < srv.n_threads; i++)
		pthread_join(srv.threads[i], NULL);
	srv.n_threads = 0;
	jobs_collect();
}

static int loop_setup(const struct tk_server *s, int *sigfd, tk_err *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	srv.s = s;
	limits_setup();
	if (s->workers > 0 &&
	    !(srv.threads = calloc(s->workers + TK_SERVER_WORKERS_ADMIN, sizeof(pthread_t))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((*sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    (srv.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (srv.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return tk_err_set(err, -errno, "setting up the event loop: %m");
	if ((r = listen_socket(s, &srv.listen_fd, err)) < 0)
		return r;
	ev.data.ptr = &srv.listen_fd;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.listen_fd, &ev) < 0)
		return tk_err_set(err, -errno, "watching the socket: %m");
	ev.data.ptr = sigfd;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, *sigfd, &ev) < 0)
		return tk_err_set(err, -errno, "watching signals: %m");
	ev.data.ptr = &srv.done_fd;
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.done_fd, &ev) < 0)
		return tk_err_set(err, -errno, "watching the workers: %m");
	return 0;
}

/* The epoll timeout, and when (CLOCK_MONOTONIC µs, 0: never) the second source wants a run. */
static int loop_timeout(const struct tk_server *s, uint64_t *ret_extra_due)
{
	int timeout = s->extra_timeout_ms ? s->extra_timeout_ms(s->userdata) : -1;

	*ret_extra_due = timeout >= 0 ? now_us() + (uint64_t)timeout * 1000 : 0;
	if (srv.listen_paused_until) {
		uint64_t now = now_us();
		int left = now >= srv.listen_paused_until
				   ? 0
				   : (int)((srv.listen_paused_until - now + 999) / 1000);
		if (timeout < 0 || left < timeout)
			timeout = left;
	}
	return timeout;
}

static void extra_run(const struct tk_server *s)
{
	s->extra_run(s->userdata);
}

static int loop_run(const struct tk_server *s, const int *sigfd, const int *extra_fd, tk_err *err)
{
	for (;;) {
		struct epoll_event events[64];
		uint64_t extra_due;
		int n = epoll_wait(srv.epfd, events, ELEMENTSOF(events),
				   loop_timeout(s, &extra_due));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tk_err_set(err, -errno, "epoll_wait: %m");
		if (srv.listen_paused_until && now_us() >= srv.listen_paused_until)
			listen_resume();
		/* Its timers run even while other fds keep the loop busy. */
		if (s->extra_run && extra_due && now_us() >= extra_due)
			extra_run(s);
		for (int i = 0; i < n; i++) {
			void *p = events[i].data.ptr;

			if (p == sigfd) {
				log_info("%s: stopping on signal", s->name);
				return 0;
			}
			if (p == &srv.listen_fd)
				accept_clients();
			else if (p == &srv.done_fd)
				jobs_collect();
			else if (p == extra_fd)
				extra_run(s);
			else
				client_event(p, events[i].events);
		}
		clients_free_dead();
	}
}

int tk_server_run(const struct tk_server *s, tk_err *err)
{
	_cleanup_close_ int sigfd = -1;
	int extra_fd = s->extra_fd ? s->extra_fd(s->userdata) : -1;
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	if ((r = loop_setup(s, &sigfd, err)) < 0)
		goto out;
	if (extra_fd >= 0) {
		ev.data.ptr = &extra_fd;
		if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, extra_fd, &ev) < 0) {
			r = tk_err_set(err, -errno, "watching the second event source: %m");
			goto out;
		}
	}
	log_info("%s %s listening on '%s' (at most %u connections per uid, %u requests in flight "
		 "per uid, %u worker thread(s))",
		 s->name, TK_VERSION, s->socket_path, TK_SERVER_CONNS_PER_UID,
		 TK_SERVER_INFLIGHT_PER_UID, s->workers);
	notify_ready();
	r = loop_run(s, &sigfd, &extra_fd, err);
	unlink(s->socket_path);
out:
	pool_stop();
	/* The workers are gone: nothing is on one any more. */
	while (srv.clients) {
		srv.clients->on_worker = false;
		client_close(srv.clients);
	}
	clients_free_dead();
	free(srv.uids);
	srv.uids = NULL;
	srv.n_uids = 0;
	/* Callers get their answers' fds closed with the process; the loop's own go now. */
	if (srv.listen_fd >= 0)
		close(srv.listen_fd);
	if (srv.epfd >= 0)
		close(srv.epfd);
	if (srv.done_fd >= 0)
		close(srv.done_fd);
	srv.listen_fd = srv.epfd = srv.done_fd = -1;
	free(srv.threads);
	srv.threads = NULL;
	return r;
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
		/*
		 * "point@sleep": hold still there 60 s, so a test can kill the daemon half-way;
		 * "point@sleepN": N s, so that work queues up behind it meanwhile.
		 */
		if (strncmp(f + len, "@sleep", 6) == 0) {
			const char *n = f + len + 6;
			char *end;
			unsigned long seconds = strtoul(n, &end, 10);

			if (end == n)
				seconds = 60;
			if (*end != ',' && *end != '\0')
				continue;
			log_info("Fault point '%s': sleeping %lu s", point, seconds);
			sleep((unsigned)seconds);
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
	/* Any client can make requests fail as often as it likes: keep the log bounded. */
	log_ratelimit_full_errno(r == -EACCES || r == -EINVAL ? LOG_WARNING : LOG_ERR, r,
				 "Request '%s' from uid %u pid %d failed: %s", op, (unsigned)c->uid,
				 (int)c->pid, err->msg);
	return tk_rpc_reply_error(err);
}
