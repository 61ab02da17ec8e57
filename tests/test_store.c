/*
 * test_store.c - the store API (include/rvf/rvf.h): round trips across
 * reopen (metric, metadata, vectors bit for bit), upsert after delete, every
 * filter operator against a brute-force evaluator, delete_by_filter, status
 * numbers against ground truth, compaction (an unknown-type segment kept
 * byte for byte, true reclaim figures), the graph checkpoint loaded (not
 * rebuilt) at open with catch-up of newer batches, read-only handles, bad
 * input, lineage, kernel and eBPF segments, recall through the store API.
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

#include "rvf/rvf.h"
#include "format/hash.h"
#include "store/store_internal.h"
#include "testutil.h"

struct fx {
	char *dir;
	char *path;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir();
	f->path = tu_path(f->dir, "s.rvf");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tu_rmrf(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* ---- a generated data set with typed metadata --------------------------------------- */

#define DIM 16
#define NV  600

struct ds {
	uint32_t dim;
	size_t n;
	uint64_t *ids;
	float *v;
	/* metadata model */
	bool has_meta[NV];
	uint64_t f0[NV];          /* u64 i % 7 */
	int64_t f1[NV];           /* i64 i % 11 - 5 */
	bool has_f2[NV];
	double f2[NV];            /* f64 i * 0.5 (absent when i % 5 == 0) */
	const char *f3[NV];       /* string */
	uint8_t f4[NV];           /* one byte of bytes */
	struct rvf_meta_entry me[NV][5];
	uint32_t nme[NV];
};

static const char *animals[] = { "cat", "dog", "bird", "" };

static void ds_make(struct ds *d, uint32_t dim, size_t n, uint64_t seed)
{
	struct tu_rng r;
	float centers[8][64];

	assert_true(n <= NV && dim <= 64);
	memset(d, 0, sizeof(*d));
	d->dim = dim;
	d->n = n;
	d->ids = calloc(n, 8);
	d->v = calloc(n * dim, 4);
	tu_rng_init(&r, seed);
	for (int c = 0; c < 8; c++)
		for (uint32_t j = 0; j < dim; j++)
			centers[c][j] = (float)(tu_rng_unit(&r) * 10 - 5);
	for (size_t i = 0; i < n; i++) {
		d->ids[i] = 1000 + i * 3;
		for (uint32_t j = 0; j < dim; j++)
			d->v[i * dim + j] = centers[i % 8][j] + (float)(tu_rng_unit(&r) - 0.5);
		d->has_meta[i] = i % 10 != 9;
		d->f0[i] = i % 7;
		d->f1[i] = (int64_t)(i % 11) - 5;
		d->has_f2[i] = i % 5 != 0;
		d->f2[i] = (double)i * 0.5;
		d->f3[i] = animals[i % 4];
		d->f4[i] = (uint8_t)(i % 3);
		if (!d->has_meta[i])
			continue;
		uint32_t k = 0;
		d->me[i][k++] = (struct rvf_meta_entry){ 0, rvf_meta_u64(d->f0[i]) };
		d->me[i][k++] = (struct rvf_meta_entry){ 1, rvf_meta_i64(d->f1[i]) };
		if (d->has_f2[i])
			d->me[i][k++] = (struct rvf_meta_entry){ 2, rvf_meta_f64(d->f2[i]) };
		d->me[i][k++] = (struct rvf_meta_entry){ 3, rvf_meta_strn(d->f3[i], strlen(d->f3[i])) };
		d->me[i][k++] = (struct rvf_meta_entry){ 4, rvf_meta_bytes(&d->f4[i], 1) };
		d->nme[i] = k;
	}
}

static void ds_free(struct ds *d)
{
	free(d->ids);
	free(d->v);
}

static struct rvf_vector *ds_vecs(const struct ds *d, size_t from, size_t n, bool meta)
{
	struct rvf_vector *v = calloc(n ? n : 1, sizeof(*v));

	for (size_t i = 0; i < n; i++) {
		size_t k = from + i;
		v[i].id = d->ids[k];
		v[i].values = d->v + k * d->dim;
		v[i].dim = d->dim;
		if (meta && d->has_meta[k]) {
			v[i].meta = d->me[k];
			v[i].n_meta = d->nme[k];
		}
	}
	return v;
}

static void ingest(struct rvf_store *s, const struct ds *d, size_t from, size_t n, bool meta)
{
	struct rvf_vector *v = ds_vecs(d, from, n, meta);
	struct rvf_ingest_result r;

	assert_int_equal(rvf_store_ingest_batch(s, v, n, &r), 0);
	assert_int_equal(r.accepted, n);
	assert_int_equal(r.rejected, 0);
	rvf_ingest_result_release(&r);
	free(v);
}

static struct rvf_store *create(const char *path, uint32_t dim, enum rvf_metric m)
{
	struct rvf_store_opts o = { .dimension = dim, .metric = m, .threads = 2 };
	struct rvf_store *s = NULL;

	assert_int_equal(rvf_store_create(path, &o, &s), 0);
	return s;
}

static struct rvf_store *reopen(const char *path)
{
	struct rvf_store *s = NULL;
	int err = rvf_store_open(path, NULL, &s);

	if (err)
		fail_msg("reopen %s: %s (%s)", path, rvf_strerror(err), rvf_last_error());
	return s;
}

static void expect_sorted(const struct rvf_result *r, int n)
{
	for (int i = 1; i < n; i++)
		assert_true(r[i - 1].distance < r[i].distance ||
			    (r[i - 1].distance == r[i].distance && r[i - 1].id < r[i].id));
}

static void expect_verify(struct rvf_store *s)
{
	int err = rvf_store_verify(s);

	if (err)
		fail_msg("verify: %s (%s)", rvf_strerror(err), rvf_last_error());
}

/* ---- round trips -------------------------------------------------------------------- */

static void roundtrip_metric(const char *path, enum rvf_metric m)
{
	struct ds d;
	struct rvf_store *s;
	struct rvf_result before[20], after[20];
	struct rvf_query_opts qo = { .flags = RVF_QUERY_EXACT };
	float got[DIM];

	ds_make(&d, DIM, 400, 7 + (uint64_t)m);
	s = create(path, DIM, m);
	ingest(s, &d, 0, 250, true);
	ingest(s, &d, 250, 150, true);
	int nb = rvf_store_query(s, d.v + 5 * DIM, DIM, 20, &qo, before);
	assert_int_equal(nb, 20);
	expect_sorted(before, nb);
	assert_int_equal(rvf_store_close(s), 0);

	s = reopen(path);
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
	expect_verify(s);
	assert_int_equal(rvf_store_close(s), 0);
	ds_free(&d);
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

	ds_make(&d, DIM, 100, 11);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, 100, true);
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
		expect_verify(s);
		assert_int_equal(rvf_store_close(s), 0);
		s = reopen(f->path);
	}
	/* upsert of a live id with metadata replaces both */
	struct rvf_meta_entry me = { 9, rvf_meta_u64(77) };
	v.meta = &me;
	v.n_meta = 1;
	v.id = d.ids[20];
	assert_int_equal(rvf_store_ingest_batch(s, &v, 1, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	s = reopen(f->path);
	{
		struct rvf_meta_entry *e = NULL;
		size_t ne = 0;
		assert_int_equal(rvf_store_get_meta(s, d.ids[20], &e, &ne), 0);
		assert_int_equal(ne, 1);
		assert_int_equal(e[0].field_id, 9);
		assert_int_equal(e[0].value.v.u64, 77);
		free(e);
	}
	expect_verify(s);
	rvf_store_close(s);
	ds_free(&d);
}

static void duplicate_ids_in_a_batch_last_wins(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = create(f->path, 4, RVF_METRIC_L2);
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
	s = reopen(f->path);
	assert_int_equal(rvf_store_get_vector(s, 1, got, 4), 0);
	assert_memory_equal(got, b, sizeof(b));
	struct rvf_store_status st;
	assert_int_equal(rvf_store_status(s, &st), 0);
	assert_int_equal(st.live_vectors, 2);
	expect_verify(s);
	rvf_store_close(s);
}

/* ---- filters ------------------------------------------------------------------------ */

#define NFILT 16

static struct rvf_filter *make_filter(int k)
{
	struct rvf_meta_value v, w, vals[3];
	struct rvf_filter *f = NULL;

	switch (k) {
	case 0: v = rvf_meta_u64(3); return rvf_filter_eq(0, &v);
	case 1: v = rvf_meta_u64(3); return rvf_filter_ne(0, &v);
	case 2: v = rvf_meta_i64(0); return rvf_filter_lt(1, &v);
	case 3: v = rvf_meta_i64(0); return rvf_filter_le(1, &v);
	case 4: v = rvf_meta_f64(100.0); return rvf_filter_gt(2, &v);
	case 5: v = rvf_meta_f64(100.0); return rvf_filter_ge(2, &v);
	case 6:
		vals[0] = rvf_meta_strn("cat", 3);
		vals[1] = rvf_meta_strn("bird", 4);
		return rvf_filter_in(3, vals, 2);
	case 7: v = rvf_meta_f64(10); w = rvf_meta_f64(60); return rvf_filter_range(2, &v, &w);
	case 8: v = rvf_meta_strn("b", 1); w = rvf_meta_strn("d", 1); return rvf_filter_range(3, &v, &w);
	case 9:
		v = rvf_meta_u64(1);
		w = rvf_meta_i64(-2);
		return rvf_filter_and(rvf_filter_eq(0, &v), rvf_filter_gt(1, &w));
	case 10:
		v = rvf_meta_strn("dog", 3);
		w = rvf_meta_f64(5);
		return rvf_filter_or(rvf_filter_eq(3, &v), rvf_filter_lt(2, &w));
	case 11: v = rvf_meta_u64(3); return rvf_filter_not(rvf_filter_eq(0, &v));
	case 12: {
		static const uint8_t one = 1;
		v = rvf_meta_bytes(&one, 1);
		return rvf_filter_eq(4, &v);
	}
	case 13: v = rvf_meta_f64(2.5); return rvf_filter_lt(0, &v);     /* u64 field vs f64 */
	case 14: v = rvf_meta_f64(-5.0); return rvf_filter_eq(1, &v);    /* i64 -5 == f64 -5.0 */
	case 15:
		/* JSON form: very selective (exact-scan plan) */
		assert_int_equal(rvf_filter_parse_json(
			"{\"and\":[{\"eq\":{\"field\":0,\"value\":{\"u64\":6}}},"
			"{\"range\":{\"field\":2,\"gte\":{\"f64\":0},\"lt\":{\"f64\":20}}}]}", &f), 0);
		return f;
	}
	return NULL;
}

/* The brute-force evaluator: straight from the data model and meta.h. */
static bool bf_match(const struct ds *d, int k, size_t i)
{
	bool m = d->has_meta[i];
	bool f2 = m && d->has_f2[i];
	const char *s3 = d->f3[i];

	switch (k) {
	case 0: return m && d->f0[i] == 3;
	case 1: return !(m && d->f0[i] == 3);
	case 2: return m && d->f1[i] < 0;
	case 3: return m && d->f1[i] <= 0;
	case 4: return f2 && d->f2[i] > 100.0;
	case 5: return f2 && d->f2[i] >= 100.0;
	case 6: return m && (!strcmp(s3, "cat") || !strcmp(s3, "bird"));
	case 7: return f2 && d->f2[i] >= 10 && d->f2[i] < 60;
	case 8: return m && strcmp(s3, "b") >= 0 && strcmp(s3, "d") < 0;
	case 9: return m && d->f0[i] == 1 && d->f1[i] > -2;
	case 10: return m && (!strcmp(s3, "dog") || (d->has_f2[i] && d->f2[i] < 5));
	case 11: return !(m && d->f0[i] == 3);
	case 12: return m && d->f4[i] == 1;
	case 13: return m && (double)d->f0[i] < 2.5;
	case 14: return m && d->f1[i] == -5;
	case 15: return m && d->f0[i] == 6 && f2 && d->f2[i] < 20;
	}
	return false;
}

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

	ds_make(&d, DIM, NV, 21);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, NV, true);
	/* a deleted vector never matches */
	uint64_t del = d.ids[3 * 7];          /* f0 == 0 ... any */
	assert_int_equal(rvf_store_delete(s, &del, 1, NULL), 0);
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < NFILT; k++) {
			struct rvf_filter *flt = make_filter(k);
			struct rvf_query_opts qo = { .filter = flt, .flags = RVF_QUERY_EXACT };
			size_t nw = 0;
			assert_non_null(flt);
			for (size_t i = 0; i < d.n; i++)
				if (d.ids[i] != del && bf_match(&d, k, i))
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
		/* both plans ran: the selective filter 15 by exact scan, the others
		 * in the graph */
		struct store_stats st;
		assert_int_equal(store_stats(s, &st), 0);
		assert_true(st.plan_exact >= 5);
		assert_true(st.plan_graph >= 5 * 10);
		/* repeated filters read their cached allowed sets */
		assert_true(st.plan_cached >= (uint64_t)NFILT * 8);
		rvf_store_close(s);
		s = reopen(f->path);
	}
	rvf_store_close(s);
	free(r);
	free(want);
	free(got);
	ds_free(&d);
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
	struct rvf_filter *flt = make_filter(0), *same = NULL;   /* f0 == 3 */
	struct rvf_query_opts qo = { .filter = flt };
	size_t j = 1;                                           /* f0 == 1: no match */
	struct rvf_meta_entry m3 = { 0, rvf_meta_u64(3) };
	int n;

	ds_make(&d, DIM, NV, 31);
	assert_false(bf_match(&d, 0, j));
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, NV, true);
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
			assert_true(bf_match(&d, 0, idx));
		}
	}
	rvf_filter_free(same);
	rvf_filter_free(flt);
	rvf_store_close(s);
	ds_free(&d);
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

	ds_make(&d, DIM, NV, 47);
	s = create(f->path, DIM, RVF_METRIC_COSINE);
	ingest(s, &d, 0, NV, false);
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
	ds_free(&d);
}

static void delete_by_filter_tombstones_exactly_the_matches(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_delete_result dr;
	struct rvf_store_status st;
	uint64_t expect = 0;

	ds_make(&d, DIM, 300, 5);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, 300, true);
	struct rvf_filter *flt = make_filter(10);      /* or(eq dog, lt f2 5) */
	for (size_t i = 0; i < d.n; i++)
		expect += bf_match(&d, 10, i);
	assert_int_equal(rvf_store_delete_by_filter(s, flt, &dr), 0);
	assert_int_equal(dr.deleted, expect);
	assert_int_equal(rvf_store_delete_by_filter(s, NULL, &dr), -EINVAL);
	for (int round = 0; round < 2; round++) {
		float got[DIM];
		for (size_t i = 0; i < d.n; i++)
			assert_int_equal(rvf_store_get_vector(s, d.ids[i], got, DIM),
					 bf_match(&d, 10, i) ? -ENOENT : 0);
		assert_int_equal(rvf_store_status(s, &st), 0);
		assert_int_equal(st.live_vectors, d.n - expect);
		assert_int_equal(st.deleted_vectors, expect);
		/* again: nothing left to match */
		assert_int_equal(rvf_store_delete_by_filter(s, flt, &dr), 0);
		assert_int_equal(dr.deleted, 0);
		expect_verify(s);
		rvf_store_close(s);
		s = reopen(f->path);
	}
	rvf_filter_free(flt);
	rvf_store_close(s);
	ds_free(&d);
}

/* ---- status and compaction ------------------------------------------------------------- */

/* Ground truth for dead bytes from the dir's own figures and the layout. */
static void expect_status_truth(struct rvf_store *s, uint64_t live, uint64_t deleted,
				uint64_t dead_rows, uint64_t dead_other)
{
	struct rvf_store_status st;
	struct rvf_dir *d = rvf_store_dir(s);
	struct rvf_dir_segment *segs = NULL;
	uint32_t *fields = NULL;
	size_t n = 0, nf = 0;
	struct stat sb;

	assert_int_equal(rvf_store_status(s, &st), 0);
	assert_int_equal(rvf_dir_segments(d, &segs, &n), 0);
	assert_int_equal(rvf_dir_vector_index_fields(d, &fields, &nf), 0);
	assert_int_equal(stat(rvf_store_path(s), &sb), 0);
	assert_int_equal(st.live_vectors, live);
	assert_int_equal(st.deleted_vectors, deleted);
	assert_int_equal(st.segments, n + nf);
	assert_int_equal(st.file_size, (uint64_t)sb.st_size);
	assert_int_equal(st.epoch, rvf_dir_generation(d));
	uint64_t bs = rvf_dir_block_size(d);
	uint64_t want = rvf_dir_free_block_count(d) * bs + dead_rows * (8 + 4 * st.dimension) + dead_other;
	uint64_t end = RVF_DATA_START + rvf_dir_total_blocks(d) * bs;
	if ((uint64_t)sb.st_size > end)
		want += (uint64_t)sb.st_size - end;
	for (size_t i = 0; i < n; i++)
		if (segs[i].type == RVF_SEG_JOURNAL)
			want += (64 + segs[i].payload_len + bs - 1) / bs * bs;
	if (st.dead_bytes != want)
		fail_msg("dead_bytes %llu, ground truth %llu", (unsigned long long)st.dead_bytes,
			 (unsigned long long)want);
	assert_true(fabs(st.dead_space_ratio - (double)want / (double)sb.st_size) < 1e-12);
	free(segs);
	free(fields);
}

static void status_numbers_match_ground_truth(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;

	ds_make(&d, DIM, 400, 9);
	s = create(f->path, DIM, RVF_METRIC_L2);
	expect_status_truth(s, 0, 0, 0, 0);
	ingest(s, &d, 0, 200, false);            /* no metadata: no META segments */
	ingest(s, &d, 200, 200, false);
	expect_status_truth(s, 400, 0, 0, 0);
	uint64_t ids[30];
	for (int i = 0; i < 30; i++)
		ids[i] = d.ids[i * 7];
	assert_int_equal(rvf_store_delete(s, ids, 30, NULL), 0);
	expect_status_truth(s, 370, 30, 30, 0);
	/* upsert 10 live ids: 10 superseded rows */
	ingest(s, &d, 1, 10, false);
	/* ids 1..10 include d.ids[7] (deleted): it comes back */
	expect_status_truth(s, 371, 29, 30 + 9, 0);
	rvf_store_close(s);
	s = reopen(f->path);
	expect_status_truth(s, 371, 29, 39, 0);
	struct rvf_store_status st;
	assert_int_equal(rvf_store_status(s, &st), 0);
	assert_int_equal(st.dimension, DIM);
	assert_false(st.read_only);
	assert_int_equal(st.profile, RVF_PROFILE_GENERIC);
	rvf_store_close(s);
	ds_free(&d);
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

	ds_make(&d, DIM, 200, 19);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, 100, true);
	ingest(s, &d, 100, 100, true);
	expect_status_truth(s, 200, 0, 0, 0);
	for (int i = 0; i < 20; i++) {
		ids[i] = d.ids[i * 9];
		if (d.has_meta[i * 9])
			dead_meta += meta_rec_bytes(&d, i * 9);
	}
	assert_int_equal(rvf_store_delete(s, ids, 20, NULL), 0);
	expect_status_truth(s, 180, 20, 20, dead_meta);
	/* an upsert without metadata: the old record is dead, and the CLEAR
	 * record written for it (9 bytes) is dead from the start */
	struct rvf_vector v = { .id = d.ids[1], .values = d.v + DIM, .dim = DIM };
	assert_true(d.has_meta[1]);
	assert_int_equal(rvf_store_ingest_batch(s, &v, 1, NULL), 0);
	dead_meta += meta_rec_bytes(&d, 1);
	/* the one-record META segment holds only the dead CLEAR: whole blocks */
	uint64_t bs = rvf_dir_block_size(rvf_store_dir(s));
	uint64_t clear_seg = (64 + META_SEG_HDR + 9 + bs - 1) / bs * bs;
	expect_status_truth(s, 180, 20, 21, dead_meta + clear_seg);
	rvf_store_close(s);
	s = reopen(f->path);
	expect_status_truth(s, 180, 20, 21, dead_meta + clear_seg);
	rvf_store_close(s);
	ds_free(&d);
}

static void compaction_keeps_unknown_segment_bytes_and_reports_truth(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_dir *dir;
	struct rvf_compact_result cr;
	struct rvf_dir_segment before, after;
	struct tu_rng rng;
	uint8_t blob[5000];
	uint64_t unk = 1ull << 40;
	float got[DIM];

	tu_rng_init(&rng, tu_seed());
	tu_rng_fill(&rng, blob, sizeof(blob));
	ds_make(&d, DIM, NV, 33);
	s = create(f->path, DIM, RVF_METRIC_L2);
	for (size_t i = 0; i < NV; i += 50)
		ingest(s, &d, i, 50, true);
	/* a segment of a type rvf does not know, written through the dir */
	dir = rvf_store_dir(s);
	assert_int_equal(rvf_dir_write_segment(dir, unk, 0xF3, blob, sizeof(blob)), 0);
	assert_int_equal(rvf_dir_commit(dir), 0);
	rvf_store_close(s);
	s = reopen(f->path);
	dir = rvf_store_dir(s);
	assert_int_equal(rvf_dir_segment_info(dir, unk, &before), 0);
	uint64_t ids[NV / 2];
	for (size_t i = 0; i < NV / 2; i++)
		ids[i] = d.ids[i * 2];
	assert_int_equal(rvf_store_delete(s, ids, NV / 2, NULL), 0);
	ingest(s, &d, 1, 20, true);                /* upserts: superseded rows */
	struct rvf_store_status st0, st1;
	assert_int_equal(rvf_store_status(s, &st0), 0);
	struct stat sb0, sb1;
	assert_int_equal(stat(f->path, &sb0), 0);
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	assert_int_equal(stat(f->path, &sb1), 0);
	/* 12 VEC + 12 META + 1 JOURNAL before, 1 VEC + 1 META + 1 META: all rewritten */
	assert_true(cr.segments_compacted >= 25);
	assert_int_equal(cr.bytes_reclaimed, (uint64_t)(sb0.st_size - sb1.st_size));
	assert_true(sb1.st_size < sb0.st_size);
	assert_int_equal(cr.epoch, rvf_dir_generation(dir));
	assert_int_equal(rvf_store_status(s, &st1), 0);
	assert_int_equal(st1.live_vectors, NV / 2 + 10);
	assert_int_equal(st1.deleted_vectors, 0);
	assert_true(st1.dead_bytes < st0.dead_bytes);
	expect_status_truth(s, NV / 2 + 10, 0, 0, 0);
	expect_verify(s);
	for (int round = 0; round < 2; round++) {
		void *buf = NULL;
		size_t len = 0;
		assert_int_equal(rvf_dir_segment_info(rvf_store_dir(s), unk, &after), 0);
		assert_int_equal(after.type, 0xF3);
		assert_int_equal(after.payload_len, sizeof(blob));
		assert_int_equal(after.timestamp_ns, before.timestamp_ns);
		assert_memory_equal(after.content_hash, before.content_hash, 16);
		assert_int_equal(after.file_offset, before.file_offset);
		assert_int_equal(rvf_dir_read_segment(rvf_store_dir(s), unk, &buf, &len), 0);
		assert_int_equal(len, sizeof(blob));
		assert_memory_equal(buf, blob, sizeof(blob));
		free(buf);
		for (size_t i = 0; i < NV; i++) {
			int want = (i % 2 == 0 && !(i >= 1 && i <= 20)) ? -ENOENT : 0;
			assert_int_equal(rvf_store_get_vector(s, d.ids[i], got, DIM), want);
			if (!want)
				assert_memory_equal(got, d.v + i * DIM, sizeof(got));
		}
		struct rvf_filter *flt = make_filter(6);
		struct rvf_query_opts qo = { .filter = flt, .flags = RVF_QUERY_EXACT };
		struct rvf_result r[NV];
		int n = rvf_store_query(s, d.v, DIM, NV, &qo, r);
		int want_n = 0;
		for (size_t i = 0; i < NV; i++)
			want_n += bf_match(&d, 6, i) && !(i % 2 == 0 && !(i >= 1 && i <= 20));
		assert_int_equal(n, want_n);
		rvf_filter_free(flt);
		expect_verify(s);
		rvf_store_close(s);
		s = reopen(f->path);
	}
	/* compacting a compact store changes nothing */
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	assert_int_equal(cr.segments_compacted, 0);
	expect_verify(s);
	rvf_store_close(s);
	ds_free(&d);
}

static void compaction_with_one_metadata_segment_keeps_it_after_its_rows(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_compact_result cr;

	ds_make(&d, DIM, 100, 35);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, 100, true);
	uint64_t id = d.ids[9];                  /* i % 10 == 9: no metadata */
	assert_false(d.has_meta[9]);
	assert_int_equal(rvf_store_delete(s, &id, 1, NULL), 0);
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	assert_true(cr.segments_compacted >= 2);
	expect_verify(s);
	rvf_store_close(s);
	s = reopen(f->path);
	expect_verify(s);
	struct rvf_meta_entry *e = NULL;
	size_t ne = 0;
	assert_int_equal(rvf_store_get_meta(s, d.ids[0], &e, &ne), 0);
	assert_int_equal(ne, d.nme[0]);
	free(e);
	rvf_store_close(s);
	ds_free(&d);
}

static void reader_keeps_its_snapshot_through_compaction(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s, *ro = NULL;
	struct rvf_compact_result cr;
	float got[DIM];
	uint64_t ids[NV / 2];

	ds_make(&d, DIM, NV, 37);
	s = create(f->path, DIM, RVF_METRIC_L2);
	for (size_t i = 0; i < NV; i += 100)
		ingest(s, &d, i, 100, true);
	assert_int_equal(rvf_store_open_readonly(f->path, NULL, &ro), 0);
	for (size_t i = 0; i < NV / 2; i++)
		ids[i] = d.ids[i];
	assert_int_equal(rvf_store_delete(s, ids, NV / 2, NULL), 0);
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	assert_true(cr.segments_compacted > 0);
	/* the reader still sees (and can read) every vector of its snapshot */
	for (size_t i = 0; i < NV; i++) {
		assert_int_equal(rvf_store_get_vector(ro, d.ids[i], got, DIM), 0);
		assert_memory_equal(got, d.v + i * DIM, sizeof(got));
	}
	expect_verify(ro);
	rvf_store_close(ro);
	expect_verify(s);
	/* without the reader, compaction moves data down and the file shrinks */
	ingest(s, &d, 0, 10, true);
	uint64_t one = d.ids[NV - 1];
	assert_int_equal(rvf_store_delete(s, &one, 1, NULL), 0);
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	expect_verify(s);
	rvf_store_close(s);
	s = reopen(f->path);
	for (size_t i = 0; i < NV; i++)
		assert_int_equal(rvf_store_get_vector(s, d.ids[i], got, DIM),
				 (i >= 10 && i < NV / 2) || i == NV - 1 ? -ENOENT : 0);
	expect_verify(s);
	rvf_store_close(s);
	ds_free(&d);
}

/* ---- graph persistence ------------------------------------------------------------------ */

/* The checkpoint is derived data: one damaged byte in it must not cost the
 * vectors. Open rebuilds the graph from the VEC segments (read-only: in
 * memory; writable: and writes a fresh checkpoint, so the next open loads
 * it again). */
static void damaged_checkpoint_is_rebuilt_from_the_vectors(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct store_stats st;
	struct rvf_result r[5];
	size_t len, at = 0;

	ds_make(&d, DIM, NV, 43);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, 400, true);
	assert_int_equal(rvf_store_close(s), 0);
	uint8_t *b = tu_slurp(f->path, &len);
	for (size_t i = 0; i + 8 <= len && !at; i++)
		if (!memcmp(b + i, "RVFCKPT1", 8))
			at = i;
	assert_true(at > 0);
	b[at + 100] ^= 0x40;
	tu_spit(f->path, b, len);
	free(b);

	for (int pass = 0; pass < 3; pass++) {
		/* pass 0 read-only (rebuild in memory), 1 writable (rebuild and
		 * a new checkpoint), 2 read-only again (loads the new one) */
		s = NULL;
		if (pass == 1)
			assert_int_equal(rvf_store_open(f->path, NULL, &s), 0);
		else
			assert_int_equal(rvf_store_open_readonly(f->path, NULL, &s), 0);
		assert_int_equal(store_stats(s, &st), 0);
		assert_int_equal(st.ckpt_loaded, pass == 2);
		struct rvf_store_status ss;
		assert_int_equal(rvf_store_status(s, &ss), 0);
		assert_int_equal(ss.live_vectors, 400);
		for (size_t q = 0; q < 400; q += 37) {
			int n = rvf_store_query(s, d.v + q * DIM, DIM, 5, NULL, r);
			assert_int_equal(n, 5);
			assert_int_equal(r[0].id, d.ids[q]);
		}
		/* verify still reports the damage until a writer replaces it */
		if (pass == 0)
			assert_true(rvf_store_verify(s) < 0);
		else
			assert_int_equal(rvf_store_verify(s), 0);
		assert_int_equal(rvf_store_close(s), 0);
	}
	ds_free(&d);
}

static void open_loads_the_graph_checkpoint_instead_of_rebuilding(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct store_stats st;
	struct rvf_result a[10], b[10];

	ds_make(&d, DIM, NV, 41);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, 400, true);
	int na = rvf_store_query(s, d.v + 3 * DIM, DIM, 10, NULL, a);
	assert_int_equal(rvf_store_close(s), 0);

	s = reopen(f->path);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.ckpt_nodes_loaded, 400);
	assert_int_equal(st.catchup_vectors, 0);
	/* the same graph answers the same (approximate) query identically */
	int nb = rvf_store_query(s, d.v + 3 * DIM, DIM, 10, NULL, b);
	assert_int_equal(na, nb);
	for (int i = 0; i < na; i++) {
		assert_int_equal(a[i].id, b[i].id);
		assert_true(a[i].distance == b[i].distance);
	}

	/* a writer that dies without closing: its batches are durable, the
	 * checkpoint is older; the next open inserts only those batches */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rvf_store_close(s);   /* parent's lock goes with this fd too: reopen */
		struct rvf_store *c = NULL;
		struct rvf_store_opts o = { .checkpoint_every = 1000000 };
		if (rvf_store_open(f->path, &o, &c))
			_exit(2);
		struct rvf_vector *v = ds_vecs(&d, 400, 200, true);
		if (rvf_store_ingest_batch(c, v, 200, NULL))
			_exit(3);
		uint64_t del = d.ids[0];
		if (rvf_store_delete(c, &del, 1, NULL))
			_exit(4);
		_exit(0);             /* no close: no checkpoint */
	}
	rvf_store_close(s);
	int wst;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
	s = reopen(f->path);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.ckpt_nodes_loaded, 400);
	assert_int_equal(st.catchup_vectors, 200);
	assert_int_equal(st.catchup_deletes, 1);
	assert_int_equal(rvf_hnsw_live_count(rvf_store_index(s)), NV - 1);
	expect_verify(s);
	assert_int_equal(rvf_store_close(s), 0);     /* checkpoints the catch-up */
	s = reopen(f->path);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.ckpt_nodes_loaded, NV);
	assert_int_equal(st.catchup_vectors, 0);
	expect_verify(s);
	rvf_store_close(s);
	ds_free(&d);
}

/* A checkpoint without the bookkeeping tables (as the first version wrote
 * them) still opens: the ids then come from the VEC segments. */
static void checkpoint_without_tables_still_opens(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct store_stats st;
	struct ckpt_hdr ck;
	void *buf = NULL;
	size_t len = 0;

	ds_make(&d, DIM, 300, 45);
	s = create(f->path, DIM, RVF_METRIC_L2);
	for (size_t i = 0; i < 300; i += 50)
		ingest(s, &d, i, 50, true);
	uint64_t del[3] = { d.ids[1], d.ids[77], d.ids[150] };
	assert_int_equal(rvf_store_delete(s, del, 3, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	s = reopen(f->path);
	assert_int_equal(rvf_dir_read_vector_index(rvf_store_dir(s), CKPT_FIELD, &buf, &len), 0);
	memcpy(&ck, buf, sizeof(ck));
	assert_int_equal(ck.flags, CKPT_F_TABLES);
	assert_int_equal(ck.nlocs, 300);
	ck.flags = 0;
	ck.nsegs = ck.nlocs = 0;
	struct iovec iov[2] = { { &ck, sizeof(ck) }, { (uint8_t *)buf + len - ck.blob_len, ck.blob_len } };
	assert_int_equal(rvf_dir_write_vector_indexv(rvf_store_dir(s), CKPT_FIELD, iov, 2), 0);
	assert_int_equal(rvf_dir_commit(rvf_store_dir(s)), 0);
	free(buf);
	rvf_store_close(s);
	s = reopen(f->path);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.catchup_vectors, 0);
	struct rvf_store_status ss;
	assert_int_equal(rvf_store_status(s, &ss), 0);
	assert_int_equal(ss.live_vectors, 297);
	assert_int_equal(ss.deleted_vectors, 3);
	expect_verify(s);
	rvf_store_close(s);
	ds_free(&d);
}

static void periodic_checkpoints_during_ingest(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s = NULL;
	struct store_stats st;
	struct rvf_store_opts o = { .dimension = DIM, .checkpoint_every = 100 };

	ds_make(&d, DIM, NV, 43);
	assert_int_equal(rvf_store_create(f->path, &o, &s), 0);
	for (size_t i = 0; i < NV; i += 60)
		ingest(s, &d, i, 60, false);
	assert_int_equal(store_stats(s, &st), 0);
	assert_true(st.checkpoints >= 4);
	expect_verify(s);
	rvf_store_close(s);
	ds_free(&d);
}

/* ---- read-only and bad input ---------------------------------------------------------- */

static void readonly_handle_refuses_every_mutator(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s, *ro = NULL;
	struct rvf_store_status st;
	float x[DIM] = { 0 };

	ds_make(&d, DIM, 50, 3);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, 50, true);
	/* a reader next to the writer */
	assert_int_equal(rvf_store_open_readonly(f->path, NULL, &ro), 0);
	struct rvf_vector v = { .id = 1, .values = x, .dim = DIM };
	uint64_t id = d.ids[0];
	struct rvf_filter *flt = make_filter(0);
	struct rvf_kernel_opts ko = { 0 };
	struct rvf_store *child = NULL;
	char *cp = tu_path(f->dir, "child.rvf");
	assert_int_equal(rvf_store_ingest_batch(ro, &v, 1, NULL), -EROFS);
	assert_int_equal(rvf_store_delete(ro, &id, 1, NULL), -EROFS);
	assert_int_equal(rvf_store_delete_by_filter(ro, flt, NULL), -EROFS);
	assert_int_equal(rvf_store_compact(ro, NULL), -EROFS);
	assert_int_equal(rvf_store_embed_kernel(ro, &ko, "k", 1, NULL, NULL), -EROFS);
	assert_int_equal(rvf_store_embed_ebpf(ro, NULL, "k", 1, NULL, 0, NULL), -EROFS);
	assert_int_equal(rvf_store_status(ro, &st), 0);
	assert_true(st.read_only);
	assert_int_equal(st.live_vectors, 50);
	struct rvf_result r[3];
	assert_int_equal(rvf_store_query(ro, d.v, DIM, 3, NULL, r), 3);
	assert_int_equal(r[0].id, d.ids[0]);
	expect_verify(ro);
	/* derive from a read-only parent works (the child is new) */
	assert_int_equal(rvf_store_derive(ro, cp, RVF_DERIVE_SNAPSHOT, NULL, &child), 0);
	rvf_store_close(child);
	rvf_filter_free(flt);
	rvf_store_close(ro);
	/* a second writer is refused while the first holds the lock */
	struct rvf_store *w2 = NULL;
	struct rvf_store_opts wo = { .write_timeout_ms = 50 };
	assert_int_equal(rvf_store_open(f->path, &wo, &w2), -EBUSY);
	rvf_store_close(s);
	free(cp);
	ds_free(&d);
}

static void bad_input_is_rejected_with_reasons(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = NULL;
	struct rvf_store_opts o = { .dimension = 4, .metric = RVF_METRIC_COSINE };
	float good[4] = { 1, 2, 3, 4 }, nan[4] = { 1, NAN, 3, 4 }, inf[4] = { INFINITY, 0, 0, 0 };
	float zero[4] = { 0 }, three[3] = { 1, 2, 3 };
	struct rvf_meta_entry dup[2] = { { 1, rvf_meta_u64(1) }, { 1, rvf_meta_u64(2) } };
	struct rvf_vector v[6] = {
		{ .id = 1, .values = good, .dim = 4 },
		{ .id = 2, .values = three, .dim = 3 },
		{ .id = 3, .values = nan, .dim = 4 },
		{ .id = 4, .values = inf, .dim = 4 },
		{ .id = 5, .values = good, .dim = 4, .meta = dup, .n_meta = 2 },
		{ .id = 6, .values = zero, .dim = 4 },
	};
	struct rvf_ingest_result r;
	char *missing = tu_path(f->dir, "nope.rvf");
	struct rvf_store *x = NULL;

	assert_int_equal(rvf_store_open(missing, NULL, &x), -ENOENT);
	assert_int_equal(rvf_store_open_readonly(missing, NULL, &x), -ENOENT);
	assert_null(x);
	struct rvf_store_opts bad = { .dimension = 0 };
	assert_int_equal(rvf_store_create(f->path, &bad, &x), -EINVAL);
	bad.dimension = 70000;
	assert_int_equal(rvf_store_create(f->path, &bad, &x), -EINVAL);
	bad.dimension = 4;
	bad.metric = (enum rvf_metric)7;
	assert_int_equal(rvf_store_create(f->path, &bad, &x), -EINVAL);
	assert_null(x);
	assert_int_equal(access(f->path, F_OK), -1);

	assert_int_equal(rvf_store_create(f->path, &o, &s), 0);
	assert_int_equal(rvf_store_create(f->path, &o, &x), -EEXIST);
	assert_int_equal(rvf_store_ingest_batch(s, v, 6, &r), 0);
	assert_int_equal(r.accepted, 1);
	assert_int_equal(r.rejected, 5);
	assert_int_equal(r.rejects[0].index, 1);
	assert_int_equal(r.rejects[0].reason, RVF_REJECT_DIMENSION);
	assert_int_equal(r.rejects[1].reason, RVF_REJECT_NONFINITE);
	assert_int_equal(r.rejects[2].reason, RVF_REJECT_NONFINITE);
	assert_int_equal(r.rejects[3].reason, RVF_REJECT_METADATA);
	assert_int_equal(r.rejects[3].id, 5);
	assert_int_equal(r.rejects[4].reason, RVF_REJECT_ZERO_NORM);
	assert_string_equal(rvf_reject_reason_name(RVF_REJECT_NONFINITE), "NaN or infinite value");
	rvf_ingest_result_release(&r);
	/* nothing accepted: no commit, same epoch */
	uint64_t e0 = rvf_dir_generation(rvf_store_dir(s));
	assert_int_equal(rvf_store_ingest_batch(s, v + 1, 2, &r), 0);
	assert_int_equal(r.accepted, 0);
	assert_int_equal(r.epoch, e0);
	rvf_ingest_result_release(&r);
	assert_int_equal(rvf_store_ingest_batch(s, NULL, 3, &r), -EINVAL);
	/* queries */
	struct rvf_result res[2];
	assert_int_equal(rvf_store_query(s, three, 3, 2, NULL, res), -EINVAL);
	assert_int_equal(rvf_store_query(s, nan, 4, 2, NULL, res), -EINVAL);
	assert_int_equal(rvf_store_query(s, good, 4, 0, NULL, res), -EINVAL);
	assert_int_equal(rvf_store_query(s, good, 4, 2, NULL, res), 1);
	assert_int_equal(res[0].id, 1);
	struct rvf_query_opts qo = { .flags = RVF_QUERY_OMIT_DISTANCES };
	assert_int_equal(rvf_store_query(s, inf, 4, 2, NULL, res), -EINVAL);
	assert_int_equal(rvf_store_query(s, good, 4, 2, &qo, res), 1);
	assert_true(res[0].distance == 0.0f);
	assert_int_equal(rvf_store_get_vector(s, 99, good, 4), -ENOENT);
	rvf_store_close(s);
	/* a file that is not a store */
	FILE *fp = fopen(missing, "w");
	fputs("hello, not a store", fp);
	fclose(fp);
	assert_true(rvf_store_open(missing, NULL, &x) < 0);
	assert_true(rvf_store_open_readonly(missing, NULL, &x) < 0);
	assert_null(x);
	/* metric names */
	enum rvf_metric m;
	assert_int_equal(rvf_metric_parse("cosine", &m), 0);
	assert_int_equal(m, RVF_METRIC_COSINE);
	assert_int_equal(rvf_metric_parse("l1", &m), -EINVAL);
	assert_string_equal(rvf_metric_name(RVF_METRIC_IP), "ip");
	free(missing);
}

/* Finite but extreme values (near FLT_MAX, denormal spreads) are accepted
 * and must not break the index (its 8-bit quantiser divides by the range). */
static void extreme_finite_values_are_stored_and_searched(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = create(f->path, 4, RVF_METRIC_L2);
	float rows[5][4] = {
		{ 3e38f, -3e38f, 0, 1 },
		{ 0, 1e-38f, 0, 0 },
		{ 1e-45f, 0, 0, 0 },
		{ -3.4e38f, 3.4e38f, -3.4e38f, 3.4e38f },
		{ 1, 2, 3, 4 },
	};
	struct rvf_vector v[5];
	struct rvf_result r[5];
	float got[4];

	for (int i = 0; i < 5; i++)
		v[i] = (struct rvf_vector){ .id = (uint64_t)i, .values = rows[i], .dim = 4 };
	assert_int_equal(rvf_store_ingest_batch(s, v, 5, NULL), 0);
	for (int i = 0; i < 5; i++) {
		assert_true(rvf_store_query(s, rows[i], 4, 5, NULL, r) > 0);
		assert_int_equal(rvf_store_get_vector(s, (uint64_t)i, got, 4), 0);
		assert_memory_equal(got, rows[i], sizeof(got));
	}
	rvf_store_close(s);
	s = reopen(f->path);
	expect_verify(s);
	rvf_store_close(s);
}

static void profile_comes_from_the_extension(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "a.rvdna", "b.RVTEXT", "c.rvgraph", "d.rvvis", "e.rvf" };
	const int want[] = { RVF_PROFILE_RVDNA, RVF_PROFILE_RVTEXT, RVF_PROFILE_RVGRAPH,
			     RVF_PROFILE_RVVISION, RVF_PROFILE_GENERIC };

	for (int i = 0; i < 5; i++) {
		char *p = tu_path(f->dir, names[i]);
		struct rvf_store *s = create(p, 3, RVF_METRIC_L2);
		struct rvf_store_status st;
		rvf_store_close(s);
		s = reopen(p);
		assert_int_equal(rvf_store_status(s, &st), 0);
		assert_int_equal(st.profile, want[i]);
		rvf_store_close(s);
		free(p);
	}
}

/* ---- recall ------------------------------------------------------------------------------- */

static void recall_through_the_store_api(void **state)
{
	struct fx *f = *state;
	const uint32_t dim = 32;
	const size_t n = 4000;
	struct rvf_store *s = create(f->path, dim, RVF_METRIC_L2);
	float *v = malloc(n * dim * 4);
	struct rvf_vector *vv = calloc(n, sizeof(*vv));
	struct tu_rng r;
	double hits = 0;
	int nq = 50;

	tu_rng_init(&r, 77);
	for (size_t i = 0; i < n * dim; i++)
		v[i] = (float)tu_rng_unit(&r);
	for (size_t i = 0; i < n; i++)
		vv[i] = (struct rvf_vector){ .id = i * 10, .values = v + i * dim, .dim = dim };
	for (size_t i = 0; i < n; i += 1000)
		assert_int_equal(rvf_store_ingest_batch(s, vv + i, 1000, NULL), 0);
	for (int round = 0; round < 2; round++) {
		hits = 0;
		for (int q = 0; q < nq; q++) {
			float qv[32];
			struct rvf_result a[10], e[10];
			struct rvf_query_opts ex = { .flags = RVF_QUERY_EXACT };
			for (uint32_t j = 0; j < dim; j++)
				qv[j] = (float)tu_rng_unit(&r);
			assert_int_equal(rvf_store_query(s, qv, dim, 10, NULL, a), 10);
			assert_int_equal(rvf_store_query(s, qv, dim, 10, &ex, e), 10);
			for (int i = 0; i < 10; i++)
				for (int j = 0; j < 10; j++)
					hits += a[i].id == e[j].id;
		}
		printf("info: recall@10 (round %d) = %.3f\n", round, hits / (nq * 10.0));
		assert_true(hits / (nq * 10.0) >= 0.9);
		rvf_store_close(s);
		s = reopen(f->path);
	}
	rvf_store_close(s);
	free(vv);
	free(v);
}


/* ---- lineage ---------------------------------------------------------------------------- */

static void derive_records_parent_hash_depth_and_type(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *p, *c = NULL, *g = NULL;
	struct rvf_file_identity pid, cid, gid;
	struct rvf_lineage_record lr;
	uint8_t h1[32], h2[32], h3[32];
	char *cp = tu_path(f->dir, "child.rvtext"), *gp = tu_path(f->dir, "grand.rvf");

	ds_make(&d, DIM, 100, 13);
	p = create(f->path, DIM, RVF_METRIC_COSINE);
	assert_int_equal(rvf_store_state_hash(p, h1), 0);
	ingest(p, &d, 0, 100, true);
	assert_int_equal(rvf_store_state_hash(p, h2), 0);
	assert_memory_not_equal(h1, h2, 32);
	assert_int_equal(rvf_store_derivation(p, &lr), -ENOENT);
	assert_int_equal(rvf_store_file_identity(p, &pid), 0);
	assert_int_equal(pid.lineage_depth, 0);
	assert_int_equal(rvf_store_derive(p, cp, RVF_DERIVE_FILTER, NULL, &c), 0);
	assert_int_equal(rvf_store_derive(p, cp, RVF_DERIVE_FILTER, NULL, &g), -EEXIST);
	assert_int_equal(rvf_store_derive(p, gp, (enum rvf_derivation_type)77, NULL, &g), -EINVAL);
	rvf_store_close(c);
	rvf_store_close(p);
	/* the parent's hash is stable across reopen */
	p = reopen(f->path);
	assert_int_equal(rvf_store_state_hash(p, h3), 0);
	assert_memory_equal(h2, h3, 32);
	c = reopen(cp);
	assert_int_equal(rvf_store_file_identity(c, &cid), 0);
	assert_memory_equal(cid.parent_id, pid.file_id, 16);
	assert_memory_not_equal(cid.file_id, pid.file_id, 16);
	assert_memory_equal(cid.parent_hash, h2, 32);
	assert_int_equal(cid.lineage_depth, 1);
	assert_int_equal(rvf_store_lineage_depth(c), 1);
	uint8_t fid[16], parent[16];
	rvf_store_file_id(c, fid);
	rvf_store_parent_id(c, parent);
	assert_memory_equal(fid, cid.file_id, 16);
	assert_memory_equal(parent, pid.file_id, 16);
	assert_int_equal(rvf_store_derivation(c, &lr), 0);
	assert_int_equal(lr.derivation_type, RVF_DERIVE_FILTER);
	assert_memory_equal(lr.file_id, cid.file_id, 16);
	assert_memory_equal(lr.parent_id, pid.file_id, 16);
	/* same parameters, empty, the child's own profile (from its extension) */
	struct rvf_store_status st;
	assert_int_equal(rvf_store_status(c, &st), 0);
	assert_int_equal(st.live_vectors, 0);
	assert_int_equal(st.metric, RVF_METRIC_COSINE);
	assert_int_equal(st.dimension, DIM);
	assert_int_equal(st.profile, RVF_PROFILE_RVTEXT);
	assert_int_equal(rvf_store_derive(c, gp, RVF_DERIVE_SNAPSHOT, NULL, &g), 0);
	assert_int_equal(rvf_store_file_identity(g, &gid), 0);
	assert_int_equal(gid.lineage_depth, 2);
	assert_memory_equal(gid.parent_id, cid.file_id, 16);
	rvf_store_close(g);
	rvf_store_close(c);
	rvf_store_close(p);
	free(cp);
	free(gp);
	ds_free(&d);
}

/* ---- KERNEL and EBPF ------------------------------------------------------------------- */

static void kernel_embed_extract_with_and_without_binding(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = create(f->path, 8, RVF_METRIC_L2);
	struct rvf_kernel_opts ko = { .arch = RVF_ARCH_X86_64, .kernel_type = RVF_KTYPE_MICROLINUX,
				      .kernel_flags = RVF_KERNEL_F_HAS_QUERY_API, .api_port = 8080,
				      .api_transport = RVF_API_TCP_HTTP, .vcpu_count = 2,
				      .cmdline = "console=ttyS0", .cmdline_len = 13 };
	struct rvf_kernel_binding b = { .binding_version = 1, .min_runtime_version = 3,
					.allowed_segment_mask = 0x3 };
	struct rvf_kernel_hdr h;
	struct rvf_kernel_binding bo;
	uint8_t img1[3000], img2[777], dig[32];
	void *img = NULL, *cmd = NULL;
	size_t ilen = 0, clen = 0;
	uint64_t id1 = 0, id2 = 0;
	struct tu_rng r;

	tu_rng_init(&r, 5);
	tu_rng_fill(&r, img1, sizeof(img1));
	tu_rng_fill(&r, img2, sizeof(img2));
	memset(b.policy_hash, 0xAB, 32);
	assert_int_equal(rvf_store_extract_kernel(s, &h, &img, &ilen, NULL, NULL), -ENOENT);
	assert_int_equal(rvf_store_extract_kernel_binding(s, &bo), -ENOENT);
	assert_int_equal(rvf_store_embed_kernel(s, &ko, img1, sizeof(img1), NULL, &id1), 0);
	assert_int_equal(rvf_store_extract_kernel_binding(s, &bo), -ENOENT);
	assert_int_equal(rvf_store_embed_kernel(s, &ko, img2, sizeof(img2), &b, &id2), 0);
	assert_true(id2 > id1);
	assert_int_equal(rvf_store_embed_kernel(s, &ko, img2, 0, NULL, NULL), -EINVAL);
	rvf_store_close(s);
	s = reopen(f->path);
	assert_int_equal(rvf_store_extract_kernel(s, &h, &img, &ilen, &cmd, &clen), 0);
	assert_int_equal(h.magic, RVF_KERNEL_MAGIC);
	assert_int_equal(ilen, sizeof(img2));
	assert_memory_equal(img, img2, sizeof(img2));
	assert_int_equal(clen, 13);
	assert_memory_equal(cmd, "console=ttyS0", 13);
	assert_int_equal(sha256(img2, sizeof(img2), dig), 0);
	assert_memory_equal(h.image_hash, dig, 32);
	assert_true(h.kernel_flags & RVF_KERNEL_F_HAS_BINDING);
	assert_true(h.kernel_flags & RVF_KERNEL_F_HAS_QUERY_API);
	assert_int_equal(h.api_port_be, (uint16_t)((8080 >> 8) | ((8080 & 0xff) << 8)));
	assert_int_equal(h.vcpu_count, 2);
	assert_int_equal(rvf_store_extract_kernel_binding(s, &bo), 0);
	assert_memory_equal(&bo, &b, sizeof(b));
	free(img);
	free(cmd);
	expect_verify(s);
	rvf_store_close(s);
}

/* A real eBPF object, compiled at test time. */
static const char bpf_src[] =
	"#define SEC(n) __attribute__((section(n), used))\n"
	"struct { int (*type)[2]; int (*max_entries)[4]; } hits SEC(\".maps\");\n"
	"SEC(\"xdp\") int xdp_pass(void *ctx) { (void)ctx; return 2; }\n"
	"char _license[] SEC(\"license\") = \"GPL\";\n";

static void *build_bpf(const char *dir, size_t *len)
{
	char *src = tu_path(dir, "p.bpf.c"), *obj = tu_path(dir, "p.bpf.o"), cmd[1024];
	FILE *fp = fopen(src, "w");
	void *buf = NULL;

	assert_non_null(fp);
	fputs(bpf_src, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "clang -O2 -g -target bpf -c %s -o %s", src, obj);
	if (system(cmd) != 0)
		fail_msg("clang -target bpf failed (needed to build the eBPF fixture)");
	fp = fopen(obj, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	*len = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc(*len);
	assert_int_equal(fread(buf, 1, *len, fp), *len);
	fclose(fp);
	free(src);
	free(obj);
	return buf;
}

static void ebpf_embed_extract_real_elf(void **state)
{
	struct fx *f = *state;
	struct rvf_store *s = create(f->path, 8, RVF_METRIC_L2);
	struct rvf_ebpf_opts eo = { .program_type = RVF_EBPF_PROG_XDP_DISTANCE,
				    .attach_type = RVF_EBPF_ATTACH_XDP_INGRESS };
	struct rvf_ebpf_hdr h;
	size_t plen = 0, olen = 0, blen = 0;
	void *prog = build_bpf(f->dir, &plen), *out = NULL, *btf = NULL;
	uint8_t dig[32], fake_btf[40];
	uint64_t seg = 0;

	memset(fake_btf, 0x5A, sizeof(fake_btf));
	assert_int_equal(rvf_store_extract_ebpf(s, &h, &out, &olen, NULL, NULL), -ENOENT);
	/* not an ELF: refused */
	assert_int_equal(rvf_store_embed_ebpf(s, &eo, "\x7f" "ELFjunkjunkjunk", 16, NULL, 0, NULL), -ENOEXEC);
	assert_int_equal(rvf_store_embed_ebpf(s, &eo, prog, plen, fake_btf, sizeof(fake_btf), &seg), 0);
	assert_true(seg > 0);
	rvf_store_close(s);
	s = reopen(f->path);
	assert_int_equal(rvf_store_extract_ebpf(s, &h, &out, &olen, &btf, &blen), 0);
	assert_int_equal(h.magic, RVF_EBPF_MAGIC);
	assert_int_equal(olen, plen);
	assert_memory_equal(out, prog, plen);
	assert_int_equal(blen, sizeof(fake_btf));
	assert_memory_equal(btf, fake_btf, blen);
	assert_int_equal(sha256(prog, plen, dig), 0);
	assert_memory_equal(h.program_hash, dig, 32);
	assert_int_equal(h.max_dimension, 8);
	assert_int_equal(h.map_count, 1);
	assert_true(h.insn_count >= 2);      /* r0 = 2; exit */
	assert_int_equal(h.program_type, RVF_EBPF_PROG_XDP_DISTANCE);
	expect_verify(s);
	free(out);
	free(btf);
	free(prog);
	rvf_store_close(s);
}

/* ---- concurrency ------------------------------------------------------------------------ */

#include <pthread.h>

struct qthread {
	struct rvf_store *s;
	const struct ds *d;
	const struct rvf_filter *flt;
	int bad;
};

static void *query_worker(void *arg)
{
	struct qthread *t = arg;

	for (int i = 0; i < 200; i++) {
		struct rvf_result r[10], e[10];
		struct rvf_query_opts qo = { .filter = (i & 1) ? t->flt : NULL };
		struct rvf_query_opts xo = qo;
		const float *q = t->d->v + (size_t)(i * 13 % (int)t->d->n) * t->d->dim;
		xo.flags = RVF_QUERY_EXACT;
		int n = rvf_store_query(t->s, q, t->d->dim, 10, &qo, r);
		int m = rvf_store_query(t->s, q, t->d->dim, 10, &xo, e);
		if (n != m || n <= 0)
			t->bad++;
	}
	return NULL;
}

static void queries_from_many_threads(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	pthread_t th[4];
	struct qthread qt[4];
	struct rvf_filter *flt = make_filter(6);

	ds_make(&d, DIM, NV, 17);
	s = create(f->path, DIM, RVF_METRIC_L2);
	ingest(s, &d, 0, NV, true);
	for (int i = 0; i < 4; i++) {
		qt[i] = (struct qthread){ s, &d, flt, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, query_worker, &qt[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(qt[i].bad, 0);
	}
	rvf_filter_free(flt);
	rvf_store_close(s);
	ds_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(roundtrip_across_reopen_all_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(upsert_after_delete_is_visible_and_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_ids_in_a_batch_last_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(every_filter_operator_matches_brute_force, setup, teardown),
		cmocka_unit_test_setup_teardown(cached_filter_follows_every_change, setup, teardown),
		cmocka_unit_test_setup_teardown(cosine_distances_stay_within_0_and_2, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_by_filter_tombstones_exactly_the_matches, setup, teardown),
		cmocka_unit_test_setup_teardown(status_numbers_match_ground_truth, setup, teardown),
		cmocka_unit_test_setup_teardown(status_counts_dead_metadata_records, setup, teardown),
		cmocka_unit_test_setup_teardown(compaction_keeps_unknown_segment_bytes_and_reports_truth, setup, teardown),
		cmocka_unit_test_setup_teardown(compaction_with_one_metadata_segment_keeps_it_after_its_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(reader_keeps_its_snapshot_through_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(open_loads_the_graph_checkpoint_instead_of_rebuilding, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_checkpoint_is_rebuilt_from_the_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(checkpoint_without_tables_still_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(periodic_checkpoints_during_ingest, setup, teardown),
		cmocka_unit_test_setup_teardown(readonly_handle_refuses_every_mutator, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_input_is_rejected_with_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(extreme_finite_values_are_stored_and_searched, setup, teardown),
		cmocka_unit_test_setup_teardown(profile_comes_from_the_extension, setup, teardown),
		cmocka_unit_test_setup_teardown(recall_through_the_store_api, setup, teardown),
		cmocka_unit_test_setup_teardown(derive_records_parent_hash_depth_and_type, setup, teardown),
		cmocka_unit_test_setup_teardown(kernel_embed_extract_with_and_without_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(ebpf_embed_extract_real_elf, setup, teardown),
		cmocka_unit_test_setup_teardown(queries_from_many_threads, setup, teardown),
	};

	tu_log_to_stderr();
	/* which kernels this run uses: a forced RVF_SIMD set the CPU lacks
	 * fails here rather than running on another set */
	if (rvf_simd_init()) {
		printf("rvf_simd_init: %s\n", rvf_last_error());
		return 1;
	}
	printf("info: distance kernels: %s\n", rvf_simd_name());
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
