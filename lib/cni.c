/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cni.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "cleanup.h"
#include "json.h"

static const char *const supported_versions[] = { "0.4.0", "1.0.0", "1.1.0" };

int tk_cni_fail(struct tk_cni_error *e, int code, const char *msg, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	va_start(ap, fmt);
	vsnprintf(e->details, sizeof(e->details), fmt, ap);
	va_end(ap);
	return -1;
}

static const struct {
	const char *name;
	enum tk_cni_command command;
	bool needs_container; /* CNI_CONTAINERID and CNI_IFNAME */
	bool needs_netns;
} commands[] = {
	{ "ADD", TK_CNI_ADD, true, true },     { "DEL", TK_CNI_DEL, true, false },
	{ "CHECK", TK_CNI_CHECK, true, true }, { "STATUS", TK_CNI_STATUS, false, false },
	{ "GC", TK_CNI_GC, false, false },     { "VERSION", TK_CNI_VERSION, false, false },
};

/* CNI_ARGS: "K=V;K=V".  Only IP and MAC mean something to us. */
static int parse_cni_args(struct tk_cni_env *env, struct tk_cni_error *e)
{
	const char *p = env->args;

	while (p && *p) {
		const char *end = strchrnul(p, ';'), *eq = memchr(p, '=', (size_t)(end - p));
		size_t klen, vlen;

		if (!eq || eq == p)
			return tk_cni_fail(e, TK_CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
					   "'%.*s' is not KEY=VALUE", (int)(end - p), p);
		klen = (size_t)(eq - p);
		vlen = (size_t)(end - eq - 1);
		if (klen == 2 && strncmp(p, "IP", 2) == 0) {
			if (vlen >= sizeof(env->ip))
				return tk_cni_fail(e, TK_CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
						   "IP= is too long");
			memcpy(env->ip, eq + 1, vlen);
			env->ip[vlen] = '\0';
		} else if (klen == 3 && strncmp(p, "MAC", 3) == 0) {
			if (vlen >= sizeof(env->mac))
				return tk_cni_fail(e, TK_CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
						   "MAC= is too long");
			memcpy(env->mac, eq + 1, vlen);
			env->mac[vlen] = '\0';
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

int tk_cni_env_parse(const char *(*get)(const char *name), struct tk_cni_env *env,
		     struct tk_cni_error *e)
{
	const char *command = get("CNI_COMMAND");
	tk_err err = {};
	size_t i;

	*env = (struct tk_cni_env){};
	if (!command || !*command)
		return tk_cni_fail(
			e, TK_CNI_ERR_INVALID_ENV, "CNI_COMMAND is not set",
			"run by a CNI runtime, which sets CNI_COMMAND to ADD, DEL, CHECK, "
			"STATUS, GC or VERSION");
	for (i = 0; i < ELEMENTSOF(commands); i++)
		if (strcmp(command, commands[i].name) == 0)
			break;
	if (i == ELEMENTSOF(commands))
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_ENV, "unknown CNI_COMMAND",
				   "'%s' is not one of ADD, DEL, CHECK, STATUS, GC, VERSION",
				   command);
	env->command = commands[i].command;
	env->path = get("CNI_PATH");
	/*
	 * Network-level verbs (VERSION, STATUS, GC) use nothing else: runtimes pass placeholders
	 * ("dummy") there, which must not be judged.
	 */
	if (!commands[i].needs_container)
		return 0;
	env->container_id = get("CNI_CONTAINERID");
	env->ifname = get("CNI_IFNAME");
	env->args = get("CNI_ARGS");
	if (!env->container_id || tk_container_id_validate(env->container_id, &err) < 0)
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_ENV, "invalid CNI_CONTAINERID", "%s",
				   env->container_id ? err.msg : "CNI_CONTAINERID is not set");
	if (!env->ifname || tk_ifname_validate(env->ifname, &err) < 0)
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_ENV, "invalid CNI_IFNAME", "%s",
				   env->ifname ? err.msg : "CNI_IFNAME is not set");
	/* DEL works without the namespace (it may be gone), so only ADD and CHECK judge it. */
	if (commands[i].needs_netns) {
		env->netns = get("CNI_NETNS");
		if (!env->netns || !*env->netns)
			return tk_cni_fail(e, TK_CNI_ERR_INVALID_ENV, "CNI_NETNS is not set",
					   "%s needs the path of the container's network namespace",
					   command);
		if (env->netns[0] != '/')
			return tk_cni_fail(e, TK_CNI_ERR_INVALID_ENV, "invalid CNI_NETNS",
					   "'%s' is not an absolute path", env->netns);
	}
	return parse_cni_args(env, e);
}

static bool version_supported(const char *v)
{
	for (size_t i = 0; i < ELEMENTSOF(supported_versions); i++)
		if (strcmp(v, supported_versions[i]) == 0)
			return true;
	return false;
}

/* The spec's network name: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
static bool network_name_valid(const char *name)
{
	if (!isalnum((unsigned char)name[0]))
		return false;
	for (const char *c = name + 1; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_.-", *c))
			return false;
	return true;
}

/* prevResult's lists and dns, where present, as the result format has them. */
static int prev_result_check(json_t *prev, struct tk_cni_error *e)
{
	static const char *const lists[] = { "interfaces", "ips", "routes" };
	json_t *dns = json_object_get(prev, "dns");

	for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
		json_t *l = json_object_get(prev, lists[i]);

		if (l && !json_is_array(l))
			return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid prevResult",
					   "'prevResult.%s' must be an array", lists[i]);
	}
	if (dns && !json_is_object(dns))
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid prevResult",
				   "'prevResult.dns' must be an object");
	return 0;
}

/* Static address and MAC requests, in the conventions' order of precedence. */
static int collect_requests(struct tk_cni_config *cfg, const struct tk_cni_env *env,
			    struct tk_cni_error *e)
{
	json_t *rc = json_object_get(cfg->root, "runtimeConfig");
	json_t *cni = json_object_get(json_object_get(cfg->root, "args"), "cni");
	json_t *ips = NULL, *sources[2] = { rc, cni }, *v;
	size_t i;

	for (int s = 1; s >= 0; s--) {
		json_t *mac = json_object_get(sources[s], "mac");
		json_t *list = json_object_get(sources[s], "ips");

		if (mac && !json_is_string(mac))
			return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid mac",
					   "'mac' must be a string like 02:00:00:aa:bb:cc");
		if (list && (!json_is_array(list) || json_array_size(list) > 2))
			return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid ips",
					   "'ips' must be an array of at most one IPv4 and one "
					   "IPv6 address");
		if (mac)
			cfg->mac = json_string_value(mac);
		if (list && json_array_size(list) > 0)
			ips = list;
	}
	if (!cfg->mac && env->mac[0])
		cfg->mac = env->mac;
	if (ips) {
		json_array_foreach(ips, i, v)
		{
			if (!json_is_string(v))
				return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid ips",
						   "'ips' entries must be strings");
			cfg->ips[i] = json_string_value(v);
		}
	} else if (env->ip[0]) {
		cfg->ips[0] = env->ip;
	}
	return 0;
}

static const char *type_name(json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/*
 * GC's list of attachments to keep.  libcni marshals an empty list as null (a nil slice) and
 * older libcni wrote only "cni.dev/attachments": both mean the same, as does no list at all (the
 * runtime keeps nothing on this network).  Anything else must be an array of
 * {containerID, ifname}.  *ret is NULL for an empty list.
 */
static int gc_valid_attachments(json_t *root, json_t **ret, struct tk_cni_error *e)
{
	const char *key = "cni.dev/valid-attachments";
	json_t *valid = json_object_get(root, key), *v;
	size_t i;

	if (!valid) {
		key = "cni.dev/attachments";
		valid = json_object_get(root, key);
	}
	*ret = NULL;
	if (!valid || json_is_null(valid))
		return 0;
	if (!json_is_array(valid))
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid GC request",
				   "'%s' must be an array of {containerID, ifname} or null, not %s",
				   key, type_name(valid));
	json_array_foreach(valid, i, v)
	{
		if (!json_is_string(json_object_get(v, "containerID")) ||
		    !json_is_string(json_object_get(v, "ifname")))
			return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid GC request",
					   "%s[%zu] needs string containerID and ifname", key, i);
	}
	*ret = valid;
	return 0;
}

static int pm_port(json_t *m, const char *key, size_t i, json_int_t *ret, struct tk_cni_error *e)
{
	json_t *v = json_object_get(m, key);

	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid portMappings",
				   "runtimeConfig.portMappings[%zu].%s must be a port (1..65535)",
				   i, key);
	*ret = json_integer_value(v);
	return 0;
}

/*
 * The portMappings capability (CNI conventions): [{hostPort, containerPort, protocol, hostIP}],
 * turned into netd's port_mappings.  protocol defaults to tcp; an empty hostIP means every
 * address of the host.
 */
static int collect_port_mappings(json_t *rc, struct tk_cni_config *cfg, struct tk_cni_error *e)
{
	json_t *pm = json_object_get(rc, "portMappings"), *m;
	size_t i;

	if (!pm || json_is_null(pm))
		return 0;
	if (!json_is_array(pm))
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid portMappings",
				   "runtimeConfig.portMappings must be an array");
	if (json_array_size(pm) == 0)
		return 0;
	if (!(cfg->port_mappings = json_array()))
		return tk_cni_fail(e, TK_CNI_ERR_IO, "out of memory", "portMappings");
	json_array_foreach(pm, i, m)
	{
		json_t *proto = json_object_get(m, "protocol"), *ip = json_object_get(m, "hostIP");
		const char *p = json_is_string(proto) ? json_string_value(proto) : "tcp";
		json_int_t host_port = 0, port = 0;
		json_t *o;

		if (!json_is_object(m) || pm_port(m, "hostPort", i, &host_port, e) < 0 ||
		    pm_port(m, "containerPort", i, &port, e) < 0)
			return json_is_object(m) ? -1
						 : tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG,
							       "invalid portMappings",
							       "runtimeConfig.portMappings[%zu] "
							       "must be an object",
							       i);
		if ((proto && !json_is_string(proto)) ||
		    (strcasecmp(p, "tcp") != 0 && strcasecmp(p, "udp") != 0))
			return tk_cni_fail(
				e, TK_CNI_ERR_INVALID_CONFIG, "invalid portMappings",
				"runtimeConfig.portMappings[%zu].protocol must be tcp or "
				"udp",
				i);
		if (ip && !json_is_string(ip))
			return tk_cni_fail(
				e, TK_CNI_ERR_INVALID_CONFIG, "invalid portMappings",
				"runtimeConfig.portMappings[%zu].hostIP must be a string", i);
		o = json_pack("{s:I, s:I, s:s}", "host_port", host_port, "container_port", port,
			      "protocol", strcasecmp(p, "udp") == 0 ? "udp" : "tcp");
		if (o && ip && *json_string_value(ip))
			json_object_set(o, "host_ip", ip);
		if (!o || json_array_append_new(cfg->port_mappings, o) < 0)
			return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid portMappings",
					   "runtimeConfig.portMappings[%zu] is not valid UTF-8", i);
	}
	return 0;
}

int tk_cni_config_parse(const char *text, size_t len, const struct tk_cni_env *env, bool ipam,
			struct tk_cni_config *cfg, struct tk_cni_error *e)
{
	json_t *rc, *own;
	tk_err err = {};

	*cfg = (struct tk_cni_config){};
	if (tk_json_parse(text, len, "network configuration", &cfg->root, &err) < 0)
		return tk_cni_fail(e, TK_CNI_ERR_DECODE, "cannot decode the network configuration",
				   "%s", err.msg);
	if (!json_is_object(cfg->root))
		return tk_cni_fail(e, TK_CNI_ERR_DECODE, "cannot decode the network configuration",
				   "it must be a JSON object");
	cfg->version = json_string_value(json_object_get(cfg->root, "cniVersion"));
	if (env->command == TK_CNI_VERSION)
		return 0;
	if (!cfg->version)
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				   "'cniVersion' (a string) is required");
	if (!version_supported(cfg->version))
		return tk_cni_fail(
			e, TK_CNI_ERR_VERSION, "incompatible CNI version",
			"cniVersion '%s' is not supported; supported: 0.4.0, 1.0.0, 1.1.0",
			cfg->version);
	if (tk_json_unpack_lax(cfg->root, "network configuration", &err, "{s:s, s:s}", "name",
			       &cfg->name, "type", &cfg->type) < 0)
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				   "%s (name and type are required strings)", err.msg);
	/* DEL still deletes what an ADD of an older plugin made under such a name. */
	if (env->command != TK_CNI_DEL && !network_name_valid(cfg->name))
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				   "network name '%s' must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$",
				   cfg->name);
	/* Verbs of CNI 1.1: an older configuration's GC would know no valid attachments. */
	if ((env->command == TK_CNI_GC || env->command == TK_CNI_STATUS) &&
	    strcmp(cfg->version, "1.1.0") != 0)
		return tk_cni_fail(e, TK_CNI_ERR_VERSION, "incompatible CNI version",
				   "cniVersion '%s' does not allow %s (CNI 1.1.0 does)",
				   cfg->version, env->command == TK_CNI_GC ? "GC" : "STATUS");
	own = ipam ? json_object_get(cfg->root, "ipam") : cfg->root;
	if (tk_json_unpack_lax(own, ipam ? "ipam" : "network configuration", &err,
			       "{s:s, s:s, s?s}", "tenant", &cfg->tenant, "network", &cfg->network,
			       "socket", &cfg->socket) < 0)
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				   "%s (%stenant and network are required strings)", err.msg,
				   ipam ? "an 'ipam' object with " : "");
	if (tk_name_validate(cfg->tenant, "tenant", &err) < 0 ||
	    tk_name_validate(cfg->network, "network", &err) < 0)
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				   "%s", err.msg);
	if (cfg->socket && cfg->socket[0] != '/')
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				   "'socket' must be an absolute path");
	rc = json_object_get(cfg->root, "runtimeConfig");
	if (rc && !json_is_object(rc))
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid runtimeConfig",
				   "'runtimeConfig' must be an object");
	/* Only ADD publishes; an IPAM plugin leaves port mappings to the main plugin. */
	if (env->command == TK_CNI_ADD && !ipam && collect_port_mappings(rc, cfg, e) < 0)
		return -1;
	cfg->prev_result = json_object_get(cfg->root, "prevResult");
	if (cfg->prev_result && !json_is_object(cfg->prev_result))
		return tk_cni_fail(e, TK_CNI_ERR_INVALID_CONFIG, "invalid prevResult",
				   "'prevResult' must be an object");
	if (cfg->prev_result && prev_result_check(cfg->prev_result, e) < 0)
		return -1;
	if (env->command == TK_CNI_GC &&
	    gc_valid_attachments(cfg->root, &cfg->valid_attachments, e) < 0)
		return -1;
	return collect_requests(cfg, env, e);
}

void tk_cni_config_done(struct tk_cni_config *cfg)
{
	json_decref(cfg->port_mappings);
	json_decref(cfg->root);
	*cfg = (struct tk_cni_config){};
}

json_t *tk_cni_version_result(const char *version)
{
	json_t *list = json_array();

	for (size_t i = 0; i < ELEMENTSOF(supported_versions); i++)
		json_array_append_new(list, json_string(supported_versions[i]));
	return json_pack("{s:s, s:o}", "cniVersion", version ? version : "1.1.0",
			 "supportedVersions", list);
}

/* A copy of prevResult's list (or an empty one). */
static json_t *prev_list(const struct tk_cni_config *cfg, const char *key)
{
	json_t *l = json_object_get(cfg->prev_result, key);

	return json_is_array(l) ? json_deep_copy(l) : json_array();
}

/*
 * Appends the endpoint's addresses to ips (with interface = iface unless negative) and a default
 * route via each gateway to routes, in cfg->version's format.
 */
static void append_addresses(const struct tk_cni_config *cfg, json_t *endpoint, json_int_t iface,
			     json_t *ips, json_t *routes)
{
	bool v040 = strcmp(cfg->version, "0.4.0") == 0;
	size_t i;
	json_t *ip;

	json_array_foreach(json_object_get(endpoint, "ips"), i, ip)
	{
		const char *version = json_string_value(json_object_get(ip, "version"));
		const char *gw = json_string_value(json_object_get(ip, "gateway"));
		json_t *entry =
			json_pack("{s:s, s:s}", "address",
				  json_string_value(json_object_get(ip, "address")), "gateway", gw);

		if (iface >= 0)
			json_object_set_new(entry, "interface", json_integer(iface));
		if (v040)
			json_object_set_new(entry, "version", json_string(version));
		json_array_append_new(ips, entry);
		json_array_append_new(routes,
				      json_pack("{s:s, s:s}", "dst",
						version && version[0] == '6' ? "::/0" : "0.0.0.0/0",
						"gw", gw));
	}
}

json_t *tk_cni_result(const struct tk_cni_config *cfg, json_t *endpoint, const char *host_mac,
		      const char *netns)
{
	json_t *interfaces = prev_list(cfg, "interfaces"), *ips = prev_list(cfg, "ips");
	json_t *routes = prev_list(cfg, "routes"), *dns, *host;
	size_t base = json_array_size(interfaces);

	host = json_pack("{s:s}", "name",
			 json_string_value(json_object_get(endpoint, "host_ifname")));
	if (host && host_mac)
		json_object_set_new(host, "mac", json_string(host_mac));
	json_array_append_new(interfaces, host);
	json_array_append_new(interfaces,
			      json_pack("{s:s, s:s, s:s}", "name",
					json_string_value(json_object_get(endpoint, "ifname")),
					"mac", json_string_value(json_object_get(endpoint, "mac")),
					"sandbox", netns ? netns : ""));
	append_addresses(cfg, endpoint, (json_int_t)base + 1, ips, routes);
	dns = json_object_get(cfg->prev_result, "dns");
	dns = json_is_object(dns) ? json_deep_copy(dns) : json_object();
	return json_pack("{s:s, s:o, s:o, s:o, s:o}", "cniVersion", cfg->version, "interfaces",
			 interfaces, "ips", ips, "routes", routes, "dns", dns);
}

json_t *tk_cni_ipam_result(const struct tk_cni_config *cfg, json_t *endpoint)
{
	json_t *ips = json_array(), *routes = json_array();

	append_addresses(cfg, endpoint, -1, ips, routes);
	return json_pack("{s:s, s:o, s:o, s:{}}", "cniVersion", cfg->version, "ips", ips, "routes",
			 routes, "dns");
}

json_t *tk_cni_error_json(const char *version, const struct tk_cni_error *e)
{
	json_t *j = json_pack("{s:s, s:i, s:s}", "cniVersion",
			      version && version_supported(version) ? version : "1.1.0", "code",
			      e->code, "msg", e->msg);

	if (j && e->details[0])
		json_object_set_new(j, "details", json_string(e->details));
	return j;
}

int tk_cni_code_of_errno(int code)
{
	switch (-code) {
	case EADDRINUSE:
	case EADDRNOTAVAIL: return TK_CNI_ERR_ADDRESS;
	case ENOSPC: return TK_CNI_ERR_POOL_EXHAUSTED;
	case EDQUOT: return TK_CNI_ERR_LIMIT;
	case EACCES:
	case EPERM: return TK_CNI_ERR_PERMISSION;
	case EEXIST: return TK_CNI_ERR_EXISTS;
	case ENOENT:
	case EINVAL: return TK_CNI_ERR_INVALID_CONFIG;
	case ECONNREFUSED:
	case EAGAIN:
	case EUSERS: /* netd's connection limit for the uid: a moment later it takes one */
	case EBUSY: return TK_CNI_ERR_TRY_LATER;
	case EBADMSG:
	case EIO:
	case ECONNRESET:
	case EPIPE: return TK_CNI_ERR_IO;
	default: return TK_CNI_ERR_REFUSED;
	}
}

static const char *short_message(int cni_code)
{
	switch (cni_code) {
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

int tk_cni_fail_err(struct tk_cni_error *e, int code, const tk_err *err)
{
	int cni_code = tk_cni_code_of_errno(code);

	return tk_cni_fail(e, cni_code, short_message(cni_code), "%s", tk_err_text(err, code));
}

bool tk_cni_attachment_valid(json_t *valid, const char *container_id, const char *ifname)
{
	size_t i;
	json_t *v;

	json_array_foreach(valid, i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "containerID")), container_id) ==
			    0 &&
		    strcmp(json_string_value(json_object_get(v, "ifname")), ifname) == 0)
			return true;
	}
	return false;
}
