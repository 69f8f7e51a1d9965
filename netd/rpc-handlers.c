/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One handler per op of docs/protocol.md: unpack and validate args, authorise, act, reply. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "json-arena.h"
#include "json.h"
#include "log.h"
#include "netd.h"
#include "rpc.h"

static int find_tenant(struct manager *m, const struct tk_caller *c, const char *name,
		       struct tk_tenant **ret, tk_err *err)
{
	return tk_tenant_find(&m->tenants, c, name, ret, err);
}

static int find_network(struct manager *m, const struct tk_caller *c, const char *name,
			struct network **ret, tk_err *err)
{
	struct network *n = manager_network(m, name);

	if (!n)
		return tk_err_set(err, -ENOENT, "no network '%s'", name);
	*ret = n;
	return caller_may_manage(c, n->tenant, err);
}

/* Another tenant's endpoint gets the answer a missing one gets, word for word. */
static int find_endpoint(struct manager *m, const struct tk_caller *c, const char *container_id,
			 const char *ifname, struct endpoint *ret, tk_err *err)
{
	int r = db_endpoint_find(m, container_id, ifname, ret, err);

	if (r == -ENOENT || (r >= 0 && caller_may_manage(c, ret->network->tenant, NULL) < 0))
		return tk_err_set(err, -ENOENT, "container '%s' has no interface '%s'",
				  container_id, ifname);
	return r;
}

/*
 * find_network, and when tenant is given (a CNI configuration names both), the network must be
 * that tenant's: a network of another tenant is a configuration mistake for every verb, whoever
 * the caller is.
 */
static int find_tenant_network(struct manager *m, const struct tk_caller *c, const char *name,
			       const char *tenant, struct network **ret, tk_err *err)
{
	int r = find_network(m, c, name, ret, err);

	if (r < 0 || !tenant || strcmp(tenant, (*ret)->tenant->name) == 0)
		return r;
	return tk_err_set(err, -EINVAL, "network '%s' belongs to tenant '%s', not '%s'", name,
			  (*ret)->tenant->name, tenant);
}

static int op_status(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
		     tk_err *err)
{
	unsigned networks = 0, tenants = 0;
	int r;

	if ((r = tk_json_unpack(args, "status args", err, "{}")) < 0)
		return r;
	for (struct network *n = m->networks; n; n = n->next)
		networks++;
	for (struct tk_tenant *t = m->tenants.list; t; t = t->next)
		tenants++;
	*ret = json_pack("{s:s, s:I, s:i, s:i, s:I, s:I, s:I, s:i, s:s, s:s}", "version",
			 TK_VERSION, "uptime_s", (json_int_t)(time(NULL) - m->started), "tenants",
			 (int)tenants, "networks", (int)networks, "endpoints",
			 (json_int_t)m->n_endpoints, "veths_deleting",
			 (json_int_t)reaper_pending(m), "fast_path_pending",
			 (json_int_t)attacher_pending(m), "pid", (int)getpid(), "state_dir",
			 m->state_dir, "socket", m->socket_path);
	if (*ret) {
		json_t *pools = json_array();
		char buf[TK_PREFIX_STRLEN];

		for (size_t i = 0; pools && i < m->pools4.n; i++)
			json_array_append_new(pools, json_string(tk_prefix_format(
							     &m->pools4.p[i], buf, sizeof(buf))));
		json_object_set_new(*ret, "pools4", pools);
		json_object_set_new(*ret, "pool6",
				    json_string(tk_prefix_format(&m->pool6, buf, sizeof(buf))));
		json_object_set_new(*ret, "max_ports", json_integer(m->max_ports));
		json_object_update_new(*ret, shaping_to_json(m));
		json_object_update_new(*ret, firewall_datapath_to_json());
		/* The whole host's traffic: not a tenant owner's to see. */
		if (c->admin)
			json_object_update_new(*ret, firewall_fast_counts_to_json());
	}
	return 0;
}

static int op_network_create(struct manager *m, const struct tk_caller *c, json_t *args,
			     json_t **ret, tk_err *err)
{
	struct network_params p = { .nat = true, .caller = c };
	const char *tenant;
	json_int_t mtu = 1500;
	int ipv6 = 0, nat = 1, internal = 0, force = 0, r;
	struct network *n = NULL;

	r = tk_json_unpack(args, "network.create args", err,
			   "{s:s, s:s, s?s, s?s, s?b, s?b, s?b, s?I, s?b}", "name", &p.name,
			   "tenant", &tenant, "subnet", &p.subnet4, "subnet6", &p.subnet6, "ipv6",
			   &ipv6, "nat", &nat, "internal", &internal, "mtu", &mtu, "force", &force);
	if (r < 0 || (r = find_tenant(m, c, tenant, &p.tenant, err)) < 0)
		return r;
	if (mtu < 576 || mtu > 65535)
		return tk_err_set(err, -EINVAL, "MTU %lld is out of range (576..65535)",
				  (long long)mtu);
	if (internal && json_is_true(json_object_get(args, "nat")))
		return tk_err_set(err, -EINVAL,
				  "an internal network has no NAT: drop nat or internal");
	p.ipv6 = ipv6;
	p.nat = nat && !internal;
	p.internal = internal;
	p.force = force;
	p.mtu = (unsigned)mtu;
	if ((r = network_create(m, &p, &n, err)) < 0)
		return r;
	*ret = network_to_json(m, n);
	return 0;
}

static int op_network_list(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			   tk_err *err)
{
	const char *tenant = NULL;
	struct tk_tenant *only = NULL;
	json_t *list;
	int r;

	if ((r = tk_json_unpack(args, "network.list args", err, "{s?s}", "tenant", &tenant)) < 0)
		return r;
	if (tenant && (r = find_tenant(m, c, tenant, &only, err)) < 0)
		return r;
	list = json_array();
	for (struct network *n = m->networks; n; n = n->next)
		if ((!only || n->tenant == only) && caller_may_manage(c, n->tenant, NULL) >= 0)
			json_array_append_new(list, network_to_json(m, n));
	*ret = json_pack("{s:o}", "networks", list);
	return 0;
}

static int op_network_inspect(struct manager *m, const struct tk_caller *c, json_t *args,
			      json_t **ret, tk_err *err)
{
	const char *name, *tenant = NULL;
	struct network *n = NULL;
	int r;

	if ((r = tk_json_unpack(args, "network.inspect args", err, "{s:s, s?s}", "name", &name,
				"tenant", &tenant)) < 0 ||
	    (r = find_tenant_network(m, c, name, tenant, &n, err)) < 0)
		return r;
	*ret = network_to_json(m, n);
	return 0;
}

static int op_network_delete(struct manager *m, const struct tk_caller *c, json_t *args,
			     json_t **ret, tk_err *err)
{
	const char *name;
	struct network *n = NULL;
	int r;

	if ((r = tk_json_unpack(args, "network.delete args", err, "{s:s}", "name", &name)) < 0 ||
	    (r = find_network(m, c, name, &n, err)) < 0 || (r = network_delete(m, n, err)) < 0)
		return r;
	*ret = json_object();
	return 0;
}

static int network_link_op(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			   bool link, tk_err *err)
{
	const char *a, *b;
	struct network *na = NULL, *nb = NULL;
	int r;

	if ((r = tk_json_unpack(args, link ? "network.link args" : "network.unlink args", err,
				"{s:s, s:s}", "a", &a, "b", &b)) < 0 ||
	    (r = find_network(m, c, a, &na, err)) < 0 ||
	    (r = find_network(m, c, b, &nb, err)) < 0 ||
	    (r = network_link(m, na, nb, link, err)) < 0)
		return r;
	*ret = json_object();
	return 0;
}

static int op_network_link(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			   tk_err *err)
{
	return network_link_op(m, c, args, ret, true, err);
}

static int op_network_unlink(struct manager *m, const struct tk_caller *c, json_t *args,
			     json_t **ret, tk_err *err)
{
	return network_link_op(m, c, args, ret, false, err);
}

/* Collects "ips": an array of strings, at most one per family. */
static int unpack_ips(json_t *ips, const char *list[3], tk_err *err)
{
	size_t i;
	json_t *v;

	if (!ips)
		return 0;
	if (!json_is_array(ips) || json_array_size(ips) > 2)
		return tk_err_set(err, -EINVAL, "'ips' must be an array of at most two addresses");
	json_array_foreach(ips, i, v)
	{
		if (!json_is_string(v))
			return tk_err_set(err, -EINVAL, "'ips' entries must be strings");
		list[i] = json_string_value(v);
	}
	return 0;
}

/* Adds "port_mappings" to an endpoint object when the endpoint publishes ports. */
static int endpoint_ports_json(struct manager *m, const struct endpoint *e, json_t *o, tk_err *err)
{
	_cleanup_free_ struct port_list *ports = malloc(sizeof(*ports));
	int r;

	if (!ports || !o)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (e->lease)
		return 0;
	if ((r = ports_db_load(m, e->id, ports, err)) < 0)
		return r;
	if (ports->n > 0)
		json_object_set_new(o, "port_mappings", ports_to_json(ports));
	return 0;
}

static int op_endpoint_add(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			   tk_err *err)
{
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	_cleanup_free_ struct port_list *ports = malloc(sizeof(*ports));
	struct endpoint_params p = {};
	const char *network, *tenant = NULL, *ips[3] = {};
	json_t *jips = NULL, *jports = NULL;
	int lease = 0, r;

	if (!e || !ports)
		return tk_err_set(err, -ENOMEM, "out of memory");
	p.netns = "";
	r = tk_json_unpack(args, "endpoint.add args", err,
			   "{s:s, s:s, s:s, s?s, s?o, s?s, s?s, s?b, s?o, s?s}", "network",
			   &network, "container_id", &p.container_id, "ifname", &p.ifname, "netns",
			   &p.netns, "ips", &jips, "mac", &p.mac, "tenant", &tenant, "lease",
			   &lease, "port_mappings", &jports, "cni_name", &p.cni_name);
	p.lease = lease;
	/* The CNI network's name (the spec's pattern, and netd's length for names) */
	if (r >= 0 && p.cni_name)
		r = tk_name_validate(p.cni_name, "CNI network name (cni_name)", err);
	if (r >= 0 && !lease && !p.netns[0])
		r = tk_err_set(err, -EINVAL, "endpoint.add args: 'netns' is required");
	if (r < 0 || (r = unpack_ips(jips, ips, err)) < 0 ||
	    (r = ports_from_json(jports, ports, err)) < 0 ||
	    (r = find_tenant_network(m, c, network, tenant, &p.network, err)) < 0)
		return r;
	p.ports = ports;
	p.ips = ips;
	/* A DEL the runtime recorded before this ADD (netd was down) must not undo the ADD. */
	lifecycle_spool_apply(m, true);
	/* Another tenant's container is not named: its ids are not for probing. */
	if (db_endpoint_find(m, p.container_id, p.ifname, e, NULL) >= 0) {
		if (caller_may_manage(c, e->network->tenant, NULL) < 0)
			return tk_err_set(err, -EEXIST,
					  "container id '%s' with interface '%s' is taken; choose "
					  "another container id",
					  p.container_id, p.ifname);
		return tk_err_set(err, -EEXIST,
				  "container '%s' already has interface '%s' on network '%s'",
				  p.container_id, p.ifname, e->network->name);
	}
	if ((r = endpoint_add(m, c, &p, e, err)) < 0)
		return r;
	*ret = endpoint_to_json(e);
	/* As endpoint.inspect shows it: only when there are some. */
	if (*ret && ports->n > 0)
		json_object_set_new(*ret, "port_mappings", ports_to_json(ports));
	return 0;
}

static int op_endpoint_del(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			   tk_err *err)
{
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	const char *container_id, *ifname, *network = NULL, *tenant = NULL;
	struct network *n;
	int r;

	if (!e)
		return tk_err_set(err, -ENOMEM, "out of memory");
	r = tk_json_unpack(args, "endpoint.del args", err, "{s:s, s:s, s?s, s?s}", "container_id",
			   &container_id, "ifname", &ifname, "network", &network, "tenant",
			   &tenant);
	if (r < 0)
		return r;
	/*
	 * A configuration naming another tenant's network deletes nothing, even for root, and says
	 * so in the log; it is no error: ADD refused it, so there is nothing to delete, and a DEL
	 * that fails leaves the runtime's sandbox stuck in its teardown (CNI: DEL tolerates what
	 * it cannot find).  A network that is gone has no endpoints: DEL stays idempotent.
	 */
	n = network && tenant ? manager_network(m, network) : NULL;
	if (n && caller_may_manage(c, n->tenant, NULL) >= 0 &&
	    strcmp(tenant, n->tenant->name) != 0) {
		log_warning("endpoint.del of %s %s: network '%s' belongs to tenant '%s', not '%s': "
			    "nothing deleted",
			    container_id, ifname, network, n->tenant->name, tenant);
		*ret = json_pack("{s:b}", "deleted", 0);
		return 0;
	}
	r = db_endpoint_find(m, container_id, ifname, e, NULL);
	/* Another tenant's endpoint answers as a missing one does. */
	if (r == -ENOENT || (r >= 0 && network && strcmp(network, e->network->name) != 0) ||
	    (r >= 0 && tenant && strcmp(tenant, e->network->tenant->name) != 0) ||
	    (r >= 0 && caller_may_manage(c, e->network->tenant, NULL) < 0)) {
		*ret = json_pack("{s:b}", "deleted", 0);
		return 0;
	}
	if (r < 0)
		return tk_err_set(err, r, "looking up endpoint failed");
	if ((r = endpoint_del(m, e, err)) < 0)
		return r;
	*ret = json_pack("{s:b}", "deleted", 1);
	return 0;
}

/*
 * A reply of endpoint.list ends at the caller's limit or at about this much JSON, whatever the
 * names' lengths: 10,000 endpoints do not fit one message (TK_RPC_MAX_MSG), and netd would hold
 * the whole tree and its text at once.  "next" says where the following page starts.
 */
#define LIST_PAGE_BYTES (1u << 20)

struct list_ctx {
	const struct tk_caller *caller;
	json_t *list;
	unsigned fields; /* 1 << ENDPOINT_FIELD_* */
	bool rows;	 /* each endpoint as an array of its fields' values */
	size_t bytes;
};

static int append_endpoint(struct endpoint *e, void *userdata)
{
	struct list_ctx *ctx = userdata;

	if (caller_may_manage(ctx->caller, e->network->tenant, NULL) < 0)
		return 0;
	if (json_array_append_new(ctx->list, ctx->rows
						     ? endpoint_to_json_row(e, ctx->fields)
						     : endpoint_to_json_fields(e, ctx->fields)) < 0)
		return -ENOMEM;
	/* The fixed part of an endpoint's JSON is under 350 bytes (fewer with "fields"). */
	ctx->bytes += 350 + strlen(e->container_id) + strlen(e->netns) + strlen(e->network->name) +
		      strlen(e->network->tenant->name);
	return ctx->bytes >= LIST_PAGE_BYTES;
}

/*
 * Every limit-th endpoint the caller may see after the page: where the following pages of
 * limit endpoints end.  A client asks for all of them at once ("after" one cursor, "until" the
 * next), so that netd builds the following pages while it parses this one.
 */
struct cursor_ctx {
	const struct tk_caller *caller;
	json_t *cursors;
	int64_t limit, seen;
};

static int add_cursor(int64_t id, const struct network *n, void *userdata)
{
	struct cursor_ctx *ctx = userdata;

	if (caller_may_manage(ctx->caller, n->tenant, NULL) < 0 || ++ctx->seen % ctx->limit != 0)
		return 0;
	return json_array_append_new(ctx->cursors, json_integer(id)) < 0 ? -ENOMEM : 0;
}

static int list_cursors(struct manager *m, const struct tk_caller *c, struct network *n,
			struct tk_tenant *t, int64_t after, int64_t until, int64_t limit,
			json_t *result, tk_err *err)
{
	struct cursor_ctx ctx = { .caller = c, .cursors = json_array(), .limit = limit };
	int r;

	if (json_object_set_new(result, "cursors", ctx.cursors) < 0)
		return tk_err_set(err, -ENOMEM, "out of memory");
	r = db_endpoint_ids(m, n, t, after, until, add_cursor, &ctx, err);
	return r < 0 ? r : 0;
}

static int op_endpoint_list(struct manager *m, const struct tk_caller *c, json_t *args,
			    json_t **ret, tk_err *err)
{
	/*
	 * The page's ~50,000 values (1,000 endpoints) live until the main thread has sent and freed
	 * them: from an arena, not malloc(), where they were a third of a listing's CPU time.
	 */
	_cleanup_(tk_json_arena_leavep) _unused_ struct tk_json_arena *arena =
		tk_json_arena_enter();
	const char *network = NULL, *tenant = NULL, *cni_name = NULL;
	struct list_ctx ctx = { .caller = c, .fields = ENDPOINT_FIELDS_ALL };
	_cleanup_(json_decrefp) json_t *result = NULL;
	json_t *fields = NULL;
	json_int_t after = 0, until = 0, limit = 0;
	struct network *n = NULL;
	struct tk_tenant *t = NULL;
	int64_t next = 0;
	int cursors = 0, rows = 0, r;

	r = tk_json_unpack(args, "endpoint.list args", err,
			   "{s?s, s?s, s?I, s?I, s?I, s?o, s?b, s?b, s?s}", "network", &network,
			   "tenant", &tenant, "after", &after, "until", &until, "limit", &limit,
			   "fields", &fields, "cursors", &cursors, "rows", &rows, "cni_name",
			   &cni_name);
	ctx.rows = rows;
	if (r >= 0 && fields && (r = endpoint_fields_from_json(fields, &ctx.fields, err)) < 0)
		return tk_err_wrap(err, r, "endpoint.list");
	if (r < 0 || (network && (r = find_tenant_network(m, c, network, tenant, &n, err)) < 0) ||
	    (tenant && (r = find_tenant(m, c, tenant, &t, err)) < 0))
		return r;
	if (after < 0)
		return tk_err_set(err, -EINVAL,
				  "endpoint.list: 'after' must be an endpoint id (>= 0)");
	if (json_object_get(args, "until") && until < 1)
		return tk_err_set(err, -EINVAL,
				  "endpoint.list: 'until' must be an endpoint id (>= 1)");
	if (json_object_get(args, "limit") && limit < 1)
		return tk_err_set(err, -EINVAL, "endpoint.list: 'limit' must be at least 1");
	if (cursors && limit < 1)
		return tk_err_set(err, -EINVAL, "endpoint.list: 'cursors' needs a 'limit'");
	ctx.list = json_array();
	if ((r = db_endpoints_range(m, n, t, cni_name, after, until, limit, append_endpoint, &ctx,
				    &next, err)) < 0) {
		json_decref(ctx.list);
		return r;
	}
	/*
	 * "rows": the keys once, not in each of the page's 1,000 objects.  A third fewer bytes,
	 * and no object per endpoint: parsing such a page costs a client half the time.
	 */
	if (!(result = ctx.rows ? json_pack("{s:o, s:o}", "fields",
					    endpoint_field_names_json(ctx.fields), "rows", ctx.list)
				: json_pack("{s:o}", "endpoints", ctx.list)) ||
	    (next && json_object_set_new(result, "next", json_integer(next)) < 0))
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (cursors && next && (r = list_cursors(m, c, n, t, next, until, limit, result, err)) < 0)
		return r;
	*ret = TAKE_PTR(result);
	return 0;
}

static int op_endpoint_inspect(struct manager *m, const struct tk_caller *c, json_t *args,
			       json_t **ret, tk_err *err)
{
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	const char *container_id, *ifname;
	int r;

	if (!e)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = tk_json_unpack(args, "endpoint.inspect args", err, "{s:s, s:s}", "container_id",
				&container_id, "ifname", &ifname)) < 0 ||
	    (r = find_endpoint(m, c, container_id, ifname, e, err)) < 0)
		return r;
	*ret = endpoint_to_json(e);
	return endpoint_ports_json(m, e, *ret, err);
}

/*
 * endpoint.ports: replaces the published ports of an endpoint (an empty list clears them).
 * network and tenant, when given, must be the endpoint's, as for endpoint.del.
 */
static int op_endpoint_ports(struct manager *m, const struct tk_caller *c, json_t *args,
			     json_t **ret, tk_err *err)
{
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	_cleanup_free_ struct port_list *ports = malloc(sizeof(*ports));
	const char *container_id, *ifname, *network = NULL, *tenant = NULL;
	json_t *jports;
	int r;

	if (!e || !ports)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = tk_json_unpack(args, "endpoint.ports args", err, "{s:s, s:s, s?s, s?s, s:o}",
				"container_id", &container_id, "ifname", &ifname, "network",
				&network, "tenant", &tenant, "port_mappings", &jports)) < 0 ||
	    (r = ports_from_json(jports, ports, err)) < 0 ||
	    (r = find_endpoint(m, c, container_id, ifname, e, err)) < 0)
		return r;
	if ((network && strcmp(network, e->network->name) != 0) ||
	    (tenant && strcmp(tenant, e->network->tenant->name) != 0))
		return tk_err_set(err, -ENOENT,
				  "container '%s' has no interface '%s' on network '%s'",
				  container_id, ifname, network ? network : e->network->name);
	if ((r = ports_set(m, c, e, ports, err)) < 0)
		return r;
	*ret = endpoint_to_json(e);
	if (*ret)
		json_object_set_new(*ret, "port_mappings", ports_to_json(ports));
	return 0;
}

/* endpoint.inspect plus "problems": what differs in the kernel (CNI CHECK). */
static int op_endpoint_check(struct manager *m, const struct tk_caller *c, json_t *args,
			     json_t **ret, tk_err *err)
{
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	_cleanup_(json_decrefp) json_t *problems = json_array();
	const char *container_id, *ifname, *netns = NULL, *mac = NULL;
	uint8_t want_mac[6], recorded_mac[6];
	int r;

	if (!e || !problems)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = tk_json_unpack(args, "endpoint.check args", err, "{s:s, s:s, s?s, s?s}",
				"container_id", &container_id, "ifname", &ifname, "netns", &netns,
				"mac", &mac)) < 0 ||
	    (mac && (r = tk_mac_parse(mac, want_mac, err)) < 0) ||
	    (r = find_endpoint(m, c, container_id, ifname, e, err)) < 0)
		return r;
	/*
	 * CNI CHECK expects the MAC of prevResult: a later plugin of the chain (tuning) may have
	 * changed it.  The reply still shows the recorded one.
	 */
	memcpy(recorded_mac, e->mac, sizeof(recorded_mac));
	if (mac)
		memcpy(e->mac, want_mac, sizeof(want_mac));
	r = endpoint_check(m, c, e, netns, problems, err);
	memcpy(e->mac, recorded_mac, sizeof(recorded_mac));
	if (r < 0)
		return r;
	*ret = endpoint_to_json(e);
	json_object_set_new(*ret, "problems", TAKE_PTR(problems));
	return 0;
}

/* tenant.create, tenant.set and tenant.delete: the shared ops, plus shaping (shaping.c). */
static int op_tenant_create(struct manager *m, const struct tk_caller *c, json_t *args,
			    json_t **ret, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *rest = NULL;
	struct tk_tenant net, p, *t = NULL;
	int r;

	if ((r = tk_require_admin(c, "tenant.create", err)) < 0)
		return r;
	/* netd's own fields (ports.c) go before the shared ones are parsed. */
	if (!json_is_object(args) || !(rest = json_deep_copy(args)))
		return tk_err_set(err, -EINVAL, "tenant.create args must be an object");
	if ((r = ports_tenant_params(m, rest, &net, err)) < 0 ||
	    (r = tk_tenant_params_from_json(&m->tenants, rest, &p, err)) < 0 ||
	    (r = tk_tenant_create(&m->tenants, &p, &t, err)) < 0)
		return r;
	if ((r = shaping_tenant_new(m, t, err)) < 0 ||
	    (r = ports_tenant_apply(m, t, &net, err)) < 0) {
		struct tk_tenant old = *t;

		(void)tk_tenant_delete(&m->tenants, t, NULL);
		shaping_tenant_gone(m, &old);
		return tk_err_wrap(err, r, "creating tenant '%s'", p.name);
	}
	*ret = tk_tenant_to_json(&m->tenants, t);
	return 0;
}

static int op_tenant_set(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			 tk_err *err)
{
	_cleanup_(json_decrefp) json_t *rest = NULL;
	struct tk_tenant p, old, net, *t = NULL;
	bool ports_changed, limits;
	const char *name;
	int r;

	if ((r = tk_require_admin(c, "tenant.set", err)) < 0)
		return r;
	if (!json_is_object(args) || !json_is_string(json_object_get(args, "name")))
		return tk_err_set(err, -EINVAL, "tenant.set args: 'name' (a string) is required");
	name = json_string_value(json_object_get(args, "name"));
	/* netd's own field (ports.c), checked before anything changes. */
	if (!(rest = json_deep_copy(args)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = tk_tenant_find(&m->tenants, c, name, &t, err)) < 0 ||
	    (r = ports_tenant_set_params(m, t, rest, &net, &ports_changed, err)) < 0)
		return r;
	limits = json_object_size(rest) > 1 || json_object_size(args) == 1;
	if (limits && (r = tk_tenant_set_params_from_json(&m->tenants, t, rest, &p, err)) < 0)
		return r;
	if (!limits)
		p = *t;
	old = *t;
	if ((r = shaping_tenant_set(m, t, &old, &p, err)) < 0) {
		(void)shaping_tenant_set(m, t, &p, &old, NULL);
		return tk_err_wrap(err, r, "shaping tenant '%s'", name);
	}
	if ((r = tk_tenant_update(&m->tenants, t, &p, err)) < 0) {
		(void)shaping_tenant_set(m, t, &p, &old, NULL);
		return r;
	}
	if (ports_changed && (r = ports_tenant_set_apply(m, t, &net, err)) < 0) {
		(void)tk_tenant_update(&m->tenants, t, &old, NULL);
		(void)shaping_tenant_set(m, t, &p, &old, NULL);
		return r;
	}
	if (old.weight != p.weight && (r = shaping_rebalance(m, NULL, err)) < 0)
		return r;
	*ret = tk_tenant_to_json(&m->tenants, t);
	return 0;
}

static int op_tenant_delete(struct manager *m, const struct tk_caller *c, json_t *args,
			    json_t **ret, tk_err *err)
{
	struct tk_tenant *t = NULL, old;
	const char *name;
	int r;

	if ((r = tk_require_admin(c, "tenant.delete", err)) < 0 ||
	    (r = tk_json_unpack(args, "tenant.delete args", err, "{s:s}", "name", &name)) < 0 ||
	    (r = tk_tenant_find(&m->tenants, c, name, &t, err)) < 0)
		return r;
	old = *t;
	if ((r = tk_tenant_delete(&m->tenants, t, err)) < 0)
		return r;
	shaping_tenant_gone(m, &old);
	*ret = json_object();
	return 0;
}

static int op_reconcile(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			tk_err *err)
{
	json_t *actions;
	int r;

	if ((r = tk_require_admin(c, "reconcile", err)) < 0 ||
	    (r = tk_json_unpack(args, "reconcile args", err, "{}")) < 0)
		return r;
	actions = json_array();
	if ((r = reconcile(m, actions, err)) < 0) {
		json_decref(actions);
		return r;
	}
	*ret = json_pack("{s:o}", "actions", actions);
	return 0;
}

/* Traffic and drops of the tenants the caller may see, or of the one named (docs/accounting.md). */
static int op_stats_get(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			tk_err *err)
{
	const char *tenant = NULL;
	int r;

	if ((r = tk_json_unpack(args, "stats.get args", err, "{s?s}", "tenant", &tenant)) < 0)
		return r;
	return accounting_stats(m, c, tenant, ret, err);
}

static const struct tk_rpc_handler handlers[] = {
	{ "status", op_status },
	{ "network.create", op_network_create },
	{ "network.list", op_network_list },
	{ "network.inspect", op_network_inspect },
	{ "network.delete", op_network_delete },
	{ "network.link", op_network_link },
	{ "network.unlink", op_network_unlink },
	{ "endpoint.add", op_endpoint_add },
	{ "endpoint.del", op_endpoint_del },
	{ "endpoint.list", op_endpoint_list },
	{ "endpoint.inspect", op_endpoint_inspect },
	{ "endpoint.check", op_endpoint_check },
	{ "endpoint.ports", op_endpoint_ports },
	{ "reconcile", op_reconcile },
	{ "tenant.create", op_tenant_create },
	{ "tenant.set", op_tenant_set },
	{ "tenant.delete", op_tenant_delete },
	{ "log.drops", op_log_drops },
	{ "stats.get", op_stats_get },
};

json_t *rpc_dispatch(struct manager *m, const struct tk_caller *c, json_t *request)
{
	return tk_rpc_dispatch(handlers, ELEMENTSOF(handlers), m, &m->tenants, c, request);
}
