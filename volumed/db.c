/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* volumed's state database: schema, loading at start, and typed rows. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "store.h"
#include "volumed.h"

/* The tenants table is a macro that the string literals after it continue. */
/* clang-format off */
static const char *const migrations[] = {
	/* 1: initial schema.  AUTOINCREMENT keeps ids (xfs project ids derive from them) unique
	 * forever. */
	TK_TENANTS_TABLE_SQL("max_bytes INTEGER, max_volumes INTEGER")
	"CREATE TABLE volumes ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	"  backend TEXT NOT NULL, fs TEXT NOT NULL, size INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL, gid INTEGER NOT NULL, mode INTEGER NOT NULL,"
	"  uuid TEXT, snapshot_of TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'deleting')),"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE mounts ("
	"  volume_id INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,"
	"  mount_id TEXT NOT NULL,"
	"  PRIMARY KEY (volume_id, mount_id));",
};
/* clang-format on */

static const char *const state_names[] = {
	[VOLUME_CREATING] = "creating",
	[VOLUME_READY] = "ready",
	[VOLUME_DELETING] = "deleting",
};

int db_open(struct manager *m, tk_err *err)
{
	return tk_daemon_open_state(m->state_dir, "volumed.db", migrations, ELEMENTSOF(migrations),
				    &volumed_tenants, &m->store, &m->tenants, err);
}

static void bind_opt_text(sqlite3_stmt *st, int col, const char *s)
{
	if (!s[0])
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

static int volume_from_row(struct manager *m, sqlite3_stmt *st, struct volume *v, tk_err *err)
{
	int64_t tenant_id = sqlite3_column_int64(st, 2);
	const char *state = tk_store_column_text(st, 11);

	v->id = sqlite3_column_int64(st, 0);
	snprintf(v->name, sizeof(v->name), "%s", tk_store_column_text(st, 1));
	if (!(v->tenant = tk_tenant_get_by_id(&m->tenants, tenant_id)))
		return tk_err_set(err, -EIO, "volume '%s' has no tenant", v->name);
	if (!(v->backend = backend_by_name(tk_store_column_text(st, 3))))
		return tk_err_set(err, -EIO, "volume '%s' has unknown backend '%s'", v->name,
				  tk_store_column_text(st, 3));
	snprintf(v->fs, sizeof(v->fs), "%s", tk_store_column_text(st, 4));
	v->size = (uint64_t)sqlite3_column_int64(st, 5);
	v->uid = (uint32_t)sqlite3_column_int64(st, 6);
	v->gid = (uint32_t)sqlite3_column_int64(st, 7);
	v->mode = (uint32_t)sqlite3_column_int64(st, 8);
	snprintf(v->uuid, sizeof(v->uuid), "%s", tk_store_column_text(st, 9));
	snprintf(v->snapshot_of, sizeof(v->snapshot_of), "%s", tk_store_column_text(st, 10));
	v->state = VOLUME_READY;
	for (size_t i = 0; i < ELEMENTSOF(state_names); i++)
		if (strcmp(state, state_names[i]) == 0)
			v->state = (enum volume_state)i;
	v->created = sqlite3_column_int64(st, 12);
	v->direct_io = -1;
	return 0;
}

static int load_volumes(struct manager *m, tk_err *err)
{
	struct volume **tail = &m->volumes;
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(m->store,
			  "SELECT id, name, tenant_id, backend, fs, size, uid, gid, mode, uuid, "
			  "snapshot_of, state, created FROM volumes ORDER BY id",
			  &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct volume *v = calloc(1, sizeof(*v));
		if (!v)
			return tk_err_set(err, -ENOMEM, "out of memory");
		*tail = v;
		tail = &v->next;
		if ((r = volume_from_row(m, st, v, err)) < 0)
			return r;
		v->tenant->n_volumes++;
		v->tenant->bytes += v->size;
	}
	return rc == SQLITE_DONE ? 0 : tk_store_step_error(m->store, rc, "loading volumes", err);
}

int db_load(struct manager *m, tk_err *err)
{
	return load_volumes(m, err);
}

int db_volume_insert(struct manager *m, struct volume *v, tk_err *err)
{
	sqlite3_stmt *st;
	int r;

	r = tk_store_stmt(
		m->store,
		"INSERT INTO volumes (name, tenant_id, backend, fs, size, uid, gid, mode, "
		"uuid, snapshot_of, state, created) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		&st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, v->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v->tenant->id);
	sqlite3_bind_text(st, 3, v->backend->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, v->fs, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)v->size);
	sqlite3_bind_int64(st, 6, v->uid);
	sqlite3_bind_int64(st, 7, v->gid);
	sqlite3_bind_int64(st, 8, v->mode);
	bind_opt_text(st, 9, v->uuid);
	bind_opt_text(st, 10, v->snapshot_of);
	sqlite3_bind_text(st, 11, state_names[v->state], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, v->created);
	if ((r = tk_store_step_done(m->store, st, err)) < 0)
		return r;
	v->id = sqlite3_last_insert_rowid(tk_store_db(m->store));
	return 0;
}

int db_volume_update(struct manager *m, const struct volume *v, tk_err *err)
{
	sqlite3_stmt *st;
	int r;

	r = tk_store_stmt(m->store,
			  "UPDATE volumes SET fs = ?, size = ?, uuid = ?, state = ? WHERE id = ?",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, v->fs, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)v->size);
	bind_opt_text(st, 3, v->uuid);
	sqlite3_bind_text(st, 4, state_names[v->state], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, v->id);
	return tk_store_step_done(m->store, st, err);
}

int db_volume_delete(struct manager *m, const struct volume *v, tk_err *err)
{
	sqlite3_stmt *st;
	int r = tk_store_stmt(m->store, "DELETE FROM volumes WHERE id = ?", &st, err);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, v->id);
	return tk_store_step_done(m->store, st, err);
}

int db_mount_add(struct manager *m, const struct volume *v, const char *id, tk_err *err)
{
	sqlite3_stmt *st;
	int r = tk_store_stmt(m->store,
			      "INSERT OR IGNORE INTO mounts (volume_id, mount_id) VALUES (?, ?)",
			      &st, err);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, v->id);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return tk_store_step_done(m->store, st, err);
}

int db_mount_remove(struct manager *m, const struct volume *v, const char *id, tk_err *err)
{
	sqlite3_stmt *st;
	int r = tk_store_stmt(m->store, "DELETE FROM mounts WHERE volume_id = ? AND mount_id = ?",
			      &st, err);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, v->id);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return tk_store_step_done(m->store, st, err);
}

int db_mounts(struct manager *m, const struct volume *v, json_t *array, tk_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	r = tk_store_stmt(m->store,
			  "SELECT mount_id FROM mounts WHERE volume_id = ? ORDER BY rowid", &st,
			  err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, v->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(array, json_string(tk_store_column_text(st, 0)));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : tk_store_step_error(m->store, rc, "reading mounts", err);
}
