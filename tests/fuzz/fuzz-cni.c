/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the CNI side of the plugins (lib/cni.c).  The first byte picks the verb and
 * whether this is the IPAM plugin, the next ones up to a NUL become CNI_ARGS, the rest is the
 * network configuration on stdin.  Whatever parses must also render a result and an error.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cni.h"

static const char *cni_args, *cni_command;

static const char *get(const char *name)
{
	if (strcmp(name, "CNI_COMMAND") == 0)
		return cni_command;
	if (strcmp(name, "CNI_ARGS") == 0)
		return cni_args;
	if (strcmp(name, "CNI_CONTAINERID") == 0)
		return "fuzz";
	if (strcmp(name, "CNI_IFNAME") == 0)
		return "eth0";
	if (strcmp(name, "CNI_NETNS") == 0)
		return "/run/netns/fuzz";
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const commands[] = { "ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION" };
	char args[256] = "";
	struct tk_cni_env env;
	struct tk_cni_config cfg;
	struct tk_cni_error e = {};
	const uint8_t *nul;
	size_t n;

	if (size < 1)
		return 0;
	nul = memchr(data + 1, 0, size - 1);
	n = nul ? (size_t)(nul - data - 1) : 0;
	if (n >= sizeof(args))
		n = sizeof(args) - 1;
	memcpy(args, data + 1, n);
	cni_args = args;
	cni_command = commands[(data[0] & 0x7f) % 6];
	if (tk_cni_env_parse(get, &env, &e) < 0)
		return 0;
	data += 1 + (nul ? n + 1 : 0);
	size -= 1 + (nul ? n + 1 : 0);
	if (tk_cni_config_parse((const char *)data, size, &env, data[-1] & 0x80, &cfg, &e) == 0 &&
	    env.command != TK_CNI_VERSION) {
		json_t *ep = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}", "host_ifname",
				       "tkv00000001", "ifname", "eth0", "mac", "02:00:00:00:00:01",
				       "ips", "address", "10.0.0.2/24", "gateway", "10.0.0.1",
				       "version", "4");
		json_decref(tk_cni_result(&cfg, ep, "0a:7e:00:00:00:01", "/run/netns/fuzz"));
		json_decref(tk_cni_ipam_result(&cfg, ep));
		if (cfg.valid_attachments)
			(void)tk_cni_attachment_valid(cfg.valid_attachments, "a", "eth0");
		json_decref(ep);
	}
	json_decref(tk_cni_error_json(cfg.version, &e));
	tk_cni_config_done(&cfg);
	return 0;
}
