/*
 * test_rvfd.c - the query daemon end to end: the real build/bin/rvfd started
 * as a separate process on stores this test builds (fixed seeds), spoken to
 * over UDP with the wire codec, its answers compared with in-process
 * rvf_store_query on the same file.
 *
 * Covered: replies equal in-process results (ids and distances, many k/ef)
 * on the io_uring and the syscall path and with io_uring denied by seccomp;
 * metadata filters by id; OVERLOADED for queries that queued too long; a
 * burst beyond the buffer ring; a commit by another process becomes
 * visible while serving; SIGTERM exits 0; bad configuration exits non-zero
 * with a message; the rvf CLI and the load generator (rvf-load) against
 * the daemon. The kernel filters and the veth tests are in
 * test_rvfd_filter.c, AF_XDP in test_afxdp.c; the harness and the fixture
 * in tests/helpers/rvfd_{harness,fixture}.c.
 *
 * The binary: $RVFD_BIN, else ../bin/rvfd next to this test binary. Network
 * traffic: loopback.
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

/*
 * SO_TIMESTAMPNS stamps a datagram on arrival only once the kernel's
 * timestamping static key is on, and net_enable_timestamp() flips it from a
 * workqueue; until then the stamp is taken when the datagram is read, so a
 * datagram that queued for a while looks fresh (make test-seeds, seed 5: one
 * of five queued queries was searched). Open a stamping socket of our own,
 * and wait (bounded) until a datagram that sat 30 ms unread carries its
 * arrival time. Returns the socket, to hold while the test relies on it.
 */
static int hold_arrival_timestamps(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	for (int tries = 0; tries < 100; tries++) {
		union { char buf[CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } ctl;
		struct timespec sent, pause = { 0, 30 * 1000 * 1000 }, got = { 0, 0 };
		char b = 0;
		struct iovec iov = { &b, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf) };

		clock_gettime(CLOCK_REALTIME, &sent);
		assert_int_equal(sendto(fd, &b, 1, 0, (struct sockaddr *)&a, sizeof(a)), 1);
		nanosleep(&pause, NULL);
		assert_int_equal(recvmsg(fd, &m, 0), 1);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS)
				memcpy(&got, CMSG_DATA(c), sizeof(got));
		/* stamped on arrival: well before the 30 ms we left it unread */
		if ((got.tv_sec - sent.tv_sec) * 1000000000ll + (got.tv_nsec - sent.tv_nsec) < 15000000ll)
			return fd;
	}
	fail_msg("SO_TIMESTAMPNS never stamped a datagram on arrival within 3 s");
	return -1;
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
	int over = 0, stamps = hold_arrival_timestamps();

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
	close(stamps);
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

	assert_int_equal(sh("%s query %s --queries %s --k 10 --ef 64 > %s 2>/dev/null", rvf, f->store, qf, a), 0);
	assert_int_equal(sh("%s remote-query 127.0.0.1:%u --ns %u --queries %s --k 10 --ef 64 > %s 2> %s",
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
	assert_int_equal(sh("%s stats 127.0.0.1:%u > %s", rvf, d.port, o), 0);
	ta = tu_slurp(o, &la);
	assert_non_null(strstr(ta, "filter ebpf"));
	assert_non_null(strstr(ta, "kernel socket filter: passed"));
	free(ta);
	assert_int_equal(sh("%s stats 127.0.0.1:%u --json > %s", rvf, d.port, o), 0);
	{
		json_error_t je;
		json_t *js = json_load_file(o, 0, &je);

		assert_non_null(js);
		assert_true(json_integer_value(json_object_get(js, "queries")) >= 101);
		json_decref(js);
	}
	assert_int_equal(sh("%s stats --pin-dir %s > %s", rvf, d.pin_dir, o), 0);
	ta = tu_slurp(o, &la);
	assert_non_null(strstr(ta, "sock: passed"));
	assert_non_null(strstr(ta, "user: passed"));
	free(ta);
	assert_int_equal(daemon_stop(&d), 0);

	/* nobody listening now: a clear error after the retries */
	assert_int_equal(sh("%s remote-query 127.0.0.1:%u --ns 1 --queries %s --timeout-ms 50 --retries 2 "
				"> /dev/null 2> %s", rvf, d.port, q1, e), 1);
	ta = tu_slurp(e, &la);
	assert_non_null(strstr(ta, "no reply from"));
	free(ta);
	assert_int_equal(sh("%s stats --pin-dir %s > /dev/null 2> %s", rvf, d.pin_dir, e), 1);
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

/* The load generator (tools/rvf-load) against the daemon: every query it
 * sends is accounted for, its bad datagrams come in the asked share of each
 * kind, and a closed loop sends again as soon as its window has room. A
 * loop that waited for a timeout after each reply (it once did, capping one
 * query in flight at 100 QPS) shows as a stall per query. */
static void the_load_client_accounts_for_every_query_and_never_idles(void **state)
{
	struct fx *f = *state;
	struct daemon d;
	char s1[PATH_MAX + 8], load[PATH_MAX + 16], *dn, *qf = tu_path(f->dir, "lq.fvecs"),
	     *o = tu_path(f->dir, "load.json");
	static const char *const kinds[] = { "magic", "dim", "ns", "truncated" };
	json_error_t je;
	json_t *js, *bad;
	long long ok, sent, bad_total = 0, stalls;

	dn = strdup(rvfd_bin);
	snprintf(load, sizeof(load), "%s/rvf-load", dirname(dn));
	free(dn);
	assert_int_equal(data_save_fvecs(qf, f->q, 100, DIM), 0);
	snprintf(s1, sizeof(s1), "%u=%s", NS1, f->store);
	must_start(f->dir, &d, NULL, (char *const[]){ "--store", s1, "--listen", "127.0.0.1:0", NULL });
	assert_int_equal(sh("%s 127.0.0.1:%u --ns %u --queries %s --seconds 1 --inflight 1 "
			    "--bad-fraction 0.5 --k 5 --json > %s", load, d.port, NS1, qf, o), 0);
	assert_int_equal(daemon_stop(&d), 0);
	js = json_load_file(o, 0, &je);
	assert_non_null(js);
	ok = json_integer_value(json_object_get(js, "ok"));
	sent = json_integer_value(json_object_get(js, "good_sent"));
	stalls = json_integer_value(json_object_get(js, "stalls"));
	bad = json_object_get(js, "bad_sent");
	print_message("        info: rvf-load: %lld sent, %lld ok, %lld stalls in 1 s, one in flight\n",
		      sent, ok, stalls);
	assert_true(ok > 0);
	assert_int_equal(ok, sent);
	assert_int_equal(json_integer_value(json_object_get(js, "lost")), 0);
	for (size_t i = 0; i < 4; i++) {
		long long n = json_integer_value(json_object_get(bad, kinds[i]));

		/* one bad datagram per query (0.5), the kinds in turn */
		assert_true(n >= sent / 4 - 1 && n <= sent / 4 + 1);
		bad_total += n;
	}
	assert_int_equal(bad_total, sent);
	assert_int_equal(json_integer_value(json_object_get(js, "bad_total")), bad_total);
	/* a reply ends every wait; a stall needs the daemon to sit on a query
	 * for 10 ms, which a loaded machine does now and then, not per query */
	assert_true(stalls * 10 <= ok);
	json_decref(js);
	free(qf);
	free(o);
}

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(io_uring_path_replies_equal_in_process_results, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(syscall_path_replies_equal_in_process_results, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(io_uring_denied_by_seccomp_falls_back_and_serves, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(filter_ids_select_by_metadata, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(queries_that_queued_too_long_are_overloaded, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(burst_beyond_the_buffer_ring_is_answered_whole, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(commit_by_another_process_becomes_visible, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(sigterm_answers_in_flight_and_exits_zero, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(bad_configuration_exits_nonzero_with_a_message, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(the_client_matches_rvf_query_and_retries, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(the_load_client_accounts_for_every_query_and_never_idles, fx_setup,
						fx_teardown),
	};

	return fx_run(tests, sizeof(tests) / sizeof(tests[0]));
}
