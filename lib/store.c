/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define STMT_CACHE 64

struct tk_store {
	sqlite3 *db;
	struct {
		const char *sql; /* callers pass string literals: the pointer is the key */
		sqlite3_stmt *stmt;
	} cache[STMT_CACHE];
	size_t n_cache;

	/* The helper thread (see tk_store_job_start), its job and what it hands back. */
	pthread_t helper;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool helper_running, job_pending, job_taken, stopping;
	tk_store_job job;
	void *job_data;
	int job_r;
	tk_err job_err;
	cpu_set_t cpus;	 /* where this process may run */
	int avoided_cpu; /* the CPU the helper is kept off, -1 for none */

	bool synchronous_normal; /* the connection's current PRAGMA synchronous */
	bool (*locked)(void);	 /* tk_store_set_guard's */
};

int tk_store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW: return 0;
	case SQLITE_CONSTRAINT: return rc == SQLITE_CONSTRAINT_FOREIGNKEY ? -EBUSY : -EEXIST;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM: return -EACCES;
	default: return -EIO;
	}
}

static int fail(struct tk_store *s, int rc, const char *what, tk_err *err)
{
	return tk_err_set(err, tk_store_errno(rc) ?: -EIO, "%s: %s", what,
			  s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

void tk_store_set_guard(struct tk_store *s, bool (*locked)(void))
{
	s->locked = locked;
}

/*
 * A statement run without the caller's lock may interleave with another thread's use of the
 * same cached statement (each resets, binds and steps it) and read that thread's rows.
 */
static void guard(struct tk_store *s, const char *sql)
{
	if (s->locked && !s->locked())
		log_error("BUG: the database used without the state lock: %.60s", sql);
}

int tk_store_exec(struct tk_store *s, const char *sql, tk_err *err)
{
	int rc;

	guard(s, sql);
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail(s, rc, "database", err);
}

static int user_version(struct tk_store *s, int *ret, tk_err *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK || (rc = sqlite3_step(st)) != SQLITE_ROW)
		return fail(s, rc, "reading schema version", err);
	*ret = sqlite3_column_int(st, 0);
	return 0;
}

static int migrate(struct tk_store *s, const char *const *migrations, size_t n, tk_err *err)
{
	char sql[64];
	int version = 0, r;

	if ((r = user_version(s, &version, err)) < 0)
		return r;
	if ((size_t)version > n)
		return tk_err_set(
			err, -EPROTONOSUPPORT,
			"database schema version %d is newer than this program understands (%zu)",
			version, n);
	for (size_t i = (size_t)version; i < n; i++) {
		if ((r = tk_store_begin(s, err)) < 0)
			return r;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
		if ((r = tk_store_exec(s, migrations[i], err)) < 0 ||
		    (r = tk_store_exec(s, sql, err)) < 0 || (r = tk_store_commit(s, err)) < 0) {
			tk_store_rollback(s);
			return tk_err_wrap(err, r, "schema migration %zu", i + 1);
		}
	}
	return 0;
}

static int check_wal(struct tk_store *s, tk_err *err)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);

	if (rc != SQLITE_OK || (rc = sqlite3_step(st)) != SQLITE_ROW)
		return fail(s, rc, "enabling WAL", err);
	if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
		return tk_err_set(err, -EIO, "the database refused WAL journaling");
	return 0;
}

int tk_store_open(const char *path, const char *const *migrations, size_t n_migrations,
		  struct tk_store **ret, tk_err *err)
{
	struct tk_store *s = calloc(1, sizeof(*s));
	int fd, rc, r;

	if (!s)
		return tk_err_set(err, -ENOMEM, "out of memory");
	/* Create it 0600 ourselves: the database names tenants and their owners. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		free(s);
		return tk_err_set(err, -errno, "cannot open '%s': %m", path);
	}
	close(fd);
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		r = fail(s, rc, path, err);
		tk_store_close(s);
		return r;
	}
	sqlite3_busy_timeout(s->db, 5000);
	/*
	 * One daemon owns its database: exclusive locking saves the lock syscalls of every
	 * transaction, keeps the WAL index in memory, and stops a second daemon on the same state.
	 */
	if ((r = tk_store_exec(s, "PRAGMA locking_mode = EXCLUSIVE", err)) < 0 ||
	    (r = check_wal(s, err)) < 0 ||
	    (r = tk_store_exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", err)) <
		    0 ||
	    (r = migrate(s, migrations, n_migrations, err)) < 0) {
		tk_store_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* Runs the pending job, taken by whoever holds the lock first; called and returns with it held. */
static void run_job(struct tk_store *s)
{
	tk_err err = {};
	int r;

	s->job_taken = true;
	pthread_mutex_unlock(&s->lock);
	r = s->job(s, s->job_data, &err);
	pthread_mutex_lock(&s->lock);
	s->job_r = r;
	s->job_err = err;
	s->job_pending = s->job_taken = false;
}

static void *helper_main(void *userdata)
{
	struct tk_store *s = userdata;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!(s->job_pending && !s->job_taken) && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stopping)
			break;
		run_job(s);
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/*
 * The helper is there to run beside the caller, which meanwhile keeps its own CPU busy in the
 * kernel.  Woken on the caller's CPU (the scheduler's wake-affine choice), it would preempt the
 * caller and run its whole job first (measured: 60-70 us more per endpoint), so it is kept off
 * that CPU.  Best effort: nothing changes where there is only one CPU to run on.
 */
static void keep_helper_off_caller_cpu(struct tk_store *s)
{
	int cpu = sched_getcpu();
	cpu_set_t others = s->cpus;

	if (cpu < 0 || cpu == s->avoided_cpu || cpu >= CPU_SETSIZE || CPU_COUNT(&s->cpus) < 2)
		return;
	CPU_CLR(cpu, &others);
	if (CPU_COUNT(&others) > 0 &&
	    pthread_setaffinity_np(s->helper, sizeof(others), &others) == 0)
		s->avoided_cpu = cpu;
}

int tk_store_job_start(struct tk_store *s, tk_store_job job, void *userdata, tk_err *err)
{
	int r;

	if (!s->helper_running) {
		pthread_mutex_init(&s->lock, NULL);
		pthread_cond_init(&s->cond, NULL);
		sigset_t all, old;

		/* Signals belong to the caller's threads, never to this helper. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		r = pthread_create(&s->helper, NULL, helper_main, s);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r != 0) {
			pthread_cond_destroy(&s->cond);
			pthread_mutex_destroy(&s->lock);
			return tk_err_set(err, -r, "cannot start the store's helper thread: %s",
					  strerror(r));
		}
		s->helper_running = true;
		s->avoided_cpu = -1;
		if (sched_getaffinity(0, sizeof(s->cpus), &s->cpus) < 0)
			CPU_ZERO(&s->cpus);
	}
	keep_helper_off_caller_cpu(s);
	pthread_mutex_lock(&s->lock);
	s->job = job;
	s->job_data = userdata;
	s->job_pending = true;
	pthread_mutex_unlock(&s->lock);
	/* After unlocking, or the woken helper would at once block on the mutex still held. */
	pthread_cond_broadcast(&s->cond);
	return 0;
}

int tk_store_job_finish(struct tk_store *s, tk_err *err)
{
	int r;

	pthread_mutex_lock(&s->lock);
	/*
	 * A helper that has not started the job by now has not had a CPU (a busy machine): the
	 * caller runs it itself rather than wait for the helper to be scheduled and then to be
	 * woken back, two time slices where 20-40 tasks compete for 2 CPUs.
	 */
	if (s->job_pending && !s->job_taken)
		run_job(s);
	while (s->job_pending)
		pthread_cond_wait(&s->cond, &s->lock);
	r = s->job_r;
	if (r < 0 && err)
		*err = s->job_err;
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int commit_job(struct tk_store *s, void *userdata, tk_err *err)
{
	(void)userdata;
	return tk_store_commit(s, err);
}

int tk_store_commit_start(struct tk_store *s, tk_err *err)
{
	return tk_store_job_start(s, commit_job, NULL, err);
}

int tk_store_commit_finish(struct tk_store *s, tk_err *err)
{
	int r = tk_store_job_finish(s, err);

	if (r < 0) {
		tk_store_rollback(s);
		tk_err_wrap(err, r, "committing");
	}
	return r;
}

struct tk_store *tk_store_close(struct tk_store *s)
{
	if (!s)
		return NULL;
	if (s->helper_running) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->helper, NULL);
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
	}
	for (size_t i = 0; i < s->n_cache; i++)
		sqlite3_finalize(s->cache[i].stmt);
	sqlite3_close(s->db);
	free(s);
	return NULL;
}

sqlite3 *tk_store_db(struct tk_store *s)
{
	return s->db;
}

/* PRAGMA synchronous applies to the connection and cannot change inside a transaction. */
static int set_synchronous(struct tk_store *s, bool normal, tk_err *err)
{
	int r;

	if (s->synchronous_normal == normal)
		return 0;
	r = tk_store_exec(s, normal ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
			  err);
	if (r >= 0)
		s->synchronous_normal = normal;
	return r;
}

int tk_store_begin(struct tk_store *s, tk_err *err)
{
	int r = set_synchronous(s, false, err);
	return r < 0 ? r : tk_store_exec(s, "BEGIN IMMEDIATE", err);
}

int tk_store_begin_ephemeral(struct tk_store *s, tk_err *err)
{
	int r = set_synchronous(s, true, err);
	return r < 0 ? r : tk_store_exec(s, "BEGIN IMMEDIATE", err);
}

int tk_store_commit(struct tk_store *s, tk_err *err)
{
	return tk_store_exec(s, "COMMIT", err);
}

void tk_store_rollback(struct tk_store *s)
{
	guard(s, "ROLLBACK");
	if (!sqlite3_get_autocommit(s->db) && sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL))
		log_debug("ROLLBACK failed: %s", sqlite3_errmsg(s->db));
}

int tk_store_stmt(struct tk_store *s, const char *sql, sqlite3_stmt **ret, tk_err *err)
{
	sqlite3_stmt *st;
	int rc;

	guard(s, sql);
	for (size_t i = 0; i < s->n_cache; i++)
		if (s->cache[i].sql == sql) {
			st = s->cache[i].stmt;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			*ret = st;
			return 0;
		}
	rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "preparing a query", err);
	if (s->n_cache < STMT_CACHE) {
		s->cache[s->n_cache].sql = sql;
		s->cache[s->n_cache++].stmt = st;
	} else {
		/* Should never happen with a fixed set of queries; keep working, leak-free. */
		sqlite3_finalize(s->cache[0].stmt);
		s->cache[0].sql = sql;
		s->cache[0].stmt = st;
	}
	*ret = st;
	return 0;
}

int tk_store_step_done(struct tk_store *s, sqlite3_stmt *stmt, tk_err *err)
{
	int rc;

	/* A statement outside a transaction commits on its own: durably, unless told otherwise. */
	if (sqlite3_get_autocommit(s->db) && (rc = set_synchronous(s, false, err)) < 0)
		return rc;
	rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return 0;
	return fail(s, rc, "database", err);
}

int64_t tk_store_column_opt_int(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, col);
}

void tk_store_bind_opt_int(sqlite3_stmt *st, int col, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_int64(st, col, v);
}

const char *tk_store_column_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return s ? (const char *)s : "";
}

int tk_store_step_error(struct tk_store *s, int rc, const char *what, tk_err *err)
{
	/* A step that "succeeded" where a row was due (SQLITE_DONE) is still a failure here. */
	return tk_err_set(err, tk_store_errno(rc) ?: -EIO, "%s: %s", what,
			  sqlite3_errmsg(tk_store_db(s)));
}
