/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SQLite store: migrations, WAL, transactions and the commit thread. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

static const char *const migrations[] = {
	"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
	"ALTER TABLE t ADD COLUMN size INTEGER NOT NULL DEFAULT 0",
};

struct fixture {
	char dir[64], path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/tk-test-store.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int64_t query_int(struct tk_store *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(tk_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_migrations(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = NULL;
	struct stat st;
	tk_err err = {};

	assert_int_equal(tk_store_open(f->path, migrations, 1, &s, NULL), 0);
	assert_int_equal(query_int(s, "PRAGMA user_version"), 1);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('a')", NULL), 0);
	tk_store_close(s);

	/* The database holds tenant names: only its owner may read it. */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A newer program applies only the missing migration and keeps the data. */
	assert_int_equal(tk_store_open(f->path, migrations, 2, &s, NULL), 0);
	assert_int_equal(query_int(s, "PRAGMA user_version"), 2);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t WHERE size = 0"), 1);
	assert_string_equal((const char *)sqlite3_db_filename(tk_store_db(s), "main"), f->path);
	tk_store_close(s);

	/* An older program refuses a database it does not understand. */
	assert_int_equal(tk_store_open(f->path, migrations, 1, &s, &err), -EPROTONOSUPPORT);
	assert_non_null(strstr(err.msg, "newer"));
}

static void test_wal_and_sync(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = NULL;

	assert_int_equal(tk_store_open(f->path, migrations, 2, &s, NULL), 0);
	assert_int_equal(query_int(s, "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(query_int(s, "PRAGMA foreign_keys"), 1);
	{
		sqlite3_stmt *st;
		assert_int_equal(
			sqlite3_prepare_v2(tk_store_db(s), "PRAGMA journal_mode", -1, &st, NULL),
			SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
	}
	tk_store_close(s);
}

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = NULL;
	sqlite3_stmt *st;
	tk_err err = {};

	assert_int_equal(tk_store_open(f->path, migrations, 2, &s, NULL), 0);
	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('x')", NULL), 0);
	tk_store_rollback(s);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 0);

	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('x')", NULL), 0);
	assert_int_equal(tk_store_commit(s, NULL), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 1);

	/* Constraint violations map to EEXIST with SQLite's text. */
	assert_int_equal(tk_store_stmt(s, "INSERT INTO t (name) VALUES (?)", &st, NULL), 0);
	sqlite3_bind_text(st, 1, "x", -1, SQLITE_STATIC);
	assert_int_equal(tk_store_step_done(s, st, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "UNIQUE"));
	/* The cached statement comes back reset, bindings cleared. */
	assert_int_equal(tk_store_stmt(s, "INSERT INTO t (name) VALUES (?)", &st, NULL), 0);
	sqlite3_bind_text(st, 1, "y", -1, SQLITE_STATIC);
	assert_int_equal(tk_store_step_done(s, st, NULL), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 2);

	assert_int_equal(tk_store_exec(s, "SELEKT 1", &err), -EIO);
	assert_true(strlen(err.msg) > 0);
	tk_store_close(s);
}

static void test_commit_thread(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = NULL;
	tk_err err = {};

	assert_int_equal(tk_store_open(f->path, migrations, 2, &s, NULL), 0);
	for (int i = 0; i < 50; i++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "INSERT INTO t (name) VALUES ('n%d')", i);
		assert_int_equal(tk_store_begin(s, NULL), 0);
		assert_int_equal(tk_store_exec(s, sql, NULL), 0);
		assert_int_equal(tk_store_commit_start(s, NULL), 0);
		assert_int_equal(tk_store_commit_finish(s, NULL), 0);
	}
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 50);
	tk_store_close(s);

	/* Committed means durable: a fresh connection sees every row. */
	assert_int_equal(tk_store_open(f->path, migrations, 2, &s, &err), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 50);
	tk_store_close(s);
}

static void test_open_errors(void **state)
{
	struct tk_store *s = NULL;
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_store_open("/nonexistent-dir/x.db", migrations, 1, &s, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_and_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_thread, setup, teardown),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
