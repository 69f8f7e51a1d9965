/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/*
 * Address blocks of a network's subnet (issue 15 item 3, groundwork): in cluster mode each host
 * will claim blocks (an IPv4 /26, an IPv6 /122 or /64 ...) with one etcd txn fenced by its host
 * lease, and assign addresses from its own blocks.  Pure arithmetic, no kernel, no etcd: which
 * blocks a subnet has, the n-th one, their etcd key form, and the order in which a host tries
 * them (a permutation seeded by its name, so hosts starting together rarely collide, as Calico
 * seeds its block picker with the hostname).
 */
#include <stdint.h>

#include "addr.h"
#include "err.h"

/*
 * How many blocks of length block_len subnet holds: -EINVAL when block_len is shorter than the
 * subnet or longer than the family allows, -E2BIG past 2^32 blocks (a block per host is the
 * unit: more blocks than that means the block is too small for the subnet).
 */
int tk_block_count(const struct tk_prefix *subnet, uint8_t block_len, uint64_t *ret, tk_err *err);
/* Block i (0 <= i < count) of subnet. */
int tk_block_nth(const struct tk_prefix *subnet, uint8_t block_len, uint64_t i,
		 struct tk_prefix *ret, tk_err *err);
/* "10.32.0.64-26", "fd7e::40-122": the prefix with '/' written '-', for an etcd key. */
const char *tk_block_key(const struct tk_prefix *block, char *buf, size_t size);
int tk_block_key_parse(const char *key, struct tk_prefix *ret, tk_err *err);
/*
 * The k-th block (k < n) host tries among n: a permutation of 0..n-1 (every block exactly once
 * in n tries), the same for one host name every time, different between names.
 */
uint64_t tk_block_candidate(const char *host, uint64_t n, uint64_t k);
