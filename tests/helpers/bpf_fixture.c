/*
 * bpf_fixture.c - the prefilter tests' shared queries, packet builder,
 * fixture and case table (bpf_fixture.h).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_fixture.h"

/* The namespaces pf_configure_ns sets up. */
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

const char *const pf_counter_names[] = {
	"passed", "bad_magic", "bad_version", "bad_header", "bad_dim", "bad_length", "bad_k",
	"not_member", "truncated", "nonfinite", "other_passed", "fragments", "redirected",
};
_Static_assert(sizeof(pf_counter_names) / sizeof(pf_counter_names[0]) == NCOUNT, "a name per counter");

const char *const pf_prog_names[RVF_BPF_NPROGS] = {
	"sock_prefilter", "xdp_prefilter", "xdp_prefilter_mb",
};

/* ---- log capture ------------------------------------------------------------ */

char pf_logbuf[32768];
static size_t loglen;

void pf_capture_log(void *ctx, enum rvf_log_level level, const char *msg)
{
	size_t n = strlen(msg);

	rvf_log_stderr(ctx, level, msg);
	if (loglen + n + 2 < sizeof(pf_logbuf)) {
		memcpy(pf_logbuf + loglen, msg, n);
		loglen += n;
		pf_logbuf[loglen++] = '\n';
		pf_logbuf[loglen] = 0;
	}
}

void pf_log_reset(void)
{
	loglen = 0;
	pf_logbuf[0] = 0;
}

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
size_t pf_query(uint8_t *out, uint32_t ns, enum fld f, int64_t v, uint64_t id)
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

size_t pf_stats(uint8_t *out, uint64_t id)
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

size_t pf_put_eth(uint8_t *o, uint16_t type, int vlans)
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
size_t pf_frame_ipv4(uint8_t *o, const struct pf_frame *fr, const uint8_t *d, size_t dlen)
{
	size_t l3 = pf_put_eth(o, 0x0800, fr->vlans), ihl = 20 + 4 * (size_t)fr->opt_words, l4, n;
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

size_t pf_frame_ipv6(uint8_t *o, const uint8_t *d, size_t dlen)
{
	size_t l3 = pf_put_eth(o, 0x86dd, 0);
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

size_t pf_frame_arp(uint8_t *o)
{
	static const uint8_t arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1,
					 0, 0, 0, 0, 0, 0, 10, 0, 0, 2 };
	size_t l3 = pf_put_eth(o, 0x0806, 0);

	memcpy(o + l3, arp, sizeof(arp));
	return l3 + sizeof(arp);
}

/* What a socket filter sees, in BPF_PROG_TEST_RUN: the skb test harness
 * pulls a 14-byte Ethernet header, so a fake one goes first and offset 0 is
 * the UDP header, as on a real UDP socket. */
size_t pf_frame_sock(uint8_t *o, const uint8_t *d, size_t dlen)
{
	size_t l2 = pf_put_eth(o, 0x88b5, 0);
	uint16_t sp = htons(SRC_PORT), dp = htons(TEST_PORT), ul = htons((uint16_t)(8 + dlen)), z = 0;

	memcpy(o + l2, &sp, 2);
	memcpy(o + l2 + 2, &dp, 2);
	memcpy(o + l2 + 4, &ul, 2);
	memcpy(o + l2 + 6, &z, 2);
	memcpy(o + l2 + 8, d, dlen);
	return l2 + 8 + dlen;
}

static int pin_seq;

void pf_pin_dir_name(char *out, size_t len)
{
	snprintf(out, len, "/sys/fs/bpf/rvf-test-%d-%d", (int)getpid(), ++pin_seq);
}

/* Set up NSS in b; usable in children (no cmocka). */
int pf_configure_ns(struct rvf_bpf *b)
{
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(NSS) / sizeof(NSS[0]) && !err; i++) {
		err = rvf_bpf_set_ns(b, NSS[i].ns, NSS[i].shape.dim ? &NSS[i].shape : NULL);
		err = err ? err : rvf_bpf_set_member(b, NSS[i].ns, NSS[i].member);
	}
	return err;
}

void pf_configure(struct rvf_bpf *b)
{
	assert_int_equal(pf_configure_ns(b), 0);
}

int pf_setup(void **state)
{
	struct pf_fx *f = calloc(1, sizeof(*f));
	struct rvf_bpf_opts o = { .port = TEST_PORT };
	int i;

	pf_pin_dir_name(f->pin, sizeof(f->pin));
	o.pin_dir = f->pin;
	pf_log_reset();
	assert_int_equal(rvf_bpf_open(&o, &f->b), 0);
	pf_configure(f->b);
	for (i = 0; i < RVF_BPF_NPROGS; i++) {
		f->fd[i] = rvf_bpf_prog_fd(f->b, (enum rvf_bpf_prog)i);
		assert_true(f->fd[i] >= 0);
	}
	*state = f;
	return 0;
}

int pf_teardown(void **state)
{
	struct pf_fx *f = *state;

	rvf_bpf_close(f->b);
	free(f);
	return 0;
}

/* ---- running packets ----------------------------------------------------------- */

uint32_t pf_run(int fd, const void *pkt, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = (uint32_t)len, .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(fd, &t), 0);
	return t.retval;
}

void pf_counters(struct rvf_bpf *b, uint32_t slot, uint64_t out[NCOUNT])
{
	struct rvf_wire_counters c;

	assert_int_equal(rvf_bpf_counters(b, slot, &c), 0);
	memcpy(out, &c, sizeof(c));
}

/* Run pkt through program p: the verdict must be pass/drop and exactly one
 * counter (reason) must have moved, by one. */
void pf_expect(struct pf_fx *f, enum rvf_bpf_prog p, const void *pkt, size_t len, bool pass,
		   unsigned reason, const char *what)
{
	uint32_t slot = p == RVF_BPF_PROG_SOCK ? RVF_WIRE_SLOT_SOCK : RVF_WIRE_SLOT_XDP;
	uint64_t before[NCOUNT], after[NCOUNT];
	uint32_t rv, want;
	unsigned i;

	want = p == RVF_BPF_PROG_SOCK ? (pass ? (uint32_t)(len - 14) : 0) : (pass ? XDP_PASS : XDP_DROP);
	pf_counters(f->b, slot, before);
	rv = pf_run(f->fd[p], pkt, len);
	pf_counters(f->b, slot, after);
	if (rv != want)
		fail_msg("%s: %s: verdict %u, expected %u (%s)", pf_prog_names[p], what, rv, want,
			 pass ? "pass" : "drop");
	for (i = 0; i < NCOUNT; i++)
		if (after[i] != before[i] + (i == reason))
			fail_msg("%s: %s: counter %s went %llu -> %llu, expected %s", pf_prog_names[p], what,
				 pf_counter_names[i], (unsigned long long)before[i],
				 (unsigned long long)after[i], i == reason ? "+1" : "no change");
}

const struct pf_qcase pf_qcases[] = {
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
const size_t pf_nqcases = sizeof(pf_qcases) / sizeof(pf_qcases[0]);

bool pf_is_pinned(const char *dir, const char *name)
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

const char *const pf_pins[] = { "sock_prefilter", "xdp_prefilter", "xdp_prefilter_mb",
				    "rvf_ns", "rvf_members", "rvf_counters", "rvf_xsks", "rvf_xsks_sg" };
const size_t pf_npins = sizeof(pf_pins) / sizeof(pf_pins[0]);

void pf_require_privileges(void)
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
