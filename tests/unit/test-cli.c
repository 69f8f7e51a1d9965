/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tools/common: the one mapping from a failure to netctl's and volctl's exit status, seen
 * through cli_main and cli_call against a daemon played by a thread.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "cli.h"
#include "json.h"
#include "rpc.h"

static void test_exit_code(void **state)
{
	(void)state;
	assert_int_equal(cli_exit_code(0, true), 0);
	assert_int_equal(cli_exit_code(5, true), 0);
	/* Nothing reached: 3, whatever the reason. */
	assert_int_equal(cli_exit_code(-ENOENT, false), EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_code(-ECONNREFUSED, false), EXIT_UNREACHABLE);
	/* Reached, but the answer was no answer: 3. */
	assert_int_equal(cli_exit_code(-EBADMSG, true), EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_code(-ECONNRESET, true), EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_code(-EPIPE, true), EXIT_UNREACHABLE);
	assert_int_equal(cli_exit_code(-ETIMEDOUT, true), EXIT_UNREACHABLE);
	/* The daemon said no: 1, also for codes that would mean "unreachable" before connecting. */
	assert_int_equal(cli_exit_code(-ENOENT, true), EXIT_REFUSED);
	assert_int_equal(cli_exit_code(-EACCES, true), EXIT_REFUSED);
	assert_int_equal(cli_exit_code(-EEXIST, true), EXIT_REFUSED);
}

/* A daemon for one request: answers with reply (a JSON text) or closes when it is NULL. */
struct daemon {
	int listen_fd;
	const char *reply;
};

static void *serve_one(void *userdata)
{
	struct daemon *d = userdata;
	_cleanup_close_ int fd = -1;
	char buf[4096];

	for (;;) {
		fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0 || errno != EAGAIN)
			break;
		usleep(1000);
	}
	if (fd < 0 || recv(fd, buf, sizeof(buf), 0) <= 0)
		return NULL;
	if (d->reply)
		(void)send(fd, d->reply, strlen(d->reply), MSG_NOSIGNAL);
	return NULL;
}

static int cmd_ping(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *result = NULL;

	(void)argc, (void)argv;
	return cli_call("ping", NULL, &result);
}

static const struct cli_command commands[] = { { "ping", cmd_ping, "testctl ping" } };

static const struct cli_program testctl = {
	.name = "testctl",
	.daemon = "testd",
	.socket_env = "TK_TESTD_SOCKET",
	.default_socket = "/nonexistent/testd.sock",
	.summary = "Test.",
};

/* The exit status of "testctl --socket path ping" against a daemon that answers reply. */
static int run_ping(const char *path, const char *reply)
{
	char *argv[] = { (char *)"testctl", (char *)"--socket", (char *)path, (char *)"ping",
			 NULL };
	struct daemon d = { .listen_fd = -1, .reply = reply };
	pthread_t thread;
	int status;

	if (reply || strcmp(path, "/nonexistent/testd.sock") != 0) {
		assert_int_equal(tk_rpc_listen(path, 0600, &d.listen_fd, NULL), 0);
		assert_int_equal(pthread_create(&thread, NULL, serve_one, &d), 0);
	}
	optind = 0;
	status = cli_main(&testctl, commands, ELEMENTSOF(commands), 4, argv);
	if (d.listen_fd >= 0) {
		assert_int_equal(pthread_join(thread, NULL), 0);
		close(d.listen_fd);
		unlink(path);
	}
	return status;
}

static void test_call(void **state)
{
	char dir[] = "/tmp/tk-test-cli.XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.sock", dir);
	assert_int_equal(run_ping(path, "{\"ok\":true,\"result\":{}}"), 0);
	assert_int_equal(run_ping(path, "{\"ok\":false,\"error\":{\"code\":13,\"msg\":\"no\"}}"),
			 EXIT_REFUSED);
	assert_int_equal(run_ping(path, "{\"ok\":false,\"error\":{\"code\":2,\"msg\":\"none\"}}"),
			 EXIT_REFUSED);
	assert_int_equal(run_ping(path, "{\"okay\":1}"), EXIT_UNREACHABLE);
	assert_int_equal(run_ping(path, NULL), EXIT_UNREACHABLE);
	assert_int_equal(run_ping("/nonexistent/testd.sock", NULL), EXIT_UNREACHABLE);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_call),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
