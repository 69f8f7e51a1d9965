/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Traffic control for per-tenant shaping: IFB devices, HTB classes, port redirection. */
#include "tc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>

#include "cleanup.h"
#include "nl-private.h"
#include "nl.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_qdisc *, rtnl_qdisc_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_class *, rtnl_class_put);

static int fail(struct tk_nl *nl, int nle, tk_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct tk_nl *nl, int nle, tk_err *err, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return tk_nl_fail(nl, nle, err, what);
}

int tk_tc_ifb_ensure(struct tk_nl *nl, const char *name, int *ret_ifindex, bool *ret_created,
		     tk_err *err)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_alloc();
	_cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	bool created = false;
	int ifindex, r;

	if (!link || !q)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (tk_nl_ifindex(nl, name, &ifindex, NULL) < 0) {
		rtnl_link_set_name(link, name);
		if (rtnl_link_set_type(link, "ifb") < 0)
			return tk_err_set(err, -EOPNOTSUPP, "libnl knows no 'ifb' links");
		if ((r = rtnl_link_add(tk_nl_request(nl), link, NLM_F_CREATE | NLM_F_EXCL)) < 0)
			return fail(nl, r, err, "cannot create shaping device '%s'", name);
		if ((r = tk_nl_ifindex(nl, name, &ifindex, err)) < 0)
			return r;
		created = true;
	}
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), TK_TC_HANDLE(1, 0));
	if (rtnl_tc_set_kind(TC_CAST(q), "htb") < 0)
		return tk_err_set(err, -EOPNOTSUPP, "libnl knows no 'htb' qdisc");
	rtnl_htb_set_defcls(q, 0); /* unclassified: the direct queue, unshaped */
	r = rtnl_qdisc_add(tk_nl_request(nl), q, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0 && r != -NLE_EXIST) {
		r = fail(nl, r, err, "cannot add the HTB qdisc of '%s'", name);
		if (created)
			(void)tk_nl_link_del(nl, name, NULL);
		return r;
	}
	if ((r = tk_nl_link_set_up(nl, ifindex, err)) < 0)
		return r;
	*ret_ifindex = ifindex;
	if (ret_created)
		*ret_created = created;
	return 0;
}

/*
 * fq_codel where the kernel has it.  Else a TBF four times faster than the class's ceil with
 * a bucket of 10 frames, which hardly holds traffic back itself (a throttled leaf stalls the HTB
 * above it): it splits GSO packets (up to 64 KiB each) into frames, and queues
 * 20 ms of them at the class's ceil (at least 64 frames) in its byte FIFO.  A FIFO of whole GSO
 * packets would drop 44 frames of one flow at a time, and TCP would not fill the limit.
 */
static int leaf_set(struct tk_nl *nl, int ifindex, uint16_t minor, uint64_t ceil, tk_err *err)
{
	static bool no_fq_codel;
	uint64_t limit = ceil / 8 / 50, fast = ceil / 8 * 4;
	int r;

	if (limit < 64 * 1514)
		limit = 64 * 1514;
	if (limit > 1 << 24)
		limit = 1 << 24;
	if (fast > INT32_MAX)
		fast = INT32_MAX;
	for (int pass = no_fq_codel; pass < 2; pass++) {
		_cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();

		if (!q)
			return tk_err_set(err, -ENOMEM, "out of memory");
		rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
		rtnl_tc_set_parent(TC_CAST(q), TK_TC_HANDLE(1, minor));
		rtnl_tc_set_handle(TC_CAST(q), TK_TC_HANDLE(minor, 0));
		if (rtnl_tc_set_kind(TC_CAST(q), pass == 0 ? "fq_codel" : "tbf") < 0)
			return tk_err_set(err, -EOPNOTSUPP, "libnl knows no leaf qdisc");
		if (pass == 1) {
			rtnl_qdisc_tbf_set_limit(q, (int)limit);
			rtnl_qdisc_tbf_set_rate(q, (int)fast, 10 * 1514, 0);
		}
		r = rtnl_qdisc_add(tk_nl_request(nl), q, NLM_F_CREATE | NLM_F_REPLACE);
		if (r >= 0)
			return 0;
		if (pass == 1)
			return fail(nl, r, err, "cannot add the leaf qdisc of class 1:%x", minor);
		no_fq_codel = true; /* this kernel has no fq_codel: "qdisc kind is unknown" */
	}
	return 0;
}

int tk_tc_class_set(struct tk_nl *nl, int ifindex, uint16_t parent_minor, uint16_t minor,
		    uint64_t rate, uint64_t ceil, uint32_t quantum, bool leaf, tk_err *err)
{
	_cleanup_(rtnl_class_putp) struct rtnl_class *c = rtnl_class_alloc();
	/* Bursts of 2 ms at the rate: small enough for the first second to keep the limit,
	 * large enough that the timer does not cap a fast class; at least 10 full frames. */
	uint64_t rbuf = rate / 8 / 500, cbuf = ceil / 8 / 500;
	int r;

	if (!c)
		return tk_err_set(err, -ENOMEM, "out of memory");
	rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
	rtnl_tc_set_parent(TC_CAST(c), TK_TC_HANDLE(1, parent_minor));
	rtnl_tc_set_handle(TC_CAST(c), TK_TC_HANDLE(1, minor));
	if (rtnl_tc_set_kind(TC_CAST(c), "htb") < 0)
		return tk_err_set(err, -EOPNOTSUPP, "libnl knows no 'htb' class");
	rtnl_htb_set_rate64(c, rate / 8);
	rtnl_htb_set_ceil64(c, ceil / 8);
	rtnl_htb_set_rbuffer(c, (uint32_t)(rbuf < 15140 ? 15140 : rbuf > 1 << 24 ? 1 << 24 : rbuf));
	rtnl_htb_set_cbuffer(c, (uint32_t)(cbuf < 15140 ? 15140 : cbuf > 1 << 24 ? 1 << 24 : cbuf));
	rtnl_htb_set_quantum(c, quantum);
	if ((r = rtnl_class_add(tk_nl_request(nl), c, NLM_F_CREATE)) < 0)
		return fail(nl, r, err, "cannot set HTB class 1:%x", minor);
	return leaf ? leaf_set(nl, ifindex, minor, ceil, err) : 0;
}

int tk_tc_class_del(struct tk_nl *nl, int ifindex, uint16_t minor, tk_err *err)
{
	_cleanup_(rtnl_class_putp) struct rtnl_class *c = rtnl_class_alloc();
	int r;

	if (!c)
		return tk_err_set(err, -ENOMEM, "out of memory");
	rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
	rtnl_tc_set_handle(TC_CAST(c), TK_TC_HANDLE(1, minor));
	if (rtnl_tc_set_kind(TC_CAST(c), "htb") < 0)
		return tk_err_set(err, -EOPNOTSUPP, "libnl knows no 'htb' class");
	if ((r = rtnl_class_delete(tk_nl_request(nl), c)) < 0)
		return fail(nl, r, err, "cannot delete HTB class 1:%x", minor);
	return 0;
}

static int send_tc(struct tk_nl *nl, struct nl_msg *msg, tk_err *err, const char *what, int ifindex)
{
	int r = nl_send_sync(tk_nl_request(nl), msg); /* frees msg */

	return r < 0 ? fail(nl, r, err, "cannot %s on interface %d", what, ifindex) : 0;
}

static struct nl_msg *tc_msg(int type, int flags, int ifindex, uint32_t parent, uint32_t handle,
			     uint32_t info)
{
	struct tcmsg tcm = { .tcm_family = AF_UNSPEC,
			     .tcm_ifindex = ifindex,
			     .tcm_parent = parent,
			     .tcm_handle = handle,
			     .tcm_info = info };
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (msg && nlmsg_append(msg, &tcm, sizeof(tcm), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/*
 * skb->priority = classid; return -1 ("matched, default class"), after which the filter's
 * mirred action redirects.  A classic classifier cannot write the priority, and this kernel
 * family may lack the skbedit action and the matchall classifier.
 */
static int classifier_load(uint32_t classid, tk_err *err)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K,
		  .dst_reg = BPF_REG_2,
		  .imm = (int32_t)classid },
		{ .code = BPF_STX | BPF_MEM | BPF_W,
		  .dst_reg = BPF_REG_1,
		  .src_reg = BPF_REG_2,
		  .off = offsetof(struct __sk_buff, priority) },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static const char license[] = "GPL";
	union bpf_attr attr = {};
	int fd;

	attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = ELEMENTSOF(insns);
	attr.license = (uint64_t)(uintptr_t)license;
	memcpy(attr.prog_name, "tk_shape", sizeof("tk_shape"));
	fd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0)
		return tk_err_set(err, -errno, "cannot load the shaping classifier (BPF): %m");
	return fd;
}

static int redirect_add(struct tk_nl *nl, int ifindex, bool from_port, int ifb, uint32_t classid,
			tk_err *err)
{
	_cleanup_close_ int fd = classifier_load(classid, err);
	struct tc_mirred mirred = { .action = TC_ACT_STOLEN,
				    .eaction = TCA_EGRESS_REDIR,
				    .ifindex = (uint32_t)ifb };
	struct nl_msg *msg;
	struct nlattr *opts, *acts, *act, *aopts;

	if (fd < 0)
		return fd;
	msg = tc_msg(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, ifindex,
		     TC_H_MAKE(TC_H_CLSACT, from_port ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS), 1,
		     TC_H_MAKE(1u << 16, htons(ETH_P_ALL)));
	if (!msg || nla_put_string(msg, TCA_KIND, "bpf") < 0 ||
	    !(opts = nla_nest_start(msg, TCA_OPTIONS)) || nla_put_u32(msg, TCA_BPF_FD, fd) < 0 ||
	    nla_put_string(msg, TCA_BPF_NAME, "tk_shape") < 0 ||
	    !(acts = nla_nest_start(msg, TCA_BPF_ACT)) || !(act = nla_nest_start(msg, 1)) ||
	    nla_put_string(msg, TCA_ACT_KIND, "mirred") < 0 ||
	    !(aopts = nla_nest_start(msg, TCA_ACT_OPTIONS)) ||
	    nla_put(msg, TCA_MIRRED_PARMS, sizeof(mirred), &mirred) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	nla_nest_end(msg, aopts);
	nla_nest_end(msg, act);
	nla_nest_end(msg, acts);
	nla_nest_end(msg, opts);
	return send_tc(nl, msg, err, from_port ? "redirect ingress" : "redirect egress", ifindex);
}

int tk_tc_port_redirect(struct tk_nl *nl, int ifindex, int from_port, uint32_t from_classid,
			int to_port, uint32_t to_classid, tk_err *err)
{
	uint32_t clsact = TC_H_MAKE(TC_H_CLSACT, 0);
	struct nl_msg *msg;
	tk_err e = {};
	int r;

	/* Whatever was there goes with the clsact qdisc, filters and all. */
	if (!(msg = tc_msg(RTM_DELQDISC, NLM_F_REQUEST, ifindex, TC_H_CLSACT, clsact, 0)) ||
	    nla_put_string(msg, TCA_KIND, "clsact") < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	r = send_tc(nl, msg, &e, "remove clsact", ifindex);
	if (r < 0 && r != -ENOENT && r != -EINVAL)
		return tk_err_set(err, r, "%s", e.msg);
	if (!from_port && !to_port)
		return 0;
	if (!(msg = tc_msg(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, ifindex,
			   TC_H_CLSACT, clsact, 0)) ||
	    nla_put_string(msg, TCA_KIND, "clsact") < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	if ((r = send_tc(nl, msg, err, "add clsact", ifindex)) < 0)
		return r;
	if ((from_port &&
	     (r = redirect_add(nl, ifindex, true, from_port, from_classid, err)) < 0) ||
	    (to_port && (r = redirect_add(nl, ifindex, false, to_port, to_classid, err)) < 0)) {
		(void)tk_tc_port_redirect(nl, ifindex, 0, 0, 0, 0, NULL);
		return r;
	}
	return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cache *, nl_cache_free);

int tk_tc_class_drops(struct tk_nl *nl, int ifindex, tk_tc_drops_cb cb, void *userdata, tk_err *err)
{
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	int r;

	if ((r = rtnl_class_alloc_cache(tk_nl_request(nl), ifindex, &cache)) < 0)
		return fail(nl, r, err, "cannot list the classes of interface %d", ifindex);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_tc *tc = TC_CAST(o);
		uint32_t handle = rtnl_tc_get_handle(tc);

		if (handle >> 16 != 1 || (uint16_t)handle == 0)
			continue;
		if ((r = cb((uint16_t)handle, rtnl_tc_get_stat(tc, RTNL_TC_DROPS), userdata)) < 0)
			return r;
	}
	return 0;
}
