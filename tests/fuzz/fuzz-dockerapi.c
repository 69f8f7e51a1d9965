/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the Docker volume-plugin API decoder as volumed runs it on every request.
 * The first line of the input is the URL path, the rest the body; Create's options are decoded
 * too, and the name goes through the validation volumed applies before touching any path.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dockerapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t path_len = nl ? (size_t)(nl - data) : size;
	struct tk_docker_request req;
	struct tk_docker_create_opts opts;
	char *path = strndup((const char *)data, path_len);
	const char *body = nl ? (const char *)nl + 1 : NULL;
	size_t body_len = nl ? size - path_len - 1 : 0;

	if (!path)
		return 0;
	if (tk_docker_request_decode(path, body, body_len, &req, NULL) == 0) {
		if (req.name)
			(void)tk_name_validate(req.name, "volume name", NULL);
		if (req.op == TK_DOCKER_CREATE &&
		    tk_docker_create_opts_decode(req.opts, &opts, NULL) == 0)
			(void)tk_name_validate(opts.tenant, "tenant name", NULL);
		tk_docker_request_done(&req);
	}
	free(path);
	return 0;
}
