/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netd --cluster: the data plane that makes a tenant network span hosts (docs/cluster.md).
 *
 * Per network and host a VXLAN device tkx<VNI in hex> (the network's VNI, learning off, no
 * multicast group, port 4789, local = --underlay, proxy) is a port of the network's bridge.  Each
 * host publishes its endpoints under its host lease as endpoints/<network>/<host>/<mac>; every
 * host programs, from the watch, a static FDB entry (remote MAC -> remote underlay) and permanent
 * neighbour entries (remote IPs -> remote MAC) on the VXLAN device, so ARP/ND for remote
 * containers are answered locally and nothing floods (there is no all-zeros FDB entry).  When the
 * endpoint or its host's lease goes, etcd deletes the key and the entries are removed.
 *
 * Everything here runs on the loop thread under the state lock (cluster_run, after endpoint ops).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blocks.h"
#include "etcd.h"
#include "json.h"
#include "log.h"
#include "netd.h"
#include "nl.h"

#define PREFIX "/tenantkit/v1/"

static json_t *remote;	    /* "<net>/<host>/<mac>" -> record, from the watch */
static json_t *published;   /* our keys -> lease they were put with */
static json_t *programmed;  /* "<net>/<host>/<mac>" -> record as programmed (+ "ifindex") */
static json_t *members;	    /* host -> underlay, from hosts/ */
static json_t *fw_peers;    /* underlay addresses in @overlay_peers4/6 */
static json_t *fw_ports;    /* VXLAN devices in @ports */
static json_t *fw_fast;	    /* VXLAN devices with their fast path chain */
static bool fw_local;	    /* this host's underlay is in @overlay_local4/6 */
static json_t *holders;	    /* "<net>/<block>" -> the host holding it, from blocks/ */
static json_t *records;	    /* "<net>/<block>/<host>" -> that host's record (hex bits), reserved/ */
static json_t *rejected;    /* "<net>/<host>/<mac>" -> why it is not programmed (logged once) */
static json_t *mac_holders; /* "<net>/<mac>" -> the key in programmed that holds the MAC */
static bool listed;	    /* remote holds a full list (and the events since) */
static bool stale_checked;  /* the devices hold no entry but programmed's (stale_sync) */
/*
 * What a sync may skip: the dump of every link for stale tkx devices while the wanted devices
 * are the ones last checked (it is O(links), a veth per container), and the walk over every
 * endpoint for its record while no endpoint came or went and the lease is the same.
 */
static json_t *devices_checked; /* the wanted tkx names the last complete dump found alone */
static bool publish_dirty = true;
static int64_t publish_lease;
static bool announcing; /* programmed holds the full list: announce what comes */

void overlay_endpoints_changed(void)
{
	publish_dirty = true;
}

/* firewall_rebuild replaced the tables: every element is added again at the next sync. */
void overlay_firewall_lost(void)
{
	if (fw_peers)
		json_object_clear(fw_peers);
	if (fw_ports)
		json_object_clear(fw_ports);
	if (fw_fast)
		json_object_clear(fw_fast);
	json_decref(devices_checked);
	devices_checked = NULL;
	if (programmed)
		json_object_clear(programmed);
	if (mac_holders)
		json_object_clear(mac_holders);
	stale_checked = false;
	fw_local = false;
}

void overlay_note_host(const char *name, const char *value, bool deleted)
{
	_cleanup_(json_decrefp) json_t *o = deleted ? NULL : json_loads(value, 0, NULL);
	json_t *ul = json_object_get(o, "underlay");

	if (!members && !(members = json_object()))
		return;
	if (deleted || !json_is_string(ul))
		json_object_del(members, name);
	else
		json_object_set(members, name, ul);
}

static void vxlan_name(char *buf, size_t size, json_int_t vni)
{
	snprintf(buf, size, "tkx%06" PRIx64, (uint64_t)vni);
}

void overlay_note_endpoint(const char *rest, const char *value, bool deleted)
{
	json_t *o;

	if (!remote && !(remote = json_object()))
		return;
	if (deleted || !(o = json_loads(value, 0, NULL))) {
		json_object_del(remote, rest);
		return;
	}
	json_object_set_new(remote, rest, o);
}

/* "host" of a JSON value, or NULL; *o keeps it alive. */
static const char *value_host(const char *value, json_t **o)
{
	*o = value ? json_loads(value, 0, NULL) : NULL;
	return json_string_value(json_object_get(*o, "host"));
}

void overlay_note_block(const char *rest, const char *value, bool deleted)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	const char *h = deleted ? NULL : value_host(value, &o);

	if (!holders && !(holders = json_object()))
		return;
	if (!h)
		json_object_del(holders, rest);
	else
		json_object_set_new(holders, rest, json_string(h));
}

void overlay_note_record(const char *rest, const char *value, bool deleted)
{
	_cleanup_(json_decrefp) json_t *o = deleted || !value ? NULL : json_loads(value, 0, NULL);
	json_t *bits = json_object_get(o, "bits");

	if (!records && !(records = json_object()))
		return;
	if (!json_is_string(bits))
		json_object_del(records, rest);
	else
		json_object_set(records, rest, bits);
}

void overlay_list_begin(void)
{
	listed = true;
	if (remote)
		json_object_clear(remote);
	if (members)
		json_object_clear(members);
	if (holders)
		json_object_clear(holders);
	if (records)
		json_object_clear(records);
}

/* @overlay_peers4/6 = the members' underlay addresses; @overlay_local4/6 has this host's. */
static void members_sync(struct manager *m, const struct tk_addr *local)
{
	_cleanup_(json_decrefp) json_t *want = json_object();
	const char *name, *addr;
	json_t *v;
	void *tmp;
	tk_err err = {};

	if (!want || (!fw_peers && !(fw_peers = json_object())))
		return;
	if (!fw_local && firewall_overlay_host(m, local, true, true, &err) < 0)
		log_error("overlay: %s", err.msg);
	else
		fw_local = true;
	json_object_foreach(members, name, v)
		json_object_set_new(want, json_string_value(v), json_true());
	json_object_foreach(want, addr, v)
	{
		struct tk_addr a;

		if (json_object_get(fw_peers, addr) || tk_addr_parse(addr, &a, NULL) < 0)
			continue;
		if (firewall_overlay_host(m, &a, false, true, &err) < 0)
			log_error("overlay: member %s: %s", addr, err.msg);
		else
			json_object_set_new(fw_peers, addr, json_true());
	}
	json_object_foreach_safe(fw_peers, tmp, addr, v)
	{
		struct tk_addr a;

		if (json_object_get(want, addr))
			continue;
		if (tk_addr_parse(addr, &a, NULL) >= 0 &&
		    firewall_overlay_host(m, &a, false, false, &err) < 0)
			log_error("overlay: member %s: %s", addr, err.msg);
		json_object_del(fw_peers, addr);
	}
}

/* ---- devices ---- */

struct stale {
	json_t *wanted;
	char names[64][16];
	unsigned n;
};

static int find_stale(const struct tk_link_info *link, void *userdata)
{
	struct stale *s = userdata;

	if (strcmp(link->kind, "vxlan") != 0 && link->kind[0])
		return 0;
	if (!json_object_get(s->wanted, link->name) && s->n < 64)
		snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", link->name);
	return 0;
}

static int device_ensure(struct manager *m, struct network *n, json_int_t vni,
			 const struct tk_addr *local, int *ret_ifindex, tk_err *err)
{
	char name[16];
	int ifindex = 0, r;

	vxlan_name(name, sizeof(name), vni);
	if (tk_nl_ifindex(m->nl, name, &ifindex, NULL) >= 0 && ifindex > 0) {
		*ret_ifindex = ifindex;
		return 0;
	}
	if (!n->bridge_ifindex &&
	    (r = tk_nl_ifindex(m->nl, n->bridge, &n->bridge_ifindex, err)) < 0)
		return r;
	if ((r = tk_nl_vxlan_add(m->nl, name, (uint32_t)vni, local, n->mtu, &ifindex, err)) < 0)
		return r;
	if ((r = tk_nl_link_set_master(m->nl, ifindex, n->bridge_ifindex, err)) < 0 ||
	    (r = tk_nl_link_set_up(m->nl, ifindex, err)) < 0) {
		(void)tk_nl_link_del(m->nl, name, NULL);
		return r;
	}
	log_info("overlay: VXLAN device '%s' (VNI %" PRId64 ") on bridge '%s' of network '%s'",
		 name, (int64_t)vni, n->bridge, n->name);
	*ret_ifindex = ifindex;
	return 0;
}

/* Makes the devices of the networks with a VNI, deletes other tkx devices: net -> ifindex. */
static json_t *devices_sync(struct manager *m, json_t *vnis, const struct tk_addr *local)
{
	json_t *devs, *wanted;
	struct stale s = {};
	tk_err err = {};

	if ((!fw_ports && !(fw_ports = json_object())) || (!fw_fast && !(fw_fast = json_object())))
		return NULL;
	devs = json_object();
	s.wanted = wanted = json_object();

	for (struct network *n = m->networks; n && devs && wanted; n = n->next) {
		json_t *vni = json_object_get(vnis, n->name);
		char name[16];
		int ifindex;

		if (!json_is_integer(vni))
			continue;
		vxlan_name(name, sizeof(name), json_integer_value(vni));
		json_object_set_new(wanted, name, json_true());
		/*
		 * Policed before it exists: a device on the bridge before its @ports element would
		 * let the overlay's frames onto the bridge unchecked until the element came.
		 */
		if (!json_object_get(fw_ports, name)) {
			if (firewall_overlay_port(m, name, n->has6, true, &err) < 0) {
				log_error("overlay: network '%s': %s", n->name, err.msg);
				continue; /* no device either: again next time */
			}
			json_object_set_new(fw_ports, name, json_true());
		}
		if (device_ensure(m, n, json_integer_value(vni), local, &ifindex, &err) < 0) {
			log_error("overlay: network '%s': %s", n->name, err.msg);
			continue;
		}
		if (!json_object_get(fw_fast, name)) {
			/* without it, the device's frames take the bridge: slower, as safe */
			if (firewall_overlay_fast(m, n, name, &err) < 0)
				log_error("overlay: network '%s': %s", n->name, err.msg);
			else
				json_object_set_new(fw_fast, name, json_true());
		}
		json_object_set_new(devs, n->name,
				    json_pack("{s:i, s:s}", "ifindex", ifindex, "name", name));
	}
	if (wanted && !json_equal(wanted, devices_checked) &&
	    tk_nl_link_foreach(m->nl, "tkx", find_stale, &s, NULL) >= 0) {
		bool all_gone = true;

		for (unsigned i = 0; i < s.n; i++) {
			/* In @ports6 only on a dual-stack network: try both, then @ports alone. */
			if (firewall_overlay_port(m, s.names[i], true, false, NULL) < 0)
				(void)firewall_overlay_port(m, s.names[i], false, false, NULL);
			json_object_del(fw_ports, s.names[i]);
			(void)firewall_overlay_fast(m, NULL, s.names[i], NULL);
			json_object_del(fw_fast, s.names[i]);
			if (tk_nl_link_del(m->nl, s.names[i], &err) < 0) {
				log_error("overlay: %s", err.msg);
				all_gone = false;
			} else
				log_info("overlay: deleted VXLAN device '%s' (its network is gone)",
					 s.names[i]);
		}
		/* find_stale keeps 64 names a dump: more, and the next sync dumps again */
		if (all_gone && s.n < ELEMENTSOF(s.names)) {
			json_decref(devices_checked);
			devices_checked = json_incref(wanted);
		}
	}
	json_decref(wanted);
	return devs;
}

/* ---- publishing this host's endpoints ---- */

struct publish {
	const char *host, *underlay;
	json_t *vnis; /* the cluster's networks this host has */
	json_t *want; /* key -> value */
};

static int want_endpoint(struct endpoint *e, void *userdata)
{
	struct publish *p = userdata;
	_cleanup_(json_decrefp) json_t *o = NULL;
	char key[512], mac[32], a4[64], a6[64];
	char *value;

	/* A network made before cluster mode stays this host's: nothing of it is published. */
	if (e->lease || !e->network || !json_object_get(p->vnis, e->network->name))
		return 0;
	tk_mac_format(e->mac, mac, sizeof(mac));
	snprintf(key, sizeof(key), PREFIX "endpoints/%s/%s/%s", e->network->name, p->host, mac);
	o = json_pack("{s:s, s:s, s:s, s:s}", "network", e->network->name, "host", p->host,
		      "underlay", p->underlay, "mac", mac);
	if (!o)
		return -ENOMEM;
	if (e->has4)
		json_object_set_new(o, "ip4", json_string(tk_addr_format(&e->ip4, a4, sizeof(a4))));
	if (e->has6)
		json_object_set_new(o, "ip6", json_string(tk_addr_format(&e->ip6, a6, sizeof(a6))));
	if (!(value = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)))
		return -ENOMEM;
	json_object_set_new(p->want, key, json_string(value));
	free(value);
	return 0;
}

/* Writes that failed (overlay-publish.c) are made again: a put's key as never published, a delete's as still there. */
static bool publish_retry(void)
{
	_cleanup_(json_decrefp) json_t *failed = overlay_publish_failed();
	const char *key;
	json_t *put;

	json_object_foreach(failed, key, put)
	{
		if (json_is_true(put))
			json_object_del(published, key);
		else
			json_object_set_new(
				published, key,
				json_pack("{s:n, s:I}", "value", "lease", (json_int_t)0));
	}
	return json_object_size(failed) > 0;
}

static void publish_sync(struct manager *m, json_t *vnis, const char *host, const char *underlay,
			 int64_t lease)
{
	_cleanup_(json_decrefp) json_t *want = json_object();
	struct publish p = { host, underlay, vnis, want };
	const char *key;
	json_t *v;
	void *tmp;
	tk_err err = {};

	if (!want || (!published && !(published = json_object())))
		return;
	if (publish_retry())
		publish_dirty = true;
	if (!publish_dirty && lease == publish_lease)
		return;
	publish_dirty = false;
	publish_lease = lease;
	if (db_endpoints_foreach(m, NULL, NULL, want_endpoint, &p, &err) < 0) {
		log_error("overlay: cannot list endpoints: %s", err.msg);
		publish_dirty = true;
		return;
	}
	json_object_foreach(want, key, v)
	{
		json_t *had = json_object_get(published, key);

		if (!lease || (had && json_equal(json_object_get(had, "value"), v) &&
			       json_integer_value(json_object_get(had, "lease")) == lease))
			continue; /* no lease: the keeper's new one comes back through the watch */
		if (overlay_publish(key, json_string_value(v), lease) < 0) {
			publish_dirty = true;
			continue;
		}
		json_object_set_new(
			published, key,
			json_pack("{s:O, s:I}", "value", v, "lease", (json_int_t)lease));
	}
	json_object_foreach_safe(published, tmp, key, v)
	{
		if (json_object_get(want, key))
			continue;
		if (overlay_publish(key, NULL, 0) < 0) {
			publish_dirty = true;
			continue;
		}
		json_object_del(published, key);
	}
}

/* ---- programming the other hosts' endpoints ---- */

/* What an add that failed had made of a record's entries goes again (ip4, ip6: NULL: none). */
static void entries_undo(struct manager *m, int ifindex, const uint8_t mac[6],
			 const struct tk_addr *ul, const struct tk_addr *ip4,
			 const struct tk_addr *ip6)
{
	const struct tk_addr ll = tk_addr_link_local(mac);

	if (ip4)
		(void)tk_nl_neigh_set(m->nl, ifindex, ip4, mac, false, NULL);
	if (ip6) {
		(void)tk_nl_neigh_set(m->nl, ifindex, ip6, mac, false, NULL);
		(void)tk_nl_neigh_set(m->nl, ifindex, &ll, mac, false, NULL);
	}
	(void)tk_nl_fdb_set(m->nl, ifindex, mac, ul, false, NULL);
}

static int entries(struct manager *m, json_t *rec, int ifindex, const char *ifname, uint32_t group,
		   bool add, tk_err *err)
{
	struct tk_addr fw4, fw6;
	bool has4 = false, has6 = false;
	const char *mac_s = json_string_value(json_object_get(rec, "mac"));
	const char *ul_s = json_string_value(json_object_get(rec, "underlay"));
	const char *fields[] = { "ip4", "ip6" };
	struct tk_addr ul;
	uint8_t mac[6];
	int r;

	if (!mac_s || !ul_s || tk_mac_parse(mac_s, mac, err) < 0 ||
	    tk_addr_parse(ul_s, &ul, err) < 0)
		return tk_err_set(err, -EINVAL, "invalid endpoint record");
	if ((r = tk_nl_fdb_set(m->nl, ifindex, mac, &ul, add, err)) < 0)
		return r;
	for (size_t i = 0; i < 2; i++) {
		const char *ip_s = json_string_value(json_object_get(rec, fields[i]));
		struct tk_addr ip;

		if (!ip_s)
			continue;
		if ((r = tk_addr_parse(ip_s, &ip, err)) < 0 ||
		    (r = tk_nl_neigh_set(m->nl, ifindex, &ip, mac, add, err)) < 0) {
			if (add)
				entries_undo(m, ifindex, mac, &ul, has4 ? &fw4 : NULL, NULL);
			return r;
		}
		if (i == 0)
			fw4 = ip, has4 = true;
		else
			fw6 = ip, has6 = true;
	}
	/*
	 * The device's ND proxy answers every solicitation it carries, from its entries alone:
	 * without one for the container's link-local address, nothing reached that address.
	 */
	if (has6) {
		const struct tk_addr ll = tk_addr_link_local(mac);

		if ((r = tk_nl_neigh_set(m->nl, ifindex, &ll, mac, add, err)) < 0) {
			if (add)
				entries_undo(m, ifindex, mac, &ul, has4 ? &fw4 : NULL, &fw6);
			return r;
		}
	}
	/* What the device may bring onto the bridge: the registered MAC and addresses only. */
	if ((r = fault_point("overlay-peer", err)) >= 0)
		r = firewall_overlay_peer(m, group, ifname, ifindex, mac, has4 ? &fw4 : NULL,
					  has6 ? &fw6 : NULL, add, err);
	if (r < 0 && add)
		entries_undo(m, ifindex, mac, &ul, has4 ? &fw4 : NULL, has6 ? &fw6 : NULL);
	return r;
}

/*
 * Another host's container that appears while netd runs is announced to this host's containers
 * of its network (endpoint_announce_by_host): the overlay floods nothing, so its own
 * announcements never come here, and a container here that held its address's previous MAC
 * (a freed address is given out again at once) would keep it until the entry went stale.
 */
static void announce_remote(struct network *n, const char *key, json_t *rec)
{
	const char *fields[] = { "ip4", "ip6" };
	struct tk_addr ips[2];
	bool has[2] = {};
	uint8_t mac[6];
	char who[600];
	const char *mac_s = json_string_value(json_object_get(rec, "mac"));

	if (!n || !mac_s || tk_mac_parse(mac_s, mac, NULL) < 0)
		return;
	for (size_t i = 0; i < 2; i++) {
		const char *s = json_string_value(json_object_get(rec, fields[i]));

		has[i] = s && tk_addr_parse(s, &ips[i], NULL) >= 0;
	}
	snprintf(who, sizeof(who), "the endpoint '%s' of another host", key);
	endpoint_announce_by_host(n, who, mac, has[0] ? &ips[0] : NULL, has[1] ? &ips[1] : NULL);
}

/*
 * An address a host registered must be one of its record of the address's block: the addresses
 * that host may hand out, written only while it held the block (a host that returned to find its
 * block taken keeps a record of the addresses its containers still use).  So an address of
 * another host's block, or of no block, is refused.
 */
static bool address_allowed(struct network *n, const char *host, const char *ip_s, char *why,
			    size_t size)
{
	char bk[TK_PREFIX_STRLEN], key[512];
	struct tk_prefix blk;
	struct tk_addr a;
	const char *hex, *holder;
	unsigned last;

	if (tk_addr_parse(ip_s, &a, NULL) < 0 || cluster_blocks_of(n, &a, &blk) < 0) {
		snprintf(why, size, "address '%s' is not in the network's subnet", ip_s);
		return false;
	}
	tk_block_key(&blk, bk, sizeof(bk));
	snprintf(key, sizeof(key), "%s/%s/%s", n->name, bk, host);
	last = a.family == AF_INET ? 3 : 15;
	hex = json_string_value(json_object_get(records, key));
	if (hex && (strtoull(hex, NULL, 16) >> (a.bytes[last] - blk.addr.bytes[last]) & 1))
		return true;
	snprintf(key, sizeof(key), "%s/%s", n->name, bk);
	holder = json_string_value(json_object_get(holders, key));
	snprintf(why, size, "address '%s' is not one host '%s' may hand out: block %s is %s%s%s",
		 ip_s, host, bk, holder ? "held by '" : "held by no host", holder ? holder : "",
		 holder ? "'" : "");
	return false;
}

/*
 * Whether the record under endpoints/<key> may be programmed: the key's host, network and MAC are
 * the record's, its underlay is the host's (hosts/), its addresses are the host's (above).
 */
static bool registration_valid(struct manager *m, const char *key, json_t *rec, char *why,
			       size_t size)
{
	const char *fields[] = { "ip4", "ip6" };
	const char *net = json_string_value(json_object_get(rec, "network"));
	const char *h = json_string_value(json_object_get(rec, "host"));
	const char *mac = json_string_value(json_object_get(rec, "mac"));
	const char *ul = json_string_value(json_object_get(rec, "underlay"));
	const char *member_ul = h ? json_string_value(json_object_get(members, h)) : NULL;
	struct network *n = net ? manager_network(m, net) : NULL;
	char want[512];

	snprintf(want, sizeof(want), "%s/%s/%s", net ? net : "", h ? h : "", mac ? mac : "");
	if (!n || !h || !mac || strcasecmp(want, key) != 0) {
		snprintf(why, size, "its network, host and MAC are not those of its key");
		return false;
	}
	if (!ul || !member_ul || strcmp(ul, member_ul) != 0) {
		snprintf(why, size, "underlay '%s' is not that of live member '%s' (%s)",
			 ul ? ul : "", h, member_ul ? member_ul : "none");
		return false;
	}
	for (size_t i = 0; i < 2; i++) {
		const char *ip_s = json_string_value(json_object_get(rec, fields[i]));

		if (ip_s && !address_allowed(n, h, ip_s, why, size))
			return false;
	}
	return true;
}

/* "<net>/<mac>" with the MAC as netd writes it, whatever case mac_s has; false: mac_s is none. */
static bool mac_key(const char *net, const char *mac_s, uint8_t mac[6], char *buf, size_t size)
{
	char text[TK_MAC_STRLEN];

	if (!net || !mac_s || tk_mac_parse(mac_s, mac, NULL) < 0)
		return false;
	snprintf(buf, size, "%s/%s", net, tk_mac_format(mac, text, sizeof(text)));
	return true;
}

/*
 * One MAC per network, as on one host (endpoint.c, mac_unused): a bridge and the fast path key
 * their entries by MAC, so a second holder would take the first one's frames.  A record whose MAC
 * a container of this host holds, or another host's programmed record, waits (the first stays);
 * it is programmed once the other is gone.  Checked when a record is about to be programmed: a
 * container here cannot take a programmed record's MAC (overlay_mac_holder).
 */
static bool mac_free(struct manager *m, struct network *n, const char *key, json_t *rec, char *why,
		     size_t size)
{
	const char *mac_s = json_string_value(json_object_get(rec, "mac"));
	struct endpoint holder;
	const char *other;
	uint8_t mac[6];
	char mk[256];

	if (!mac_key(n->name, mac_s, mac, mk, sizeof(mk))) {
		snprintf(why, size, "MAC '%s' is not one", mac_s ? mac_s : "");
		return false;
	}
	other = json_string_value(json_object_get(mac_holders, mk));
	if (other && strcmp(other, key) != 0) {
		snprintf(why, size, "MAC %s is already that of '%s' on network '%s'", mac_s, other,
			 n->name);
		return false;
	}
	if (db_endpoint_find_by_mac(m, n, mac, &holder, NULL) > 0) {
		snprintf(why, size, "MAC %s is container '%.200s' %s's on this host", mac_s,
			 holder.container_id, holder.ifname);
		return false;
	}
	return true;
}

/* rec, programmed under key, holds its MAC on its network (hold), or no longer (!hold). */
static void mac_note(const char *net, json_t *rec, const char *key, bool hold)
{
	const char *mac_s = json_string_value(json_object_get(rec, "mac"));
	uint8_t mac[6];
	char mk[256];

	if (!mac_holders || !mac_key(net, mac_s, mac, mk, sizeof(mk)))
		return;
	if (hold)
		json_object_set_new(mac_holders, mk, json_string(key));
	else if (strcmp(json_string_value(json_object_get(mac_holders, mk)) ?: "", key) == 0)
		json_object_del(mac_holders, mk);
}

const char *overlay_mac_holder(const struct network *n, const uint8_t mac[6])
{
	char text[TK_MAC_STRLEN], mk[256];
	uint8_t parsed[6];

	if (!mac_key(n->name, tk_mac_format(mac, text, sizeof(text)), parsed, mk, sizeof(mk)))
		return NULL;
	return json_string_value(json_object_get(mac_holders, mk));
}

static void program_sync(struct manager *m, json_t *devs, const char *host)
{
	char why[512];
	const char *key;
	json_t *rec;
	void *tmp;
	tk_err err = {};

	if (!programmed && !(programmed = json_object()))
		return;
	/* Gone or changed first: a MAC that moved to another host is re-added below. */
	json_object_foreach_safe(programmed, tmp, key, rec)
	{
		json_t *now = remote ? json_object_get(remote, key) : NULL;
		json_t *dev =
			json_object_get(devs, json_string_value(json_object_get(rec, "network")));
		int ifindex = (int)json_integer_value(json_object_get(rec, "ifindex"));
		const char *ifname = json_string_value(json_object_get(rec, "ifname"));

		if (now && json_integer_value(json_object_get(dev, "ifindex")) == ifindex &&
		    json_equal(json_object_get(rec, "record"), now) &&
		    registration_valid(m, key, now, why, sizeof(why)))
			continue;
		if (entries(m, json_object_get(rec, "record"), ifindex, ifname,
			    (uint32_t)json_integer_value(json_object_get(rec, "group")), false,
			    &err) < 0)
			log_error("overlay: %s", err.msg);
		else
			log_debug("overlay: removed %s", key);
		mac_note(json_string_value(json_object_get(rec, "network")),
			 json_object_get(rec, "record"), key, false);
		json_object_del(programmed, key);
	}
	if (!remote || (!rejected && !(rejected = json_object())) ||
	    (!mac_holders && !(mac_holders = json_object())))
		return;
	json_object_foreach_safe(rejected, tmp, key, rec)
	{
		if (!json_object_get(remote, key))
			json_object_del(rejected, key);
	}
	json_object_foreach(remote, key, rec)
	{
		const char *net = json_string_value(json_object_get(rec, "network"));
		const char *h = json_string_value(json_object_get(rec, "host"));
		json_t *dev = net ? json_object_get(devs, net) : NULL;
		int ifindex = (int)json_integer_value(json_object_get(dev, "ifindex"));
		const char *ifname = json_string_value(json_object_get(dev, "name"));
		struct network *n;
		uint32_t group;

		if (!dev || !h || strcmp(h, host) == 0 || json_object_get(programmed, key))
			continue;
		n = manager_network(m, net);
		if (!registration_valid(m, key, rec, why, sizeof(why)) ||
		    !mac_free(m, n, key, rec, why, sizeof(why))) {
			json_t *had = json_object_get(rejected, key);

			/* Once per registration and reason: the check runs at every sync. */
			if (!had || strcmp(json_string_value(had), why) != 0) {
				log_warning("overlay: ignoring endpoint registration '%s': %s", key,
					    why);
				json_object_set_new(rejected, key, json_string(why));
			}
			continue;
		}
		if (json_object_get(rejected, key)) {
			log_info("overlay: endpoint registration '%s' is valid now", key);
			json_object_del(rejected, key);
		}
		group = firewall_network_group(n);
		if (entries(m, rec, ifindex, ifname, group, true, &err) < 0) {
			log_error("overlay: %s: %s", key, err.msg);
			continue;
		}
		mac_note(net, rec, key, true);
		json_object_set_new(programmed, key,
				    json_pack("{s:s, s:O, s:i, s:s, s:I}", "network", net, "record",
					      rec, "ifindex", ifindex, "ifname", ifname, "group",
					      (json_int_t)group));
		log_debug("overlay: programmed %s", key);
		if (announcing)
			announce_remote(n, key, rec);
	}
	/* What a start finds was there before its containers' caches: nothing to correct. */
	announcing = listed;
}

struct stale_entries {
	struct manager *m;
	int ifindex;
	json_t *macs, *ips; /* formatted: those of the records programmed on ifindex */
	unsigned n;
};

static void set_formatted(json_t *set, const char *mac_s, const char *ip_s)
{
	char buf[64];
	struct tk_addr ip;
	uint8_t mac[6];

	if (mac_s && tk_mac_parse(mac_s, mac, NULL) >= 0)
		json_object_set_new(set, tk_mac_format(mac, buf, sizeof(buf)), json_true());
	if (ip_s && tk_addr_parse(ip_s, &ip, NULL) >= 0)
		json_object_set_new(set, tk_addr_format(&ip, buf, sizeof(buf)), json_true());
}

static int stale_entry(const struct tk_neigh_info *e, void *userdata)
{
	struct stale_entries *s = userdata;
	const struct tk_addr ll = tk_addr_link_local(e->mac);
	/* A link-local neighbour is a record's by its MAC, from which the address derives. */
	bool by_mac = e->fdb || tk_addr_equal(&e->addr, &ll);
	char buf[64];

	if (!e->permanent || json_object_get(by_mac ? s->macs : s->ips,
					     by_mac ? tk_mac_format(e->mac, buf, sizeof(buf))
						    : tk_addr_format(&e->addr, buf, sizeof(buf))))
		return 0;
	if ((e->fdb ? tk_nl_fdb_set(s->m->nl, s->ifindex, e->mac, &e->addr, false, NULL)
		    : tk_nl_neigh_set(s->m->nl, s->ifindex, &e->addr, e->mac, false, NULL)) >= 0)
		s->n++;
	return 0;
}

/*
 * The entries an earlier run left on a device it reuses, or that were programmed before a
 * rebuild cleared programmed, for records gone meanwhile: nothing would take them away, and the
 * device would answer ARP for an address with the MAC of a container that is gone.  Once after
 * a start or a rebuild, with a full list programmed: what no programmed record has goes.
 */
static void stale_sync(struct manager *m, json_t *devs)
{
	const char *net, *key;
	json_t *dev, *rec;

	json_object_foreach(devs, net, dev)
	{
		_cleanup_(json_decrefp) json_t *macs = json_object(), *ips = json_object();
		struct stale_entries s = { m,
					   (int)json_integer_value(json_object_get(dev, "ifindex")),
					   macs, ips, 0 };
		tk_err err = {};

		if (!macs || !ips)
			return;
		json_object_foreach(programmed, key, rec)
		{
			json_t *r = json_object_get(rec, "record");

			if (json_integer_value(json_object_get(rec, "ifindex")) != s.ifindex)
				continue;
			set_formatted(macs, json_string_value(json_object_get(r, "mac")), NULL);
			set_formatted(ips, NULL, json_string_value(json_object_get(r, "ip4")));
			set_formatted(ips, NULL, json_string_value(json_object_get(r, "ip6")));
		}
		if (tk_nl_neigh_foreach(m->nl, s.ifindex, true, stale_entry, &s, &err) < 0 ||
		    tk_nl_neigh_foreach(m->nl, s.ifindex, false, stale_entry, &s, &err) < 0) {
			log_error("overlay: %s (again at the next sync)", err.msg);
			return;
		}
		if (s.n)
			log_info("overlay: removed %u stale entries from '%s' (network '%s')", s.n,
				 json_string_value(json_object_get(dev, "name")), net);
	}
	stale_checked = true;
}

void overlay_sync(struct manager *m, json_t *vnis, const char *host, const char *underlay,
		  int64_t lease)
{
	_cleanup_(json_decrefp) json_t *devs = NULL;
	struct tk_addr local;

	if (!vnis || tk_addr_parse(underlay, &local, NULL) < 0)
		return;
	members_sync(m, &local);
	if (!(devs = devices_sync(m, vnis, &local)))
		return;
	publish_sync(m, vnis, host, underlay, lease);
	program_sync(m, devs, host);
	if (listed && !stale_checked)
		stale_sync(m, devs);
}
