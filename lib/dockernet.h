/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Decoding of Docker's remote network-driver and IPAM-driver plugin requests (moby libnetwork
 * docs/remote.md and docs/ipam.md): POST /Plugin.Activate, /NetworkDriver.*, /IpamDriver.* with
 * a JSON body.  Pure functions, so unit tests and fuzzers reach them without a socket; netd's
 * docker.c acts on what they return.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum tk_dnet_op {
	TK_DNET_ACTIVATE,
	TK_DNET_CAPABILITIES,
	TK_DNET_CREATE_NETWORK,
	TK_DNET_DELETE_NETWORK,
	TK_DNET_ALLOCATE_NETWORK,
	TK_DNET_FREE_NETWORK,
	TK_DNET_CREATE_ENDPOINT,
	TK_DNET_DELETE_ENDPOINT,
	TK_DNET_ENDPOINT_INFO,
	TK_DNET_JOIN,
	TK_DNET_LEAVE,
	TK_DNET_DISCOVER_NEW,
	TK_DNET_DISCOVER_DELETE,
	TK_DNET_PROGRAM_EXTERNAL,
	TK_DNET_REVOKE_EXTERNAL,
	TK_DNET_IPAM_CAPABILITIES,
	TK_DNET_IPAM_ADDRESS_SPACES,
	TK_DNET_REQUEST_POOL,
	TK_DNET_RELEASE_POOL,
	TK_DNET_REQUEST_ADDRESS,
	TK_DNET_RELEASE_ADDRESS,
	_TK_DNET_OP_MAX,
	_TK_DNET_OP_INVALID = -22,
};

/* Docker's option keys that netd reads. */
#define TK_DNET_OPT_GENERIC  "com.docker.network.generic"
#define TK_DNET_OPT_IPV6     "com.docker.network.enable_ipv6"
#define TK_DNET_OPT_MTU	     "com.docker.network.driver.mtu"
#define TK_DNET_OPT_INTERNAL "com.docker.network.internal"
/* The bridge driver's -o options: the one that means tenantkit's nat, and one it cannot honour. */
#define TK_DNET_OPT_MASQUERADE	 "com.docker.network.bridge.enable_ip_masquerade"
#define TK_DNET_OPT_ICC		 "com.docker.network.bridge.enable_icc"
#define TK_DNET_OPT_PORTMAP	 "com.docker.network.portmap"
#define TK_DNET_OPT_ADDRESS_TYPE "RequestAddressType"
#define TK_DNET_GATEWAY_TYPE	 "com.docker.network.gateway"

/* Every string points into body, which the request owns. */
struct tk_dnet_request {
	enum tk_dnet_op op;
	const char *network_id, *endpoint_id; /* hex ids, checked */
	const char *sandbox_key;	      /* Join */

	/* CreateNetwork: the driver options (-o) and the pools Docker's IPAM gave. */
	const char *tenant; /* -o tenant=NAME; NULL when absent */
	bool ipv6;
	bool nat;      /* -o nat=false, or --internal, turn egress NAT off */
	bool internal; /* --internal: nothing in or out past the host (netd's internal) */
	unsigned mtu;
	const char *pool4, *gateway4, *pool6, *gateway6; /* CIDR text; NULL when absent */

	/* CreateEndpoint: what Docker's IPAM gave the interface ("10.0.0.2/24"), NULL if none. */
	const char *address, *address6, *mac;

	/* ProgramExternalConnectivity: [{host_port, container_port, protocol, host_ip?}]. */
	json_t *port_mappings; /* owned; NULL when the request has no port map */

	/* IPAM */
	const char *pool_id;	 /* ReleasePool, RequestAddress, ReleaseAddress */
	const char *pool;	 /* RequestPool: --subnet, NULL for "any" */
	bool v6;		 /* RequestPool */
	const char *ipam_tenant; /* RequestPool: --ipam-opt tenant=NAME */
	const char *req_address; /* RequestAddress (NULL: any), ReleaseAddress */
	bool gateway;		 /* RequestAddress: the network's gateway is asked for */

	json_t *body; /* owned; NULL for an empty body */
};

/*
 * Decodes one request: the URL path names the op, body (may be empty) carries its arguments.
 * -ENOENT for an unknown path, -EBADMSG for a body that is not a JSON object, -EINVAL for a
 * missing, mistyped or unsupported field (with a message a Docker user can act on).
 */
int tk_dnet_request_decode(const char *path, const char *body, size_t len,
			   struct tk_dnet_request *ret, tk_err *err);
void tk_dnet_request_done(struct tk_dnet_request *req);

/* The netd network of a Docker network: "docker-" and the id's first 12 hex digits. */
int tk_dnet_network_name(const char *network_id, char *buf, size_t size, tk_err *err);
/*
 * The name of an endpoint's container end while it waits in netd's netns for Docker to move it
 * into the container: "tkd" and the endpoint id's first 12 hex digits (15 bytes).
 */
int tk_dnet_endpoint_ifname(const char *endpoint_id, char *buf, size_t size, tk_err *err);
