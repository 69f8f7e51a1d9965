/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What each tenant's volumes use against their limits (volume.stats, and volumed --metrics from
 * the same list).  The numbers are the backend's: statfs of a mounted loop volume or, when it is
 * not mounted, its image's superblock; the qgroup of a btrfs subvolume; the project quota of an
 * xfs directory.  A volume whose numbers cannot be had says why instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"
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

/* What t's volumes in list use together, and how many of them say nothing. */
static uint64_t tenant_used(const struct tk_tenant *t, const struct volume_stat *list, size_t n,
			    unsigned *ret_unknown)
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
	*ret_unknown = unknown;
	return used;
}

static json_t *tenant_stat_json(const struct tk_tenant *t, const struct volume_stat *list, size_t n)
{
	unsigned unknown;
	uint64_t used = tenant_used(t, list, n, &unknown);

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

/* ---- the metrics (docs/volumed.8.scd) ---------------------------------------------------- */

enum { VM_SIZE, VM_USED, VM_USED_INODES, VM_INODES, VM_UNKNOWN };

static const struct {
	const char *name, *help;
	bool usage; /* only for a volume whose usage could be read */
} volume_metrics[] = {
	[VM_SIZE] = { "tenantkit_volume_size_bytes", "The volume's size, its hard limit, in bytes.",
		      false },
	[VM_USED] = { "tenantkit_volume_used_bytes",
		      "Bytes the volume's filesystem has in use (volctl stats).", true },
	[VM_USED_INODES] = { "tenantkit_volume_used_inodes",
			     "Inodes the volume's filesystem has in use.", true },
	[VM_INODES] = { "tenantkit_volume_inodes", "Inodes the volume's filesystem has.", true },
	[VM_UNKNOWN] = { "tenantkit_volume_usage_unknown",
			 "1 when the volume's usage cannot be read now (volctl stats says why).",
			 false },
};

static uint64_t volume_metric(const struct volume_stat *s, unsigned k)
{
	switch (k) {
	case VM_SIZE: return s->limit_bytes;
	case VM_USED: return s->usage.used_bytes;
	case VM_USED_INODES: return s->usage.used_inodes;
	case VM_INODES: return s->usage.total_inodes;
	default: return !s->have_usage;
	}
}

static void volume_families(struct tk_prom *p, const struct volume_stat *list, size_t n)
{
	for (unsigned k = 0; k < ELEMENTSOF(volume_metrics); k++) {
		tk_prom_family(p, volume_metrics[k].name, "gauge", volume_metrics[k].help);
		for (size_t i = 0; i < n; i++) {
			const char *l[] = { "tenant", list[i].tenant, "volume", list[i].volume };

			if (!volume_metrics[k].usage || list[i].have_usage)
				tk_prom_sample(p, l, 2, volume_metric(&list[i], k));
		}
	}
}

enum { TM_VOLUMES, TM_USED, TM_SIZE, TM_LIMIT, TM_UNKNOWN };

static const struct {
	const char *name, *help;
} tenant_metrics[] = {
	[TM_VOLUMES] = { "tenantkit_tenant_volumes", "The tenant's volumes." },
	[TM_USED] = { "tenantkit_tenant_volume_used_bytes",
		      "Bytes in use in the tenant's volumes whose usage can be read." },
	[TM_SIZE] = { "tenantkit_tenant_volume_size_bytes",
		      "The sizes of the tenant's volumes, added up (what counts against its "
		      "limit)." },
	[TM_LIMIT] = { "tenantkit_tenant_volume_limit_bytes",
		       "The tenant's storage limit (max_bytes), for tenants that have one." },
	[TM_UNKNOWN] = { "tenantkit_tenant_volumes_usage_unknown",
			 "The tenant's volumes whose usage cannot be read now." },
};

static void tenant_families(struct tk_prom *p, const struct tk_tenants *ts,
			    const struct volume_stat *list, size_t n)
{
	for (unsigned k = 0; k < ELEMENTSOF(tenant_metrics); k++) {
		tk_prom_family(p, tenant_metrics[k].name, "gauge", tenant_metrics[k].help);
		for (const struct tk_tenant *t = ts->list; t; t = t->next) {
			const char *l[] = { "tenant", t->name };
			unsigned unknown;
			uint64_t used = tenant_used(t, list, n, &unknown);

			switch (k) {
			case TM_VOLUMES: tk_prom_sample(p, l, 1, t->n_volumes); break;
			case TM_USED: tk_prom_sample(p, l, 1, used); break;
			case TM_SIZE: tk_prom_sample(p, l, 1, t->bytes); break;
			case TM_LIMIT:
				if (t->max_bytes >= 0)
					tk_prom_sample(p, l, 1, (uint64_t)t->max_bytes);
				break;
			default: tk_prom_sample(p, l, 1, unknown); break;
			}
		}
	}
}

int volume_stats_metrics(struct manager *m, struct tk_prom *p, tk_err *err)
{
	_cleanup_free_ struct volume_stat *list = NULL;
	size_t n = 0;
	int r;

	if ((r = volume_stats_collect(m, NULL, NULL, &list, &n, err)) < 0)
		return r;
	volume_families(p, list, n);
	tenant_families(p, &m->tenants, list, n);
	return 0;
}
