/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "netd.h"
#include "store.h"

int tenant_create(struct manager *m, const struct tenant_params *p, struct tenant **ret,
		  tk_err *err)
{
	_cleanup_free_ struct tenant *t = NULL;
	int r;

	if ((r = tk_name_validate(p->name, "tenant name", err)) < 0)
		return r;
	if (manager_tenant(m, p->name))
		return tk_err_set(err, -EEXIST, "tenant '%s' already exists", p->name);
	t = calloc(1, sizeof(*t));
	if (!t)
		return tk_err_set(err, -ENOMEM, "out of memory");
	snprintf(t->name, sizeof(t->name), "%s", p->name);
	t->owner_uid = p->owner_uid;
	t->owner_gid = p->owner_gid;
	t->max_networks = p->max_networks;
	t->max_endpoints = p->max_endpoints;
	t->max_addresses4 = p->max_addresses4;
	t->max_prefixes6 = p->max_prefixes6;
	if (p->allow)
		t->allow = *p->allow;
	if ((r = db_tenant_insert(m, t, err)) < 0)
		return tk_err_wrap(err, r, "creating tenant '%s'", p->name);
	log_info("Created tenant '%s' (id %lld)", t->name, (long long)t->id);
	/* Appended, so listings come in id order before and after a restart. */
	struct tenant **tail = &m->tenants;
	while (*tail)
		tail = &(*tail)->next;
	*tail = t;
	*ret = TAKE_PTR(t);
	return 0;
}

int tenant_delete(struct manager *m, struct tenant *t, tk_err *err)
{
	int r;

	if (t->n_networks > 0)
		return tk_err_set(err, -EBUSY,
				  "tenant '%s' still has %u network(s); delete them first", t->name,
				  t->n_networks);
	if ((r = db_tenant_delete(m, t, err)) < 0)
		return tk_err_wrap(err, r, "deleting tenant '%s'", t->name);
	log_info("Deleted tenant '%s'", t->name);
	for (struct tenant **pp = &m->tenants; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	free(t);
	return 0;
}
