/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The nftables mechanism: batches of tables, sets, chains, rules and set elements, built with
 * libnftnl (only nft.c includes it) and sent with libmnl.  Which rules and sets exist, and why,
 * is netd's policy (netd/firewall.c); this module only knows how to express and send them.  It
 * touches no table but the three named "tenantkit" (families inet, bridge and netdev).
 *
 * Each logical operation is one batch, which the kernel applies atomically.  Vocabulary for
 * rules (NFT_META_*, NFT_PAYLOAD_*, NFT_CMP_*, NF_ACCEPT, ...) is the kernel's, from
 * <linux/netfilter/nf_tables.h>.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "cleanup.h"
#include "err.h"

struct tk_nft;
struct tk_nft_batch;
struct tk_nft_rule;

int tk_nft_open(struct tk_nft **ret, tk_err *err);
/* A handle that builds batches but has no socket: commit fails with -ENOTCONN (unit tests). */
int tk_nft_open_offline(struct tk_nft **ret, tk_err *err);
struct tk_nft *tk_nft_close(struct tk_nft *nft);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tk_nft *, tk_nft_close);

/* ---- declarations the policy hands to the mechanism ------------------------------------- */

/*
 * Set key components.  In a concatenated key every component starts on a 4-byte boundary, as
 * the kernel lays out registers: an ifname takes 16 bytes, an ether address 8.
 */
enum tk_nft_type {
	TK_NFT_IFNAME,
	TK_NFT_IPV4,
	TK_NFT_IPV6,
	TK_NFT_ETHER,
	TK_NFT_L4PROTO, /* meta l4proto: value.u32 (IPPROTO_TCP, ...) in the first byte */
	TK_NFT_PORT,	/* th dport and the like: value.u32, sent in network byte order */
	_TK_NFT_TYPE_MAX,
	_TK_NFT_TYPE_INVALID = -EINVAL,
};

#define TK_NFT_KEY_MAX 3

struct tk_nft_set {
	const char *name;
	uint32_t
		id; /* unique within a table: rules refer to a set created in the same batch by it */
	int family; /* NFPROTO_INET or NFPROTO_BRIDGE */
	enum tk_nft_type key[TK_NFT_KEY_MAX];
	unsigned n_key;
	/* A map when n_data > 0: each element also carries data of these components. */
	enum tk_nft_type data[2];
	unsigned n_data;
	/*
	 * A meter (tk_nft_meter_limit): flags NFT_SET_EVAL | NFT_SET_TIMEOUT, elements that expire
	 * timeout_ms after their last packet, at most size of them.  0 for a plain set or map.
	 */
	uint32_t flags;
	uint64_t timeout_ms;
	uint32_t size;
	/*
	 * Each element counts the packets and bytes of the lookups that find it (nft's `counter`
	 * flag on a set).  An inverted lookup (`!= @set`) that finds the element does not count.
	 */
	bool counter;
};

struct tk_nft_chain {
	const char *name;
	int family;
	const char *type; /* "filter", "nat", ...; NULL for a regular chain (a jump target) */
	uint32_t hook;
	int32_t prio; /* base chains have policy accept */
};

/* One component of an element's key; which member is read follows the set's key type. */
union tk_nft_value {
	const char *ifname;
	const struct tk_addr *addr;
	const uint8_t *mac; /* 6 bytes */
	uint32_t u32;	    /* TK_NFT_L4PROTO, TK_NFT_PORT */
};

/* ---- batches ------------------------------------------------------------------------------ */

int tk_nft_batch_new(struct tk_nft *nft, struct tk_nft_batch **ret, tk_err *err);
struct tk_nft_batch *tk_nft_batch_free(struct tk_nft_batch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tk_nft_batch *, tk_nft_batch_free);

/*
 * Table operations.  Deleting adds the table first, so it works whether or not the table
 * exists; "delete then add" in one batch replaces a table (and everything in it) atomically.
 */
void tk_nft_batch_table_add(struct tk_nft_batch *b, int family);
void tk_nft_batch_table_delete(struct tk_nft_batch *b, int family);
void tk_nft_batch_set_add(struct tk_nft_batch *b, const struct tk_nft_set *set);
void tk_nft_batch_chain_add(struct tk_nft_batch *b, const struct tk_nft_chain *chain);

/*
 * add=true adds an element; add=false removes it, and removing an element that does not exist
 * is not an error (the batch adds, then deletes it), so undo and retries are idempotent.
 * key holds set->n_key components.
 */
int tk_nft_batch_element(struct tk_nft_batch *b, const struct tk_nft_set *set, bool add,
			 const union tk_nft_value *key, tk_err *err);

/*
 * The same for a map: data holds map->n_data components, also when removing (the element is
 * added first, and the kernel refuses to add a key it holds with other data: -EBUSY).
 */
int tk_nft_batch_map_element(struct tk_nft_batch *b, const struct tk_nft_set *map, bool add,
			     const union tk_nft_value *key, const union tk_nft_value *data,
			     tk_err *err);

/*
 * Sends the batch and waits for every ack; extack text and the failing object go into err.  An
 * allocation that failed while the batch was built (tables, sets, chains, rules) surfaces here
 * as -ENOMEM, and nothing is sent.
 */
int tk_nft_batch_commit(struct tk_nft_batch *b, tk_err *err);

/*
 * The first error among the kernel's replies to b in buf, named after the object it is about
 * ("add tkv00000001 . fd7e::2 . 02:00:00:00:00:02 in set port_ip6") with the kernel's extack
 * text; 0 if there is none.  commit reads its replies with it.
 */
int tk_nft_batch_replies(const struct tk_nft_batch *b, const void *buf, size_t len, tk_err *err);

/* Writes one line per message of the batch, rules and elements in libnftnl's text form. */
int tk_nft_batch_dump(struct tk_nft_batch *b, FILE *f, tk_err *err);

/* ---- reading element counters (sets with .counter) ---------------------------------------- */

struct tk_nft_counter {
	uint64_t packets, bytes;
};

/*
 * Calls cb for each element of set, which must be keyed by one interface name, with the name and
 * its counter; stops and returns cb's value if < 0.  -ENOENT when the table or the set does not
 * exist (netd not started yet, or an older ruleset).
 */
typedef int (*tk_nft_counter_cb)(const char *ifname, const struct tk_nft_counter *c,
				 void *userdata);
int tk_nft_set_counters(struct tk_nft *nft, const struct tk_nft_set *set, tk_nft_counter_cb cb,
			void *userdata, tk_err *err);
/* The counter of the element key (set->n_key components) of set; -ENOENT when there is none. */
int tk_nft_element_counter(struct tk_nft *nft, const struct tk_nft_set *set,
			   const union tk_nft_value *key, struct tk_nft_counter *ret, tk_err *err);

/* Deletes both tenantkit tables if they exist (tests, `netd --uninstall`). */
int tk_nft_tables_delete(struct tk_nft *nft, tk_err *err);

/* ---- rules: expressions appended in order; loads fill registers, matches read register 0 -- */

/* A payload field: base (NFT_PAYLOAD_LL/NETWORK/TRANSPORT_HEADER), offset and length in bytes. */
struct tk_nft_field {
	uint32_t base, offset, len;
};

/* The batch holds one rule under construction; end appends it to the batch. */
struct tk_nft_rule *tk_nft_rule_begin(struct tk_nft_batch *b, const struct tk_nft_chain *chain);
void tk_nft_rule_end(struct tk_nft_rule *r);

void tk_nft_meta(struct tk_nft_rule *r, uint32_t key, uint32_t dreg);
void tk_nft_payload(struct tk_nft_rule *r, const struct tk_nft_field *field, uint32_t dreg);
void tk_nft_cmp(struct tk_nft_rule *r, uint32_t op, const void *data, uint32_t len);
void tk_nft_mask(struct tk_nft_rule *r, const void *bits, uint32_t len);
void tk_nft_ct_state(struct tk_nft_rule *r, uint32_t dreg);
void tk_nft_lookup(struct tk_nft_rule *r, const struct tk_nft_set *set, bool inverted);
void tk_nft_counter(struct tk_nft_rule *r);
void tk_nft_masquerade(struct tk_nft_rule *r);
/* Looks register 0 up in map and loads the element's data into dreg (no element: no match). */
void tk_nft_map_lookup(struct tk_nft_rule *r, const struct tk_nft_set *map, uint32_t dreg);
/* ct key (NFT_CT_STATUS, ...) into dreg. */
void tk_nft_ct(struct tk_nft_rule *r, uint32_t key, uint32_t dreg);
/* fib daddr (NFTA_FIB_F_DADDR) or saddr type into dreg: a u32 RTN_* (RTN_LOCAL, ...). */
void tk_nft_fib_type(struct tk_nft_rule *r, uint32_t flags, uint32_t dreg);
/*
 * dnat or snat (NFT_NAT_DNAT/SNAT) of family (NFPROTO_IPV4/IPV6) to the address in reg_addr
 * and, unless reg_proto is 0, the port in reg_proto.
 */
void tk_nft_nat(struct tk_nft_rule *r, uint32_t type, uint32_t family, uint32_t reg_addr,
		uint32_t reg_proto);
/*
 * notrack: conntrack leaves the packet alone (its state reads "untracked") in every hook after
 * this one, br_netfilter's trip through the inet hooks included.
 */
void tk_nft_notrack(struct tk_nft_rule *r);
/* fib daddr oifname: the name of the interface the route to the destination leaves by. */
void tk_nft_fib_daddr_oifname(struct tk_nft_rule *r, uint32_t dreg);
/* limit rate RATE/second burst BURST packets: over the rate the rule stops here (no match). */
void tk_nft_limit(struct tk_nft_rule *r, uint64_t rate, uint32_t burst);
/*
 * update @meter { register 0 limit rate RATE/second burst BURST packets }: the same limit, kept
 * per key (register 0 holds the key, e.g. meta iifname), so one key cannot use up another's.
 */
void tk_nft_meter_limit(struct tk_nft_rule *r, const struct tk_nft_set *meter, uint64_t rate,
			uint32_t burst);
/* log group GROUP prefix PREFIX snaplen SNAPLEN: the packet to nfnetlink_log's group. */
void tk_nft_log(struct tk_nft_rule *r, uint16_t group, const char *prefix, uint32_t snaplen);
/* NF_ACCEPT, NF_DROP, NFT_RETURN, or NFT_JUMP with a chain name. */
void tk_nft_verdict(struct tk_nft_rule *r, int verdict, const char *chain);

/* Shorthands: a meta key or payload field equal to a value, an ethertype. */
void tk_nft_match_meta8(struct tk_nft_rule *r, uint32_t key, uint8_t value);
void tk_nft_match_payload(struct tk_nft_rule *r, const struct tk_nft_field *field,
			  const void *value);
void tk_nft_match_ethertype(struct tk_nft_rule *r, uint16_t proto);
/*
 * ifkey (NFT_META_IIFNAME/OIFNAME, or 0 for none) then the fields, loaded into consecutive
 * registers as a concatenation, looked up in set (or its complement if inverted).
 */
void tk_nft_match_set(struct tk_nft_rule *r, uint32_t ifkey, const struct tk_nft_field *fields,
		      size_t n_fields, const struct tk_nft_set *set, bool inverted);
