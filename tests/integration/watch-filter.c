/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The link watch's socket filter: of a veth's whole life on a bridge (created, enslaved, up,
 * deleted) the watch's queue holds only the links' own RTM_DELLINKs, and tk_nl_watch_read still
 * reports the port's deletion by name (test-lifecycle.sh runs this inside its throwaway network
 * namespace; test-cni.sh covers the tc group's ingress qdiscs).  Exits 0 when both hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nl.h"

#define BRIDGE "wfbr0"

/* One veth's life on BRIDGE: the port's end is name, the other stays in this netns, down. */
static int churn(struct tk_nl *nl, int bridge_ifindex, const char *name, tk_err *err)
{
	_cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int r, ifindex = 0;

	if (self < 0)
		return tk_err_set(err, -errno, "/proc/self/ns/net: %m");
	if ((r = tk_nl_veth_add(nl, name, NULL, "wfpeer0", self, NULL, 1500, bridge_ifindex,
				&ifindex, 0, err)) < 0 ||
	    (r = tk_nl_port_set_up(nl, name, err)) < 0)
		return r;
	return tk_nl_link_del(nl, name, err);
}

static void on_gone(const char *name, void *userdata)
{
	if (strcmp(name, "tkv000000b2") == 0)
		*(int *)userdata += 1;
}

/* What the queue holds now: counts of RTM_DELLINK (of the link itself) and of anything else. */
static int drain(int fd, int *dellinks, int *others, tk_err *err)
{
	union {
		struct nlmsghdr first;
		char bytes[64 * 1024];
	} buf;
	ssize_t n;

	while ((n = recv(fd, &buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		int left = (int)n;

		for (struct nlmsghdr *h = &buf.first; mnl_nlmsg_ok(h, left);
		     h = mnl_nlmsg_next(h, &left)) {
			const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);

			if (h->nlmsg_type == RTM_DELLINK && ifi->ifi_family == AF_UNSPEC)
				++*dellinks;
			else
				++*others;
		}
	}
	return n < 0 && errno != EAGAIN ? tk_err_set(err, -errno, "reading the watch: %m") : 0;
}

int main(void)
{
	_cleanup_(tk_nl_closep) struct tk_nl *nl = NULL;
	struct tk_nl_watch *w = NULL;
	int bridge_ifindex, dellinks = 0, others = 0, gone = 0;
	tk_err err = {};

	if (tk_nl_open(&nl, &err) < 0 ||
	    tk_nl_bridge_add(nl, BRIDGE, NULL, 0, &bridge_ifindex, &err) < 0 ||
	    tk_nl_link_set_up(nl, bridge_ifindex, &err) < 0 ||
	    tk_nl_watch_open(&w, 1 << 20, &err) < 0 ||
	    churn(nl, bridge_ifindex, "tkv000000b1", &err) < 0 ||
	    drain(tk_nl_watch_fd(w), &dellinks, &others, &err) < 0 ||
	    churn(nl, bridge_ifindex, "tkv000000b2", &err) < 0 ||
	    tk_nl_watch_read(w, "tkv", on_gone, NULL, &gone, &err) < 0) {
		fprintf(stderr, "watch-filter: %s\n", err.msg);
		tk_nl_watch_close(w);
		(void)tk_nl_link_del(nl, BRIDGE, NULL);
		return 1;
	}
	tk_nl_watch_close(w);
	(void)tk_nl_link_del(nl, BRIDGE, NULL);
	/* The veth's two ends each go with their own RTM_DELLINK. */
	printf("watch-filter: one veth's life queued %d deletion(s) and %d other notification(s); "
	       "the port's deletion reported %d time(s)\n",
	       dellinks, others, gone);
	return dellinks == 2 && others == 0 && gone == 1 ? 0 : 1;
}
