/*
 * test_hnsw.c - the HNSW index (include/rvf/index.h) on real data: recall on
 * a 20,000-vector Fashion-MNIST subset against exact ground truth, filtered
 * search (bitmap and callback; random and class-correlated filters, the
 * planner's choice) against exact filtered ground truth,
 * concurrent searches, caller-owned search contexts, the big index saved
 * without vectors, and the error bound that lets the SQ8 re-rank skip rows
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
#include "hnsw_fixture.h"

/* ---- recall ----------------------------------------------------------------- */

static void recall_at_10_reaches_095_at_ef64_on_fashion_mnist_20k(void **state)
{
	(void)state;
	hw_check_ok(hw_W.big, "the 2-thread batch build");
	hw_need_recall(hw_recall_of(hw_W.big, &hw_W.queries, &hw_W.gt, 64, NULL, LABEL_OFF), 0.95, "fmnist 20k, ef=64");
	/* more ef never hurts much; the cheapest setting still finds most */
	hw_need_recall(hw_recall_of(hw_W.big, &hw_W.queries, &hw_W.gt, 256, NULL, LABEL_OFF), 0.99, "fmnist 20k, ef=256");
	hw_need_recall(hw_recall_of(hw_W.big, &hw_W.queries, &hw_W.gt, 10, NULL, LABEL_OFF), 0.80, "fmnist 20k, ef=10");
}

static void unquantised_traversal_reaches_the_same_recall(void **state)
{
	struct rvf_hnsw_opts o = { .quant = RVF_HNSW_QUANT_NONE, .threads = 2 };
	struct rvf_hnsw *h = hw_build(&hw_W.small, SMALL_N, RVF_METRIC_L2, &o, LABEL_OFF);

	(void)state;
	hw_need_recall(hw_recall_of(h, &hw_W.squeries, &hw_W.sgt, 64, NULL, LABEL_OFF), 0.95, "quant=none 3k, ef=64");
	rvf_hnsw_free(h);
}

static void ef_below_k_searches_with_ef_equal_to_k(void **state)
{
	struct rvf_hnsw_result a[50], b[50];
	(void)state;

	for (size_t i = 0; i < 20; i++) {
		const float *q = hw_W.queries.v + i * DIM;
		int na = rvf_hnsw_search(hw_W.big, q, 50, 1, NULL, a);
		int nb = rvf_hnsw_search(hw_W.big, q, 50, 50, NULL, b);

		assert_int_equal(na, 50);
		assert_int_equal(nb, 50);
		hw_same_result_lists(a, b, 50);
	}
}

static void exact_search_matches_brute_force_ground_truth(void **state)
{
	(void)state;
	for (size_t i = 0; i < 20; i++) {
		struct rvf_hnsw_result r[K];
		int n = rvf_hnsw_exact_search(hw_W.big, hw_W.queries.v + i * DIM, K, 0, NULL, r);

		assert_int_equal(n, K);
		for (int j = 0; j < K; j++)
			assert_int_equal(r[j].label - LABEL_OFF, hw_W.gt.ids[i * K + j]);
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
		memcpy(sub.v + m * DIM, hw_W.base.v + i * DIM, DIM * sizeof(float));
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
			assert_int_equal(rvf_hnsw_id_of(hw_W.big, LABEL_OFF + i, &id), 0);
			bitmap[id / 64] |= 1ull << (id % 64);
		}
	}
	filtered_gt(allowed, &hw_W.queries, &gt);
	if (use_bitmap) {
		f.bitmap = bitmap;
	} else {
		f.allow = allow_cb;
		f.ctx = &ac;
	}
	/* every result allowed */
	for (size_t i = 0; i < hw_W.queries.n; i++) {
		struct rvf_hnsw_result res[K];
		int n = rvf_hnsw_search(hw_W.big, hw_W.queries.v + i * DIM, K, 64, &f, res);

		assert_int_equal(n, K);   /* excluded nodes do not use up ef */
		for (int j = 0; j < n; j++)
			assert_true(allowed[res[j].label - LABEL_OFF]);
	}
	rec = hw_recall_of(hw_W.big, &hw_W.queries, &gt, 64, &f, LABEL_OFF);
	snprintf(what, sizeof(what), "filtered %s, %.0f%% allowed (%zu ids), ef=64", use_bitmap ? "bitmap" : "callback",
		 frac * 100, nallowed);
	hw_need_recall(rec, 0.95, what);
	if (!use_bitmap)
		assert_true(ac.calls > 0);
	/* a selectivity hint must not change correctness */
	f.selectivity = frac;
	rec = hw_recall_of(hw_W.big, &hw_W.queries, &gt, 64, &f, LABEL_OFF);
	snprintf(what, sizeof(what), "filtered %s, %.0f%% allowed, selectivity hint", use_bitmap ? "bitmap" : "callback",
		 frac * 100);
	hw_need_recall(rec, 0.95, what);
	/* An overstated hint keeps the search on the graph even where the cost
	 * model would scan: the traversal itself must reach the target. */
	f.selectivity = 1.0;
	rec = hw_recall_of(hw_W.big, &hw_W.queries, &gt, 64, &f, LABEL_OFF);
	snprintf(what, sizeof(what), "filtered %s, %.0f%% allowed, graph traversal forced",
		 use_bitmap ? "bitmap" : "callback", frac * 100);
	hw_need_recall(rec, 0.95, what);
	data_gt_release(&gt);
	free(allowed);
	free(bitmap);
}

static void filtered_recall_with_bitmap_at_50_10_and_1_percent(void **state)
{
	(void)state;
	filtered_run(0.50, 1, hw_W.seed + 11);
	filtered_run(0.10, 1, hw_W.seed + 12);
	filtered_run(0.01, 1, hw_W.seed + 13);
}

static void filtered_recall_with_callback_at_50_10_and_1_percent(void **state)
{
	(void)state;
	filtered_run(0.50, 0, hw_W.seed + 21);
	filtered_run(0.10, 0, hw_W.seed + 22);
	filtered_run(0.01, 0, hw_W.seed + 23);
}

static int allow_none(void *ctx, uint64_t label, uint32_t id)
{
	(void)ctx; (void)label; (void)id;
	return 0;
}

static void filter_admitting_nothing_returns_no_results(void **state)
{
	struct rvf_hnsw_filter f = { .allow = allow_none };
	struct rvf_hnsw_result r[K];
	uint64_t *zero = calloc((FM_N + 63) / 64, sizeof(uint64_t));
	(void)state;

	assert_int_equal(rvf_hnsw_search(hw_W.big, hw_W.queries.v, K, 64, &f, r), 0);
	f.allow = NULL;
	f.bitmap = zero;
	assert_int_equal(rvf_hnsw_search(hw_W.big, hw_W.queries.v, K, 64, &f, r), 0);
	free(zero);
}

static void bitmap_and_callback_combine_as_and(void **state)
{
	uint64_t *bm = calloc((FM_N + 63) / 64, sizeof(uint64_t));
	struct rvf_hnsw_filter f = { .bitmap = bm, .allow = hw_allow_even_label };
	struct rvf_hnsw_result r[K];
	(void)state;

	/* bitmap: the first half of internal ids; callback: even labels */
	for (uint32_t i = 0; i < FM_N / 2; i++)
		bm[i / 64] |= 1ull << (i % 64);
	for (size_t q = 0; q < 20; q++) {
		int n = rvf_hnsw_search(hw_W.big, hw_W.queries.v + q * DIM, K, 32, &f, r);

		assert_int_equal(n, K);
		for (int j = 0; j < n; j++) {
			uint32_t id;

			assert_int_equal(r[j].label & 1, 0);
			assert_int_equal(rvf_hnsw_id_of(hw_W.big, r[j].label, &id), 0);
			assert_true(id < FM_N / 2);
		}
	}
	free(bm);
}

/*
 * A filter correlated with the query: the Fashion-MNIST class, "class < 5"
 * (half the index; a query of footwear has no admitted neighbour nearby)
 * and "class = 7" (sneakers, 10%). As bitmaps these take the two-hop
 * search; every result is admitted and recall against exact filtered ground
 * truth holds at ef=64, also with the filter's plain graph search forced
 * (a selectivity hint of 1) and with the scan the planner picks at a large ef.
 */
static void correlated_class_filter_keeps_recall_in_the_two_hop_search(void **state)
{
	struct data_mat lab = { 0 };
	(void)state;

	assert_int_equal(data_load(DATA_FMNIST_DIR "/train-labels-idx1-ubyte.gz", DATA_FMT_IDX, FM_N, &lab), 0);
	assert_int_equal(lab.n, FM_N);
	for (int which = 0; which < 2; which++) {
		uint8_t *allowed = calloc(FM_N, 1);
		uint64_t *bitmap = calloc((FM_N + 63) / 64, sizeof(uint64_t));
		struct rvf_hnsw_filter f = { .bitmap = bitmap };
		struct data_gt gt;
		size_t nallowed = 0;
		char what[128];

		for (size_t i = 0; i < FM_N; i++) {
			unsigned cls = (unsigned)lab.v[i];
			uint32_t id;

			if (which ? cls != 7 : cls >= 5)
				continue;
			allowed[i] = 1;
			nallowed++;
			assert_int_equal(rvf_hnsw_id_of(hw_W.big, LABEL_OFF + i, &id), 0);
			bitmap[id / 64] |= 1ull << (id % 64);
		}
		filtered_gt(allowed, &hw_W.queries, &gt);
		f.selectivity = (double)nallowed / FM_N;
		assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 16, &f), RVF_HNSW_PLAN_GRAPH_2HOP);
		for (size_t i = 0; i < hw_W.queries.n; i++) {
			struct rvf_hnsw_result res[K];
			int n = rvf_hnsw_search(hw_W.big, hw_W.queries.v + i * DIM, K, 16, &f, res);

			assert_int_equal(n, K);
			hw_check_sorted_exact(hw_W.big, hw_W.queries.v + i * DIM, res, n);
			for (int j = 0; j < n; j++)
				assert_true(allowed[res[j].label - LABEL_OFF]);
		}
		snprintf(what, sizeof(what), "class %s (%zu ids), ef=64 (%s)", which ? "= 7" : "< 5", nallowed,
			 rvf_hnsw_plan(hw_W.big, K, 64, &f) == RVF_HNSW_PLAN_EXACT ? "scan" : "two-hop");
		hw_need_recall(hw_recall_of(hw_W.big, &hw_W.queries, &gt, 64, &f, LABEL_OFF), 0.98, what);
		snprintf(what, sizeof(what), "class %s, two-hop, ef=16", which ? "= 7" : "< 5");
		hw_need_recall(hw_recall_of(hw_W.big, &hw_W.queries, &gt, 16, &f, LABEL_OFF), 0.93, what);
		f.selectivity = 1.0;
		assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_GRAPH);
		snprintf(what, sizeof(what), "class %s, plain graph forced, ef=64", which ? "= 7" : "< 5");
		hw_need_recall(hw_recall_of(hw_W.big, &hw_W.queries, &gt, 64, &f, LABEL_OFF), 0.95, what);
		f.selectivity = (double)nallowed / FM_N;
		if (which) {
			assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 256, &f), RVF_HNSW_PLAN_EXACT);
			hw_need_recall(hw_recall_of(hw_W.big, &hw_W.queries, &gt, 256, &f, LABEL_OFF), 1.0,
				       "class = 7, ef=256: the planner scans");
		}
		data_gt_release(&gt);
		free(allowed);
		free(bitmap);
	}
	data_mat_release(&lab);
}

/* The one planner: a scan below TWOHOP_SCAN * ef admitted nodes (16 ef), or
 * where the width-weighted plain rule says so, for a bitmap under 60%; the
 * two-hop graph above that, the plain graph for a
 * bitmap admitting most nodes or a callback (a per-node call is too dear
 * to probe two hops with); a scan answers exactly what rvf_hnsw_exact_search
 * does, in the same order. */
static void planner_scans_below_the_threshold_and_walks_the_graph_above(void **state)
{
	uint64_t *ones = calloc((FM_N + 63) / 64, sizeof(uint64_t));
	struct rvf_hnsw_filter f = { .bitmap = ones };
	struct rvf_hnsw_result a[K], b[K];
	(void)state;

	memset(ones, 0xff, (FM_N + 63) / 64 * sizeof(uint64_t));
	f.selectivity = 16.0 * 64 / FM_N * 0.99;         /* just under 16 ef */
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_EXACT);
	f.selectivity = 16.0 * 64 / FM_N * 1.01;
	/* just over 16 ef, but rows of 784 floats: the width-weighted plain
	 * rule (sel^2 live 784/128 < 32 ef) still scans */
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_EXACT);
	f.selectivity = 0.3;
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_GRAPH_2HOP);
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 10, &f), RVF_HNSW_PLAN_GRAPH_2HOP);
	f.selectivity = 0.1;        /* 2,000 admitted: two-hop at ef 10, a scan at 64 */
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 10, &f), RVF_HNSW_PLAN_GRAPH_2HOP);
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_EXACT);
	f.selectivity = 0.59;
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_GRAPH_2HOP);
	f.selectivity = 0.61;
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_GRAPH);
	/* ef below k plans as ef = k */
	f.selectivity = 16.0 * 10 / FM_N * 0.99;
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 1, &f), RVF_HNSW_PLAN_EXACT);
	f = (struct rvf_hnsw_filter){ .allow = hw_allow_even_label, .selectivity = 0.5 };
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_GRAPH);
	f.selectivity = 0.001;
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, &f), RVF_HNSW_PLAN_EXACT);
	assert_int_equal(rvf_hnsw_plan(hw_W.big, K, 64, NULL), RVF_HNSW_PLAN_GRAPH);
	/* the scan the planner picks is the exact search, result for result */
	f = (struct rvf_hnsw_filter){ .bitmap = ones, .selectivity = 0.01 };
	for (size_t q = 0; q < 20; q++) {
		const float *v = hw_W.queries.v + q * DIM;

		assert_int_equal(rvf_hnsw_search(hw_W.big, v, K, 64, &f, a), K);
		assert_int_equal(rvf_hnsw_exact_search(hw_W.big, v, K, 64, NULL, b), K);
		hw_same_result_lists(a, b, K);
	}
	free(ones);
}

struct par { const struct rvf_hnsw *h; size_t q0, n; struct rvf_hnsw_result *out; };

static void *par_search(void *arg)
{
	struct par *p = arg;

	for (size_t i = 0; i < p->n; i++)
		if (rvf_hnsw_search(p->h, hw_W.queries.v + (p->q0 + i) * DIM, K, 48, NULL, p->out + i * K) != K)
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
		assert_int_equal(rvf_hnsw_search(hw_W.big, hw_W.queries.v + i * DIM, K, 48, NULL, serial + i * K), K);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct par){ hw_W.big, (size_t)i * (FM_Q / 4), FM_Q / 4, par + (size_t)i * (FM_Q / 4) * K };
		assert_int_equal(pthread_create(&t[i], NULL, par_search, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;

		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	hw_same_result_lists(serial, par, FM_Q * K);
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
	struct rvf_hnsw *small = hw_build(&hw_W.small, SMALL_N / 2, RVF_METRIC_L2, &so, 0), *tiny = NULL;
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
			const float *q = hw_W.queries.v + i * DIM;
			const struct rvf_hnsw *h = i % 2 ? hw_W.big : small;
			int n = rvf_hnsw_search(h, q, K, 48, NULL, a);

			assert_int_equal(rvf_hnsw_search_with(h, c, q, K, 48, NULL, b), n);
			hw_same_result_lists(a, b, (size_t)n);
			n = rvf_hnsw_search(h, q, K, 48, &f, a);
			assert_int_equal(rvf_hnsw_search_with(h, c, q, K, 48, &f, b), n);
			hw_same_result_lists(a, b, (size_t)n);
			n = rvf_hnsw_exact_search(h, q, K, 0, &f, a);
			assert_int_equal(rvf_hnsw_exact_search_with(h, c, q, K, 0, &f, b), n);
			hw_same_result_lists(a, b, (size_t)n);
		}
		/* grow the small index well past its reserved capacity */
		if (round == 0) {
			uint64_t *labels = malloc(SMALL_N / 2 * sizeof(*labels));
			for (size_t i = 0; i < SMALL_N / 2; i++)
				labels[i] = SMALL_N / 2 + i;
			assert_int_equal(rvf_hnsw_add_batch(small, labels, hw_W.small.v + (size_t)(SMALL_N / 2) * DIM,
							    SMALL_N / 2), 0);
			free(labels);
		}
	}
	/* a smaller dimension and then the large one again */
	assert_int_equal(rvf_hnsw_new(3, RVF_METRIC_IP, &so, &tiny), 0);
	assert_int_equal(rvf_hnsw_add(tiny, 7, q3), 0);
	assert_int_equal(rvf_hnsw_search_with(tiny, c, q3, 1, 0, NULL, b), 1);
	assert_int_equal(b[0].label, 7);
	assert_int_equal(rvf_hnsw_search_with(hw_W.big, c, hw_W.queries.v, K, 48, NULL, b), K);
	assert_int_equal(rvf_hnsw_search(hw_W.big, hw_W.queries.v, K, 48, NULL, a), K);
	hw_same_result_lists(a, b, K);
	assert_int_equal(rvf_hnsw_search_with(hw_W.big, NULL, hw_W.queries.v, K, 48, NULL, b), -EINVAL);
	assert_int_equal(rvf_hnsw_search_ctx_reserve(c, NULL, 0), -EINVAL);
	rvf_hnsw_search_ctx_free(c);
	rvf_hnsw_search_ctx_free(NULL);
	rvf_hnsw_free(tiny);
	rvf_hnsw_free(small);
	free(bm);
}

static void big_index_round_trips_without_vectors(void **state)
{
	struct vec_src src = { hw_W.base.v, LABEL_OFF, FM_N, 0, -1 };
	struct rvf_hnsw *g = NULL;
	void *b;
	size_t l;
	(void)state;

	assert_int_equal(rvf_hnsw_save(hw_W.big, 0, &b, &l), 0);
	/* without vectors the blob is the graph: far smaller than the rows */
	assert_true(l < (size_t)FM_N * DIM);
	assert_int_equal(rvf_hnsw_load(b, l, hw_get_vec, &src, &g), 0);
	hw_check_ok(g, "load of the 20k index");
	hw_same_results(hw_W.big, g, &hw_W.queries);
	free(b);
	rvf_hnsw_free(g);
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
	h = hw_build(&b, n, metric, &o, 0);
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
	struct rvf_hnsw *h = hw_W.big;
	size_t tight = 0, pairs = 0;
	(void)state;

	tu_rng_init(&r, hw_W.seed ^ 0xb0u);
	for (size_t m = 0; m < 3; m++) {
		bound_run(metrics[m], 128, 0.0, 1.0, 0, &r);
		bound_run(metrics[m], 37, 1000.0, 0.5, 0, &r);
		bound_run(metrics[m], 65, 0.0, 1e-6, 0, &r);
		bound_run(metrics[m], 200, 3.0, 1.0, 1, &r);
	}
	/* Fashion-MNIST: the bound is within 10% of the distance for most
	 * pairs of near neighbours, so the re-rank really skips rows */
	for (size_t qi = 0; qi < 20; qi++) {
		const uint32_t *nn = hw_W.gt.ids + qi * hw_W.gt.k;

		for (uint32_t j = 0; j < hw_W.gt.k; j++) {
			float est, lb, ex;

			assert_int_equal(hnsw_sq8_bound(h, hw_W.queries.v + qi * DIM, nn[j], &est, &lb, &ex), 0);
			assert_true(lb <= ex);
			tight += lb >= 0.9f * ex;
			pairs++;
		}
	}
	printf("info: bound within 10%% of the exact distance for %zu of %zu near pairs\n", tight, pairs);
	assert_true(tight * 10 >= pairs * 9);
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
		cmocka_unit_test(correlated_class_filter_keeps_recall_in_the_two_hop_search),
		cmocka_unit_test(planner_scans_below_the_threshold_and_walks_the_graph_above),
		cmocka_unit_test(concurrent_searches_give_the_serial_results),
		cmocka_unit_test(caller_context_gives_the_pooled_results_across_indexes),
		cmocka_unit_test(big_index_round_trips_without_vectors),
		cmocka_unit_test(sq8_rerank_bound_never_exceeds_the_exact_distance),
	};

	/* the recall figures below are for these kernels */
	if (tu_simd_announce())
		return 1;
	return cmocka_run_group_tests(tests, hw_world_setup, hw_world_teardown);
}
