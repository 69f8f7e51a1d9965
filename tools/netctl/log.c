/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netctl log drops: what the firewall dropped, from netd's drop log (log.drops). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "netctl.h"

/* "15:04:05.123" in local time */
static char *time_text(json_t *row, const char *key)
{
	json_int_t ms = json_integer_value(json_object_get(row, key));
	time_t s = (time_t)(ms / 1000);
	char buf[32], *t;
	struct tm tm;

	if (!localtime_r(&s, &tm) || !strftime(buf, sizeof(buf), "%H:%M:%S", &tm))
		return strdup("-");
	return asprintf(&t, "%s.%03d", buf, (int)(ms % 1000)) < 0 ? NULL : t;
}

/* "10.200.0.5:40000", "[fd7e::5]:53", or the address alone */
static char *endpoint_text(json_t *row, const char *key, const char *port_key)
{
	json_t *addr = json_object_get(row, key), *port = json_object_get(row, port_key);
	const char *a = json_string_value(addr);
	char *t;

	if (!a)
		return strdup("-");
	if (!json_is_integer(port))
		return strdup(a);
	return asprintf(&t, strchr(a, ':') ? "[%s]:%lld" : "%s:%lld", a,
			(long long)json_integer_value(port)) < 0
		       ? NULL
		       : t;
}

static char *src_text(json_t *row, const char *key)
{
	return endpoint_text(row, key, "sport");
}

static char *dst_text(json_t *row, const char *key)
{
	return endpoint_text(row, key, "dport");
}

/* The container (its id cut to 12 characters, as docker ps shows it) and its interface. */
static char *container_text(json_t *row, const char *key)
{
	const char *id = json_string_value(json_object_get(row, key)),
		   *ifname = json_string_value(json_object_get(row, "ifname"));
	char *t;

	if (!id)
		return strdup("-");
	return asprintf(&t, "%.12s/%s", id, ifname ? ifname : "?") < 0 ? NULL : t;
}

static const struct cli_column drop_cols[] = {
	{ "TIME", "time_ms", time_text },   { "TENANT", "tenant", NULL },
	{ "NETWORK", "network", NULL },	    { "CONTAINER", "container_id", container_text },
	{ "REASON", "reason", NULL },	    { "IN", "in", NULL },
	{ "PROTO", "proto", NULL },	    { "SOURCE", "src", src_text },
	{ "DESTINATION", "dst", dst_text }, { "MAC", "mac", NULL },
};

static void human_drops(json_t *r)
{
	cli_print_table(json_object_get(r, "entries"), drop_cols, ELEMENTSOF(drop_cols));
}

/* --follow: one JSON object per line with --json, table rows without a header after the first. */
static int follow(json_t *args)
{
	bool first = true;

	for (;;) {
		_cleanup_(json_decrefp) json_t *result = NULL;
		json_t *entries;
		size_t i;
		json_t *e;
		int r;

		if ((r = cli_call("log.drops", args, &result)) != 0)
			return r;
		entries = json_object_get(result, "entries");
		if (cli_json) {
			json_array_foreach(entries, i, e)
			{
				json_dumpf(e, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
				putchar('\n');
			}
		} else if (first || json_array_size(entries) > 0) {
			human_drops(result);
		}
		first = false;
		fflush(stdout);
		json_object_set(args, "since", json_object_get(result, "next"));
		if (json_array_size(entries) == 0)
			usleep(500 * 1000);
	}
}

#define LOG_TEXT                                                                                   \
	"Shows the packets the firewall dropped, newest last: when, the tenant, network and\n"     \
	"container they are about, why (spoofing: a container sent from an address or MAC not\n"   \
	"its own, or what it may not send; isolation: between tenants or networks, or from\n"      \
	"outside to a container; host: from a container to the host itself), the interface,\n"     \
	"protocol, addresses and ports.  Root and the admin group see every tenant's, an\n"        \
	"owner its own tenants'.  The firewall logs at most 10 packets a second per interface\n"   \
	"and 100 per reason (docs/firewall.md); netd keeps the last 4096.  --since N shows\n"      \
	"those after sequence number N, --limit at most N of them, --follow waits for more.\n"

int cmd_log(int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS,
						 { "follow", no_argument, NULL, 'f' },
						 { "since", required_argument, NULL, 's' },
						 { "limit", required_argument, NULL, 'n' },
						 {} };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	bool do_follow = false;
	json_int_t v = 0;
	int c, r;

	while ((c = cli_getopt(argc, argv, "jhf", options, USAGE_LOG, LOG_TEXT, &r)) >= 0) {
		r = 0;
		switch (c) {
		case 'f': do_follow = true; break;
		case 's':
		case 'n':
			r = cli_parse_u32(optarg, c == 's' ? "--since" : "--limit", &v, USAGE_LOG);
			if (!r && c == 'n' && (v < 1 || v > 4096))
				r = cli_usage_error(USAGE_LOG, "--limit must be 1..4096");
			if (!r)
				json_object_set_new(args, c == 's' ? "since" : "limit",
						    json_integer(v));
			break;
		}
		if (r)
			return r;
	}
	if (c == CLI_DONE)
		return r;
	if (argc - optind < 1 || strcmp(argv[optind], "drops") != 0)
		return cli_usage_error(USAGE_LOG, "log what? 'drops'");
	if (argc - optind > 2)
		return cli_usage_error(USAGE_LOG, "expected at most one tenant name");
	if (argc - optind == 2) {
		if ((r = cli_check_name(argv[optind + 1], "tenant name", USAGE_LOG)) != 0)
			return r;
		json_object_set_new(args, "tenant", json_string(argv[optind + 1]));
	}
	if (do_follow)
		return follow(args);
	if ((r = cli_call("log.drops", args, &result)) != 0)
		return r;
	return cli_output(result, human_drops);
}
