/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the local protocol decoder — one message as netd receives it (JSON parse,
 * request validation) and as clients receive replies — plus the address and name parsers every
 * handler runs on its arguments.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "json.h"
#include "rpc.h"

static void parse_strings(json_t *args)
{
	const char *key;
	json_t *value;
	uint8_t mac[6];
	struct tk_prefix p;
	struct tk_addr a;

	json_object_foreach(args, key, value)
	{
		const char *s = json_string_value(value);
		if (!s)
			continue;
		(void)tk_prefix_parse(s, &p, NULL);
		(void)tk_prefix_parse_host(s, &p, NULL);
		(void)tk_addr_parse(s, &a, NULL);
		(void)tk_mac_parse(s, mac, NULL);
		(void)tk_name_validate(s, key, NULL);
		(void)tk_ifname_validate(s, NULL);
		(void)tk_container_id_validate(s, NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *msg = NULL, *args = NULL, *result = NULL;
	const char *op;
	tk_err err = {};

	if (tk_json_parse((const char *)data, size, "message", &msg, &err) < 0)
		return 0;
	if (tk_rpc_parse_request(msg, &op, &args, &err) == 0)
		parse_strings(args);
	if (tk_rpc_parse_reply(msg, &result, &err) == 0)
		json_decref(result);
	json_decref(tk_rpc_reply_error(&err));
	json_decref(msg);
	return 0;
}
