/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netd: arguments, signals and the request loop.  The logic lives in the other modules. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon.h"
#include "json.h"
#include "log.h"
#include "netd.h"
#include "rpc.h"
#include "server.h"
#include "tk-config.h"

static const char *arg_pool4 = "10.200.0.0/16";
static const char *arg_pool6 = "fd7e::/48";
static struct tk_daemon_args args;

enum { ARG_POOL4 = 0x200, ARG_POOL6 };

static int parse_option(int c, const char *arg)
{
	switch (c) {
	case ARG_POOL4: arg_pool4 = arg; return 0;
	case ARG_POOL6: arg_pool6 = arg; return 0;
	default: return -EINVAL;
	}
}

static const struct option options[] = {
	{ "pool4", required_argument, NULL, ARG_POOL4 },
	{ "pool6", required_argument, NULL, ARG_POOL6 },
	{},
};

/* A pool flag: what is wrong with CIDR as it parses, else what is wrong with it as a pool. */
static int parse_pool(const char *flag, const char *cidr, int family, unsigned max_len,
		      struct tk_prefix *ret, tk_err *err)
{
	int r;

	if ((r = tk_prefix_parse(cidr, ret, err)) < 0)
		return tk_err_wrap(err, r, "%s", flag);
	if (ret->addr.family != family || ret->len > max_len)
		return tk_err_set(err, -EINVAL,
				  "%s needs an IPv%d prefix of /%u or shorter, not '%s'", flag,
				  family == AF_INET ? 4 : 6, max_len, cidr);
	return 0;
}

static int setup_manager(struct manager *m, tk_err *err)
{
	int r;

	m->socket_path = args.socket;
	m->socket_group = args.socket_group;
	m->state_dir = args.state_dir;
	m->admin_gid = args.admin_gid;
	if ((r = parse_pool("--pool4", arg_pool4, AF_INET, 24, &m->pool4, err)) < 0 ||
	    (r = parse_pool("--pool6", arg_pool6, AF_INET6, 64, &m->pool6, err)) < 0)
		return r;
	return manager_open(m, err);
}

static json_t *dispatch(void *userdata, const struct tk_caller *c, json_t *request)
{
	return rpc_dispatch(userdata, c, request);
}

/* The kernel matches the database; then the DELs plugins recorded while netd was down. */
static int recover(struct manager *m, json_t *actions, tk_err *err)
{
	int r;

	if ((r = reconcile(m, actions, err)) < 0)
		return r;
	lifecycle_spool_apply(m, false);
	return 0;
}

static int run(struct manager *m, tk_err *err)
{
	const struct tk_server server = {
		.name = "netd",
		.socket_path = m->socket_path,
		.socket_group = args.socket_group,
		.admin_gid = m->admin_gid,
		.dispatch = dispatch,
		.userdata = m,
		.extra_fd = lifecycle_fd,
		.extra_run = lifecycle_run,
	};

	log_info("netd state in '%s'", m->state_dir);
	return tk_server_run(&server, err);
}

static const struct tk_daemon netd = {
	.name = "netd",
	.summary =
		"Owns per-tenant networks: bridges, veth pairs, addresses and the nftables tables\n"
		"'inet tenantkit' and 'bridge tenantkit'.",
	.socket_env = "TK_NETD_SOCKET",
	.default_socket = TK_NETD_SOCKET,
	.options_help = "      --pool4 CIDR         carve IPv4 /24 subnets from CIDR (default "
			"10.200.0.0/16)\n"
			"      --pool6 CIDR         carve IPv6 /64 subnets from CIDR (default "
			"fd7e::/48)\n",
	.options = options,
	.parse_option = parse_option,
	.open = setup_manager,
	.recover = recover,
	.serve = run,
	.close = manager_close,
};

int main(int argc, char **argv)
{
	struct manager m = {};
	int r;

	if (!tk_daemon_start(&netd, &args, argc, argv, &r))
		return r;
	return tk_daemon_run(&netd, &m);
}
