/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Published ports: a host port (TCP or UDP, on every address of the host or on one) leads to a
 * port of one endpoint.  Each mapping is a row of port_mappings, deleted with its endpoint, and
 * one element per address family in firewall.c's DNAT maps, added and removed in the same batch
 * as the endpoint's other elements.  A tenant owns a range of host ports (tenant.create
 * host_ports): its mappings must lie in it, and nobody else's may.  A port the host itself uses
 * (a listening TCP socket, a bound UDP socket in netd's netns) or another mapping holds is
 * refused, naming its owner.  The tenant's egress address lives here too.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "netd.h"
#include "nl.h"
#include "store.h"

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_UDP ? "udp" : "tcp";
}

static int port_from_json(json_t *o, const char *key, size_t i, uint16_t *ret, tk_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
		return tk_err_set(err, -EINVAL, "port_mappings[%zu].%s must be a port (1..65535)",
				  i, key);
	*ret = (uint16_t)json_integer_value(v);
	return 0;
}

int ports_from_json(json_t *j, struct port_list *ret, tk_err *err)
{
	size_t i;
	json_t *o;
	int r;

	ret->n = 0;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_array(j) || json_array_size(j) > PORTS_MAX)
		return tk_err_set(err, -EINVAL,
				  "'port_mappings' must be an array of at most %d mappings",
				  PORTS_MAX);
	json_array_foreach(j, i, o)
	{
		struct port_mapping *p = &ret->p[ret->n];
		const char *proto = "tcp", *host_ip = NULL;
		json_int_t hp, cp;

		*p = (struct port_mapping){};
		if ((r = tk_json_unpack(o, "port_mappings entry", err, "{s:I, s:I, s?s, s?s}",
					"host_port", &hp, "container_port", &cp, "protocol", &proto,
					"host_ip", &host_ip)) < 0 ||
		    (r = port_from_json(o, "host_port", i, &p->host_port, err)) < 0 ||
		    (r = port_from_json(o, "container_port", i, &p->container_port, err)) < 0)
			return r;
		if (strcmp(proto, "tcp") == 0)
			p->protocol = IPPROTO_TCP;
		else if (strcmp(proto, "udp") == 0)
			p->protocol = IPPROTO_UDP;
		else
			return tk_err_set(err, -EINVAL,
					  "port_mappings[%zu].protocol '%s': only tcp and udp", i,
					  proto);
		/* "" and the unspecified addresses mean every address, as CNI's hostIP does. */
		if (host_ip && *host_ip && strcmp(host_ip, "0.0.0.0") != 0 &&
		    strcmp(host_ip, "::") != 0) {
			if ((r = tk_addr_parse(host_ip, &p->host_ip, err)) < 0)
				return tk_err_wrap(err, r, "port_mappings[%zu].host_ip", i);
			p->has_host_ip = true;
		}
		for (unsigned k = 0; k < ret->n; k++)
			if (ret->p[k].protocol == p->protocol &&
			    ret->p[k].host_port == p->host_port)
				return tk_err_set(err, -EINVAL,
						  "host port %u/%s is mapped twice in the request",
						  p->host_port, proto);
		ret->n++;
	}
	return 0;
}

json_t *ports_to_json(const struct port_list *l)
{
	json_t *a = json_array();
	char buf[TK_ADDR_STRLEN];

	for (unsigned i = 0; a && i < l->n; i++) {
		const struct port_mapping *p = &l->p[i];
		json_t *o =
			json_pack("{s:i, s:i, s:s}", "host_port", p->host_port, "container_port",
				  p->container_port, "protocol", proto_name(p->protocol));
		if (o && p->has_host_ip)
			json_object_set_new(
				o, "host_ip",
				json_string(tk_addr_format(&p->host_ip, buf, sizeof(buf))));
		json_array_append_new(a, o);
	}
	return a;
}

/* ---- rows ---------------------------------------------------------------------------------- */

static int mapping_from_row(sqlite3_stmt *st, int col, struct port_mapping *p, tk_err *err)
{
	int r;

	*p = (struct port_mapping){};
	p->protocol = strcmp(tk_store_column_text(st, col), "udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP;
	p->host_port = (uint16_t)sqlite3_column_int(st, col + 1);
	p->container_port = (uint16_t)sqlite3_column_int(st, col + 2);
	if (sqlite3_column_type(st, col + 3) != SQLITE_NULL) {
		if ((r = tk_addr_parse(tk_store_column_text(st, col + 3), &p->host_ip, err)) < 0)
			return tk_err_wrap(err, r, "corrupt state database: port mapping");
		p->has_host_ip = true;
	}
	return 0;
}

int ports_db_load(struct manager *m, int64_t endpoint_id, struct port_list *ret, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	ret->n = 0;
	r = tk_store_stmt(m->store,
			  "SELECT protocol, host_port, container_port, host_ip FROM port_mappings "
			  "WHERE endpoint_id = ? ORDER BY protocol, host_port",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, endpoint_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ret->n < PORTS_MAX)
		if ((r = mapping_from_row(st, 0, &ret->p[ret->n++], err)) < 0) {
			sqlite3_reset(st);
			return r;
		}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		       ? 0
		       : tk_store_step_error(m->store, rc, "reading port mappings", err);
}

int ports_db_store(struct manager *m, int64_t endpoint_id, const struct port_list *l, tk_err *err)
{
	char buf[TK_ADDR_STRLEN];
	sqlite3_stmt *st;
	int r;

	if ((r = tk_store_stmt(m->store, "DELETE FROM port_mappings WHERE endpoint_id = ?", &st,
			       err)) < 0)
		return r;
	sqlite3_bind_int64(st, 1, endpoint_id);
	if ((r = tk_store_step_done(m->store, st, err)) < 0)
		return r;
	for (unsigned i = 0; l && i < l->n; i++) {
		const struct port_mapping *p = &l->p[i];

		r = tk_store_stmt(m->store,
				  "INSERT INTO port_mappings (endpoint_id, protocol, host_port, "
				  "container_port, host_ip) VALUES (?, ?, ?, ?, ?)",
				  &st, err);
		if (r < 0)
			return r;
		sqlite3_bind_int64(st, 1, endpoint_id);
		sqlite3_bind_text(st, 2, proto_name(p->protocol), -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, p->host_port);
		sqlite3_bind_int(st, 4, p->container_port);
		if (p->has_host_ip)
			sqlite3_bind_text(st, 5, tk_addr_format(&p->host_ip, buf, sizeof(buf)), -1,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 5);
		if ((r = tk_store_step_done(m->store, st, err)) < 0)
			return r == -EEXIST ? tk_err_set(err, -EADDRINUSE,
							 "host port %u/%s is already published",
							 p->host_port, proto_name(p->protocol))
					    : r;
	}
	return 0;
}

int ports_foreach(struct manager *m,
		  int (*cb)(struct endpoint *e, const struct port_list *l, void *userdata),
		  void *userdata, tk_err *err)
{
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	_cleanup_free_ struct port_list *l = malloc(sizeof(*l));
	_cleanup_free_ int64_t *ids = NULL;
	size_t n = 0, size = 0;
	sqlite3_stmt *st;
	int r, rc;

	if (!e || !l)
		return tk_err_set(err, -ENOMEM, "out of memory");
	r = tk_store_stmt(m->store, "SELECT DISTINCT endpoint_id FROM port_mappings", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == size) {
			int64_t *grown =
				reallocarray(ids, size = size ? size * 2 : 64, sizeof(*ids));
			if (!grown) {
				sqlite3_reset(st);
				return tk_err_set(err, -ENOMEM, "out of memory");
			}
			ids = grown;
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE)
		return tk_store_step_error(m->store, rc, "reading port mappings", err);
	for (size_t i = 0; i < n; i++) {
		if ((r = db_endpoint_find_by_id(m, ids[i], e, err)) < 0 ||
		    (r = ports_db_load(m, ids[i], l, err)) < 0 || (r = cb(e, l, userdata)) < 0)
			return r;
	}
	return 0;
}

/* ---- checks -------------------------------------------------------------------------------- */

/* Whether a is an address of an interface of netd's netns. */
static int local_address(const struct tk_addr *a, tk_err *err)
{
	struct ifaddrs *list = NULL;
	bool found = false;

	if (getifaddrs(&list) < 0)
		return tk_err_set(err, -errno, "cannot list the host's addresses: %m");
	for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;
		if (!sa || sa->sa_family != a->family)
			continue;
		if (sa->sa_family == AF_INET)
			found = memcmp(&((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				       a->bytes, 4) == 0;
		else
			found = memcmp(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
				       a->bytes, 16) == 0;
	}
	freeifaddrs(list);
	return found;
}

static int check_local_address(const struct tk_addr *a, const char *what, tk_err *err)
{
	char buf[TK_ADDR_STRLEN];
	int r = local_address(a, err);

	if (r < 0)
		return r;
	if (r == 0)
		return tk_err_set(err, -EADDRNOTAVAIL, "%s %s is not an address of the host", what,
				  tk_addr_format(a, buf, sizeof(buf)));
	return 0;
}

/* The process holding socket inode (for the message): "'nc' (pid 42)", or "". */
static void socket_owner(unsigned long inode, char *buf, size_t size)
{
	_cleanup_(closedirp) DIR *proc = opendir("/proc");
	char want[64], path[300], link[64];
	struct dirent *d;

	buf[0] = '\0';
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	while (proc && (d = readdir(proc))) {
		_cleanup_(closedirp) DIR *fds = NULL;
		struct dirent *f;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/fd", d->d_name);
		if (!(fds = opendir(path)))
			continue;
		while ((f = readdir(fds))) {
			ssize_t n;
			snprintf(path, sizeof(path), "/proc/%.20s/fd/%.20s", d->d_name, f->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, want) == 0) {
				char comm[64] = "?";
				_cleanup_fclose_ FILE *c = NULL;
				snprintf(path, sizeof(path), "/proc/%.20s/comm", d->d_name);
				if ((c = fopen(path, "re")) && fgets(comm, sizeof(comm), c))
					comm[strcspn(comm, "\n")] = '\0';
				snprintf(buf, size, " ('%.16s', pid %.20s)", comm, d->d_name);
				return;
			}
		}
	}
}

/*
 * A TCP socket listening on port, or any UDP socket bound to it, in netd's netns: DNAT would
 * take its traffic.  1 with its description in who, 0 when there is none.
 */
static int host_socket(uint8_t protocol, uint16_t port, char *who, size_t size)
{
	static const char *const tcp[] = { "/proc/net/tcp", "/proc/net/tcp6" }, *const udp[] = {
		"/proc/net/udp", "/proc/net/udp6"
	};
	const char *const *files = protocol == IPPROTO_UDP ? udp : tcp;
	char line[512];

	for (int i = 0; i < 2; i++) {
		_cleanup_fclose_ FILE *f = fopen(files[i], "re");

		while (f && fgets(line, sizeof(line), f)) {
			unsigned lport, state;
			unsigned long inode;
			char local[64];

			/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(line, " %*s %63[0-9A-Fa-f:] %*s %x %*s %*s %*s %*u %*u %lu",
				   local, &state, &inode) != 3 ||
			    sscanf(strchr(local, ':') + 1, "%x", &lport) != 1 || lport != port)
				continue;
			if (protocol == IPPROTO_TCP && state != 0x0A /* TCP_LISTEN */)
				continue;
			snprintf(who, size, "a %s socket of the host%s",
				 protocol == IPPROTO_TCP ? "listening" : "bound", "");
			socket_owner(inode, who + strlen(who), size - strlen(who));
			return 1;
		}
	}
	return 0;
}

/* Which tenant's range holds port (another than t), or NULL. */
static const struct tk_tenant *range_owner(struct manager *m, const struct tk_tenant *t,
					   uint16_t lo, uint16_t hi)
{
	for (const struct tk_tenant *o = m->tenants.list; o; o = o->next)
		if (o != t && o->host_port_max && lo <= o->host_port_max && hi >= o->host_port_min)
			return o;
	return NULL;
}

/* Another endpoint's mapping of port: -EADDRINUSE naming it. */
static int check_mapped(struct manager *m, const struct tk_caller *c, const struct endpoint *e,
			const struct port_mapping *p, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(m->store,
			  "SELECT pm.endpoint_id, e.container_id, e.ifname, e.network_id "
			  "FROM port_mappings pm JOIN endpoints e ON e.id = pm.endpoint_id "
			  "WHERE pm.protocol = ? AND pm.host_port = ? AND pm.endpoint_id != ?",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, proto_name(p->protocol), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, p->host_port);
	sqlite3_bind_int64(st, 3, e->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const struct network *n = manager_network_by_id(m, sqlite3_column_int64(st, 3));
		const struct tk_tenant *t = n ? n->tenant : NULL;
		char owner[1200];

		/* Another tenant's container ids are not for probing: only its tenant is named. */
		if (t && caller_may_manage(c, t, NULL) >= 0)
			snprintf(owner, sizeof(owner), "container '%.1024s' %s on network '%s'",
				 tk_store_column_text(st, 1), tk_store_column_text(st, 2), n->name);
		else
			snprintf(owner, sizeof(owner), "tenant '%s'", t ? t->name : "?");
		sqlite3_reset(st);
		return tk_err_set(err, -EADDRINUSE, "host port %u/%s is already published by %s",
				  p->host_port, proto_name(p->protocol), owner);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0
				 : tk_store_step_error(m->store, rc, "reading port mappings", err);
}

static int check_one(struct manager *m, const struct tk_caller *c, const struct endpoint *e,
		     const struct port_mapping *p, tk_err *err)
{
	const struct tk_tenant *t = e->network->tenant, *o;
	const char *proto = proto_name(p->protocol);
	char who[256];
	int r;

	if (p->has_host_ip) {
		bool v4 = p->host_ip.family == AF_INET;
		if (!(v4 ? e->has4 : e->has6))
			return tk_err_set(err, -EINVAL,
					  "host port %u/%s: the container has no IPv%c address for "
					  "a mapping on an IPv%c host address",
					  p->host_port, proto, v4 ? '4' : '6', v4 ? '4' : '6');
		if ((r = check_local_address(&p->host_ip, "host_ip", err)) < 0)
			return r;
	}
	if (t->host_port_max) {
		if (p->host_port < t->host_port_min || p->host_port > t->host_port_max)
			return tk_err_set(
				err, -EACCES,
				"host port %u/%s is outside the host ports of tenant '%s' "
				"(%u-%u)",
				p->host_port, proto, t->name, t->host_port_min, t->host_port_max);
	} else if (!c->admin) {
		return tk_err_set(err, -EACCES,
				  "tenant '%s' owns no host ports, so only root or the admin group "
				  "may publish host port %u/%s for it (netctl create tenant "
				  "--host-ports)",
				  t->name, p->host_port, proto);
	} else if ((o = range_owner(m, t, p->host_port, p->host_port))) {
		return tk_err_set(err, -EACCES, "host port %u/%s belongs to tenant '%s' (%u-%u)",
				  p->host_port, proto, o->name, o->host_port_min, o->host_port_max);
	}
	if ((r = check_mapped(m, c, e, p, err)) < 0)
		return r;
	if (host_socket(p->protocol, p->host_port, who, sizeof(who)) > 0)
		return tk_err_set(err, -EADDRINUSE, "host port %u/%s is in use by %s", p->host_port,
				  proto, who);
	return 0;
}

int ports_check(struct manager *m, const struct tk_caller *c, const struct endpoint *e,
		const struct port_list *l, tk_err *err)
{
	int r;

	if (l && l->n > 0 && e->lease)
		return tk_err_set(
			err, -EINVAL,
			"an address lease (tenant-ipam) has no interface to publish ports "
			"to");
	for (unsigned i = 0; l && i < l->n; i++)
		if ((r = check_one(m, c, e, &l->p[i], err)) < 0)
			return r;
	return 0;
}

int ports_bridge_localnet(const struct network *n, tk_err *err)
{
	char path[128];

	if (!n->has4)
		return 0;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", n->bridge);
	return tk_sysctl_write(path, "1", err);
}

/*
 * Hairpin mode on the port of an endpoint that publishes ports, so that it reaches its own
 * published ports: with br_netfilter (Docker loads it; the bridge-nf-call sysctls default to 1 in
 * every netns) the host's DNAT of a packet whose new destination is on the bridge it came from
 * sends the frame on as bridged, not routed, and the bridge sends a frame back out of the port
 * it came in by only in hairpin mode.  Only such ports: hairpin also reflects the port's
 * broadcasts back to it.
 */
int ports_port_hairpin(struct manager *m, const struct endpoint *e, bool on, tk_err *err)
{
	if (e->lease)
		return 0;
	return tk_nl_port_set_hairpin(m->nl, e->host_ifname, on, err);
}

/* ---- endpoint.ports ------------------------------------------------------------------------ */

int ports_set(struct manager *m, const struct tk_caller *c, const struct endpoint *e,
	      const struct port_list *l, tk_err *err)
{
	_cleanup_free_ struct port_list *old = malloc(sizeof(*old));
	tk_err off = {};
	int r;

	if (!old)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = ports_check(m, c, e, l, err)) < 0 || (r = ports_db_load(m, e->id, old, err)) < 0 ||
	    (l->n > 0 && ((r = ports_bridge_localnet(e->network, err)) < 0 ||
			  (r = ports_port_hairpin(m, e, true, err)) < 0)))
		return r;
	if ((r = tk_store_begin_ephemeral(m->store, err)) < 0)
		return r;
	if ((r = ports_db_store(m, e->id, l, err)) < 0 || (r = fault_point("ports-row", err)) < 0 ||
	    (r = firewall_ports(m, e, old, l, err)) < 0)
		goto rollback;
	if ((r = tk_store_commit(m->store, err)) < 0) {
		(void)firewall_ports(m, e, l, old, NULL);
		goto rollback;
	}
	if (l->n == 0 && old->n > 0 && ports_port_hairpin(m, e, false, &off) < 0)
		log_warning("Container '%s' %s publishes no ports, but its port stays in hairpin "
			    "mode: %s",
			    e->container_id, e->ifname, off.msg);
	log_info("Container '%s' %s publishes %u port(s)", e->container_id, e->ifname, l->n);
	return 0;

rollback:
	tk_store_rollback(m->store);
	/* The port of a container that published nothing leaves hairpin mode again. */
	if (l->n > 0 && old->n == 0)
		(void)ports_port_hairpin(m, e, false, NULL);
	return tk_err_wrap(err, r, "publishing ports of container '%s'", e->container_id);
}

/* ---- tenants: host ports and egress address ------------------------------------------------ */

int ports_tenants_load(struct manager *m, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(
		m->store,
		"SELECT tenant_id, host_port_min, host_port_max, egress_ip FROM tenant_net", &st,
		err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tk_tenant *t = tk_tenant_get_by_id(&m->tenants, sqlite3_column_int64(st, 0));
		if (!t)
			continue;
		t->host_port_min = (uint16_t)sqlite3_column_int(st, 1);
		t->host_port_max = (uint16_t)sqlite3_column_int(st, 2);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			if ((r = tk_addr_parse(tk_store_column_text(st, 3), &t->egress_ip, err)) <
			    0) {
				sqlite3_reset(st);
				return tk_err_wrap(err, r, "corrupt state database: tenant '%s'",
						   t->name);
			}
			t->has_egress_ip = true;
		}
	}
	return rc == SQLITE_DONE ? 0 : tk_store_step_error(m->store, rc, "loading tenants", err);
}

static int tenant_net_insert(struct manager *m, const struct tk_tenant *t, tk_err *err)
{
	char buf[TK_ADDR_STRLEN];
	sqlite3_stmt *st;
	int r;

	r = tk_store_stmt(m->store,
			  "INSERT INTO tenant_net (tenant_id, host_port_min, host_port_max, "
			  "egress_ip) VALUES (?, ?, ?, ?)",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, t->id);
	sqlite3_bind_int(st, 2, t->host_port_min);
	sqlite3_bind_int(st, 3, t->host_port_max);
	if (t->has_egress_ip)
		sqlite3_bind_text(st, 4, tk_addr_format(&t->egress_ip, buf, sizeof(buf)), -1,
				  SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 4);
	return tk_store_step_done(m->store, st, err);
}

/* "20000-20999" or "8080". */
static int parse_range(const char *s, struct tk_tenant *p, tk_err *err)
{
	unsigned lo, hi;
	int n = 0;

	if (sscanf(s, "%u-%u%n", &lo, &hi, &n) == 2 && s[n] == '\0') {
	} else if (n = 0, sscanf(s, "%u%n", &lo, &n) == 1 && s[n] == '\0') {
		hi = lo;
	} else {
		return tk_err_set(err, -EINVAL,
				  "host_ports '%s': expected FIRST-LAST, like 20000-20999", s);
	}
	if (lo < 1 || hi > 65535 || lo > hi)
		return tk_err_set(err, -EINVAL,
				  "host_ports '%s': ports are 1..65535, first <= last", s);
	p->host_port_min = (uint16_t)lo;
	p->host_port_max = (uint16_t)hi;
	return 0;
}

static int range_strands(struct manager *m, const struct tk_tenant *t, uint16_t lo, uint16_t hi,
			 tk_err *err);

/* host_ports and egress_ip of tenant.create, taken out of args (the rest is tk_tenant's). */
static int tenant_net_params(struct manager *m, json_t *args, struct tk_tenant *p, tk_err *err)
{
	json_t *hp = json_object_get(args, "host_ports"), *eg = json_object_get(args, "egress_ip");
	const struct tk_tenant *o;
	int r;

	if (hp && !json_is_null(hp)) {
		if (!json_is_string(hp))
			return tk_err_set(err, -EINVAL,
					  "'host_ports' must be a string like \"20000-20999\"");
		if ((r = parse_range(json_string_value(hp), p, err)) < 0)
			return r;
		if ((o = range_owner(m, NULL, p->host_port_min, p->host_port_max)))
			return tk_err_set(err, -EADDRINUSE,
					  "host ports %u-%u overlap those of tenant '%s' (%u-%u)",
					  p->host_port_min, p->host_port_max, o->name,
					  o->host_port_min, o->host_port_max);
		/* nor one that another tenant publishes already (root did, for one without a range) */
		if ((r = range_strands(m, p, p->host_port_min, p->host_port_max, err)) < 0)
			return r;
	}
	if (eg && !json_is_null(eg)) {
		if (!json_is_string(eg))
			return tk_err_set(err, -EINVAL, "'egress_ip' must be an address");
		if ((r = tk_addr_parse(json_string_value(eg), &p->egress_ip, err)) < 0)
			return tk_err_wrap(err, r, "egress_ip");
		if ((r = check_local_address(&p->egress_ip, "egress_ip", err)) < 0)
			return r;
		p->has_egress_ip = true;
	}
	json_object_del(args, "host_ports");
	json_object_del(args, "egress_ip");
	return 0;
}

int ports_tenant_params(struct manager *m, json_t *args, struct tk_tenant *ret, tk_err *err)
{
	*ret = (struct tk_tenant){};
	return tenant_net_params(m, args, ret, err);
}

/*
 * A published mapping the range lo-hi (0-0: none) would strand: one of t's outside it, or
 * another tenant's inside it (published by root for a tenant without a range).
 */
static int range_strands(struct manager *m, const struct tk_tenant *t, uint16_t lo, uint16_t hi,
			 tk_err *err)
{
	const struct tk_tenant *o;
	sqlite3_stmt *st;
	int r, rc, port;
	char proto[8];

	r = tk_store_stmt(m->store,
			  "SELECT pm.host_port, pm.protocol, n.tenant_id FROM port_mappings pm "
			  "JOIN endpoints e ON e.id = pm.endpoint_id "
			  "JOIN networks n ON n.id = e.network_id "
			  "WHERE (n.tenant_id = ?1 AND (pm.host_port < ?2 OR pm.host_port > ?3)) "
			  "OR (n.tenant_id != ?1 AND pm.host_port BETWEEN ?2 AND ?3) "
			  "ORDER BY n.tenant_id != ?1, pm.host_port LIMIT 1",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, t->id);
	sqlite3_bind_int(st, 2, lo);
	sqlite3_bind_int(st, 3, hi);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE
			       ? 0
			       : tk_store_step_error(m->store, rc, "reading port mappings", err);
	}
	port = sqlite3_column_int(st, 0);
	snprintf(proto, sizeof(proto), "%s", tk_store_column_text(st, 1));
	o = tk_tenant_get_by_id(&m->tenants, sqlite3_column_int64(st, 2));
	sqlite3_reset(st);
	if (o == t && !hi)
		return tk_err_set(err, -EBUSY,
				  "tenant '%s' publishes host port %d/%s: unpublish it before "
				  "taking its host ports away",
				  t->name, port, proto);
	if (o == t)
		return tk_err_set(err, -EBUSY,
				  "tenant '%s' publishes host port %d/%s, outside %u-%u: unpublish "
				  "it first or choose a range that holds it",
				  t->name, port, proto, lo, hi);
	return tk_err_set(err, -EADDRINUSE, "host port %d/%s in %u-%u is published by tenant '%s'",
			  port, proto, lo, hi, o ? o->name : "?");
}

int ports_tenant_set_params(struct manager *m, const struct tk_tenant *t, json_t *args,
			    struct tk_tenant *ret, bool *ret_changed, tk_err *err)
{
	json_t *hp = json_object_get(args, "host_ports");
	const struct tk_tenant *o;
	struct tk_tenant p = *t;
	int r;

	*ret_changed = false;
	if (!hp)
		return 0;
	if (json_is_null(hp) ||
	    (json_is_string(hp) && strcmp(json_string_value(hp), "none") == 0)) {
		p.host_port_min = p.host_port_max = 0;
	} else if (!json_is_string(hp)) {
		return tk_err_set(err, -EINVAL,
				  "'host_ports' must be a string like \"20000-20999\" or \"none\"");
	} else if ((r = parse_range(json_string_value(hp), &p, err)) < 0) {
		return r;
	} else if ((o = range_owner(m, t, p.host_port_min, p.host_port_max))) {
		return tk_err_set(err, -EADDRINUSE,
				  "host ports %u-%u overlap those of tenant '%s' (%u-%u)",
				  p.host_port_min, p.host_port_max, o->name, o->host_port_min,
				  o->host_port_max);
	}
	if ((r = range_strands(m, t, p.host_port_min, p.host_port_max, err)) < 0)
		return r;
	json_object_del(args, "host_ports");
	*ret = p;
	*ret_changed = p.host_port_min != t->host_port_min || p.host_port_max != t->host_port_max;
	return 0;
}

int ports_tenant_set_apply(struct manager *m, struct tk_tenant *t, const struct tk_tenant *p,
			   tk_err *err)
{
	sqlite3_stmt *st;
	int r;

	r = tk_store_stmt(m->store,
			  "INSERT INTO tenant_net (tenant_id, host_port_min, host_port_max) "
			  "VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id) DO UPDATE SET "
			  "host_port_min = ?2, host_port_max = ?3",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, t->id);
	sqlite3_bind_int(st, 2, p->host_port_min);
	sqlite3_bind_int(st, 3, p->host_port_max);
	if ((r = tk_store_step_done(m->store, st, err)) < 0)
		return tk_err_wrap(err, r, "recording the host ports of tenant '%s'", t->name);
	t->host_port_min = p->host_port_min;
	t->host_port_max = p->host_port_max;
	if (t->host_port_max)
		log_info("Tenant '%s' now owns host ports %u-%u", t->name, t->host_port_min,
			 t->host_port_max);
	else
		log_info("Tenant '%s' now owns no host ports", t->name);
	return 0;
}

int ports_tenant_apply(struct manager *m, struct tk_tenant *t, const struct tk_tenant *p,
		       tk_err *err)
{
	t->host_port_min = p->host_port_min;
	t->host_port_max = p->host_port_max;
	t->has_egress_ip = p->has_egress_ip;
	t->egress_ip = p->egress_ip;
	/* A new tenant has no networks, so no egress elements yet (firewall_network). */
	if (p->host_port_max || p->has_egress_ip)
		return tenant_net_insert(m, t, err);
	return 0;
}
