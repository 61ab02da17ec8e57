/*
 * test_distance.c - the SIMD distance kernels (user/index/distance*.c):
 * every kernel set this CPU can run against the scalar set and against a
 * double-precision reference, for every length 1..1100 at random unaligned
 * offsets, and the RVF_SIMD selection rules (checked in child processes,
 * since selection happens once per process).
 *
 * Tolerance. For a float sum of n products the classic bound is
 * |computed - exact| <= gamma_n * sum |terms| with gamma_n ~ n * 2^-24; the
 * kernels split sums into up to 64 partial sums, which only tightens it.
 * We allow TOL_ULPS_PER_TERM * n * 2^-24 * sum|terms| (plus a tiny absolute
 * floor for all-zero sums), checked both against double precision and
 * between each SIMD set and scalar. Real errors are orders of magnitude
 * smaller; a wrong lane, a dropped tail or an over-read breaks it at once.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "index/distance.h"
#include "rvf/index.h"
#include "testutil.h"

#define MAX_LEN 1100
#define TOL_ULPS_PER_TERM 1.0

static const char *const sets[] = { "scalar", "avx2", "avx512", "avx512-novnni" };

/* "avx512-novnni": the AVX-512 set without VNNI, which dist_by_name("avx512")
 * does not return on a CPU that has VNNI but other CPUs run. */
static const struct dist_kernels *kernels(const char *name)
{
	if (!strcmp(name, "avx512-novnni"))
		return dist_by_name("avx512") ? &dist_kernels_avx512 : NULL;
	return dist_by_name(name);
}

static double tol_for(size_t n, double abs_terms)
{
	return TOL_ULPS_PER_TERM * (double)(n + 1) * 0x1.0p-24 * abs_terms + 1e-30;
}

/* A buffer of exactly n elements starting off elements past a fresh
 * allocation, so ASan sees reads past either end. */
static float *fbuf(size_t n, size_t off, float **base)
{
	*base = malloc((n + off) * sizeof(float));
	assert_non_null(*base);
	return *base + off;
}

static void fill_f(struct tu_rng *r, float *v, size_t n, double scale)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (float)((tu_rng_unit(r) * 2.0 - 1.0) * scale);
}

static void check_close(const char *set, const char *what, size_t n, double got, double want, double tol)
{
	if (fabs(got - want) > tol || isnan(got))
		fail_msg("%s %s n=%zu: got %.9g, want %.9g (|diff| %.3g > tol %.3g)", set, what, n, got, want,
			 fabs(got - want), tol);
}

static void kernels_match_reference_for_every_length(void **state)
{
	struct tu_rng r;
	(void)state;

	tu_rng_init(&r, tu_seed());
	for (size_t si = 0; si < sizeof(sets) / sizeof(sets[0]); si++) {
		const struct dist_kernels *k = kernels(sets[si]);
		const struct dist_kernels *s = &dist_kernels_scalar;
		size_t tested = 0;

		if (!k)
			continue;        /* said once, in main */
		for (size_t n = 1; n <= MAX_LEN; n++) {
			float *ab, *bb, *qb;
			uint8_t *cb, *c;
			float *a = fbuf(n, tu_rng_below(&r, 16), &ab);
			float *b = fbuf(n, tu_rng_below(&r, 16), &bb);
			float *q = fbuf(n, tu_rng_below(&r, 16), &qb);
			size_t coff = tu_rng_below(&r, 64);
			double scale = n % 3 == 0 ? 1000.0 : 1.0;
			double l2 = 0, l2abs = 0, dot = 0, dotabs = 0, du8 = 0, du8abs = 0;
			float g;

			{
				/* integer codes: exact */
				uint8_t *ub = malloc(n + coff), *u = ub + coff;
				int8_t *ib = malloc(n + 3), *ic = ib + 3;
				int64_t want = 0;

				assert_non_null(ub);
				assert_non_null(ib);
				for (size_t i = 0; i < n; i++) {
					u[i] = (uint8_t)tu_rng_below(&r, 256);
					ic[i] = (int8_t)((int)tu_rng_below(&r, 256) - 128);
					if (n % 7 == 0) {          /* extremes */
						u[i] = 255;
						ic[i] = (int8_t)(i & 1 ? 127 : -128);
					}
					want += (int64_t)u[i] * ic[i];
				}
				if (k->dot_u8_i8(u, ic, n) != want)
					fail_msg("%s dot_u8_i8 n=%zu: got %d, want %lld", sets[si], n,
						 k->dot_u8_i8(u, ic, n), (long long)want);
				free(ub);
				free(ib);
			}
			{
				/* SQ8 quantiser: codes bit-equal to scalar, sums to rounding */
				float *xb, *x = fbuf(n, tu_rng_below(&r, 16), &xb);
				uint8_t *cs = malloc(n), *ck = malloc(n);
				double ss[3], sk[3], lo, inv, step, off = n % 5 == 0 ? 1e4 : 0.0;
				float mn, mx;

				assert_non_null(cs);
				assert_non_null(ck);
				fill_f(&r, x, n, n % 3 == 0 ? 1e-3 : 50.0);
				mn = mx = x[0] = (float)(x[0] + off);
				for (size_t i = 1; i < n; i++) {
					x[i] = (float)(x[i] + off);
					if (n % 4 == 0 && i % 5 == 0)     /* exact half-way points */
						x[i] = x[0] + 0.5f * (float)(i % 3);
					mn = x[i] < mn ? x[i] : mn;
					mx = x[i] > mx ? x[i] : mx;
				}
				step = ((double)mx - mn) / 255.0;
				if (n % 4 == 0)
					step = 1.0;
				inv = step > 0 ? 1.0 / step : 0.0;
				step = (float)step;
				lo = mn;
				s->sq8_quantise(x, n, lo, inv, step, cs, ss);
				k->sq8_quantise(x, n, lo, inv, step, ck, sk);
				for (size_t i = 0; i < n; i++)
					if (cs[i] != ck[i])
						fail_msg("%s sq8_quantise n=%zu: code %zu is %u, scalar %u", sets[si], n, i,
							 ck[i], cs[i]);
				if (sk[0] != ss[0])
					fail_msg("%s sq8_quantise n=%zu: code sum %.17g, scalar %.17g", sets[si], n, sk[0],
						 ss[0]);
				check_close(k->name, "sq8_quantise sum r^2", n, sk[1], ss[1], 1e-12 * ss[1] + 1e-300);
				check_close(k->name, "sq8_quantise sum e^2", n, sk[2], ss[2], 1e-12 * ss[1] + 1e-300);
				free(xb);
				free(cs);
				free(ck);
			}
			cb = malloc(n + coff);
			assert_non_null(cb);
			c = cb + coff;
			fill_f(&r, a, n, scale);
			fill_f(&r, b, n, scale);
			fill_f(&r, q, n, 1.0);
			for (size_t i = 0; i < n; i++)
				c[i] = (uint8_t)tu_rng_below(&r, 256);
			for (size_t i = 0; i < n; i++) {
				double d = (double)a[i] - b[i];

				l2 += d * d;
				l2abs += d * d;
				dot += (double)a[i] * b[i];
				dotabs += fabs((double)a[i] * b[i]);
				du8 += (double)q[i] * c[i];
				du8abs += fabs((double)q[i] * c[i]);
			}
			/* the difference a-b itself rounds once: allow for it */
			g = k->l2sq_f32(a, b, n);
			check_close(k->name, "l2sq_f32 vs double", n, g, l2, tol_for(n, l2abs) + 4 * 0x1.0p-24 * l2abs);
			check_close(k->name, "l2sq_f32 vs scalar", n, g, s->l2sq_f32(a, b, n),
				    2 * tol_for(n, l2abs) + 8 * 0x1.0p-24 * l2abs);
			g = k->dot_f32(a, b, n);
			check_close(k->name, "dot_f32 vs double", n, g, dot, tol_for(n, dotabs));
			check_close(k->name, "dot_f32 vs scalar", n, g, s->dot_f32(a, b, n), 2 * tol_for(n, dotabs));
			g = k->dot_f32_u8(q, c, n);
			check_close(k->name, "dot_f32_u8 vs double", n, g, du8, tol_for(n, du8abs));
			check_close(k->name, "dot_f32_u8 vs scalar", n, g, s->dot_f32_u8(q, c, n),
				    2 * tol_for(n, du8abs));
			free(ab);
			free(bb);
			free(qb);
			free(cb);
			tested++;
		}
		printf("info: %s: %zu lengths x 5 kernels checked\n", sets[si], tested);
	}
}

static void kernels_return_zero_for_empty_rows(void **state)
{
	float x = 1.0f;
	uint8_t c = 7;
	(void)state;

	for (size_t si = 0; si < sizeof(sets) / sizeof(sets[0]); si++) {
		const struct dist_kernels *k = kernels(sets[si]);

		if (!k)
			continue;
		assert_true(k->l2sq_f32(&x, &x, 0) == 0.0f);
		assert_true(k->dot_f32(&x, &x, 0) == 0.0f);
		assert_true(k->dot_f32_u8(&x, &c, 0) == 0.0f);
		assert_int_equal(k->dot_u8_i8(&c, (const int8_t *)&c, 0), 0);
	}
}

static void identical_rows_have_zero_l2(void **state)
{
	struct tu_rng r;
	float v[MAX_LEN];
	(void)state;

	tu_rng_init(&r, tu_seed() + 1);
	fill_f(&r, v, MAX_LEN, 100.0);
	for (size_t si = 0; si < sizeof(sets) / sizeof(sets[0]); si++) {
		const struct dist_kernels *k = kernels(sets[si]);

		if (!k)
			continue;
		for (size_t n = 1; n <= MAX_LEN; n += 7)
			assert_true(k->l2sq_f32(v, v, n) == 0.0f);
	}
}

static void unknown_kernel_names_are_rejected(void **state)
{
	(void)state;
	assert_null(dist_by_name("sse2"));
	assert_null(dist_by_name(""));
	assert_non_null(dist_by_name("scalar"));
}

/* ---- RVF_SIMD, in child processes ------------------------------------------ */

static double ref_metric(enum rvf_metric m, const float *a, const float *b, uint32_t n)
{
	double dot = 0, na = 0, nb = 0, l2 = 0;

	for (uint32_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];

		l2 += d * d;
		dot += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	if (m == RVF_METRIC_L2)
		return l2;
	if (m == RVF_METRIC_IP)
		return 1.0 - dot;
	if (na <= 0 || nb <= 0)
		return 1.0;
	return 1.0 - dot / (sqrt(na) * sqrt(nb));
}

/* Child body: with RVF_SIMD=want, selection must pick exactly that set and
 * rvf_distance must agree with double precision for every metric.
 * Exit 0 ok, 10+ on a specific failure. */
static int child_forced(const char *want, uint64_t seed)
{
	struct tu_rng r;
	float a[MAX_LEN], b[MAX_LEN];
	struct rvf_hnsw *h = NULL;

	if (rvf_simd_init() != 0)
		return 10;
	if (strcmp(rvf_simd_name(), want))
		return 11;
	tu_rng_init(&r, seed);
	/* the SQ8 traversal runs on this set's integer kernel: every stored
	 * vector must find itself */
	if (rvf_hnsw_new(37, RVF_METRIC_L2, NULL, &h) != 0)
		return 12;
	for (uint32_t i = 0; i < 300; i++) {
		for (uint32_t d = 0; d < 37; d++)
			a[i * 37 % 700 + d] = (float)(tu_rng_unit(&r) * 2 - 1);
		if (rvf_hnsw_add(h, i, a + i * 37 % 700))
			return 13;
	}
	for (uint32_t i = 0; i < 300; i++) {
		struct rvf_hnsw_result res[1];
		const float *v = rvf_hnsw_vector(h, i);

		if (!v || rvf_hnsw_search(h, v, 1, 32, NULL, res) != 1 || res[0].label != i)
			return 14;
	}
	rvf_hnsw_free(h);
	for (uint32_t n = 1; n <= MAX_LEN; n += 13) {
		for (uint32_t i = 0; i < n; i++) {
			a[i] = (float)(tu_rng_unit(&r) * 2 - 1);
			b[i] = (float)(tu_rng_unit(&r) * 2 - 1);
		}
		for (int m = 0; m < 3; m++) {
			double want_d = ref_metric((enum rvf_metric)m, a, b, n);
			double got = rvf_distance((enum rvf_metric)m, a, b, n);

			/* |terms| <= 1 each: absolute bound n * 2^-24 * few */
			if (fabs(got - want_d) > 8.0 * (n + 1) * 0x1.0p-24)
				return 20 + m;
		}
	}
	if (!isnan(rvf_distance((enum rvf_metric)7, a, b, 4)))
		return 30;
	/* cosine with a zero vector is defined as distance 1 */
	memset(a, 0, sizeof(a));
	if (rvf_distance(RVF_METRIC_COSINE, a, b, 16) != 1.0f)
		return 31;
	return 0;
}

static int run_child(const char *env, int (*body)(const char *, uint64_t), const char *arg)
{
	pid_t pid;
	int st = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (env)
			setenv("RVF_SIMD", env, 1);
		else
			unsetenv("RVF_SIMD");
		_exit(body(arg, tu_seed()));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void rvf_simd_forces_each_supported_set(void **state)
{
	(void)state;
	for (size_t si = 0; si < sizeof(sets) / sizeof(sets[0]); si++) {
		int rc;

		if (!strcmp(sets[si], "avx512-novnni"))
			continue;        /* not an RVF_SIMD value */
		if (!kernels(sets[si]))
			continue;        /* said once, in main */
		rc = run_child(sets[si], child_forced, sets[si]);
		if (rc)
			fail_msg("RVF_SIMD=%s: child failed with code %d", sets[si], rc);
	}
}

static int child_best(const char *unused, uint64_t seed)
{
	(void)unused;
	(void)seed;
	if (rvf_simd_init() != 0)
		return 10;
	/* the best set the CPU supports */
	if (dist_by_name("avx512"))
		return strcmp(rvf_simd_name(), "avx512") ? 11 : 0;
	if (dist_by_name("avx2"))
		return strcmp(rvf_simd_name(), "avx2") ? 12 : 0;
	return strcmp(rvf_simd_name(), "scalar") ? 13 : 0;
}

static void without_rvf_simd_the_best_set_is_chosen(void **state)
{
	(void)state;
	assert_int_equal(run_child(NULL, child_best, NULL), 0);
	assert_int_equal(run_child("", child_best, NULL), 0);
}

static int child_unknown(const char *unused, uint64_t seed)
{
	struct rvf_hnsw *h = NULL;
	float a[4] = { 1, 2, 3, 4 };

	(void)unused;
	(void)seed;
	if (rvf_simd_init() != -EINVAL)
		return 10;
	if (rvf_simd_init() != -EINVAL)    /* sticky, every call */
		return 11;
	if (strcmp(rvf_simd_name(), "unsupported"))
		return 12;
	if (rvf_hnsw_new(4, RVF_METRIC_L2, NULL, &h) != -EINVAL || h)
		return 13;
	if (!isnan(rvf_distance(RVF_METRIC_L2, a, a, 4)))
		return 14;
	return 0;
}

static void unknown_rvf_simd_value_is_an_error_not_a_fallback(void **state)
{
	(void)state;
	assert_int_equal(run_child("sse9", child_unknown, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kernels_match_reference_for_every_length),
		cmocka_unit_test(kernels_return_zero_for_empty_rows),
		cmocka_unit_test(identical_rows_have_zero_l2),
		cmocka_unit_test(unknown_kernel_names_are_rejected),
		cmocka_unit_test(rvf_simd_forces_each_supported_set),
		cmocka_unit_test(without_rvf_simd_the_best_set_is_chosen),
		cmocka_unit_test(unknown_rvf_simd_value_is_an_error_not_a_fallback),
	};

	/* One line says which sets this CPU let us check, so a CPU without
	 * AVX-512 shows it instead of passing as if it had been tested. */
	{
		char have[128] = "", lack[128] = "";

		for (size_t si = 0; si < sizeof(sets) / sizeof(sets[0]); si++) {
			char *to = kernels(sets[si]) ? have : lack;
			size_t l = strlen(to);

			snprintf(to + l, 128 - l, "%s%s", l ? " " : "", sets[si]);
		}
		printf("info: kernel sets checked: %s%s%s\n", have, lack[0] ? "; not on this CPU, not tested: " : "",
		       lack);
	}
	tu_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
