/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What each tenant's volumes use against their limits (volume.stats; volumed --metrics will read
 * the same list).  The numbers are the backend's: statfs of a mounted loop volume or, when it is
 * not mounted, its image's superblock; the qgroup of a btrfs subvolume; the project quota of an
 * xfs directory.  A volume whose numbers cannot be had says why instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "volumed.h"

static bool stat_visible(const struct tk_caller *c, const struct tk_tenant *only,
			 const struct volume *v)
{
	return (!only || v->tenant == only) && (!c || caller_may_manage(c, v->tenant, NULL) >= 0);
}

static void stat_fill(struct manager *m, const struct volume *v, struct volume_stat *s)
{
	tk_err err = {};

	s->tenant = v->tenant->name;
	s->volume = v->name;
	s->limit_bytes = v->size;
	/* Being made or removed, the filesystem is not there yet, or any more. */
	if (v->state != VOLUME_READY) {
		snprintf(s->error, sizeof(s->error), "being %s",
			 v->state == VOLUME_CREATING ? "created" : "deleted");
		return;
	}
	/* A broken volume (its mount failed at start, say) may still tell what it holds. */
	if (v->backend->usage(m, v, &s->usage, &err) < 0) {
		snprintf(s->error, sizeof(s->error), "%s", err.msg);
		return;
	}
	s->have_usage = true;
}

int volume_stats_collect(struct manager *m, const struct tk_caller *c, const struct tk_tenant *only,
			 struct volume_stat **ret, size_t *ret_n, tk_err *err)
{
	_cleanup_free_ struct volume_stat *list = NULL;
	size_t n = 0, i = 0;

	for (struct volume *v = m->volumes; v; v = v->next)
		n += stat_visible(c, only, v);
	if (n && !(list = calloc(n, sizeof(*list))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	for (struct volume *v = m->volumes; v && i < n; v = v->next)
		if (stat_visible(c, only, v))
			stat_fill(m, v, &list[i++]);
	*ret = TAKE_PTR(list);
	*ret_n = n;
	return 0;
}

static json_t *limit_json(int64_t limit)
{
	return limit < 0 ? json_null() : json_integer(limit);
}

static json_t *volume_stat_json(const struct volume *v, const struct volume_stat *s)
{
	const struct volume_usage *u = &s->usage;
	bool ok = s->have_usage;

	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "name", s->volume,
			 "tenant", s->tenant, "backend", v->backend->name, "fs", v->fs,
			 "limit_bytes", (json_int_t)s->limit_bytes, "used_bytes",
			 ok ? json_integer((json_int_t)u->used_bytes) : json_null(), "used_inodes",
			 ok ? json_integer((json_int_t)u->used_inodes) : json_null(),
			 "total_inodes",
			 ok ? json_integer((json_int_t)u->total_inodes) : json_null(), "source",
			 ok ? json_string(u->source) : json_null(), "error",
			 ok ? json_null() : json_string(s->error));
}

static json_t *tenant_stat_json(const struct tk_tenant *t, const struct volume_stat *list, size_t n)
{
	uint64_t used = 0;
	unsigned unknown = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].tenant, t->name) != 0)
			continue;
		if (list[i].have_usage)
			used += list[i].usage.used_bytes;
		else
			unknown++;
	}
	return json_pack("{s:s, s:i, s:I, s:I, s:o, s:o, s:i}", "name", t->name, "volumes",
			 (int)t->n_volumes, "used_bytes", (json_int_t)used, "size_bytes",
			 (json_int_t)t->bytes, "max_bytes", limit_json(t->max_bytes), "max_volumes",
			 limit_json(t->max_volumes), "volumes_unknown", (int)unknown);
}

int volume_stats_json(struct manager *m, const struct tk_caller *c, const struct tk_tenant *only,
		      json_t **ret, tk_err *err)
{
	_cleanup_free_ struct volume_stat *list = NULL;
	json_t *tenants, *volumes;
	size_t n = 0, i = 0;
	int r;

	if ((r = volume_stats_collect(m, c, only, &list, &n, err)) < 0)
		return r;
	tenants = json_array();
	volumes = json_array();
	for (struct volume *v = m->volumes; v && i < n; v = v->next)
		if (stat_visible(c, only, v))
			json_array_append_new(volumes, volume_stat_json(v, &list[i++]));
	for (const struct tk_tenant *t = m->tenants.list; t; t = t->next)
		if ((!only || t == only) && (!c || caller_may_manage(c, t, NULL) >= 0))
			json_array_append_new(tenants, tenant_stat_json(t, list, n));
	*ret = json_pack("{s:o, s:o}", "tenants", tenants, "volumes", volumes);
	return *ret ? 0 : tk_err_set(err, -ENOMEM, "out of memory");
}
