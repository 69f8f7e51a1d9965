/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What tenant-bridge and tenant-ipam share: reading the request, talking to netd, printing the
 * result or the error, and the verbs that are the same for both (DEL, STATUS, GC).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cni.h"

struct plugin {
	struct tk_cni_env env;
	struct tk_cni_config cfg;
	struct tk_cni_error error;
	const char *socket;
	const char *check_mac; /* CHECK: the container MAC that prevResult names */
	bool ipam;	       /* tenant-ipam: leases, configuration under "ipam" */
	/* CNI_NETNS as opened by plugin_open_netns (-1: not opened): sent with every request. */
	int netns_fd;
	int timeout_ms;	     /* TK_RPC_TIMEOUT_MS or the default, for the whole invocation */
	int64_t deadline_ms; /* when that ends (tk_rpc_now_ms) */
};

/* Prints j (consumed) on stdout; EXIT_SUCCESS or EXIT_FAILURE. */
int plugin_print(json_t *j);

/*
 * One request to netd, with p->netns_fd passed along when open (SCM_RIGHTS): netd never opens
 * CNI_NETNS itself.  unreachable_code is what "cannot connect" or "no answer before the
 * deadline" (TK_RPC_TIMEOUT_MS, default 10 s for the whole invocation) means for this verb (11
 * for ADD/DEL/CHECK/GC, 50 for STATUS).  Returns 0, or -1 with p->error set; *ret_errno (if not
 * NULL) gets netd's code when it answered with an error.
 */
int plugin_call(struct plugin *p, const char *op, json_t *args, json_t **ret, int unreachable_code,
		int *ret_errno);

/*
 * Opens CNI_NETNS with the plugin's (the runtime's) rights and in its mount namespace, without
 * blocking: code 3 when it does not exist, 4 when it is not a network namespace.  A copy stays
 * in p->netns_fd for netd.
 */
int plugin_open_netns(struct plugin *p, int *ret_fd);
/* An ADD's "cni_name": its configuration's name, which scopes the network's GC to its own. */
void plugin_add_cni_name(const struct plugin *p, json_t *args);
/*
 * The endpoint of CNI_CONTAINERID/CNI_IFNAME for CHECK, on the configured network: code 3 when
 * netd does not know it.  With kernel, endpoint.check: netd also compares the kernel with it
 * from CNI_NETNS and lists the differences under "problems".
 */
int plugin_inspect(struct plugin *p, bool kernel, json_t **ret);
/*
 * CHECK: prevResult must list every address netd gave this container, on interface index
 * iface where it names one (iface < 0: not checked).
 */
int plugin_check_prev_result(struct plugin *p, json_t *endpoint, json_int_t iface);

struct plugin_verbs {
	int (*add)(struct plugin *p);
	int (*check)(struct plugin *p);
};

/* Parses the request, runs the verb, prints the outcome; returns the exit status. */
int plugin_main(bool ipam, const struct plugin_verbs *verbs);
