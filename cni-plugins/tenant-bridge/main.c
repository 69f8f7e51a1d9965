/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenant-bridge: the CNI 1.1 main plugin.  A thin client of netd: it checks the CNI environment
 * and configuration, asks netd for the endpoint, and prints the result or the spec's error.
 * For CHECK netd looks at the kernel from both ends of the veth (endpoint.check).
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cni.h"
#include "json.h"
#include "plugin.h"

static int cmd_add(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *endpoint = NULL, *ips = json_array();
	_cleanup_close_ int netns_fd = -1;

	if (plugin_open_netns(p, &netns_fd) < 0)
		return -1;
	for (size_t i = 0; p->cfg.ips[i]; i++)
		json_array_append_new(ips, json_string(p->cfg.ips[i]));
	args = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "network", p->cfg.network, "tenant",
			 p->cfg.tenant, "container_id", p->env.container_id, "ifname",
			 p->env.ifname, "netns", p->env.netns, "ips", ips);
	if (!args)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "invalid request",
				   "arguments are not valid UTF-8");
	plugin_add_cni_name(p, args);
	if (p->cfg.mac)
		json_object_set_new(args, "mac", json_string(p->cfg.mac));
	if (p->cfg.port_mappings)
		json_object_set(args, "port_mappings", p->cfg.port_mappings);
	if (plugin_call(p, "endpoint.add", args, &endpoint, TK_CNI_ERR_TRY_LATER, NULL) < 0)
		return -1;
	return plugin_print(tk_cni_result(&p->cfg, endpoint,
					  json_string_value(json_object_get(endpoint, "host_mac")),
					  p->env.netns)) == 0
		       ? 0
		       : tk_cni_fail(&p->error, TK_CNI_ERR_IO, "cannot write the result", "stdout");
}

/*
 * CHECK follows prevResult (CNI 1.1 "must consult the prevResult"): it names the container's
 * interface, in a sandbox, and that interface's MAC, which a later plugin of the chain (tuning)
 * may have changed.  Returns the interface's index in prevResult.
 */
static int prev_interface(struct plugin *p, json_int_t *ret_index)
{
	json_t *list = json_object_get(p->cfg.prev_result, "interfaces"), *i;
	size_t n;

	json_array_foreach(list, n, i)
	{
		const char *name = json_string_value(json_object_get(i, "name"));
		const char *sandbox = json_string_value(json_object_get(i, "sandbox"));
		json_t *mac = json_object_get(i, "mac");

		if (!name || strcmp(name, p->env.ifname) != 0 || !sandbox || !*sandbox)
			continue;
		if (mac && !json_is_string(mac))
			return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG,
					   "invalid prevResult",
					   "prevResult.interfaces[%zu].mac must be a string", n);
		p->check_mac = json_string_value(mac);
		*ret_index = (json_int_t)n;
		return 0;
	}
	return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "prevResult does not match the attachment",
			   "prevResult.interfaces lists no interface '%s' in a sandbox",
			   p->env.ifname);
}

/* prevResult lists netd's host veth, outside any sandbox, as ADD did. */
static int prev_host_interface(struct plugin *p, json_t *endpoint)
{
	const char *host = json_string_value(json_object_get(endpoint, "host_ifname"));
	json_t *list = json_object_get(p->cfg.prev_result, "interfaces"), *i;
	size_t n;

	json_array_foreach(list, n, i)
	{
		const char *name = json_string_value(json_object_get(i, "name"));
		const char *sandbox = json_string_value(json_object_get(i, "sandbox"));

		if (host && name && strcmp(name, host) == 0 && (!sandbox || !*sandbox))
			return 0;
	}
	return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "prevResult does not match the attachment",
			   "prevResult.interfaces lists no host interface '%s'", host ?: "?");
}

static int cmd_check(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *endpoint = NULL;
	_cleanup_close_ int netns_fd = -1;
	json_int_t iface = -1;
	json_t *problem;

	if (!p->cfg.prev_result)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "prevResult is required",
				   "CHECK compares the attachment with the result of ADD");
	if (plugin_open_netns(p, &netns_fd) < 0 || prev_interface(p, &iface) < 0 ||
	    plugin_inspect(p, true, &endpoint) < 0)
		return -1;
	if (strcmp(json_string_value(json_object_get(endpoint, "kind")) ?: "", "veth") != 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "not a tenant-bridge endpoint",
				   "%s %s is a tenant-ipam lease", p->env.container_id,
				   p->env.ifname);
	if (prev_host_interface(p, endpoint) < 0 ||
	    plugin_check_prev_result(p, endpoint, iface) < 0)
		return -1;
	problem = json_array_get(json_object_get(endpoint, "problems"), 0);
	if (problem)
		return tk_cni_fail(
			&p->error, TK_CNI_ERR_CHECK,
			json_string_value(json_object_get(problem, "msg")) ?: "check failed", "%s",
			json_string_value(json_object_get(problem, "details")) ?: "?");
	return 0;
}

int main(void)
{
	static const struct plugin_verbs verbs = { .add = cmd_add, .check = cmd_check };

	return plugin_main(false, &verbs);
}
