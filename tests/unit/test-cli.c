/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tools/common: the one mapping from a failure to netctl's and volctl's exit status, seen
 * through cli_main and cli_call against a daemon played by a thread.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "cli.h"
#include "json.h"
#include "rpc.h"

static void test_exit_code(void **state)
{
	(void)state;
	assert_int_equal(cli_exit_code(0, true), 0);
	assert_int_equal(cli_exit_code(5, true), 0);
	/* Nothing reached: 3, whatever the reason. */
	assert_int_equal(cli_exit_code(-ENOENT, false), EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_code(-ECONNREFUSED, false), EXIT_UNREACHABLE);
	/* Reached, but the answer was no answer: 3. */
	assert_int_equal(cli_exit_code(-EBADMSG, true), EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_code(-ECONNRESET, true), EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_code(-EPIPE, true), EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_code(-ETIMEDOUT, true), EXIT_UNREACHABLE);
	/* The daemon said no: 1, also for codes that would mean "unreachable" before connecting. */
	assert_int_equal(cli_exit_code(-ENOENT, true), EXIT_REFUSED);
	assert_int_equal(cli_exit_code(-EACCES, true), EXIT_REFUSED);
	assert_int_equal(cli_exit_code(-EEXIST, true), EXIT_REFUSED);
}

/* A daemon for one request: answers with reply (a JSON text) or closes when it is NULL. */
struct daemon {
	int listen_fd;
	const char *reply;
};

static void *serve_one(void *userdata)
{
	struct daemon *d = userdata;
	_cleanup_close_ int fd = -1;
	char buf[4096];

	for (;;) {
		fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0 || errno != EAGAIN)
			break;
		usleep(1000);
	}
	if (fd < 0 || recv(fd, buf, sizeof(buf), 0) <= 0)
		return NULL;
	if (d->reply)
		(void)send(fd, d->reply, strlen(d->reply), MSG_NOSIGNAL);
	return NULL;
}

static int cmd_ping(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *result = NULL;

	(void)argc, (void)argv;
	return cli_call("ping", NULL, &result);
}

static const struct cli_command commands[] = { { "ping", cmd_ping, "testctl ping" } };

static const struct cli_program testctl = {
	.name = "testctl",
	.daemon = "testd",
	.socket_env = "TK_TESTD_SOCKET",
	.default_socket = "/nonexistent/testd.sock",
	.summary = "Test.",
};

/* The exit status of "testctl --socket path ping" against a daemon that answers reply. */
static int run_ping(const char *path, const char *reply)
{
	char *argv[] = { (char *)"testctl", (char *)"--socket", (char *)path, (char *)"ping",
			 NULL };
	struct daemon d = { .listen_fd = -1, .reply = reply };
	pthread_t thread;
	int status;

	if (reply || strcmp(path, "/nonexistent/testd.sock") != 0) {
		assert_int_equal(tk_rpc_listen(path, 0600, &d.listen_fd, NULL), 0);
		assert_int_equal(pthread_create(&thread, NULL, serve_one, &d), 0);
	}
	optind = 0;
	status = cli_main(&testctl, commands, ELEMENTSOF(commands), 4, argv);
	if (d.listen_fd >= 0) {
		assert_int_equal(pthread_join(thread, NULL), 0);
		close(d.listen_fd);
		unlink(path);
	}
	return status;
}

static void test_call(void **state)
{
	char dir[] = "/tmp/tk-test-cli.XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.sock", dir);
	assert_int_equal(run_ping(path, "{\"ok\":true,\"result\":{}}"), 0);
	assert_int_equal(run_ping(path, "{\"ok\":false,\"error\":{\"code\":13,\"msg\":\"no\"}}"),
			 EXIT_REFUSED);
	assert_int_equal(run_ping(path, "{\"ok\":false,\"error\":{\"code\":2,\"msg\":\"none\"}}"),
			 EXIT_REFUSED);
	assert_int_equal(run_ping(path, "{\"okay\":1}"), EXIT_UNREACHABLE);
	assert_int_equal(run_ping(path, NULL), EXIT_UNREACHABLE);
	assert_int_equal(run_ping("/nonexistent/testd.sock", NULL), EXIT_UNREACHABLE);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- listings in pages (tools/common/list.c) ----------------------------------------------- */

/*
 * A daemon for endpoint.list: pages of rows by "after", "until" and "limit", with "next" and
 * "cursors" as netd answers them (netd/rpc-handlers.c).
 */
struct pager {
	int listen_fd;
	json_t *rows;	    /* each with an "id", ascending */
	int64_t fail_after; /* > 0: a request for a page after this id is refused */
	size_t cap;	    /* > 0: a page ends after this many rows, as netd's 1 MiB cap ends it */
	bool no_cursors;    /* answers as a netd without them would */
	bool bad_cursors;   /* answers with cursors that go backwards, then stops */
	bool in_rows;	    /* answers "rows" when asked for them, as netd does */
	bool bad_rows;	    /* ... with a row one value short */
	unsigned requests;
	json_t *fields; /* the "fields" of the last request, if any */
};

/* The page's rows as netd answers "rows": the values of "fields" (else every key) in order. */
static json_t *pager_rows(struct pager *d, json_t *page)
{
	json_t *fields = d->fields ? json_incref(d->fields) : json_array(), *rows = json_array();
	json_t *row, *v;
	const char *key;
	size_t i, f;

	if (!d->fields)
		json_object_foreach(json_array_get(d->rows, 0), key, v)
			json_array_append_new(fields, json_string(key));
	json_array_foreach(page, i, row)
	{
		json_t *values = json_array();

		for (f = 0; f < json_array_size(fields); f++)
			json_array_append(
				values,
				json_object_get(row, json_string_value(json_array_get(fields, f))));
		if (d->bad_rows && i == 1)
			json_array_remove(values, 0);
		json_array_append_new(rows, values);
	}
	json_decref(page);
	return json_pack("{s:o, s:o}", "fields", fields, "rows", rows);
}

static json_t *pager_page(struct pager *d, json_int_t after, json_int_t until, json_int_t limit,
			  int cursors, int rows)
{
	json_t *page = json_array(), *result, *row, *list = NULL;
	json_int_t next = 0, seen = 0;
	size_t i;

	json_array_foreach(d->rows, i, row)
	{
		json_int_t id = json_integer_value(json_object_get(row, "id"));

		if (id <= after || (until > 0 && id > until))
			continue;
		if (next) {
			if (list && ++seen % limit == 0)
				json_array_append_new(list, json_integer(id));
			continue;
		}
		if ((json_int_t)json_array_size(page) == limit ||
		    (d->cap && json_array_size(page) == d->cap)) {
			next = json_integer_value(json_object_get(
				json_array_get(page, json_array_size(page) - 1), "id"));
			list = cursors && !d->no_cursors ? json_array() : NULL;
			if (list && ++seen % limit == 0)
				json_array_append_new(list, json_integer(id));
			continue;
		}
		json_array_append(page, row);
	}
	result = d->in_rows && rows ? pager_rows(d, page) : json_pack("{s:o}", "endpoints", page);
	if (next)
		json_object_set_new(result, "next", json_integer(next));
	if (list && d->bad_cursors)
		json_array_append_new(list, json_integer(1));
	if (list)
		json_object_set_new(result, "cursors", list);
	return result;
}

static void *serve_pages(void *userdata)
{
	struct pager *d = userdata;

	for (;;) {
		_cleanup_(json_decrefp) json_t *request = NULL, *reply = NULL;
		_cleanup_close_ int fd = -1;
		json_int_t after = 0, until = 0, limit = 0;
		int cursors = 0, rows = 0;
		bool last;
		json_t *args;
		char *text;
		struct pollfd pfd = { .fd = d->listen_fd, .events = POLLIN };

		while ((fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0 &&
		       errno == EAGAIN)
			(void)poll(&pfd, 1, 10000);
		if (fd < 0 || tk_rpc_recv(fd, &request, NULL) < 0)
			return NULL;
		d->requests++;
		args = json_object_get(request, "args");
		json_decref(d->fields);
		d->fields = json_incref(json_object_get(args, "fields"));
		assert_int_equal(json_unpack(args, "{s?I, s?I, s:I, s?b, s:b}", "after", &after,
					     "until", &until, "limit", &limit, "cursors", &cursors,
					     "rows", &rows),
				 0);
		if (d->fail_after > 0 && after > d->fail_after)
			reply = json_pack("{s:b, s:{s:i, s:s}}", "ok", 0, "error", "code", EIO,
					  "msg", "page lost");
		else
			reply = json_pack("{s:b, s:o}", "ok", 1, "result",
					  pager_page(d, after, until, limit, cursors, rows));
		text = json_dumps(reply, JSON_COMPACT);
		assert_non_null(text);
		(void)send(fd, text, strlen(text), MSG_NOSIGNAL);
		free(text);
		/* The last run of the list, or a refusal, ends the listing. */
		last = !json_object_get(json_object_get(reply, "result"), "next") && until == 0;
		if (last || !json_is_true(json_object_get(reply, "ok")) || d->bad_cursors ||
		    (d->bad_rows && rows))
			return NULL;
	}
}

static const struct cli_column list_cols[] = {
	{ "CONTAINER", "container_id" },
	{ "NETWORK", "network" },
	{ "ADDRESSES", "ips" },
	{ "UP", "up" },
	{ "ID", "id" },
};

static int cmd_list(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *args = json_pack("{s:s}", "network", "n");

	(void)argc, (void)argv;
	return cli_list_pages("endpoint.list", args, "endpoints", list_cols, ELEMENTSOF(list_cols));
}

static const struct cli_command list_commands[] = { { "list", cmd_list, "testctl list" } };

/* Runs fn with its stdout in a string (freed by the caller). */
static char *capture_stdout(int (*fn)(void *), void *userdata, int *ret)
{
	FILE *f = tmpfile();
	int saved = dup(STDOUT_FILENO);
	char *text;
	long len;

	assert_non_null(f);
	fflush(stdout);
	assert_int_equal(dup2(fileno(f), STDOUT_FILENO), STDOUT_FILENO);
	*ret = fn(userdata);

	fflush(stdout);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	len = ftell(f) >= 0 ? lseek(fileno(f), 0, SEEK_END) : -1;
	assert_true(len >= 0);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(pread(fileno(f), text, (size_t)len, 0), len);
	fclose(f);
	return text;
}

struct list_run {
	const char *path;
	bool json;
	struct pager *d;
};

static int run_list(void *userdata)
{
	struct list_run *l = userdata;
	char *argv[] = { (char *)"testctl", (char *)"--socket",
			 (char *)l->path,   (char *)(l->json ? "--json" : "list"),
			 (char *)"list",    NULL };
	pthread_t thread;
	int status, fd;

	/* Requests asked ahead that a failed listing left unanswered are not this run's. */
	while ((fd = accept4(l->d->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
	l->d->requests = 0;
	assert_int_equal(pthread_create(&thread, NULL, serve_pages, l->d), 0);
	optind = 0;
	cli_json = false;
	status = cli_main(&testctl, list_commands, ELEMENTSOF(list_commands), l->json ? 5 : 4,
			  l->json ? argv : (char *[]){ argv[0], argv[1], argv[2], argv[4], NULL });
	assert_int_equal(pthread_join(thread, NULL), 0);
	return status;
}

struct table_run {
	json_t *rows;
};

static int run_table(void *userdata)
{
	cli_print_table(((struct table_run *)userdata)->rows, list_cols, ELEMENTSOF(list_cols));
	return 0;
}

/* n rows; one long container id near the end widens its column for every row before it. */
static json_t *make_rows(size_t n)
{
	json_t *rows = json_array();

	for (size_t i = 0; i < n; i++) {
		char cid[80], addr[32];

		snprintf(cid, sizeof(cid), i == n - 3 ? "%zu-a-rather-longer-container-id" : "c%zu",
			 i);
		snprintf(addr, sizeof(addr), "10.%zu.%zu.7/24", i >> 8 & 255, i & 255);
		json_array_append_new(rows, json_pack("{s:I, s:s, s:s, s:[{s:s, s:s}], s:b}", "id",
						      (json_int_t)(10 + 3 * i), "container_id", cid,
						      "network", i % 2 ? "n" : "a-network", "ips",
						      "address", addr, "version", "4", "up",
						      (int)(i % 3 == 0)));
	}
	json_array_append_new(json_object_get(json_array_get(rows, 1), "ips"),
			      json_pack("{s:s}", "address", "fd7e::7/64"));
	json_object_set_new(json_array_get(rows, 2), "ips", json_array());
	return rows;
}

static void test_list_pages(void **state)
{
	char dir[] = "/tmp/tk-test-cli.XXXXXX", path[64];
	_cleanup_(json_decrefp) json_t *rows = make_rows(2503), *doc = NULL;
	struct pager d = { .listen_fd = -1, .rows = rows };
	struct list_run run = { .path = path, .d = &d };
	struct table_run table = { .rows = rows };
	char *got, *want, *dumped;
	int status;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.sock", dir);
	assert_int_equal(tk_rpc_listen(path, 0600, &d.listen_fd, NULL), 0);

	/* --json: byte for byte one jansson dump of every row, though it came in 3 pages. */
	run.json = true;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, 0);
	assert_int_equal(d.requests, 3);
	doc = json_pack("{s:O}", "endpoints", rows);
	dumped = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	assert_int_equal(asprintf(&want, "%s\n", dumped), (int)strlen(dumped) + 1);
	assert_string_equal(got, want);
	/* Every field, so that scripts read what they always read. */
	assert_null(d.fields);
	free(got);
	/* The same bytes from pages in rows (the keys once a page), which netctl asks for. */
	d.in_rows = true;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, 0);
	assert_string_equal(got, want);
	d.in_rows = false;
	free(got), free(want), free(dumped);

	/* The table: as one table of every row, the first page padded for a row of the last. */
	run.json = false;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, 0);
	assert_int_equal(d.requests, 3);
	want = capture_stdout(run_table, &table, &status);
	assert_string_equal(got, want);
	assert_non_null(strstr(
		got,
		"CONTAINER                          NETWORK    ADDRESSES               UP   ID\n"
		"c0                                 a-network  10.0.0.7/24             yes  10\n"
		"c1                                 n          10.0.1.7/24,fd7e::7/64  no   13\n"
		"c2                                 a-network  -                       no   16\n"));
	assert_non_null(strstr(got, "\n2500-a-rather-longer-container-id  a-network  10.9.196.7/24 "
				    "          no   7510\n"));
	/* Only the columns' keys, in the columns' order. */
	dumped = json_dumps(d.fields, JSON_COMPACT);
	assert_string_equal(dumped, "[\"container_id\",\"network\",\"ips\",\"up\",\"id\"]");
	free(dumped);
	json_decref(d.fields);
	d.fields = NULL;
	free(got);
	/* In rows: the same table; a row of the wrong length is refused, and nothing printed. */
	d.in_rows = true;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, 0);
	assert_string_equal(got, want);
	free(got);
	d.bad_rows = true;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, EXIT_REFUSED);
	assert_string_equal(got, "");
	free(got);
	d.in_rows = d.bad_rows = false;
	json_decref(d.fields);
	d.fields = NULL;

	/*
	 * The same table when pages end early (netd's 1 MiB cap), so that each run asked ahead
	 * continues with its own "next", and from a daemon without cursors, page after page.
	 */
	d.cap = 600;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, 0);
	assert_int_equal(d.requests,
			 5); /* 600, then runs of 1000 (600 + 400) and 903 (600 + 303) */
	assert_string_equal(got, want);
	free(got);
	d.cap = 0;
	d.no_cursors = true;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, 0);
	assert_int_equal(d.requests, 3);
	assert_string_equal(got, want);
	free(got);
	d.no_cursors = false;
	free(want);
	/* Cursors out of order are refused, and nothing is printed. */
	d.bad_cursors = true;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, EXIT_REFUSED);
	assert_string_equal(got, "");
	free(got);
	d.bad_cursors = false;

	/*
	 * A page that fails ends the listing with the daemon's error and its exit status, and
	 * nothing of the list is printed, neither as a table nor as JSON.
	 */
	d.fail_after = 2000;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, EXIT_REFUSED);
	assert_int_equal(d.requests, 2);
	assert_string_equal(got, "");
	free(got);
	run.json = true;
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, EXIT_REFUSED);
	assert_string_equal(got, "");
	free(got);
	run.json = false;

	/* An empty list: the header, or an empty array. */
	d = (struct pager){ .listen_fd = d.listen_fd, .rows = json_array() };
	got = capture_stdout(run_list, &run, &status);
	assert_int_equal(status, 0);
	assert_string_equal(got, "CONTAINER  NETWORK  ADDRESSES  UP  ID\n");
	free(got);
	run.json = true;
	got = capture_stdout(run_list, &run, &status);
	assert_string_equal(got, "{\n  \"endpoints\": []\n}\n");
	free(got);
	json_decref(d.rows);
	json_decref(d.fields);

	close(d.listen_fd);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

/* Rows into objects: in the fields' order; malformed pages give NULL. */
static void test_rows_to_objects(void **state)
{
	_cleanup_(json_decrefp) json_t *fields = json_pack("[s, s, s]", "id", "ips", "name");
	_cleanup_(json_decrefp) json_t *rows =
		json_pack("[[i, [s], s], [i, [], n]]", 1, "a", "x", 2);
	_cleanup_(json_decrefp) json_t *want =
		json_pack("[{s:i, s:[s], s:s}, {s:i, s:[], s:n}]", "id", 1, "ips", "a", "name", "x",
			  "id", 2, "ips", "name");
	_cleanup_(json_decrefp) json_t *got = cli_rows_to_objects(fields, rows);
	_cleanup_(json_decrefp) json_t *dup = json_pack("[s, s, s]", "id", "ips", "id");
	_cleanup_(json_decrefp) json_t *num = json_pack("[s, i, s]", "id", 7, "name");
	_cleanup_(json_decrefp) json_t *short_row = json_pack("[[i, [], s], [i, []]]", 1, "x", 2);
	_cleanup_(json_decrefp) json_t *not_row = json_pack("[{s:i}]", "id", 1);
	_cleanup_(json_decrefp) json_t *no_fields = json_array();
	_cleanup_(tk_json_text_freep) char *text = NULL;

	(void)state;
	assert_true(json_equal(got, want));
	/* In the fields' order, as --json prints them. */
	text = json_dumps(json_array_get(got, 0), JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(text, "{\"id\":1,\"ips\":[\"a\"],\"name\":\"x\"}");
	assert_null(cli_rows_to_objects(dup, rows));
	assert_null(cli_rows_to_objects(num, rows));
	assert_null(cli_rows_to_objects(fields, short_row));
	assert_null(cli_rows_to_objects(fields, not_row));
	assert_null(cli_rows_to_objects(no_fields, rows));
}

static int print_status(void *userdata)
{
	cli_print_object(userdata);
	return 0;
}

/* An object field (status's fast path counts) as "key value, ..." in its keys' order. */
static void test_print_object(void **state)
{
	_cleanup_(json_decrefp) json_t *obj =
		json_pack("{s:s, s:{s:i, s:i, s:{s:b}}, s:{}, s:[s, s]}", "fast_path", "on",
			  "fast_path_packets", "bridged", 12, "routed", 0, "nested", "on", 1,
			  "fast_path_bytes", "ips", "a", "b");
	_cleanup_free_ char *got = NULL;
	int r;

	(void)state;
	got = capture_stdout(print_status, obj, &r);
	assert_int_equal(r, 0);
	assert_string_equal(got, "fast_path:         on\n"
				 "fast_path_packets: bridged 12, routed 0, nested on yes\n"
				 "fast_path_bytes:   -\n"
				 "ips:               a,b\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_code),    cmocka_unit_test(test_call),
		cmocka_unit_test(test_list_pages),   cmocka_unit_test(test_rows_to_objects),
		cmocka_unit_test(test_print_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
