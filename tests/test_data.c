/*
 * test_data.c - data set plumbing (tools/data): idx/fvecs/bvecs/ivecs readers
 * (plain and gzip), streaming in small batches, malformed input, writers,
 * the Fashion-MNIST loader, ground truth (vs a naive double-precision scan,
 * every metric, the cache) and the synthetic set's determinism.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data.h"
#include "testutil.h"

struct fx { char *dir; };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const void *buf, size_t len, int gz)
{
	if (gz) {
		gzFile g = gzopen(path, "wb");

		assert_non_null(g);
		assert_int_equal(gzwrite(g, buf, (unsigned)len), (int)len);
		assert_int_equal(gzclose(g), Z_OK);
	} else {
		FILE *f = fopen(path, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(buf, 1, len, f), len);
		fclose(f);
	}
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void idx_u8_and_f32_files_read_plain_and_gzipped(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16 + 5 * 6 * 4];
	struct data_mat m;
	char *p = tu_path(f->dir, "a.idx");

	/* u8, 5 items of 2x3 */
	memset(buf, 0, sizeof(buf));
	buf[2] = 0x08; buf[3] = 3;
	put_be32(buf + 4, 5); put_be32(buf + 8, 2); put_be32(buf + 12, 3);
	for (int i = 0; i < 30; i++)
		buf[16 + i] = (uint8_t)(i * 7);
	for (int gz = 0; gz < 2; gz++) {
		write_file(p, buf, 16 + 30, gz);
		assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), 0);
		assert_int_equal(m.n, 5);
		assert_int_equal(m.dim, 6);
		for (int i = 0; i < 30; i++)
			assert_true(m.v[i] == (float)(uint8_t)(i * 7));
		data_mat_release(&m);
	}
	/* f32 big-endian, 2 items of 3 */
	memset(buf, 0, sizeof(buf));
	buf[2] = 0x0d; buf[3] = 2;
	put_be32(buf + 4, 2); put_be32(buf + 8, 3);
	for (int i = 0; i < 6; i++) {
		float v = (float)i - 2.5f;
		uint32_t u;

		memcpy(&u, &v, 4);
		put_be32(buf + 12 + 4 * i, u);
	}
	write_file(p, buf, 12 + 24, 1);
	assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), 0);
	assert_int_equal(m.n, 2);
	for (int i = 0; i < 6; i++)
		assert_true(m.v[i] == (float)i - 2.5f);
	data_mat_release(&m);
	/* truncated, trailing bytes, bad magic */
	write_file(p, buf, 12 + 23, 0);
	assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), -EUCLEAN);
	write_file(p, buf, 12 + 24 + 1, 0);
	assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), -EUCLEAN);
	buf[0] = 1;
	write_file(p, buf, 12 + 24, 0);
	assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), -EUCLEAN);
	free(p);
}

/* A header's row count and width are claims: a tiny file claiming 2^32-1
 * rows of 2^24 values is truncated (-EUCLEAN), not a request for 2^58 bytes
 * (-ENOMEM, or an ASan abort); a full file still loads exactly. */
static void idx_header_claims_do_not_size_the_load(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16 + 3 * 4 + 1];
	struct data_mat m;
	char *p = tu_path(f->dir, "claims.idx");

	memset(buf, 0, sizeof(buf));
	buf[2] = 0x08; buf[3] = 3;
	put_be32(buf + 4, 0xffffffffu); put_be32(buf + 8, 4096); put_be32(buf + 12, 4096);
	write_file(p, buf, 16 + 12, 0);
	assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), -EUCLEAN);
	/* no rows at all, 187,212 values wide: an empty matrix */
	put_be32(buf + 4, 0); put_be32(buf + 8, 4); put_be32(buf + 12, 46803);
	write_file(p, buf, 16, 0);
	assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(m.dim, 187212);
	data_mat_release(&m);
	/* exactly the declared rows (3 of 4 values), then one trailing byte */
	put_be32(buf + 4, 3); put_be32(buf + 8, 2); put_be32(buf + 12, 2);
	for (int i = 0; i < 12; i++)
		buf[16 + i] = (uint8_t)(i + 1);
	write_file(p, buf, 16 + 12, 0);
	assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), 0);
	assert_int_equal(m.n, 3);
	for (int i = 0; i < 12; i++)
		assert_true(m.v[i] == (float)(i + 1));
	data_mat_release(&m);
	buf[16 + 12] = 9;
	write_file(p, buf, 16 + 13, 0);
	assert_int_equal(data_load(p, DATA_FMT_IDX, 0, &m), -EUCLEAN);
	free(p);
}

static void fvecs_bvecs_ivecs_round_trip_and_stream(void **state)
{
	struct fx *f = *state;
	char *p = tu_path(f->dir, "a.fvecs"), *pi = tu_path(f->dir, "a.ivecs"), *pb = tu_path(f->dir, "a.bvecs");
	float v[7 * 5];
	int32_t iv[7 * 5];
	struct data_reader *r;
	struct data_mat m;
	struct data_imat im;
	float rows[3 * 5];
	size_t total = 0;
	long got;
	(void)state;

	for (int i = 0; i < 35; i++) {
		v[i] = (float)i * 0.25f - 3;
		iv[i] = i * 1000 - 7;
	}
	assert_int_equal(data_save_fvecs(p, v, 7, 5), 0);
	assert_int_equal(data_save_ivecs(pi, iv, 7, 5), 0);
	/* stream in batches of 3: 3 + 3 + 1 + 0 */
	assert_int_equal(data_reader_open(p, DATA_FMT_FVECS, &r), 0);
	assert_int_equal(data_reader_dim(r), 5);
	assert_int_equal(data_reader_rows_hint(r), 0);
	while ((got = data_reader_next(r, rows, 3)) > 0) {
		assert_memory_equal(rows, v + total * 5, (size_t)got * 5 * sizeof(float));
		total += (size_t)got;
	}
	assert_int_equal(got, 0);
	assert_int_equal(total, 7);
	data_reader_close(r);
	data_reader_close(NULL);
	assert_int_equal(data_load(p, DATA_FMT_FVECS, 4, &m), 0);   /* max_n */
	assert_int_equal(m.n, 4);
	data_mat_release(&m);
	assert_int_equal(data_load_ivecs(pi, 0, &im), 0);
	assert_int_equal(im.n, 7);
	assert_memory_equal(im.v, iv, sizeof(iv));
	data_imat_release(&im);
	/* bvecs, gzipped */
	{
		uint8_t b[2 * (4 + 3)];
		int32_t d = 3;

		for (int i = 0; i < 2; i++) {
			memcpy(b + i * 7, &d, 4);
			b[i * 7 + 4] = 1; b[i * 7 + 5] = 200; b[i * 7 + 6] = (uint8_t)(255 - i);
		}
		write_file(pb, b, sizeof(b), 1);
		assert_int_equal(data_load(pb, DATA_FMT_BVECS, 0, &m), 0);
		assert_int_equal(m.n, 2);
		assert_true(m.v[5] == 254.0f && m.v[1] == 200.0f);
		data_mat_release(&m);
		/* a row with another dimension */
		d = 4;
		memcpy(b + 7, &d, 4);
		write_file(pb, b, sizeof(b), 0);
		assert_int_equal(data_load(pb, DATA_FMT_BVECS, 0, &m), -EUCLEAN);
		/* truncated gzip stream */
		write_file(pb, b, 0, 0);
		assert_int_equal(data_load(pb, DATA_FMT_BVECS, 0, &m), -EUCLEAN);
	}
	assert_int_equal(data_load("/nonexistent/x.fvecs", DATA_FMT_FVECS, 0, &m), -ENOENT);
	free(p);
	free(pi);
	free(pb);
}

static void truncated_gzip_is_an_error(void **state)
{
	struct fx *f = *state;
	char *p = tu_path(f->dir, "t.fvecs"), *pg = tu_path(f->dir, "t.fvecs.gz");
	float v[100 * 16];
	struct data_mat m;
	FILE *in;
	uint8_t *buf = malloc(1 << 16);
	size_t n;

	for (int i = 0; i < 1600; i++)
		v[i] = (float)i;
	assert_int_equal(data_save_fvecs(p, v, 100, 16), 0);
	in = fopen(p, "rb");
	n = fread(buf, 1, 1 << 16, in);
	fclose(in);
	write_file(pg, buf, n, 1);
	in = fopen(pg, "rb");
	n = fread(buf, 1, 1 << 16, in);
	fclose(in);
	assert_int_equal(data_load(pg, DATA_FMT_FVECS, 0, &m), 0);
	assert_int_equal(m.n, 100);
	assert_memory_equal(m.v, v, sizeof(v));
	data_mat_release(&m);
	write_file(pg, buf, n / 2, 0);
	assert_int_equal(data_load(pg, DATA_FMT_FVECS, 0, &m), -EUCLEAN);
	free(buf);
	free(p);
	free(pg);
}

static void format_names_parse(void **state)
{
	enum data_format fmt;
	(void)state;

	assert_int_equal(data_format_parse("bvecs", &fmt), 0);
	assert_int_equal(fmt, DATA_FMT_BVECS);
	assert_string_equal(data_format_name(DATA_FMT_IDX), "idx");
	assert_int_equal(data_format_parse("csv", &fmt), -EINVAL);
}

static void fashion_mnist_loads_60000_by_784(void **state)
{
	struct data_mat b, q;
	int err = data_fashion_mnist(NULL, &b, &q);
	(void)state;

	if (err == -ENOENT)
		tu_skip("Fashion-MNIST not installed (dataset-fashion-mnist)");
	assert_int_equal(err, 0);
	assert_int_equal(b.n, 60000);
	assert_int_equal(q.n, 10000);
	assert_int_equal(b.dim, 784);
	for (size_t i = 0; i < 784 * 100; i++)
		assert_true(b.v[i] >= 0 && b.v[i] <= 255 && b.v[i] == floorf(b.v[i]));
	data_mat_release(&b);
	data_mat_release(&q);
}

static double naive(enum rvf_metric m, const float *a, const float *b, uint32_t dim)
{
	double s = 0, na = 0, nb = 0;

	for (uint32_t i = 0; i < dim; i++) {
		s += m == RVF_METRIC_L2 ? ((double)a[i] - b[i]) * ((double)a[i] - b[i]) : (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	if (m == RVF_METRIC_L2)
		return s;
	if (m == RVF_METRIC_IP)
		return 1 - s;
	return (na <= 0 || nb <= 0) ? 1 : 1 - s / (sqrt(na) * sqrt(nb));
}

static void ground_truth_matches_a_naive_scan_and_is_cached(void **state)
{
	struct fx *f = *state;
	struct data_mat b, q;
	struct tu_rng r;
	(void)state;

	tu_rng_init(&r, tu_seed());
	assert_int_equal(data_mat_alloc(&b, 700, 13), 0);
	assert_int_equal(data_mat_alloc(&q, 9, 13), 0);
	for (size_t i = 0; i < 700 * 13; i++)
		b.v[i] = (float)tu_rng_below(&r, 5);   /* small integers: many ties */
	for (size_t i = 0; i < 9 * 13; i++)
		q.v[i] = (float)tu_rng_below(&r, 5);
	for (int m = 0; m < 3; m++) {
		struct data_gt gt, gt2;
		char *cache = tu_path(f->dir, "gtcache/sub");

		assert_int_equal(data_gt_compute(&b, &q, (enum rvf_metric)m, 20, 3, &gt), 0);
		for (size_t qi = 0; qi < 9; qi++) {
			double prev = -INFINITY;
			uint32_t previd = 0;

			for (uint32_t j = 0; j < 20; j++) {
				uint32_t id = gt.ids[qi * 20 + j];
				double d = naive((enum rvf_metric)m, q.v + qi * 13, b.v + (size_t)id * 13, 13);
				size_t better = 0;

				assert_true(fabs(d - gt.dist[qi * 20 + j]) <= 1e-5 * (fabs(d) + 1));
				/* sorted by distance, ties by id */
				assert_true(d > prev || (d == prev && id > previd));
				prev = d;
				previd = id;
				/* exactly j rows are strictly better or tie with a smaller id */
				for (size_t i = 0; i < 700; i++) {
					double e = naive((enum rvf_metric)m, q.v + qi * 13, b.v + i * 13, 13);

					better += e < d || (e == d && i < id);
				}
				assert_int_equal(better, j);
			}
		}
		assert_int_equal(data_gt_cached(&b, &q, (enum rvf_metric)m, 20, 1, cache, &gt2), 0);
		assert_memory_equal(gt.ids, gt2.ids, 9 * 20 * 4);
		data_gt_release(&gt2);
		assert_int_equal(access(cache, F_OK), 0);
		/* a second call reads the cache; same answer */
		assert_int_equal(data_gt_cached(&b, &q, (enum rvf_metric)m, 20, 1, cache, &gt2), 0);
		assert_memory_equal(gt.ids, gt2.ids, 9 * 20 * 4);
		{
			uint64_t found[10];

			for (int j = 0; j < 10; j++)
				found[j] = gt.ids[j];
			assert_true(data_recall_at(&gt, 0, found, 10, 10) == 1.0);
			found[0] = 100000;
			assert_true(data_recall_at(&gt, 0, found, 10, 10) == 0.9);
		}
		data_gt_release(&gt2);
		data_gt_release(&gt);
		free(cache);
	}
	data_mat_release(&b);
	data_mat_release(&q);
}

static void synthetic_set_is_seeded_and_thread_independent(void **state)
{
	struct data_synth_opts o = { .n = 5000, .nq = 50, .dim = 64, .threads = 1 };
	struct data_mat b1, q1, b2, q2, b3, q3;
	(void)state;

	assert_int_equal(data_synth_clustered(&o, &b1, &q1), 0);
	o.threads = 3;
	assert_int_equal(data_synth_clustered(&o, &b2, &q2), 0);
	assert_int_equal(b1.n, 5000);
	assert_int_equal(q1.n, 50);
	assert_int_equal(b1.dim, 64);
	assert_memory_equal(b1.v, b2.v, 5000 * 64 * 4);
	assert_memory_equal(q1.v, q2.v, 50 * 64 * 4);
	o.seed = 7;
	assert_int_equal(data_synth_clustered(&o, &b3, &q3), 0);
	assert_memory_not_equal(b1.v, b3.v, 64 * 4);
	for (size_t i = 0; i < 5000 * 64; i++)
		assert_true(isfinite(b1.v[i]));
	data_mat_release(&b1); data_mat_release(&q1);
	data_mat_release(&b2); data_mat_release(&q2);
	data_mat_release(&b3); data_mat_release(&q3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(idx_u8_and_f32_files_read_plain_and_gzipped, setup, teardown),
		cmocka_unit_test_setup_teardown(idx_header_claims_do_not_size_the_load, setup, teardown),
		cmocka_unit_test_setup_teardown(fvecs_bvecs_ivecs_round_trip_and_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated_gzip_is_an_error, setup, teardown),
		cmocka_unit_test(format_names_parse),
		cmocka_unit_test(fashion_mnist_loads_60000_by_784),
		cmocka_unit_test_setup_teardown(ground_truth_matches_a_naive_scan_and_is_cached, setup, teardown),
		cmocka_unit_test(synthetic_set_is_seeded_and_thread_independent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
