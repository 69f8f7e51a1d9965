/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The containers' fast path: its BPF maps and program (fastpath.h, docs/firewall.md). */
#include "fastpath.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf-insn.h"
#include "cleanup.h"

/* The maps' key; an IPv4 key is its first 16 bytes. */
struct key {
	uint32_t dev; /* src: the input ifindex; fwd, rt: the group */
	uint8_t mac[6];
	uint8_t pad[2]; /* zero */
	uint8_t ip[16];
};

/*
 * tcx (Linux 6.6), which Debian 12's kernel headers predate: BPF programs on a device's ingress
 * without a qdisc, run before the qdisc-based tc filters; a program's TCX_NEXT hands the packet
 * on to the next program and then to those filters.
 */
#define TK_BPF_TCX_INGRESS 46
#define TK_BPF_TCX_EGRESS  47
#define TK_TCX_PASS	   0
#define TK_TCX_NEXT	   (-1)
#define TK_TCX_DROP	   2
/* l4_csum_replace(): a complete skb->csum is updated for IPv6's pseudo-header (Linux 6.16) */
#define TK_BPF_F_IPV6 (1ULL << 7)

#define KEY_SIZE(v6) (offsetof(struct key, ip) + ((v6) ? 16 : 4))

/* An rt element: where to, and the Ethernet header's addresses, in the header's order. */
struct route {
	uint32_t ifindex;
	uint8_t dst[6], src[6];
};
/*
 * Elements a map holds: ports of this host and registered endpoints of others.  A hash map's
 * buckets are allocated (and zeroed) with it, 16 bytes each whatever the elements, so this is
 * what every start pays: 1 << 20 cost 120 ms and 64 MiB of kernel memory for the four maps,
 * 1 << 16 some 4 MiB.  A full map refuses an element (E2BIG): that endpoint takes the bridge.
 */
#define MAX_ELEMENTS (1 << 16)

static int bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* key_size 0: the maps' key (IPv4 or v6); else that size */
static int map_create(const char *name, bool v6, uint32_t key_size, uint32_t value_size,
		      tk_err *err)
{
	union bpf_attr attr = { .map_type = BPF_MAP_TYPE_HASH,
				.key_size = key_size ? key_size : (uint32_t)KEY_SIZE(v6),
				.value_size = value_size,
				.max_entries = MAX_ELEMENTS,
				.map_flags = BPF_F_NO_PREALLOC };
	int fd;

	snprintf(attr.map_name, sizeof(attr.map_name), "%s", name);
	if ((fd = bpf(BPF_MAP_CREATE, &attr)) < 0)
		return tk_err_set(err, -errno, "cannot create the fast path's map %s: %m", name);
	return fd;
}

/* A tiny assembler: forward jumps to labels, resolved at the end. */
enum label { PASS, DROP, V6, FWD, ROUTE4, ROUTE6, UP, UP4, UP6, HOST, RELEASE, _LABEL_MAX };

struct prog {
	int counts; /* the counters' map */
	struct bpf_insn insn[768];
	size_t n;
	size_t label[_LABEL_MAX];
	struct {
		size_t at;
		enum label to;
	} fix[128];
	size_t n_fix;
};

static void emit(struct prog *p, struct bpf_insn insn)
{
	if (p->n < ELEMENTSOF(p->insn))
		p->insn[p->n] = insn;
	p->n++;
}

static void jump(struct prog *p, struct bpf_insn insn, enum label to)
{
	if (p->n_fix < ELEMENTSOF(p->fix))
		p->fix[p->n_fix] = (typeof(p->fix[0])){ p->n, to };
	p->n_fix++;
	emit(p, insn);
}

static void map_fd(struct prog *p, int reg, int fd)
{
	const struct bpf_insn ld[] = { LD_MAP_FD(reg, fd) };

	emit(p, ld[0]);
	emit(p, ld[1]);
}

/* r0 = the element of map at the key on the stack (fp - 32), or NULL. */
static void lookup(struct prog *p, int map)
{
	map_fd(p, BPF_REG_1, map);
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_10));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, -32));
	emit(p, CALL(BPF_FUNC_map_lookup_elem));
}

#define KEY(f) ((int16_t)(-32 + (int)offsetof(struct key, f)))

#define COUNT_KEY (-224) /* the counters' key, below nat4()'s and nat6()'s part of the stack */

/*
 * The frame (r6 = skb) counted in way's slot of this CPU's counters, which no other CPU writes;
 * clobbers r0-r5.
 */
static void count(struct prog *p, enum tk_fast_way way)
{
	emit(p, ST(BPF_W, BPF_REG_10, COUNT_KEY, way));
	map_fd(p, BPF_REG_1, p->counts);
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_10));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, COUNT_KEY));
	emit(p, CALL(BPF_FUNC_map_lookup_elem));
	emit(p, JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 7));
	emit(p, LDX(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct tk_fast_count, packets)));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	emit(p, STX(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct tk_fast_count, packets)));
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct __sk_buff, len)));
	emit(p, LDX(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct tk_fast_count, bytes)));
	emit(p, ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	emit(p, STX(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct tk_fast_count, bytes)));
}

/* A 16-bit field as a little-endian load of its network-order bytes sees it. */
#define RAW16(x) ((int32_t)((((x)&0xff) << 8) | ((x) >> 8)))

/* words 32-bit words from the frame's (r7) off to the stack's to. */
static void copy_in(struct prog *p, int16_t off, int16_t to, int words)
{
	for (int i = 0; i < words; i++) {
		emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_7, (int16_t)(off + 4 * i)));
		emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_2, (int16_t)(to + 4 * i)));
	}
}

/* The key's MAC from the frame's (r7 = the frame) at off; the address from ip_off, words words. */
static void key_fields(struct prog *p, int16_t mac_off, int16_t ip_off, int words)
{
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_7, mac_off));
	emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_2, KEY(mac)));
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, (int16_t)(mac_off + 4)));
	emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_2, (int16_t)(KEY(mac) + 4)));
	copy_in(p, ip_off, KEY(ip), words);
}

/*
 * The frame's source (r7 = the frame) in src, and if it is there its destination in fwd under
 * the group src gave: to FWD with r0 = fwd's element; else in rt: to route with r0 = rt's;
 * else to up.
 */
static void lookups(struct prog *p, int src, int fwd, int rt, enum label route, enum label up,
		    int16_t ip_src, int16_t ip_dst, int words)
{
	key_fields(p, 6, ip_src, words);
	lookup(p, src);
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), PASS);
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_0, 0));
	emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_2, KEY(dev)));
	key_fields(p, 0, ip_dst, words);
	lookup(p, fwd);
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), FWD);
	lookup(p, rt);
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), up);
	jump(p, JMP_IMM(BPF_JA, 0, 0, 0), route);
}

/*
 * What a container sends its router (the destination MAC is its network's gateway's, 0a:7f
 * and the group, the key's dev) and neither fwd nor rt routes: into the bridge's ingress, as
 * the bridge would have passed it up, but past the bridge's port, its rules (the source is
 * the port's own, which is all they would have checked) and br_netfilter's trip through the
 * inet hooks.  The host's stack then routes it (egress and its NAT, the host, published ports).
 */
static void up(struct prog *p, int map, enum label label)
{
	p->label[label] = p->n;
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 0));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, RAW16(0x0a7f), 0), PASS);
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_7, 2));
	emit(p, INSN(BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_2, 0, 0, 32));
	emit(p, LDX(BPF_W, BPF_REG_3, BPF_REG_10, KEY(dev)));
	jump(p, JMP_REG(BPF_JNE, BPF_REG_2, BPF_REG_3, 0), PASS);
	lookup(p, map); /* the key's first 4 bytes: dev */
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), PASS);
	if (label != UP) { /* on to nat4() or nat6(), which come back to HOST */
		emit(p, LDX(BPF_W, BPF_REG_1, BPF_REG_0, 0));
		return;
	}
	emit(p, LDX(BPF_W, BPF_REG_9, BPF_REG_0, 0));
	count(p, TK_FAST_TO_HOST);
	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_9));
	emit(p, MOV64_IMM(BPF_REG_2, BPF_F_INGRESS));
	emit(p, CALL(BPF_FUNC_redirect));
	emit(p, EXIT());
}

/*
 * Into the frame at off (r6 = skb), len bytes from reg + reg_off; r0 = the helper's result.
 * flags BPF_F_RECOMPUTE_CSUM: a complete skb->csum (a NIC's sum of the whole packet) follows
 * the change, for one that nothing else in the packet offsets.
 */
static void store_bytes(struct prog *p, int16_t off, int reg, int16_t reg_off, int32_t len,
			int32_t flags)
{
	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_6));
	emit(p, MOV64_IMM(BPF_REG_2, off));
	emit(p, MOV64_REG(BPF_REG_3, reg));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_3, reg_off));
	emit(p, MOV64_IMM(BPF_REG_4, len));
	emit(p, MOV64_IMM(BPF_REG_5, flags));
	emit(p, CALL(BPF_FUNC_skb_store_bytes));
}

/* A checksum helper (r6 = skb) at off, from the stack's from to its to (16 or 32 bits). */
static void csum(struct prog *p, int helper, int16_t off, int16_t from, int16_t to, int flags,
		 enum label fail)
{
	int size = (flags & BPF_F_HDR_FIELD_MASK) == 4 ? BPF_W : BPF_H;

	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_6));
	emit(p, MOV64_IMM(BPF_REG_2, off));
	emit(p, LDX(size, BPF_REG_3, BPF_REG_10, from));
	emit(p, LDX(size, BPF_REG_4, BPF_REG_10, to));
	emit(p, MOV64_IMM(BPF_REG_5, flags));
	emit(p, CALL(helper));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), fail);
}

/*
 * r0 = an rt element, r7 = the frame, whose TTL (IPv4) or hop limit (IPv6) is at hop_off: what
 * the host's routing would do, past it.  A packet whose TTL would expire takes the bridge, whose
 * router answers it (ICMP time exceeded).  The TTL is one byte of a 16-bit word of the IPv4
 * header checksum: the word before and after (as loaded: byte order does not matter to a ones'
 * complement sum) updates it.  Then the frame gets its new Ethernet header and goes out of the
 * destination's port.  (Packet pointers die with the first helper that writes; r9 keeps rt's
 * element.)
 */
static void route(struct prog *p, enum label label, int16_t hop_off, bool v4)
{
	p->label[label] = p->n;
	emit(p, MOV64_REG(BPF_REG_9, BPF_REG_0));
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, hop_off));
	jump(p, JMP_IMM(BPF_JLE, BPF_REG_2, 1, 0), PASS);
	if (v4) {
		emit(p, LDX(BPF_H, BPF_REG_3, BPF_REG_7, hop_off)); /* TTL, protocol */
		emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_3, -40));
		emit(p, ALU64_IMM(BPF_SUB, BPF_REG_3, 1)); /* the TTL is the word's low byte */
		emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_3, -38));
		csum(p, BPF_FUNC_l3_csum_replace, 14 + 10, -40, -38, 2, PASS); /* nothing written */
		store_bytes(p, hop_off, BPF_REG_10, -38, 2, 0);
		jump(p, JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), DROP); /* half written */
	} else {
		emit(p, ALU64_IMM(BPF_SUB, BPF_REG_2, 1));
		emit(p, STX(BPF_B, BPF_REG_10, BPF_REG_2, -40));
		store_bytes(p, hop_off, BPF_REG_10, -40, 1, BPF_F_RECOMPUTE_CSUM);
		jump(p, JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), PASS);
	}
	store_bytes(p, 0, BPF_REG_9, offsetof(struct route, dst), 12, 0);
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), DROP);
	count(p, TK_FAST_ROUTED);
	emit(p, LDX(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct route, ifindex)));
	emit(p, MOV64_IMM(BPF_REG_2, 0));
	emit(p, CALL(BPF_FUNC_redirect)); /* TC_ACT_REDIRECT */
	emit(p, EXIT());
}

/*
 * Conntrack as nat4() and nat6() read it: kernel functions (kfuncs, Linux 6.1) called by their BTF ids,
 * and fields of struct nf_conn read at their offsets, both from the running kernel's BTF, since
 * neither is part of the kernel's ABI; and the UDP timeouts conntrack refreshes an entry with.
 */
struct conntrack {
	int32_t lookup, change_timeout, release; /* BTF ids */
	int32_t opts_size;			 /* struct bpf_ct_opts' (12; 16 in later kernels) */
	/* offsets in struct nf_conn: the reply's destination, the original's source */
	int16_t status, reply_addr, reply_port, orig_addr, orig_port;
	int32_t udp_ms, udp_stream_ms;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct btf *, btf__free);

/* The byte offset of path ("a[1].b.c") in struct type, by the kernel's BTF; -1: not there. */
static int btf_offset(const struct btf *btf, const char *type, const char *path)
{
	int32_t id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	char buf[128], *save = NULL;
	int off = 0;

	if (id < 0 || snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (char *name = strtok_r(buf, ".", &save); name; name = strtok_r(NULL, ".", &save)) {
		const struct btf_type *t = btf__type_by_id(btf, (uint32_t)id);
		char *index = strchr(name, '[');
		const struct btf_member *m;
		uint16_t i;

		if (index)
			*index++ = 0;
		if (!t || !(btf_is_struct(t) || btf_is_union(t)))
			return -1;
		for (i = 0, m = btf_members(t); i < btf_vlen(t); i++, m++)
			if (strcmp(btf__name_by_offset(btf, m->name_off), name) == 0)
				break;
		if (i == btf_vlen(t))
			return -1;
		off += (int)(btf_member_bit_offset(t, i) / 8);
		if ((id = btf__resolve_type(btf, m->type)) < 0)
			return -1;
		if (index) { /* an array's element */
			const struct btf_type *a = btf__type_by_id(btf, (uint32_t)id);
			long size;

			if (!a || !btf_is_array(a) ||
			    (id = btf__resolve_type(btf, btf_array(a)->type)) < 0 ||
			    (size = btf__resolve_size(btf, (uint32_t)id)) < 0)
				return -1;
			off += (int)(strtol(index, NULL, 10) * size);
		}
	}
	return off;
}

/* A conntrack timeout of this namespace, in ms; fallback (the kernel's default) if unreadable. */
static int32_t udp_timeout_ms(const char *name, int32_t fallback)
{
	_cleanup_fclose_ FILE *f = NULL;
	char path[96];
	int seconds;

	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	if (!(f = fopen(path, "re")) || fscanf(f, "%d", &seconds) != 1 || seconds <= 0 ||
	    seconds > INT32_MAX / 1000)
		return fallback;
	return seconds * 1000;
}

/* What conntrack_open() read in the kernel's BTF, which does not change while netd runs. */
static int conntrack_btf(struct conntrack *ct, tk_err *err)
{
	_cleanup_(btf__freep) struct btf *btf = NULL;
	int32_t opts;
	int off[5];

	libbpf_set_print(NULL); /* its messages on stderr; what fails is said here */
	if (!(btf = btf__load_vmlinux_btf()))
		return tk_err_set(err, errno > 0 ? -errno : -ENOENT,
				  "the kernel's BTF is not readable: %m");
	ct->lookup = btf__find_by_name_kind(btf, "bpf_skb_ct_lookup", BTF_KIND_FUNC);
	ct->change_timeout = btf__find_by_name_kind(btf, "bpf_ct_change_timeout", BTF_KIND_FUNC);
	ct->release = btf__find_by_name_kind(btf, "bpf_ct_release", BTF_KIND_FUNC);
	if (ct->lookup < 0 || ct->change_timeout < 0 || ct->release < 0)
		return tk_err_set(err, -ENOENT,
				  "conntrack's BPF functions are not in the kernel's own BTF "
				  "(they need Linux 6.1 and nf_conntrack built in: netd does not "
				  "read modules' BTF)");
	opts = btf__find_by_name_kind(btf, "bpf_ct_opts", BTF_KIND_STRUCT);
	ct->opts_size = opts < 0 ? -1 : (int32_t)btf__resolve_size(btf, (uint32_t)opts);
	off[0] = btf_offset(btf, "nf_conn", "status");
	off[1] = btf_offset(btf, "nf_conn", "tuplehash[1].tuple.dst.u3");
	off[2] = btf_offset(btf, "nf_conn", "tuplehash[1].tuple.dst.u");
	off[3] = btf_offset(btf, "nf_conn", "tuplehash[0].tuple.src.u3");
	off[4] = btf_offset(btf, "nf_conn", "tuplehash[0].tuple.src.u");
	for (size_t i = 0; i < ELEMENTSOF(off); i++)
		if (off[i] < 0 || off[i] > INT16_MAX)
			return tk_err_set(err, -ENOENT, "struct nf_conn is not as expected");
	if (ct->opts_size != 12 && ct->opts_size != 16)
		return tk_err_set(err, -ENOENT, "struct bpf_ct_opts is not as expected");
	ct->status = (int16_t)off[0], ct->reply_addr = (int16_t)off[1];
	ct->reply_port = (int16_t)off[2], ct->orig_addr = (int16_t)off[3];
	ct->orig_port = (int16_t)off[4];
	return 0;
}

/*
 * Whether nat4() and nat6() can be: conntrack's kfuncs in the kernel's own BTF, and struct nf_conn's fields,
 * read once (parsing the kernel's BTF takes some 80 ms), and this namespace's UDP timeouts, read
 * each time (a rebuild picks up a change).
 */
static int conntrack_open(struct conntrack *ct, tk_err *err)
{
	static struct conntrack btf_read;
	static tk_err btf_err;
	static bool done;

	if (!done) {
		(void)conntrack_btf(&btf_read, &btf_err);
		done = true;
	}
	if (btf_err.code < 0) {
		*err = btf_err;
		return err->code;
	}
	*ct = btf_read;
	ct->udp_ms = udp_timeout_ms("nf_conntrack_udp_timeout", 30000);
	ct->udp_stream_ms = udp_timeout_ms("nf_conntrack_udp_timeout_stream", 120000);
	return 0;
}

/* nat4()'s and nat6()'s stack, below the maps' key (-32) and route()'s scratch (-40). */
#define NAT_TUPLE    (-80)  /* struct bpf_sock_tuple: saddr, daddr, sport, dport (IPv6: to -44) */
#define NAT_OPTS     (-96)  /* struct bpf_ct_opts: netns_id, error, l4proto, dir, zone... */
#define NAT_IN	     (-100) /* the input device: the network's bridge (out), the uplink (back) */
#define NAT_NEW	     (-120) /* the new source address (IPv4: its first 4 bytes) */
#define NAT_NEW_PORT (-104) /* and its port */
#define NAT_TTL	     (-124) /* the TTL's 16-bit word, one less (IPv6: the hop limit, one less) */
#define NAT_TTL_OLD  (-128) /* the TTL's word as it was */
#define NAT_FIB	     (-192) /* struct bpf_fib_lookup, 64 bytes, to -129 */
#define NAT_NH	     (-216) /* struct bpf_redir_neigh, 20 bytes */
#define FIB(f)	     ((int16_t)(NAT_FIB + (int)offsetof(struct bpf_fib_lookup, f)))
#define KFUNC(id)    INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, id)

/* What a NAT entry must say to be taken past the host: nothing but these of those. */
#define NAT_STATUS_MASK                                                                            \
	(IPS_EXPECTED | IPS_CONFIRMED | IPS_SRC_NAT | IPS_DST_NAT | IPS_SEQ_ADJUST | IPS_DYING |   \
	 IPS_FIXED_TIMEOUT | IPS_UNTRACKED | IPS_HELPER)
#define NAT_STATUS (IPS_CONFIRMED | IPS_SRC_NAT)

/*
 * Which way a connection's datagram goes past the host: out, a container's to the world (from
 * its port's tcx ingress, the program()), or back, the world's reply to it (from an uplink's,
 * back_program()).
 */
enum way { OUT, BACK };

/*
 * The route lookup's input, past what nat4() and nat6() filled in: everything but the addresses
 * and the length is the tuple's, the input device NAT_IN.  IPv4 (words 1) or IPv6 (4).  Back,
 * nat_entry() then puts the container's address and port in place of the destination's.
 */
static void nat_fib(struct prog *p, int words)
{
	int16_t ports = (int16_t)(NAT_TUPLE + 8 * words);

	emit(p, ST(BPF_B, BPF_REG_10, FIB(family), words == 1 ? AF_INET : AF_INET6));
	emit(p, ST(BPF_B, BPF_REG_10, FIB(l4_protocol), IPPROTO_UDP));
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_10, NAT_IN));
	emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_2, FIB(ifindex)));
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_10, ports));
	emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_2, FIB(sport)));
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_10, (int16_t)(ports + 2)));
	emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_2, FIB(dport)));
	for (int i = 0; i < 2 * words; i++) {
		emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_10, (int16_t)(NAT_TUPLE + 4 * i)));
		emit(p,
		     STX(BPF_W, BPF_REG_10, BPF_REG_2,
			 (int16_t)((i < words ? FIB(ipv6_src) : FIB(ipv6_dst)) + 4 * (i % words))));
	}
}

/*
 * The connection's conntrack entry for the tuple (words as nat_fib()), which the datagram may
 * take past the host if it is as NAT_STATUS says and the datagram is of the way's direction
 * (back: a reply, after one that took the host's way, which conntrack saw): the address and
 * port it is translated to in NAT_NEW (out: the entry's source NAT; back: the container's), the
 * entry's timeout refreshed as conntrack's UDP would, and then the route and its neighbour: out,
 * to the world; back, to a tenant bridge (their MACs begin 0a:7f, their gateways').  Else to
 * HOST, the entry released either way.
 */
static void nat_entry(struct prog *p, const struct conntrack *ct, int words, enum way way)
{
	const int16_t addr = way == OUT ? ct->reply_addr : ct->orig_addr,
		      port = way == OUT ? ct->reply_port : ct->orig_port;
	const int32_t seen = way == OUT ? 0 : IPS_SEEN_REPLY;

	/* In the namespace of the skb's device (the host's), zone 0 */
	emit(p, ST(BPF_W, BPF_REG_10, NAT_OPTS, -1));
	emit(p, ST(BPF_W, BPF_REG_10, NAT_OPTS + 4, 0));
	emit(p, ST(BPF_DW, BPF_REG_10, NAT_OPTS + 8, IPPROTO_UDP));
	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_6));
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_10));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, NAT_TUPLE));
	emit(p, MOV64_IMM(BPF_REG_3, 8 * words + 4));
	emit(p, MOV64_REG(BPF_REG_4, BPF_REG_10));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_4, NAT_OPTS));
	emit(p, MOV64_IMM(BPF_REG_5, ct->opts_size));
	emit(p, KFUNC(ct->lookup));
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), HOST);
	emit(p, MOV64_REG(BPF_REG_9, BPF_REG_0)); /* held: released on every way out */
	/* the packet's direction: 0 original, 1 reply (<linux/netfilter/nf_conntrack_tuple_common.h>) */
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_10, NAT_OPTS + 9));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, way == OUT ? 0 : 1, 0), RELEASE);
	emit(p, LDX(BPF_DW, BPF_REG_2, BPF_REG_9, ct->status));
	emit(p, MOV64_REG(BPF_REG_3, BPF_REG_2));
	emit(p, ALU64_IMM(BPF_AND, BPF_REG_3, NAT_STATUS_MASK | seen));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_3, NAT_STATUS | seen, 0), RELEASE);
	for (int i = 0; i < words; i++) {
		emit(p, LDX(BPF_W, BPF_REG_3, BPF_REG_9, (int16_t)(addr + 4 * i)));
		emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_3, (int16_t)(NAT_NEW + 4 * i)));
		if (way == BACK) /* routed as the host routes it, after conntrack's translation */
			emit(p,
			     STX(BPF_W, BPF_REG_10, BPF_REG_3, (int16_t)(FIB(ipv6_dst) + 4 * i)));
	}
	emit(p, LDX(BPF_H, BPF_REG_3, BPF_REG_9, port));
	emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_3, NAT_NEW_PORT));
	if (way == BACK)
		emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_3, FIB(dport)));
	/* conntrack's UDP: the stream timeout once replies made the entry assured */
	emit(p, ALU64_IMM(BPF_AND, BPF_REG_2, IPS_ASSURED));
	emit(p, MOV64_IMM(BPF_REG_3, ct->udp_ms));
	emit(p, JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 1));
	emit(p, MOV64_IMM(BPF_REG_3, ct->udp_stream_ms));
	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_9));
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_3));
	emit(p, KFUNC(ct->change_timeout));
	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_9));
	emit(p, KFUNC(ct->release));

	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_6));
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_10));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, NAT_FIB));
	emit(p, MOV64_IMM(BPF_REG_3, sizeof(struct bpf_fib_lookup)));
	emit(p, MOV64_IMM(BPF_REG_4, 0));
	emit(p, CALL(BPF_FUNC_fib_lookup));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_0, BPF_FIB_LKUP_RET_SUCCESS, 0), HOST);
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_10, FIB(smac)));
	jump(p, JMP_IMM(way == OUT ? BPF_JEQ : BPF_JNE, BPF_REG_2, RAW16(0x0a7f), 0), HOST);
}

/*
 * The frame's TTL (hop limit), and its source address and port (out) or its destination's
 * (back), as nat4() and nat6() made them (their checksums are done); then out by the neighbour
 * subsystem, as the host's output would send it: the next hop's Ethernet header, and a stale
 * neighbour confirmed (a plain redirect with the MAC the route lookup read would never have it
 * probed again).  The lookup left the next hop in its destination.
 */
static void nat_out(struct prog *p, int words, enum way way)
{
	const bool v4 = words == 1;
	const int16_t addr = (int16_t)((v4 ? 14 + 12 : 14 + 8) + (way == BACK ? 4 * words : 0)),
		      port = (int16_t)((v4 ? 14 + 20 : 14 + 40) + (way == BACK ? 2 : 0));
	/*
	 * IPv4's header checksum offsets its TTL's change, and the UDP checksum the address's and
	 * port's (as nat4() and nat6() updated it), for a complete skb->csum too; IPv6's hop limit
	 * is offset by nothing.
	 */
	const struct {
		int16_t off, from;
		int32_t len, flags;
	} writes[] = {
		{ v4 ? 14 + 8 : 14 + 7, NAT_TTL, v4 ? 2 : 1, v4 ? 0 : BPF_F_RECOMPUTE_CSUM },
		{ addr, NAT_NEW, 4 * words, 0 },
		{ port, NAT_NEW_PORT, 2, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(writes); i++) {
		store_bytes(p, writes[i].off, BPF_REG_10, writes[i].from, writes[i].len,
			    writes[i].flags);
		jump(p, JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), DROP);
	}
	count(p, way == OUT ? TK_FAST_NAT_OUT : TK_FAST_NAT_BACK);
	emit(p, ST(BPF_W, BPF_REG_10, NAT_NH, v4 ? AF_INET : AF_INET6));
	for (int i = 0; i < 4; i++)
		if (i < words) {
			emit(p,
			     LDX(BPF_W, BPF_REG_2, BPF_REG_10, (int16_t)(FIB(ipv6_dst) + 4 * i)));
			emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_2, (int16_t)(NAT_NH + 4 + 4 * i)));
		} else {
			emit(p, ST(BPF_W, BPF_REG_10, (int16_t)(NAT_NH + 4 + 4 * i), 0));
		}
	emit(p, LDX(BPF_W, BPF_REG_1, BPF_REG_10, FIB(ifindex)));
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_10));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, NAT_NH));
	emit(p, MOV64_IMM(BPF_REG_3, sizeof(struct bpf_redir_neigh)));
	emit(p, MOV64_IMM(BPF_REG_4, 0));
	emit(p, CALL(BPF_FUNC_redirect_neigh));
	emit(p, EXIT());
}

/* The start of nat4() and nat6(): the input device, r1, kept; the route lookup's input zeroed. */
static void nat_start(struct prog *p)
{
	emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_1, NAT_IN));
	for (int16_t off = 0; off < (int16_t)sizeof(struct bpf_fib_lookup); off += 8)
		emit(p, ST(BPF_DW, BPF_REG_10, (int16_t)(NAT_FIB + off), 0));
}

/*
 * r2 = the packet's length as its IP header says (host order, not above 65,535 + 40), checked
 * as the host's input checks it: at least its headers (min), within the frame (which may be
 * longer: a NIC pads short frames), and within the 16 bits of the route lookup's length (IPv6's
 * payload length is the packet's less 40).  Then into the lookup, for the route's MTU check
 * (without it the helper would find the route's device by its index once more, to check the
 * skb); a GSO skb's is over the MTU.
 */
static void nat_length(struct prog *p, int32_t min)
{
	jump(p, JMP_IMM(BPF_JLT, BPF_REG_2, min, 0), HOST);
	emit(p, LDX(BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct __sk_buff, len)));
	emit(p, ALU64_IMM(BPF_SUB, BPF_REG_3, 14));
	jump(p, JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_3, 0), HOST);
	jump(p, JMP_IMM(BPF_JGT, BPF_REG_2, 0xffff, 0), HOST);
	emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_2, FIB(tot_len)));
}

/*
 * r1 = the input device, r7 = the frame: out, a container's UDP datagram to its gateway (r1 its
 * network's bridge) for the world, which the host would route and, its connection's conntrack
 * entry being there with a source NAT, translate (docs/firewall.md, "NAT past the host"); back,
 * a datagram from the world to an address of the host (r1 the uplink it came in by), which
 * conntrack would translate back to the container's and the host route to its bridge.
 * Conntrack has decided everything for this connection on its first packet, which took the
 * host's way; so where the entry is confirmed, translates the source only and has no helper, the
 * datagram gets what the host would give it: the entry's timeout refreshed as conntrack's UDP
 * would, the route the host's routing table gives (bpf_fib_lookup, with r1 as the input device,
 * as the host would see it), TTL one less, the entry's address and port, and out of the route's
 * device to its next hop.  A route of the wrong kind (out, to a tenant bridge; back, to anything
 * else), a neighbour not yet resolved, a datagram over the route's MTU or to expire, a UDP
 * datagram without a checksum, anything else: the host's way (HOST), which for a container's
 * frame is into the bridge, as up() does.
 */
static void nat4(struct prog *p, const struct conntrack *ct, enum way way)
{
	const int16_t addr = (int16_t)(NAT_TUPLE + (way == BACK ? 4 : 0)),
		      port = (int16_t)(NAT_TUPLE + 8 + (way == BACK ? 2 : 0));

	nat_start(p);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, 0x45, 0), HOST);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14 + 9));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, IPPROTO_UDP, 0), HOST);
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_7));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, 14 + 20 + 8));
	jump(p, JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_8, 0), HOST);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14 + 8));
	jump(p, JMP_IMM(BPF_JLE, BPF_REG_2, 1, 0), HOST);
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 14 + 20 + 6));
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), HOST);
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 14 + 8)); /* TTL, protocol */
	emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_2, NAT_TTL_OLD));
	emit(p, ALU64_IMM(BPF_SUB, BPF_REG_2, 1)); /* the TTL is the word's low byte */
	emit(p, STX(BPF_H, BPF_REG_10, BPF_REG_2, NAT_TTL));
	copy_in(p, 14 + 12, NAT_TUPLE, 3); /* saddr, daddr, sport and dport */
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 14 + 2));
	emit(p, INSN(BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_2, 0, 0, 16));
	nat_length(p, 20 + 8);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14 + 1));
	emit(p, STX(BPF_B, BPF_REG_10, BPF_REG_2, FIB(tos)));
	nat_fib(p, 1);
	nat_entry(p, ct, 1, way);

	/* The frame as the host would send it; nothing is written until the first helper is done. */
	csum(p, BPF_FUNC_l3_csum_replace, 14 + 10, addr, NAT_NEW, 4, HOST);
	csum(p, BPF_FUNC_l3_csum_replace, 14 + 10, NAT_TTL_OLD, NAT_TTL, 2, DROP);
	csum(p, BPF_FUNC_l4_csum_replace, 14 + 20 + 6, addr, NAT_NEW,
	     BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4, DROP);
	csum(p, BPF_FUNC_l4_csum_replace, 14 + 20 + 6, port, NAT_NEW_PORT, BPF_F_MARK_MANGLED_0 | 2,
	     DROP);
	nat_out(p, 1, way);
}

/*
 * nat4() for IPv6: UDP right after the fixed header (no extension headers, no fragments), its
 * hop limit one less; the address's change to the UDP checksum is one difference of all 16
 * bytes (bpf_csum_diff), and there is no IP header checksum.  Out, the frame comes from a veth,
 * so its checksum is partial or unnecessary, never complete.  Back, it may come from a NIC that
 * summed the whole packet (complete), whose sum the helper would update wrongly for IPv6's
 * pseudo-header but for BPF_F_IPV6 (Linux 6.16); an older kernel's helper refuses the flag, and
 * then the reply takes the host's way.
 */
static void nat6(struct prog *p, const struct conntrack *ct, enum way way)
{
	const int16_t addr = (int16_t)(NAT_TUPLE + (way == BACK ? 16 : 0)),
		      port = (int16_t)(NAT_TUPLE + 32 + (way == BACK ? 2 : 0));

	nat_start(p);
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_7));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, 14 + 40 + 8));
	jump(p, JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_8, 0), HOST);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14 + 6));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, IPPROTO_UDP, 0), HOST);
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 14 + 40 + 6));
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), HOST);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14 + 7));
	jump(p, JMP_IMM(BPF_JLE, BPF_REG_2, 1, 0), HOST);
	emit(p, ALU64_IMM(BPF_SUB, BPF_REG_2, 1));
	emit(p, STX(BPF_B, BPF_REG_10, BPF_REG_2, NAT_TTL));
	copy_in(p, 14 + 8, NAT_TUPLE, 9);		   /* saddr, daddr, sport and dport */
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 14 + 4)); /* the payload's length */
	emit(p, INSN(BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_2, 0, 0, 16));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, 40));
	nat_length(p, 40 + 8);
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_7, 14)); /* traffic class and flow label */
	emit(p, ALU32_IMM(BPF_AND, BPF_REG_2, (int32_t)htonl(0x0fffffff)));
	emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_2, FIB(flowinfo)));
	nat_fib(p, 4);
	nat_entry(p, ct, 4, way);

	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_10));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_1, addr));
	emit(p, MOV64_IMM(BPF_REG_2, 16));
	emit(p, MOV64_REG(BPF_REG_3, BPF_REG_10));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_3, NAT_NEW));
	emit(p, MOV64_IMM(BPF_REG_4, 16));
	emit(p, MOV64_IMM(BPF_REG_5, 0));
	emit(p, CALL(BPF_FUNC_csum_diff));
	emit(p, MOV64_REG(BPF_REG_4, BPF_REG_0));
	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_6));
	emit(p, MOV64_IMM(BPF_REG_2, 14 + 40 + 6));
	emit(p, MOV64_IMM(BPF_REG_3, 0));
	emit(p, MOV64_IMM(BPF_REG_5, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 |
					     (way == BACK ? TK_BPF_F_IPV6 : 0)));
	emit(p, CALL(BPF_FUNC_l4_csum_replace));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), HOST); /* nothing written */
	csum(p, BPF_FUNC_l4_csum_replace, 14 + 40 + 6, port, NAT_NEW_PORT, BPF_F_MARK_MANGLED_0 | 2,
	     DROP);
	nat_out(p, 4, way);
}

/*
 * Where nat4() and nat6() give up: the entry released if they hold it; then the host's way, which
 * for a container's frame (out) is into its bridge, past the port, and for the world's (back)
 * the next program and the host's stack.
 */
static void nat_end(struct prog *p, const struct conntrack *ct, enum way way)
{
	p->label[RELEASE] = p->n;
	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_9));
	emit(p, KFUNC(ct->release));
	p->label[HOST] = p->n;
	if (way == BACK) {
		emit(p, MOV64_IMM(BPF_REG_0, TK_TCX_NEXT));
		emit(p, EXIT());
		return;
	}
	count(p, TK_FAST_TO_HOST);
	emit(p, LDX(BPF_W, BPF_REG_1, BPF_REG_10, NAT_IN));
	emit(p, MOV64_IMM(BPF_REG_2, BPF_F_INGRESS));
	emit(p, CALL(BPF_FUNC_redirect));
	emit(p, EXIT());
}

/*
 * The start of both programs: r6 = skb (r1), r7 = its data (the Ethernet header), r8 = its end;
 * an untagged frame long enough for Ethernet and a fixed IPv4 header, and IPv4 not a fragment
 * or IPv6 (to V6), else to PASS.  Before the checks, head (a register or the stack) gets what
 * both ways need.
 */
static void frame_start(struct prog *p, void (*head)(struct prog *p))
{
	emit(p, MOV64_REG(BPF_REG_6, BPF_REG_1));
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct __sk_buff, vlan_present)));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, 0, 0), PASS);
	emit(p, LDX(BPF_W, BPF_REG_7, BPF_REG_6, offsetof(struct __sk_buff, data)));
	emit(p, LDX(BPF_W, BPF_REG_8, BPF_REG_6, offsetof(struct __sk_buff, data_end)));
	head(p);
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_7));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, 14 + 20));
	jump(p, JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_8, 0), PASS);
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 12));
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_2, RAW16(0x86dd), 0), V6);
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, RAW16(0x0800), 0), PASS);
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 14 + 6));
	emit(p, ALU64_IMM(BPF_AND, BPF_REG_2, RAW16(0x3fff)));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, 0, 0), PASS);
}

/* The end of both: PASS returns pass, counted as left to the bridge if it is; DROP drops. */
static void frame_end(struct prog *p, int32_t pass, bool bridge)
{
	p->label[PASS] = p->n;
	if (bridge)
		count(p, TK_FAST_BRIDGE);
	emit(p, MOV64_IMM(BPF_REG_0, pass));
	emit(p, EXIT());

	/* A helper failed (no memory) after the frame was changed: it cannot go on as it is. */
	p->label[DROP] = p->n;
	emit(p, MOV64_IMM(BPF_REG_0, TK_TCX_DROP));
	emit(p, EXIT());
}

/*
 * r6 = skb, r7 = its data (the Ethernet header), r8 = its end.  What the frame must be, as the
 * nftables rule it replaces said (docs/firewall.md): untagged (the kernel took a VLAN tag off
 * into skb->vlan_tci before tc, so the bytes alone would not tell); IPv4 without options (the
 * host's routing acts on them: a source route dropped, a route or time stamps recorded; so does
 * br_netfilter on a bridged one), not a fragment, from any source port but 67 (DHCP's server:
 * read where a transport header would start, whatever the protocol); or IPv6 carrying TCP or
 * UDP right after its fixed header, from any source port but 547.
 */
/* The maps' key: the input device, and the padding zero. */
static void key_head(struct prog *p)
{
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct __sk_buff, ifindex)));
	emit(p, STX(BPF_W, BPF_REG_10, BPF_REG_2, KEY(dev)));
	emit(p, ST(BPF_H, BPF_REG_10, KEY(pad), 0));
}

static void program(struct prog *p, const struct tk_fast *f, const struct conntrack *ct,
		    int32_t pass)
{
	frame_start(p, key_head);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, 0x45, 0), PASS);
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_7));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, 14 + 20 + 2));
	jump(p, JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_8, 0), PASS);
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 14 + 20));
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_2, RAW16(67), 0), PASS);
	lookups(p, f->src4, f->fwd4, f->rt4, ROUTE4, ct ? UP4 : UP, 14 + 12, 14 + 16, 1);

	p->label[V6] = p->n;
	emit(p, MOV64_REG(BPF_REG_2, BPF_REG_7));
	emit(p, ALU64_IMM(BPF_ADD, BPF_REG_2, 14 + 40 + 2));
	jump(p, JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_8, 0), PASS);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14));
	emit(p, ALU64_IMM(BPF_AND, BPF_REG_2, 0xf0));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, 0x60, 0), PASS);
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14 + 6));
	emit(p, JMP_IMM(BPF_JEQ, BPF_REG_2, 6, 1));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, 17, 0), PASS);
	emit(p, LDX(BPF_H, BPF_REG_2, BPF_REG_7, 14 + 40));
	jump(p, JMP_IMM(BPF_JEQ, BPF_REG_2, RAW16(547), 0), PASS);
	lookups(p, f->src6, f->fwd6, f->rt6, ROUTE6, ct ? UP6 : UP, 14 + 8, 14 + 24, 4);

	route(p, ROUTE4, 14 + 8, true);
	route(p, ROUTE6, 14 + 7, false);
	if (ct) {
		up(p, f->up, UP4);
		nat4(p, ct, OUT);
		up(p, f->up, UP6);
		nat6(p, ct, OUT);
		nat_end(p, ct, OUT);
	} else {
		up(p, f->up, UP);
	}

	p->label[FWD] = p->n;
	emit(p, LDX(BPF_W, BPF_REG_9, BPF_REG_0, 0));
	count(p, TK_FAST_BRIDGED);
	emit(p, MOV64_REG(BPF_REG_1, BPF_REG_9));
	emit(p, MOV64_IMM(BPF_REG_2, 0));
	emit(p, CALL(BPF_FUNC_redirect)); /* TC_ACT_REDIRECT */
	emit(p, EXIT());
	frame_end(p, pass, true);
}

/*
 * r1 = skb, from an uplink's tcx ingress: the world's UDP replies to containers' connections,
 * back past the host (nat4() and nat6(), BACK); everything else goes on (TK_TCX_NEXT).
 */
/*
 * A frame for this host's MAC only (an uplink that is promiscuous, for a capture or as a bridge's
 * port, also receives others'), as the host's input takes no other; then r1 = the input device
 * (the uplink), for nat4() and nat6().
 */
static void uplink_head(struct prog *p)
{
	emit(p, LDX(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct __sk_buff, pkt_type)));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, PACKET_HOST, 0), PASS);
	emit(p, LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, ifindex)));
}

static void back_program(struct prog *p, const struct conntrack *ct)
{
	frame_start(p, uplink_head);
	nat4(p, ct, BACK);
	p->label[V6] = p->n;
	emit(p, LDX(BPF_B, BPF_REG_2, BPF_REG_7, 14));
	emit(p, ALU64_IMM(BPF_AND, BPF_REG_2, 0xf0));
	jump(p, JMP_IMM(BPF_JNE, BPF_REG_2, 0x60, 0), PASS);
	nat6(p, ct, BACK);
	nat_end(p, ct, BACK);
	frame_end(p, TK_TCX_NEXT, false);
}

/* p, assembled, as a program named name. */
static int program_load(struct prog *p, const char *name, tk_err *err)
{
	static const char license[] = "GPL";
	static char log[65536];
	union bpf_attr attr = {};
	const char *tail;
	int fd, r;

	if (p->n > ELEMENTSOF(p->insn) || p->n_fix > ELEMENTSOF(p->fix))
		return tk_err_set(err, -EFAULT, "the fast path's program outgrew its buffer");
	for (size_t i = 0; i < p->n_fix; i++)
		p->insn[p->fix[i].at].off = (int16_t)(p->label[p->fix[i].to] - p->fix[i].at - 1);
	attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
	attr.insns = (uint64_t)(uintptr_t)p->insn;
	attr.insn_cnt = (uint32_t)p->n;
	attr.license = (uint64_t)(uintptr_t)license;
	snprintf(attr.prog_name, sizeof(attr.prog_name), "%s", name);
	if ((fd = bpf(BPF_PROG_LOAD, &attr)) >= 0)
		return fd;
	/* Once more with the verifier's log, for the error (a full log fails with ENOSPC). */
	r = -errno;
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	log[0] = 0;
	(void)bpf(BPF_PROG_LOAD, &attr);
	tail = strlen(log) > 300 ? log + strlen(log) - 300 : log;
	return tk_err_set(err, r, "cannot load the fast path's program %s: %s%s%s", name,
			  strerror(-r), tail[0] ? ": " : "", tail);
}

static int tcx_query(int ifindex, bool egress, uint32_t *ids, uint32_t *n);

/* pass: what a frame the program does not forward returns (TK_TCX_NEXT or TK_TCX_PASS). */
static int port_program_load(const struct tk_fast *f, const struct conntrack *ct, const char *name,
			     int32_t pass, tk_err *err)
{
	struct prog p = { .counts = f->counts };

	program(&p, f, ct, pass);
	return program_load(&p, name, err);
}

/* The ports' programs, with ct's NAT path (nat4(), nat6()) and the uplinks', or without (NULL). */
static int programs_load(struct tk_fast *f, const struct conntrack *ct, tk_err *err)
{
	struct prog back = { .counts = f->counts };
	int *fds[] = { &f->prog, &f->tail, &f->back };
	int r = 0;

	/* A port's own frames go on to tc's filters (the reference bandwidth plugin's) */
	if ((f->prog = r = port_program_load(f, ct, "tk_fast_main", TK_TCX_NEXT, err)) < 0)
		goto fail;
	/* a metered port's have been through its meter, and its tc filters are the shaper */
	if ((f->tail = r = port_program_load(f, ct, "tk_fast_tail", TK_TCX_PASS, err)) < 0)
		goto fail;
	if (!ct)
		return 0;
	back_program(&back, ct);
	if ((f->back = r = program_load(&back, "tk_nat_back", err)) >= 0)
		return 0;
fail:
	for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	return r;
}

int tk_fast_open(struct tk_fast *f, int counts, tk_err *err)
{
	struct conntrack ct = {};
	uint32_t ids[1], n = 0;
	tk_err nat_err = {};
	int r;

	/* Asked about the loopback device (index 1 in every namespace), a kernel without tcx says
	 * EINVAL: it does not know the attach type (Linux 6.6). */
	if ((r = tcx_query(1, false, ids, &n)) < 0)
		return tk_err_set(err, r, "tcx (Linux 6.6) is not there to attach it to: %s",
				  strerror(-r));

	*f = (struct tk_fast)TK_FAST_INIT;
	f->counts = counts;
	if ((f->src4 = r = map_create("tk_fast_src4", false, 0, sizeof(uint32_t), err)) < 0 ||
	    (f->fwd4 = r = map_create("tk_fast_fwd4", false, 0, sizeof(uint32_t), err)) < 0 ||
	    (f->src6 = r = map_create("tk_fast_src6", true, 0, sizeof(uint32_t), err)) < 0 ||
	    (f->fwd6 = r = map_create("tk_fast_fwd6", true, 0, sizeof(uint32_t), err)) < 0 ||
	    (f->rt4 = r = map_create("tk_fast_rt4", false, 0, sizeof(struct route), err)) < 0 ||
	    (f->rt6 = r = map_create("tk_fast_rt6", true, 0, sizeof(struct route), err)) < 0 ||
	    (f->up = r = map_create("tk_fast_up", false, sizeof(uint32_t), sizeof(uint32_t), err)) <
		    0)
		goto fail;
	if (getenv("TK_NETD_NO_NAT_PATH"))
		tk_err_set(&nat_err, -EPERM, "TK_NETD_NO_NAT_PATH is set");
	else if (conntrack_open(&ct, &nat_err) == 0 && programs_load(f, &ct, &nat_err) == 0)
		return 0;
	/* Without the NAT path, every frame to the gateway takes the host's way, as before it. */
	snprintf(f->nat_off, sizeof(f->nat_off), "%s", nat_err.msg);
	if ((r = programs_load(f, NULL, err)) == 0)
		return 0;
fail:
	tk_fast_close(f);
	return r;
}

void tk_fast_close(struct tk_fast *f)
{
	int *fds[] = { &f->prog, &f->tail, &f->back, &f->src4, &f->fwd4,
		       &f->src6, &f->fwd6, &f->rt4,  &f->rt6,  &f->up };

	for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static struct key key_of(uint32_t dev, const uint8_t mac[6], const struct tk_addr *ip)
{
	struct key k = { .dev = dev };

	memcpy(k.mac, mac, sizeof(k.mac));
	memcpy(k.ip, ip->bytes, ip->family == AF_INET6 ? 16 : 4);
	return k;
}

static int element(int map, const void *k, const void *value, tk_err *err)
{
	union bpf_attr attr = { .map_fd = (uint32_t)map,
				.key = (uint64_t)(uintptr_t)k,
				.value = (uint64_t)(uintptr_t)value,
				.flags = BPF_ANY };

	if (value ? bpf(BPF_MAP_UPDATE_ELEM, &attr) >= 0
		  : bpf(BPF_MAP_DELETE_ELEM, &attr) >= 0 || errno == ENOENT)
		return 0;
	return tk_err_set(err, -errno, "cannot %s a fast path element: %m",
			  value ? "add" : "remove");
}

int tk_fast_src(const struct tk_fast *f, int ifindex, const uint8_t mac[6],
		const struct tk_addr *ip, uint32_t group, bool add, tk_err *err)
{
	const struct key k = key_of((uint32_t)ifindex, mac, ip);

	return element(ip->family == AF_INET6 ? f->src6 : f->src4, &k, add ? &group : NULL, err);
}

int tk_fast_fwd(const struct tk_fast *f, uint32_t group, const uint8_t mac[6],
		const struct tk_addr *ip, int ifindex, bool add, tk_err *err)
{
	const struct key k = key_of(group, mac, ip);
	const uint32_t value = (uint32_t)ifindex;

	return element(ip->family == AF_INET6 ? f->fwd6 : f->fwd4, &k, add ? &value : NULL, err);
}

int tk_fast_route(const struct tk_fast *f, uint32_t group, const uint8_t gw_mac[6],
		  const struct tk_addr *ip, int ifindex, const uint8_t mac[6],
		  const uint8_t via_mac[6], bool add, tk_err *err)
{
	const struct key k = key_of(group, gw_mac, ip);
	struct route value = { .ifindex = (uint32_t)ifindex };

	memcpy(value.dst, mac, sizeof(value.dst));
	memcpy(value.src, via_mac, sizeof(value.src));
	return element(ip->family == AF_INET6 ? f->rt6 : f->rt4, &k, add ? &value : NULL, err);
}

int tk_fast_up(const struct tk_fast *f, uint32_t group, int bridge_ifindex, bool add, tk_err *err)
{
	const uint32_t value = (uint32_t)bridge_ifindex;

	return element(f->up, &group, add ? &value : NULL, err);
}

int tk_fast_fwd_get(const struct tk_fast *f, uint32_t group, const uint8_t mac[6],
		    const struct tk_addr *ip, int *ret_ifindex)
{
	const struct key k = key_of(group, mac, ip);
	uint32_t value = 0; /* the kernel writes it */
	union bpf_attr attr = { .map_fd = (uint32_t)(ip->family == AF_INET6 ? f->fwd6 : f->fwd4),
				.key = (uint64_t)(uintptr_t)&k,
				.value = (uint64_t)(uintptr_t)&value };

	if (bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0)
		return -errno;
	*ret_ifindex = (int)value;
	return 0;
}

/* The ids of the programs on ifindex's tcx ingress (or egress), at most n. */
static int tcx_query(int ifindex, bool egress, uint32_t *ids, uint32_t *n)
{
	union bpf_attr attr = {};

	attr.query.target_fd = (uint32_t)ifindex;
	attr.query.attach_type = egress ? TK_BPF_TCX_EGRESS : TK_BPF_TCX_INGRESS;
	attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
	attr.query.prog_cnt = *n;
	if (bpf(BPF_PROG_QUERY, &attr) < 0)
		return -errno;
	*n = attr.query.prog_cnt < *n ? attr.query.prog_cnt : *n;
	return 0;
}

static uint32_t prog_id(int fd, char name[BPF_OBJ_NAME_LEN])
{
	struct bpf_prog_info info = {};
	union bpf_attr attr = { .info = { .bpf_fd = (uint32_t)fd,
					  .info_len = sizeof(info),
					  .info = (uint64_t)(uintptr_t)&info } };

	if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0)
		return 0;
	if (name)
		memcpy(name, info.name, BPF_OBJ_NAME_LEN);
	return info.id;
}

/* A program of ours (named tk_*); fast_only: of the fast path (not a meter, lib/nl-tc.c). */
static bool ours(const char *name, bool fast_only)
{
	if (strncmp(name, "tk_", 3) != 0)
		return false;
	return !fast_only || strncmp(name, "tk_fast", 7) == 0 || strcmp(name, "tk_nat_back") == 0;
}

/* Detaches every program of ours (ours()) from ifindex's hook but keep (an id; 0: none). */
static int detach_others(int ifindex, bool egress, uint32_t keep, bool fast_only, tk_err *err)
{
	uint32_t ids[64], n = ELEMENTSOF(ids);
	int r;

	/* ENODEV: the link is gone; EINVAL: a kernel without tcx, so nothing on it either. */
	if ((r = tcx_query(ifindex, egress, ids, &n)) < 0)
		return r == -ENODEV || r == -EINVAL
			       ? 0
			       : tk_err_set(err, r,
					    "interface %d: cannot list its BPF "
					    "programs: %s",
					    ifindex, strerror(-r));
	for (uint32_t i = 0; i < n; i++) {
		union bpf_attr get = { .prog_id = ids[i] };
		char name[BPF_OBJ_NAME_LEN] = "";
		int fd;

		if (ids[i] == keep || (fd = bpf(BPF_PROG_GET_FD_BY_ID, &get)) < 0)
			continue;
		if (prog_id(fd, name) && ours(name, fast_only)) {
			union bpf_attr attr = {};

			attr.target_fd = (uint32_t)ifindex;
			attr.attach_bpf_fd = (uint32_t)fd;
			attr.attach_type = egress ? TK_BPF_TCX_EGRESS : TK_BPF_TCX_INGRESS;
			if (bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT) {
				r = -errno;
				close(fd);
				return tk_err_set(err, r, "interface %d: cannot detach %s: %s",
						  ifindex, name, strerror(-r));
			}
		}
		close(fd);
	}
	return 0;
}

int tk_tcx_attach(int ifindex, bool egress, int prog, tk_err *err)
{
	union bpf_attr attr = {};
	uint32_t id;

	if (prog < 0)
		return detach_others(ifindex, egress, 0, false, err);
	attr.target_fd = (uint32_t)ifindex;
	attr.attach_bpf_fd = (uint32_t)prog;
	attr.attach_type = egress ? TK_BPF_TCX_EGRESS : TK_BPF_TCX_INGRESS;
	/* Appended: the program it replaces keeps working until it is detached. */
	if (bpf(BPF_PROG_ATTACH, &attr) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno,
				  "interface %d: cannot attach a BPF program (tcx): %m", ifindex);
	if (!(id = prog_id(prog, NULL)))
		return tk_err_set(err, -errno, "cannot read a BPF program's id: %m");
	return detach_others(ifindex, egress, id, false, err);
}

int tk_fast_attach(const struct tk_fast *f, int ifindex, bool on, tk_err *err)
{
	return tk_tcx_attach(ifindex, false, !on ? -1 : f->port >= 0 ? f->port : f->prog, err);
}

int tk_fast_detach(int ifindex, tk_err *err)
{
	return detach_others(ifindex, false, 0, true, err);
}

int tk_fast_uplink(const struct tk_fast *f, int ifindex, bool on, tk_err *err)
{
	return tk_tcx_attach(ifindex, false, on ? f->back : -1, err);
}

const char *tk_fast_way_name(enum tk_fast_way way)
{
	static const char *const names[_TK_FAST_WAY_MAX] = {
		[TK_FAST_BRIDGED] = "bridged",	 [TK_FAST_ROUTED] = "routed",
		[TK_FAST_TO_HOST] = "to_host",	 [TK_FAST_NAT_OUT] = "nat_out",
		[TK_FAST_NAT_BACK] = "nat_back", [TK_FAST_BRIDGE] = "bridge",
	};

	return (unsigned)way < _TK_FAST_WAY_MAX ? names[way] : "?";
}

int tk_fast_counts_open(tk_err *err)
{
	union bpf_attr attr = { .map_type = BPF_MAP_TYPE_PERCPU_ARRAY,
				.key_size = sizeof(uint32_t),
				.value_size = sizeof(struct tk_fast_count),
				.max_entries = _TK_FAST_WAY_MAX };
	int fd;

	snprintf(attr.map_name, sizeof(attr.map_name), "tk_fast_counts");
	if ((fd = bpf(BPF_MAP_CREATE, &attr)) < 0)
		return tk_err_set(err, -errno, "cannot create the fast path's counters: %m");
	return fd;
}

int tk_fast_counts_read(int counts, struct tk_fast_count ret[_TK_FAST_WAY_MAX], tk_err *err)
{
	_cleanup_free_ struct tk_fast_count *cpu = NULL;
	/* A per-CPU map's value has a slot for each possible CPU. */
	int n = libbpf_num_possible_cpus();

	if (n < 0)
		return tk_err_set(err, n, "cannot read the possible CPUs: %s", strerror(-n));
	if (!(cpu = calloc((size_t)n, sizeof(*cpu))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	for (uint32_t way = 0; way < _TK_FAST_WAY_MAX; way++) {
		union bpf_attr attr = { .map_fd = (uint32_t)counts,
					.key = (uint64_t)(uintptr_t)&way,
					.value = (uint64_t)(uintptr_t)cpu };

		if (bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0)
			return tk_err_set(err, -errno, "cannot read the fast path's counters: %m");
		ret[way] = (struct tk_fast_count){};
		for (int i = 0; i < n; i++) {
			ret[way].packets += cpu[i].packets;
			ret[way].bytes += cpu[i].bytes;
		}
	}
	return 0;
}

/* A program array of one slot, named name. */
static int chain_create(const char *name, tk_err *err)
{
	union bpf_attr attr = { .map_type = BPF_MAP_TYPE_PROG_ARRAY,
				.key_size = sizeof(uint32_t),
				.value_size = sizeof(uint32_t),
				.max_entries = 1 };
	int fd;

	snprintf(attr.map_name, sizeof(attr.map_name), "%s", name);
	if ((fd = bpf(BPF_MAP_CREATE, &attr)) < 0)
		return tk_err_set(err, -errno,
				  "cannot create the fast path's chain %s (BPF map): %m", name);
	return fd;
}

/* chain's slot to prog (-1: empties it). */
static int chain_set(int chain, int prog, tk_err *err)
{
	const uint32_t key = 0, value = (uint32_t)prog;
	union bpf_attr attr = { .map_fd = (uint32_t)chain,
				.key = (uint64_t)(uintptr_t)&key,
				.value = (uint64_t)(uintptr_t)&value,
				.flags = BPF_ANY };

	if (prog >= 0 ? bpf(BPF_MAP_UPDATE_ELEM, &attr) >= 0
		      : bpf(BPF_MAP_DELETE_ELEM, &attr) >= 0 || errno == ENOENT)
		return 0;
	return tk_err_set(err, -errno, "cannot set the fast path's chain: %m");
}

int tk_fast_chain_open(tk_err *err)
{
	return chain_create("tk_fast_chain", err);
}

int tk_fast_chain_set(int chain, const struct tk_fast *f, tk_err *err)
{
	return chain_set(chain, f->tail, err);
}

/* r1 = skb: the program in chain's slot, or on to the next (an empty slot: the tail call falls
 * through). */
static int stub_load(int chain, tk_err *err)
{
	struct prog p = {};

	map_fd(&p, BPF_REG_2, chain);
	emit(&p, MOV64_IMM(BPF_REG_3, 0));
	emit(&p, CALL(BPF_FUNC_tail_call));
	emit(&p, MOV64_IMM(BPF_REG_0, TK_TCX_NEXT));
	emit(&p, EXIT());
	return program_load(&p, "tk_fast", err);
}

int tk_fast_port_open(struct tk_fast_port *p, tk_err *err)
{
	int r;

	*p = (struct tk_fast_port)TK_FAST_PORT_INIT;
	if ((p->chain = r = chain_create("tk_fast_port", err)) < 0 ||
	    (p->prog = r = stub_load(p->chain, err)) < 0)
		tk_fast_port_close(p);
	return r < 0 ? r : 0;
}

void tk_fast_port_close(struct tk_fast_port *p)
{
	if (p->prog >= 0)
		close(p->prog);
	if (p->chain >= 0)
		close(p->chain);
	*p = (struct tk_fast_port)TK_FAST_PORT_INIT;
}

static int prog_info(int fd, struct bpf_prog_info *info, uint32_t *map_ids, uint32_t n_maps)
{
	union bpf_attr attr = { .info = { .bpf_fd = (uint32_t)fd,
					  .info_len = sizeof(*info),
					  .info = (uint64_t)(uintptr_t)info } };

	*info = (struct bpf_prog_info){ .nr_map_ids = n_maps,
					.map_ids = (uint64_t)(uintptr_t)map_ids };
	return bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0 ? -errno : 0;
}

/* The chain prog (a stub of ours: the same code as mine, named alike) calls through; -1: none. */
static int stub_chain(int prog, int mine)
{
	struct bpf_prog_info info, my_info;
	struct bpf_map_info map = {};
	uint32_t map_ids[2], my_map_ids[2];
	union bpf_attr get = {}, attr = { .info = { .info_len = sizeof(map),
						    .info = (uint64_t)(uintptr_t)&map } };
	int fd;

	/* A program's tag hashes its instructions with the maps' descriptors left out. */
	if (prog_info(prog, &info, map_ids, 2) < 0 ||
	    prog_info(mine, &my_info, my_map_ids, 2) < 0 || info.nr_map_ids != 1 ||
	    memcmp(info.tag, my_info.tag, sizeof(info.tag)) != 0 ||
	    strcmp(info.name, my_info.name) != 0)
		return -1;
	get.map_id = map_ids[0];
	if ((fd = bpf(BPF_MAP_GET_FD_BY_ID, &get)) < 0)
		return -1;
	attr.info.bpf_fd = (uint32_t)fd;
	if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0 || map.type != BPF_MAP_TYPE_PROG_ARRAY ||
	    map.max_entries != 1 || strcmp(map.name, "tk_fast_port") != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int tk_fast_port_adopt(struct tk_fast_port *p, int ifindex)
{
	uint32_t ids[64], n = ELEMENTSOF(ids);

	if (tcx_query(ifindex, false, ids, &n) < 0)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		union bpf_attr get = { .prog_id = ids[i] };
		int prog, chain;

		if ((prog = bpf(BPF_PROG_GET_FD_BY_ID, &get)) < 0)
			continue;
		if (ids[i] == prog_id(p->prog, NULL)) {
			close(prog);
			return 1;
		}
		if ((chain = stub_chain(prog, p->prog)) < 0) {
			close(prog);
			continue;
		}
		tk_fast_port_close(p);
		p->prog = prog;
		p->chain = chain;
		return 1;
	}
	return 0;
}

int tk_fast_port_set(const struct tk_fast_port *p, const struct tk_fast *f, tk_err *err)
{
	return chain_set(p->chain, f->prog, err);
}
