/*
 * test_store.c - the store API (include/rvf/rvf.h): round trips across
 * reopen (metric, metadata, vectors bit for bit), upsert after delete, every
 * filter operator against a brute-force evaluator, the filter cache,
 * delete_by_filter, status numbers against ground truth.
 *
 * rvf-test: both-backends
 * rvf-test: every-simd (tests/run.sh forces each kernel set in turn)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>

#include "rvf/rvf.h"
#include "codec/hash.h"
#include "store/store_internal.h"
#include "testutil.h"
#include "store_fixture.h"
#include "store/store_peek.h"

static void expect_sorted(const struct rvf_result *r, int n)
{
	for (int i = 1; i < n; i++)
		assert_true(r[i - 1].distance < r[i].distance ||
			    (r[i - 1].distance == r[i].distance && r[i - 1].id < r[i].id));
}

/* ---- round trips -------------------------------------------------------------------- */

static void roundtrip_metric(const char *path, enum rvf_metric m)
{
	struct ds d;
	struct rvf_store *s;
	struct rvf_result before[20], after[20];
	struct rvf_query_opts qo = { .flags = RVF_QUERY_EXACT };
	float got[DIM];

	sf_ds_make(&d, DIM, 400, 7 + (uint64_t)m);
	s = sf_create(path, DIM, m);
	sf_ingest(s, &d, 0, 250, true);
	sf_ingest(s, &d, 250, 150, true);
	int nb = rvf_store_query(s, d.v + 5 * DIM, DIM, 20, &qo, before);
	assert_int_equal(nb, 20);
	expect_sorted(before, nb);
	assert_int_equal(rvf_store_close(s), 0);

	s = sf_reopen(path);
	assert_int_equal(rvf_store_metric(s), m);
	assert_int_equal(rvf_store_dimension(s), DIM);
	int na = rvf_store_query(s, d.v + 5 * DIM, DIM, 20, &qo, after);
	assert_int_equal(na, nb);
	for (int i = 0; i < na; i++) {
		assert_int_equal(after[i].id, before[i].id);
		assert_true(after[i].distance == before[i].distance);
	}
	/* the distance is the metric's */
	for (int i = 0; i < na; i++) {
		size_t k = (size_t)(after[i].id - 1000) / 3;
		float want = rvf_distance(m, d.v + 5 * DIM, d.v + k * DIM, DIM);
		assert_true(fabsf(after[i].distance - want) <= 1e-4f * (1 + fabsf(want)));
	}
	if (m != RVF_METRIC_IP)
		assert_int_equal(after[0].id, d.ids[5]);
	for (size_t i = 0; i < d.n; i++) {
		struct rvf_meta_entry *e = NULL;
		size_t ne = 0;
		assert_int_equal(rvf_store_get_vector(s, d.ids[i], got, DIM), 0);
		assert_memory_equal(got, d.v + i * DIM, sizeof(got));
		assert_int_equal(rvf_store_get_meta(s, d.ids[i], &e, &ne), 0);
		assert_int_equal(ne, d.nme[i]);
		for (size_t k = 0; k < ne; k++) {
			assert_int_equal(e[k].field_id, d.me[i][k].field_id);
			assert_int_equal(e[k].value.type, d.me[i][k].value.type);
			if (e[k].value.type >= RVF_META_STRING) {
				assert_int_equal(e[k].value.v.buf.len, d.me[i][k].value.v.buf.len);
				assert_memory_equal(e[k].value.v.buf.ptr, d.me[i][k].value.v.buf.ptr,
						    e[k].value.v.buf.len);
			} else {
				assert_memory_equal(&e[k].value.v.u64, &d.me[i][k].value.v.u64, 8);
			}
		}
		free(e);
	}
	sf_expect_verify(s);
	assert_int_equal(rvf_store_close(s), 0);
	sf_ds_free(&d);
}

static void roundtrip_across_reopen_all_metrics(void **state)
{
	struct fx *f = *state;
	const enum rvf_metric ms[] = { RVF_METRIC_L2, RVF_METRIC_IP, RVF_METRIC_COSINE };

	for (int i = 0; i < 3; i++) {
		char name[32];
		char *p;
		snprintf(name, sizeof(name), "m%d.rvf", i);
		p = tu_path(f->dir, name);
		roundtrip_metric(p, ms[i]);
		free(p);
	}
}

static void upsert_after_delete_is_visible_and_survives_reopen(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_delete_result dr;
	struct rvf_result r[5];
	float moved[DIM], got[DIM];
	struct rvf_query_opts qo = { .flags = RVF_QUERY_EXACT };

	sf_ds_make(&d, DIM, 100, 11);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, 100, true);
	uint64_t id = d.ids[10];
	assert_int_equal(rvf_store_delete(s, &id, 1, &dr), 0);
	assert_int_equal(dr.deleted, 1);
	assert_int_equal(rvf_store_get_vector(s, id, got, DIM), -ENOENT);
	/* deleting again counts nothing */
	assert_int_equal(rvf_store_delete(s, &id, 1, &dr), 0);
	assert_int_equal(dr.deleted, 0);
	/* re-ingest with a new vector and no metadata */
	for (int j = 0; j < DIM; j++)
		moved[j] = 100.0f + (float)j;
	struct rvf_vector v = { .id = id, .values = moved, .dim = DIM };
	struct rvf_ingest_result ir;
	assert_int_equal(rvf_store_ingest_batch(s, &v, 1, &ir), 0);
	assert_int_equal(ir.accepted, 1);
	rvf_ingest_result_release(&ir);
	for (int round = 0; round < 2; round++) {
		struct rvf_store_status st;
		struct rvf_meta_entry *e = NULL;
		size_t ne = 9;
		assert_int_equal(rvf_store_get_vector(s, id, got, DIM), 0);
		assert_memory_equal(got, moved, sizeof(got));
		assert_int_equal(rvf_store_get_meta(s, id, &e, &ne), 0);
		assert_int_equal(ne, 0);
		free(e);
		assert_int_equal(rvf_store_query(s, moved, DIM, 5, &qo, r), 5);
		assert_int_equal(r[0].id, id);
		assert_true(r[0].distance == 0.0f);
		assert_int_equal(rvf_store_query(s, moved, DIM, 5, NULL, r), 5);
		assert_int_equal(r[0].id, id);
		assert_int_equal(rvf_store_status(s, &st), 0);
		assert_int_equal(st.live_vectors, 100);
		assert_int_equal(st.deleted_vectors, 0);
		sf_expect_verify(s);
		assert_int_equal(rvf_store_close(s), 0);
		s = sf_reopen(f->path);
	}
	/* upsert of a live id with metadata replaces both */
	struct rvf_meta_entry me = { 9, rvf_meta_u64(77) };
	v.meta = &me;
	v.n_meta = 1;
	v.id = d.ids[20];
	assert_int_equal(rvf_store_ingest_batch(s, &v, 1, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	s = sf_reopen(f->path);
	{
		struct rvf_meta_entry *e = NULL;
		size_t ne = 0;
		assert_int_equal(rvf_store_get_meta(s, d.ids[20], &e, &ne), 0);
		assert_int_equal(ne, 1);
		assert_int_equal(e[0].field_id, 9);
		assert_int_equal(e[0].value.v.u64, 77);
		free(e);
	}
	sf_expect_verify(s);
	rvf_store_close(s);
	sf_ds_free(&d);
}

static void duplicate_ids_in_a_batch_last_wins(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = sf_create(f->path, 4, RVF_METRIC_L2);
	float a[4] = { 1, 2, 3, 4 }, b[4] = { 5, 6, 7, 8 }, got[4];
	struct rvf_vector v[3] = {
		{ .id = 1, .values = a, .dim = 4 },
		{ .id = 2, .values = a, .dim = 4 },
		{ .id = 1, .values = b, .dim = 4 },
	};
	struct rvf_ingest_result r;

	assert_int_equal(rvf_store_ingest_batch(s, v, 3, &r), 0);
	assert_int_equal(r.accepted, 3);
	rvf_ingest_result_release(&r);
	assert_int_equal(rvf_store_get_vector(s, 1, got, 4), 0);
	assert_memory_equal(got, b, sizeof(b));
	rvf_store_close(s);
	s = sf_reopen(f->path);
	assert_int_equal(rvf_store_get_vector(s, 1, got, 4), 0);
	assert_memory_equal(got, b, sizeof(b));
	struct rvf_store_status st;
	assert_int_equal(rvf_store_status(s, &st), 0);
	assert_int_equal(st.live_vectors, 2);
	sf_expect_verify(s);
	rvf_store_close(s);
}

/* ---- filters ------------------------------------------------------------------------ */

#define NFILT 16

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void every_filter_operator_matches_brute_force(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_result *r = calloc(NV, sizeof(*r));
	uint64_t *want = calloc(NV, 8), *got = calloc(NV, 8);

	sf_ds_make(&d, DIM, NV, 21);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, NV, true);
	/* a deleted vector never matches */
	uint64_t del = d.ids[3 * 7];          /* f0 == 0 ... any */
	assert_int_equal(rvf_store_delete(s, &del, 1, NULL), 0);
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < NFILT; k++) {
			struct rvf_filter *flt = sf_make_filter(k);
			struct rvf_query_opts qo = { .filter = flt, .flags = RVF_QUERY_EXACT };
			size_t nw = 0;
			assert_non_null(flt);
			for (size_t i = 0; i < d.n; i++)
				if (d.ids[i] != del && sf_bf_match(&d, k, i))
					want[nw++] = d.ids[i];
			assert_true(nw > 0);
			/* exact: the full matching set */
			int n = rvf_store_query(s, d.v, DIM, NV, &qo, r);
			assert_int_equal(n, (int)nw);
			expect_sorted(r, n);
			for (int i = 0; i < n; i++)
				got[i] = r[i].id;
			qsort(got, (size_t)n, 8, cmp_u64);
			assert_memory_equal(got, want, nw * 8);
			/* planner path (graph with the filter in traversal, or exact
			 * scan when selective): only matching ids, sorted, and the
			 * same nearest neighbours as the exact answer */
			struct rvf_result top[10], ex[10];
			uint32_t kk = nw < 10 ? (uint32_t)nw : 10;
			qo.flags = RVF_QUERY_EXACT;
			for (size_t qi = 0; qi < 5; qi++) {
				const float *q = d.v + (qi * 37 % d.n) * DIM;
				int ne = rvf_store_query(s, q, DIM, kk, &qo, ex);
				struct rvf_query_opts po = { .filter = flt, .ef_search = 200 };
				int np = rvf_store_query(s, q, DIM, kk, &po, top);
				assert_int_equal(ne, (int)kk);
				assert_int_equal(np, (int)kk);
				expect_sorted(top, np);
				int hit = 0;
				for (int i = 0; i < np; i++) {
					assert_non_null(bsearch(&top[i].id, want, nw, 8, cmp_u64));
					for (int j = 0; j < ne; j++)
						hit += top[i].id == ex[j].id;
				}
				if (hit < (int)kk - 1)
					fail_msg("filter %d query %zu: %d of %u exact neighbours found", k, qi, hit, kk);
			}
			rvf_filter_free(flt);
		}
		/* the index planned every filtered query of this handle (NV
		 * nodes at ef=200 are cheaper to scan than to walk: all exact) */
		struct store_stats st;
		assert_int_equal(store_stats(s, &st), 0);
		assert_true(st.plan_exact >= 5 * NFILT);
		/* repeated filters read their cached allowed sets */
		assert_true(st.plan_cached >= (uint64_t)NFILT * 8);
		rvf_store_close(s);
		s = sf_reopen(f->path);
	}
	rvf_store_close(s);
	free(r);
	free(want);
	free(got);
	sf_ds_free(&d);
}

/* The allowed set the store hands the index is the brute-force predicate:
 * for every filter operator, the cached bitmap (built on the first sighting
 * of a selective filter, else the second) has exactly the live nodes that
 * match, deleted ones never; and at an ef small enough for the planner to
 * walk the graph, filtered queries find the exact neighbours. */
static void allowed_set_bitmap_equals_the_brute_force_predicate(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	size_t nv = NV;

	sf_ds_make(&d, DIM, nv, 41);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, nv, true);
	uint64_t del[2] = { d.ids[5], d.ids[17] };
	assert_int_equal(rvf_store_delete(s, del, 2, NULL), 0);
	for (int k = 0; k < NFILT; k++) {
		struct rvf_filter *flt = sf_make_filter(k);
		const struct fc_entry *ce = NULL;
		size_t allowed = 0, want = 0;

		for (int i = 0; i < 2 && !ce; i++)
			ce = fcache_get(s, flt, &allowed);
		assert_non_null(ce);
		const uint64_t *bits = fcache_bits(ce);
		for (size_t i = 0; i < nv; i++) {
			uint32_t id;
			bool match = i != 5 && i != 17 && sf_bf_match(&d, k, i);

			assert_int_equal(rvf_hnsw_id_of(s->h, d.ids[i], &id), 0);
			if (((bits[id / 64] >> (id % 64)) & 1) != match)
				fail_msg("filter %d, vector %zu: bitmap %d, predicate %d", k, i, !match, match);
			want += match;
		}
		assert_int_equal(allowed, want);
		fcache_put(s, ce);

		/* through the store: the exact neighbours among the matches */
		struct rvf_query_opts qo = { .filter = flt, .ef_search = 10 };
		struct rvf_query_opts xo = { .filter = flt, .flags = RVF_QUERY_EXACT };
		uint32_t kk = want < 10 ? (uint32_t)want : 10;
		int hit = 0, tot = 0;
		for (size_t qi = 0; qi < 10; qi++) {
			struct rvf_result a[10], b[10];
			const float *q = d.v + (qi * 131 % nv) * DIM;
			int na = rvf_store_query(s, q, DIM, kk, &qo, a);
			int nb = rvf_store_query(s, q, DIM, kk, &xo, b);

			assert_int_equal(na, (int)kk);
			assert_int_equal(nb, (int)kk);
			expect_sorted(a, na);
			for (int i = 0; i < na; i++)
				for (int j = 0; j < nb; j++)
					hit += a[i].id == b[j].id;
			tot += nb;
		}
		if (hit < tot * 9 / 10)
			fail_msg("filter %d: %d of %d exact neighbours", k, hit, tot);
		rvf_filter_free(flt);
	}
	struct store_stats st;
	assert_int_equal(store_stats(s, &st), 0);
	assert_true(st.plan_graph > 0);
	rvf_store_close(s);
	sf_ds_free(&d);
}

static bool has_id(const struct rvf_result *r, int n, uint64_t id)
{
	for (int i = 0; i < n; i++)
		if (r[i].id == id)
			return true;
	return false;
}

/* The allowed-set bitmap of a repeated filter never outlives a change: an
 * upsert that makes an id match (or stop matching) shows at once, for the
 * same filter tree and for an equal one built anew. */
static void cached_filter_follows_every_change(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_result r[5];
	struct rvf_ingest_result ir;
	struct store_stats st;
	struct rvf_filter *flt = sf_make_filter(0), *same = NULL;   /* f0 == 3 */
	struct rvf_query_opts qo = { .filter = flt };
	size_t j = 1;                                           /* f0 == 1: no match */
	struct rvf_meta_entry m3 = { 0, rvf_meta_u64(3) };
	int n;

	sf_ds_make(&d, DIM, NV, 31);
	assert_false(sf_bf_match(&d, 0, j));
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, NV, true);
	const float *q = d.v + j * DIM;
	for (int i = 0; i < 4; i++) {
		n = rvf_store_query(s, q, DIM, 5, &qo, r);
		assert_int_equal(n, 5);
		assert_false(has_id(r, n, d.ids[j]));
	}
	assert_int_equal(store_stats(s, &st), 0);
	assert_true(st.plan_cached >= 2);

	/* j now matches: first for the same tree and for an equal new one */
	struct rvf_vector v = { .id = d.ids[j], .values = q, .dim = DIM, .meta = &m3, .n_meta = 1 };
	assert_int_equal(rvf_store_ingest_batch(s, &v, 1, &ir), 0);
	rvf_ingest_result_release(&ir);
	assert_int_equal(rvf_filter_parse_json("{\"eq\":{\"field\":0,\"value\":3}}", &same), 0);
	for (int i = 0; i < 3; i++) {
		qo.filter = i == 1 ? same : flt;
		n = rvf_store_query(s, q, DIM, 5, &qo, r);
		assert_int_equal(n, 5);
		assert_int_equal(r[0].id, d.ids[j]);
		assert_true(r[0].distance == 0.0f);
	}

	/* and without metadata it stops matching again */
	v.meta = NULL;
	v.n_meta = 0;
	assert_int_equal(rvf_store_ingest_batch(s, &v, 1, &ir), 0);
	rvf_ingest_result_release(&ir);
	for (int i = 0; i < 3; i++) {
		qo.filter = i == 1 ? same : flt;
		n = rvf_store_query(s, q, DIM, 5, &qo, r);
		assert_int_equal(n, 5);
		assert_false(has_id(r, n, d.ids[j]));
		for (int x = 0; x < n; x++) {
			size_t idx = (size_t)(r[x].id - 1000) / 3;
			assert_true(sf_bf_match(&d, 0, idx));
		}
	}
	rvf_filter_free(same);
	rvf_filter_free(flt);
	rvf_store_close(s);
	sf_ds_free(&d);
}

/* Cosine distance is 1 - cos: in [0, 2] in every result, even for a vector
 * queried against itself, where rounding gives about -1e-7 unclamped. */
static void cosine_distances_stay_within_0_and_2(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_result r[5];
	int neg = 0;

	sf_ds_make(&d, DIM, NV, 47);
	s = sf_create(f->path, DIM, RVF_METRIC_COSINE);
	sf_ingest(s, &d, 0, NV, false);
	for (size_t q = 0; q < NV; q++) {
		float v[DIM];
		for (int j = 0; j < DIM; j++)
			v[j] = -d.v[q * DIM + j];         /* the opposite direction too */
		for (int flip = 0; flip < 2; flip++) {
			int n = rvf_store_query(s, flip ? v : d.v + q * DIM, DIM, 5, NULL, r);
			assert_int_equal(n, 5);
			expect_sorted(r, n);
			for (int i = 0; i < n; i++) {
				neg += r[i].distance < 0.0f;
				assert_true(r[i].distance >= 0.0f && r[i].distance <= 2.0f);
			}
		}
	}
	assert_int_equal(neg, 0);
	rvf_store_close(s);
	sf_ds_free(&d);
}

static void delete_by_filter_tombstones_exactly_the_matches(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_delete_result dr;
	struct rvf_store_status st;
	uint64_t expect = 0;

	sf_ds_make(&d, DIM, 300, 5);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, 300, true);
	struct rvf_filter *flt = sf_make_filter(10);      /* or(eq dog, lt f2 5) */
	for (size_t i = 0; i < d.n; i++)
		expect += sf_bf_match(&d, 10, i);
	assert_int_equal(rvf_store_delete_by_filter(s, flt, &dr), 0);
	assert_int_equal(dr.deleted, expect);
	assert_int_equal(rvf_store_delete_by_filter(s, NULL, &dr), -EINVAL);
	for (int round = 0; round < 2; round++) {
		float got[DIM];
		for (size_t i = 0; i < d.n; i++)
			assert_int_equal(rvf_store_get_vector(s, d.ids[i], got, DIM),
					 sf_bf_match(&d, 10, i) ? -ENOENT : 0);
		assert_int_equal(rvf_store_status(s, &st), 0);
		assert_int_equal(st.live_vectors, d.n - expect);
		assert_int_equal(st.deleted_vectors, expect);
		/* again: nothing left to match */
		assert_int_equal(rvf_store_delete_by_filter(s, flt, &dr), 0);
		assert_int_equal(dr.deleted, 0);
		sf_expect_verify(s);
		rvf_store_close(s);
		s = sf_reopen(f->path);
	}
	rvf_filter_free(flt);
	rvf_store_close(s);
	sf_ds_free(&d);
}

static void status_numbers_match_ground_truth(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;

	sf_ds_make(&d, DIM, 400, 9);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_expect_status_truth(s, 0, 0, 0, 0);
	sf_ingest(s, &d, 0, 200, false);            /* no metadata: no META segments */
	sf_ingest(s, &d, 200, 200, false);
	sf_expect_status_truth(s, 400, 0, 0, 0);
	uint64_t ids[30];
	for (int i = 0; i < 30; i++)
		ids[i] = d.ids[i * 7];
	assert_int_equal(rvf_store_delete(s, ids, 30, NULL), 0);
	sf_expect_status_truth(s, 370, 30, 30, 0);
	/* upsert 10 live ids: 10 superseded rows */
	sf_ingest(s, &d, 1, 10, false);
	/* ids 1..10 include d.ids[7] (deleted): it comes back */
	sf_expect_status_truth(s, 371, 29, 30 + 9, 0);
	rvf_store_close(s);
	s = sf_reopen(f->path);
	sf_expect_status_truth(s, 371, 29, 39, 0);
	struct rvf_store_status st;
	assert_int_equal(rvf_store_status(s, &st), 0);
	assert_int_equal(st.dimension, DIM);
	assert_false(st.read_only);
	assert_int_equal(st.profile, RVF_PROFILE_GENERIC);
	rvf_store_close(s);
	sf_ds_free(&d);
}

/* Bytes of one META SET record for vector i (meta_store.h layout). */
static uint64_t meta_rec_bytes(const struct ds *d, size_t i)
{
	uint64_t b = 9 + 2;

	for (uint32_t k = 0; k < d->nme[i]; k++) {
		const struct rvf_meta_value *v = &d->me[i][k].value;
		b += 3 + (v->type >= RVF_META_STRING ? 4 + v->v.buf.len : 8);
	}
	return b;
}

static void status_counts_dead_metadata_records(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	uint64_t dead_meta = 0, ids[20];

	sf_ds_make(&d, DIM, 200, 19);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, 100, true);
	sf_ingest(s, &d, 100, 100, true);
	sf_expect_status_truth(s, 200, 0, 0, 0);
	for (int i = 0; i < 20; i++) {
		ids[i] = d.ids[i * 9];
		if (d.has_meta[i * 9])
			dead_meta += meta_rec_bytes(&d, i * 9);
	}
	assert_int_equal(rvf_store_delete(s, ids, 20, NULL), 0);
	sf_expect_status_truth(s, 180, 20, 20, dead_meta);
	/* an upsert without metadata: the old record is dead, and the CLEAR
	 * record written for it (9 bytes) is dead from the start */
	struct rvf_vector v = { .id = d.ids[1], .values = d.v + DIM, .dim = DIM };
	assert_true(d.has_meta[1]);
	assert_int_equal(rvf_store_ingest_batch(s, &v, 1, NULL), 0);
	dead_meta += meta_rec_bytes(&d, 1);
	/* the one-record META segment holds only the dead CLEAR: whole blocks */
	uint64_t bs = rvf_dir_block_size(rvf_store_dir(s));
	uint64_t clear_seg = (64 + META_SEG_HDR + 9 + bs - 1) / bs * bs;
	sf_expect_status_truth(s, 180, 20, 21, dead_meta + clear_seg);
	rvf_store_close(s);
	s = sf_reopen(f->path);
	sf_expect_status_truth(s, 180, 20, 21, dead_meta + clear_seg);
	rvf_store_close(s);
	sf_ds_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(roundtrip_across_reopen_all_metrics, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(upsert_after_delete_is_visible_and_survives_reopen, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(duplicate_ids_in_a_batch_last_wins, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(every_filter_operator_matches_brute_force, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(cached_filter_follows_every_change, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(allowed_set_bitmap_equals_the_brute_force_predicate, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(cosine_distances_stay_within_0_and_2, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(delete_by_filter_tombstones_exactly_the_matches, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(status_numbers_match_ground_truth, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(status_counts_dead_metadata_records, sf_setup, sf_teardown),
	};

	if (sf_suite_init())
		return 1;
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
