/*
 * test_bpf_attach.c - the prefilter on real sockets and interfaces: the eBPF
 * socket filter on a UDP socket (and detached by close), the classic-BPF
 * fallback (also unprivileged), loading with CAP_BPF and CAP_NET_ADMIN only,
 * XDP attached over veth in private network namespaces at MTU 1500
 * (fragments) and 9000 (the frags variant), native and generic, and bpffs
 * mounted when missing (in a private mount namespace).
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces), bpftool
 * and ip; a missing one is a SKIP with the reason. Children (namespaces,
 * dropped privileges) report through their exit status, never cmocka.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
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

#include "bpf_fixture.h"
#include "rvfd_harness.h"

static uint8_t dgram[70000], pkt[70000];

/* ---- real sockets ------------------------------------------------------------------ */

struct dg {
	uint8_t *buf;
	size_t len;
	uint64_t id;
	bool pass;
	unsigned reason;
	const char *name;
};

/* d: a query for ns with field f set to v (pf_query), request id id; its
 * buffer goes with free_dgs. */
static void dg_query(struct dg *d, uint64_t id, uint32_t ns, enum fld f, int64_t v, bool pass,
		     unsigned reason, const char *name)
{
	d->buf = malloc(8192);
	if (!d->buf)
		abort();
	d->id = id;
	d->len = pf_query(d->buf, ns, f, v, id);
	d->pass = pass;
	d->reason = reason;
	d->name = name;
}

/* d: a stats request (passed by every filter), request id id. */
static void dg_stats(struct dg *d, uint64_t id)
{
	dg_query(d, id, NS_F32, F_NONE, 0, true, C(other_passed), "stats request");
	d->len = pf_stats(d->buf, id);
}

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

	for (size_t i = 0; i < pf_nqcases; i++) {
		const struct pf_qcase *c = &pf_qcases[i];

		dg_query(&d[n++], 1000 + i, c->ns, c->f, c->v, c->pass, c->reason, c->name);
	}
	dg_stats(&d[n++], 2000);
	dg_query(&d[n++], 2001, NS_BIG, F_NONE, 0, true, C(passed), "6 KB query");
	dg_query(&d[n++], 2002, NS_BIG, F_EXTRA, 4, false, C(bad_length), "6 KB query one element long");
	dg_query(&d[n++], 9999, NS_F32, F_NONE, 0, true, C(passed), "sentinel");
	return n;
}

static void free_dgs(struct dg *d, int n)
{
	while (n--)
		free(d[n].buf);
}

/* Run fn(arg) in a forked child, which reports through its exit status
 * (never cmocka); fail the test, naming what, unless it exits 0. */
static void in_child(void (*fn)(void *), void *arg, const char *what)
{
	int st;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("%s failed (status 0x%x)", what, st);
}

static void sock_prefilter_filters_a_real_udp_socket(void **state)
{
	struct pf_fx *f = *state;
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
	pf_counters(f->b, RVF_WIRE_SLOT_SOCK, before);
	if (exchange(tx, "127.0.0.1", port, rx, d, n, err, sizeof(err)))
		fail_msg("eBPF socket filter: %s", err);
	pf_counters(f->b, RVF_WIRE_SLOT_SOCK, after);
	for (i = 0; i < n; i++)
		want[d[i].reason]++;
	for (c = 0; c < NCOUNT; c++)
		if (after[c] - before[c] != want[c])
			fail_msg("socket counters: %s moved by %llu, expected %llu", pf_counter_names[c],
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

	for (size_t i = 0; i < pf_nqcases; i++) {
		const struct pf_qcase *c = &pf_qcases[i];

		if (c->ns != NS_F32 && c->ns != NS_OUT)
			continue;
		/* cBPF has no maps: a non-member passes, and it does not look at ef */
		dg_query(&d[n++], 1000 + i, c->ns, c->f, c->v, c->pass || c->ns == NS_OUT || c->f == F_EF,
			 0, c->name);
	}
	dg_stats(&d[n++], 2000);
	dg_query(&d[n++], 2001, NS_BIG, F_NONE, 0, false, 0, "a valid query of another shape");
	dg_query(&d[n++], 9999, NS_F32, F_NONE, 0, true, 0, "sentinel");
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

static void cbpf_as_nobody(void *arg)
{
	char err[256];
	uint16_t port;
	int rx = udp_bound("127.0.0.1", 0, &port), tx = udp_bound("127.0.0.1", 0, NULL), e;
	struct rvf_bpf *b = NULL;

	(void)arg;
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

static void cbpf_fallback_works_without_privileges(void **state)
{
	(void)state;
	in_child(cbpf_as_nobody, NULL, "the unprivileged child");
}

/*
 * The programs use no variable-offset packet pointers, so they load with
 * CAP_BPF and CAP_NET_ADMIN alone: no CAP_PERFMON (the verifier's "!root"
 * pointer rules apply) and no CAP_SYS_ADMIN. Tried as uid 65534 holding just
 * those two.
 */
static void load_with_two_caps(void *arg)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct cap[2];
	struct rvf_bpf *b = NULL;
	struct rvf_bpf_opts o = { .port = TEST_PORT };
	uint16_t port;
	int e, rx = udp_bound("127.0.0.1", 0, &port);
	size_t n;
	uint32_t rv1, rv2;
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .repeat = 1);

	(void)arg;
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
	if (pf_configure_ns(b) || rvf_bpf_attach_socket(b, rx)) {
		fprintf(stderr, "child: configure/attach: %s\n", rvf_last_error());
		_exit(4);
	}
	n = pf_query(dgram, NS_F32, F_NONE, 0, 1);
	t.data_size_in = (uint32_t)pf_frame_ipv4(pkt, &(struct pf_frame){ .opt_words = 2 }, dgram, n);
	e = bpf_prog_test_run_opts(rvf_bpf_prog_fd(b, RVF_BPF_PROG_XDP), &t);
	rv1 = t.retval;
	n = pf_query(dgram, NS_OUT, F_NONE, 0, 1);
	t.data_size_in = (uint32_t)pf_frame_ipv4(pkt, &(struct pf_frame){ .opt_words = 2 }, dgram, n);
	e = e ? e : bpf_prog_test_run_opts(rvf_bpf_prog_fd(b, RVF_BPF_PROG_XDP), &t);
	rv2 = t.retval;
	if (e || rv1 != XDP_PASS || rv2 != XDP_DROP) {
		fprintf(stderr, "child: test run %d, verdicts %u %u\n", e, rv1, rv2);
		_exit(5);
	}
	rvf_bpf_close(b);
	_exit(0);
}

static void loads_with_cap_bpf_and_cap_net_admin_only(void **state)
{
	(void)state;
	in_child(load_with_two_caps, NULL, "the CAP_BPF+CAP_NET_ADMIN child");
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
	static const struct {
		uint32_t ns;
		enum fld f;
		int64_t v;
		bool pass;
		const char *name;
	} cases[] = {   /* 6 KB queries fragment at MTU 1500; the sentinel last */
		{ NS_F32, F_NONE, 0, true, "valid" },
		{ NS_F32, F_MAGIC, 0x11223344, false, "bad magic" },
		{ NS_F32, F_DIM, 9, false, "bad dim" },
		{ NS_OUT, F_NONE, 0, false, "not a member" },
		{ NS_BIG, F_NONE, 0, true, "6 KB valid" },
		{ NS_BIG, F_MAGIC, 0x11223344, false, "6 KB bad magic" },
		{ NS_BIG, F_NONE, 0, true, "6 KB valid again" },
		{ NS_F32, F_NONE, 0, true, "sentinel" },
	};
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
	CHILD_CHECK(sh("ip link add rvta mtu %d type veth peer name rvtb mtu %d netns /proc/%d/fd/%d",
			mtu, mtu, (int)getpid(), nsb) == 0, "ip link add");
	CHILD_CHECK(sh("ip addr add 10.213.0.1/24 dev rvta && ip link set rvta up") == 0, "ip A");
	CHILD_CHECK(setns(nsb, CLONE_NEWNET) == 0, "setns B");
	CHILD_CHECK(sh("ip addr add 10.213.0.2/24 dev rvtb && ip link set rvtb up") == 0, "ip B");
	rx = udp_bound("10.213.0.2", TEST_PORT, NULL);
	CHILD_CHECK(rx >= 0, "bind B: %s", strerror(errno));
	ifindex = (int)if_nametoindex("rvtb");
	CHILD_CHECK(ifindex > 0, "no rvtb");
	CHILD_CHECK(rvf_bpf_open(&o, &b) == 0 && pf_configure_ns(b) == 0, "open");
	CHILD_CHECK(rvf_bpf_attach_xdp(b, ifindex, mode) == 0, "attach: %s", rvf_last_error());
	CHILD_CHECK(rvf_bpf_attach_xdp(b, ifindex, mode) == -EEXIST, "second attach, same handle");
	CHILD_CHECK(rvf_bpf_open(&o, &other) == 0, "open another");
	CHILD_CHECK(rvf_bpf_attach_xdp(other, ifindex, mode) == -EBUSY, "attach over a link");
	rvf_bpf_close(other);
	CHILD_CHECK(bpf_xdp_query(ifindex, 0, &q) == 0, "bpf_xdp_query");
	CHILD_CHECK(q.prog_id == prog_id(rvf_bpf_prog_fd(b, want_prog)),
		    "attached prog id %u, expected %s (id %u)", q.prog_id, pf_prog_names[want_prog],
		    prog_id(rvf_bpf_prog_fd(b, want_prog)));
	CHILD_CHECK(q.attach_mode == (mode == RVF_XDP_NATIVE ? XDP_ATTACHED_DRV : XDP_ATTACHED_SKB),
		    "attach mode %u", q.attach_mode);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++, n++) {
		dg_query(&d[n], 100 + (uint64_t)n, cases[i].ns, cases[i].f, cases[i].v, cases[i].pass, 0,
			 cases[i].name);
		passed += cases[i].pass;
		bad_magic += cases[i].f == F_MAGIC;
		bad_dim += cases[i].f == F_DIM;
		not_member += cases[i].ns == NS_OUT;
		nbig += cases[i].ns == NS_BIG;
	}
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

struct xdp_case {
	int mtu, mode;
	enum rvf_bpf_prog want;
};

static void xdp_child(void *arg)
{
	const struct xdp_case *x = arg;

	xdp_veth_child(x->mtu, x->mode, x->want);
}

static void run_xdp_child(int mtu, int mode, enum rvf_bpf_prog want)
{
	struct xdp_case x = { mtu, mode, want };
	char what[96];

	snprintf(what, sizeof(what), "XDP over veth at MTU %d (%s)", mtu,
		 mode == RVF_XDP_NATIVE ? "native" : "generic");
	in_child(xdp_child, &x, what);
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
static void mount_bpffs_child(void *arg)
{
	struct rvf_bpf_opts o = { .pin_dir = "/sys/fs/bpf/rvf/mount-test" };
	struct rvf_bpf *b = NULL;
	struct statfs sf;
	int i;

	(void)arg;
	CHILD_CHECK(unshare(CLONE_NEWNS) == 0, "unshare mount ns: %s", strerror(errno));
	CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make private");
	for (i = 0; i < 16 && statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type == BPF_FS_MAGIC; i++)
		umount2("/sys/fs/bpf", MNT_DETACH);
	CHILD_CHECK(statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type != BPF_FS_MAGIC,
		    "bpffs still mounted");
	CHILD_CHECK(rvf_bpf_open(&o, &b) == 0, "open: %s", rvf_last_error());
	CHILD_CHECK(statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type == BPF_FS_MAGIC, "not mounted");
	CHILD_CHECK(pf_is_pinned(o.pin_dir, "rvf_counters"), "not pinned");
	rvf_bpf_close(b);
	_exit(0);
}

static void missing_bpffs_is_mounted(void **state)
{
	(void)state;
	in_child(mount_bpffs_child, NULL, "the mount child");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sock_prefilter_filters_a_real_udp_socket, pf_setup, pf_teardown),
		cmocka_unit_test(cbpf_fallback_filters_a_real_udp_socket),
		cmocka_unit_test(cbpf_fallback_works_without_privileges),
		cmocka_unit_test(loads_with_cap_bpf_and_cap_net_admin_only),
		cmocka_unit_test(xdp_native_on_veth_mtu_1500_judges_first_fragments),
		cmocka_unit_test(xdp_native_on_veth_mtu_9000_takes_the_frags_variant),
		cmocka_unit_test(xdp_generic_on_veth_mtu_1500),
		cmocka_unit_test(missing_bpffs_is_mounted),
	};

	tu_seed();
	rvf_set_log(pf_capture_log, NULL, RVF_LOG_INFO);
	pf_require_privileges();
	return cmocka_run_group_tests_name("bpf_attach", tests, NULL, NULL);
}
