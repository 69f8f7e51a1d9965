/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenant-ipam: the CNI IPAM plugin.  It leases addresses from a tenant network's pools in netd,
 * so any main plugin (the reference bridge, macvlan, ...) can use netd's per-tenant IPAM:
 *   "ipam": {"type": "tenant-ipam", "tenant": "alpha", "network": "alpha-net"}
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cni.h"
#include "json.h"
#include "plugin.h"

static int cmd_add(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *lease = NULL, *ips = json_array();

	for (size_t i = 0; p->cfg.ips[i]; i++)
		json_array_append_new(ips, json_string(p->cfg.ips[i]));
	args = json_pack("{s:s, s:s, s:s, s:s, s:b, s:O}", "network", p->cfg.network, "tenant",
			 p->cfg.tenant, "container_id", p->env.container_id, "ifname",
			 p->env.ifname, "lease", 1, "ips", ips);
	if (!args)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "invalid request",
				   "arguments are not valid UTF-8");
	plugin_add_cni_name(p, args);
	if (plugin_call(p, "endpoint.add", args, &lease, TK_CNI_ERR_TRY_LATER, NULL) < 0)
		return -1;
	return plugin_print(tk_cni_ipam_result(&p->cfg, lease)) == EXIT_SUCCESS
		       ? 0
		       : tk_cni_fail(&p->error, TK_CNI_ERR_IO, "cannot write the result", "stdout");
}

/* The lease exists, on this network, and prevResult lists its addresses. */
static int cmd_check(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *lease = NULL;

	if (!p->cfg.prev_result)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "prevResult is required",
				   "CHECK compares the lease with the result of ADD");
	if (plugin_inspect(p, false, &lease) < 0)
		return -1;
	if (strcmp(json_string_value(json_object_get(lease, "kind")), "ipam") != 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "not a tenant-ipam lease",
				   "%s %s is a tenant-bridge endpoint", p->env.container_id,
				   p->env.ifname);
	return plugin_check_prev_result(p, lease, -1);
}

int main(void)
{
	static const struct plugin_verbs verbs = { .add = cmd_add, .check = cmd_check };

	return plugin_main(true, &verbs);
}
