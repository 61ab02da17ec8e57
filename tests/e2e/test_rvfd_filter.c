/*
 * test_rvfd_filter.c - rvfd's datagram validation and kernel filters end to
 * end (the real build/bin/rvfd, fixture and harness as in test_rvfd.c):
 * with --no-bpf every kind of bad datagram gets its status or is dropped and
 * the stats counters equal what was sent; the eBPF socket filter drops them
 * before userspace; without capabilities the classic BPF level filters and
 * serves; a foreign EBPF segment needs --trust-ebpf; and, on veth pairs
 * between two network namespaces this test creates and removes, MTU 1500
 * (queries fragment) and 9000, and XDP native and generic dropping bad
 * datagrams at the interface.
 *
 * Network traffic: loopback, or veth pairs in namespaces named rvt<pid>...
 * removed on every exit path (teardown and atexit).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"
#include "rvfd_harness.h"
#include "rvfd_fixture.h"
#include "data/data.h"
#include "rvf/rvf.h"
#include "rvf/wire.h"
#include "bpfload/bpfload.h"

/* ---- tests ---------------------------------------------------------------- */

/* --no-bpf: one datagram of each bad kind, a known number of times each,
 * reaches userspace and gets the right status or no answer, and the
 * daemon's counters equal what was sent. */
static void without_bpf_bad_datagrams_get_their_status_and_are_counted(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	uint8_t good[4096], b[4096], rep[2048];
	char s1[PATH_MAX + 8], s2[PATH_MAX + 8];
	size_t n;
	float nanv[DIM];
	struct {
		const char *what;
		int times;
		int status;              /* -1: dropped */
		enum rvf_wire_reason reason;
	} kinds[] = {
		{ "truncated", 3, -1, RVF_WIRE_R_TRUNCATED },
		{ "bad magic", 4, -1, RVF_WIRE_R_BAD_MAGIC },
		{ "bad version", 5, RVF_WIRE_BAD_REQUEST, RVF_WIRE_R_BAD_VERSION },
		{ "bad header", 6, RVF_WIRE_BAD_REQUEST, RVF_WIRE_R_BAD_HEADER },
		{ "wrong dim", 7, RVF_WIRE_BAD_REQUEST, RVF_WIRE_R_BAD_DIM },
		{ "bad length", 8, RVF_WIRE_BAD_REQUEST, RVF_WIRE_R_BAD_LENGTH },
		{ "bad k", 9, RVF_WIRE_BAD_REQUEST, RVF_WIRE_R_BAD_K },
		{ "wrong ns", 10, RVF_WIRE_NOT_MEMBER, RVF_WIRE_R_NOT_MEMBER },
		{ "nan", 11, RVF_WIRE_BAD_REQUEST, RVF_WIRE_R_NONFINITE },
	};
	long long sent_user[RVF_WIRE_R_NREASONS] = { 0 }, status_n[RVF_WIRE_INTERNAL + 1] = { 0 };
	uint64_t rid = 1;
	json_t *st;

	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	snprintf(s2, sizeof(s2), "%u=%s", NS2, f->store2);
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--store", s2, "--listen", "127.0.0.1:0",
						 "--no-bpf", NULL });
	assert_non_null(strstr(d.text, "filter: none: --no-bpf"));
	client_open(&c, "127.0.0.1", d.port);
	memcpy(nanv, f->q, sizeof(nanv));
	nanv[DIM - 1] = NAN;

	for (size_t kd = 0; kd < sizeof(kinds) / sizeof(kinds[0]); kd++) {
		for (int t = 0; t < kinds[kd].times; t++, rid++) {
			size_t len;

			n = make_query(good, sizeof(good), NS1, f->q, DIM, 10, 64, rid);
			memcpy(b, good, n);
			len = n;
			switch (kinds[kd].reason) {
			case RVF_WIRE_R_TRUNCATED: len = 31 - (size_t)t; break;
			case RVF_WIRE_R_BAD_MAGIC: b[1] = 'X'; break;
			case RVF_WIRE_R_BAD_VERSION: b[4] = 2; break;
			case RVF_WIRE_R_BAD_HEADER: b[5] = 0x80; break;
			/* the other namespace's dimension, at its length */
			case RVF_WIRE_R_BAD_DIM: len = make_query(b, sizeof(b), NS1, f->q, DIM2, 10, 64, rid); break;
			case RVF_WIRE_R_BAD_LENGTH: len = n - 4 * (size_t)(t + 1); break;
			case RVF_WIRE_R_BAD_K: b[0x0C] = t & 1 ? 0 : 101; break;
			case RVF_WIRE_R_NOT_MEMBER: len = make_query(b, sizeof(b), 100 + (uint32_t)t, f->q, DIM, 10, 64, rid); break;
			case RVF_WIRE_R_NONFINITE: len = make_query(b, sizeof(b), NS1, nanv, DIM, 10, 64, rid); break;
			default: break;
			}
			client_send(&c, b, len);
			if (kinds[kd].status < 0) {
				/* dropped: the next good query's answer comes first */
				n = make_query(good, sizeof(good), NS1, f->q, DIM, 10, 64, 777000 + rid);
				n = ask(&c, good, n, 777000 + rid, rep, sizeof(rep));
				expect_same_results(f->ro, f->q, DIM, 10, 64, NULL, rep, n);
				sent_user[RVF_WIRE_R_PASSED]++;
				status_n[RVF_WIRE_OK]++;
			} else {
				struct rvf_wire_reply h;
				ssize_t r = client_recv(&c, rep, sizeof(rep), 5000);

				if (r < 0)
					fail_msg("%s: no reply", kinds[kd].what);
				assert_int_equal(rvf_wire_reply_parse(rep, (size_t)r, &h), 0);
				assert_int_equal(h.request_id, rid);
				if (h.status != kinds[kd].status)
					fail_msg("%s: status %s, want %s", kinds[kd].what,
						 rvf_wire_status_name(h.status), rvf_wire_status_name(kinds[kd].status));
				assert_int_equal(h.count, 0);
				status_n[kinds[kd].status]++;
			}
			sent_user[kinds[kd].reason]++;
		}
	}
	/* a filter id nobody configured is a bad header */
	{
		struct rvf_wire_query h;
		struct rvf_wire_reply rh;

		rvf_wire_query_init(&h);
		h.dim = DIM;
		h.k = 3;
		h.ns_id = NS1;
		h.filter_id = 99;
		h.request_id = 424242;
		n = (size_t)rvf_wire_query_encode(&h, f->q, b, sizeof(b));
		n = ask(&c, b, n, 424242, rep, sizeof(rep));
		assert_int_equal(rvf_wire_reply_parse(rep, n, &rh), 0);
		assert_int_equal(rh.status, RVF_WIRE_BAD_REQUEST);
		sent_user[RVF_WIRE_R_BAD_HEADER]++;
		status_n[RVF_WIRE_BAD_REQUEST]++;
	}

	st = get_stats(&c);
	assert_string_equal(json_string_value(json_object_get(st, "filter_level")), "none");
	assert_true(json_is_null(json_object_get(st, "kernel")));
	for (int r = 0; r < RVF_WIRE_R_NREASONS; r++) {
		long long got = jget(st, "user", rvf_wire_reason_name(r));

		if (got != sent_user[r])
			fail_msg("user.%s = %lld, sent %lld", rvf_wire_reason_name(r), got, sent_user[r]);
	}
	for (int s = 0; s <= RVF_WIRE_INTERNAL; s++) {
		long long got = jget(st, "replies", rvf_wire_status_name(s));

		if (got != status_n[s])
			fail_msg("replies.%s = %lld, want %lld", rvf_wire_status_name(s), got, status_n[s]);
	}
	assert_int_equal(jget(st, "queries", NULL), sent_user[RVF_WIRE_R_PASSED]);
	assert_int_equal(jget(st, "stats_requests", NULL), 1);
	assert_int_equal(jget(st, "latency_us", "count"), status_n[RVF_WIRE_OK]);
	assert_string_equal(json_string_value(json_object_get(st, "request_id")), "4242");
	json_decref(st);
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);
}


/* Good queries after the bad ones; then nothing else may be pending. */
static int send_goods(struct client *c, struct fx *f, int n)
{
	uint8_t pkt[4096], rep[2048];
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	for (int i = 0; i < n; i++) {
		size_t len = make_query(pkt, sizeof(pkt), NS1, f->q + (size_t)i * DIM, DIM, 10, 64, 4000 + (uint64_t)i);

		len = ask(c, pkt, len, 4000 + (uint64_t)i, rep, sizeof(rep));
		expect_same_results(f->ro, f->q + (size_t)i * DIM, DIM, 10, 64, NULL, rep, len);
	}
	/* one worker answers a client in order: a late error reply would be here */
	assert_int_equal(poll(&p, 1, 0), 0);
	return n;
}

static long long kc(json_t *st, const char *prog, const char *field)
{
	json_t *v = json_object_get(json_object_get(json_object_get(st, "kernel"), prog), field);

	if (!json_is_integer(v))
		fail_msg("stats: kernel.%s.%s missing", prog, field);
	return (long long)json_integer_value(v);
}


/* The eBPF socket filter (the default as root): bad datagrams never reach
 * userspace (its counters stay 0 for them), the kernel's counters equal
 * what was sent, NaN vectors (which BPF does not scan) are still refused in
 * userspace; the pins exist while rvfd runs and are gone after SIGTERM. */
static void ebpf_socket_filter_drops_bad_datagrams_before_userspace(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	char s1[PATH_MAX + 8], s2[PATH_MAX + 8], pin[160];
	int status[B_N] = { [B_NAN] = RVF_WIRE_BAD_REQUEST };
	struct rvf_wire_counters k, pinned;
	json_t *st;
	int good;

	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	snprintf(s2, sizeof(s2), "%u=%s", NS2, f->store2);
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--store", s2, "--listen", "127.0.0.1:0", NULL });
	assert_non_null(strstr(d.text, "filter: ebpf"));
	assert_non_null(strstr(d.text, "socket filter on 2 sockets"));
	snprintf(pin, sizeof(pin), "%s/rvf_counters", d.pin_dir);
	assert_int_equal(access(pin, F_OK), 0);
	client_open(&c, "127.0.0.1", d.port);
	send_bads(&c, f->q, 1u << B_NAN, status);
	good = send_goods(&c, f, 10);

	st = get_stats(&c);
	assert_string_equal(json_string_value(json_object_get(st, "filter_level")), "ebpf");
	assert_true(json_is_null(json_object_get(json_object_get(st, "kernel"), "xdp")));
	for (int r = 0; r < RVF_WIRE_R_NREASONS; r++) {
		long long want = r == RVF_WIRE_R_PASSED ? good : r == RVF_WIRE_R_NONFINITE ? bads[B_NAN].times : 0;

		if (jget(st, "user", rvf_wire_reason_name(r)) != want)
			fail_msg("user.%s = %lld, want %lld (it should never have reached userspace)",
				 rvf_wire_reason_name(r), jget(st, "user", rvf_wire_reason_name(r)), want);
	}
	json_to_counters(json_object_get(json_object_get(st, "kernel"), "sock"), &k);
	expect_kernel_counts(&k, (uint64_t)(good + bads[B_NAN].times), false);
	assert_true(kc(st, "sock", "other_passed") >= 1);   /* the stats request */
	/* the pinned map says the same (what `rvf stats --pin-dir` reads) */
	assert_int_equal(rvf_bpf_counters_pinned(d.pin_dir, RVF_WIRE_SLOT_SOCK, &pinned), 0);
	expect_kernel_counts(&pinned, (uint64_t)(good + bads[B_NAN].times), false);
	json_decref(st);
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(access(d.pin_dir, F_OK), -1);   /* unpinned, directory removed */
}

/* No capabilities at all (uid 65534, empty bounding set): eBPF is refused,
 * the classic BPF filter takes over, still drops what it can check (length,
 * magic, version, header, dim, k) before userspace, and rvfd serves. The
 * namespace check is userspace's at this level. */
static void without_capabilities_classic_bpf_filters_and_serves(void **state)
{
	struct fx *f = *state;
	struct start s = { .as_nobody = true };
	struct daemon d;
	struct client c;
	char *copy = tu_path(f->dir, "nobody.rvf"), s1[PATH_MAX + 8];
	int status[B_N] = { [B_NS] = RVF_WIRE_NOT_MEMBER, [B_NAN] = RVF_WIRE_BAD_REQUEST };
	size_t len;
	void *bytes = tu_slurp(f->store, &len);
	json_t *st;
	int good;

	tu_spit(copy, bytes, len);
	free(bytes);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(chmod(copy, 0644), 0);
	snprintf(s1, sizeof(s1), "%u=%s", NS1, copy);
	must_start(f->dir, &d, &s, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", NULL });
	if (!strstr(d.text, "filter: cbpf"))
		fail_msg("as nobody rvfd should run at the classic BPF level:\n%s", d.text);
	assert_non_null(strstr(d.text, "eBPF refused"));
	/* the object: the store's segment (another test embedded it), or the
	 * built-in one from memory (a store nobody cannot write is left alone) */
	assert_true(strstr(d.text, "EBPF segment") || strstr(d.text, "not writable"));
	client_open(&c, "127.0.0.1", d.port);
	send_bads(&c, f->q, 1u << B_NS | 1u << B_NAN, status);
	good = send_goods(&c, f, 10);
	st = get_stats(&c);
	assert_string_equal(json_string_value(json_object_get(st, "filter_level")), "cbpf");
	assert_true(json_is_null(json_object_get(st, "kernel")));
	for (int r = 0; r < RVF_WIRE_R_NREASONS; r++) {
		long long want = r == RVF_WIRE_R_PASSED ? good : r == RVF_WIRE_R_NONFINITE ? bads[B_NAN].times
				 : r == RVF_WIRE_R_NOT_MEMBER ? bads[B_NS].times : 0;

		if (jget(st, "user", rvf_wire_reason_name(r)) != want)
			fail_msg("cbpf: user.%s = %lld, want %lld", rvf_wire_reason_name(r),
				 jget(st, "user", rvf_wire_reason_name(r)), want);
	}
	json_decref(st);
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);
	free(copy);
}

/* A store whose EBPF segment is not the built-in prefilter: refused unless
 * --trust-ebpf (then the built-in one runs); trusted, an object of another
 * ABI is refused by the loader and the ladder goes down to classic BPF.
 * Either way rvfd serves. */
static void a_foreign_ebpf_segment_needs_trust(void **state)
{
	struct fx *f = *state;
	char *copy = tu_path(f->dir, "foreign.rvf"), s1[PATH_MAX + 8], obj[PATH_MAX + 64], *dn;
	struct rvf_ebpf_opts eo = { .program_type = RVF_EBPF_PROG_SOCKET_FILTER,
				    .attach_type = RVF_EBPF_ATTACH_SOCKET_FILTER, .max_dimension = RVF_WIRE_MAX_DIM };
	struct rvf_store *w = NULL;
	size_t len, olen;
	void *bytes = tu_slurp(f->store, &len), *ob;
	struct daemon d;
	struct client c;

	tu_spit(copy, bytes, len);
	free(bytes);
	dn = strdup(rvfd_bin);
	snprintf(obj, sizeof(obj), "%s/../bpf/test/prefilter_abi2.bpf.o", dirname(dn));
	free(dn);
	if (access(obj, R_OK))
		fail_msg("%s is missing (make test builds it)", obj);
	ob = tu_slurp(obj, &olen);
	assert_int_equal(rvf_store_open(copy, NULL, &w), 0);
	assert_int_equal(rvf_store_embed_ebpf(w, &eo, ob, olen, NULL, 0, NULL), 0);
	assert_int_equal(rvf_store_close(w), 0);
	free(ob);
	snprintf(s1, sizeof(s1), "%u=%s", NS1, copy);

	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", NULL });
	assert_non_null(strstr(d.text, "filter: ebpf"));
	assert_non_null(strstr(d.text, "EBPF segment refused"));
	assert_non_null(strstr(d.text, "--trust-ebpf"));
	client_open(&c, "127.0.0.1", d.port);
	send_goods(&c, f, 3);
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);

	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", "--trust-ebpf", NULL });
	if (!strstr(d.text, "filter: cbpf") || !strstr(d.text, "eBPF refused"))
		fail_msg("a trusted object of another ABI should be refused by the loader:\n%s", d.text);
	client_open(&c, "127.0.0.1", d.port);
	send_goods(&c, f, 3);
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);
	free(copy);
}


/* In a forked child inside the client namespace: run queries, compare each
 * reply with the expected results computed before the fork. Exit code 0 or
 * the failing query + 1. */
static int veth_client(const char *ns, const char *ip, uint16_t port, const float *q, uint32_t dim,
		       size_t nq, const struct rvf_result *want, const int *nwant)
{
	struct client c;
	static uint8_t pkt[RVF_WIRE_MAX_DATAGRAM], rep[2048];

	if (netns_enter(ns))
		return 200;
	c.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&c.to, 0, sizeof(c.to));
	c.to.sin_family = AF_INET;
	c.to.sin_port = htons(port);
	inet_pton(AF_INET, ip, &c.to.sin_addr);
	for (size_t i = 0; i < nq; i++) {
		struct rvf_wire_query h;
		struct rvf_wire_reply rh;
		int n, ok = 0;

		rvf_wire_query_init(&h);
		h.dim = (uint16_t)dim;
		h.k = 10;
		h.ef = 64;
		h.ns_id = NS1;
		h.request_id = 70000 + i;
		n = rvf_wire_query_encode(&h, q + i * dim, pkt, sizeof(pkt));
		for (int t = 0; t < 10 && !ok; t++) {
			ssize_t r;

			sendto(c.fd, pkt, (size_t)n, 0, (struct sockaddr *)&c.to, sizeof(c.to));
			while ((r = client_recv(&c, rep, sizeof(rep), 1000)) >= 0)
				if (rvf_wire_reply_parse(rep, (size_t)r, &rh) == 0 && rh.request_id == h.request_id) {
					ok = 1;
					break;
				}
		}
		if (!ok || rh.status != RVF_WIRE_OK || rh.count != nwant[i])
			return (int)(i % 199) + 1;
		for (uint16_t j = 0; j < rh.count; j++) {
			struct rvf_wire_result r;

			rvf_wire_reply_result(rep, j, &r);
			if (r.id != want[i * 10 + j].id || memcmp(&r.distance, &want[i * 10 + j].distance, 4))
				return (int)(i % 199) + 1;
		}
	}
	close(c.fd);
	return 0;
}

static void veth_pair_serves_at_mtu_1500_and_9000(void **state)
{
	struct fx *f = *state;
	char *big = tu_path(fx_shared_dir, "s1024.rvf"), s1[PATH_MAX + 8];
	static const int mtus[] = { 1500, 9000 };
	struct rvf_store *ro = NULL;
	const size_t nq = 40;
	float *q = malloc(nq * 1024 * sizeof(float));
	struct rvf_result *want = malloc(nq * 10 * sizeof(*want));
	int nwant[40];

	assert_int_equal(rvf_store_open_readonly(big, NULL, &ro), 0);
	fill_vectors(q, nq, 1024, fx_seed ^ 0x1024);
	for (size_t i = 0; i < nq; i++) {
		struct rvf_query_opts qo = { .ef_search = 64 };

		nwant[i] = rvf_store_query(ro, q + i * 1024, 1024, 10, &qo, want + i * 10);
		assert_int_equal(nwant[i], 10);
	}
	snprintf(s1, sizeof(s1), "%u=%s", NS1, big);
	for (int m = 0; m < 2; m++) {
		struct netpair *p = &pairs[m];
		struct daemon d;
		struct start s = { .netns = p->srv };
		char ip[32], listen[48];
		pid_t pid;
		int st;

		char ifname[32];

		netpair_create(p, m, mtus[m]);
		snprintf(ip, sizeof(ip), "10.201.%d.2", m);
		snprintf(listen, sizeof(listen), "%s:0", ip);
		snprintf(ifname, sizeof(ifname), "rvt%ds", (int)getpid() % 100000);
		/* XDP native in front: at MTU 1500 it sees the 1024-dim queries as
		 * fragments (the first checked, the rest passed), at 9000 whole
		 * (the multi-buffer program) */
		must_start(f->dir, &d, &s, (char *const[]){ "--store", s1, "--listen", listen, "--iface", ifname, NULL });
		assert_non_null(strstr(d.text, "XDP native on"));
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(veth_client(p->cli, ip, d.port, q, 1024, nq, want, nwant));
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail_msg("MTU %d: the client in %s failed at query %d", mtus[m], p->cli,
				 WIFEXITED(st) ? WEXITSTATUS(st) - 1 : -1);
		{
			struct rvf_wire_counters x;

			assert_int_equal(rvf_bpf_counters_pinned(d.pin_dir, RVF_WIRE_SLOT_XDP, &x), 0);
			printf("info: veth MTU %d: %zu queries of 1024 dims (4128-byte datagrams) answered as in "
			       "process; XDP passed %llu, fragments %llu\n", mtus[m], nq,
			       (unsigned long long)x.passed, (unsigned long long)x.fragments);
			if (mtus[m] == 1500)
				assert_true(x.fragments >= nq);
		}
		assert_int_equal(daemon_stop(&d), 0);
		netpair_destroy(p);
	}
	rvf_store_close(ro);
	free(q);
	free(want);
	free(big);
}

/* In the client namespace: the bad kinds, then good queries compared with
 * want; exit 0, or a step number. */
static int xdp_client(const char *ns, const char *ip, uint16_t port, struct fx *f, const struct rvf_result *want)
{
	int status[B_N] = { [B_NAN] = RVF_WIRE_BAD_REQUEST };
	struct client c;
	uint8_t pkt[4096], rep[2048];

	if (netns_enter(ns))
		return 200;
	client_open(&c, ip, port);
	send_bads(&c, f->q, 1u << B_NAN, status);
	for (int i = 0; i < 10; i++) {
		struct rvf_wire_reply h;
		size_t n = make_query(pkt, sizeof(pkt), NS1, f->q + (size_t)i * DIM, DIM, 10, 64, 6000 + (uint64_t)i);

		n = ask(&c, pkt, n, 6000 + (uint64_t)i, rep, sizeof(rep));
		if (rvf_wire_reply_parse(rep, n, &h) || h.status != RVF_WIRE_OK || h.count != 10)
			return 10 + i;
		for (uint16_t j = 0; j < 10; j++) {
			struct rvf_wire_result r;

			rvf_wire_reply_result(rep, j, &r);
			if (r.id != want[i * 10 + j].id || memcmp(&r.distance, &want[i * 10 + j].distance, 4))
				return 30 + i;
		}
	}
	close(c.fd);
	return 0;
}

/* XDP native and generic on the server's veth end: bad datagrams are dropped
 * at the interface (the XDP counters equal what was sent, the socket filter
 * and userspace never see them), good ones are answered as in process. */
static void xdp_native_and_generic_drop_bad_datagrams_on_veth(void **state)
{
	struct fx *f = *state;
	static const char *modes[] = { "native", "generic" };
	struct rvf_result want[100];
	char s1[PATH_MAX + 8];

	for (int i = 0; i < 10; i++) {
		struct rvf_query_opts qo = { .ef_search = 64 };

		assert_int_equal(rvf_store_query(f->ro, f->q + (size_t)i * DIM, DIM, 10, &qo, want + i * 10), 10);
	}
	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	for (int m = 0; m < 2; m++) {
		struct netpair *p = &pairs[m];
		struct daemon d;
		struct start s = { .netns = p->srv };
		struct rvf_wire_counters x, so, us;
		char ip[32], listen[48], ifname[32], line[96];
		pid_t pid;
		int st;

		netpair_create(p, 2 + m, 1500);
		snprintf(ip, sizeof(ip), "10.201.%d.2", 2 + m);
		snprintf(listen, sizeof(listen), "%s:0", ip);
		snprintf(ifname, sizeof(ifname), "rvt%ds", (int)getpid() % 100000);
		must_start(f->dir, &d, &s, (char *const[]){ "--store", s1, "--listen", listen, "--iface", ifname,
						       "--xdp", (char *)modes[m], NULL });
		snprintf(line, sizeof(line), "XDP %s on %s", modes[m], ifname);
		if (!strstr(d.text, line))
			fail_msg("want '%s' in:\n%s", line, d.text);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(xdp_client(p->cli, ip, d.port, f, want));
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail_msg("XDP %s: the client failed at step %d", modes[m], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		assert_int_equal(rvf_bpf_counters_pinned(d.pin_dir, RVF_WIRE_SLOT_XDP, &x), 0);
		assert_int_equal(rvf_bpf_counters_pinned(d.pin_dir, RVF_WIRE_SLOT_SOCK, &so), 0);
		expect_kernel_counts(&x, 10 + (uint64_t)bads[B_NAN].times, false);
		/* what XDP dropped, the socket filter never saw */
		assert_int_equal(so.bad_magic + so.bad_version + so.bad_header + so.bad_dim + so.bad_length +
				 so.bad_k + so.not_member + so.truncated, 0);
		/* the daemon publishes its own verdicts into the map's user slot */
		for (int i = 0; i < 200; i++) {
			assert_int_equal(rvf_bpf_counters_pinned(d.pin_dir, RVF_WIRE_SLOT_USER, &us), 0);
			if (us.passed >= 10 && us.nonfinite == (uint64_t)bads[B_NAN].times)
				break;
			usleep(10000);
		}
		assert_true(us.passed >= 10);
		assert_int_equal(us.nonfinite, bads[B_NAN].times);
		assert_int_equal(us.bad_magic + us.bad_version + us.bad_header + us.bad_dim + us.bad_length +
				 us.bad_k + us.not_member + us.truncated, 0);
		printf("info: XDP %s: dropped truncated %llu magic %llu version %llu header %llu dim+ns %llu "
		       "length %llu k %llu at the interface\n", modes[m], (unsigned long long)x.truncated,
		       (unsigned long long)x.bad_magic, (unsigned long long)x.bad_version,
		       (unsigned long long)x.bad_header, (unsigned long long)(x.bad_dim + x.not_member),
		       (unsigned long long)x.bad_length, (unsigned long long)x.bad_k);
		assert_int_equal(daemon_stop(&d), 0);
		netpair_destroy(p);
	}
}

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(without_bpf_bad_datagrams_get_their_status_and_are_counted, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(ebpf_socket_filter_drops_bad_datagrams_before_userspace, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(without_capabilities_classic_bpf_filters_and_serves, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(a_foreign_ebpf_segment_needs_trust, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(veth_pair_serves_at_mtu_1500_and_9000, fx_setup, fx_teardown_net),
		cmocka_unit_test_setup_teardown(xdp_native_and_generic_drop_bad_datagrams_on_veth, fx_setup, fx_teardown_net),
	};

	return fx_run(tests, sizeof(tests) / sizeof(tests[0]));
}
