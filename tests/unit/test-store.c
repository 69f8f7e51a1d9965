/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SQLite store: migrations, WAL, locking, transactions and the commit thread. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "store.h"

/* Migration 1 also counts how often it ran: a re-run would add a row (or fail on CREATE). */
static const char *const migrations[] = {
	"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE runs (migration INTEGER NOT NULL); INSERT INTO runs VALUES (1)",
	"ALTER TABLE t ADD COLUMN size INTEGER NOT NULL DEFAULT 0; INSERT INTO runs VALUES (2)",
	"CREATE TABLE child (id INTEGER PRIMARY KEY, t_id INTEGER NOT NULL REFERENCES t (id)"
	" DEFERRABLE INITIALLY DEFERRED); INSERT INTO runs VALUES (3)",
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

struct fixture {
	char dir[64], path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || tk_test_dir_make("store", f->dir, f->path) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r = tk_test_dir_remove(f->dir);

	free(f);
	return r;
}

static struct tk_store *open_store(const struct fixture *f, size_t n)
{
	struct tk_store *s = NULL;
	tk_err err = {};

	if (tk_store_open(f->path, migrations, n, &s, &err) < 0)
		fail_msg("tk_store_open: %s", err.msg);
	assert_non_null(s);
	return s;
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

static bool table_exists(struct tk_store *s, const char *name)
{
	sqlite3_stmt *st;
	bool found;

	assert_int_equal(sqlite3_prepare_v2(tk_store_db(s),
					    "SELECT 1 FROM sqlite_master WHERE name = ?", -1, &st,
					    NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static void test_migrations(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s;
	struct stat st;

	s = open_store(f, 1);
	assert_int_equal(query_int(s, "PRAGMA user_version"), 1);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM runs"), 1);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('a')", NULL), 0);
	tk_store_close(s);

	/* The database holds tenant names: only its owner may read it. */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Reopening with the same migrations runs none of them again. */
	s = open_store(f, 1);
	assert_int_equal(query_int(s, "PRAGMA user_version"), 1);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM runs"), 1);
	tk_store_close(s);

	/* A newer program applies only the missing ones, in order, and keeps the data. */
	s = open_store(f, N_MIGRATIONS);
	assert_int_equal(query_int(s, "PRAGMA user_version"), N_MIGRATIONS);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM runs"), N_MIGRATIONS);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM runs WHERE rowid = migration"),
			 N_MIGRATIONS);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t WHERE name = 'a' AND size = 0"), 1);
	assert_string_equal((const char *)sqlite3_db_filename(tk_store_db(s), "main"), f->path);
	tk_store_close(s);

	s = open_store(f, N_MIGRATIONS);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM runs"), N_MIGRATIONS);
	tk_store_close(s);
}

static void test_migration_too_new(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = NULL;
	tk_err err = {};

	tk_store_close(open_store(f, 2));
	/* An older program refuses a database it does not understand... */
	assert_int_equal(tk_store_open(f->path, migrations, 1, &s, &err), -EPROTONOSUPPORT);
	assert_int_equal(err.code, -EPROTONOSUPPORT);
	assert_null(s);
	assert_non_null(strstr(err.msg, "newer"));
	assert_non_null(strstr(err.msg, "version 2"));
	assert_int_equal(tk_store_open(f->path, migrations, 0, &s, NULL), -EPROTONOSUPPORT);
	/* ...and leaves it as it was. */
	s = open_store(f, 2);
	assert_int_equal(query_int(s, "PRAGMA user_version"), 2);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM runs"), 2);
	tk_store_close(s);
}

static void test_migration_fails(void **state)
{
	static const char *const broken[] = {
		"CREATE TABLE a (x)",
		"CREATE TABLE b (x); INSERT INTO a VALUES (1); SELEKT 1",
	};
	struct fixture *f = *state;
	struct tk_store *s = NULL;
	tk_err err = {};

	/* The failing migration is named, and everything it did is rolled back... */
	assert_int_equal(tk_store_open(f->path, broken, 2, &s, &err), -EIO);
	assert_int_equal(err.code, -EIO);
	assert_null(s);
	assert_int_equal(strncmp(err.msg, "schema migration 2: ", 20), 0);
	assert_non_null(strstr(err.msg, "SELEKT"));
	/* ...but the migrations before it stay applied, each in its own transaction. */
	assert_int_equal(tk_store_open(f->path, broken, 1, &s, NULL), 0);
	assert_int_equal(query_int(s, "PRAGMA user_version"), 1);
	assert_true(table_exists(s, "a"));
	assert_false(table_exists(s, "b"));
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM a"), 0);
	tk_store_close(s);
}

static void test_pragmas(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	sqlite3_stmt *st;

	assert_int_equal(query_int(s, "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(query_int(s, "PRAGMA foreign_keys"), 1);
	assert_int_equal(sqlite3_prepare_v2(tk_store_db(s), "PRAGMA journal_mode", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(tk_store_db(s), "PRAGMA locking_mode", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "exclusive");
	sqlite3_finalize(st);
	tk_store_close(s);

	/* WAL is persistent: a plain connection sees it too. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Ephemeral transactions commit without fsync; everything else, even right after, with it. */
static void test_ephemeral(void **state)
{
	static const char insert[] = "INSERT INTO t (name) VALUES (?)";
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	sqlite3_stmt *st;

	assert_int_equal(tk_store_begin_ephemeral(s, NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('e')", NULL), 0);
	assert_int_equal(tk_store_commit(s, NULL), 0);
	assert_int_equal(query_int(s, "PRAGMA synchronous"), 1); /* NORMAL */
	/* An autocommit statement is durable again. */
	assert_int_equal(tk_store_stmt(s, insert, &st, NULL), 0);
	sqlite3_bind_text(st, 1, "d", -1, SQLITE_STATIC);
	assert_int_equal(tk_store_step_done(s, st, NULL), 0);
	assert_int_equal(query_int(s, "PRAGMA synchronous"), 2); /* FULL */
	/* So is an ordinary transaction after an ephemeral one. */
	assert_int_equal(tk_store_begin_ephemeral(s, NULL), 0);
	tk_store_rollback(s);
	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_int_equal(query_int(s, "PRAGMA synchronous"), 2);
	assert_int_equal(tk_store_commit(s, NULL), 0);
	assert_int_equal(query_int(s, "SELECT count(*) FROM t"), 2);
	tk_store_close(s);
}

static void test_exclusive(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	sqlite3 *db;
	int rc;

	/* While one daemon has the store open, nobody else can even read it. */
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	rc = sqlite3_exec(db, "SELECT COUNT(*) FROM t", NULL, NULL, NULL);
	assert_int_equal(rc & 0xff, SQLITE_BUSY);
	assert_int_equal(tk_store_errno(rc), -EBUSY);
	tk_store_close(s);
	/* Released on close. */
	assert_int_equal(sqlite3_exec(db, "SELECT COUNT(*) FROM t", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	tk_err err = {};

	/* Rolled back: gone. */
	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('x')", NULL), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 1);
	tk_store_rollback(s);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 0);
	assert_true(sqlite3_get_autocommit(tk_store_db(s)));
	/* Rolling back outside a transaction is harmless. */
	tk_store_rollback(s);

	/* Committed: kept, also across a reopen. */
	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_false(sqlite3_get_autocommit(tk_store_db(s)));
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('x')", NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('y')", NULL), 0);
	assert_int_equal(tk_store_commit(s, NULL), 0);
	assert_true(sqlite3_get_autocommit(tk_store_db(s)));
	tk_store_close(s);
	s = open_store(f, N_MIGRATIONS);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 2);

	/* Misuse is reported, not ignored. */
	assert_int_equal(tk_store_commit(s, &err), -EIO);
	assert_non_null(strstr(err.msg, "no transaction"));
	assert_int_equal(tk_store_begin(s, NULL), 0);
	tk_err_clear(&err);
	assert_int_equal(tk_store_begin(s, &err), -EIO);
	assert_non_null(strstr(err.msg, "within a transaction"));
	tk_store_rollback(s);

	/* A failing statement inside a transaction leaves the earlier ones to the caller. */
	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('z')", NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('x')", &err), -EEXIST);
	tk_store_rollback(s);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t WHERE name = 'z'"), 0);
	tk_store_close(s);
}

static void test_statements(void **state)
{
	static const char insert[] = "INSERT INTO t (name) VALUES (?)";
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	sqlite3_stmt *st, *again;
	tk_err err = {};

	/* Constraint violations map to EEXIST with SQLite's text. */
	assert_int_equal(tk_store_stmt(s, insert, &st, NULL), 0);
	sqlite3_bind_text(st, 1, "x", -1, SQLITE_STATIC);
	assert_int_equal(tk_store_step_done(s, st, NULL), 0);
	assert_int_equal(tk_store_stmt(s, insert, &st, NULL), 0);
	sqlite3_bind_text(st, 1, "x", -1, SQLITE_STATIC);
	assert_int_equal(tk_store_step_done(s, st, &err), -EEXIST);
	assert_int_equal(err.code, -EEXIST);
	assert_non_null(strstr(err.msg, "UNIQUE"));
	/* The cached statement comes back the same, reset, bindings cleared. */
	assert_int_equal(tk_store_stmt(s, insert, &again, NULL), 0);
	assert_ptr_equal(again, st);
	/* Unbound, the parameter is NULL: NOT NULL fails, not UNIQUE as with a stale 'x'. */
	tk_err_clear(&err);
	assert_int_equal(tk_store_step_done(s, again, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "NOT NULL"));
	assert_int_equal(tk_store_stmt(s, insert, &st, NULL), 0);
	sqlite3_bind_text(st, 1, "y", -1, SQLITE_STATIC);
	assert_int_equal(tk_store_step_done(s, st, NULL), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 2);

	/* Bad SQL is EIO with SQLite's explanation, from exec and from stmt. */
	tk_err_clear(&err);
	assert_int_equal(tk_store_exec(s, "SELEKT 1", &err), -EIO);
	assert_non_null(strstr(err.msg, "syntax error"));
	st = NULL;
	assert_int_equal(tk_store_stmt(s, "SELECT nope FROM t", &st, &err), -EIO);
	assert_null(st);
	assert_non_null(strstr(err.msg, "nope"));
	/* step_done is for statements without rows. */
	assert_int_equal(tk_store_stmt(s, "SELECT 1", &st, NULL), 0);
	assert_int_equal(tk_store_step_done(s, st, NULL), -EIO);
	tk_store_close(s);
}

static void test_foreign_keys(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	tk_err err = {};

	assert_int_equal(tk_store_exec(s, "INSERT INTO t (id, name) VALUES (1, 'p')", NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO child (t_id) VALUES (1)", NULL), 0);
	/* Deleting a row something still refers to is "busy", not "exists". */
	assert_int_equal(tk_store_exec(s, "DELETE FROM t WHERE id = 1", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "FOREIGN KEY"));
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 1);
	tk_store_close(s);
}

static void test_commit_thread(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);

	for (int i = 0; i < 50; i++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "INSERT INTO t (name) VALUES ('n%d')", i);
		assert_int_equal(tk_store_begin(s, NULL), 0);
		assert_int_equal(tk_store_exec(s, sql, NULL), 0);
		assert_int_equal(tk_store_commit_start(s, NULL), 0);
		assert_int_equal(tk_store_commit_finish(s, NULL), 0);
		assert_true(sqlite3_get_autocommit(tk_store_db(s)));
	}
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 50);
	tk_store_close(s);

	/* Committed means durable: a fresh connection sees every row. */
	s = open_store(f, N_MIGRATIONS);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 50);
	tk_store_close(s);
}

static void test_commit_thread_failure(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	tk_err err = {};

	/* A deferred foreign key makes COMMIT itself fail. */
	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('kept?')", NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO child (t_id) VALUES (42)", NULL), 0);
	assert_int_equal(tk_store_commit_start(s, NULL), 0);
	assert_int_equal(tk_store_commit_finish(s, &err), -EBUSY);
	assert_int_equal(err.code, -EBUSY);
	assert_int_equal(strncmp(err.msg, "committing: ", 12), 0);
	assert_non_null(strstr(err.msg, "FOREIGN KEY"));
	/* ...after which the transaction is rolled back, not left open. */
	assert_true(sqlite3_get_autocommit(tk_store_db(s)));
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM child"), 0);
	/* And the thread keeps working. */
	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('next')", NULL), 0);
	assert_int_equal(tk_store_commit_start(s, NULL), 0);
	assert_int_equal(tk_store_commit_finish(s, NULL), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 1);
	tk_store_close(s);
}

/* A job of the caller's own: a whole transaction, run on the helper, its error handed back. */
static int insert_job(struct tk_store *s, void *userdata, tk_err *err)
{
	const char *name = userdata;
	char sql[64];
	int r;

	if (!name)
		return tk_err_set(err, -EIO, "job failed on purpose");
	snprintf(sql, sizeof(sql), "INSERT INTO t (name) VALUES ('%s')", name);
	if ((r = tk_store_begin(s, err)) < 0 || (r = tk_store_exec(s, sql, err)) < 0 ||
	    (r = tk_store_commit(s, err)) < 0)
		tk_store_rollback(s);
	return r;
}

static void test_helper_job(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	static char name[] = "from-helper";
	tk_err err = {};

	assert_int_equal(tk_store_job_start(s, insert_job, name, NULL), 0);
	assert_int_equal(tk_store_job_finish(s, &err), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t WHERE name = 'from-helper'"), 1);
	assert_int_equal(tk_store_job_start(s, insert_job, NULL, NULL), 0);
	assert_int_equal(tk_store_job_finish(s, &err), -EIO);
	assert_string_equal(err.msg, "job failed on purpose");
	/* The same helper then still commits. */
	assert_int_equal(tk_store_begin(s, NULL), 0);
	assert_int_equal(tk_store_exec(s, "INSERT INTO t (name) VALUES ('after')", NULL), 0);
	assert_int_equal(tk_store_commit_start(s, NULL), 0);
	assert_int_equal(tk_store_commit_finish(s, NULL), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM t"), 2);
	tk_store_close(s);
}

struct count_ctx {
	int runs, running, overlaps, callers;
	pthread_t caller;
};

static int count_job(struct tk_store *s, void *userdata, tk_err *err)
{
	struct count_ctx *c = userdata;

	(void)s;
	if (__atomic_fetch_add(&c->running, 1, __ATOMIC_SEQ_CST) != 0)
		__atomic_fetch_add(&c->overlaps, 1, __ATOMIC_SEQ_CST);
	c->callers += pthread_equal(pthread_self(), c->caller) != 0;
	c->runs++;
	__atomic_fetch_sub(&c->running, 1, __ATOMIC_SEQ_CST);
	return c->runs % 2 ? 0 : tk_err_set(err, -EIO, "run %d", c->runs);
}

/*
 * finish runs a job the helper has not started itself (a helper without a CPU): whoever runs
 * it, each job runs exactly once, never beside another, and its result and error come back.
 */
static void test_helper_job_taken(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = open_store(f, N_MIGRATIONS);
	struct count_ctx c = { .caller = pthread_self() };

	for (int i = 1; i <= 2000; i++) {
		tk_err err = {};
		char want[32];

		assert_int_equal(tk_store_job_start(s, count_job, &c, NULL), 0);
		if (i % 3 == 0)
			usleep(50); /* sometimes the helper gets there first */
		if (i % 2) {
			assert_int_equal(tk_store_job_finish(s, &err), 0);
			continue;
		}
		assert_int_equal(tk_store_job_finish(s, &err), -EIO);
		snprintf(want, sizeof(want), "run %d", i);
		assert_string_equal(err.msg, want);
	}
	assert_int_equal(c.runs, 2000);
	assert_int_equal(c.overlaps, 0);
	print_message("# of 2000 jobs, %d ran on the caller\n", c.callers);
	tk_store_close(s);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct tk_store *s = NULL;
	char link[128];
	tk_err err = {};

	assert_int_equal(tk_store_open("/nonexistent-dir/x.db", migrations, 1, &s, &err), -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x.db"));
	assert_null(s);

	/* A symlink planted at the database path is not followed. */
	tk_store_close(open_store(f, 1));
	snprintf(link, sizeof(link), "%s/link.db", f->dir);
	assert_int_equal(symlink(f->path, link), 0);
	assert_int_equal(tk_store_open(link, migrations, 1, &s, &err), -ELOOP);
	assert_null(s);

	/* Not a database at all. */
	FILE *junk = fopen(f->path, "w");
	assert_non_null(junk);
	fputs("this is not an SQLite database, but it is long enough to look at it", junk);
	fclose(junk);
	unlink(link);
	snprintf(link, sizeof(link), "%s/state.db-wal", f->dir);
	unlink(link);
	tk_err_clear(&err);
	assert_true(tk_store_open(f->path, migrations, 1, &s, &err) < 0);
	assert_null(s);
	assert_true(strlen(err.msg) > 0);

	/* tk_store_close accepts NULL and returns NULL. */
	assert_null(tk_store_close(NULL));
}

static void test_errno_mapping(void **state)
{
	static const struct {
		int rc, expected;
	} map[] = {
		{ SQLITE_OK, 0 },
		{ SQLITE_ROW, 0 },
		{ SQLITE_DONE, 0 },
		{ SQLITE_CONSTRAINT, -EEXIST },
		{ SQLITE_CONSTRAINT_UNIQUE, -EEXIST },
		{ SQLITE_CONSTRAINT_PRIMARYKEY, -EEXIST },
		{ SQLITE_CONSTRAINT_NOTNULL, -EEXIST },
		{ SQLITE_CONSTRAINT_FOREIGNKEY, -EBUSY },
		{ SQLITE_BUSY, -EBUSY },
		{ SQLITE_BUSY_SNAPSHOT, -EBUSY },
		{ SQLITE_LOCKED, -EBUSY },
		{ SQLITE_FULL, -ENOSPC },
		{ SQLITE_NOMEM, -ENOMEM },
		{ SQLITE_CANTOPEN, -EACCES },
		{ SQLITE_READONLY, -EACCES },
		{ SQLITE_PERM, -EACCES },
		{ SQLITE_IOERR, -EIO },
		{ SQLITE_IOERR_FSYNC, -EIO },
		{ SQLITE_CORRUPT, -EIO },
		{ SQLITE_ERROR, -EIO },
		{ SQLITE_MISUSE, -EIO },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (tk_store_errno(map[i].rc) != map[i].expected)
			fail_msg("sqlite rc %d: got %d, expected %d", map[i].rc,
				 tk_store_errno(map[i].rc), map[i].expected);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_too_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ephemeral, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_thread_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helper_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helper_job_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test(test_errno_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
