/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tables, and listings that arrive in pages (endpoint.list, docs/protocol.md).
 *
 * 10,000 endpoints are 3-4 MB of JSON in some 10 pages.  netctl used to gather every page into
 * one tree (30 MB of jansson objects, most of its time spent in page faults, malloc and free)
 * and only then print.  Now each page is shown as it arrives and forgotten: the table keeps its
 * cells' text (the columns' widths depend on every row), --json writes the page's rows.  And
 * the request for the following page goes out before this page is shown, so that netd builds
 * it meanwhile.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "json-arena.h"
#include "json.h"
#include "rpc.h"

/* ---- tables -------------------------------------------------------------------------------- */

struct cli_table {
	const struct cli_column *cols;
	size_t n_cols, n_rows;
	size_t width[16];
	char *cells; /* n_rows * n_cols NUL-terminated strings, row by row */
	size_t len, size;
};

static int table_append(struct cli_table *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->size) {
		size_t size = t->size ? t->size : 64 << 10;
		char *p;

		while (t->len + n + 1 > size)
			size *= 2;
		if (!(p = realloc(t->cells, size)))
			return -ENOMEM;
		t->cells = p;
		t->size = size;
	}
	memcpy(t->cells + t->len, s, n);
	t->len += n;
	t->cells[t->len] = '\0';
	return 0;
}

static int table_append_str(struct cli_table *t, const char *s)
{
	return table_append(t, s, strlen(s));
}

/* A field as text: strings as they are, null as "-", arrays joined with ",". */
static int table_append_field(struct cli_table *t, json_t *v)
{
	char buf[32];

	if (!v || json_is_null(v))
		return table_append_str(t, "-");
	if (json_is_string(v))
		return table_append(t, json_string_value(v), json_string_length(v));
	if (json_is_true(v) || json_is_false(v))
		return table_append_str(t, json_is_true(v) ? "yes" : "no");
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return table_append_str(t, buf);
	}
	if (json_is_array(v)) {
		size_t i, start = t->len;
		json_t *item;
		int r;

		json_array_foreach(v, i, item)
		{
			/* endpoint ips are objects: show their address */
			json_t *addr =
				json_is_object(item) ? json_object_get(item, "address") : item;

			if ((i && (r = table_append_str(t, ",")) < 0) ||
			    (r = table_append_field(t, addr)) < 0)
				return r;
		}
		return t->len > start ? 0 : table_append_str(t, "-");
	}
	_cleanup_(tk_json_text_freep) char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return table_append_str(t, text ? text : "?");
}

struct cli_table *cli_table_new(const struct cli_column *cols, size_t n_cols)
{
	struct cli_table *t;

	if (n_cols > ELEMENTSOF(t->width) || !(t = calloc(1, sizeof(*t))))
		return NULL;
	t->cols = cols;
	t->n_cols = n_cols;
	for (size_t c = 0; c < n_cols; c++)
		t->width[c] = strlen(cols[c].header);
	return t;
}

struct cli_table *cli_table_free(struct cli_table *t)
{
	if (t) {
		free(t->cells);
		free(t);
	}
	return NULL;
}

int cli_table_add(struct cli_table *t, json_t *rows)
{
	size_t i;
	json_t *row;
	int r;

	json_array_foreach(rows, i, row)
	{
		for (size_t c = 0; c < t->n_cols; c++) {
			size_t start = t->len;

			if (t->cols[c].format) {
				_cleanup_free_ char *s = t->cols[c].format(row, t->cols[c].key);
				r = table_append_str(t, s ? s : "?");
			} else {
				r = table_append_field(t, json_object_get(row, t->cols[c].key));
			}
			/* The terminating NUL too: each cell is a string of its own. */
			if (r < 0 || (r = table_append(t, "", 0)) < 0)
				return r;
			if (t->len - start > t->width[c])
				t->width[c] = t->len - start;
			t->len++;
		}
		t->n_rows++;
	}
	return 0;
}

/* One line: each cell but the last padded to its column's width, two spaces between. */
static void print_line(const struct cli_table *t, const char *const *cells, FILE *f)
{
	static const char spaces[64] =
		"                                                               ";

	for (size_t c = 0; c < t->n_cols; c++) {
		size_t n = strlen(cells[c]);

		fwrite(cells[c], 1, n, f);
		if (c + 1 == t->n_cols)
			break;
		for (size_t pad = t->width[c] - n + 2; pad > 0;) {
			size_t k = pad < sizeof(spaces) ? pad : sizeof(spaces) - 1;
			fwrite(spaces, 1, k, f);
			pad -= k;
		}
	}
	fputc('\n', f);
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	const char *cells[ELEMENTSOF(t->width)];
	const char *p = t->cells;

	for (size_t c = 0; c < t->n_cols; c++)
		cells[c] = t->cols[c].header;
	print_line(t, cells, f);
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++) {
			cells[c] = p;
			p += strlen(p) + 1;
		}
		print_line(t, cells, f);
	}
}

void cli_print_table(json_t *rows, const struct cli_column *cols, size_t n_cols)
{
	struct cli_table *t = cli_table_new(cols, n_cols);

	if (t && cli_table_add(t, rows) == 0)
		cli_table_print(t, stdout);
	cli_table_free(t);
}

/* ---- --json, page by page ------------------------------------------------------------------ */

/*
 * What `--json` printed when netctl held the whole list, {"<key>": [every row]} indented by
 * jansson, written one page at a time: each page's rows are dumped by jansson as the same
 * document with only that page's rows, and the pages' row texts are joined where jansson joins
 * rows (",\n").  The frame comes from the same dump, checked, so the bytes are those of one
 * dump of all rows (tests/unit/test-cli.c compares them).
 *
 * The text is kept until the last page is in (like the table, all of the list or nothing), in
 * one buffer that jansson dumps into: open_memstream copied its whole buffer into a new one
 * each time it grew, and faulting in those copies was a third of netctl's time for 10,000
 * endpoints.
 */
struct cli_json_list {
	char head[64]; /* {\n  "<key>": [\n */
	const char *key;
	size_t n_rows;
	char *text;
	size_t len, size;
};

#define JSON_LIST_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER)
#define JSON_LIST_TAIL	"\n  ]\n}"

static int json_list_init(struct cli_json_list *l, const char *key)
{
	*l = (struct cli_json_list){ .key = key };
	if ((size_t)snprintf(l->head, sizeof(l->head), "{\n  \"%s\": [\n", key) >= sizeof(l->head))
		return -EINVAL;
	return 0;
}

static void json_list_done(struct cli_json_list *l)
{
	free(l->text);
	l->text = NULL;
}

/* jansson's dump callback: appends to the list's text. */
static int json_list_append(const char *buffer, size_t size, void *userdata)
{
	struct cli_json_list *l = userdata;

	if (l->len + size > l->size) {
		/* Only address space until written: 10,000 endpoints are ~7 MB, in one go. */
		size_t n = l->size ? l->size : 8u << 20;
		char *p;

		while (l->len + size > n)
			n *= 2;
		if (!(p = realloc(l->text, n)))
			return -1;
		l->text = p;
		l->size = n;
	}
	memcpy(l->text + l->len, buffer, size);
	l->len += size;
	return 0;
}

static int json_list_add(struct cli_json_list *l, json_t *rows)
{
	size_t start = l->len, head = strlen(l->head), tail = strlen(JSON_LIST_TAIL), len;
	_cleanup_(json_decrefp) json_t *doc = NULL;
	char *p;

	if (json_array_size(rows) == 0)
		return 0;
	if (!(doc = json_pack("{s:O}", l->key, rows)) ||
	    json_dump_callback(doc, json_list_append, l, JSON_LIST_FLAGS) < 0) {
		l->len = start;
		return -ENOMEM;
	}
	p = l->text + start;
	len = l->len - start;
	if (len < head + tail || memcmp(p, l->head, head) != 0 ||
	    memcmp(p + len - tail, JSON_LIST_TAIL, tail) != 0) {
		l->len = start;
		return -EBADMSG;
	}
	/* The rows only: after the head on the first page, after ",\n" on the others. */
	if (l->n_rows) {
		memmove(p + 2, p + head, len - head - tail);
		memcpy(p, ",\n", 2);
		l->len = start + 2 + len - head - tail;
	} else {
		l->len -= tail;
	}
	l->n_rows += json_array_size(rows);
	return 0;
}

static int json_list_end(struct cli_json_list *l)
{
	_cleanup_(json_decrefp) json_t *doc = NULL;

	if (l->n_rows)
		return json_list_append(JSON_LIST_TAIL "\n", strlen(JSON_LIST_TAIL "\n"), l) < 0
			       ? -ENOMEM
			       : 0;
	if (!(doc = json_pack("{s:[]}", l->key)) ||
	    json_dump_callback(doc, json_list_append, l, JSON_LIST_FLAGS) < 0 ||
	    json_list_append("\n", 1, l) < 0)
		return -ENOMEM;
	return 0;
}

/* ---- a listing in pages -------------------------------------------------------------------- */

/*
 * Rows per page netctl asks for.  Small pages keep what one page holds in the cache and let
 * netd's work on a page overlap netctl's on the one before; each costs a connection (~0.1 ms).
 */
#define LIST_PAGE_ROWS 1000
/*
 * Pages asked for ahead of the one being read, once the first reply gave their bounds
 * ("cursors"): netd builds them while netctl parses, and with the page being read this stays
 * within the requests a uid may have in flight (TK_SERVER_INFLIGHT_PER_UID, 4).
 */
#define LIST_AHEAD 2

/* A run of the list: the endpoints after `after` (< 0: from the start) up to `until` (0: all). */
struct page_range {
	json_int_t after, until;
	int fd;
	struct tk_rpc_pending pending;
};

static int page_request(const char *op, json_t *args, struct page_range *pr, bool cursors)
{
	_cleanup_(json_decrefp) json_t *a = args ? json_copy(args) : json_object();
	tk_err err = {};
	int r;

	if (!a || json_object_set_new(a, "limit", json_integer(LIST_PAGE_ROWS)) < 0 ||
	    json_object_set_new(a, "rows", json_true()) < 0 ||
	    (pr->after >= 0 && json_object_set_new(a, "after", json_integer(pr->after)) < 0) ||
	    (pr->until > 0 && json_object_set_new(a, "until", json_integer(pr->until)) < 0) ||
	    (cursors && json_object_set_new(a, "cursors", json_true()) < 0)) {
		fprintf(stderr, "%s: out of memory\n", cli_name());
		return EXIT_FAILURE;
	}
	if ((r = cli_connect(&pr->fd)) != 0)
		return r;
	if ((r = tk_rpc_call_begin(pr->fd, op, a, -1, cli_timeout_ms, &pr->pending, &err)) < 0)
		return cli_call_failed(r, &err);
	return 0;
}

struct page_sink {
	struct cli_table *table; /* or --json: */
	struct cli_json_list json;
};

struct page_plan {
	struct page_range *ranges;
	size_t n, cur, sent; /* ranges[cur] is read next; ranges[0..sent) were asked for */
};

static void page_plan_done(struct page_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		closep(&p->ranges[i].fd);
	free(p->ranges);
}

static int page_plan_add(struct page_plan *p, json_int_t after, json_int_t until)
{
	struct page_range *r = realloc(p->ranges, (p->n + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	p->ranges = r;
	r[p->n++] = (struct page_range){ .after = after, .until = until, .fd = -1 };
	return 0;
}

/*
 * The first reply's cursors split the rest of the list into runs of a page each, (next, c1],
 * (c1, c2], ... and (cN, end): asked for ahead, each continued by its own "next" should a page
 * end early (netd's 1 MiB cap) or the last run have grown meanwhile.
 */
static int page_plan_split(struct page_plan *p, json_t *next, json_t *cursors)
{
	json_int_t after = json_integer_value(next);
	size_t i;
	json_t *c;
	int r;

	json_array_foreach(cursors, i, c)
	{
		if (!json_is_integer(c) || json_integer_value(c) <= after)
			return -EBADMSG;
		if ((r = page_plan_add(p, after, json_integer_value(c))) < 0)
			return r;
		after = json_integer_value(c);
	}
	return page_plan_add(p, after, 0);
}

/* What follows the page just read from ranges[cur]; asks for the pages due by now. */
static int page_plan_advance(struct page_plan *p, const char *op, json_t *args, json_t *next,
			     json_t *cursors)
{
	struct page_range *pr = &p->ranges[p->cur];
	int r;

	closep(&pr->fd);
	pr->fd = -1;
	if (cursors && p->cur == 0 && p->n == 1 && next) {
		if ((r = page_plan_split(p, next, cursors)) < 0) {
			fprintf(stderr, "%s: %s\n", cli_name(),
				r == -ENOMEM ? "out of memory"
					     : "a page's cursors are not in order");
			return r == -ENOMEM ? EXIT_FAILURE : EXIT_REFUSED;
		}
		p->cur++;
	} else if (next) {
		/* netd continues this run: the page after it comes before the runs asked ahead. */
		pr->after = json_integer_value(next);
		if ((r = page_request(op, args, pr, false)) != 0)
			return r;
	} else {
		p->cur++;
	}
	while (p->sent < p->n && p->sent <= p->cur + LIST_AHEAD)
		if ((r = page_request(op, args, &p->ranges[p->sent++], false)) != 0)
			return r;
	return 0;
}

static int page_show(struct page_sink *sink, const char *op, json_t *rows)
{
	int r = sink->table ? cli_table_add(sink->table, rows) : json_list_add(&sink->json, rows);

	if (r < 0) {
		fprintf(stderr, "%s: cannot show a page of '%s': %s\n", cli_name(), op,
			strerror(-r));
		return EXIT_FAILURE;
	}
	return 0;
}

/*
 * A page in rows ("rows", docs/protocol.md) made into the objects the table and --json show:
 * with the keys once a page instead of in every object, jansson parses a page of 1,000
 * endpoints in half the time (docs/benchmarks.md), and making the objects costs a tenth of it.
 */
json_t *cli_rows_to_objects(json_t *fields, json_t *rows)
{
	_cleanup_(json_decrefp) json_t *objects = NULL;
	size_t n = json_array_size(fields), i, f;
	json_t *row;

	if (!json_is_array(fields) || !json_is_array(rows) || n == 0)
		return NULL;
	for (f = 0; f < n; f++) {
		const char *name = json_string_value(json_array_get(fields, f));

		if (!name)
			return NULL;
		for (size_t g = 0; g < f; g++)
			if (strcmp(name, json_string_value(json_array_get(fields, g))) == 0)
				return NULL;
	}
	if (!(objects = json_array()))
		return NULL;
	json_array_foreach(rows, i, row)
	{
		json_t *o = json_object();

		if (!o || json_array_append_new(objects, o) < 0 || json_array_size(row) != n ||
		    !json_is_array(row))
			return NULL;
		for (f = 0; f < n; f++)
			if (json_object_set_nocheck(o, json_string_value(json_array_get(fields, f)),
						    json_array_get(row, f)) < 0)
				return NULL;
	}
	return TAKE_PTR(objects);
}

/* Reads the pages in the list's order, each shown as it arrives. */
static int page_read_all(struct page_sink *sink, const char *op, json_t *args, const char *key)
{
	struct page_plan plan = {};
	int r;

	if (page_plan_add(&plan, -1, 0) < 0) {
		fprintf(stderr, "%s: out of memory\n", cli_name());
		return EXIT_FAILURE;
	}
	plan.sent = 1;
	if ((r = page_request(op, args, &plan.ranges[0], true)) != 0)
		goto out;
	while (plan.cur < plan.n) {
		/* A page's values live as long as the page: from an arena, emptied after it. */
		_cleanup_(tk_json_arena_discardp) struct tk_json_arena *arena =
			tk_json_arena_enter();
		_cleanup_(json_decrefp) json_t *page = NULL, *objects = NULL;
		json_t *rows, *next, *cursors;
		tk_err err = {};

		if ((r = tk_rpc_call_end(&plan.ranges[plan.cur].pending, &page, &err)) < 0) {
			r = cli_call_failed(r, &err);
			break;
		}
		/* A daemon that predates "rows" answers in objects. */
		if (json_object_get(page, "rows")) {
			objects = cli_rows_to_objects(json_object_get(page, "fields"),
						      json_object_get(page, "rows"));
			rows = objects;
		} else {
			rows = json_object_get(page, key);
		}
		next = json_object_get(page, "next");
		cursors = json_object_get(page, "cursors");
		if (!json_is_array(rows) || (next && !json_is_integer(next)) ||
		    (cursors && !json_is_array(cursors))) {
			fprintf(stderr, "%s: a page of '%s' has no list\n", cli_name(), op);
			r = EXIT_REFUSED;
			break;
		}
		/* netd builds the following pages while this one is shown. */
		if ((r = page_plan_advance(&plan, op, args, next, cursors)) != 0 ||
		    (r = page_show(sink, op, rows)) != 0)
			break;
		/* Its ~50,000 values need no walk to be freed when the arena holds them all. */
		if (arena && !tk_json_arena_spilled(arena))
			page = objects = NULL;
	}
out:
	page_plan_done(&plan);
	return r;
}

/*
 * The table asks only for its columns' keys ("fields", docs/protocol.md): of an endpoint's 13
 * values the table shows 7, and each side's time is mostly jansson building, dumping and parsing
 * values.  --json asks for every field, so its output stays what scripts read.
 */
static json_t *table_args(json_t *args, const struct cli_column *cols, size_t n_cols)
{
	_cleanup_(json_decrefp) json_t *a = args ? json_copy(args) : json_object();
	json_t *fields = json_array();

	if (!a || json_object_set_new(a, "fields", fields) < 0)
		return NULL;
	for (size_t c = 0; c < n_cols; c++)
		if (json_array_append_new(fields, json_string(cols[c].key)) < 0)
			return NULL;
	return TAKE_PTR(a);
}

int cli_list_pages(const char *op, json_t *args, const char *key, const struct cli_column *cols,
		   size_t n_cols)
{
	_cleanup_(json_decrefp) json_t *targs = NULL;
	struct page_sink sink = {};
	int r;

	if (cli_json ? json_list_init(&sink.json, key) < 0
		     : !(sink.table = cli_table_new(cols, n_cols))) {
		fprintf(stderr, "%s: cannot show a list of '%s'\n", cli_name(), key);
		return EXIT_FAILURE;
	}
	if (sink.table) {
		if (!(targs = table_args(args, cols, n_cols))) {
			fprintf(stderr, "%s: out of memory\n", cli_name());
			cli_table_free(sink.table);
			return EXIT_FAILURE;
		}
		args = targs;
	}
	(void)tk_json_arena_setup();
	r = page_read_all(&sink, op, args, key);
	if (r == 0 && sink.table)
		cli_table_print(sink.table, stdout);
	if (r == 0 && !sink.table && json_list_end(&sink.json) < 0) {
		fprintf(stderr, "%s: out of memory\n", cli_name());
		r = EXIT_FAILURE;
	}
	if (r == 0 && !sink.table)
		fwrite(sink.json.text, 1, sink.json.len, stdout);
	json_list_done(&sink.json);
	cli_table_free(sink.table);
	return r;
}
