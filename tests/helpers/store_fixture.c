/*
 * store_fixture.c - see store_fixture.h.
 */
#include "store_fixture.h"
#include "store/store_peek.h"

int sf_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir();
	f->path = tu_path(f->dir, "s.rvf");
	*state = f;
	return 0;
}

int sf_teardown(void **state)
{
	struct fx *f = *state;

	tu_rmrf(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

const char *sf_animals[] = { "cat", "dog", "bird", "" };

void sf_ds_make(struct ds *d, uint32_t dim, size_t n, uint64_t seed)
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
		d->f3[i] = sf_animals[i % 4];
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

void sf_ds_free(struct ds *d)
{
	free(d->ids);
	free(d->v);
}

struct rvf_vector *sf_ds_vecs(const struct ds *d, size_t from, size_t n, bool meta)
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

void sf_ingest(struct rvf_store *s, const struct ds *d, size_t from, size_t n, bool meta)
{
	struct rvf_vector *v = sf_ds_vecs(d, from, n, meta);
	struct rvf_ingest_result r;

	assert_int_equal(rvf_store_ingest_batch(s, v, n, &r), 0);
	assert_int_equal(r.accepted, n);
	assert_int_equal(r.rejected, 0);
	rvf_ingest_result_release(&r);
	free(v);
}

struct rvf_store *sf_create(const char *path, uint32_t dim, enum rvf_metric m)
{
	struct rvf_store_opts o = { .dimension = dim, .metric = m, .threads = 2 };
	struct rvf_store *s = NULL;

	assert_int_equal(rvf_store_create(path, &o, &s), 0);
	return s;
}

struct rvf_store *sf_reopen(const char *path)
{
	struct rvf_store *s = NULL;
	int err = rvf_store_open(path, NULL, &s);

	if (err)
		fail_msg("reopen %s: %s (%s)", path, rvf_strerror(err), rvf_last_error());
	return s;
}

void sf_expect_verify(struct rvf_store *s)
{
	int err = rvf_store_verify(s);

	if (err)
		fail_msg("verify: %s (%s)", rvf_strerror(err), rvf_last_error());
}

struct rvf_filter *sf_make_filter(int k)
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

bool sf_bf_match(const struct ds *d, int k, size_t i)
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

void sf_expect_status_truth(struct rvf_store *s, uint64_t live, uint64_t deleted,
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

int sf_suite_init(void)
{
	tu_log_to_stderr();
	return tu_simd_announce();
}
