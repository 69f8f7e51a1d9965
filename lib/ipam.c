/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ipam.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cleanup.h"

struct tk_ipam_pool {
	struct tk_prefix subnet;
	uint32_t size;	 /* host indexes [0, size) */
	uint32_t cursor; /* next-fit: where the last allocation ended */
	size_t used;
	uint64_t bits[];
};

/* Writes value into the nbits bits that start at bit `start` of a big-endian byte string. */
static void set_bits(uint8_t *bytes, unsigned start, unsigned nbits, uint64_t value)
{
	for (unsigned i = 0; i < nbits; i++) {
		unsigned bit = start + i;
		uint8_t mask = (uint8_t)(0x80 >> (bit % 8));
		if ((value >> (nbits - 1 - i)) & 1)
			bytes[bit / 8] |= mask;
		else
			bytes[bit / 8] &= (uint8_t)~mask;
	}
}

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tk_ipam_pool_new(const struct tk_prefix *subnet, struct tk_ipam_pool **ret, tk_err *err)
{
	unsigned host_bits = family_bits(subnet->addr.family) - subnet->len;
	struct tk_ipam_pool *pool;
	uint64_t size;

	if (host_bits < 2)
		return tk_err_set(err, -EINVAL,
				  "subnet /%u is too small for a gateway and a container",
				  subnet->len);
	if (subnet->addr.family == AF_INET) {
		if (host_bits > 20)
			return tk_err_set(err, -EINVAL,
					  "IPv4 subnet /%u is too large (at most /12)",
					  subnet->len);
		size = 1ull << host_bits;
	} else {
		size = host_bits >= 16 ? TK_IPAM_V6_HOSTS : 1ull << host_bits;
	}
	pool = calloc(1, sizeof(*pool) + ((size + 63) / 64) * sizeof(uint64_t));
	if (!pool)
		return tk_err_set(err, -ENOMEM, "out of memory");
	pool->subnet = *subnet;
	pool->size = (uint32_t)size;
	pool->bits[0] |= 1; /* the network address, or the v6 subnet-router anycast address */
	pool->used = 1;
	if (subnet->addr.family == AF_INET) {
		pool->bits[(size - 1) / 64] |= 1ull << ((size - 1) % 64); /* broadcast */
		pool->used++;
	}
	pool->cursor = 1;
	*ret = pool;
	return 0;
}

struct tk_ipam_pool *tk_ipam_pool_free(struct tk_ipam_pool *pool)
{
	free(pool);
	return NULL;
}

const struct tk_prefix *tk_ipam_pool_subnet(const struct tk_ipam_pool *pool)
{
	return &pool->subnet;
}

static void index_to_addr(const struct tk_ipam_pool *pool, uint32_t idx, struct tk_addr *ret)
{
	unsigned bits = family_bits(pool->subnet.addr.family);

	*ret = pool->subnet.addr;
	set_bits(ret->bytes, bits - 32, 32, be32(&pool->subnet.addr.bytes[bits / 8 - 4]) | idx);
}

/* -EADDRNOTAVAIL when addr has no index in this pool. */
static int addr_to_index(const struct tk_ipam_pool *pool, const struct tk_addr *addr, uint32_t *ret)
{
	unsigned bytes = family_bits(addr->family) / 8;
	uint32_t idx;

	if (!tk_prefix_contains(&pool->subnet, addr))
		return -EADDRNOTAVAIL;
	if (memcmp(addr->bytes, pool->subnet.addr.bytes, bytes - 4) != 0)
		return -EADDRNOTAVAIL;
	idx = be32(&addr->bytes[bytes - 4]) - be32(&pool->subnet.addr.bytes[bytes - 4]);
	if (idx >= pool->size)
		return -EADDRNOTAVAIL;
	*ret = idx;
	return 0;
}

static bool test_bit(const struct tk_ipam_pool *pool, uint32_t idx)
{
	return (pool->bits[idx / 64] >> (idx % 64)) & 1;
}

void tk_ipam_pool_default_gateway(const struct tk_ipam_pool *pool, struct tk_addr *ret)
{
	index_to_addr(pool, 1, ret);
}

static bool is_reserved(const struct tk_ipam_pool *pool, uint32_t idx)
{
	return idx == 0 || (pool->subnet.addr.family == AF_INET && idx == pool->size - 1);
}

int tk_ipam_pool_reserve(struct tk_ipam_pool *pool, const struct tk_addr *addr, tk_err *err)
{
	char buf[TK_ADDR_STRLEN], sub[TK_PREFIX_STRLEN];
	uint32_t idx;

	if (addr_to_index(pool, addr, &idx) < 0 || is_reserved(pool, idx))
		return tk_err_set(err, -EADDRNOTAVAIL, "address %s is not assignable in %s",
				  tk_addr_format(addr, buf, sizeof(buf)),
				  tk_prefix_format(&pool->subnet, sub, sizeof(sub)));
	if (test_bit(pool, idx))
		return tk_err_set(err, -EADDRINUSE, "address %s is already in use",
				  tk_addr_format(addr, buf, sizeof(buf)));
	pool->bits[idx / 64] |= 1ull << (idx % 64);
	pool->used++;
	return 0;
}

/* First clear bit at or after from, below size; size when none. */
static uint32_t find_free(const struct tk_ipam_pool *pool, uint32_t from)
{
	for (uint32_t w = from / 64; (uint64_t)w * 64 < pool->size; w++) {
		uint64_t free_bits = ~pool->bits[w];
		if (w == from / 64)
			free_bits &= ~0ull << (from % 64);
		if (free_bits) {
			uint32_t idx = w * 64 + (uint32_t)__builtin_ctzll(free_bits);
			return idx < pool->size ? idx : pool->size;
		}
	}
	return pool->size;
}

int tk_ipam_pool_alloc(struct tk_ipam_pool *pool, struct tk_addr *ret, tk_err *err)
{
	char sub[TK_PREFIX_STRLEN];
	uint32_t idx = find_free(pool, pool->cursor);

	if (idx >= pool->size)
		idx = find_free(pool, 0);
	if (idx >= pool->size)
		return tk_err_set(err, -ENOSPC, "no free addresses left in %s",
				  tk_prefix_format(&pool->subnet, sub, sizeof(sub)));
	pool->bits[idx / 64] |= 1ull << (idx % 64);
	pool->used++;
	pool->cursor = idx + 1 < pool->size ? idx + 1 : 0;
	index_to_addr(pool, idx, ret);
	return 0;
}

int tk_ipam_pool_release(struct tk_ipam_pool *pool, const struct tk_addr *addr)
{
	uint32_t idx;

	if (addr_to_index(pool, addr, &idx) < 0 || is_reserved(pool, idx) || !test_bit(pool, idx))
		return 0;
	pool->bits[idx / 64] &= ~(1ull << (idx % 64));
	pool->used--;
	return 0;
}

size_t tk_ipam_pool_available(const struct tk_ipam_pool *pool)
{
	return pool->size - pool->used;
}

/* Reads the nbits (at most 63) bits that start at bit `start` of a big-endian byte string. */
static uint64_t get_bits(const uint8_t *bytes, unsigned start, unsigned nbits)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < nbits; i++) {
		unsigned bit = start + i;
		v = v << 1 | ((bytes[bit / 8] >> (7 - bit % 8)) & 1);
	}
	return v;
}

static bool bits_zero(const uint8_t *bytes, unsigned start, unsigned nbits)
{
	for (unsigned bit = start; bit < start + nbits; bit++)
		if ((bytes[bit / 8] >> (7 - bit % 8)) & 1)
			return false;
	return true;
}

struct child_range {
	uint64_t lo, hi; /* child indexes, inclusive */
};

static int cmp_range(const void *a, const void *b)
{
	const struct child_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/*
 * The children a used prefix u overlaps, as indexes in the window of `wbits` bits that ends at
 * child_len (the bits between pool->len and the window are zero): false when it overlaps none.
 */
static bool used_range(const struct tk_prefix *pool, uint8_t child_len, unsigned wbits,
		       const struct tk_prefix *u, struct child_range *ret)
{
	unsigned wstart = child_len - wbits, fixed;

	if (!tk_prefix_overlaps(pool, u))
		return false;
	if (u->len <= pool->len) { /* u holds the whole pool */
		*ret = (struct child_range){ 0, (UINT64_C(1) << wbits) - 1 };
		return true;
	}
	/* Bits of u between the pool and the window must be zero, or u is beyond the window. */
	fixed = u->len < wstart ? u->len : wstart;
	if (!bits_zero(u->addr.bytes, pool->len, fixed - pool->len))
		return false;
	if (u->len <= wstart) {
		*ret = (struct child_range){ 0, (UINT64_C(1) << wbits) - 1 };
		return true;
	}
	fixed = (u->len < child_len ? u->len : child_len) - wstart;
	ret->lo = get_bits(u->addr.bytes, wstart, fixed) << (wbits - fixed);
	ret->hi = ret->lo + (UINT64_C(1) << (wbits - fixed)) - 1;
	return true;
}

int tk_ipam_carve(const struct tk_prefix *pool, uint8_t child_len, const struct tk_prefix *used,
		  size_t n_used, struct tk_prefix *ret, tk_err *err)
{
	_cleanup_free_ struct child_range *ranges = NULL;
	char buf[TK_PREFIX_STRLEN];
	unsigned span = child_len - pool->len, wbits;
	uint64_t count, next = 0;
	size_t n = 0;

	if (child_len < pool->len || child_len > family_bits(pool->addr.family))
		return tk_err_set(err, -EINVAL, "cannot carve /%u subnets out of %s", child_len,
				  tk_prefix_format(pool, buf, sizeof(buf)));
	/* Beyond 2^32 children only the lowest ones are ever considered. */
	wbits = span > 32 ? 32 : span;
	count = UINT64_C(1) << wbits;
	/* The used prefixes as ranges of children, sorted: the first gap is the lowest free one. */
	if (n_used && !(ranges = calloc(n_used, sizeof(*ranges))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n_used; i++)
		if (used_range(pool, child_len, wbits, &used[i], &ranges[n]))
			n++;
	if (n)
		qsort(ranges, n, sizeof(*ranges), cmp_range);
	for (size_t i = 0; i < n && ranges[i].lo <= next; i++)
		if (ranges[i].hi + 1 > next)
			next = ranges[i].hi + 1;
	if (next < count) {
		*ret = (struct tk_prefix){ .addr = pool->addr, .len = child_len };
		set_bits(ret->addr.bytes, child_len - wbits, wbits, next);
		return 0;
	}
	return tk_err_set(err, -ENOSPC, "no free /%u left in %s", child_len,
			  tk_prefix_format(pool, buf, sizeof(buf)));
}
