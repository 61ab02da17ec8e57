/*
 * test_store_member.c - freeze (survives reopen, refuses every mutator) and
 * the membership filter (include/exclude equal to brute force over an
 * in-test model, across reopen, upserts, deletes and compaction). Branches:
 * test_store_cow.c.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_cow_model.h"
#include "store/store_peek.h"

/* ---- freeze ------------------------------------------------------------------------------ */

static void freeze_survives_reopen_and_refuses_every_mutator(void **state)
{
	struct fx *f = *state;
	char *path = P(f, "f.rvf");
	struct rvf_store_opts o = opts();
	struct rvf_store *s, *ro;
	struct rvf_store_status st;
	struct model m = { 0 };
	uint64_t ids[3] = { 1, 2, 3 }, vs[3] = { 11, 12, 13 };
	bool meta[3] = { true, false, true };

	assert_int_equal(rvf_store_create(path, &o, &s), 0);
	put(s, &m, ids, vs, meta, 3);
	assert_int_equal(rvf_store_status(s, &st), 0);
	assert_false(st.frozen);
	/* a read-only handle cannot freeze */
	assert_int_equal(rvf_store_open_readonly(path, NULL, &ro), 0);
	assert_int_equal(rvf_store_freeze(ro), -EROFS);
	rvf_store_close(ro);
	assert_int_equal(rvf_store_freeze(s), 0);
	assert_int_equal(rvf_store_freeze(s), 0);     /* idempotent */
	for (int round = 0; round < 2; round++) {
		struct rvf_vector v = { .id = 9, .values = (float[DIM]){ 1 }, .dim = DIM };
		struct rvf_filter *flt = tag_filter(1);
		uint8_t img[16] = { 0 };
		struct rvf_kernel_opts ko = { 0 };
		assert_true(rvf_store_is_frozen(s));
		assert_int_equal(rvf_store_status(s, &st), 0);
		assert_true(st.frozen);
		assert_int_equal(st.live_vectors, 3);
		assert_int_equal(rvf_store_ingest_batch(s, &v, 1, NULL), -EROFS);
		assert_int_equal(rvf_store_delete(s, ids, 1, NULL), -EROFS);
		assert_int_equal(rvf_store_delete_by_filter(s, flt, NULL), -EROFS);
		assert_int_equal(rvf_store_compact(s, NULL), -EROFS);
		assert_int_equal(rvf_store_compact_flags(s, RVF_COMPACT_FLATTEN, NULL), -EROFS);
		assert_int_equal(rvf_store_embed_kernel(s, &ko, img, sizeof(img), NULL, NULL), -EROFS);
		assert_int_equal(rvf_store_set_membership(s, RVF_MEMBERSHIP_INCLUDE, ids, 1), -EROFS);
		assert_int_equal(rvf_store_membership_add(s, ids, 1), -EROFS);
		assert_int_equal(rvf_store_clear_membership(s), -EROFS);
		assert_int_equal(rvf_store_verify(s), 0);
		rvf_filter_free(flt);
		/* queries still work */
		struct rvf_result res[3];
		float q[DIM];
		vec_of(12, q);
		assert_int_equal(rvf_store_query(s, q, DIM, 3, NULL, res), 3);
		assert_int_equal(res[0].id, 2);
		assert_int_equal(rvf_store_close(s), 0);
		assert_int_equal(rvf_store_open(path, NULL, &s), 0);    /* across reopen */
	}
	rvf_store_close(s);
	free(path);
}

/* ---- membership -------------------------------------------------------------------------- */

static void membership_equals_brute_force_across_reopen_upsert_delete_compact(void **state)
{
	struct fx *f = *state;
	char *path = P(f, "m.rvf");
	struct rvf_store_opts o = opts();
	struct rvf_store *s;
	struct model m = { 0 };
	struct tu_rng r;
	struct rvf_membership_info mi;
	uint64_t mem[60];
	size_t nmem = 0;

	tu_rng_init(&r, seed);
	assert_int_equal(rvf_store_create(path, &o, &s), 0);
	for (int i = 0; i < 20; i++)
		random_op(&r, s, &m, NULL);
	assert_int_equal(rvf_store_membership_filter(s, &mi), -ENOENT);
	/* an empty include filter shows nothing */
	assert_int_equal(rvf_store_set_membership(s, RVF_MEMBERSHIP_INCLUDE, NULL, 0), 0);
	membership_matches_brute(s, &m, NULL, 0, true);
	/* some ids not in the store, but not the first two: the delete and
	 * upsert below index the model (NID entries) with them */
	for (size_t i = 0; i < 60; i++)
		mem[nmem++] = tu_rng_below(&r, i < 2 ? NID : NID + 20);
	for (int mode = 0; mode < 2; mode++) {
		bool include = mode == 0;
		assert_int_equal(rvf_store_set_membership(s, include ? RVF_MEMBERSHIP_INCLUDE
							       : RVF_MEMBERSHIP_EXCLUDE, mem, nmem), 0);
		membership_matches_brute(s, &m, mem, nmem, include);
		/* upserts and deletes: membership is about ids */
		for (int i = 0; i < 6; i++)
			random_op(&r, s, &m, NULL);
		del(s, &m, &mem[0], 1);
		put(s, &m, &mem[1], (uint64_t[]){ 99 }, (bool[]){ true }, 1);
		membership_matches_brute(s, &m, mem, nmem, include);
		assert_int_equal(rvf_store_close(s), 0);
		assert_int_equal(rvf_store_open(path, NULL, &s), 0);
		membership_matches_brute(s, &m, mem, nmem, include);
		assert_int_equal(rvf_store_membership_filter(s, &mi), 0);
		assert_int_equal(mi.mode, include ? RVF_MEMBERSHIP_INCLUDE : RVF_MEMBERSHIP_EXCLUDE);
		assert_false(mi.inherited);
		assert_int_equal(rvf_store_compact(s, NULL), 0);
		membership_matches_brute(s, &m, mem, nmem, include);
		assert_int_equal(rvf_store_verify(s), 0);
		/* the bitmap a daemon mirrors: over internal ids */
		const uint64_t *bits;
		size_t nbits, set = 0;
		assert_int_equal(rvf_store_membership_bitmap(s, &bits, &nbits), 0);
		assert_int_equal(nbits, rvf_hnsw_count(rvf_store_index(s)));
		for (size_t i = 0; i < nbits; i++) {
			uint64_t label;
			int dead;
			assert_int_equal(rvf_hnsw_label_of(rvf_store_index(s), (uint32_t)i, &label, &dead), 0);
			bool in = false;
			for (size_t j = 0; j < nmem; j++)
				in |= mem[j] == label;
			if (!dead)
				assert_true(((bits[i / 64] >> (i % 64)) & 1) == (in == include));
			set += !dead && ((bits[i / 64] >> (i % 64)) & 1);
		}
		assert_int_equal(set, mi.visible);
	}
	/* add / remove, then clear */
	assert_int_equal(rvf_store_set_membership(s, RVF_MEMBERSHIP_INCLUDE, mem, 30), 0);
	assert_int_equal(rvf_store_membership_add(s, mem + 30, 30), 0);
	assert_int_equal(rvf_store_membership_remove(s, mem + 50, 10), 0);
	{
		uint64_t want[50];
		memcpy(want, mem, sizeof(want));
		/* mem + 50.. removed, unless they also occur earlier */
		size_t nw = 0;
		uint64_t keep[60];
		for (size_t i = 0; i < 50; i++) {
			bool gone = false;
			for (size_t j = 50; j < 60; j++)
				gone |= mem[j] == want[i];
			if (!gone)
				keep[nw++] = want[i];
		}
		membership_matches_brute(s, &m, keep, nw, true);
	}
	assert_int_equal(rvf_store_clear_membership(s), 0);
	assert_int_equal(rvf_store_close(s), 0);
	assert_int_equal(rvf_store_open(path, NULL, &s), 0);
	assert_int_equal(rvf_store_membership_filter(s, &mi), -ENOENT);
	membership_matches_brute(s, &m, NULL, 0, false);
	rvf_store_close(s);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(freeze_survives_reopen_and_refuses_every_mutator, setup, teardown),
		cmocka_unit_test_setup_teardown(membership_equals_brute_force_across_reopen_upsert_delete_compact, setup, teardown),
	};

	seed = tu_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
