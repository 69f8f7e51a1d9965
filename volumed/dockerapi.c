/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Docker volume-plugin API over HTTP/1.1 on a unix socket (lib/http: libmicrohttpd in
 * volumed's own event loop).  Requests that touch volumes go to the server's worker threads
 * while their connection is suspended, so a slow create of one tenant does not hold up anyone
 * else's request.  podman only looks at the status: every failure is 500 with {"Err":"…"}.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockerapi.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "rpc.h"
#include "volume.h"
#include "volumed.h"

/*
 * Status is a map[string]interface{} in podman and Docker: Go decodes every JSON number in it
 * as a float64, which `podman volume inspect --format '{{.Status.size}}'` prints as
 * 1.6777216e+07.  Numbers go out as decimal strings, which print as they are.
 */
static json_t *status_of(json_t *volume)
{
	const char *key;
	json_t *value;
	char text[32];

	json_object_foreach(volume, key, value)
	{
		if (!json_is_integer(value))
			continue;
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		json_object_set_new(volume, key, json_string(text));
	}
	return volume;
}

/*
 * Docker shows CreatedAt in `docker volume inspect` when the driver gives it, as RFC 3339 (Go's
 * time.Time): without it the field is empty.
 */
static json_t *volume_entry(struct manager *m, const struct volume *v)
{
	time_t created = (time_t)v->created;
	char path[4096], when[32];
	struct tm tm;

	json_t *o;

	volume_path(m, v, path, sizeof(path));
	o = json_pack("{s:s, s:s, s:o}", "Name", v->name, "Mountpoint", path, "Status",
		      status_of(volume_to_json(m, v)));
	/* Go cannot parse "" as a time: no time, no field. */
	if (o && v->created > 0 && gmtime_r(&created, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		json_object_set_new(o, "CreatedAt", json_string(when));
	return o;
}

static int do_create(struct manager *m, const struct tk_caller *c,
		     const struct tk_docker_request *req, tk_err *err)
{
	struct tk_docker_create_opts o;
	struct volume_params p;
	struct volume *v;
	int r;

	if ((r = tk_docker_create_opts_decode(req->opts, &o, err)) < 0)
		return r;
	p = (struct volume_params){ .name = req->name,
				    .size = o.size,
				    .fs = o.fs,
				    .uid = o.uid,
				    .gid = o.gid,
				    .mode = o.mode };
	if (!(p.tenant = manager_tenant(m, o.tenant)))
		return tk_err_set(err, -ENOENT, "no tenant '%s' (create it with volctl)", o.tenant);
	if ((r = caller_may_manage(c, p.tenant, err)) < 0)
		return r;
	if (o.backend && !(p.backend = backend_by_name(o.backend)))
		return tk_err_set(err, -EINVAL, "unknown backend '%s' (loop, btrfs or xfs)",
				  o.backend);
	return volume_create(m, &p, &v, err);
}

/* Answers one decoded request; on failure returns -errno with err set. */
static int handle(struct manager *m, const struct tk_caller *c, const struct tk_docker_request *req,
		  json_t **ret, tk_err *err)
{
	struct volume *v = NULL;
	char path[4096];
	json_t *list;
	int r;

	switch (req->op) {
	case TK_DOCKER_ACTIVATE:
		*ret = json_pack("{s:[s]}", "Implements", "VolumeDriver");
		return 0;
	case TK_DOCKER_CAPABILITIES:
		*ret = json_pack("{s:{s:s}}", "Capabilities", "Scope", "local");
		return 0;
	case TK_DOCKER_CREATE:
		r = do_create(m, c, req, err);
		*ret = json_pack("{s:s}", "Err", "");
		return r;
	case TK_DOCKER_LIST:
		list = json_array();
		for (v = m->volumes; v; v = v->next)
			if (caller_may_manage(c, v->tenant, NULL) >= 0)
				json_array_append_new(list, volume_entry(m, v));
		*ret = json_pack("{s:o, s:s}", "Volumes", list, "Err", "");
		return 0;
	default: break;
	}
	if ((r = volume_find(m, c, req->name, &v, err)) < 0)
		return r;
	volume_path(m, v, path, sizeof(path));
	switch (req->op) {
	case TK_DOCKER_REMOVE:
		r = volume_delete(m, v, false, err);
		*ret = json_pack("{s:s}", "Err", "");
		return r;
	case TK_DOCKER_MOUNT:
		r = volume_mount_ref(m, v, req->id, true, err);
		*ret = json_pack("{s:s, s:s}", "Mountpoint", path, "Err", "");
		return r;
	case TK_DOCKER_UNMOUNT:
		r = volume_mount_ref(m, v, req->id, false, err);
		*ret = json_pack("{s:s}", "Err", "");
		return r;
	case TK_DOCKER_PATH:
		*ret = json_pack("{s:s, s:s}", "Mountpoint", path, "Err", "");
		return 0;
	case TK_DOCKER_GET:
		*ret = json_pack("{s:o, s:s}", "Volume", volume_entry(m, v), "Err", "");
		return 0;
	default: return tk_err_set(err, -ENOSYS, "unhandled request");
	}
}

/* With the state lock held, through lib/http (on one of volumed's worker threads). */
static unsigned serve(void *userdata, const struct tk_caller *c, const char *url, const char *body,
		      size_t len, json_t **ret)
{
	struct manager *m = userdata;
	struct tk_docker_request req;
	json_t *result = NULL;
	tk_err err = {};
	int r;

	if ((r = tk_docker_request_decode(url, body, len, &req, &err)) < 0) {
		log_ratelimit_warning("Docker API %s from uid %u: %s", url, (unsigned)c->uid,
				      err.msg);
		*ret = tk_http_error(err.msg);
		return r == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	r = handle(m, c, &req, &result, &err);
	tk_docker_request_done(&req);
	if (r < 0) {
		json_decref(result);
		log_ratelimit_full_errno(r == -ENOENT ? LOG_DEBUG : LOG_WARNING, r,
					 "Docker API %s from uid %u: %s", url, (unsigned)c->uid,
					 err.msg);
		*ret = tk_http_error(err.msg);
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	*ret = result;
	return MHD_HTTP_OK;
}

int dockerapi_start(struct manager *m, const char *socket_path, struct tk_http **ret, tk_err *err)
{
	const struct tk_http_config cfg = {
		.name = "Docker volume-plugin API",
		.socket_path = socket_path,
		.admin_gid = m->admin_gid,
		.handle = serve,
		.userdata = m,
	};

	return tk_http_start(&cfg, ret, err);
}
