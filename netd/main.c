/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netd: arguments, signals and the request loop.  The logic lives in the other modules. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "netd.h"
#include "rpc.h"
#include "tk-config.h"

static const char *arg_socket = TK_NETD_SOCKET;
static const char *arg_state_dir = TK_STATE_DIR;
static const char *arg_pool4 = "10.200.0.0/16";
static const char *arg_pool6 = "fd7e::/48";
static const char *arg_admin_group;
static const char *arg_socket_group;
static int arg_log_level = LOG_INFO;

static void help(void)
{
	printf("Usage: netd [OPTIONS]\n\n"
	       "Owns per-tenant networks: bridges, veth pairs, addresses and the nftables tables\n"
	       "'inet tenantkit' and 'bridge tenantkit'.\n\n"
	       "  -s, --socket PATH       listen on PATH (default %s, env TK_NETD_SOCKET)\n"
	       "  -d, --state-dir DIR     keep netd.db in DIR (default %s)\n"
	       "      --pool4 CIDR        carve IPv4 /24 subnets from CIDR (default %s)\n"
	       "      --pool6 CIDR        carve IPv6 /64 subnets from CIDR (default %s)\n"
	       "  -g, --admin-group GROUP members of GROUP may manage every tenant\n"
	       "      --socket-group GROUP give GROUP access to the socket (tenant owners)\n"
	       "      --log-level LEVEL   err, warning, info (default) or debug\n"
	       "  -h, --help              show this help\n"
	       "      --version           show the version\n",
	       TK_NETD_SOCKET, TK_STATE_DIR, arg_pool4, arg_pool6);
}

static int parse_gid(const char *s, gid_t *ret)
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

static int parse_args(int argc, char **argv)
{
	enum { ARG_POOL4 = 0x100, ARG_POOL6, ARG_LOG_LEVEL, ARG_VERSION, ARG_SOCKET_GROUP };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "admin-group", required_argument, NULL, 'g' },
		{ "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
		{ "pool4", required_argument, NULL, ARG_POOL4 },
		{ "pool6", required_argument, NULL, ARG_POOL6 },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{}
	};
	const char *env = getenv("TK_NETD_SOCKET");
	int c;

	if (env && *env)
		arg_socket = env;
	while ((c = getopt_long(argc, argv, "s:d:g:h", options, NULL)) >= 0) {
		switch (c) {
		case 's': arg_socket = optarg; break;
		case 'd': arg_state_dir = optarg; break;
		case 'g': arg_admin_group = optarg; break;
		case ARG_SOCKET_GROUP: arg_socket_group = optarg; break;
		case ARG_POOL4: arg_pool4 = optarg; break;
		case ARG_POOL6: arg_pool6 = optarg; break;
		case ARG_LOG_LEVEL:
			if ((arg_log_level = tk_log_level_parse(optarg)) < 0) {
				fprintf(stderr, "netd: unknown log level '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'h': help(); return 0;
		case ARG_VERSION: printf("netd %s\n", TK_VERSION); return 0;
		default: fprintf(stderr, "Try 'netd --help'.\n"); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 1;
}

static int setup_manager(struct manager *m, tk_err *err)
{
	int r;

	m->socket_path = arg_socket;
	m->state_dir = arg_state_dir;
	m->admin_gid = (gid_t)-1;
	if (arg_admin_group && parse_gid(arg_admin_group, &m->admin_gid) < 0)
		return tk_err_set(err, -EINVAL, "unknown admin group '%s'", arg_admin_group);
	if ((r = tk_prefix_parse(arg_pool4, &m->pool4, err)) < 0 ||
	    m->pool4.addr.family != AF_INET || m->pool4.len > 24)
		return tk_err_set(err, -EINVAL, "--pool4 needs an IPv4 prefix of /24 or shorter");
	if ((r = tk_prefix_parse(arg_pool6, &m->pool6, err)) < 0 ||
	    m->pool6.addr.family != AF_INET6 || m->pool6.len > 64)
		return tk_err_set(err, -EINVAL, "--pool6 needs an IPv6 prefix of /64 or shorter");
	return manager_open(m, err);
}

/* The admin group counts through the peer's supplementary groups as well. */
static void identify(const struct manager *m, int fd, struct caller *c)
{
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	(void)tk_rpc_peer_cred(fd, &cred, NULL);
	*c = (struct caller){ .pid = cred.pid, .uid = cred.uid, .gid = cred.gid };
	c->admin = cred.uid == 0 || (m->admin_gid != (gid_t)-1 && cred.gid == m->admin_gid);
	if (!c->admin && m->admin_gid != (gid_t)-1 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (groups[i] == m->admin_gid)
				c->admin = true;
}

struct client {
	int fd;
	struct caller caller;
};

static void client_free(int epfd, struct client *cl)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	free(cl);
}

static void serve_client(struct manager *m, int epfd, struct client *cl);

static int accept_client(struct manager *m, int epfd, int listen_fd)
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
	identify(m, fd, &cl->caller);
	ev.data.ptr = cl;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(cl);
		return -errno;
	}
	/* Clients send their request right after connecting: serve it without another wakeup. */
	serve_client(m, epfd, cl);
	return 0;
}

static void serve_client(struct manager *m, int epfd, struct client *cl)
{
	_cleanup_(json_decrefp) json_t *request = NULL, *reply = NULL;
	tk_err err = {};
	int r;

	r = tk_rpc_recv(cl->fd, &request, &err);
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
		reply = rpc_dispatch(m, &cl->caller, request);
	}
	if (!reply || tk_rpc_send(cl->fd, reply, &err) < 0)
		client_free(epfd, cl);
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

static int run(struct manager *m, tk_err *err)
{
	_cleanup_close_ int listen_fd = -1, epfd = -1, sigfd = -1;
	struct epoll_event ev = { .events = EPOLLIN };
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
	if ((r = tk_rpc_listen(m->socket_path, 0660, &listen_fd, err)) < 0)
		return r;
	if (arg_socket_group) {
		gid_t gid;
		if (parse_gid(arg_socket_group, &gid) < 0)
			return tk_err_set(err, -EINVAL, "unknown socket group '%s'",
					  arg_socket_group);
		if (chown(m->socket_path, (uid_t)-1, gid) < 0)
			return tk_err_set(err, -errno, "cannot give group %u the socket '%s': %m",
					  (unsigned)gid, m->socket_path);
	}
	ev.data.ptr = &listen_fd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
	ev.data.ptr = &sigfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev);

	log_info("netd %s listening on '%s', state in '%s'", TK_VERSION, m->socket_path,
		 m->state_dir);
	notify_ready();
	for (;;) {
		struct epoll_event events[16];
		int n = epoll_wait(epfd, events, ELEMENTSOF(events), -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tk_err_set(err, -errno, "epoll_wait: %m");
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr == &sigfd) {
				log_info("Stopping on signal; the kernel keeps every network "
					 "running");
				unlink(m->socket_path);
				return 0;
			}
			if (events[i].data.ptr == &listen_fd) {
				if ((r = accept_client(m, epfd, listen_fd)) < 0)
					log_warning_errno(r, "Failed to accept a connection: %m");
				continue;
			}
			serve_client(m, epfd, events[i].data.ptr);
		}
	}
}

int main(int argc, char **argv)
{
	struct manager m = {};
	tk_err err = {};
	json_t *actions;
	int r;

	if (getuid() != geteuid() || getgid() != getegid()) {
		fprintf(stderr, "netd: refusing to run setuid or setgid\n");
		return EXIT_FAILURE;
	}
	if ((r = parse_args(argc, argv)) <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	tk_log_setup(arg_log_level, getenv("JOURNAL_STREAM") != NULL);

	if ((r = setup_manager(&m, &err)) < 0)
		goto fail;
	actions = json_array();
	r = reconcile(&m, actions, &err);
	json_decref(actions);
	if (r < 0)
		goto fail;
	if ((r = run(&m, &err)) < 0)
		goto fail;
	manager_close(&m);
	return EXIT_SUCCESS;
fail:
	log_error_errno(r, "netd: %s", err.msg[0] ? err.msg : "failed: %m");
	manager_close(&m);
	return EXIT_FAILURE;
}
