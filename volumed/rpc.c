/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One handler per op of docs/volumed-protocol.md: unpack and validate args, authorise, act. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "json.h"
#include "log.h"
#include "rpc.h"
#include "volume.h"
#include "volumed.h"

static int find_tenant(struct manager *m, const struct tk_caller *c, const char *name,
		       struct tk_tenant **ret, tk_err *err)
{
	return tk_tenant_find(&m->tenants, c, name, ret, err);
}

static int parse_mode(json_t *j, uint32_t *ret, tk_err *err)
{
	char *end;
	long v;

	if (!j)
		return 0;
	if (json_is_integer(j)) {
		v = (long)json_integer_value(j);
	} else if (json_is_string(j) && json_string_value(j)[0]) {
		errno = 0;
		v = strtol(json_string_value(j), &end, 8);
		if (errno || *end)
			v = -1;
	} else {
		v = -1;
	}
	/* Permission bits only: no setuid, setgid or sticky bit on a volume's top directory. */
	if (v < 0 || v > 0777)
		return tk_err_set(
			err, -EINVAL,
			"mode must be an octal permission mode from 0 to 0777 like \"0755\" "
			"(no setuid, setgid or sticky bits)");
	*ret = (uint32_t)v;
	return 0;
}

static json_t *backends_json(struct manager *m)
{
	const struct backend *b;
	json_t *j = json_object();

	for (size_t i = 0; (b = backend_at(i)); i++) {
		tk_err err = {};
		bool ok = b->probe(m, &err) >= 0;
		json_object_set_new(j, b->name,
				    json_pack("{s:b, s:o}", "supported", ok, "reason",
					      ok ? json_null() : json_string(err.msg)));
	}
	return j;
}

static int op_status(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
		     tk_err *err)
{
	unsigned tenants = 0, volumes = 0;
	int r;

	(void)c;
	if ((r = tk_json_unpack(args, "status args", err, "{}")) < 0)
		return r;
	for (struct tk_tenant *t = m->tenants.list; t; t = t->next)
		tenants++;
	for (struct volume *v = m->volumes; v; v = v->next)
		volumes++;
	*ret = json_pack("{s:s, s:I, s:i, s:i, s:i, s:s, s:s, s:s, s:s, s:o}", "version",
			 TK_VERSION, "uptime_s", (json_int_t)(time(NULL) - m->started), "pid",
			 (int)getpid(), "tenants", (int)tenants, "volumes", (int)volumes, "root",
			 m->root, "state_dir", m->state_dir, "socket", m->socket_path,
			 "default_backend", m->default_backend->name, "backends", backends_json(m));
	return 0;
}

static int op_volume_create(struct manager *m, const struct tk_caller *c, json_t *args,
			    json_t **ret, tk_err *err)
{
	struct volume_params p = { .mode = 0755 };
	const char *tenant, *backend = NULL;
	json_int_t uid = 0, gid = 0;
	json_t *size, *mode = NULL;
	struct volume *v = NULL;
	int r;

	r = tk_json_unpack(args, "volume.create args", err,
			   "{s:s, s:s, s:o, s?s, s?s, s?I, s?I, s?o}", "name", &p.name, "tenant",
			   &tenant, "size", &size, "backend", &backend, "fs", &p.fs, "uid", &uid,
			   "gid", &gid, "mode", &mode);
	if (r < 0 || (r = find_tenant(m, c, tenant, &p.tenant, err)) < 0 ||
	    (r = tk_size_from_json(size, "size", &p.size, err)) < 0 ||
	    (r = parse_mode(mode, &p.mode, err)) < 0)
		return r;
	if (uid < 0 || uid > 0xfffffffe || gid < 0 || gid > 0xfffffffe)
		return tk_err_set(err, -EINVAL, "uid and gid must be 0..4294967294");
	if (backend && !(p.backend = backend_by_name(backend)))
		return tk_err_set(err, -EINVAL, "unknown backend '%s' (loop, btrfs or xfs)",
				  backend);
	p.uid = (uint32_t)uid;
	p.gid = (uint32_t)gid;
	if ((r = volume_create(m, &p, &v, err)) < 0)
		return r;
	*ret = volume_to_json(m, v);
	return 0;
}

static int op_volume_list(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			  tk_err *err)
{
	const char *tenant = NULL;
	struct tk_tenant *only = NULL;
	json_t *list;
	int r;

	if ((r = tk_json_unpack(args, "volume.list args", err, "{s?s}", "tenant", &tenant)) < 0 ||
	    (tenant && (r = find_tenant(m, c, tenant, &only, err)) < 0))
		return r;
	list = json_array();
	for (struct volume *v = m->volumes; v; v = v->next)
		if ((!only || v->tenant == only) && caller_may_manage(c, v->tenant, NULL) >= 0)
			json_array_append_new(list, volume_to_json(m, v));
	*ret = json_pack("{s:o}", "volumes", list);
	return 0;
}

static int op_volume_inspect(struct manager *m, const struct tk_caller *c, json_t *args,
			     json_t **ret, tk_err *err)
{
	struct volume *v = NULL;
	const char *name;
	int r;

	if ((r = tk_json_unpack(args, "volume.inspect args", err, "{s:s}", "name", &name)) < 0 ||
	    (r = volume_find(m, c, name, &v, err)) < 0)
		return r;
	*ret = volume_to_json(m, v);
	return 0;
}

static int op_volume_resize(struct manager *m, const struct tk_caller *c, json_t *args,
			    json_t **ret, tk_err *err)
{
	struct volume *v = NULL;
	const char *name;
	uint64_t size = 0;
	json_t *jsize;
	int r;

	if ((r = tk_json_unpack(args, "volume.resize args", err, "{s:s, s:o}", "name", &name,
				"size", &jsize)) < 0 ||
	    (r = tk_size_from_json(jsize, "size", &size, err)) < 0 ||
	    (r = volume_find(m, c, name, &v, err)) < 0 || (r = volume_resize(m, v, size, err)) < 0)
		return r;
	*ret = volume_to_json(m, v);
	return 0;
}

static int op_volume_delete(struct manager *m, const struct tk_caller *c, json_t *args,
			    json_t **ret, tk_err *err)
{
	struct volume *v = NULL;
	const char *name;
	int force = 0, r;

	if ((r = tk_json_unpack(args, "volume.delete args", err, "{s:s, s?b}", "name", &name,
				"force", &force)) < 0 ||
	    (r = volume_find(m, c, name, &v, err)) < 0 || (r = volume_delete(m, v, force, err)) < 0)
		return r;
	*ret = json_object();
	return 0;
}

static int op_volume_snapshot(struct manager *m, const struct tk_caller *c, json_t *args,
			      json_t **ret, tk_err *err)
{
	struct volume *src = NULL, *v = NULL;
	const char *name, *source;
	int r;

	if ((r = tk_json_unpack(args, "volume.snapshot args", err, "{s:s, s:s}", "name", &name,
				"source", &source)) < 0 ||
	    (r = volume_find(m, c, source, &src, err)) < 0 ||
	    (r = volume_snapshot(m, src, name, &v, err)) < 0)
		return r;
	*ret = volume_to_json(m, v);
	return 0;
}

static int op_volume_stats(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			   tk_err *err)
{
	struct tk_tenant *only = NULL;
	const char *tenant = NULL;
	int r;

	if ((r = tk_json_unpack(args, "volume.stats args", err, "{s?s}", "tenant", &tenant)) < 0 ||
	    (tenant && (r = find_tenant(m, c, tenant, &only, err)) < 0))
		return r;
	return volume_stats_json(m, c, only, ret, err);
}

static int check_mount_id(const char *id, tk_err *err)
{
	size_t len = strlen(id);

	if (len == 0 || len > 255)
		return tk_err_set(err, -EINVAL, "a mount id is 1..255 bytes");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return tk_err_set(err, -EINVAL, "a mount id holds no control characters");
	return 0;
}

int volume_mount_ref(struct manager *m, struct volume *v, const char *id, bool add, tk_err *err)
{
	int r;

	if ((r = check_mount_id(id, err)) < 0)
		return r;
	if (add && (v->state != VOLUME_READY || v->problem[0]))
		return tk_err_set(err, -EIO, "volume '%s' cannot be mounted: %s", v->name,
				  v->problem[0] ? v->problem : "it is being created or deleted");
	/*
	 * A loop volume's path holds its limit only while its filesystem is mounted there: the bare
	 * directory would let a container fill the host's disk.  A resize may have it unmounted
	 * for a moment (offline), with its device busy: not now then.
	 */
	if (add && v->backend->ensure && v->busy)
		return tk_err_set(err, -EBUSY, "volume '%s' is being resized; try again", v->name);
	if (add && v->backend->ensure && (r = v->backend->ensure(m, v, err)) < 0)
		return tk_err_wrap(err, r, "volume '%s' cannot be mounted", v->name);
	r = add ? db_mount_add(m, v, id, err) : db_mount_remove(m, v, id, err);
	if (r < 0)
		return r;
	/* Idempotent, so a client can repeat it at will: bounded in the log. */
	(void)log_ratelimit_full_errno(LOG_INFO, 0, "Volume '%s' %s by '%s'", v->name,
				       add ? "mounted" : "unmounted", id);
	return 0;
}

static int op_volume_mount(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			   tk_err *err, bool add)
{
	const char *name, *id;
	struct volume *v = NULL;
	char path[4096];
	int r;

	if ((r = tk_json_unpack(args, add ? "volume.mount args" : "volume.unmount args", err,
				"{s:s, s:s}", "name", &name, "id", &id)) < 0 ||
	    (r = volume_find(m, c, name, &v, err)) < 0 ||
	    (r = volume_mount_ref(m, v, id, add, err)) < 0)
		return r;
	volume_path(m, v, path, sizeof(path));
	*ret = add ? json_pack("{s:s}", "path", path) : json_object();
	return 0;
}

static int op_volume_mount_add(struct manager *m, const struct tk_caller *c, json_t *args,
			       json_t **ret, tk_err *err)
{
	return op_volume_mount(m, c, args, ret, err, true);
}

static int op_volume_unmount(struct manager *m, const struct tk_caller *c, json_t *args,
			     json_t **ret, tk_err *err)
{
	return op_volume_mount(m, c, args, ret, err, false);
}

static const struct tk_rpc_handler handlers[] = {
	{ "status", op_status },
	{ "volume.create", op_volume_create },
	{ "volume.list", op_volume_list },
	{ "volume.inspect", op_volume_inspect },
	{ "volume.resize", op_volume_resize },
	{ "volume.delete", op_volume_delete },
	{ "volume.snapshot", op_volume_snapshot },
	{ "volume.stats", op_volume_stats },
	{ "volume.mount", op_volume_mount_add },
	{ "volume.unmount", op_volume_unmount },
};

json_t *rpc_dispatch(struct manager *m, const struct tk_caller *c, json_t *request)
{
	return tk_rpc_dispatch(handlers, ELEMENTSOF(handlers), m, &m->tenants, c, request);
}
