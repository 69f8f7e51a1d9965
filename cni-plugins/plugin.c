/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "cleanup.h"
#include "json.h"
#include "netns.h"
#include "rpc.h"
#include "tk-config.h"

#define CONFIG_MAX (1u << 20)

static char *read_all(FILE *f, size_t *ret_len)
{
	size_t len = 0, size = 4096;
	char *buf = malloc(size);

	while (buf) {
		size_t n = fread(buf + len, 1, size - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == size) {
			char *bigger = size >= CONFIG_MAX ? NULL : realloc(buf, size * 2);
			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			size *= 2;
		}
	}
	*ret_len = len;
	return buf;
}

/*
 * A plugin lives for one request, so jansson allocates from a bump arena in .bss and nothing is
 * given back before exit.  musl's allocator maps and unmaps a group of pages for each size
 * class it meets, and those syscalls and page faults were 40 % of a plugin's CPU time
 * (0.23 -> 0.13 ms per ADD here).  What does not fit (a configuration near the 1 MiB limit)
 * comes from malloc.  Sanitizer builds keep jansson on malloc, so that leaks and use after free
 * stay visible.
 */
#ifndef __SANITIZE_ADDRESS__
static _Alignas(max_align_t) unsigned char arena[256 * 1024];
static size_t arena_used;

static void *arena_alloc(size_t size)
{
	size_t rounded = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);

	if (rounded < size || rounded > sizeof(arena) - arena_used)
		return malloc(size);
	arena_used += rounded;
	return arena + arena_used - rounded;
}

static void arena_free(void *ptr)
{
	if ((unsigned char *)ptr < arena || (unsigned char *)ptr >= arena + sizeof(arena))
		free(ptr);
}

static void json_use_arena(void)
{
	json_set_alloc_funcs(arena_alloc, arena_free);
}
#else
static void json_use_arena(void)
{
}
#endif

int plugin_print(json_t *j)
{
	if (!j || json_dumpf(j, stdout, JSON_INDENT(2)) < 0) {
		json_decref(j);
		return EXIT_FAILURE;
	}
	putchar('\n');
	json_decref(j);
	return EXIT_SUCCESS;
}

static int fail(struct plugin *p)
{
	plugin_print(tk_cni_error_json(p->cfg.version, &p->error));
	return EXIT_FAILURE;
}

/* One deadline for the whole invocation, as the runtime gives the plugin one. */
static int timed_out(struct plugin *p, int code)
{
	return tk_cni_fail(&p->error, code, "netd did not answer in time",
			   "no connection or reply within %d ms (TK_RPC_TIMEOUT_MS): netd is "
			   "stopped, wedged or overloaded",
			   p->timeout_ms);
}

/*
 * One request to netd, passing p->netns_fd when open.  unreachable_code is what "cannot
 * connect" or "no answer in time" means for this verb (11 for ADD/DEL/CHECK/GC, 50 for STATUS).
 * Returns 0, or -1 with p->error set; *ret_errno gets netd's code when it answered with an error.
 */
int plugin_call(struct plugin *p, const char *op, json_t *args, json_t **ret, int unreachable_code,
		int *ret_errno)
{
	_cleanup_close_ int fd = -1;
	int64_t left = p->deadline_ms - tk_rpc_now_ms();
	tk_err err = {};
	int r;

	if (ret_errno)
		*ret_errno = 0;
	if (left <= 0)
		return timed_out(p, unreachable_code);
	r = tk_rpc_connect_timeout(p->socket, (int)left, &fd, &err);
	if (r == -ETIMEDOUT)
		return timed_out(p, unreachable_code);
	if (r < 0)
		return tk_cni_fail(&p->error, unreachable_code, "netd is not reachable", "%s",
				   err.msg);
	left = p->deadline_ms - tk_rpc_now_ms();
	r = tk_rpc_call_full(fd, op, args, p->netns_fd, left > 0 ? (int)left : 1, ret, &err);
	if (r == -ETIMEDOUT)
		return timed_out(p, unreachable_code);
	if (r < 0) {
		if (ret_errno)
			*ret_errno = r;
		return tk_cni_fail_err(&p->error, r, &err);
	}
	return 0;
}

int plugin_open_netns(struct plugin *p, int *ret_fd)
{
	tk_err err = {};
	int r = tk_netns_open(p->env.netns, 0, ret_fd, &err);

	if (r == -ENOENT)
		return tk_cni_fail(&p->error, TK_CNI_ERR_UNKNOWN_CONTAINER,
				   "container network namespace not found", "%s", err.msg);
	if (r < 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_ENV, "invalid CNI_NETNS", "%s",
				   err.msg);
	closep(&p->netns_fd);
	p->netns_fd = fcntl(*ret_fd, F_DUPFD_CLOEXEC, 3);
	if (p->netns_fd < 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_IO, "cannot duplicate CNI_NETNS", "%s: %s",
				   p->env.netns, strerror(errno));
	return 0;
}

int plugin_inspect(struct plugin *p, bool kernel, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *args = NULL;
	int code;

	args = json_pack("{s:s, s:s}", "container_id", p->env.container_id, "ifname",
			 p->env.ifname);
	if (kernel)
		json_object_set_new(args, "netns", json_string(p->env.netns));
	if (kernel && p->check_mac)
		json_object_set_new(args, "mac", json_string(p->check_mac));
	if (plugin_call(p, kernel ? "endpoint.check" : "endpoint.inspect", args, ret,
			TK_CNI_ERR_TRY_LATER, &code) < 0) {
		if (code == -ENOENT)
			p->error.code = TK_CNI_ERR_UNKNOWN_CONTAINER;
		return -1;
	}
	if (strcmp(json_string_value(json_object_get(*ret, "network")), p->cfg.network) != 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK, "attached to another network",
				   "%s %s is on '%s', not '%s'", p->env.container_id, p->env.ifname,
				   json_string_value(json_object_get(*ret, "network")),
				   p->cfg.network);
	/* The network is the configured one, so its tenant is the network's owner. */
	if (strcmp(json_string_value(json_object_get(*ret, "tenant")), p->cfg.tenant) != 0)
		return tk_cni_fail(
			&p->error, TK_CNI_ERR_INVALID_CONFIG, "invalid network configuration",
			"network '%s' belongs to tenant '%s', not '%s'", p->cfg.network,
			json_string_value(json_object_get(*ret, "tenant")), p->cfg.tenant);
	return 0;
}

/*
 * prevResult must list every address netd gave this container, on interface index iface when
 * it says which (iface < 0: not checked).
 */
int plugin_check_prev_result(struct plugin *p, json_t *endpoint, json_int_t iface)
{
	json_t *prev_ips = json_object_get(p->cfg.prev_result, "ips"), *ip, *pip;
	size_t i, j;

	json_array_foreach(json_object_get(endpoint, "ips"), i, ip)
	{
		const char *address = json_string_value(json_object_get(ip, "address"));
		bool listed = false;

		json_array_foreach(prev_ips, j, pip)
		{
			const char *a = json_string_value(json_object_get(pip, "address"));
			json_t *on = json_object_get(pip, "interface");

			if (!a || strcmp(a, address) != 0)
				continue;
			if (iface >= 0 && json_is_integer(on) && json_integer_value(on) != iface)
				return tk_cni_fail(
					&p->error, TK_CNI_ERR_CHECK,
					"prevResult does not match the attachment",
					"prevResult puts address %s on interface %lld, not "
					"on %s (interface %lld)",
					address, (long long)json_integer_value(on), p->env.ifname,
					(long long)iface);
			listed = true;
		}
		if (!listed)
			return tk_cni_fail(&p->error, TK_CNI_ERR_CHECK,
					   "prevResult does not match the attachment",
					   "address %s is not in prevResult", address);
	}
	return 0;
}

/*
 * Records a DEL that could not reach netd in the spool directory beside its socket, for netd to
 * apply when it is back (netd/lifecycle.c): written under a dot name, then renamed, so netd only
 * ever sees whole files.  The file's owner is who asked; netd authorises the DEL as that uid.
 */
static int spool_del(struct plugin *p, json_t *args)
{
	const char *slash = strrchr(p->socket, '/');
	char dir[4096], tmp[4200], final[4200];
	_cleanup_(tk_json_text_freep) char *text = NULL;
	_cleanup_close_ int fd = -1;
	uint8_t rnd[16];
	char hex[33];
	size_t len;

	if (!slash || getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EINVAL;
	if ((size_t)snprintf(dir, sizeof(dir), "%.*s/pending-del", (int)(slash - p->socket),
			     p->socket) >= sizeof(dir))
		return -ENAMETOOLONG;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	snprintf(tmp, sizeof(tmp), "%s/.del-%s", dir, hex);
	snprintf(final, sizeof(final), "%s/del-%s", dir, hex);
	text = json_dumps(args, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	/* root's plugin may make it before netd ever ran; netd sets owner and mode on start. */
	(void)mkdir(dir, 0700);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || close(TAKE_FD(fd)) < 0 ||
	    rename(tmp, final) < 0) {
		int r = -errno;
		unlink(tmp);
		return r ? r : -EIO;
	}
	return 0;
}

/*
 * Idempotent: an unknown endpoint, a vanished netns or one netd never knew all succeed.  When
 * netd cannot be reached (busy, or the connection broke before its answer), the DEL is recorded for
 * netd to apply when it is back, and succeeds: a runtime does not retry a DEL, and CNI requires
 * DEL to tolerate what it cannot find.
 */
static int cmd_del(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *args = NULL, *result = NULL;
	int code, r;

	args = json_pack("{s:s, s:s, s:s, s:s}", "container_id", p->env.container_id, "ifname",
			 p->env.ifname, "network", p->cfg.network, "tenant", p->cfg.tenant);
	if (!args)
		return tk_cni_fail(&p->error, TK_CNI_ERR_INVALID_CONFIG, "invalid request",
				   "arguments are not valid UTF-8");
	if (plugin_call(p, "endpoint.del", args, &result, TK_CNI_ERR_TRY_LATER, &code) == 0)
		return 0;
	/* Busy (it refused before doing anything) counts as not reached. */
	if (code != 0 && code != -ECONNRESET && code != -EPIPE && code != -ETIMEDOUT &&
	    code != -EAGAIN && code != -EBUSY && code != -EUSERS)
		return -1; /* netd answered: its error stands */
	if ((r = spool_del(p, args)) < 0) {
		char why[sizeof(p->error.details)];

		snprintf(why, sizeof(why), "%s", p->error.details);
		return tk_cni_fail(&p->error, TK_CNI_ERR_TRY_LATER, "netd is not reachable",
				   "%s; and the DEL could not be recorded for later: %s", why,
				   strerror(-r));
	}
	fprintf(stderr, "%s: netd is not reachable; DEL of %s %s recorded for it\n",
		p->ipam ? "tenant-ipam" : "tenant-bridge", p->env.container_id, p->env.ifname);
	return 0;
}

/*
 * STATUS (CNI 1.1): 50, "cannot service ADD", whenever netd would refuse an ADD on this
 * configuration whatever the container: netd unreachable, a network the caller may not use or
 * that is not the tenant's, a full bridge (no free port), no free address, the tenant's endpoint
 * limit.  51 would say that
 * existing containers suffer, which none of these does.
 */
static int status_fail(struct plugin *p, const char *msg)
{
	p->error.code = TK_CNI_ERR_NOT_AVAILABLE;
	snprintf(p->error.msg, sizeof(p->error.msg), "%s", msg);
	return -1;
}

static int cmd_status(struct plugin *p)
{
	_cleanup_(json_decrefp) json_t *status = NULL, *args = NULL, *network = NULL;
	_cleanup_(json_decrefp) json_t *targs = NULL, *tenant = NULL;
	json_t *free4, *free6, *ports, *max;

	/* plugin_call says whether netd was unreachable or too slow, with code 50. */
	if (plugin_call(p, "status", NULL, &status, TK_CNI_ERR_NOT_AVAILABLE, NULL) < 0)
		return -1;
	args = json_pack("{s:s, s:s}", "name", p->cfg.network, "tenant", p->cfg.tenant);
	if (plugin_call(p, "network.inspect", args, &network, TK_CNI_ERR_NOT_AVAILABLE, NULL) < 0)
		return status_fail(p, "the network cannot be used");
	/* A lease (tenant-ipam) takes no port of the bridge. */
	ports = json_object_get(network, "free_ports");
	if (!p->ipam && json_is_integer(ports) && json_integer_value(ports) == 0)
		return tk_cni_fail(&p->error, TK_CNI_ERR_NOT_AVAILABLE, "network full",
				   "network '%s' is full: no free port on its bridge",
				   p->cfg.network);
	/* A lease takes an address but no port: the pool's own count. */
	free4 = json_object_get(network, p->ipam ? "free_leases4" : "free4");
	free6 = json_object_get(network, p->ipam ? "free_leases6" : "free6");
	if ((json_is_integer(free4) && json_integer_value(free4) == 0) ||
	    (json_is_integer(free6) && json_integer_value(free6) == 0))
		return tk_cni_fail(
			&p->error, TK_CNI_ERR_NOT_AVAILABLE, "no IPs available",
			"network '%s' has no free %s address left", p->cfg.network,
			json_is_integer(free4) && json_integer_value(free4) == 0 ? "IPv4" : "IPv6");
	targs = json_pack("{s:s}", "name", p->cfg.tenant);
	if (plugin_call(p, "tenant.inspect", targs, &tenant, TK_CNI_ERR_NOT_AVAILABLE, NULL) < 0)
		return status_fail(p, "the tenant cannot be used");
	max = json_object_get(tenant, "max_endpoints");
	if (json_is_integer(max) &&
	    json_integer_value(json_object_get(tenant, "endpoints")) >= json_integer_value(max))
		return tk_cni_fail(
			&p->error, TK_CNI_ERR_NOT_AVAILABLE, "tenant endpoint limit reached",
			"tenant '%s' has %lld of its %lld endpoints", p->cfg.tenant,
			(long long)json_integer_value(json_object_get(tenant, "endpoints")),
			(long long)json_integer_value(max));
	return 0;
}

/* GC's DEL of one endpoint the runtime no longer lists; the first failure is kept in first. */
static void gc_one(struct plugin *p, json_t *e, struct tk_cni_error *first)
{
	const char *id = json_string_value(json_object_get(e, "container_id"));
	const char *ifname = json_string_value(json_object_get(e, "ifname"));
	_cleanup_(json_decrefp) json_t *del = NULL, *result = NULL;

	/* tenant-bridge collects veth endpoints, tenant-ipam leases: never the other's. */
	if (strcmp(json_string_value(json_object_get(e, "kind")), p->ipam ? "ipam" : "veth") != 0 ||
	    tk_cni_attachment_valid(p->cfg.valid_attachments, id, ifname))
		return;
	del = json_pack("{s:s, s:s, s:s, s:s}", "container_id", id, "ifname", ifname, "network",
			p->cfg.network, "tenant", p->cfg.tenant);
	if (plugin_call(p, "endpoint.del", del, &result, TK_CNI_ERR_TRY_LATER, NULL) < 0) {
		if (!first->code)
			*first = p->error;
		return;
	}
	fprintf(stderr, "%s: GC removed %s %s from %s\n", p->ipam ? "tenant-ipam" : "tenant-bridge",
		id, ifname, p->cfg.network);
}

/* A name netd keeps (tk_name_validate): a longer or odder one scopes nothing. */
static bool cni_name_kept(const struct plugin *p)
{
	return p->cfg.name && tk_name_validate(p->cfg.name, "", NULL) >= 0;
}

void plugin_add_cni_name(const struct plugin *p, json_t *args)
{
	if (cni_name_kept(p))
		json_object_set_new(args, "cni_name", json_string(p->cfg.name));
}

/*
 * Removes every endpoint of the network that the runtime no longer lists, of those this CNI
 * network's ADDs made (its configuration's name, which netd records): never one of another
 * runtime's, of another configuration on the same tenant network, or made by netctl or Docker.
 * Page after page (endpoint.list answers about 1 MiB at a time, some 2,400 endpoints).
 */
static int cmd_gc(struct plugin *p)
{
	struct tk_cni_error first = {};
	json_int_t after = 0;

	if (!cni_name_kept(p))
		return 0; /* its ADDs recorded no name: nothing is known to be its own */
	do {
		_cleanup_(json_decrefp) json_t *args = NULL, *list = NULL;
		size_t i;
		json_t *e;

		args = json_pack("{s:s, s:s, s:s, s:I}", "network", p->cfg.network, "tenant",
				 p->cfg.tenant, "cni_name", p->cfg.name, "after", after);
		if (plugin_call(p, "endpoint.list", args, &list, TK_CNI_ERR_TRY_LATER, NULL) < 0)
			return -1;
		json_array_foreach(json_object_get(list, "endpoints"), i, e)
		{
			gc_one(p, e, &first);
		}
		after = json_integer_value(json_object_get(list, "next"));
	} while (after > 0);
	if (first.code) {
		p->error = first;
		return -1;
	}
	return 0;
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

int plugin_main(bool ipam, const struct plugin_verbs *verbs)
{
	struct plugin p = { .ipam = ipam, .netns_fd = -1 };
	_cleanup_free_ char *input = NULL;
	const void *random = (const void *)getauxval(AT_RANDOM);
	uint32_t seed;
	size_t len = 0;
	int r;

	p.timeout_ms = tk_rpc_timeout_ms();
	p.deadline_ms = tk_rpc_now_ms() + p.timeout_ms;
	json_use_arena();
	/* The kernel's random bytes for this exec (unaligned), instead of jansson's /dev/urandom. */
	if (random) {
		memcpy(&seed, random, sizeof(seed));
		json_object_seed(seed | 1);
	}
	if (tk_cni_env_parse(env_get, &p.env, &p.error) < 0)
		return fail(&p);
	input = read_all(stdin, &len);
	if (!input)
		return tk_cni_fail(&p.error, TK_CNI_ERR_IO, "cannot read the network configuration",
				   "stdin is unreadable or larger than 1 MiB"),
		       fail(&p);
	if (tk_cni_config_parse(input, len, &p.env, ipam, &p.cfg, &p.error) < 0) {
		if (p.env.command != TK_CNI_VERSION) {
			r = fail(&p);
			tk_cni_config_done(&p.cfg);
			return r;
		}
	}
	p.socket = p.cfg.socket ?: getenv("TK_NETD_SOCKET") ?: TK_NETD_SOCKET;
	switch (p.env.command) {
	case TK_CNI_VERSION:
		r = plugin_print(tk_cni_version_result(p.cfg.version)) == 0 ? 0 : -1;
		break;
	case TK_CNI_ADD: r = verbs->add(&p); break;
	case TK_CNI_DEL: r = cmd_del(&p); break;
	case TK_CNI_CHECK: r = verbs->check(&p); break;
	case TK_CNI_STATUS: r = cmd_status(&p); break;
	case TK_CNI_GC: r = cmd_gc(&p); break;
	default: r = tk_cni_fail(&p.error, TK_CNI_ERR_INVALID_ENV, "unknown command", "?");
	}
	if (r < 0)
		r = fail(&p);
	tk_cni_config_done(&p.cfg);
	closep(&p.netns_fd);
	return r;
}
