/*
 * test_bpf.c - the query prefilter (bpf/prefilter.bpf.c) and its loader
 * (user/bpfload): every program through the verifier within a budget;
 * crafted packets through BPF_PROG_TEST_RUN for all three programs, each
 * asserting the verdict and the exact per-reason counter delta; namespace
 * shape and membership changed at run time; ABI, hash, foreign-program and
 * dimension refusals; pinning, stale pins, bpftool's view; real sockets with
 * the eBPF filter and with the classic-BPF fallback (also unprivileged); XDP
 * attached over veth in private network namespaces, at MTU 1500 (fragments)
 * and 9000 (the frags variant).
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces), bpftool
 * and ip; a missing one is a SKIP with the reason. Children (namespaces,
 * dropped privileges) report through their exit status, never cmocka.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfload/bpfload.h"
#include "format/ebpf.h"
#include "format/hash.h"
#include "rvf/rvf.h"
#include "testutil.h"

#define TEST_PORT   7499
#define SRC_PORT    40123
#define VERIFY_BUDGET 2000u      /* verified insns per program (xdp: about 1100 today) */

/* Namespaces the fixture configures. */
#define NS_F32   42u             /* dim 8 f32, member */
#define NS_F16   43u             /* dim 16 f16, max_k 10, member */
#define NS_OUT   44u             /* dim 8 f32, not a member */
#define NS_BARE  45u             /* member, but no shape configured */
#define NS_BIG   46u             /* dim 1536 f32 (6 KB queries), member */
#define NS_HUGE  70000u          /* beyond RVF_WIRE_MAX_NS */

static const struct {
	uint32_t ns;
	struct rvf_wire_ns shape;
	bool member;
} NSS[] = {
	{ NS_F32, { .dim = 8, .elem_type = RVF_WIRE_ELEM_F32 }, true },
	{ NS_F16, { .dim = 16, .elem_type = RVF_WIRE_ELEM_F16, .max_k = 10 }, true },
	{ NS_OUT, { .dim = 8, .elem_type = RVF_WIRE_ELEM_F32 }, false },
	{ NS_BARE, { 0 }, true },
	{ NS_BIG, { .dim = 1536, .elem_type = RVF_WIRE_ELEM_F32 }, true },
};

/* Counter index of a struct rvf_wire_counters field. */
#define C(f) ((unsigned)(offsetof(struct rvf_wire_counters, f) / 8))
#define NCOUNT ((unsigned)(sizeof(struct rvf_wire_counters) / 8))
static const char *const counter_names[] = {
	"passed", "bad_magic", "bad_version", "bad_header", "bad_dim", "bad_length", "bad_k",
	"not_member", "truncated", "nonfinite", "other_passed", "fragments", "redirected",
};
_Static_assert(sizeof(counter_names) / sizeof(counter_names[0]) == NCOUNT, "a name per counter");

static const char *const prog_names[RVF_BPF_NPROGS] = {
	"sock_prefilter", "xdp_prefilter", "xdp_prefilter_mb",
};

/* ---- log capture ------------------------------------------------------------ */

static char logbuf[32768];
static size_t loglen;

static void capture_log(void *ctx, enum rvf_log_level level, const char *msg)
{
	size_t n = strlen(msg);

	rvf_log_stderr(ctx, level, msg);
	if (loglen + n + 2 < sizeof(logbuf)) {
		memcpy(logbuf + loglen, msg, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = 0;
	}
}

static void log_reset(void)
{
	loglen = 0;
	logbuf[0] = 0;
}

/* ---- queries and frames ------------------------------------------------------ */

enum fld { F_NONE, F_MAGIC, F_VERSION, F_FLAGS, F_HDR_LEN, F_DIM, F_ELEM, F_RESERVED, F_K, F_EF,
	   F_EXTRA, F_CUT };

static struct rvf_wire_ns shape_of(uint32_t ns)
{
	size_t i;

	for (i = 0; i < sizeof(NSS) / sizeof(NSS[0]); i++)
		if (NSS[i].ns == ns)
			return NSS[i].shape;
	return (struct rvf_wire_ns){ .dim = 8, .elem_type = RVF_WIRE_ELEM_F32 };
}

/*
 * A query for ns, valid for its shape, with field f set to v: F_EXTRA adds
 * (or removes) vector bytes, F_CUT cuts the whole datagram to v bytes.
 * Returns the datagram length.
 */
static size_t make_query(uint8_t *out, uint32_t ns, enum fld f, int64_t v, uint64_t id)
{
	struct rvf_wire_ns sh = shape_of(ns);
	struct rvf_wire_query q = {
		.magic = RVF_WIRE_QUERY_MAGIC, .version = RVF_WIRE_VERSION,
		.hdr_len = RVF_WIRE_QUERY_HDR_LEN, .dim = sh.dim, .elem_type = sh.elem_type,
		.k = 5, .ef = 0, .ns_id = ns, .request_id = id,
	};
	size_t vec = (size_t)sh.dim * rvf_wire_elem_size(sh.elem_type), len, i;
	float x = 0.25f;

	switch (f) {
	case F_NONE: case F_EXTRA: case F_CUT: break;
	case F_MAGIC: q.magic = (uint32_t)v; break;
	case F_VERSION: q.version = (uint8_t)v; break;
	case F_FLAGS: q.flags = (uint8_t)v; break;
	case F_HDR_LEN: q.hdr_len = (uint16_t)v; break;
	case F_DIM: q.dim = (uint16_t)v; break;
	case F_ELEM: q.elem_type = (uint8_t)v; break;
	case F_RESERVED: q.reserved = (uint8_t)v; break;
	case F_K: q.k = (uint16_t)v; break;
	case F_EF: q.ef = (uint16_t)v; break;
	}
	memcpy(out, &q, sizeof(q));
	len = sizeof(q) + vec + (f == F_EXTRA ? (size_t)v : 0);
	for (i = sizeof(q); i + 4 <= len; i += 4)
		memcpy(out + i, &x, 4);
	for (; i < len; i++)
		out[i] = 0x3e;
	return f == F_CUT ? (size_t)v : len;
}

static size_t make_stats(uint8_t *out, uint64_t id)
{
	struct rvf_wire_query q = { .magic = RVF_WIRE_STATS_MAGIC, .version = RVF_WIRE_VERSION,
				    .hdr_len = RVF_WIRE_QUERY_HDR_LEN, .request_id = id };

	memcpy(out, &q, sizeof(q));
	return sizeof(q);
}

static uint16_t ip_csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

struct frame {
	int vlans;                  /* 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) */
	int opt_words;              /* IP option words (ihl = 5 + opt_words) */
	uint16_t frag;              /* IP flags+offset, host order */
	bool no_udp;                /* payload is a middle of a datagram (non-first fragment) */
	int udp_len_delta, tot_len_delta;
	uint8_t proto;              /* 0 = UDP */
	uint16_t dport;             /* 0 = TEST_PORT */
	size_t l4_cut;              /* first fragment carrying only this many L4 bytes */
	uint32_t full_dgram;        /* with l4_cut: the whole datagram's UDP payload length */
};

static size_t put_eth(uint8_t *o, uint16_t type, int vlans)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	size_t n = 12;

	memcpy(o, macs, 12);
	if (vlans == 2) {
		o[n++] = 0x88; o[n++] = 0xa8; o[n++] = 0x00; o[n++] = 0x64;
	}
	if (vlans >= 1) {
		o[n++] = 0x81; o[n++] = 0x00; o[n++] = 0x00; o[n++] = 0x07;
	}
	o[n++] = (uint8_t)(type >> 8);
	o[n++] = (uint8_t)type;
	return n;
}

/* Ethernet + IPv4 + UDP frame around a datagram (or raw L4 bytes). */
static size_t frame_ipv4(uint8_t *o, const struct frame *fr, const uint8_t *d, size_t dlen)
{
	size_t l3 = put_eth(o, 0x0800, fr->vlans), ihl = 20 + 4 * (size_t)fr->opt_words, l4, n;
	uint8_t *ip = o + l3;
	uint32_t udp_len = (uint32_t)(8 + (fr->l4_cut ? fr->full_dgram : dlen)) + fr->udp_len_delta;

	l4 = l3 + ihl;
	if (fr->no_udp) {
		memcpy(o + l4, d, dlen);
		n = l4 + dlen;
	} else {
		uint16_t sp = htons(SRC_PORT), dp = htons(fr->dport ? fr->dport : TEST_PORT);
		uint16_t ul = htons((uint16_t)udp_len), zero = 0;

		memcpy(o + l4, &sp, 2);
		memcpy(o + l4 + 2, &dp, 2);
		memcpy(o + l4 + 4, &ul, 2);
		memcpy(o + l4 + 6, &zero, 2);
		memcpy(o + l4 + 8, d, dlen);
		n = l4 + 8 + dlen;
		if (fr->l4_cut)
			n = l4 + fr->l4_cut;
	}
	memset(ip, 0, ihl);
	ip[0] = (uint8_t)(0x40 | (ihl / 4));
	{
		uint16_t tot = htons((uint16_t)((int)(n - l3) + fr->tot_len_delta));
		uint16_t frag = htons(fr->frag);

		memcpy(ip + 2, &tot, 2);
		ip[4] = 0x12; ip[5] = 0x34;
		memcpy(ip + 6, &frag, 2);
	}
	ip[8] = 64;
	ip[9] = fr->proto ? fr->proto : IPPROTO_UDP;
	ip[12] = 10; ip[13] = 0; ip[14] = 0; ip[15] = 1;
	ip[16] = 10; ip[17] = 0; ip[18] = 0; ip[19] = 2;
	memset(ip + 20, 1, ihl - 20);           /* NOP options */
	{
		uint16_t c = ip_csum(ip, ihl);

		memcpy(ip + 10, &c, 2);
	}
	return n;
}

static size_t frame_ipv6(uint8_t *o, const uint8_t *d, size_t dlen)
{
	size_t l3 = put_eth(o, 0x86dd, 0);
	uint8_t *ip = o + l3, *udp = ip + 40;
	uint16_t plen = htons((uint16_t)(8 + dlen)), sp = htons(SRC_PORT), dp = htons(TEST_PORT);

	memset(ip, 0, 40);
	ip[0] = 0x60;
	memcpy(ip + 4, &plen, 2);
	ip[6] = IPPROTO_UDP;
	ip[7] = 64;
	ip[23] = 1;
	ip[39] = 2;
	memcpy(udp, &sp, 2);
	memcpy(udp + 2, &dp, 2);
	memcpy(udp + 4, &plen, 2);
	memset(udp + 6, 0, 2);
	memcpy(udp + 8, d, dlen);
	return l3 + 40 + 8 + dlen;
}

static size_t frame_arp(uint8_t *o)
{
	static const uint8_t arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1,
					 0, 0, 0, 0, 0, 0, 10, 0, 0, 2 };
	size_t l3 = put_eth(o, 0x0806, 0);

	memcpy(o + l3, arp, sizeof(arp));
	return l3 + sizeof(arp);
}

/* What a socket filter sees, in BPF_PROG_TEST_RUN: the skb test harness
 * pulls a 14-byte Ethernet header, so a fake one goes first and offset 0 is
 * the UDP header, as on a real UDP socket. */
static size_t frame_sock(uint8_t *o, const uint8_t *d, size_t dlen)
{
	size_t l2 = put_eth(o, 0x88b5, 0);
	uint16_t sp = htons(SRC_PORT), dp = htons(TEST_PORT), ul = htons((uint16_t)(8 + dlen)), z = 0;

	memcpy(o + l2, &sp, 2);
	memcpy(o + l2 + 2, &dp, 2);
	memcpy(o + l2 + 4, &ul, 2);
	memcpy(o + l2 + 6, &z, 2);
	memcpy(o + l2 + 8, d, dlen);
	return l2 + 8 + dlen;
}

/* ---- fixture ------------------------------------------------------------------ */

struct fx {
	struct rvf_bpf *b;
	char pin[96];
	int fd[RVF_BPF_NPROGS];
};

static int pin_seq;

static void pin_dir_name(char *out, size_t len)
{
	snprintf(out, len, "/sys/fs/bpf/rvf-test-%d-%d", (int)getpid(), ++pin_seq);
}

/* Set up NSS in b; usable in children (no cmocka). */
static int configure_ns(struct rvf_bpf *b)
{
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(NSS) / sizeof(NSS[0]) && !err; i++) {
		err = rvf_bpf_set_ns(b, NSS[i].ns, NSS[i].shape.dim ? &NSS[i].shape : NULL);
		err = err ? err : rvf_bpf_set_member(b, NSS[i].ns, NSS[i].member);
	}
	return err;
}

static void configure(struct rvf_bpf *b)
{
	assert_int_equal(configure_ns(b), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct rvf_bpf_opts o = { .port = TEST_PORT };
	int i;

	pin_dir_name(f->pin, sizeof(f->pin));
	o.pin_dir = f->pin;
	log_reset();
	assert_int_equal(rvf_bpf_open(&o, &f->b), 0);
	configure(f->b);
	for (i = 0; i < RVF_BPF_NPROGS; i++) {
		f->fd[i] = rvf_bpf_prog_fd(f->b, (enum rvf_bpf_prog)i);
		assert_true(f->fd[i] >= 0);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rvf_bpf_close(f->b);
	free(f);
	return 0;
}

/* ---- running packets ----------------------------------------------------------- */

static uint32_t run(int fd, const void *pkt, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = (uint32_t)len, .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(fd, &t), 0);
	return t.retval;
}

static void counters(struct rvf_bpf *b, uint32_t slot, uint64_t out[NCOUNT])
{
	struct rvf_wire_counters c;

	assert_int_equal(rvf_bpf_counters(b, slot, &c), 0);
	memcpy(out, &c, sizeof(c));
}

/* Run pkt through program p: the verdict must be pass/drop and exactly one
 * counter (reason) must have moved, by one. */
static void expect(struct fx *f, enum rvf_bpf_prog p, const void *pkt, size_t len, bool pass,
		   unsigned reason, const char *what)
{
	uint32_t slot = p == RVF_BPF_PROG_SOCK ? RVF_WIRE_SLOT_SOCK : RVF_WIRE_SLOT_XDP;
	uint64_t before[NCOUNT], after[NCOUNT];
	uint32_t rv, want;
	unsigned i;

	want = p == RVF_BPF_PROG_SOCK ? (pass ? (uint32_t)(len - 14) : 0) : (pass ? XDP_PASS : XDP_DROP);
	counters(f->b, slot, before);
	rv = run(f->fd[p], pkt, len);
	counters(f->b, slot, after);
	if (rv != want)
		fail_msg("%s: %s: verdict %u, expected %u (%s)", prog_names[p], what, rv, want,
			 pass ? "pass" : "drop");
	for (i = 0; i < NCOUNT; i++)
		if (after[i] != before[i] + (i == reason))
			fail_msg("%s: %s: counter %s went %llu -> %llu, expected %s", prog_names[p], what,
				 counter_names[i], (unsigned long long)before[i],
				 (unsigned long long)after[i], i == reason ? "+1" : "no change");
}

/* The query-level cases every program judges the same way. */
struct qcase {
	const char *name;
	uint32_t ns;
	enum fld f;
	int64_t v;
	bool pass;
	unsigned reason;
};

static const struct qcase QCASES[] = {
	{ "valid f32 query", NS_F32, F_NONE, 0, true, C(passed) },
	{ "valid f16 query", NS_F16, F_NONE, 0, true, C(passed) },
	{ "ef == k", NS_F32, F_EF, 5, true, C(passed) },
	{ "k == max_k", NS_F32, F_K, RVF_WIRE_MAX_K, true, C(passed) },
	{ "bad magic", NS_F32, F_MAGIC, 0x31515653, false, C(bad_magic) },
	{ "reply magic", NS_F32, F_MAGIC, RVF_WIRE_REPLY_MAGIC, false, C(bad_magic) },
	{ "version 2", NS_F32, F_VERSION, 2, false, C(bad_version) },
	{ "version 0", NS_F32, F_VERSION, 0, false, C(bad_version) },
	{ "hdr_len 40", NS_F32, F_HDR_LEN, 40, false, C(bad_header) },
	{ "unknown flag", NS_F32, F_FLAGS, 1, false, C(bad_header) },
	{ "reserved set", NS_F32, F_RESERVED, 1, false, C(bad_header) },
	{ "dim 9 for a dim-8 namespace", NS_F32, F_DIM, 9, false, C(bad_dim) },
	{ "f16 for an f32 namespace", NS_F32, F_ELEM, RVF_WIRE_ELEM_F16, false, C(bad_dim) },
	{ "unknown elem_type", NS_F32, F_ELEM, 7, false, C(bad_dim) },
	{ "vector one element short", NS_F32, F_EXTRA, -4, false, C(bad_length) },
	{ "one byte too long", NS_F32, F_EXTRA, 1, false, C(bad_length) },
	{ "k == 0", NS_F32, F_K, 0, false, C(bad_k) },
	{ "k > RVF_WIRE_MAX_K", NS_F32, F_K, RVF_WIRE_MAX_K + 1, false, C(bad_k) },
	{ "k above the namespace's max_k", NS_F16, F_K, 11, false, C(bad_k) },
	{ "ef < k", NS_F32, F_EF, 4, false, C(bad_k) },
	{ "header cut to 20 bytes", NS_F32, F_CUT, 20, false, C(truncated) },
	{ "header cut to 31 bytes", NS_F32, F_CUT, 31, false, C(truncated) },
	{ "empty datagram", NS_F32, F_CUT, 0, false, C(truncated) },
	{ "namespace not a member", NS_OUT, F_NONE, 0, false, C(not_member) },
	{ "member without a shape", NS_BARE, F_NONE, 0, false, C(bad_dim) },
	{ "namespace >= RVF_WIRE_MAX_NS", NS_HUGE, F_NONE, 0, false, C(not_member) },
};
#define NQCASES (sizeof(QCASES) / sizeof(QCASES[0]))

static uint8_t dgram[70000], pkt[70000];

static void sock_prefilter_judges_every_field(void **state)
{
	struct fx *f = *state;
	size_t i, n;

	for (i = 0; i < NQCASES; i++) {
		const struct qcase *c = &QCASES[i];

		n = make_query(dgram, c->ns, c->f, c->v, i + 1);
		expect(f, RVF_BPF_PROG_SOCK, pkt, frame_sock(pkt, dgram, n), c->pass, c->reason, c->name);
	}
	n = make_stats(dgram, 77);
	expect(f, RVF_BPF_PROG_SOCK, pkt, frame_sock(pkt, dgram, n), true, C(other_passed),
	       "stats request");
}

/* Every case in three framings: plain (the in-place fast path), and with a
 * VLAN tag or IP options (the copy-out path). */
static void xdp_judges_every_field(struct fx *f, enum rvf_bpf_prog p)
{
	static const struct frame framings[] = { { 0 }, { .vlans = 1 }, { .opt_words = 1 } };
	static const char *const fname[] = { "plain", "802.1Q", "IP options" };
	char what[128];
	size_t i, j, n;

	for (j = 0; j < 3; j++) {
		for (i = 0; i < NQCASES; i++) {
			const struct qcase *c = &QCASES[i];

			n = make_query(dgram, c->ns, c->f, c->v, i + 1);
			snprintf(what, sizeof(what), "%s (%s)", c->name, fname[j]);
			expect(f, p, pkt, frame_ipv4(pkt, &framings[j], dgram, n), c->pass, c->reason, what);
		}
		n = make_stats(dgram, 77);
		snprintf(what, sizeof(what), "stats request (%s)", fname[j]);
		expect(f, p, pkt, frame_ipv4(pkt, &framings[j], dgram, n), true, C(other_passed), what);
	}
}

static void xdp_prefilter_judges_every_field(void **state)
{
	xdp_judges_every_field(*state, RVF_BPF_PROG_XDP);
}

static void xdp_prefilter_mb_judges_every_field(void **state)
{
	xdp_judges_every_field(*state, RVF_BPF_PROG_XDP_MB);
}

/* Framing only XDP sees: L2/L3 variants, other traffic, fragments, big frames. */
static void xdp_framing(struct fx *f, enum rvf_bpf_prog p)
{
	size_t n, big;
	uint8_t raw[1480];

	n = make_query(dgram, NS_F32, F_NONE, 0, 1);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .vlans = 1 }, dgram, n), true, C(passed),
	       "802.1Q-tagged query");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .vlans = 2 }, dgram, n), true, C(passed),
	       "802.1ad+802.1Q (QinQ) query");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .opt_words = 3 }, dgram, n), true,
	       C(passed), "IPv4 header with options");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .dport = TEST_PORT + 1 }, dgram, n), true,
	       C(other_passed), "query to another port");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .proto = IPPROTO_TCP }, dgram, n), true,
	       C(other_passed), "TCP to the port");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .proto = IPPROTO_TCP, .opt_words = 2 },
				      dgram, n), true, C(other_passed), "TCP with IP options");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .vlans = 1, .dport = 53 }, dgram, n), true,
	       C(other_passed), "802.1Q-tagged UDP to another port");
	expect(f, p, pkt, frame_ipv6(pkt, dgram, n), true, C(other_passed), "IPv6 UDP query");
	expect(f, p, pkt, frame_arp(pkt), true, C(other_passed), "ARP request");
	expect(f, p, pkt, put_eth(pkt, 0x0800, 0) + 10, true, C(other_passed),
	       "IPv4 ethertype, 10 bytes of IP header");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .tot_len_delta = 4 }, dgram, n), false,
	       C(truncated), "IP total length beyond the frame");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .udp_len_delta = 4 }, dgram, n), false,
	       C(truncated), "UDP length beyond the IP payload");
	/* Ethernet padding after the IP datagram is not part of the query. */
	n = make_query(dgram, NS_F32, F_NONE, 0, 1);
	memset(dgram + n, 0, 8);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .tot_len_delta = -8, .udp_len_delta = -8 },
				      dgram, n + 8), true, C(passed), "frame with trailing padding");
	n = make_query(dgram, NS_F32, F_CUT, 20, 1);
	memset(dgram + n, 0, 24);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .tot_len_delta = -24, .udp_len_delta = -24 },
				      dgram, n + 24), false, C(truncated),
	       "20-byte datagram in a padded frame");
	n = make_query(dgram, NS_F32, F_MAGIC, 0x01020304, 1);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .vlans = 1 }, dgram, n), false,
	       C(bad_magic), "802.1Q-tagged bad magic");
	n = make_query(dgram, NS_F32, F_CUT, 10, 1);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ 0 }, dgram, n), false, C(truncated),
	       "10-byte datagram to the port");

	/* A 1536-dim query as it arrives at MTU 1500: first fragment (its UDP
	 * length is the whole datagram's) judged by the header, the rest passed. */
	big = make_query(dgram, NS_BIG, F_NONE, 0, 2);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .frag = 0x2000, .l4_cut = 1480,
							   .full_dgram = (uint32_t)big }, dgram, big),
	       true, C(passed), "first fragment of a valid 6 KB query");
	n = make_query(dgram, NS_BIG, F_DIM, 1535, 2);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .frag = 0x2000, .l4_cut = 1480,
							   .full_dgram = (uint32_t)big }, dgram, big),
	       false, C(bad_dim), "first fragment with the wrong dim");
	n = make_query(dgram, NS_BIG, F_NONE, 0, 2);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .frag = 0x2000, .l4_cut = 1480,
							   .full_dgram = (uint32_t)big - 4 }, dgram, big),
	       false, C(bad_length), "first fragment whose UDP length is one element short");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .frag = 0x2000, .l4_cut = 16,
							   .full_dgram = (uint32_t)big }, dgram, big),
	       true, C(fragments), "tiny first fragment (no whole query header)");
	memset(raw, 0xa5, sizeof(raw));
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .frag = 0x2000 | 185, .no_udp = true },
				      raw, sizeof(raw)), true, C(fragments), "middle fragment");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .frag = 740, .no_udp = true }, raw, 744),
	       true, C(fragments), "last fragment");
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .frag = 0x2000 | 185, .no_udp = true,
							   .vlans = 1 }, raw, sizeof(raw)),
	       true, C(fragments), "802.1Q-tagged middle fragment");
	n = make_query(dgram, NS_BIG, F_MAGIC, 0x01020304, 2);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ .frag = 0x2000, .l4_cut = 1480, .vlans = 2,
							   .full_dgram = (uint32_t)big }, dgram, big),
	       false, C(bad_magic), "QinQ first fragment with a bad magic");

	/* The same query unfragmented: 6218 bytes, more than test_run's 3520
	 * linear bytes, so the tail arrives as frags (the MTU 9000 path). */
	n = make_query(dgram, NS_BIG, F_NONE, 0, 3);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ 0 }, dgram, n), true, C(passed),
	       "6 KB query in one frame");
	n = make_query(dgram, NS_BIG, F_EXTRA, -4, 3);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ 0 }, dgram, n), false, C(bad_length),
	       "6 KB query one element short");
	n = make_query(dgram, NS_BIG, F_K, 0, 3);
	expect(f, p, pkt, frame_ipv4(pkt, &(struct frame){ 0 }, dgram, n), false, C(bad_k),
	       "6 KB query with k == 0");
}

static void xdp_prefilter_handles_framing_and_fragments(void **state)
{
	xdp_framing(*state, RVF_BPF_PROG_XDP);
}

static void xdp_prefilter_mb_handles_framing_and_fragments(void **state)
{
	xdp_framing(*state, RVF_BPF_PROG_XDP_MB);
}

static void every_program_verifies_within_budget(void **state)
{
	struct fx *f = *state;
	uint32_t insns[RVF_BPF_NPROGS];
	int i;

	for (i = 0; i < RVF_BPF_NPROGS; i++) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);

		memset(&info, 0, sizeof(info));
		assert_int_equal(bpf_obj_get_info_by_fd(f->fd[i], &info, &len), 0);
		assert_string_equal(info.name, i == RVF_BPF_PROG_XDP_MB ? "xdp_prefilter_m" : prog_names[i]);
		insns[i] = info.verified_insns;
		assert_true(insns[i] > 0);
		if (insns[i] > VERIFY_BUDGET)
			fail_msg("%s: %u verified instructions, budget %u", prog_names[i], insns[i],
				 VERIFY_BUDGET);
		printf("info: %s: %u verified insns, %u xlated bytes, %u jited bytes\n", prog_names[i],
		       insns[i], info.xlated_prog_len, info.jited_prog_len);
	}
}

/* ---- run-time namespace changes ----------------------------------------------- */

static void membership_flips_without_reload(void **state)
{
	struct fx *f = *state;
	struct frame plain = { 0 };
	uint32_t key = NS_OUT / 64;
	uint64_t word = 0;
	size_t n = make_query(dgram, NS_OUT, F_NONE, 0, 1), ns_len, x_len;
	uint8_t xpkt[256];
	char path[160];
	int mfd;

	ns_len = frame_sock(pkt, dgram, n);
	x_len = frame_ipv4(xpkt, &plain, dgram, n);
	expect(f, RVF_BPF_PROG_SOCK, pkt, ns_len, false, C(not_member), "before admitting");
	expect(f, RVF_BPF_PROG_XDP, xpkt, x_len, false, C(not_member), "before admitting");
	assert_int_equal(rvf_bpf_set_member(f->b, NS_OUT, true), 0);
	/* the mmap'd word is the map's word (what bpf_map_lookup_elem sees) */
	snprintf(path, sizeof(path), "%s/rvf_members", f->pin);
	mfd = bpf_obj_get(path);
	assert_true(mfd >= 0);
	assert_int_equal(bpf_map_lookup_elem(mfd, &key, &word), 0);
	close(mfd);
	assert_true(word & (1ull << (NS_OUT % 64)));
	expect(f, RVF_BPF_PROG_SOCK, pkt, ns_len, true, C(passed), "after admitting");
	expect(f, RVF_BPF_PROG_XDP, xpkt, x_len, true, C(passed), "after admitting");
	expect(f, RVF_BPF_PROG_XDP_MB, xpkt, x_len, true, C(passed), "after admitting");
	/* a neighbour bit in the same word does not disturb it */
	assert_int_equal(rvf_bpf_set_member(f->b, NS_OUT + 1, true), 0);
	assert_int_equal(rvf_bpf_set_member(f->b, NS_OUT, false), 0);
	expect(f, RVF_BPF_PROG_SOCK, pkt, ns_len, false, C(not_member), "after refusing again");
	expect(f, RVF_BPF_PROG_XDP, xpkt, x_len, false, C(not_member), "after refusing again");
	n = make_query(dgram, NS_F32, F_NONE, 0, 1);
	expect(f, RVF_BPF_PROG_SOCK, pkt, frame_sock(pkt, dgram, n), true, C(passed),
	       "another namespace untouched");
}

static void shape_changes_without_reload(void **state)
{
	struct fx *f = *state;
	struct rvf_wire_ns wide = { .dim = 12, .elem_type = RVF_WIRE_ELEM_I8, .max_k = 3 };
	size_t n = make_query(dgram, NS_F32, F_NONE, 0, 1);
	struct rvf_wire_query q;

	expect(f, RVF_BPF_PROG_SOCK, pkt, frame_sock(pkt, dgram, n), true, C(passed), "old shape");
	assert_int_equal(rvf_bpf_set_ns(f->b, NS_F32, &wide), 0);
	expect(f, RVF_BPF_PROG_SOCK, pkt, frame_sock(pkt, dgram, n), false, C(bad_dim),
	       "old query after the change");
	/* a query of the new shape: dim 12 int8, k <= 3 */
	memcpy(&q, dgram, sizeof(q));
	q.dim = 12;
	q.elem_type = RVF_WIRE_ELEM_I8;
	q.k = 3;
	memcpy(dgram, &q, sizeof(q));
	memset(dgram + sizeof(q), 1, 12);
	expect(f, RVF_BPF_PROG_SOCK, pkt, frame_sock(pkt, dgram, sizeof(q) + 12), true, C(passed),
	       "new shape");
	expect(f, RVF_BPF_PROG_XDP, pkt, frame_ipv4(pkt, &(struct frame){ 0 }, dgram, sizeof(q) + 12),
	       true, C(passed), "new shape");
	q.k = 4;
	memcpy(dgram, &q, sizeof(q));
	expect(f, RVF_BPF_PROG_SOCK, pkt, frame_sock(pkt, dgram, sizeof(q) + 12), false, C(bad_k),
	       "k above the new max_k");
	assert_int_equal(rvf_bpf_set_ns(f->b, NS_F32, NULL), 0);
	q.k = 3;
	memcpy(dgram, &q, sizeof(q));
	expect(f, RVF_BPF_PROG_SOCK, pkt, frame_sock(pkt, dgram, sizeof(q) + 12), false, C(bad_dim),
	       "cleared shape");
}

static void bad_namespace_arguments_are_refused(void **state)
{
	struct fx *f = *state;
	struct rvf_wire_ns ok = { .dim = 8, .elem_type = RVF_WIRE_ELEM_F32 };
	struct rvf_wire_ns bad[] = {
		{ .dim = 0, .elem_type = RVF_WIRE_ELEM_F32 },
		{ .dim = 8, .elem_type = 3 },
		{ .dim = 8, .elem_type = RVF_WIRE_ELEM_F32, .max_k = RVF_WIRE_MAX_K + 1 },
		{ .dim = 8, .elem_type = RVF_WIRE_ELEM_F32, .reserved8 = 1 },
		{ .dim = 8, .elem_type = RVF_WIRE_ELEM_F32, .reserved16 = 1 },
		{ .dim = RVF_WIRE_MAX_DIM + 1, .elem_type = RVF_WIRE_ELEM_I8 },
		{ .dim = RVF_WIRE_MAX_DIM, .elem_type = RVF_WIRE_ELEM_F32 },   /* > one datagram */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rvf_bpf_set_ns(f->b, 1, &bad[i]), -EINVAL);
	assert_int_equal(rvf_bpf_set_ns(f->b, RVF_WIRE_MAX_NS, &ok), -EINVAL);
	assert_int_equal(rvf_bpf_set_ns(f->b, RVF_WIRE_MAX_NS - 1, &ok), 0);
	assert_int_equal(rvf_bpf_set_member(f->b, RVF_WIRE_MAX_NS, true), -EINVAL);
	assert_int_equal(rvf_bpf_set_member(f->b, RVF_WIRE_MAX_NS - 1, true), 0);
	assert_int_equal(rvf_bpf_set_ns(NULL, 1, &ok), -EINVAL);
	assert_int_equal(rvf_bpf_counters(f->b, RVF_WIRE_NSLOTS, &(struct rvf_wire_counters){ 0 }),
			 -EINVAL);
	assert_int_equal(rvf_bpf_prog_fd(f->b, RVF_BPF_NPROGS), -EINVAL);
	{
		int tcp = socket(AF_INET, SOCK_STREAM, 0), null = open("/dev/null", O_RDONLY);

		assert_int_equal(rvf_bpf_attach_socket(f->b, null), -EINVAL);
		assert_int_equal(rvf_bpf_attach_socket(f->b, tcp), -EINVAL);
		close(tcp);
		close(null);
	}
	assert_int_equal(rvf_bpf_attach_xdp(f->b, 1, 7), -EINVAL);
	rvf_bpf_close(NULL);
}

static void user_counters_are_published_in_their_slot(void **state)
{
	struct fx *f = *state;
	struct rvf_wire_counters c = { .passed = 11, .bad_dim = 2, .nonfinite = 3 }, got;

	assert_int_equal(rvf_bpf_set_user_counters(f->b, &c), 0);
	assert_int_equal(rvf_bpf_counters(f->b, RVF_WIRE_SLOT_USER, &got), 0);
	assert_memory_equal(&got, &c, sizeof(c));
	assert_int_equal(rvf_bpf_counters_pinned(f->pin, RVF_WIRE_SLOT_USER, &got), 0);
	assert_memory_equal(&got, &c, sizeof(c));
}

/* ---- object ABI ------------------------------------------------------------------ */

static char *variant_path(const char *name)
{
	char exe[PATH_MAX], *p = NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = 0;
	if (asprintf(&p, "%s/../bpf/test/prefilter_%s.bpf.o", dirname(exe), name) < 0)
		abort();
	return p;
}

static int open_variant(const char *name, char *log_buf, size_t log_len, struct rvf_bpf **b)
{
	char *path = variant_path(name);
	size_t len;
	void *obj = tu_slurp(path, &len);
	struct rvf_bpf_opts o = { .obj = obj, .obj_len = len, .log_buf = log_buf, .log_len = log_len };
	int err;

	log_reset();
	err = rvf_bpf_open(&o, b);
	free(obj);
	free(path);
	return err;
}

static void wrong_abi_version_is_refused(void **state)
{
	struct rvf_bpf *b = NULL;

	(void)state;
	assert_int_equal(open_variant("abi2", NULL, 0, &b), -EPROTO);
	assert_null(b);
	assert_non_null(strstr(rvf_last_error(), "wire ABI 2"));
}

static void missing_map_is_refused(void **state)
{
	struct rvf_bpf *b = NULL;

	(void)state;
	assert_int_equal(open_variant("nomembers", NULL, 0, &b), -EPROTO);
	assert_null(b);
	assert_non_null(strstr(rvf_last_error(), "no map rvf_members"));
}

static void verifier_refusal_reports_its_last_lines(void **state)
{
	struct rvf_bpf *b = NULL;
	char vlog[1024] = "untouched";
	int err;

	(void)state;
	err = open_variant("reject", vlog, sizeof(vlog), &b);
	assert_int_equal(err, -EACCES);
	assert_null(b);
	assert_non_null(strstr(vlog, "invalid mem access"));
	assert_non_null(strstr(rvf_last_error(), "verifier refused sock_prefilter"));
	assert_non_null(strstr(rvf_last_error(), "invalid mem access"));
	assert_non_null(strstr(logbuf, "verifier: "));
}

static void garbage_objects_are_refused(void **state)
{
	struct rvf_bpf *b = NULL;
	struct tu_rng r;
	uint8_t junk[4096];
	size_t len;
	const uint8_t *builtin = rvf_bpf_builtin(&len);
	struct rvf_bpf_opts o = { .obj = junk, .obj_len = sizeof(junk) };

	(void)state;
	tu_rng_init(&r, tu_seed());
	tu_rng_fill(&r, junk, sizeof(junk));
	assert_int_equal(rvf_bpf_open(&o, &b), -EPROTO);
	memcpy(junk, builtin, sizeof(junk));     /* an ELF header, cut short */
	assert_int_equal(rvf_bpf_open(&o, &b), -EPROTO);
	o.obj_len = 0;
	assert_int_equal(rvf_bpf_open(&o, &b), -EINVAL);
	assert_null(b);
	assert_int_equal(rvf_bpf_open(NULL, NULL), -EINVAL);
}

static void builtin_object_and_hash_agree(void **state)
{
	uint8_t h[32], want[32];
	size_t len;
	const void *obj = rvf_bpf_builtin(&len);
	struct rvf_bpf *b = NULL;

	(void)state;
	assert_true(len > 1000);
	assert_memory_equal(obj, "\177ELF", 4);
	rvf_bpf_builtin_hash(h);
	assert_int_equal(sha256(obj, len, want), 0);
	assert_memory_equal(h, want, 32);
	/* all-zero options: the built-in object, default port, no pins */
	assert_int_equal(rvf_bpf_open(NULL, &b), 0);
	rvf_bpf_close(b);
}

/* ---- EBPF segments ------------------------------------------------------------------ */

static void segment_round_trips_through_a_store(void **state)
{
	char *dir = tu_tmpdir(), *path = tu_path(dir, "s.rvf");
	struct rvf_store_opts so = { .dimension = 8 };
	struct rvf_ebpf_opts eo = { .program_type = RVF_EBPF_PROG_SOCKET_FILTER,
				    .attach_type = RVF_EBPF_ATTACH_SOCKET_FILTER,
				    .max_dimension = RVF_WIRE_MAX_DIM };
	struct rvf_store *s = NULL;
	struct rvf_ebpf_hdr h;
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .port = TEST_PORT };
	size_t len, plen = 0;
	const void *obj = rvf_bpf_builtin(&len);
	void *prog = NULL;
	uint8_t bh[32];
	size_t n;

	(void)state;
	assert_int_equal(rvf_store_create(path, &so, &s), 0);
	assert_int_equal(rvf_store_embed_ebpf(s, &eo, obj, len, NULL, 0, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(rvf_store_open_readonly(path, NULL, &s), 0);
	assert_int_equal(rvf_store_extract_ebpf(s, &h, &prog, &plen, NULL, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(plen, len);
	assert_memory_equal(prog, obj, len);
	assert_int_equal(h.program_type, RVF_EBPF_PROG_SOCKET_FILTER);
	assert_int_equal(h.max_dimension, RVF_WIRE_MAX_DIM);
	assert_int_equal(h.map_count, 5);   /* rvf_ns, rvf_members, rvf_counters, rvf_xsks, rvf_xsks_sg */
	assert_true(h.insn_count > 100);
	rvf_bpf_builtin_hash(bh);
	assert_memory_equal(h.program_hash, bh, 32);

	assert_int_equal(rvf_bpf_check_segment(&h, prog, plen, 8, false), 0);
	o.obj = prog;
	o.obj_len = plen;
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	configure(b);
	n = make_query(dgram, NS_F32, F_NONE, 0, 1);
	assert_int_equal(run(rvf_bpf_prog_fd(b, RVF_BPF_PROG_SOCK), pkt, frame_sock(pkt, dgram, n)),
			 8 + n);
	n = make_query(dgram, NS_F32, F_DIM, 7, 1);
	assert_int_equal(run(rvf_bpf_prog_fd(b, RVF_BPF_PROG_SOCK), pkt, frame_sock(pkt, dgram, n)), 0);
	rvf_bpf_close(b);
	free(prog);
	tu_rmrf(dir);
	free(dir);
	free(path);
}

static void bad_segments_are_refused(void **state)
{
	struct ebpf_spec spec = { .program_type = RVF_EBPF_PROG_SOCKET_FILTER,
				  .attach_type = RVF_EBPF_ATTACH_SOCKET_FILTER, .max_dimension = 1536 };
	struct rvf_ebpf_hdr h, x;
	size_t len, flen;
	const void *obj = rvf_bpf_builtin(&len);
	uint8_t *copy = malloc(len);
	char *fpath = variant_path("abi2");
	void *foreign = tu_slurp(fpath, &flen);

	(void)state;
	assert_int_equal(ebpf_hdr_build(&spec, obj, len, 0, &h), 0);
	assert_int_equal(rvf_bpf_check_segment(&h, obj, len, 1536, false), 0);
	assert_int_equal(rvf_bpf_check_segment(&h, obj, len, 8, false), 0);
	/* header fields */
	x = h; x.magic ^= 1;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), -EPROTO);
	x = h; x.header_version = 2;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), -EPROTO);
	assert_int_equal(rvf_bpf_check_segment(&h, obj, len - 1, 8, false), -EPROTO);
	x = h; x.program_type = RVF_EBPF_PROG_KPROBE;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), -EPROTO);
	x = h; x.program_type = RVF_EBPF_PROG_XDP_DISTANCE;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), 0);
	/* a damaged program: hash mismatch, even when foreign code is trusted */
	memcpy(copy, obj, len);
	copy[len / 2] ^= 0x40;
	log_reset();
	assert_int_equal(rvf_bpf_check_segment(&h, copy, len, 8, false), -EBADMSG);
	assert_int_equal(rvf_bpf_check_segment(&h, copy, len, 8, true), -EBADMSG);
	assert_non_null(strstr(rvf_last_error(), "SHA-256"));
	/* dimension */
	assert_int_equal(rvf_bpf_check_segment(&h, obj, len, 1537, false), -ERANGE);
	x = h; x.max_dimension = 0;
	assert_int_equal(rvf_bpf_check_segment(&x, obj, len, 8, false), -ERANGE);
	/* a self-consistent program that is not the built-in one */
	assert_int_equal(ebpf_hdr_build(&spec, foreign, flen, 0, &x), 0);
	assert_int_equal(rvf_bpf_check_segment(&x, foreign, flen, 8, false), -EPERM);
	assert_non_null(strstr(rvf_last_error(), "other than the prefilter"));
	assert_int_equal(rvf_bpf_check_segment(&x, foreign, flen, 8, true), 0);
	assert_int_equal(rvf_bpf_check_segment(&x, foreign, flen, 2000, true), -ERANGE);
	assert_int_equal(rvf_bpf_check_segment(NULL, obj, len, 8, false), -EINVAL);
	free(copy);
	free(foreign);
	free(fpath);
}

static void cli_embeds_the_builtin_prefilter(void **state)
{
	char exe[PATH_MAX], *cmd = NULL, *dir = tu_tmpdir(), *path = tu_path(dir, "c.rvf");
	struct rvf_store_opts so = { .dimension = 96 };
	struct rvf_store *s = NULL;
	struct rvf_ebpf_hdr h;
	void *prog = NULL;
	size_t plen = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	assert_true(n > 0);
	exe[n] = 0;
	assert_int_equal(rvf_store_create(path, &so, &s), 0);
	assert_int_equal(rvf_store_close(s), 0);
	if (asprintf(&cmd, "%s/../bin/rvf embed-ebpf %s --builtin", dirname(exe), path) < 0)
		abort();
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rvf_store_open_readonly(path, NULL, &s), 0);
	assert_int_equal(rvf_store_extract_ebpf(s, &h, &prog, &plen, NULL, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(h.program_type, RVF_EBPF_PROG_SOCKET_FILTER);
	assert_int_equal(h.attach_type, RVF_EBPF_ATTACH_SOCKET_FILTER);
	assert_int_equal(h.max_dimension, RVF_WIRE_MAX_DIM);
	assert_int_equal(rvf_bpf_check_segment(&h, prog, plen, 96, false), 0);
	free(prog);
	free(cmd);
	tu_rmrf(dir);
	free(dir);
	free(path);
}

/* ---- pinning ---------------------------------------------------------------------- */

static bool is_pinned(const char *dir, const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static const char *const PINS[] = { "sock_prefilter", "xdp_prefilter", "xdp_prefilter_mb",
				    "rvf_ns", "rvf_members", "rvf_counters", "rvf_xsks", "rvf_xsks_sg" };
#define NPIN (sizeof(PINS) / sizeof(PINS[0]))

static void pins_are_named_and_removed_on_close(void **state)
{
	char dir[96];
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .pin_dir = dir };
	struct stat st;
	size_t i;

	(void)state;
	pin_dir_name(dir, sizeof(dir));
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	for (i = 0; i < NPIN; i++)
		if (!is_pinned(dir, PINS[i]))
			fail_msg("%s/%s is not pinned", dir, PINS[i]);
	rvf_bpf_close(b);
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* a pin dir below a missing parent is created whole, and goes on close
	 * (the parent, shared by instances, stays) */
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/deeper/inst");
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	assert_true(is_pinned(dir, "rvf_counters"));
	rvf_bpf_close(b);
	assert_int_equal(stat(dir, &st), -1);
	*strrchr(dir, '/') = 0;
	assert_int_equal(rmdir(dir), 0);
	*strrchr(dir, '/') = 0;
	assert_int_equal(rmdir(dir), 0);
}

static void bad_pin_dirs_are_refused(void **state)
{
	char *tmp = tu_tmpdir(), *sub = tu_path(tmp, "pins");
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .pin_dir = sub };

	(void)state;
	assert_int_equal(rvf_bpf_open(&o, &b), -EINVAL);     /* not on bpffs */
	assert_non_null(strstr(rvf_last_error(), "not on a bpf filesystem"));
	o.pin_dir = "relative/dir";
	assert_int_equal(rvf_bpf_open(&o, &b), -EINVAL);
	assert_null(b);
	tu_rmrf(tmp);
	free(tmp);
	free(sub);
}

static void second_instance_on_a_pin_dir_is_busy(void **state)
{
	char dir[96];
	struct rvf_bpf *a = NULL, *b = NULL;
	struct rvf_bpf_opts o = { .pin_dir = dir };

	(void)state;
	pin_dir_name(dir, sizeof(dir));
	assert_int_equal(rvf_bpf_open(&o, &a), 0);
	assert_int_equal(rvf_bpf_open(&o, &b), -EBUSY);
	assert_null(b);
	assert_true(is_pinned(dir, "rvf_counters"));    /* the live one's pins stay */
	rvf_bpf_close(a);
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	rvf_bpf_close(b);
}

static void stale_pins_of_a_dead_instance_are_replaced(void **state)
{
	char dir[96];
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .pin_dir = dir, .port = TEST_PORT };
	struct rvf_wire_counters c;
	size_t i, n;
	int st;
	pid_t pid;

	(void)state;
	pin_dir_name(dir, sizeof(dir));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rvf_bpf *d = NULL;

		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .repeat = 1);

		if (rvf_bpf_open(&o, &d) || configure_ns(d))
			_exit(1);
		n = make_query(dgram, NS_F32, F_NONE, 0, 1);
		t.data_size_in = (uint32_t)frame_sock(pkt, dgram, n);
		if (bpf_prog_test_run_opts(rvf_bpf_prog_fd(d, RVF_BPF_PROG_SOCK), &t) || !t.retval)
			_exit(2);
		_exit(0);       /* dies without closing: pins stay behind */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (i = 0; i < NPIN; i++)
		assert_true(is_pinned(dir, PINS[i]));
	assert_int_equal(rvf_bpf_counters_pinned(dir, RVF_WIRE_SLOT_SOCK, &c), 0);
	assert_int_equal(c.passed, 1);          /* the dead one's counters, readable */
	log_reset();
	assert_int_equal(rvf_bpf_open(&o, &b), 0);
	assert_non_null(strstr(logbuf, "replaced a pin left behind"));
	assert_int_equal(rvf_bpf_counters_pinned(dir, RVF_WIRE_SLOT_SOCK, &c), 0);
	assert_int_equal(c.passed, 0);          /* now this instance's */
	rvf_bpf_close(b);
	assert_int_equal(rvf_bpf_counters_pinned(dir, RVF_WIRE_SLOT_SOCK, &c), -ENOENT);
}

static void pinned_counters_match_from_another_process(void **state)
{
	struct fx *f = *state;
	struct rvf_wire_counters mine, theirs;
	int p[2], st;
	size_t n;
	pid_t pid;

	n = make_query(dgram, NS_F32, F_NONE, 0, 1);
	run(f->fd[RVF_BPF_PROG_XDP], pkt, frame_ipv4(pkt, &(struct frame){ 0 }, dgram, n));
	n = make_query(dgram, NS_F32, F_VERSION, 9, 1);
	run(f->fd[RVF_BPF_PROG_XDP], pkt, frame_ipv4(pkt, &(struct frame){ 0 }, dgram, n));
	run(f->fd[RVF_BPF_PROG_XDP_MB], pkt, frame_arp(pkt));
	assert_int_equal(rvf_bpf_counters(f->b, RVF_WIRE_SLOT_XDP, &mine), 0);
	assert_int_equal(mine.passed, 1);
	assert_int_equal(mine.bad_version, 1);
	assert_int_equal(mine.other_passed, 1);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (rvf_bpf_counters_pinned(f->pin, RVF_WIRE_SLOT_XDP, &theirs) ||
		    write(p[1], &theirs, sizeof(theirs)) != (ssize_t)sizeof(theirs))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &theirs, sizeof(theirs)), sizeof(theirs));
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_memory_equal(&mine, &theirs, sizeof(mine));
	assert_int_equal(rvf_bpf_counters_pinned("/sys/fs/bpf/rvf-test-none", 0, &theirs), -ENOENT);
}

/* Run a shell command, return its stdout (owned). */
static char *sh_out(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n = 0, r;

	assert_non_null(p);
	while ((r = fread(buf + n, 1, (1 << 20) - 1 - n, p)) > 0)
		n += r;
	assert_int_equal(pclose(p), 0);
	return buf;
}

static void bpftool_shows_named_counters_and_programs(void **state)
{
	struct fx *f = *state;
	char cmd[256];
	char *out;
	unsigned i;

	run(f->fd[RVF_BPF_PROG_SOCK], pkt, frame_sock(pkt, dgram, make_query(dgram, NS_F32, F_NONE, 0, 1)));
	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/rvf_counters", f->pin);
	out = sh_out(cmd);
	for (i = 0; i < NCOUNT; i++) {
		char want[64];

		snprintf(want, sizeof(want), "\"%s\": ", counter_names[i]);
		if (!strstr(out, want))
			fail_msg("bpftool map dump has no %s field:\n%s", want, out);
	}
	assert_non_null(strstr(out, "\"passed\": 1"));
	free(out);
	for (i = 0; i < RVF_BPF_NPROGS; i++) {
		char want[64];

		snprintf(cmd, sizeof(cmd), "bpftool prog show pinned %s/%s", f->pin, prog_names[i]);
		out = sh_out(cmd);
		snprintf(want, sizeof(want), "name %s ", prog_names[i]);
		if (!strstr(out, want))
			fail_msg("bpftool prog show does not name %s:\n%s", prog_names[i], out);
		free(out);
	}
	snprintf(cmd, sizeof(cmd), "bpftool map show pinned %s/rvf_members", f->pin);
	out = sh_out(cmd);
	assert_non_null(strstr(out, "name rvf_members"));
	free(out);
}

/* ---- real sockets ------------------------------------------------------------------ */

struct dg {
	uint8_t *buf;
	size_t len;
	uint64_t id;
	bool pass;
	unsigned reason;
	const char *name;
};

static int udp_bound(const char *ip, uint16_t port, uint16_t *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), big = 4 << 20;

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, ip, &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &al)) {
		close(fd);
		return -1;
	}
	if (bound)
		*bound = ntohs(a.sin_port);
	return fd;
}

/*
 * Send every datagram from tx to ip:port, the last one a valid sentinel,
 * then read rx until the sentinel arrives: the request ids that arrived must
 * be exactly those marked pass, in order (one socket pair is FIFO, so when
 * the sentinel is in, every earlier datagram has been judged). The 5 s poll
 * is only a guard against a lost sentinel, never a measurement.
 * Returns 0, or -1 with why in err.
 */
static int exchange(int tx, const char *ip, uint16_t port, int rx, const struct dg *d, int n,
		    char *err, size_t errlen)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	uint64_t want[64], got[64];
	int nw = 0, ng = 0, i;
	static uint8_t buf[70000];

	inet_pton(AF_INET, ip, &a.sin_addr);
	for (i = 0; i < n; i++) {
		if (sendto(tx, d[i].buf, d[i].len, 0, (struct sockaddr *)&a, sizeof(a)) != (ssize_t)d[i].len) {
			snprintf(err, errlen, "send %s: %s", d[i].name, strerror(errno));
			return -1;
		}
		if (d[i].pass)
			want[nw++] = d[i].id;
	}
	for (;;) {
		struct pollfd p = { .fd = rx, .events = POLLIN };
		ssize_t r;
		uint64_t id = 0;

		if (poll(&p, 1, 5000) != 1) {
			snprintf(err, errlen, "the sentinel never arrived (%d datagrams did)", ng);
			return -1;
		}
		r = recv(rx, buf, sizeof(buf), 0);
		if (r < 0) {
			snprintf(err, errlen, "recv: %s", strerror(errno));
			return -1;
		}
		if (r >= 32)
			memcpy(&id, buf + 0x18, 8);
		if (ng < 64)
			got[ng++] = id;
		if (id == d[n - 1].id)
			break;
	}
	for (i = 0; i < nw || i < ng; i++)
		if (i >= nw || i >= ng || want[i] != got[i]) {
			const char *name = "?";
			int j;

			for (j = 0; j < n; j++)
				if (i < ng && d[j].id == got[i])
					name = d[j].name;
			snprintf(err, errlen, "datagram #%d: got id %llu (%s), expected %llu", i,
				 i < ng ? (unsigned long long)got[i] : 0ull, name,
				 i < nw ? (unsigned long long)want[i] : 0ull);
			return -1;
		}
	return 0;
}

/* The datagrams for the eBPF filter on a real socket: every query-level
 * case plus 6 KB ones, the sentinel last. Buffers freed with free_dgs. */
static int socket_cases(struct dg *d)
{
	int n = 0;
	size_t i;

	for (i = 0; i < NQCASES; i++) {
		const struct qcase *c = &QCASES[i];

		d[n].buf = malloc(8192);
		d[n].id = 1000 + i;
		d[n].len = make_query(d[n].buf, c->ns, c->f, c->v, d[n].id);
		d[n].pass = c->pass;
		d[n].reason = c->reason;
		d[n].name = c->name;
		n++;
	}
	d[n].buf = malloc(8192);
	d[n].id = 2000;
	d[n].len = make_stats(d[n].buf, d[n].id);
	d[n].pass = true;
	d[n].reason = C(other_passed);
	d[n].name = "stats request";
	n++;
	d[n].buf = malloc(8192);
	d[n].id = 2001;
	d[n].len = make_query(d[n].buf, NS_BIG, F_NONE, 0, d[n].id);
	d[n].pass = true;
	d[n].reason = C(passed);
	d[n].name = "6 KB query";
	n++;
	d[n].buf = malloc(8192);
	d[n].id = 2002;
	d[n].len = make_query(d[n].buf, NS_BIG, F_EXTRA, 4, d[n].id);
	d[n].pass = false;
	d[n].reason = C(bad_length);
	d[n].name = "6 KB query one element long";
	n++;
	d[n].buf = malloc(8192);
	d[n].id = 9999;
	d[n].len = make_query(d[n].buf, NS_F32, F_NONE, 0, d[n].id);
	d[n].pass = true;
	d[n].reason = C(passed);
	d[n].name = "sentinel";
	return n + 1;
}

static void free_dgs(struct dg *d, int n)
{
	while (n--)
		free(d[n].buf);
}

static void sock_prefilter_filters_a_real_udp_socket(void **state)
{
	struct fx *f = *state;
	struct dg d[64];
	uint64_t before[NCOUNT], after[NCOUNT], want[NCOUNT] = { 0 };
	char err[256];
	uint16_t port;
	int n = socket_cases(d), rx, tx, i;
	unsigned c;

	rx = udp_bound("127.0.0.1", 0, &port);
	tx = udp_bound("127.0.0.1", 0, NULL);
	assert_true(rx >= 0 && tx >= 0);
	assert_int_equal(rvf_bpf_attach_socket(f->b, rx), 0);
	assert_int_equal(rvf_bpf_attach_socket(f->b, rx), 0);     /* again: same socket, once */
	counters(f->b, RVF_WIRE_SLOT_SOCK, before);
	if (exchange(tx, "127.0.0.1", port, rx, d, n, err, sizeof(err)))
		fail_msg("eBPF socket filter: %s", err);
	counters(f->b, RVF_WIRE_SLOT_SOCK, after);
	for (i = 0; i < n; i++)
		want[d[i].reason]++;
	for (c = 0; c < NCOUNT; c++)
		if (after[c] - before[c] != want[c])
			fail_msg("socket counters: %s moved by %llu, expected %llu", counter_names[c],
				 (unsigned long long)(after[c] - before[c]), (unsigned long long)want[c]);
	/* close detaches the filter from the still-open socket: every
	 * datagram long enough to carry its id arrives */
	rvf_bpf_close(f->b);
	f->b = NULL;
	{
		int fn = 0, j;
		struct dg all[64];

		for (j = 0; j < n; j++)
			if (d[j].len >= 32) {
				all[fn] = d[j];
				all[fn++].pass = true;
			}
		if (exchange(tx, "127.0.0.1", port, rx, all, fn, err, sizeof(err)))
			fail_msg("after close: %s", err);
	}
	close(rx);
	close(tx);
	free_dgs(d, n);
}

/* cBPF case table for shape (8, f32): what it passes and drops. */
static int cbpf_check(int rx, int tx, uint16_t port, char *err, size_t errlen)
{
	struct dg d[64];
	int n = 0, rc;
	size_t i;

	for (i = 0; i < NQCASES; i++) {
		const struct qcase *c = &QCASES[i];

		if (c->ns != NS_F32 && c->ns != NS_OUT)
			continue;
		d[n].buf = malloc(8192);
		d[n].id = 1000 + i;
		d[n].len = make_query(d[n].buf, c->ns, c->f, c->v, d[n].id);
		/* cBPF has no maps: a non-member passes, and it does not look at ef */
		d[n].pass = c->pass || c->ns == NS_OUT || c->f == F_EF;
		d[n].reason = 0;
		d[n].name = c->name;
		n++;
	}
	d[n].buf = malloc(64);
	d[n].id = 2000;
	d[n].len = make_stats(d[n].buf, d[n].id);
	d[n].pass = true;
	d[n].name = "stats request";
	n++;
	d[n].buf = malloc(8192);
	d[n].id = 2001;
	d[n].len = make_query(d[n].buf, NS_BIG, F_NONE, 0, d[n].id);
	d[n].pass = false;
	d[n].name = "a valid query of another shape";
	n++;
	d[n].buf = malloc(8192);
	d[n].id = 9999;
	d[n].len = make_query(d[n].buf, NS_F32, F_NONE, 0, d[n].id);
	d[n].pass = true;
	d[n].name = "sentinel";
	n++;
	rc = exchange(tx, "127.0.0.1", port, rx, d, n, err, errlen);
	free_dgs(d, n);
	return rc;
}

static void cbpf_fallback_filters_a_real_udp_socket(void **state)
{
	char err[256];
	uint16_t port;
	int rx = udp_bound("127.0.0.1", 0, &port), tx = udp_bound("127.0.0.1", 0, NULL), zero = 0;

	(void)state;
	assert_true(rx >= 0 && tx >= 0);
	assert_int_equal(rvf_cbpf_attach(rx, 0, RVF_WIRE_ELEM_F32), -EINVAL);
	assert_int_equal(rvf_cbpf_attach(rx, 8, 9), -EINVAL);
	assert_int_equal(rvf_cbpf_attach(rx, RVF_WIRE_MAX_DIM, RVF_WIRE_ELEM_F32), -EINVAL);
	assert_int_equal(rvf_cbpf_attach(rx, 8, RVF_WIRE_ELEM_F32), 0);
	if (cbpf_check(rx, tx, port, err, sizeof(err)))
		fail_msg("cBPF filter: %s", err);
	/* locked: it cannot be removed or replaced */
	assert_int_equal(setsockopt(rx, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero)), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(rvf_cbpf_attach(rx, 16, RVF_WIRE_ELEM_F32), -EPERM);
	close(rx);
	close(tx);
}

static void cbpf_fallback_works_without_privileges(void **state)
{
	int st;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		uint16_t port;
		int rx = udp_bound("127.0.0.1", 0, &port), tx = udp_bound("127.0.0.1", 0, NULL), e;
		struct rvf_bpf *b = NULL;

		if (rx < 0 || tx < 0 || setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534)) {
			fprintf(stderr, "child: cannot drop privileges: %s\n", strerror(errno));
			_exit(2);
		}
		e = rvf_bpf_open(NULL, &b);
		if (e != -EPERM) {
			fprintf(stderr, "child: eBPF load as nobody gave %d, expected -EPERM\n", e);
			_exit(3);
		}
		e = rvf_cbpf_attach(rx, 8, RVF_WIRE_ELEM_F32);
		if (e) {
			fprintf(stderr, "child: cBPF attach as nobody: %d\n", e);
			_exit(4);
		}
		if (cbpf_check(rx, tx, port, err, sizeof(err))) {
			fprintf(stderr, "child: cBPF filter as nobody: %s\n", err);
			_exit(5);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("unprivileged child failed (status 0x%x)", st);
}

/*
 * The programs use no variable-offset packet pointers, so they load with
 * CAP_BPF and CAP_NET_ADMIN alone: no CAP_PERFMON (the verifier's "!root"
 * pointer rules apply) and no CAP_SYS_ADMIN. Tried as uid 65534 holding just
 * those two.
 */
static void loads_with_cap_bpf_and_cap_net_admin_only(void **state)
{
	int st;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct cap[2];
		struct rvf_bpf *b = NULL;
		struct rvf_bpf_opts o = { .port = TEST_PORT };
		uint16_t port;
		int e, rx = udp_bound("127.0.0.1", 0, &port);
		size_t n;
		uint32_t rv1, rv2;
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .repeat = 1);

		memset(cap, 0, sizeof(cap));
		cap[0].effective = cap[0].permitted = 1u << CAP_NET_ADMIN;
		cap[1].effective = cap[1].permitted = 1u << (39 - 32);  /* CAP_BPF: not in 6.1 headers */
		if (rx < 0 || prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) ||
		    setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534) ||
		    syscall(SYS_capset, &hdr, cap)) {
			fprintf(stderr, "child: cannot drop to CAP_BPF+CAP_NET_ADMIN: %s\n", strerror(errno));
			_exit(2);
		}
		e = rvf_bpf_open(&o, &b);
		if (e) {
			fprintf(stderr, "child: load with CAP_BPF+CAP_NET_ADMIN: %d (%s)\n", e,
				rvf_last_error());
			_exit(3);
		}
		if (configure_ns(b) || rvf_bpf_attach_socket(b, rx)) {
			fprintf(stderr, "child: configure/attach: %s\n", rvf_last_error());
			_exit(4);
		}
		n = make_query(dgram, NS_F32, F_NONE, 0, 1);
		t.data_size_in = (uint32_t)frame_ipv4(pkt, &(struct frame){ .opt_words = 2 }, dgram, n);
		e = bpf_prog_test_run_opts(rvf_bpf_prog_fd(b, RVF_BPF_PROG_XDP), &t);
		rv1 = t.retval;
		n = make_query(dgram, NS_OUT, F_NONE, 0, 1);
		t.data_size_in = (uint32_t)frame_ipv4(pkt, &(struct frame){ .opt_words = 2 }, dgram, n);
		e = e ? e : bpf_prog_test_run_opts(rvf_bpf_prog_fd(b, RVF_BPF_PROG_XDP), &t);
		rv2 = t.retval;
		if (e || rv1 != XDP_PASS || rv2 != XDP_DROP) {
			fprintf(stderr, "child: test run %d, verdicts %u %u\n", e, rv1, rv2);
			_exit(5);
		}
		rvf_bpf_close(b);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("CAP_BPF+CAP_NET_ADMIN child failed (status 0x%x)", st);
}

/* ---- XDP on veth, in private network namespaces ------------------------------------- */

#define CHILD_CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "child: %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		_exit(1); \
	} \
} while (0)

static int shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shf(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/*
 * In a child: namespaces A (sender, rvta) and B (receiver, rvtb with the
 * prefilter) joined by veth at mtu, attach in mode, send good and bad
 * queries (6 KB ones fragment at MTU 1500), check what reaches B's socket,
 * the XDP counters, which variant was attached, and that close detaches.
 */
static void xdp_veth_child(int mtu, int mode, enum rvf_bpf_prog want_prog)
{
	struct rvf_bpf *b = NULL, *other = NULL;
	struct rvf_bpf_opts o = { .port = TEST_PORT };
	struct rvf_wire_counters before, after;
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct dg d[8];
	char err[256];
	int nsa, nsb, rx, tx, ifindex, n = 0, frags_per_big;
	uint64_t passed = 0, bad_magic = 0, bad_dim = 0, not_member = 0, nbig = 0;

	CHILD_CHECK(unshare(CLONE_NEWNET) == 0, "unshare: %s", strerror(errno));
	nsa = open("/proc/self/ns/net", O_RDONLY);
	CHILD_CHECK(unshare(CLONE_NEWNET) == 0, "unshare: %s", strerror(errno));
	nsb = open("/proc/self/ns/net", O_RDONLY);
	CHILD_CHECK(nsa >= 0 && nsb >= 0 && setns(nsa, CLONE_NEWNET) == 0, "setns A");
	CHILD_CHECK(shf("ip link add rvta mtu %d type veth peer name rvtb mtu %d netns /proc/%d/fd/%d",
			mtu, mtu, (int)getpid(), nsb) == 0, "ip link add");
	CHILD_CHECK(shf("ip addr add 10.213.0.1/24 dev rvta && ip link set rvta up") == 0, "ip A");
	CHILD_CHECK(setns(nsb, CLONE_NEWNET) == 0, "setns B");
	CHILD_CHECK(shf("ip addr add 10.213.0.2/24 dev rvtb && ip link set rvtb up") == 0, "ip B");
	rx = udp_bound("10.213.0.2", TEST_PORT, NULL);
	CHILD_CHECK(rx >= 0, "bind B: %s", strerror(errno));
	ifindex = (int)if_nametoindex("rvtb");
	CHILD_CHECK(ifindex > 0, "no rvtb");
	CHILD_CHECK(rvf_bpf_open(&o, &b) == 0 && configure_ns(b) == 0, "open");
	CHILD_CHECK(rvf_bpf_attach_xdp(b, ifindex, mode) == 0, "attach: %s", rvf_last_error());
	CHILD_CHECK(rvf_bpf_attach_xdp(b, ifindex, mode) == -EEXIST, "second attach, same handle");
	CHILD_CHECK(rvf_bpf_open(&o, &other) == 0, "open another");
	CHILD_CHECK(rvf_bpf_attach_xdp(other, ifindex, mode) == -EBUSY, "attach over a link");
	rvf_bpf_close(other);
	CHILD_CHECK(bpf_xdp_query(ifindex, 0, &q) == 0, "bpf_xdp_query");
	CHILD_CHECK(q.prog_id == prog_id(rvf_bpf_prog_fd(b, want_prog)),
		    "attached prog id %u, expected %s (id %u)", q.prog_id, prog_names[want_prog],
		    prog_id(rvf_bpf_prog_fd(b, want_prog)));
	CHILD_CHECK(q.attach_mode == (mode == RVF_XDP_NATIVE ? XDP_ATTACHED_DRV : XDP_ATTACHED_SKB),
		    "attach mode %u", q.attach_mode);

#define ADD(ns_, f_, v_, pass_, name_) do { \
	d[n].buf = malloc(8192); d[n].id = 100 + n; \
	d[n].len = make_query(d[n].buf, ns_, f_, v_, d[n].id); \
	d[n].pass = pass_; d[n].name = name_; n++; \
} while (0)
	ADD(NS_F32, F_NONE, 0, true, "valid");                passed++;
	ADD(NS_F32, F_MAGIC, 0x11223344, false, "bad magic"); bad_magic++;
	ADD(NS_F32, F_DIM, 9, false, "bad dim");               bad_dim++;
	ADD(NS_OUT, F_NONE, 0, false, "not a member");         not_member++;
	ADD(NS_BIG, F_NONE, 0, true, "6 KB valid");            passed++; nbig++;
	ADD(NS_BIG, F_MAGIC, 0x11223344, false, "6 KB bad magic"); bad_magic++; nbig++;
	ADD(NS_BIG, F_NONE, 0, true, "6 KB valid again");      passed++; nbig++;
	ADD(NS_F32, F_NONE, 0, true, "sentinel");              passed++;
#undef ADD
	CHILD_CHECK(rvf_bpf_counters(b, RVF_WIRE_SLOT_XDP, &before) == 0, "counters");
	CHILD_CHECK(setns(nsa, CLONE_NEWNET) == 0, "setns A");
	tx = udp_bound("10.213.0.1", 0, NULL);
	CHILD_CHECK(tx >= 0, "bind A");
	CHILD_CHECK(exchange(tx, "10.213.0.2", TEST_PORT, rx, d, n, err, sizeof(err)) == 0,
		    "mtu %d: %s", mtu, err);
	CHILD_CHECK(rvf_bpf_counters(b, RVF_WIRE_SLOT_XDP, &after) == 0, "counters");
	CHILD_CHECK(after.passed - before.passed == passed, "passed +%llu, expected %llu",
		    (unsigned long long)(after.passed - before.passed), (unsigned long long)passed);
	CHILD_CHECK(after.bad_magic - before.bad_magic == bad_magic, "bad_magic");
	CHILD_CHECK(after.bad_dim - before.bad_dim == bad_dim, "bad_dim");
	CHILD_CHECK(after.not_member - before.not_member == not_member, "not_member");
	/* 6184 bytes of IP payload in 1480-byte fragments: 4 after the first */
	frags_per_big = mtu < 6300 ? 4 : 0;
	CHILD_CHECK(after.fragments - before.fragments == nbig * frags_per_big,
		    "fragments +%llu, expected %llu",
		    (unsigned long long)(after.fragments - before.fragments),
		    (unsigned long long)(nbig * frags_per_big));
	CHILD_CHECK(after.bad_length == before.bad_length && after.truncated == before.truncated,
		    "no length errors");
	free_dgs(d, n);
	CHILD_CHECK(setns(nsb, CLONE_NEWNET) == 0, "setns B");
	rvf_bpf_close(b);
	memset(&q, 0, sizeof(q));
	q.sz = sizeof(q);
	CHILD_CHECK(bpf_xdp_query(ifindex, 0, &q) == 0 && q.prog_id == 0, "still attached after close");
	_exit(0);
}

static void run_xdp_child(int mtu, int mode, enum rvf_bpf_prog want)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		xdp_veth_child(mtu, mode, want);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("XDP over veth at MTU %d (%s) failed (status 0x%x)", mtu,
			 mode == RVF_XDP_NATIVE ? "native" : "generic", st);
}

static void xdp_native_on_veth_mtu_1500_judges_first_fragments(void **state)
{
	(void)state;
	run_xdp_child(1500, RVF_XDP_NATIVE, RVF_BPF_PROG_XDP);
}

static void xdp_native_on_veth_mtu_9000_takes_the_frags_variant(void **state)
{
	(void)state;
	run_xdp_child(9000, RVF_XDP_NATIVE, RVF_BPF_PROG_XDP_MB);
}

static void xdp_generic_on_veth_mtu_1500(void **state)
{
	(void)state;
	run_xdp_child(1500, RVF_XDP_GENERIC, RVF_BPF_PROG_XDP);
}

/* bpffs missing: the loader mounts it (tried in a private mount namespace,
 * so the machine's /sys/fs/bpf is never touched). */
static void missing_bpffs_is_mounted(void **state)
{
	int st;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rvf_bpf_opts o = { .pin_dir = "/sys/fs/bpf/rvf/mount-test" };
		struct rvf_bpf *b = NULL;
		struct statfs sf;
		int i;

		CHILD_CHECK(unshare(CLONE_NEWNS) == 0, "unshare mount ns: %s", strerror(errno));
		CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make private");
		for (i = 0; i < 16 && statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type == BPF_FS_MAGIC; i++)
			umount2("/sys/fs/bpf", MNT_DETACH);
		CHILD_CHECK(statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type != BPF_FS_MAGIC,
			    "bpffs still mounted");
		CHILD_CHECK(rvf_bpf_open(&o, &b) == 0, "open: %s", rvf_last_error());
		CHILD_CHECK(statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type == BPF_FS_MAGIC, "not mounted");
		CHILD_CHECK(is_pinned(o.pin_dir, "rvf_counters"), "not pinned");
		rvf_bpf_close(b);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("mount child failed (status 0x%x)", st);
}

/* ---- main ------------------------------------------------------------------------ */

static void require_privileges(void)
{
	struct rvf_bpf *b = NULL;
	int err, st;
	pid_t pid;

	if (system("bpftool version >/dev/null 2>&1"))
		tu_skip("bpftool is not installed");
	if (system("ip -V >/dev/null 2>&1"))
		tu_skip("ip (iproute2) is not installed");
	err = rvf_bpf_open(NULL, &b);
	if (err == -EPERM || err == -EACCES)
		tu_skip("not permitted to load BPF programs (needs CAP_BPF and CAP_NET_ADMIN)");
	if (err)
		fail_msg("the built-in prefilter does not load: %s", rvf_last_error());
	rvf_bpf_close(b);
	pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET | CLONE_NEWNS) ? 1 : 0);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		tu_skip("cannot create network and mount namespaces (needs CAP_SYS_ADMIN)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_program_verifies_within_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(sock_prefilter_judges_every_field, setup, teardown),
		cmocka_unit_test_setup_teardown(xdp_prefilter_judges_every_field, setup, teardown),
		cmocka_unit_test_setup_teardown(xdp_prefilter_mb_judges_every_field, setup, teardown),
		cmocka_unit_test_setup_teardown(xdp_prefilter_handles_framing_and_fragments, setup, teardown),
		cmocka_unit_test_setup_teardown(xdp_prefilter_mb_handles_framing_and_fragments, setup, teardown),
		cmocka_unit_test_setup_teardown(membership_flips_without_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(shape_changes_without_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_namespace_arguments_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(user_counters_are_published_in_their_slot, setup, teardown),
		cmocka_unit_test(wrong_abi_version_is_refused),
		cmocka_unit_test(missing_map_is_refused),
		cmocka_unit_test(verifier_refusal_reports_its_last_lines),
		cmocka_unit_test(garbage_objects_are_refused),
		cmocka_unit_test(builtin_object_and_hash_agree),
		cmocka_unit_test(segment_round_trips_through_a_store),
		cmocka_unit_test(bad_segments_are_refused),
		cmocka_unit_test(cli_embeds_the_builtin_prefilter),
		cmocka_unit_test(pins_are_named_and_removed_on_close),
		cmocka_unit_test(bad_pin_dirs_are_refused),
		cmocka_unit_test(second_instance_on_a_pin_dir_is_busy),
		cmocka_unit_test(stale_pins_of_a_dead_instance_are_replaced),
		cmocka_unit_test_setup_teardown(pinned_counters_match_from_another_process, setup, teardown),
		cmocka_unit_test_setup_teardown(bpftool_shows_named_counters_and_programs, setup, teardown),
		cmocka_unit_test_setup_teardown(sock_prefilter_filters_a_real_udp_socket, setup, teardown),
		cmocka_unit_test(cbpf_fallback_filters_a_real_udp_socket),
		cmocka_unit_test(cbpf_fallback_works_without_privileges),
		cmocka_unit_test(loads_with_cap_bpf_and_cap_net_admin_only),
		cmocka_unit_test(xdp_native_on_veth_mtu_1500_judges_first_fragments),
		cmocka_unit_test(xdp_native_on_veth_mtu_9000_takes_the_frags_variant),
		cmocka_unit_test(xdp_generic_on_veth_mtu_1500),
		cmocka_unit_test(missing_bpffs_is_mounted),
	};

	tu_seed();
	rvf_set_log(capture_log, NULL, RVF_LOG_INFO);
	require_privileges();
	return cmocka_run_group_tests_name("bpf", tests, NULL, NULL);
}
