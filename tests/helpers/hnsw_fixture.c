/*
 * hnsw_fixture.c - see hnsw_fixture.h.
 */
#include "hnsw_fixture.h"

struct world hw_W;

void hw_check_ok(const struct rvf_hnsw *h, const char *phase)
{
	int err = rvf_hnsw_check(h);

	if (err)
		fail_msg("rvf_hnsw_check after %s: %d (%s)", phase, err, rvf_last_error());
}

struct rvf_hnsw *hw_build(const struct data_mat *m, size_t n, enum rvf_metric metric,
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
	hw_check_ok(h, "build");
	return h;
}

void hw_check_sorted_exact(const struct rvf_hnsw *h, const float *q, const struct rvf_hnsw_result *r, int n)
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

void hw_same_result_lists(const struct rvf_hnsw_result *a, const struct rvf_hnsw_result *b, size_t n)
{
	/* field by field: the struct has padding */
	for (size_t i = 0; i < n; i++) {
		if (a[i].label != b[i].label || memcmp(&a[i].distance, &b[i].distance, sizeof(float)))
			fail_msg("result %zu differs: label %llu d %.9g vs label %llu d %.9g", i,
				 (unsigned long long)a[i].label, a[i].distance, (unsigned long long)b[i].label,
				 b[i].distance);
	}
}

double hw_recall_of(const struct rvf_hnsw *h, const struct data_mat *qs, const struct data_gt *gt,
		    uint32_t ef, const struct rvf_hnsw_filter *f, uint64_t label_off)
{
	double sum = 0;

	for (size_t i = 0; i < qs->n; i++) {
		struct rvf_hnsw_result r[K];
		uint64_t rows[K];
		int n = rvf_hnsw_search(h, qs->v + i * qs->dim, K, ef, f, r);

		assert_true(n >= 0);
		hw_check_sorted_exact(h, qs->v + i * qs->dim, r, n);
		for (int j = 0; j < n; j++)
			rows[j] = r[j].label - label_off;
		sum += data_recall_at(gt, i, rows, (size_t)n, K);
	}
	return sum / (double)qs->n;
}

void hw_need_recall(double got, double want, const char *what)
{
	printf("info: %s: recall@%d %.4f (need >= %.2f)\n", what, K, got, want);
	if (got < want)
		fail_msg("%s: recall@%d %.4f < %.2f", what, K, got, want);
}

int hw_world_load(bool big)
{
	struct data_mat b, q;
	struct rvf_hnsw_opts o = { .threads = 2 };
	uint64_t *labels;
	int err;

	hw_W.seed = tu_seed();
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
	if (data_mat_alloc(&hw_W.base, FM_N, DIM) || data_mat_alloc(&hw_W.queries, FM_Q, DIM))
		return -1;
	memcpy(hw_W.base.v, b.v, (size_t)FM_N * DIM * sizeof(float));
	memcpy(hw_W.queries.v, q.v, (size_t)FM_Q * DIM * sizeof(float));
	data_mat_release(&b);
	data_mat_release(&q);
	hw_W.small = (struct data_mat){ hw_W.base.v, SMALL_N, DIM };
	hw_W.squeries = (struct data_mat){ hw_W.queries.v, SMALL_Q, DIM };
	if (data_gt_compute(&hw_W.base, &hw_W.queries, RVF_METRIC_L2, K, 2, &hw_W.gt) ||
	    data_gt_compute(&hw_W.small, &hw_W.squeries, RVF_METRIC_L2, K, 2, &hw_W.sgt))
		return -1;
	if (!big)
		return 0;
	labels = malloc(FM_N * sizeof(*labels));
	for (size_t i = 0; i < FM_N; i++)
		labels[i] = LABEL_OFF + i;
	if (rvf_hnsw_new(DIM, RVF_METRIC_L2, &o, &hw_W.big) || rvf_hnsw_add_batch(hw_W.big, labels, hw_W.base.v, FM_N))
		return -1;
	free(labels);
	return 0;
}

int hw_world_setup(void **state)
{
	(void)state;
	return hw_world_load(true);
}

int hw_world_teardown(void **state)
{
	(void)state;
	rvf_hnsw_free(hw_W.big);
	data_gt_release(&hw_W.gt);
	data_gt_release(&hw_W.sgt);
	data_mat_release(&hw_W.base);
	data_mat_release(&hw_W.queries);
	return 0;
}

int hw_allow_even_label(void *ctx, uint64_t label, uint32_t id)
{
	(void)ctx; (void)id;
	return !(label & 1);
}

const float *hw_get_vec(void *ctx, uint64_t label, uint32_t id)
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

void hw_same_results(const struct rvf_hnsw *a, const struct rvf_hnsw *b, const struct data_mat *qs)
{
	static const uint32_t efs[] = { 10, 64 };

	for (size_t e = 0; e < 2; e++)
		for (size_t i = 0; i < qs->n; i++) {
			struct rvf_hnsw_result ra[K], rb[K];
			int na = rvf_hnsw_search(a, qs->v + i * DIM, K, efs[e], NULL, ra);
			int nb = rvf_hnsw_search(b, qs->v + i * DIM, K, efs[e], NULL, rb);

			assert_int_equal(na, nb);
			hw_same_result_lists(ra, rb, (size_t)na);
		}
}

int hw_world_setup_data(void **state)
{
	(void)state;
	return hw_world_load(false);
}
