/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Decoding of Docker volume-plugin API requests (docs.docker.com/engine/extend/plugins_volume):
 * POST /Plugin.Activate, /VolumeDriver.{Create,Remove,Mount,Unmount,Path,Get,List,Capabilities}
 * with a JSON body.  Pure functions, so unit tests and the fuzzer reach them without a socket.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum tk_docker_op {
	TK_DOCKER_ACTIVATE,
	TK_DOCKER_CREATE,
	TK_DOCKER_REMOVE,
	TK_DOCKER_MOUNT,
	TK_DOCKER_UNMOUNT,
	TK_DOCKER_PATH,
	TK_DOCKER_GET,
	TK_DOCKER_LIST,
	TK_DOCKER_CAPABILITIES,
};

struct tk_docker_request {
	enum tk_docker_op op;
	const char *name; /* Create, Remove, Mount, Unmount, Path, Get; points into body */
	const char *id;	  /* Mount, Unmount: the caller's mount id */
	json_t *opts;	  /* Create: the Opts object (borrowed from body), NULL when absent */
	json_t *body;	  /* owned; NULL for an empty body */
};

/* What volumed accepts in Create's Opts (all values are strings, as Docker sends them). */
struct tk_docker_create_opts {
	const char *tenant; /* required */
	uint64_t size;	    /* required */
	const char *backend, *fs;
	uint32_t uid, gid, mode;
};

/*
 * Decodes one request: the URL path names the op, body (may be empty) carries its arguments.
 * -ENOENT for an unknown path, -EBADMSG for a body that is not a JSON object, -EINVAL for a
 * missing or mistyped field.
 */
int tk_docker_request_decode(const char *path, const char *body, size_t len,
			     struct tk_docker_request *ret, tk_err *err);
void tk_docker_request_done(struct tk_docker_request *req);

/* Validates Create's Opts (NULL: none given). Unknown keys are refused, so typos surface. */
int tk_docker_create_opts_decode(json_t *opts, struct tk_docker_create_opts *ret, tk_err *err);
