/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netctl: the command line over netd's local protocol (tools/common/cli.c does the rest). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cleanup.h"
#include "netctl.h"
#include "json.h"
#include "netns.h"
#include "rpc.h"
#include "cli.h"
#include "tk-config.h"

static const struct cli_column tenant_cols[] = {
	{ "NAME", "name" },
	{ "OWNER", "owner_uid" },
	{ "NETWORKS", "networks" },
	{ "ENDPOINTS", "endpoints" },
	{ "MAX-NETWORKS", "max_networks" },
	{ "MAX-ENDPOINTS", "max_endpoints" },
};
static const struct cli_column network_cols[] = {
	{ "NAME", "name" },	{ "TENANT", "tenant" },	      { "BRIDGE", "bridge" },
	{ "SUBNET", "subnet" }, { "SUBNET6", "subnet6" },     { "NAT", "nat" },
	{ "MTU", "mtu" },	{ "ENDPOINTS", "endpoints" },
};
static const struct cli_column endpoint_cols[] = {
	{ "CONTAINER", "container_id" }, { "IFNAME", "ifname" },       { "NETWORK", "network" },
	{ "TENANT", "tenant" },		 { "HOST-IF", "host_ifname" }, { "MAC", "mac" },
	{ "ADDRESSES", "ips" },
};

static const struct cli_column host_cols[] = {
	{ "NAME", "name" },	      { "UNDERLAY", "underlay" }, { "STATE", "state" },
	{ "LEASE-TTL", "lease_ttl" }, { "SELF", "self" },	  { "BLOCKS", "blocks" },
};

static void human_hosts(json_t *r)
{
	cli_print_table(json_object_get(r, "hosts"), host_cols, ELEMENTSOF(host_cols));
}
static void human_tenants(json_t *r)
{
	cli_print_table(json_object_get(r, "tenants"), tenant_cols, ELEMENTSOF(tenant_cols));
}
static void human_networks(json_t *r)
{
	cli_print_table(json_object_get(r, "networks"), network_cols, ELEMENTSOF(network_cols));
}
static void human_endpoints(json_t *r)
{
	cli_print_table(json_object_get(r, "endpoints"), endpoint_cols, ELEMENTSOF(endpoint_cols));
}
static void human_actions(json_t *r)
{
	size_t i;
	json_t *a;

	json_array_foreach(json_object_get(r, "actions"), i, a) puts(json_string_value(a));
}

/* ---- commands ---------------------------------------------------------------------------- */

#define USAGE_STATUS "netctl status"
static int cmd_status(int argc, char **argv)
{
	return cli_plain_command(
		argc, argv, "status", USAGE_STATUS,
		"Shows netd's version, uptime and how many tenants, networks and "
		"endpoints it manages, and whether its fast path, NAT path and the NAT path's way "
		"back are on; for admins, what the fast path sent each way since netd started.\n",
		cli_print_object);
}

#define USAGE_CREATE_TENANT                                                                        \
	"netctl create tenant NAME [--owner USER] [--owner-group GROUP] [--max-networks N] "       \
	"[--max-endpoints N] [--max-addresses4 N|unlimited] [--max-prefixes6 N|unlimited] "        \
	"[--allow-subnets CIDR[,CIDR...]] [--host-ports FIRST-LAST] [--egress-ip ADDR]"            \
	" [--egress RATE] [--ingress RATE] [--weight N]"
#define USAGE_CREATE_NET                                                                           \
	"netctl create tenant-net NAME --tenant TENANT [--subnet CIDR] [--subnet6 CIDR | --ipv6] " \
	"[--no-nat | --internal] [--mtu N] [--block-size LEN] [--force] [--cni-conf[=DIR]]"

static int create_tenant(int argc, char **argv)
{
	static const struct cli_limit limits[] = {
		{ "max-networks", "max_networks" },
		{ "max-endpoints", "max_endpoints" },
		{ "max-addresses4", "max_addresses4", .unlimited = true },
		{ "max-prefixes6", "max_prefixes6", .unlimited = true },
		{ "allow-subnets", "allow_subnets", .list = true },
		{ "host-ports", "host_ports", .text = true },
		{ "egress-ip", "egress_ip", .text = true },
		{ "egress", "egress", .rate = true },
		{ "ingress", "ingress", .rate = true },
		{ "weight", "weight", .weight = true },
	};

	return cli_create_tenant(argc, argv, USAGE_CREATE_TENANT,
				 "Creates a tenant.  --owner lets that user manage the tenant's "
				 "networks\nand endpoints over the socket; the limits cap what it "
				 "may create.\n"
				 "--max-addresses4 and --max-prefixes6 cap the address space of "
				 "all its\n"
				 "networks (IPv4 addresses, IPv6 /64s; default: netd's).  "
				 "--allow-subnets\n"
				 "lets its owner choose subnets in these ranges too.\n"
				 "--host-ports gives it host ports its containers may publish "
				 "(and nobody\nelse's may); --egress-ip makes its NAT-ed traffic "
				 "leave from ADDR.\n"
				 "--egress and --ingress limit what all its containers send and "
				 "receive\n(e.g. 100mbit, 1gbit); --weight (1-100, default 1) is "
				 "its share when\n"
				 "tenants compete for netd's --egress-capacity or "
				 "--ingress-capacity.\n",
				 limits, ELEMENTSOF(limits));
}

#define DEFAULT_CNI_CONF_DIR "/etc/cni/net.d"

static int conflist_path(const char *dir, const char *network, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s.conflist", dir, network) >= size) {
		fprintf(stderr, "netctl: CNI configuration path too long\n");
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * The conflist a runtime needs for this network: tenant-bridge alone, CNI 1.0.0 (what podman 4
 * and containerd 1.6 speak), written to a temporary file and renamed into place.
 */
static int write_conflist(const char *dir, const char *network, const char *tenant)
{
	_cleanup_(json_decrefp) json_t *plugin = NULL, *list = NULL;
	char path[4096], tmp[4200];
	int r, fd;

	if ((r = conflist_path(dir, network, path, sizeof(path))) < 0)
		return r;
	plugin = json_pack("{s:s, s:s, s:s, s:{s:b, s:b, s:b}}", "type", "tenant-bridge", "tenant",
			   tenant, "network", network, "capabilities", "ips", 1, "mac", 1,
			   "portMappings", 1);
	if (plugin && strcmp(cli_socket, TK_NETD_SOCKET) != 0)
		json_object_set_new(plugin, "socket", json_string(cli_socket));
	list = json_pack("{s:s, s:s, s:[O]}", "cniVersion", "1.0.0", "name", network, "plugins",
			 plugin);
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	fd = list ? mkstemp(tmp) : -1;
	if (fd < 0) {
		fprintf(stderr, "netctl: cannot write '%s': %s\n", path, strerror(errno));
		return -errno;
	}
	if (json_dumpfd(list, fd, JSON_INDENT(2)) < 0 || write(fd, "\n", 1) != 1 ||
	    fchmod(fd, 0644) < 0 || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		fprintf(stderr, "netctl: cannot write '%s': %s\n", path, strerror(errno));
		unlink(tmp);
		return r ?: -EIO;
	}
	return 0;
}

/* Removes DIR/NETWORK.conflist, but only a tenant-bridge configuration of that network. */
static int remove_conflist(const char *dir, const char *network)
{
	_cleanup_(json_decrefp) json_t *list = NULL;
	json_t *plugin;
	char path[4096];
	int r;

	if ((r = conflist_path(dir, network, path, sizeof(path))) < 0)
		return r;
	list = json_load_file(path, 0, NULL);
	if (!list)
		return 0; /* nothing there (or nothing we wrote) */
	plugin = json_array_get(json_object_get(list, "plugins"), 0);
	if (!json_is_string(json_object_get(plugin, "type")) ||
	    strcmp(json_string_value(json_object_get(plugin, "type")), "tenant-bridge") != 0 ||
	    !json_is_string(json_object_get(plugin, "network")) ||
	    strcmp(json_string_value(json_object_get(plugin, "network")), network) != 0) {
		fprintf(stderr, "netctl: leaving '%s' alone: it is not tenantkit's for '%s'\n",
			path, network);
		return 0;
	}
	if (unlink(path) < 0) {
		fprintf(stderr, "netctl: cannot remove '%s': %s\n", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int create_network(int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS,
						 { "tenant", required_argument, NULL, 't' },
						 { "subnet", required_argument, NULL, '4' },
						 { "subnet6", required_argument, NULL, '6' },
						 { "ipv6", no_argument, NULL, 'i' },
						 { "no-nat", no_argument, NULL, 'N' },
						 { "internal", no_argument, NULL, 'I' },
						 { "mtu", required_argument, NULL, 'm' },
						 { "block-size", required_argument, NULL, 'B' },
						 { "force", no_argument, NULL, 'F' },
						 { "cni-conf", optional_argument, NULL, 'C' },
						 {} };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	const char *cni_dir = NULL;
	json_int_t v = 0;
	int c, r;

	while ((c = cli_getopt(argc, argv, NULL, options, USAGE_CREATE_NET,
			       "Creates a network of a tenant: a bridge, a "
			       "gateway address and an IPv4\n"
			       "subnet (given, or a /24 from netd's pool), "
			       "optionally an IPv6 /64 (given\n"
			       "with --subnet6 or allocated with --ipv6).  "
			       "Egress is masqueraded unless\n"
			       "--no-nat; an --internal network sends nothing past the host and "
			       "takes\nnothing from beyond it (its links and the host excepted).\n"
			       "--force (administrators) accepts a subnet that "
			       "overlaps a\n"
			       "reserved range or the host's addresses and routes.\n"
			       "--cni-conf also writes "
			       "DIR/NAME.conflist (default\n"
			       "DIR: " DEFAULT_CNI_CONF_DIR ") for runtimes.\n"
			       "--block-size (netd --cluster) is the IPv4 prefix length of the "
			       "address blocks\nhosts claim (26 to 30, default 26; IPv6 blocks "
			       "have as many addresses).\n",
			       &r)) >= 0) {
		switch (c) {
		case 't': json_object_set_new(args, "tenant", json_string(optarg)); break;
		case '4': json_object_set_new(args, "subnet", json_string(optarg)); break;
		case '6': json_object_set_new(args, "subnet6", json_string(optarg)); break;
		case 'i': json_object_set_new(args, "ipv6", json_true()); break;
		case 'N': json_object_set_new(args, "nat", json_false()); break;
		case 'I': json_object_set_new(args, "internal", json_true()); break;
		case 'F': json_object_set_new(args, "force", json_true()); break;
		case 'm':
			if ((r = cli_parse_u32(optarg, "--mtu", &v, USAGE_CREATE_NET)) != 0)
				return r;
			json_object_set_new(args, "mtu", json_integer(v));
			break;
		case 'C': cni_dir = optarg ?: DEFAULT_CNI_CONF_DIR; break;
		case 'B':
			/* "26" or "/26" */
			if ((r = cli_parse_u32(optarg && optarg[0] == '/' ? optarg + 1 : optarg,
					       "--block-size", &v, USAGE_CREATE_NET)) != 0)
				return r;
			json_object_set_new(args, "block_size", json_integer(v));
			break;
		}
	}
	if (c == CLI_DONE)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(USAGE_CREATE_NET, "expected exactly one network name");
	if (!json_object_get(args, "tenant"))
		return cli_usage_error(USAGE_CREATE_NET, "--tenant is required");
	json_object_set_new(args, "name", json_string(argv[optind]));
	if (cni_dir && access(cni_dir, W_OK) < 0) {
		fprintf(stderr, "netctl: cannot write CNI configurations into '%s': %s\n", cni_dir,
			strerror(errno));
		return EXIT_REFUSED;
	}
	if ((r = cli_call("network.create", args, &result)) != 0)
		return r;
	if (cni_dir && write_conflist(cni_dir, argv[optind],
				      json_string_value(json_object_get(args, "tenant"))) < 0) {
		/* A network the runtime cannot use is not what was asked for: undo it. */
		_cleanup_(json_decrefp) json_t *del = json_pack("{s:s}", "name", argv[optind]),
					       *ignored = NULL;
		(void)cli_call("network.delete", del, &ignored);
		return EXIT_REFUSED;
	}
	return cli_output(result, cli_print_object);
}

static int cmd_create(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "tenant") == 0)
		return create_tenant(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "tenant-net") == 0 || strcmp(argv[1], "network") == 0))
		return create_network(argc - 1, argv + 1);
	if (cli_want_help(argc, argv)) {
		printf("Usage: %s\n       %s\n", USAGE_CREATE_TENANT, USAGE_CREATE_NET);
		return 0;
	}
	return cli_usage_error(USAGE_CREATE_TENANT "\n       " USAGE_CREATE_NET,
			       "create what? 'tenant' or 'tenant-net'");
}

#define USAGE_LIST "netctl list tenants|networks|endpoints|hosts [--tenant T] [--network N]"
static int cmd_list(int argc, char **argv)
{
	static const char *const names[] = { "tenant", "network", NULL };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	const char *values[2] = {}, *what;
	void (*human)(json_t *);
	const char *op;
	int r;

	r = cli_simple_options(
		argc, argv, USAGE_LIST,
		"Lists what the caller may see: everything for root and the admin group,\n"
		"otherwise the tenants the caller owns.\n",
		names, values);
	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(USAGE_LIST,
				       "list what? 'tenants', 'networks' or 'endpoints'");
	what = argv[optind];
	if (strcmp(what, "tenants") == 0) {
		op = "tenant.list", human = human_tenants;
		if (values[0] || values[1])
			return cli_usage_error(USAGE_LIST, "tenants take no filter");
	} else if (strcmp(what, "networks") == 0) {
		op = "network.list", human = human_networks;
		if (values[1])
			return cli_usage_error(USAGE_LIST, "networks filter by --tenant only");
	} else if (strcmp(what, "endpoints") == 0) {
		op = "endpoint.list", human = human_endpoints;
	} else if (strcmp(what, "hosts") == 0) {
		/* The cluster's members (netd --cluster), up or down. */
		op = "host.list", human = human_hosts;
		if (values[0] || values[1])
			return cli_usage_error(USAGE_LIST, "hosts take no filter");
	} else {
		return cli_usage_error(USAGE_LIST, "cannot list '%s'", what);
	}
	if (values[0])
		json_object_set_new(args, "tenant", json_string(values[0]));
	if (values[1])
		json_object_set_new(args, "network", json_string(values[1]));
	/* endpoint.list answers in pages (docs/protocol.md), shown as they arrive. */
	if (human == human_endpoints)
		return cli_list_pages(op, args, "endpoints", endpoint_cols,
				      ELEMENTSOF(endpoint_cols));
	if ((r = cli_call(op, args, &result)) != 0)
		return r;
	return cli_output(result, human);
}

#define USAGE_INSPECT "netctl inspect tenant NAME | network NAME | endpoint CONTAINER [IFNAME]"
static int cmd_inspect(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	const char *what, *op;
	int r, n;

	r = cli_simple_options(argc, argv, USAGE_INSPECT, "Shows one object in full.\n", NULL,
			       NULL);
	if (r >= 0)
		return r;
	n = argc - optind;
	if (n < 2)
		return cli_usage_error(USAGE_INSPECT, "inspect what?");
	what = argv[optind];
	if ((strcmp(what, "tenant") == 0 || strcmp(what, "network") == 0) && n == 2) {
		op = what[0] == 't' ? "tenant.inspect" : "network.inspect";
		json_object_set_new(args, "name", json_string(argv[optind + 1]));
	} else if (strcmp(what, "endpoint") == 0 && (n == 2 || n == 3)) {
		op = "endpoint.inspect";
		json_object_set_new(args, "container_id", json_string(argv[optind + 1]));
		json_object_set_new(args, "ifname",
				    json_string(n == 3 ? argv[optind + 2] : "eth0"));
	} else {
		return cli_usage_error(USAGE_INSPECT, "cannot inspect '%s' with %d argument(s)",
				       what, n - 1);
	}
	if ((r = cli_call(op, args, &result)) != 0)
		return r;
	return cli_output(result, cli_print_object);
}

#define USAGE_DELETE "netctl delete tenant NAME | network NAME [--cni-conf[=DIR]]"
static int cmd_delete(int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS,
						 { "cni-conf", optional_argument, NULL, 'C' },
						 {} };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	const char *what, *cni_dir = NULL;
	bool network;
	int c, r;

	while ((c = cli_getopt(argc, argv, NULL, options, USAGE_DELETE,
			       "Deletes a tenant (it must have no networks) or a network (it must "
			       "have no\nendpoints), with its bridge and firewall elements.  "
			       "--cni-conf also removes the\nnetwork's DIR/NAME.conflist (default "
			       "DIR: " DEFAULT_CNI_CONF_DIR ").\n",
			       &r)) >= 0)
		cni_dir = optarg ?: DEFAULT_CNI_CONF_DIR;
	if (c == CLI_DONE)
		return r;
	if (argc - optind != 2)
		return cli_usage_error(USAGE_DELETE, "delete what?");
	what = argv[optind];
	if (strcmp(what, "tenant") != 0 && strcmp(what, "network") != 0 &&
	    strcmp(what, "tenant-net") != 0)
		return cli_usage_error(USAGE_DELETE, "cannot delete '%s'", what);
	json_object_set_new(args, "name", json_string(argv[optind + 1]));
	network = strcmp(what, "tenant") != 0;
	if ((r = cli_call(network ? "network.delete" : "tenant.delete", args, &result)) != 0)
		return r;
	if (cni_dir && network && (r = remove_conflist(cni_dir, argv[optind + 1])) < 0)
		return cli_exit_code(r, true);
	return cli_done(result, "Deleted %s '%s'.", what, argv[optind + 1]);
}

#define USAGE_LINK "netctl link|unlink NETWORK-A NETWORK-B"
static int link_networks(int argc, char **argv, bool link)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *result = NULL;
	int r;

	r = cli_simple_options(
		argc, argv, USAGE_LINK,
		"Lets two networks of one tenant reach each other (link) or isolates them\n"
		"again (unlink).  Networks of different tenants can never be linked.\n",
		NULL, NULL);
	if (r >= 0)
		return r;
	if (argc - optind != 2)
		return cli_usage_error(USAGE_LINK, "expected two network names");
	args = json_pack("{s:s, s:s}", "a", argv[optind], "b", argv[optind + 1]);
	if ((r = cli_call(link ? "network.link" : "network.unlink", args, &result)) != 0)
		return r;
	return cli_done(result, "%s '%s' and '%s'.", link ? "Linked" : "Unlinked", argv[optind],
			argv[optind + 1]);
}

static int cmd_link(int argc, char **argv)
{
	return link_networks(argc, argv, true);
}

static int cmd_unlink(int argc, char **argv)
{
	return link_networks(argc, argv, false);
}

/*
 * --publish [HOST-IP:]HOST-PORT:PORT[/tcp|udp], as docker -p has it (an IPv6 host address in
 * brackets), appended to list in netd's form.
 */
static int parse_publish(const char *arg, json_t *list, const char *usage)
{
	char copy[128], *spec = copy, *proto, *colon, *host_ip = NULL, *end;
	unsigned long host_port, port;
	json_t *o;

	if (strlen(arg) >= sizeof(copy))
		return cli_usage_error(usage, "--publish '%.40s...': too long", arg);
	strcpy(copy, arg);
	if ((proto = strchr(spec, '/')))
		*proto++ = '\0';
	if (spec[0] == '[') {
		host_ip = spec + 1;
		if (!(end = strchr(host_ip, ']')) || end[1] != ':')
			return cli_usage_error(
				usage, "--publish '%s': expected [ADDR]:HOST-PORT:PORT", arg);
		*end = '\0';
		spec = end + 2;
	} else if ((colon = strchr(spec, ':')) && strchr(colon + 1, ':')) {
		host_ip = spec;
		*colon = '\0';
		spec = colon + 1;
	}
	errno = 0;
	host_port = strtoul(spec, &end, 10);
	if (errno || end == spec || *end != ':' || host_port < 1 || host_port > 65535)
		return cli_usage_error(
			usage, "--publish '%s': expected [HOST-IP:]HOST-PORT:PORT[/PROTO]", arg);
	spec = end + 1;
	port = strtoul(spec, &end, 10);
	if (errno || end == spec || *end || port < 1 || port > 65535)
		return cli_usage_error(
			usage, "--publish '%s': expected [HOST-IP:]HOST-PORT:PORT[/PROTO]", arg);
	o = json_pack("{s:i, s:i, s:s}", "host_port", (int)host_port, "container_port", (int)port,
		      "protocol", proto ? proto : "tcp");
	if (o && host_ip)
		json_object_set_new(o, "host_ip", json_string(host_ip));
	if (!o || json_array_append_new(list, o) < 0)
		return cli_usage_error(usage, "--publish '%s': not valid UTF-8", arg);
	return 0;
}

#define USAGE_ATTACH                                                                               \
	"netctl attach NETWORK CONTAINER NETNS [--ifname NAME] [--ip ADDR]... [--mac MAC] "        \
	"[--publish [HOST-IP:]HOST-PORT:PORT[/PROTO]]..."
static int cmd_attach(int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS,
						 { "ifname", required_argument, NULL, 'i' },
						 { "ip", required_argument, NULL, 'a' },
						 { "mac", required_argument, NULL, 'm' },
						 { "publish", required_argument, NULL, 'p' },
						 {} };
	_cleanup_(json_decrefp) json_t *ips = json_array(), *result = NULL, *args = NULL,
				       *ports = json_array();
	_cleanup_close_ int netns_fd = -1;
	const char *ifname = "eth0", *mac = NULL;
	tk_err err = {};
	size_t i;
	json_t *ip;
	int c, r;

	while ((c = cli_getopt(argc, argv, NULL, options, USAGE_ATTACH,
			       "Connects the network namespace NETNS (a path "
			       "such as /run/netns/NAME or\n"
			       "/proc/PID/ns/net) to NETWORK as CONTAINER: a "
			       "veth pair whose inner end\n"
			       "is named --ifname (default eth0), with "
			       "addresses from the network's\n"
			       "pools or the given --ip, and default routes via "
			       "the gateway.  This is\n"
			       "what the CNI plugin does for a runtime.  netctl "
			       "opens NETNS with your\n"
			       "rights and hands netd the descriptor.  --publish "
			       "maps a host port to a port\n"
			       "of the container (see netctl publish).\n",
			       &r)) >= 0) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'a': json_array_append_new(ips, json_string(optarg)); break;
		case 'm': mac = optarg; break;
		case 'p':
			if ((r = parse_publish(optarg, ports, USAGE_ATTACH)) != 0)
				return r;
			break;
		}
	}
	if (c == CLI_DONE)
		return r;
	if (argc - optind != 3)
		return cli_usage_error(USAGE_ATTACH, "expected NETWORK CONTAINER NETNS");
	args = json_pack("{s:s, s:s, s:s, s:s}", "network", argv[optind], "container_id",
			 argv[optind + 1], "netns", argv[optind + 2], "ifname", ifname);
	if (!args)
		return cli_usage_error(USAGE_ATTACH, "arguments must be valid UTF-8");
	if (json_array_size(ips))
		json_object_set(args, "ips", ips);
	if (mac)
		json_object_set_new(args, "mac", json_string(mac));
	if (json_array_size(ports))
		json_object_set(args, "port_mappings", ports);
	/* Opened here, with the caller's rights and in its mount namespace, never by netd. */
	if (tk_netns_open(argv[optind + 2], 0, &netns_fd, &err) < 0) {
		fprintf(stderr, "netctl: %s\n", err.msg);
		return EXIT_REFUSED;
	}
	if ((r = cli_call_fd("endpoint.add", args, netns_fd, &result)) != 0)
		return r;
	if (cli_json)
		return cli_print_json(result);
	printf("Attached '%s' to '%s' as %s (%s):", argv[optind + 1], argv[optind], ifname,
	       json_string_value(json_object_get(result, "mac")));
	json_array_foreach(json_object_get(result, "ips"), i, ip)
		printf(" %s", json_string_value(json_object_get(ip, "address")));
	putchar('\n');
	return 0;
}

#define USAGE_DETACH "netctl detach CONTAINER [--ifname NAME] [--network NETWORK]"
static int cmd_detach(int argc, char **argv)
{
	static const char *const names[] = { "ifname", "network", NULL };
	_cleanup_(json_decrefp) json_t *args = NULL, *result = NULL;
	const char *values[2] = {};
	int r;

	r = cli_simple_options(
		argc, argv, USAGE_DETACH,
		"Removes a container's endpoint: its veth pair, addresses and firewall\n"
		"elements.  Detaching something that is not attached succeeds.\n",
		names, values);
	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(USAGE_DETACH, "expected one CONTAINER");
	args = json_pack("{s:s, s:s}", "container_id", argv[optind], "ifname",
			 values[0] ? values[0] : "eth0");
	if (!args)
		return cli_usage_error(USAGE_DETACH, "arguments must be valid UTF-8");
	if (values[1])
		json_object_set_new(args, "network", json_string(values[1]));
	if ((r = cli_call("endpoint.del", args, &result)) != 0)
		return r;
	return cli_done(result,
			json_is_true(json_object_get(result, "deleted")) ? "Detached '%s'."
									 : "'%s' was not attached.",
			argv[optind]);
}

#define USAGE_PUBLISH                                                                              \
	"netctl publish CONTAINER [--ifname NAME] [[HOST-IP:]HOST-PORT:PORT[/PROTO]]..."
static int cmd_publish(int argc, char **argv)
{
	static const char *const names[] = { "ifname", NULL };
	_cleanup_(json_decrefp) json_t *args = NULL, *result = NULL, *ports = json_array();
	const char *values[1] = {};
	int r;

	r = cli_simple_options(
		argc, argv, USAGE_PUBLISH,
		"Replaces the published ports of a container's interface (default eth0):\n"
		"HOST-PORT of the host (on HOST-IP only, if given) leads to PORT of the\n"
		"container, for tcp (default) or udp.  The tenant must own the host ports\n"
		"(create tenant --host-ports).  Without mappings, unpublishes everything.\n",
		names, values);
	if (r >= 0)
		return r;
	if (argc - optind < 1)
		return cli_usage_error(USAGE_PUBLISH, "expected a CONTAINER");
	for (int i = optind + 1; i < argc; i++)
		if ((r = parse_publish(argv[i], ports, USAGE_PUBLISH)) != 0)
			return r;
	args = json_pack("{s:s, s:s, s:O}", "container_id", argv[optind], "ifname",
			 values[0] ? values[0] : "eth0", "port_mappings", ports);
	if (!args)
		return cli_usage_error(USAGE_PUBLISH, "arguments must be valid UTF-8");
	if ((r = cli_call("endpoint.ports", args, &result)) != 0)
		return r;
	return cli_done(result, "'%s' publishes %zu port(s).", argv[optind],
			json_array_size(json_object_get(result, "port_mappings")));
}

#define USAGE_SET                                                                                  \
	"netctl set tenant NAME [--egress RATE|none] [--ingress RATE|none] [--weight N|default] "  \
	"[--max-networks N] [--max-endpoints N] [--max-addresses4 N|unlimited] "                   \
	"[--max-prefixes6 N|unlimited] [--host-ports FIRST-LAST|none]"
static int cmd_set(int argc, char **argv)
{
	static const struct cli_limit limits[] = {
		{ "egress", "egress", .rate = true },
		{ "ingress", "ingress", .rate = true },
		{ "weight", "weight", .weight = true },
		{ "max-networks", "max_networks" },
		{ "max-endpoints", "max_endpoints" },
		{ "max-addresses4", "max_addresses4", .unlimited = true },
		{ "max-prefixes6", "max_prefixes6", .unlimited = true },
		{ "host-ports", "host_ports", .text = true },
	};

	if (argc < 2 || strcmp(argv[1], "tenant") != 0) {
		if (cli_want_help(argc, argv))
			return cli_help(USAGE_SET, "Changes a tenant's limits.\n");
		return cli_usage_error(USAGE_SET, "set what? 'tenant'");
	}
	return cli_set_tenant(argc - 1, argv + 1, USAGE_SET,
			      "Changes a tenant's limits while its containers run: the "
			      "bandwidth limits\n(--egress, --ingress: a rate like 100mbit, or "
			      "none), its --weight, and the\ncounts of 'create tenant'.  Only "
			      "the limits given change.\n"
			      "--host-ports moves or resizes the tenant's host-port range (none: "
			      "takes it\naway); refused while a port it publishes would fall "
			      "outside, or when\nthe range overlaps another tenant's.\n",
			      limits, ELEMENTSOF(limits));
}

#define USAGE_HOST "netctl host retire NAME"
static int cmd_host(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *result = NULL;
	int r;

	if (argc < 2 || strcmp(argv[1], "retire") != 0) {
		if (cli_want_help(argc, argv))
			return cli_help(USAGE_HOST, "Retires a cluster host.\n");
		return cli_usage_error(USAGE_HOST, "expected 'retire'");
	}
	r = cli_simple_options(argc - 1, argv + 1, USAGE_HOST,
			       "Removes a host that will not come back from the cluster (netd "
			       "--cluster,\nadministrators): its records of address blocks (their "
			       "addresses become\nfree), its usage keys (its networks become "
			       "deletable) and its member record.\nRefused while its lease is "
			       "alive: stop its netd first.\n",
			       NULL, NULL);
	if (r >= 0)
		return r;
	if (argc - 1 - optind != 1)
		return cli_usage_error(USAGE_HOST, "expected one host name");
	args = json_pack("{s:s}", "name", argv[1 + optind]);
	if ((r = cli_call("host.retire", args, &result)) != 0)
		return r;
	return cli_done(result,
			"Retired host '%s': %" JSON_INTEGER_FORMAT " record(s) of address blocks "
			"and %" JSON_INTEGER_FORMAT " usage key(s) removed.",
			argv[1 + optind], json_integer_value(json_object_get(result, "records")),
			json_integer_value(json_object_get(result, "usage")));
}

/* ---- stats: traffic and drops per tenant and endpoint (docs/accounting.md) ---- */

/* A count in drops: {"spoofing": N, ...}. */
static char *drops_cell(json_t *row, const char *key)
{
	json_t *v = json_object_get(json_object_get(row, "drops"), key);
	char *s;

	return asprintf(&s, "%lld", (long long)json_integer_value(v)) < 0 ? NULL : s;
}

static const struct cli_column stats_tenant_cols[] = {
	{ "TENANT", "name" },
	{ "TX-BYTES", "transmit_bytes" },
	{ "TX-PACKETS", "transmit_packets" },
	{ "RX-BYTES", "receive_bytes" },
	{ "RX-PACKETS", "receive_packets" },
	{ "DROPS-SPOOFING", "spoofing", drops_cell },
	{ "DROPS-ISOLATION", "isolation", drops_cell },
	{ "DROPS-LIMIT", "limit", drops_cell },
};
static const struct cli_column stats_endpoint_cols[] = {
	{ "CONTAINER", "container_id" },
	{ "IFNAME", "ifname" },
	{ "NETWORK", "network" },
	{ "TX-BYTES", "transmit_bytes" },
	{ "TX-PACKETS", "transmit_packets" },
	{ "RX-BYTES", "receive_bytes" },
	{ "RX-PACKETS", "receive_packets" },
	{ "DROPS-SPOOFING", "spoofing", drops_cell },
};

static bool stats_one_tenant;

static void human_stats(json_t *r)
{
	json_t *tenants = json_object_get(r, "tenants");

	cli_print_table(tenants, stats_tenant_cols, ELEMENTSOF(stats_tenant_cols));
	if (stats_one_tenant && json_array_size(tenants) == 1) {
		putchar('\n');
		cli_print_table(json_object_get(json_array_get(tenants, 0), "endpoints"),
				stats_endpoint_cols, ELEMENTSOF(stats_endpoint_cols));
	}
}

#define USAGE_STATS "netctl stats [TENANT]"
static int cmd_stats(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	int r;

	r = cli_simple_options(
		argc, argv, USAGE_STATS,
		"Shows what the tenants' containers sent and received (bytes, packets) and\n"
		"what was dropped, by reason: spoofing, isolation, limit.  Totals since each\n"
		"tenant was created; they survive netd restarts.  With TENANT, also per\n"
		"endpoint.  Root and the admin group see every tenant, others their own.\n",
		NULL, NULL);
	if (r >= 0)
		return r;
	if (argc - optind > 1)
		return cli_usage_error(USAGE_STATS, "at most one tenant");
	if (argc - optind == 1) {
		if ((r = cli_check_name(argv[optind], "tenant name", USAGE_STATS)) != 0)
			return r;
		json_object_set_new(args, "tenant", json_string(argv[optind]));
		stats_one_tenant = true;
	}
	if ((r = cli_call("stats.get", args, &result)) != 0)
		return r;
	return cli_output(result, human_stats);
}

#define USAGE_RECONCILE "netctl reconcile"
static int cmd_reconcile(int argc, char **argv)
{
	return cli_plain_command(
		argc, argv, "reconcile", USAGE_RECONCILE,
		"Makes the kernel match netd's database again (bridges, veths, addresses,\n"
		"the nftables tables) and prints what it did.\n",
		human_actions);
}

static const struct cli_command commands[] = {
	{ "status", cmd_status, USAGE_STATUS },
	{ "create", cmd_create, USAGE_CREATE_TENANT "\n  " USAGE_CREATE_NET },
	{ "list", cmd_list, USAGE_LIST },
	{ "inspect", cmd_inspect, USAGE_INSPECT },
	{ "delete", cmd_delete, USAGE_DELETE },
	{ "link", cmd_link, USAGE_LINK },
	{ "unlink", cmd_unlink, USAGE_LINK },
	{ "attach", cmd_attach, USAGE_ATTACH },
	{ "detach", cmd_detach, USAGE_DETACH },
	{ "publish", cmd_publish, USAGE_PUBLISH },
	{ "reconcile", cmd_reconcile, USAGE_RECONCILE },
	{ "set", cmd_set, USAGE_SET },
	{ "host", cmd_host, USAGE_HOST },
	{ "log", cmd_log, USAGE_LOG },
	{ "stats", cmd_stats, USAGE_STATS },
};

static const struct cli_program netctl = {
	.name = "netctl",
	.daemon = "netd",
	.socket_env = "TK_NETD_SOCKET",
	.default_socket = TK_NETD_SOCKET,
	.summary = "Manages tenantkit tenants, networks and endpoints through netd.",
};

/*
 * A listing in one reply (4,096 networks) is megabytes of jansson objects: as 4 KiB pages,
 * thousands of page faults, and on a VM where each is an exit that was half of `netctl list`'s
 * time (10,000 endpoints when they came as one tree: 250 -> 110 ms of CPU measured here; their
 * pages now live in lib/json-arena.c's slots).  glibc puts its heap on transparent huge pages only when told by the
 * environment (GLIBC_TUNABLES=glibc.malloc.hugetlb=1); growing the heap in large steps that are
 * never given back, and advising huge pages on it, does the same.  Only the address space is
 * reserved: pages are still touched on demand.
 */
static void heap_on_huge_pages(void)
{
	const uintptr_t huge = 2u << 20;
	uintptr_t start, end;
	void *p;

	if (mallopt(M_TOP_PAD, 64 << 20) != 1 || mallopt(M_TRIM_THRESHOLD, 256 << 20) != 1 ||
	    mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1)
		return;
	/* More than the heap has left: it grows by this and the top pad, all after p. */
	if (!(p = malloc(huge)))
		return;
	start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
	end = (uintptr_t)sbrk(0);
	free(p);
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}

int main(int argc, char **argv)
{
	heap_on_huge_pages();
	return cli_main(&netctl, commands, ELEMENTSOF(commands), argc, argv);
}
