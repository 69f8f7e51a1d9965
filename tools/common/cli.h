/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What netctl and volctl share: talking to their daemon, tables for people and --json for
 * scripts, option helpers, and the command dispatch.  Exit codes: 0 success, 1 the daemon refused
 * or failed the request, 2 usage error, 3 the daemon could not be reached or did not answer
 * before the deadline.
 */

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

struct cli_program {
	const char *name;	    /* "netctl" */
	const char *daemon;	    /* "netd" */
	const char *socket_env;	    /* "TK_NETD_SOCKET" */
	const char *default_socket; /* TK_NETD_SOCKET */
	const char *summary;	    /* one line for --help */
};

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
};

/* Set by cli_main(). */
extern const char *cli_socket;
extern bool cli_json;
extern int cli_timeout_ms; /* --timeout, else TK_RPC_TIMEOUT_MS, else CLI_TIMEOUT_MS_DEFAULT */
#define CLI_TIMEOUT_MS_DEFAULT 60000

int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The one mapping from a failure (negative errno) to the exit status: EXIT_UNREACHABLE when the
 * daemon could not be reached (connected: false) or its answer was no answer (cut off, not a
 * reply, too slow: cli_timeout_ms), EXIT_REFUSED for anything the daemon said no to; 0 for r >= 0.
 */
int cli_exit_code(int r, bool connected);
/* Sends one request; prints the daemon's error.  Returns an exit code. */
int cli_call(const char *op, json_t *args, json_t **ret);
/* The same with pass_fd (>= 0) sent along as SCM_RIGHTS. */
int cli_call_fd(const char *op, json_t *args, int pass_fd, json_t **ret);
/* cli_call's halves: connects (printing why not), and reports a failed call; exit codes. */
int cli_connect(int *ret_fd);
int cli_call_failed(int r, const tk_err *err);
/* "netctl" or "volctl", for messages. */
const char *cli_name(void);
int cli_print_json(json_t *j);
/* After a request: result as JSON with --json, else the line fmt makes.  Returns 0. */
int cli_done(json_t *result, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How a column shows its value; NULL: as it is (null as "-", arrays joined with ","). */
typedef char *(*cli_format_fn)(json_t *row, const char *key);
struct cli_column {
	const char *header, *key;
	cli_format_fn format;
};
void cli_print_table(json_t *rows, const struct cli_column *cols, size_t n_cols);
/*
 * The same built row by row (tools/common/list.c): the columns' widths depend on every row, so
 * the table keeps its cells' text (not the rows) until it is printed.
 */
struct cli_table;
struct cli_table *cli_table_new(const struct cli_column *cols, size_t n_cols);
int cli_table_add(struct cli_table *t, json_t *rows);
void cli_table_print(const struct cli_table *t, FILE *f);
struct cli_table *cli_table_free(struct cli_table *t);
/*
 * A listing that comes in pages ("next", as endpoint.list answers, docs/protocol.md): asks for
 * each page in turn and shows its rows under key as they arrive, as one table or, with --json,
 * as one {"<key>": [...]} document.  Returns an exit code.
 */
int cli_list_pages(const char *op, json_t *args, const char *key, const struct cli_column *cols,
		   size_t n_cols);
/*
 * endpoint.list's "rows" (each row the values of "fields", in that order) as the objects the
 * listing shows: NULL when malformed (fields not distinct strings, a row of another length).
 */
json_t *cli_rows_to_objects(json_t *fields, json_t *rows);
/* "key: value" lines in the object's order; "created" as local time. */
void cli_print_object(json_t *obj);
/* --json prints result as it is, otherwise human(result) when given. */
int cli_output(json_t *result, void (*human)(json_t *));

int cli_parse_u32(const char *s, const char *what, json_int_t *ret, const char *usage);
/* A size like 512M (tk_size_parse) into args[key]; what names the option in the error. */
int cli_parse_size(const char *s, const char *what, json_t *args, const char *key,
		   const char *usage);
/* A tenant or volume name as the daemons take them (tk_name_validate); what: "tenant name". */
int cli_check_name(const char *name, const char *what, const char *usage);
int cli_parse_user(const char *s, json_int_t *ret, const char *usage);
int cli_parse_group(const char *s, json_int_t *ret, const char *usage);
bool cli_want_help(int argc, char **argv);
int cli_help(const char *usage, const char *text);

/* Options that every command accepts after its name too. */
#define CLI_COMMON_OPTIONS                                                                         \
	{ "json", no_argument, NULL, 'j' },                                                        \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

/*
 * getopt_long over a command's options (CLI_COMMON_OPTIONS first; shortopts NULL: "jh") that
 * does --json, --help (usage and text) and unknown options itself: the next option of the
 * command's own, -1 when they are done, or CLI_DONE with the exit status in *ret_exit after
 * help or a usage error.
 */
#define CLI_DONE (-2)
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *options,
	       const char *usage, const char *text, int *ret_exit);

/*
 * Parses --json, --help and the given string options (names, NULL-terminated) into values,
 * leaving positionals in argv[optind..].  -1 to go on, else the exit status (0 after help).
 */
int cli_simple_options(int argc, char **argv, const char *usage, const char *text,
		       const char *const *names, const char **values);

/* A command without arguments ("status", "reconcile"): sends op, shows the result via human. */
int cli_plain_command(int argc, char **argv, const char *op, const char *usage, const char *text,
		      void (*human)(json_t *));

/*
 * A limit option of "create tenant": --max-networks N sets max_networks; size: "10G" too;
 * unlimited: also "unlimited" (-1); list: "A,B,..." is sent as an array of strings; rate: sent
 * as written ("100mbit", the daemon parses it), "none" as null; weight: N, "default" as null.
 */
struct cli_limit {
	const char *option, *key;
	bool size, unlimited, list, rate, weight;
	bool text; /* passed on as a string */
};
/*
 * "create tenant NAME [--owner USER] [--owner-group GROUP] [--<limit> N]...": the same for both
 * daemons but for the limits (at most 10).
 */
int cli_create_tenant(int argc, char **argv, const char *usage, const char *text,
		      const struct cli_limit *limits, size_t n_limits);
/* "set tenant NAME [--<limit> N]...": changes the limits given (tenant.set). */
int cli_set_tenant(int argc, char **argv, const char *usage, const char *text,
		   const struct cli_limit *limits, size_t n_limits);

/* Global options, then the command named by the first argument. */
int cli_main(const struct cli_program *p, const struct cli_command *commands, size_t n_commands,
	     int argc, char **argv);
