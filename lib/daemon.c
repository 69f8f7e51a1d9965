/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemons' shared skeleton: common flags, start, error path, rpc dispatch. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "json.h"
#include "rpc.h"
#include "store.h"
#include "tk-config.h"

static const struct {
	const char *op;
	int (*fn)(struct tk_tenants *ts, const struct tk_caller *c, json_t *args, json_t **ret,
		  tk_err *err);
} tenant_ops[] = {
	{ "tenant.create", tk_tenant_op_create },
	{ "tenant.list", tk_tenant_op_list },
	{ "tenant.inspect", tk_tenant_op_inspect },
	{ "tenant.delete", tk_tenant_op_delete },
};

json_t *tk_rpc_dispatch(const struct tk_rpc_handler *handlers, size_t n_handlers, struct manager *m,
			struct tk_tenants *tenants, const struct tk_caller *c, json_t *request)
{
	json_t *args, *result = NULL;
	const char *op = "?";
	tk_err err = {};
	int r;

	if ((r = tk_rpc_parse_request(request, &op, &args, &err)) < 0)
		return tk_server_reply(op, r, NULL, c, &err);
	for (size_t i = 0; i < n_handlers; i++)
		if (strcmp(handlers[i].op, op) == 0) {
			r = handlers[i].fn(m, c, args, &result, &err);
			return tk_server_reply(op, r, result, c, &err);
		}
	for (size_t i = 0; tenants && i < ELEMENTSOF(tenant_ops); i++)
		if (strcmp(tenant_ops[i].op, op) == 0) {
			r = tenant_ops[i].fn(tenants, c, args, &result, &err);
			return tk_server_reply(op, r, result, c, &err);
		}
	r = tk_err_set(&err, -EOPNOTSUPP, "unknown op '%s'", op);
	return tk_server_reply(op, r, NULL, c, &err);
}

int tk_daemon_open_state(const char *state_dir, const char *db_file, const char *const *migrations,
			 size_t n_migrations, const struct tk_tenant_kind *kind,
			 struct tk_store **ret_store, struct tk_tenants *tenants, tk_err *err)
{
	char path[4096];
	int r;

	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create state directory '%s': %m", state_dir);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, db_file) >= sizeof(path))
		return tk_err_set(err, -ENAMETOOLONG, "state directory path too long");
	if ((r = tk_store_open(path, migrations, n_migrations, ret_store, err)) < 0)
		return r;
	*tenants = (struct tk_tenants){ .kind = kind, .store = *ret_store };
	return tk_tenants_load(tenants, err);
}

static void help(const struct tk_daemon *d)
{
	printf("Usage: %s [OPTIONS]\n\n%s\n\n"
	       "  -s, --socket PATH        listen on PATH (default %s, env %s)\n"
	       "  -d, --state-dir DIR      keep %s.db in DIR (default %s)\n"
	       "%s"
	       "  -g, --admin-group GROUP  members of GROUP may manage every tenant\n"
	       "      --socket-group GROUP give GROUP access to the socket (tenant owners)\n"
	       "      --log-level LEVEL    err, warning, info (default) or debug\n"
	       "  -h, --help               show this help\n"
	       "      --version            show the version\n",
	       d->name, d->summary, d->default_socket, d->socket_env, d->name, TK_STATE_DIR,
	       d->options_help ? d->options_help : "");
}

enum { ARG_LOG_LEVEL = 0x100, ARG_VERSION, ARG_SOCKET_GROUP };

static const struct option common_options[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "state-dir", required_argument, NULL, 'd' },
	{ "admin-group", required_argument, NULL, 'g' },
	{ "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
	{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, ARG_VERSION },
};

/* 1 to go on, 0 after --help or --version, -EINVAL after printing why not. */
static int parse_args(const struct tk_daemon *d, struct tk_daemon_args *a, int argc, char **argv)
{
	_cleanup_free_ struct option *options = NULL;
	char shortopts[64];
	size_t n = 0;
	int c;

	while (d->options && d->options[n].name)
		n++;
	options = calloc(ELEMENTSOF(common_options) + n + 1, sizeof(*options));
	if (!options) {
		fprintf(stderr, "%s: out of memory\n", d->name);
		return -ENOMEM;
	}
	memcpy(options, common_options, sizeof(common_options));
	if (n)
		memcpy(options + ELEMENTSOF(common_options), d->options, n * sizeof(*options));
	snprintf(shortopts, sizeof(shortopts), "s:d:g:h%s", d->short_options ?: "");
	while ((c = getopt_long(argc, argv, shortopts, options, NULL)) >= 0) {
		switch (c) {
		case 's': a->socket = optarg; break;
		case 'd': a->state_dir = optarg; break;
		case 'g': a->admin_group = optarg; break;
		case ARG_SOCKET_GROUP: a->socket_group = optarg; break;
		case ARG_LOG_LEVEL:
			if ((a->log_level = tk_log_level_parse(optarg)) < 0) {
				fprintf(stderr, "%s: unknown log level '%s'\n", d->name, optarg);
				return -EINVAL;
			}
			break;
		case 'h': help(d); return 0;
		case ARG_VERSION: printf("%s %s\n", d->name, TK_VERSION); return 0;
		case '?': fprintf(stderr, "Try '%s --help'.\n", d->name); return -EINVAL;
		default:
			if (!d->parse_option || d->parse_option(c, optarg) < 0)
				return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", d->name, argv[optind]);
		return -EINVAL;
	}
	return d->check && d->check() < 0 ? -EINVAL : 1;
}

bool tk_daemon_start(const struct tk_daemon *d, struct tk_daemon_args *a, int argc, char **argv,
		     int *ret_exit)
{
	const char *env = getenv(d->socket_env);
	int r;

	*a = (struct tk_daemon_args){
		.socket = env && *env ? env : d->default_socket,
		.state_dir = TK_STATE_DIR,
		.log_level = LOG_INFO,
		.admin_gid = (gid_t)-1,
	};
	*ret_exit = EXIT_FAILURE;
	if (getuid() != geteuid() || getgid() != getegid()) {
		fprintf(stderr, "%s: refusing to run setuid or setgid\n", d->name);
		return false;
	}
	if ((r = parse_args(d, a, argc, argv)) <= 0) {
		*ret_exit = r < 0 ? 2 : EXIT_SUCCESS;
		return false;
	}
	if (a->admin_group && tk_parse_gid(a->admin_group, &a->admin_gid) < 0) {
		fprintf(stderr, "%s: unknown admin group '%s'\n", d->name, a->admin_group);
		return false;
	}
	tk_log_setup(a->log_level, getenv("JOURNAL_STREAM") != NULL);
	return true;
}

int tk_daemon_run(const struct tk_daemon *d, struct manager *m)
{
	_cleanup_(json_decrefp) json_t *actions = json_array();
	tk_err err = {};
	sigset_t stop;
	int r;

	/*
	 * A stop during start-up waits for the loop's signalfd (lib/server.c), which leaves
	 * cleanly: a cluster host that has registered revokes its lease instead of dying by the
	 * default action and leaving it to expire.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	tk_server_raise_fd_limit();
	if (!actions)
		r = tk_err_set(&err, -ENOMEM, "out of memory");
	else if ((r = d->open(m, &err)) >= 0 && (r = d->recover(m, actions, &err)) >= 0)
		r = d->serve(m, &err);
	if (r < 0)
		r = tk_daemon_fail(d, r, &err);
	else
		r = EXIT_SUCCESS;
	d->close(m);
	return r;
}

int tk_daemon_fail(const struct tk_daemon *d, int r, const tk_err *err)
{
	log_error_errno(r, "%s: %s", d->name, tk_err_text(err, r));
	return EXIT_FAILURE;
}
