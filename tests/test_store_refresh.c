/*
 * test_store_refresh.c - a long-lived read-only handle following another
 * process's commits (rvf_store_refresh, rvf_store_changed), as rvfd uses it.
 *
 * The yardstick everywhere: after a refresh the reader answers exactly as a
 * read-only handle freshly opened on the same snapshot: status counters,
 * live ids, exact search, graph search (both handles build with one thread,
 * so their graphs are identical) and filtered search through every planner
 * path, in the same query order on both (the filter cache's first sighting
 * samples, later ones use a bitmap). A forked writer ingests, upserts,
 * deletes, embeds, compacts and checkpoints in lockstep with the reader,
 * and then free-running while worker threads query under a rwlock.
 * Failure paths: a new segment that fails its checksum (the reader keeps
 * its snapshot), a replay that fails half-way (the handle goes stale until
 * a refresh rebuilds it), the path naming another store.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "rvf/rvf.h"
#include "meta/meta_store.h"
#include "store/store_internal.h"
#include "testutil.h"
#include "refresh_fixture.h"
#include "store/store_peek.h"

static int del_range(struct rvf_store *s, uint64_t from, size_t n, size_t step)
{
	uint64_t ids[512];
	size_t k = 0;

	for (size_t i = 0; i < n && k < 512; i += step)
		ids[k++] = from + i;
	return rvf_store_delete(s, ids, k, NULL);
}

/* ---- nothing new, changed flips ----------------------------------------------- */

static void refresh_with_nothing_new_returns_0_and_changed_flips(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 400), *r = rf_open_ro(f->path);
	struct store_stats st;
	uint64_t e0 = rf_epoch_of(r);

	assert_false(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), 0);
	assert_int_equal(rvf_store_refresh(r), 0);
	assert_int_equal(rf_epoch_of(r), e0);
	assert_int_equal(rf_put(w, 400, 50, 0), 0);
	assert_true(rf_changed(r));
	assert_true(rf_changed(r));               /* asking changes nothing */
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_false(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), 0);
	assert_true(rf_epoch_of(r) > e0);
	assert_int_equal(store_stats(r, &st), 0);
	assert_int_equal(st.refresh_catchups, 1);
	assert_int_equal(st.refresh_rebuilds, 0);
	rf_expect_matches_fresh(f, r, "after one batch");
	/* two commits at once, one of them a delete */
	assert_int_equal(rf_put(w, 450, 50, 0), 0);
	assert_int_equal(del_range(w, 0, 100, 3), 0);
	assert_true(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_false(rf_changed(r));
	rf_expect_matches_fresh(f, r, "after a batch and a delete");
	assert_int_equal(rvf_store_refresh(NULL), -EINVAL);
	assert_int_equal(rvf_store_changed(r, NULL), -EINVAL);
	assert_int_equal(rvf_store_changed(NULL, NULL), -EINVAL);
	rvf_store_close(r);
	assert_int_equal(rvf_store_close(w), 0);
}

/* ---- a forked writer in lockstep -------------------------------------------------- */

enum step_kind { CATCHUP = 'c', REBUILD = 'r', DONE = 'd' };

static void child_send(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(90);
}

static void child_wait(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		_exit(91);
}

static struct rvf_store *child_open(const char *path)
{
	struct rvf_store_opts o = { .threads = 2, .checkpoint_every = 1000000 };
	struct rvf_store *w = NULL;

	if (rvf_store_open(path, &o, &w))
		_exit(92);
	return w;
}

/* The writer's script; after each step it reports what kind of refresh the
 * step calls for and waits until the reader has checked. */
static void writer_script(const char *path, int up, int down)
{
	static const uint8_t kernel[1000] = { 0x7f, 'E', 'L', 'F' };
	struct rvf_kernel_opts ko = { .arch = RVF_ARCH_X86_64, .kernel_type = RVF_KTYPE_MICROLINUX };
	struct rvf_meta_value v5 = rvf_meta_u64(5);
	struct rvf_filter *f5 = rvf_filter_eq(0, &v5);
	struct rvf_store *w = child_open(path);
	int step = 0;

#define STEP(expr, kind) do {                                   \
		step++;                                         \
		if (expr)                                       \
			_exit(100 + step);                      \
		child_send(up, kind);                           \
		child_wait(down);                               \
	} while (0)

	STEP(rf_put(w, 1200, 200, 0), CATCHUP);                     /* new ids */
	STEP(rf_put(w, 100, 150, 1), CATCHUP);                      /* upserts, metadata changes */
	STEP(del_range(w, 300, 300, 4), CATCHUP);                /* tombstones */
	STEP(rvf_store_delete_by_filter(w, f5, NULL), CATCHUP);
	STEP(rf_put(w, 300, 40, 2) || rf_put(w, 1400, 100, 0), CATCHUP);   /* re-ingest deleted ids */
	STEP(rvf_store_embed_kernel(w, &ko, kernel, sizeof(kernel), NULL, NULL), CATCHUP);
	STEP(rvf_store_compact(w, NULL), REBUILD);               /* segments rewritten */
	STEP(rf_put(w, 1500, 100, 0), CATCHUP);
	STEP(rvf_store_close(w), REBUILD);                       /* a new checkpoint */
	w = child_open(path);
	STEP(rf_put(w, 1600, 100, 0) || del_range(w, 1200, 100, 5), CATCHUP);
#undef STEP
	rvf_filter_free(f5);
	if (rvf_store_close(w))                                  /* checkpoints again */
		_exit(99);
	child_send(up, DONE);
	_exit(0);
}

static void reader_follows_a_forked_writer_step_by_step(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 1200), *r;
	struct rvf_query_ctx *c = NULL;
	struct store_stats st;
	int up[2], down[2], wst;
	uint64_t catchups = 0, rebuilds = 0;
	char kind, what[64];
	pid_t pid;

	assert_int_equal(rvf_store_close(w), 0);
	r = rf_open_ro(f->path);
	assert_int_equal(rvf_query_ctx_new(r, &c), 0);
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		writer_script(f->path, up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	for (int step = 1;; step++) {
		assert_int_equal(read(up[0], &kind, 1), 1);
		if (kind == DONE)
			break;
		snprintf(what, sizeof(what), "step %d", step);
		assert_true(rf_changed(r));
		int got = rvf_store_refresh(r);
		if (got != 1)
			fail_msg("%s: refresh returned %d (%s)", what, got, rvf_last_error());
		assert_false(rf_changed(r));
		assert_int_equal(rvf_store_refresh(r), 0);
		assert_int_equal(store_stats(r, &st), 0);
		catchups += kind == CATCHUP;
		rebuilds += kind == REBUILD;
		if (st.refresh_catchups != catchups || st.refresh_rebuilds != rebuilds)
			fail_msg("%s: %llu catch-ups and %llu rebuilds, expected %llu and %llu", what,
				 (unsigned long long)st.refresh_catchups, (unsigned long long)st.refresh_rebuilds,
				 (unsigned long long)catchups, (unsigned long long)rebuilds);
		rf_expect_matches_fresh(f, r, what);
		rf_expect_ctx_matches_query(f, r, c);
		if (step == 6) {         /* the embedded kernel is readable through the new dir */
			struct rvf_kernel_hdr kh;
			void *img = NULL;
			size_t ilen = 0;
			assert_int_equal(rvf_store_extract_kernel(r, &kh, &img, &ilen, NULL, NULL), 0);
			assert_int_equal(ilen, 1000);
			free(img);
		}
		assert_int_equal(write(down[1], "g", 1), 1);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
	/* the writer's close wrote a checkpoint */
	assert_true(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_int_equal(store_stats(r, &st), 0);
	assert_int_equal(st.refresh_rebuilds, rebuilds + 1);
	rf_expect_matches_fresh(f, r, "after the writer closed");
	rf_expect_ctx_matches_query(f, r, c);
	assert_int_equal(rvf_store_verify(r), 0);
	close(up[0]);
	close(down[1]);
	rvf_query_ctx_free(c);
	rvf_store_close(r);
}

/* ---- compaction and checkpoints, in process --------------------------------------- */

static void refresh_across_compaction_and_checkpoint_rebuilds(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 800), *r;
	struct store_stats st;

	assert_int_equal(del_range(w, 0, 800, 2), 0);
	r = rf_open_ro(f->path);
	assert_int_equal(rf_put(w, 800, 100, 0), 0);
	assert_int_equal(rvf_store_compact(w, NULL), 0);
	assert_true(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_int_equal(store_stats(r, &st), 0);
	assert_int_equal(st.refresh_catchups, 0);
	assert_int_equal(st.refresh_rebuilds, 1);
	assert_true(st.ckpt_loaded);
	rf_expect_matches_fresh(f, r, "after compaction");
	/* a new checkpoint alone (the writer's close): rebuilt from it */
	assert_int_equal(rf_put(w, 900, 100, 0), 0);
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_int_equal(rvf_store_close(w), 0);
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_int_equal(store_stats(r, &st), 0);
	assert_int_equal(st.refresh_catchups, 1);
	assert_int_equal(st.refresh_rebuilds, 2);
	assert_int_equal(st.ckpt_nodes_loaded, rvf_hnsw_count(rvf_store_index(r)));
	rf_expect_matches_fresh(f, r, "after a checkpoint");
	rvf_store_close(r);
}

/* ---- writable handles, Rust files --------------------------------------------------- */

static void refresh_on_a_writable_handle_is_a_noop(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 300);
	uint64_t e0 = rf_epoch_of(w);
	char *fix = tu_fixture_dir(), *rust;
	struct rvf_store *r = NULL;

	assert_int_equal(rvf_store_refresh(w), 0);
	assert_false(rf_changed(w));
	assert_int_equal(rf_epoch_of(w), e0);
	assert_int_equal(rf_put(w, 300, 10, 0), 0);
	assert_false(rf_changed(w));
	assert_int_equal(rvf_store_refresh(w), 0);
	assert_int_equal(rvf_store_close(w), 0);

	/* a Rust-written file is an in-memory import: it cannot follow */
	assert_non_null(fix);
	rust = tu_path(fix, "basic_store.rvf");
	assert_int_equal(rvf_store_open_readonly(rust, NULL, &r), 0);
	assert_false(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), -ENOTSUP);
	rvf_store_close(r);
	free(rust);
	free(fix);
}

/* ---- the daemon's pattern: workers under a rwlock, a poller, a free writer --------- */

struct serve {
	struct rvf_store *r;
	struct rvf_filter *wf;        /* the workers' filter (not one answers_of uses,
	                               * so their cached bitmaps do not change its plans) */
	pthread_rwlock_t lock;
	int stop;                     /* atomic */
	uint64_t queries;             /* atomic */
	int err;                      /* first error seen, atomic */
};

static void serve_fail(struct serve *s, int err)
{
	int zero = 0;

	__atomic_compare_exchange_n(&s->err, &zero, err, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* A worker: its own context, queries under the read lock; no cmocka
 * asserts off the main thread (errors are collected). */
static void *serve_worker(void *arg)
{
	struct serve *s = arg;
	struct rvf_query_ctx *c = NULL;
	struct rvf_result res[K];
	float q[DIM], v[DIM];
	uint64_t i = 0;

	pthread_rwlock_rdlock(&s->lock);
	int err = rvf_query_ctx_new(s->r, &c);
	pthread_rwlock_unlock(&s->lock);
	if (err) {
		serve_fail(s, err);
		return NULL;
	}
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct rvf_query_opts o = { .ef_search = EF, .filter = i % 3 ? NULL : s->wf,
					    .flags = i % 5 == 0 ? RVF_QUERY_EXACT : 0 };
		rf_query_vec(i % NQ, q);
		pthread_rwlock_rdlock(&s->lock);
		int n = rvf_store_query_ctx(s->r, c, q, DIM, K, &o, res);
		/* every result is live in the snapshot that answered, in order */
		for (int j = 0; j < n; j++)
			if (rvf_store_get_vector(s->r, res[j].id, v, DIM))
				n = -EUCLEAN;
		for (int j = 1; j < n; j++)
			if (res[j - 1].distance > res[j].distance)
				n = -EUCLEAN;
		pthread_rwlock_unlock(&s->lock);
		if (n < 0 || (!o.filter && n != K))
			serve_fail(s, n < 0 ? n : -EPROTO);
		i++;
		__atomic_fetch_add(&s->queries, 1, __ATOMIC_RELAXED);
	}
	rvf_query_ctx_free(c);
	return NULL;
}

/*
 * rvfd's pattern: worker threads query with contexts under a read lock; a
 * poller (here the main thread) asks rvf_store_changed without any lock,
 * beside the queries, and refreshes under the write lock; a forked writer
 * ingests, deletes and compacts without waiting for anyone. Whenever the
 * writer has not moved on, the reader is compared with a fresh handle:
 * status, live ids and exact answers equal; HNSW answers valid and of high
 * recall on both, not equal, since the refreshed graph grew commit by
 * commit while the fresh one may start from a newer writer checkpoint
 * (make test-seeds, seed 6: one query's third neighbour differed).
 */
static void workers_query_while_a_poller_refreshes_under_a_rwlock(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 800);
	struct rvf_meta_value v4 = rvf_meta_u64(4);
	struct serve s = { .wf = rvf_filter_eq(0, &v4) };
	uint64_t refreshes = 0, compared = 0;
	bool exited = false;
	pthread_t wt[3];
	int wst;
	pid_t pid;

	assert_int_equal(rvf_store_close(w), 0);
	s.r = rf_open_ro(f->path);
	/* writer-preferring, as a server must: glibc's default lets a steady
	 * stream of readers starve the refresh */
	pthread_rwlockattr_t la;
	pthread_rwlockattr_init(&la);
	pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s.lock, &la);
	pthread_rwlockattr_destroy(&la);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rvf_store *c = child_open(f->path);
		for (int i = 0; i < 12; i++) {
			if (rf_put(c, 800 + (uint64_t)i * 100, 100, 0))
				_exit(2);
			if (i % 4 == 3 && del_range(c, (uint64_t)i * 50, 50, 2))
				_exit(3);
			if (i == 6 && rvf_store_compact(c, NULL))
				_exit(4);
		}
		_exit(rvf_store_close(c) ? 5 : 0);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&wt[i], NULL, serve_worker, &s), 0);
	for (;;) {
		bool ch = false;

		if (!exited && waitpid(pid, &wst, WNOHANG) == pid)
			exited = true;
		assert_int_equal(rvf_store_changed(s.r, &ch), 0);
		if (!ch) {
			if (exited)
				break;          /* the writer is gone and nothing is newer */
			sched_yield();
			continue;
		}
		pthread_rwlock_wrlock(&s.lock);
		int got = rvf_store_refresh(s.r);
		pthread_rwlock_unlock(&s.lock);
		if (got < 0)
			fail_msg("refresh while serving: %s (%s)", rvf_strerror(got), rvf_last_error());
		refreshes += got == 1;
		struct rvf_store *fresh = rf_open_ro(f->path);
		if (rf_epoch_of(fresh) == rf_epoch_of(s.r)) {
			struct answers *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
			pthread_rwlock_rdlock(&s.lock);
			rf_answers_of(f, s.r, a);
			pthread_rwlock_unlock(&s.lock);
			rf_answers_of(f, fresh, b);
			rf_equivalent_answers(a, b, "while serving");
			rf_answers_release(a);
			rf_answers_release(b);
			free(a);
			free(b);
			compared++;
		}
		rvf_store_close(fresh);
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		pthread_join(wt[i], NULL);
	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
	if (s.err)
		fail_msg("serving failed: %s (%s)", rvf_strerror(s.err), rvf_last_error());
	printf("info: %llu queries, %llu refreshes, %llu compared mid-run\n",
	       (unsigned long long)s.queries, (unsigned long long)refreshes,
	       (unsigned long long)compared);
	assert_true(refreshes >= 1);
	assert_true(s.queries > 0);
	rf_expect_matches_fresh(f, s.r, "after the writer finished");
	pthread_rwlock_destroy(&s.lock);
	rvf_filter_free(s.wf);
	rvf_store_close(s.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(refresh_with_nothing_new_returns_0_and_changed_flips, rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(reader_follows_a_forked_writer_step_by_step, rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(refresh_across_compaction_and_checkpoint_rebuilds, rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(refresh_on_a_writable_handle_is_a_noop, rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(workers_query_while_a_poller_refreshes_under_a_rwlock, rf_setup, rf_teardown),
	};

	tu_log_to_stderr();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
