/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One handler per op of docs/volumed-protocol.md: unpack and validate args, authorise, act. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "rpc.h"
#include "volume.h"
#include "volumed.h"

typedef int (*handler_fn)(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			  tk_err *err);

static int find_tenant(struct manager *m, const struct tk_caller *c, const char *name,
		       struct vtenant **ret, tk_err *err)
{
	struct vtenant *t = manager_tenant(m, name);

	if (!t)
		return tk_err_set(err, -ENOENT, "no tenant '%s'", name);
	*ret = t;
	return caller_may_manage(c, t, err);
}

/* A size as a JSON integer of bytes or a string like "512M"; NULL leaves *ret alone. */
static int parse_size(json_t *j, const char *what, uint64_t *ret, tk_err *err)
{
	int r;

	if (!j)
		return 0;
	if (json_is_integer(j) && json_integer_value(j) > 0) {
		*ret = (uint64_t)json_integer_value(j);
		return 0;
	}
	if (!json_is_string(j))
		return tk_err_set(err, -EINVAL,
				  "%s must be a positive number of bytes or a size "
				  "like \"512M\"",
				  what);
	if ((r = tk_size_parse(json_string_value(j), ret, err)) < 0)
		return tk_err_wrap(err, r, "%s", what);
	return 0;
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
	if (v < 0 || v > 07777)
		return tk_err_set(err, -EINVAL,
				  "mode must be an octal permission mode like \"0755\"");
	*ret = (uint32_t)v;
	return 0;
}

static int check_id(json_int_t v, const char *what, tk_err *err)
{
	if (v < -1 || v > 0xfffffffe)
		return tk_err_set(err, -EINVAL, "%s %lld is out of range", what, (long long)v);
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
	for (struct vtenant *t = m->tenants; t; t = t->next)
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

static int op_tenant_create(struct manager *m, const struct tk_caller *c, json_t *args,
			    json_t **ret, tk_err *err)
{
	json_int_t uid = -1, gid = -1, max_volumes = -1;
	struct tenant_params p = { .max_bytes = -1 };
	json_t *max_bytes = NULL;
	struct vtenant *t = NULL;
	uint64_t bytes = 0;
	int r;

	if ((r = tk_require_admin(c, "tenant.create", err)) < 0)
		return r;
	r = tk_json_unpack(args, "tenant.create args", err, "{s:s, s?I, s?I, s?o, s?I}", "name",
			   &p.name, "owner_uid", &uid, "owner_gid", &gid, "max_bytes", &max_bytes,
			   "max_volumes", &max_volumes);
	if (r < 0 || (r = check_id(uid, "owner_uid", err)) < 0 ||
	    (r = check_id(gid, "owner_gid", err)) < 0)
		return r;
	if (max_volumes < -1 || max_volumes > 1 << 20)
		return tk_err_set(err, -EINVAL, "max_volumes %lld is out of range (0..%d)",
				  (long long)max_volumes, 1 << 20);
	if (max_bytes && !json_is_null(max_bytes)) {
		if ((r = parse_size(max_bytes, "max_bytes", &bytes, err)) < 0)
			return r;
		p.max_bytes = (int64_t)bytes;
	}
	p.owner_uid = uid;
	p.owner_gid = gid;
	p.max_volumes = max_volumes;
	if ((r = tenant_create(m, &p, &t, err)) < 0)
		return r;
	*ret = tenant_to_json(t);
	return 0;
}

static int op_tenant_list(struct manager *m, const struct tk_caller *c, json_t *args, json_t **ret,
			  tk_err *err)
{
	json_t *list;
	int r;

	if ((r = tk_json_unpack(args, "tenant.list args", err, "{}")) < 0)
		return r;
	list = json_array();
	for (struct vtenant *t = m->tenants; t; t = t->next)
		if (caller_may_manage(c, t, NULL) >= 0)
			json_array_append_new(list, tenant_to_json(t));
	*ret = json_pack("{s:o}", "tenants", list);
	return 0;
}

static int op_tenant_inspect(struct manager *m, const struct tk_caller *c, json_t *args,
			     json_t **ret, tk_err *err)
{
	struct vtenant *t = NULL;
	const char *name;
	int r;

	if ((r = tk_json_unpack(args, "tenant.inspect args", err, "{s:s}", "name", &name)) < 0 ||
	    (r = find_tenant(m, c, name, &t, err)) < 0)
		return r;
	*ret = tenant_to_json(t);
	return 0;
}

static int op_tenant_delete(struct manager *m, const struct tk_caller *c, json_t *args,
			    json_t **ret, tk_err *err)
{
	struct vtenant *t = NULL;
	const char *name;
	int r;

	if ((r = tk_require_admin(c, "tenant.delete", err)) < 0 ||
	    (r = tk_json_unpack(args, "tenant.delete args", err, "{s:s}", "name", &name)) < 0 ||
	    (r = find_tenant(m, c, name, &t, err)) < 0 || (r = tenant_delete(m, t, err)) < 0)
		return r;
	*ret = json_object();
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
	    (r = parse_size(size, "size", &p.size, err)) < 0 ||
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
	struct vtenant *only = NULL;
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
	    (r = parse_size(jsize, "size", &size, err)) < 0 ||
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

static const struct {
	const char *op;
	handler_fn fn;
} handlers[] = {
	{ "status", op_status },
	{ "tenant.create", op_tenant_create },
	{ "tenant.list", op_tenant_list },
	{ "tenant.inspect", op_tenant_inspect },
	{ "tenant.delete", op_tenant_delete },
	{ "volume.create", op_volume_create },
	{ "volume.list", op_volume_list },
	{ "volume.inspect", op_volume_inspect },
	{ "volume.resize", op_volume_resize },
	{ "volume.delete", op_volume_delete },
	{ "volume.snapshot", op_volume_snapshot },
	{ "volume.mount", op_volume_mount_add },
	{ "volume.unmount", op_volume_unmount },
};

json_t *rpc_dispatch(struct manager *m, const struct tk_caller *c, json_t *request)
{
	json_t *args, *result = NULL;
	const char *op = "?";
	tk_err err = {};
	int r;

	if ((r = tk_rpc_parse_request(request, &op, &args, &err)) < 0)
		return tk_server_reply(op, r, NULL, c, &err);
	for (size_t i = 0; i < ELEMENTSOF(handlers); i++)
		if (strcmp(handlers[i].op, op) == 0) {
			r = handlers[i].fn(m, c, args, &result, &err);
			return tk_server_reply(op, r, result, c, &err);
		}
	r = tk_err_set(&err, -EOPNOTSUPP, "unknown op '%s'", op);
	return tk_server_reply(op, r, NULL, c, &err);
}
