/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * SQLite state: WAL journal, synchronous=FULL, foreign keys on, and numbered migrations recorded
 * in PRAGMA user_version, each applied in its own transaction.
 */

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "err.h"

struct tk_store;

/*
 * Opens (creating if needed) the database at path and applies migrations[user_version..n).
 * A database newer than n migrations is refused (-EPROTONOSUPPORT) rather than misread.
 */
int tk_store_open(const char *path, const char *const *migrations, size_t n_migrations,
		  struct tk_store **ret, tk_err *err);
struct tk_store *tk_store_close(struct tk_store *s);
sqlite3 *tk_store_db(struct tk_store *s);

int tk_store_exec(struct tk_store *s, const char *sql, tk_err *err);
/*
 * From now on, every statement checks locked() (a daemon's tk_server_state_locked) and logs a
 * line beginning "BUG:" when it is false: state read or written by a thread without the lock.
 */
void tk_store_set_guard(struct tk_store *s, bool (*locked)(void));
int tk_store_begin(struct tk_store *s, tk_err *err);
/*
 * BEGIN for rows that describe what cannot outlive an operating system crash (a container's
 * attachment: its network namespace dies with the machine).  Committed with synchronous=NORMAL:
 * atomic and consistent, safe when the daemon crashes (the WAL is in the page cache), but the
 * last such commits may be lost with the machine, along with what they describe.  The next
 * durable commit syncs them as well.
 */
int tk_store_begin_ephemeral(struct tk_store *s, tk_err *err);
int tk_store_commit(struct tk_store *s, tk_err *err);
/*
 * Runs job on the store's helper thread, so that database work (and whatever else the caller
 * hands it) overlaps what the caller does next, netlink work say.  Between start and finish the
 * caller must not touch the store, nor anything else the job uses.  finish waits and returns the
 * job's result, with its message in err; a job the helper has not started by then, the caller
 * runs itself (either way exactly once).
 */
typedef int (*tk_store_job)(struct tk_store *s, void *userdata, tk_err *err);
int tk_store_job_start(struct tk_store *s, tk_store_job job, void *userdata, tk_err *err);
int tk_store_job_finish(struct tk_store *s, tk_err *err);
/* The common job: COMMIT.  After a failed commit, finish rolls the transaction back. */
int tk_store_commit_start(struct tk_store *s, tk_err *err);
int tk_store_commit_finish(struct tk_store *s, tk_err *err);
/* Never fails in a way the caller can act on; logs at debug level. */
void tk_store_rollback(struct tk_store *s);

/*
 * Returns a cached prepared statement for sql (reset and with bindings cleared), so hot paths do
 * not re-parse SQL.  The statement stays owned by the store.
 */
int tk_store_stmt(struct tk_store *s, const char *sql, sqlite3_stmt **ret, tk_err *err);

/*
 * Maps an SQLite result code to -errno: -EEXIST for constraint violations, -EBUSY for foreign-key
 * violations and locks, -ENOSPC, -ENOMEM, -EACCES where they fit, -EIO otherwise.
 */
int tk_store_errno(int sqlite_rc);

/* Steps a statement that returns no rows; SQLITE_DONE -> 0. */
int tk_store_step_done(struct tk_store *s, sqlite3_stmt *stmt, tk_err *err);

/* Optional integers are NULL in the database and -1 in memory. */
int64_t tk_store_column_opt_int(sqlite3_stmt *st, int col);
void tk_store_bind_opt_int(sqlite3_stmt *st, int col, int64_t v);
/* A text column, "" for NULL. */
const char *tk_store_column_text(sqlite3_stmt *st, int col);
/* Sets err from a failed sqlite3_step() result rc: "<what>: <sqlite's message>". */
int tk_store_step_error(struct tk_store *s, int rc, const char *what, tk_err *err);

static inline void sqlite3_finalizep(sqlite3_stmt **stmt)
{
	if (*stmt)
		sqlite3_finalize(*stmt);
}
