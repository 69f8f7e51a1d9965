/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tcx-progs DEV [egress]: the BPF programs on DEV's tcx ingress (or egress), "ID NAME" a line
 * (the fast path's is tk_fast, docs/firewall.md; a shaped port's meter tk_meter_in and its
 * bridge's tk_meter_out, docs/bandwidth.md).  Debian 12's bpftool predates tcx, and tc does not list it.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TK_BPF_TCX_INGRESS 46
#define TK_BPF_TCX_EGRESS  47

static int bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

int main(int argc, char **argv)
{
	uint32_t ids[64];
	union bpf_attr q = {};
	unsigned ifindex;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "egress") != 0) ||
	    !(ifindex = if_nametoindex(argv[1]))) {
		fprintf(stderr, "usage: tcx-progs DEV [egress] (DEV an existing interface)\n");
		return 2;
	}
	q.query.target_fd = ifindex;
	q.query.attach_type = argc == 3 ? TK_BPF_TCX_EGRESS : TK_BPF_TCX_INGRESS;
	q.query.prog_ids = (uint64_t)(uintptr_t)ids;
	q.query.prog_cnt = 64;
	if (bpf(BPF_PROG_QUERY, &q) < 0) {
		fprintf(stderr, "tcx-progs: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (uint32_t i = 0; i < q.query.prog_cnt && i < 64; i++) {
		union bpf_attr get = { .prog_id = ids[i] };
		struct bpf_prog_info info = {};
		union bpf_attr attr = { .info = { .info_len = sizeof(info),
						  .info = (uint64_t)(uintptr_t)&info } };
		int fd = bpf(BPF_PROG_GET_FD_BY_ID, &get);

		if (fd < 0)
			continue;
		attr.info.bpf_fd = (uint32_t)fd;
		if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) == 0)
			printf("%u %s\n", ids[i], info.name);
		close(fd);
	}
	return 0;
}
