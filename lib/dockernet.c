/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "dockernet.h"
#include "json.h"

enum { NEEDS_NET = 1 << 0, NEEDS_EP = 1 << 1 };

static const struct {
	const char *path;
	enum tk_dnet_op op;
	unsigned needs;
} routes[] = {
	{ "/Plugin.Activate", TK_DNET_ACTIVATE, 0 },
	{ "/NetworkDriver.GetCapabilities", TK_DNET_CAPABILITIES, 0 },
	{ "/NetworkDriver.CreateNetwork", TK_DNET_CREATE_NETWORK, NEEDS_NET },
	{ "/NetworkDriver.DeleteNetwork", TK_DNET_DELETE_NETWORK, NEEDS_NET },
	{ "/NetworkDriver.AllocateNetwork", TK_DNET_ALLOCATE_NETWORK, 0 },
	{ "/NetworkDriver.FreeNetwork", TK_DNET_FREE_NETWORK, 0 },
	{ "/NetworkDriver.CreateEndpoint", TK_DNET_CREATE_ENDPOINT, NEEDS_NET | NEEDS_EP },
	{ "/NetworkDriver.DeleteEndpoint", TK_DNET_DELETE_ENDPOINT, NEEDS_NET | NEEDS_EP },
	{ "/NetworkDriver.EndpointOperInfo", TK_DNET_ENDPOINT_INFO, NEEDS_NET | NEEDS_EP },
	{ "/NetworkDriver.Join", TK_DNET_JOIN, NEEDS_NET | NEEDS_EP },
	{ "/NetworkDriver.Leave", TK_DNET_LEAVE, NEEDS_NET | NEEDS_EP },
	{ "/NetworkDriver.DiscoverNew", TK_DNET_DISCOVER_NEW, 0 },
	{ "/NetworkDriver.DiscoverDelete", TK_DNET_DISCOVER_DELETE, 0 },
	{ "/NetworkDriver.ProgramExternalConnectivity", TK_DNET_PROGRAM_EXTERNAL,
	  NEEDS_NET | NEEDS_EP },
	{ "/NetworkDriver.RevokeExternalConnectivity", TK_DNET_REVOKE_EXTERNAL,
	  NEEDS_NET | NEEDS_EP },
	{ "/IpamDriver.GetCapabilities", TK_DNET_IPAM_CAPABILITIES, 0 },
	{ "/IpamDriver.GetDefaultAddressSpaces", TK_DNET_IPAM_ADDRESS_SPACES, 0 },
	{ "/IpamDriver.RequestPool", TK_DNET_REQUEST_POOL, 0 },
	{ "/IpamDriver.ReleasePool", TK_DNET_RELEASE_POOL, 0 },
	{ "/IpamDriver.RequestAddress", TK_DNET_REQUEST_ADDRESS, 0 },
	{ "/IpamDriver.ReleaseAddress", TK_DNET_RELEASE_ADDRESS, 0 },
};

/* Go sends "" for an unset string: the same as absent. */
static const char *nonempty(const char *s)
{
	return s && s[0] ? s : NULL;
}

static int check_id(const char *what, const char *id, tk_err *err)
{
	size_t n = id ? strlen(id) : 0;

	if (n < 12 || n > 64 || strspn(id, "0123456789abcdef") != n)
		return tk_err_set(err, -EINVAL,
				  "%s '%.80s' is not a Docker id (12 to 64 hex digits)", what,
				  id ? id : "");
	return 0;
}

static int get_string(json_t *o, const char *key, const char **ret, tk_err *err)
{
	json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return tk_err_set(err, -EINVAL, "\"%s\" must be a string", key);
	*ret = nonempty(json_string_value(v));
	return 0;
}

/* An object member that may be absent or null. */
static int get_object(json_t *o, const char *key, json_t **ret, tk_err *err)
{
	json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return tk_err_set(err, -EINVAL, "\"%s\" must be an object", key);
	*ret = v;
	return 0;
}

/* Option values come as strings from the command line, as JSON values from Docker itself. */
static int option_bool(const char *key, json_t *v, bool *ret, tk_err *err)
{
	const char *s = json_string_value(v);

	if (json_is_boolean(v)) {
		*ret = json_is_true(v);
		return 0;
	}
	if (s && (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)) {
		*ret = true;
		return 0;
	}
	if (s && (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)) {
		*ret = false;
		return 0;
	}
	return tk_err_set(err, -EINVAL, "option %s must be true or false", key);
}

static int option_mtu(json_t *v, unsigned *ret, tk_err *err)
{
	const char *s = json_string_value(v);
	long long mtu = -1;
	char *end;

	if (json_is_integer(v))
		mtu = json_integer_value(v);
	else if (s && *s) {
		mtu = strtoll(s, &end, 10);
		if (*end)
			mtu = -1;
	}
	if (mtu == 0) /* Docker's "not set" */
		return 0;
	if (mtu < 576 || mtu > 65535)
		return tk_err_set(err, -EINVAL, "option %s must be an MTU from 576 to 65535",
				  TK_DNET_OPT_MTU);
	*ret = (unsigned)mtu;
	return 0;
}

/* -o KEY=VALUE of `docker network create`; Docker's own keys carry its prefix. */
static int decode_generic(json_t *generic, struct tk_dnet_request *ret, tk_err *err)
{
	const char *key;
	json_t *v;
	bool internal = false;
	int r = 0;

	json_object_foreach(generic, key, v)
	{
		if (strcmp(key, "tenant") == 0) {
			if (!(ret->tenant = nonempty(json_string_value(v))))
				return tk_err_set(err, -EINVAL, "option tenant must name a tenant");
		} else if (strcmp(key, "nat") == 0) {
			r = option_bool(key, v, &ret->nat, err);
		} else if (strcmp(key, TK_DNET_OPT_MTU) == 0) {
			r = option_mtu(v, &ret->mtu, err);
		} else if (strcmp(key, TK_DNET_OPT_INTERNAL) == 0) {
			if ((r = option_bool(key, v, &internal, err)) >= 0 && internal)
				ret->internal = true;
		} else if (strcmp(key, TK_DNET_OPT_MASQUERADE) == 0) {
			r = option_bool(key, v, &ret->nat, err); /* the bridge driver's nat */
		} else if (strcmp(key, TK_DNET_OPT_ICC) == 0) {
			bool icc;

			/* Asked for, isolation inside a network would silently not be there. */
			if ((r = option_bool(key, v, &icc, err)) >= 0 && !icc)
				return tk_err_set(err, -EINVAL,
						  "option %s=false: the containers of a tenantkit "
						  "network always reach each other; give them "
						  "networks of their own",
						  key);
		} else if (strncmp(key, "com.docker.", 11) != 0) {
			return tk_err_set(
				err, -EINVAL,
				"unknown option '%.64s' (tenant, nat, " TK_DNET_OPT_MTU ")", key);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* IPv4Data / IPv6Data: one pool per family (netd gives a network one subnet of each). */
static int decode_ipam_data(json_t *body, const char *key, const char **pool, const char **gw,
			    tk_err *err)
{
	json_t *list = json_object_get(body, key), *d;
	int r;

	*pool = *gw = NULL;
	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return tk_err_set(err, -EINVAL, "\"%s\" must be an array", key);
	if (json_array_size(list) > 1)
		return tk_err_set(err, -EINVAL,
				  "a tenantkit network has one subnet per address family, not %zu",
				  json_array_size(list));
	if (json_array_size(list) == 0)
		return 0;
	d = json_array_get(list, 0);
	if (!json_is_object(d))
		return tk_err_set(err, -EINVAL, "\"%s\" must hold objects", key);
	if ((r = get_string(d, "Pool", pool, err)) < 0 ||
	    (r = get_string(d, "Gateway", gw, err)) < 0)
		return r;
	return 0;
}

static int decode_create_network(struct tk_dnet_request *ret, tk_err *err)
{
	json_t *opts, *generic = NULL, *v;
	int r;

	if ((r = get_object(ret->body, "Options", &opts, err)) < 0 ||
	    (opts && (r = get_object(opts, TK_DNET_OPT_GENERIC, &generic, err)) < 0))
		return r;
	if ((v = json_object_get(opts, TK_DNET_OPT_IPV6)) &&
	    (r = option_bool(TK_DNET_OPT_IPV6, v, &ret->ipv6, err)) < 0)
		return r;
	/* --internal: libnetwork puts it beside enable_ipv6, not among the -o options */
	if ((v = json_object_get(opts, TK_DNET_OPT_INTERNAL)) &&
	    (r = option_bool(TK_DNET_OPT_INTERNAL, v, &ret->internal, err)) < 0)
		return r;
	if (generic && (r = decode_generic(generic, ret, err)) < 0)
		return r;
	if (ret->internal)
		ret->nat = false;
	if ((r = decode_ipam_data(ret->body, "IPv4Data", &ret->pool4, &ret->gateway4, err)) < 0 ||
	    (r = decode_ipam_data(ret->body, "IPv6Data", &ret->pool6, &ret->gateway6, err)) < 0)
		return r;
	if (!ret->tenant)
		return tk_err_set(err, -EINVAL,
				  "option tenant=NAME is required (docker network create -o "
				  "tenant=NAME)");
	if (!ret->pool4)
		return tk_err_set(err, -EINVAL,
				  "no IPv4 subnet: create the network with --ipam-driver "
				  "tenantkit-net (or --subnet)");
	if (ret->pool6)
		ret->ipv6 = true;
	return 0;
}

static int decode_create_endpoint(struct tk_dnet_request *ret, tk_err *err)
{
	json_t *iface;
	int r;

	if ((r = get_object(ret->body, "Interface", &iface, err)) < 0)
		return r;
	if (iface && ((r = get_string(iface, "Address", &ret->address, err)) < 0 ||
		      (r = get_string(iface, "AddressIPv6", &ret->address6, err)) < 0 ||
		      (r = get_string(iface, "MacAddress", &ret->mac, err)) < 0))
		return r;
	if (!ret->address)
		return tk_err_set(err, -EINVAL,
				  "no IPv4 address for the endpoint: use --ipam-driver "
				  "tenantkit-net");
	return 0;
}

static int json_port(json_t *b, const char *key, bool zero_ok, int *ret, tk_err *err)
{
	json_t *v = json_object_get(b, key);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;

	if (!v && zero_ok) {
		*ret = 0;
		return 0;
	}
	if (n < (zero_ok ? 0 : 1) || n > 65535)
		return tk_err_set(err, -EINVAL, "port map: \"%s\" must be a port number", key);
	*ret = (int)n;
	return 0;
}

/* One entry of Docker's port map (a types.PortBinding) in endpoint.ports' form. */
static int decode_binding(json_t *b, json_t *list, tk_err *err)
{
	json_t *proto = json_object_get(b, "Proto");
	const char *host_ip = NULL, *protocol;
	int port = 0, host_port = 0, host_end = 0, r;
	json_t *m;

	if (!json_is_object(b))
		return tk_err_set(err, -EINVAL, "port map entries must be objects");
	switch (json_is_integer(proto) ? json_integer_value(proto) : -1) {
	case 6: protocol = "tcp"; break;
	case 17: protocol = "udp"; break;
	default: return tk_err_set(err, -EINVAL, "published ports are TCP or UDP only");
	}
	if ((r = json_port(b, "Port", false, &port, err)) < 0 ||
	    (r = json_port(b, "HostPort", true, &host_port, err)) < 0 ||
	    (r = json_port(b, "HostPortEnd", true, &host_end, err)) < 0 ||
	    (r = get_string(b, "HostIP", &host_ip, err)) < 0)
		return r;
	if (host_port == 0)
		return tk_err_set(err, -EINVAL,
				  "publish port %d/%s with a host port (-p HOSTPORT:%d): tenantkit "
				  "does not pick host ports",
				  port, protocol, port);
	if (host_end != 0 && host_end != host_port)
		return tk_err_set(err, -EINVAL, "host port ranges (%d-%d) are not supported",
				  host_port, host_end);
	m = json_pack("{s:i, s:i, s:s}", "host_port", host_port, "container_port", port, "protocol",
		      protocol);
	if (!m || (host_ip && json_object_set_new(m, "host_ip", json_string(host_ip)) < 0) ||
	    json_array_append_new(list, m) < 0)
		return tk_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int decode_program_external(struct tk_dnet_request *ret, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *list = NULL;
	json_t *opts, *map, *b;
	size_t i;
	int r;

	if ((r = get_object(ret->body, "Options", &opts, err)) < 0)
		return r;
	map = json_object_get(opts, TK_DNET_OPT_PORTMAP);
	if (!map || json_is_null(map))
		return 0;
	if (!json_is_array(map))
		return tk_err_set(err, -EINVAL, "\"%s\" must be an array", TK_DNET_OPT_PORTMAP);
	if (!(list = json_array()))
		return tk_err_set(err, -ENOMEM, "out of memory");
	json_array_foreach(map, i, b)
	{
		if ((r = decode_binding(b, list, err)) < 0)
			return r;
	}
	ret->port_mappings = TAKE_PTR(list);
	return 0;
}

static int decode_request_pool(struct tk_dnet_request *ret, tk_err *err)
{
	const char *sub = NULL, *key;
	json_t *opts, *v;
	int r;

	if ((r = get_string(ret->body, "Pool", &ret->pool, err)) < 0 ||
	    (r = get_string(ret->body, "SubPool", &sub, err)) < 0 ||
	    (r = get_object(ret->body, "Options", &opts, err)) < 0)
		return r;
	v = json_object_get(ret->body, "V6");
	if (v && !json_is_null(v) && (r = option_bool("V6", v, &ret->v6, err)) < 0)
		return r;
	if (sub)
		return tk_err_set(err, -EINVAL,
				  "--ip-range is not supported: netd allocates from the whole "
				  "subnet");
	json_object_foreach(opts, key, v)
	{
		if (strcmp(key, "tenant") == 0) {
			if (!(ret->ipam_tenant = nonempty(json_string_value(v))))
				return tk_err_set(err, -EINVAL,
						  "IPAM option tenant must name a tenant");
		} else if (strncmp(key, "com.docker.", 11) != 0) {
			return tk_err_set(err, -EINVAL, "unknown IPAM option '%.64s' (tenant)",
					  key);
		}
	}
	return 0;
}

static int decode_address(struct tk_dnet_request *ret, tk_err *err)
{
	const char *type = NULL;
	json_t *opts;
	int r;

	if ((r = get_string(ret->body, "PoolID", &ret->pool_id, err)) < 0 ||
	    (r = get_string(ret->body, "Address", &ret->req_address, err)) < 0)
		return r;
	if (!ret->pool_id)
		return tk_err_set(err, -EINVAL, "\"PoolID\" is required");
	if (ret->op == TK_DNET_RELEASE_POOL)
		return 0;
	if (ret->op == TK_DNET_RELEASE_ADDRESS) {
		if (!ret->req_address)
			return tk_err_set(err, -EINVAL, "\"Address\" is required");
		return 0;
	}
	if ((r = get_object(ret->body, "Options", &opts, err)) < 0 ||
	    (opts && (r = get_string(opts, TK_DNET_OPT_ADDRESS_TYPE, &type, err)) < 0))
		return r;
	ret->gateway = type && strcmp(type, TK_DNET_GATEWAY_TYPE) == 0;
	return 0;
}

static int decode_body(struct tk_dnet_request *ret, unsigned needs, tk_err *err)
{
	int r;

	if ((r = get_string(ret->body, "NetworkID", &ret->network_id, err)) < 0 ||
	    (r = get_string(ret->body, "EndpointID", &ret->endpoint_id, err)) < 0)
		return r;
	if ((needs & NEEDS_NET) && (r = check_id("NetworkID", ret->network_id, err)) < 0)
		return r;
	if ((needs & NEEDS_EP) && (r = check_id("EndpointID", ret->endpoint_id, err)) < 0)
		return r;
	switch (ret->op) {
	case TK_DNET_CREATE_NETWORK: return decode_create_network(ret, err);
	case TK_DNET_CREATE_ENDPOINT: return decode_create_endpoint(ret, err);
	case TK_DNET_JOIN: return get_string(ret->body, "SandboxKey", &ret->sandbox_key, err);
	case TK_DNET_PROGRAM_EXTERNAL: return decode_program_external(ret, err);
	case TK_DNET_REQUEST_POOL: return decode_request_pool(ret, err);
	case TK_DNET_RELEASE_POOL:
	case TK_DNET_REQUEST_ADDRESS:
	case TK_DNET_RELEASE_ADDRESS: return decode_address(ret, err);
	default: return 0;
	}
}

int tk_dnet_request_decode(const char *path, const char *body, size_t len,
			   struct tk_dnet_request *ret, tk_err *err)
{
	size_t i;
	int r;

	*ret = (struct tk_dnet_request){ .nat = true };
	for (i = 0; i < ELEMENTSOF(routes); i++)
		if (strcmp(routes[i].path, path) == 0)
			break;
	if (i == ELEMENTSOF(routes))
		return tk_err_set(err, -ENOENT, "unknown endpoint '%.200s'", path);
	ret->op = routes[i].op;
	if ((r = tk_json_parse_object_or_blank(body, len, path, &ret->body, err)) < 0)
		return r;
	if (!ret->body && !(ret->body = json_object()))
		return tk_err_set(err, -ENOMEM, "out of memory");
	/* No "NetworkDriver.X: " prefix: dockerd puts the method before the plugin's error. */
	if ((r = decode_body(ret, routes[i].needs, err)) < 0) {
		tk_dnet_request_done(ret);
		return r;
	}
	return 0;
}

void tk_dnet_request_done(struct tk_dnet_request *req)
{
	json_decref(req->port_mappings);
	json_decref(req->body);
	*req = (struct tk_dnet_request){};
}

static int prefixed(const char *prefix, const char *what, const char *id, char *buf, size_t size,
		    tk_err *err)
{
	int r;

	if ((r = check_id(what, id, err)) < 0)
		return r;
	if ((size_t)snprintf(buf, size, "%s%.12s", prefix, id) >= size)
		return tk_err_set(err, -ENOBUFS, "name buffer too small");
	return 0;
}

int tk_dnet_network_name(const char *network_id, char *buf, size_t size, tk_err *err)
{
	return prefixed("docker-", "NetworkID", network_id, buf, size, err);
}

int tk_dnet_endpoint_ifname(const char *endpoint_id, char *buf, size_t size, tk_err *err)
{
	return prefixed("tkd", "EndpointID", endpoint_id, buf, size, err);
}
