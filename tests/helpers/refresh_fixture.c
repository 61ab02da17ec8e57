/*
 * refresh_fixture.c - see refresh_fixture.h.
 */
#include "refresh_fixture.h"

const char *rf_animals[] = { "cat", "dog", "bird", "" };

int rf_setup(void **state)
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

int rf_teardown(void **state)
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

void rf_vec_of(uint64_t id, uint32_t ver, float *out)
{
	struct tu_rng r;

	tu_rng_init(&r, id * 1000003u + ver * 7919u + 1);
	for (uint32_t j = 0; j < DIM; j++)
		out[j] = (float)((double)((id + j) % 8) * 2.0 + tu_rng_unit(&r) - 0.5);
}

void rf_batch_make(struct batch *b, uint64_t from, size_t n, uint32_t ver)
{
	b->n = n;
	b->v = calloc(n, sizeof(*b->v));
	b->vals = calloc(n * DIM, sizeof(float));
	b->me = calloc(n, sizeof(*b->me));
	for (size_t i = 0; i < n; i++) {
		uint64_t id = from + i, m = id + ver;
		const char *a = rf_animals[m % 4];

		rf_vec_of(id, ver, b->vals + i * DIM);
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

void rf_batch_free(struct batch *b)
{
	free(b->v);
	free(b->vals);
	free(b->me);
}

int rf_put(struct rvf_store *s, uint64_t from, size_t n, uint32_t ver)
{
	struct batch b;
	struct rvf_ingest_result r;
	int err;

	rf_batch_make(&b, from, n, ver);
	err = rvf_store_ingest_batch(s, b.v, n, &r);
	if (!err && r.rejected)
		err = -EINVAL;
	if (!err)
		rvf_ingest_result_release(&r);
	rf_batch_free(&b);
	return err;
}

struct rvf_store *rf_make_store(const char *path, size_t n)
{
	struct rvf_store_opts o = { .dimension = DIM, .threads = 2, .checkpoint_every = 1000000 };
	struct rvf_store *s = NULL;

	assert_int_equal(rvf_store_create(path, &o, &s), 0);
	assert_int_equal(rf_put(s, 0, n, 0), 0);
	return s;
}

struct rvf_store *rf_open_ro(const char *path)
{
	struct rvf_store_opts o = { .threads = 1 };
	struct rvf_store *s = NULL;
	int err = rvf_store_open_readonly(path, &o, &s);

	if (err)
		fail_msg("open_readonly %s: %s (%s)", path, rvf_strerror(err), rvf_last_error());
	return s;
}

uint64_t rf_epoch_of(const struct rvf_store *s)
{
	struct rvf_store_status st;

	assert_int_equal(rvf_store_status(s, &st), 0);
	return st.epoch;
}

bool rf_changed(const struct rvf_store *s)
{
	bool c = false;

	assert_int_equal(rvf_store_changed(s, &c), 0);
	return c;
}

void rf_query_vec(size_t q, float *out)
{
	rf_vec_of(1000000 + q, 0, out);
}

void rf_answers_of(struct fx *f, const struct rvf_store *s, struct answers *a)
{
	size_t k = 0;
	float q[DIM];

	memset(a, 0, sizeof(*a));
	assert_int_equal(rvf_store_status(s, &a->st), 0);
	assert_int_equal(rvf_store_live_ids(s, &a->ids, &a->nids), 0);
	for (size_t i = 0; i < NQ; i++) {
		struct rvf_query_opts o = { .ef_search = EF };

		rf_query_vec(i, q);
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
					rf_query_vec(i, q);
					a->n[k] = rvf_store_query(s, q, DIM, K, &o, a->r[k]);
					k++;
				}
	assert_int_equal(k, NANS);
	for (size_t i = 0; i < NANS; i++)
		assert_true(a->n[i] >= 0);
}

void rf_answers_release(struct answers *a)
{
	free(a->ids);
	a->ids = NULL;
}

void rf_same_results(const struct rvf_result *x, int nx, const struct rvf_result *y, int ny,
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

/* rf_answers_of stores each HNSW answer (even index) right before the
 * exact answer to the same query (odd index). */
static bool answer_is_exact(size_t i)
{
	return i % 2 == 1;
}

static bool id_is_live(const struct answers *a, uint64_t id)
{
	size_t lo = 0, hi = a->nids;

	while (lo < hi) {                       /* live ids come sorted */
		size_t mid = lo + (hi - lo) / 2;

		if (a->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < a->nids && a->ids[lo] == id;
}

/* How many of the exact answer's ids the HNSW answer holds. */
static size_t overlap(const struct rvf_result *x, int nx, const struct rvf_result *e, int ne)
{
	size_t hit = 0;

	for (int i = 0; i < nx; i++)
		for (int j = 0; j < ne; j++)
			if (x[i].id == e[j].id) {
				hit++;
				break;
			}
	return hit;
}

void rf_equivalent_answers(const struct answers *a, const struct answers *b, const char *what)
{
	size_t hit_a = 0, hit_b = 0, want = 0;

	rf_same_status_and_ids(a, b, what);
	for (size_t i = 0; i < NANS; i++) {
		const size_t e = i + 1;         /* the exact twin of an HNSW answer */

		if (answer_is_exact(i)) {
			rf_same_results(a->r[i], a->n[i], b->r[i], b->n[i], what, i);
			continue;
		}
		if (a->n[i] != b->n[i])
			fail_msg("%s %zu: %d results vs %d", what, i, a->n[i], b->n[i]);
		for (int j = 0; j < a->n[i]; j++) {
			if (!id_is_live(a, a->r[i][j].id) || !id_is_live(b, b->r[i][j].id))
				fail_msg("%s %zu: result %d is not a live id", what, i, j);
			if ((j && a->r[i][j].distance < a->r[i][j - 1].distance) ||
			    (j && b->r[i][j].distance < b->r[i][j - 1].distance))
				fail_msg("%s %zu: results out of distance order", what, i);
		}
		hit_a += overlap(a->r[i], a->n[i], a->r[e], a->n[e]);
		hit_b += overlap(b->r[i], b->n[i], b->r[e], b->n[e]);
		want += (size_t)a->n[e];
	}
	/* two graphs built along different paths may each miss a neighbour the
	 * other finds; both must still find nearly all of them */
	if (want && (hit_a * 100 < want * 95 || hit_b * 100 < want * 95))
		fail_msg("%s: HNSW recall against the exact answers %.4f (refreshed) and %.4f (fresh), "
			 "need >= 0.95", what, (double)hit_a / (double)want, (double)hit_b / (double)want);
}

void rf_same_answers(const struct answers *a, const struct answers *b, const char *what)
{
	rf_same_status_and_ids(a, b, what);
	for (size_t i = 0; i < NANS; i++)
		rf_same_results(a->r[i], a->n[i], b->r[i], b->n[i], what, i);
}

void rf_same_status_and_ids(const struct answers *a, const struct answers *b, const char *what)
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
}

void rf_expect_matches_fresh(struct fx *f, const struct rvf_store *r, const char *what)
{
	struct rvf_store *fresh = rf_open_ro(f->path);
	struct answers *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	assert_int_equal(rf_epoch_of(fresh), rf_epoch_of(r));
	rf_answers_of(f, r, a);
	rf_answers_of(f, fresh, b);
	rf_same_answers(a, b, what);
	rf_answers_release(a);
	rf_answers_release(b);
	free(a);
	free(b);
	rvf_store_close(fresh);
}

void rf_expect_ctx_matches_query(struct fx *f, const struct rvf_store *s, struct rvf_query_ctx *c)
{
	struct rvf_result x[200], y[200];
	float q[DIM];
	static const uint32_t ks[] = { 1, K, 200 };

	rf_query_vec(0, q);
	for (int fi = 0; fi < NFILT; fi++)
		for (int w = 0; w < 2; w++) {
			struct rvf_query_opts o = { .filter = f->filt[fi] };
			assert_true(rvf_store_query(s, q, DIM, K, &o, x) >= 0);
		}
	for (size_t i = 0; i < NQ; i++) {
		rf_query_vec(i, q);
		for (int fi = -1; fi < NFILT; fi++)
			for (unsigned fl = 0; fl < 4; fl++)
				for (size_t ki = 0; ki < 3; ki++) {
					struct rvf_query_opts o = { .filter = fi < 0 ? NULL : f->filt[fi],
								    .flags = fl, .ef_search = ki == 1 ? EF : 0 };
					int nx = rvf_store_query(s, q, DIM, ks[ki], &o, x);
					int ny = rvf_store_query_ctx(s, c, q, DIM, ks[ki], &o, y);
					assert_true(nx >= 0);
					rf_same_results(x, nx, y, ny, "ctx vs query", i);
				}
	}
}
