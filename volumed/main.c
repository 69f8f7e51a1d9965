/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* volumed: arguments, recovery at start, and the request loop.  The logic lives elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "tk-config.h"
#include "volumed.h"

static const char *arg_socket = TK_VOLUMED_SOCKET;
static const char *arg_docker_socket = TK_DOCKER_PLUGIN_SOCKET;
static const char *arg_state_dir = TK_STATE_DIR;
static const char *arg_root = TK_STATE_DIR "/volumes";
static const char *arg_backend;
static const char *arg_admin_group;
static const char *arg_socket_group;
static int arg_log_level = LOG_INFO;
static bool arg_check;

static void help(void)
{
	printf("Usage: volumed [OPTIONS]\n\n"
	       "Owns per-tenant volumes with hard size limits (loop images, btrfs qgroups, XFS\n"
	       "project quotas) and serves them to podman and Docker as a volume plugin.\n\n"
	       "  -s, --socket PATH        listen on PATH (default %s, env TK_VOLUMED_SOCKET)\n"
	       "      --docker-socket PATH serve the Docker volume-plugin API on PATH\n"
	       "                           (default %s; \"\" to not serve it)\n"
	       "  -d, --state-dir DIR      keep volumed.db in DIR (default %s)\n"
	       "  -r, --root DIR           keep volumes under DIR (default %s/volumes)\n"
	       "  -b, --backend NAME       default backend: loop, btrfs or xfs (default: btrfs "
	       "when\n"
	       "                           the root is on btrfs, xfs with project quotas, else "
	       "loop)\n"
	       "      --check              print which backends this host supports and exit\n"
	       "  -g, --admin-group GROUP  members of GROUP may manage every tenant\n"
	       "      --socket-group GROUP give GROUP access to the socket (tenant owners)\n"
	       "      --log-level LEVEL    err, warning, info (default) or debug\n"
	       "  -h, --help               show this help\n"
	       "      --version            show the version\n",
	       TK_VOLUMED_SOCKET, TK_DOCKER_PLUGIN_SOCKET, TK_STATE_DIR, TK_STATE_DIR);
}

static int parse_args(int argc, char **argv)
{
	enum { ARG_LOG_LEVEL = 0x100, ARG_VERSION, ARG_SOCKET_GROUP, ARG_DOCKER, ARG_CHECK };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "docker-socket", required_argument, NULL, ARG_DOCKER },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "root", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "check", no_argument, NULL, ARG_CHECK },
		{ "admin-group", required_argument, NULL, 'g' },
		{ "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{}
	};
	const char *env = getenv("TK_VOLUMED_SOCKET");
	int c;

	if (env && *env)
		arg_socket = env;
	while ((c = getopt_long(argc, argv, "s:d:r:b:g:h", options, NULL)) >= 0) {
		switch (c) {
		case 's': arg_socket = optarg; break;
		case ARG_DOCKER: arg_docker_socket = optarg; break;
		case 'd': arg_state_dir = optarg; break;
		case 'r': arg_root = optarg; break;
		case 'b': arg_backend = optarg; break;
		case ARG_CHECK: arg_check = true; break;
		case 'g': arg_admin_group = optarg; break;
		case ARG_SOCKET_GROUP: arg_socket_group = optarg; break;
		case ARG_LOG_LEVEL:
			if ((arg_log_level = tk_log_level_parse(optarg)) < 0) {
				fprintf(stderr, "volumed: unknown log level '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'h': help(); return 0;
		case ARG_VERSION: printf("volumed %s\n", TK_VERSION); return 0;
		default: fprintf(stderr, "Try 'volumed --help'.\n"); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "volumed: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (arg_backend && !backend_by_name(arg_backend)) {
		fprintf(stderr, "volumed: unknown backend '%s' (loop, btrfs or xfs)\n",
			arg_backend);
		return -EINVAL;
	}
	return 1;
}

static int setup_manager(struct manager *m, tk_err *err)
{
	static char root[PATH_MAX];
	int r;

	m->root_fd = -1;
	m->socket_path = arg_socket;
	m->state_dir = arg_state_dir;
	m->admin_gid = (gid_t)-1;
	if (arg_admin_group && tk_parse_gid(arg_admin_group, &m->admin_gid) < 0)
		return tk_err_set(err, -EINVAL, "unknown admin group '%s'", arg_admin_group);
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

/* Reads nothing and writes nothing: only looks at the volume root. */
static int check_backends(struct manager *m)
{
	static char root[PATH_MAX];
	_cleanup_close_ int root_fd = -1;
	const struct backend *b;
	int supported = 0;

	if (!realpath(arg_root, root) ||
	    (root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "volumed: cannot open volume root '%s': %m\n", arg_root);
		return EXIT_FAILURE;
	}
	m->root = root;
	m->root_fd = root_fd;
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
	struct dockerapi *docker;
};

static json_t *dispatch(void *userdata, const struct tk_caller *c, json_t *request)
{
	struct loop *l = userdata;
	return rpc_dispatch(l->m, c, request);
}

static int docker_fd(void *userdata)
{
	struct loop *l = userdata;
	return l->docker ? dockerapi_fd(l->docker) : -1;
}

static int docker_timeout(void *userdata)
{
	struct loop *l = userdata;
	return l->docker ? dockerapi_timeout_ms(l->docker) : -1;
}

static void docker_run(void *userdata)
{
	struct loop *l = userdata;
	if (l->docker)
		dockerapi_run(l->docker);
}

static int run(struct manager *m, tk_err *err)
{
	struct loop l = { .m = m };
	const struct tk_server server = {
		.name = "volumed",
		.socket_path = m->socket_path,
		.socket_group = arg_socket_group,
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
	l.docker = dockerapi_stop(l.docker);
	return r;
}

int main(int argc, char **argv)
{
	struct manager m = { .root_fd = -1 };
	tk_err err = {};
	json_t *actions;
	int r;

	if (getuid() != geteuid() || getgid() != getegid()) {
		fprintf(stderr, "volumed: refusing to run setuid or setgid\n");
		return EXIT_FAILURE;
	}
	if ((r = parse_args(argc, argv)) <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	tk_log_setup(arg_log_level, getenv("JOURNAL_STREAM") != NULL);

	if (arg_check)
		return check_backends(&m);
	tk_server_raise_fd_limit();
	if ((r = setup_manager(&m, &err)) < 0)
		goto fail;
	actions = json_array();
	r = volumes_recover(&m, actions, &err);
	json_decref(actions);
	if (r < 0)
		goto fail;
	if ((r = run(&m, &err)) < 0)
		goto fail;
	manager_close(&m);
	return EXIT_SUCCESS;
fail:
	log_error_errno(r, "volumed: %s", err.msg[0] ? err.msg : "failed: %m");
	manager_close(&m);
	return EXIT_FAILURE;
}
