/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "dockerapi.h"
#include "json.h"
#include "volume.h"

static const struct {
	const char *path;
	enum tk_docker_op op;
	bool name, id;
} routes[] = {
	{ "/Plugin.Activate", TK_DOCKER_ACTIVATE, false, false },
	{ "/VolumeDriver.Create", TK_DOCKER_CREATE, true, false },
	{ "/VolumeDriver.Remove", TK_DOCKER_REMOVE, true, false },
	{ "/VolumeDriver.Mount", TK_DOCKER_MOUNT, true, true },
	{ "/VolumeDriver.Unmount", TK_DOCKER_UNMOUNT, true, true },
	{ "/VolumeDriver.Path", TK_DOCKER_PATH, true, false },
	{ "/VolumeDriver.Get", TK_DOCKER_GET, true, false },
	{ "/VolumeDriver.List", TK_DOCKER_LIST, false, false },
	{ "/VolumeDriver.Capabilities", TK_DOCKER_CAPABILITIES, false, false },
};

int tk_docker_request_decode(const char *path, const char *body, size_t len,
			     struct tk_docker_request *ret, tk_err *err)
{
	json_t *opts = NULL;
	size_t i;
	int r;

	*ret = (struct tk_docker_request){};
	for (i = 0; i < ELEMENTSOF(routes); i++)
		if (strcmp(routes[i].path, path) == 0)
			break;
	if (i == ELEMENTSOF(routes))
		return tk_err_set(err, -ENOENT, "unknown endpoint '%.200s'", path);
	ret->op = routes[i].op;
	if ((r = tk_json_parse_object_or_blank(body, len, path, &ret->body, err)) < 0)
		return r;
	if (!ret->body) {
		if (routes[i].name)
			return tk_err_set(err, -EINVAL, "%s needs a body with \"Name\"", path);
		return 0;
	}
	/* Docker may add fields: ignore what we do not use, but type-check what we do. */
	r = tk_json_unpack_lax(ret->body, path, err, "{s?s, s?s, s?o}", "Name", &ret->name, "ID",
			       &ret->id, "Opts", &opts);
	if (r < 0) {
		tk_docker_request_done(ret);
		return r;
	}
	if ((routes[i].name && !ret->name) || (routes[i].id && !ret->id)) {
		tk_docker_request_done(ret);
		return tk_err_set(err, -EINVAL, "%s needs \"Name\"%s", path,
				  routes[i].id ? " and \"ID\"" : "");
	}
	if (ret->op == TK_DOCKER_CREATE && opts && !json_is_null(opts)) {
		if (!json_is_object(opts)) {
			tk_docker_request_done(ret);
			return tk_err_set(err, -EINVAL, "%s: \"Opts\" must be an object", path);
		}
		ret->opts = opts;
	}
	return 0;
}

void tk_docker_request_done(struct tk_docker_request *req)
{
	json_decref(req->body);
	*req = (struct tk_docker_request){};
}

static int parse_u32(const char *key, const char *s, int base, uint32_t max, uint32_t *ret,
		     tk_err *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, base);
	if (!*s || *end || errno || v > max || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return tk_err_set(err, -EINVAL,
				  "option %s=%.64s is not a number in 0..%u (base %d)", key, s, max,
				  base);
	*ret = (uint32_t)v;
	return 0;
}

int tk_docker_create_opts_decode(json_t *opts, struct tk_docker_create_opts *ret, tk_err *err)
{
	const char *key;
	json_t *value;
	int r = 0;

	*ret = (struct tk_docker_create_opts){ .mode = 0755 };
	json_object_foreach(opts, key, value)
	{
		const char *s = json_string_value(value);

		if (!s)
			return tk_err_set(err, -EINVAL, "option %.64s must be a string", key);
		if (strcmp(key, "tenant") == 0)
			ret->tenant = s;
		else if (strcmp(key, "size") == 0)
			r = tk_size_parse(s, &ret->size, err);
		else if (strcmp(key, "backend") == 0)
			ret->backend = s;
		else if (strcmp(key, "fs") == 0)
			ret->fs = s;
		else if (strcmp(key, "uid") == 0)
			r = parse_u32(key, s, 10, 0xfffffffe, &ret->uid, err);
		else if (strcmp(key, "gid") == 0)
			r = parse_u32(key, s, 10, 0xfffffffe, &ret->gid, err);
		else if (strcmp(key, "mode") == 0) {
			if (parse_u32(key, s, 8, 0777, &ret->mode, NULL) < 0)
				r = tk_err_set(err, -EINVAL,
					       "mode=%.64s is not a permission mode from 0 to 0777 "
					       "(no setuid, setgid or sticky bits)",
					       s);
		} else
			return tk_err_set(err, -EINVAL,
					  "unknown option '%.64s' (tenant, size, backend, fs, uid, "
					  "gid, mode)",
					  key);
		if (r < 0)
			return tk_err_wrap(err, r, "option %s", key);
	}
	if (!ret->tenant)
		return tk_err_set(err, -EINVAL, "option tenant=NAME is required");
	if (!ret->size)
		return tk_err_set(err, -EINVAL, "option size=SIZE is required (e.g. size=64M)");
	return 0;
}
