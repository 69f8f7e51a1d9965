/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cleanup.h"
#include "cli.h"
#include "err.h"
#include "rpc.h"
#include "volume.h"

const char *cli_socket;
bool cli_json;
int cli_timeout_ms;
static const struct cli_program *program;

int cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: %s\nTry '%s --help'.\n", usage, program->name);
	return EXIT_USAGE;
}

int cli_exit_code(int r, bool connected)
{
	if (r >= 0)
		return 0;
	if (!connected)
		return EXIT_UNREACHABLE;
	switch (-r) {
	case EBADMSG:
	case ECONNRESET:
	case EPIPE:
	case ETIMEDOUT: return EXIT_UNREACHABLE;
	default: return EXIT_REFUSED;
	}
}

const char *cli_name(void)
{
	return program->name;
}

int cli_connect(int *ret_fd)
{
	tk_err err = {};
	int r;

	if ((r = tk_rpc_connect_timeout(cli_socket, cli_timeout_ms, ret_fd, &err)) < 0) {
		fprintf(stderr, "%s: %s (is %s running? --socket or %s)\n", program->name,
			tk_err_text(&err, r), program->daemon, program->socket_env);
		return cli_exit_code(r, false);
	}
	return 0;
}

int cli_call_failed(int r, const tk_err *err)
{
	if (r == -ETIMEDOUT)
		fprintf(stderr,
			"%s: %s did not answer within %d ms (stopped, wedged or overloaded); "
			"--timeout or TK_RPC_TIMEOUT_MS sets the deadline\n",
			program->name, program->daemon, cli_timeout_ms);
	else if (r < 0)
		fprintf(stderr, "%s: %s\n", program->name, tk_err_text(err, r));
	return cli_exit_code(r, true);
}

int cli_call_fd(const char *op, json_t *args, int pass_fd, json_t **ret)
{
	_cleanup_close_ int fd = -1;
	int64_t deadline = tk_rpc_now_ms() + cli_timeout_ms, left;
	tk_err err = {};
	int r;

	if ((r = cli_connect(&fd)) != 0)
		return r;
	left = deadline - tk_rpc_now_ms();
	r = tk_rpc_call_full(fd, op, args, pass_fd, left > 0 ? (int)left : 1, ret, &err);
	return cli_call_failed(r, &err);
}

int cli_done(json_t *result, const char *fmt, ...)
{
	va_list ap;

	if (cli_json)
		return cli_print_json(result);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return 0;
}

int cli_call(const char *op, json_t *args, json_t **ret)
{
	return cli_call_fd(op, args, -1, ret);
}

int cli_print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	return 0;
}

static char *field_text(json_t *v);

/* An object as "key value, key value" (status's fast path counts), "-" when empty. */
static char *object_text(json_t *obj)
{
	_cleanup_free_ char *s = NULL;
	size_t size = 0;
	const char *key;
	json_t *value;
	bool first = true;
	FILE *f = open_memstream(&s, &size);

	if (!f)
		return NULL;
	json_object_foreach(obj, key, value)
	{
		_cleanup_free_ char *t = field_text(value);
		fprintf(f, "%s%s %s", first ? "" : ", ", key, t ? t : "?");
		first = false;
	}
	fclose(f);
	return size ? TAKE_PTR(s) : strdup("-");
}

/* A field as text: strings as they are, null as "-", arrays joined with ",". */
static char *field_text(json_t *v)
{
	char *s = NULL;

	if (!v || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_true(v) || json_is_false(v))
		return strdup(json_is_true(v) ? "yes" : "no");
	if (json_is_integer(v)) {
		if (asprintf(&s, "%lld", (long long)json_integer_value(v)) < 0)
			return NULL;
		return s;
	}
	if (json_is_array(v)) {
		size_t i, size = 0;
		json_t *item;
		FILE *f = open_memstream(&s, &size);
		if (!f)
			return NULL;
		json_array_foreach(v, i, item)
		{
			/* endpoint ips are objects: show their address */
			json_t *addr =
				json_is_object(item) ? json_object_get(item, "address") : item;
			_cleanup_free_ char *t = field_text(addr);
			fprintf(f, "%s%s", i ? "," : "", t ? t : "?");
		}
		fclose(f);
		return size ? s : (free(s), strdup("-"));
	}
	if (json_is_object(v))
		return object_text(v);
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

void cli_print_object(json_t *obj)
{
	const char *key;
	json_t *value;
	int width = 0;

	json_object_foreach(obj, key, value)
	{
		if ((int)strlen(key) > width)
			width = (int)strlen(key);
	}
	json_object_foreach(obj, key, value)
	{
		_cleanup_free_ char *t = field_text(value);
		char when[64];
		time_t secs = (time_t)json_integer_value(value);

		if (strcmp(key, "created") == 0 && json_is_integer(value) &&
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&secs)) > 0)
			printf("%s:%*s %s\n", key, width - (int)strlen(key), "", when);
		else
			printf("%s:%*s %s\n", key, width - (int)strlen(key), "", t ? t : "?");
	}
}

int cli_output(json_t *result, void (*human)(json_t *))
{
	if (cli_json)
		return cli_print_json(result);
	if (human)
		human(result);
	return 0;
}

int cli_parse_u32(const char *s, const char *what, json_int_t *ret, const char *usage)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || *end || errno || v > UINT32_MAX)
		return cli_usage_error(usage, "%s must be a non-negative number, not '%s'", what,
				       s);
	*ret = (json_int_t)v;
	return 0;
}

int cli_parse_size(const char *s, const char *what, json_t *args, const char *key,
		   const char *usage)
{
	tk_err err = {};
	uint64_t v;

	if (tk_size_parse(s, &v, &err) < 0)
		return cli_usage_error(usage, "%s: %s", what, err.msg);
	json_object_set_new(args, key, json_integer((json_int_t)v));
	return 0;
}

int cli_check_name(const char *name, const char *what, const char *usage)
{
	tk_err err = {};

	if (tk_name_validate(name, what, &err) < 0)
		return cli_usage_error(usage, "%s", err.msg);
	return 0;
}

int cli_parse_user(const char *s, json_int_t *ret, const char *usage)
{
	struct passwd *pw = getpwnam(s);

	if (pw) {
		*ret = pw->pw_uid;
		return 0;
	}
	return cli_parse_u32(s, "--owner (a user name or uid)", ret, usage);
}

int cli_parse_group(const char *s, json_int_t *ret, const char *usage)
{
	struct group *gr = getgrnam(s);

	if (gr) {
		*ret = gr->gr_gid;
		return 0;
	}
	return cli_parse_u32(s, "--owner-group (a group name or gid)", ret, usage);
}

bool cli_want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int cli_help(const char *usage, const char *text)
{
	printf("Usage: %s\n\n%s", usage, text);
	return 0;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *options,
	       const char *usage, const char *text, int *ret_exit)
{
	int c;

	while ((c = getopt_long(argc, argv, shortopts ?: "jh", options, NULL)) == 'j')
		cli_json = true;
	if (c == 'h') {
		*ret_exit = cli_help(usage, text);
		return CLI_DONE;
	}
	if (c == '?' || c == ':') {
		*ret_exit = cli_usage_error(usage, "invalid option");
		return CLI_DONE;
	}
	return c;
}

int cli_simple_options(int argc, char **argv, const char *usage, const char *text,
		       const char *const *names, const char **values)
{
	struct option options[8] = { CLI_COMMON_OPTIONS };
	size_t n = 2;
	int c, r = 0;

	for (size_t i = 0; names && names[i] && n < ELEMENTSOF(options) - 1; i++)
		options[n++] =
			(struct option){ names[i], required_argument, NULL, (int)(0x100 + i) };
	/* Options >= 0x100 exist only when names (and so values) were given. */
	while ((c = cli_getopt(argc, argv, NULL, options, usage, text, &r)) >= 0x100)
		if (values)
			values[c - 0x100] = optarg;
	return c == CLI_DONE ? r : -1;
}

int cli_plain_command(int argc, char **argv, const char *op, const char *usage, const char *text,
		      void (*human)(json_t *))
{
	_cleanup_(json_decrefp) json_t *result = NULL;
	int r;

	if ((r = cli_simple_options(argc, argv, usage, text, NULL, NULL)) >= 0)
		return r;
	if (optind < argc)
		return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if ((r = cli_call(op, NULL, &result)) != 0)
		return r;
	return cli_output(result, human);
}

/* --owner and --owner-group: a name or number, but not (uid_t)-1, which means "nobody". */
static int parse_owner(int c, const char *arg, json_t *args, const char *usage)
{
	json_int_t v = 0;
	int r = c == 'o' ? cli_parse_user(arg, &v, usage) : cli_parse_group(arg, &v, usage);

	if (r)
		return r;
	if (v == UINT32_MAX)
		return cli_usage_error(usage, "%s %lld is not an id",
				       c == 'o' ? "--owner" : "--owner-group", (long long)v);
	json_object_set_new(args, c == 'o' ? "owner_uid" : "owner_gid", json_integer(v));
	return 0;
}

static int parse_limit(const struct cli_limit *l, const char *arg, json_t *args, const char *usage)
{
	char what[64];
	json_int_t v = 0;
	int r;

	snprintf(what, sizeof(what), "--%s", l->option);
	if (l->size)
		return cli_parse_size(arg, what, args, l->key, usage);
	if ((l->rate && (strcmp(arg, "none") == 0 || strcmp(arg, "unlimited") == 0)) ||
	    (l->weight && strcmp(arg, "default") == 0)) {
		json_object_set_new(args, l->key, json_null());
		return 0;
	}
	if (l->rate || l->text) {
		json_object_set_new(args, l->key, json_string(arg));
		return 0;
	}
	if (l->list) {
		_cleanup_free_ char *copy = strdup(arg);
		json_t *list = json_array();
		char *save = NULL;

		if (!copy || !list)
			return cli_usage_error(usage, "out of memory");
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			json_array_append_new(list, json_string(tok));
		json_object_set_new(args, l->key, list);
		return 0;
	}
	if (l->unlimited && strcmp(arg, "unlimited") == 0)
		v = -1;
	else if ((r = cli_parse_u32(arg, what, &v, usage)) != 0)
		return r;
	json_object_set_new(args, l->key, json_integer(v));
	return 0;
}

int cli_create_tenant(int argc, char **argv, const char *usage, const char *text,
		      const struct cli_limit *limits, size_t n_limits)
{
	struct option options[24] = { CLI_COMMON_OPTIONS,
				      { "owner", required_argument, NULL, 'o' },
				      { "owner-group", required_argument, NULL, 'g' },
				      { "owner-gid", required_argument, NULL, 'g' } };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	int c, r = 0;

	for (size_t i = 0; i < n_limits && 5 + i < ELEMENTSOF(options) - 1; i++)
		options[5 + i] = (struct option){ limits[i].option, required_argument, NULL,
						  0x100 + (int)i };
	while ((c = cli_getopt(argc, argv, NULL, options, usage, text, &r)) >= 0) {
		r = c >= 0x100 ? parse_limit(&limits[c - 0x100], optarg, args, usage)
			       : parse_owner(c, optarg, args, usage);
		if (r)
			return r;
	}
	if (c == CLI_DONE)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(usage, "expected exactly one tenant name");
	if ((r = cli_check_name(argv[optind], "tenant name", usage)) != 0)
		return r;
	json_object_set_new(args, "name", json_string(argv[optind]));
	if ((r = cli_call("tenant.create", args, &result)) != 0)
		return r;
	return cli_done(result, "Created tenant '%s'.", argv[optind]);
}

int cli_set_tenant(int argc, char **argv, const char *usage, const char *text,
		   const struct cli_limit *limits, size_t n_limits)
{
	struct option options[16] = { CLI_COMMON_OPTIONS };
	_cleanup_(json_decrefp) json_t *args = json_object(), *result = NULL;
	int c, r = 0;

	for (size_t i = 0; i < n_limits && 2 + i < ELEMENTSOF(options) - 1; i++)
		options[2 + i] = (struct option){ limits[i].option, required_argument, NULL,
						  0x100 + (int)i };
	while ((c = cli_getopt(argc, argv, NULL, options, usage, text, &r)) >= 0)
		if ((r = parse_limit(&limits[c - 0x100], optarg, args, usage)) != 0)
			return r;
	if (c == CLI_DONE)
		return r;
	if (argc - optind != 1)
		return cli_usage_error(usage, "expected exactly one tenant name");
	if (json_object_size(args) == 0)
		return cli_usage_error(usage, "nothing to set");
	json_object_set_new(args, "name", json_string(argv[optind]));
	if ((r = cli_call("tenant.set", args, &result)) != 0)
		return r;
	return cli_done(result, "Updated tenant '%s'.", argv[optind]);
}

static void main_help(const struct cli_command *commands, size_t n_commands)
{
	printf("Usage: %s [--socket PATH] [--json] COMMAND [ARGS...]\n\n%s\n\nCommands:\n",
	       program->name, program->summary);
	/* Commands that share a usage line (link and unlink) are listed once. */
	for (size_t i = 0; i < n_commands; i++)
		if (i == 0 || strcmp(commands[i].usage, commands[i - 1].usage) != 0)
			printf("  %s\n", commands[i].usage);
	printf("\nOptions:\n"
	       "  -s, --socket PATH  %s's socket (default %s, env %s)\n"
	       "  -t, --timeout SECS give up when %s has not answered within SECS seconds\n"
	       "                     (default 60, env TK_RPC_TIMEOUT_MS in milliseconds)\n"
	       "  -j, --json         print results as JSON\n"
	       "  -h, --help         show this help; COMMAND --help shows the command's\n"
	       "      --version      print the version\n\n"
	       "Exit status: 0 success, 1 %s refused or failed the request, 2 usage error,\n"
	       "3 %s could not be reached or did not answer in time.  See %s(1).\n",
	       program->daemon, program->default_socket, program->socket_env, program->daemon,
	       program->daemon, program->daemon, program->name);
}

/* Seconds, fractions allowed, as milliseconds within what lib/rpc accepts. */
static int parse_timeout(const char *s, int *ret_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v * 1000 >= 1 && v * 1000 <= TK_RPC_TIMEOUT_MS_MAX))
		return -EINVAL;
	*ret_ms = (int)(v * 1000);
	return 0;
}

int cli_main(const struct cli_program *p, const struct cli_command *commands, size_t n_commands,
	     int argc, char **argv)
{
	static const struct option options[] = { { "socket", required_argument, NULL, 's' },
						 { "timeout", required_argument, NULL, 't' },
						 { "json", no_argument, NULL, 'j' },
						 { "help", no_argument, NULL, 'h' },
						 { "version", no_argument, NULL, 'V' },
						 {} };
	int c;

	program = p;
	/* The daemons speak JSON: an argument that is not UTF-8 cannot be passed on faithfully. */
	for (int i = 1; i < argc; i++) {
		json_t *probe = json_string(argv[i]);
		if (!probe) {
			fprintf(stderr, "%s: argument %d is not valid UTF-8\n", p->name, i);
			return EXIT_USAGE;
		}
		json_decref(probe);
	}
	cli_socket = getenv(p->socket_env) ?: p->default_socket;
	/* People and scripts wait longer than runtimes: a reconcile or an offline resize is slow. */
	cli_timeout_ms = getenv("TK_RPC_TIMEOUT_MS") ? tk_rpc_timeout_ms() : CLI_TIMEOUT_MS_DEFAULT;
	while ((c = getopt_long(argc, argv, "+s:t:jh", options, NULL)) >= 0) {
		switch (c) {
		case 's': cli_socket = optarg; break;
		case 't':
			if (parse_timeout(optarg, &cli_timeout_ms) < 0) {
				fprintf(stderr,
					"%s: --timeout takes seconds (0.001..3600), not '%s'\n",
					p->name, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': cli_json = true; break;
		case 'h': main_help(commands, n_commands); return 0;
		case 'V': printf("%s %s\n", p->name, TK_VERSION); return 0;
		default: fprintf(stderr, "Try '%s --help'.\n", p->name); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: missing command.  Try '%s --help'.\n", p->name, p->name);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < n_commands; i++)
		if (strcmp(argv[optind], commands[i].name) == 0) {
			char **sub = argv + optind;
			int n = argc - optind;
			optind = 0; /* restart getopt for the command's own options */
			return commands[i].fn(n, sub);
		}
	fprintf(stderr, "%s: unknown command '%s'.  Try '%s --help'.\n", p->name, argv[optind],
		p->name);
	return EXIT_USAGE;
}
