/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The containers' fast path (docs/firewall.md): one BPF program, on the tcx ingress of every port
 * (tk_fast_attach), that hands a frame from a port's own MAC and address to the port of the same
 * network that owns its destination MAC and address, past the bridge, or routes it to a port
 * of a linked network, past the bridge and the host's routing.  Three hash maps a family:
 *
 *   src: (input ifindex, source MAC, source address) -> group, what the frame may be sent to
 *   fwd: (group, destination MAC, destination address) -> the ifindex it is redirected to
 *   rt:  (group, its gateway's MAC, destination address) -> the ifindex it is routed to, with
 *        the destination's MAC and its own gateway's MAC for the frame's new Ethernet header
 *   up:  group -> its bridge, into whose ingress a frame to the gateway's MAC
 *        (0a:7f:<group>) that neither map above routes goes, past the bridge's port
 *
 * A container's UDP (IPv4 or IPv6) to the world whose connection conntrack has already
 * source-NATed goes out past the host's forwarding, translated as the entry says (nat4() and
 * nat6() in fastpath.c); on an uplink (tk_fast_uplink), a second program sends the world's
 * replies to such a connection back to the container the same way, once one has taken the
 * host's.
 * Everything else, and whatever finds no element, goes on (TCX_NEXT) to tc's filters, then the
 * bridge and its rules.
 */

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"

/*
 * Where the programs sent a frame, each counted (packets and bytes, per CPU) just before it
 * goes: to a port of its own network past the bridge (BRIDGED; under --cluster also to and
 * from the overlay's device), to a port of a linked network (ROUTED), into its bridge's
 * ingress for the host's stack (TO_HOST: its router, egress until conntrack has the
 * connection, published ports), out to the world by the NAT path (NAT_OUT) and back from it
 * (NAT_BACK); or left to the bridge and its rules (BRIDGE: ARP, DHCP, broadcast, a destination
 * the maps do not hold).
 */
enum tk_fast_way {
	TK_FAST_BRIDGED,
	TK_FAST_ROUTED,
	TK_FAST_TO_HOST,
	TK_FAST_NAT_OUT,
	TK_FAST_NAT_BACK,
	TK_FAST_BRIDGE,
	_TK_FAST_WAY_MAX
};

struct tk_fast_count {
	uint64_t packets, bytes;
};

/* "bridged", "routed", "to_host", "nat_out", "nat_back", "bridge" */
const char *tk_fast_way_name(enum tk_fast_way way);

struct tk_fast {
	int counts; /* tk_fast_counts_open()'s, the caller's: it outlives the programs */
	int port;   /* what tk_fast_attach puts on a port: the caller's tk_fast_port; -1: prog */
	int prog;   /* -1: none */
	int tail;   /* the same, but what it does not forward goes on to the bridge (TCX_PASS) */
	int back;   /* an uplink's: the world's replies to the NAT path's connections; -1: none */
	int src4, fwd4, src6, fwd6, rt4, rt6, up;
	char nat_off[512]; /* why the programs have no NAT path; "": they have it */
};

#define TK_FAST_INIT                                                                               \
	{                                                                                          \
		.counts = -1, .port = -1, .prog = -1, .tail = -1, .back = -1, .src4 = -1,          \
		.fwd4 = -1, .src6 = -1, .fwd6 = -1, .rt4 = -1, .rt6 = -1, .up = -1                 \
	}

/*
 * Makes the maps and loads the program that reads them; fails where the kernel cannot.  Where it
 * cannot have the NAT path (conntrack's kfuncs, read in the kernel's BTF), the program is loaded
 * without it and nat_off says why; so it is with TK_NETD_NO_NAT_PATH set.  The programs count
 * what they send in counts (tk_fast_counts_open()), which tk_fast_close() leaves open.
 */
int tk_fast_open(struct tk_fast *f, int counts, tk_err *err);
void tk_fast_close(struct tk_fast *f);

/* add: sets the element (replacing one of that key); !add: removes it, none there is no error. */
int tk_fast_src(const struct tk_fast *f, int ifindex, const uint8_t mac[6],
		const struct tk_addr *ip, uint32_t group, bool add, tk_err *err);
int tk_fast_fwd(const struct tk_fast *f, uint32_t group, const uint8_t mac[6],
		const struct tk_addr *ip, int ifindex, bool add, tk_err *err);
/*
 * A frame of group's network to its gateway's MAC gw_mac and to address ip is routed to
 * ifindex, the port of a linked network that owns ip, with mac (that port's container's) as
 * its destination and via_mac (that network's gateway's) as its source.
 */
int tk_fast_route(const struct tk_fast *f, uint32_t group, const uint8_t gw_mac[6],
		  const struct tk_addr *ip, int ifindex, const uint8_t mac[6],
		  const uint8_t via_mac[6], bool add, tk_err *err);
/* A frame of group's network to its gateway goes into bridge_ifindex's ingress. */
int tk_fast_up(const struct tk_fast *f, uint32_t group, int bridge_ifindex, bool add, tk_err *err);
/* The fwd element's ifindex; -ENOENT when there is none. */
int tk_fast_fwd_get(const struct tk_fast *f, uint32_t group, const uint8_t mac[6],
		    const struct tk_addr *ip, int *ret_ifindex);

/*
 * What a port's tcx ingress holds: a program named tk_fast that tail-calls the one in its chain's
 * slot (tk_fast_main: tk_fast_port_set), or hands the frame on when the slot is empty.  A
 * rebuild's new program takes the slot in one update whatever the number of ports, which keep
 * the stub they hold: attaching a program to a port waits for an RCU grace period with RTNL held
 * (tcx_entry_sync()), some 15 ms where grace periods are slow.  A netd adopts the stub an earlier
 * one left on its ports (tk_fast_port_adopt), so neither a rebuild nor a restart attaches again.
 */
struct tk_fast_port {
	int prog, chain;
};
#define TK_FAST_PORT_INIT                                                                          \
	{                                                                                          \
		.prog = -1, .chain = -1                                                            \
	}
int tk_fast_port_open(struct tk_fast_port *p, tk_err *err);
void tk_fast_port_close(struct tk_fast_port *p);
/*
 * Replaces p's stub and chain with those on ifindex's tcx ingress, when it holds a stub of the
 * same code and a chain of the same kind: 1 when it did (or it holds p's), 0 when it holds none.
 */
int tk_fast_port_adopt(struct tk_fast_port *p, int ifindex);
/* Points p's chain at f's program (none: empties it, and the ports hand their frames on). */
int tk_fast_port_set(const struct tk_fast_port *p, const struct tk_fast *f, tk_err *err);

/*
 * Puts the port's program (f->port, else f->prog) on ifindex's tcx ingress (on) and takes every
 * other program of ours off it (an earlier netd's, or rebuild's, or a meter's), or takes them all
 * off (!on).
 */
int tk_fast_attach(const struct tk_fast *f, int ifindex, bool on, tk_err *err);
/*
 * Takes the fast path's programs (any netd's or rebuild's, on a port, a VXLAN device or an
 * uplink) off ifindex's tcx ingress, and leaves a shaped port's meter there.
 */
int tk_fast_detach(int ifindex, tk_err *err);

/*
 * Puts the uplinks' program (back) on ifindex's tcx ingress (on), or takes every program of ours
 * off it (!on, or no NAT path).
 */
int tk_fast_uplink(const struct tk_fast *f, int ifindex, bool on, tk_err *err);

/*
 * Puts prog on ifindex's tcx ingress (or egress) and then takes every other program of ours
 * (named tk_*) off that hook; prog -1: takes them all off.
 */
int tk_tcx_attach(int ifindex, bool egress, int prog, tk_err *err);

/*
 * The programs' counters (a per-CPU array, one slot a way), made once and kept across the
 * rebuilds that replace the programs, so that they count from netd's start.
 */
int tk_fast_counts_open(tk_err *err);
/* Each way's packets and bytes, summed over the CPUs. */
int tk_fast_counts_read(int counts, struct tk_fast_count ret[_TK_FAST_WAY_MAX], tk_err *err);

/*
 * The chain: a BPF program array of one slot, which outlives the rebuilds that replace the
 * program, so that the meters of shaped ports (lib/nl-tc.c), loaded once, tail-call whichever
 * fast path is current.  tk_fast_chain_set points it at f's tail program (none: empties it, and a
 * meter's tail call falls through to the bridge).
 */
int tk_fast_chain_open(tk_err *err);
int tk_fast_chain_set(int chain, const struct tk_fast *f, tk_err *err);
