/*
 * test_bpf_packets.c - crafted packets through the prefilter's three
 * programs with BPF_PROG_TEST_RUN, each asserting the verdict and the exact
 * per-reason counter delta: every query field, in plain, 802.1Q and
 * IP-option framings; framing only XDP sees (QinQ, other traffic, IPv6,
 * ARP, padding, fragments, frames larger than test_run's linear part); and
 * namespace membership and shape changed at run time without a reload.
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN), bpftool and ip; a missing one is a
 * SKIP with the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_fixture.h"

static uint8_t dgram[70000], pkt[70000];

static void sock_prefilter_judges_every_field(void **state)
{
	struct pf_fx *f = *state;
	size_t i, n;

	for (i = 0; i < pf_nqcases; i++) {
		const struct pf_qcase *c = &pf_qcases[i];

		n = pf_query(dgram, c->ns, c->f, c->v, i + 1);
		pf_expect(f, RVF_BPF_PROG_SOCK, pkt, pf_frame_sock(pkt, dgram, n), c->pass, c->reason, c->name);
	}
	n = pf_stats(dgram, 77);
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, pf_frame_sock(pkt, dgram, n), true, C(other_passed),
	       "stats request");
}

/* Every case in three framings: plain (the in-place fast path), and with a
 * VLAN tag or IP options (the copy-out path). */
static void xdp_judges_every_field(struct pf_fx *f, enum rvf_bpf_prog p)
{
	static const struct pf_frame framings[] = { { 0 }, { .vlans = 1 }, { .opt_words = 1 } };
	static const char *const fname[] = { "plain", "802.1Q", "IP options" };
	char what[128];
	size_t i, j, n;

	for (j = 0; j < 3; j++) {
		for (i = 0; i < pf_nqcases; i++) {
			const struct pf_qcase *c = &pf_qcases[i];

			n = pf_query(dgram, c->ns, c->f, c->v, i + 1);
			snprintf(what, sizeof(what), "%s (%s)", c->name, fname[j]);
			pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &framings[j], dgram, n), c->pass, c->reason, what);
		}
		n = pf_stats(dgram, 77);
		snprintf(what, sizeof(what), "stats request (%s)", fname[j]);
		pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &framings[j], dgram, n), true, C(other_passed), what);
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
static void xdp_framing(struct pf_fx *f, enum rvf_bpf_prog p)
{
	size_t n, big;
	uint8_t raw[1480];

	n = pf_query(dgram, NS_F32, F_NONE, 0, 1);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .vlans = 1 }, dgram, n), true, C(passed),
	       "802.1Q-tagged query");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .vlans = 2 }, dgram, n), true, C(passed),
	       "802.1ad+802.1Q (QinQ) query");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .opt_words = 3 }, dgram, n), true,
	       C(passed), "IPv4 header with options");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .dport = TEST_PORT + 1 }, dgram, n), true,
	       C(other_passed), "query to another port");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .proto = IPPROTO_TCP }, dgram, n), true,
	       C(other_passed), "TCP to the port");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .proto = IPPROTO_TCP, .opt_words = 2 },
				      dgram, n), true, C(other_passed), "TCP with IP options");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .vlans = 1, .dport = 53 }, dgram, n), true,
	       C(other_passed), "802.1Q-tagged UDP to another port");
	pf_expect(f, p, pkt, pf_frame_ipv6(pkt, dgram, n), true, C(other_passed), "IPv6 UDP query");
	pf_expect(f, p, pkt, pf_frame_arp(pkt), true, C(other_passed), "ARP request");
	pf_expect(f, p, pkt, pf_put_eth(pkt, 0x0800, 0) + 10, true, C(other_passed),
	       "IPv4 ethertype, 10 bytes of IP header");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .tot_len_delta = 4 }, dgram, n), false,
	       C(truncated), "IP total length beyond the frame");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .udp_len_delta = 4 }, dgram, n), false,
	       C(truncated), "UDP length beyond the IP payload");
	/* Ethernet padding after the IP datagram is not part of the query. */
	n = pf_query(dgram, NS_F32, F_NONE, 0, 1);
	memset(dgram + n, 0, 8);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .tot_len_delta = -8, .udp_len_delta = -8 },
				      dgram, n + 8), true, C(passed), "frame with trailing padding");
	n = pf_query(dgram, NS_F32, F_CUT, 20, 1);
	memset(dgram + n, 0, 24);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .tot_len_delta = -24, .udp_len_delta = -24 },
				      dgram, n + 24), false, C(truncated),
	       "20-byte datagram in a padded frame");
	n = pf_query(dgram, NS_F32, F_MAGIC, 0x01020304, 1);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .vlans = 1 }, dgram, n), false,
	       C(bad_magic), "802.1Q-tagged bad magic");
	n = pf_query(dgram, NS_F32, F_CUT, 10, 1);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ 0 }, dgram, n), false, C(truncated),
	       "10-byte datagram to the port");

	/* A 1536-dim query as it arrives at MTU 1500: first fragment (its UDP
	 * length is the whole datagram's) judged by the header, the rest passed. */
	big = pf_query(dgram, NS_BIG, F_NONE, 0, 2);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .frag = 0x2000, .l4_cut = 1480,
							   .full_dgram = (uint32_t)big }, dgram, big),
	       true, C(passed), "first fragment of a valid 6 KB query");
	n = pf_query(dgram, NS_BIG, F_DIM, 1535, 2);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .frag = 0x2000, .l4_cut = 1480,
							   .full_dgram = (uint32_t)big }, dgram, big),
	       false, C(bad_dim), "first fragment with the wrong dim");
	n = pf_query(dgram, NS_BIG, F_NONE, 0, 2);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .frag = 0x2000, .l4_cut = 1480,
							   .full_dgram = (uint32_t)big - 4 }, dgram, big),
	       false, C(bad_length), "first fragment whose UDP length is one element short");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .frag = 0x2000, .l4_cut = 16,
							   .full_dgram = (uint32_t)big }, dgram, big),
	       true, C(fragments), "tiny first fragment (no whole query header)");
	memset(raw, 0xa5, sizeof(raw));
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .frag = 0x2000 | 185, .no_udp = true },
				      raw, sizeof(raw)), true, C(fragments), "middle fragment");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .frag = 740, .no_udp = true }, raw, 744),
	       true, C(fragments), "last fragment");
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .frag = 0x2000 | 185, .no_udp = true,
							   .vlans = 1 }, raw, sizeof(raw)),
	       true, C(fragments), "802.1Q-tagged middle fragment");
	n = pf_query(dgram, NS_BIG, F_MAGIC, 0x01020304, 2);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ .frag = 0x2000, .l4_cut = 1480, .vlans = 2,
							   .full_dgram = (uint32_t)big }, dgram, big),
	       false, C(bad_magic), "QinQ first fragment with a bad magic");

	/* The same query unfragmented: 6218 bytes, more than test_run's 3520
	 * linear bytes, so the tail arrives as frags (the MTU 9000 path). */
	n = pf_query(dgram, NS_BIG, F_NONE, 0, 3);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ 0 }, dgram, n), true, C(passed),
	       "6 KB query in one frame");
	n = pf_query(dgram, NS_BIG, F_EXTRA, -4, 3);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ 0 }, dgram, n), false, C(bad_length),
	       "6 KB query one element short");
	n = pf_query(dgram, NS_BIG, F_K, 0, 3);
	pf_expect(f, p, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ 0 }, dgram, n), false, C(bad_k),
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

/* ---- run-time namespace changes ----------------------------------------------- */

static void membership_flips_without_reload(void **state)
{
	struct pf_fx *f = *state;
	struct pf_frame plain = { 0 };
	uint32_t key = NS_OUT / 64;
	uint64_t word = 0;
	size_t n = pf_query(dgram, NS_OUT, F_NONE, 0, 1), ns_len, x_len;
	uint8_t xpkt[256];
	char path[160];
	int mfd;

	ns_len = pf_frame_sock(pkt, dgram, n);
	x_len = pf_frame_ipv4(xpkt, &plain, dgram, n);
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, ns_len, false, C(not_member), "before admitting");
	pf_expect(f, RVF_BPF_PROG_XDP, xpkt, x_len, false, C(not_member), "before admitting");
	assert_int_equal(rvf_bpf_set_member(f->b, NS_OUT, true), 0);
	/* the mmap'd word is the map's word (what bpf_map_lookup_elem sees) */
	snprintf(path, sizeof(path), "%s/rvf_members", f->pin);
	mfd = bpf_obj_get(path);
	assert_true(mfd >= 0);
	assert_int_equal(bpf_map_lookup_elem(mfd, &key, &word), 0);
	close(mfd);
	assert_true(word & (1ull << (NS_OUT % 64)));
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, ns_len, true, C(passed), "after admitting");
	pf_expect(f, RVF_BPF_PROG_XDP, xpkt, x_len, true, C(passed), "after admitting");
	pf_expect(f, RVF_BPF_PROG_XDP_MB, xpkt, x_len, true, C(passed), "after admitting");
	/* a neighbour bit in the same word does not disturb it */
	assert_int_equal(rvf_bpf_set_member(f->b, NS_OUT + 1, true), 0);
	assert_int_equal(rvf_bpf_set_member(f->b, NS_OUT, false), 0);
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, ns_len, false, C(not_member), "after refusing again");
	pf_expect(f, RVF_BPF_PROG_XDP, xpkt, x_len, false, C(not_member), "after refusing again");
	n = pf_query(dgram, NS_F32, F_NONE, 0, 1);
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, pf_frame_sock(pkt, dgram, n), true, C(passed),
	       "another namespace untouched");
}

static void shape_changes_without_reload(void **state)
{
	struct pf_fx *f = *state;
	struct rvf_wire_ns wide = { .dim = 12, .elem_type = RVF_WIRE_ELEM_I8, .max_k = 3 };
	size_t n = pf_query(dgram, NS_F32, F_NONE, 0, 1);
	struct rvf_wire_query q;

	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, pf_frame_sock(pkt, dgram, n), true, C(passed), "old shape");
	assert_int_equal(rvf_bpf_set_ns(f->b, NS_F32, &wide), 0);
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, pf_frame_sock(pkt, dgram, n), false, C(bad_dim),
	       "old query after the change");
	/* a query of the new shape: dim 12 int8, k <= 3 */
	memcpy(&q, dgram, sizeof(q));
	q.dim = 12;
	q.elem_type = RVF_WIRE_ELEM_I8;
	q.k = 3;
	memcpy(dgram, &q, sizeof(q));
	memset(dgram + sizeof(q), 1, 12);
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, pf_frame_sock(pkt, dgram, sizeof(q) + 12), true, C(passed),
	       "new shape");
	pf_expect(f, RVF_BPF_PROG_XDP, pkt, pf_frame_ipv4(pkt, &(struct pf_frame){ 0 }, dgram, sizeof(q) + 12),
	       true, C(passed), "new shape");
	q.k = 4;
	memcpy(dgram, &q, sizeof(q));
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, pf_frame_sock(pkt, dgram, sizeof(q) + 12), false, C(bad_k),
	       "k above the new max_k");
	assert_int_equal(rvf_bpf_set_ns(f->b, NS_F32, NULL), 0);
	q.k = 3;
	memcpy(dgram, &q, sizeof(q));
	pf_expect(f, RVF_BPF_PROG_SOCK, pkt, pf_frame_sock(pkt, dgram, sizeof(q) + 12), false, C(bad_dim),
	       "cleared shape");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sock_prefilter_judges_every_field, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(xdp_prefilter_judges_every_field, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(xdp_prefilter_mb_judges_every_field, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(xdp_prefilter_handles_framing_and_fragments, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(xdp_prefilter_mb_handles_framing_and_fragments, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(membership_flips_without_reload, pf_setup, pf_teardown),
		cmocka_unit_test_setup_teardown(shape_changes_without_reload, pf_setup, pf_teardown),
	};

	tu_seed();
	rvf_set_log(pf_capture_log, NULL, RVF_LOG_INFO);
	pf_require_privileges();
	return cmocka_run_group_tests_name("bpf_packets", tests, NULL, NULL);
}
