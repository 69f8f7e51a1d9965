/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The nftables mechanism: tables, sets, chains, rules and elements built with libnftnl into one
 * batch and sent with libmnl.  The policy (which of them exist) is netd/firewall.c's.
 *
 * Concatenated set keys are laid out the way the kernel lays out registers: every component
 * starts on a 4-byte boundary (an ether address takes 8 bytes, an ifname 16).
 */
#include "nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_bridge.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "cleanup.h"
#include "nl.h"

#define TABLE	"tenantkit"
#define IFNAMSZ 16
/* nft's enum byteorder */
#define NFT_BYTEORDER_HOST 1

/* nft's datatype ids, so `nft list` prints the elements readably. */
enum {
	TYPE_IPADDR = 7,
	TYPE_IP6ADDR = 8,
	TYPE_ETHERADDR = 9,
	TYPE_INET_PROTOCOL = 12,
	TYPE_INET_SERVICE = 13,
	TYPE_IFNAME = 41,
};

struct tk_nft {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
};

struct label {
	uint32_t seq;
	char what[96];
};

struct tk_nft_rule {
	struct tk_nft_batch *batch;
	const struct tk_nft_chain *chain;
	struct nftnl_rule *r;
	bool oom;
};

struct tk_nft_batch {
	struct tk_nft *nft;
	char *buf;
	size_t len, size;
	uint32_t first_seq;
	struct label *labels;
	size_t n_labels, max_labels;
	struct tk_nft_rule rule; /* the one under construction */
	bool oom;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free);

int tk_nft_open(struct tk_nft **ret, tk_err *err)
{
	struct tk_nft *nft = calloc(1, sizeof(*nft));
	int size = 4 << 20, one = 1;

	if (!nft)
		return tk_err_set(err, -ENOMEM, "out of memory");
	nft->sock = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nft->sock || mnl_socket_bind(nft->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = tk_err_set(err, -errno, "cannot open a netfilter netlink socket: %m");
		tk_nft_close(nft);
		return r;
	}
	nft->portid = mnl_socket_get_portid(nft->sock);
	nft->seq = (uint32_t)time(NULL);
	/* The send buffer is sized per batch (sndbuf_fit); errors must not be lost either. */
	setsockopt(mnl_socket_get_fd(nft->sock), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	mnl_socket_setsockopt(nft->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nft->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	*ret = nft;
	return 0;
}

int tk_nft_open_offline(struct tk_nft **ret, tk_err *err)
{
	struct tk_nft *nft = calloc(1, sizeof(*nft));

	if (!nft)
		return tk_err_set(err, -ENOMEM, "out of memory");
	nft->seq = 1; /* fixed, so dumps of the same batch are identical */
	*ret = nft;
	return 0;
}

struct tk_nft *tk_nft_close(struct tk_nft *nft)
{
	if (nft) {
		if (nft->sock)
			mnl_socket_close(nft->sock);
		free(nft);
	}
	return NULL;
}

/* Room for one more message; a message never exceeds a few KiB. */
static char *batch_reserve(struct tk_nft_batch *b)
{
	const size_t need = 16 * 1024;

	if (b->oom)
		return NULL;
	if (b->size - b->len < need) {
		size_t size = b->size ? b->size * 2 : 64 * 1024;
		char *buf = realloc(b->buf, size);
		if (!buf) {
			b->oom = true;
			return NULL;
		}
		memset(buf + b->size, 0, size - b->size);
		b->buf = buf;
		b->size = size;
	}
	return b->buf + b->len;
}

static void batch_push(struct tk_nft_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static struct nlmsghdr *batch_msg(struct tk_nft_batch *b, uint16_t type, uint16_t family,
				  uint16_t flags, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static struct nlmsghdr *batch_msg(struct tk_nft_batch *b, uint16_t type, uint16_t family,
				  uint16_t flags, const char *fmt, ...)
{
	char *at = batch_reserve(b);
	struct label *labels;
	uint32_t seq = b->nft->seq++;
	va_list ap;

	if (!at)
		return NULL;
	if (b->n_labels == b->max_labels) {
		/* Geometric growth: a rebuild holds one label per element. */
		size_t max = b->max_labels ? b->max_labels * 2 : 64;
		labels = reallocarray(b->labels, max, sizeof(*labels));
		if (!labels) {
			b->oom = true;
			return NULL;
		}
		b->labels = labels;
		b->max_labels = max;
	}
	labels = b->labels;
	labels[b->n_labels].seq = seq;
	va_start(ap, fmt);
	vsnprintf(labels[b->n_labels].what, sizeof(labels[0].what), fmt, ap);
	va_end(ap);
	b->n_labels++;
	return nftnl_nlmsg_build_hdr(at, type, family, flags, seq);
}

/* ---- objects ---------------------------------------------------------------------------- */

static const char *family_name(int family)
{
	return family == NFPROTO_BRIDGE ? "bridge" : family == NFPROTO_NETDEV ? "netdev" : "inet";
}

static void table_msg(struct tk_nft_batch *b, int family, uint16_t type, uint16_t flags)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t) {
		b->oom = true;
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)family);
	nlh = batch_msg(b, type, (uint16_t)family, flags, "%s table %s tenantkit",
			type == NFT_MSG_DELTABLE ? "delete" : "add", family_name(family));
	if (!nlh)
		return;
	nftnl_table_nlmsg_build_payload(nlh, t);
	batch_push(b, nlh);
}

void tk_nft_batch_table_add(struct tk_nft_batch *b, int family)
{
	table_msg(b, family, NFT_MSG_NEWTABLE, NLM_F_CREATE);
}

void tk_nft_batch_table_delete(struct tk_nft_batch *b, int family)
{
	/* Adding first makes the delete succeed whether or not the table exists. */
	table_msg(b, family, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	table_msg(b, family, NFT_MSG_DELTABLE, 0);
}

/* Bytes a key component takes (registers are 4 bytes wide) and nft's datatype id for it. */
static const struct {
	uint32_t len, datatype;
} key_types[_TK_NFT_TYPE_MAX] = {
	[TK_NFT_IFNAME] = { IFNAMSZ, TYPE_IFNAME },   [TK_NFT_IPV4] = { 4, TYPE_IPADDR },
	[TK_NFT_IPV6] = { 16, TYPE_IP6ADDR },	      [TK_NFT_ETHER] = { 8, TYPE_ETHERADDR },
	[TK_NFT_L4PROTO] = { 4, TYPE_INET_PROTOCOL }, [TK_NFT_PORT] = { 4, TYPE_INET_SERVICE },
};

static uint32_t types_len(const enum tk_nft_type *types, unsigned n)
{
	uint32_t len = 0;

	/* Alone, a MAC is its 6 bytes (as nft declares it), so that nft lists it as one. */
	if (n == 1 && types[0] == TK_NFT_ETHER)
		return ETH_ALEN;

	for (unsigned i = 0; i < n; i++)
		len += key_types[types[i]].len;
	return len;
}

static uint32_t key_len(const struct tk_nft_set *set)
{
	return types_len(set->key, set->n_key);
}

/* nft's concatenated type: 6 bits per component */
static uint32_t types_datatype(const enum tk_nft_type *types, unsigned n)
{
	uint32_t datatype = 0;

	for (unsigned i = 0; i < n; i++)
		datatype = datatype << 6 | key_types[types[i]].datatype;
	return datatype;
}

void tk_nft_batch_set_add(struct tk_nft_batch *b, const struct tk_nft_set *spec)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	uint32_t datatype = 0;
	struct nlmsghdr *nlh;

	if (!s) {
		b->oom = true;
		return;
	}
	/* nft's concatenated type: 6 bits per component */
	for (unsigned i = 0; i < spec->n_key; i++)
		datatype = datatype << 6 | key_types[spec->key[i]].datatype;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, spec->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)spec->family);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, datatype);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len(spec));
	nftnl_set_set_u32(s, NFTNL_SET_ID, spec->id);
	if (spec->n_data > 0) {
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, types_datatype(spec->data, spec->n_data));
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, types_len(spec->data, spec->n_data));
	}
	if (spec->flags) {
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS,
				  spec->flags | (spec->n_data > 0 ? NFT_SET_MAP : 0));
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, spec->timeout_ms);
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, spec->size);
	}
	if (spec->counter) {
		struct nftnl_expr *counter = nftnl_expr_alloc("counter");
		if (!counter) {
			b->oom = true;
			return;
		}
		nftnl_set_add_expr(s, counter); /* s owns it now */
	}
	if (spec->n_key == 1 && spec->key[0] == TK_NFT_IFNAME) {
		/* tells nft to print the key as a string, not a reversed number */
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
		if (!ud ||
		    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_HOST)) {
			nftnl_udata_buf_free(ud);
			b->oom = true;
			return;
		}
		nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	nlh = batch_msg(b, NFT_MSG_NEWSET, (uint16_t)spec->family, NLM_F_CREATE, "add set %s",
			spec->name);
	if (!nlh)
		return;
	nftnl_set_nlmsg_build_payload(nlh, s);
	batch_push(b, nlh);
}

void tk_nft_batch_chain_add(struct tk_nft_batch *b, const struct tk_nft_chain *spec)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c) {
		b->oom = true;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, spec->name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)spec->family);
	if (spec->type) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, spec->type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, spec->hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, spec->prio);
	}
	nlh = batch_msg(b, NFT_MSG_NEWCHAIN, (uint16_t)spec->family, NLM_F_CREATE, "add chain %s",
			spec->name);
	if (!nlh)
		return;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	batch_push(b, nlh);
}

/* ---- rules -------------------------------------------------------------------------------- */

struct tk_nft_rule *tk_nft_rule_begin(struct tk_nft_batch *b, const struct tk_nft_chain *chain)
{
	struct tk_nft_rule *rule = &b->rule;

	*rule = (struct tk_nft_rule){ .batch = b, .chain = chain, .r = nftnl_rule_alloc() };
	rule->oom = !rule->r;
	return rule;
}

void tk_nft_rule_end(struct tk_nft_rule *rule)
{
	struct tk_nft_batch *b = rule->batch;
	const struct tk_nft_chain *chain = rule->chain;
	struct nlmsghdr *nlh;

	if (rule->oom) {
		b->oom = true;
	} else {
		nftnl_rule_set_str(rule->r, NFTNL_RULE_TABLE, TABLE);
		nftnl_rule_set_str(rule->r, NFTNL_RULE_CHAIN, chain->name);
		nftnl_rule_set_u32(rule->r, NFTNL_RULE_FAMILY, (uint32_t)chain->family);
		nlh = batch_msg(b, NFT_MSG_NEWRULE, (uint16_t)chain->family,
				NLM_F_CREATE | NLM_F_APPEND, "add rule to chain %s", chain->name);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, rule->r);
			batch_push(b, nlh);
		}
	}
	if (rule->r)
		nftnl_rule_free(rule->r);
	rule->r = NULL;
}

static struct nftnl_expr *expr(struct tk_nft_rule *rule, const char *name)
{
	struct nftnl_expr *e = rule->oom ? NULL : nftnl_expr_alloc(name);

	if (!e)
		rule->oom = true;
	return e;
}

static void add(struct tk_nft_rule *rule, struct nftnl_expr *e)
{
	if (e)
		nftnl_rule_add_expr(rule->r, e);
}

void tk_nft_meta(struct tk_nft_rule *rule, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	}
	add(rule, e);
}

void tk_nft_payload(struct tk_nft_rule *rule, const struct tk_nft_field *field, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, field->base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, field->offset);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, field->len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	}
	add(rule, e);
}

void tk_nft_cmp(struct tk_nft_rule *rule, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr(rule, "cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG32_00);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	add(rule, e);
}

void tk_nft_mask(struct tk_nft_rule *rule, const void *bits, uint32_t len)
{
	struct nftnl_expr *e = expr(rule, "bitwise");
	static const uint8_t zero[16];

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG32_00);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG32_00);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, bits, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
	add(rule, e);
}

void tk_nft_ct_state(struct tk_nft_rule *rule, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "ct");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
	}
	add(rule, e);
}

void tk_nft_lookup(struct tk_nft_rule *rule, const struct tk_nft_set *set, bool inverted)
{
	struct nftnl_expr *e = expr(rule, "lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set->name);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set->id);
		if (inverted)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	}
	add(rule, e);
}

void tk_nft_counter(struct tk_nft_rule *rule)
{
	add(rule, expr(rule, "counter"));
}

void tk_nft_masquerade(struct tk_nft_rule *rule)
{
	add(rule, expr(rule, "masq"));
}

void tk_nft_map_lookup(struct tk_nft_rule *rule, const struct tk_nft_set *map, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, map->name);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, map->id);
	}
	add(rule, e);
}

void tk_nft_ct(struct tk_nft_rule *rule, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "ct");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
	}
	add(rule, e);
}

void tk_nft_fib_type(struct tk_nft_rule *rule, uint32_t flags, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "fib");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, flags);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
	}
	add(rule, e);
}

void tk_nft_notrack(struct tk_nft_rule *rule)
{
	add(rule, expr(rule, "notrack"));
}

void tk_nft_fib_daddr_oifname(struct tk_nft_rule *rule, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "fib");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_OIFNAME);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
	}
	add(rule, e);
}

void tk_nft_nat(struct tk_nft_rule *rule, uint32_t type, uint32_t family, uint32_t reg_addr,
		uint32_t reg_proto)
{
	struct nftnl_expr *e = expr(rule, "nat");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, type);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
		if (reg_proto)
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_proto);
	}
	add(rule, e);
}

static struct nftnl_expr *limit_expr(struct tk_nft_rule *rule, uint64_t rate, uint32_t burst)
{
	struct nftnl_expr *e = expr(rule, "limit");

	if (e) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1); /* per second */
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
	}
	return e;
}

void tk_nft_limit(struct tk_nft_rule *rule, uint64_t rate, uint32_t burst)
{
	add(rule, limit_expr(rule, rate, burst));
}

void tk_nft_meter_limit(struct tk_nft_rule *rule, const struct tk_nft_set *meter, uint64_t rate,
			uint32_t burst)
{
	struct nftnl_expr *e = expr(rule, "dynset"), *limit = limit_expr(rule, rate, burst);

	if (e && limit) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG32_00);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
		nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, meter->name);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, meter->id);
		nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, meter->timeout_ms);
		/* e owns limit now */
		nftnl_expr_set(e, NFTNL_EXPR_DYNSET_EXPR, TAKE_PTR(limit), 0);
	}
	if (limit)
		nftnl_expr_free(limit);
	add(rule, e);
}

void tk_nft_log(struct tk_nft_rule *rule, uint16_t group, const char *prefix, uint32_t snaplen)
{
	struct nftnl_expr *e = expr(rule, "log");

	if (e) {
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_SNAPLEN, snaplen);
	}
	add(rule, e);
}

void tk_nft_verdict(struct tk_nft_rule *rule, int v, const char *chain)
{
	struct nftnl_expr *e = expr(rule, "immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)v);
		if (chain)
			nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	}
	add(rule, e);
}

void tk_nft_match_meta8(struct tk_nft_rule *rule, uint32_t key, uint8_t value)
{
	tk_nft_meta(rule, key, NFT_REG32_00);
	tk_nft_cmp(rule, NFT_CMP_EQ, &value, 1);
}

void tk_nft_match_payload(struct tk_nft_rule *rule, const struct tk_nft_field *field,
			  const void *value)
{
	tk_nft_payload(rule, field, NFT_REG32_00);
	tk_nft_cmp(rule, NFT_CMP_EQ, value, field->len);
}

void tk_nft_match_ethertype(struct tk_nft_rule *rule, uint16_t proto)
{
	static const struct tk_nft_field ethertype = { NFT_PAYLOAD_LL_HEADER, 12, 2 };
	uint16_t be = htons(proto);

	tk_nft_match_payload(rule, &ethertype, &be);
}

void tk_nft_match_set(struct tk_nft_rule *rule, uint32_t ifkey, const struct tk_nft_field *fields,
		      size_t n, const struct tk_nft_set *set, bool inverted)
{
	uint32_t reg = NFT_REG32_00;

	if (ifkey) {
		tk_nft_meta(rule, ifkey, reg);
		reg += IFNAMSZ / 4;
	}
	for (size_t i = 0; i < n; i++) {
		tk_nft_payload(rule, &fields[i], reg);
		reg += (fields[i].len + 3) / 4;
	}
	tk_nft_lookup(rule, set, inverted);
}

/* ---- batches ---------------------------------------------------------------------------- */

int tk_nft_batch_new(struct tk_nft *nft, struct tk_nft_batch **ret, tk_err *err)
{
	struct tk_nft_batch *b = calloc(1, sizeof(*b));
	char *at;

	if (!b)
		return tk_err_set(err, -ENOMEM, "out of memory");
	b->nft = nft;
	b->first_seq = nft->seq;
	at = batch_reserve(b);
	if (!at) {
		tk_nft_batch_free(b);
		return tk_err_set(err, -ENOMEM, "out of memory building the nftables batch");
	}
	batch_push(b, nftnl_batch_begin(at, nft->seq++));
	*ret = b;
	return 0;
}

struct tk_nft_batch *tk_nft_batch_free(struct tk_nft_batch *b)
{
	if (b) {
		if (b->rule.r)
			nftnl_rule_free(b->rule.r);
		free(b->buf);
		free(b->labels);
		free(b);
	}
	return NULL;
}

static void elem_msg(struct tk_nft_batch *b, const struct tk_nft_set *set, uint16_t type,
		     const void *key, size_t len, const void *data, size_t data_len,
		     const char *shown)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh;

	if (!s || !e) {
		if (e)
			nftnl_set_elem_free(e);
		b->oom = true;
		return;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)set->family);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)len);
	if (data)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, (uint32_t)data_len);
	nftnl_set_elem_add(s, e); /* s owns e now */
	nlh = batch_msg(b, type, (uint16_t)set->family,
			type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, "%s %s in set %s",
			type == NFT_MSG_NEWSETELEM ? "add" : "delete", shown, set->name);
	if (!nlh)
		return;
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	batch_push(b, nlh);
}

/* Encodes one key component at key (zero-filled beforehand) and appends it to shown. */
static int key_put(uint8_t *key, enum tk_nft_type type, const union tk_nft_value *v, char *shown,
		   size_t size, tk_err *err)
{
	char buf[TK_ADDR_STRLEN];
	size_t n;

	switch (type) {
	case TK_NFT_IFNAME:
		n = v->ifname ? strlen(v->ifname) : 0;
		if (n == 0 || n >= IFNAMSZ)
			return tk_err_set(err, -EINVAL, "invalid interface name '%s'",
					  v->ifname ? v->ifname : "");
		memcpy(key, v->ifname, n);
		snprintf(buf, sizeof(buf), "%s", v->ifname);
		break;
	case TK_NFT_IPV4:
	case TK_NFT_IPV6:
		if (!v->addr || v->addr->family != (type == TK_NFT_IPV4 ? AF_INET : AF_INET6))
			return tk_err_set(err, -EINVAL, "an IPv%c address is required here",
					  type == TK_NFT_IPV4 ? '4' : '6');
		memcpy(key, v->addr->bytes, type == TK_NFT_IPV4 ? 4 : 16);
		tk_addr_format(v->addr, buf, sizeof(buf));
		break;
	case TK_NFT_ETHER:
		if (!v->mac)
			return tk_err_set(err, -EINVAL, "a MAC address is required here");
		memcpy(key, v->mac, 6);
		tk_mac_format(v->mac, buf, sizeof(buf));
		break;
	case TK_NFT_L4PROTO:
		if (v->u32 > UINT8_MAX)
			return tk_err_set(err, -EINVAL, "invalid protocol number %u", v->u32);
		key[0] = (uint8_t)v->u32;
		snprintf(buf, sizeof(buf), "%s",
			 v->u32 == IPPROTO_TCP	 ? "tcp"
			 : v->u32 == IPPROTO_UDP ? "udp"
						 : "proto");
		break;
	case TK_NFT_PORT: {
		uint16_t be = htons((uint16_t)v->u32);
		if (v->u32 == 0 || v->u32 > UINT16_MAX)
			return tk_err_set(err, -EINVAL, "invalid port %u", v->u32);
		memcpy(key, &be, 2);
		snprintf(buf, sizeof(buf), "%u", v->u32);
		break;
	}

	default: return tk_err_set(err, -EINVAL, "unknown set key type %d", (int)type);
	}
	n = strlen(shown);
	snprintf(shown + n, size - n, "%s%s", n == 0 ? "" : shown[n - 1] == ':' ? " " : " . ", buf);
	return 0;
}

/* Encodes n components of types from values at out; returns the length or a negative errno. */
static int encode(const struct tk_nft_set *set, const enum tk_nft_type *types, unsigned n,
		  const union tk_nft_value *values, uint8_t *out, char *shown, size_t size,
		  tk_err *err)
{
	size_t off = 0;
	int r;

	for (unsigned i = 0; i < n; i++) {
		if ((unsigned)types[i] >= _TK_NFT_TYPE_MAX)
			return tk_err_set(err, -EINVAL, "set %s: invalid key type", set->name);
		if ((r = key_put(out + off, types[i], &values[i], shown, size, err)) < 0)
			return tk_err_wrap(err, r, "set %s", set->name);
		off += key_types[types[i]].len;
	}
	return (int)types_len(types, n);
}

static int element(struct tk_nft_batch *b, const struct tk_nft_set *set, bool add,
		   const union tk_nft_value *values, const union tk_nft_value *data_values,
		   tk_err *err)
{
	uint8_t key[TK_NFT_KEY_MAX * IFNAMSZ] = { 0 }, data[2 * IFNAMSZ] = { 0 };
	char shown[(TK_NFT_KEY_MAX + 3) * TK_ADDR_STRLEN] = "";
	int len, data_len = 0;

	if (set->n_key == 0 || set->n_key > TK_NFT_KEY_MAX || set->n_data > 2)
		return tk_err_set(err, -EINVAL, "set %s: invalid key", set->name);
	if ((len = encode(set, set->key, set->n_key, values, key, shown, sizeof(shown), err)) < 0)
		return len;
	if (set->n_data > 0) {
		size_t n = strlen(shown);
		snprintf(shown + n, sizeof(shown) - n, " :");
		if ((data_len = encode(set, set->data, set->n_data, data_values, data, shown,
				       sizeof(shown), err)) < 0)
			return data_len;
	}
	/* Deleting idempotently: adding first means a missing element is not an error. */
	elem_msg(b, set, NFT_MSG_NEWSETELEM, key, (size_t)len, set->n_data ? data : NULL,
		 (size_t)data_len, shown);
	if (!add)
		elem_msg(b, set, NFT_MSG_DELSETELEM, key, (size_t)len, NULL, 0, shown);
	if (b->oom)
		return tk_err_set(err, -ENOMEM, "out of memory building the nftables batch");
	return 0;
}

int tk_nft_batch_element(struct tk_nft_batch *b, const struct tk_nft_set *set, bool add,
			 const union tk_nft_value *values, tk_err *err)
{
	if (set->n_data > 0)
		return tk_err_set(err, -EINVAL, "set %s is a map: its elements need data",
				  set->name);
	return element(b, set, add, values, NULL, err);
}

int tk_nft_batch_map_element(struct tk_nft_batch *b, const struct tk_nft_set *map, bool add,
			     const union tk_nft_value *key, const union tk_nft_value *data,
			     tk_err *err)
{
	if (map->n_data == 0 || !data)
		return tk_err_set(err, -EINVAL, "set %s is not a map", map->name);
	return element(b, map, add, key, data, err);
}

/* ---- text dump -------------------------------------------------------------------------- */

/* " counter" for each stateful expression a set gives its elements. */
static int set_expr_name(struct nftnl_expr *e, void *data)
{
	char *buf = data;
	size_t n = strlen(buf);

	snprintf(buf + n, 64 - n, " %s", nftnl_expr_get_str(e, NFTNL_EXPR_NAME));
	return 0;
}

static int dump_msg(const struct nlmsghdr *nlh, char *buf, size_t size)
{
	uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	int r = -EINVAL;

#define DUMP(kind, parse, print)                                                                   \
	do {                                                                                       \
		struct nftnl_##kind *o = nftnl_##kind##_alloc();                                   \
		if (!o)                                                                            \
			return -ENOMEM;                                                            \
		if (parse(nlh, o) >= 0 && print(buf, size, o, NFTNL_OUTPUT_DEFAULT, 0) >= 0)       \
			r = 0;                                                                     \
		nftnl_##kind##_free(o);                                                            \
	} while (0)

	switch (type) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE: DUMP(table, nftnl_table_nlmsg_parse, nftnl_table_snprintf); break;
	case NFT_MSG_NEWSET: {
		/* libnftnl's text leaves out the key, which is what a declaration is about */
		struct nftnl_set *o = nftnl_set_alloc();
		if (!o)
			return -ENOMEM;
		if (nftnl_set_nlmsg_parse(nlh, o) >= 0) {
			snprintf(buf, size, "%s %s %s key_type 0x%x key_len %u id %u",
				 family_name(((const struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))
						     ->nfgen_family),
				 nftnl_set_get_str(o, NFTNL_SET_TABLE),
				 nftnl_set_get_str(o, NFTNL_SET_NAME),
				 nftnl_set_get_u32(o, NFTNL_SET_KEY_TYPE),
				 nftnl_set_get_u32(o, NFTNL_SET_KEY_LEN),
				 nftnl_set_get_u32(o, NFTNL_SET_ID));
			if (nftnl_set_is_set(o, NFTNL_SET_DATA_TYPE)) {
				size_t n = strlen(buf);
				snprintf(buf + n, size - n, " data_type 0x%x data_len %u",
					 nftnl_set_get_u32(o, NFTNL_SET_DATA_TYPE),
					 nftnl_set_get_u32(o, NFTNL_SET_DATA_LEN));
			}
			char exprs[64] = "";
			nftnl_set_expr_foreach(o, set_expr_name, exprs);
			snprintf(buf + strlen(buf), size - strlen(buf), "%s", exprs);
			r = 0;
		}
		nftnl_set_free(o);
		break;
	}
	case NFT_MSG_NEWCHAIN: DUMP(chain, nftnl_chain_nlmsg_parse, nftnl_chain_snprintf); break;
	case NFT_MSG_NEWRULE: DUMP(rule, nftnl_rule_nlmsg_parse, nftnl_rule_snprintf); break;
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM: DUMP(set, nftnl_set_elems_nlmsg_parse, nftnl_set_snprintf); break;
	}
#undef DUMP
	return r;
}

int tk_nft_batch_dump(struct tk_nft_batch *b, FILE *f, tk_err *err)
{
	static const char *const verbs[NFT_MSG_MAX] = {
		[NFT_MSG_NEWTABLE] = "add table",
		[NFT_MSG_DELTABLE] = "delete table",
		[NFT_MSG_NEWSET] = "add set",
		[NFT_MSG_NEWCHAIN] = "add chain",
		[NFT_MSG_NEWRULE] = "add rule",
		[NFT_MSG_NEWSETELEM] = "add element",
		[NFT_MSG_DELSETELEM] = "delete element",
	};
	size_t size = 64 * 1024;
	_cleanup_free_ char *text = malloc(size);
	int left = (int)b->len;

	if (!text)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (b->oom)
		return tk_err_set(err, -ENOMEM, "out of memory building the nftables batch");
	/* b->buf is malloc'd, so aligned for any type; clang's -Wcast-align cannot know that. */
	for (const struct nlmsghdr *nlh = (const void *)b->buf; mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
		int r;

		if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN ||
		    nlh->nlmsg_type == NFNL_MSG_BATCH_END)
			continue;
		if (type >= NFT_MSG_MAX || !verbs[type])
			return tk_err_set(err, -EINVAL, "unexpected message type %u in the batch",
					  type);
		if ((r = dump_msg(nlh, text, size)) < 0)
			return tk_err_set(err, r, "cannot parse a '%s' message of the batch",
					  verbs[type]);
		fprintf(f, "%s: %s\n", verbs[type], text);
	}
	return 0;
}

/* ---- sending ---------------------------------------------------------------------------- */

static const char *label_of(const struct tk_nft_batch *b, uint32_t seq)
{
	for (size_t i = 0; i < b->n_labels; i++)
		if (b->labels[i].seq == seq)
			return b->labels[i].what;
	return "batch";
}

int tk_nft_batch_replies(const struct tk_nft_batch *b, const void *buf, size_t len, tk_err *err)
{
	int left = len > INT_MAX ? INT_MAX : (int)len; /* mnl_nlmsg_next() counts down an int */

	for (const struct nlmsghdr *nlh = buf; mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
		char extack[160];

		if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e) ||
		    e->error >= 0)
			continue;
		tk_netlink_extack(nlh, extack, sizeof(extack));
		return tk_err_set(err, e->error, "nftables: %s: %s%s%s%s",
				  label_of(b, nlh->nlmsg_seq), strerror(-e->error),
				  extack[0] ? " (" : "", extack, extack[0] ? ")" : "");
	}
	return 0;
}

/*
 * A batch is one datagram, so the send buffer must hold all of it: a rebuild grows with the
 * number of endpoints (roughly 100 bytes per element).  Like nftables' mnl_set_sndbuffer(), raise
 * the buffer to the batch instead of guessing a fixed size.  The kernel doubles the value and
 * keeps 32 bytes of it for itself.
 */
static int sndbuf_fit(struct tk_nft *nft, size_t len, tk_err *err)
{
	int fd = mnl_socket_get_fd(nft->sock), have = 0, want;
	socklen_t sl = sizeof(have);

	if (len > INT_MAX / 2 - 64)
		return tk_err_set(err, -EMSGSIZE, "nftables batch of %zu bytes is too large", len);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &sl) == 0 && (size_t)have >= len + 64)
		return 0;
	want = (int)len + 64;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) < 0)
		return tk_err_set(err, -errno,
				  "cannot size the nftables send buffer to %d bytes: %m", want);
	return 0;
}

/*
 * nfnetlink processes a batch inside sendmsg(), so once it returns every error is already
 * queued on the socket: success is an empty receive queue (nft does the same).
 */
int tk_nft_batch_commit(struct tk_nft_batch *b, tk_err *err)
{
	char *at = batch_reserve(b);
	char rx[MNL_SOCKET_BUFFER_SIZE * 4];
	int first_error = 0, r;
	ssize_t got;

	if (!at)
		return tk_err_set(err, -ENOMEM, "out of memory building the nftables batch");
	batch_push(b, nftnl_batch_end(at, b->nft->seq++));
	if (b->n_labels == 0)
		return 0;
	if (!b->nft->sock)
		return tk_err_set(err, -ENOTCONN, "this nftables handle cannot send (offline)");
	if ((r = sndbuf_fit(b->nft, b->len, err)) < 0)
		return r;
	if (mnl_socket_sendto(b->nft->sock, b->buf, b->len) < 0)
		return tk_err_set(err, -errno, "cannot send nftables batch: %m");
	/* Read everything, so no stale reply is left for the next batch; report the first error. */
	while ((got = recv(mnl_socket_get_fd(b->nft->sock), rx, sizeof(rx), MSG_DONTWAIT)) > 0)
		if (!first_error)
			first_error = tk_nft_batch_replies(b, rx, (size_t)got, err);
	if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && !first_error)
		return tk_err_set(err, -errno, "cannot read nftables replies: %m");
	return first_error;
}

/* ---- reading element counters ---------------------------------------------------------- */

struct counter_walk {
	tk_nft_counter_cb cb;
	void *userdata;
	struct tk_nft_counter *one; /* a get: the element's counter goes here */
	bool found;
	int r;
};

static int add_counter_expr(struct nftnl_expr *e, void *data)
{
	struct tk_nft_counter *c = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name && strcmp(name, "counter") == 0) {
		c->packets += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		c->bytes += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
	}
	return 0;
}

static int counters_msg(const struct nlmsghdr *nlh, void *data)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct counter_walk *w = data;
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (!s || nftnl_set_elems_nlmsg_parse(nlh, s) < 0 ||
	    !(it = nftnl_set_elems_iter_create(s))) {
		w->r = s ? -EIO : -ENOMEM;
		return MNL_CB_ERROR;
	}
	while (w->r >= 0 && (e = nftnl_set_elems_iter_next(it))) {
		struct tk_nft_counter c = {};
		char name[IFNAMSZ + 1] = "";
		uint32_t len = 0;
		const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

		nftnl_set_elem_expr_foreach(e, add_counter_expr, &c);
		w->found = true;
		if (w->one) {
			*w->one = c;
			continue;
		}
		if (key)
			memcpy(name, key, len < IFNAMSZ ? len : IFNAMSZ);
		w->r = w->cb(name, &c, w->userdata);
	}
	nftnl_set_elems_iter_destroy(it);
	return w->r < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* Sends one request (not a batch) and runs cb over the replies until the dump's end or the ack. */
static int request(struct tk_nft *nft, struct nlmsghdr *nlh, struct counter_walk *w,
		   const char *what, tk_err *err)
{
	const size_t size = 64 * 1024; /* a dump message is at most 32 KiB */
	_cleanup_free_ char *buf = malloc(size);
	uint32_t seq = nlh->nlmsg_seq;
	int r;

	if (!buf)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (!nft->sock)
		return tk_err_set(err, -ENOTCONN, "this nftables handle cannot send (offline)");
	if (mnl_socket_sendto(nft->sock, nlh, nlh->nlmsg_len) < 0)
		return tk_err_set(err, -errno, "cannot ask for %s: %m", what);
	do {
		ssize_t n = mnl_socket_recvfrom(nft->sock, buf, size);

		if (n < 0)
			return tk_err_set(err, -errno, "cannot read %s: %m", what);
		errno = 0;
		r = mnl_cb_run(buf, (size_t)n, seq, nft->portid, counters_msg, w);
	} while (r > 0);
	if (w->r < 0)
		return tk_err_set(err, w->r, "cannot read %s: %s", what, strerror(-w->r));
	if (r < 0)
		return tk_err_set(err, errno ? -errno : -EIO, "cannot read %s: %m", what);
	return 0;
}

static struct nlmsghdr *counters_request(struct tk_nft *nft, char *buf,
					 const struct tk_nft_set *set, const void *key,
					 uint32_t key_len)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = NULL;
	struct nlmsghdr *nlh;

	if (!s || (key && !(e = nftnl_set_elem_alloc())))
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)set->family);
	if (e) {
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, key_len);
		nftnl_set_elem_add(s, e);
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, (uint16_t)set->family,
				    key ? NLM_F_ACK : NLM_F_DUMP, nft->seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	return nlh;
}

int tk_nft_set_counters(struct tk_nft *nft, const struct tk_nft_set *set, tk_nft_counter_cb cb,
			void *userdata, tk_err *err)
{
	char buf[4096], what[96];
	struct counter_walk w = { .cb = cb, .userdata = userdata };
	struct nlmsghdr *nlh;

	if (set->n_key != 1 || set->key[0] != TK_NFT_IFNAME || !set->counter)
		return tk_err_set(err, -EINVAL, "set %s: not interface names with counters",
				  set->name);
	if (!(nlh = counters_request(nft, buf, set, NULL, 0)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	snprintf(what, sizeof(what), "the counters of set %s", set->name);
	return request(nft, nlh, &w, what, err);
}

int tk_nft_element_counter(struct tk_nft *nft, const struct tk_nft_set *set,
			   const union tk_nft_value *key, struct tk_nft_counter *ret, tk_err *err)
{
	uint8_t k[TK_NFT_KEY_MAX * IFNAMSZ] = { 0 };
	char buf[4096], shown[(TK_NFT_KEY_MAX + 3) * TK_ADDR_STRLEN] = "", what[sizeof(shown) + 64];
	struct tk_nft_counter c = {};
	struct counter_walk w = { .one = &c };
	struct nlmsghdr *nlh;
	int len, r;

	if (!set->counter || set->n_key == 0 || set->n_key > TK_NFT_KEY_MAX)
		return tk_err_set(err, -EINVAL, "set %s has no counters", set->name);
	if ((len = encode(set, set->key, set->n_key, key, k, shown, sizeof(shown), err)) < 0)
		return len;
	if (!(nlh = counters_request(nft, buf, set, k, (uint32_t)len)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	snprintf(what, sizeof(what), "the counter of %s in set %s", shown, set->name);
	if ((r = request(nft, nlh, &w, what, err)) < 0)
		return r;
	if (!w.found)
		return tk_err_set(err, -ENOENT, "no %s in set %s", shown, set->name);
	*ret = c;
	return 0;
}

int tk_nft_tables_delete(struct tk_nft *nft, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	int r;

	if ((r = tk_nft_batch_new(nft, &b, err)) < 0)
		return r;
	tk_nft_batch_table_delete(b, NFPROTO_INET);
	tk_nft_batch_table_delete(b, NFPROTO_BRIDGE);
	tk_nft_batch_table_delete(b, NFPROTO_NETDEV);
	return tk_nft_batch_commit(b, err);
}
