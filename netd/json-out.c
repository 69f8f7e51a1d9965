/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The objects as docs/protocol.md shows them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ipam.h"
#include "netd.h"

/* "host_ports": "20000-20999" or null, "egress_ip": an address or null. */
static void tenant_ports_json(const struct tk_tenant *t, json_t *o)
{
	char buf[TK_ADDR_STRLEN + 16];

	snprintf(buf, sizeof(buf), "%u-%u", t->host_port_min, t->host_port_max);
	json_object_set_new(o, "host_ports", t->host_port_max ? json_string(buf) : json_null());
	json_object_set_new(o, "egress_ip",
			    t->has_egress_ip
				    ? json_string(tk_addr_format(&t->egress_ip, buf, sizeof(buf)))
				    : json_null());
}

void tenant_usage_json(const struct tk_tenant *t, json_t *o)
{
	json_object_set_new(o, "networks", json_integer(t->n_networks));
	json_object_set_new(o, "endpoints", json_integer(t->n_endpoints));
	tenant_ports_json(t, o);
}

static json_t *prefix_json(bool has, const struct tk_prefix *p)
{
	char buf[TK_PREFIX_STRLEN];
	return has ? json_string(tk_prefix_format(p, buf, sizeof(buf))) : json_null();
}

static json_t *addr_json(bool has, const struct tk_addr *a)
{
	char buf[TK_ADDR_STRLEN];
	return has ? json_string(tk_addr_format(a, buf, sizeof(buf))) : json_null();
}

static int append_link(struct network *other, void *userdata)
{
	return json_array_append_new(userdata, json_string(other->name)) < 0 ? -ENOMEM : 0;
}

/*
 * Free addresses left, for STATUS (CNI code 50) and for people: no more than the bridge has ports
 * left, since each container interface takes one of each (ports_left); or all of them, as
 * address-only leases (tenant-ipam) take no port (SIZE_MAX).
 */
static json_t *free_json(const struct tk_ipam_pool *pool, size_t ports_left)
{
	size_t avail;

	if (!pool)
		return json_null();
	avail = tk_ipam_pool_available(pool);
	return json_integer((json_int_t)(avail < ports_left ? avail : ports_left));
}

json_t *network_to_json(struct manager *m, const struct network *n)
{
	json_t *links = json_array(), *j;

	if (links && db_links_foreach(m, n, append_link, links, NULL) < 0)
		json_array_clear(links);
	j = json_pack("{s:s, s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:i, s:b, s:o, s:i, s:I}", "name",
		      n->name, "id", (json_int_t)n->id, "tenant", n->tenant->name, "bridge",
		      n->bridge, "subnet", prefix_json(n->has4, &n->subnet4), "gateway",
		      addr_json(n->has4, &n->gateway4), "subnet6",
		      prefix_json(n->has6, &n->subnet6), "gateway6",
		      addr_json(n->has6, &n->gateway6), "mtu", (int)n->mtu, "nat", n->nat, "links",
		      links, "endpoints", (int)n->n_endpoints, "created", (json_int_t)n->created);
	if (j) {
		unsigned ports_left = n->n_ports < m->max_ports ? m->max_ports - n->n_ports : 0;

		json_object_set_new(j, "free4", free_json(n->has4 ? n->pool4 : NULL, ports_left));
		json_object_set_new(j, "free6", free_json(n->has6 ? n->pool6 : NULL, ports_left));
		json_object_set_new(j, "free_leases4",
				    free_json(n->has4 ? n->pool4 : NULL, SIZE_MAX));
		json_object_set_new(j, "free_leases6",
				    free_json(n->has6 ? n->pool6 : NULL, SIZE_MAX));
		json_object_set_new(j, "free_ports", json_integer(ports_left));
		json_object_set_new(j, "internal", json_boolean(n->internal));
	}
	return j;
}

/*
 * The keys are literals and netd formats the addresses and MACs itself, so neither needs
 * jansson's UTF-8 check; names and paths from the database still get it.  endpoint.list builds
 * 10,000 of these per listing: set one by one they take about half of the time json_pack's
 * format parsing and checks took (10-12 ms against 16-22 ms for 10,000 here).
 */
static int set_str(json_t *o, const char *key, const char *value)
{
	return json_object_set_new_nocheck(o, key, json_string_nocheck(value));
}

static json_t *ip_json(const struct tk_addr *a, uint8_t len, const struct tk_addr *gw)
{
	struct tk_prefix p = { .addr = *a, .len = len };
	char buf[TK_PREFIX_STRLEN], gbuf[TK_ADDR_STRLEN];
	_cleanup_(json_decrefp) json_t *o = json_object();

	if (!o || set_str(o, "address", tk_prefix_format(&p, buf, sizeof(buf))) < 0 ||
	    set_str(o, "gateway", tk_addr_format(gw, gbuf, sizeof(gbuf))) < 0 ||
	    set_str(o, "version", a->family == AF_INET ? "4" : "6") < 0)
		return NULL;
	return TAKE_PTR(o);
}

static const char *const endpoint_field_names[_ENDPOINT_FIELD_MAX] = {
	[ENDPOINT_FIELD_ID] = "id",
	[ENDPOINT_FIELD_KIND] = "kind",
	[ENDPOINT_FIELD_NETWORK] = "network",
	[ENDPOINT_FIELD_TENANT] = "tenant",
	[ENDPOINT_FIELD_CONTAINER_ID] = "container_id",
	[ENDPOINT_FIELD_IFNAME] = "ifname",
	[ENDPOINT_FIELD_NETNS] = "netns",
	[ENDPOINT_FIELD_HOST_IFNAME] = "host_ifname",
	[ENDPOINT_FIELD_HOST_MAC] = "host_mac",
	[ENDPOINT_FIELD_MAC] = "mac",
	[ENDPOINT_FIELD_IPS] = "ips",
	[ENDPOINT_FIELD_CREATED] = "created",
};

static int unknown_field(const char *name, tk_err *err)
{
	char known[256] = "";

	for (int f = 0; f < _ENDPOINT_FIELD_MAX; f++) {
		strcat(known, f ? ", " : "");
		strcat(known, endpoint_field_names[f]);
	}
	if (!name)
		return tk_err_set(err, -EINVAL, "'fields' must name endpoint fields as strings");
	return tk_err_set(err, -EINVAL, "unknown endpoint field '%s' in 'fields' (known: %s)", name,
			  known);
}

/* A list of field names (endpoint.list's "fields") as a mask of 1 << ENDPOINT_FIELD_*. */
int endpoint_fields_from_json(json_t *names, unsigned *ret, tk_err *err)
{
	unsigned mask = 0;
	size_t i;
	json_t *v;

	if (!json_is_array(names) || json_array_size(names) == 0)
		return tk_err_set(err, -EINVAL,
				  "'fields' must be a non-empty array of endpoint field names");
	json_array_foreach(names, i, v)
	{
		const char *name = json_string_value(v);
		int f = 0;

		while (f < _ENDPOINT_FIELD_MAX &&
		       !(name && strcmp(name, endpoint_field_names[f]) == 0))
			f++;
		if (f == _ENDPOINT_FIELD_MAX)
			return unknown_field(name, err);
		mask |= 1u << f;
	}
	*ret = mask;
	return 0;
}

static json_t *endpoint_field_json(const struct endpoint *e, int f)
{
	const struct network *n = e->network;
	char buf[TK_MAC_STRLEN];
	json_t *ips;

	switch (f) {
	case ENDPOINT_FIELD_ID: return json_integer(e->id);
	case ENDPOINT_FIELD_KIND: return json_string_nocheck(e->lease ? "ipam" : "veth");
	case ENDPOINT_FIELD_NETWORK: return json_string(n->name);
	case ENDPOINT_FIELD_TENANT: return json_string(n->tenant->name);
	case ENDPOINT_FIELD_CONTAINER_ID: return json_string(e->container_id);
	case ENDPOINT_FIELD_IFNAME: return json_string(e->ifname);
	case ENDPOINT_FIELD_NETNS: return json_string(e->netns);
	case ENDPOINT_FIELD_HOST_IFNAME:
		return e->lease ? json_null() : json_string_nocheck(e->host_ifname);
	case ENDPOINT_FIELD_HOST_MAC:
		return e->lease ? json_null()
				: json_string_nocheck(tk_mac_format(e->host_mac, buf, sizeof(buf)));
	case ENDPOINT_FIELD_MAC:
		return json_string_nocheck(tk_mac_format(e->mac, buf, sizeof(buf)));
	case ENDPOINT_FIELD_IPS:
		if (!(ips = json_array()) ||
		    (e->has4 && json_array_append_new(
					ips, ip_json(&e->ip4, n->subnet4.len, &n->gateway4)) < 0) ||
		    (e->has6 && json_array_append_new(
					ips, ip_json(&e->ip6, n->subnet6.len, &n->gateway6)) < 0)) {
			json_decref(ips);
			return NULL;
		}
		return ips;
	case ENDPOINT_FIELD_CREATED: return json_integer(e->created);
	}
	return NULL;
}

json_t *endpoint_to_json_fields(const struct endpoint *e, unsigned fields)
{
	_cleanup_(json_decrefp) json_t *o = json_object();

	if (!o)
		return NULL;
	/* In docs/protocol.md's order (jansson keeps insertion order). */
	for (int f = 0; f < _ENDPOINT_FIELD_MAX; f++)
		if ((fields & (1u << f)) &&
		    json_object_set_new_nocheck(o, endpoint_field_names[f],
						endpoint_field_json(e, f)) < 0)
			return NULL;
	return TAKE_PTR(o);
}

json_t *endpoint_to_json_row(const struct endpoint *e, unsigned fields)
{
	_cleanup_(json_decrefp) json_t *row = json_array();

	if (!row)
		return NULL;
	for (int f = 0; f < _ENDPOINT_FIELD_MAX; f++)
		if ((fields & (1u << f)) &&
		    json_array_append_new(row, endpoint_field_json(e, f)) < 0)
			return NULL;
	return TAKE_PTR(row);
}

json_t *endpoint_field_names_json(unsigned fields)
{
	_cleanup_(json_decrefp) json_t *names = json_array();

	if (!names)
		return NULL;
	for (int f = 0; f < _ENDPOINT_FIELD_MAX; f++)
		if ((fields & (1u << f)) &&
		    json_array_append_new(names, json_string_nocheck(endpoint_field_names[f])) < 0)
			return NULL;
	return TAKE_PTR(names);
}

json_t *endpoint_to_json(const struct endpoint *e)
{
	return endpoint_to_json_fields(e, ENDPOINT_FIELDS_ALL);
}
