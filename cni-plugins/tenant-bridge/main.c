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
#include "plugin.h"
#include "json.h"
#include "nl.h"
#include "rpc.h"
#include "tk-config.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct tk_nl *, tk_nl_close);

static int cmd_add(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *endpoint = NULL, *ips = json_array();
	_cleanup_close_ int netns_fd = -1;
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
	if (plugin_call(p, "endpoint.add", args, &endpoint, TK_CNI_ERR_TRY_LATER, NULL) < 0)
		return -1;
	return plugin_print(tk_cni_result(&p->cfg, endpoint,
					  json_string_value(json_object_get(endpoint, "host_mac")),
					  p->env.netns)) == 0
		       ? 0
		       : tk_cni_fail(&p->error, TK_CNI_ERR_IO, "cannot write the result", "stdout");
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
	if (plugin_call(p, "network.inspect", args, &network, TK_CNI_ERR_TRY_LATER, NULL) < 0)
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

static int cmd_check(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *endpoint = NULL;

	if (!p->cfg.prev_result)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "prevResult is required",
				   "CHECK compares the attachment with the result of ADD");
	if (plugin_inspect(p, &endpoint) < 0 || plugin_check_prev_result(p, endpoint) < 0 ||
	    check_host(p, endpoint) < 0)
		return -1;
	return check_container(p, endpoint);
}

int main(void)
{
	static const struct plugin_verbs verbs = { .add = cmd_add, .check = cmd_check };

	return plugin_main(false, &verbs);
}
