/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two tenantkit tables, built with libnftnl and sent with libmnl.  docs/firewall.md shows
 * the same ruleset in nft syntax; keep the two in step.
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
enum { TYPE_IPADDR = 7, TYPE_IP6ADDR = 8, TYPE_ETHERADDR = 9, TYPE_IFNAME = 41 };
#define CONCAT2(a, b)	 (((a) << 6) | (b))
#define CONCAT3(a, b, c) ((((a) << 6) | (b)) << 6 | (c))

struct tk_nft {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
};

struct label {
	uint32_t seq;
	char what[96];
};

struct tk_nft_batch {
	struct tk_nft *nft;
	char *buf;
	size_t len, size;
	uint32_t first_seq;
	struct label *labels;
	size_t n_labels, max_labels;
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
	nft->sock = mnl_socket_open(NETLINK_NETFILTER);
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
			type == NFT_MSG_DELTABLE ? "delete" : "add",
			family == NFPROTO_BRIDGE ? "bridge" : "inet");
	if (!nlh)
		return;
	nftnl_table_nlmsg_build_payload(nlh, t);
	batch_push(b, nlh);
}

struct set_spec {
	const char *name;
	uint32_t id;
	uint32_t key_type, key_len, flags;
	bool host_order; /* tells nft to print the key as a string, not a reversed number */
};

static void set_add(struct tk_nft_batch *b, int family, const struct set_spec *spec)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s) {
		b->oom = true;
		return;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, spec->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)family);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, spec->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, spec->key_len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, spec->id);
	if (spec->flags)
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, spec->flags);
	if (spec->host_order) {
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
	nlh = batch_msg(b, NFT_MSG_NEWSET, (uint16_t)family, NLM_F_CREATE, "add set %s",
			spec->name);
	if (!nlh)
		return;
	nftnl_set_nlmsg_build_payload(nlh, s);
	batch_push(b, nlh);
}

struct chain_spec {
	const char *name;
	const char *type; /* NULL for a regular chain */
	uint32_t hook;
	int32_t prio;
};

static void chain_add(struct tk_nft_batch *b, int family, const struct chain_spec *spec)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c) {
		b->oom = true;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, spec->name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)family);
	if (spec->type) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, spec->type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, spec->hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, spec->prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = batch_msg(b, NFT_MSG_NEWCHAIN, (uint16_t)family, NLM_F_CREATE, "add chain %s",
			spec->name);
	if (!nlh)
		return;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	batch_push(b, nlh);
}

/* ---- rules: a few expression helpers, then the rules in nft syntax order ---------------- */

struct rule {
	struct nftnl_rule *r;
	bool oom;
};

static struct nftnl_expr *expr(struct rule *rule, const char *name)
{
	struct nftnl_expr *e = rule->oom ? NULL : nftnl_expr_alloc(name);

	if (!e)
		rule->oom = true;
	return e;
}

static void add(struct rule *rule, struct nftnl_expr *e)
{
	if (e)
		nftnl_rule_add_expr(rule->r, e);
}

static void meta(struct rule *rule, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	}
	add(rule, e);
}

static void payload(struct rule *rule, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = expr(rule, "payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	}
	add(rule, e);
}

static void cmp(struct rule *rule, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr(rule, "cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG32_00);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	add(rule, e);
}

static void mask(struct rule *rule, const void *bits, uint32_t len)
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

static void lookup(struct rule *rule, const struct set_spec *set, bool inverted)
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

static void counter(struct rule *rule)
{
	add(rule, expr(rule, "counter"));
}

static void verdict(struct rule *rule, int v, const char *chain)
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

/* Single-value matches. */
static void match_meta8(struct rule *rule, uint32_t key, uint8_t value)
{
	meta(rule, key, NFT_REG32_00);
	cmp(rule, NFT_CMP_EQ, &value, 1);
}

static void match_payload(struct rule *rule, uint32_t base, uint32_t off, const void *value,
			  uint32_t len)
{
	payload(rule, base, off, len, NFT_REG32_00);
	cmp(rule, NFT_CMP_EQ, value, len);
}

static void match_ethertype(struct rule *rule, uint16_t proto)
{
	uint16_t be = htons(proto);
	match_payload(rule, NFT_PAYLOAD_LL_HEADER, 12, &be, 2);
}

static void match_ct_established(struct rule *rule)
{
	uint32_t bits = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED),
		 zero = 0;
	struct nftnl_expr *e = expr(rule, "ct");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG32_00);
	}
	add(rule, e);
	mask(rule, &bits, 4);
	cmp(rule, NFT_CMP_NEQ, &zero, 4);
}

/* Loads into consecutive registers: ifname (4 regs) then the given payload fields. */
struct field {
	uint32_t base, offset, len;
};

static void match_set(struct rule *rule, uint32_t ifkey, const struct field *fields, size_t n,
		      const struct set_spec *set, bool inverted)
{
	uint32_t reg = NFT_REG32_00;

	if (ifkey) {
		meta(rule, ifkey, reg);
		reg += IFNAMSZ / 4;
	}
	for (size_t i = 0; i < n; i++) {
		payload(rule, fields[i].base, fields[i].offset, fields[i].len, reg);
		reg += (fields[i].len + 3) / 4;
	}
	lookup(rule, set, inverted);
}

static void rule_commit(struct tk_nft_batch *b, int family, const char *chain, struct rule *rule)
{
	struct nlmsghdr *nlh;

	if (rule->oom) {
		b->oom = true;
	} else {
		nftnl_rule_set_str(rule->r, NFTNL_RULE_TABLE, TABLE);
		nftnl_rule_set_str(rule->r, NFTNL_RULE_CHAIN, chain);
		nftnl_rule_set_u32(rule->r, NFTNL_RULE_FAMILY, (uint32_t)family);
		nlh = batch_msg(b, NFT_MSG_NEWRULE, (uint16_t)family, NLM_F_CREATE | NLM_F_APPEND,
				"add rule to chain %s", chain);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, rule->r);
			batch_push(b, nlh);
		}
	}
	nftnl_rule_free(rule->r);
	rule->r = NULL;
}

#define RULE(b, family, chain, ...)                                                                \
	do {                                                                                       \
		struct rule _rule = { .r = nftnl_rule_alloc() };                                   \
		struct rule *R = &_rule;                                                           \
		if (!R->r) {                                                                       \
			(b)->oom = true;                                                           \
			break;                                                                     \
		}                                                                                  \
		__VA_ARGS__;                                                                       \
		rule_commit(b, family, chain, R);                                                  \
	} while (0)

/* ---- inet tenantkit: isolation between networks, access to the host, NAT ------------------ */

static const struct set_spec set_bridges = { "bridges", 1, TYPE_IFNAME, IFNAMSZ, 0, true };
static const struct set_spec set_links = { "links", 2, CONCAT2(TYPE_IFNAME, TYPE_IFNAME),
					   2 * IFNAMSZ, 0 };
static const struct set_spec set_gw4 = { "gw4", 3, CONCAT2(TYPE_IFNAME, TYPE_IPADDR), IFNAMSZ + 4,
					 0 };
static const struct set_spec set_gw6 = { "gw6", 4, CONCAT2(TYPE_IFNAME, TYPE_IP6ADDR), IFNAMSZ + 16,
					 0 };
static const struct set_spec set_nat_bridges = { "nat_bridges", 5, TYPE_IFNAME, IFNAMSZ, 0, true };

static const struct field ip4_saddr = { NFT_PAYLOAD_NETWORK_HEADER, 12, 4 };
static const struct field ip4_daddr = { NFT_PAYLOAD_NETWORK_HEADER, 16, 4 };
static const struct field ip6_saddr = { NFT_PAYLOAD_NETWORK_HEADER, 8, 16 };
static const struct field ip6_daddr = { NFT_PAYLOAD_NETWORK_HEADER, 24, 16 };

static void inet_table(struct tk_nft_batch *b)
{
	const int f = NFPROTO_INET;
	static const struct chain_spec forward = { "forward", "filter", NF_INET_FORWARD, 0 },
				       input = { "input", "filter", NF_INET_LOCAL_IN, 0 },
				       tenant_in = { "tenant_in", NULL, 0, 0 },
				       postrouting = { "postrouting", "nat", NF_INET_POST_ROUTING,
						       100 };
	const uint8_t icmp6_ns = 135, icmp6_na = 136;

	table_msg(b, f, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	set_add(b, f, &set_bridges);
	set_add(b, f, &set_links);
	set_add(b, f, &set_gw4);
	set_add(b, f, &set_gw6);
	set_add(b, f, &set_nat_bridges);
	chain_add(b, f, &forward);
	chain_add(b, f, &input);
	chain_add(b, f, &tenant_in);
	chain_add(b, f, &postrouting);

	/* iifname . oifname @links accept */
	RULE(b, f, "forward", meta(R, NFT_META_IIFNAME, NFT_REG32_00);
	     meta(R, NFT_META_OIFNAME, NFT_REG32_04); lookup(R, &set_links, false);
	     verdict(R, NF_ACCEPT, NULL));
	/* iifname @bridges oifname @bridges counter drop */
	RULE(b, f, "forward", match_set(R, NFT_META_IIFNAME, NULL, 0, &set_bridges, false);
	     match_set(R, NFT_META_OIFNAME, NULL, 0, &set_bridges, false); counter(R);
	     verdict(R, NF_DROP, NULL));
	/* oifname @bridges ct state established,related accept */
	RULE(b, f, "forward", match_set(R, NFT_META_OIFNAME, NULL, 0, &set_bridges, false);
	     match_ct_established(R); verdict(R, NF_ACCEPT, NULL));
	/* oifname @bridges counter drop: nothing from outside opens a connection to a tenant */
	RULE(b, f, "forward", match_set(R, NFT_META_OIFNAME, NULL, 0, &set_bridges, false);
	     counter(R); verdict(R, NF_DROP, NULL));

	/* iifname @bridges jump tenant_in */
	RULE(b, f, "input", match_set(R, NFT_META_IIFNAME, NULL, 0, &set_bridges, false);
	     verdict(R, NFT_JUMP, "tenant_in"));
	RULE(b, f, "tenant_in", match_ct_established(R); verdict(R, NF_ACCEPT, NULL));
	/* Neighbour discovery towards the gateway. */
	RULE(b, f, "tenant_in", match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	     match_payload(R, NFT_PAYLOAD_TRANSPORT_HEADER, 0, &icmp6_ns, 1);
	     verdict(R, NF_ACCEPT, NULL));
	RULE(b, f, "tenant_in", match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	     match_payload(R, NFT_PAYLOAD_TRANSPORT_HEADER, 0, &icmp6_na, 1);
	     verdict(R, NF_ACCEPT, NULL));
	/* meta l4proto icmp iifname . ip daddr @gw4 accept: a container may ping its gateway */
	RULE(b, f, "tenant_in", match_meta8(R, NFT_META_NFPROTO, NFPROTO_IPV4);
	     match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMP);
	     match_set(R, NFT_META_IIFNAME, &ip4_daddr, 1, &set_gw4, false);
	     verdict(R, NF_ACCEPT, NULL));
	RULE(b, f, "tenant_in", match_meta8(R, NFT_META_NFPROTO, NFPROTO_IPV6);
	     match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	     match_set(R, NFT_META_IIFNAME, &ip6_daddr, 1, &set_gw6, false);
	     verdict(R, NF_ACCEPT, NULL));
	RULE(b, f, "tenant_in", counter(R); verdict(R, NF_DROP, NULL));

	/*
	 * iifname @nat_bridges oifname != @bridges masquerade.  ip_output() and ip6_output() pass
	 * the input device to postrouting, so forwarded packets still carry it here.
	 */
	RULE(b, f, "postrouting", match_set(R, NFT_META_IIFNAME, NULL, 0, &set_nat_bridges, false);
	     match_set(R, NFT_META_OIFNAME, NULL, 0, &set_bridges, true); add(R, expr(R, "masq")));
}

/* ---- bridge tenantkit: what a container may send onto its network ------------------------- */

static const struct set_spec set_ports = { "ports", 11, TYPE_IFNAME, IFNAMSZ, 0, true };
static const struct set_spec set_port_mac = { "port_mac", 12, CONCAT2(TYPE_IFNAME, TYPE_ETHERADDR),
					      IFNAMSZ + 8, 0 };
static const struct set_spec set_port_ip4 = { "port_ip4", 13,
					      CONCAT3(TYPE_IFNAME, TYPE_IPADDR, TYPE_ETHERADDR),
					      IFNAMSZ + 4 + 8, 0 };
static const struct set_spec set_port_ip6 = { "port_ip6", 14,
					      CONCAT3(TYPE_IFNAME, TYPE_IP6ADDR, TYPE_ETHERADDR),
					      IFNAMSZ + 16 + 8, 0 };
static const struct set_spec set_ports6 = { "ports6", 15, TYPE_IFNAME, IFNAMSZ, 0, true };

static const struct field ether_saddr = { NFT_PAYLOAD_LL_HEADER, 6, 6 };

/* ICMPv6 message types (RFC 4861, RFC 3810). */
enum { ND_RA = 134, ND_NS = 135, ND_NA = 136, ND_REDIRECT = 137, MLD2_REPORT = 143 };

static void match_icmp6_type(struct rule *rule, uint8_t type)
{
	match_ethertype(rule, ETH_P_IPV6);
	match_meta8(rule, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	match_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 0, &type, 1);
}

/*
 * chain na: a neighbour advertisement may only speak for the port itself.  Its target must be
 * one of the port's addresses (its link-local one included) and a target link-layer address
 * option, if any, must be the port's MAC; otherwise a container could take over a neighbour's
 * address (or send a neighbour's MAC for its own) in every neighbour cache.  The kernel uses the
 * first such option and skips unknown ones, so the only accepted layouts are "no option" and
 * "exactly one, the target link-layer address", without extension headers.  Good
 * advertisements return to prerouting, which still checks their source address.
 */
static void bridge_na_chain(struct tk_nft_batch *b)
{
	const int f = NFPROTO_BRIDGE;
	const uint8_t icmp6 = IPPROTO_ICMPV6, tlla_opt[2] = { 2, 1 };
	const uint16_t len_bare = htons(24), len_tlla = htons(32);
	const struct field target_mac[] = { { NFT_PAYLOAD_TRANSPORT_HEADER, 8, 16 }, ether_saddr },
			   target_tlla[] = { { NFT_PAYLOAD_TRANSPORT_HEADER, 8, 16 },
					     { NFT_PAYLOAD_TRANSPORT_HEADER, 26, 6 } };

#define NA(...) RULE(b, f, "na", __VA_ARGS__)
	/* ip6 nexthdr != ipv6-icmp counter drop: the lengths below would not add up */
	NA(payload(R, NFT_PAYLOAD_NETWORK_HEADER, 6, 1, NFT_REG32_00);
	   cmp(R, NFT_CMP_NEQ, &icmp6, 1); counter(R); verdict(R, NF_DROP, NULL));
	/* ip6 length 24 iifname . @th,64,128 . ether saddr @port_ip6 return */
	NA(match_payload(R, NFT_PAYLOAD_NETWORK_HEADER, 4, &len_bare, 2);
	   match_set(R, NFT_META_IIFNAME, target_mac, 2, &set_port_ip6, false);
	   verdict(R, NFT_RETURN, NULL));
	/* ip6 length 32 @th,192,16 0x0201 iifname . @th,64,128 . @th,208,48 @port_ip6 return */
	NA(match_payload(R, NFT_PAYLOAD_NETWORK_HEADER, 4, &len_tlla, 2);
	   match_payload(R, NFT_PAYLOAD_TRANSPORT_HEADER, 24, tlla_opt, 2);
	   match_set(R, NFT_META_IIFNAME, target_tlla, 2, &set_port_ip6, false);
	   verdict(R, NFT_RETURN, NULL));
	NA(counter(R); verdict(R, NF_DROP, NULL));
#undef NA
}

static void bridge_table(struct tk_nft_batch *b)
{
	const int f = NFPROTO_BRIDGE;
	static const struct chain_spec prerouting = { "prerouting", "filter", NF_BR_PRE_ROUTING,
						      -300 },
				       na_chain = { "na", NULL, 0, 0 };
	static const struct field arp_spa_sha[] = { { NFT_PAYLOAD_NETWORK_HEADER, 14, 4 },
						    { NFT_PAYLOAD_NETWORK_HEADER, 8, 6 } };
	const struct field ip4_src[] = { ip4_saddr, ether_saddr },
			   ip6_src[] = { ip6_saddr, ether_saddr },
			   ns_target[] = { { NFT_PAYLOAD_TRANSPORT_HEADER, 8, 16 }, ether_saddr };
	/* htype 1 (ethernet), ptype 0x0800, hlen 6, plen 4: the only ARP whose fields we check */
	static const uint8_t arp_eth_ip4[6] = { 0, 1, 8, 0, 6, 4 };
	const uint16_t dhcp4_server = htons(67), dhcp6_server = htons(547);
	static const uint8_t unspecified[16],
		all_mld2_routers[16] = { 0xff, 0x02, [15] = 0x16 };

	table_msg(b, f, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	set_add(b, f, &set_ports);
	set_add(b, f, &set_port_mac);
	set_add(b, f, &set_port_ip4);
	set_add(b, f, &set_port_ip6);
	set_add(b, f, &set_ports6);
	chain_add(b, f, &prerouting);
	chain_add(b, f, &na_chain);
	bridge_na_chain(b);

#define PRE(...) RULE(b, f, "prerouting", __VA_ARGS__)
	/*
	 * iifname "tkv*" iifname != @ports counter drop: a tenantkit veth whose endpoint is gone
	 * (being deleted, or left by a crash until reconcile) may not send anything.
	 */
	PRE(meta(R, NFT_META_IIFNAME, NFT_REG32_00); cmp(R, NFT_CMP_EQ, "tkv", 3);
	    match_set(R, NFT_META_IIFNAME, NULL, 0, &set_ports, true); counter(R);
	    verdict(R, NF_DROP, NULL));
	/* iifname != @ports accept: only container ports are policed */
	PRE(match_set(R, NFT_META_IIFNAME, NULL, 0, &set_ports, true); verdict(R, NF_ACCEPT, NULL));
	/* iifname . ether saddr != @port_mac counter drop */
	PRE(match_set(R, NFT_META_IIFNAME, &ether_saddr, 1, &set_port_mac, true); counter(R);
	    verdict(R, NF_DROP, NULL));
	/* ether type arp: sender addresses must be the port's own */
	PRE(match_ethertype(R, ETH_P_ARP);
	    match_payload(R, NFT_PAYLOAD_NETWORK_HEADER, 0, arp_eth_ip4, 6);
	    match_set(R, NFT_META_IIFNAME, arp_spa_sha, 2, &set_port_ip4, false);
	    verdict(R, NF_ACCEPT, NULL));
	PRE(match_ethertype(R, ETH_P_ARP); counter(R); verdict(R, NF_DROP, NULL));
	/* IPv4: no DHCP server, and only the port's own source address */
	PRE(match_ethertype(R, ETH_P_IP); match_meta8(R, NFT_META_L4PROTO, IPPROTO_UDP);
	    match_payload(R, NFT_PAYLOAD_TRANSPORT_HEADER, 0, &dhcp4_server, 2); counter(R);
	    verdict(R, NF_DROP, NULL));
	PRE(match_ethertype(R, ETH_P_IP);
	    match_set(R, NFT_META_IIFNAME, ip4_src, 2, &set_port_ip4, false);
	    verdict(R, NF_ACCEPT, NULL));
	PRE(match_ethertype(R, ETH_P_IP); counter(R); verdict(R, NF_DROP, NULL));
	/* ether type ip6 iifname != @ports6 counter drop: an IPv4-only network carries no IPv6 */
	PRE(match_ethertype(R, ETH_P_IPV6);
	    match_set(R, NFT_META_IIFNAME, NULL, 0, &set_ports6, true); counter(R);
	    verdict(R, NF_DROP, NULL));
	/* IPv6: no router advertisements, redirects or DHCPv6 server */
	PRE(match_icmp6_type(R, ND_RA); counter(R); verdict(R, NF_DROP, NULL));
	PRE(match_icmp6_type(R, ND_REDIRECT); counter(R); verdict(R, NF_DROP, NULL));
	PRE(match_ethertype(R, ETH_P_IPV6); match_meta8(R, NFT_META_L4PROTO, IPPROTO_UDP);
	    match_payload(R, NFT_PAYLOAD_TRANSPORT_HEADER, 0, &dhcp6_server, 2); counter(R);
	    verdict(R, NF_DROP, NULL));
	/* icmpv6 type nd-neighbor-advert jump na */
	PRE(match_icmp6_type(R, ND_NA); verdict(R, NFT_JUMP, "na"));
	/* Own address (global or the link-local one netd recorded) and own MAC. */
	PRE(match_ethertype(R, ETH_P_IPV6);
	    match_set(R, NFT_META_IIFNAME, ip6_src, 2, &set_port_ip6, false);
	    verdict(R, NF_ACCEPT, NULL));
	/*
	 * From :: only duplicate address detection of the port's own addresses, and the MLDv2
	 * reports a host sends while its link-local address is still tentative (RFC 3810 5.2.13).
	 */
	PRE(match_icmp6_type(R, ND_NS);
	    match_payload(R, NFT_PAYLOAD_NETWORK_HEADER, 8, unspecified, 16);
	    match_set(R, NFT_META_IIFNAME, ns_target, 2, &set_port_ip6, false);
	    verdict(R, NF_ACCEPT, NULL));
	PRE(match_icmp6_type(R, MLD2_REPORT);
	    match_payload(R, NFT_PAYLOAD_NETWORK_HEADER, 8, unspecified, 16);
	    match_payload(R, NFT_PAYLOAD_NETWORK_HEADER, 24, all_mld2_routers, 16);
	    verdict(R, NF_ACCEPT, NULL));
	PRE(match_ethertype(R, ETH_P_IPV6); counter(R); verdict(R, NF_DROP, NULL));
	/* Any other ethertype (VLAN tags, STP, LLDP, ...) stays on the container's side. */
	PRE(counter(R); verdict(R, NF_DROP, NULL));
#undef PRE
}

/* ---- batches ---------------------------------------------------------------------------- */

int tk_nft_batch_new(struct tk_nft *nft, bool replace_tables, struct tk_nft_batch **ret,
		     tk_err *err)
{
	struct tk_nft_batch *b = calloc(1, sizeof(*b));
	char *at;

	if (!b)
		return tk_err_set(err, -ENOMEM, "out of memory");
	b->nft = nft;
	b->first_seq = nft->seq;
	at = batch_reserve(b);
	if (at)
		batch_push(b, nftnl_batch_begin(at, nft->seq++));
	if (replace_tables) {
		/* Adding first makes the delete succeed whether or not the table exists. */
		for (int i = 0; i < 2; i++) {
			int family = i ? NFPROTO_BRIDGE : NFPROTO_INET;
			table_msg(b, family, NFT_MSG_NEWTABLE, NLM_F_CREATE);
			table_msg(b, family, NFT_MSG_DELTABLE, 0);
		}
		inet_table(b);
		bridge_table(b);
	}
	if (b->oom) {
		tk_nft_batch_free(b);
		return tk_err_set(err, -ENOMEM, "out of memory building the nftables batch");
	}
	*ret = b;
	return 0;
}

struct tk_nft_batch *tk_nft_batch_free(struct tk_nft_batch *b)
{
	if (b) {
		free(b->buf);
		free(b->labels);
		free(b);
	}
	return NULL;
}

static void elem_msg(struct tk_nft_batch *b, int family, const struct set_spec *set, uint16_t type,
		     const void *key, size_t len, const char *shown)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh;

	if (!s || !e) {
		nftnl_set_elem_free(e);
		b->oom = true;
		return;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)family);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)len);
	nftnl_set_elem_add(s, e); /* s owns e now */
	nlh = batch_msg(b, type, (uint16_t)family, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0,
			"%s %s in set %s", type == NFT_MSG_NEWSETELEM ? "add" : "delete", shown,
			set->name);
	if (!nlh)
		return;
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	batch_push(b, nlh);
}

/* Adds, or deletes idempotently: adding first means a missing element is not an error. */
static int element(struct tk_nft_batch *b, int family, const struct set_spec *set, bool add,
		   const void *key, size_t len, const char *shown, tk_err *err)
{
	elem_msg(b, family, set, NFT_MSG_NEWSETELEM, key, len, shown);
	if (!add)
		elem_msg(b, family, set, NFT_MSG_DELSETELEM, key, len, shown);
	if (b->oom)
		return tk_err_set(err, -ENOMEM, "out of memory building the nftables batch");
	return 0;
}

static int ifname_key(uint8_t *key, const char *ifname, tk_err *err)
{
	size_t n = strlen(ifname);

	if (n == 0 || n >= IFNAMSZ)
		return tk_err_set(err, -EINVAL, "invalid interface name '%s'", ifname);
	memset(key, 0, IFNAMSZ);
	memcpy(key, ifname, n);
	return 0;
}

static size_t addr_len(const struct tk_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

int tk_nft_batch_bridge(struct tk_nft_batch *b, bool add, const char *bridge, bool nat, tk_err *err)
{
	uint8_t key[IFNAMSZ];
	int r;

	if ((r = ifname_key(key, bridge, err)) < 0 ||
	    (r = element(b, NFPROTO_INET, &set_bridges, add, key, sizeof(key), bridge, err)) < 0)
		return r;
	if (nat && (r = element(b, NFPROTO_INET, &set_nat_bridges, add, key, sizeof(key), bridge,
				err)) < 0)
		return r;
	/*
	 * With br_netfilter loaded, frames bridged between two ports of one network also pass the
	 * inet forward hook, with the bridge as both input and output interface.
	 */
	return tk_nft_batch_link(b, add, bridge, bridge, err);
}

int tk_nft_batch_link(struct tk_nft_batch *b, bool add, const char *bridge_a, const char *bridge_b,
		      tk_err *err)
{
	uint8_t ab[2 * IFNAMSZ], ba[2 * IFNAMSZ];
	int r;

	if ((r = ifname_key(ab, bridge_a, err)) < 0 ||
	    (r = ifname_key(ab + IFNAMSZ, bridge_b, err)) < 0)
		return r;
	memcpy(ba, ab + IFNAMSZ, IFNAMSZ);
	memcpy(ba + IFNAMSZ, ab, IFNAMSZ);
	if ((r = element(b, NFPROTO_INET, &set_links, add, ab, sizeof(ab), bridge_a, err)) < 0)
		return r;
	return element(b, NFPROTO_INET, &set_links, add, ba, sizeof(ba), bridge_b, err);
}

int tk_nft_batch_gateway(struct tk_nft_batch *b, bool add, const char *bridge,
			 const struct tk_addr *gateway, tk_err *err)
{
	uint8_t key[IFNAMSZ + 16];
	char shown[TK_ADDR_STRLEN];
	int r;

	if ((r = ifname_key(key, bridge, err)) < 0)
		return r;
	memcpy(key + IFNAMSZ, gateway->bytes, addr_len(gateway));
	return element(b, NFPROTO_INET, gateway->family == AF_INET ? &set_gw4 : &set_gw6, add, key,
		       IFNAMSZ + addr_len(gateway), tk_addr_format(gateway, shown, sizeof(shown)),
		       err);
}

int tk_nft_batch_port(struct tk_nft_batch *b, bool add, const char *host_ifname,
		      const uint8_t mac[6], const struct tk_addr *addrs, size_t n_addrs,
		      tk_err *err)
{
	uint8_t key[IFNAMSZ + 16 + 8];
	char shown[64], a[TK_ADDR_STRLEN];
	int r;

	if ((r = ifname_key(key, host_ifname, err)) < 0)
		return r;
	if ((r = element(b, NFPROTO_BRIDGE, &set_ports, add, key, IFNAMSZ, host_ifname, err)) < 0)
		return r;
	memset(key + IFNAMSZ, 0, sizeof(key) - IFNAMSZ);
	memcpy(key + IFNAMSZ, mac, 6);
	if ((r = element(b, NFPROTO_BRIDGE, &set_port_mac, add, key, IFNAMSZ + 8, host_ifname,
			 err)) < 0)
		return r;
	for (size_t i = 0; i < n_addrs; i++) {
		if (addrs[i].family != AF_INET6)
			continue;
		/* A port with an IPv6 address may send IPv6 at all. */
		memset(key + IFNAMSZ, 0, sizeof(key) - IFNAMSZ);
		if ((r = element(b, NFPROTO_BRIDGE, &set_ports6, add, key, IFNAMSZ, host_ifname,
				 err)) < 0)
			return r;
		break;
	}
	for (size_t i = 0; i < n_addrs; i++) {
		size_t alen = addr_len(&addrs[i]);
		memset(key + IFNAMSZ, 0, sizeof(key) - IFNAMSZ);
		memcpy(key + IFNAMSZ, addrs[i].bytes, alen);
		memcpy(key + IFNAMSZ + alen, mac, 6);
		snprintf(shown, sizeof(shown), "%s . %s", host_ifname,
			 tk_addr_format(&addrs[i], a, sizeof(a)));
		r = element(b, NFPROTO_BRIDGE,
			    addrs[i].family == AF_INET ? &set_port_ip4 : &set_port_ip6, add, key,
			    IFNAMSZ + alen + 8, shown, err);
		if (r < 0)
			return r;
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


/*
 * A batch is one datagram, so the send buffer must hold all of it: a rebuild grows with the
 * number of endpoints (some 190 bytes per element).  Like nftables' mnl_set_sndbuffer(), raise
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
		return tk_err_set(err, -errno, "cannot size the nftables send buffer to %d bytes: %m",
				  want);
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
	while ((got = recv(mnl_socket_get_fd(b->nft->sock), rx, sizeof(rx), MSG_DONTWAIT)) > 0) {
		int left = (int)got; /* mnl_nlmsg_next() counts down an int */

		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)rx;
		     mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			char extack[160];

			if (nlh->nlmsg_type != NLMSG_ERROR || e->error == 0 || first_error)
				continue;
			first_error = e->error;
			tk_netlink_extack(nlh, extack, sizeof(extack));
			tk_err_set(err, e->error, "nftables: %s: %s%s%s%s", label_of(b, nlh->nlmsg_seq),
				   strerror(-e->error), extack[0] ? " (" : "", extack,
				   extack[0] ? ")" : "");
		}
	}
	if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && !first_error)
		return tk_err_set(err, -errno, "cannot read nftables replies: %m");
	return first_error;
}

int tk_nft_tables_delete(struct tk_nft *nft, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	int r;

	if ((r = tk_nft_batch_new(nft, false, &b, err)) < 0)
		return r;
	for (int i = 0; i < 2; i++) {
		int family = i ? NFPROTO_BRIDGE : NFPROTO_INET;
		table_msg(b, family, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		table_msg(b, family, NFT_MSG_DELTABLE, 0);
	}
	if (b->oom)
		return tk_err_set(err, -ENOMEM, "out of memory building the nftables batch");
	return tk_nft_batch_commit(b, err);
}
