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
#include <time.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>

#include "bpf-insn.h"
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

static int prog_load(const struct bpf_insn *insns, size_t n, const char *name, tk_err *err)
{
	static const char license[] = "GPL";
	union bpf_attr attr = {};
	int fd;

	attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = (uint32_t)n;
	attr.license = (uint64_t)(uintptr_t)license;
	snprintf(attr.prog_name, sizeof(attr.prog_name), "%s", name);
	fd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0)
		return tk_err_set(err, -errno, "cannot load the shaping program %s (BPF): %m",
				  name);
	return fd;
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
 * An HTB class: classid under parent (full handles), guaranteed rate and ceil (bit/s), the DRR
 * quantum it borrows with, and its priority among its siblings (0 first).
 */
static int htb_class_set(struct tk_nl *nl, int ifindex, uint32_t parent, uint32_t classid,
			 uint64_t rate, uint64_t ceil, uint32_t quantum, uint32_t prio, tk_err *err)
{
	_cleanup_(rtnl_class_putp) struct rtnl_class *c = rtnl_class_alloc();
	/* Bursts of 2 ms at the rate: small enough for the first second to keep the limit,
	 * large enough that the timer does not cap a fast class; at least 10 full frames. */
	uint64_t rbuf = rate / 8 / 500, cbuf = ceil / 8 / 500;
	int r;

	if (!c)
		return tk_err_set(err, -ENOMEM, "out of memory");
	rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
	rtnl_tc_set_parent(TC_CAST(c), parent);
	rtnl_tc_set_handle(TC_CAST(c), classid);
	if (rtnl_tc_set_kind(TC_CAST(c), "htb") < 0)
		return tk_err_set(err, -EOPNOTSUPP, "libnl knows no 'htb' class");
	rtnl_htb_set_rate64(c, rate / 8);
	rtnl_htb_set_ceil64(c, ceil / 8);
	rtnl_htb_set_rbuffer(c, (uint32_t)(rbuf < 15140 ? 15140 : rbuf > 1 << 24 ? 1 << 24 : rbuf));
	rtnl_htb_set_cbuffer(c, (uint32_t)(cbuf < 15140 ? 15140 : cbuf > 1 << 24 ? 1 << 24 : cbuf));
	rtnl_htb_set_quantum(c, quantum);
	rtnl_htb_set_prio(c, prio);
	if ((r = rtnl_class_add(tk_nl_request(nl), c, NLM_F_CREATE)) < 0)
		return fail(nl, r, err, "cannot set HTB class %x:%x", classid >> 16,
			    classid & 0xffff);
	return 0;
}

/*
 * Adds qdisc q (its kind and options set) at parent with handle, or changes the one there
 * (flags NLM_F_REPLACE), or keeps it (NLM_F_EXCL: HTB's options cannot change).
 */
static int qdisc_set(struct tk_nl *nl, struct rtnl_qdisc *q, int ifindex, uint32_t parent,
		     uint32_t handle, int flags)
{
	int r;

	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), parent);
	rtnl_tc_set_handle(TC_CAST(q), handle);
	r = rtnl_qdisc_add(tk_nl_request(nl), q, NLM_F_CREATE | flags);
	return r == -NLE_EXIST && flags == NLM_F_EXCL ? 0 : r;
}

/*
 * The filter of a tenant's bands (qdisc minor:): a packet of at most TK_TC_SPARSE_BYTES goes
 * to the first band (the BPF program says -1: the filter's class); anything larger to the
 * default one.
 */
static int bands_filter_set(struct tk_nl *nl, int ifindex, uint16_t minor, tk_err *err)
{
	const struct bpf_insn insns[] = {
		LDX(BPF_W, BPF_REG_0, BPF_REG_1, offsetof(struct __sk_buff, len)),
		JMP_IMM(BPF_JGT, BPF_REG_0, TK_TC_SPARSE_BYTES, 2),
		MOV64_IMM(BPF_REG_0, -1),
		EXIT(),
		MOV64_IMM(BPF_REG_0, 0),
		EXIT(),
	};
	_cleanup_close_ int fd =
		prog_load(insns, sizeof(insns) / sizeof(insns[0]), "tk_sparse", err);
	struct nl_msg *msg;
	struct nlattr *opts;

	if (fd < 0)
		return fd;
	msg = tc_msg(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_CREATE, ifindex, TK_TC_HANDLE(minor, 0),
		     1, TC_H_MAKE(1u << 16, htons(ETH_P_ALL)));
	if (!msg || nla_put_string(msg, TCA_KIND, "bpf") < 0 ||
	    !(opts = nla_nest_start(msg, TCA_OPTIONS)) || nla_put_u32(msg, TCA_BPF_FD, fd) < 0 ||
	    nla_put_string(msg, TCA_BPF_NAME, "tk_sparse") < 0 ||
	    nla_put_u32(msg, TCA_BPF_CLASSID, TK_TC_HANDLE(minor, 1)) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	nla_nest_end(msg, opts);
	return send_tc(nl, msg, err, "filter a tenant's bands", ifindex);
}

/* The leaf's queue of a class with this ceil (bit/s), in bytes: see bands_set. */
static uint64_t leaf_bytes(uint64_t ceil)
{
	uint64_t limit = ceil / 8 / 50;

	return limit < 64 * 1514 ? 64 * 1514 : limit > 1 << 24 ? 1 << 24 : limit;
}

/*
 * The leaf of class 1:minor with this ceil.  fq_codel where the kernel has it: it serves sparse
 * flows first and keeps every queue short.  Where the kernel has no fq_codel (nor sfq, cake or
 * prio, like the test VM's), two bands do the part of that an interactive user feels: an HTB
 * minor: whose classes never hold traffic back themselves (four times the ceil), minor:1 first
 * for small packets (pings, DNS, TCP's acknowledgements; the kernel's default pfifo), then
 * minor:2 for the rest.  Its leaf (handle minor | 0x8000) is a TBF, equally fast, that queues
 * 20 ms of frames at the class's ceil (at least 64) in its byte FIFO, and whose bucket is the
 * larger of the largest frame and a quarter of a millisecond at the ceil: TBF splits a GSO packet
 * larger than its bucket into frames, so a small packet waits behind at most that much of its
 * tenant's bulk traffic (a 64 KiB GSO packet is 52 ms at 10 Mbit/s), and a FIFO of whole GSO
 * packets would drop 44 frames of one flow at a time, after which TCP would not fill the limit.
 * Above 2 Gbit/s nothing is split: splitting costs CPU for every frame (docs/bandwidth.md).
 */
static int bands_set(struct tk_nl *nl, int ifindex, uint16_t minor, uint64_t ceil, uint32_t frame,
		     tk_err *err)
{
	_cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *htb = rtnl_qdisc_alloc();
	_cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *tbf = rtnl_qdisc_alloc();
	uint64_t fast = ceil * 4, fast_bytes = fast / 8, bucket = ceil / 8 / 4000;
	int r;

	if (!htb || !tbf)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (fast_bytes > INT32_MAX)
		fast_bytes = INT32_MAX;
	if (bucket < frame)
		bucket = frame;
	/* libnl sends the bucket as a time in whole microseconds: what that rounds off, and more. */
	bucket += fast_bytes / 250000 + 64;
	if (bucket > 1 << 20)
		bucket = 1 << 20;
	if (rtnl_tc_set_kind(TC_CAST(htb), "htb") < 0 || rtnl_tc_set_kind(TC_CAST(tbf), "tbf") < 0)
		return tk_err_set(err, -EOPNOTSUPP, "libnl knows no 'htb' or 'tbf' qdisc");
	rtnl_htb_set_defcls(htb, 2);
	if ((r = qdisc_set(nl, htb, ifindex, TK_TC_HANDLE(1, minor), TK_TC_HANDLE(minor, 0),
			   NLM_F_EXCL)) < 0)
		return fail(nl, r, err, "cannot add the bands of class 1:%x", minor);
	if ((r = htb_class_set(nl, ifindex, TK_TC_HANDLE(minor, 0), TK_TC_HANDLE(minor, 1), fast,
			       fast, 60000, 0, err)) < 0 ||
	    (r = htb_class_set(nl, ifindex, TK_TC_HANDLE(minor, 0), TK_TC_HANDLE(minor, 2), fast,
			       fast, 60000, 1, err)) < 0)
		return r;
	rtnl_qdisc_tbf_set_limit(tbf, (int)leaf_bytes(ceil));
	rtnl_qdisc_tbf_set_rate(tbf, (int)fast_bytes, (int)bucket, 0);
	if ((r = qdisc_set(nl, tbf, ifindex, TK_TC_HANDLE(minor, 2),
			   TK_TC_HANDLE(minor | TK_TC_BULK_MAJOR, 0), NLM_F_REPLACE)) < 0)
		return fail(nl, r, err, "cannot add the bulk queue of class 1:%x", minor);
	return bands_filter_set(nl, ifindex, minor, err);
}

static int leaf_set(struct tk_nl *nl, int ifindex, uint16_t minor, uint64_t ceil, uint32_t frame,
		    tk_err *err)
{
	static bool no_fq_codel;
	_cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *q = NULL;

	if (minor >= TK_TC_BULK_MAJOR)
		return tk_err_set(err, -ERANGE, "class 1:%x is above the shaper's 1:%x", minor,
				  TK_TC_BULK_MAJOR - 1);
	if (!no_fq_codel) {
		if (!(q = rtnl_qdisc_alloc()))
			return tk_err_set(err, -ENOMEM, "out of memory");
		if (rtnl_tc_set_kind(TC_CAST(q), "fq_codel") < 0)
			return tk_err_set(err, -EOPNOTSUPP, "libnl knows no 'fq_codel' qdisc");
		if (qdisc_set(nl, q, ifindex, TK_TC_HANDLE(1, minor), TK_TC_HANDLE(minor, 0),
			      NLM_F_REPLACE) >= 0)
			return 0;
		no_fq_codel = true; /* this kernel has no fq_codel: "qdisc kind is unknown" */
	}
	return bands_set(nl, ifindex, minor, ceil, frame, err);
}

int tk_tc_class_set(struct tk_nl *nl, int ifindex, uint16_t parent_minor, uint16_t minor,
		    uint64_t rate, uint64_t ceil, uint32_t quantum, uint32_t frame, tk_err *err)
{
	int r = htb_class_set(nl, ifindex, TK_TC_HANDLE(1, parent_minor), TK_TC_HANDLE(1, minor),
			      rate, ceil, quantum, 0, err);

	return r < 0 ? r : frame ? leaf_set(nl, ifindex, minor, ceil, frame, err) : 0;
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

/*
 * The meters (docs/bandwidth.md, "Unreached limits bypass the shaper"): a BPF array map with one
 * token bucket per slot, written by netd when it sets a class and read and updated by the
 * classifier of every port for each packet.  A port's packet goes to the shaper only while its
 * tenant's bucket (or, with a capacity, the shared one) runs dry, and for a hold after that:
 * long enough for the class's queue to drain, so that packets leaving the shaper are not
 * overtaken by later ones of the same flow that no longer go through it.
 */
struct meter {
	uint64_t rate;	 /* bytes per tick << METER_SHIFT; 0: this slot never sends to the shaper */
	uint64_t burst;	 /* bytes */
	uint64_t hold;	 /* ticks */
	uint64_t tokens; /* bytes */
	uint64_t last;	 /* jiffies; 0: just set by netd, no packet since */
	uint64_t until;	 /* jiffies: shaped until then; with last 0, CLOCK_MONOTONIC_COARSE ns */
};

/*
 * The meters' clock is jiffies, which the verifier inlines as one load: what a timer tick
 * (4 ms at HZ=250) left there, the resolution of the coarse clock it replaced, without that
 * helper's call and seqcount (docs/bandwidth.md).  A refill is capped at METER_MAX_TICKS, which
 * fills any bucket (at most 2 ms or two ticks), and keeps rate * ticks within 64 bits up to
 * 1 Tbit/s at HZ=100.
 */
#define METER_SHIFT	24
#define METER_MAX_TICKS 64

/* The length of a tick in ns (the coarse clock's resolution), 0 if unknown. */
static uint64_t tick_ns(void)
{
	struct timespec res;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) < 0 || res.tv_sec > 0 || res.tv_nsec <= 0)
		return 0;
	return (uint64_t)res.tv_nsec;
}

#define METER_SLOTS 0x10000

int tk_tc_meter_open(tk_err *err)
{
	union bpf_attr attr = {};
	int fd;

	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = sizeof(uint32_t);
	attr.value_size = sizeof(struct meter);
	attr.max_entries = METER_SLOTS;
	memcpy(attr.map_name, "tk_meter", sizeof("tk_meter"));
	fd = (int)syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		return tk_err_set(err, -errno, "cannot create the shaping meters (BPF map): %m");
	return fd;
}

int tk_tc_meter_set(int meter, uint16_t slot, uint64_t ceil, tk_err *err)
{
	union bpf_attr attr = {};
	struct meter v = {};
	uint32_t key = slot;
	uint64_t tick = tick_ns();
	struct timespec now;

	if (tick == 0)
		return tk_err_set(err, -EINVAL, "cannot read the timer tick's length");
	if (ceil > 0) {
		/* 90% of the ceil: the class's queue drains at >= 10% of it once the bucket stops
		 * running dry, so the hold covers 10 times the time the fullest queue takes at the
		 * ceil. */
		double bps = (double)ceil / 8 * 0.9, t = (double)tick / 1e9;
		double hold = (double)leaf_bytes(ceil) * 8 * 10 / (double)ceil + 0.05;

		v.rate = (uint64_t)(bps * t * (double)(1 << METER_SHIFT));
		/* 2 ms like the classes' bursts, but the clock moves a tick at a time: two. */
		v.burst = (uint64_t)(bps * (t > 0.001 ? 2 * t : 0.002));
		if (v.burst < 1514)
			v.burst = 1514;
		v.hold = (uint64_t)(hold / t) + 1;
		v.tokens = v.burst;
		/*
		 * A queue may be left from the old values: held until then, which the first
		 * packet turns into jiffies (netd cannot read them).
		 */
		clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
		v.until = (uint64_t)now.tv_sec * 1000000000 + (uint64_t)now.tv_nsec +
			  (uint64_t)(hold * 1e9);
	}
	attr.map_fd = (uint32_t)meter;
	attr.key = (uint64_t)(uintptr_t)&key;
	attr.value = (uint64_t)(uintptr_t)&v;
	attr.flags = BPF_ANY;
	if (syscall(__NR_bpf, BPF_MAP_UPDATE_ELEM, &attr, sizeof(attr)) < 0)
		return tk_err_set(err, -errno, "cannot set shaping meter %u: %m", slot);
	return 0;
}

#define FLAG_OFF (-8)  /* u64 on the stack: 1 = to the shaper */
#define KEY_OFF	 (-16) /* u32 on the stack: the slot looked up */
#define VAL(f)	 ((int16_t)offsetof(struct meter, f))

/*
 * The bucket of slot (r6 = skb, r8 = now, r9 = skb->len): looked up, refilled, and taken from if
 * it holds the packet; if not (or while the hold of an earlier shortfall lasts) FLAG is set.
 * A failed lookup sends the packet to the shaper.  Two CPUs may race on a bucket: a lost update
 * lets a packet or two more through or holds them back, never more than a burst.
 */
static size_t emit_meter(struct bpf_insn *p, int map, uint32_t slot, uint64_t tick,
			 int16_t to_shape)
{
	size_t n = 0, set, refill, no_hold, short_of, done;

	p[n++] = ST(BPF_W, BPF_REG_10, KEY_OFF, (int32_t)slot);
	p[n++] = INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map);
	p[n++] = INSN(0, 0, 0, 0, 0);
	p[n++] = MOV64_REG(BPF_REG_2, BPF_REG_10);
	p[n++] = ALU64_IMM(BPF_ADD, BPF_REG_2, KEY_OFF);
	p[n++] = CALL(BPF_FUNC_map_lookup_elem);
	p[n] = JMP_IMM(BPF_JEQ, BPF_REG_0, 0, (int16_t)(to_shape - (int16_t)n - 1));
	n++;
	p[n++] = MOV64_REG(BPF_REG_7, BPF_REG_0);
	p[n++] = LDX(BPF_DW, BPF_REG_1, BPF_REG_7, VAL(rate));
	set = n++; /* rate 0: to the end */
	p[n++] = LDX(BPF_DW, BPF_REG_3, BPF_REG_7, VAL(last));
	p[n++] = STX(BPF_DW, BPF_REG_7, BPF_REG_8, VAL(last));
	refill = n++;
	/*
	 * The first packet since netd set the bucket (full): nothing to refill, and what is left
	 * of the hold netd gave in ns (a call, once) becomes jiffies.
	 */
	p[n++] = CALL(BPF_FUNC_ktime_get_coarse_ns);
	p[n++] = LDX(BPF_DW, BPF_REG_2, BPF_REG_7, VAL(until));
	p[n++] = ALU64_REG(BPF_SUB, BPF_REG_2, BPF_REG_0);
	p[n++] = MOV64_IMM(BPF_REG_4, 0);
	p[n++] = JMP_IMM(BPF_JSLE, BPF_REG_2, 0, 4); /* no hold left */
	p[n++] = ALU64_IMM(BPF_DIV, BPF_REG_2, (int32_t)tick);
	p[n++] = ALU64_IMM(BPF_ADD, BPF_REG_2, 1);
	p[n++] = ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_8);
	p[n++] = MOV64_REG(BPF_REG_4, BPF_REG_2);
	p[n++] = STX(BPF_DW, BPF_REG_7, BPF_REG_4, VAL(until));
	p[n++] = LDX(BPF_DW, BPF_REG_1, BPF_REG_7, VAL(rate)); /* the call took it */
	p[n++] = MOV64_REG(BPF_REG_3, BPF_REG_8);
	p[refill] = JMP_IMM(BPF_JNE, BPF_REG_3, 0, (int16_t)(n - refill - 1));
	p[n++] = MOV64_REG(BPF_REG_2, BPF_REG_8);
	p[n++] = ALU64_REG(BPF_SUB, BPF_REG_2, BPF_REG_3);
	p[n++] = JMP_IMM(BPF_JSGT, BPF_REG_2, 0, 1); /* another CPU's later now: no refill */
	p[n++] = MOV64_IMM(BPF_REG_2, 0);
	p[n++] = JMP_IMM(BPF_JLE, BPF_REG_2, METER_MAX_TICKS, 1);
	p[n++] = MOV64_IMM(BPF_REG_2, METER_MAX_TICKS);
	p[n++] = ALU64_REG(BPF_MUL, BPF_REG_2, BPF_REG_1);
	p[n++] = ALU64_IMM(BPF_RSH, BPF_REG_2, METER_SHIFT);
	p[n++] = LDX(BPF_DW, BPF_REG_3, BPF_REG_7, VAL(tokens));
	p[n++] = ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_2);
	p[n++] = LDX(BPF_DW, BPF_REG_2, BPF_REG_7, VAL(burst));
	p[n++] = JMP_REG(BPF_JLE, BPF_REG_3, BPF_REG_2, 1);
	p[n++] = MOV64_REG(BPF_REG_3, BPF_REG_2);
	short_of = n++;
	p[n++] = ALU64_REG(BPF_SUB, BPF_REG_3, BPF_REG_9);
	p[n++] = STX(BPF_DW, BPF_REG_7, BPF_REG_3, VAL(tokens));
	p[n++] = LDX(BPF_DW, BPF_REG_2, BPF_REG_7, VAL(until));
	no_hold = n++;
	p[n++] = ST(BPF_DW, BPF_REG_10, FLAG_OFF, 1);
	done = n++;
	/* the shortfall: shaped from now until the hold is over */
	p[short_of] = JMP_REG(BPF_JLT, BPF_REG_3, BPF_REG_9, (int16_t)(n - short_of - 1));
	p[n++] = STX(BPF_DW, BPF_REG_7, BPF_REG_3, VAL(tokens));
	p[n++] = LDX(BPF_DW, BPF_REG_2, BPF_REG_7, VAL(hold));
	p[n++] = ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_8);
	p[n++] = STX(BPF_DW, BPF_REG_7, BPF_REG_2, VAL(until));
	p[n++] = ST(BPF_DW, BPF_REG_10, FLAG_OFF, 1);
	p[set] = JMP_IMM(BPF_JEQ, BPF_REG_1, 0, (int16_t)(n - set - 1));
	p[no_hold] = JMP_REG(BPF_JGE, BPF_REG_8, BPF_REG_2, (int16_t)(n - no_hold - 1));
	p[done] = JMP_IMM(BPF_JA, 0, 0, (int16_t)(n - done - 1));
	return n;
}

/* The code of meters_emit: 4 instructions, 50 per bucket, then 2. */
static size_t meters_len(const struct tk_tc_redirect *to)
{
	return 4 + 50 * (to->shared ? 2 : 1) + 2;
}

/*
 * The buckets of to's tenant and the shared one (r6 = skb): falls through when they hold the
 * packet, else jumps to shape, counted from p.
 */
static size_t meters_emit(struct bpf_insn *p, const struct tk_tc_redirect *to, uint64_t tick,
			  size_t shape)
{
	size_t n = 0;

	p[n++] = LDX(BPF_W, BPF_REG_9, BPF_REG_6, offsetof(struct __sk_buff, len));
	p[n++] = ST(BPF_DW, BPF_REG_10, FLAG_OFF, 0);
	/* A tick's resolution, no clock source read: kvm-clock's cost ~50 ns a packet. */
	p[n++] = CALL(BPF_FUNC_jiffies64);
	p[n++] = MOV64_REG(BPF_REG_8, BPF_REG_0);
	if (to->shared)
		n += emit_meter(p + n, to->meter, to->shared, tick, (int16_t)(shape - n));
	n += emit_meter(p + n, to->meter, to->classid & 0xffff, tick, (int16_t)(shape - n));
	p[n++] = LDX(BPF_DW, BPF_REG_2, BPF_REG_10, FLAG_OFF);
	p[n] = JMP_IMM(BPF_JNE, BPF_REG_2, 0, (int16_t)(shape - n - 1));
	return n + 1;
}

/*
 * The classifier of one direction of a port: with a meter, it lets the packet pass untouched
 * (returns 0, "no match") while the tenant's bucket and the shared one (slot shared, 0: none)
 * hold it; otherwise it writes classid into skb->priority, which the IFB's HTB reads, and
 * returns -1 ("matched, default class"), after which the filter's mirred action redirects.
 * Without a meter (-1) every packet is shaped: the meter then runs on tcx (tk_tc_meter_load).
 * A classic classifier cannot write the priority, and this kernel family may lack the skbedit
 * action and the matchall classifier.
 */
static int classifier_load(const struct tk_tc_redirect *to, tk_err *err)
{
	struct bpf_insn insns[128];
	size_t n = 0, shape = 1 + (to->meter < 0 ? 0 : meters_len(to) + 2);
	uint64_t tick = tick_ns();

	if (to->meter >= 0 && tick == 0)
		return tk_err_set(err, -EINVAL, "cannot read the timer tick's length");
	insns[n++] = MOV64_REG(BPF_REG_6, BPF_REG_1);
	if (to->meter >= 0) {
		n += meters_emit(insns + n, to, tick, shape - n);
		insns[n++] = MOV64_IMM(BPF_REG_0, 0);
		insns[n++] = EXIT();
	}
	if (n != shape)
		return tk_err_set(err, -EFAULT, "shaping classifier: %zu instructions, not %zu", n,
				  shape);
	insns[n++] = MOV64_IMM(BPF_REG_2, (int32_t)to->classid);
	insns[n++] = STX(BPF_W, BPF_REG_6, BPF_REG_2, offsetof(struct __sk_buff, priority));
	insns[n++] = MOV64_IMM(BPF_REG_0, -1);
	insns[n++] = EXIT();
	return prog_load(insns, n, "tk_shape", err);
}

#define TCX_PASS 0
#define TCX_NEXT (-1)

int tk_tc_meter_load(const struct tk_tc_redirect *to, bool egress, int chain, tk_err *err)
{
	struct bpf_insn insns[128];
	size_t n = 0, shape = 1 + (egress ? 2 : 0) + meters_len(to) + (chain >= 0 ? 5 : 0) + 2;
	uint64_t tick = tick_ns();

	if (tick == 0)
		return tk_err_set(err, -EINVAL, "cannot read the timer tick's length");
	insns[n++] = MOV64_REG(BPF_REG_6, BPF_REG_1);
	if (egress) {
		/*
		 * The IFB sends what it shaped out of the port again, having made itself the
		 * packet's input device: this packet was metered already (tc's actions skip it).
		 */
		insns[n++] = LDX(BPF_W, BPF_REG_2, BPF_REG_6,
				 offsetof(struct __sk_buff, ingress_ifindex));
		insns[n] = JMP_IMM(BPF_JEQ, BPF_REG_2, to->ifb, (int16_t)(shape - n - 1));
		n++;
	}
	n += meters_emit(insns + n, to, tick, shape - n);
	if (chain >= 0) {
		const struct bpf_insn ld[] = { LD_MAP_FD(BPF_REG_2, chain) };

		insns[n++] = MOV64_REG(BPF_REG_1, BPF_REG_6);
		insns[n++] = ld[0];
		insns[n++] = ld[1];
		insns[n++] = MOV64_IMM(BPF_REG_3, 0);
		insns[n++] = CALL(BPF_FUNC_tail_call); /* returns only if the chain is empty */
	}
	insns[n++] = MOV64_IMM(BPF_REG_0, TCX_PASS); /* past the shaper's filter */
	insns[n++] = EXIT();
	if (n != shape)
		return tk_err_set(err, -EFAULT, "shaping meter: %zu instructions, not %zu", n,
				  shape);
	insns[n++] = MOV64_IMM(BPF_REG_0, TCX_NEXT); /* on to the shaper's filter */
	insns[n++] = EXIT();
	return prog_load(insns, n, egress ? "tk_meter_out" : "tk_meter_in", err);
}

static int redirect_add(struct tk_nl *nl, int ifindex, bool from_port,
			const struct tk_tc_redirect *to, tk_err *err)
{
	_cleanup_close_ int fd = classifier_load(to, err);
	struct tc_mirred mirred = { .action = TC_ACT_STOLEN,
				    .eaction = TCA_EGRESS_REDIR,
				    .ifindex = (uint32_t)to->ifb };
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

static int shape_filter_msg(struct nl_msg *msg, void *arg)
{
	bool *found = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[TCA_MAX + 1], *opts[TCA_BPF_MAX + 1];

	if (h->nlmsg_type == RTM_NEWTFILTER &&
	    nlmsg_parse(h, sizeof(struct tcmsg), tb, TCA_MAX, NULL) >= 0 && tb[TCA_OPTIONS] &&
	    nla_parse_nested(opts, TCA_BPF_MAX, tb[TCA_OPTIONS], NULL) >= 0 && opts[TCA_BPF_NAME] &&
	    nla_strcmp(opts[TCA_BPF_NAME], "tk_shape") == 0)
		*found = true;
	return NL_OK;
}

/*
 * Whether the filters on device ifindex's ingress include the shaper's: an `ingress` qdisc is
 * netd's own then, not another program's (the reference bandwidth plugin's, on a port).
 */
static bool shape_filter_found(struct tk_nl *nl, int ifindex)
{
	struct nl_sock *sock = tk_nl_request(nl);
	struct nl_cb *sock_cb = nl_socket_get_cb(sock); /* a reference of its own */
	struct nl_cb *cb = sock_cb ? nl_cb_clone(sock_cb) : NULL;
	struct nl_msg *msg = tc_msg(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, ifindex,
				    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), 0, 0);
	bool found = false;

	if (sock_cb)
		nl_cb_put(sock_cb);
	if (cb && msg) {
		nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, shape_filter_msg, &found);
		if (nl_send_auto(sock, msg) >= 0)
			(void)nl_recvmsgs(sock, cb);
	}
	nlmsg_free(msg);
	if (cb)
		nl_cb_put(cb);
	return found;
}

/* Deletes the qdisc of kind in ifindex's ingress slot: -ENOENT none, -EINVAL one of another kind. */
static int ingress_slot_del(struct tk_nl *nl, int ifindex, const char *kind, tk_err *err)
{
	struct nl_msg *msg = tc_msg(RTM_DELQDISC, NLM_F_REQUEST, ifindex, TC_H_CLSACT,
				    TC_H_MAKE(TC_H_CLSACT, 0), 0);

	if (!msg || nla_put_string(msg, TCA_KIND, kind) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	return send_tc(nl, msg, err, "remove the ingress qdisc", ifindex);
}

int tk_tc_port_redirect(struct tk_nl *nl, int ifindex, const struct tk_tc_redirect *from_port,
			const struct tk_tc_redirect *to_port, tk_err *err)
{
	bool from = from_port && from_port->ifb > 0, to = to_port && to_port->ifb > 0;
	/* clsact has an egress half, which every packet leaving the device crosses: only if used. */
	const char *kind = to ? "clsact" : "ingress";
	struct nl_msg *msg;
	tk_err e = {};
	int r;

	/* Whatever was there goes with the qdisc, filters and all. */
	r = ingress_slot_del(nl, ifindex, "clsact", &e);
	if (r == -EINVAL && shape_filter_found(nl, ifindex))
		r = ingress_slot_del(nl, ifindex, "ingress", &e);
	if (r < 0 && r != -ENOENT && r != -EINVAL)
		return tk_err_set(err, r, "%s", e.msg);
	if (!from && !to)
		return r == -EINVAL; /* another program's ingress qdisc, kept */
	if (!(msg = tc_msg(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, ifindex,
			   TC_H_CLSACT, TC_H_MAKE(TC_H_CLSACT, 0), 0)) ||
	    nla_put_string(msg, TCA_KIND, kind) < 0) {
		nlmsg_free(msg);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	if ((r = send_tc(nl, msg, err, to ? "add clsact" : "add an ingress qdisc", ifindex)) < 0)
		return r;
	if ((from && (r = redirect_add(nl, ifindex, true, from_port, err)) < 0) ||
	    (to && (r = redirect_add(nl, ifindex, false, to_port, err)) < 0)) {
		(void)tk_tc_port_redirect(nl, ifindex, NULL, NULL, NULL);
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

int tk_tc_ingress_qdiscs(struct tk_nl *nl, tk_tc_qdisc_cb cb, void *userdata, tk_err *err)
{
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	int r;

	if ((r = rtnl_qdisc_alloc_cache(tk_nl_request(nl), &cache)) < 0)
		return fail(nl, r, err, "cannot list the qdiscs");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_tc *tc = TC_CAST(o);
		const char *kind = rtnl_tc_get_kind(tc);

		/* `ingress` and `clsact` alike sit there; a device that had one keeps `noop`. */
		if (rtnl_tc_get_parent(tc) != TC_H_INGRESS || !kind || strcmp(kind, "noop") == 0)
			continue;
		if ((r = cb(rtnl_tc_get_ifindex(tc), kind, userdata)) < 0)
			return r;
	}
	return 0;
}
