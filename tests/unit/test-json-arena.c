/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/json-arena: jansson's values from slots, and when a slot may be used again. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json-arena.h"
#include "json.h"

/* A tree of a few dozen values, as a page of a listing is made of. */
static json_t *tree(int n)
{
	json_t *rows = json_array();

	assert_non_null(rows);
	for (int i = 0; i < n; i++)
		assert_int_equal(
			json_array_append_new(rows, json_pack("{s:i, s:s, s:[s]}", "id", i, "name",
							      "alpha", "ips", "10.0.0.2/24")),
			0);
	return rows;
}

static int setup(void **state)
{
	(void)state;
	return tk_json_arena_setup_always() ? 0 : -1;
}

/* Everything freed before the thread leaves: the slot is free again at once. */
static void test_freed_inside(void **state)
{
	struct tk_json_arena *a = tk_json_arena_enter(), *b;
	json_t *t;

	(void)state;
	assert_non_null(a);
	/* One slot per thread at a time. */
	assert_null(tk_json_arena_enter());
	t = tree(10);
	assert_true(tk_json_arena_live(a) >= 10 * 6);
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 9), "name")),
			    "alpha");
	json_decref(t);
	assert_int_equal(tk_json_arena_live(a), 0);
	assert_false(tk_json_arena_spilled(a));
	assert_true(tk_json_arena_leave(a));
	b = tk_json_arena_enter();
	assert_ptr_equal(a, b);
	assert_true(tk_json_arena_leave(b));
}

static void *free_tree(void *t)
{
	json_decref(t);
	return NULL;
}

/* What outlives the thread's stay keeps the slot until another thread frees the last of it. */
static void test_freed_by_another_thread(void **state)
{
	struct tk_json_arena *a = tk_json_arena_enter(), *b;
	pthread_t thread;
	json_t *t;

	(void)state;
	assert_non_null(a);
	t = tree(100);
	assert_false(tk_json_arena_leave(a));
	assert_true(tk_json_arena_live(a) >= 100 * 6);
	/* The slot is taken: the next one is another. */
	b = tk_json_arena_enter();
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_true(tk_json_arena_leave(b));

	assert_int_equal(pthread_create(&thread, NULL, free_tree, t), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(tk_json_arena_live(a), 0);
	b = tk_json_arena_enter();
	assert_ptr_equal(a, b);
	assert_true(tk_json_arena_leave(b));
}

/* A value that does not fit the slot comes from malloc() and is freed there. */
static void test_spilled(void **state)
{
	struct tk_json_arena *a = tk_json_arena_enter();
	size_t big = 48u << 20;
	char *text = malloc(big);
	json_t *s;

	(void)state;
	assert_non_null(a);
	assert_non_null(text);
	memset(text, 'x', big - 1);
	text[big - 1] = '\0';
	s = json_stringn_nocheck(text, big - 1);
	assert_non_null(s);
	assert_true(tk_json_arena_spilled(a));
	assert_int_equal(json_string_length(s), big - 1);
	json_decref(s);
	free(text);
	assert_true(tk_json_arena_leave(a));
}

/* A discarded slot is free at once, whatever it still held. */
static void test_discard(void **state)
{
	struct tk_json_arena *a = tk_json_arena_enter(), *b;

	(void)state;
	assert_non_null(a);
	(void)tree(50);
	tk_json_arena_discard(a);
	b = tk_json_arena_enter();
	assert_ptr_equal(a, b);
	assert_int_equal(tk_json_arena_live(b), 0);
	tk_json_arena_discard(b);
}

struct holder {
	struct tk_json_arena *arena;
	json_t *tree;
};
static void *parse_a_page(void *userdata)
{
	struct holder *h = userdata;

	h->arena = tk_json_arena_enter();
	h->tree = json_loads("{\"endpoints\": [{\"id\": 1}, {\"id\": 2}]}", 0, NULL);
	if (h->arena)
		assert_false(tk_json_arena_leave(h->arena));
	return NULL;
}

/* As netctl reads pages: a thread parses into its slot, another drops the slot whole. */
static void test_discard_by_another_thread(void **state)
{
	struct holder h = {};
	struct tk_json_arena *a;
	pthread_t thread;

	(void)state;
	assert_int_equal(pthread_create(&thread, NULL, parse_a_page, &h), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_non_null(h.arena);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(h.tree, "endpoints"), 1), "id")),
			 2);
	/* This thread is in a slot of its own meanwhile, and stays in it. */
	a = tk_json_arena_enter();
	assert_non_null(a);
	assert_ptr_not_equal(a, h.arena);
	tk_json_arena_discard(h.arena);
	assert_int_equal(tk_json_arena_live(a), 0);
	json_decref(json_pack("{s:i}", "a", 1));
	assert_int_equal(tk_json_arena_live(a), 0);
	assert_true(tk_json_arena_leave(a));
	a = tk_json_arena_enter();
	assert_ptr_equal(a, h.arena);
	tk_json_arena_discard(a);
}

static void *hold_a_slot(void *userdata)
{
	struct holder *h = userdata;

	h->arena = tk_json_arena_enter();
	h->tree = h->arena ? tree(5) : NULL;
	if (h->arena)
		assert_false(tk_json_arena_leave(h->arena));
	return NULL;
}

/* With every slot holding a tree, a thread allocates with malloc() and nothing breaks. */
static void test_all_taken(void **state)
{
	struct holder h[8] = {};
	struct tk_json_arena *a;
	size_t n = 0;
	json_t *t;

	(void)state;
	for (; n < 8; n++) {
		pthread_t thread;

		assert_int_equal(pthread_create(&thread, NULL, hold_a_slot, &h[n]), 0);
		assert_int_equal(pthread_join(thread, NULL), 0);
		if (!h[n].arena)
			break;
	}
	assert_true(n >= 1 && n < 8);
	assert_null(tk_json_arena_enter());
	t = tree(20);
	assert_int_equal(json_array_size(t), 20);
	json_decref(t);
	for (size_t i = 0; i < n; i++) {
		assert_true(tk_json_arena_live(h[i].arena) > 0);
		json_decref(h[i].tree);
		assert_int_equal(tk_json_arena_live(h[i].arena), 0);
	}
	a = tk_json_arena_enter();
	assert_ptr_equal(a, h[0].arena);
	assert_true(tk_json_arena_leave(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_freed_inside),
		cmocka_unit_test(test_freed_by_another_thread),
		cmocka_unit_test(test_spilled),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_discard_by_another_thread),
		cmocka_unit_test(test_all_taken),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
