/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The CNI side of the plugins, without I/O: the environment, the network configuration on stdin,
 * version negotiation, results in the requested version's format, and errors with the spec's
 * codes.  Supported versions: 0.4.0, 1.0.0 and 1.1.0.
 */

#include <jansson.h>
#include <stdbool.h>

#include "err.h"

/* The specification's well-known error codes, and ours (100+, documented in tenant-bridge(8)). */
enum {
	TK_CNI_ERR_VERSION = 1,
	TK_CNI_ERR_UNSUPPORTED_FIELD = 2,
	TK_CNI_ERR_UNKNOWN_CONTAINER = 3,
	TK_CNI_ERR_INVALID_ENV = 4,
	TK_CNI_ERR_IO = 5,
	TK_CNI_ERR_DECODE = 6,
	TK_CNI_ERR_INVALID_CONFIG = 7,
	TK_CNI_ERR_TRY_LATER = 11,
	TK_CNI_ERR_NOT_AVAILABLE = 50,
	TK_CNI_ERR_NO_IPS = 51,
	TK_CNI_ERR_REFUSED = 100,	 /* netd refused the request for another reason */
	TK_CNI_ERR_ADDRESS = 101,	 /* a requested address is taken or outside the subnet */
	TK_CNI_ERR_POOL_EXHAUSTED = 102, /* no free address left in the network */
	TK_CNI_ERR_LIMIT = 103,		 /* the tenant's endpoint limit is reached */
	TK_CNI_ERR_PERMISSION = 104,	 /* the caller may not use this tenant or netns */
	TK_CNI_ERR_EXISTS = 105,	 /* the container already has this interface */
	TK_CNI_ERR_CHECK = 106,		 /* CHECK: the attachment differs from what was set up */
};

struct tk_cni_error {
	int code;
	char msg[256];
	char details[512];
};

int tk_cni_fail(struct tk_cni_error *e, int code, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

enum tk_cni_command {
	TK_CNI_ADD,
	TK_CNI_DEL,
	TK_CNI_CHECK,
	TK_CNI_STATUS,
	TK_CNI_GC,
	TK_CNI_VERSION
};

struct tk_cni_env {
	enum tk_cni_command command;
	const char *container_id, *netns, *ifname, *args, *path;
	/* From CNI_ARGS: IP= and MAC= (other keys are ignored, as the conventions allow). */
	char ip[64], mac[32];
};

/*
 * Reads and validates the CNI_* variables through get (getenv in the plugins): which ones are
 * required depends on the command; -1 with code 4 when one is missing or malformed.
 */
int tk_cni_env_parse(const char *(*get)(const char *name), struct tk_cni_env *env,
		     struct tk_cni_error *e);

struct tk_cni_config {
	json_t *root; /* owns everything below */
	const char *version, *name, *type;
	const char *tenant, *network, *socket;
	/* Static requests, from runtimeConfig, then args.cni, then CNI_ARGS. */
	const char *ips[3];
	const char *mac;
	json_t *prev_result; /* NULL when absent */
	/* runtimeConfig.portMappings in netd's form (docs/protocol.md), NULL when none; owned */
	json_t *port_mappings;
	json_t *valid_attachments; /* GC: array of {containerID, ifname}; NULL: keep nothing */
};

/*
 * Parses the configuration for env's command.  An unsupported cniVersion is code 1, bad JSON
 * code 6, a missing or malformed field code 7 (runtimeConfig.portMappings included: hostPort,
 * containerPort, protocol "tcp" or "udp", hostIP).  GC's cni.dev/valid-attachments may be null or absent (keep nothing).
 * VERSION needs only cniVersion (any value).  For an IPAM plugin (ipam), tenant, network and
 * socket are read from the "ipam" object and port mappings are the main plugin's business.
 */
int tk_cni_config_parse(const char *text, size_t len, const struct tk_cni_env *env, bool ipam,
			struct tk_cni_config *cfg, struct tk_cni_error *e);
void tk_cni_config_done(struct tk_cni_config *cfg);

/* The VERSION answer. */
json_t *tk_cni_version_result(const char *version);

/*
 * The ADD result for an endpoint object of netd (docs/protocol.md), in cfg->version's format,
 * with interfaces [host veth, container interface] appended to prevResult's when there is one.
 */
json_t *tk_cni_result(const struct tk_cni_config *cfg, json_t *endpoint, const char *host_mac,
		      const char *netns);

/* The IPAM result: ips (without interface), default routes and dns, in cfg->version's format. */
json_t *tk_cni_ipam_result(const struct tk_cni_config *cfg, json_t *endpoint);

json_t *tk_cni_error_json(const char *version, const struct tk_cni_error *e);

/* A netd error (negative errno) as a CNI code. */
int tk_cni_code_of_errno(int code);

/*
 * The one way a tk_err becomes a CNI error: the code of tk_cni_code_of_errno(code), a short
 * message for that code, and err's message (or the text of code) as details.  Returns -1, as
 * tk_cni_fail does.
 */
int tk_cni_fail_err(struct tk_cni_error *e, int code, const tk_err *err);

/* True when (container_id, ifname) is listed in a GC valid-attachments array. */
bool tk_cni_attachment_valid(json_t *valid, const char *container_id, const char *ifname);
