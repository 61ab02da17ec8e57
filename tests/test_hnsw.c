/*
 * test_hnsw.c - the HNSW index (include/rvf/index.h) on real data:
 * recall on a 20,000-vector Fashion-MNIST subset against exact ground truth,
 * filtered search (bitmap and callback) against exact filtered ground truth,
 * tombstones, re-insert, compaction, save/load (with and without vectors),
 * hostile blobs, determinism, metrics and dimension edge cases, caller-owned
 * search contexts, and the error bound that lets the SQ8 re-rank skip rows
 * (never above the exact distance, on data built to break it).
 * rvf_hnsw_check runs after every phase that changes an index.
 *
 * Data: base rows are the first FM_N Fashion-MNIST training images, queries
 * the first FM_Q test images (dataset-fashion-mnist). Without the data set
 * the test SKIPs and says why. Seeds (filters, deletions, bit flips) are
 * printed; RVF_SEED reproduces a run.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "data/data.h"
#include "index/hnsw_internal.h"
#include "rvf/error.h"
#include "rvf/index.h"
#include "testutil.h"

#define FM_N      20000
#define FM_Q      200
#define SMALL_N   3000
#define SMALL_Q   100
#define DIM       784
#define K         10
#define LABEL_OFF (1ull << 40)   /* labels far from internal ids */

struct world {
	struct data_mat base, queries;   /* FM_N x DIM, FM_Q x DIM */
	struct data_mat small;           /* view: first SMALL_N rows of base */
	struct data_mat squeries;        /* view: first SMALL_Q queries */
	struct data_gt gt;               /* exact L2 top-K of queries in base */
	struct data_gt sgt;              /* exact L2 top-K of squeries in small */
	struct rvf_hnsw *big;            /* FM_N rows, add_batch with 2 threads */
	uint64_t seed;
};

static struct world W;

/* ---- helpers ---------------------------------------------------------------- */

static void check_ok(const struct rvf_hnsw *h, const char *phase)
{
	int err = rvf_hnsw_check(h);

	if (err)
		fail_msg("rvf_hnsw_check after %s: %d (%s)", phase, err, rvf_last_error());
}

static struct rvf_hnsw *build(const struct data_mat *m, size_t n, enum rvf_metric metric,
			      const struct rvf_hnsw_opts *o, uint64_t label_off)
{
	struct rvf_hnsw *h = NULL;
	uint64_t *labels = malloc((n ? n : 1) * sizeof(*labels));

	assert_non_null(labels);
	for (size_t i = 0; i < n; i++)
		labels[i] = label_off + i;
	assert_int_equal(rvf_hnsw_new(m->dim, metric, o, &h), 0);
	assert_int_equal(rvf_hnsw_add_batch(h, labels, m->v, n), 0);
	free(labels);
	assert_int_equal(rvf_hnsw_count(h), n);
	assert_int_equal(rvf_hnsw_live_count(h), n);
	check_ok(h, "build");
	return h;
}

/* Results sorted by (distance, label), with distances equal (within float
 * rounding) to rvf_distance against the vector stored under the label. */
static void check_sorted_exact(const struct rvf_hnsw *h, const float *q, const struct rvf_hnsw_result *r, int n)
{
	for (int i = 0; i < n; i++) {
		const float *v = rvf_hnsw_vector(h, r[i].label);
		float d;

		assert_non_null(v);
		d = rvf_distance(rvf_hnsw_metric(h), q, v, rvf_hnsw_dim(h));
		if (fabsf(d - r[i].distance) > 1e-4f * (fabsf(d) + 1.0f))
			fail_msg("result %d label %llu: distance %g, recomputed %g", i,
				 (unsigned long long)r[i].label, r[i].distance, d);
		if (i && (r[i].distance < r[i - 1].distance ||
			  (r[i].distance == r[i - 1].distance && r[i].label <= r[i - 1].label)))
			fail_msg("results not sorted at %d", i);
	}
}

static void same_result_lists(const struct rvf_hnsw_result *a, const struct rvf_hnsw_result *b, size_t n)
{
	/* field by field: the struct has padding */
	for (size_t i = 0; i < n; i++) {
		if (a[i].label != b[i].label || memcmp(&a[i].distance, &b[i].distance, sizeof(float)))
			fail_msg("result %zu differs: label %llu d %.9g vs label %llu d %.9g", i,
				 (unsigned long long)a[i].label, a[i].distance, (unsigned long long)b[i].label,
				 b[i].distance);
	}
}

/* Mean recall@K of h on the queries against gt, whose ids are rows; the
 * index stores row i under label label_off + i. */
static double recall_of(const struct rvf_hnsw *h, const struct data_mat *qs, const struct data_gt *gt,
			uint32_t ef, const struct rvf_hnsw_filter *f, uint64_t label_off)
{
	double sum = 0;

	for (size_t i = 0; i < qs->n; i++) {
		struct rvf_hnsw_result r[K];
		uint64_t rows[K];
		int n = rvf_hnsw_search(h, qs->v + i * qs->dim, K, ef, f, r);

		assert_true(n >= 0);
		check_sorted_exact(h, qs->v + i * qs->dim, r, n);
		for (int j = 0; j < n; j++)
			rows[j] = r[j].label - label_off;
		sum += data_recall_at(gt, i, rows, (size_t)n, K);
	}
	return sum / (double)qs->n;
}

static void need_recall(double got, double want, const char *what)
{
	printf("info: %s: recall@%d %.4f (need >= %.2f)\n", what, K, got, want);
	if (got < want)
		fail_msg("%s: recall@%d %.4f < %.2f", what, K, got, want);
}

/* ---- group setup: load data, ground truth, the shared 20k index ------------ */

static int world_setup(void **state)
{
	struct data_mat b, q;
	struct rvf_hnsw_opts o = { .threads = 2 };
	uint64_t *labels;
	int err;

	(void)state;
	W.seed = tu_seed();
	err = data_fashion_mnist(NULL, &b, &q);
	if (err == -ENOENT)
		tu_skip("Fashion-MNIST not found in %s (install dataset-fashion-mnist)", DATA_FMNIST_DIR);
	if (err) {
		printf("cannot load Fashion-MNIST: %d %s\n", err, rvf_last_error());
		return -1;
	}
	if (b.n < FM_N || q.n < FM_Q || b.dim != DIM)
		return -1;
	/* keep only what the tests use */
	if (data_mat_alloc(&W.base, FM_N, DIM) || data_mat_alloc(&W.queries, FM_Q, DIM))
		return -1;
	memcpy(W.base.v, b.v, (size_t)FM_N * DIM * sizeof(float));
	memcpy(W.queries.v, q.v, (size_t)FM_Q * DIM * sizeof(float));
	data_mat_release(&b);
	data_mat_release(&q);
	W.small = (struct data_mat){ W.base.v, SMALL_N, DIM };
	W.squeries = (struct data_mat){ W.queries.v, SMALL_Q, DIM };
	if (data_gt_compute(&W.base, &W.queries, RVF_METRIC_L2, K, 2, &W.gt) ||
	    data_gt_compute(&W.small, &W.squeries, RVF_METRIC_L2, K, 2, &W.sgt))
		return -1;
	labels = malloc(FM_N * sizeof(*labels));
	for (size_t i = 0; i < FM_N; i++)
		labels[i] = LABEL_OFF + i;
	if (rvf_hnsw_new(DIM, RVF_METRIC_L2, &o, &W.big) || rvf_hnsw_add_batch(W.big, labels, W.base.v, FM_N))
		return -1;
	free(labels);
	return 0;
}

static int world_teardown(void **state)
{
	(void)state;
	rvf_hnsw_free(W.big);
	data_gt_release(&W.gt);
	data_gt_release(&W.sgt);
	data_mat_release(&W.base);
	data_mat_release(&W.queries);
	return 0;
}

/* ---- recall ----------------------------------------------------------------- */

static void recall_at_10_reaches_095_at_ef64_on_fashion_mnist_20k(void **state)
{
	(void)state;
	check_ok(W.big, "the 2-thread batch build");
	need_recall(recall_of(W.big, &W.queries, &W.gt, 64, NULL, LABEL_OFF), 0.95, "fmnist 20k, ef=64");
	/* more ef never hurts much; the cheapest setting still finds most */
	need_recall(recall_of(W.big, &W.queries, &W.gt, 256, NULL, LABEL_OFF), 0.99, "fmnist 20k, ef=256");
	need_recall(recall_of(W.big, &W.queries, &W.gt, 10, NULL, LABEL_OFF), 0.80, "fmnist 20k, ef=10");
}

static void unquantised_traversal_reaches_the_same_recall(void **state)
{
	struct rvf_hnsw_opts o = { .quant = RVF_HNSW_QUANT_NONE, .threads = 2 };
	struct rvf_hnsw *h = build(&W.small, SMALL_N, RVF_METRIC_L2, &o, LABEL_OFF);

	(void)state;
	need_recall(recall_of(h, &W.squeries, &W.sgt, 64, NULL, LABEL_OFF), 0.95, "quant=none 3k, ef=64");
	rvf_hnsw_free(h);
}

static void ef_below_k_searches_with_ef_equal_to_k(void **state)
{
	struct rvf_hnsw_result a[50], b[50];
	(void)state;

	for (size_t i = 0; i < 20; i++) {
		const float *q = W.queries.v + i * DIM;
		int na = rvf_hnsw_search(W.big, q, 50, 1, NULL, a);
		int nb = rvf_hnsw_search(W.big, q, 50, 50, NULL, b);

		assert_int_equal(na, 50);
		assert_int_equal(nb, 50);
		same_result_lists(a, b, 50);
	}
}

static void exact_search_matches_brute_force_ground_truth(void **state)
{
	(void)state;
	for (size_t i = 0; i < 20; i++) {
		struct rvf_hnsw_result r[K];
		int n = rvf_hnsw_exact_search(W.big, W.queries.v + i * DIM, K, 0, NULL, r);

		assert_int_equal(n, K);
		for (int j = 0; j < K; j++)
			assert_int_equal(r[j].label - LABEL_OFF, W.gt.ids[i * K + j]);
	}
}

/* ---- filtered search -------------------------------------------------------- */

struct allow_ctx {
	const uint8_t *allowed;   /* by row */
	size_t calls;
};

static int allow_cb(void *ctx, uint64_t label, uint32_t internal_id)
{
	struct allow_ctx *a = ctx;

	(void)internal_id;
	__atomic_add_fetch(&a->calls, 1, __ATOMIC_RELAXED);
	return label >= LABEL_OFF && label - LABEL_OFF < FM_N && a->allowed[label - LABEL_OFF];
}

/* Exact ground truth restricted to allowed rows, ids mapped back to rows. */
static void filtered_gt(const uint8_t *allowed, const struct data_mat *qs, struct data_gt *gt)
{
	size_t m = 0;
	uint32_t *rowof = malloc(FM_N * sizeof(*rowof));
	struct data_mat sub;

	assert_int_equal(data_mat_alloc(&sub, FM_N, DIM), 0);
	for (size_t i = 0; i < FM_N; i++) {
		if (!allowed[i])
			continue;
		memcpy(sub.v + m * DIM, W.base.v + i * DIM, DIM * sizeof(float));
		rowof[m++] = (uint32_t)i;
	}
	sub.n = m;
	assert_true(m >= K);
	assert_int_equal(data_gt_compute(&sub, qs, RVF_METRIC_L2, K, 2, gt), 0);
	for (size_t i = 0; i < gt->nq * gt->k; i++)
		gt->ids[i] = rowof[gt->ids[i]];
	free(rowof);
	data_mat_release(&sub);
}

static void filtered_run(double frac, int use_bitmap, uint64_t seed)
{
	uint8_t *allowed = calloc(FM_N, 1);
	uint64_t *bitmap = calloc((FM_N + 63) / 64, sizeof(uint64_t));
	struct allow_ctx ac = { allowed, 0 };
	struct rvf_hnsw_filter f = { 0 };
	struct data_gt gt;
	struct tu_rng r;
	char what[128];
	size_t nallowed = 0;
	double rec;

	tu_rng_init(&r, seed);
	for (size_t i = 0; i < FM_N; i++) {
		if (tu_rng_unit(&r) < frac) {
			uint32_t id;

			allowed[i] = 1;
			nallowed++;
			assert_int_equal(rvf_hnsw_id_of(W.big, LABEL_OFF + i, &id), 0);
			bitmap[id / 64] |= 1ull << (id % 64);
		}
	}
	filtered_gt(allowed, &W.queries, &gt);
	if (use_bitmap) {
		f.bitmap = bitmap;
	} else {
		f.allow = allow_cb;
		f.ctx = &ac;
	}
	/* every result allowed */
	for (size_t i = 0; i < W.queries.n; i++) {
		struct rvf_hnsw_result res[K];
		int n = rvf_hnsw_search(W.big, W.queries.v + i * DIM, K, 64, &f, res);

		assert_int_equal(n, K);   /* excluded nodes do not use up ef */
		for (int j = 0; j < n; j++)
			assert_true(allowed[res[j].label - LABEL_OFF]);
	}
	rec = recall_of(W.big, &W.queries, &gt, 64, &f, LABEL_OFF);
	snprintf(what, sizeof(what), "filtered %s, %.0f%% allowed (%zu ids), ef=64", use_bitmap ? "bitmap" : "callback",
		 frac * 100, nallowed);
	need_recall(rec, 0.95, what);
	if (!use_bitmap)
		assert_true(ac.calls > 0);
	/* a selectivity hint must not change correctness */
	f.selectivity = frac;
	rec = recall_of(W.big, &W.queries, &gt, 64, &f, LABEL_OFF);
	snprintf(what, sizeof(what), "filtered %s, %.0f%% allowed, selectivity hint", use_bitmap ? "bitmap" : "callback",
		 frac * 100);
	need_recall(rec, 0.95, what);
	/* An overstated hint keeps the search on the graph even where the cost
	 * model would scan: the traversal itself must reach the target. */
	f.selectivity = 1.0;
	rec = recall_of(W.big, &W.queries, &gt, 64, &f, LABEL_OFF);
	snprintf(what, sizeof(what), "filtered %s, %.0f%% allowed, graph traversal forced",
		 use_bitmap ? "bitmap" : "callback", frac * 100);
	need_recall(rec, 0.95, what);
	data_gt_release(&gt);
	free(allowed);
	free(bitmap);
}

static void filtered_recall_with_bitmap_at_50_10_and_1_percent(void **state)
{
	(void)state;
	filtered_run(0.50, 1, W.seed + 11);
	filtered_run(0.10, 1, W.seed + 12);
	filtered_run(0.01, 1, W.seed + 13);
}

static void filtered_recall_with_callback_at_50_10_and_1_percent(void **state)
{
	(void)state;
	filtered_run(0.50, 0, W.seed + 21);
	filtered_run(0.10, 0, W.seed + 22);
	filtered_run(0.01, 0, W.seed + 23);
}

static int allow_none(void *ctx, uint64_t label, uint32_t id)
{
	(void)ctx; (void)label; (void)id;
	return 0;
}

static int allow_even_label(void *ctx, uint64_t label, uint32_t id)
{
	(void)ctx; (void)id;
	return !(label & 1);
}

static void filter_admitting_nothing_returns_no_results(void **state)
{
	struct rvf_hnsw_filter f = { .allow = allow_none };
	struct rvf_hnsw_result r[K];
	uint64_t *zero = calloc((FM_N + 63) / 64, sizeof(uint64_t));
	(void)state;

	assert_int_equal(rvf_hnsw_search(W.big, W.queries.v, K, 64, &f, r), 0);
	f.allow = NULL;
	f.bitmap = zero;
	assert_int_equal(rvf_hnsw_search(W.big, W.queries.v, K, 64, &f, r), 0);
	free(zero);
}

static void bitmap_and_callback_combine_as_and(void **state)
{
	uint64_t *bm = calloc((FM_N + 63) / 64, sizeof(uint64_t));
	struct rvf_hnsw_filter f = { .bitmap = bm, .allow = allow_even_label };
	struct rvf_hnsw_result r[K];
	(void)state;

	/* bitmap: the first half of internal ids; callback: even labels */
	for (uint32_t i = 0; i < FM_N / 2; i++)
		bm[i / 64] |= 1ull << (i % 64);
	for (size_t q = 0; q < 20; q++) {
		int n = rvf_hnsw_search(W.big, W.queries.v + q * DIM, K, 32, &f, r);

		assert_int_equal(n, K);
		for (int j = 0; j < n; j++) {
			uint32_t id;

			assert_int_equal(r[j].label & 1, 0);
			assert_int_equal(rvf_hnsw_id_of(W.big, r[j].label, &id), 0);
			assert_true(id < FM_N / 2);
		}
	}
	free(bm);
}

struct par { const struct rvf_hnsw *h; size_t q0, n; struct rvf_hnsw_result *out; };

static void *par_search(void *arg)
{
	struct par *p = arg;

	for (size_t i = 0; i < p->n; i++)
		if (rvf_hnsw_search(p->h, W.queries.v + (p->q0 + i) * DIM, K, 48, NULL, p->out + i * K) != K)
			return (void *)1;
	return NULL;
}

static void concurrent_searches_give_the_serial_results(void **state)
{
	struct rvf_hnsw_result *serial = calloc(FM_Q * K, sizeof(*serial));
	struct rvf_hnsw_result *par = calloc(FM_Q * K, sizeof(*par));
	struct par p[4];
	pthread_t t[4];
	(void)state;

	for (size_t i = 0; i < FM_Q; i++)
		assert_int_equal(rvf_hnsw_search(W.big, W.queries.v + i * DIM, K, 48, NULL, serial + i * K), K);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct par){ W.big, (size_t)i * (FM_Q / 4), FM_Q / 4, par + (size_t)i * (FM_Q / 4) * K };
		assert_int_equal(pthread_create(&t[i], NULL, par_search, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;

		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	same_result_lists(serial, par, FM_Q * K);
	free(serial);
	free(par);
}

/*
 * One caller-owned context across indexes of different sizes, degrees and
 * dimensions, and across an index growing past what the context was sized
 * for: every search equals the pooled one (graph, exact, with a bitmap).
 */
static void caller_context_gives_the_pooled_results_across_indexes(void **state)
{
	struct rvf_hnsw_search_ctx *c = NULL;
	struct rvf_hnsw_opts so = { .M = 6, .threads = 1 };
	struct rvf_hnsw *small = build(&W.small, SMALL_N / 2, RVF_METRIC_L2, &so, 0), *tiny = NULL;
	size_t words = FM_N / 64 + 1;
	uint64_t *bm = calloc(words, sizeof(*bm));
	struct rvf_hnsw_result a[K], b[K];
	struct rvf_hnsw_filter f;
	float q3[3] = { 0.5f, -1.0f, 2.0f };
	(void)state;

	for (size_t i = 0; i < FM_N; i++)
		if (i % 3 == 0)
			bm[i / 64] |= 1ull << (i % 64);
	f = (struct rvf_hnsw_filter){ .bitmap = bm, .selectivity = 1.0 / 3 };
	/* sized for the small index; the big one makes it grow */
	assert_int_equal(rvf_hnsw_search_ctx_new(small, &c), 0);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < 40; i++) {
			const float *q = W.queries.v + i * DIM;
			const struct rvf_hnsw *h = i % 2 ? W.big : small;
			int n = rvf_hnsw_search(h, q, K, 48, NULL, a);

			assert_int_equal(rvf_hnsw_search_with(h, c, q, K, 48, NULL, b), n);
			same_result_lists(a, b, (size_t)n);
			n = rvf_hnsw_search(h, q, K, 48, &f, a);
			assert_int_equal(rvf_hnsw_search_with(h, c, q, K, 48, &f, b), n);
			same_result_lists(a, b, (size_t)n);
			n = rvf_hnsw_exact_search(h, q, K, 0, &f, a);
			assert_int_equal(rvf_hnsw_exact_search_with(h, c, q, K, 0, &f, b), n);
			same_result_lists(a, b, (size_t)n);
		}
		/* grow the small index well past its reserved capacity */
		if (round == 0) {
			uint64_t *labels = malloc(SMALL_N / 2 * sizeof(*labels));
			for (size_t i = 0; i < SMALL_N / 2; i++)
				labels[i] = SMALL_N / 2 + i;
			assert_int_equal(rvf_hnsw_add_batch(small, labels, W.small.v + (size_t)(SMALL_N / 2) * DIM,
							    SMALL_N / 2), 0);
			free(labels);
		}
	}
	/* a smaller dimension and then the large one again */
	assert_int_equal(rvf_hnsw_new(3, RVF_METRIC_IP, &so, &tiny), 0);
	assert_int_equal(rvf_hnsw_add(tiny, 7, q3), 0);
	assert_int_equal(rvf_hnsw_search_with(tiny, c, q3, 1, 0, NULL, b), 1);
	assert_int_equal(b[0].label, 7);
	assert_int_equal(rvf_hnsw_search_with(W.big, c, W.queries.v, K, 48, NULL, b), K);
	assert_int_equal(rvf_hnsw_search(W.big, W.queries.v, K, 48, NULL, a), K);
	same_result_lists(a, b, K);
	assert_int_equal(rvf_hnsw_search_with(W.big, NULL, W.queries.v, K, 48, NULL, b), -EINVAL);
	assert_int_equal(rvf_hnsw_search_ctx_reserve(c, NULL, 0), -EINVAL);
	rvf_hnsw_search_ctx_free(c);
	rvf_hnsw_search_ctx_free(NULL);
	rvf_hnsw_free(tiny);
	rvf_hnsw_free(small);
	free(bm);
}

/* ---- tombstones, re-insert, compaction -------------------------------------- */

static void deleted_labels_are_never_returned(void **state)
{
	struct rvf_hnsw_opts o = { .threads = 2 };
	struct rvf_hnsw *h = build(&W.small, SMALL_N, RVF_METRIC_L2, &o, LABEL_OFF);
	uint8_t *dead = calloc(SMALL_N, 1);
	uint8_t *allowed = calloc(FM_N, 1);
	struct data_gt gt;
	struct tu_rng r;
	size_t ndead = 0;
	(void)state;

	tu_rng_init(&r, W.seed + 31);
	/* delete 40%, including each query's true nearest neighbour */
	for (size_t i = 0; i < SMALL_N; i++)
		if (tu_rng_unit(&r) < 0.4)
			dead[i] = 1;
	for (size_t q = 0; q < SMALL_Q; q++)
		dead[W.sgt.ids[q * K]] = 1;
	for (size_t i = 0; i < SMALL_N; i++) {
		if (dead[i]) {
			assert_int_equal(rvf_hnsw_delete(h, LABEL_OFF + i), 0);
			ndead++;
		} else {
			allowed[i] = 1;
		}
	}
	assert_int_equal(rvf_hnsw_live_count(h), SMALL_N - ndead);
	assert_int_equal(rvf_hnsw_count(h), SMALL_N);
	check_ok(h, "deleting 40%");
	for (size_t q = 0; q < SMALL_Q; q++) {
		static const uint32_t efs[] = { 1, 10, 64, 300 };

		for (size_t e = 0; e < 4; e++) {
			struct rvf_hnsw_result res[K];
			int n = rvf_hnsw_search(h, W.squeries.v + q * DIM, K, efs[e], NULL, res);

			assert_int_equal(n, K);
			for (int j = 0; j < n; j++) {
				assert_false(dead[res[j].label - LABEL_OFF]);
				assert_true(rvf_hnsw_contains(h, res[j].label));
			}
		}
	}
	/* recall against the live set stays high */
	{
		struct data_mat sub;
		uint32_t *rowof = malloc(SMALL_N * sizeof(*rowof));
		size_t m = 0;

		assert_int_equal(data_mat_alloc(&sub, SMALL_N, DIM), 0);
		for (size_t i = 0; i < SMALL_N; i++)
			if (allowed[i]) {
				memcpy(sub.v + m * DIM, W.base.v + i * DIM, DIM * 4);
				rowof[m++] = (uint32_t)i;
			}
		sub.n = m;
		assert_int_equal(data_gt_compute(&sub, &W.squeries, RVF_METRIC_L2, K, 2, &gt), 0);
		for (size_t i = 0; i < gt.nq * K; i++)
			gt.ids[i] = rowof[gt.ids[i]];
		free(rowof);
		data_mat_release(&sub);
	}
	need_recall(recall_of(h, &W.squeries, &gt, 64, NULL, LABEL_OFF), 0.95, "40% deleted, ef=64");
	/* exact search skips them too */
	for (size_t q = 0; q < 10; q++) {
		struct rvf_hnsw_result res[K];
		int n = rvf_hnsw_exact_search(h, W.squeries.v + q * DIM, K, 0, NULL, res);

		assert_int_equal(n, K);
		for (int j = 0; j < n; j++)
			assert_int_equal(res[j].label - LABEL_OFF, gt.ids[q * K + j]);
	}
	/* double delete, absent label */
	assert_int_equal(rvf_hnsw_delete(h, LABEL_OFF + W.sgt.ids[0]), -ENOENT);
	assert_int_equal(rvf_hnsw_delete(h, 42), -ENOENT);
	assert_null(rvf_hnsw_vector(h, LABEL_OFF + W.sgt.ids[0]));

	/* compaction drops the tombstones, keeps every live label and its vector */
	assert_int_equal(rvf_hnsw_maybe_compact(h, 0.5), 0);
	assert_int_equal(rvf_hnsw_maybe_compact(h, 0.2), 1);
	check_ok(h, "compaction");
	assert_int_equal(rvf_hnsw_count(h), SMALL_N - ndead);
	assert_int_equal(rvf_hnsw_live_count(h), SMALL_N - ndead);
	for (size_t i = 0; i < SMALL_N; i++) {
		const float *v = rvf_hnsw_vector(h, LABEL_OFF + i);

		assert_int_equal(rvf_hnsw_contains(h, LABEL_OFF + i), !dead[i]);
		if (!dead[i]) {
			assert_non_null(v);
			assert_memory_equal(v, W.base.v + i * DIM, DIM * sizeof(float));
		} else {
			assert_null(v);
		}
	}
	need_recall(recall_of(h, &W.squeries, &gt, 64, NULL, LABEL_OFF), 0.95, "after compaction, ef=64");
	assert_int_equal(rvf_hnsw_maybe_compact(h, 0.0), 0);
	data_gt_release(&gt);
	free(dead);
	free(allowed);
	rvf_hnsw_free(h);
}

static void reinserted_label_is_live_again_with_its_new_vector(void **state)
{
	struct rvf_hnsw_opts o = { .threads = 1 };
	struct rvf_hnsw *h = build(&W.small, 500, RVF_METRIC_L2, &o, 0);
	struct rvf_hnsw_result r[K];
	const float *newv = W.base.v + 1000 * DIM;   /* a row not in the index */
	uint32_t id_old, id_new;
	int deleted;
	uint64_t lab;
	(void)state;

	assert_int_equal(rvf_hnsw_id_of(h, 7, &id_old), 0);
	assert_int_equal(rvf_hnsw_delete(h, 7), 0);
	assert_false(rvf_hnsw_contains(h, 7));
	check_ok(h, "delete");
	assert_int_equal(rvf_hnsw_add(h, 7, newv), 0);
	check_ok(h, "re-insert");
	assert_true(rvf_hnsw_contains(h, 7));
	assert_int_equal(rvf_hnsw_count(h), 501);
	assert_int_equal(rvf_hnsw_live_count(h), 500);
	assert_int_equal(rvf_hnsw_id_of(h, 7, &id_new), 0);
	assert_int_not_equal(id_old, id_new);
	assert_int_equal(rvf_hnsw_label_of(h, id_old, &lab, &deleted), 0);
	assert_int_equal(lab, 7);
	assert_true(deleted);
	assert_int_equal(rvf_hnsw_label_of(h, id_new, &lab, &deleted), 0);
	assert_false(deleted);
	assert_memory_equal(rvf_hnsw_vector(h, 7), newv, DIM * sizeof(float));
	/* searching the new vector finds label 7 at distance 0, once */
	assert_int_equal(rvf_hnsw_search(h, newv, K, 32, NULL, r), K);
	assert_int_equal(r[0].label, 7);
	assert_true(r[0].distance == 0.0f);
	for (int j = 1; j < K; j++)
		assert_int_not_equal(r[j].label, 7);
	/* searching the old vector never returns the tombstone */
	assert_int_equal(rvf_hnsw_search(h, W.base.v + 7 * DIM, K, 32, NULL, r), K);
	for (int j = 0; j < K; j++)
		assert_true(r[j].label != 7 || r[j].distance > 0);

	/* re-adding a live label replaces it: the old node becomes a tombstone */
	assert_int_equal(rvf_hnsw_add(h, 8, newv + 1), 0);
	assert_int_equal(rvf_hnsw_count(h), 502);
	assert_int_equal(rvf_hnsw_live_count(h), 500);
	check_ok(h, "replace");
	/* and in a batch, the later row of a repeated label wins */
	{
		uint64_t labs[2] = { 9, 9 };
		float two[2 * DIM];

		memcpy(two, W.base.v + 2000 * DIM, DIM * 4);
		memcpy(two + DIM, W.base.v + 2001 * DIM, DIM * 4);
		assert_int_equal(rvf_hnsw_add_batch(h, labs, two, 2), 0);
		assert_memory_equal(rvf_hnsw_vector(h, 9), two + DIM, DIM * 4);
		assert_int_equal(rvf_hnsw_live_count(h), 500);
		check_ok(h, "batch replace");
	}
	assert_int_equal(rvf_hnsw_compact(h), 0);
	check_ok(h, "compact");
	assert_int_equal(rvf_hnsw_count(h), 500);
	assert_memory_equal(rvf_hnsw_vector(h, 7), newv, DIM * sizeof(float));
	assert_int_equal(rvf_hnsw_search(h, newv, 1, 32, NULL, r), 1);
	assert_int_equal(r[0].label, 7);
	rvf_hnsw_free(h);
}

static void deleting_every_node_leaves_an_empty_but_valid_index(void **state)
{
	struct rvf_hnsw *h = build(&W.small, 300, RVF_METRIC_L2, NULL, 0);
	struct rvf_hnsw_result r[K];
	(void)state;

	for (uint64_t i = 0; i < 300; i++)
		assert_int_equal(rvf_hnsw_delete(h, i), 0);
	check_ok(h, "deleting all");
	assert_int_equal(rvf_hnsw_search(h, W.queries.v, K, 64, NULL, r), 0);
	assert_int_equal(rvf_hnsw_compact(h), 0);
	check_ok(h, "compacting all away");
	assert_int_equal(rvf_hnsw_count(h), 0);
	assert_int_equal(rvf_hnsw_search(h, W.queries.v, K, 64, NULL, r), 0);
	assert_int_equal(rvf_hnsw_add(h, 5, W.base.v), 0);
	check_ok(h, "add after emptying");
	assert_int_equal(rvf_hnsw_search(h, W.base.v, K, 64, NULL, r), 1);
	assert_int_equal(r[0].label, 5);
	rvf_hnsw_free(h);
}

/* ---- save / load ------------------------------------------------------------ */

struct vec_src { const float *rows; uint64_t label_off; size_t n; size_t calls; int fail_at; };

static const float *get_vec(void *ctx, uint64_t label, uint32_t id)
{
	struct vec_src *s = ctx;

	(void)id;
	if (s->fail_at >= 0 && s->calls == (size_t)s->fail_at)
		return NULL;
	s->calls++;
	if (label < s->label_off || label - s->label_off >= s->n)
		return NULL;
	return s->rows + (label - s->label_off) * DIM;
}


static void same_results(const struct rvf_hnsw *a, const struct rvf_hnsw *b, const struct data_mat *qs)
{
	static const uint32_t efs[] = { 10, 64 };

	for (size_t e = 0; e < 2; e++)
		for (size_t i = 0; i < qs->n; i++) {
			struct rvf_hnsw_result ra[K], rb[K];
			int na = rvf_hnsw_search(a, qs->v + i * DIM, K, efs[e], NULL, ra);
			int nb = rvf_hnsw_search(b, qs->v + i * DIM, K, efs[e], NULL, rb);

			assert_int_equal(na, nb);
			same_result_lists(ra, rb, (size_t)na);
		}
}

static void save_load_round_trip_gives_identical_results(void **state)
{
	struct rvf_hnsw_opts o = { .threads = 2, .M = 12, .ef_construction = 100, .seed = 99 };
	struct rvf_hnsw *h = build(&W.small, SMALL_N, RVF_METRIC_L2, &o, LABEL_OFF);
	struct rvf_hnsw_opts got;
	void *b1 = NULL, *b2 = NULL, *b3 = NULL;
	size_t l1, l2, l3;
	(void)state;

	for (uint64_t i = 0; i < SMALL_N; i += 5)
		assert_int_equal(rvf_hnsw_delete(h, LABEL_OFF + i), 0);
	for (unsigned withv = 0; withv < 2; withv++) {
		struct vec_src src = { W.base.v, LABEL_OFF, SMALL_N, 0, -1 };
		struct rvf_hnsw *g = NULL;

		assert_int_equal(rvf_hnsw_save(h, withv ? RVF_HNSW_SAVE_VECTORS : 0, &b1, &l1), 0);
		assert_int_equal(rvf_hnsw_load(b1, l1, withv ? NULL : get_vec, &src, &g), 0);
		check_ok(g, "load");
		/* get_vec: once per live node, and only without vectors in the blob */
		assert_int_equal(src.calls, withv ? 0 : rvf_hnsw_live_count(h));
		assert_int_equal(rvf_hnsw_count(g), rvf_hnsw_count(h));
		assert_int_equal(rvf_hnsw_live_count(g), rvf_hnsw_live_count(h));
		rvf_hnsw_get_opts(g, &got);
		assert_int_equal(got.M, 12);
		assert_int_equal(got.ef_construction, 100);
		assert_int_equal(got.seed, 99);
		same_results(h, g, &W.squeries);
		/* saving the loaded index reproduces the blob byte for byte */
		assert_int_equal(rvf_hnsw_save(g, withv ? RVF_HNSW_SAVE_VECTORS : 0, &b2, &l2), 0);
		assert_int_equal(l1, l2);
		assert_memory_equal(b1, b2, l1);
		/* the loaded index keeps working: add, delete, compact */
		assert_int_equal(rvf_hnsw_add(g, 1, W.base.v + 5000 * DIM), 0);
		assert_int_equal(rvf_hnsw_delete(g, LABEL_OFF + 1), 0);
		check_ok(g, "mutating a loaded index");
		assert_int_equal(rvf_hnsw_compact(g), 0);
		check_ok(g, "compacting a loaded index");
		/* and adds to h and g in the same order keep them identical */
		rvf_hnsw_free(g);
		g = NULL;
		src.calls = 0;
		assert_int_equal(rvf_hnsw_load(b1, l1, get_vec, &src, &g), 0);
		assert_int_equal(rvf_hnsw_add(g, 77, W.base.v + 6000 * DIM), 0);
		if (withv) {
			assert_int_equal(rvf_hnsw_add(h, 77, W.base.v + 6000 * DIM), 0);
			assert_int_equal(rvf_hnsw_save(h, 0, &b3, &l3), 0);
			free(b2);
			assert_int_equal(rvf_hnsw_save(g, 0, &b2, &l2), 0);
			assert_int_equal(l2, l3);
			assert_memory_equal(b2, b3, l2);
			free(b3);
		}
		free(b1);
		free(b2);
		rvf_hnsw_free(g);
	}
	rvf_hnsw_free(h);
}

/* A delta against a base (a COW branch's graph against its parent's): the
 * base grown, upserted and tombstoned, saved as a delta and applied to a
 * fresh copy of the base, is the grown graph byte for byte. */
static void delta_on_a_copy_of_the_base_is_the_grown_graph(void **state)
{
	static const enum rvf_metric ms[] = { RVF_METRIC_L2, RVF_METRIC_COSINE };
	(void)state;

	for (size_t mi = 0; mi < 2; mi++) {
		struct rvf_hnsw_opts o = { .threads = 1, .M = 8, .ef_construction = 64, .seed = 5 };
		size_t nb = SMALL_N / 2, nn = SMALL_N / 8;
		struct rvf_hnsw *h = build(&W.small, nb, ms[mi], &o, LABEL_OFF), *g = NULL;
		struct vec_src src = { W.base.v, LABEL_OFF, SMALL_N, 0, -1 };
		uint64_t *hashes = NULL, fp = 0, fp2 = 0, *h2 = NULL;
		uint64_t labels[SMALL_N / 8];
		void *bb, *d, *x, *y;
		size_t bl, dl, xl, yl;

		assert_int_equal(rvf_hnsw_save(h, RVF_HNSW_SAVE_VECTORS, &bb, &bl), 0);
		assert_int_equal(rvf_hnsw_base_sign(h, &hashes, &fp), 0);
		for (size_t i = 0; i < nb; i += 11)
			assert_int_equal(rvf_hnsw_delete(h, LABEL_OFF + i), 0);
		for (size_t i = 0; i < nn; i++)
			labels[i] = LABEL_OFF + nb + i;
		assert_int_equal(rvf_hnsw_add_batch(h, labels, W.base.v + nb * DIM, nn), 0);
		float *up = malloc(nb * DIM * sizeof(float));
		size_t nup = 0;
		for (size_t i = 3; i < nb; i += 97) {       /* upserts of base labels */
			labels[nup] = LABEL_OFF + i;
			memcpy(up + nup++ * DIM, W.base.v + i * DIM, DIM * sizeof(float));
		}
		assert_int_equal(rvf_hnsw_add_batch(h, labels, up, nup), 0);
		free(up);
		for (size_t i = 0; i < nn; i++)
			labels[i] = LABEL_OFF + nb + i;
		for (size_t i = 0; i < nn; i += 13)
			assert_int_equal(rvf_hnsw_delete(h, labels[i]), 0);
		check_ok(h, "growing the base");
		assert_int_equal(rvf_hnsw_save_delta(h, hashes, nb, fp, &d, &dl), 0);
		assert_true(dl < bl);                       /* far less than the whole graph */

		assert_int_equal(rvf_hnsw_load(bb, bl, NULL, NULL, &g), 0);
		assert_int_equal(rvf_hnsw_base_sign(g, &h2, &fp2), 0);
		assert_int_equal(fp2, fp);
		free(h2);
		/* refused before any change: another base, damage */
		assert_int_equal(rvf_hnsw_load_delta(g, fp ^ 1, d, dl, get_vec, &src), -ESTALE);
		assert_int_equal(rvf_hnsw_load_delta(g, fp, d, dl - 1, get_vec, &src), -EUCLEAN);
		((uint8_t *)d)[dl / 2] ^= 1;
		assert_int_equal(rvf_hnsw_load_delta(g, fp, d, dl, get_vec, &src), -EBADMSG);
		((uint8_t *)d)[dl / 2] ^= 1;
		assert_int_equal(rvf_hnsw_save(g, RVF_HNSW_SAVE_VECTORS, &x, &xl), 0);
		assert_int_equal(xl, bl);
		assert_memory_equal(x, bb, bl);
		free(x);
		/* applied: the grown graph (on a base loaded with room for it too) */
		struct rvf_hnsw *roomy = NULL;
		assert_int_equal(rvf_hnsw_load_cap(bb, bl, NULL, NULL, nb + 2 * nn, &roomy), 0);
		assert_true(rvf_hnsw_memory_bytes(roomy) > rvf_hnsw_memory_bytes(g));
		assert_int_equal(rvf_hnsw_load_delta(roomy, fp, d, dl, get_vec, &src), 0);
		check_ok(roomy, "applying a delta within the reserved room");
		src.calls = 0;
		assert_int_equal(rvf_hnsw_load_delta(g, fp, d, dl, get_vec, &src), 0);
		check_ok(g, "applying a delta");
		assert_int_equal(src.calls, nn - (nn + 12) / 13 + (nb - 3 + 96) / 97);  /* live new nodes */
		assert_int_equal(rvf_hnsw_save(h, 0, &x, &xl), 0);
		assert_int_equal(rvf_hnsw_save(g, 0, &y, &yl), 0);
		assert_int_equal(xl, yl);
		assert_memory_equal(x, y, xl);
		same_results(h, g, &W.squeries);
		free(y);
		assert_int_equal(rvf_hnsw_save(roomy, 0, &y, &yl), 0);
		assert_int_equal(xl, yl);
		assert_memory_equal(x, y, xl);
		free(x);
		free(y);
		rvf_hnsw_free(roomy);
		rvf_hnsw_free(g);
		/* a base that tombstoned more since it was signed keeps those */
		g = NULL;
		assert_int_equal(rvf_hnsw_load(bb, bl, NULL, NULL, &g), 0);
		assert_int_equal(rvf_hnsw_delete(g, LABEL_OFF + 1), 0);
		assert_int_equal(rvf_hnsw_load_delta(g, fp, d, dl, get_vec, &src), 0);
		check_ok(g, "a delta on a base with more tombstones");
		assert_int_equal(rvf_hnsw_contains(g, LABEL_OFF + 1), 0);
		assert_int_equal(rvf_hnsw_live_count(g), rvf_hnsw_live_count(h) - 1);
		rvf_hnsw_free(g);
		free(bb);
		free(d);
		free(hashes);
		rvf_hnsw_free(h);
	}
}

static void big_index_round_trips_without_vectors(void **state)
{
	struct vec_src src = { W.base.v, LABEL_OFF, FM_N, 0, -1 };
	struct rvf_hnsw *g = NULL;
	void *b;
	size_t l;
	(void)state;

	assert_int_equal(rvf_hnsw_save(W.big, 0, &b, &l), 0);
	/* without vectors the blob is the graph: far smaller than the rows */
	assert_true(l < (size_t)FM_N * DIM);
	assert_int_equal(rvf_hnsw_load(b, l, get_vec, &src, &g), 0);
	check_ok(g, "load of the 20k index");
	same_results(W.big, g, &W.queries);
	free(b);
	rvf_hnsw_free(g);
}

static struct rvf_hnsw *small_graph_with_tombstones(uint32_t dim, size_t n, uint64_t seed)
{
	struct rvf_hnsw_opts o = { .threads = 1, .M = 4, .ef_construction = 32, .seed = seed };
	struct rvf_hnsw *h = NULL;
	struct tu_rng r;
	float *v = malloc(n * dim * sizeof(float));

	tu_rng_init(&r, seed);
	for (size_t i = 0; i < n * dim; i++)
		v[i] = (float)tu_rng_unit(&r);
	assert_int_equal(rvf_hnsw_new(dim, RVF_METRIC_L2, &o, &h), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rvf_hnsw_add(h, 1000 + i, v + i * dim), 0);
	for (size_t i = 0; i < n; i += 7)
		assert_int_equal(rvf_hnsw_delete(h, 1000 + i), 0);
	free(v);
	check_ok(h, "building the small graph");
	return h;
}

/* Recompute the trailing XXH3-64 after deliberate damage. */
static void store_sum(uint8_t *b, size_t l)
{
	uint64_t s = XXH3_64bits(b, l - 8);

	memcpy(b + l - 8, &s, 8);
}

static void corrupt_truncated_and_bit_flipped_blobs_are_rejected(void **state)
{
	struct rvf_hnsw *h = small_graph_with_tombstones(8, 200, W.seed + 41), *g = NULL;
	uint8_t *b, *c;
	size_t l;
	struct tu_rng r;
	size_t flips = 0, hostile_loaded = 0;
	(void)state;

	tu_rng_init(&r, W.seed + 42);
	assert_int_equal(rvf_hnsw_save(h, RVF_HNSW_SAVE_VECTORS, (void **)&b, &l), 0);
	c = malloc(l);
	/* every truncation */
	for (size_t n = 0; n < l; n++) {
		memcpy(c, b, n);
		g = NULL;
		assert_int_equal(rvf_hnsw_load(c, n, NULL, NULL, &g), -EUCLEAN);
		assert_null(g);
	}
	/* one flipped bit at every byte */
	for (size_t i = 0; i < l; i++) {
		int err;

		memcpy(c, b, l);
		c[i] ^= (uint8_t)(1u << tu_rng_below(&r, 8));
		g = NULL;
		err = rvf_hnsw_load(c, l, NULL, NULL, &g);
		if (i < 8)
			assert_int_equal(err, -ENOEXEC);          /* magic */
		else if (i < 12)
			assert_true(err == -ENOTSUP || err == -EUCLEAN);  /* version */
		else if (i >= 104 && i < 112)
			assert_int_equal(err, -EUCLEAN);          /* payload length */
		else
			assert_int_equal(err, -EBADMSG);          /* checksum */
		assert_null(g);
		flips++;
	}
	/* a newer version with a valid checksum: not supported */
	memcpy(c, b, l);
	c[8] = 2;
	store_sum(c, l);
	assert_int_equal(rvf_hnsw_load(c, l, NULL, NULL, &g), -ENOTSUP);
	/* hostile: random damage past the magic/version with a recomputed
	 * checksum must fail cleanly or load an index that works */
	for (int t = 0; t < 3000; t++) {
		int nflip = 1 + (int)tu_rng_below(&r, 4), err;

		memcpy(c, b, l);
		for (int f = 0; f < nflip; f++)
			c[12 + tu_rng_below(&r, l - 20)] ^= (uint8_t)(1u << tu_rng_below(&r, 8));
		store_sum(c, l);
		g = NULL;
		err = rvf_hnsw_load(c, l, NULL, NULL, &g);
		if (err) {
			assert_true(err == -EUCLEAN || err == -EINVAL || err == -ENOTSUP);
			assert_null(g);
			continue;
		}
		hostile_loaded++;
		{
			struct rvf_hnsw_result res[5];
			float q[8] = { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f };

			(void)rvf_hnsw_check(g);
			assert_true(rvf_hnsw_search(g, q, 5, 16, NULL, res) >= 0);
			assert_true(rvf_hnsw_exact_search(g, q, 5, 0, NULL, res) >= 0);
		}
		rvf_hnsw_free(g);
		g = NULL;
	}
	printf("info: %zu truncations, %zu bit flips rejected; %d hostile blobs with valid checksums: %zu loaded, rest rejected\n",
	       l, flips, 3000, hostile_loaded);
	/* a blob without vectors needs get_vec, and get_vec must deliver */
	free(b);
	assert_int_equal(rvf_hnsw_save(h, 0, (void **)&b, &l), 0);
	assert_int_equal(rvf_hnsw_load(b, l, NULL, NULL, &g), -EUCLEAN);
	{
		struct vec_src src = { W.base.v, 0, 0, 0, 3 };

		assert_int_equal(rvf_hnsw_load(b, l, get_vec, &src, &g), -EUCLEAN);
	}
	assert_null(g);
	assert_int_equal(rvf_hnsw_load(b, 0, NULL, NULL, &g), -EUCLEAN);
	assert_int_equal(rvf_hnsw_load(NULL, l, NULL, NULL, &g), -EINVAL);
	free(b);
	free(c);
	rvf_hnsw_free(h);
}


/* ---- determinism ------------------------------------------------------------ */

static void same_seed_and_serial_inserts_give_identical_graph_bytes(void **state)
{
	struct rvf_hnsw_opts o = { .threads = 1, .seed = 1234 };
	struct rvf_hnsw *a = NULL, *b = NULL, *c = NULL;
	void *ba, *bb, *bc;
	size_t la, lb, lc;
	uint64_t labels[1500];
	(void)state;

	assert_int_equal(rvf_hnsw_new(DIM, RVF_METRIC_L2, &o, &a), 0);
	assert_int_equal(rvf_hnsw_new(DIM, RVF_METRIC_L2, &o, &b), 0);
	assert_int_equal(rvf_hnsw_new(DIM, RVF_METRIC_L2, &o, &c), 0);
	for (uint64_t i = 0; i < 1500; i++) {
		labels[i] = i * 3;
		assert_int_equal(rvf_hnsw_add(a, i * 3, W.base.v + i * DIM), 0);
		assert_int_equal(rvf_hnsw_add(b, i * 3, W.base.v + i * DIM), 0);
	}
	/* add_batch with one thread builds the same graph as serial adds */
	assert_int_equal(rvf_hnsw_add_batch(c, labels, W.base.v, 1500), 0);
	check_ok(a, "serial adds");
	check_ok(c, "one-thread batch");
	assert_int_equal(rvf_hnsw_save(a, 0, &ba, &la), 0);
	assert_int_equal(rvf_hnsw_save(b, 0, &bb, &lb), 0);
	assert_int_equal(rvf_hnsw_save(c, 0, &bc, &lc), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	assert_int_equal(la, lc);
	assert_memory_equal(ba, bc, la);
	free(ba);
	free(bb);
	free(bc);
	rvf_hnsw_free(a);
	rvf_hnsw_free(b);
	rvf_hnsw_free(c);
}

/* ---- edge cases --------------------------------------------------------------- */

static void empty_index_searches_saves_and_loads(void **state)
{
	struct rvf_hnsw *h = NULL, *g = NULL;
	struct rvf_hnsw_result r[K];
	void *b;
	size_t l;
	(void)state;

	assert_int_equal(rvf_hnsw_new(DIM, RVF_METRIC_L2, NULL, &h), 0);
	check_ok(h, "new");
	assert_int_equal(rvf_hnsw_search(h, W.queries.v, K, 64, NULL, r), 0);
	assert_int_equal(rvf_hnsw_exact_search(h, W.queries.v, K, 64, NULL, r), 0);
	assert_int_equal(rvf_hnsw_delete(h, 1), -ENOENT);
	assert_false(rvf_hnsw_contains(h, 1));
	assert_null(rvf_hnsw_vector(h, 1));
	assert_int_equal(rvf_hnsw_label_of(h, 0, NULL, NULL), -ENOENT);
	assert_int_equal(rvf_hnsw_id_of(h, 1, NULL), -ENOENT);
	assert_int_equal(rvf_hnsw_add_batch(h, NULL, NULL, 0), 0);
	assert_int_equal(rvf_hnsw_maybe_compact(h, 0.1), 0);
	assert_int_equal(rvf_hnsw_compact(h), 0);
	assert_int_equal(rvf_hnsw_save(h, RVF_HNSW_SAVE_VECTORS, &b, &l), 0);
	assert_int_equal(rvf_hnsw_load(b, l, NULL, NULL, &g), 0);
	check_ok(g, "load of an empty index");
	assert_int_equal(rvf_hnsw_count(g), 0);
	assert_int_equal(rvf_hnsw_search(g, W.queries.v, K, 64, NULL, r), 0);
	/* k = 0 asks for nothing */
	assert_int_equal(rvf_hnsw_add(g, 1, W.base.v), 0);
	assert_int_equal(rvf_hnsw_search(g, W.queries.v, 0, 64, NULL, NULL), 0);
	/* k larger than the index: everything there is */
	assert_int_equal(rvf_hnsw_search(g, W.queries.v, K, 64, NULL, r), 1);
	free(b);
	rvf_hnsw_free(g);
	rvf_hnsw_free(h);
	rvf_hnsw_free(NULL);
}

static void bad_parameters_and_non_finite_vectors_are_rejected(void **state)
{
	struct rvf_hnsw *h = NULL;
	struct rvf_hnsw_opts o = { 0 };
	float v[2 * DIM];
	uint64_t labs[2] = { 1, 2 };
	(void)state;

	assert_int_equal(rvf_hnsw_new(0, RVF_METRIC_L2, NULL, &h), -EINVAL);
	assert_int_equal(rvf_hnsw_new(65537, RVF_METRIC_L2, NULL, &h), -EINVAL);
	assert_int_equal(rvf_hnsw_new(8, (enum rvf_metric)3, NULL, &h), -EINVAL);
	o.M = 1;
	assert_int_equal(rvf_hnsw_new(8, RVF_METRIC_L2, &o, &h), -EINVAL);
	o.M = 256;
	assert_int_equal(rvf_hnsw_new(8, RVF_METRIC_L2, &o, &h), -EINVAL);
	o.M = 0;
	o.quant = 3;
	assert_int_equal(rvf_hnsw_new(8, RVF_METRIC_L2, &o, &h), -EINVAL);
	assert_null(h);

	assert_int_equal(rvf_hnsw_new(DIM, RVF_METRIC_L2, NULL, &h), 0);
	memcpy(v, W.base.v, sizeof(v));
	v[DIM + 3] = NAN;
	assert_int_equal(rvf_hnsw_add_batch(h, labs, v, 2), -EINVAL);
	assert_int_equal(rvf_hnsw_count(h), 0);         /* nothing of the batch */
	v[DIM + 3] = INFINITY;
	assert_int_equal(rvf_hnsw_add(h, 2, v + DIM), -EINVAL);
	assert_int_equal(rvf_hnsw_add(h, 2, NULL), -EINVAL);
	assert_int_equal(rvf_hnsw_count(h), 0);
	check_ok(h, "rejected adds");
	assert_int_equal(rvf_hnsw_search(h, NULL, K, 10, NULL, NULL), -EINVAL);
	rvf_hnsw_free(h);
}

/* Random data at an awkward dimension: recall against exact search. */
static void odd_dims(uint32_t dim, size_t n, unsigned quant, uint64_t seed)
{
	struct rvf_hnsw_opts o = { .quant = quant, .threads = 2 };
	struct rvf_hnsw *h = NULL;
	struct tu_rng r;
	float *v = malloc(n * dim * sizeof(float)), *q = malloc(dim * sizeof(float));
	uint64_t *labs = malloc(n * sizeof(*labs));
	double hit = 0;
	int nq = 20;

	tu_rng_init(&r, seed);
	for (size_t i = 0; i < n * dim; i++)
		v[i] = (float)(tu_rng_unit(&r) * 10 - 5);
	for (size_t i = 0; i < n; i++)
		labs[i] = i;
	assert_int_equal(rvf_hnsw_new(dim, RVF_METRIC_L2, &o, &h), 0);
	assert_int_equal(rvf_hnsw_add_batch(h, labs, v, n), 0);
	check_ok(h, "odd-dimension build");
	for (int t = 0; t < nq; t++) {
		struct rvf_hnsw_result a[K], e[K];
		int na, ne;

		for (uint32_t d = 0; d < dim; d++)
			q[d] = (float)(tu_rng_unit(&r) * 10 - 5);
		na = rvf_hnsw_search(h, q, K, 100, NULL, a);
		ne = rvf_hnsw_exact_search(h, q, K, 0, NULL, e);
		assert_int_equal(na, ne);
		check_sorted_exact(h, q, a, na);
		for (int i = 0; i < na; i++)
			for (int j = 0; j < ne; j++)
				if (a[i].label == e[j].label) {
					hit++;
					break;
				}
	}
	if (hit / (nq * K) < 0.9)
		fail_msg("dim %u quant %u: recall@%d %.3f < 0.9", dim, quant, K, hit / (nq * K));
	free(v);
	free(q);
	free(labs);
	rvf_hnsw_free(h);
}

static void awkward_dimensions_work_with_and_without_quantisation(void **state)
{
	static const uint32_t dims[] = { 1, 2, 3, 15, 17, 31, 100, 129 };
	(void)state;

	for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
		odd_dims(dims[i], 800, RVF_HNSW_QUANT_SQ8, W.seed + 50 + i);
		odd_dims(dims[i], 800, RVF_HNSW_QUANT_NONE, W.seed + 60 + i);
	}
}

static void largest_dimension_is_accepted(void **state)
{
	struct rvf_hnsw *h = NULL;
	float *v = calloc(65536, sizeof(float));
	struct rvf_hnsw_result r[3];
	(void)state;

	assert_int_equal(rvf_hnsw_new(65536, RVF_METRIC_L2, NULL, &h), 0);
	for (uint64_t i = 0; i < 6; i++) {
		v[i * 1000] = 1.0f;
		assert_int_equal(rvf_hnsw_add(h, i, v), 0);
	}
	check_ok(h, "dim 65536");
	assert_int_equal(rvf_hnsw_search(h, v, 3, 10, NULL, r), 3);
	assert_int_equal(r[0].label, 5);
	assert_true(r[0].distance == 0.0f);
	free(v);
	rvf_hnsw_free(h);
}

static void identical_vectors_stay_reachable(void **state)
{
	struct rvf_hnsw *h = NULL;
	float v[16] = { 1, 2, 3 };
	struct rvf_hnsw_result r[K];
	(void)state;

	assert_int_equal(rvf_hnsw_new(16, RVF_METRIC_L2, NULL, &h), 0);
	for (uint64_t i = 0; i < 500; i++)
		assert_int_equal(rvf_hnsw_add(h, i, v), 0);
	check_ok(h, "500 identical vectors");
	assert_int_equal(rvf_hnsw_search(h, v, K, 10, NULL, r), K);
	/* equal distances: ties by label */
	for (int i = 0; i < K; i++)
		assert_true(r[i].distance == 0.0f);
	for (int i = 1; i < K; i++)
		assert_true(r[i].label > r[i - 1].label);
	rvf_hnsw_free(h);
}

/* A batch with a clique of identical vectors beside distinct points (a
 * shape real data has: duplicate images, default embeddings) builds a graph
 * that passes the check on one and two threads: the reachability repair
 * must not link a node twice from the same list. */
static void duplicate_clique_in_a_batch_passes_the_check(void **state)
{
	(void)state;
	for (uint32_t threads = 1; threads <= 2; threads++) {
		for (size_t dups = 70; dups <= 150; dups += 40) {
			struct rvf_hnsw_opts o = { .threads = threads };
			struct rvf_hnsw *h = NULL;
			size_t n = dups + 100;
			float *v = calloc(n * 2, sizeof(float));
			uint64_t *lab = calloc(n, 8);
			struct tu_rng r;

			tu_rng_init(&r, 99 + dups);
			for (size_t i = 0; i < n; i++) {
				lab[i] = i;
				v[2 * i] = i < dups ? 1.0f : (float)(tu_rng_unit(&r) * 20 - 10);
				v[2 * i + 1] = i < dups ? 1.0f : (float)(tu_rng_unit(&r) * 20 - 10);
			}
			assert_int_equal(rvf_hnsw_new(2, RVF_METRIC_L2, &o, &h), 0);
			assert_int_equal(rvf_hnsw_add_batch(h, lab, v, n), 0);
			check_ok(h, "a batch with a duplicate clique");
			rvf_hnsw_free(h);
			free(v);
			free(lab);
		}
	}
}

/* k results out of more than k (but fewer than ef) at equal distance: the
 * smallest labels, for graph search, exact search and a filtered search
 * alike, whatever order the nodes were inserted in (internal ids differ from
 * labels). */
static void ties_at_the_cut_go_to_the_smallest_labels(void **state)
{
	struct rvf_hnsw *h = NULL;
	float v[4] = { 3, 1, 4, 1 }, w[4];
	struct rvf_hnsw_result r[5];
	struct rvf_hnsw_filter odd = { .allow = allow_even_label };
	(void)state;

	assert_int_equal(rvf_hnsw_new(4, RVF_METRIC_L2, NULL, &h), 0);
	/* labels 30 down to 1 at v, then 200 other points */
	for (uint64_t i = 30; i >= 1; i--)
		assert_int_equal(rvf_hnsw_add(h, i, v), 0);
	for (uint64_t i = 0; i < 200; i++) {
		for (int j = 0; j < 4; j++)
			w[j] = v[j] + 1.0f + (float)((i * 7 + (uint64_t)j * 13) % 17);
		assert_int_equal(rvf_hnsw_add(h, 1000 + i, w), 0);
	}
	check_ok(h, "ties");
	for (int exact = 0; exact < 2; exact++) {
		for (int filt = 0; filt < 2; filt++) {
			int n = exact ? rvf_hnsw_exact_search(h, v, 5, 64, filt ? &odd : NULL, r)
				      : rvf_hnsw_search(h, v, 5, 64, filt ? &odd : NULL, r);
			assert_int_equal(n, 5);
			for (int i = 0; i < 5; i++) {
				assert_true(r[i].distance == 0.0f);
				assert_int_equal(r[i].label, filt ? (uint64_t)(2 * i + 2) : (uint64_t)(i + 1));
			}
		}
	}
	rvf_hnsw_free(h);
}

/* ---- metrics ------------------------------------------------------------------ */

/*
 * The SQ8 re-rank skips a candidate whose lower bound beats the k-th exact
 * distance; that is only sound if the bound never exceeds the exact
 * distance as computed. Checked for every (query, node) pair on rows meant
 * to hurt it: a large common offset (cancellation in |q|^2 - 2 q.x + |x|^2),
 * tiny spreads, one huge coordinate among small ones, odd dimensions, all
 * three metrics; and on Fashion-MNIST that it is tight enough to matter.
 */
static void bound_run(enum rvf_metric metric, uint32_t dim, double offset, double scale, int spike,
		      struct tu_rng *r)
{
	const size_t n = 300, nq = 30;
	struct data_mat b, q;
	struct rvf_hnsw *h;
	struct rvf_hnsw_opts o = { .threads = 2 };

	assert_int_equal(data_mat_alloc(&b, n, dim), 0);
	assert_int_equal(data_mat_alloc(&q, nq, dim), 0);
	for (size_t i = 0; i < (n + nq) * dim; i++) {
		float *v = i < n * dim ? &b.v[i] : &q.v[i - n * dim];

		*v = (float)(offset + scale * (tu_rng_unit(r) * 2.0 - 1.0));
		if (spike && tu_rng_below(r, 97) == 0)
			*v *= 1e4f;
	}
	h = build(&b, n, metric, &o, 0);
	for (size_t qi = 0; qi < nq; qi++) {
		for (uint32_t id = 0; id < n; id++) {
			float est, lb, ex;

			assert_int_equal(hnsw_sq8_bound(h, q.v + qi * dim, id, &est, &lb, &ex), 0);
			if (!(lb <= ex))
				fail_msg("metric %d dim %u offset %g scale %g spike %d: query %zu node %u: bound %.9g > "
					 "exact %.9g (estimate %.9g)", (int)metric, dim, offset, scale, spike, qi, id,
					 lb, ex, est);
		}
	}
	rvf_hnsw_free(h);
	data_mat_release(&b);
	data_mat_release(&q);
}

static void sq8_rerank_bound_never_exceeds_the_exact_distance(void **state)
{
	static const enum rvf_metric metrics[] = { RVF_METRIC_L2, RVF_METRIC_IP, RVF_METRIC_COSINE };
	struct tu_rng r;
	struct rvf_hnsw *h = W.big;
	size_t tight = 0, pairs = 0;
	(void)state;

	tu_rng_init(&r, W.seed ^ 0xb0u);
	for (size_t m = 0; m < 3; m++) {
		bound_run(metrics[m], 128, 0.0, 1.0, 0, &r);
		bound_run(metrics[m], 37, 1000.0, 0.5, 0, &r);
		bound_run(metrics[m], 65, 0.0, 1e-6, 0, &r);
		bound_run(metrics[m], 200, 3.0, 1.0, 1, &r);
	}
	/* Fashion-MNIST: the bound is within 10% of the distance for most
	 * pairs of near neighbours, so the re-rank really skips rows */
	for (size_t qi = 0; qi < 20; qi++) {
		const uint32_t *nn = W.gt.ids + qi * W.gt.k;

		for (uint32_t j = 0; j < W.gt.k; j++) {
			float est, lb, ex;

			assert_int_equal(hnsw_sq8_bound(h, W.queries.v + qi * DIM, nn[j], &est, &lb, &ex), 0);
			assert_true(lb <= ex);
			tight += lb >= 0.9f * ex;
			pairs++;
		}
	}
	printf("info: bound within 10%% of the exact distance for %zu of %zu near pairs\n", tight, pairs);
	assert_true(tight * 10 >= pairs * 9);
}

/* Rows borrowed from the caller: same graph and results as an index that
 * copies them (serial build, same seed), a fraction of the memory, and
 * delete/compact/save/load keep working. */
static const float *small_row(void *ctx, uint64_t label, uint32_t id)
{
	const struct data_mat *m = ctx;
	(void)id;

	return label - LABEL_OFF < m->n ? m->v + (label - LABEL_OFF) * m->dim : NULL;
}

static void borrowed_rows_give_the_owned_results_in_less_memory(void **state)
{
	struct rvf_hnsw_opts own = { .threads = 1 }, bor = { .threads = 1, .rows = small_row, .rows_ctx = &W.small };
	struct rvf_hnsw *a, *b, *c = NULL, *bad = NULL;
	void *buf;
	size_t len, rowbytes = (size_t)SMALL_N * DIM * 4;
	(void)state;

	a = build(&W.small, SMALL_N, RVF_METRIC_L2, &own, LABEL_OFF);
	b = build(&W.small, SMALL_N, RVF_METRIC_L2, &bor, LABEL_OFF);
	same_results(a, b, &W.squeries);
	printf("info: %zu rows: %zu bytes owned, %zu borrowed\n", (size_t)SMALL_N, rvf_hnsw_memory_bytes(a),
	       rvf_hnsw_memory_bytes(b));
	assert_true(rvf_hnsw_memory_bytes(b) + rowbytes <= rvf_hnsw_memory_bytes(a));
	assert_memory_equal(rvf_hnsw_vector(b, LABEL_OFF + 5), W.small.v + 5 * DIM, DIM * 4);
	/* save (vectors included, read through the callback) and load: owned */
	assert_int_equal(rvf_hnsw_save(b, RVF_HNSW_SAVE_VECTORS, &buf, &len), 0);
	assert_int_equal(rvf_hnsw_load(buf, len, NULL, NULL, &c), 0);
	free(buf);
	same_results(b, c, &W.squeries);
	rvf_hnsw_free(c);
	/* tombstones route through borrowed rows; compaction keeps borrowing */
	for (uint64_t i = 0; i < SMALL_N; i += 3)
		assert_int_equal(rvf_hnsw_delete(b, LABEL_OFF + i), 0);
	check_ok(b, "borrowed rows, a third deleted");
	assert_int_equal(rvf_hnsw_compact(b), 0);
	check_ok(b, "borrowed rows, compacted");
	assert_int_equal(rvf_hnsw_live_count(b), SMALL_N - (SMALL_N + 2) / 3);
	{
		size_t hit = 0;

		for (size_t i = 0; i < W.squeries.n; i++) {
			struct rvf_hnsw_result rg[K], rx[K];
			int ng = rvf_hnsw_search(b, W.squeries.v + i * DIM, K, 64, NULL, rg);
			int nx = rvf_hnsw_exact_search(b, W.squeries.v + i * DIM, K, 0, NULL, rx);

			assert_int_equal(ng, K);
			assert_int_equal(nx, K);
			for (int x = 0; x < nx; x++)
				for (int g = 0; g < ng; g++)
					hit += rx[x].label == rg[g].label;
		}
		need_recall((double)hit / (double)(W.squeries.n * K), 0.95,
			    "borrowed rows, compacted, against exact search, ef=64");
	}
	/* unsupported combinations */
	bor.quant = RVF_HNSW_QUANT_NONE;
	assert_int_equal(rvf_hnsw_new(DIM, RVF_METRIC_L2, &bor, &bad), -EINVAL);
	bor.quant = 0;
	assert_int_equal(rvf_hnsw_new(DIM, RVF_METRIC_COSINE, &bor, &bad), -EINVAL);
	assert_null(bad);
	rvf_hnsw_free(a);
	rvf_hnsw_free(b);
}

static void normalise_rows(struct data_mat *m)
{
	for (size_t i = 0; i < m->n; i++) {
		float *r = m->v + i * m->dim;
		double s = 0;

		for (uint32_t d = 0; d < m->dim; d++)
			s += (double)r[d] * r[d];
		s = s > 0 ? 1.0 / sqrt(s) : 0;
		for (uint32_t d = 0; d < m->dim; d++)
			r[d] = (float)(r[d] * s);
	}
}

static void metric_run(enum rvf_metric metric, int normalise, const char *what)
{
	struct data_mat b, q;
	struct data_gt gt;
	struct rvf_hnsw_opts o = { .threads = 2 };
	struct rvf_hnsw *h;

	assert_int_equal(data_mat_alloc(&b, SMALL_N, DIM), 0);
	assert_int_equal(data_mat_alloc(&q, SMALL_Q, DIM), 0);
	memcpy(b.v, W.base.v, (size_t)SMALL_N * DIM * 4);
	memcpy(q.v, W.queries.v, (size_t)SMALL_Q * DIM * 4);
	if (normalise) {
		normalise_rows(&b);
		normalise_rows(&q);
	}
	assert_int_equal(data_gt_compute(&b, &q, metric, K, 2, &gt), 0);
	h = build(&b, SMALL_N, metric, &o, LABEL_OFF);
	need_recall(recall_of(h, &q, &gt, 64, NULL, LABEL_OFF), 0.95, what);
	/* the stored vector is the one inserted, even for cosine */
	assert_memory_equal(rvf_hnsw_vector(h, LABEL_OFF + 17), b.v + 17 * DIM, DIM * 4);
	rvf_hnsw_free(h);
	data_gt_release(&gt);
	data_mat_release(&b);
	data_mat_release(&q);
}

static void inner_product_and_cosine_reach_the_recall_target(void **state)
{
	(void)state;
	metric_run(RVF_METRIC_IP, 1, "inner product, normalised rows, ef=64");
	metric_run(RVF_METRIC_COSINE, 1, "cosine, normalised rows, ef=64");
	metric_run(RVF_METRIC_COSINE, 0, "cosine, raw rows, ef=64");
	metric_run(RVF_METRIC_L2, 1, "L2, normalised rows, ef=64");
}

static void cosine_zero_vector_has_distance_one(void **state)
{
	struct rvf_hnsw *h = NULL;
	float z[8] = { 0 }, x[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	struct rvf_hnsw_result r[2];
	(void)state;

	assert_int_equal(rvf_hnsw_new(8, RVF_METRIC_COSINE, NULL, &h), 0);
	assert_int_equal(rvf_hnsw_add(h, 1, z), 0);
	assert_int_equal(rvf_hnsw_add(h, 2, x), 0);
	check_ok(h, "cosine with a zero vector");
	assert_int_equal(rvf_hnsw_search(h, x, 2, 10, NULL, r), 2);
	assert_int_equal(r[0].label, 2);
	assert_true(fabsf(r[0].distance) < 1e-6f);
	assert_int_equal(r[1].label, 1);
	assert_true(fabsf(r[1].distance - 1.0f) < 1e-6f);
	rvf_hnsw_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recall_at_10_reaches_095_at_ef64_on_fashion_mnist_20k),
		cmocka_unit_test(unquantised_traversal_reaches_the_same_recall),
		cmocka_unit_test(ef_below_k_searches_with_ef_equal_to_k),
		cmocka_unit_test(exact_search_matches_brute_force_ground_truth),
		cmocka_unit_test(filtered_recall_with_bitmap_at_50_10_and_1_percent),
		cmocka_unit_test(filtered_recall_with_callback_at_50_10_and_1_percent),
		cmocka_unit_test(filter_admitting_nothing_returns_no_results),
		cmocka_unit_test(bitmap_and_callback_combine_as_and),
		cmocka_unit_test(concurrent_searches_give_the_serial_results),
		cmocka_unit_test(caller_context_gives_the_pooled_results_across_indexes),
		cmocka_unit_test(deleted_labels_are_never_returned),
		cmocka_unit_test(reinserted_label_is_live_again_with_its_new_vector),
		cmocka_unit_test(deleting_every_node_leaves_an_empty_but_valid_index),
		cmocka_unit_test(save_load_round_trip_gives_identical_results),
		cmocka_unit_test(big_index_round_trips_without_vectors),
		cmocka_unit_test(corrupt_truncated_and_bit_flipped_blobs_are_rejected),
		cmocka_unit_test(same_seed_and_serial_inserts_give_identical_graph_bytes),
		cmocka_unit_test(empty_index_searches_saves_and_loads),
		cmocka_unit_test(bad_parameters_and_non_finite_vectors_are_rejected),
		cmocka_unit_test(awkward_dimensions_work_with_and_without_quantisation),
		cmocka_unit_test(largest_dimension_is_accepted),
		cmocka_unit_test(identical_vectors_stay_reachable),
		cmocka_unit_test(duplicate_clique_in_a_batch_passes_the_check),
		cmocka_unit_test(ties_at_the_cut_go_to_the_smallest_labels),
		cmocka_unit_test(inner_product_and_cosine_reach_the_recall_target),
		cmocka_unit_test(cosine_zero_vector_has_distance_one),
		cmocka_unit_test(sq8_rerank_bound_never_exceeds_the_exact_distance),
		cmocka_unit_test(borrowed_rows_give_the_owned_results_in_less_memory),
		cmocka_unit_test(delta_on_a_copy_of_the_base_is_the_grown_graph),
	};

	/* the recall figures below are for these kernels */
	if (rvf_simd_init()) {
		printf("rvf_simd_init: %s\n", rvf_last_error());
		return 1;
	}
	printf("info: distance kernels: %s\n", rvf_simd_name());
	return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
