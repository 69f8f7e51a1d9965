/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Address blocks of a subnet (blocks.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "blocks.h"

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

int tk_block_count(const struct tk_prefix *subnet, uint8_t block_len, uint64_t *ret, tk_err *err)
{
	unsigned bits = family_bits(subnet->addr.family);

	if (block_len < subnet->len || block_len > bits)
		return tk_err_set(err, -EINVAL, "a /%u block does not fit a /%u subnet", block_len,
				  subnet->len);
	if (block_len - subnet->len > 32)
		return tk_err_set(err, -E2BIG,
				  "a /%u subnet holds more than 2^32 /%u blocks: use larger blocks",
				  subnet->len, block_len);
	*ret = (uint64_t)1 << (block_len - subnet->len);
	return 0;
}

/* bytes (big-endian, n of them) += v << shift; v < 2^32, shift < 8 * n. */
static void add_shifted(uint8_t *bytes, unsigned n, uint64_t v, unsigned shift)
{
	unsigned byte = n - 1 - shift / 8;
	uint64_t carry = v << (shift % 8);

	for (int i = (int)byte; i >= 0 && carry; i--) {
		carry += bytes[i];
		bytes[i] = (uint8_t)carry;
		carry >>= 8;
	}
}

int tk_block_nth(const struct tk_prefix *subnet, uint8_t block_len, uint64_t i,
		 struct tk_prefix *ret, tk_err *err)
{
	unsigned bits = family_bits(subnet->addr.family);
	struct tk_prefix b = *subnet;
	uint64_t n;
	int r;

	if ((r = tk_block_count(subnet, block_len, &n, err)) < 0)
		return r;
	if (i >= n)
		return tk_err_set(err, -ERANGE, "block %llu of %llu does not exist",
				  (unsigned long long)i, (unsigned long long)n);
	b.len = block_len;
	if (block_len > subnet->len)
		add_shifted(b.addr.bytes, bits / 8, i, bits - block_len);
	*ret = b;
	return 0;
}

const char *tk_block_key(const struct tk_prefix *block, char *buf, size_t size)
{
	char *slash;

	tk_prefix_format(block, buf, size);
	if ((slash = strchr(buf, '/')))
		*slash = '-';
	return buf;
}

int tk_block_key_parse(const char *key, struct tk_prefix *ret, tk_err *err)
{
	char buf[TK_PREFIX_STRLEN], *dash;

	if (strlen(key) >= sizeof(buf) || !(dash = strrchr(strcpy(buf, key), '-')))
		return tk_err_set(err, -EINVAL, "'%.64s' is not a block key (ADDR-LEN)", key);
	*dash = '/';
	return tk_prefix_parse(buf, ret, err);
}

/* FNV-1a, then a finaliser: stable across runs and builds, which is the point. */
static uint64_t hash(const char *s, uint64_t salt)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ salt;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

uint64_t tk_block_candidate(const char *host, uint64_t n, uint64_t k)
{
	uint64_t start, step;

	if (n <= 1)
		return 0;
	start = hash(host, 0) % n;
	/* A step coprime with n visits every block once in n steps. */
	step = 1 + hash(host, 1) % (n - 1);
	while (gcd(step, n) != 1)
		step = step % (n - 1) + 1;
	return (uint64_t)((start + (unsigned __int128)k * step) % n);
}
