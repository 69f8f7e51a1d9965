/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <jansson.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "json-arena.h"

/*
 * Four slots: a listing of netd's has at most a page being built, one being sent and the one a
 * client asks for ahead (TK_SERVER_INFLIGHT_PER_UID); a page of 1,000 endpoints is a few MB
 * (netctl once held 10,000 as one tree of 30 MB), and what does not fit goes to malloc().
 * Only address space until touched; what was touched stays mapped for the next page, which is
 * the point (on a VM each page fault is an exit).
 */
#define ARENA_SLOTS	4
#define ARENA_SLOT_SIZE (32ul << 20)
/*
 * While a thread is in a slot, the slot's balance carries this much on top of what was freed
 * (negative), so that it cannot reach zero before the thread leaves and adds what it allocated.
 */
#define BALANCE_IN_USE (LONG_MAX / 2)

struct tk_json_arena {
	char *base, *top, *end;
	long n_alloc;	     /* by the thread in it, since it entered */
	atomic_long balance; /* values not yet freed, once left; BALANCE_IN_USE - freed before */
	atomic_bool busy;
	bool spilled;
};

static struct {
	char *base, *end;
	struct tk_json_arena slots[ARENA_SLOTS];
} arena;

static _Thread_local struct tk_json_arena *current;

static void release(struct tk_json_arena *a)
{
	a->top = a->base;
	atomic_store_explicit(&a->busy, false, memory_order_release);
}

static void *arena_malloc(size_t size)
{
	struct tk_json_arena *a = current;
	size_t need = (size + 15) & ~(size_t)15;

	if (!a)
		return malloc(size);
	if (need >= size && (size_t)(a->end - a->top) >= need) {
		void *p = a->top;

		a->top += need;
		a->n_alloc++;
		return p;
	}
	a->spilled = true;
	return malloc(size);
}

static void arena_free(void *p)
{
	struct tk_json_arena *a;

	if ((char *)p < arena.base || (char *)p >= arena.end) {
		free(p);
		return;
	}
	a = &arena.slots[((char *)p - arena.base) / ARENA_SLOT_SIZE];
	if (atomic_fetch_sub_explicit(&a->balance, 1, memory_order_acq_rel) == 1)
		release(a);
}

bool tk_json_arena_setup_always(void)
{
	void *p;

	if (arena.base)
		return true;
	p = mmap(NULL, ARENA_SLOTS * ARENA_SLOT_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	(void)madvise(p, ARENA_SLOTS * ARENA_SLOT_SIZE, MADV_HUGEPAGE);
	arena.base = p;
	arena.end = arena.base + ARENA_SLOTS * ARENA_SLOT_SIZE;
	for (size_t i = 0; i < ARENA_SLOTS; i++) {
		struct tk_json_arena *a = &arena.slots[i];

		a->base = a->top = arena.base + i * ARENA_SLOT_SIZE;
		a->end = a->base + ARENA_SLOT_SIZE;
	}
	/* From here on jansson frees with arena_free, which hands anything else to free(). */
	json_set_alloc_funcs(arena_malloc, arena_free);
	return true;
}

bool tk_json_arena_setup(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return false;
#else
	return tk_json_arena_setup_always();
#endif
}

struct tk_json_arena *tk_json_arena_enter(void)
{
	if (!arena.base || current)
		return NULL;
	for (size_t i = 0; i < ARENA_SLOTS; i++) {
		struct tk_json_arena *a = &arena.slots[i];
		bool idle = false;

		if (!atomic_compare_exchange_strong_explicit(
			    &a->busy, &idle, true, memory_order_acquire, memory_order_relaxed))
			continue;
		a->n_alloc = 0;
		a->spilled = false;
		atomic_store_explicit(&a->balance, BALANCE_IN_USE, memory_order_relaxed);
		current = a;
		return a;
	}
	return NULL;
}

bool tk_json_arena_leave(struct tk_json_arena *a)
{
	long delta = a->n_alloc - BALANCE_IN_USE;

	current = NULL;
	if (atomic_fetch_add_explicit(&a->balance, delta, memory_order_acq_rel) + delta != 0)
		return false;
	release(a);
	return true;
}

void tk_json_arena_discard(struct tk_json_arena *a)
{
	if (current == a)
		current = NULL;
	release(a);
}

bool tk_json_arena_spilled(const struct tk_json_arena *a)
{
	return a->spilled;
}

long tk_json_arena_live(const struct tk_json_arena *a)
{
	long b = atomic_load(&a->balance);

	return current == a ? a->n_alloc - (BALANCE_IN_USE - b) : b;
}
