/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tenants and volumes: validation, limits, and the intent log around the backends.  A volume's
 * row exists (state creating or deleting) for as long as kernel objects of it might, so a crash
 * anywhere is finished or undone by volumes_recover() on the next start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "volume.h"
#include "volumed.h"

/* Below this, filesystem metadata would be most of the volume. */
/* A directory quota (btrfs qgroup, xfs project) needs no room of its own. */
#define VOLUME_SIZE_MIN (1ULL << 20)
#define VOLUME_SIZE_MAX (1ULL << 50)

int tenant_create(struct manager *m, const struct tenant_params *p, struct vtenant **ret,
		  tk_err *err)
{
	_cleanup_free_ struct vtenant *t = NULL;
	struct vtenant **tail = &m->tenants;
	int r;

	if ((r = tk_name_validate(p->name, "tenant name", err)) < 0)
		return r;
	if (manager_tenant(m, p->name))
		return tk_err_set(err, -EEXIST, "tenant '%s' already exists", p->name);
	if (!(t = calloc(1, sizeof(*t))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	snprintf(t->name, sizeof(t->name), "%s", p->name);
	t->owner_uid = p->owner_uid;
	t->owner_gid = p->owner_gid;
	t->max_bytes = p->max_bytes;
	t->max_volumes = p->max_volumes;
	t->created = time(NULL);
	if ((r = db_tenant_insert(m, t, err)) < 0)
		return tk_err_wrap(err, r, "creating tenant '%s'", p->name);
	log_info("Created tenant '%s' (id %lld)", t->name, (long long)t->id);
	while (*tail)
		tail = &(*tail)->next;
	*tail = t;
	*ret = TAKE_PTR(t);
	return 0;
}

int tenant_delete(struct manager *m, struct vtenant *t, tk_err *err)
{
	int r;

	if (t->n_volumes > 0)
		return tk_err_set(err, -EBUSY,
				  "tenant '%s' still has %u volume(s); delete them first", t->name,
				  t->n_volumes);
	if ((r = db_tenant_delete(m, t, err)) < 0)
		return tk_err_wrap(err, r, "deleting tenant '%s'", t->name);
	log_info("Deleted tenant '%s'", t->name);
	for (struct vtenant **pp = &m->tenants; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	free(t);
	return 0;
}

int volume_find(struct manager *m, const struct tk_caller *c, const char *name, struct volume **ret,
		tk_err *err)
{
	struct volume *v = manager_volume(m, name);

	if (!v)
		return tk_err_set(err, -ENOENT, "no such volume '%s'", name);
	*ret = v;
	return caller_may_manage(c, v->tenant, err);
}

/* added: bytes a create, snapshot or resize adds to the tenant; volumes: 1 or 0 more. */
static int check_limits(const struct vtenant *t, uint64_t added, unsigned volumes, tk_err *err)
{
	char a[32], b[32];

	if (volumes && t->max_volumes >= 0 && t->n_volumes + volumes > (uint64_t)t->max_volumes)
		return tk_err_set(err, -EDQUOT, "tenant '%s' may have at most %lld volume(s)",
				  t->name, (long long)t->max_volumes);
	if (t->max_bytes >= 0 && t->bytes + added > (uint64_t)t->max_bytes)
		return tk_err_set(err, -EDQUOT,
				  "tenant '%s' would use %s of its %s limit (%s in use)", t->name,
				  tk_size_format(t->bytes + added, a, sizeof(a)),
				  tk_size_format((uint64_t)t->max_bytes, b, sizeof(b)),
				  tk_size_format(t->bytes, (char[32]){}, 32));
	return 0;
}

/* The backend's minimum for a new volume formatted fs (NULL or "": the backend's default). */
static int check_min_size(const struct backend *b, const char *fs, uint64_t size, tk_err *err)
{
	const char *why = "the smallest quota volumed sets";
	uint64_t min = VOLUME_SIZE_MIN;
	char a[32], c[32];

	if (b->min_size)
		min = b->min_size(fs && *fs ? fs : "ext4", &why);
	if (size >= min)
		return 0;
	if (b == &backend_loop)
		return tk_err_set(
			err, -EINVAL,
			"a volume of the loop backend formatted %s needs at least %s (%s), "
			"not %s",
			fs && *fs ? fs : "ext4", tk_size_format(min, a, sizeof(a)), why,
			tk_size_format(size, c, sizeof(c)));
	return tk_err_set(err, -EINVAL, "a volume of the %s backend needs at least %s (%s), not %s",
			  b->name, tk_size_format(min, a, sizeof(a)), why,
			  tk_size_format(size, c, sizeof(c)));
}

static int check_size(uint64_t size, tk_err *err)
{
	if (size > VOLUME_SIZE_MAX)
		return tk_err_set(err, -EINVAL, "a volume can be at most 1P");
	return 0;
}

static int check_new_volume(struct manager *m, const char *name, tk_err *err)
{
	int r;

	if ((r = tk_name_validate(name, "volume name", err)) < 0)
		return r;
	if (manager_volume(m, name))
		return tk_err_set(err, -EEXIST, "volume '%s' already exists", name);
	return 0;
}

static void volume_link(struct manager *m, struct volume *v)
{
	struct volume **tail = &m->volumes;

	while (*tail)
		tail = &(*tail)->next;
	*tail = v;
	v->tenant->n_volumes++;
	v->tenant->bytes += v->size;
}

static void volume_unlink(struct manager *m, struct volume *v)
{
	for (struct volume **pp = &m->volumes; *pp; pp = &(*pp)->next)
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	v->tenant->n_volumes--;
	v->tenant->bytes -= v->size;
}

/*
 * Runs make (the backend's create or snapshot) between an intent row and its confirmation.  On
 * failure the backend's remove sweeps up whatever make left and the row goes.
 */
static int volume_build(struct manager *m, struct volume *v, const struct volume *src, tk_err *err)
{
	tk_err cleanup_err = {};
	int r;

	v->state = VOLUME_CREATING;
	v->created = time(NULL);
	v->direct_io = -1;
	if ((r = db_volume_insert(m, v, err)) < 0)
		return tk_err_wrap(err, r, "recording volume '%s'", v->name);
	r = fault_point("volume-backend", err);
	if (r >= 0)
		r = src ? v->backend->snapshot(m, src, v, err) : v->backend->create(m, v, err);
	if (r >= 0 && (r = fault_point("volume-ready", err)) >= 0) {
		v->state = VOLUME_READY;
		r = db_volume_update(m, v, err);
	}
	if (r >= 0)
		return 0;
	if (v->backend->remove(m, v, &cleanup_err) < 0 || db_volume_delete(m, v, &cleanup_err) < 0)
		log_error(
			"Cleaning up after the failed create of '%s': %s (the next start retries)",
			v->name, cleanup_err.msg);
	return r;
}

int volume_create(struct manager *m, const struct volume_params *p, struct volume **ret,
		  tk_err *err)
{
	_cleanup_free_ struct volume *v = NULL;
	const struct backend *backend = p->backend ? p->backend : m->default_backend;
	char path[4096];
	int r;

	if ((r = check_new_volume(m, p->name, err)) < 0 || (r = check_size(p->size, err)) < 0 ||
	    (r = check_min_size(backend, p->fs, p->size, err)) < 0 ||
	    (r = check_limits(p->tenant, p->size, 1, err)) < 0)
		return r;
	if ((r = backend->probe(m, err)) < 0)
		return tk_err_wrap(err, -EOPNOTSUPP, "backend '%s' cannot be used here",
				   backend->name);
	if (p->fs && *p->fs && backend != &backend_loop && strcmp(p->fs, backend->name) != 0)
		return tk_err_set(
			err, -EINVAL,
			"a %s volume is a %s filesystem; fs= chooses a loop volume's format",
			backend->name, backend->name);
	if (p->mode > 07777)
		return tk_err_set(err, -EINVAL, "mode %#o is not a permission mode", p->mode);
	if (!(v = calloc(1, sizeof(*v))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	snprintf(v->name, sizeof(v->name), "%s", p->name);
	v->tenant = p->tenant;
	v->backend = backend;
	v->size = p->size;
	v->uid = p->uid;
	v->gid = p->gid;
	v->mode = p->mode;
	snprintf(v->fs, sizeof(v->fs), "%s", p->fs ? p->fs : "");
	if (volume_path(m, v, path, sizeof(path)) < 0)
		return tk_err_set(err, -ENAMETOOLONG, "the path of '%s' would be too long",
				  v->name);
	if ((r = volume_build(m, v, NULL, err)) < 0)
		return tk_err_wrap(err, r, "creating volume '%s'", p->name);
	log_info("Created volume '%s' of tenant '%s': %s %s, %llu bytes at '%s'", v->name,
		 v->tenant->name, v->backend->name, v->fs, (unsigned long long)v->size, path);
	volume_link(m, v);
	*ret = TAKE_PTR(v);
	return 0;
}

int volume_snapshot(struct manager *m, struct volume *src, const char *name, struct volume **ret,
		    tk_err *err)
{
	_cleanup_free_ struct volume *v = NULL;
	int r;

	if (!src->backend->snapshot)
		return tk_err_set(err, -EOPNOTSUPP,
				  "'%s' is a %s volume: only btrfs volumes have "
				  "snapshots",
				  src->name, src->backend->name);
	if ((r = check_new_volume(m, name, err)) < 0 ||
	    (r = check_limits(src->tenant, src->size, 1, err)) < 0)
		return r;
	if (!(v = calloc(1, sizeof(*v))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	*v = *src;
	v->next = NULL;
	v->problem[0] = v->uuid[0] = '\0';
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->snapshot_of, sizeof(v->snapshot_of), "%s", src->name);
	if ((r = volume_build(m, v, src, err)) < 0)
		return tk_err_wrap(err, r, "snapshotting '%s' as '%s'", src->name, name);
	log_info("Created volume '%s' as a snapshot of '%s'", v->name, src->name);
	volume_link(m, v);
	*ret = TAKE_PTR(v);
	return 0;
}

static int mount_count(struct manager *m, const struct volume *v)
{
	json_t *ids = json_array();
	int n = db_mounts(m, v, ids, NULL) < 0 ? 0 : (int)json_array_size(ids);

	json_decref(ids);
	return n;
}

int volume_delete(struct manager *m, struct volume *v, bool force, tk_err *err)
{
	int mounts = mount_count(m, v), r;

	if (mounts > 0 && !force)
		return tk_err_set(
			err, -EBUSY,
			"volume '%s' is mounted by %d container(s); stop them or use force",
			v->name, mounts);
	v->state = VOLUME_DELETING;
	if ((r = db_volume_update(m, v, err)) < 0)
		return tk_err_wrap(err, r, "deleting volume '%s'", v->name);
	if ((r = fault_point("volume-remove", err)) < 0 ||
	    (r = v->backend->remove(m, v, err)) < 0) {
		/* Nothing is lost yet (remove goes last to first): the volume stays usable. */
		v->state = VOLUME_READY;
		(void)db_volume_update(m, v, NULL);
		return tk_err_wrap(err, r, "deleting volume '%s'", v->name);
	}
	if ((r = db_volume_delete(m, v, err)) < 0)
		return tk_err_wrap(err, r,
				   "deleting volume '%s' (its data is gone; the next start "
				   "drops the record)",
				   v->name);
	log_info("Deleted volume '%s' of tenant '%s'", v->name, v->tenant->name);
	volume_unlink(m, v);
	free(v);
	return 0;
}

int volume_resize(struct manager *m, struct volume *v, uint64_t size, tk_err *err)
{
	uint64_t old = v->size;
	int r;

	if (size < v->size)
		return tk_err_set(
			err, -EINVAL,
			"shrinking is not supported: '%s' is %llu bytes and can only grow", v->name,
			(unsigned long long)v->size);
	if (size == v->size)
		return 0;
	if ((r = check_size(size, err)) < 0 ||
	    (r = check_limits(v->tenant, size - old, 0, err)) < 0)
		return r;
	if (v->problem[0])
		return tk_err_set(err, -EIO, "'%s' is broken: %s", v->name, v->problem);
	if ((r = v->backend->resize(m, v, size, err)) < 0)
		return tk_err_wrap(err, r, "growing volume '%s'", v->name);
	v->size = size;
	if ((r = db_volume_update(m, v, err)) < 0) {
		/* The kernel already gave the space; say so rather than pretend nothing changed. */
		v->size = old;
		return tk_err_wrap(err, r, "recording the new size of '%s' (the filesystem grew)",
				   v->name);
	}
	v->tenant->bytes += size - old;
	log_info("Grew volume '%s' from %llu to %llu bytes", v->name, (unsigned long long)old,
		 (unsigned long long)size);
	return 0;
}

static int recover_one(struct manager *m, struct volume *v, json_t *actions)
{
	tk_err err = {};
	char path[4096];

	volume_path(m, v, path, sizeof(path));
	if (v->state != VOLUME_READY) {
		const char *what = v->state == VOLUME_CREATING ? "create" : "delete";
		if (v->backend->remove(m, v, &err) < 0 || db_volume_delete(m, v, &err) < 0) {
			snprintf(v->problem, sizeof(v->problem), "interrupted %s: %s", what,
				 err.msg);
			report_action(actions, "cannot finish the interrupted %s of '%s': %s", what,
				      v->name, err.msg);
			return 0;
		}
		report_action(actions, "%s '%s', interrupted by a crash",
			      v->state == VOLUME_CREATING ? "rolled back the create of"
							  : "finished deleting",
			      v->name);
		return 1;
	}
	if (v->backend->activate(m, v, &err) < 0) {
		snprintf(v->problem, sizeof(v->problem), "%s", err.msg);
		report_action(actions, "volume '%s' is broken: %s (nothing was deleted)", v->name,
			      err.msg);
		return 0;
	}
	if (v->device[0])
		report_action(actions, "volume '%s' is mounted at '%s' from %s", v->name, path,
			      v->device);
	return 0;
}

int volumes_recover(struct manager *m, json_t *actions, tk_err *err)
{
	(void)err;
	for (struct volume *v = m->volumes, *next; v; v = next) {
		next = v->next;
		if (recover_one(m, v, actions) > 0) {
			volume_unlink(m, v);
			free(v);
		}
	}
	return 0;
}

static json_t *opt_int(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *opt_string(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

json_t *tenant_to_json(const struct vtenant *t)
{
	return json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:i, s:I, s:I}", "name", t->name, "id",
			 (json_int_t)t->id, "owner_uid", opt_int(t->owner_uid), "owner_gid",
			 opt_int(t->owner_gid), "max_bytes", opt_int(t->max_bytes), "max_volumes",
			 opt_int(t->max_volumes), "volumes", (int)t->n_volumes, "bytes",
			 (json_int_t)t->bytes, "created", (json_int_t)t->created);
}

static const char *state_name(const struct volume *v)
{
	if (v->problem[0])
		return "broken";
	return v->state == VOLUME_CREATING   ? "creating"
	       : v->state == VOLUME_DELETING ? "deleting"
					     : "ready";
}

json_t *volume_to_json(struct manager *m, const struct volume *v)
{
	struct volume_usage u = {};
	bool have_usage = !v->problem[0] && v->backend->usage(m, v, &u, NULL) >= 0;
	json_t *mounts = json_array();
	char path[4096], mode[8];

	volume_path(m, v, path, sizeof(path));
	snprintf(mode, sizeof(mode), "%04o", v->mode);
	(void)db_mounts(m, v, mounts, NULL);
	return json_pack(
		"{s:s, s:I, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:o, s:o, s:o, "
		"s:o, s:o, s:o, s:o, s:o, s:o, s:I}",
		"name", v->name, "id", (json_int_t)v->id, "tenant", v->tenant->name, "backend",
		v->backend->name, "fs", v->fs, "size", (json_int_t)v->size, "path", path, "uid",
		(json_int_t)v->uid, "gid", (json_int_t)v->gid, "mode", mode, "state", state_name(v),
		"problem", opt_string(v->problem), "uuid", opt_string(v->uuid), "device",
		opt_string(v->device), "direct_io",
		v->direct_io < 0 ? json_null() : json_boolean(v->direct_io), "used_bytes",
		have_usage ? json_integer((json_int_t)u.used_bytes) : json_null(), "used_inodes",
		have_usage ? json_integer((json_int_t)u.used_inodes) : json_null(), "total_inodes",
		have_usage ? json_integer((json_int_t)u.total_inodes) : json_null(), "mounts",
		mounts, "snapshot_of", opt_string(v->snapshot_of), "created",
		(json_int_t)v->created);
}
