/*
 * store_cow_model.h - shared by test_store_cow.c and test_store_member.c:
 * the fixture, an in-test model of what a store holds, random workloads that
 * drive a store and (optionally) its full copy, and the comparisons (exact
 * and graph search, content, membership against brute force).
 */
#ifndef RVF_TEST_STORE_COW_MODEL_H
#define RVF_TEST_STORE_COW_MODEL_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "rvf/rvf.h"
#include "store/store_internal.h"
#include "testutil.h"

#define DIM 12
#define NID 400                /* id space of the randomized workloads */
#define K   10

static uint64_t seed;           /* set by main: tu_seed() */

struct fx {
	char *dir;
};

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir();
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static inline char *P(struct fx *f, const char *name) { return tu_path(f->dir, name); }

static inline void vec_of(uint64_t vs, float *v)
{
	struct tu_rng r;

	tu_rng_init(&r, vs);
	for (int j = 0; j < DIM; j++)
		v[j] = (float)(tu_rng_unit(&r) * 2 - 1);
}

/* ---- a model: what a store holds ------------------------------------------------------ */

struct item { bool live; uint64_t vs; bool has_meta; uint64_t tag; };
struct model { struct item it[NID]; };

static inline struct rvf_store_opts opts(void)
{
	struct rvf_store_opts o = { .dimension = DIM, .threads = 1, .seed = 7 };
	return o;
}

/* Upsert ids[0..n) with vector seeds vs[] (tag = vs % 5 as u64 field 0 when
 * has_meta) into s and the model. */
static inline void put(struct rvf_store *s, struct model *m, const uint64_t *ids, const uint64_t *vs,
		const bool *meta, size_t n)
{
	struct rvf_vector *v = calloc(n, sizeof(*v));
	float *rows = calloc(n * DIM, sizeof(float));
	struct rvf_meta_entry *me = calloc(n, sizeof(*me));
	struct rvf_ingest_result r;

	for (size_t i = 0; i < n; i++) {
		vec_of(vs[i], rows + i * DIM);
		v[i] = (struct rvf_vector){ .id = ids[i], .values = rows + i * DIM, .dim = DIM };
		if (meta[i]) {
			me[i].field_id = 0;
			me[i].value.type = RVF_META_U64;
			me[i].value.v.u64 = vs[i] % 5;
			v[i].meta = &me[i];
			v[i].n_meta = 1;
		}
		if (m)
			m->it[ids[i]] = (struct item){ true, vs[i], meta[i], vs[i] % 5 };
	}
	assert_int_equal(rvf_store_ingest_batch(s, v, n, &r), 0);
	assert_int_equal(r.rejected, 0);
	rvf_ingest_result_release(&r);
	free(v);
	free(rows);
	free(me);
}

static inline void del(struct rvf_store *s, struct model *m, const uint64_t *ids, size_t n)
{
	struct rvf_delete_result r;
	uint64_t want = 0;

	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= ids[j] == ids[i];
		if (m && m->it[ids[i]].live && !dup) {
			want++;
			m->it[ids[i]].live = false;
		}
	}
	assert_int_equal(rvf_store_delete(s, ids, n, &r), 0);
	if (m)
		assert_int_equal(r.deleted, want);
}

/* A random batch of upserts or deletes over the id space. */
static inline void random_op(struct tu_rng *r, struct rvf_store *a, struct model *m, struct rvf_store *b)
{
	size_t n = 1 + tu_rng_below(r, 30);
	uint64_t ids[32], vs[32];
	bool meta[32];

	for (size_t i = 0; i < n; i++) {
		ids[i] = tu_rng_below(r, NID);
		vs[i] = tu_rng_next(r);
		meta[i] = tu_rng_below(r, 3) != 0;
	}
	if (tu_rng_below(r, 4) == 0) {
		del(a, m, ids, n);
		if (b)
			del(b, NULL, ids, n);
	} else {
		/* the batch's last instance of an id wins: model it the same way */
		put(a, m, ids, vs, meta, n);
		if (b)
			put(b, NULL, ids, vs, meta, n);
	}
}

/* ---- comparisons ---------------------------------------------------------------------- */

static inline void same_results(struct rvf_store *a, struct rvf_store *b, const struct rvf_filter *flt,
			 uint64_t qseed)
{
	float q[DIM];
	struct rvf_result ra[K], rb[K];
	struct rvf_query_opts qo = { .flags = RVF_QUERY_EXACT, .filter = flt };

	vec_of(qseed, q);
	int na = rvf_store_query(a, q, DIM, K, &qo, ra);
	int nb = rvf_store_query(b, q, DIM, K, &qo, rb);
	assert_int_equal(na, nb);
	for (int i = 0; i < na; i++) {
		assert_int_equal(ra[i].id, rb[i].id);
		assert_true(ra[i].distance == rb[i].distance);
	}
}

/* Graph search of a vs exact search of b: recall. Returns hits, adds to *tot. */
static inline int graph_hits(struct rvf_store *a, struct rvf_store *b, uint64_t qseed, int *tot)
{
	float q[DIM];
	struct rvf_result ra[K], rb[K];
	struct rvf_query_opts ex = { .flags = RVF_QUERY_EXACT }, gr = { .ef_search = 128 };
	int hits = 0;

	vec_of(qseed, q);
	int na = rvf_store_query(a, q, DIM, K, &gr, ra);
	int nb = rvf_store_query(b, q, DIM, K, &ex, rb);
	assert_true(na >= 0 && nb >= 0);
	for (int i = 0; i < nb; i++)
		for (int j = 0; j < na; j++)
			hits += rb[i].id == ra[j].id;
	*tot += nb;
	return hits;
}

static inline void same_content(struct rvf_store *a, struct rvf_store *b)
{
	uint64_t *ia, *ib;
	size_t na, nb;
	float va[DIM], vb[DIM];

	assert_int_equal(rvf_store_live_ids(a, &ia, &na), 0);
	assert_int_equal(rvf_store_live_ids(b, &ib, &nb), 0);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		struct rvf_meta_entry *ma, *mb;
		size_t ka, kb;
		assert_int_equal(ia[i], ib[i]);
		assert_int_equal(rvf_store_get_vector(a, ia[i], va, DIM), 0);
		assert_int_equal(rvf_store_get_vector(b, ib[i], vb, DIM), 0);
		assert_memory_equal(va, vb, sizeof(va));
		assert_int_equal(rvf_store_get_meta(a, ia[i], &ma, &ka), 0);
		assert_int_equal(rvf_store_get_meta(b, ib[i], &mb, &kb), 0);
		assert_int_equal(ka, kb);
		if (ka)
			assert_int_equal(ma[0].value.v.u64, mb[0].value.v.u64);
		free(ma);
		free(mb);
	}
	struct rvf_store_status sa, sb;
	assert_int_equal(rvf_store_status(a, &sa), 0);
	assert_int_equal(rvf_store_status(b, &sb), 0);
	assert_int_equal(sa.live_vectors, sb.live_vectors);
	free(ia);
	free(ib);
}

static inline struct rvf_filter *tag_filter(uint64_t tag)
{
	struct rvf_meta_value v = { .type = RVF_META_U64, .v.u64 = tag };
	return rvf_filter_eq(0, &v);
}

/* Exact search over the model's live ids allowed by membership and tag. */
static inline int brute(const struct model *m, const uint64_t *mem, size_t nmem, bool include, int tag,
		 const float *q, struct rvf_result *out)
{
	struct rvf_result all[NID];
	int n = 0;

	for (uint64_t id = 0; id < NID; id++) {
		const struct item *it = &m->it[id];
		bool in = false;
		float v[DIM];
		for (size_t i = 0; i < nmem; i++)
			in |= mem[i] == id;
		if (!it->live || in != include || (tag >= 0 && (!it->has_meta || it->tag != (uint64_t)tag)))
			continue;
		vec_of(it->vs, v);
		all[n].id = id;
		all[n++].distance = rvf_distance(RVF_METRIC_L2, q, v, DIM);
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (all[j].distance < all[i].distance ||
			    (all[j].distance == all[i].distance && all[j].id < all[i].id)) {
				struct rvf_result t = all[i];
				all[i] = all[j];
				all[j] = t;
			}
	if (n > K)
		n = K;
	memcpy(out, all, n * sizeof(*out));
	return n;
}

static inline void membership_matches_brute(struct rvf_store *s, const struct model *m, const uint64_t *mem,
				     size_t nmem, bool include)
{
	for (int tag = -1; tag < 5; tag++) {
		for (uint64_t qi = 0; qi < 8; qi++) {
			struct rvf_filter *flt = tag >= 0 ? tag_filter((uint64_t)tag) : NULL;
			struct rvf_query_opts qo = { .flags = RVF_QUERY_EXACT, .filter = flt };
			struct rvf_result got[K], want[K];
			float q[DIM];
			vec_of(seed ^ (qi * 977 + 13), q);
			/* twice: the second query reads the cached filter bitmap */
			for (int rep = 0; rep < 2; rep++) {
				int n = rvf_store_query(s, q, DIM, K, &qo, got);
				int w = brute(m, mem, nmem, include, tag, q, want);
				assert_int_equal(n, w);
				for (int i = 0; i < n; i++) {
					assert_int_equal(got[i].id, want[i].id);
					assert_true(got[i].distance == want[i].distance);
				}
			}
			/* graph search: never a non-member, and good recall */
			qo.flags = 0;
			qo.ef_search = 200;
			int n = rvf_store_query(s, q, DIM, K, &qo, got);
			int w = brute(m, mem, nmem, include, tag, q, want);
			assert_true(n >= 0 && n <= w);
			int hits = 0;
			for (int i = 0; i < n; i++) {
				bool in = false;
				for (size_t j = 0; j < nmem; j++)
					in |= mem[j] == got[i].id;
				assert_true(in == include);
				for (int j = 0; j < w; j++)
					hits += got[i].id == want[j].id;
			}
			assert_true(hits * 10 >= w * 8);
			rvf_filter_free(flt);
		}
	}
}

/* ---- branches: a parent and its full copy ------------------------------------------------ */

/* A parent with a random history and a full copy of it. */
static inline void make_parent(const char *path, const char *copy, struct tu_rng *r, struct model *m,
			struct rvf_store **parent, struct rvf_store **cp, int ops)
{
	struct rvf_store_opts o = opts();

	assert_int_equal(rvf_store_create(path, &o, parent), 0);
	assert_int_equal(rvf_store_create(copy, &o, cp), 0);
	for (int i = 0; i < ops; i++)
		random_op(r, *parent, m, *cp);
}

static inline void check_equal(struct rvf_store *child, struct rvf_store *copy, int *hits, int *tot)
{
	same_content(child, copy);
	for (uint64_t q = 0; q < 12; q++) {
		same_results(child, copy, NULL, seed + q);
		struct rvf_filter *flt = tag_filter(q % 5);
		same_results(child, copy, flt, seed + q);
		rvf_filter_free(flt);
		*hits += graph_hits(child, copy, seed * 3 + q, tot);
	}
	assert_int_equal(rvf_store_verify(child), 0);
}

#endif
