/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The tenantkit nftables tables (inet tenantkit, bridge tenantkit).  Only nft.c includes libnftnl.
 * The rules are fixed; isolation changes are element additions and deletions in named sets, sent
 * as one batch per logical operation, so the kernel applies each atomically and per-packet cost
 * is one hash lookup per rule.  docs/firewall.md holds the ruleset in nft syntax.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cleanup.h"
#include "err.h"

struct tk_nft;
struct tk_nft_batch;

int tk_nft_open(struct tk_nft **ret, tk_err *err);
/* A handle that builds batches but has no socket: commit fails with -ENOTCONN (unit tests). */
int tk_nft_open_offline(struct tk_nft **ret, tk_err *err);
struct tk_nft *tk_nft_close(struct tk_nft *nft);

/*
 * Starts a batch.  With replace_tables, the batch first deletes both tenantkit tables (if they
 * exist) and recreates them with all sets, chains and rules, so the batch then only needs the
 * elements: this is how netd reconciles the firewall with its database in one atomic step.
 */
int tk_nft_batch_new(struct tk_nft *nft, bool replace_tables, struct tk_nft_batch **ret,
		     tk_err *err);
struct tk_nft_batch *tk_nft_batch_free(struct tk_nft_batch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tk_nft_batch *, tk_nft_batch_free);

/*
 * Element operations.  add=true adds, add=false removes.  Removal of an element that does not
 * exist is not an error (the batch adds then deletes it), so undo and retries are idempotent.
 */
/* A tenant network's bridge: member of @bridges; nat adds it to @nat_bridges (masquerade). */
int tk_nft_batch_bridge(struct tk_nft_batch *b, bool add, const char *bridge, bool nat,
			tk_err *err);
/* Allow forwarding from bridge_a to bridge_b and back (linked networks of one tenant). */
int tk_nft_batch_link(struct tk_nft_batch *b, bool add, const char *bridge_a, const char *bridge_b,
		      tk_err *err);
/* The gateway address a bridge's containers may reach on the host. */
int tk_nft_batch_gateway(struct tk_nft_batch *b, bool add, const char *bridge,
			 const struct tk_addr *gateway, tk_err *err);
/*
 * A container's port: host veth name, its container-side MAC and every address it may send from
 * (v4 and/or v6, link-local included).  A port with any IPv6 address joins @ports6; a port
 * without one sends no IPv6 at all.
 */
int tk_nft_batch_port(struct tk_nft_batch *b, bool add, const char *host_ifname,
		      const uint8_t mac[6], const struct tk_addr *addrs, size_t n_addrs,
		      tk_err *err);

/* Sends the batch and waits for every ack; extack text and the failing element go into err. */
int tk_nft_batch_commit(struct tk_nft_batch *b, tk_err *err);

/* Deletes both tenantkit tables if they exist (tests, `netd --uninstall`). */
int tk_nft_tables_delete(struct tk_nft *nft, tk_err *err);
