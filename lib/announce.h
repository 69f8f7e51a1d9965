/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An unsolicited neighbour advertisement (RFC 4861 7.2.6): to all nodes, with the override flag
 * and the target link-layer address, it tells every host of the link that an address now lives
 * at a MAC.  A container that takes an address another container had sends it, so that their
 * neighbour caches, which would keep the old MAC until the entry went stale and its probes
 * failed, follow at once.  IPv4's counterpart, the gratuitous ARP, is tk_nl_arp_announce (nl.h).
 *
 * A raw ICMPv6 socket, not a packet socket: closing a packet socket waits for an RCU grace
 * period (synchronize_net() in packet_release), 12 ms on the 2-core VM, on every attach.
 */

#include <stdint.h>

#include "addr.h"
#include "err.h"

#define TK_NA_LEN 32

/* The advertisement's ICMPv6 message, checksum 0 (the kernel fills it in for raw ICMPv6). */
void tk_na_message(const uint8_t mac[6], const struct tk_addr *a, uint8_t ret[TK_NA_LEN]);

/* A socket that sends such advertisements on links of the caller's current network namespace. */
int tk_na_socket(int *ret_fd, tk_err *err);

/* Advertises a (IPv6), from mac, on ifindex through fd (tk_na_socket), with a as its source. */
int tk_na_send(int fd, int ifindex, const uint8_t mac[6], const struct tk_addr *a, tk_err *err);

/*
 * The same announcements made by the host, for a container whose interface netd does not
 * configure (Docker's, or another host's): sent through a packet socket out of the container's
 * bridge.  IPv6: the advertisement, its IPv6 header from the container's address.  IPv4: a
 * gratuitous ARP *reply* (sender and target the address and the MAC), which Linux takes as it
 * takes a gratuitous request, updating the entry it has: a request would reach the bridge's VXLAN device (netd --cluster), whose ARP proxy
 * answers requests for another host's container from its entries, and the bridge would learn
 * that container's MAC from the answer.  The Ethernet source is the bridge's: receivers read the
 * MAC from the ARP sender and the advertisement's option.
 */
#define TK_ANNOUNCE_MAX 72 /* IPv6's: 40 + TK_NA_LEN */

struct tk_announcement {
	uint16_t ethertype; /* host order */
	uint8_t dst[6];
	size_t len;
	uint8_t payload[TK_ANNOUNCE_MAX]; /* what follows the Ethernet header */
};

void tk_announce_frame(const uint8_t mac[6], const struct tk_addr *a, struct tk_announcement *ret);
/* A packet socket (SOCK_DGRAM) of the caller's network namespace; opened once: its close waits. */
int tk_announce_socket(int *ret_fd, tk_err *err);
/* Sends the announcement of a, at mac, out of ifindex (a bridge) through fd. */
int tk_announce_send(int fd, int ifindex, const uint8_t mac[6], const struct tk_addr *a,
		     tk_err *err);
