/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running the filesystem tools (mkfs, resize2fs) that have no library interface. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "volumed.h"

extern char **environ;

int run_program(const char *const argv[], tk_err *err)
{
	_cleanup_close_ int out_r = -1, out_w = -1;
	posix_spawn_file_actions_t actions;
	char output[400] = "";
	size_t len = 0;
	int pipefd[2], status, r;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return tk_err_set(err, -errno, "pipe: %m");
	out_r = pipefd[0];
	out_w = pipefd[1];
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, out_w, 1);
	posix_spawn_file_actions_adddup2(&actions, out_w, 2);
	/* posix_spawnp only reads argv; its prototype predates const. */
	r = posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	if (r != 0)
		return tk_err_set(err, -r, "cannot run %s: %s", argv[0], strerror(r));
	close(TAKE_FD(out_w));
	/* Keep the start of the output: tools print the reason first. */
	while ((n = read(out_r, output + len, sizeof(output) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
		if (len == sizeof(output) - 1) {
			char sink[4096];
			while (read(out_r, sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	output[len] = '\0';
	while (len && (output[len - 1] == '\n' || output[len - 1] == ' '))
		output[--len] = '\0';
	for (char *p = output; *p; p++)
		if (*p == '\n')
			*p = ' ';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return tk_err_set(err, -errno, "waiting for %s: %m", argv[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return tk_err_set(err, -EIO, "%s failed (exit %d): %s", argv[0],
				  WEXITSTATUS(status), output);
	return tk_err_set(err, -EIO, "%s killed by signal %d", argv[0], WTERMSIG(status));
}
