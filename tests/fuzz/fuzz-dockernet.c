/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the Docker NetworkDriver/IpamDriver request decoder as netd runs it on every
 * request.  The first line of the input is the URL path, the rest the body; ids that decode go
 * through the names netd derives from them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dockernet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t path_len = nl ? (size_t)(nl - data) : size;
	struct tk_dnet_request req;
	char *path = strndup((const char *)data, path_len);
	const char *body = nl ? (const char *)nl + 1 : NULL;
	size_t body_len = nl ? size - path_len - 1 : 0;
	char name[TK_NAME_MAX + 1];

	if (!path)
		return 0;
	if (tk_dnet_request_decode(path, body, body_len, &req, NULL) == 0) {
		if (req.network_id &&
		    tk_dnet_network_name(req.network_id, name, sizeof(name), NULL) == 0)
			(void)tk_name_validate(name, "network name", NULL);
		if (req.endpoint_id)
			(void)tk_dnet_endpoint_ifname(req.endpoint_id, name, sizeof(name), NULL);
		if (req.tenant)
			(void)tk_name_validate(req.tenant, "tenant name", NULL);
		tk_dnet_request_done(&req);
	}
	free(path);
	return 0;
}
