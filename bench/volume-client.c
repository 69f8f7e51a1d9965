/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * volumed's side of bench/volumes: volume.create or volume.delete of volumes PREFIX<FROM> ..
 * PREFIX<TO-1>, each request on its own connection as volctl or the Docker plugin makes it, timed
 * with CLOCK_MONOTONIC from connect to reply, so no process start-up is in the numbers.
 *
 * Usage: bench-volume-client SOCKET WHO create|delete PREFIX FROM TO [TENANT SIZE BACKEND]
 *   (create needs TENANT, SIZE and BACKEND); prints one "WHO create|delete <microseconds>" line
 *   per volume.
 *        bench-volume-client SOCKET call OP [ARGS-JSON]
 *   one request, untimed; prints the result as JSON (the script's setup, without volctl).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rpc.h"

static json_t *call(const char *socket, const char *op, json_t *args)
{
	json_t *result = NULL;
	tk_err err = {};

	if (!args) {
		fprintf(stderr, "bench-volume-client: %s: bad or no arguments\n", op);
		exit(EXIT_FAILURE);
	}
	if (tk_rpc_call(socket, op, args, &result, &err) < 0) {
		const char *name = json_string_value(json_object_get(args, "name"));
		fprintf(stderr, "bench-volume-client: %s '%s': %s\n", op, name ? name : "",
			err.msg);
		exit(EXIT_FAILURE);
	}
	json_decref(args);
	return result;
}

static int call_once(const char *socket, const char *op, const char *args)
{
	json_t *result = call(socket, op, args ? json_loads(args, 0, NULL) : json_object());

	json_dumpf(result, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(result);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned from, to;
	bool create;

	if ((argc == 4 || argc == 5) && strcmp(argv[2], "call") == 0)
		return call_once(argv[1], argv[3], argc == 5 ? argv[4] : NULL);
	create = argc == 10 && strcmp(argv[3], "create") == 0;
	if (!create && !(argc == 7 && strcmp(argv[3], "delete") == 0)) {
		fprintf(stderr,
			"Usage: bench-volume-client SOCKET WHO create|delete PREFIX FROM TO "
			"[TENANT SIZE BACKEND]\n"
			"       bench-volume-client SOCKET call OP [ARGS-JSON]\n");
		return 2;
	}
	from = (unsigned)atoi(argv[5]);
	to = (unsigned)atoi(argv[6]);
	for (unsigned i = from; i < to; i++) {
		char name[64];
		double t;

		snprintf(name, sizeof(name), "%s%u", argv[4], i);
		t = now_us();
		if (create)
			json_decref(call(argv[1], "volume.create",
					 json_pack("{s:s, s:s, s:s, s:s}", "name", name, "tenant",
						   argv[7], "size", argv[8], "backend", argv[9])));
		else
			json_decref(
				call(argv[1], "volume.delete", json_pack("{s:s}", "name", name)));
		printf("%s %s %.1f\n", argv[2], argv[3], now_us() - t);
	}
	return 0;
}
