/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Bump allocation for jansson trees that live as long as one request or one page of a listing
 * (10,000 endpoints are ~500,000 jansson values: malloc and free were a third of netd's CPU
 * time in a listing).
 *
 * Once tk_json_arena_setup() has run, jansson allocates through this module.  A thread that
 * called tk_json_arena_enter() allocates from its slot until tk_json_arena_leave(); every other
 * allocation, and what does not fit the slot, goes to malloc().  Freeing a value of a slot only
 * counts it; the slot is reused once it has been left and everything allocated in it has been
 * freed, by whichever thread frees the last value (netd builds a reply on a worker and frees it
 * on the main thread).  tk_json_arena_discard() drops a slot without freeing its values, for a
 * caller that knows none of them is used or freed again (a later free would be counted against
 * the slot's next use).
 */

struct tk_json_arena;

/* Maps the slots and installs the allocator (once per process; no-op under AddressSanitizer,
 * which must see each value as malloc()'s).  Returns false where the arena is not in use. */
bool tk_json_arena_setup(void);
/* The same under AddressSanitizer too, for the unit tests of the arena itself. */
bool tk_json_arena_setup_always(void);

/* The calling thread allocates from a free slot until it leaves it; NULL: none free (or no
 * arena), the thread allocates with malloc(). */
struct tk_json_arena *tk_json_arena_enter(void);
/* True: nothing of a was left to free, and a is free again (the caller must forget it). */
bool tk_json_arena_leave(struct tk_json_arena *a);
/*
 * Gives a back at once, left or not (by the thread in it, or by another once it has left):
 * nothing allocated in it may be used or freed again.
 */
void tk_json_arena_discard(struct tk_json_arena *a);
/* Whether something went to malloc() while the thread was in a (the slot was full). */
bool tk_json_arena_spilled(const struct tk_json_arena *a);
/* Values of a not freed yet (tests). */
long tk_json_arena_live(const struct tk_json_arena *a);

static inline void tk_json_arena_leavep(struct tk_json_arena **a)
{
	if (*a)
		(void)tk_json_arena_leave(*a);
}

static inline void tk_json_arena_discardp(struct tk_json_arena **a)
{
	if (*a)
		tk_json_arena_discard(*a);
}
