/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* volumed: arguments, recovery at start, and the request loop.  The logic lives elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "tk-config.h"
#include "volumed.h"

static const char *arg_docker_socket = TK_DOCKER_PLUGIN_SOCKET;
static const char *arg_root = TK_STATE_DIR "/volumes";
static const char *arg_backend;
static bool arg_check;
static struct tk_daemon_args args;

enum { ARG_DOCKER = 0x200, ARG_CHECK };

static int parse_option(int c, const char *arg)
{
	switch (c) {
	case ARG_DOCKER: arg_docker_socket = arg; return 0;
	case 'r': arg_root = arg; return 0;
	case 'b': arg_backend = arg; return 0;
	case ARG_CHECK: arg_check = true; return 0;
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

struct loop {
	struct manager *m;
	struct tk_http *docker;
};

static json_t *dispatch(void *userdata, const struct tk_caller *c, json_t *request)
{
	struct loop *l = userdata;
	return rpc_dispatch(l->m, c, request);
}

static int docker_fd(void *userdata)
{
	struct loop *l = userdata;
	return l->docker ? tk_http_fd(l->docker) : -1;
}

static int docker_timeout(void *userdata)
{
	struct loop *l = userdata;
	return l->docker ? tk_http_timeout_ms(l->docker) : -1;
}

static void docker_run(void *userdata)
{
	struct loop *l = userdata;
	if (l->docker)
		tk_http_run(l->docker);
}

static int run(struct manager *m, tk_err *err)
{
	struct loop l = { .m = m };
	const struct tk_server server = {
		.name = "volumed",
		.socket_path = m->socket_path,
		.socket_group = args.socket_group,
		.admin_gid = m->admin_gid,
		.dispatch = dispatch,
		.userdata = &l,
		.extra_fd = docker_fd,
		.extra_timeout_ms = docker_timeout,
		.extra_run = docker_run,
		/*
		 * mkfs, resize2fs and umount run on these, one volume each, the state lock dropped:
		 * 8 tenant owners at their in-flight limit before a ninth waits.
		 */
		.workers = 32,
	};
	int r;

	if (arg_docker_socket[0] && (r = dockerapi_start(m, arg_docker_socket, &l.docker, err)) < 0)
		return r;
	log_info("volumed: volumes under '%s' (default backend %s), state in '%s'", m->root,
		 m->default_backend->name, m->state_dir);
	r = tk_server_run(&server, err);
	l.docker = tk_http_stop(l.docker);
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
		"      --check              print which backends this host supports and exit\n",
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
