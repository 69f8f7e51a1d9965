/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs a CNI plugin the way a runtime does (spawn, CNI_* environment, configuration on stdin,
 * wait) for containers FROM..TO-1 and prints one "<label> add|del <microseconds>" line each,
 * for bench-report.  The time covers the whole exec, as a runtime experiences it.
 *
 * Usage: bench-cni-driver LABEL PLUGIN CONFIG_FILE add|del FROM TO NETNS_PREFIX CNI_PATH
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

/*
 * posix_spawn, which glibc implements with clone(CLONE_VM | CLONE_VFORK), as Go's os/exec
 * starts processes: the runtimes that exec plugins (containerd, CRI-O, podman) are Go programs
 * far too large to fork.
 */
static int run(const char *plugin, int config_fd, int null_fd, char *const env[])
{
	char *argv[] = { (char *)plugin, NULL };
	posix_spawn_file_actions_t actions;
	int status, r;
	pid_t pid;

	if (lseek(config_fd, 0, SEEK_SET) < 0)
		return -errno;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, config_fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&actions, null_fd, STDOUT_FILENO);
	r = posix_spawn(&pid, plugin, &actions, NULL, argv, env);
	posix_spawn_file_actions_destroy(&actions);
	if (r != 0)
		return -r;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv)
{
	unsigned from, to;
	int config_fd, null_fd;

	if (argc != 9) {
		fprintf(stderr, "Usage: bench-cni-driver LABEL PLUGIN CONFIG_FILE add|del FROM TO "
				"NETNS_PREFIX CNI_PATH\n");
		return 2;
	}
	config_fd = open(argv[3], O_RDONLY | O_CLOEXEC);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (config_fd < 0 || null_fd < 0) {
		perror(config_fd < 0 ? argv[3] : "/dev/null");
		return 1;
	}
	from = (unsigned)atoi(argv[5]);
	to = (unsigned)atoi(argv[6]);
	for (unsigned i = from; i < to; i++) {
		char command[32], id[64], netns[4096], path[4096],
			ifname[] = "CNI_IFNAME=eth0",
			search[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
		char *env[] = { command, id, netns, ifname, path, search, NULL };
		double t;
		int r;

		snprintf(command, sizeof(command), "CNI_COMMAND=%s",
			 strcmp(argv[4], "add") ? "DEL" : "ADD");
		snprintf(id, sizeof(id), "CNI_CONTAINERID=bench-%u", i);
		snprintf(netns, sizeof(netns), "CNI_NETNS=%s%u", argv[7], i);
		snprintf(path, sizeof(path), "CNI_PATH=%s", argv[8]);
		t = now_us();
		r = run(argv[2], config_fd, null_fd, env);
		if (r != 0) {
			fprintf(stderr, "bench-cni-driver: %s %s of container %u failed (%d)\n",
				argv[1], argv[4], i, r);
			return 1;
		}
		printf("%s %s %.1f\n", argv[1], argv[4], now_us() - t);
	}
	return 0;
}
