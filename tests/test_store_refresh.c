/*
 * test_store_refresh.c - a long-lived read-only handle following another
 * process's commits (rvf_store_refresh, rvf_store_changed) and caller-owned
 * query contexts (rvf_query_ctx), as rvfd uses them.
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

#define DIM 16
#define K   10
#define NQ  16
#define EF  32
#define NFILT 4

struct fx {
	char *dir;
	char *path;
	struct rvf_filter *filt[NFILT];
};

static const char *animals[] = { "cat", "dog", "bird", "" };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct rvf_meta_value v3 = rvf_meta_u64(3), v7 = rvf_meta_u64(7);
	struct rvf_meta_value cat = rvf_meta_strn("cat", 3), dog = rvf_meta_strn("dog", 3);

	f->dir = tu_tmpdir();
	f->path = tu_path(f->dir, "s.rvf");
	/* ~13%: graph with the filter; ~3%: graph, the index may scan; ~1%:
	 * the planner's exact scan; matches vectors without metadata too */
	f->filt[0] = rvf_filter_eq(0, &v3);
	f->filt[1] = rvf_filter_and(rvf_filter_eq(0, &v3), rvf_filter_eq(1, &cat));
	f->filt[2] = rvf_filter_eq(2, &v7);
	f->filt[3] = rvf_filter_not(rvf_filter_eq(1, &dog));
	for (int i = 0; i < NFILT; i++)
		assert_non_null(f->filt[i]);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < NFILT; i++)
		rvf_filter_free(f->filt[i]);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* ---- data: vectors and metadata are functions of (id, version) ---------------- */

static void vec_of(uint64_t id, uint32_t ver, float *out)
{
	struct tu_rng r;

	tu_rng_init(&r, id * 1000003u + ver * 7919u + 1);
	for (uint32_t j = 0; j < DIM; j++)
		out[j] = (float)((double)((id + j) % 8) * 2.0 + tu_rng_unit(&r) - 0.5);
}

struct batch {
	size_t n;
	struct rvf_vector *v;
	float *vals;
	struct rvf_meta_entry (*me)[3];
};

/* ids from..from+n-1 at version ver; id % 10 == 9 has no metadata. */
static void batch_make(struct batch *b, uint64_t from, size_t n, uint32_t ver)
{
	b->n = n;
	b->v = calloc(n, sizeof(*b->v));
	b->vals = calloc(n * DIM, sizeof(float));
	b->me = calloc(n, sizeof(*b->me));
	for (size_t i = 0; i < n; i++) {
		uint64_t id = from + i, m = id + ver;
		const char *a = animals[m % 4];

		vec_of(id, ver, b->vals + i * DIM);
		b->v[i] = (struct rvf_vector){ .id = id, .values = b->vals + i * DIM, .dim = DIM };
		if (id % 10 == 9)
			continue;
		b->me[i][0] = (struct rvf_meta_entry){ 0, rvf_meta_u64(m % 7) };
		b->me[i][1] = (struct rvf_meta_entry){ 1, rvf_meta_strn(a, strlen(a)) };
		b->me[i][2] = (struct rvf_meta_entry){ 2, rvf_meta_u64(m % 100) };
		b->v[i].meta = b->me[i];
		b->v[i].n_meta = 3;
	}
}

static void batch_free(struct batch *b)
{
	free(b->v);
	free(b->vals);
	free(b->me);
}

/* 0 or the ingest error (usable in a forked child). */
static int put(struct rvf_store *s, uint64_t from, size_t n, uint32_t ver)
{
	struct batch b;
	struct rvf_ingest_result r;
	int err;

	batch_make(&b, from, n, ver);
	err = rvf_store_ingest_batch(s, b.v, n, &r);
	if (!err && r.rejected)
		err = -EINVAL;
	if (!err)
		rvf_ingest_result_release(&r);
	batch_free(&b);
	return err;
}

static int del_range(struct rvf_store *s, uint64_t from, size_t n, size_t step)
{
	uint64_t ids[512];
	size_t k = 0;

	for (size_t i = 0; i < n && k < 512; i += step)
		ids[k++] = from + i;
	return rvf_store_delete(s, ids, k, NULL);
}

static struct rvf_store *make_store(const char *path, size_t n)
{
	struct rvf_store_opts o = { .dimension = DIM, .threads = 2, .checkpoint_every = 1000000 };
	struct rvf_store *s = NULL;

	assert_int_equal(rvf_store_create(path, &o, &s), 0);
	assert_int_equal(put(s, 0, n, 0), 0);
	return s;
}

static struct rvf_store *open_ro(const char *path)
{
	struct rvf_store_opts o = { .threads = 1 };
	struct rvf_store *s = NULL;
	int err = rvf_store_open_readonly(path, &o, &s);

	if (err)
		fail_msg("open_readonly %s: %s (%s)", path, rvf_strerror(err), rvf_last_error());
	return s;
}

static uint64_t epoch_of(const struct rvf_store *s)
{
	struct rvf_store_status st;

	assert_int_equal(rvf_store_status(s, &st), 0);
	return st.epoch;
}

static bool changed(const struct rvf_store *s)
{
	bool c = false;

	assert_int_equal(rvf_store_changed(s, &c), 0);
	return c;
}

/* ---- answers: everything a reader serves, in a fixed order ------------------- */

#define NANS (NQ * (2 + NFILT * 3 * 2))

struct answers {
	struct rvf_store_status st;
	uint64_t *ids;
	size_t nids;
	int n[NANS];
	struct rvf_result r[NANS][K];
};

static void query_vec(size_t q, float *out)
{
	vec_of(1000000 + q, 0, out);
}

/* Each filter three times over all queries (first sighting, bitmap build,
 * bitmap), graph and exact: every planner path, in the same order. */
static void answers_of(struct fx *f, const struct rvf_store *s, struct answers *a)
{
	size_t k = 0;
	float q[DIM];

	memset(a, 0, sizeof(*a));
	assert_int_equal(rvf_store_status(s, &a->st), 0);
	assert_int_equal(rvf_store_live_ids(s, &a->ids, &a->nids), 0);
	for (size_t i = 0; i < NQ; i++) {
		struct rvf_query_opts o = { .ef_search = EF };

		query_vec(i, q);
		a->n[k] = rvf_store_query(s, q, DIM, K, &o, a->r[k]);
		k++;
		o.flags = RVF_QUERY_EXACT;
		a->n[k] = rvf_store_query(s, q, DIM, K, &o, a->r[k]);
		k++;
	}
	for (int fi = 0; fi < NFILT; fi++)
		for (int pass = 0; pass < 3; pass++)
			for (size_t i = 0; i < NQ; i++)
				for (int ex = 0; ex < 2; ex++) {
					struct rvf_query_opts o = { .ef_search = EF, .filter = f->filt[fi],
								    .flags = ex ? RVF_QUERY_EXACT : 0 };
					query_vec(i, q);
					a->n[k] = rvf_store_query(s, q, DIM, K, &o, a->r[k]);
					k++;
				}
	assert_int_equal(k, NANS);
	for (size_t i = 0; i < NANS; i++)
		assert_true(a->n[i] >= 0);
}

static void answers_release(struct answers *a)
{
	free(a->ids);
	a->ids = NULL;
}

static void same_results(const struct rvf_result *x, int nx, const struct rvf_result *y, int ny,
			 const char *what, size_t idx)
{
	if (nx != ny)
		fail_msg("%s %zu: %d results vs %d", what, idx, nx, ny);
	for (int i = 0; i < nx; i++)
		if (x[i].id != y[i].id || memcmp(&x[i].distance, &y[i].distance, sizeof(float)))
			fail_msg("%s %zu: result %d: id %llu d %.9g vs id %llu d %.9g", what, idx, i,
				 (unsigned long long)x[i].id, x[i].distance, (unsigned long long)y[i].id,
				 y[i].distance);
}

static void same_answers(const struct answers *a, const struct answers *b, const char *what)
{
	if (a->st.epoch != b->st.epoch || a->st.live_vectors != b->st.live_vectors ||
	    a->st.deleted_vectors != b->st.deleted_vectors || a->st.segments != b->st.segments ||
	    a->st.live_bytes != b->st.live_bytes)
		fail_msg("%s: status differs: epoch %llu/%llu live %llu/%llu deleted %llu/%llu segments %llu/%llu live_bytes %llu/%llu",
			 what, (unsigned long long)a->st.epoch, (unsigned long long)b->st.epoch,
			 (unsigned long long)a->st.live_vectors, (unsigned long long)b->st.live_vectors,
			 (unsigned long long)a->st.deleted_vectors, (unsigned long long)b->st.deleted_vectors,
			 (unsigned long long)a->st.segments, (unsigned long long)b->st.segments,
			 (unsigned long long)a->st.live_bytes, (unsigned long long)b->st.live_bytes);
	assert_int_equal(a->nids, b->nids);
	if (a->nids)
		assert_memory_equal(a->ids, b->ids, a->nids * sizeof(*a->ids));
	for (size_t i = 0; i < NANS; i++)
		same_results(a->r[i], a->n[i], b->r[i], b->n[i], what, i);
}

/* The reader answers as a fresh read-only handle on the same snapshot. */
static void expect_matches_fresh(struct fx *f, const struct rvf_store *r, const char *what)
{
	struct rvf_store *fresh = open_ro(f->path);
	struct answers *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	assert_int_equal(epoch_of(fresh), epoch_of(r));
	answers_of(f, r, a);
	answers_of(f, fresh, b);
	same_answers(a, b, what);
	answers_release(a);
	answers_release(b);
	free(a);
	free(b);
	rvf_store_close(fresh);
}

/* A query context answers every query as rvf_store_query on the same handle
 * (filters warmed up first, so both see cached bitmaps). */
static void expect_ctx_matches_query(struct fx *f, const struct rvf_store *s, struct rvf_query_ctx *c)
{
	struct rvf_result x[200], y[200];
	float q[DIM];
	static const uint32_t ks[] = { 1, K, 200 };

	query_vec(0, q);
	for (int fi = 0; fi < NFILT; fi++)
		for (int w = 0; w < 2; w++) {
			struct rvf_query_opts o = { .filter = f->filt[fi] };
			assert_true(rvf_store_query(s, q, DIM, K, &o, x) >= 0);
		}
	for (size_t i = 0; i < NQ; i++) {
		query_vec(i, q);
		for (int fi = -1; fi < NFILT; fi++)
			for (unsigned fl = 0; fl < 4; fl++)
				for (size_t ki = 0; ki < 3; ki++) {
					struct rvf_query_opts o = { .filter = fi < 0 ? NULL : f->filt[fi],
								    .flags = fl, .ef_search = ki == 1 ? EF : 0 };
					int nx = rvf_store_query(s, q, DIM, ks[ki], &o, x);
					int ny = rvf_store_query_ctx(s, c, q, DIM, ks[ki], &o, y);
					assert_true(nx >= 0);
					same_results(x, nx, y, ny, "ctx vs query", i);
				}
	}
}

/* ---- nothing new, changed flips ----------------------------------------------- */

static void refresh_with_nothing_new_returns_0_and_changed_flips(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = make_store(f->path, 400), *r = open_ro(f->path);
	struct store_stats st;
	uint64_t e0 = epoch_of(r);

	assert_false(changed(r));
	assert_int_equal(rvf_store_refresh(r), 0);
	assert_int_equal(rvf_store_refresh(r), 0);
	assert_int_equal(epoch_of(r), e0);
	assert_int_equal(put(w, 400, 50, 0), 0);
	assert_true(changed(r));
	assert_true(changed(r));               /* asking changes nothing */
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_false(changed(r));
	assert_int_equal(rvf_store_refresh(r), 0);
	assert_true(epoch_of(r) > e0);
	assert_int_equal(store_stats(r, &st), 0);
	assert_int_equal(st.refresh_catchups, 1);
	assert_int_equal(st.refresh_rebuilds, 0);
	expect_matches_fresh(f, r, "after one batch");
	/* two commits at once, one of them a delete */
	assert_int_equal(put(w, 450, 50, 0), 0);
	assert_int_equal(del_range(w, 0, 100, 3), 0);
	assert_true(changed(r));
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_false(changed(r));
	expect_matches_fresh(f, r, "after a batch and a delete");
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

	STEP(put(w, 1200, 200, 0), CATCHUP);                     /* new ids */
	STEP(put(w, 100, 150, 1), CATCHUP);                      /* upserts, metadata changes */
	STEP(del_range(w, 300, 300, 4), CATCHUP);                /* tombstones */
	STEP(rvf_store_delete_by_filter(w, f5, NULL), CATCHUP);
	STEP(put(w, 300, 40, 2) || put(w, 1400, 100, 0), CATCHUP);   /* re-ingest deleted ids */
	STEP(rvf_store_embed_kernel(w, &ko, kernel, sizeof(kernel), NULL, NULL), CATCHUP);
	STEP(rvf_store_compact(w, NULL), REBUILD);               /* segments rewritten */
	STEP(put(w, 1500, 100, 0), CATCHUP);
	STEP(rvf_store_close(w), REBUILD);                       /* a new checkpoint */
	w = child_open(path);
	STEP(put(w, 1600, 100, 0) || del_range(w, 1200, 100, 5), CATCHUP);
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
	struct rvf_store *w = make_store(f->path, 1200), *r;
	struct rvf_query_ctx *c = NULL;
	struct store_stats st;
	int up[2], down[2], wst;
	uint64_t catchups = 0, rebuilds = 0;
	char kind, what[64];
	pid_t pid;

	assert_int_equal(rvf_store_close(w), 0);
	r = open_ro(f->path);
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
		assert_true(changed(r));
		int got = rvf_store_refresh(r);
		if (got != 1)
			fail_msg("%s: refresh returned %d (%s)", what, got, rvf_last_error());
		assert_false(changed(r));
		assert_int_equal(rvf_store_refresh(r), 0);
		assert_int_equal(store_stats(r, &st), 0);
		catchups += kind == CATCHUP;
		rebuilds += kind == REBUILD;
		if (st.refresh_catchups != catchups || st.refresh_rebuilds != rebuilds)
			fail_msg("%s: %llu catch-ups and %llu rebuilds, expected %llu and %llu", what,
				 (unsigned long long)st.refresh_catchups, (unsigned long long)st.refresh_rebuilds,
				 (unsigned long long)catchups, (unsigned long long)rebuilds);
		expect_matches_fresh(f, r, what);
		expect_ctx_matches_query(f, r, c);
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
	assert_true(changed(r));
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_int_equal(store_stats(r, &st), 0);
	assert_int_equal(st.refresh_rebuilds, rebuilds + 1);
	expect_matches_fresh(f, r, "after the writer closed");
	expect_ctx_matches_query(f, r, c);
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
	struct rvf_store *w = make_store(f->path, 800), *r;
	struct store_stats st;

	assert_int_equal(del_range(w, 0, 800, 2), 0);
	r = open_ro(f->path);
	assert_int_equal(put(w, 800, 100, 0), 0);
	assert_int_equal(rvf_store_compact(w, NULL), 0);
	assert_true(changed(r));
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_int_equal(store_stats(r, &st), 0);
	assert_int_equal(st.refresh_catchups, 0);
	assert_int_equal(st.refresh_rebuilds, 1);
	assert_true(st.ckpt_loaded);
	expect_matches_fresh(f, r, "after compaction");
	/* a new checkpoint alone (the writer's close): rebuilt from it */
	assert_int_equal(put(w, 900, 100, 0), 0);
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_int_equal(rvf_store_close(w), 0);
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_int_equal(store_stats(r, &st), 0);
	assert_int_equal(st.refresh_catchups, 1);
	assert_int_equal(st.refresh_rebuilds, 2);
	assert_int_equal(st.ckpt_nodes_loaded, rvf_hnsw_count(rvf_store_index(r)));
	expect_matches_fresh(f, r, "after a checkpoint");
	rvf_store_close(r);
}

/* ---- query contexts ------------------------------------------------------------------ */

static void query_ctx_matches_query_and_grows_with_the_store(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = make_store(f->path, 500), *r = open_ro(f->path);
	struct rvf_query_ctx *c = NULL, *cw = NULL;
	struct rvf_result x[K], y[K];
	struct rvf_query_opts o = { .filter = f->filt[0] };
	struct store_stats s0, s1;
	float q[DIM];

	assert_int_equal(rvf_query_ctx_new(r, &c), 0);
	assert_int_equal(rvf_query_ctx_new(w, &cw), 0);
	expect_ctx_matches_query(f, r, c);
	expect_ctx_matches_query(f, w, cw);
	/* the store grows to many times what the context was sized for */
	assert_int_equal(put(w, 500, 3000, 0), 0);
	assert_int_equal(rvf_store_refresh(r), 1);
	expect_ctx_matches_query(f, r, c);
	expect_ctx_matches_query(f, w, cw);

	/* a repeated filter, even as another tree with the same content, is
	 * served from the context without a cache lookup */
	query_vec(3, q);
	assert_true(rvf_store_query_ctx(r, c, q, DIM, K, &o, y) >= 0);
	assert_int_equal(store_stats(r, &s0), 0);
	struct rvf_filter *same = rvf_filter_clone(f->filt[0]);
	for (int i = 0; i < 20; i++) {
		o.filter = i % 2 ? same : f->filt[0];
		assert_true(rvf_store_query_ctx(r, c, q, DIM, K, &o, y) >= 0);
	}
	assert_int_equal(store_stats(r, &s1), 0);
	assert_int_equal(s1.filter_lookups, s0.filter_lookups);
	assert_true(s1.plan_cached >= s0.plan_cached + 20);
	assert_int_equal(rvf_store_query(r, q, DIM, K, &o, x), rvf_store_query_ctx(r, c, q, DIM, K, &o, y));
	assert_int_equal(store_stats(r, &s0), 0);
	assert_int_equal(s0.filter_lookups, s1.filter_lookups + 1);   /* the plain query's */
	/* after a change the context resolves the filter again */
	assert_int_equal(put(w, 3500, 10, 0), 0);
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_true(rvf_store_query_ctx(r, c, q, DIM, K, &o, y) >= 0);
	assert_int_equal(store_stats(r, &s1), 0);
	assert_int_equal(s1.filter_lookups, s0.filter_lookups + 1);
	expect_ctx_matches_query(f, r, c);

	/* bad input as rvf_store_query, plus a NULL context */
	assert_int_equal(rvf_store_query_ctx(r, NULL, q, DIM, K, NULL, y), -EINVAL);
	assert_int_equal(rvf_store_query_ctx(r, c, q, DIM - 1, K, NULL, y), -EINVAL);
	assert_int_equal(rvf_store_query_ctx(r, c, q, DIM, 0, NULL, y), -EINVAL);
	assert_int_equal(rvf_query_ctx_new(NULL, &c), -EINVAL);
	rvf_filter_free(same);
	/* a context may be freed after its store is closed */
	rvf_store_close(r);
	rvf_query_ctx_free(c);
	rvf_query_ctx_free(NULL);
	assert_int_equal(rvf_store_close(w), 0);
	rvf_query_ctx_free(cw);
}

static void filter_equal_compares_content_not_address(void **state)
{
	struct rvf_meta_value v3 = rvf_meta_u64(3), i3 = rvf_meta_i64(3), d3 = rvf_meta_f64(3.0);
	struct rvf_meta_value nz = rvf_meta_f64(-0.0), pz = rvf_meta_f64(0.0);
	struct rvf_meta_value s1 = rvf_meta_strn("ab", 2), s2 = rvf_meta_strn("ac", 2);
	struct rvf_meta_value in1[2] = { v3, s1 }, in2[2] = { s1, v3 };
	struct rvf_filter *a = rvf_filter_and(rvf_filter_eq(0, &v3), rvf_filter_in(1, in1, 2));
	struct rvf_filter *b = rvf_filter_and(rvf_filter_eq(0, &v3), rvf_filter_in(1, in1, 2));
	struct rvf_filter *c = rvf_filter_and(rvf_filter_eq(0, &v3), rvf_filter_in(1, in2, 2));
	struct rvf_filter *d = rvf_filter_and(rvf_filter_in(1, in1, 2), rvf_filter_eq(0, &v3));
	struct rvf_filter *e[] = {
		rvf_filter_eq(0, &v3), rvf_filter_eq(0, &i3), rvf_filter_eq(0, &d3), rvf_filter_eq(1, &v3),
		rvf_filter_ne(0, &v3), rvf_filter_eq(0, &nz), rvf_filter_eq(0, &pz), rvf_filter_eq(0, &s1),
		rvf_filter_eq(0, &s2), rvf_filter_range(0, &v3, &d3), rvf_filter_not(rvf_filter_eq(0, &v3)),
	};
	size_t ne = sizeof(e) / sizeof(e[0]);
	(void)state;

	assert_true(filter_equal(a, b));
	assert_true(filter_equal(a, a));
	assert_true(filter_equal(NULL, NULL));
	assert_false(filter_equal(a, NULL));
	assert_false(filter_equal(a, c));         /* IN operand order */
	assert_false(filter_equal(a, d));         /* AND operand order */
	for (size_t i = 0; i < ne; i++) {
		struct rvf_filter *cl = rvf_filter_clone(e[i]);
		assert_true(filter_equal(e[i], cl));
		for (size_t j = 0; j < ne; j++)
			if (i != j && filter_equal(e[i], e[j]))
				fail_msg("filters %zu and %zu are different but compare equal", i, j);
		rvf_filter_free(cl);
	}
	for (size_t i = 0; i < ne; i++)
		rvf_filter_free(e[i]);
	rvf_filter_free(a);
	rvf_filter_free(b);
	rvf_filter_free(c);
	rvf_filter_free(d);
}

/* ---- writable handles, Rust files --------------------------------------------------- */

static void refresh_on_a_writable_handle_is_a_noop(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = make_store(f->path, 300);
	uint64_t e0 = epoch_of(w);
	char *fix = tu_fixture_dir(), *rust;
	struct rvf_store *r = NULL;

	assert_int_equal(rvf_store_refresh(w), 0);
	assert_false(changed(w));
	assert_int_equal(epoch_of(w), e0);
	assert_int_equal(put(w, 300, 10, 0), 0);
	assert_false(changed(w));
	assert_int_equal(rvf_store_refresh(w), 0);
	assert_int_equal(rvf_store_close(w), 0);

	/* a Rust-written file is an in-memory import: it cannot follow */
	assert_non_null(fix);
	rust = tu_path(fix, "basic_store.rvf");
	assert_int_equal(rvf_store_open_readonly(rust, NULL, &r), 0);
	assert_false(changed(r));
	assert_int_equal(rvf_store_refresh(r), -ENOTSUP);
	rvf_store_close(r);
	free(rust);
	free(fix);
}

/* ---- failure paths -------------------------------------------------------------------- */

/* Flip one payload byte of committed segment id on disk. */
static void flip_payload_byte(const char *path, uint64_t id, uint64_t at)
{
	struct rvf_dir *d = NULL;
	struct rvf_dir_segment si;
	uint8_t b;
	int fd;

	assert_int_equal(rvf_dir_open_readonly(path, NULL, &d), 0);
	assert_int_equal(rvf_dir_segment_info(d, id, &si), 0);
	rvf_dir_close(d);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)(si.file_offset + RVF_SEG_HEADER_SIZE + at)), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)(si.file_offset + RVF_SEG_HEADER_SIZE + at)), 1);
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static void unreadable_new_segment_leaves_the_reader_on_its_snapshot(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = make_store(f->path, 600), *r = open_ro(f->path);
	struct answers *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	struct rvf_dir_segment *segs = NULL;
	size_t n = 0;
	uint64_t e0 = epoch_of(r), vseg = 0;

	answers_of(f, r, before);
	assert_int_equal(put(w, 600, 100, 0), 0);
	assert_int_equal(rvf_store_segment_dir(w, &segs, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (segs[i].type == RVF_SEG_VEC)
			vseg = segs[i].id;          /* the newest */
	free(segs);
	flip_payload_byte(f->path, vseg, 200);
	assert_true(changed(r));
	assert_int_equal(rvf_store_refresh(r), -EBADMSG);
	/* everything as before, including what reads the file */
	assert_int_equal(epoch_of(r), e0);
	answers_of(f, r, after);
	same_answers(before, after, "after a failed refresh");
	assert_int_equal(rvf_store_verify(r), 0);
	assert_true(changed(r));             /* still behind: it will try again */
	assert_int_equal(rvf_store_refresh(r), -EBADMSG);
	flip_payload_byte(f->path, vseg, 200);
	assert_int_equal(rvf_store_refresh(r), 1);
	expect_matches_fresh(f, r, "after the segment was repaired");
	answers_release(before);
	answers_release(after);
	free(before);
	free(after);
	rvf_store_close(r);
	assert_int_equal(rvf_store_close(w), 0);
}

/* Commit, behind the store's back, a VEC segment with one new vector and a
 * JOURNAL that deletes an id nobody has: replay applies the first and then
 * fails on the second. */
static void commit_bad_journal(const char *path, uint64_t *jseg)
{
	struct rvf_dir *d = NULL;
	struct store_hdr h;
	struct vec_hdr vh;
	void *um = NULL;
	size_t umlen = 0;
	_Alignas(64) uint8_t vbuf[VEC_HDR + 64 + DIM * 4];
	uint8_t jbuf[JRN_HDR + 8];
	uint64_t id = 777777, bogus = 999999999, cnt = 1;
	uint16_t ver = JRN_VERSION, op = JRN_OP_DELETE;

	assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
	assert_int_equal(rvf_dir_user_metadata(d, &um, &umlen), 0);
	assert_int_equal(umlen, sizeof(h));
	memcpy(&h, um, sizeof(h));
	free(um);
	vec_hdr_make(&vh, DIM, 1);
	assert_int_equal(vh.rows_off + DIM * 4, sizeof(vbuf));
	memset(vbuf, 0, sizeof(vbuf));
	memcpy(vbuf, &vh, sizeof(vh));
	memcpy(vbuf + VEC_HDR, &id, 8);
	vec_of(id, 0, (float *)(void *)(vbuf + vh.rows_off));
	memcpy(jbuf, JRN_MAGIC, 4);
	memcpy(jbuf + 4, &ver, 2);
	memcpy(jbuf + 6, &op, 2);
	memcpy(jbuf + 8, &cnt, 8);
	memcpy(jbuf + 16, &bogus, 8);
	assert_int_equal(rvf_dir_write_segment(d, h.next_seg_id, RVF_SEG_VEC, vbuf, sizeof(vbuf)), 0);
	assert_int_equal(rvf_dir_write_segment(d, h.next_seg_id + 1, RVF_SEG_JOURNAL, jbuf, sizeof(jbuf)), 0);
	*jseg = h.next_seg_id + 1;
	h.next_seg_id += 2;
	h.live += 1;
	h.hash = XXH3_64bits(&h, offsetof(struct store_hdr, hash));
	assert_int_equal(rvf_dir_set_user_metadata(d, &h, sizeof(h)), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
}

static void replay_failing_half_way_makes_the_handle_stale_until_rebuilt(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = make_store(f->path, 500), *r;
	struct rvf_query_ctx *c = NULL;
	struct rvf_result res[K];
	struct rvf_store_status st;
	struct rvf_dir *d = NULL;
	uint64_t *ids = NULL, jseg = 0;
	size_t n = 0;
	float q[DIM];

	assert_int_equal(rvf_store_close(w), 0);
	r = open_ro(f->path);
	assert_int_equal(rvf_query_ctx_new(r, &c), 0);
	query_vec(0, q);
	commit_bad_journal(f->path, &jseg);
	assert_true(changed(r));
	assert_int_equal(rvf_store_refresh(r), -EUCLEAN);
	assert_int_equal(rvf_store_query(r, q, DIM, K, NULL, res), -ESTALE);
	assert_int_equal(rvf_store_query_ctx(r, c, q, DIM, K, NULL, res), -ESTALE);
	assert_int_equal(rvf_store_status(r, &st), -ESTALE);
	assert_int_equal(rvf_store_live_ids(r, &ids, &n), -ESTALE);
	assert_int_equal(rvf_store_get_vector(r, 1, q, DIM), -ESTALE);
	assert_int_equal(rvf_store_verify(r), -ESTALE);
	assert_true(changed(r));
	assert_int_equal(rvf_store_refresh(r), -EUCLEAN);   /* still broken on disk */
	assert_true(changed(r));
	/* repair the file: drop the bad journal */
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_remove_segments(d, &jseg, 1), 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_false(changed(r));
	assert_int_equal(rvf_store_get_vector(r, 777777, q, DIM), 0);
	expect_matches_fresh(f, r, "after the rebuild");
	expect_ctx_matches_query(f, r, c);
	rvf_query_ctx_free(c);
	rvf_store_close(r);
}

static void path_naming_another_store_is_refused(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = make_store(f->path, 300), *r = open_ro(f->path), *other;
	char *p2 = tu_path(f->dir, "other.rvf");
	struct answers *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	answers_of(f, r, a);
	other = make_store(p2, 100);
	assert_int_equal(rvf_store_close(other), 0);
	assert_int_equal(rename(p2, f->path), 0);
	assert_int_equal(put(w, 300, 10, 0), 0);     /* the old file, still open */
	assert_true(changed(r));
	assert_int_equal(rvf_store_refresh(r), -ESTALE);
	answers_of(f, r, b);
	same_answers(a, b, "after a refused refresh");
	answers_release(a);
	answers_release(b);
	free(a);
	free(b);
	free(p2);
	rvf_store_close(r);
	assert_int_equal(rvf_store_close(w), 0);
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
		query_vec(i % NQ, q);
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
 * writer has not moved on, the reader is compared with a fresh handle.
 */
static void workers_query_while_a_poller_refreshes_under_a_rwlock(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = make_store(f->path, 800);
	struct rvf_meta_value v4 = rvf_meta_u64(4);
	struct serve s = { .wf = rvf_filter_eq(0, &v4) };
	uint64_t refreshes = 0, compared = 0;
	bool exited = false;
	pthread_t wt[3];
	int wst;
	pid_t pid;

	assert_int_equal(rvf_store_close(w), 0);
	s.r = open_ro(f->path);
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
			if (put(c, 800 + (uint64_t)i * 100, 100, 0))
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
		struct rvf_store *fresh = open_ro(f->path);
		if (epoch_of(fresh) == epoch_of(s.r)) {
			struct answers *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
			pthread_rwlock_rdlock(&s.lock);
			answers_of(f, s.r, a);
			pthread_rwlock_unlock(&s.lock);
			answers_of(f, fresh, b);
			same_answers(a, b, "while serving");
			answers_release(a);
			answers_release(b);
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
	expect_matches_fresh(f, s.r, "after the writer finished");
	pthread_rwlock_destroy(&s.lock);
	rvf_filter_free(s.wf);
	rvf_store_close(s.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(refresh_with_nothing_new_returns_0_and_changed_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(reader_follows_a_forked_writer_step_by_step, setup, teardown),
		cmocka_unit_test_setup_teardown(refresh_across_compaction_and_checkpoint_rebuilds, setup, teardown),
		cmocka_unit_test_setup_teardown(query_ctx_matches_query_and_grows_with_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(filter_equal_compares_content_not_address, setup, teardown),
		cmocka_unit_test_setup_teardown(refresh_on_a_writable_handle_is_a_noop, setup, teardown),
		cmocka_unit_test_setup_teardown(unreadable_new_segment_leaves_the_reader_on_its_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(replay_failing_half_way_makes_the_handle_stale_until_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(path_naming_another_store_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(workers_query_while_a_poller_refreshes_under_a_rwlock, setup, teardown),
	};

	tu_log_to_stderr();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
