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
static int check_limits(const struct tk_tenant *t, uint64_t added, unsigned volumes, tk_err *err)
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
 * Slow kernel work (mkfs, resize2fs, fallocate, umount) runs with the state lock dropped, so
 * other requests are served meanwhile.  It works on a private copy of the volume (requests under
 * the lock may read the original) and the result is copied back under the lock; busy keeps
 * others from deleting, resizing or snapshotting the volume in between.
 */
static void volume_commit(struct volume *v, const struct volume *work)
{
	struct volume *next = v->next;
	unsigned busy = v->busy;

	*v = *work;
	v->next = next;
	v->busy = busy;
}

static int volume_check_idle(const struct volume *v, tk_err *err)
{
	if (v->busy || v->state != VOLUME_READY)
		return tk_err_set(err, -EBUSY,
				  "volume '%s' is busy (%s); try again when it is done", v->name,
				  v->state == VOLUME_CREATING	? "being created"
				  : v->state == VOLUME_DELETING ? "being deleted"
								: "being resized or copied");
	return 0;
}

/*
 * Runs make (the backend's create or snapshot) between an intent row and its confirmation.  On
 * failure the backend's remove sweeps up whatever make left and the row goes.  The volume is in
 * the model (state creating) from the start, so its name and its share of the tenant's limits
 * are taken while the lock is dropped.
 */
static int volume_build(struct manager *m, struct volume *v, struct volume *src, tk_err *err)
{
	tk_err cleanup_err = {};
	struct volume work;
	int r, q = 0;

	v->state = VOLUME_CREATING;
	v->created = time(NULL);
	v->direct_io = -1;
	if ((r = db_volume_insert(m, v, err)) < 0)
		return tk_err_wrap(err, r, "recording volume '%s'", v->name);
	volume_link(m, v);
	v->busy++;
	if (src)
		src->busy++;
	work = *v;
	tk_server_state_unlock();
	r = fault_point("volume-backend", err);
	if (r >= 0)
		r = src ? work.backend->snapshot(m, src, &work, err)
			: work.backend->create(m, &work, err);
	if (r >= 0)
		r = fault_point("volume-ready", err);
	if (r < 0)
		q = work.backend->remove(m, &work, &cleanup_err);
	tk_server_state_lock();
	if (src)
		src->busy--;
	v->busy--;
	volume_commit(v, &work);
	if (r >= 0) {
		v->state = VOLUME_READY;
		r = db_volume_update(m, v, err);
		if (r >= 0)
			return 0;
		q = v->backend->remove(m, v, &cleanup_err);
	}
	volume_unlink(m, v);
	if (q < 0 || db_volume_delete(m, v, &cleanup_err) < 0)
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
	if (backend->probe(m, err) < 0)
		return tk_err_wrap(err, -EOPNOTSUPP, "backend '%s' cannot be used here",
				   backend->name);
	if (p->fs && *p->fs && backend != &backend_loop && strcmp(p->fs, backend->name) != 0)
		return tk_err_set(
			err, -EINVAL,
			"a %s volume is a %s filesystem; fs= chooses a loop volume's format",
			backend->name, backend->name);
	if (p->mode > 0777)
		return tk_err_set(
			err, -EINVAL,
			"mode %#o is not a permission mode (0 to 0777; no setuid, setgid or "
			"sticky bits)",
			p->mode);
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
	if ((r = volume_check_idle(src, err)) < 0 || (r = check_new_volume(m, name, err)) < 0 ||
	    (r = check_limits(src->tenant, src->size, 1, err)) < 0)
		return r;
	if (!(v = calloc(1, sizeof(*v))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	*v = *src;
	v->next = NULL;
	v->busy = 0;
	v->problem[0] = v->uuid[0] = '\0';
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->snapshot_of, sizeof(v->snapshot_of), "%s", src->name);
	if ((r = volume_build(m, v, src, err)) < 0)
		return tk_err_wrap(err, r, "snapshotting '%s' as '%s'", src->name, name);
	log_info("Created volume '%s' as a snapshot of '%s'", v->name, src->name);
	*ret = TAKE_PTR(v);
	return 0;
}

/* Containers' mounts of v, or a negative errno: an unreadable count is not none. */
static int mount_count(struct manager *m, const struct volume *v, tk_err *err)
{
	json_t *ids = json_array();
	int r = ids ? db_mounts(m, v, ids, err) : tk_err_set(err, -ENOMEM, "out of memory");

	if (r >= 0)
		r = (int)json_array_size(ids);
	json_decref(ids);
	return r;
}

int volume_delete(struct manager *m, struct volume *v, bool force, tk_err *err)
{
	int mounts, r;
	struct volume work;

	if ((r = volume_check_idle(v, err)) < 0)
		return r;
	if ((mounts = mount_count(m, v, err)) < 0)
		return tk_err_wrap(err, mounts, "deleting volume '%s'", v->name);
	if (mounts > 0 && !force)
		return tk_err_set(
			err, -EBUSY,
			"volume '%s' is mounted by %d container(s); stop them or use force",
			v->name, mounts);
	v->state = VOLUME_DELETING;
	if ((r = db_volume_update(m, v, err)) < 0) {
		v->state = VOLUME_READY;
		return tk_err_wrap(err, r, "deleting volume '%s'", v->name);
	}
	v->busy++;
	work = *v;
	tk_server_state_unlock();
	if ((r = fault_point("volume-remove", err)) >= 0)
		r = work.backend->remove(m, &work, err);
	tk_server_state_lock();
	v->busy--;
	volume_commit(v, &work);
	if (r < 0) {
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
	struct volume work;
	int r;

	if ((r = volume_check_idle(v, err)) < 0)
		return r;
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
	/* Taken from the tenant's limit now, so a concurrent create cannot take it too. */
	v->tenant->bytes += size - old;
	v->busy++;
	work = *v;
	tk_server_state_unlock();
	r = work.backend->resize(m, &work, size, err);
	tk_server_state_lock();
	v->busy--;
	volume_commit(v, &work);
	if (r < 0 && v->size == old) {
		v->tenant->bytes -= size - old;
		return tk_err_wrap(err, r, "growing volume '%s'", v->name);
	}
	if (r < 0) {
		/* It grew part way (the backend set the size): recorded at the size asked for, which
		 * the tenant may now hold, rather than at the old size it holds more than. */
		tk_err failed = *err;
		if (db_volume_update(m, v, err) < 0)
			log_error("Recording the new size of '%s' failed: %s", v->name, err->msg);
		*err = failed;
		log_warning("Growing volume '%s' failed after its filesystem grew; it counts at "
			    "%llu bytes: %s",
			    v->name, (unsigned long long)size, err->msg);
		return tk_err_wrap(err, r,
				   "growing volume '%s' (it grew part way, and counts at "
				   "%llu bytes)",
				   v->name, (unsigned long long)size);
	}
	v->size = size;
	if ((r = db_volume_update(m, v, err)) < 0) {
		/* The kernel already gave the space; say so rather than pretend nothing changed. */
		v->size = old;
		v->tenant->bytes -= size - old;
		return tk_err_wrap(err, r, "recording the new size of '%s' (the filesystem grew)",
				   v->name);
	}
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

static json_t *opt_string(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

void tenant_usage_json(const struct tk_tenant *t, json_t *o)
{
	json_object_set_new(o, "volumes", json_integer(t->n_volumes));
	json_object_set_new(o, "bytes", json_integer((json_int_t)t->bytes));
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
	/* Not while it is being made or removed: the filesystem is not there yet, or any more. */
	bool have_usage = !v->problem[0] && v->state == VOLUME_READY &&
			  v->backend->usage(m, v, &u, NULL) >= 0;
	json_t *mounts = json_array(), *o;
	char path[4096], mode[8];
	int inert;

	volume_path(m, v, path, sizeof(path));
	snprintf(mode, sizeof(mode), "%04o", v->mode);
	(void)db_mounts(m, v, mounts, NULL);
	o = json_pack(
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
	/*
	 * Whether setuid files and device nodes in it are inert (one statvfs); null: unknown, and
	 * for a loop volume that is not mounted (its numbers come from the image's superblock).
	 */
	inert = have_usage && u.source && strcmp(u.source, "superblock") != 0
			? volume_is_inert(m, v)
			: -1;
	if (o)
		json_object_set_new(o, "nosuid_nodev",
				    inert < 0 ? json_null() : json_boolean(inert));
	return o;
}
