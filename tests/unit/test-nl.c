/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parts of lib/nl.c that need no kernel: reading the extended ack of an NLMSG_ERROR message
 * (capped or carrying the whole echoed request, with and without TLVs, malformed ones),
 * tk_sysctl_write on ordinary files, an interrupted counter dump's entries made one per link, and
 * the lookups in a listing of links.
 * The messages are built by hand here, byte for byte as the kernel lays them out (netlink(7),
 * "Extended ACK"), so the test shares no code with nl.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nl.h"

/* An NLMSG_ERROR message under construction. */
struct msg {
	union {
		struct nlmsghdr nlh;
		uint32_t align[256];
	};
};

/*
 * Starts an error message that answers a request of request_payload bytes; the echoed request
 * is cut to its header when capped.
 */
static struct nlmsghdr *error_start(struct msg *m, uint16_t flags, size_t request_payload,
				    bool capped)
{
	struct nlmsgerr *e;
	size_t echoed = capped ? 0 : NLMSG_ALIGN(request_payload);

	memset(m, 0, sizeof(*m));
	m->nlh.nlmsg_type = NLMSG_ERROR;
	m->nlh.nlmsg_flags = flags | (capped ? NLM_F_CAPPED : 0);
	m->nlh.nlmsg_len = NLMSG_HDRLEN + sizeof(*e) + echoed;
	e = NLMSG_DATA(&m->nlh);
	e->error = -EINVAL;
	e->msg.nlmsg_len = NLMSG_HDRLEN + request_payload;
	e->msg.nlmsg_type = 16; /* RTM_NEWLINK */
	/* The echoed payload: bytes that must not be read as attributes. */
	memset((char *)(e + 1), 0x01, echoed);
	return &m->nlh;
}

/* Appends an attribute of type with len bytes of data. */
static void attr_put(struct nlmsghdr *nlh, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)(void *)((char *)nlh + NLMSG_ALIGN(nlh->nlmsg_len));

	assert_true(NLMSG_ALIGN(nlh->nlmsg_len) + NLA_HDRLEN + NLA_ALIGN(len) <=
		    sizeof(struct msg));
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void attr_put_str(struct nlmsghdr *nlh, uint16_t type, const char *s)
{
	attr_put(nlh, type, s, strlen(s) + 1);
}

static void attr_put_u32(struct nlmsghdr *nlh, uint16_t type, uint32_t v)
{
	attr_put(nlh, type, &v, sizeof(v));
}

static const char *extack_of(const struct nlmsghdr *nlh)
{
	static char buf[200];

	strcpy(buf, "not cleared");
	tk_netlink_extack(nlh, buf, sizeof(buf));
	return buf;
}

static void test_extack_capped(void **state)
{
	struct msg m;
	struct nlmsghdr *nlh;

	(void)state;
	nlh = error_start(&m, NLM_F_ACK_TLVS, 64, true);
	attr_put_str(nlh, NLMSGERR_ATTR_MSG, "Exchange full");
	assert_string_equal(extack_of(nlh), "Exchange full");

	/* Other TLVs (the offset of the bad attribute) around the message are skipped. */
	nlh = error_start(&m, NLM_F_ACK_TLVS, 64, true);
	attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 24);
	attr_put_str(nlh, NLMSGERR_ATTR_MSG, "Invalid MTU");
	attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 28);
	assert_string_equal(extack_of(nlh), "Invalid MTU");
}

static void test_extack_uncapped(void **state)
{
	struct msg m;
	struct nlmsghdr *nlh;

	(void)state;
	/* The TLVs follow the whole echoed request, whose length is not a multiple of 4. */
	nlh = error_start(&m, NLM_F_ACK_TLVS, 37, false);
	attr_put_str(nlh, NLMSGERR_ATTR_MSG, "Device does not exist");
	assert_string_equal(extack_of(nlh), "Device does not exist");

	nlh = error_start(&m, NLM_F_ACK_TLVS, 0, false);
	attr_put_str(nlh, NLMSGERR_ATTR_MSG, "Unknown device type");
	assert_string_equal(extack_of(nlh), "Unknown device type");
}

static void test_extack_none(void **state)
{
	struct msg m;
	struct nlmsghdr *nlh;
	char small[8];

	(void)state;
	/* No NLM_F_ACK_TLVS: whatever follows is not extack, and the buffer is cleared. */
	nlh = error_start(&m, 0, 64, true);
	attr_put_str(nlh, NLMSGERR_ATTR_MSG, "ignored");
	assert_string_equal(extack_of(nlh), "");
	/* TLVs flagged, but none present. */
	nlh = error_start(&m, NLM_F_ACK_TLVS, 64, true);
	assert_string_equal(extack_of(nlh), "");
	/* Only an offset. */
	nlh = error_start(&m, NLM_F_ACK_TLVS, 64, true);
	attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 20);
	assert_string_equal(extack_of(nlh), "");
	/* A message without its terminating NUL is not read past its end. */
	nlh = error_start(&m, NLM_F_ACK_TLVS, 64, true);
	attr_put(nlh, NLMSGERR_ATTR_MSG, "unterminated", 12);
	assert_string_equal(extack_of(nlh), "");
	/* A long message is cut to the buffer, NUL-terminated. */
	nlh = error_start(&m, NLM_F_ACK_TLVS, 64, true);
	attr_put_str(nlh, NLMSGERR_ATTR_MSG, "a rather long extack message");
	memset(small, 'x', sizeof(small));
	tk_netlink_extack(nlh, small, sizeof(small));
	assert_string_equal(small, "a rathe");
}

static void test_sysctl_write(void **state)
{
	char path[] = "/tmp/tk-unit-sysctl.XXXXXX", buf[16] = "";
	tk_err err = {};
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(tk_sysctl_write(path, "1", &err), 0);
	assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), 1);
	assert_string_equal(buf, "1");
	close(fd);
	/* The file is not created: a missing sysctl is an error naming it. */
	unlink(path);
	assert_int_equal(tk_sysctl_write(path, "1", &err), -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	if (!strstr(err.msg, path))
		fail_msg("'%s' does not name '%s'", err.msg, path);
	assert_int_equal(access(path, F_OK), -1);
	/* A directory cannot be written. */
	assert_int_equal(tk_sysctl_write("/tmp", "1", NULL), -EISDIR);
}

/* An interrupted dump's reading: one entry per link, each counter the largest seen. */
static void test_link_stats_unique(void **state)
{
	/* Out of order, link 9 three times: each of its counters grows in one of its entries. */
	struct tk_link_stats v[] = {
		{ 9, 100, 1, 200, 2 }, { 3, 5, 5, 5, 5 },   { 9, 150, 1, 180, 3 },
		{ 1, 0, 0, 0, 0 },     { 9, 120, 2, 0, 0 },
	};
	struct tk_link_stats one = { 7, 1, 2, 3, 4 };

	(void)state;
	assert_int_equal(tk_link_stats_unique(v, 5), 3);
	assert_int_equal(v[0].ifindex, 1);
	assert_int_equal(v[1].ifindex, 3);
	assert_int_equal(v[1].rx_bytes, 5);
	assert_int_equal(v[2].ifindex, 9);
	assert_int_equal(v[2].rx_bytes, 150);
	assert_int_equal(v[2].rx_packets, 2);
	assert_int_equal(v[2].tx_bytes, 200);
	assert_int_equal(v[2].tx_packets, 3);
	assert_int_equal(tk_link_stats_unique(&one, 1), 1);
	assert_int_equal(one.tx_packets, 4);
	assert_int_equal(tk_link_stats_unique(NULL, 0), 0);
}

static int count_link(const struct tk_link_info *link, void *userdata)
{
	char *seen = userdata;

	strcat(seen, link->name);
	strcat(seen, " ");
	return strcmp(link->name, "tk-2") == 0 ? -ECANCELED : 0;
}

/* A listing's lookups: by name, and every name under a prefix, in order, without the kernel. */
static void test_link_list(void **state)
{
	static const char *const names[] = { "eth0",	    "lo",	   "tk-1", "tk-2",
					     "tkv00000001", "tkv00000002", "tkx1" };
	struct tk_link_list list = { calloc(7, sizeof(struct tk_link_info)), 7, false };
	struct tk_link_list empty = {};
	char seen[128];

	(void)state;
	assert_non_null(list.links);
	for (size_t i = 0; i < 7; i++) {
		snprintf(list.links[i].name, sizeof(list.links[i].name), "%s", names[i]);
		list.links[i].ifindex = (int)i + 1;
	}
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(tk_link_list_find(&list, names[i])->ifindex, (int)i + 1);
	assert_null(tk_link_list_find(&list, "tk"));	     /* a prefix of names, not a name */
	assert_null(tk_link_list_find(&list, "tkv0000000")); /* one character short */
	assert_null(tk_link_list_find(&list, "a"));	     /* before the first */
	assert_null(tk_link_list_find(&list, "zz"));	     /* after the last */

	seen[0] = 0;
	assert_int_equal(tk_link_list_foreach(&list, "tkv", count_link, seen), 0);
	assert_string_equal(seen, "tkv00000001 tkv00000002 ");
	seen[0] = 0;
	assert_int_equal(tk_link_list_foreach(&list, "tkx", count_link, seen), 0);
	assert_string_equal(seen, "tkx1 ");
	seen[0] = 0;
	assert_int_equal(tk_link_list_foreach(&list, "tkz", count_link, seen), 0);
	assert_string_equal(seen, "");
	/* cb's error stops the walk: nothing after tk-2 is seen. */
	seen[0] = 0;
	assert_int_equal(tk_link_list_foreach(&list, "", count_link, seen), -ECANCELED);
	assert_string_equal(seen, "eth0 lo tk-1 tk-2 ");

	assert_null(tk_link_list_find(&empty, "lo"));
	assert_int_equal(tk_link_list_foreach(&empty, "", count_link, seen), 0);
	tk_link_list_done(&list);
	assert_null(list.links);
	assert_int_equal(list.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extack_capped),	  cmocka_unit_test(test_extack_uncapped),
		cmocka_unit_test(test_extack_none),	  cmocka_unit_test(test_sysctl_write),
		cmocka_unit_test(test_link_stats_unique), cmocka_unit_test(test_link_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
