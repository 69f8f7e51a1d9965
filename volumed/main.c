/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* volumed: arguments, recovery at start, and the request loop.  The logic lives elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "daemon.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "store.h"
#include "tk-config.h"
#include "volumed.h"

static const char *arg_docker_socket = TK_DOCKER_PLUGIN_SOCKET;
static const char *arg_root = TK_STATE_DIR "/volumes";
static const char *arg_backend;
static bool arg_check;
static const char *arg_metrics; /* NULL: no metrics endpoint */
static struct tk_daemon_args args;

enum { ARG_DOCKER = 0x200, ARG_CHECK, ARG_METRICS };

static int parse_option(int c, const char *arg)
{
	switch (c) {
	case ARG_DOCKER: arg_docker_socket = arg; return 0;
	case 'r': arg_root = arg; return 0;
	case 'b': arg_backend = arg; return 0;
	case ARG_CHECK: arg_check = true; return 0;
	case ARG_METRICS:
		if (tk_metrics_arg("volumed", arg) < 0)
			return -EINVAL;
		arg_metrics = arg;
		return 0;
	default: return -EINVAL;
	}
}

static int check_args(void)
{
	if (arg_backend && !backend_by_name(arg_backend)) {
		fprintf(stderr, "volumed: unknown backend '%s' (loop, btrfs or xfs)\n",
			arg_backend);
		return -EINVAL;
	}
	return 0;
}

static const struct option options[] = {
	{ "docker-socket", required_argument, NULL, ARG_DOCKER },
	{ "root", required_argument, NULL, 'r' },
	{ "backend", required_argument, NULL, 'b' },
	{ "check", no_argument, NULL, ARG_CHECK },
	{ "metrics", required_argument, NULL, ARG_METRICS },
	{},
};

static int setup_manager(struct manager *m, tk_err *err)
{
	static char root[PATH_MAX];
	int r;

	m->root_fd = -1;
	m->socket_path = args.socket;
	m->state_dir = args.state_dir;
	m->admin_gid = args.admin_gid;
	m->root = arg_root;
	if ((r = manager_open(m, err)) < 0)
		return r;
	/* Loop devices report their backing file by its canonical path: compare like with like. */
	if (!realpath(arg_root, root))
		return tk_err_set(err, -errno, "cannot resolve volume root '%s': %m", arg_root);
	m->root = root;
	m->default_backend = arg_backend ? backend_by_name(arg_backend) : backend_select(m);
	if ((r = m->default_backend->probe(m, err)) < 0)
		return tk_err_wrap(err, r, "default backend '%s'", m->default_backend->name);
	return 0;
}

/*
 * The volume root, or on a fresh machine, where it does not exist yet, its nearest existing
 * parent: the filesystem volumed will create the root on, so what the backends say about it
 * holds for the root.  Fills dir with the canonical path of what it found.
 */
static int resolve_check_dir(const char *root, char *dir, bool *ret_parent)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s", root) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	*ret_parent = false;
	while (!realpath(path, dir)) {
		char *slash;

		if (errno != ENOENT)
			return -errno;
		/* Drop the last component (and trailing slashes): "a/b/" -> "a", "a" -> ".". */
		for (slash = path + strlen(path); slash > path && slash[-1] == '/'; slash--)
			;
		*slash = '\0';
		slash = strrchr(path, '/');
		if (!slash)
			snprintf(path, sizeof(path), ".");
		else
			slash[slash == path] = '\0'; /* "/a" -> "/" */
		*ret_parent = true;
	}
	return 0;
}

/* Reads nothing and writes nothing: only looks at the volume root (or where it will be). */
static int check_backends(struct manager *m)
{
	static char root[PATH_MAX];
	_cleanup_close_ int root_fd = -1;
	const struct backend *b;
	bool parent;
	int supported = 0, r;

	if ((r = resolve_check_dir(arg_root, root, &parent)) < 0) {
		fprintf(stderr, "volumed: cannot resolve volume root '%s': %s\n", arg_root,
			strerror(-r));
		return EXIT_FAILURE;
	}
	if ((root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "volumed: cannot open '%s': %m\n", root);
		return EXIT_FAILURE;
	}
	m->root = root;
	m->root_fd = root_fd;
	if (parent)
		printf("volume root: %s does not exist yet: checked its nearest existing parent\n"
		       "             %s, the filesystem it would be created on\n",
		       arg_root, m->root);
	else
		printf("volume root: %s\n", m->root);
	for (size_t i = 0; (b = backend_at(i)); i++) {
		tk_err err = {};
		if (b->probe(m, &err) >= 0) {
			printf("%-6s supported%s\n", b->name,
			       b == backend_select(m) ? " (default here)" : "");
			supported++;
		} else {
			printf("%-6s not supported: %s\n", b->name, err.msg);
		}
	}
	return supported > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * The server's extra event source: an epoll set of the Docker plugin socket's and the metrics
 * endpoint's, both run on every wake-up (libmicrohttpd also closes idle connections then).
 */
struct loop {
	struct manager *m;
	struct tk_http *docker;
	struct tk_http *metrics; /* --metrics */
	int epfd;
};

static json_t *dispatch(void *userdata, const struct tk_caller *c, json_t *request)
{
	struct loop *l = userdata;
	return rpc_dispatch(l->m, c, request);
}

static int loop_fd(void *userdata)
{
	return ((struct loop *)userdata)->epfd;
}

static int loop_timeout(void *userdata)
{
	struct loop *l = userdata;
	int a = l->docker ? tk_http_timeout_ms(l->docker) : -1;
	int b = l->metrics ? tk_http_timeout_ms(l->metrics) : -1;

	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static void loop_run(void *userdata)
{
	struct loop *l = userdata;
	struct epoll_event ev[2];

	(void)epoll_wait(l->epfd, ev, 2, 0); /* level-triggered: only to clear the wake-up */
	if (l->docker)
		tk_http_run(l->docker);
	if (l->metrics)
		tk_http_run(l->metrics);
}

/* volumed's metrics are its volume.stats (stats.c). */
static int metrics_write(void *userdata, struct tk_prom *p, tk_err *err)
{
	return volume_stats_metrics(((struct loop *)userdata)->m, p, err);
}

static int loop_add(struct loop *l, struct tk_http *h, tk_err *err)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, tk_http_fd(h), &ev) < 0)
		return tk_err_set(err, -errno, "epoll_ctl: %m");
	return 0;
}

static int loop_open(struct loop *l, tk_err *err)
{
	int r;

	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return tk_err_set(err, -errno, "epoll_create1: %m");
	if (arg_docker_socket[0] &&
	    ((r = dockerapi_start(l->m, arg_docker_socket, &l->docker, err)) < 0 ||
	     (r = loop_add(l, l->docker, err)) < 0))
		return r;
	if (arg_metrics && ((r = tk_metrics_start(arg_metrics, l->m->admin_gid, metrics_write, l,
						  &l->metrics, err)) < 0 ||
			    (r = loop_add(l, l->metrics, err)) < 0))
		return r;
	return 0;
}

static int run(struct manager *m, tk_err *err)
{
	struct loop l = { .m = m, .epfd = -1 };
	const struct tk_server server = {
		.name = "volumed",
		.socket_path = m->socket_path,
		.socket_group = args.socket_group,
		.admin_gid = m->admin_gid,
		.dispatch = dispatch,
		.userdata = &l,
		.extra_fd = loop_fd,
		.extra_timeout_ms = loop_timeout,
		.extra_run = loop_run,
		/*
		 * mkfs, resize2fs and umount run on these, one volume each, the state lock dropped:
		 * 8 tenant owners at their in-flight limit before a ninth waits.
		 */
		.workers = 32,
	};
	int r;

	if ((r = loop_open(&l, err)) >= 0) {
		log_info("volumed: volumes under '%s' (default backend %s), state in '%s'", m->root,
			 m->default_backend->name, m->state_dir);
		tk_store_set_guard(m->store, tk_server_state_locked);
		r = tk_server_run(&server, err);
	}
	l.docker = tk_http_stop(l.docker);
	l.metrics = tk_http_stop(l.metrics);
	if (l.epfd >= 0)
		close(l.epfd);
	return r;
}

static const struct tk_daemon volumed = {
	.name = "volumed",
	.summary =
		"Owns per-tenant volumes with hard size limits (loop images, btrfs qgroups, XFS\n"
		"project quotas) and serves them to podman and Docker as a volume plugin.",
	.socket_env = "TK_VOLUMED_SOCKET",
	.default_socket = TK_VOLUMED_SOCKET,
	.options_help =
		"      --docker-socket PATH serve the Docker volume-plugin API on PATH\n"
		"                           (default " TK_DOCKER_PLUGIN_SOCKET
		"; \"\" to not serve it)\n"
		"  -r, --root DIR           keep volumes under DIR (default " TK_STATE_DIR
		"/volumes)\n"
		"  -b, --backend NAME       default backend: loop, btrfs or xfs (default: btrfs "
		"when\n"
		"                           the root is on btrfs, xfs with project quotas, else "
		"loop)\n"
		"      --check              print which backends this host supports and exit\n"
		"      --metrics ADDR       serve what each volume and tenant uses against its\n"
		"                           limits in the Prometheus text format at\n"
		"                           http://ADDR/metrics; ADDR is unix:/PATH,\n"
		"                           127.0.0.1:PORT or [::1]:PORT (default: off)\n",
	.short_options = "r:b:",
	.options = options,
	.parse_option = parse_option,
	.check = check_args,
	.open = setup_manager,
	.recover = volumes_recover,
	.serve = run,
	.close = manager_close,
};

int main(int argc, char **argv)
{
	struct manager m = { .root_fd = -1 };
	int r;

	if (!tk_daemon_start(&volumed, &args, argc, argv, &r))
		return r;
	if (arg_check)
		return check_backends(&m);
	return tk_daemon_run(&volumed, &m);
}
