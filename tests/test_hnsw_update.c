/*
 * test_hnsw_update.c - the HNSW index changing and persisting: tombstones,
 * re-insert, deleting everything, save/load round trips, a COW delta applied to a copy of its base, hostile blobs,
 * determinism, the empty index.
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

/* ---- tombstones, re-insert, compaction -------------------------------------- */

static void deleted_labels_are_never_returned(void **state)
{
	struct rvf_hnsw_opts o = { .threads = 2 };
	struct rvf_hnsw *h = hw_build(&hw_W.small, SMALL_N, RVF_METRIC_L2, &o, LABEL_OFF);
	uint8_t *dead = calloc(SMALL_N, 1);
	uint8_t *allowed = calloc(FM_N, 1);
	struct data_gt gt;
	struct tu_rng r;
	size_t ndead = 0;
	(void)state;

	tu_rng_init(&r, hw_W.seed + 31);
	/* delete 40%, including each query's true nearest neighbour */
	for (size_t i = 0; i < SMALL_N; i++)
		if (tu_rng_unit(&r) < 0.4)
			dead[i] = 1;
	for (size_t q = 0; q < SMALL_Q; q++)
		dead[hw_W.sgt.ids[q * K]] = 1;
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
	hw_check_ok(h, "deleting 40%");
	for (size_t q = 0; q < SMALL_Q; q++) {
		static const uint32_t efs[] = { 1, 10, 64, 300 };

		for (size_t e = 0; e < 4; e++) {
			struct rvf_hnsw_result res[K];
			int n = rvf_hnsw_search(h, hw_W.squeries.v + q * DIM, K, efs[e], NULL, res);

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
				memcpy(sub.v + m * DIM, hw_W.base.v + i * DIM, DIM * 4);
				rowof[m++] = (uint32_t)i;
			}
		sub.n = m;
		assert_int_equal(data_gt_compute(&sub, &hw_W.squeries, RVF_METRIC_L2, K, 2, &gt), 0);
		for (size_t i = 0; i < gt.nq * K; i++)
			gt.ids[i] = rowof[gt.ids[i]];
		free(rowof);
		data_mat_release(&sub);
	}
	hw_need_recall(hw_recall_of(h, &hw_W.squeries, &gt, 64, NULL, LABEL_OFF), 0.95, "40% deleted, ef=64");
	/* exact search skips them too */
	for (size_t q = 0; q < 10; q++) {
		struct rvf_hnsw_result res[K];
		int n = rvf_hnsw_exact_search(h, hw_W.squeries.v + q * DIM, K, 0, NULL, res);

		assert_int_equal(n, K);
		for (int j = 0; j < n; j++)
			assert_int_equal(res[j].label - LABEL_OFF, gt.ids[q * K + j]);
	}
	/* double delete, absent label */
	assert_int_equal(rvf_hnsw_delete(h, LABEL_OFF + hw_W.sgt.ids[0]), -ENOENT);
	assert_int_equal(rvf_hnsw_delete(h, 42), -ENOENT);
	assert_null(rvf_hnsw_vector(h, LABEL_OFF + hw_W.sgt.ids[0]));

	/* compaction drops the tombstones, keeps every live label and its vector */
	assert_int_equal(rvf_hnsw_maybe_compact(h, 0.5), 0);
	assert_int_equal(rvf_hnsw_maybe_compact(h, 0.2), 1);
	hw_check_ok(h, "compaction");
	assert_int_equal(rvf_hnsw_count(h), SMALL_N - ndead);
	assert_int_equal(rvf_hnsw_live_count(h), SMALL_N - ndead);
	for (size_t i = 0; i < SMALL_N; i++) {
		const float *v = rvf_hnsw_vector(h, LABEL_OFF + i);

		assert_int_equal(rvf_hnsw_contains(h, LABEL_OFF + i), !dead[i]);
		if (!dead[i]) {
			assert_non_null(v);
			assert_memory_equal(v, hw_W.base.v + i * DIM, DIM * sizeof(float));
		} else {
			assert_null(v);
		}
	}
	hw_need_recall(hw_recall_of(h, &hw_W.squeries, &gt, 64, NULL, LABEL_OFF), 0.95, "after compaction, ef=64");
	assert_int_equal(rvf_hnsw_maybe_compact(h, 0.0), 0);
	data_gt_release(&gt);
	free(dead);
	free(allowed);
	rvf_hnsw_free(h);
}

static void reinserted_label_is_live_again_with_its_new_vector(void **state)
{
	struct rvf_hnsw_opts o = { .threads = 1 };
	struct rvf_hnsw *h = hw_build(&hw_W.small, 500, RVF_METRIC_L2, &o, 0);
	struct rvf_hnsw_result r[K];
	const float *newv = hw_W.base.v + 1000 * DIM;   /* a row not in the index */
	uint32_t id_old, id_new;
	int deleted;
	uint64_t lab;
	(void)state;

	assert_int_equal(rvf_hnsw_id_of(h, 7, &id_old), 0);
	assert_int_equal(rvf_hnsw_delete(h, 7), 0);
	assert_false(rvf_hnsw_contains(h, 7));
	hw_check_ok(h, "delete");
	assert_int_equal(rvf_hnsw_add(h, 7, newv), 0);
	hw_check_ok(h, "re-insert");
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
	assert_int_equal(rvf_hnsw_search(h, hw_W.base.v + 7 * DIM, K, 32, NULL, r), K);
	for (int j = 0; j < K; j++)
		assert_true(r[j].label != 7 || r[j].distance > 0);

	/* re-adding a live label replaces it: the old node becomes a tombstone */
	assert_int_equal(rvf_hnsw_add(h, 8, newv + 1), 0);
	assert_int_equal(rvf_hnsw_count(h), 502);
	assert_int_equal(rvf_hnsw_live_count(h), 500);
	hw_check_ok(h, "replace");
	/* and in a batch, the later row of a repeated label wins */
	{
		uint64_t labs[2] = { 9, 9 };
		float two[2 * DIM];

		memcpy(two, hw_W.base.v + 2000 * DIM, DIM * 4);
		memcpy(two + DIM, hw_W.base.v + 2001 * DIM, DIM * 4);
		assert_int_equal(rvf_hnsw_add_batch(h, labs, two, 2), 0);
		assert_memory_equal(rvf_hnsw_vector(h, 9), two + DIM, DIM * 4);
		assert_int_equal(rvf_hnsw_live_count(h), 500);
		hw_check_ok(h, "batch replace");
	}
	assert_int_equal(rvf_hnsw_compact(h), 0);
	hw_check_ok(h, "compact");
	assert_int_equal(rvf_hnsw_count(h), 500);
	assert_memory_equal(rvf_hnsw_vector(h, 7), newv, DIM * sizeof(float));
	assert_int_equal(rvf_hnsw_search(h, newv, 1, 32, NULL, r), 1);
	assert_int_equal(r[0].label, 7);
	rvf_hnsw_free(h);
}

static void deleting_every_node_leaves_an_empty_but_valid_index(void **state)
{
	struct rvf_hnsw *h = hw_build(&hw_W.small, 300, RVF_METRIC_L2, NULL, 0);
	struct rvf_hnsw_result r[K];
	(void)state;

	for (uint64_t i = 0; i < 300; i++)
		assert_int_equal(rvf_hnsw_delete(h, i), 0);
	hw_check_ok(h, "deleting all");
	assert_int_equal(rvf_hnsw_search(h, hw_W.queries.v, K, 64, NULL, r), 0);
	assert_int_equal(rvf_hnsw_compact(h), 0);
	hw_check_ok(h, "compacting all away");
	assert_int_equal(rvf_hnsw_count(h), 0);
	assert_int_equal(rvf_hnsw_search(h, hw_W.queries.v, K, 64, NULL, r), 0);
	assert_int_equal(rvf_hnsw_add(h, 5, hw_W.base.v), 0);
	hw_check_ok(h, "add after emptying");
	assert_int_equal(rvf_hnsw_search(h, hw_W.base.v, K, 64, NULL, r), 1);
	assert_int_equal(r[0].label, 5);
	rvf_hnsw_free(h);
}

static void save_load_round_trip_gives_identical_results(void **state)
{
	struct rvf_hnsw_opts o = { .threads = 2, .M = 12, .ef_construction = 100, .seed = 99 };
	struct rvf_hnsw *h = hw_build(&hw_W.small, SMALL_N, RVF_METRIC_L2, &o, LABEL_OFF);
	struct rvf_hnsw_opts got;
	void *b1 = NULL, *b2 = NULL, *b3 = NULL;
	size_t l1, l2, l3;
	(void)state;

	for (uint64_t i = 0; i < SMALL_N; i += 5)
		assert_int_equal(rvf_hnsw_delete(h, LABEL_OFF + i), 0);
	for (unsigned withv = 0; withv < 2; withv++) {
		struct vec_src src = { hw_W.base.v, LABEL_OFF, SMALL_N, 0, -1 };
		struct rvf_hnsw *g = NULL;

		assert_int_equal(rvf_hnsw_save(h, withv ? RVF_HNSW_SAVE_VECTORS : 0, &b1, &l1), 0);
		assert_int_equal(rvf_hnsw_load(b1, l1, withv ? NULL : hw_get_vec, &src, &g), 0);
		hw_check_ok(g, "load");
		/* get_vec: once per live node, and only without vectors in the blob */
		assert_int_equal(src.calls, withv ? 0 : rvf_hnsw_live_count(h));
		assert_int_equal(rvf_hnsw_count(g), rvf_hnsw_count(h));
		assert_int_equal(rvf_hnsw_live_count(g), rvf_hnsw_live_count(h));
		rvf_hnsw_get_opts(g, &got);
		assert_int_equal(got.M, 12);
		assert_int_equal(got.ef_construction, 100);
		assert_int_equal(got.seed, 99);
		hw_same_results(h, g, &hw_W.squeries);
		/* saving the loaded index reproduces the blob byte for byte */
		assert_int_equal(rvf_hnsw_save(g, withv ? RVF_HNSW_SAVE_VECTORS : 0, &b2, &l2), 0);
		assert_int_equal(l1, l2);
		assert_memory_equal(b1, b2, l1);
		/* the loaded index keeps working: add, delete, compact */
		assert_int_equal(rvf_hnsw_add(g, 1, hw_W.base.v + 5000 * DIM), 0);
		assert_int_equal(rvf_hnsw_delete(g, LABEL_OFF + 1), 0);
		hw_check_ok(g, "mutating a loaded index");
		assert_int_equal(rvf_hnsw_compact(g), 0);
		hw_check_ok(g, "compacting a loaded index");
		/* and adds to h and g in the same order keep them identical */
		rvf_hnsw_free(g);
		g = NULL;
		src.calls = 0;
		assert_int_equal(rvf_hnsw_load(b1, l1, hw_get_vec, &src, &g), 0);
		assert_int_equal(rvf_hnsw_add(g, 77, hw_W.base.v + 6000 * DIM), 0);
		if (withv) {
			assert_int_equal(rvf_hnsw_add(h, 77, hw_W.base.v + 6000 * DIM), 0);
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
	hw_check_ok(h, "building the small graph");
	return h;
}

/* Recompute the trailing XXH3-64 after deliberate damage. */
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
		struct rvf_hnsw *h = hw_build(&hw_W.small, nb, ms[mi], &o, LABEL_OFF), *g = NULL;
		struct vec_src src = { hw_W.base.v, LABEL_OFF, SMALL_N, 0, -1 };
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
		assert_int_equal(rvf_hnsw_add_batch(h, labels, hw_W.base.v + nb * DIM, nn), 0);
		float *up = malloc(nb * DIM * sizeof(float));
		size_t nup = 0;
		for (size_t i = 3; i < nb; i += 97) {       /* upserts of base labels */
			labels[nup] = LABEL_OFF + i;
			memcpy(up + nup++ * DIM, hw_W.base.v + i * DIM, DIM * sizeof(float));
		}
		assert_int_equal(rvf_hnsw_add_batch(h, labels, up, nup), 0);
		free(up);
		for (size_t i = 0; i < nn; i++)
			labels[i] = LABEL_OFF + nb + i;
		for (size_t i = 0; i < nn; i += 13)
			assert_int_equal(rvf_hnsw_delete(h, labels[i]), 0);
		hw_check_ok(h, "growing the base");
		assert_int_equal(rvf_hnsw_save_delta(h, hashes, nb, fp, &d, &dl), 0);
		assert_true(dl < bl);                       /* far less than the whole graph */

		assert_int_equal(rvf_hnsw_load(bb, bl, NULL, NULL, &g), 0);
		assert_int_equal(rvf_hnsw_base_sign(g, &h2, &fp2), 0);
		assert_int_equal(fp2, fp);
		free(h2);
		/* refused before any change: another base, damage */
		assert_int_equal(rvf_hnsw_load_delta(g, fp ^ 1, d, dl, hw_get_vec, &src), -ESTALE);
		assert_int_equal(rvf_hnsw_load_delta(g, fp, d, dl - 1, hw_get_vec, &src), -EUCLEAN);
		((uint8_t *)d)[dl / 2] ^= 1;
		assert_int_equal(rvf_hnsw_load_delta(g, fp, d, dl, hw_get_vec, &src), -EBADMSG);
		((uint8_t *)d)[dl / 2] ^= 1;
		assert_int_equal(rvf_hnsw_save(g, RVF_HNSW_SAVE_VECTORS, &x, &xl), 0);
		assert_int_equal(xl, bl);
		assert_memory_equal(x, bb, bl);
		free(x);
		/* applied: the grown graph (on a base loaded with room for it too) */
		struct rvf_hnsw *roomy = NULL;
		assert_int_equal(rvf_hnsw_load_cap(bb, bl, NULL, NULL, nb + 2 * nn, &roomy), 0);
		assert_true(rvf_hnsw_memory_bytes(roomy) > rvf_hnsw_memory_bytes(g));
		assert_int_equal(rvf_hnsw_load_delta(roomy, fp, d, dl, hw_get_vec, &src), 0);
		hw_check_ok(roomy, "applying a delta within the reserved room");
		src.calls = 0;
		assert_int_equal(rvf_hnsw_load_delta(g, fp, d, dl, hw_get_vec, &src), 0);
		hw_check_ok(g, "applying a delta");
		assert_int_equal(src.calls, nn - (nn + 12) / 13 + (nb - 3 + 96) / 97);  /* live new nodes */
		assert_int_equal(rvf_hnsw_save(h, 0, &x, &xl), 0);
		assert_int_equal(rvf_hnsw_save(g, 0, &y, &yl), 0);
		assert_int_equal(xl, yl);
		assert_memory_equal(x, y, xl);
		hw_same_results(h, g, &hw_W.squeries);
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
		assert_int_equal(rvf_hnsw_load_delta(g, fp, d, dl, hw_get_vec, &src), 0);
		hw_check_ok(g, "a delta on a base with more tombstones");
		assert_int_equal(rvf_hnsw_contains(g, LABEL_OFF + 1), 0);
		assert_int_equal(rvf_hnsw_live_count(g), rvf_hnsw_live_count(h) - 1);
		rvf_hnsw_free(g);
		free(bb);
		free(d);
		free(hashes);
		rvf_hnsw_free(h);
	}
}

static void store_sum(uint8_t *b, size_t l)
{
	uint64_t s = XXH3_64bits(b, l - 8);

	memcpy(b + l - 8, &s, 8);
}

static void corrupt_truncated_and_bit_flipped_blobs_are_rejected(void **state)
{
	struct rvf_hnsw *h = small_graph_with_tombstones(8, 200, hw_W.seed + 41), *g = NULL;
	uint8_t *b, *c;
	size_t l;
	struct tu_rng r;
	size_t flips = 0, hostile_loaded = 0;
	(void)state;

	tu_rng_init(&r, hw_W.seed + 42);
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
		struct vec_src src = { hw_W.base.v, 0, 0, 0, 3 };

		assert_int_equal(rvf_hnsw_load(b, l, hw_get_vec, &src, &g), -EUCLEAN);
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
		assert_int_equal(rvf_hnsw_add(a, i * 3, hw_W.base.v + i * DIM), 0);
		assert_int_equal(rvf_hnsw_add(b, i * 3, hw_W.base.v + i * DIM), 0);
	}
	/* add_batch with one thread builds the same graph as serial adds */
	assert_int_equal(rvf_hnsw_add_batch(c, labels, hw_W.base.v, 1500), 0);
	hw_check_ok(a, "serial adds");
	hw_check_ok(c, "one-thread batch");
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
	hw_check_ok(h, "new");
	assert_int_equal(rvf_hnsw_search(h, hw_W.queries.v, K, 64, NULL, r), 0);
	assert_int_equal(rvf_hnsw_exact_search(h, hw_W.queries.v, K, 64, NULL, r), 0);
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
	hw_check_ok(g, "load of an empty index");
	assert_int_equal(rvf_hnsw_count(g), 0);
	assert_int_equal(rvf_hnsw_search(g, hw_W.queries.v, K, 64, NULL, r), 0);
	/* k = 0 asks for nothing */
	assert_int_equal(rvf_hnsw_add(g, 1, hw_W.base.v), 0);
	assert_int_equal(rvf_hnsw_search(g, hw_W.queries.v, 0, 64, NULL, NULL), 0);
	/* k larger than the index: everything there is */
	assert_int_equal(rvf_hnsw_search(g, hw_W.queries.v, K, 64, NULL, r), 1);
	free(b);
	rvf_hnsw_free(g);
	rvf_hnsw_free(h);
	rvf_hnsw_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(deleted_labels_are_never_returned),
		cmocka_unit_test(reinserted_label_is_live_again_with_its_new_vector),
		cmocka_unit_test(deleting_every_node_leaves_an_empty_but_valid_index),
		cmocka_unit_test(save_load_round_trip_gives_identical_results),
		cmocka_unit_test(delta_on_a_copy_of_the_base_is_the_grown_graph),
		cmocka_unit_test(corrupt_truncated_and_bit_flipped_blobs_are_rejected),
		cmocka_unit_test(same_seed_and_serial_inserts_give_identical_graph_bytes),
		cmocka_unit_test(empty_index_searches_saves_and_loads),
	};

	/* the recall figures below are for these kernels */
	if (tu_simd_announce())
		return 1;
	return cmocka_run_group_tests(tests, hw_world_setup_data, hw_world_teardown);
}
