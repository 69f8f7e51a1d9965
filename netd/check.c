/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CNI CHECK, done where the knowledge is: netd knows what it built (the row) and can look at
 * both ends of the veth, so the plugins stay thin clients that need no netlink of their own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dockernet.h"
#include "netd.h"
#include "nl.h"

static void problem(json_t *problems, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(json_t *problems, const char *msg, const char *fmt, ...)
{
	char details[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(details, sizeof(details), fmt, ap);
	va_end(ap);
	json_array_append_new(problems, json_pack("{s:s, s:s}", "msg", msg, "details", details));
}

/* The host's side: the veth exists, is up and is a port of the network's bridge. */
static void check_host(struct manager *m, const struct endpoint *e, json_t *problems)
{
	const struct network *n = e->network;
	struct tk_link_info host;
	tk_err err = {};

	if (tk_nl_link_get(m->nl, e->host_ifname, &host, &err) < 0)
		problem(problems, "host veth missing", "%s", err.msg);
	else if (host.master != n->bridge_ifindex || !host.up)
		problem(problems, "host veth detached", "%s is not an up port of %s",
			e->host_ifname, n->bridge);
}

struct addr_seen {
	const struct tk_prefix *want;
	bool found;
};

static int find_addr(const struct tk_prefix *have, void *userdata)
{
	struct addr_seen *s = userdata;

	if (tk_addr_equal(&have->addr, &s->want->addr) && have->len == s->want->len)
		s->found = true;
	return 0;
}

/* One address of the container and the default route via its gateway. */
static void check_family(struct tk_nl *cnl, const struct tk_link_info *link,
			 const struct tk_prefix *want, const struct tk_addr *gateway,
			 json_t *problems)
{
	char address[TK_ADDR_STRLEN], gw[TK_ADDR_STRLEN];
	struct addr_seen seen = { .want = want };
	struct tk_addr have_gw;

	tk_addr_format(&want->addr, address, sizeof(address));
	tk_addr_format(gateway, gw, sizeof(gw));
	if (tk_nl_addr_foreach(cnl, link->ifindex, want->addr.family, find_addr, &seen, NULL) < 0 ||
	    !seen.found)
		problem(problems, "container address missing", "%s has no address %s/%u",
			link->name, address, want->len);
	if (tk_nl_route_get_default(cnl, link->ifindex, want->addr.family, &have_gw, NULL) < 0 ||
	    !tk_addr_equal(gateway, &have_gw))
		problem(problems, "default route missing", "%s has no default route via %s",
			link->name, gw);
}

/*
 * Docker's NetworkDriver endpoints (docker.c) are named after Docker's endpoint id, which is their
 * container_id; dockerd renames the container end when it moves it into the sandbox (DstPrefix
 * "eth"), so there the interface is the one with the endpoint's MAC.
 */
static bool is_docker(const struct endpoint *e)
{
	char ifname[TK_IFNAME_MAX + 1];

	return tk_dnet_endpoint_ifname(e->container_id, ifname, sizeof(ifname), NULL) >= 0 &&
	       strcmp(ifname, e->ifname) == 0;
}

struct mac_seen {
	const uint8_t *mac;
	struct tk_link_info link;
	bool found;
};

static int find_mac(const struct tk_link_info *link, void *userdata)
{
	struct mac_seen *s = userdata;

	if (s->found || memcmp(link->mac, s->mac, sizeof(link->mac)) != 0)
		return 0;
	s->link = *link;
	s->found = true;
	return 0;
}

/* The container's side: interface, MAC, up, every address and a default route via each gateway. */
static int check_container(const struct tk_caller *c, const struct endpoint *e,
			   const char *netns_path, json_t *problems, tk_err *err)
{
	_cleanup_(tk_nl_closep) struct tk_nl *cnl = NULL;
	const struct network *n = e->network;
	_cleanup_close_ int fd = -1;
	char have[TK_MAC_STRLEN], want[TK_MAC_STRLEN];
	struct tk_link_info link;
	tk_err lerr = {};
	int r;

	if ((r = endpoint_open_netns(c, netns_path, &fd, err)) < 0 ||
	    (r = tk_nl_open_netns(fd, &cnl, err)) < 0)
		return r;
	if (is_docker(e)) {
		struct mac_seen seen = { .mac = e->mac };

		tk_mac_format(e->mac, want, sizeof(want));
		if ((r = tk_nl_link_foreach(cnl, "", find_mac, &seen, err)) < 0)
			return r;
		if (!seen.found) {
			problem(problems, "container interface missing",
				"no interface with MAC %s in the sandbox", want);
			return 0;
		}
		link = seen.link;
	} else if (tk_nl_link_get(cnl, e->ifname, &link, &lerr) < 0) {
		problem(problems, "container interface missing", "%s", lerr.msg);
		return 0;
	}
	tk_mac_format(link.mac, have, sizeof(have));
	tk_mac_format(e->mac, want, sizeof(want));
	if (memcmp(link.mac, e->mac, sizeof(e->mac)) != 0)
		problem(problems, "container MAC differs", "%s has %s, expected %s", link.name,
			have, want);
	if (!link.up)
		problem(problems, "container interface is down", "%s", link.name);
	if (e->has4)
		check_family(cnl, &link,
			     &(struct tk_prefix){ .addr = e->ip4, .len = n->subnet4.len },
			     &n->gateway4, problems);
	if (e->has6)
		check_family(cnl, &link,
			     &(struct tk_prefix){ .addr = e->ip6, .len = n->subnet6.len },
			     &n->gateway6, problems);
	return 0;
}

int endpoint_check(struct manager *m, const struct tk_caller *c, const struct endpoint *e,
		   const char *netns_path, json_t *problems, tk_err *err)
{
	if (e->lease)
		return 0; /* addresses only: nothing in the kernel to compare */
	check_host(m, e, problems);
	return check_container(c, e, netns_path ?: e->netns, problems, err);
}
