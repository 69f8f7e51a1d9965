/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Traffic control verbs for per-tenant shaping (nl-tc.c, the tc half of the rtnetlink boundary;
 * docs/bandwidth.md has the design).  Everything is addressed by ifindex in the tk_nl handle's
 * netns.  Rates are bits per second.
 */

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct tk_nl;

/* The HTB of a shaping device is 1:, its classes 1:minor. */
#define TK_TC_HANDLE(major, minor) (((uint32_t)(major) << 16) | (uint16_t)(minor))
/*
 * Without fq_codel a class's leaf is two bands (nl-tc.c): qdisc minor: whose class minor:1 takes
 * the packets of at most TK_TC_SPARSE_BYTES (Ethernet header included) first and minor:2 the rest,
 * queued in qdisc (minor | TK_TC_BULK_MAJOR):.  So classes go up to 1:7fff.
 */
#define TK_TC_SPARSE_BYTES 256
#define TK_TC_BULK_MAJOR   0x8000

/*
 * Makes the IFB device name (if missing) with an HTB root qdisc 1: whose unclassified traffic
 * passes unshaped, and sets it up.  ret_created: whether it was made now.
 */
int tk_tc_ifb_ensure(struct tk_nl *nl, const char *name, int *ret_ifindex, bool *ret_created,
		     tk_err *err);

/*
 * Creates or changes HTB class 1:minor on ifindex under 1:parent_minor (0: the root qdisc):
 * guaranteed rate, ceil (>= rate) and the DRR quantum it borrows with.  frame: 0 leaves the
 * class's leaf as it is; else the leaf qdisc of handle minor: is made or changed for frames of
 * up to that many bytes (fq_codel, or where the kernel has none the two bands above, small
 * packets first); minor is then at most 0x7fff.
 */
int tk_tc_class_set(struct tk_nl *nl, int ifindex, uint16_t parent_minor, uint16_t minor,
		    uint64_t rate, uint64_t ceil, uint32_t quantum, uint32_t frame, tk_err *err);
/* Deletes class 1:minor and its leaf; -ENOENT when there is none. */
int tk_tc_class_del(struct tk_nl *nl, int ifindex, uint16_t minor, tk_err *err);

/*
 * The meters: a BPF map of token buckets, one per slot (a tenant's class minor; the capacity's
 * for the shared one), that let a port's packets bypass the shaper while its tenant is under
 * 90% of its ceil (docs/bandwidth.md).  tk_tc_meter_open returns the map's fd;
 * tk_tc_meter_set (re)starts slot's bucket for a class of that ceil (bit/s; 0: the slot never
 * shapes), shaping everything for a short hold first, in case the class still holds a queue.
 */
int tk_tc_meter_open(tk_err *err);
int tk_tc_meter_set(int meter, uint16_t slot, uint64_t ceil, tk_err *err);

/* One direction of a port's redirection. */
struct tk_tc_redirect {
	int ifb;	  /* the IFB device; 0: this direction is left alone */
	uint32_t classid; /* 1:minor of the IFB's HTB; minor is also the tenant's meter slot */
	int meter;	  /* tk_tc_meter_open's map; -1: every packet goes to the shaper */
	uint16_t shared;  /* the slot of a meter all tenants share (the capacity's); 0: none */
};

/*
 * Sends what arrives on device ifindex (a port: what its container sends) to from_port's IFB and
 * what leaves it (a bridge: what enters its network from the host) to to_port's, each marked for
 * its class (skb->priority, set by a BPF classifier, which mirred then redirects) unless the
 * meters let it pass.  NULL or an IFB of 0 leaves that direction alone; both removes the
 * redirection.  Replaces whatever redirection the device had: its clsact qdisc, or an `ingress`
 * qdisc holding the shaper's filter (what netd puts there when only what arrives is redirected,
 * whose packets then do not cross an empty egress hook), not another program's: removing the
 * redirection from a device that holds one returns 1, so that the caller leaves its tcx hook to
 * it too.
 */
int tk_tc_port_redirect(struct tk_nl *nl, int ifindex, const struct tk_tc_redirect *from_port,
			const struct tk_tc_redirect *to_port, tk_err *err);

/*
 * The meter of one direction of a port, for its tcx ingress (what its container sends) or egress
 * (!egress / egress): a packet its tenant's buckets (to->meter, to->classid's slot, to->shared)
 * hold passes the shaper's filter by (TCX_PASS), after a tail call to the fast path through
 * chain (fastpath.h; -1: none) on ingress; one they do not goes on to the shaper's filter,
 * which tk_tc_port_redirect put there with no meter of its own (to->meter -1).  Returns the
 * program's fd.
 */
int tk_tc_meter_load(const struct tk_tc_redirect *to, bool egress, int chain, tk_err *err);

/*
 * Calls cb for every HTB class 1:minor on ifindex with the packets it dropped (what its queue
 * refused: the tenant's limit drops); stops and returns cb's value if < 0.
 */
typedef int (*tk_tc_drops_cb)(uint16_t minor, uint64_t drops, void *userdata);
int tk_tc_class_drops(struct tk_nl *nl, int ifindex, tk_tc_drops_cb cb, void *userdata,
		      tk_err *err);

/*
 * Calls cb for every device with a qdisc in its ingress slot (`ingress` or `clsact`), with the
 * qdisc's kind; stops and returns cb's value if < 0.  One dump of every qdisc.
 */
typedef int (*tk_tc_qdisc_cb)(int ifindex, const char *kind, void *userdata);
int tk_tc_ingress_qdiscs(struct tk_nl *nl, tk_tc_qdisc_cb cb, void *userdata, tk_err *err);
