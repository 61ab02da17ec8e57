/*
 * tools/bench-bpf - per-packet cost of the query prefilter's three programs
 * (bpf/prefilter.bpf.c), measured in the kernel with BPF_PROG_TEST_RUN at
 * 1,000,000 repeats, against an anchor measured in the same run: an empty
 * program of the same type that only passes the packet. The ratio is what
 * the prefilter adds over the cost of running any program at that hook.
 *
 * Cases per program: a valid query (passes every check, so the longest
 * path), a query for a namespace that is not a member (the last check, so
 * the longest drop), a bad magic (the first check), and for XDP a 6 KB query
 * in one frame (the frags path test_run takes above 3520 bytes).
 *
 * Output: one JSON line per case, then a summary table. Each figure is the
 * median of ROUNDS runs (RVF_BENCH_QUICK=1: one run); the kernel reports the
 * mean over the repeats of one run. Needs CAP_BPF + CAP_NET_ADMIN; without
 * them it says skipped and exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rvf/svc.h"
#include "rvf/error.h"

#define REPEAT   1000000u
#define ROUNDS   5
#define PORT     7407
#define NS_OK    1u             /* dim 128 f32, member */
#define NS_OUT   2u             /* dim 128 f32, not a member */
#define NS_BIG   3u             /* dim 1536 f32, member */

static uint8_t pkt[8192];

/* Ethernet/IPv4/UDP (xdp) or fake-Ethernet/UDP (socket: test_run pulls 14
 * bytes, leaving the UDP header at offset 0 as on a real socket) around a
 * query for ns of dim f32 elements with the given magic. */
static size_t frame(bool xdp, uint32_t ns, uint16_t dim, uint32_t magic)
{
	struct rvf_wire_query q = { .magic = magic, .version = RVF_WIRE_VERSION,
				    .hdr_len = RVF_WIRE_QUERY_HDR_LEN, .dim = dim,
				    .elem_type = RVF_WIRE_ELEM_F32, .k = 10, .ns_id = ns };
	size_t dlen = sizeof(q) + (size_t)dim * 4, l4 = xdp ? 34 : 14, i;
	uint16_t v;
	uint8_t *ip = pkt + 14, *u = pkt + l4;

	memset(pkt, 0, 14);
	pkt[12] = xdp ? 0x08 : 0x88;
	pkt[13] = xdp ? 0x00 : 0xb5;
	if (xdp) {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		v = htons((uint16_t)(20 + 8 + dlen));
		memcpy(ip + 2, &v, 2);
		ip[8] = 64;
		ip[9] = 17;
	}
	v = htons(40000);
	memcpy(u, &v, 2);
	v = htons(PORT);
	memcpy(u + 2, &v, 2);
	v = htons((uint16_t)(8 + dlen));
	memcpy(u + 4, &v, 2);
	memset(u + 6, 0, 2);
	memcpy(u + 8, &q, sizeof(q));
	for (i = 0; i < (size_t)dim * 4; i++)
		u[8 + sizeof(q) + i] = (uint8_t)i;
	return l4 + 8 + dlen;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Median over rounds of the kernel's mean ns per run; *verdict the last retval. */
static int measure(int fd, size_t len, int rounds, uint32_t *ns, uint32_t *verdict)
{
	uint32_t d[ROUNDS];
	int r;

	for (r = 0; r < rounds; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = (uint32_t)len,
			    .repeat = REPEAT);

		if (bpf_prog_test_run_opts(fd, &t))
			return -errno;
		d[r] = t.duration;
		*verdict = t.retval;
	}
	qsort(d, (size_t)rounds, sizeof(d[0]), cmp_u32);
	*ns = d[rounds / 2];
	return 0;
}

static int anchor(enum bpf_prog_type type)
{
	/* xdp: return XDP_PASS; socket: return skb->len (keep it all) */
	struct bpf_insn xdp[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpf_insn sock[] = {
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1,
		  .off = offsetof(struct __sk_buff, len) },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return type == BPF_PROG_TYPE_XDP
	       ? bpf_prog_load(type, "xdp_anchor", "GPL", xdp, 2, NULL)
	       : bpf_prog_load(type, "sock_anchor", "GPL", sock, 2, NULL);
}

struct result {
	const char *prog, *cas;
	uint32_t ns, anchor_ns, verdict;
	size_t len;
};

int main(void)
{
	static const char *const names[RVF_BPF_NPROGS] = { "sock_prefilter", "xdp_prefilter",
							   "xdp_prefilter_mb" };
	struct rvf_wire_ns shape = { .dim = 128, .elem_type = RVF_WIRE_ELEM_F32 };
	struct rvf_wire_ns big = { .dim = 1536, .elem_type = RVF_WIRE_ELEM_F32 };
	struct rvf_bpf_opts o = { .port = PORT };
	struct result res[16];
	struct rvf_bpf *b = NULL;
	int rounds = getenv("RVF_BENCH_QUICK") && atoi(getenv("RVF_BENCH_QUICK")) ? 1 : ROUNDS;
	int a_sock, a_xdp, nres = 0, p, i, err;
	uint32_t v;

	rvf_set_log(rvf_log_stderr, NULL, RVF_LOG_WARN);
	err = rvf_bpf_open(&o, &b);
	if (err == -EPERM || err == -EACCES) {
		printf("bench-bpf: skipped: not permitted to load BPF programs (needs CAP_BPF and "
		       "CAP_NET_ADMIN)\n");
		return 0;
	}
	if (err) {
		fprintf(stderr, "bench-bpf: cannot load the prefilter: %s\n", rvf_last_error());
		return 1;
	}
	if (rvf_bpf_set_ns(b, NS_OK, &shape) || rvf_bpf_set_ns(b, NS_OUT, &shape) ||
	    rvf_bpf_set_ns(b, NS_BIG, &big) || rvf_bpf_set_member(b, NS_OK, true) ||
	    rvf_bpf_set_member(b, NS_BIG, true))
		return 1;
	a_sock = anchor(BPF_PROG_TYPE_SOCKET_FILTER);
	a_xdp = anchor(BPF_PROG_TYPE_XDP);
	if (a_sock < 0 || a_xdp < 0) {
		fprintf(stderr, "bench-bpf: cannot load the anchor programs: %s\n", strerror(errno));
		return 1;
	}
	for (p = 0; p < RVF_BPF_NPROGS; p++) {
		bool xdp = p != RVF_BPF_PROG_SOCK;
		int fd = rvf_bpf_prog_fd(b, (enum rvf_bpf_prog)p), afd = xdp ? a_xdp : a_sock;
		static const struct { const char *name; uint32_t ns; uint16_t dim; uint32_t magic; } cases[] = {
			{ "valid", NS_OK, 128, RVF_WIRE_QUERY_MAGIC },
			{ "drop_not_member", NS_OUT, 128, RVF_WIRE_QUERY_MAGIC },
			{ "drop_bad_magic", NS_OK, 128, 0x11223344 },
			{ "valid_6k_frags", NS_BIG, 1536, RVF_WIRE_QUERY_MAGIC },
		};

		for (i = 0; i < 4; i++) {
			struct result *r = &res[nres];
			size_t len;

			if (i == 3 && !xdp)
				continue;       /* skb test_run takes at most a page */
			len = frame(xdp, cases[i].ns, cases[i].dim, cases[i].magic);
			/* anchor on the same packet, in the same run */
			err = measure(afd, len, rounds, &r->anchor_ns, &v);
			err = err ? err : measure(fd, len, rounds, &r->ns, &r->verdict);
			if (err) {
				fprintf(stderr, "bench-bpf: test_run %s: %s\n", names[p], strerror(-err));
				return 1;
			}
			r->prog = names[p];
			r->cas = cases[i].name;
			r->len = len;
			printf("{\"bench\":\"bpf\",\"prog\":\"%s\",\"case\":\"%s\",\"bytes\":%zu,"
			       "\"verdict\":\"%s\",\"ns_per_pkt\":%u,\"anchor_ns_per_pkt\":%u,"
			       "\"ratio_to_anchor\":%.2f,\"repeat\":%u,\"rounds\":%d}\n",
			       r->prog, r->cas, len,
			       (xdp ? r->verdict == XDP_PASS : r->verdict != 0) ? "pass" : "drop",
			       r->ns, r->anchor_ns, r->anchor_ns ? (double)r->ns / r->anchor_ns : 0.0,
			       REPEAT, rounds);
			nres++;
		}
	}
	printf("\nsummary: prefilter cost per packet (BPF_PROG_TEST_RUN, %u repeats, median of %d)\n",
	       REPEAT, rounds);
	printf("  %-18s %-16s %6s %8s %8s %7s\n", "program", "case", "bytes", "ns/pkt", "anchor",
	       "ratio");
	for (i = 0; i < nres; i++)
		printf("  %-18s %-16s %6zu %8u %8u %6.2fx\n", res[i].prog, res[i].cas, res[i].len,
		       res[i].ns, res[i].anchor_ns,
		       res[i].anchor_ns ? (double)res[i].ns / res[i].anchor_ns : 0.0);
	printf("  anchor: an empty program of the same type that passes the packet, same packet, "
	       "same run\n");
	close(a_sock);
	close(a_xdp);
	rvf_bpf_close(b);
	return 0;
}
