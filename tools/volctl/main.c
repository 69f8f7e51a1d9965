/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* volctl: the command line over volumed's local protocol (tools/common/cli.c does the rest). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cleanup.h"
#include "cli.h"
#include "tk-config.h"
#include "volume.h"

/* ---- output for people ------------------------------------------------------------------ */

static char *size_text(json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	char buf[32];

	if (!json_is_integer(v))
		return strdup("-");
	return strdup(tk_size_format((uint64_t)json_integer_value(v), buf, sizeof(buf)));
}

/* "12M/64M (18%)": what is used of the size, or "-" while the volume is not mounted. */
static char *usage_text(json_t *row, const char *key)
{
	json_t *used = json_object_get(row, key), *size = json_object_get(row, "size");
	uint64_t u, s;
	char a[32], b[32], *t;

	if (!json_is_integer(used) || !json_is_integer(size) || json_integer_value(size) <= 0)
		return strdup("-");
	u = (uint64_t)json_integer_value(used);
	s = (uint64_t)json_integer_value(size);
	/* Round to MiB for people: exact byte counts are in --json. */
	if (asprintf(&t, "%s/%s (%llu%%)", tk_size_format(u >> 20 << 20, a, sizeof(a)),
		     tk_size_format(s, b, sizeof(b)), (unsigned long long)(u * 100 / s)) < 0)
		return NULL;
	return t;
}

static const struct cli_column tenant_cols[] = {
	{ "NAME", "name", NULL },
	{ "OWNER", "owner_uid", NULL },
	{ "VOLUMES", "volumes", NULL },
	{ "BYTES", "bytes", size_text },
	{ "MAX-BYTES", "max_bytes", size_text },
	{ "MAX-VOLUMES", "max_volumes", NULL },
};
static const struct cli_column volume_cols[] = {
	{ "NAME", "name", NULL },	{ "TENANT", "tenant", NULL },
	{ "BACKEND", "backend", NULL }, { "FS", "fs", NULL },
	{ "SIZE", "size", size_text },	{ "USED", "used_bytes", usage_text },
	{ "STATE", "state", NULL },	{ "MOUNTS", "mounts", NULL },
	{ "PATH", "path", NULL },
};

/* Bytes rounded down to MiB for people ("12M"); --json has them exact. */
static char *mib_text(json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	char buf[32];

	if (!json_is_integer(v))
		return strdup("-");
	return strdup(
		tk_size_format((uint64_t)json_integer_value(v) >> 20 << 20, buf, sizeof(buf)));
}

/* "12M/64M (18%)" of a volume.stats row: used against the volume's limit. */
static char *stat_usage_text(json_t *row, const char *key)
{
	_cleanup_(json_decrefp) json_t *r =
		json_pack("{s:O, s:O}", "used", json_object_get(row, key), "size",
			  json_object_get(row, "limit_bytes"));

	return r ? usage_text(r, "used") : NULL;
}

/* "12/1024": inodes in use of all there are; "12" where the count is not fixed (btrfs, xfs). */
static char *inodes_text(json_t *row, const char *key)
{
	json_t *used = json_object_get(row, key), *total = json_object_get(row, "total_inodes");
	char *t;

	(void)key;
	if (!json_is_integer(used))
		return strdup("-");
	if (json_is_integer(total) && json_integer_value(total) > 0)
		return asprintf(&t, "%lld/%lld", (long long)json_integer_value(used),
				(long long)json_integer_value(total)) < 0
			       ? NULL
			       : t;
	return asprintf(&t, "%lld", (long long)json_integer_value(used)) < 0 ? NULL : t;
}

static const struct cli_column stat_tenant_cols[] = {
	{ "TENANT", "name", NULL },
	{ "VOLUMES", "volumes", NULL },
	{ "USED", "used_bytes", mib_text },
	{ "SIZE", "size_bytes", size_text },
	{ "MAX-BYTES", "max_bytes", size_text },
};
static const struct cli_column stat_volume_cols[] = {
	{ "VOLUME", "name", NULL },
	{ "TENANT", "tenant", NULL },
	{ "BACKEND", "backend", NULL },
	{ "USED", "used_bytes", stat_usage_text },
	{ "INODES", "used_inodes", inodes_text },
	{ "SOURCE", "source", NULL },
	{ "PROBLEM", "error", NULL },
};

static void human_stats(json_t *r)
{
	cli_print_table(json_object_get(r, "tenants"), stat_tenant_cols,
			ELEMENTSOF(stat_tenant_cols));
	printf("\n");
	cli_print_table(json_object_get(r, "volumes"), stat_volume_cols,
			ELEMENTSOF(stat_volume_cols));
}

static void human_tenants(json_t *r)
{
	cli_print_table(json_object_get(r, "tenants"), tenant_cols, ELEMENTSOF(tenant_cols));
}

static void human_volumes(json_t *r)
{
	cli_print_table(json_object_get(r, "volumes"), volume_cols, ELEMENTSOF(volume_cols));
}

/* Replaces key's value in obj by its text for people, when it has one. */
static void set_text(json_t *obj, const char *key, cli_format_fn format)
{
	_cleanup_free_ char *t = NULL;

	if (json_is_integer(json_object_get(obj, key)) && (t = format(obj, key)))
		json_object_set_new(obj, key, json_string(t));
}

/*
 * A tenant or volume as "key: value" lines with byte counts for people: sizes exactly ("64M"),
 * what a volume uses as in the table ("12M/64M (18%)").  --json keeps the bytes.
 */
static void human_object(json_t *r)
{
	_cleanup_(json_decrefp) json_t *copy = json_copy(r);

	if (!copy) {
		cli_print_object(r);
		return;
	}
	/* used_bytes first: it is shown against the size in bytes */
	set_text(copy, "used_bytes", usage_text);
	set_text(copy, "size", size_text);
	set_text(copy, "max_bytes", size_text);
	set_text(copy, "bytes", size_text);
	cli_print_object(copy);
}

static void human_status(json_t *r)
{
	_cleanup_(json_decrefp) json_t *backends = json_incref(json_object_get(r, "backends"));
	const char *name;
	json_t *b;

	json_object_del(r, "backends");
	cli_print_object(r);
	json_object_foreach(backends, name, b)
	{
		json_t *why = json_object_get(b, "reason");
		printf("backend %-6s %s%s%s\n", name,
		       json_is_true(json_object_get(b, "supported")) ? "supported"
								     : "not supported",
		       json_is_string(why) ? ": " : "",
		       json_is_string(why) ? json_string_value(why) : "");
	}
}

/* ---- argument helpers -------------------------------------------------------------------- */

static int parse_mode(const char *s, json_t *args, const char *usage)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 8);
	if (!*s || *end || errno || v < 0 || v > 0777 || s[0] == '-' || s[0] == '+')
		return cli_usage_error(usage,
				       "--mode must be an octal mode from 0 to 0777 like 0750, not "
				       "'%s'",
				       s);
	json_object_set_new(args, "mode", json_integer(v));
	return 0;
}

/* volumed would refuse anything else with EINVAL: say so before asking. */
static const char *const backends[] = { "loop", "btrfs", "xfs", NULL };
static const char *const filesystems[] = { "ext4", "xfs", NULL };

static int check_choice(const char *s, const char *what, const char *const *choices,
			const char *usage)
{
	for (size_t i = 0; choices[i]; i++)
		if (strcmp(s, choices[i]) == 0)
			return 0;
	return cli_usage_error(usage, "%s must be %s, not '%s'", what,
			       choices == backends ? "loop, btrfs or xfs" : "ext4 or xfs", s);
}

/* ---- commands ---------------------------------------------------------------------------- */

#define USAGE_STATUS "volctl status"
static int cmd_status(int argc, char **argv)
{
	return cli_plain_command(argc, argv, "status", USAGE_STATUS,
				 "Shows volumed's version, volume root, default backend and which "
				 "backends\nthis host supports.\n",
				 human_status);
}

#define USAGE_CREATE_TENANT                                                                        \
	"volctl create tenant NAME [--owner USER] [--owner-gid GROUP] [--max-bytes SIZE] "         \
	"[--max-volumes N]"
#define USAGE_CREATE_VOLUME                                                                        \
	"volctl create volume NAME --tenant TENANT --size SIZE [--backend loop|btrfs|xfs] "        \
	"[--fs ext4|xfs] [--uid N] [--gid N] [--mode OCTAL]"

static int create_tenant(int argc, char **argv)
{
	static const struct cli_limit limits[] = {
		{ "max-bytes", "max_bytes", true },
		{ "max-volumes", "max_volumes" },
	};

	return cli_create_tenant(
		argc, argv, USAGE_CREATE_TENANT,
		"Creates a tenant in volumed.  --owner (a user name or uid) lets "
		"that user\nmanage the tenant's volumes over the socket, --owner-gid "
		"(or --owner-group,\na group name or gid) that group's members; "
		"--max-bytes caps the sum of\nthe volumes' sizes and --max-volumes "
		"their number.\n",
		limits, ELEMENTSOF(limits));
}

static int create_volume(int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS,
						 { "tenant", required_argument, NULL, 't' },
						 { "size", required_argument, NULL, 's' },
						 { "backend", required_argument, NULL, 'b' },
						 { "fs", required_argument, NULL, 'f' },
						 { "uid", required_argument, NULL, 'u' },
						 { "gid", required_argument, NULL, 'g' },
						 { "mode", required_argument, NULL, 'm' },
						 {} };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	json_int_t v = 0;
	int c, r;

	while ((c = cli_getopt(argc, argv, NULL, options, USAGE_CREATE_VOLUME,
			       "Creates a volume of TENANT that holds at most SIZE (like "
			       "512M or 10G).\nIts top directory belongs to --uid:--gid "
			       "with --mode (default 0:0 0755).\nThe backend defaults to "
			       "volumed's choice for the volume root; --fs picks\nthe "
			       "filesystem of a loop volume.\n",
			       &r)) >= 0) {
		r = 0;
		switch (c) {
		case 't':
			r = cli_check_name(optarg, "tenant name", USAGE_CREATE_VOLUME);
			json_object_set_new(args, "tenant", json_string(optarg));
			break;
		case 's':
			r = cli_parse_size(optarg, "--size", args, "size", USAGE_CREATE_VOLUME);
			break;
		case 'b':
			r = check_choice(optarg, "--backend", backends, USAGE_CREATE_VOLUME);
			json_object_set_new(args, "backend", json_string(optarg));
			break;
		case 'f':
			r = check_choice(optarg, "--fs", filesystems, USAGE_CREATE_VOLUME);
			json_object_set_new(args, "fs", json_string(optarg));
			break;
		case 'u':
		case 'g':
			r = cli_parse_u32(optarg, c == 'u' ? "--uid" : "--gid", &v,
					  USAGE_CREATE_VOLUME);
			if (!r && v == UINT32_MAX)
				r = cli_usage_error(USAGE_CREATE_VOLUME, "%s %lld is not an id",
						    c == 'u' ? "--uid" : "--gid", (long long)v);
			if (!r)
				json_object_set_new(args, c == 'u' ? "uid" : "gid",
						    json_integer(v));
			break;
		case 'm': r = parse_mode(optarg, args, USAGE_CREATE_VOLUME); break;
		}
		if (r)
			return r;
	}
	if (c == CLI_DONE)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(USAGE_CREATE_VOLUME, "expected exactly one volume name");
	if ((r = cli_check_name(argv[optind], "volume name", USAGE_CREATE_VOLUME)) != 0)
		return r;
	if (!json_object_get(args, "tenant"))
		return cli_usage_error(USAGE_CREATE_VOLUME, "--tenant is required");
	if (!json_object_get(args, "size"))
		return cli_usage_error(USAGE_CREATE_VOLUME, "--size is required");
	json_object_set_new(args, "name", json_string(argv[optind]));
	if ((r = cli_call("volume.create", args, &result)) != 0)
		return r;
	return cli_done(result, "Created volume '%s' at %s.", argv[optind],
			json_string_value(json_object_get(result, "path")));
}

static int cmd_create(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "tenant") == 0)
		return create_tenant(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "volume") == 0)
		return create_volume(argc - 1, argv + 1);
	if (cli_want_help(argc, argv) && (argc < 2 || argv[1][0] == '-')) {
		printf("Usage: %s\n       %s\n", USAGE_CREATE_TENANT, USAGE_CREATE_VOLUME);
		return 0;
	}
	/* "volctl create NAME --tenant T --size S" is a volume, the common case. */
	if (argc >= 2 && argv[1][0] != '-')
		return create_volume(argc, argv);
	return cli_usage_error(USAGE_CREATE_TENANT "\n       " USAGE_CREATE_VOLUME,
			       "create what? 'tenant' or 'volume'");
}

#define USAGE_LIST "volctl list tenants|volumes [--tenant T]"
static int cmd_list(int argc, char **argv)
{
	static const char *const names[] = { "tenant", NULL };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	const char *values[1] = {}, *what;
	int r;

	r = cli_simple_options(argc, argv, USAGE_LIST,
			       "Lists what the caller may see: everything for root and the admin "
			       "group,\notherwise the tenants the caller owns.\n",
			       names, values);
	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(USAGE_LIST, "list what? 'tenants' or 'volumes'");
	what = argv[optind];
	if (strcmp(what, "tenants") == 0) {
		if (values[0])
			return cli_usage_error(USAGE_LIST, "tenants take no filter");
		if ((r = cli_call("tenant.list", args, &result)) != 0)
			return r;
		return cli_output(result, human_tenants);
	}
	if (strcmp(what, "volumes") != 0)
		return cli_usage_error(USAGE_LIST, "cannot list '%s'", what);
	if (values[0]) {
		if ((r = cli_check_name(values[0], "tenant name", USAGE_LIST)) != 0)
			return r;
		json_object_set_new(args, "tenant", json_string(values[0]));
	}
	if ((r = cli_call("volume.list", args, &result)) != 0)
		return r;
	return cli_output(result, human_volumes);
}

#define USAGE_INSPECT "volctl inspect tenant NAME | volume NAME"
static int cmd_inspect(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	const char *what;
	int r;

	r = cli_simple_options(argc, argv, USAGE_INSPECT,
			       "Shows one object in full: for a volume its size, what it uses "
			       "(bytes and\ninodes), backend, filesystem, path, device and who "
			       "has it mounted.\n",
			       NULL, NULL);
	if (r >= 0)
		return r;
	if (argc - optind != 2)
		return cli_usage_error(USAGE_INSPECT, "inspect what?");
	what = argv[optind];
	if (strcmp(what, "tenant") != 0 && strcmp(what, "volume") != 0)
		return cli_usage_error(USAGE_INSPECT, "cannot inspect '%s'", what);
	r = cli_check_name(argv[optind + 1], what[0] == 't' ? "tenant name" : "volume name",
			   USAGE_INSPECT);
	if (r)
		return r;
	json_object_set_new(args, "name", json_string(argv[optind + 1]));
	r = cli_call(what[0] == 't' ? "tenant.inspect" : "volume.inspect", args, &result);
	return r ? r : cli_output(result, human_object);
}

#define USAGE_DELETE "volctl delete tenant NAME | volume NAME [--force]"
static int cmd_delete(int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS,
						 { "force", no_argument, NULL, 'f' },
						 {} };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	bool force = false;
	const char *what;
	int c, r;

	while ((c = cli_getopt(argc, argv, "jhf", options, USAGE_DELETE,
			       "Deletes a tenant (it must have no volumes) or a volume "
			       "with its data.\nA volume that a container has mounted is "
			       "kept unless --force.\n",
			       &r)) >= 0)
		force = true; /* --force, its only option */
	if (c == CLI_DONE)
		return r;
	if (argc - optind != 2)
		return cli_usage_error(USAGE_DELETE, "delete what?");
	what = argv[optind];
	if (strcmp(what, "tenant") != 0 && strcmp(what, "volume") != 0)
		return cli_usage_error(USAGE_DELETE, "cannot delete '%s'", what);
	if (force && what[0] == 't')
		return cli_usage_error(USAGE_DELETE, "--force applies to volumes");
	r = cli_check_name(argv[optind + 1], what[0] == 't' ? "tenant name" : "volume name",
			   USAGE_DELETE);
	if (r)
		return r;
	json_object_set_new(args, "name", json_string(argv[optind + 1]));
	if (force)
		json_object_set_new(args, "force", json_true());
	if ((r = cli_call(what[0] == 't' ? "tenant.delete" : "volume.delete", args, &result)) != 0)
		return r;
	return cli_done(result, "Deleted %s '%s'.", what, argv[optind + 1]);
}

#define USAGE_RESIZE "volctl resize NAME --size SIZE"
static int cmd_resize(int argc, char **argv)
{
	static const char *const names[] = { "size", NULL };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	const char *values[1] = {};
	int r;

	r = cli_simple_options(argc, argv, USAGE_RESIZE,
			       "Grows a volume to SIZE while it stays in use.  Volumes do not "
			       "shrink.\n",
			       names, values);
	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(USAGE_RESIZE, "expected one volume name");
	if (!values[0])
		return cli_usage_error(USAGE_RESIZE, "--size is required");
	if ((r = cli_check_name(argv[optind], "volume name", USAGE_RESIZE)) != 0)
		return r;
	if ((r = cli_parse_size(values[0], "--size", args, "size", USAGE_RESIZE)) != 0)
		return r;
	json_object_set_new(args, "name", json_string(argv[optind]));
	if ((r = cli_call("volume.resize", args, &result)) != 0)
		return r;
	return cli_output(result, human_object);
}

#define USAGE_SNAPSHOT "volctl snapshot SOURCE NEW"
static int cmd_snapshot(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *result = NULL;
	int r;

	r = cli_simple_options(argc, argv, USAGE_SNAPSHOT,
			       "Makes volume NEW a snapshot of SOURCE, of the same tenant and "
			       "size (btrfs\nvolumes only).\n",
			       NULL, NULL);
	if (r >= 0)
		return r;
	if (argc - optind != 2)
		return cli_usage_error(USAGE_SNAPSHOT, "expected SOURCE and NEW");
	if ((r = cli_check_name(argv[optind], "volume name", USAGE_SNAPSHOT)) != 0 ||
	    (r = cli_check_name(argv[optind + 1], "volume name", USAGE_SNAPSHOT)) != 0)
		return r;
	args = json_pack("{s:s, s:s}", "source", argv[optind], "name", argv[optind + 1]);
	if ((r = cli_call("volume.snapshot", args, &result)) != 0)
		return r;
	return cli_done(result, "Created volume '%s' as a snapshot of '%s'.", argv[optind + 1],
			argv[optind]);
}

#define USAGE_STATS "volctl stats [TENANT]"
static int cmd_stats(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	int r;

	r = cli_simple_options(
		argc, argv, USAGE_STATS,
		"Shows what each tenant's volumes use: per tenant the bytes in use, "
		"the sum of\nthe volumes' sizes and the tenant's limit; per volume "
		"the bytes and inodes\nin use against its size, and where volumed read "
		"them.  Without TENANT, every\ntenant the caller may see.\n",
		NULL, NULL);
	if (r >= 0)
		return r;
	if (argc - optind > 1)
		return cli_usage_error(USAGE_STATS, "expected at most one tenant name");
	if (argc - optind == 1) {
		if ((r = cli_check_name(argv[optind], "tenant name", USAGE_STATS)) != 0)
			return r;
		json_object_set_new(args, "tenant", json_string(argv[optind]));
	}
	if ((r = cli_call("volume.stats", args, &result)) != 0)
		return r;
	return cli_output(result, human_stats);
}

static const struct cli_command commands[] = {
	{ "status", cmd_status, USAGE_STATUS },
	{ "create", cmd_create, USAGE_CREATE_TENANT "\n  " USAGE_CREATE_VOLUME },
	{ "list", cmd_list, USAGE_LIST },
	{ "inspect", cmd_inspect, USAGE_INSPECT },
	{ "resize", cmd_resize, USAGE_RESIZE },
	{ "snapshot", cmd_snapshot, USAGE_SNAPSHOT },
	{ "stats", cmd_stats, USAGE_STATS },
	{ "delete", cmd_delete, USAGE_DELETE },
};

static const struct cli_program volctl = {
	.name = "volctl",
	.daemon = "volumed",
	.socket_env = "TK_VOLUMED_SOCKET",
	.default_socket = TK_VOLUMED_SOCKET,
	.summary = "Manages tenantkit tenants' volumes through volumed.",
};

int main(int argc, char **argv)
{
	return cli_main(&volctl, commands, ELEMENTSOF(commands), argc, argv);
}
