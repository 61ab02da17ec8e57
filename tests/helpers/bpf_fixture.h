/*
 * bpf_fixture.h - what the prefilter tests (tests/bpf/test_bpf*.c) share:
 * the namespaces a loaded prefilter is configured with, queries built field
 * by field (pf_query), the one packet builder that frames them as XDP or a
 * socket filter sees them (Ethernet, 802.1Q/QinQ, IPv4 with options and
 * fragments, IPv6, ARP), a loaded-and-pinned fixture, running a packet
 * through a program with BPF_PROG_TEST_RUN and asserting its verdict and
 * the one counter it moved, the query-level case table every program judges
 * the same way, and the privilege check the suites start with.
 *
 * Failures go through cmocka, except pf_configure_ns (usable in children).
 */
#ifndef RVF_TESTS_BPF_FIXTURE_H
#define RVF_TESTS_BPF_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfload/bpfload.h"
#include "rvf/rvf.h"
#include "rvf/wire.h"
#include "testutil.h"

#define TEST_PORT   7499
#define SRC_PORT    40123

/* Namespaces pf_configure sets up. */
#define NS_F32   42u             /* dim 8 f32, member */
#define NS_F16   43u             /* dim 16 f16, max_k 10, member */
#define NS_OUT   44u             /* dim 8 f32, not a member */
#define NS_BARE  45u             /* member, but no shape configured */
#define NS_BIG   46u             /* dim 1536 f32 (6 KB queries), member */
#define NS_HUGE  70000u          /* beyond RVF_WIRE_MAX_NS */

/* Counter index of a struct rvf_wire_counters field. */
#define C(f) ((unsigned)(offsetof(struct rvf_wire_counters, f) / 8))
#define NCOUNT ((unsigned)(sizeof(struct rvf_wire_counters) / 8))
extern const char *const pf_counter_names[];
extern const char *const pf_prog_names[RVF_BPF_NPROGS];

/* ---- log capture: rvf's log goes to stderr and into pf_logbuf ------------- */

extern char pf_logbuf[32768];
void pf_capture_log(void *ctx, enum rvf_log_level level, const char *msg);
void pf_log_reset(void);

/* ---- queries and frames ---------------------------------------------------- */

enum fld { F_NONE, F_MAGIC, F_VERSION, F_FLAGS, F_HDR_LEN, F_DIM, F_ELEM, F_RESERVED, F_K, F_EF,
	   F_EXTRA, F_CUT };

/* A query for ns, valid for its shape, with field f set to v: F_EXTRA adds
 * (or removes) vector bytes, F_CUT cuts the whole datagram to v bytes.
 * Returns the datagram length. */
size_t pf_query(uint8_t *out, uint32_t ns, enum fld f, int64_t v, uint64_t id);
/* A stats request with request id id. */
size_t pf_stats(uint8_t *out, uint64_t id);

struct pf_frame {
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

/* Each writes a frame into o and returns its length. */
size_t pf_put_eth(uint8_t *o, uint16_t type, int vlans);     /* the L2 header alone */
/* Ethernet + IPv4 + UDP frame around a datagram (or raw L4 bytes). */
size_t pf_frame_ipv4(uint8_t *o, const struct pf_frame *fr, const uint8_t *d, size_t dlen);
size_t pf_frame_ipv6(uint8_t *o, const uint8_t *d, size_t dlen);
size_t pf_frame_arp(uint8_t *o);
/* What a socket filter sees in BPF_PROG_TEST_RUN (a fake Ethernet header,
 * then the UDP header at offset 0 of the skb data, as on a UDP socket). */
size_t pf_frame_sock(uint8_t *o, const uint8_t *d, size_t dlen);

/* ---- fixture ---------------------------------------------------------------- */

struct pf_fx {
	struct rvf_bpf *b;
	char pin[96];
	int fd[RVF_BPF_NPROGS];
};

/* A fresh pin dir name /sys/fs/bpf/rvf-test-<pid>-<n>. */
void pf_pin_dir_name(char *out, size_t len);
/* Set up the NS_* namespaces in b: 0 or -errno (no cmocka: children use it). */
int pf_configure_ns(struct rvf_bpf *b);
void pf_configure(struct rvf_bpf *b);
/* cmocka setup/teardown: the built-in prefilter, port TEST_PORT, pinned,
 * configured; *state is a struct pf_fx. */
int pf_setup(void **state);
int pf_teardown(void **state);

/* ---- running packets ---------------------------------------------------------- */

uint32_t pf_run(int fd, const void *pkt, size_t len);
void pf_counters(struct rvf_bpf *b, uint32_t slot, uint64_t out[NCOUNT]);
/* Run pkt through program p: the verdict must be pass/drop and exactly one
 * counter (reason) must have moved, by one. */
void pf_expect(struct pf_fx *f, enum rvf_bpf_prog p, const void *pkt, size_t len, bool pass,
	       unsigned reason, const char *what);

/* The query-level cases every program judges the same way. */
struct pf_qcase {
	const char *name;
	uint32_t ns;
	enum fld f;
	int64_t v;
	bool pass;
	unsigned reason;
};
extern const struct pf_qcase pf_qcases[];
extern const size_t pf_nqcases;

/* ---- pins ----------------------------------------------------------------------- */

/* What a loaded prefilter pins: its programs and maps. */
extern const char *const pf_pins[];
extern const size_t pf_npins;
bool pf_is_pinned(const char *dir, const char *name);

/* SKIP (with why) without bpftool, ip, BPF loading or namespaces. */
void pf_require_privileges(void);

#endif
