/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-host address blocks of cluster networks (issue 15 items 3 and 5; docs/cluster.md).
 *
 * A host claims a block (IPv4 /26, IPv6 /122: 64 addresses either way; a smaller subnet is one
 * block) with one txn: MOD(blocks/<net>/<block>) == 0 (nobody has it) and LEASE(hosts/<me>) ==
 * my lease (I am alive), putting the block key under the host lease and reading every host's
 * record of the block.  A record, reserved/<net>/<block>/<host> (no lease), lists the addresses
 * of the block that host may hand out: those it uses plus some headroom.  A host hands out only
 * addresses of its own published record, and publishes more of a block (txn: LEASE(block) ==
 * my lease) only while it holds the block and only addresses no other record has.  Records are
 * written only by the block's holder, except that a host shrinks its own, so the records read
 * by a claim are final: the new holder never hands out what a dead or partitioned host may use,
 * and the rest of the dead host's block is free again once its lease expires.
 *
 * Everything runs on netd's loop thread under the state lock.  The cache below follows the
 * watch (blocks/ events) and this host's own txns; a change in flight is counted
 * conservatively (a record grows in the cache after etcd said yes, shrinks before asking).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "blocks.h"
#include "etcd.h"
#include "ipam.h"
#include "json.h"
#include "log.h"
#include "netd.h"

#define PREFIX "/tenantkit/v1/"
/* Addresses a host publishes ahead of use, per block: a dead host strands at most these. */
#define HEADROOM 16
/* Claim txns one allocation tries before giving up for now (the watch shows the rest taken). */
#define CLAIM_TRIES 16

struct cblock {
	struct cblock *next;
	char net[TK_NAME_MAX + 1];
	struct tk_prefix p;
	char owner[TK_NAME_MAX + 1]; /* holder as last seen in etcd; "": nobody */
	int64_t owner_mod;	     /* mod revision of the block key when seen */
	bool owned;		     /* held by this host under lease (its own txn said so) */
	int64_t lease;
	int64_t rev;	 /* revision of that txn: older watch events are stale */
	uint64_t mine;	 /* this host's record (published) */
	uint64_t others; /* the other hosts' records, as read by the claim */
	bool record;	 /* this host has a record in etcd */
	unsigned seen;	 /* list generation */
};

struct cnet {
	struct cnet *next;
	char name[TK_NAME_MAX + 1];
};

static struct cblock *blocks;
static struct cnet *loaded;
static unsigned list_gen;
static bool load_pending = true;

void cluster_blocks_free(void)
{
	load_pending = true;
	while (blocks) {
		struct cblock *b = blocks;
		blocks = b->next;
		free(b);
	}
	while (loaded) {
		struct cnet *c = loaded;
		loaded = c->next;
		free(c);
	}
}

void cluster_blocks_forget(const char *network)
{
	for (struct cblock **pp = &blocks; *pp;) {
		struct cblock *b = *pp;
		if (strcmp(b->net, network) == 0) {
			*pp = b->next;
			free(b);
		} else
			pp = &b->next;
	}
	for (struct cnet **pp = &loaded; *pp;) {
		struct cnet *c = *pp;
		if (strcmp(c->name, network) == 0) {
			*pp = c->next;
			free(c);
		} else
			pp = &c->next;
	}
}

/* ---- arithmetic ---- */

/*
 * The network's block size (its record's block_size, an IPv4 prefix length); IPv6 blocks have as
 * many addresses (/26 -> /122).  A subnet smaller than that is one block.
 */
static uint8_t block_len(const char *net, const struct tk_prefix *subnet)
{
	unsigned len4 = cluster_block_len4(net);
	uint8_t len = (uint8_t)(subnet->addr.family == AF_INET ? len4 : 96 + len4);

	return subnet->len > len ? subnet->len : len;
}

/* IPv6: the IPAM hands out the first TK_IPAM_V6_HOSTS addresses only, so only their blocks. */
static int block_count(const char *net, const struct tk_prefix *subnet, uint64_t *ret, tk_err *err)
{
	uint8_t len = block_len(net, subnet);

	if (subnet->addr.family == AF_INET6 && len - subnet->len > 10) {
		*ret = TK_IPAM_V6_HOSTS >> (128 - len);
		return 0;
	}
	return tk_block_count(subnet, len, ret, err);
}

static int block_nth(const char *net, const struct tk_prefix *subnet, uint64_t i,
		     struct tk_prefix *ret, tk_err *err)
{
	uint8_t len = block_len(net, subnet);

	if (subnet->addr.family == AF_INET6 && len - subnet->len > 10) {
		/* Block i of the first TK_IPAM_V6_HOSTS addresses: within the last 16 bits. */
		uint32_t off = (uint32_t)(i << (128 - len));

		*ret = *subnet;
		ret->len = len;
		ret->addr.bytes[14] |= (uint8_t)(off >> 8);
		ret->addr.bytes[15] |= (uint8_t)off;
		return 0;
	}
	return tk_block_nth(subnet, len, i, ret, err);
}

static unsigned block_size(const struct cblock *b)
{
	return 1u << ((b->p.addr.family == AF_INET ? 32 : 128) - b->p.len);
}

static uint64_t block_mask(const struct cblock *b)
{
	unsigned size = block_size(b);
	return size >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << size) - 1);
}

static unsigned last_byte(int family)
{
	return family == AF_INET ? 3 : 15;
}

/* Blocks hold at most 64 addresses and are aligned: only the last byte differs. */
static struct tk_addr addr_at(const struct cblock *b, unsigned i)
{
	struct tk_addr a = b->p.addr;

	a.bytes[last_byte(a.family)] += (uint8_t)i;
	return a;
}

static unsigned offset_of(const struct cblock *b, const struct tk_addr *a)
{
	unsigned l = last_byte(a->family);
	return (unsigned)(a->bytes[l] - b->p.addr.bytes[l]);
}

static struct tk_ipam_pool *pool_of(struct network *n, int family)
{
	return family == AF_INET ? n->pool4 : n->pool6;
}

static const struct tk_prefix *subnet_of(struct network *n, int family)
{
	return family == AF_INET ? &n->subnet4 : &n->subnet6;
}

/* 0 free, -EADDRINUSE used here (an endpoint or the gateway), -EADDRNOTAVAIL not to hand out. */
static int probe(struct tk_ipam_pool *pool, const struct tk_addr *a)
{
	int r = tk_ipam_pool_reserve(pool, a, NULL);

	if (r == 0)
		tk_ipam_pool_release(pool, a);
	return r;
}

/* Addresses of b this host's endpoints use (not the gateway, which every host has). */
static uint64_t used_bits(struct network *n, const struct cblock *b)
{
	const struct tk_addr *gw = b->p.addr.family == AF_INET ? &n->gateway4 : &n->gateway6;
	uint64_t bits = 0;

	for (unsigned i = 0; i < block_size(b); i++) {
		struct tk_addr a = addr_at(b, i);
		if (!tk_addr_equal(&a, gw) &&
		    probe(pool_of(n, b->p.addr.family), &a) == -EADDRINUSE)
			bits |= (uint64_t)1 << i;
	}
	return bits;
}

/* Addresses of b nobody has a record of and that the IPAM would hand out. */
static uint64_t free_bits(struct network *n, const struct cblock *b)
{
	uint64_t bits = 0;

	for (unsigned i = 0; i < block_size(b); i++) {
		struct tk_addr a = addr_at(b, i);
		uint64_t bit = (uint64_t)1 << i;
		if (!((b->mine | b->others) & bit) && probe(pool_of(n, b->p.addr.family), &a) == 0)
			bits |= bit;
	}
	return bits;
}

int cluster_blocks_of(struct network *n, const struct tk_addr *a, struct tk_prefix *ret)
{
	const struct tk_prefix *subnet = subnet_of(n, a->family);
	unsigned len;

	if (!(a->family == AF_INET ? n->has4 : n->has6) || !tk_prefix_contains(subnet, a))
		return -ENOENT;
	len = block_len(n->name, subnet);
	*ret = (struct tk_prefix){ .addr = *a, .len = (uint8_t)len };
	for (unsigned i = 0; i < 16; i++) {
		if (8 * i >= len)
			ret->addr.bytes[i] = 0;
		else if (8 * (i + 1) > len)
			ret->addr.bytes[i] &= (uint8_t)(0xff << (8 * (i + 1) - len));
	}
	return 0;
}

/* ---- the cache ---- */

static struct cblock *find(const char *net, const struct tk_prefix *p, bool add)
{
	struct cblock *b;

	for (b = blocks; b; b = b->next)
		if (strcmp(b->net, net) == 0 && b->p.len == p->len &&
		    tk_addr_equal(&b->p.addr, &p->addr))
			return b;
	if (!add || !(b = calloc(1, sizeof(*b))))
		return NULL;
	snprintf(b->net, sizeof(b->net), "%s", net);
	b->p = *p;
	b->next = blocks;
	blocks = b;
	return b;
}

static bool is_loaded(const char *net)
{
	for (struct cnet *c = loaded; c; c = c->next)
		if (strcmp(c->name, net) == 0)
			return true;
	return false;
}

static void block_key(char *buf, size_t size, const struct cblock *b)
{
	char k[TK_PREFIX_STRLEN];

	snprintf(buf, size, PREFIX "blocks/%s/%s", b->net, tk_block_key(&b->p, k, sizeof(k)));
}

static void record_key(char *buf, size_t size, const struct cblock *b, const char *host)
{
	char k[TK_PREFIX_STRLEN];

	snprintf(buf, size, PREFIX "reserved/%s/%s/%s", b->net, tk_block_key(&b->p, k, sizeof(k)),
		 host ? host : "");
}

static char *record_value(const char *host, uint64_t bits)
{
	char hex[17];
	json_t *o;
	char *s;

	snprintf(hex, sizeof(hex), "%016" PRIx64, bits);
	o = json_pack("{s:s, s:s}", "host", host, "bits", hex);
	s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

static uint64_t record_bits(const char *value)
{
	_cleanup_(json_decrefp) json_t *o = json_loads(value, 0, NULL);
	const char *hex = json_string_value(json_object_get(o, "bits"));

	return hex ? strtoull(hex, NULL, 16) : ~(uint64_t)0; /* unreadable: all of it */
}

static void owner_of(const char *value, char *buf, size_t size)
{
	_cleanup_(json_decrefp) json_t *o = json_loads(value, 0, NULL);
	const char *h = json_string_value(json_object_get(o, "host"));

	snprintf(buf, size, "%s", h ? h : "?");
}

/* reserved/<net>/<block>/<host> -> the block (in the cache) and the host. */
static struct cblock *record_parse(const char *key, const char **ret_host)
{
	char net[TK_NAME_MAX + 1], blk[TK_PREFIX_STRLEN];
	const char *rest = key + strlen(PREFIX "reserved/"), *s1, *s2;
	struct tk_prefix p;

	if (strncmp(key, PREFIX "reserved/", strlen(PREFIX "reserved/")) != 0 ||
	    !(s1 = strchr(rest, '/')) || !(s2 = strchr(s1 + 1, '/')) ||
	    (size_t)(s1 - rest) >= sizeof(net) || (size_t)(s2 - s1 - 1) >= sizeof(blk))
		return NULL;
	snprintf(net, sizeof(net), "%.*s", (int)(s1 - rest), rest);
	snprintf(blk, sizeof(blk), "%.*s", (int)(s2 - s1 - 1), s1 + 1);
	if (tk_block_key_parse(blk, &p, NULL) < 0)
		return NULL;
	*ret_host = s2 + 1;
	return find(net, &p, true);
}

/* ---- txns ---- */

static int no_lease(struct manager *m, tk_err *err)
{
	return tk_err_set(err, -EAGAIN,
			  "host '%s' is not registered in the cluster now (its lease expired or "
			  "etcd is unreachable)",
			  cluster_host(m));
}

/*
 * Claims b when its key has mod revision mod (0: nobody holds it; else a key of this host's
 * earlier lease, taken over), reading every record of it in the same txn.  1 claimed, 0 held by
 * another host (the cache says who).
 */
static int claim(struct manager *m, struct cblock *b, int64_t mod, tk_err *err)
{
	const char *me = cluster_host(m);
	int64_t lease = cluster_lease(m);
	char bkey[512], hkey[512], rprefix[512];
	_cleanup_free_ char *value = NULL;
	struct tk_etcd_kvs kvs = {};
	bool ok;
	int r;

	if (lease == 0)
		return no_lease(m, err);
	block_key(bkey, sizeof(bkey), b);
	record_key(rprefix, sizeof(rprefix), b, NULL);
	snprintf(hkey, sizeof(hkey), PREFIX "hosts/%s", me);
	{
		json_t *o = json_pack("{s:s}", "host", me);
		value = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!value)
			return tk_err_set(err, -ENOMEM, "out of memory");
	}
	{
		const struct tk_etcd_cmp cmp[] = {
			{ .key = bkey, .target = TK_ETCD_MOD, .number = mod },
			{ .key = hkey, .target = TK_ETCD_LEASE, .number = lease },
		};
		const struct tk_etcd_op ops[] = {
			{ .kind = TK_ETCD_OP_PUT, .key = bkey, .value = value, .lease = lease },
			{ .kind = TK_ETCD_OP_GET, .key = rprefix, .prefix = true },
		};
		const struct tk_etcd_op get = { .kind = TK_ETCD_OP_GET, .key = bkey };
		r = tk_etcd_txn(cluster_etcd(m), cmp, 2, ops, 2, &get, 1, &ok, &kvs, err);
	}
	cluster_health(m, r, err);
	if (r < 0)
		return r;
	if (!ok) {
		if (kvs.n == 1) {
			owner_of(kvs.kv[0].value, b->owner, sizeof(b->owner));
			b->owner_mod = kvs.kv[0].mod_revision;
		} else if (mod == 0) {
			/* Free, yet refused: our lease is gone. */
			tk_etcd_kvs_done(&kvs);
			return no_lease(m, err);
		} else
			b->owner[0] = '\0';
		b->owned = false;
		tk_etcd_kvs_done(&kvs);
		return 0;
	}
	b->others = 0;
	for (size_t i = 0; i < kvs.n; i++) {
		const char *host = kvs.kv[i].key + strlen(rprefix);
		uint64_t bits = record_bits(kvs.kv[i].value);

		if (strcmp(host, me) == 0) {
			b->mine = bits;
			b->record = true;
		} else
			b->others |= bits;
	}
	b->owned = true;
	b->lease = lease;
	b->rev = kvs.revision;
	b->owner_mod = kvs.revision;
	snprintf(b->owner, sizeof(b->owner), "%s", me);
	tk_etcd_kvs_done(&kvs);
	log_info("cluster: claimed block %s of network '%s'%s", bkey + strlen(PREFIX "blocks/"),
		 b->net, mod ? " (again, under the new lease)" : "");
	return 1;
}

/* Publishes bits more of b (held by this host).  1 done, 0 the block is no longer ours. */
static int extend(struct manager *m, struct cblock *b, uint64_t bits, tk_err *err)
{
	char bkey[512], rkey[512];
	_cleanup_free_ char *value = record_value(cluster_host(m), b->mine | bits);
	bool ok;
	int r;

	if (!value)
		return tk_err_set(err, -ENOMEM, "out of memory");
	block_key(bkey, sizeof(bkey), b);
	record_key(rkey, sizeof(rkey), b, cluster_host(m));
	{
		const struct tk_etcd_cmp cmp = { .key = bkey,
						 .target = TK_ETCD_LEASE,
						 .number = b->lease };
		const struct tk_etcd_op put = { .kind = TK_ETCD_OP_PUT,
						.key = rkey,
						.value = value };
		r = tk_etcd_txn(cluster_etcd(m), &cmp, 1, &put, 1, NULL, 0, &ok, NULL, err);
	}
	cluster_health(m, r, err);
	if (r < 0)
		return r;
	if (!ok) {
		b->owned = false;
		return 0;
	}
	b->mine |= bits;
	b->record = true;
	return 1;
}

/* This host's record of a block it does not hold: exactly what it uses (none: no record). */
static int shrink(struct manager *m, struct cblock *b, uint64_t used, tk_err *err)
{
	char rkey[512];
	_cleanup_free_ char *value = NULL;
	int r;

	b->mine = used; /* at once: nothing outside it is handed out from now on */
	record_key(rkey, sizeof(rkey), b, cluster_host(m));
	if (used == 0)
		r = tk_etcd_delete(cluster_etcd(m), rkey, false, NULL, err);
	else if (!(value = record_value(cluster_host(m), used)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	else
		r = tk_etcd_put(cluster_etcd(m), rkey, value, 0, NULL, err);
	cluster_health(m, r, err);
	if (r < 0)
		return r;
	b->record = used != 0;
	return 0;
}

/*
 * A held block whose addresses are all free again: the block and the record go together.  Only
 * when this host has no endpoint left on the network, so its endpoint records there go first,
 * in the same txn: their withdrawal is still queued in the publisher, and the other hosts would
 * see the records outlive the block and log each as an address nobody may hand out.
 */
static int release(struct manager *m, struct cblock *b, tk_err *err)
{
	char bkey[512], rkey[512], eprefix[512];
	bool ok;
	int r;

	block_key(bkey, sizeof(bkey), b);
	record_key(rkey, sizeof(rkey), b, cluster_host(m));
	snprintf(eprefix, sizeof(eprefix), PREFIX "endpoints/%s/%s/", b->net, cluster_host(m));
	b->mine = 0;
	{
		const struct tk_etcd_cmp cmp = { .key = bkey,
						 .target = TK_ETCD_LEASE,
						 .number = b->lease };
		const struct tk_etcd_op ops[] = {
			{ .kind = TK_ETCD_OP_DELETE, .key = eprefix, .prefix = true },
			{ .kind = TK_ETCD_OP_DELETE, .key = bkey },
			{ .kind = TK_ETCD_OP_DELETE, .key = rkey },
		};
		r = tk_etcd_txn(cluster_etcd(m), &cmp, 1, ops, 3, NULL, 0, &ok, NULL, err);
	}
	cluster_health(m, r, err);
	if (r < 0)
		return r;
	b->owned = false;
	if (ok) {
		b->record = false;
		b->owner[0] = '\0';
		log_info("cluster: released block %s of network '%s' (no endpoint left on it)",
			 bkey + strlen(PREFIX "blocks/"), b->net);
	}
	return 0;
}

/*
 * The network's blocks and records as etcd has them, in one read; blocks this host held under
 * an earlier lease (netd restarted within the TTL) are taken over under the current one.
 */
static int load(struct manager *m, struct network *n, tk_err *err)
{
	char bprefix[512], rprefix[512];
	struct tk_etcd_kvs kvs = {};
	struct cnet *c;
	bool ok;
	int r;

	if (is_loaded(n->name))
		return 0;
	snprintf(bprefix, sizeof(bprefix), PREFIX "blocks/%s/", n->name);
	snprintf(rprefix, sizeof(rprefix), PREFIX "reserved/%s/", n->name);
	{
		const struct tk_etcd_op get[] = {
			{ .kind = TK_ETCD_OP_GET, .key = bprefix, .prefix = true },
			{ .kind = TK_ETCD_OP_GET, .key = rprefix, .prefix = true },
		};
		r = tk_etcd_txn(cluster_etcd(m), NULL, 0, get, 2, NULL, 0, &ok, &kvs, err);
	}
	cluster_health(m, r, err);
	if (r < 0)
		return r;
	cluster_blocks_forget(n->name);
	for (size_t i = 0; i < kvs.n; i++) {
		const struct tk_etcd_kv *kv = &kvs.kv[i];
		const char *host;
		struct cblock *b;
		struct tk_prefix p;

		if (strncmp(kv->key, bprefix, strlen(bprefix)) == 0) {
			if (tk_block_key_parse(kv->key + strlen(bprefix), &p, NULL) < 0 ||
			    !(b = find(n->name, &p, true)))
				continue;
			owner_of(kv->value, b->owner, sizeof(b->owner));
			b->owner_mod = kv->mod_revision;
		} else if ((b = record_parse(kv->key, &host))) {
			if (strcmp(host, cluster_host(m)) == 0) {
				b->mine = record_bits(kv->value);
				b->record = true;
			}
		}
	}
	tk_etcd_kvs_done(&kvs);
	if (!(c = calloc(1, sizeof(*c))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	snprintf(c->name, sizeof(c->name), "%s", n->name);
	c->next = loaded;
	loaded = c;
	for (struct cblock *b = blocks; b; b = b->next)
		if (strcmp(b->net, n->name) == 0 && strcmp(b->owner, cluster_host(m)) == 0 &&
		    (r = claim(m, b, b->owner_mod, err)) < 0)
			return r;
	return 0;
}

/* ---- allocation ---- */

static int take_local(struct network *n, int family, struct tk_addr *ret)
{
	for (struct cblock *b = blocks; b; b = b->next) {
		if (!b->owned || strcmp(b->net, n->name) != 0 || b->p.addr.family != family)
			continue;
		for (unsigned i = 0; i < block_size(b); i++) {
			struct tk_addr a = addr_at(b, i);
			if ((b->mine >> i & 1) &&
			    tk_ipam_pool_reserve(pool_of(n, family), &a, NULL) == 0) {
				*ret = a;
				return 0;
			}
		}
	}
	return -ENOSPC;
}

static uint64_t lowest(uint64_t bits, unsigned k)
{
	uint64_t out = 0;

	for (unsigned i = 0; i < 64 && k > 0; i++)
		if (bits >> i & 1) {
			out |= (uint64_t)1 << i;
			k--;
		}
	return out;
}

/* More addresses for this host: of a block it holds, else of a new block.  1 got some, 0 none. */
static int grow(struct manager *m, struct network *n, int family, tk_err *err)
{
	const struct tk_prefix *subnet = subnet_of(n, family);
	uint64_t count;
	unsigned tries = 0;
	int r;

	for (struct cblock *b = blocks; b; b = b->next) {
		uint64_t f;

		if (!b->owned || strcmp(b->net, n->name) != 0 || b->p.addr.family != family ||
		    !(f = free_bits(n, b)))
			continue;
		if ((r = extend(m, b, lowest(f, HEADROOM), err)) != 0)
			return r;
	}
	if ((r = block_count(n->name, subnet, &count, err)) < 0)
		return r;
	for (uint64_t k = 0; k < count && tries < CLAIM_TRIES; k++) {
		uint64_t i = tk_block_candidate(cluster_host(m), count, k);
		struct tk_prefix p;
		struct cblock *b;
		uint64_t f;

		if ((r = block_nth(n->name, subnet, i, &p, err)) < 0)
			return r;
		b = find(n->name, &p, false);
		if (b && (b->owned || b->owner[0]))
			continue; /* ours and full, or another host's */
		if (!b && !(b = find(n->name, &p, true)))
			return tk_err_set(err, -ENOMEM, "out of memory");
		tries++;
		if ((r = claim(m, b, 0, err)) < 0)
			return r;
		if (r == 0)
			continue;
		if ((f = free_bits(n, b)) == 0)
			continue; /* all of it is in records of hosts that may still use it */
		if ((r = extend(m, b, lowest(f, HEADROOM), err)) != 0)
			return r;
	}
	if (tries >= CLAIM_TRIES)
		return tk_err_set(err, -EAGAIN, "other hosts took the %u blocks tried first",
				  CLAIM_TRIES);
	return 0;
}

int cluster_blocks_alloc(struct manager *m, struct network *n, int family, struct tk_addr *ret,
			 tk_err *err)
{
	tk_err why = {};
	int r;

	for (int round = 0; round < 4; round++) {
		if (is_loaded(n->name) && take_local(n, family, ret) == 0)
			return 0;
		r = load(m, n, &why);
		if (r >= 0 && take_local(n, family, ret) == 0)
			return 0;
		if (r >= 0)
			r = grow(m, n, family, &why);
		if (r < 0)
			return tk_err_set(
				err, -EAGAIN,
				"no free IPv%c address in the blocks host '%s' holds of "
				"network '%s', and a new one needs etcd: %s; try again later",
				family == AF_INET ? '4' : '6', cluster_host(m), n->name, why.msg);
		if (r == 0)
			break;
	}
	return tk_err_set(err, -ENOSPC,
			  "network '%s' has no free IPv%c address block left in the cluster "
			  "(every /%u block is held by a host)",
			  n->name, family == AF_INET ? '4' : '6',
			  block_len(n->name, subnet_of(n, family)));
}

int cluster_blocks_static(struct manager *m, struct network *n, const struct tk_addr *a,
			  tk_err *err)
{
	char buf[TK_ADDR_STRLEN];
	uint64_t bit;
	int r;

	if (load(m, n, err) < 0)
		return tk_err_wrap(err, -EAGAIN, "cluster");
	for (struct cblock *b = blocks; b; b = b->next) {
		if (!b->owned || strcmp(b->net, n->name) != 0 || !tk_prefix_contains(&b->p, a))
			continue;
		bit = (uint64_t)1 << offset_of(b, a);
		if (b->others & bit)
			return tk_err_set(
				err, -EADDRINUSE,
				"address '%s' may be in use on another host of the cluster",
				tk_addr_format(a, buf, sizeof(buf)));
		if (b->mine & bit)
			return 0;
		if ((r = extend(m, b, bit, err)) < 0)
			return tk_err_wrap(err, -EAGAIN, "cluster");
		if (r > 0)
			return 0;
	}
	return tk_err_set(err, -EADDRNOTAVAIL,
			  "address '%s' is not in a block host '%s' holds of network '%s' (in "
			  "cluster mode a requested address must be; `netctl status` lists them)",
			  tk_addr_format(a, buf, sizeof(buf)), cluster_host(m), n->name);
}

/* ---- following etcd ---- */

void cluster_blocks_event(struct manager *m, const char *key, const char *value, bool deleted,
			  int64_t rev)
{
	const char *rest = key + strlen(PREFIX "blocks/"), *slash = strchr(rest, '/');
	char net[TK_NAME_MAX + 1];
	struct tk_prefix p;
	struct cblock *b;

	if (!slash || (size_t)(slash - rest) >= sizeof(net))
		return;
	snprintf(net, sizeof(net), "%.*s", (int)(slash - rest), rest);
	if (!is_loaded(net) || tk_block_key_parse(slash + 1, &p, NULL) < 0 ||
	    !(b = find(net, &p, !deleted)))
		return;
	b->seen = list_gen;
	if (rev <= b->rev)
		return; /* from before this host's own txn on it (a list may be older too) */
	if (deleted) {
		if (b->owned)
			log_warning(
				"cluster: block %s of network '%s' was removed (lease expired?)",
				slash + 1, net);
		b->owner[0] = '\0';
		b->owned = false;
		return;
	}
	owner_of(value, b->owner, sizeof(b->owner));
	b->owner_mod = rev;
	if (strcmp(b->owner, cluster_host(m)) != 0)
		b->owned = false;
}

/*
 * Another host's record went (released, shrunk to nothing, or the host retired): its addresses
 * are free for the block's holder.  Records of one block are disjoint, so its bits are exactly
 * what it kept off.
 */
void cluster_blocks_record_gone(struct manager *m, const char *key, const char *value)
{
	const char *host;
	struct cblock *b;
	char net[TK_NAME_MAX + 1];
	const char *rest = key + strlen(PREFIX "reserved/"), *slash = strchr(rest, '/');

	if (!slash || (size_t)(slash - rest) >= sizeof(net) || !value || !strstr(value, "\"bits\""))
		return; /* unreadable: what it kept off stays off */
	snprintf(net, sizeof(net), "%.*s", (int)(slash - rest), rest);
	if (!is_loaded(net) || !(b = record_parse(key, &host)) ||
	    strcmp(host, cluster_host(m)) == 0)
		return;
	b->others &= ~record_bits(value);
}

/* A full list follows: a block it lacks has gone. */
void cluster_blocks_listed(struct manager *m, bool begin)
{
	(void)m;
	if (begin) {
		list_gen++;
		return;
	}
	load_pending = true;
	for (struct cblock *b = blocks; b; b = b->next)
		if (b->seen != list_gen && b->owner[0] && !b->owned)
			b->owner[0] = '\0'; /* a held one is checked by every txn on it */
}

/*
 * Best effort, again after every endpoint op and watch batch until etcd agrees: releases the
 * blocks of networks this host has no endpoint on, claims back blocks of which it still uses
 * addresses (it returned after its lease expired), takes over blocks etcd says are its own, and
 * shrinks its record of a block another host holds to what it uses.
 */
void cluster_blocks_sync(struct manager *m)
{
	tk_err err = {};
	int r = 0;

	/*
	 * After a start and each full list: the networks this host has endpoints on, to take
	 * over, claim back or shrink their blocks (again until it worked).
	 */
	for (struct network *n = m->networks; n && r >= 0 && load_pending; n = n->next)
		if (n->n_endpoints > 0 && !is_loaded(n->name) && cluster_network(m, n->name))
			r = load(m, n, &err);
	load_pending = r < 0;
	for (struct cblock *b = blocks; b && r >= 0; b = b->next) {
		struct network *n = manager_network(m, b->net);
		uint64_t used;

		if (!n || !is_loaded(b->net))
			continue;
		if (b->owned) {
			if (n->n_endpoints == 0)
				r = release(m, b, &err);
			continue;
		}
		used = used_bits(n, b);
		if (strcmp(b->owner, cluster_host(m)) == 0)
			r = claim(m, b, b->owner_mod, &err); /* ours, e.g. a claim that timed out */
		else if (!b->owner[0] && used)
			r = claim(m, b, 0, &err);
		/* No address used and a record left: a release whose block had gone meanwhile. */
		else if (b->record && (b->mine != used || !used))
			r = shrink(m, b, used, &err);
	}
	if (r < 0)
		log_debug("cluster: blocks: %s (again later)", err.msg);
}

json_t *cluster_blocks_json(struct manager *m)
{
	json_t *list = json_array();

	for (struct cblock *b = blocks; b && list; b = b->next) {
		char buf[TK_PREFIX_STRLEN];
		struct network *n = manager_network(m, b->net);

		if (!b->owned && !b->record)
			continue;
		json_array_append_new(
			list,
			json_pack("{s:s, s:s, s:b, s:i, s:i}", "network", b->net, "block",
				  tk_prefix_format(&b->p, buf, sizeof(buf)), "held", b->owned,
				  "used", n ? __builtin_popcountll(used_bits(n, b)) : 0,
				  "published", __builtin_popcountll(b->mine & block_mask(b))));
	}
	return list;
}
