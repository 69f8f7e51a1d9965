/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Pure address allocation, no kernel and no I/O.  A pool covers one subnet (v4 or v6) and keeps a
 * bitmap of host indexes with a next-fit cursor, so allocation is amortised O(1).  For IPv6 only
 * the first TK_IPAM_V6_HOSTS host indexes of the subnet are handed out.
 */

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"

#define TK_IPAM_V6_HOSTS  (1u << 16)
#define TK_IPAM_MAX_HOSTS (1u << 20) /* bounds the bitmap: IPv4 subnets are /12 or smaller */

struct tk_ipam_pool;

/*
 * Creates a pool for subnet.  Reserves the network address and (v4) the broadcast address.
 * Refuses subnets too small to hold a gateway and one host (v4 /31,/32; v6 /127,/128) and v4
 * subnets larger than TK_IPAM_MAX_HOSTS.
 */
int tk_ipam_pool_new(const struct tk_prefix *subnet, struct tk_ipam_pool **ret, tk_err *err);
struct tk_ipam_pool *tk_ipam_pool_free(struct tk_ipam_pool *pool);

const struct tk_prefix *tk_ipam_pool_subnet(const struct tk_ipam_pool *pool);

/* The conventional gateway: first usable address (.1 / ::1). */
void tk_ipam_pool_default_gateway(const struct tk_ipam_pool *pool, struct tk_addr *ret);

/*
 * Marks addr used.  -EADDRINUSE when already used, -EADDRNOTAVAIL when outside the subnet or a
 * reserved address (network, broadcast), or beyond the v6 host range.
 */
int tk_ipam_pool_reserve(struct tk_ipam_pool *pool, const struct tk_addr *addr, tk_err *err);

/* Allocates the next free address after the cursor; -ENOSPC when exhausted. */
int tk_ipam_pool_alloc(struct tk_ipam_pool *pool, struct tk_addr *ret, tk_err *err);

/* Frees addr; releasing an address that is not allocated is a no-op returning 0. */
int tk_ipam_pool_release(struct tk_ipam_pool *pool, const struct tk_addr *addr);

size_t tk_ipam_pool_available(const struct tk_ipam_pool *pool);

/*
 * Carves a child prefix of length child_len out of pool that overlaps none of used[0..n_used).
 * Returns the lowest such prefix; -ENOSPC when none is left.
 */
int tk_ipam_carve(const struct tk_prefix *pool, uint8_t child_len, const struct tk_prefix *used,
		  size_t n_used, struct tk_prefix *ret, tk_err *err);
