/*
 * test_hnsw_edge.c - the HNSW index at its edges: bad parameters and non-
 * finite vectors, awkward and largest dimensions, identical vectors and
 * duplicate cliques, ties at the cut, inner product and cosine, borrowed
 * rows.
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
	memcpy(v, hw_W.base.v, sizeof(v));
	v[DIM + 3] = NAN;
	assert_int_equal(rvf_hnsw_add_batch(h, labs, v, 2), -EINVAL);
	assert_int_equal(rvf_hnsw_count(h), 0);         /* nothing of the batch */
	v[DIM + 3] = INFINITY;
	assert_int_equal(rvf_hnsw_add(h, 2, v + DIM), -EINVAL);
	assert_int_equal(rvf_hnsw_add(h, 2, NULL), -EINVAL);
	assert_int_equal(rvf_hnsw_count(h), 0);
	hw_check_ok(h, "rejected adds");
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
	hw_check_ok(h, "odd-dimension build");
	for (int t = 0; t < nq; t++) {
		struct rvf_hnsw_result a[K], e[K];
		int na, ne;

		for (uint32_t d = 0; d < dim; d++)
			q[d] = (float)(tu_rng_unit(&r) * 10 - 5);
		na = rvf_hnsw_search(h, q, K, 100, NULL, a);
		ne = rvf_hnsw_exact_search(h, q, K, 0, NULL, e);
		assert_int_equal(na, ne);
		hw_check_sorted_exact(h, q, a, na);
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
		odd_dims(dims[i], 800, RVF_HNSW_QUANT_SQ8, hw_W.seed + 50 + i);
		odd_dims(dims[i], 800, RVF_HNSW_QUANT_NONE, hw_W.seed + 60 + i);
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
	hw_check_ok(h, "dim 65536");
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
	hw_check_ok(h, "500 identical vectors");
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
			hw_check_ok(h, "a batch with a duplicate clique");
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
	struct rvf_hnsw_filter odd = { .allow = hw_allow_even_label };
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
	hw_check_ok(h, "ties");
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

/* Ties through the two-hop search: 30 labels at one point among 3,000
 * others, a bitmap of the even labels (half: the two-hop plan at ef=16);
 * the graph search returns the exact scan's list, the smallest even labels. */
static void ties_through_the_two_hop_search_match_the_exact_scan(void **state)
{
	struct rvf_hnsw *h = NULL;
	float v[4] = { 3, 1, 4, 1 }, w[4];
	struct rvf_hnsw_result a[5], b[5];
	size_t n = 3030;
	uint64_t *even = calloc((n + 63) / 64, sizeof(uint64_t));
	struct rvf_hnsw_filter f = { .bitmap = even, .selectivity = 0.5 };
	(void)state;

	assert_int_equal(rvf_hnsw_new(4, RVF_METRIC_L2, NULL, &h), 0);
	for (uint64_t i = 30; i >= 1; i--)
		assert_int_equal(rvf_hnsw_add(h, i, v), 0);
	for (uint64_t i = 0; i < n - 30; i++) {
		for (int j = 0; j < 4; j++)
			w[j] = v[j] + 0.5f + (float)((i * 7 + (uint64_t)j * 13) % 101) / 4.0f;
		assert_int_equal(rvf_hnsw_add(h, 1000 + i, w), 0);
	}
	hw_check_ok(h, "ties among 3,000");
	for (uint32_t id = 0; id < n; id++) {
		uint64_t label;

		assert_int_equal(rvf_hnsw_label_of(h, id, &label, NULL), 0);
		if (!(label & 1))
			even[id / 64] |= 1ull << (id % 64);
	}
	/* ef 16 covers the 15 even ties (a wider beam would plan a scan) */
	assert_int_equal(rvf_hnsw_plan(h, 5, 16, &f), RVF_HNSW_PLAN_GRAPH_2HOP);
	assert_int_equal(rvf_hnsw_search(h, v, 5, 16, &f, a), 5);
	assert_int_equal(rvf_hnsw_exact_search(h, v, 5, 16, &f, b), 5);
	hw_same_result_lists(a, b, 5);
	for (int i = 0; i < 5; i++) {
		assert_true(a[i].distance == 0.0f);
		assert_int_equal(a[i].label, (uint64_t)(2 * i + 2));
	}
	rvf_hnsw_free(h);
	free(even);
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
	struct rvf_hnsw_opts own = { .threads = 1 }, bor = { .threads = 1, .rows = small_row, .rows_ctx = &hw_W.small };
	struct rvf_hnsw *a, *b, *c = NULL, *bad = NULL;
	void *buf;
	size_t len, rowbytes = (size_t)SMALL_N * DIM * 4;
	(void)state;

	a = hw_build(&hw_W.small, SMALL_N, RVF_METRIC_L2, &own, LABEL_OFF);
	b = hw_build(&hw_W.small, SMALL_N, RVF_METRIC_L2, &bor, LABEL_OFF);
	hw_same_results(a, b, &hw_W.squeries);
	printf("info: %zu rows: %zu bytes owned, %zu borrowed\n", (size_t)SMALL_N, rvf_hnsw_memory_bytes(a),
	       rvf_hnsw_memory_bytes(b));
	assert_true(rvf_hnsw_memory_bytes(b) + rowbytes <= rvf_hnsw_memory_bytes(a));
	assert_memory_equal(rvf_hnsw_vector(b, LABEL_OFF + 5), hw_W.small.v + 5 * DIM, DIM * 4);
	/* save (vectors included, read through the callback) and load: owned */
	assert_int_equal(rvf_hnsw_save(b, RVF_HNSW_SAVE_VECTORS, &buf, &len), 0);
	assert_int_equal(rvf_hnsw_load(buf, len, NULL, NULL, &c), 0);
	free(buf);
	hw_same_results(b, c, &hw_W.squeries);
	rvf_hnsw_free(c);
	/* tombstones route through borrowed rows; compaction keeps borrowing */
	for (uint64_t i = 0; i < SMALL_N; i += 3)
		assert_int_equal(rvf_hnsw_delete(b, LABEL_OFF + i), 0);
	hw_check_ok(b, "borrowed rows, a third deleted");
	assert_int_equal(rvf_hnsw_compact(b), 0);
	hw_check_ok(b, "borrowed rows, compacted");
	assert_int_equal(rvf_hnsw_live_count(b), SMALL_N - (SMALL_N + 2) / 3);
	{
		size_t hit = 0;

		for (size_t i = 0; i < hw_W.squeries.n; i++) {
			struct rvf_hnsw_result rg[K], rx[K];
			int ng = rvf_hnsw_search(b, hw_W.squeries.v + i * DIM, K, 64, NULL, rg);
			int nx = rvf_hnsw_exact_search(b, hw_W.squeries.v + i * DIM, K, 0, NULL, rx);

			assert_int_equal(ng, K);
			assert_int_equal(nx, K);
			for (int x = 0; x < nx; x++)
				for (int g = 0; g < ng; g++)
					hit += rx[x].label == rg[g].label;
		}
		hw_need_recall((double)hit / (double)(hw_W.squeries.n * K), 0.95,
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
	memcpy(b.v, hw_W.base.v, (size_t)SMALL_N * DIM * 4);
	memcpy(q.v, hw_W.queries.v, (size_t)SMALL_Q * DIM * 4);
	if (normalise) {
		normalise_rows(&b);
		normalise_rows(&q);
	}
	assert_int_equal(data_gt_compute(&b, &q, metric, K, 2, &gt), 0);
	h = hw_build(&b, SMALL_N, metric, &o, LABEL_OFF);
	hw_need_recall(hw_recall_of(h, &q, &gt, 64, NULL, LABEL_OFF), 0.95, what);
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
	hw_check_ok(h, "cosine with a zero vector");
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
		cmocka_unit_test(bad_parameters_and_non_finite_vectors_are_rejected),
		cmocka_unit_test(awkward_dimensions_work_with_and_without_quantisation),
		cmocka_unit_test(largest_dimension_is_accepted),
		cmocka_unit_test(identical_vectors_stay_reachable),
		cmocka_unit_test(duplicate_clique_in_a_batch_passes_the_check),
		cmocka_unit_test(ties_at_the_cut_go_to_the_smallest_labels),
		cmocka_unit_test(ties_through_the_two_hop_search_match_the_exact_scan),
		cmocka_unit_test(inner_product_and_cosine_reach_the_recall_target),
		cmocka_unit_test(cosine_zero_vector_has_distance_one),
		cmocka_unit_test(borrowed_rows_give_the_owned_results_in_less_memory),
	};

	/* the recall figures below are for these kernels */
	if (tu_simd_announce())
		return 1;
	return cmocka_run_group_tests(tests, hw_world_setup_data, hw_world_teardown);
}
