/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netd: arguments, signals and the request loop.  The logic lives in the other modules. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "netd.h"
#include "rpc.h"
#include "server.h"
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
	m->socket_group = arg_socket_group;
	m->state_dir = arg_state_dir;
	m->admin_gid = (gid_t)-1;
	if (arg_admin_group && tk_parse_gid(arg_admin_group, &m->admin_gid) < 0)
		return tk_err_set(err, -EINVAL, "unknown admin group '%s'", arg_admin_group);
	if ((r = tk_prefix_parse(arg_pool4, &m->pool4, err)) < 0 ||
	    m->pool4.addr.family != AF_INET || m->pool4.len > 24)
		return tk_err_set(err, -EINVAL, "--pool4 needs an IPv4 prefix of /24 or shorter");
	if ((r = tk_prefix_parse(arg_pool6, &m->pool6, err)) < 0 ||
	    m->pool6.addr.family != AF_INET6 || m->pool6.len > 64)
		return tk_err_set(err, -EINVAL, "--pool6 needs an IPv6 prefix of /64 or shorter");
	return manager_open(m, err);
}

static json_t *dispatch(void *userdata, const struct tk_caller *c, json_t *request)
{
	return rpc_dispatch(userdata, c, request);
}

static int run(struct manager *m, tk_err *err)
{
	const struct tk_server server = {
		.name = "netd",
		.socket_path = m->socket_path,
		.socket_group = arg_socket_group,
		.admin_gid = m->admin_gid,
		.dispatch = dispatch,
		.userdata = m,
		.extra_fd = lifecycle_fd,
		.extra_run = lifecycle_run,
	};

	log_info("netd state in '%s'", m->state_dir);
	return tk_server_run(&server, err);
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
	/* DELs that plugins recorded while netd was down, before any new request. */
	lifecycle_spool_apply(&m, false);
	if ((r = run(&m, &err)) < 0)
		goto fail;
	manager_close(&m);
	return EXIT_SUCCESS;
fail:
	log_error_errno(r, "netd: %s", err.msg[0] ? err.msg : "failed: %m");
	manager_close(&m);
	return EXIT_FAILURE;
}
