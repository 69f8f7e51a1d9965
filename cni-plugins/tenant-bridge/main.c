/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenant-bridge: the CNI 1.1 main plugin.  A thin client of netd: it checks the CNI environment
 * and configuration, asks netd for the endpoint, and prints the result or the spec's error.
 * CHECK also looks at the kernel itself, from both ends of the veth.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cni.h"
#include "json.h"
#include "nl.h"
#include "rpc.h"
#include "tk-config.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct tk_nl *, tk_nl_close);

#define MAX_INPUT (1u << 20)

struct plugin {
	struct tk_cni_env env;
	struct tk_cni_config cfg;
	struct tk_cni_error error;
	const char *socket;
};

static char *read_all(FILE *f, size_t *ret_len)
{
	size_t len = 0, size = 4096;
	char *buf = malloc(size);

	while (buf) {
		size_t n = fread(buf + len, 1, size - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == size) {
			char *bigger = size >= MAX_INPUT ? NULL : realloc(buf, size * 2);
			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			size *= 2;
		}
	}
	*ret_len = len;
	return buf;
}

static int print(json_t *j)
{
	if (!j || json_dumpf(j, stdout, JSON_INDENT(2)) < 0) {
		json_decref(j);
		return EXIT_FAILURE;
	}
	putchar('\n');
	json_decref(j);
	return EXIT_SUCCESS;
}

static int fail(struct plugin *p)
{
	print(tk_cni_error_json(p->cfg.version, &p->error));
	return EXIT_FAILURE;
}

static const char *short_message(int code)
{
	switch (code) {
	case TK_CNI_ERR_ADDRESS: return "requested address not available";
	case TK_CNI_ERR_POOL_EXHAUSTED: return "no free address in the network";
	case TK_CNI_ERR_LIMIT: return "tenant endpoint limit reached";
	case TK_CNI_ERR_PERMISSION: return "permission denied";
	case TK_CNI_ERR_EXISTS: return "interface already exists";
	case TK_CNI_ERR_INVALID_CONFIG: return "invalid network configuration";
	case TK_CNI_ERR_TRY_LATER: return "netd is busy, try again later";
	case TK_CNI_ERR_IO: return "netd connection failed";
	default: return "netd refused the request";
	}
}

/*
 * One request to netd.  unreachable_code is what "cannot connect" means for this verb (11 for
 * ADD/DEL/CHECK/GC, 50 for STATUS).  Returns 0, or -1 with p->error set; *ret_errno gets netd's
 * code when it answered with an error.
 */
static int call(struct plugin *p, const char *op, json_t *args, json_t **ret, int unreachable_code,
		int *ret_errno)
{
	_cleanup_close_ int fd = -1;
	tk_err err = {};
	int r;

	if (ret_errno)
		*ret_errno = 0;
	if (tk_rpc_connect(p->socket, &fd, &err) < 0)
		return tk_cni_fail(&p->error, unreachable_code, "netd is not reachable", "%s",
				   err.msg);
	r = tk_rpc_call_fd(fd, op, args, ret, &err);
	if (r < 0) {
		if (ret_errno)
			*ret_errno = r;
		return tk_cni_fail(&p->error, tk_cni_code_of_errno(r),
				   short_message(tk_cni_code_of_errno(r)), "%s", err.msg);
	}
	return 0;
}

static int cmd_add(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *endpoint = NULL, *ips = json_array();
	_cleanup_(tk_nl_closep) struct tk_nl *nl = NULL;
	_cleanup_close_ int netns_fd = -1;
	struct tk_link_info host;
	char mac[TK_MAC_STRLEN];
	const char *host_mac = NULL;
	tk_err err = {};
	int r;

	r = tk_netns_open(p->env.netns, &netns_fd, &err);
	if (r == -ENOENT)
		return tk_cni_fail(&p->error, TK_CNI_ERR_UNKNOWN_CONTAINER,
				   "container network namespace not found", "%s", err.msg);
	if (r < 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_ENV, "invalid CNI_NETNS", "%s",
				   err.msg);
	for (size_t i = 0; p->cfg.ips[i]; i++)
		json_array_append_new(ips, json_string(p->cfg.ips[i]));
	args = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "network", p->cfg.network, "tenant",
			 p->cfg.tenant, "container_id", p->env.container_id, "ifname",
			 p->env.ifname, "netns", p->env.netns, "ips", ips);
	if (!args)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "invalid request",
				   "arguments are not valid UTF-8");
	if (p->cfg.mac)
		json_object_set_new(args, "mac", json_string(p->cfg.mac));
	if (call(p, "endpoint.add", args, &endpoint, TK_CNI_ERR_TRY_LATER, NULL) < 0)
		return -1;
	/* The host end's MAC is the kernel's choice; the result reports it when it can. */
	if (tk_nl_open(&nl, NULL) >= 0 &&
	    tk_nl_link_get(nl, json_string_value(json_object_get(endpoint, "host_ifname")), &host,
			   NULL) >= 0)
		host_mac = tk_mac_format(host.mac, mac, sizeof(mac));
	return print(tk_cni_result(&p->cfg, endpoint, host_mac, p->env.netns)) == 0
		       ? 0
		       : tk_cni_fail(&p->error, TK_CNI_ERR_IO, "cannot write the result", "stdout");
}

/* Idempotent: an unknown endpoint, a vanished netns or one netd never knew all succeed. */
static int cmd_del(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *result = NULL;

	args = json_pack("{s:s, s:s, s:s}", "container_id", p->env.container_id, "ifname",
			 p->env.ifname, "network", p->cfg.network);
	if (!args)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "invalid request",
				   "arguments are not valid UTF-8");
	return call(p, "endpoint.del", args, &result, TK_CNI_ERR_TRY_LATER, NULL);
}

struct addr_seen {
	const struct tk_prefix *want;
	bool found;
};

static int find_addr(const struct tk_prefix *have, void *userdata)
{
	struct addr_seen *s = userdata;

	if (tk_addr_equal(&have->addr, &s->want->addr) && have->len == s->want->len)
		s->found = true;
	return 0;
}

/* The container's side: interface, MAC, every address and a default route via each gateway. */
static int check_container(struct plugin *p, json_t *endpoint)
{
	_cleanup_(tk_nl_closep) struct tk_nl *cnl = NULL;
	_cleanup_close_ int fd = -1;
	struct tk_link_info link;
	char mac[TK_MAC_STRLEN];
	tk_err err = {};
	size_t i;
	json_t *ip;

	if (tk_netns_open(p->env.netns, &fd, &err) < 0 || tk_nl_open_netns(fd, &cnl, &err) < 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_UNKNOWN_CONTAINER,
				   "container network namespace not usable", "%s", err.msg);
	if (tk_nl_link_get(cnl, p->env.ifname, &link, &err) < 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "container interface missing", "%s",
				   err.msg);
	tk_mac_format(link.mac, mac, sizeof(mac));
	if (strcmp(mac, json_string_value(json_object_get(endpoint, "mac"))) != 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "container MAC differs",
				   "%s has %s, expected %s", p->env.ifname, mac,
				   json_string_value(json_object_get(endpoint, "mac")));
	if (!link.up)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "container interface is down", "%s",
				   p->env.ifname);
	json_array_foreach(json_object_get(endpoint, "ips"), i, ip)
	{
		const char *address = json_string_value(json_object_get(ip, "address"));
		struct tk_prefix want;
		struct tk_addr gw, have_gw;
		struct addr_seen seen = { .want = &want };

		if (tk_prefix_parse_host(address, &want, NULL) < 0 ||
		    tk_addr_parse(json_string_value(json_object_get(ip, "gateway")), &gw, NULL) < 0)
			return tk_cni_fail(&p->error, TK_CNI_ERR_IO, "bad answer from netd",
					   "endpoint address '%s'", address);
		if (tk_nl_addr_foreach(cnl, link.ifindex, want.addr.family, find_addr, &seen,
				       &err) < 0 ||
		    !seen.found)
			return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "container address missing",
					   "%s has no address %s", p->env.ifname, address);
		if (tk_nl_route_get_default(cnl, link.ifindex, want.addr.family, &have_gw, &err) <
			    0 ||
		    !tk_addr_equal(&gw, &have_gw))
			return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "default route missing",
					   "%s has no default route via %s", p->env.ifname,
					   json_string_value(json_object_get(ip, "gateway")));
	}
	return 0;
}

/* The host's side: the veth exists, is up and is a port of the network's bridge. */
static int check_host(struct plugin *p, json_t *endpoint)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *network = NULL;
	_cleanup_(tk_nl_closep) struct tk_nl *nl = NULL;
	const char *host_ifname = json_string_value(json_object_get(endpoint, "host_ifname"));
	struct tk_link_info host, bridge;
	tk_err err = {};

	args = json_pack("{s:s}", "name", p->cfg.network);
	if (call(p, "network.inspect", args, &network, TK_CNI_ERR_TRY_LATER, NULL) < 0)
		return -1;
	if (tk_nl_open(&nl, &err) < 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_IO, "cannot open netlink", "%s", err.msg);
	if (tk_nl_link_get(nl, host_ifname, &host, &err) < 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "host veth missing", "%s", err.msg);
	if (tk_nl_link_get(nl, json_string_value(json_object_get(network, "bridge")), &bridge,
			   &err) < 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "network bridge missing", "%s",
				   err.msg);
	if (host.master != bridge.ifindex || !host.up)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "host veth detached",
				   "%s is not an up port of %s", host_ifname, bridge.name);
	return 0;
}

/* prevResult must list every address netd gave this container. */
static int check_prev_result(struct plugin *p, json_t *endpoint)
{
	json_t *prev_ips = json_object_get(p->cfg.prev_result, "ips"), *ip, *pip;
	size_t i, j;

	json_array_foreach(json_object_get(endpoint, "ips"), i, ip)
	{
		const char *address = json_string_value(json_object_get(ip, "address"));
		bool listed = false;

		json_array_foreach(prev_ips, j, pip)
		{
			const char *a = json_string_value(json_object_get(pip, "address"));
			if (a && strcmp(a, address) == 0)
				listed = true;
		}
		if (!listed)
			return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK,
					   "prevResult does not match the attachment",
					   "address %s is not in prevResult", address);
	}
	return 0;
}

static int cmd_check(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *endpoint = NULL;
	int code;

	if (!p->cfg.prev_result)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "prevResult is required",
				   "CHECK compares the attachment with the result of ADD");
	args = json_pack("{s:s, s:s}", "container_id", p->env.container_id, "ifname",
			 p->env.ifname);
	if (call(p, "endpoint.inspect", args, &endpoint, TK_CNI_ERR_TRY_LATER, &code) < 0) {
		if (code == -ENOENT)
			p->error.code = TK_CNI_ERR_UNKNOWN_CONTAINER;
		return -1;
	}
	if (strcmp(json_string_value(json_object_get(endpoint, "network")), p->cfg.network) != 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "attached to another network",
				   "%s %s is on '%s', not '%s'", p->env.container_id, p->env.ifname,
				   json_string_value(json_object_get(endpoint, "network")),
				   p->cfg.network);
	if (check_prev_result(p, endpoint) < 0 || check_host(p, endpoint) < 0)
		return -1;
	return check_container(p, endpoint);
}

static int cmd_status(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *status = NULL, *args = NULL, *network = NULL;
	json_t *free4, *free6;

	if (call(p, "status", NULL, &status, TK_CNI_ERR_NOT_AVAILABLE, NULL) < 0)
		return -1;
	args = json_pack("{s:s}", "name", p->cfg.network);
	if (call(p, "network.inspect", args, &network, TK_CNI_ERR_NOT_AVAILABLE, NULL) < 0)
		return -1;
	free4 = json_object_get(network, "free4");
	free6 = json_object_get(network, "free6");
	if ((json_is_integer(free4) && json_integer_value(free4) == 0) ||
	    (json_is_integer(free6) && json_integer_value(free6) == 0))
		return tk_cni_fail(&p->error, TK_CNI_ERR_NO_IPS, "no IPs available",
				   "network '%s' has no free address left", p->cfg.network);
	return 0;
}

/* Removes every endpoint of the network that the runtime no longer lists. */
static int cmd_gc(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *list = NULL;
	struct tk_cni_error first = {};
	size_t i;
	json_t *e;

	args = json_pack("{s:s}", "network", p->cfg.network);
	if (call(p, "endpoint.list", args, &list, TK_CNI_ERR_TRY_LATER, NULL) < 0)
		return -1;
	json_array_foreach(json_object_get(list, "endpoints"), i, e)
	{
		const char *id = json_string_value(json_object_get(e, "container_id"));
		const char *ifname = json_string_value(json_object_get(e, "ifname"));
		_cleanup_(json_decrefp) json_t *del = NULL, *result = NULL;

		if (tk_cni_attachment_valid(p->cfg.valid_attachments, id, ifname))
			continue;
		del = json_pack("{s:s, s:s, s:s}", "container_id", id, "ifname", ifname, "network",
				p->cfg.network);
		if (call(p, "endpoint.del", del, &result, TK_CNI_ERR_TRY_LATER, NULL) < 0) {
			if (!first.code)
				first = p->error;
			continue;
		}
		fprintf(stderr, "tenant-bridge: GC removed %s %s from %s\n", id, ifname,
			p->cfg.network);
	}
	if (first.code) {
		p->error = first;
		return -1;
	}
	return 0;
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

int main(void)
{
	struct plugin p = {};
	_cleanup_free_ char *input = NULL;
	size_t len = 0;
	int r;

	if (tk_cni_env_parse(env_get, &p.env, &p.error) < 0)
		return fail(&p);
	input = read_all(stdin, &len);
	if (!input)
		return tk_cni_fail(&p.error, TK_CNI_ERR_IO, "cannot read the network configuration",
				   "stdin is unreadable or larger than 1 MiB"),
		       fail(&p);
	if (tk_cni_config_parse(input, len, &p.env, &p.cfg, &p.error) < 0) {
		if (p.env.command != TK_CNI_VERSION) {
			r = fail(&p);
			tk_cni_config_done(&p.cfg);
			return r;
		}
	}
	p.socket = p.cfg.socket ?: getenv("TK_NETD_SOCKET") ?: TK_NETD_SOCKET;
	switch (p.env.command) {
	case TK_CNI_VERSION: r = print(tk_cni_version_result(p.cfg.version)) == 0 ? 0 : -1; break;
	case TK_CNI_ADD: r = cmd_add(&p); break;
	case TK_CNI_DEL: r = cmd_del(&p); break;
	case TK_CNI_CHECK: r = cmd_check(&p); break;
	case TK_CNI_STATUS: r = cmd_status(&p); break;
	case TK_CNI_GC: r = cmd_gc(&p); break;
	default: r = tk_cni_fail(&p.error, TK_CNI_ERR_INVALID_ENV, "unknown command", "?");
	}
	if (r < 0)
		r = fail(&p);
	tk_cni_config_done(&p.cfg);
	return r;
}
