/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The skeleton that netd and volumed share around their own logic: the flags every daemon takes,
 * main()'s start (no setuid, logging) and error path, and the walk over a table of rpc handlers.
 */

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "server.h"
#include "tenant.h"

/* Each daemon's own state.  The skeleton only hands it to the daemon's handlers. */
struct manager;

typedef int (*tk_rpc_handler_fn)(struct manager *m, const struct tk_caller *c, json_t *args,
				 json_t **ret, tk_err *err);
struct tk_rpc_handler {
	const char *op;
	tk_rpc_handler_fn fn;
};

/*
 * Parses request, runs the handler of its op, the daemon's own or one of the tenant.* ops on
 * tenants, and returns the reply (-EOPNOTSUPP for an op nobody has).
 */
json_t *tk_rpc_dispatch(const struct tk_rpc_handler *handlers, size_t n_handlers, struct manager *m,
			struct tk_tenants *tenants, const struct tk_caller *c, json_t *request);

/*
 * The state of a daemon: creates state_dir (0700), opens state_dir/db_file with the daemon's
 * migrations and loads its tenants into tenants, of kind.
 */
int tk_daemon_open_state(const char *state_dir, const char *db_file, const char *const *migrations,
			 size_t n_migrations, const struct tk_tenant_kind *kind,
			 struct tk_store **ret_store, struct tk_tenants *tenants, tk_err *err);

/* The flags every daemon takes. */
struct tk_daemon_args {
	const char *socket;	  /* -s, --socket (or the daemon's socket variable) */
	const char *state_dir;	  /* -d, --state-dir */
	const char *admin_group;  /* -g, --admin-group */
	const char *socket_group; /* --socket-group */
	int log_level;		  /* --log-level */
	gid_t admin_gid;	  /* of admin_group; (gid_t)-1: only root */
};

struct tk_daemon {
	const char *name;	    /* "netd" */
	const char *summary;	    /* what --help says first */
	const char *socket_env;	    /* "TK_NETD_SOCKET" */
	const char *default_socket; /* TK_NETD_SOCKET */
	/*
	 * The daemon's own options: their --help lines, short letters for getopt ("r:b:"), long
	 * options (ending with {}; values from 0x200 up are free) and what each one does: 0, or
	 * -EINVAL after printing why.
	 */
	const char *options_help;
	const char *short_options;
	const struct option *options;
	int (*parse_option)(int c, const char *arg);
	/* After parsing: 0, or -EINVAL after printing why the combination cannot work. */
	int (*check)(void);

	/*
	 * What main() runs (tk_daemon_run): open the state, bring the system in line with it
	 * (actions: what that changed), serve until a signal.  close undoes open, also a half
	 * done one.
	 */
	int (*open)(struct manager *m, tk_err *err);
	int (*recover)(struct manager *m, json_t *actions, tk_err *err);
	int (*serve)(struct manager *m, tk_err *err);
	void (*close)(struct manager *m);
};

/*
 * main()'s start: refuses to run setuid, parses argv into a (defaults first), sets up logging.
 * true to go on; false when main() should return *ret_exit (0 after --help or --version, 2 for
 * a usage error, 1 when it refused).
 */
bool tk_daemon_start(const struct tk_daemon *d, struct tk_daemon_args *a, int argc, char **argv,
		     int *ret_exit);

/* open, recover, serve, close; main()'s exit status. */
int tk_daemon_run(const struct tk_daemon *d, struct manager *m);

/* main()'s error path: logs "<name>: <what went wrong>" once; returns EXIT_FAILURE. */
int tk_daemon_fail(const struct tk_daemon *d, int r, const tk_err *err);
