/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The firewall policy: which tables, sets, chains and rules netd keeps, and which set elements
 * a network, a link or an endpoint stands for.  lib/nft.c is the mechanism that expresses and
 * sends them.  docs/firewall.md shows the same ruleset in nft syntax; keep the two in step.
 *
 * The rules are fixed and isolation is set lookups, so a packet costs the same few hash lookups
 * however many containers run, and every change is one batch of element changes, applied
 * atomically by the kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_bridge.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fastpath.h"
#include "log.h"
#include "netd.h"
#include "nft.h"
#include "nl.h"
#include "prom.h"
#include "tc.h"

/* One rule: R is the rule under construction inside the braces. */
#define RULE(b, chain, ...)                                                                        \
	do {                                                                                       \
		struct tk_nft_rule *R = tk_nft_rule_begin(b, chain);                               \
		__VA_ARGS__;                                                                       \
		tk_nft_rule_end(R);                                                                \
	} while (0)

enum { IFNAME = TK_NFT_IFNAME, IPV4 = TK_NFT_IPV4, IPV6 = TK_NFT_IPV6, ETHER = TK_NFT_ETHER };
enum { IIF = NFT_META_IIFNAME, OIF = NFT_META_OIFNAME };
#define NH NFT_PAYLOAD_NETWORK_HEADER
#define TH NFT_PAYLOAD_TRANSPORT_HEADER

/* ---- inet tenantkit: isolation between networks, access to the host, NAT ------------------ */

static const struct tk_nft_set set_bridges = { "bridges", 1, NFPROTO_INET, { IFNAME }, 1 },
			       set_links = { "links", 2, NFPROTO_INET, { IFNAME, IFNAME }, 2 },
			       set_gw4 = { "gw4", 3, NFPROTO_INET, { IFNAME, IPV4 }, 2 },
			       set_gw6 = { "gw6", 4, NFPROTO_INET, { IFNAME, IPV6 }, 2 },
			       set_nat_bridges = { "nat_bridges", 5, NFPROTO_INET, { IFNAME }, 1 },
			       set_internal = {
				       "internal_bridges", 6, NFPROTO_INET, { IFNAME }, 1
			       };

/* Overlay (netd/overlay.c): this host's underlay address, and the cluster members' (hosts/). */
static const struct tk_nft_set
	set_overlay_local4 = { "overlay_local4", 51, NFPROTO_INET, { IPV4 }, 1 },
	set_overlay_local6 = { "overlay_local6", 52, NFPROTO_INET, { IPV6 }, 1 },
	set_overlay_peers4 = { "overlay_peers4", 53, NFPROTO_INET, { IPV4 }, 1 },
	set_overlay_peers6 = { "overlay_peers6", 54, NFPROTO_INET, { IPV6 }, 1 };

static const struct tk_nft_chain forward = { "forward", NFPROTO_INET, "filter", NF_INET_FORWARD,
					     0 },
				 input = { "input", NFPROTO_INET, "filter", NF_INET_LOCAL_IN, 0 },
				 tenant_in = { "tenant_in", NFPROTO_INET, NULL, 0, 0 },
				 postrouting = { "postrouting", NFPROTO_INET, "nat",
						 NF_INET_POST_ROUTING, 100 },
				 /* before conntrack (-200): raw */
	underlay_in = { "underlay_in", NFPROTO_INET, "filter", NF_INET_PRE_ROUTING, -300 },
				 underlay_out = { "underlay_out", NFPROTO_INET, "filter",
						  NF_INET_LOCAL_OUT, -300 };

static const struct tk_nft_field ip4_saddr = { NH, 12, 4 }, ip4_daddr = { NH, 16, 4 },
				 ip6_saddr = { NH, 8, 16 }, ip6_daddr = { NH, 24, 16 };

/* ct state established,related */
static void match_ct_established(struct tk_nft_rule *R)
{
	const uint32_t bits = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED),
		       zero = 0;

	tk_nft_ct_state(R, NFT_REG32_00);
	tk_nft_mask(R, &bits, 4);
	tk_nft_cmp(R, NFT_CMP_NEQ, &zero, 4);
}

static void match_published(struct tk_nft_rule *R);

/*
 * ---- the drop log (netd/droplog.c, docs/firewall.md) ----
 * A drop rule jumps to the chain of its reason, which logs the packet to netd's nflog group,
 * at most DROPLOG_PORT_RATE a second per input interface and DROPLOG_RATE a second in all per
 * reason, then drops it (counted).  Packets that are not dropped never get here.
 */
static const struct tk_nft_chain drop_spoofing = { "drop_spoofing", NFPROTO_BRIDGE, NULL, 0, 0 },
				 drop_isolation = { "drop_isolation", NFPROTO_INET, NULL, 0, 0 },
				 drop_host = { "drop_host", NFPROTO_INET, NULL, 0, 0 };
/* Rate meters per input interface: an element per interface, gone a minute after its last drop. */
static const struct tk_nft_set meter_bridge = { .name = "droplog_ports",
						.id = 91,
						.family = NFPROTO_BRIDGE,
						.key = { IFNAME },
						.n_key = 1,
						.flags = NFT_SET_EVAL | NFT_SET_TIMEOUT,
						.timeout_ms = 60000,
						.size = DROPLOG_METER_SIZE },
			       meter_inet = { .name = "droplog_ifaces",
					      .id = 92,
					      .family = NFPROTO_INET,
					      .key = { IFNAME },
					      .n_key = 1,
					      .flags = NFT_SET_EVAL | NFT_SET_TIMEOUT,
					      .timeout_ms = 60000,
					      .size = DROPLOG_METER_SIZE };

/*
 * Drops by reason (docs/accounting.md) are counted in the reason's chain, the one place they all
 * pass: an element per bridge in @isolation_drops, per container port in @spoof_drops, whose
 * counter moves when the chain's lookup finds it.  Accepted traffic never looks these sets up.
 * drop_host's drops count as isolation.
 */
static const struct tk_nft_set set_isolation_drops = { .name = "isolation_drops",
						       .id = 71,
						       .family = NFPROTO_INET,
						       .key = { IFNAME },
						       .n_key = 1,
						       .counter = true },
			       set_spoof_drops = { .name = "spoof_drops",
						   .id = 72,
						   .family = NFPROTO_BRIDGE,
						   .key = { IFNAME },
						   .n_key = 1,
						   .counter = true };

/*
 * [meta pkttype host] update @meter { iifname limit rate 10/second burst 20 packets }
 *     limit rate 100/second burst 200 packets log group G prefix "tk-drop REASON"
 * iifname @counted drop
 * [oifname @counted drop]
 * counter drop
 * The meter comes first, so that a flooding interface spends only its own budget.  unicast:
 * only packets addressed to this host are logged (a container's kernel solicits routers and
 * reports multicast groups to the host whenever its link comes up, which is no attack).
 * Counted for the port or network the packet came from, else (isolation: from outside) for the
 * one it was going to; the last rule drops what no element names (an endpoint being deleted).
 */
static void drop_chain(struct tk_nft_batch *b, const struct tk_nft_chain *chain,
		       const struct tk_nft_set *meter, const char *prefix, bool unicast,
		       const struct tk_nft_set *counted, bool by_oif)
{
	const int group = droplog_group();

	tk_nft_batch_chain_add(b, chain);
	if (group >= 0)
		RULE(b, chain, if (unicast) tk_nft_match_meta8(R, NFT_META_PKTTYPE, PACKET_HOST);
		     tk_nft_meta(R, IIF, NFT_REG32_00);
		     tk_nft_meter_limit(R, meter, DROPLOG_PORT_RATE, DROPLOG_PORT_BURST);
		     tk_nft_limit(R, DROPLOG_RATE, DROPLOG_BURST);
		     tk_nft_log(R, (uint16_t)group, prefix, DROPLOG_SNAPLEN));
	RULE(b, chain, tk_nft_match_set(R, IIF, NULL, 0, counted, false);
	     tk_nft_verdict(R, NF_DROP, NULL));
	if (by_oif)
		RULE(b, chain, tk_nft_match_set(R, OIF, NULL, 0, counted, false);
		     tk_nft_verdict(R, NF_DROP, NULL));
	RULE(b, chain, tk_nft_counter(R); tk_nft_verdict(R, NF_DROP, NULL));
}

static void drop_logged(struct tk_nft_rule *R, const struct tk_nft_chain *chain)
{
	tk_nft_verdict(R, NFT_JUMP, chain->name);
}

/*
 * --cluster, in the raw hooks, before conntrack (-200) and per family (IPv6 alike):
 *   underlay_in:  udp dport 4789 ip daddr @overlay_local4 ip saddr @overlay_peers4 notrack accept
 *                 udp dport 4789 ip daddr @overlay_local4 counter drop
 *   underlay_out: udp dport 4789 ip saddr @overlay_local4 ip daddr @overlay_peers4 notrack
 * VXLAN to this host's underlay address only from cluster members, and untracked: the tables'
 * NAT chain and ct rules make the kernel track every packet of the host's namespace, VXLAN
 * between members too, a conntrack lookup per encapsulated packet each way that nothing needs
 * (about 4 us of a 30 us cross-host round trip, docs/benchmarks.md).  Without --cluster neither
 * chain exists, so a single host pays nothing for them.
 */
static void underlay_rules(struct tk_nft_batch *b)
{
	static const struct tk_nft_field dport = { TH, 2, 2 };
	const uint16_t vxlan = htons(4789);

	tk_nft_batch_chain_add(b, &underlay_in);
	tk_nft_batch_chain_add(b, &underlay_out);
	for (int v6 = 0; v6 < 2; v6++)
		for (int rule = 0; rule < 3; rule++) {
			bool out = rule == 2;
			const struct tk_nft_field *local = v6 ? (out ? &ip6_saddr : &ip6_daddr)
							      : (out ? &ip4_saddr : &ip4_daddr),
						  *peer = v6 ? (out ? &ip6_daddr : &ip6_saddr)
							     : (out ? &ip4_daddr : &ip4_saddr);
			struct tk_nft_rule *R =
				tk_nft_rule_begin(b, out ? &underlay_out : &underlay_in);

			tk_nft_match_meta8(R, NFT_META_NFPROTO, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
			tk_nft_match_meta8(R, NFT_META_L4PROTO, IPPROTO_UDP);
			tk_nft_match_payload(R, &dport, &vxlan);
			tk_nft_match_set(R, 0, local, 1,
					 v6 ? &set_overlay_local6 : &set_overlay_local4, false);
			if (rule == 1) {
				tk_nft_counter(R);
				tk_nft_verdict(R, NF_DROP, NULL);
			} else {
				tk_nft_match_set(R, 0, peer, 1,
						 v6 ? &set_overlay_peers6 : &set_overlay_peers4,
						 false);
				tk_nft_notrack(R);
				if (!out)
					tk_nft_verdict(R, NF_ACCEPT, NULL);
			}
			tk_nft_rule_end(R);
		}
}

static void inet_table(struct tk_nft_batch *b, bool cluster)
{
	static const struct tk_nft_field icmp_type = { TH, 0, 1 };
	const uint8_t icmp6_ns = 135, icmp6_na = 136;

	tk_nft_batch_table_add(b, NFPROTO_INET);
	tk_nft_batch_set_add(b, &set_bridges);
	tk_nft_batch_set_add(b, &set_links);
	tk_nft_batch_set_add(b, &set_gw4);
	tk_nft_batch_set_add(b, &set_gw6);
	tk_nft_batch_set_add(b, &set_nat_bridges);
	tk_nft_batch_set_add(b, &set_internal);
	tk_nft_batch_set_add(b, &set_overlay_local4);
	tk_nft_batch_set_add(b, &set_overlay_local6);
	tk_nft_batch_set_add(b, &set_overlay_peers4);
	tk_nft_batch_set_add(b, &set_overlay_peers6);
	tk_nft_batch_chain_add(b, &forward);
	tk_nft_batch_chain_add(b, &input);
	tk_nft_batch_chain_add(b, &tenant_in);
	tk_nft_batch_chain_add(b, &postrouting);
	tk_nft_batch_set_add(b, &meter_inet);
	tk_nft_batch_set_add(b, &set_isolation_drops);
	drop_chain(b, &drop_isolation, &meter_inet, DROPLOG_PREFIX "isolation", false,
		   &set_isolation_drops, true);
	drop_chain(b, &drop_host, &meter_inet, DROPLOG_PREFIX "host", true, &set_isolation_drops,
		   false);

	/* iifname . oifname @links accept: linked networks, and each bridge with itself */
	RULE(b, &forward, tk_nft_meta(R, IIF, NFT_REG32_00); tk_nft_meta(R, OIF, NFT_REG32_04);
	     tk_nft_lookup(R, &set_links, false); tk_nft_verdict(R, NF_ACCEPT, NULL));
	/*
	 * iifname @internal_bridges oifname != @bridges drop, and the other way: an internal network
	 * (docker network create --internal) sends nothing past the host, NAT-ed or not, and takes
	 * nothing from beyond it (its links are accepted above).
	 */
	RULE(b, &forward, tk_nft_match_set(R, IIF, NULL, 0, &set_internal, false);
	     tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, true); tk_nft_counter(R);
	     drop_logged(R, &drop_isolation));
	RULE(b, &forward, tk_nft_match_set(R, OIF, NULL, 0, &set_internal, false);
	     tk_nft_match_set(R, IIF, NULL, 0, &set_bridges, true); tk_nft_counter(R);
	     drop_logged(R, &drop_isolation));
	/*
	 * oifname != @bridges accept: egress (NAT-ed in postrouting) and the host's own forwarding,
	 * which every rule below leaves to the accept policy anyway; said here, egress costs two
	 * lookups instead of five.
	 */
	RULE(b, &forward, tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, true);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	/* iifname @bridges oifname @bridges counter drop: between tenants and between networks */
	RULE(b, &forward, tk_nft_match_set(R, IIF, NULL, 0, &set_bridges, false);
	     tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, false); tk_nft_counter(R);
	     drop_logged(R, &drop_isolation));
	/* oifname @bridges ct state established,related accept */
	RULE(b, &forward, tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, false);
	     match_ct_established(R); tk_nft_verdict(R, NF_ACCEPT, NULL));
	/* oifname @bridges ct status dnat accept: a published port (ports_table) */
	RULE(b, &forward, match_published(R));
	/* oifname @bridges counter drop: nothing from outside opens a connection to a tenant */
	RULE(b, &forward, tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, false); tk_nft_counter(R);
	     drop_logged(R, &drop_isolation));

	if (cluster)
		underlay_rules(b);
	/* iifname @bridges jump tenant_in */
	RULE(b, &input, tk_nft_match_set(R, IIF, NULL, 0, &set_bridges, false);
	     tk_nft_verdict(R, NFT_JUMP, "tenant_in"));
	RULE(b, &tenant_in, match_ct_established(R); tk_nft_verdict(R, NF_ACCEPT, NULL));
	/* Neighbour discovery towards the gateway. */
	RULE(b, &tenant_in, tk_nft_match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	     tk_nft_match_payload(R, &icmp_type, &icmp6_ns); tk_nft_verdict(R, NF_ACCEPT, NULL));
	RULE(b, &tenant_in, tk_nft_match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	     tk_nft_match_payload(R, &icmp_type, &icmp6_na); tk_nft_verdict(R, NF_ACCEPT, NULL));
	/* meta l4proto icmp iifname . ip daddr @gw4 accept: a container may ping its gateway */
	RULE(b, &tenant_in, tk_nft_match_meta8(R, NFT_META_NFPROTO, NFPROTO_IPV4);
	     tk_nft_match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMP);
	     tk_nft_match_set(R, IIF, &ip4_daddr, 1, &set_gw4, false);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	RULE(b, &tenant_in, tk_nft_match_meta8(R, NFT_META_NFPROTO, NFPROTO_IPV6);
	     tk_nft_match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	     tk_nft_match_set(R, IIF, &ip6_daddr, 1, &set_gw6, false);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	RULE(b, &tenant_in, tk_nft_counter(R); drop_logged(R, &drop_host));

	/*
	 * iifname @nat_bridges oifname != @bridges masquerade.  ip_output() and ip6_output() pass
	 * the input device to postrouting, so forwarded packets still carry it here.
	 */
	RULE(b, &postrouting, tk_nft_match_set(R, IIF, NULL, 0, &set_nat_bridges, false);
	     tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, true); tk_nft_masquerade(R));
}

/* ---- bridge tenantkit: what a container may send onto its network ------------------------- */

static const struct tk_nft_set
	set_ports = { "ports", 11, NFPROTO_BRIDGE, { IFNAME }, 1 },
	set_port_mac = { "port_mac", 12, NFPROTO_BRIDGE, { IFNAME, ETHER }, 2 },
	set_port_ip4 = { "port_ip4", 13, NFPROTO_BRIDGE, { IFNAME, IPV4, ETHER }, 3 },
	set_port_ip6 = { "port_ip6", 14, NFPROTO_BRIDGE, { IFNAME, IPV6, ETHER }, 3 },
	set_ports6 = { "ports6", 15, NFPROTO_BRIDGE, { IFNAME }, 1 },
	/* Every container address netd assigned (the link-local ones too): see bridge_fast_path(). */
	set_cont4 = { "cont4", 16, NFPROTO_BRIDGE, { IPV4 }, 1 },
	set_cont6 = { "cont6", 17, NFPROTO_BRIDGE, { IPV6 }, 1 };

static const struct tk_nft_chain prerouting = { "prerouting", NFPROTO_BRIDGE, "filter",
						NF_BR_PRE_ROUTING, -300 },
				 na = { "na", NFPROTO_BRIDGE, NULL, 0, 0 };

static const struct tk_nft_field ether_saddr = { NFT_PAYLOAD_LL_HEADER, 6, 6 },
				 nd_target = { TH, 8, 16 };

/* ICMPv6 message types (RFC 4861, RFC 3810). */
enum { ND_RA = 134, ND_NS = 135, ND_NA = 136, ND_REDIRECT = 137, MLD2_REPORT = 143 };

static void match_icmp6_type(struct tk_nft_rule *R, uint8_t type)
{
	static const struct tk_nft_field icmp_type = { TH, 0, 1 };

	tk_nft_match_ethertype(R, ETH_P_IPV6);
	tk_nft_match_meta8(R, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	tk_nft_match_payload(R, &icmp_type, &type);
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
	static const struct tk_nft_field nexthdr = { NH, 6, 1 }, length = { NH, 4, 2 },
					 option = { TH, 24, 2 };
	const uint8_t icmp6 = IPPROTO_ICMPV6, tlla_opt[2] = { 2, 1 };
	const uint16_t len_bare = htons(24), len_tlla = htons(32);
	const struct tk_nft_field target_mac[] = { nd_target, ether_saddr },
				  target_tlla[] = { nd_target, { TH, 26, 6 } };

	/* ip6 nexthdr != ipv6-icmp counter drop: the lengths below would not add up */
	RULE(b, &na, tk_nft_payload(R, &nexthdr, NFT_REG32_00);
	     tk_nft_cmp(R, NFT_CMP_NEQ, &icmp6, 1); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	/* ip6 length 24 iifname . @th,64,128 . ether saddr @port_ip6 return */
	RULE(b, &na, tk_nft_match_payload(R, &length, &len_bare);
	     tk_nft_match_set(R, IIF, target_mac, 2, &set_port_ip6, false);
	     tk_nft_verdict(R, NFT_RETURN, NULL));
	/* ip6 length 32 @th,192,16 0x0201 iifname . @th,64,128 . @th,208,48 @port_ip6 return */
	RULE(b, &na, tk_nft_match_payload(R, &length, &len_tlla);
	     tk_nft_match_payload(R, &option, tlla_opt);
	     tk_nft_match_set(R, IIF, target_tlla, 2, &set_port_ip6, false);
	     tk_nft_verdict(R, NFT_RETURN, NULL));
	RULE(b, &na, tk_nft_counter(R); drop_logged(R, &drop_spoofing));
}

/*
 * The common case first, before the rules below take the frame apart: IPv4 from the port's own
 * address and MAC is accepted after one lookup in @port_ip4, IPv6 after @port_ip6 and @ports6.
 * Such an element exists only for a port in @ports with that MAC in @port_mac, so rules 1 to 3
 * below would let the frame through too; @ports6 is checked because the overlay adds @port_ip6
 * elements for whatever its peers register, and only @ports6 says the network carries IPv6
 * (rule 9).  What the rules below still refuse from a port's own address goes the long way:
 * anything from source port 67 or 547 (DHCP servers; one compare for every protocol), non-first
 * fragments (they have no port), and all ICMPv6 (router advertisements, redirects, neighbour
 * advertisements and the :: cases have rules of their own).
 *
 * Traffic to a container address is also untracked (notrack) when it passes.  With br_netfilter
 * (loaded on every Docker or Kubernetes host) frames switched between two containers go through
 * the inet hooks, and conntrack would look up, create and confirm an entry for every flow inside
 * a network; so would routing between linked networks.  Nothing there needs one: a packet to a
 * container address is either switched on the bridge or routed to a tenant bridge (never to the
 * host, never out of it), and on that way every rule that decides is stateless (forward's
 * iifname . oifname @links accept, its bridge-to-bridge drop), no NAT rule applies (DNAT needs a
 * local destination, masquerade and the egress addresses an output that is not a tenant bridge).
 * Only frames from a port, from that port's own address, are concerned.  What needs conntrack is
 * addressed to the gateway or beyond it, and stays tracked: egress and its NAT, published ports
 * (their hairpin included: the container connects to a host address, and the answer, masqueraded,
 * goes to the gateway), replies to the host's own connections.
 */
static void fast_path_rule(struct tk_nft_batch *b, bool v6, bool untracked)
{
	const struct tk_nft_field src[] = { v6 ? ip6_saddr : ip4_saddr, ether_saddr };
	static const struct tk_nft_field sport = { TH, 0, 2 };
	static const struct tk_nft_field frag4 = { NH, 6, 2 }, nexthdr6 = { NH, 6, 1 };
	const uint16_t server = htons(v6 ? 547 : 67), offset_mask = htons(0x3fff), zero16 = 0;
	const uint8_t icmp6 = IPPROTO_ICMPV6, frag6 = IPPROTO_FRAGMENT, hop6 = IPPROTO_HOPOPTS;

	struct tk_nft_rule *R = tk_nft_rule_begin(b, &prerouting);

	tk_nft_match_ethertype(R, v6 ? ETH_P_IPV6 : ETH_P_IP);
	/*
	 * A fragment is never untracked: conntrack reassembles the fragments it tracks, and would
	 * wait for a first fragment sent past it (only the first has ports, which rules see).  An
	 * IPv6 fragment header follows the fixed header, or a hop-by-hop header.
	 */
	if (untracked && !v6) {
		tk_nft_payload(R, &frag4, NFT_REG32_00);
		tk_nft_mask(R, &offset_mask, 2);
		tk_nft_cmp(R, NFT_CMP_EQ, &zero16, 2);
	} else if (untracked) {
		tk_nft_payload(R, &nexthdr6, NFT_REG32_00);
		tk_nft_cmp(R, NFT_CMP_NEQ, &frag6, 1);
		tk_nft_cmp(R, NFT_CMP_NEQ, &hop6, 1);
	}
	if (untracked)
		tk_nft_match_set(R, 0, v6 ? &ip6_daddr : &ip4_daddr, 1,
				 v6 ? &set_cont6 : &set_cont4, false);
	if (v6) {
		tk_nft_meta(R, NFT_META_L4PROTO, NFT_REG32_00);
		tk_nft_cmp(R, NFT_CMP_NEQ, &icmp6, 1);
	}
	tk_nft_payload(R, &sport, NFT_REG32_00);
	tk_nft_cmp(R, NFT_CMP_NEQ, &server, 2);
	tk_nft_match_set(R, IIF, src, 2, v6 ? &set_port_ip6 : &set_port_ip4, false);
	/* The overlay adds @port_ip6 elements for what its peers register, @ports6 by network. */
	if (v6)
		tk_nft_match_set(R, IIF, NULL, 0, &set_ports6, false);
	if (untracked)
		tk_nft_notrack(R);
	tk_nft_verdict(R, NF_ACCEPT, NULL);
	tk_nft_rule_end(R);
}

/* ip daddr @cont4 ... notrack accept, then the same for the gateway and beyond, tracked. */
static void bridge_fast_path(struct tk_nft_batch *b)
{
	fast_path_rule(b, false, true);
	fast_path_rule(b, false, false);
	fast_path_rule(b, true, true);
	fast_path_rule(b, true, false);
}

static void bridge_table(struct tk_nft_batch *b)
{
	static const struct tk_nft_field arp_spa_sha[] = { { NH, 14, 4 }, { NH, 8, 6 } },
					 arp_head = { NH, 0, 6 }, ip6_source = { NH, 8, 16 },
					 ip6_dest = { NH, 24, 16 }, sport = { TH, 0, 2 };
	const struct tk_nft_field ip4_src[] = { ip4_saddr, ether_saddr },
				  ip6_src[] = { ip6_saddr, ether_saddr },
				  ns_target[] = { nd_target, ether_saddr };
	/* htype 1 (ethernet), ptype 0x0800, hlen 6, plen 4: the only ARP whose fields we check */
	static const uint8_t arp_eth_ip4[6] = { 0, 1, 8, 0, 6, 4 };
	const uint16_t dhcp4_server = htons(67), dhcp6_server = htons(547);
	static const uint8_t unspecified[16], all_mld2_routers[16] = { 0xff, 0x02, [15] = 0x16 };

	tk_nft_batch_table_add(b, NFPROTO_BRIDGE);
	tk_nft_batch_set_add(b, &set_ports);
	tk_nft_batch_set_add(b, &set_port_mac);
	tk_nft_batch_set_add(b, &set_port_ip4);
	tk_nft_batch_set_add(b, &set_port_ip6);
	tk_nft_batch_set_add(b, &set_ports6);
	tk_nft_batch_set_add(b, &set_cont4);
	tk_nft_batch_set_add(b, &set_cont6);
	tk_nft_batch_chain_add(b, &prerouting);
	tk_nft_batch_chain_add(b, &na);
	tk_nft_batch_set_add(b, &meter_bridge);
	tk_nft_batch_set_add(b, &set_spoof_drops);
	drop_chain(b, &drop_spoofing, &meter_bridge, DROPLOG_PREFIX "spoofing", false,
		   &set_spoof_drops, false);
	bridge_na_chain(b);
	bridge_fast_path(b);

	/*
	 * iifname "tkv*" iifname != @ports counter drop: a tenantkit veth whose endpoint is gone
	 * (being deleted, or left by a crash until reconcile) may not send anything.
	 */
	RULE(b, &prerouting, tk_nft_meta(R, IIF, NFT_REG32_00); tk_nft_cmp(R, NFT_CMP_EQ, "tkv", 3);
	     tk_nft_match_set(R, IIF, NULL, 0, &set_ports, true); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	/* iifname != @ports accept: only container ports are policed */
	RULE(b, &prerouting, tk_nft_match_set(R, IIF, NULL, 0, &set_ports, true);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	/* iifname . ether saddr != @port_mac counter drop */
	RULE(b, &prerouting, tk_nft_match_set(R, IIF, &ether_saddr, 1, &set_port_mac, true);
	     tk_nft_counter(R); drop_logged(R, &drop_spoofing));
	/* ether type arp: sender addresses must be the port's own */
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_ARP);
	     tk_nft_match_payload(R, &arp_head, arp_eth_ip4);
	     tk_nft_match_set(R, IIF, arp_spa_sha, 2, &set_port_ip4, false);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_ARP); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	/* IPv4: no DHCP server, and only the port's own source address */
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_IP);
	     tk_nft_match_meta8(R, NFT_META_L4PROTO, IPPROTO_UDP);
	     tk_nft_match_payload(R, &sport, &dhcp4_server); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_IP);
	     tk_nft_match_set(R, IIF, ip4_src, 2, &set_port_ip4, false);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_IP); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	/*
	 * ether type ip6 iifname != @ports6 counter drop: an IPv4-only network carries no IPv6.
	 * Not logged: every container's kernel solicits routers and joins groups when its link
	 * comes up, which is no attack.
	 */
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_IPV6);
	     tk_nft_match_set(R, IIF, NULL, 0, &set_ports6, true); tk_nft_counter(R);
	     tk_nft_verdict(R, NF_DROP, NULL));
	/* IPv6: no router advertisements, redirects or DHCPv6 server */
	RULE(b, &prerouting, match_icmp6_type(R, ND_RA); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	RULE(b, &prerouting, match_icmp6_type(R, ND_REDIRECT); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_IPV6);
	     tk_nft_match_meta8(R, NFT_META_L4PROTO, IPPROTO_UDP);
	     tk_nft_match_payload(R, &sport, &dhcp6_server); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	/* icmpv6 type nd-neighbor-advert jump na */
	RULE(b, &prerouting, match_icmp6_type(R, ND_NA); tk_nft_verdict(R, NFT_JUMP, "na"));
	/* Own address (global, or the one link-local address) and own MAC. */
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_IPV6);
	     tk_nft_match_set(R, IIF, ip6_src, 2, &set_port_ip6, false);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	/*
	 * From :: only duplicate address detection of the port's own addresses, and the MLDv2
	 * reports a host sends while its link-local address is still tentative (RFC 3810 5.2.13).
	 */
	RULE(b, &prerouting, match_icmp6_type(R, ND_NS);
	     tk_nft_match_payload(R, &ip6_source, unspecified);
	     tk_nft_match_set(R, IIF, ns_target, 2, &set_port_ip6, false);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	RULE(b, &prerouting, match_icmp6_type(R, MLD2_REPORT);
	     tk_nft_match_payload(R, &ip6_source, unspecified);
	     tk_nft_match_payload(R, &ip6_dest, all_mld2_routers);
	     tk_nft_verdict(R, NF_ACCEPT, NULL));
	RULE(b, &prerouting, tk_nft_match_ethertype(R, ETH_P_IPV6); tk_nft_counter(R);
	     drop_logged(R, &drop_spoofing));
	/* Any other ethertype (VLAN tags, STP, LLDP, ...) stays on the container's side. */
	RULE(b, &prerouting, tk_nft_counter(R); drop_logged(R, &drop_spoofing));
}

/* ---- the fast path between two containers of a network (lib/fastpath.c) ------------------ */

/*
 * A frame from a container to another container of its network, from its own MAC and address to
 * the other's, is redirected by a BPF program on its port's tcx ingress to the other's host veth:
 * it never enters the bridge, so neither the bridge's rules nor br_netfilter's trip through the
 * inet hooks (conntrack's included) cost it anything (docs/firewall.md).  The src maps hold each
 * port's own MAC and address with its network's group (its id); the fwd maps, under that group,
 * the port a MAC and address belong to: a frame to anything else (the gateway, a broadcast,
 * another network, an address a port does not own) takes the bridge and its rules as before.
 * So the fast path forwards only what the bridge would have forwarded, by the same MAC, with
 * nothing to decide.  An attach writes a few map elements and attaches the program to its veth:
 * O(1), whatever the number of ports (an nftables netdev chain hooked by device name cost a walk
 * of every device of the namespace per name added or removed, Linux 6.16+).
 */
static struct tk_fast fast = TK_FAST_INIT;	       /* prog -1: no fast path */
static char fast_off[sizeof(((tk_err *)0)->msg) + 32]; /* why there is none */
static int fast_chain = -1;  /* made with the first fast path, kept across rebuilds */
static int fast_counts = -1; /* the same */
static struct tk_fast_port fast_port = TK_FAST_PORT_INIT; /* the same */
static bool fast_port_adopted;	   /* it is the one an earlier netd left on the ports */
static bool fast_path_remote;	   /* --cluster: the overlay's endpoints have one too */
static bool fast_path_at_attach;   /* TK_NETD_FAST_PATH_AT_ATTACH: not after the reply */
static const char *const *uplinks; /* --nat-uplink */
static size_t n_uplinks;
static int uplink_ifindex[FIREWALL_UPLINKS_MAX]; /* where the replies' program is; 0: nowhere */
static char uplinks_off[sizeof(((tk_err *)0)->msg) + 32]; /* why an uplink has none */

/* A VXLAN device's group: its network's, with this bit, so it forwards to local ports only. */
#define GROUP_OVERLAY 0x80000000u

uint32_t firewall_network_group(const struct network *n)
{
	return (uint32_t)n->id & ~GROUP_OVERLAY;
}

/*
 * What may be sent by the fast path from device ifindex (a port, with its own MAC and addresses;
 * or a network's VXLAN device, with another host's endpoint's) and where a frame to that MAC and
 * address goes: ifindex too, the port itself or, for another host's endpoint, the VXLAN device.
 * local: a port of this host, which the VXLAN device forwards to in cluster mode; a remote
 * endpoint's source is looked up under the overlay's group, so never sent back to it.
 * Removal needs no ifindex (0) for a local port: its fwd element has it.
 */
static int fast_elements(uint32_t group, int ifindex, const uint8_t *mac, const struct tk_addr *ip4,
			 const struct tk_addr *ip6, bool local, bool add, tk_err *err)
{
	const uint32_t src_group = local ? group : group | GROUP_OVERLAY;
	int r;

	for (int v6 = 0; v6 < 2; v6++) {
		const struct tk_addr *ip = v6 ? ip6 : ip4;
		int dev = ifindex;

		if (!ip)
			continue;
		if (!add && dev <= 0 && tk_fast_fwd_get(&fast, group, mac, ip, &dev) < 0)
			dev = 0;
		if ((dev > 0 && (r = tk_fast_src(&fast, dev, mac, ip, src_group, add, err)) < 0) ||
		    (r = tk_fast_fwd(&fast, group, mac, ip, ifindex, add, err)) < 0 ||
		    (local && fast_path_remote &&
		     (r = tk_fast_fwd(&fast, group | GROUP_OVERLAY, mac, ip, ifindex, add, err)) <
			     0))
			goto full;
	}
	return 0;
full:
	/* Nothing half-added: removal could not find a src element whose fwd one is missing. */
	if (add && ifindex > 0)
		(void)fast_elements(group, ifindex, mac, ip4, ip6, local, false, NULL);
	/* A full map: the endpoint takes the bridge, as without a fast path (lib/fastpath.c). */
	if (r != -E2BIG)
		return r;
	log_warning("fast path: %s; this endpoint takes the bridge", err ? err->msg : "maps full");
	tk_err_clear(err);
	return 0;
}

/*
 * Routing between two linked networks, past the bridges and the host's routing: e's addresses
 * as the network from (linked to e's) routes them, under from's group and gateway MAC, to e's
 * port (the one its fwd element names: none, no route either).  The host's routing would take
 * such a packet from one bridge to the other with nothing stateful on the way (forward's
 * `@links` accept; traffic to a container address is untracked: docs/firewall.md), so the fast
 * path does what it would: the TTL, the Ethernet header, the port.  A network with a smaller MTU
 * than from's is left to the host's routing, which fragments or says so.
 */
static int fast_route_elements(const struct network *from, const struct endpoint *e, bool add,
			       tk_err *err)
{
	const struct tk_addr *ips[] = { e->has4 && from->has4 ? &e->ip4 : NULL,
					e->has6 && from->has6 ? &e->ip6 : NULL };
	uint8_t gw_from[6], gw_to[6];
	int r, dev = 0;

	if (fast.prog < 0 || e->lease || (add && from->mtu > e->network->mtu))
		return 0;
	network_gateway_mac(from, gw_from);
	network_gateway_mac(e->network, gw_to);
	for (size_t i = 0; i < ELEMENTSOF(ips); i++) {
		if (!ips[i] || (add && tk_fast_fwd_get(&fast, firewall_network_group(e->network),
						       e->mac, ips[i], &dev) < 0))
			continue;
		r = tk_fast_route(&fast, firewall_network_group(from), gw_from, ips[i], dev, e->mac,
				  gw_to, add, err);
		if (r == -E2BIG) { /* a full map: the host's routing, as without a fast path */
			log_warning("fast path: %s; this route takes the bridges",
				    err ? err->msg : "its map is full");
			tk_err_clear(err);
		} else if (r < 0)
			return r;
	}
	return 0;
}

/* fast_route_elements' arguments, for the walks of links (e set) and of endpoints (from set). */
struct fast_routes {
	const struct network *from;
	const struct endpoint *e;
	bool add;
	tk_err *err;
};

static int fast_routes_cb(struct network *other, void *userdata)
{
	const struct fast_routes *ctx = userdata;

	return other == ctx->e->network ? 0
					: fast_route_elements(other, ctx->e, ctx->add, ctx->err);
}

/*
 * A port's elements, to its host veth's index, which add needs (host_ifindex 0: the veth is
 * gone, so nothing to forward to or from), removal not; and its routes from the networks linked
 * to its own.  Written after the attach's nftables batch, removed before the detach's: the fast
 * path never holds a port the bridge's rules do not, and it forwards only what they would.
 */
static int fast_path_port(struct manager *m, const struct endpoint *e, int host_ifindex, bool add,
			  tk_err *err)
{
	struct fast_routes ctx = { .e = e, .add = add, .err = err };
	int r;

	if (fast.prog < 0 || e->lease || (add && host_ifindex <= 0))
		return 0;
	if (!add && (r = db_links_foreach(m, e->network, fast_routes_cb, &ctx, err)) < 0)
		return r;
	if ((r = fast_elements(firewall_network_group(e->network), add ? host_ifindex : 0, e->mac,
			       e->has4 ? &e->ip4 : NULL, e->has6 ? &e->ip6 : NULL, true, add,
			       err)) < 0 ||
	    !add)
		return r;
	return db_links_foreach(m, e->network, fast_routes_cb, &ctx, err);
}

uint32_t firewall_port_group(const struct endpoint *e)
{
	return e->lease ? 0 : firewall_network_group(e->network);
}

int firewall_fast_path_hook(struct manager *m, const struct endpoint *e, int ifindex, bool foreign,
			    tk_err *err)
{
	attacher_cancel(m, e->id); /* decided now */
	if (fast.prog < 0 || shaping_from_port(m, e))
		return 0;
	if (foreign)
		log_info("Container '%s' %s: another program's qdisc holds the ingress of its port "
			 "'%s' "
			 "(the bandwidth plugin's?): its frames take the bridge, past that qdisc's "
			 "filters, not the fast path",
			 e->container_id, e->ifname, e->host_ifname);
	return tk_fast_attach(&fast, ifindex, !foreign, err);
}

int firewall_fast_path_new_port(struct manager *m, const struct endpoint *e, int ifindex,
				tk_err *err)
{
	if (fast.prog < 0 || shaping_from_port(m, e) ||
	    (!fast_path_at_attach && attacher_queue(m, e->id)))
		return 0;
	return firewall_fast_path_hook(m, e, ifindex, false, err);
}

void firewall_fast_path_attach_now(struct manager *m, int64_t endpoint_id)
{
	struct endpoint e;
	tk_err err = {};
	int ifindex;

	/* Gone, or its veth is (lifecycle releases it): nothing to do. */
	if (fast.prog < 0 || db_endpoint_find_by_id(m, endpoint_id, &e, NULL) < 0 || e.lease ||
	    tk_nl_ifindex(m->nl, e.host_ifname, &ifindex, NULL) < 0)
		return;
	if (firewall_fast_path_hook(m, &e, ifindex, false, &err) < 0 && err.code != -ENODEV)
		log_warning("Container '%s' %s: its port '%s' takes the bridge, not the fast path: "
			    "%s",
			    e.container_id, e.ifname, e.host_ifname, err.msg);
}

/* Ports whose ingress slot holds a qdisc, sorted (a port shaped by netd holds netd's clsact). */
struct taken {
	int *ifindexes;
	size_t n, size;
};

static int collect_taken(int ifindex, const char *kind, void *userdata)
{
	struct taken *t = userdata;

	(void)kind;
	if (t->n == t->size) {
		size_t size = t->size ? t->size * 2 : 16;
		int *v = reallocarray(t->ifindexes, size, sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->ifindexes = v;
		t->size = size;
	}
	t->ifindexes[t->n++] = ifindex;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static int taken_read(struct manager *m, struct taken *t, tk_err *err)
{
	int r;

	t->n = 0;
	if ((r = tk_tc_ingress_qdiscs(m->nl, collect_taken, t, err)) < 0)
		return r == -ENOMEM ? tk_err_set(err, r, "out of memory") : r;
	if (t->n > 0)
		qsort(t->ifindexes, t->n, sizeof(int), cmp_int);
	return 0;
}

/* Whether the qdisc in e's port's ingress slot (if any: taken) is another program's. */
static bool foreign_of(struct manager *m, const struct endpoint *e, const struct taken *t,
		       int ifindex)
{
	if (shaping_from_port(m, e) || t->n == 0)
		return false;
	return bsearch(&ifindex, t->ifindexes, t->n, sizeof(int), cmp_int) != NULL;
}

int firewall_fast_path_ingress(struct manager *m, const struct endpoint *e, bool taken, tk_err *err)
{
	int ifindex, r;

	if (fast.prog < 0 || e->lease || shaping_from_port(m, e))
		return 0;
	if ((r = tk_nl_ifindex(m->nl, e->host_ifname, &ifindex, err)) == -ENODEV) {
		tk_err_clear(err);
		return 0; /* gone with its container: lifecycle releases it */
	}
	if (r < 0)
		return r;
	return firewall_fast_path_hook(m, e, ifindex, taken, err);
}

int firewall_fast_hook(int ifindex, bool on, tk_err *err)
{
	return fast.prog < 0 ? 0 : tk_fast_attach(&fast, ifindex, on, err);
}

/* "on (UDP, IPv4 and IPv6; by UPLINK, ...)", "; " and why an uplink has none, or "off: why" */
static void nat_replies_format(char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = 0;
	if (fast.prog < 0 || fast.nat_off[0]) {
		snprintf(buf, size, "off: no NAT path");
		return;
	}
	for (size_t i = 0; i < n_uplinks && len < size; i++)
		if (uplink_ifindex[i] > 0)
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
						len ? ", " : "on (UDP, IPv4 and IPv6; by ",
						uplinks[i]);
	if (len && len < size)
		len += (size_t)snprintf(buf + len, size - len, ")%s", uplinks_off[0] ? "; " : "");
	if (!len)
		len = (size_t)snprintf(buf, size, "off: ");
	if (len < size)
		snprintf(buf + len, size - len, "%s", uplinks_off);
}

json_t *firewall_datapath_to_json(void)
{
	char fast_why[sizeof(fast_off) + 8], nat_why[sizeof(fast.nat_off) + 8];
	char replies[sizeof(uplinks_off) + FIREWALL_UPLINKS_MAX * 20 + 64];

	snprintf(fast_why, sizeof(fast_why), "off: %s", fast_off);
	snprintf(nat_why, sizeof(nat_why), "off: %s",
		 fast.prog < 0 ? "no fast path" : fast.nat_off);
	nat_replies_format(replies, sizeof(replies));
	return json_pack("{s:s, s:s, s:s}", "fast_path", fast.prog >= 0 ? "on" : fast_why,
			 "nat_path",
			 fast.prog >= 0 && !fast.nat_off[0] ? "on (UDP, IPv4 and IPv6)" : nat_why,
			 "nat_replies", replies);
}

void firewall_nat_uplinks(const char *const *names, size_t n)
{
	uplinks = names;
	n_uplinks = n < FIREWALL_UPLINKS_MAX ? n : FIREWALL_UPLINKS_MAX;
	snprintf(uplinks_off, sizeof(uplinks_off), "no --nat-uplink");
}

/*
 * A link that is neither netd's own (tk*) nor an --nat-uplink: the replies' program an earlier
 * netd put there (one killed before it could take it off, with other --nat-uplink) taken off.
 */
static int uplink_sweep(const struct tk_link_info *link, void *userdata)
{
	tk_err err = {};

	(void)userdata;
	if (strncmp(link->name, "tk", 2) == 0)
		return 0;
	for (size_t i = 0; i < n_uplinks; i++)
		if (strcmp(link->name, uplinks[i]) == 0)
			return 0;
	if (tk_tcx_attach(link->ifindex, false, -1, &err) < 0)
		log_warning("%s: %s", link->name, err.msg);
	return 0;
}

/*
 * The replies' program on every --nat-uplink, replacing an earlier one (netd's, or a rebuild's),
 * or ours off them where there is no NAT path; at netd's start, off every other link.  An uplink
 * that is not there (yet) is said in the log and in status, and netd goes on without it: the
 * replies take the host's way, as always.
 */
static void nat_uplinks_attach(struct manager *m, const struct tk_link_list *links)
{
	static bool swept;

	if (!swept)
		(void)tk_link_list_foreach(links, "", uplink_sweep, NULL);
	swept = true;
	uplinks_off[0] = 0;
	if (!n_uplinks)
		snprintf(uplinks_off, sizeof(uplinks_off), "no --nat-uplink");
	for (size_t i = 0; i < n_uplinks; i++) {
		const bool on = fast.back >= 0;
		tk_err err = {};
		int ifindex;

		if (tk_nl_ifindex(m->nl, uplinks[i], &ifindex, &err) < 0 ||
		    tk_fast_uplink(&fast, ifindex, on, &err) < 0) {
			log_warning("--nat-uplink %s: %s; its replies take the host's way",
				    uplinks[i], err.msg);
			snprintf(uplinks_off, sizeof(uplinks_off), "%s: %s", uplinks[i], err.msg);
			uplink_ifindex[i] = 0;
			continue;
		}
		uplink_ifindex[i] = on ? ifindex : 0;
	}
}

void firewall_nat_uplinks_release(void)
{
	for (size_t i = 0; i < n_uplinks; i++) {
		tk_err err = {};

		if (uplink_ifindex[i] > 0 &&
		    tk_fast_uplink(&fast, uplink_ifindex[i], false, &err) < 0)
			log_warning("--nat-uplink %s: %s", uplinks[i], err.msg);
		uplink_ifindex[i] = 0;
	}
}

int firewall_fast_chain(void)
{
	return fast.prog >= 0 ? fast_chain : -1;
}

/*
 * Points a port's elements at host_ifindex, where its veth is after all: another link held the
 * index netd chose (endpoint_host_ifindex), so the kernel chose.  The new elements replace the
 * old under the same keys but the source's, whose old one goes after.
 */
int firewall_fast_path_move(struct manager *m, const struct endpoint *e, int host_ifindex,
			    tk_err *err)
{
	const uint32_t group = firewall_network_group(e->network);
	const struct tk_addr *ip4 = e->has4 ? &e->ip4 : NULL, *ip6 = e->has6 ? &e->ip6 : NULL;
	int r;

	if (fast.prog < 0 || e->lease)
		return 0;
	if ((r = fast_elements(group, host_ifindex, e->mac, ip4, ip6, true, true, err)) < 0 ||
	    (r = db_links_foreach(m, e->network, fast_routes_cb,
				  &(struct fast_routes){ .e = e, .add = true, .err = err }, err)) <
		    0)
		return r;
	for (int v6 = 0; v6 < 2; v6++) {
		const struct tk_addr *ip = v6 ? ip6 : ip4;

		if (ip && (r = tk_fast_src(&fast, e->host_ifindex, e->mac, ip, 0, false, err)) < 0)
			return r;
	}
	return 0;
}

/* Adopts the stub on e's port, once: the first port holding one decides. */
static int adopt_port(struct endpoint *e, void *userdata)
{
	struct manager *m = userdata;
	int ifindex;

	if (!fast_port_adopted && !e->lease &&
	    tk_nl_ifindex(m->nl, e->host_ifname, &ifindex, NULL) == 0)
		fast_port_adopted = tk_fast_port_adopt(&fast_port, ifindex) > 0;
	return 0;
}

/*
 * The ports' stub and its chain (lib/fastpath.h, tk_fast_port), made once and kept across
 * rebuilds; at netd's first rebuild, those an earlier netd left on the ports, so that a restart
 * attaches nothing to the ports that hold them.
 */
static int fast_port_open(struct manager *m, tk_err *err)
{
	int r;

	if (fast_port.prog >= 0)
		return 0;
	if ((r = tk_fast_port_open(&fast_port, err)) < 0)
		return r;
	if ((r = db_endpoints_foreach(m, NULL, NULL, adopt_port, m, err)) < 0)
		return r;
	if (fast_port_adopted)
		log_info("The ports keep the fast path's stub an earlier netd left them");
	return 0;
}

/* Whether this kernel can: loads the program (BPF, bpf_redirect) and asks for tcx. */
static void fast_path_open(struct manager *m)
{
	tk_err err = {};

	fast = (struct tk_fast)TK_FAST_INIT;
	fast_path_at_attach = getenv("TK_NETD_FAST_PATH_AT_ATTACH") != NULL;
	if (getenv("TK_NETD_NO_FAST_PATH")) {
		snprintf(fast_off, sizeof(fast_off), "TK_NETD_NO_FAST_PATH is set");
		log_info("No fast path between containers: %s", fast_off);
		return;
	}
	if ((fast_counts < 0 && (fast_counts = tk_fast_counts_open(&err)) < 0) ||
	    tk_fast_open(&fast, fast_counts, &err) < 0 ||
	    (fast_chain < 0 && (fast_chain = tk_fast_chain_open(&err)) < 0) ||
	    fast_port_open(m, &err) < 0) {
		snprintf(fast_off, sizeof(fast_off), "%s", err.msg);
		log_info("No fast path between containers (BPF on tcx ingress): %s", fast_off);
		tk_fast_close(&fast);
		return;
	}
	fast.port = fast_port.prog;
	if (fast.nat_off[0])
		log_info("No NAT path past the host (UDP egress takes the host's forwarding): %s",
			 fast.nat_off);
}

/* What the fast path's programs sent each way since netd started; false: no fast path. */
static bool fast_counts_read(struct tk_fast_count counts[_TK_FAST_WAY_MAX])
{
	tk_err err = {};

	if (fast.prog < 0)
		return false;
	if (tk_fast_counts_read(fast_counts, counts, &err) == 0)
		return true;
	log_warning("Reading the fast path's counters: %s", err.msg);
	return false;
}

json_t *firewall_fast_counts_to_json(void)
{
	struct tk_fast_count counts[_TK_FAST_WAY_MAX];
	json_t *packets = json_object(), *bytes = json_object();

	if (packets && bytes && fast_counts_read(counts))
		for (int w = 0; w < _TK_FAST_WAY_MAX; w++) {
			json_object_set_new(packets, tk_fast_way_name(w),
					    json_integer((json_int_t)counts[w].packets));
			json_object_set_new(bytes, tk_fast_way_name(w),
					    json_integer((json_int_t)counts[w].bytes));
		}
	return json_pack("{s:o?, s:o?}", "fast_path_packets", packets, "fast_path_bytes", bytes);
}

void firewall_fast_counts_metrics(struct tk_prom *p)
{
	struct tk_fast_count counts[_TK_FAST_WAY_MAX];
	bool on = fast_counts_read(counts);

	tk_prom_family(p, "tenantkit_fast_path_packets_total", "counter",
		       "Packets the fast path sent past the bridge or the host, by way.");
	for (int w = 0; on && w < _TK_FAST_WAY_MAX; w++)
		tk_prom_sample(p, (const char *const[]){ "way", tk_fast_way_name(w) }, 1,
			       counts[w].packets);
	tk_prom_family(p, "tenantkit_fast_path_bytes_total", "counter",
		       "Bytes the fast path sent past the bridge or the host, by way.");
	for (int w = 0; on && w < _TK_FAST_WAY_MAX; w++)
		tk_prom_sample(p, (const char *const[]){ "way", tk_fast_way_name(w) }, 1,
			       counts[w].bytes);
}

/* ---- what networks, links and endpoints stand for ----------------------------------------- */

static int network_elements(struct tk_nft_batch *b, const struct network *n, bool add, tk_err *err)
{
	const union tk_nft_value br[] = { { .ifname = n->bridge } },
				 gw4[] = { { .ifname = n->bridge }, { .addr = &n->gateway4 } },
				 gw6[] = { { .ifname = n->bridge }, { .addr = &n->gateway6 } };
	int r;

	if ((r = tk_nft_batch_element(b, &set_bridges, add, br, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &set_isolation_drops, add, br, err)) < 0)
		return r;
	if (n->nat && (r = tk_nft_batch_element(b, &set_nat_bridges, add, br, err)) < 0)
		return r;
	if (n->internal && (r = tk_nft_batch_element(b, &set_internal, add, br, err)) < 0)
		return r;
	/*
	 * With br_netfilter loaded, frames bridged between two ports of one network also pass the
	 * inet forward hook, with the bridge as both input and output interface.
	 */
	if ((r = tk_nft_batch_element(b, &set_links, add, (union tk_nft_value[]){ br[0], br[0] },
				      err)) < 0)
		return r;
	if (n->has4 && (r = tk_nft_batch_element(b, &set_gw4, add, gw4, err)) < 0)
		return r;
	if (n->has6 && (r = tk_nft_batch_element(b, &set_gw6, add, gw6, err)) < 0)
		return r;
	return 0;
}

/* Forwarding between two linked networks of one tenant, in both directions. */
static int link_elements(struct tk_nft_batch *b, const struct network *x, const struct network *y,
			 bool add, tk_err *err)
{
	const union tk_nft_value xy[] = { { .ifname = x->bridge }, { .ifname = y->bridge } },
				 yx[] = { { .ifname = y->bridge }, { .ifname = x->bridge } };
	int r;

	if ((r = tk_nft_batch_element(b, &set_links, add, xy, err)) < 0)
		return r;
	return tk_nft_batch_element(b, &set_links, add, yx, err);
}

/*
 * A port may send from its own MAC and addresses and, on an IPv6 network, from its one
 * link-local address; a port with no IPv6 address (an IPv4-only network) sends no IPv6 at all.
 */
static int endpoint_elements(struct tk_nft_batch *b, const struct endpoint *e, bool add,
			     tk_err *err)
{
	const struct tk_addr ll = tk_addr_link_local(e->mac);
	const union tk_nft_value port[] = { { .ifname = e->host_ifname }, { .mac = e->mac } },
				 ip4[] = { port[0], { .addr = &e->ip4 }, port[1] },
				 ip6[] = { port[0], { .addr = &e->ip6 }, port[1] },
				 ip6_ll[] = { port[0], { .addr = &ll }, port[1] };
	int r;

	if ((r = tk_nft_batch_element(b, &set_ports, add, port, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &set_port_mac, add, port, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &set_spoof_drops, add, port, err)) < 0)
		return r;
	if (e->has4 && ((r = tk_nft_batch_element(b, &set_port_ip4, add, ip4, err)) < 0 ||
			(r = tk_nft_batch_element(b, &set_cont4, add, &ip4[1], err)) < 0))
		return r;
	if (e->has6 && ((r = tk_nft_batch_element(b, &set_ports6, add, port, err)) < 0 ||
			(r = tk_nft_batch_element(b, &set_port_ip6, add, ip6, err)) < 0 ||
			(r = tk_nft_batch_element(b, &set_port_ip6, add, ip6_ll, err)) < 0 ||
			(r = tk_nft_batch_element(b, &set_cont6, add, &ip6[1], err)) < 0 ||
			(r = tk_nft_batch_element(b, &set_cont6, add, &ip6_ll[1], err)) < 0))
		return r;
	return 0;
}

static int network_egress_element(struct tk_nft_batch *b, const struct network *n, bool add,
				  tk_err *err);

/*
 * What n's containers send their gateway and the fast path does not route goes into n's bridge's
 * ingress, past the bridge's port and rules (lib/fastpath.c, docs/firewall.md).  Without the
 * bridge (gone, or not made yet) there is nothing to go to.
 */
static int fast_up(struct manager *m, const struct network *n, bool add, tk_err *err)
{
	int ifindex = n->bridge_ifindex;

	if (fast.prog < 0)
		return 0;
	if (add && ifindex <= 0 && tk_nl_ifindex(m->nl, n->bridge, &ifindex, NULL) < 0)
		return 0;
	return tk_fast_up(&fast, firewall_network_group(n), ifindex, add, err);
}

int firewall_network(struct manager *m, const struct network *n, bool add, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	int r;

	if (!add && (r = fast_up(m, n, false, err)) < 0)
		return r;
	if ((r = tk_nft_batch_new(m->nft, &b, err)) < 0 ||
	    (r = network_elements(b, n, add, err)) < 0 ||
	    (r = network_egress_element(b, n, add, err)) < 0 ||
	    (r = tk_nft_batch_commit(b, err)) < 0 || !add)
		return r;
	if ((r = fast_up(m, n, true, err)) < 0) {
		(void)firewall_network(m, n, false, NULL);
		return r;
	}
	return 0;
}

static int link_routes_cb(struct endpoint *e, void *userdata)
{
	const struct fast_routes *ctx = userdata;

	return fast_route_elements(ctx->from, e, ctx->add, ctx->err);
}

/* The fast path's routes between a and b, both ways (fast_route_elements). */
static int link_routes(struct manager *m, const struct network *a, const struct network *b,
		       bool add, tk_err *err)
{
	struct fast_routes to_b = { .from = a, .add = add, .err = err },
			   to_a = { .from = b, .add = add, .err = err };
	int r;

	if (fast.prog < 0 || a == b)
		return 0;
	if ((r = db_endpoints_foreach(m, b, NULL, link_routes_cb, &to_b, err)) < 0)
		return r;
	return db_endpoints_foreach(m, a, NULL, link_routes_cb, &to_a, err);
}

int firewall_link(struct manager *m, const struct network *a, const struct network *b, bool add,
		  tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *batch = NULL;
	int r;

	/* The routes go before the rules that allow them, and come after them. */
	if (!add && (r = link_routes(m, a, b, false, err)) < 0)
		return r;
	if ((r = tk_nft_batch_new(m->nft, &batch, err)) < 0 ||
	    (r = link_elements(batch, a, b, add, err)) < 0 ||
	    (r = tk_nft_batch_commit(batch, err)) < 0 || !add)
		return r;
	if ((r = link_routes(m, a, b, true, err)) < 0) {
		(void)firewall_link(m, a, b, false, NULL);
		return r;
	}
	return 0;
}

static void ports_table(struct tk_nft_batch *b);
static int ports_rebuild(struct manager *m, struct tk_nft_batch *b, tk_err *err);

struct rebuild {
	struct manager *m;
	struct tk_nft_batch *batch;
	const struct network *network;
	struct taken taken;
	tk_err *err;
};

static int rebuild_link(struct network *other, void *userdata)
{
	struct rebuild *ctx = userdata;

	/* Each pair is visited from both ends: add it once. */
	if (other->id < ctx->network->id)
		return 0;
	return link_elements(ctx->batch, ctx->network, other, true, ctx->err);
}

static int recheck_endpoint(struct endpoint *e, void *userdata)
{
	struct rebuild *ctx = userdata;
	int ifindex;

	if (e->lease || tk_nl_ifindex(ctx->m->nl, e->host_ifname, &ifindex, NULL) < 0)
		return 0;
	return firewall_fast_path_hook(ctx->m, e, ifindex,
				       foreign_of(ctx->m, e, &ctx->taken, ifindex), ctx->err);
}

static int rebuild_endpoint(struct endpoint *e, void *userdata)
{
	struct rebuild *ctx = userdata;
	int r, ifindex;

	if (e->lease)
		return 0;
	if ((r = endpoint_elements(ctx->batch, e, true, ctx->err)) < 0)
		return r;
	/* A port whose veth is gone has nothing to forward to: reconcile releases it. */
	if (tk_nl_ifindex(ctx->m->nl, e->host_ifname, &ifindex, NULL) < 0)
		return 0;
	/*
	 * Replaces the filter an earlier netd (or rebuild) left, whose maps nobody writes any
	 * more, with no moment without one; without a fast path now, takes it off.
	 */
	if (fast.prog < 0)
		return tk_fast_attach(&fast, ifindex, false, ctx->err);
	if ((r = fast_path_port(ctx->m, e, ifindex, true, ctx->err)) < 0 ||
	    (r = firewall_fast_path_hook(ctx->m, e, ifindex,
					 foreign_of(ctx->m, e, &ctx->taken, ifindex), ctx->err)) <
		    0)
		return r;
	return fault_point("rebuild-endpoint", ctx->err);
}

int firewall_fast_path_recheck_all(struct manager *m, tk_err *err)
{
	struct rebuild ctx = { .m = m, .err = err };
	int r;

	if (fast.prog < 0)
		return 0;
	if ((r = taken_read(m, &ctx.taken, err)) >= 0)
		r = db_endpoints_foreach(m, NULL, NULL, recheck_endpoint, &ctx, err);
	free(ctx.taken.ifindexes);
	return r;
}

static int fast_path_off_link(const struct tk_link_info *link, void *userdata)
{
	tk_err err = {};

	(void)userdata;
	if (tk_fast_detach(link->ifindex, &err) < 0)
		log_error("%s: %s", link->name, err.msg);
	return 0;
}

/*
 * After a rebuild that failed half-way: the links it did not reach still hold the programs
 * before it, whose maps nothing writes any more, and would forward by them (to a network
 * unlinked since, say).  So the fast path comes off every link (a shaped port keeps its meter,
 * whose chain is emptied), and the bridges and their rules carry everything until a rebuild
 * succeeds.
 */
static void fast_path_abandon(struct manager *m, const char *why)
{
	tk_err err = {};

	attacher_cancel(m, 0);
	tk_fast_close(&fast);
	fast_path_remote = false;
	snprintf(fast_off, sizeof(fast_off), "the last rebuild failed: %s", why);
	log_error("Taking the fast path off every link: %s", fast_off);
	if ((fast_port.chain >= 0 && tk_fast_port_set(&fast_port, &fast, &err) < 0) ||
	    (fast_chain >= 0 && tk_fast_chain_set(fast_chain, &fast, &err) < 0))
		log_error("%s", err.msg);
	tk_err_clear(&err);
	if (tk_nl_link_foreach(m->nl, "", fast_path_off_link, NULL, &err) < 0)
		log_error("Cannot list the links to take the fast path off them: %s", err.msg);
	memset(uplink_ifindex, 0, sizeof(uplink_ifindex));
}

struct overlay_closed {
	struct manager *m;
	struct tk_nft_batch *batch;
	tk_err *err;
};

static int overlay_port_closed(const struct tk_link_info *link, void *userdata)
{
	const struct overlay_closed *ctx = userdata;
	const union tk_nft_value port[] = { { .ifname = link->name } };
	bool ipv6 = false;
	int r;

	for (const struct network *n = ctx->m->networks; n; n = n->next)
		if (link->master > 0 && n->bridge_ifindex == link->master)
			ipv6 = n->has6;
	if ((r = tk_nft_batch_element(ctx->batch, &set_ports, true, port, ctx->err)) < 0 ||
	    (ipv6 && (r = tk_nft_batch_element(ctx->batch, &set_ports6, true, port, ctx->err)) < 0))
		return r;
	return 0;
}

/*
 * The overlay's VXLAN devices (an earlier run's too) policed in the rebuilt tables, each in
 * @ports (and @ports6) with no source element yet, so that their frames are dropped until the
 * sync the rebuild asks for adds the registered endpoints' again (overlay_firewall_lost); and
 * this host's underlay in @overlay_local, so that VXLAN from a host not yet in @overlay_peers is
 * dropped too.  Without them the overlay's frames went onto the bridges unchecked, and VXLAN
 * from anyone in, until that sync.
 */
static int overlay_closed(struct manager *m, struct tk_nft_batch *b, tk_err *err)
{
	struct overlay_closed ctx = { .m = m, .batch = b, .err = err };
	struct tk_addr local;
	const union tk_nft_value key[] = { { .addr = &local } };
	int r;

	if ((r = tk_nl_link_foreach(m->nl, "tkx", overlay_port_closed, &ctx, err)) < 0)
		return r;
	if (tk_addr_parse(cluster_underlay(m), &local, err) < 0)
		return -EINVAL;
	return tk_nft_batch_element(
		b, local.family == AF_INET6 ? &set_overlay_local6 : &set_overlay_local4, true, key,
		err);
}

static int rebuild(struct manager *m, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	struct rebuild ctx = { .m = m, .err = err };
	int r;

	if ((r = tk_nft_batch_new(m->nft, &b, err)) < 0)
		return r;
	/* Replaces the tables, rules and elements, in one step: never a moment without them. */
	tk_nft_batch_table_delete(b, NFPROTO_INET);
	tk_nft_batch_table_delete(b, NFPROTO_BRIDGE);
	/* An earlier netd's fast path (an nftables netdev chain), which the BPF one replaces. */
	tk_nft_batch_table_delete(b, NFPROTO_NETDEV);
	inet_table(b, m->cluster != NULL);
	ports_table(b);
	bridge_table(b);
	if (m->cluster && (r = overlay_closed(m, b, err)) < 0)
		return r;
	ctx.batch = b;
	for (const struct network *n = m->networks; n; n = n->next) {
		ctx.network = n;
		if ((r = network_elements(b, n, true, err)) < 0 ||
		    (r = network_egress_element(b, n, true, err)) < 0 ||
		    (r = db_links_foreach(m, n, rebuild_link, &ctx, err)) < 0 ||
		    (r = fast_up(m, n, true, err)) < 0)
			return r;
	}
	/* A qdisc of another program on a port's ingress (the bandwidth plugin's) keeps the port
	 * off the fast path (firewall_fast_path_hook). */
	if (fast.prog >= 0 && (r = taken_read(m, &ctx.taken, err)) < 0) {
		free(ctx.taken.ifindexes);
		return r;
	}
	r = db_endpoints_foreach(m, NULL, NULL, rebuild_endpoint, &ctx, err);
	free(ctx.taken.ifindexes);
	if (r < 0 || (r = ports_rebuild(m, b, err)) < 0 ||
	    /* the ports' stubs and the shaped ports' meters now tail-call the new program, which
	       has every element */
	    (fast_port.chain >= 0 && (r = tk_fast_port_set(&fast_port, &fast, err)) < 0) ||
	    (fast_chain >= 0 && (r = tk_fast_chain_set(fast_chain, &fast, err)) < 0))
		return r;
	overlay_firewall_lost();      /* the overlay's elements are added again at its next sync */
	accounting_before_rebuild(m); /* the drop counters start over with the tables */
	return tk_nft_batch_commit(b, err);
}

int firewall_rebuild(struct manager *m, const struct tk_link_list *links, tk_err *err)
{
	/*
	 * New maps and program each time, filled from the database like the tables: the old ones
	 * go once no port's filter holds them, and nothing stale survives a rebuild.
	 */
	_cleanup_(tk_fast_close) struct tk_fast old = fast;
	int r;

	(void)old; /* read only by its cleanup, once the ports hold the new program */
	fast_path_open(m);
	fast_path_remote = fast.prog >= 0 && m->cluster;
	nat_uplinks_attach(m, links);
	if ((r = rebuild(m, err)) < 0)
		fast_path_abandon(m, err ? err->msg : strerror(-r));
	cluster_sync_later(m); /* the overlay's elements, now (overlay_closed) */
	return r;
}

/* ---- published ports and egress addresses (docs/firewall.md) ------------------------------ */

/*
 * One DNAT map per family keyed by protocol and host port (any local address), one keyed by
 * address, protocol and port (a mapping bound to one host address): one element per mapping,
 * so a packet costs one or two hash lookups however many ports are published.  The egress maps
 * take the bridge of each NAT-ed network of a tenant with an egress address to that address.
 * (A map keyed by tenant id would need two chained lookups, which nft 1.0 cannot print: it
 * aborts listing the ruleset.)
 */
enum { L4PROTO = TK_NFT_L4PROTO, PORT = TK_NFT_PORT };

static const struct tk_nft_set map_pub4 = { "pub4",	    41, NFPROTO_INET, { L4PROTO, PORT }, 2,
					    { IPV4, PORT }, 2 },
			       map_pub4_ip = { "pub4_ip",
					       42,
					       NFPROTO_INET,
					       { IPV4, L4PROTO, PORT },
					       3,
					       { IPV4, PORT },
					       2 },
			       map_pub6 = { "pub6",	    43, NFPROTO_INET, { L4PROTO, PORT }, 2,
					    { IPV6, PORT }, 2 },
			       map_pub6_ip = { "pub6_ip",
					       44,
					       NFPROTO_INET,
					       { IPV6, L4PROTO, PORT },
					       3,
					       { IPV6, PORT },
					       2 },
			       map_egress4 = { "egress4", 45, NFPROTO_INET, { IFNAME }, 1,
					       { IPV4 },  1 },
			       map_egress6 = { "egress6", 46, NFPROTO_INET, { IFNAME }, 1,
					       { IPV6 },  1 };

static const struct tk_nft_chain
	ports_pre = { "ports_pre", NFPROTO_INET, "nat", NF_INET_PRE_ROUTING, -100 },
	ports_out = { "ports_out", NFPROTO_INET, "nat", NF_INET_LOCAL_OUT, -100 },
	publish = { "publish", NFPROTO_INET, NULL, 0, 0 },
	/* before postrouting's masquerade: the first chain that NATs a connection decides */
	ports_post = { "ports_post", NFPROTO_INET, "nat", NF_INET_POST_ROUTING, 90 };

/* ct status dnat */
static void match_dnat(struct tk_nft_rule *R)
{
	const uint32_t bit = IPS_DST_NAT, zero = 0;

	tk_nft_ct(R, NFT_CT_STATUS, NFT_REG32_00);
	tk_nft_mask(R, &bit, 4);
	tk_nft_cmp(R, NFT_CMP_NEQ, &zero, 4);
}

static void match_published(struct tk_nft_rule *R)
{
	tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, false);
	match_dnat(R);
	tk_nft_verdict(R, NF_ACCEPT, NULL);
}

/* [daddr .] meta l4proto . th dport into registers 0.., looked up in map, dnat to its data. */
static void publish_rule(struct tk_nft_batch *b, const struct tk_nft_set *map, bool v6,
			 bool by_addr)
{
	static const struct tk_nft_field dport = { TH, 2, 2 };
	const uint32_t addr_regs = v6 ? 4 : 1;

	struct tk_nft_rule *R = tk_nft_rule_begin(b, &publish);
	uint32_t reg = NFT_REG32_00;

	tk_nft_match_meta8(R, NFT_META_NFPROTO, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	if (by_addr) {
		tk_nft_payload(R, v6 ? &ip6_daddr : &ip4_daddr, reg);
		reg += addr_regs;
	}
	tk_nft_meta(R, NFT_META_L4PROTO, reg);
	tk_nft_payload(R, &dport, reg + 1);
	tk_nft_map_lookup(R, map, NFT_REG32_00);
	tk_nft_nat(R, NFT_NAT_DNAT, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4, NFT_REG32_00,
		   NFT_REG32_00 + addr_regs);
	tk_nft_rule_end(R);
}

/* iifname @nat_bridges oifname != @bridges snat to iifname map @egressN */
static void egress_rule(struct tk_nft_batch *b, const struct tk_nft_set *map, bool v6)
{
	RULE(b, &ports_post,
	     tk_nft_match_meta8(R, NFT_META_NFPROTO, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	     tk_nft_match_set(R, IIF, NULL, 0, &set_nat_bridges, false);
	     tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, true);
	     tk_nft_meta(R, IIF, NFT_REG32_00); tk_nft_map_lookup(R, map, NFT_REG32_00);
	     tk_nft_nat(R, NFT_NAT_SNAT, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4, NFT_REG32_00, 0));
}

static void ports_table(struct tk_nft_batch *b)
{
	const uint32_t local = RTN_LOCAL;
	const uint8_t loopback_net = 127, net_mask = 0xff;
	const char no_ifname[IFNAMSIZ] = "";
	static const struct tk_nft_field ip4_saddr_net = { NH, 12, 1 };

	tk_nft_batch_set_add(b, &map_pub4);
	tk_nft_batch_set_add(b, &map_pub4_ip);
	tk_nft_batch_set_add(b, &map_pub6);
	tk_nft_batch_set_add(b, &map_pub6_ip);
	tk_nft_batch_set_add(b, &map_egress4);
	tk_nft_batch_set_add(b, &map_egress6);
	tk_nft_batch_chain_add(b, &publish);
	tk_nft_batch_chain_add(b, &ports_pre);
	tk_nft_batch_chain_add(b, &ports_out);
	tk_nft_batch_chain_add(b, &ports_post);

	/* fib daddr type local jump publish: only what is addressed to the host itself */
	RULE(b, &ports_pre, tk_nft_fib_type(R, NFTA_FIB_F_DADDR, NFT_REG32_00);
	     tk_nft_cmp(R, NFT_CMP_EQ, &local, 4); tk_nft_verdict(R, NFT_JUMP, "publish"));
	RULE(b, &ports_out, tk_nft_fib_type(R, NFTA_FIB_F_DADDR, NFT_REG32_00);
	     tk_nft_cmp(R, NFT_CMP_EQ, &local, 4); tk_nft_verdict(R, NFT_JUMP, "publish"));
	/* A mapping bound to a host address first, then one for every address. */
	publish_rule(b, &map_pub4_ip, false, true);
	publish_rule(b, &map_pub4, false, false);
	publish_rule(b, &map_pub6_ip, true, true);
	publish_rule(b, &map_pub6, true, false);

	/*
	 * ct status dnat iifname . oifname @links masquerade: hairpin.  A container reaching a
	 * published port of its own network (or a linked one) must get the replies through the
	 * host, which undoes the DNAT, not straight over the bridge.
	 */
	RULE(b, &ports_post, match_dnat(R); tk_nft_meta(R, IIF, NFT_REG32_00);
	     tk_nft_meta(R, OIF, NFT_REG32_04); tk_nft_lookup(R, &set_links, false);
	     tk_nft_masquerade(R));
	/*
	 * ct status dnat oifname @bridges ip saddr 127.0.0.0/8 masquerade: the host's own
	 * connections to 127.0.0.1 (route_localnet lets them leave lo; the container answers the
	 * gateway instead).
	 */
	RULE(b, &ports_post, match_dnat(R); tk_nft_match_meta8(R, NFT_META_NFPROTO, NFPROTO_IPV4);
	     tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, false);
	     tk_nft_payload(R, &ip4_saddr_net, NFT_REG32_00); tk_nft_mask(R, &net_mask, 1);
	     tk_nft_cmp(R, NFT_CMP_EQ, &loopback_net, 1); tk_nft_masquerade(R));
	/*
	 * ct status dnat oifname @bridges iifname "" fib saddr type != local masquerade: hairpin
	 * with br_netfilter, which hands a DNAT-ed packet bound back to the bridge it came from on
	 * to the bridge (to the container's port in hairpin mode, ports_port_hairpin) with no
	 * input interface here.  A container reaching its own published port must see the
	 * connection come from the gateway: with its own address as the source, its kernel would
	 * drop the packet (a martian) or answer itself.  The same holds for a container reaching
	 * another one of its network: the answer must come back through the host, which undoes the
	 * DNAT, and not over the bridge, which does not track traffic to a container address
	 * (bridge_fast_path()).  Only the host's own connections (a local source) also come without
	 * an input interface; they keep their source.
	 */
	RULE(b, &ports_post, match_dnat(R); tk_nft_match_set(R, OIF, NULL, 0, &set_bridges, false);
	     tk_nft_meta(R, IIF, NFT_REG32_00); tk_nft_cmp(R, NFT_CMP_EQ, no_ifname, IFNAMSIZ);
	     tk_nft_fib_type(R, NFTA_FIB_F_SADDR, NFT_REG32_00);
	     tk_nft_cmp(R, NFT_CMP_NEQ, &local, 4); tk_nft_masquerade(R));
	egress_rule(b, &map_egress4, false);
	egress_rule(b, &map_egress6, true);
}

static int network_egress_element(struct tk_nft_batch *b, const struct network *n, bool add,
				  tk_err *err)
{
	const struct tk_tenant *t = n->tenant;
	const union tk_nft_value br[] = { { .ifname = n->bridge } },
				 addr[] = { { .addr = &t->egress_ip } };

	if (!t->has_egress_ip || !n->nat)
		return 0;
	return tk_nft_batch_map_element(
		b, t->egress_ip.family == AF_INET ? &map_egress4 : &map_egress6, add, br, addr,
		err);
}

/* One mapping: an element per address family the endpoint has (or the host address's). */
static int mapping_elements(struct tk_nft_batch *b, const struct endpoint *e,
			    const struct port_mapping *p, bool add, tk_err *err)
{
	const union tk_nft_value any[] = { { .u32 = p->protocol }, { .u32 = p->host_port } },
				 bound[] = { { .addr = &p->host_ip }, any[0], any[1] },
				 to4[] = { { .addr = &e->ip4 }, { .u32 = p->container_port } },
				 to6[] = { { .addr = &e->ip6 }, { .u32 = p->container_port } };
	int r;

	if (e->has4 && (!p->has_host_ip || p->host_ip.family == AF_INET) &&
	    (r = tk_nft_batch_map_element(b, p->has_host_ip ? &map_pub4_ip : &map_pub4, add,
					  p->has_host_ip ? bound : any, to4, err)) < 0)
		return r;
	if (e->has6 && (!p->has_host_ip || p->host_ip.family == AF_INET6) &&
	    (r = tk_nft_batch_map_element(b, p->has_host_ip ? &map_pub6_ip : &map_pub6, add,
					  p->has_host_ip ? bound : any, to6, err)) < 0)
		return r;
	return 0;
}

static int ports_elements(struct tk_nft_batch *b, const struct endpoint *e,
			  const struct port_list *l, bool add, tk_err *err)
{
	int r;

	for (unsigned i = 0; l && i < l->n; i++)
		if ((r = mapping_elements(b, e, &l->p[i], add, err)) < 0)
			return r;
	return 0;
}

/*
 * A port's fast path elements, at its veth's index: an attach knows it before the veth exists
 * (the index netd chose); an undone detach asks the kernel, as a rebuild does (none: the veth
 * is gone).
 */
static int fast_path_port_add(struct manager *m, const struct endpoint *e, tk_err *err)
{
	int ifindex = e->host_ifindex;

	if (ifindex <= 0 && !e->lease && tk_nl_ifindex(m->nl, e->host_ifname, &ifindex, NULL) < 0)
		ifindex = 0;
	return fast_path_port(m, e, ifindex, true, err);
}

int firewall_endpoint_ports(struct manager *m, const struct endpoint *e,
			    const struct port_list *ports, bool add, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	int r;

	/* The fast path holds a port only while the bridge's rules do (fast_path_port). */
	if (!add && (r = fast_path_port(m, e, 0, false, err)) < 0)
		return r;
	if ((r = tk_nft_batch_new(m->nft, &b, err)) < 0 ||
	    (r = endpoint_elements(b, e, add, err)) < 0 ||
	    (r = ports_elements(b, e, ports, add, err)) < 0 ||
	    (!add && (r = fault_point("endpoint-detach-firewall", err)) < 0) ||
	    (r = tk_nft_batch_commit(b, err)) < 0) {
		/* A detach that failed: the port keeps its rules, and its fast path with them. */
		if (!add)
			(void)fast_path_port_add(m, e, NULL);
		return r;
	}
	if (add && (r = fast_path_port_add(m, e, err)) < 0) {
		(void)firewall_endpoint_ports(m, e, ports, false, NULL);
		return r;
	}
	return 0;
}

int firewall_ports(struct manager *m, const struct endpoint *e, const struct port_list *old,
		   const struct port_list *new, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	int r;

	if ((r = tk_nft_batch_new(m->nft, &b, err)) < 0 ||
	    (r = ports_elements(b, e, old, false, err)) < 0 ||
	    (r = ports_elements(b, e, new, true, err)) < 0)
		return r;
	return tk_nft_batch_commit(b, err);
}

static int rebuild_ports(struct endpoint *e, const struct port_list *l, void *userdata)
{
	struct rebuild *ctx = userdata;
	int r = ports_bridge_localnet(e->network, ctx->err);

	/* For ports made before netd set it; a port already gone is released by reconcile. */
	if (r >= 0 && l->n > 0)
		(void)ports_port_hairpin(ctx->m, e, true, NULL);
	return r < 0 ? r : ports_elements(ctx->batch, e, l, true, ctx->err);
}

static int ports_rebuild(struct manager *m, struct tk_nft_batch *b, tk_err *err)
{
	struct rebuild ctx = { .m = m, .batch = b, .err = err };

	return ports_foreach(m, rebuild_ports, &ctx, err);
}

/* ---- overlay (netd/overlay.c, docs/firewall.md) ---- */

int firewall_overlay_host(struct manager *m, const struct tk_addr *underlay, bool local, bool add,
			  tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	const union tk_nft_value key[] = { { .addr = underlay } };
	const bool v6 = underlay->family == AF_INET6;
	const struct tk_nft_set *set = local ? (v6 ? &set_overlay_local6 : &set_overlay_local4)
					     : (v6 ? &set_overlay_peers6 : &set_overlay_peers4);
	int r;

	if ((r = tk_nft_batch_new(m->nft, &b, err)) < 0 ||
	    (r = tk_nft_batch_element(b, set, add, key, err)) < 0)
		return r;
	return tk_nft_batch_commit(b, err);
}

/*
 * The VXLAN device of a network is policed like a container's port: in @ports (and @ports6 on a
 * dual-stack network), with one @port_mac / @port_ip4 / @port_ip6 element per remote endpoint
 * registered for the network, so a frame from the overlay with any other source is dropped.
 */
int firewall_overlay_port(struct manager *m, const char *ifname, bool ipv6, bool add, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	const union tk_nft_value port[] = { { .ifname = ifname } };
	int r;

	if ((r = tk_nft_batch_new(m->nft, &b, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &set_ports, add, port, err)) < 0 ||
	    (ipv6 && (r = tk_nft_batch_element(b, &set_ports6, add, port, err)) < 0))
		return r;
	return tk_nft_batch_commit(b, err);
}

int firewall_overlay_peer(struct manager *m, uint32_t group, const char *ifname, int ifindex,
			  const uint8_t mac[6], const struct tk_addr *ip4,
			  const struct tk_addr *ip6, bool add, tk_err *err)
{
	_cleanup_(tk_nft_batch_freep) struct tk_nft_batch *b = NULL;
	const struct tk_addr ll = tk_addr_link_local(mac);
	const union tk_nft_value port[] = { { .ifname = ifname }, { .mac = mac } },
				 k4[] = { port[0], { .addr = ip4 }, port[1] },
				 k6[] = { port[0], { .addr = ip6 }, port[1] },
				 k6_ll[] = { port[0], { .addr = &ll }, port[1] };
	int r;

	if ((r = tk_nft_batch_new(m->nft, &b, err)) < 0 ||
	    (r = tk_nft_batch_element(b, &set_port_mac, add, port, err)) < 0)
		return r;
	if (ip4 && (r = tk_nft_batch_element(b, &set_port_ip4, add, k4, err)) < 0)
		return r;
	if (ip6 && ((r = tk_nft_batch_element(b, &set_port_ip6, add, k6, err)) < 0 ||
		    (r = tk_nft_batch_element(b, &set_port_ip6, add, k6_ll, err)) < 0))
		return r;
	/* The fast path, both ways: only what the bridge's rules allow (fast_path_port). */
	if (!add && fast_path_remote &&
	    (r = fast_elements(group, ifindex, mac, ip4, ip6, false, false, err)) < 0)
		return r;
	if ((r = tk_nft_batch_commit(b, err)) < 0 || !add || !fast_path_remote)
		return r;
	if ((r = fast_elements(group, ifindex, mac, ip4, ip6, false, true, err)) < 0)
		(void)firewall_overlay_peer(m, group, ifname, ifindex, mac, ip4, ip6, false, NULL);
	return r;
}

/*
 * A network's VXLAN device on the fast path, its sources under its network's group with
 * GROUP_OVERLAY: a frame from an endpoint another host registered for the network to a port of
 * this host is forwarded to the port, past the bridge, as between two local ports; never back to
 * the overlay.  n NULL: takes it off.
 */
int firewall_overlay_fast(struct manager *m, const struct network *n, const char *ifname,
			  tk_err *err)
{
	int r, ifindex;

	if ((r = tk_nl_ifindex(m->nl, ifname, &ifindex, err)) < 0)
		return n ? r : 0;
	/* A shaped tenant's meter takes the hook, and calls the fast path after it. */
	if (n && (r = shaping_overlay(m, n, ifindex, err)) != 0)
		return r < 0 ? r : 0;
	return fast_path_remote ? tk_fast_attach(&fast, ifindex, n != NULL, err) : 0;
}

/* ---- drop counters (netd/accounting.c, docs/accounting.md) ---- */

static const struct tk_nft_set *drops_set(enum firewall_drops reason)
{
	return reason == FIREWALL_DROPS_SPOOFING ? &set_spoof_drops : &set_isolation_drops;
}

struct drops_walk {
	firewall_drops_cb cb;
	void *userdata;
};

static int drops_cb(const char *ifname, const struct tk_nft_counter *c, void *userdata)
{
	struct drops_walk *w = userdata;
	return w->cb(ifname, c->packets, w->userdata);
}

int firewall_drops_foreach(struct manager *m, enum firewall_drops reason, firewall_drops_cb cb,
			   void *userdata, tk_err *err)
{
	struct drops_walk w = { cb, userdata };

	return tk_nft_set_counters(m->nft, drops_set(reason), drops_cb, &w, err);
}

int firewall_drops_get(struct manager *m, enum firewall_drops reason, const char *ifname,
		       uint64_t *ret, tk_err *err)
{
	const union tk_nft_value key[] = { { .ifname = ifname } };
	struct tk_nft_counter c;
	int r;

	if ((r = tk_nft_element_counter(m->nft, drops_set(reason), key, &c, err)) < 0)
		return r;
	*ret = c.packets;
	return 0;
}
