/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "cleanup.h"
#include "err.h"
#include "server.h"
#include "tenant.h"

struct tk_store;
struct manager;
struct volume;

/*
 * A volume's row is written before any kernel work (state creating) and removed after all of it
 * (state deleting), so a crash at any point leaves a row that tells the next start what to undo.
 */
enum volume_state {
	VOLUME_CREATING,
	VOLUME_READY,
	VOLUME_DELETING,
};

struct volume_usage {
	uint64_t used_bytes, used_inodes, total_inodes;
	/* Where the numbers come from (volume.stats): "statfs", "superblock", "qgroup", "quota". */
	const char *source;
};

struct backend {
	const char *name; /* "loop", "btrfs", "xfs" */
	/* 0 when this backend can hold volumes under the volume root, else -errno and why not. */
	int (*probe)(struct manager *m, tk_err *err);
	/* Makes v usable at its path; undoes its own partial work on failure. */
	int (*create)(struct manager *m, struct volume *v, tk_err *err);
	/* Removes everything of v, also what a create interrupted by a crash left; idempotent. */
	int (*remove)(struct manager *m, struct volume *v, tk_err *err);
	/* On start: makes an existing volume usable at its path again (re-attach, re-mount). */
	int (*activate)(struct manager *m, struct volume *v, tk_err *err);
	/*
	 * Before a container mounts v: puts it back where its limit holds if it is not there
	 * (unmounted by hand, or a remount failed); NULL: its limit holds at its path anyway.
	 */
	int (*ensure)(struct manager *m, struct volume *v, tk_err *err);
	/*
	 * Grows v to size (online); v->size still holds the old size.  A failure after the
	 * filesystem grew part way sets v->size to size: it does not shrink back.
	 */
	int (*resize)(struct manager *m, struct volume *v, uint64_t size, tk_err *err);
	int (*usage)(struct manager *m, const struct volume *v, struct volume_usage *ret,
		     tk_err *err);
	/*
	 * The smallest volume that keeps its limit when formatted fs ("" for the default); NULL:
	 * VOLUME_SIZE_MIN.  Sets why it is so.
	 */
	uint64_t (*min_size)(const char *fs, const char **ret_why);
	/* NULL when the backend cannot snapshot; dst is a new volume of src's tenant. */
	int (*snapshot)(struct manager *m, const struct volume *src, struct volume *dst,
			tk_err *err);
};

extern const struct backend backend_loop, backend_btrfs, backend_xfs;

struct volume {
	int64_t id;
	char name[TK_NAME_MAX + 1];
	struct tk_tenant *tenant;
	const struct backend *backend;
	char fs[8]; /* ext4, xfs, btrfs */
	uint64_t size;
	uint32_t uid, gid, mode;
	char uuid[40]; /* the filesystem's, from libblkid (loop) */
	char snapshot_of[TK_NAME_MAX + 1];
	enum volume_state state;
	char problem[sizeof(((tk_err *)0)->msg) +
		     32]; /* why it is not usable since start, "" when it is */
	char device[32];  /* /dev/loopN while attached (loop), "" otherwise */
	int direct_io;	  /* loop: 1/0 as the kernel reports it, -1 unknown */
	/*
	 * Its create found its image (loop: a restore, which it uses) or its path (btrfs, xfs: it
	 * fails) there: the create's undo leaves what it did not make.
	 */
	bool adopted;
	int64_t created;
	/*
	 * Requests working on it with the state lock dropped (create, resize, snapshot, delete):
	 * while not 0 it is not deleted, resized or snapshotted by anyone else.
	 */
	unsigned busy;
	struct volume *next;
};

struct manager {
	const char *state_dir;
	const char *socket_path;
	const char *root; /* volume root: <root>/<tenant>/<volume>/ */
	int root_fd;	  /* O_PATH directory of root */
	const struct backend *default_backend;
	gid_t admin_gid;
	int64_t started;

	struct tk_store *store;
	struct tk_tenants tenants; /* of kind volumed_tenants */
	struct volume *volumes;
};

/* manager.c */
int manager_open(struct manager *m, tk_err *err);
void manager_close(struct manager *m);
static inline int fault_point(const char *point, tk_err *err)
{
	return tk_fault_point("TK_VOLUMED_FAULT", point, err);
}
#define report_action tk_report_action
/* volumed's tenants keep byte and volume limits. */
extern const struct tk_tenant_kind volumed_tenants;
static inline struct tk_tenant *manager_tenant(struct manager *m, const char *name)
{
	return tk_tenant_get(&m->tenants, name);
}
struct volume *manager_volume(struct manager *m, const char *name);
static inline int caller_may_manage(const struct tk_caller *c, const struct tk_tenant *t,
				    tk_err *err)
{
	return tk_tenant_may_manage(c, t, err);
}
const struct backend *backend_by_name(const char *name);
/* All backends in order of preference, then NULL. */
const struct backend *backend_at(size_t i);
/* The backend for volumes when none is asked for: btrfs on btrfs, xfs on prjquota XFS, else loop. */
const struct backend *backend_select(struct manager *m);

/* paths.c: every path is built from validated names and opened beneath the root. */
/* <root>/<tenant>, created 0711 when missing. */
int volume_tenant_dir(struct manager *m, const struct tk_tenant *t, bool create, int *ret_fd,
		      tk_err *err);
/* "<root>/<tenant>/<volume>" for messages, mounting and the Docker API. */
int volume_path(const struct manager *m, const struct volume *v, char *buf, size_t size);
/* <root>/.images/<tenant>, created 0700 when missing (loop images live outside the data tree). */
int volume_image_dir(struct manager *m, const struct tk_tenant *t, bool create, int *ret_fd,
		     tk_err *err);
/* True when path is a mount point, from /proc/self/mountinfo; fills the source device if asked. */
bool path_is_mounted(const char *path, char *source, size_t size);

/* db.c */
int db_open(struct manager *m, tk_err *err);
int db_load(struct manager *m, tk_err *err);
int db_volume_insert(struct manager *m, struct volume *v, tk_err *err);
int db_volume_update(struct manager *m, const struct volume *v, tk_err *err);
int db_volume_delete(struct manager *m, const struct volume *v, tk_err *err);
/* Mount references (Docker mount ids) of a volume. */
int db_mount_add(struct manager *m, const struct volume *v, const char *id, tk_err *err);
int db_mount_remove(struct manager *m, const struct volume *v, const char *id, tk_err *err);
/* Appends the mount ids of v to array. */
int db_mounts(struct manager *m, const struct volume *v, json_t *array, tk_err *err);

/* volume.c */
struct volume_params {
	const char *name;
	struct tk_tenant *tenant;
	uint64_t size;
	const struct backend *backend; /* NULL: the default */
	const char *fs;		       /* NULL: ext4 (loop) */
	uint32_t uid, gid, mode;
};
/* The volume called name, if c may manage it: -ENOENT or -EACCES otherwise. */
int volume_find(struct manager *m, const struct tk_caller *c, const char *name, struct volume **ret,
		tk_err *err);
int volume_create(struct manager *m, const struct volume_params *p, struct volume **ret,
		  tk_err *err);
int volume_delete(struct manager *m, struct volume *v, bool force, tk_err *err);
int volume_resize(struct manager *m, struct volume *v, uint64_t size, tk_err *err);
int volume_snapshot(struct manager *m, struct volume *src, const char *name, struct volume **ret,
		    tk_err *err);
/* On start: finishes interrupted creates and deletes, re-activates the rest. */
int volumes_recover(struct manager *m, json_t *actions, tk_err *err);
void tenant_usage_json(const struct tk_tenant *t, json_t *o);
json_t *volume_to_json(struct manager *m, const struct volume *v);

/* stats.c: what each volume uses against its limit */
struct volume_stat {
	const char *tenant, *volume; /* borrowed from the model: valid under the state lock */
	uint64_t limit_bytes;	     /* the volume's size */
	bool have_usage;
	struct volume_usage usage;
	char error[sizeof(((tk_err *)0)->msg)]; /* why there is no usage */
};
/*
 * The volumes c may see (every volume for c NULL, only of tenant only when not NULL), in the
 * model's order, with what each uses.  Call with the state lock held.
 */
int volume_stats_collect(struct manager *m, const struct tk_caller *c, const struct tk_tenant *only,
			 struct volume_stat **ret, size_t *ret_n, tk_err *err);
/* The reply of volume.stats: {"tenants": [...], "volumes": [...]} (docs/volumed-protocol.md). */
int volume_stats_json(struct manager *m, const struct tk_caller *c, const struct tk_tenant *only,
		      json_t **ret, tk_err *err);
struct tk_prom;
/* GET /metrics (volumed --metrics): the same numbers per volume and per tenant, written into p. */
int volume_stats_metrics(struct manager *m, struct tk_prom *p, tk_err *err);

/* rpc.c: the local protocol */
/* Adds or drops the mount reference id (a container's) of v; both idempotent. */
int volume_mount_ref(struct manager *m, struct volume *v, const char *id, bool add, tk_err *err);
json_t *rpc_dispatch(struct manager *m, const struct tk_caller *c, json_t *request);

/* dockerapi.c: the Docker volume-plugin API over HTTP (libmicrohttpd) */
struct tk_http;
/* Serves the socket in volumed's loop through lib/http (tk_http_fd, _run, _stop). */
int dockerapi_start(struct manager *m, const char *socket_path, struct tk_http **ret, tk_err *err);

/* backend helpers shared by the backends (backend-util.c) */
/* Runs argv (argv[0] a program searched in PATH) with stdout+stderr captured into err on failure. */
int run_program(const char *const argv[], tk_err *err);
/*
 * Directory volumes (btrfs, xfs): binds the volume's directory onto itself nosuid,nodev, as loop
 * volumes are mounted; idempotent.  volume_unbind() undoes it before a delete.
 */
int volume_bind_inert(struct manager *m, const struct volume *v, tk_err *err);
int volume_unbind(struct manager *m, const struct volume *v, tk_err *err);
void volume_rebind_inert(struct manager *m, const struct volume *v);
/* 1 when the volume's directory is on a nosuid,nodev mount, 0 when not, -errno when unknown. */
int volume_is_inert(struct manager *m, const struct volume *v);
