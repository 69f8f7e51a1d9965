/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Pure parsing, formatting and validation of names, addresses, prefixes and MACs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TK_ADDR_STRLEN	 46 /* INET6_ADDRSTRLEN */
#define TK_PREFIX_STRLEN 50 /* address + "/128" */
#define TK_MAC_STRLEN	 18
#define TK_NAME_MAX	 63 /* tenants, networks */
#define TK_IFNAME_MAX	 15

/* An address of family AF_INET (first 4 bytes used) or AF_INET6. */
struct tk_addr {
	int family;
	uint8_t bytes[16];
};

struct tk_prefix {
	struct tk_addr addr; /* host bits are zero after tk_prefix_parse */
	uint8_t len;
};

/* A short list of prefixes: pools, allowed ranges. */
#define TK_PREFIX_LIST_MAX 16
struct tk_prefix_list {
	size_t n;
	struct tk_prefix p[TK_PREFIX_LIST_MAX];
};

int tk_addr_parse(const char *s, struct tk_addr *ret, tk_err *err);
/* Writes at most TK_ADDR_STRLEN bytes; returns buf. */
const char *tk_addr_format(const struct tk_addr *a, char *buf, size_t size);
bool tk_addr_equal(const struct tk_addr *a, const struct tk_addr *b);

/* "10.0.0.0/24", "fd00::/64". Rejects host bits set ("10.0.0.1/24") with a clear error. */
int tk_prefix_parse(const char *s, struct tk_prefix *ret, tk_err *err);
/* Like tk_prefix_parse but keeps and returns the host part: "10.0.0.5/24" (CNI ip requests). */
int tk_prefix_parse_host(const char *s, struct tk_prefix *ret, tk_err *err);
const char *tk_prefix_format(const struct tk_prefix *p, char *buf, size_t size);
bool tk_prefix_contains(const struct tk_prefix *p, const struct tk_addr *a);
bool tk_prefix_overlaps(const struct tk_prefix *a, const struct tk_prefix *b);

/*
 * When p overlaps a range no tenant network may use (loopback, link-local, multicast, broadcast
 * and other reserved ranges of either family), names it ("loopback") and stores the range in
 * ret_range (may be NULL); NULL when p is clear of all of them.
 */
const char *tk_prefix_reserved(const struct tk_prefix *p, struct tk_prefix *ret_range);
/*
 * How many prefixes of length unit_len p spans (1 when p is that long or longer): the size of p
 * in addresses with unit_len 32 (IPv4), in /64s with unit_len 64.  Saturates at 2^63.
 */
uint64_t tk_prefix_size(const struct tk_prefix *p, uint8_t unit_len);

/* "a/n,b/m": at most TK_PREFIX_LIST_MAX prefixes; what names the list in errors. */
int tk_prefix_list_parse(const char *s, const char *what, struct tk_prefix_list *ret, tk_err *err);
bool tk_prefix_list_covers(const struct tk_prefix_list *l, const struct tk_prefix *p);
/* "a/n,b/m" into buf. */
const char *tk_prefix_list_format(const struct tk_prefix_list *l, char *buf, size_t size);

int tk_mac_parse(const char *s, uint8_t ret[6], tk_err *err); /* "02:00:aa:bb:cc:dd" */
const char *tk_mac_format(const uint8_t mac[6], char *buf, size_t size);
/* Random, unicast, locally administered. */
void tk_mac_random(uint8_t ret[6]);

/*
 * Tenant and network names: 1..TK_NAME_MAX bytes of [a-zA-Z0-9_.-], starting with an
 * alphanumeric.  `what` names the thing in the error ("tenant name").
 */
int tk_name_validate(const char *name, const char *what, tk_err *err);
/* Interface names: 1..15 bytes, no '/', ':', whitespace, not "." or "..". */
int tk_ifname_validate(const char *name, tk_err *err);
/* CNI container ids: non-empty, [A-Za-z0-9][A-Za-z0-9_.-]*, at most 1024 bytes. */
int tk_container_id_validate(const char *id, tk_err *err);

/*
 * The link-local address a kernel makes from the MAC (modified EUI-64, RFC 4291 appendix A), as
 * a container's does in a fresh network namespace.
 */
struct tk_addr tk_addr_link_local(const uint8_t mac[6]);
