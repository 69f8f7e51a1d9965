/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netd: arguments, signals and the request loop.  The logic lives in the other modules. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "http.h"
#include "json-arena.h"
#include "json.h"
#include "log.h"
#include "netd.h"
#include "metrics.h"
#include "rpc.h"
#include "server.h"
#include "store.h"
#include "tk-config.h"

/* 10.200.0.0-10.215.255.255: 4,096 /24 networks, the first of them where 0.1 carved them. */
static const char *arg_pool4 = "10.200.0.0/13,10.208.0.0/13";
static const char *arg_pool6 = "fd7e::/48";
static const char *arg_allow_subnets;	  /* NULL: the pools */
static int64_t arg_max_addresses4 = 4096; /* 16 /24 networks */
static int64_t arg_max_prefixes6 = 256;	  /* a /56 */
static unsigned arg_max_ports = 1000;
static const char *arg_docker_socket = TK_DOCKER_NET_SOCKET; /* "none" or "": not served */
static bool arg_max_ports_set;
static struct cluster_config arg_cluster = { .ttl = 10 };
static const char *arg_cluster_config;
static const char *arg_capacity[_SHAPING_DIR_MAX]; /* NULL: none */
static const char *arg_metrics;			   /* NULL: no metrics endpoint */
static int lock_fd[2] = { -1, -1 };		   /* held until exit */
static struct tk_daemon_args args;
static int arg_drop_log = DROPLOG_GROUP_DEFAULT; /* -1: off */
static bool arg_drop_log_external;
static const char *arg_nat_uplinks[FIREWALL_UPLINKS_MAX];
static size_t arg_n_nat_uplinks;

enum {
	ARG_POOL4 = 0x200,
	ARG_POOL6,
	ARG_ALLOW,
	ARG_MAX4,
	ARG_MAX6,
	ARG_MAX_PORTS,
	ARG_CLUSTER,
	ARG_HOST_NAME,
	ARG_UNDERLAY,
	ARG_CLUSTER_TTL,
	ARG_CLUSTER_CONFIG,
	ARG_DOCKER,
	ARG_EGRESS_CAPACITY,
	ARG_INGRESS_CAPACITY,
	ARG_DROP_LOG,
	ARG_DROP_LOG_EXTERNAL,
	ARG_METRICS,
	ARG_NAT_UPLINK,
};

static int parse_number(int c, const char *arg)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || v < -1 || v > (1LL << 40) ||
	    (c == ARG_MAX_PORTS && (v < 1 || v > TK_BRIDGE_MAX_PORTS))) {
		fprintf(stderr, "netd: invalid number '%s' (%s)\n", arg,
			c == ARG_MAX_PORTS ? "1..1023, the ports a Linux bridge takes"
					   : "-1 for unlimited, or 0..2^40");
		return -EINVAL;
	}
	if (c == ARG_MAX4)
		arg_max_addresses4 = v;
	else if (c == ARG_MAX6)
		arg_max_prefixes6 = v;
	else {
		arg_max_ports = (unsigned)v;
		arg_max_ports_set = true;
	}
	return 0;
}

/* --nat-uplink IFNAME: a name a link may have, not one of netd's own (tk-N, tkvN...) */
static int parse_nat_uplink(const char *arg)
{
	tk_err err = {};

	if (tk_ifname_validate(arg, &err) < 0 ||
	    (strncmp(arg, "tk", 2) == 0 &&
	     tk_err_set(&err, -EINVAL, "names beginning tk are netd's own links") < 0) ||
	    (arg_n_nat_uplinks == FIREWALL_UPLINKS_MAX &&
	     tk_err_set(&err, -E2BIG, "at most %d uplinks", FIREWALL_UPLINKS_MAX) < 0)) {
		fprintf(stderr, "netd: invalid --nat-uplink '%s': %s\n", arg, err.msg);
		return -EINVAL;
	}
	arg_nat_uplinks[arg_n_nat_uplinks++] = arg;
	return 0;
}

static int parse_option(int c, const char *arg)
{
	switch (c) {
	case ARG_POOL4: arg_pool4 = arg; return 0;
	case ARG_POOL6: arg_pool6 = arg; return 0;
	case ARG_DOCKER: arg_docker_socket = arg; return 0;
	case ARG_ALLOW: arg_allow_subnets = arg; return 0;
	case ARG_MAX4:
	case ARG_MAX6:
	case ARG_MAX_PORTS: return parse_number(c, arg);
	case ARG_CLUSTER: arg_cluster.endpoints = arg; return 0;
	case ARG_HOST_NAME: arg_cluster.host = arg; return 0;
	case ARG_UNDERLAY: arg_cluster.underlay = arg; return 0;
	case ARG_CLUSTER_CONFIG: arg_cluster_config = arg; return 0;
	case ARG_CLUSTER_TTL: {
		char *end;
		unsigned long v = strtoul(arg, &end, 10);

		if (end == arg || *end || v < 2 || v > 10) {
			fprintf(stderr, "netd: invalid --cluster-ttl '%s' (2..10 seconds)\n", arg);
			return -EINVAL;
		}
		arg_cluster.ttl = (unsigned)v;
		return 0;
	}
	case ARG_DROP_LOG: {
		char *end;
		unsigned long v = strtoul(arg, &end, 10);

		if (strcmp(arg, "off") == 0) {
			arg_drop_log = -1;
			return 0;
		}
		if (end == arg || *end || arg[0] == '-' || v > 65535) {
			fprintf(stderr,
				"netd: invalid --drop-log '%s' (an nflog group 0..65535, or off)\n",
				arg);
			return -EINVAL;
		}
		arg_drop_log = (int)v;
		return 0;
	}
	case ARG_DROP_LOG_EXTERNAL: arg_drop_log_external = true; return 0;
	case ARG_EGRESS_CAPACITY: arg_capacity[SHAPING_EGRESS] = arg; return 0;
	case ARG_INGRESS_CAPACITY: arg_capacity[SHAPING_INGRESS] = arg; return 0;
	case ARG_METRICS:
		if (tk_metrics_arg("netd", arg) < 0)
			return -EINVAL;
		arg_metrics = arg;
		return 0;
	case ARG_NAT_UPLINK: return parse_nat_uplink(arg);
	default: return -EINVAL;
	}
}

static const struct option options[] = {
	{ "pool4", required_argument, NULL, ARG_POOL4 },
	{ "pool6", required_argument, NULL, ARG_POOL6 },
	{ "allow-subnets", required_argument, NULL, ARG_ALLOW },
	{ "tenant-max-addresses4", required_argument, NULL, ARG_MAX4 },
	{ "tenant-max-prefixes6", required_argument, NULL, ARG_MAX6 },
	{ "max-ports", required_argument, NULL, ARG_MAX_PORTS },
	{ "cluster", required_argument, NULL, ARG_CLUSTER },
	{ "host-name", required_argument, NULL, ARG_HOST_NAME },
	{ "underlay", required_argument, NULL, ARG_UNDERLAY },
	{ "cluster-ttl", required_argument, NULL, ARG_CLUSTER_TTL },
	{ "cluster-config", required_argument, NULL, ARG_CLUSTER_CONFIG },
	{ "docker-socket", required_argument, NULL, ARG_DOCKER },
	{ "egress-capacity", required_argument, NULL, ARG_EGRESS_CAPACITY },
	{ "ingress-capacity", required_argument, NULL, ARG_INGRESS_CAPACITY },
	{ "drop-log", required_argument, NULL, ARG_DROP_LOG },
	{ "drop-log-external", no_argument, NULL, ARG_DROP_LOG_EXTERNAL },
	{ "metrics", required_argument, NULL, ARG_METRICS },
	{ "nat-uplink", required_argument, NULL, ARG_NAT_UPLINK },
	{},
};

static int parse_pools(struct manager *m, tk_err *err)
{
	int r;

	if ((r = tk_prefix_list_parse(arg_pool4, "--pool4", &m->pools4, err)) < 0)
		return r;
	if (m->pools4.n == 0)
		return tk_err_set(err, -EINVAL, "--pool4 needs at least one prefix");
	for (size_t i = 0; i < m->pools4.n; i++) {
		const struct tk_prefix *p = &m->pools4.p[i];
		char buf[TK_PREFIX_STRLEN];

		if (p->addr.family != AF_INET || p->len > 24)
			return tk_err_set(err, -EINVAL,
					  "--pool4 needs IPv4 prefixes of /24 or shorter, not '%s'",
					  tk_prefix_format(p, buf, sizeof(buf)));
		if (tk_prefix_reserved(p, NULL))
			return tk_err_set(err, -EINVAL, "--pool4: %s is a reserved range",
					  tk_prefix_reserved(p, NULL));
		for (size_t j = 0; j < i; j++)
			if (tk_prefix_overlaps(p, &m->pools4.p[j]))
				return tk_err_set(err, -EINVAL, "--pool4: the prefixes overlap");
	}
	if ((r = tk_prefix_parse(arg_pool6, &m->pool6, err)) < 0)
		return tk_err_wrap(err, r, "--pool6");
	if (m->pool6.addr.family != AF_INET6 || m->pool6.len > 64)
		return tk_err_set(err, -EINVAL,
				  "--pool6 needs an IPv6 prefix of /64 or shorter, not '%s'",
				  arg_pool6);
	if (tk_prefix_reserved(&m->pool6, NULL))
		return tk_err_set(err, -EINVAL, "--pool6: %s is a reserved range",
				  tk_prefix_reserved(&m->pool6, NULL));
	if (arg_allow_subnets)
		return tk_prefix_list_parse(arg_allow_subnets, "--allow-subnets", &m->allow, err);
	m->allow = m->pools4;
	if (m->allow.n == TK_PREFIX_LIST_MAX)
		return tk_err_set(err, -E2BIG, "--pool4: at most %d prefixes",
				  TK_PREFIX_LIST_MAX - 1);
	m->allow.p[m->allow.n++] = m->pool6;
	return 0;
}

/*
 * One netd per socket: a lock beside it, held for the daemon's life and taken before the socket,
 * the database's reconcile or anything in the kernel is touched.  A second netd (whatever its
 * state directory) would otherwise take the socket over and reconcile away the first one's
 * bridges and veths while the first keeps running, unreachable.
 */
static int take_lock(const char *socket_path, int *ret_fd, tk_err *err)
{
	char path[4096], dir[4096], pid[32] = "";
	_cleanup_close_ int fd = -1;
	char *slash;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s.lock", socket_path) >= sizeof(path))
		return tk_err_set(err, -ENAMETOOLONG, "socket path too long");
	snprintf(dir, sizeof(dir), "%s", socket_path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return tk_err_set(err, -errno, "cannot create '%s': %m", dir);
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return tk_err_set(err, -errno, "cannot open lock file '%s': %m", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e != EWOULDBLOCK)
			return tk_err_set(err, -e, "cannot lock '%s': %m", path);
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return tk_err_set(err, -EBUSY,
				  "another netd (pid %s) already serves socket '%s' (lock '%s'): "
				  "one netd per host",
				  pid[0] ? pid : "?", socket_path, path);
	}
	if (ftruncate(fd, 0) < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0)
		return tk_err_set(err, -errno, "cannot write lock file '%s': %m", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/*
 * A broadcast is flooded to every port of a bridge from one CPU, and each veth queues its copy on
 * that CPU's backlog (net.core.netdev_max_backlog packets): ports past the backlog get nothing,
 * and their containers stop answering ARP (netd(8), FULL BRIDGES).
 */
static unsigned ports_limit(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/sys/net/core/netdev_max_backlog", "re");
	unsigned backlog = 0;

	if (!f || fscanf(f, "%u", &backlog) != 1 || backlog == 0)
		return arg_max_ports;
	if (!arg_max_ports_set && backlog < arg_max_ports) {
		log_info("net.core.netdev_max_backlog is %u: at most %u container interfaces per "
			 "network",
			 backlog, backlog);
		return backlog;
	}
	if (backlog < arg_max_ports)
		log_warning("--max-ports %u exceeds net.core.netdev_max_backlog (%u): broadcasts "
			    "will not reach every container of a network with more ports",
			    arg_max_ports, backlog);
	return arg_max_ports;
}

/*
 * And one netd per network namespace, whatever its socket: an abstract AF_UNIX address belongs
 * to the netns it is bound in, and is released when the process dies.  Two netds in one netns
 * would replace each other's nftables tables and delete each other's links.
 */
static int take_netns_lock(int *ret_fd, tk_err *err)
{
	static const char name[] = "\0tenantkit/netd";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return tk_err_set(err, -errno, "cannot create a socket: %m");
	memcpy(sa.sun_path, name, sizeof(name) - 1);
	if (bind(fd, (struct sockaddr *)&sa,
		 offsetof(struct sockaddr_un, sun_path) + sizeof(name) - 1) < 0) {
		if (errno == EADDRINUSE)
			return tk_err_set(err, -EBUSY,
					  "another netd already runs in this network namespace "
					  "(it holds '@tenantkit/netd'): one netd per host");
		return tk_err_set(err, -errno, "cannot bind '@tenantkit/netd': %m");
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/*
 * --cluster-config FILE: the cluster flags as JSON, {"etcd": "http://H:P,...", "host_name": H,
 * "underlay": ADDR, "ttl": N}; flags given on the command line win.
 */
static json_t *cluster_config_json;
static int load_cluster_config(tk_err *err)
{
	const char *etcd = NULL, *host = NULL, *underlay = NULL;
	json_int_t ttl = 0;
	json_error_t jerr;
	int r;

	if (!arg_cluster_config)
		return 0;
	if (!(cluster_config_json =
		      json_load_file(arg_cluster_config, JSON_REJECT_DUPLICATES, &jerr)))
		return tk_err_set(err, -EINVAL, "--cluster-config '%s': line %d: %s",
				  arg_cluster_config, jerr.line, jerr.text);
	if ((r = tk_json_unpack(cluster_config_json, "--cluster-config", err,
				"{s:s, s:s, s:s, s?I}", "etcd", &etcd, "host_name", &host,
				"underlay", &underlay, "ttl", &ttl)) < 0)
		return r;
	if (ttl && (ttl < 2 || ttl > 10))
		return tk_err_set(err, -EINVAL,
				  "--cluster-config: ttl %lld is out of range (2..10)",
				  (long long)ttl);
	if (!arg_cluster.endpoints)
		arg_cluster.endpoints = etcd;
	if (!arg_cluster.host)
		arg_cluster.host = host;
	if (!arg_cluster.underlay)
		arg_cluster.underlay = underlay;
	if (ttl)
		arg_cluster.ttl = (unsigned)ttl;
	return 0;
}

static int setup_manager(struct manager *m, tk_err *err)
{
	int r;

	m->socket_path = args.socket;
	m->socket_group = args.socket_group;
	m->state_dir = args.state_dir;
	m->admin_gid = args.admin_gid;
	for (size_t l = 0; l < _TK_TENANT_LIMIT_MAX; l++)
		m->tenant_defaults[l] = -1;
	m->tenant_defaults[TK_TENANT_MAX_ADDRESSES4] = arg_max_addresses4;
	m->tenant_defaults[TK_TENANT_MAX_PREFIXES6] = arg_max_prefixes6;
	m->max_ports = ports_limit();
	droplog_configure(arg_drop_log, arg_drop_log_external);
	firewall_nat_uplinks(arg_nat_uplinks, arg_n_nat_uplinks);
	for (int d = 0; d < _SHAPING_DIR_MAX; d++) {
		m->capacity[d] = -1;
		if (arg_capacity[d] &&
		    (r = tk_rate_parse(arg_capacity[d],
				       d == SHAPING_EGRESS ? "--egress-capacity"
							   : "--ingress-capacity",
				       &m->capacity[d], err)) < 0)
			return r;
	}
	if ((r = parse_pools(m, err)) < 0 ||
	    (r = take_lock(m->socket_path, &lock_fd[0], err)) < 0 ||
	    (r = take_netns_lock(&lock_fd[1], err)) < 0 || (r = manager_open(m, err)) < 0)
		return r;
	/* Before reconcile touches anything: another database's bridges keep this one away. */
	if ((r = reconcile_claim(m, err)) < 0 || (r = load_cluster_config(err)) < 0)
		return r;
	if (!arg_cluster.endpoints && (arg_cluster.host || arg_cluster.underlay))
		return tk_err_set(err, -EINVAL, "--host-name and --underlay need --cluster");
	return cluster_open(m, &arg_cluster, err);
}

static void close_manager(struct manager *m)
{
	firewall_nat_uplinks_release(); /* the host's own interfaces: nothing of ours left there */
	cluster_close(m);
	manager_close(m);
	json_decref(cluster_config_json);
	cluster_config_json = NULL;
}

/* The kernel matches the database; then the DELs plugins recorded while netd was down. */
static int recover(struct manager *m, json_t *actions, tk_err *err)
{
	int r;

	if ((r = reconcile(m, actions, err)) < 0)
		return r;
	if ((r = shaping_start(m, err)) < 0)
		return tk_err_wrap(err, r, "restoring the tenants' bandwidth limits");
	lifecycle_spool_apply(m, false);
	return 0;
}

/*
 * The server polls one extra event source: an epoll set of the lifecycle's (link notifications,
 * spool), the Docker plugin socket's and, in cluster mode, etcd's watch events, each run when
 * its own fd is ready.
 */
struct extra {
	struct manager *m;
	struct tk_http *docker;
	struct tk_http *metrics; /* --metrics */
	int64_t save_at;	 /* when the counters are next recorded (ms, CLOCK_MONOTONIC) */
	int epfd;
};

/* Counters are recorded this often, so a crash or a container gone with its netns loses little. */
#define ACCOUNTING_SAVE_MS (60 * 1000)

/* TK_ACCOUNTING_SAVE_MS: another period, for benchmarks and tests (bench/endpoints -a). */
static int64_t save_ms(void)
{
	const char *s = getenv("TK_ACCOUNTING_SAVE_MS");
	long v = s ? strtol(s, NULL, 10) : 0;

	return v > 0 ? v : ACCOUNTING_SAVE_MS;
}

/* GET /metrics: the Prometheus text format (docs/accounting.md). */
static int metrics_write(void *userdata, struct tk_prom *p, tk_err *err)
{
	int r = accounting_metrics(((struct extra *)userdata)->m, p, err);

	if (r >= 0)
		firewall_fast_counts_metrics(p);
	return r;
}

static json_t *dispatch(void *userdata, const struct tk_caller *c, json_t *request)
{
	struct manager *m = ((struct extra *)userdata)->m;
	/* Not status: watchers poll it (tests wait for fast_path_pending), and would keep it busy. */
	const char *op = json_string_value(json_object_get(request, "op"));
	const bool work = !op || strcmp(op, "status") != 0;
	json_t *reply;

	if (work)
		attacher_request(m, true);
	reply = cluster_dispatch(m, c, request);
	if (work)
		attacher_request(m, false);
	return reply;
}

static int extra_fd(void *userdata)
{
	return ((struct extra *)userdata)->epfd;
}

static int min_timeout(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static int extra_timeout(void *userdata)
{
	struct extra *x = userdata;
	int64_t save = x->save_at - tk_rpc_now_ms();
	int t = (int)(save < 0 ? 0 : save);

	if (cluster_sync_wanted(x->m))
		return 0;
	/*
	 * The rest of a spool pass that stopped at its bound, a moment later: entries that stay
	 * (a DEL tried again, a plugin's file not yet renamed) would otherwise be read again without
	 * pause.
	 */
	if (lifecycle_spool_more(x->m))
		t = min_timeout(t, 100);

	if (x->docker)
		t = min_timeout(t, tk_http_timeout_ms(x->docker));
	if (x->metrics)
		t = min_timeout(t, tk_http_timeout_ms(x->metrics));
	return t;
}

static void extra_run(void *userdata)
{
	struct extra *x = userdata;
	struct epoll_event ev[4];
	int n = epoll_wait(x->epfd, ev, 4, 0);
	bool links = false, cluster = false, drops = false;

	for (int i = 0; i < n; i++) {
		links |= ev[i].data.u32 == 0;
		cluster |= ev[i].data.u32 == 2;
		drops |= ev[i].data.u32 == 3;
	}
	/* Events (links, Docker's requests, ...) are work the fast path's attacher waits for too. */
	if (n > 0)
		attacher_request(x->m, true);
	if (drops)
		droplog_run(x->m);
	/* The state they change is the attacher thread's too, which works under the lock. */
	tk_server_state_lock();
	if (links)
		lifecycle_run(x->m);
	else if (lifecycle_spool_more(x->m))
		lifecycle_spool_apply(x->m, true);
	tk_server_state_unlock();
	if (cluster)
		cluster_run(x->m);
	else if (links)
		cluster_sync_later(
			x->m); /* a container gone may leave a network without endpoints */
	if (cluster_sync_wanted(x->m)) {
		tk_server_state_lock();
		cluster_sync_run(x->m);
		tk_server_state_unlock();
	}
	/* Also on timeouts (n == 0): libmicrohttpd closes idle connections then. */
	if (x->docker)
		tk_http_run(x->docker);
	if (x->metrics)
		tk_http_run(x->metrics);
	if (tk_rpc_now_ms() >= x->save_at) {
		bool done;

		/* A slice per turn: requests waiting for the lock get it between slices. */
		tk_server_state_lock();
		done = accounting_save_step(x->m);
		tk_server_state_unlock();
		x->save_at = done ? tk_rpc_now_ms() + save_ms() : 0;
	}
	if (n > 0)
		attacher_request(x->m, false);
}

static int extra_open(struct extra *x, tk_err *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	if ((x->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return tk_err_set(err, -errno, "epoll_create1: %m");
	if ((fd = lifecycle_fd(x->m)) >= 0) {
		ev.data.u32 = 0;
		if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return tk_err_set(err, -errno, "epoll_ctl: %m");
	}
	if (x->m->cluster) {
		ev.data.u32 = 2;
		if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, cluster_fd(x->m), &ev) < 0)
			return tk_err_set(err, -errno, "epoll_ctl: %m");
	}
	if ((fd = droplog_open(x->m, err)) < 0)
		return fd;
	if ((fd = droplog_fd()) >= 0) {
		ev.data.u32 = 3;
		if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return tk_err_set(err, -errno, "epoll_ctl: %m");
	}
	if (arg_docker_socket[0] && strcmp(arg_docker_socket, "none") != 0) {
		int r = docker_start(x->m, arg_docker_socket, &x->docker, err);
		if (r < 0)
			return r;
		ev.data.u32 = 1;
		if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, tk_http_fd(x->docker), &ev) < 0)
			return tk_err_set(err, -errno, "epoll_ctl: %m");
	}
	if (arg_metrics) {
		int r = tk_metrics_start(arg_metrics, x->m->admin_gid, metrics_write, x,
					 &x->metrics, err);
		if (r < 0)
			return r;
		ev.data.u32 = 4; /* not 3: the drop log's */
		if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, tk_http_fd(x->metrics), &ev) < 0)
			return tk_err_set(err, -errno, "epoll_ctl: %m");
	}
	x->save_at = tk_rpc_now_ms() + save_ms();
	return 0;
}

static int run(struct manager *m, tk_err *err)
{
	struct extra x = { .m = m, .epfd = -1 };
	const struct tk_server server = {
		.name = "netd",
		.socket_path = m->socket_path,
		.socket_group = args.socket_group,
		.admin_gid = m->admin_gid,
		.dispatch = dispatch,
		.userdata = &x,
		.extra_fd = extra_fd,
		.extra_timeout_ms = extra_timeout,
		.extra_run = extra_run,
	};
	int r;

	if ((r = extra_open(&x, err)) >= 0) {
		log_info("netd state in '%s'", m->state_dir);
		/* From here other threads (the attacher's, the cluster's) share the state. */
		tk_store_set_guard(m->store, tk_server_state_locked);
		r = tk_server_run(&server, err);
	}
	x.docker = tk_http_stop(x.docker);
	droplog_close();
	x.metrics = tk_http_stop(x.metrics);
	if (x.epfd >= 0)
		close(x.epfd);
	/* What the kernel counted since the last reading outlives netd in the database. */
	tk_server_state_lock();
	accounting_save(m);
	tk_server_state_unlock();
	return r;
}

static const struct tk_daemon netd = {
	.name = "netd",
	.summary =
		"Owns per-tenant networks: bridges, veth pairs, addresses and the nftables tables\n"
		"'inet tenantkit' and 'bridge tenantkit'.",
	.socket_env = "TK_NETD_SOCKET",
	.default_socket = TK_NETD_SOCKET,
	.options_help =
		"      --pool4 CIDR[,CIDR]  carve IPv4 /24 subnets from these, in order\n"
		"                           (default 10.200.0.0/13,10.208.0.0/13)\n"
		"      --pool6 CIDR         carve IPv6 /64 subnets from CIDR (default fd7e::/48)\n"
		"      --allow-subnets CIDR[,CIDR]\n"
		"                           subnets tenant owners may choose (default: the pools)\n"
		"      --tenant-max-addresses4 N\n"
		"                           IPv4 addresses a new tenant may hold (default 4096)\n"
		"      --tenant-max-prefixes6 N\n"
		"                           IPv6 /64s a new tenant may hold (default 256)\n"
		"      --max-ports N        container interfaces per network (default 1000, max "
		"1023)\n"
		"      --cluster URL[,URL]  cluster mode: tenants and networks shared through "
		"etcd\n"
		"                           (its v3 JSON gateway, http://HOST:2379); see "
		"docs/cluster.md\n"
		"      --host-name NAME     this host's name in the cluster\n"
		"      --underlay ADDR      this host's underlay address\n"
		"      --cluster-ttl N      seconds of the host lease (default 10, 2..10)\n"
		"      --cluster-config FILE\n"
		"                           the cluster flags as JSON: "
		"{\"etcd\",\"host_name\",\"underlay\",\"ttl\"}\n"
		"      --docker-socket PATH serve Docker's network and IPAM plugin APIs on PATH\n"
		"                           (default " TK_DOCKER_NET_SOCKET "; none: not served)\n"
		"      --egress-capacity RATE, --ingress-capacity RATE\n"
		"                           what the tenants' containers share by weight out of\n"
		"                           and into the host (e.g. 1gbit; default: no sharing)\n"
		"      --drop-log GROUP|off the nflog group the firewall logs dropped packets to\n"
		"                           (rate-limited; default 7271), or no drop log\n"
		"      --drop-log-external  leave that group to another reader (ulogd): no\n"
		"                           `netctl log drops`\n"
		"      --metrics ADDR       serve per-tenant traffic and drops in the Prometheus\n"
		"                           text format at http://ADDR/metrics; ADDR is\n"
		"                           unix:/PATH, 127.0.0.1:PORT or [::1]:PORT (default: "
		"off)\n"
		"      --nat-uplink IFNAME  take the world's UDP replies to containers' NAT-ed\n"
		"                           connections past the host, by a BPF program on\n"
		"                           IFNAME's ingress (repeatable, at most 8; default: "
		"none)\n",
	.options = options,
	.parse_option = parse_option,
	.open = setup_manager,
	.recover = recover,
	.serve = run,
	.close = close_manager,
};

/*
 * A page of endpoint.list builds and frees some 8 MB; glibc gave it back to the kernel after each
 * request and the next one faulted it in again (3,300 page faults per 10,000 endpoints listed,
 * and on a VM each fault is an exit).  Keeping up to 32 MB mapped costs little of the 64 MiB
 * netd may use at 10,000 endpoints and cuts a listing's CPU time by a quarter.  Without fastbins
 * (M_MXFAST 0) a freed small chunk is merged with its free neighbours at once: with them, the
 * ~40,000 chunks of a freed page waited there until the next large malloc() or free() merged them
 * all in one go (malloc_consolidate, 18 % of netd's time in a listing; 120-150 -> 80-90 ms of CPU
 * per 10,000 endpoints listed).
 */
static void keep_freed_memory(void)
{
	(void)mallopt(M_TRIM_THRESHOLD, 32 << 20);
	(void)mallopt(M_TOP_PAD, 8 << 20);
	(void)mallopt(M_MMAP_THRESHOLD, 8 << 20);
	(void)mallopt(M_MXFAST, 0);
}

int main(int argc, char **argv)
{
	struct manager m = {};
	int r;

	keep_freed_memory();
	(void)tk_json_arena_setup();
	if (!tk_daemon_start(&netd, &args, argc, argv, &r))
		return r;
	return tk_daemon_run(&netd, &m);
}
