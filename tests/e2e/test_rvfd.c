/*
 * test_rvfd.c - the query daemon end to end: the real build/bin/rvfd started
 * as a separate process on stores this test builds (fixed seeds), spoken to
 * over UDP with the wire codec, its answers compared with in-process
 * rvf_store_query on the same file.
 *
 * Covered: replies equal in-process results (ids and distances, many k/ef)
 * on the io_uring and the syscall path and with io_uring denied by seccomp;
 * every kind of bad datagram gets its status or is dropped, and the stats
 * counters equal what was sent; metadata filters by id; OVERLOADED for
 * queries that queued too long; a commit by another process becomes visible
 * while serving; SIGTERM exits 0; bad configuration exits non-zero with a
 * message; and, on a veth pair between two network namespaces this test
 * creates and removes, MTU 1500 (queries fragment) and 9000.
 *
 * The binary: $RVFD_BIN, else ../bin/rvfd next to this test binary. Network
 * traffic: loopback, or veth pairs in namespaces named rvt<pid>... that the
 * fixture removes on every exit path (teardown and atexit).
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
#include "data/data.h"
#include "rvf/rvf.h"
#include "rvf/wire.h"
#include "bpfload/bpfload.h"

#define DIM    32
#define NVEC   2000
#define DIM2   16
#define NVEC2  300
#define NS1    1
#define NS2    7

static uint64_t seed;

/* ---- fixture -------------------------------------------------------------- */

struct fx {
	char *dir;
	char *store;      /* NS1: NVEC x DIM, metadata field 0 = i % 10 */
	char *store2;     /* NS2: NVEC2 x DIM2 */
	struct rvf_store *ro;
	float *q;         /* query vectors, NQ x DIM */
};

#define NQ 300


/* The stores are built once (they are read-only for most tests) in a
 * directory shared by the tests; tests that write get their own copy. */
static char *shared_dir;

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir();
	f->store = tu_path(shared_dir, "s1.rvf");
	f->store2 = tu_path(shared_dir, "s2.rvf");
	assert_int_equal(rvf_store_open_readonly(f->store, NULL, &f->ro), 0);
	f->q = malloc(NQ * DIM * sizeof(float));
	fill_vectors(f->q, NQ, DIM, seed ^ 0x5151);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kill_leftovers();
	rvf_store_close(f->ro);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->store);
	free(f->store2);
	free(f->q);
	free(f);
	return 0;
}


/* ---- tests ---------------------------------------------------------------- */

/* Replies equal in-process results for queries of many k and ef. */
static void serve_and_compare(struct fx *f, const struct start *s, const char *want_io)
{
	struct daemon d;
	struct client c;
	uint8_t pkt[4096], rep[2048];
	static const uint16_t ks[] = { 1, 5, 10, 100 };
	static const uint16_t efs[] = { 0, 100, 200 };
	char s1[PATH_MAX + 8], s2[PATH_MAX + 8];

	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	snprintf(s2, sizeof(s2), "%u=%s", NS2, f->store2);
	must_start(f->dir, &d, s, (char *const[]){ "--store", s1, "--store", s2, "--listen", "127.0.0.1:0",
					      "--threads", "2", "--ef", "48", NULL });
	assert_non_null(strstr(d.text, want_io));
	client_open(&c, "127.0.0.1", d.port);
	for (uint64_t i = 0; i < NQ; i++) {
		uint16_t k = ks[i % 4], ef = efs[(i / 4) % 3];
		size_t n;

		if (ef && ef < k)
			ef = k;
		n = make_query(pkt, sizeof(pkt), NS1, f->q + i * DIM, DIM, k, ef, 1000 + i);
		n = ask(&c, pkt, n, 1000 + i, rep, sizeof(rep));
		/* ef 0 is the daemon's --ef 48 */
		expect_same_results(f->ro, f->q + i * DIM, DIM, k, ef ? ef : 48, NULL, rep, n);
	}
	/* the second namespace answers with its own store */
	{
		struct rvf_store *ro2 = NULL;

		assert_int_equal(rvf_store_open_readonly(f->store2, NULL, &ro2), 0);
		for (uint64_t i = 0; i < 20; i++) {
			size_t n = make_query(pkt, sizeof(pkt), NS2, f->q + i * DIM, DIM2, 10, 64, 5000 + i);

			n = ask(&c, pkt, n, 5000 + i, rep, sizeof(rep));
			expect_same_results(ro2, f->q + i * DIM, DIM2, 10, 64, NULL, rep, n);
		}
		rvf_store_close(ro2);
	}
	/* pipelined: many in flight at once, every one answered correctly */
	for (uint64_t i = 0; i < 64; i++) {
		size_t n = make_query(pkt, sizeof(pkt), NS1, f->q + i * DIM, DIM, 10, 64, 9000 + i);

		client_send(&c, pkt, n);
	}
	{
		bool seen[64] = { false };
		int got = 0;
		ssize_t n;

		while (got < 64 && (n = client_recv(&c, rep, sizeof(rep), 2000)) >= 0) {
			struct rvf_wire_reply h;
			uint64_t i;

			assert_int_equal(rvf_wire_reply_parse(rep, (size_t)n, &h), 0);
			i = h.request_id - 9000;
			assert_true(i < 64 && !seen[i]);
			seen[i] = true;
			got++;
			expect_same_results(f->ro, f->q + i * DIM, DIM, 10, 64, NULL, rep, (size_t)n);
		}
		/* loopback does not lose datagrams below the socket buffer size */
		assert_int_equal(got, 64);
	}
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);
	assert_non_null(strstr(d.text, "stopped after"));
}

static void io_uring_path_replies_equal_in_process_results(void **state)
{
	struct start s = { .io = "uring" };

	serve_and_compare(*state, &s, "io: io_uring");
}

static void syscall_path_replies_equal_in_process_results(void **state)
{
	struct start s = { .io = "syscall" };

	serve_and_compare(*state, &s, "io: syscall");
}

static void io_uring_denied_by_seccomp_falls_back_and_serves(void **state)
{
	struct start s = { .wrap = WRAP_NO_URING };
	struct fx *f = *state;

	serve_and_compare(f, &s, "io: syscall (recvmmsg/sendmmsg): io_uring_setup: Function not implemented");
}

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

/* --filter ID=JSON: queries with that filter_id see only matching vectors. */
static void filter_ids_select_by_metadata(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	uint8_t pkt[4096], rep[2048];
	char s1[PATH_MAX + 8];
	struct rvf_filter *flt = NULL;

	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", "--filter",
						 "5={\"eq\":{\"field\":0,\"value\":3}}", NULL });
	assert_int_equal(rvf_filter_parse_json("{\"eq\":{\"field\":0,\"value\":3}}", &flt), 0);
	client_open(&c, "127.0.0.1", d.port);
	for (uint64_t i = 0; i < 30; i++) {
		struct rvf_wire_query h;
		struct rvf_wire_reply rh;
		size_t n;

		rvf_wire_query_init(&h);
		h.dim = DIM;
		h.k = 10;
		h.ef = 64;
		h.ns_id = NS1;
		h.filter_id = 5;
		h.request_id = 100 + i;
		n = (size_t)rvf_wire_query_encode(&h, f->q + i * DIM, pkt, sizeof(pkt));
		n = ask(&c, pkt, n, 100 + i, rep, sizeof(rep));
		expect_same_results(f->ro, f->q + i * DIM, DIM, 10, 64, flt, rep, n);
		assert_int_equal(rvf_wire_reply_parse(rep, n, &rh), 0);
		for (uint16_t j = 0; j < rh.count; j++) {
			struct rvf_wire_result r;

			rvf_wire_reply_result(rep, j, &r);
			assert_int_equal(r.id % 10, 3);
		}
	}
	rvf_filter_free(flt);
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);
}

/* A query that sat in the socket queue longer than --max-wait-ms is
 * answered OVERLOADED without a search. The daemon is stopped (SIGSTOP)
 * while the queries queue, so they certainly waited longer than 100 ms. */
static void queries_that_queued_too_long_are_overloaded(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	uint8_t pkt[4096], rep[2048];
	char s1[PATH_MAX + 8];
	struct timespec pause = { 0, 400 * 1000 * 1000 };
	int over = 0;

	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
						 "--max-wait-ms", "100", NULL });
	client_open(&c, "127.0.0.1", d.port);
	stop_and_wait(d.pid);
	for (uint64_t i = 0; i < 5; i++) {
		size_t n = make_query(pkt, sizeof(pkt), NS1, f->q, DIM, 10, 64, 50 + i);

		client_send(&c, pkt, n);
	}
	nanosleep(&pause, NULL);
	assert_int_equal(kill(d.pid, SIGCONT), 0);
	for (int i = 0; i < 5; i++) {
		struct rvf_wire_reply h;
		ssize_t n = client_recv(&c, rep, sizeof(rep), 5000);

		assert_true(n > 0);
		assert_int_equal(rvf_wire_reply_parse(rep, (size_t)n, &h), 0);
		assert_int_equal(h.status, RVF_WIRE_OVERLOADED);
		over++;
	}
	assert_int_equal(over, 5);
	/* fresh queries are searched again (a loaded machine may still make
	 * one wait too long: retry a bounded number of times) */
	for (uint64_t i = 0; i < 50; i++) {
		struct rvf_wire_reply h;
		size_t n = make_query(pkt, sizeof(pkt), NS1, f->q, DIM, 10, 64, 99 + i);

		n = ask(&c, pkt, n, 99 + i, rep, sizeof(rep));
		assert_int_equal(rvf_wire_reply_parse(rep, n, &h), 0);
		if (h.status == RVF_WIRE_OVERLOADED)
			continue;
		expect_same_results(f->ro, f->q, DIM, 10, 64, NULL, rep, n);
		break;
	}
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);
}

/* More queries queued at once than the io_uring buffer ring holds: the
 * multishot receive ends (-ENOBUFS), is re-armed, and every query is
 * answered; the same burst on the syscall path too. */
static void burst_beyond_the_buffer_ring_is_answered_whole(void **state)
{
	struct fx *f = *state;
	static const char *ios[] = { "uring", "syscall" };
	char s1[PATH_MAX + 8];

	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	for (int io = 0; io < 2; io++) {
		struct start s = { .io = ios[io] };
		struct daemon d;
		struct client c;
		uint8_t pkt[4096], rep[2048];
		const unsigned burst = 1500;
		static bool seen[1500];
		unsigned got = 0;
		int big = 8 << 20;
		json_t *st;

		must_start(f->dir, &d, &s, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", "--threads", "1",
						       "--max-wait-ms", "0", NULL });
		client_open(&c, "127.0.0.1", d.port);
		setsockopt(c.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		memset(seen, 0, sizeof(seen));
		stop_and_wait(d.pid);
		for (unsigned i = 0; i < burst; i++) {
			size_t n = make_query(pkt, sizeof(pkt), NS1, f->q + (i % NQ) * DIM, DIM, 5, 32, 1 + i);

			client_send(&c, pkt, n);
		}
		assert_int_equal(kill(d.pid, SIGCONT), 0);
		while (got < burst) {
			struct rvf_wire_reply h;
			ssize_t n = client_recv(&c, rep, sizeof(rep), 5000);

			if (n < 0)
				fail_msg("%s: %u of %u answered", ios[io], got, burst);
			assert_int_equal(rvf_wire_reply_parse(rep, (size_t)n, &h), 0);
			assert_int_equal(h.status, RVF_WIRE_OK);
			assert_true(h.request_id >= 1 && h.request_id <= burst && !seen[h.request_id - 1]);
			seen[h.request_id - 1] = true;
			got++;
		}
		st = get_stats(&c);
		printf("info: %s: a burst of %u answered whole; multishot re-arms %lld\n", ios[io], burst,
		       jget(st, "io_stats", "rearms"));
		assert_int_equal(jget(st, "io_stats", "send_errors"), 0);
		json_decref(st);
		close(c.fd);
		assert_int_equal(daemon_stop(&d), 0);
	}
}

/* Another process ingests while rvfd serves: the new vector is found
 * within a bounded poll, and every reply in between is a whole state; a
 * delete plus compaction is picked up too, and afterwards the daemon
 * answers exactly as a freshly opened handle. */
static void commit_by_another_process_becomes_visible(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	uint8_t pkt[4096], rep[2048];
	char s1[PATH_MAX + 8], *copy = tu_path(f->dir, "w.rvf");
	size_t len;
	void *bytes = tu_slurp(f->store, &len);
	float target[DIM];
	bool found = false;
	pid_t pid;
	int st;
	json_t *js;

	tu_spit(copy, bytes, len);
	free(bytes);
	snprintf(s1, sizeof(s1), "%u=%s", NS1, copy);
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", NULL });
	client_open(&c, "127.0.0.1", d.port);
	for (int i = 0; i < DIM; i++)
		target[i] = 50.0f + (float)i;   /* far from every stored vector */

	/* the writer is a separate process, as it would be in production */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rvf_store *w = NULL;
		struct rvf_vector v = { .id = 123456789, .values = target, .dim = DIM };
		struct rvf_ingest_result r = { 0 };

		if (rvf_store_open(copy, NULL, &w) || rvf_store_ingest_batch(w, &v, 1, &r) || r.accepted != 1)
			_exit(1);
		rvf_ingest_result_release(&r);
		_exit(rvf_store_close(w) ? 2 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* bounded poll: up to ~2 s */
	for (int i = 0; i < 200 && !found; i++) {
		struct rvf_wire_reply h;
		struct rvf_wire_result r;

		len = make_query(pkt, sizeof(pkt), NS1, target, DIM, 1, 0, 10 + (uint64_t)i);
		len = ask(&c, pkt, len, 10 + (uint64_t)i, rep, sizeof(rep));
		assert_int_equal(rvf_wire_reply_parse(rep, len, &h), 0);
		assert_int_equal(h.status, RVF_WIRE_OK);
		assert_int_equal(h.count, 1);
		rvf_wire_reply_result(rep, 0, &r);
		found = r.id == 123456789;
		if (!found)
			usleep(10000);
	}
	assert_true(found);
	js = get_stats(&c);
	assert_true(json_integer_value(json_object_get(json_array_get(json_object_get(js, "namespaces"), 0),
						       "refreshes")) >= 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(js, "namespaces"), 0),
							    "live")), NVEC + 1);
	json_decref(js);

	/* while a writer commits batch after batch, every reply is whole: k
	 * results in distance order, ids of vectors that exist in some commit */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rvf_store *w = NULL;
		float v[DIM];

		if (rvf_store_open(copy, NULL, &w))
			_exit(1);
		for (uint64_t b = 0; b < 20; b++) {
			struct rvf_vector vv = { .id = 200000 + b, .values = v, .dim = DIM };
			struct rvf_ingest_result r = { 0 };

			fill_vectors(v, 1, DIM, b);
			if (rvf_store_ingest_batch(w, &vv, 1, &r))
				_exit(2);
			rvf_ingest_result_release(&r);
		}
		_exit(rvf_store_close(w) ? 3 : 0);
	}
	for (uint64_t i = 0; i < 200; i++) {
		struct rvf_wire_reply h;
		float prev = -1;

		len = make_query(pkt, sizeof(pkt), NS1, f->q + (i % NQ) * DIM, DIM, 10, 64, 20000 + i);
		len = ask(&c, pkt, len, 20000 + i, rep, sizeof(rep));
		assert_int_equal(rvf_wire_reply_parse(rep, len, &h), 0);
		assert_int_equal(h.status, RVF_WIRE_OK);
		assert_int_equal(h.count, 10);
		for (uint16_t j = 0; j < h.count; j++) {
			struct rvf_wire_result r;

			rvf_wire_reply_result(rep, j, &r);
			assert_true(r.distance >= prev);
			prev = r.distance;
			assert_true(r.id < NVEC || r.id == 123456789 || (r.id >= 200000 && r.id < 200020));
		}
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* a delete and a compaction (which rewrites segments, so the daemon's
	 * refresh must rebuild rather than replay): the vector disappears */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rvf_store *w = NULL;
		uint64_t id = 123456789;
		struct rvf_delete_result dr;
		struct rvf_compact_result cr;

		if (rvf_store_open(copy, NULL, &w) || rvf_store_delete(w, &id, 1, &dr) || dr.deleted != 1 ||
		    rvf_store_compact(w, &cr))
			_exit(1);
		_exit(rvf_store_close(w) ? 2 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	found = true;
	for (int i = 0; i < 200 && found; i++) {
		struct rvf_wire_reply h;
		struct rvf_wire_result r;

		len = make_query(pkt, sizeof(pkt), NS1, target, DIM, 1, 0, 30000 + (uint64_t)i);
		len = ask(&c, pkt, len, 30000 + (uint64_t)i, rep, sizeof(rep));
		assert_int_equal(rvf_wire_reply_parse(rep, len, &h), 0);
		assert_int_equal(h.status, RVF_WIRE_OK);
		assert_int_equal(h.count, 1);
		rvf_wire_reply_result(rep, 0, &r);
		found = r.id == 123456789;
		if (found)
			usleep(10000);
	}
	assert_false(found);
	/* and the daemon answers as a fresh read-only handle on that state */
	{
		struct rvf_store *now = NULL;

		assert_int_equal(rvf_store_open_readonly(copy, NULL, &now), 0);
		for (uint64_t i = 0; i < 30; i++) {
			len = make_query(pkt, sizeof(pkt), NS1, f->q + i * DIM, DIM, 10, 64, 40000 + i);
			len = ask(&c, pkt, len, 40000 + i, rep, sizeof(rep));
			expect_same_results(now, f->q + i * DIM, DIM, 10, 64, NULL, rep, len);
		}
		rvf_store_close(now);
	}
	close(c.fd);
	assert_int_equal(daemon_stop(&d), 0);
	free(copy);
}

/* SIGTERM and SIGINT: in-flight queries are answered (OK, or SHUTTING_DOWN
 * for those read after the signal), then exit 0. */
static void sigterm_answers_in_flight_and_exits_zero(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	struct client c;
	uint8_t pkt[4096], rep[2048];
	char s1[PATH_MAX + 8];
	int answered = 0, st;

	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", NULL });
	client_open(&c, "127.0.0.1", d.port);
	/* queue queries while it is stopped, then deliver SIGTERM with them */
	stop_and_wait(d.pid);
	for (uint64_t i = 0; i < 20; i++) {
		size_t n = make_query(pkt, sizeof(pkt), NS1, f->q + i * DIM, DIM, 10, 64, 300 + i);

		client_send(&c, pkt, n);
	}
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	assert_int_equal(kill(d.pid, SIGCONT), 0);
	for (;;) {
		struct rvf_wire_reply h;
		ssize_t n = client_recv(&c, rep, sizeof(rep), 3000);

		if (n < 0)
			break;
		assert_int_equal(rvf_wire_reply_parse(rep, (size_t)n, &h), 0);
		assert_true(h.status == RVF_WIRE_OK || h.status == RVF_WIRE_SHUTTING_DOWN);
		answered++;
	}
	assert_int_equal(answered, 20);
	for (int i = 0; i < 2000; i++) {
		if (waitpid(d.pid, &st, WNOHANG) == d.pid)
			break;
		usleep(10000);
	}
	track(&d, false);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	d.pid = 0;
	/* SIGINT too */
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", NULL });
	kill(d.pid, SIGINT);
	assert_int_equal(waitpid(d.pid, &st, 0), d.pid);
	track(&d, false);
	d.pid = 0;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(c.fd);
}

static void expect_fails(struct fx *f, int code, const char *msg, char *const *args)
{
	struct daemon d;
	char err[8192];
	int rc = daemon_start(f->dir, &d, NULL, args);

	if (rc == -1) {
		daemon_stop(&d);
		fail_msg("rvfd started although it should fail with '%s'", msg);
	}
	read_text(d.err, err, sizeof(err));
	if (rc != code || !strstr(err, msg))
		fail_msg("rvfd exited %d (want %d), stderr:\n%s\n(want '%s')", rc, code, err, msg);
}

static void bad_configuration_exits_nonzero_with_a_message(void **state)
{
	struct fx *f = *state;
	char s1[PATH_MAX + 8], missing[PATH_MAX + 8], addr[64];
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int hold;

	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	snprintf(missing, sizeof(missing), "1=%s/nope.rvf", f->dir);
	expect_fails(f, 1, "nope.rvf", (char *const[]){ "--store", missing, "--listen", "127.0.0.1:0", NULL });
	expect_fails(f, 2, "expected NS=FILE", (char *const[]){ "--store", "s.rvf", "--listen", "127.0.0.1:0", NULL });
	expect_fails(f, 2, "'x'", (char *const[]){ "--store", "x=s.rvf", "--listen", "127.0.0.1:0", NULL });
	expect_fails(f, 2, "0..65535", (char *const[]){ "--store", "70000=s.rvf", "--listen", "127.0.0.1:0", NULL });
	expect_fails(f, 2, "given twice", (char *const[]){ "--store", s1, "--store", s1, "--listen",
							   "127.0.0.1:0", NULL });
	expect_fails(f, 2, "no --store", (char *const[]){ "--listen", "127.0.0.1:0", NULL });
	expect_fails(f, 2, "no --listen", (char *const[]){ "--store", s1, NULL });
	expect_fails(f, 2, "expected ADDR:PORT", (char *const[]){ "--store", s1, "--listen", "127.0.0.1", NULL });
	expect_fails(f, 2, "not an IPv4 address", (char *const[]){ "--store", s1, "--listen", "example.org:1", NULL });
	expect_fails(f, 2, "0..65535", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:99999", NULL });
	expect_fails(f, 2, "unknown option", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
							      "--frob", NULL });
	expect_fails(f, 2, "--filter 1", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
							  "--filter", "1={\"eq\":", NULL });
	expect_fails(f, 1, "no local interface", (char *const[]){ "--store", s1, "--listen", "192.0.2.1:7407", NULL });
	/* a port another socket holds */
	hold = socket(AF_INET, SOCK_DGRAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(hold, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(hold, (struct sockaddr *)&a, &al), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(a.sin_port));
	expect_fails(f, 1, "already in use", (char *const[]){ "--store", s1, "--listen", addr, NULL });
	/* even one that set SO_REUSEPORT itself (so a plain reuseport bind would share it) */
	close(hold);
	{
		int one = 1;

		hold = socket(AF_INET, SOCK_DGRAM, 0);
		setsockopt(hold, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		a.sin_port = 0;
		assert_int_equal(bind(hold, (struct sockaddr *)&a, sizeof(a)), 0);
		al = sizeof(a);
		assert_int_equal(getsockname(hold, (struct sockaddr *)&a, &al), 0);
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(a.sin_port));
		expect_fails(f, 1, "already in use", (char *const[]){ "--store", s1, "--listen", addr, NULL });
		close(hold);
	}
	expect_fails(f, 1, "no such interface", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
								 "--iface", "rvtnope0", NULL });
	expect_fails(f, 2, "--xdp needs --iface", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
								   "--xdp", "native", NULL });
	expect_fails(f, 2, "native, generic or off", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
								      "--iface", "lo", "--xdp", "fast", NULL });
	expect_fails(f, 2, "cannot be combined", (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0",
								  "--no-bpf", "--iface", "lo", NULL });
	/* two daemons of one instance: the second finds the pin dir held */
	{
		struct daemon d1;
		char inst[64];

		snprintf(inst, sizeof(inst), "dup%d", (int)getpid());
		must_start(f->dir, &d1, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", "--instance",
							  inst, NULL });
		expect_fails(f, 1, "held by another live rvfd", (char *const[]){ "--store", s1, "--listen",
										 "127.0.0.1:0", "--instance", inst, NULL });
		assert_int_equal(daemon_stop(&d1), 0);
	}
	/* --help works and exits 0 */
	{
		struct daemon d;
		int rc = daemon_start(f->dir, &d, NULL, (char *const[]){ "--help", NULL });

		assert_int_equal(rc, 0);
		assert_non_null(strstr(d.text, "usage: rvfd --store NS=FILE"));
	}
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

/* Run a shell command line (the rvf CLI); its exit status. */
static int run_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(stdout);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* rvf remote-query prints what rvf query prints; a query whose reply does
 * not come is sent again with the same request id; no daemon is a clear
 * error; rvf stats reads the daemon and the pins. */
static void the_client_matches_rvf_query_and_retries(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	char s1[PATH_MAX + 8], rvf[PATH_MAX + 8], *dn, *qf = tu_path(f->dir, "q.fvecs"),
	     *q1 = tu_path(f->dir, "q1.fvecs"), *a = tu_path(f->dir, "a.jsonl"), *b = tu_path(f->dir, "b.jsonl"),
	     *e = tu_path(f->dir, "e.txt"), *o = tu_path(f->dir, "o.txt");
	size_t la, lb;
	char *ta, *tb;
	pid_t pid;
	int st;

	dn = strdup(rvfd_bin);
	snprintf(rvf, sizeof(rvf), "%s/rvf", dirname(dn));
	free(dn);
	assert_int_equal(data_save_fvecs(qf, f->q, 100, DIM), 0);
	assert_int_equal(data_save_fvecs(q1, f->q, 1, DIM), 0);
	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", NULL });

	assert_int_equal(run_sh("%s query %s --queries %s --k 10 --ef 64 > %s 2>/dev/null", rvf, f->store, qf, a), 0);
	assert_int_equal(run_sh("%s remote-query 127.0.0.1:%u --ns %u --queries %s --k 10 --ef 64 > %s 2> %s",
				rvf, d.port, NS1, qf, b, e), 0);
	ta = tu_slurp(a, &la);
	tb = tu_slurp(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ta, tb, la);
	free(ta);
	free(tb);
	ta = tu_slurp(e, &la);
	assert_non_null(strstr(ta, "queries 100"));
	assert_non_null(strstr(ta, "latency p50"));
	free(ta);

	/* the daemon stopped for a while: the client resends, same id */
	stop_and_wait(d.pid);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char port[16], ns[16];

		snprintf(port, sizeof(port), "127.0.0.1:%u", d.port);
		snprintf(ns, sizeof(ns), "%u", NS1);
		if (!freopen(o, "w", stdout) || !freopen(e, "w", stderr))
			_exit(120);
		execl(rvf, rvf, "remote-query", port, "--ns", ns, "--queries", q1, "--k", "5",
		      "--timeout-ms", "100", "--retries", "50", (char *)NULL);
		_exit(121);
	}
	usleep(400 * 1000);
	assert_int_equal(kill(d.pid, SIGCONT), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	ta = tu_slurp(e, &la);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("remote-query failed across a stopped daemon: %s", ta);
	assert_null(strstr(ta, "resent 0"));   /* it did resend */
	assert_non_null(strstr(ta, "resent "));
	free(ta);
	ta = tu_slurp(o, &la);
	assert_non_null(strstr(ta, "{\"query\":0,\"results\":["));
	free(ta);

	/* stats: text, JSON, and from the pins */
	assert_int_equal(run_sh("%s stats 127.0.0.1:%u > %s", rvf, d.port, o), 0);
	ta = tu_slurp(o, &la);
	assert_non_null(strstr(ta, "filter ebpf"));
	assert_non_null(strstr(ta, "kernel socket filter: passed"));
	free(ta);
	assert_int_equal(run_sh("%s stats 127.0.0.1:%u --json > %s", rvf, d.port, o), 0);
	{
		json_error_t je;
		json_t *js = json_load_file(o, 0, &je);

		assert_non_null(js);
		assert_true(json_integer_value(json_object_get(js, "queries")) >= 101);
		json_decref(js);
	}
	assert_int_equal(run_sh("%s stats --pin-dir %s > %s", rvf, d.pin_dir, o), 0);
	ta = tu_slurp(o, &la);
	assert_non_null(strstr(ta, "sock: passed"));
	assert_non_null(strstr(ta, "user: passed"));
	free(ta);
	assert_int_equal(daemon_stop(&d), 0);

	/* nobody listening now: a clear error after the retries */
	assert_int_equal(run_sh("%s remote-query 127.0.0.1:%u --ns 1 --queries %s --timeout-ms 50 --retries 2 "
				"> /dev/null 2> %s", rvf, d.port, q1, e), 1);
	ta = tu_slurp(e, &la);
	assert_non_null(strstr(ta, "no reply from"));
	free(ta);
	assert_int_equal(run_sh("%s stats --pin-dir %s > /dev/null 2> %s", rvf, d.pin_dir, e), 1);
	ta = tu_slurp(e, &la);
	assert_non_null(strstr(ta, "cannot read the pinned counters"));
	free(ta);
	free(qf);
	free(q1);
	free(a);
	free(b);
	free(e);
	free(o);
}


/* In a forked child inside the client namespace: run queries, compare each
 * reply with the expected results computed before the fork. Exit code 0 or
 * the failing query + 1. */
static int veth_client(const char *ns, const char *ip, uint16_t port, const float *q, uint32_t dim,
		       size_t nq, const struct rvf_result *want, const int *nwant)
{
	char path[PATH_MAX];
	int fd;
	struct client c;
	static uint8_t pkt[RVF_WIRE_MAX_DATAGRAM], rep[2048];

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		return 200;
	close(fd);
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
	char *big = tu_path(shared_dir, "s1024.rvf"), s1[PATH_MAX + 8];
	static const int mtus[] = { 1500, 9000 };
	struct rvf_store *ro = NULL;
	const size_t nq = 40;
	float *q = malloc(nq * 1024 * sizeof(float));
	struct rvf_result *want = malloc(nq * 10 * sizeof(*want));
	int nwant[40];

	assert_int_equal(rvf_store_open_readonly(big, NULL, &ro), 0);
	fill_vectors(q, nq, 1024, seed ^ 0x1024);
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
	char path[PATH_MAX];
	int fd, status[B_N] = { [B_NAN] = RVF_WIRE_BAD_REQUEST };
	struct client c;
	uint8_t pkt[4096], rep[2048];

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		return 200;
	close(fd);
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

static int teardown_net(void **state)
{
	destroy_all_pairs();
	return teardown(state);
}

/* ---- main ----------------------------------------------------------------- */


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(io_uring_path_replies_equal_in_process_results, setup, teardown),
		cmocka_unit_test_setup_teardown(syscall_path_replies_equal_in_process_results, setup, teardown),
		cmocka_unit_test_setup_teardown(io_uring_denied_by_seccomp_falls_back_and_serves, setup, teardown),
		cmocka_unit_test_setup_teardown(without_bpf_bad_datagrams_get_their_status_and_are_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(ebpf_socket_filter_drops_bad_datagrams_before_userspace, setup, teardown),
		cmocka_unit_test_setup_teardown(without_capabilities_classic_bpf_filters_and_serves, setup, teardown),
		cmocka_unit_test_setup_teardown(a_foreign_ebpf_segment_needs_trust, setup, teardown),
		cmocka_unit_test_setup_teardown(filter_ids_select_by_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(queries_that_queued_too_long_are_overloaded, setup, teardown),
		cmocka_unit_test_setup_teardown(burst_beyond_the_buffer_ring_is_answered_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(commit_by_another_process_becomes_visible, setup, teardown),
		cmocka_unit_test_setup_teardown(sigterm_answers_in_flight_and_exits_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_configuration_exits_nonzero_with_a_message, setup, teardown),
		cmocka_unit_test_setup_teardown(the_client_matches_rvf_query_and_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(veth_pair_serves_at_mtu_1500_and_9000, setup, teardown_net),
		cmocka_unit_test_setup_teardown(xdp_native_and_generic_drop_bad_datagrams_on_veth, setup, teardown_net),
	};
	char *p;
	int rc;

	find_binary();
	bad_shape = (struct bad_shape){ .ns = NS1, .dim = DIM, .dim2 = DIM2 };
	if (access(rvfd_bin, X_OK)) {
		fprintf(stderr, "rvfd binary not found at %s (build it with make, or set RVFD_BIN)\n", rvfd_bin);
		return 1;
	}
	if (geteuid() != 0)
		tu_skip("the veth tests need root (network namespaces)");
	if (system("ip netns list >/dev/null 2>&1 && command -v nsenter >/dev/null"))
		tu_skip("ip netns / nsenter not available");
	printf("info: rvfd binary %s\n", rvfd_bin);
	/* fixed data unless asked: the stores are the same on every run */
	if (getenv("RVF_SEED") && *getenv("RVF_SEED")) {
		seed = tu_seed();
	} else {
		seed = 42;
		printf("seed: 42 (set RVF_SEED to change)\n");
	}
	tu_log_to_stderr();
	atexit(destroy_all_pairs);
	atexit(kill_leftovers);
	signal(SIGPIPE, SIG_IGN);

	shared_dir = tu_tmpdir();
	p = tu_path(shared_dir, "s1.rvf");
	build_store(p, NVEC, DIM, seed, true);
	free(p);
	p = tu_path(shared_dir, "s2.rvf");
	build_store(p, NVEC2, DIM2, seed ^ 2, false);
	free(p);
	p = tu_path(shared_dir, "s1024.rvf");
	build_store(p, 500, 1024, seed ^ 1024, false);
	free(p);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rmrf(shared_dir);
	free(shared_dir);
	return rc;
}
