/*
 * index/distance.c - scalar distance kernels, run-time selection of the SIMD
 * set (CPU features, overridable with RVF_SIMD) and the public rvf_distance.
 *
 * Selection happens once (pthread_once). A forced set the CPU lacks is an
 * error reported by every later rvf_simd_init() call, never replaced by a
 * slower set behind the caller's back.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "index/distance.h"
#include "rvf/index.h"

/* Four independent partial sums: lets the compiler pipeline the scalar loop
 * and keeps rounding close to the SIMD sets (which also split the sum). */
float dist_l2sq_f32_scalar(const float *a, const float *b, size_t n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
		float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
		s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
	}
	for (; i < n; i++) {
		float d = a[i] - b[i];
		s0 += d * d;
	}
	return (s0 + s1) + (s2 + s3);
}

float dist_dot_f32_scalar(const float *a, const float *b, size_t n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

float dist_dot_f32_u8_scalar(const float *q, const uint8_t *c, size_t n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		s0 += q[i] * (float)c[i]; s1 += q[i + 1] * (float)c[i + 1];
		s2 += q[i + 2] * (float)c[i + 2]; s3 += q[i + 3] * (float)c[i + 3];
	}
	for (; i < n; i++)
		s0 += q[i] * (float)c[i];
	return (s0 + s1) + (s2 + s3);
}

int32_t dist_dot_u8_i8_scalar(const uint8_t *u, const int8_t *c, size_t n)
{
	int32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += (int32_t)u[i] * c[i];
	return s;
}

void dist_sq8_quantise_scalar(const float *x, size_t n, double lo, double inv, double step, uint8_t *c,
			      double sums[3])
{
	double cs = 0, rr = 0, ee = 0;

	for (size_t i = 0; i < n; i++) {
		double t = ((double)x[i] - lo) * inv + 0.5, r;
		int ci = t < 255.0 ? (int)t : 255;

		c[i] = (uint8_t)ci;
		cs += ci;
		r = lo + step * ci;
		rr += r * r;
		ee += ((double)x[i] - r) * ((double)x[i] - r);
	}
	sums[0] = cs;
	sums[1] = rr;
	sums[2] = ee;
}

const struct dist_kernels dist_kernels_scalar = {
	.name = "scalar",
	.l2sq_f32 = dist_l2sq_f32_scalar,
	.dot_f32 = dist_dot_f32_scalar,
	.dot_f32_u8 = dist_dot_f32_u8_scalar,
	.dot_u8_i8 = dist_dot_u8_i8_scalar,
	.sq8_quantise = dist_sq8_quantise_scalar,
};

static pthread_once_t simd_once = PTHREAD_ONCE_INIT;
static const struct dist_kernels *simd_active;
static int simd_err;

static int cpu_has_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int cpu_has_avx512(void)
{
	__builtin_cpu_init();
	return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
	       __builtin_cpu_supports("avx512vl");
}

const struct dist_kernels *dist_by_name(const char *name)
{
	if (!strcmp(name, "scalar"))
		return &dist_kernels_scalar;
	if (!strcmp(name, "avx2"))
		return cpu_has_avx2() ? &dist_kernels_avx2 : NULL;
	if (!strcmp(name, "avx512")) {
		if (!cpu_has_avx512())
			return NULL;
		return __builtin_cpu_supports("avx512vnni") ? &dist_kernels_avx512_vnni : &dist_kernels_avx512;
	}
	return NULL;
}

static void simd_select(void)
{
	const char *forced = getenv("RVF_SIMD");

	if (forced && *forced) {
		if (strcmp(forced, "scalar") && strcmp(forced, "avx2") && strcmp(forced, "avx512")) {
			simd_err = log_fail(-EINVAL, "RVF_SIMD=%s: unknown kernel set (want scalar, avx2 or avx512)",
					    forced);
			return;
		}
		simd_active = dist_by_name(forced);
		if (!simd_active) {
			simd_err = log_fail(-ENOTSUP, "RVF_SIMD=%s: this CPU does not support %s", forced, forced);
			return;
		}
		log_debug("simd: using %s kernels (forced by RVF_SIMD)", simd_active->name);
		return;
	}
	if (cpu_has_avx512())
		simd_active = dist_by_name("avx512");
	else if (cpu_has_avx2())
		simd_active = &dist_kernels_avx2;
	else
		simd_active = &dist_kernels_scalar;
	log_debug("simd: using %s kernels (CPU features)", simd_active->name);
}

int rvf_simd_init(void)
{
	pthread_once(&simd_once, simd_select);
	if (simd_err)
		return log_fail(simd_err, "simd: kernel selection failed (RVF_SIMD=%s)",
				getenv("RVF_SIMD") ? getenv("RVF_SIMD") : "");
	return 0;
}

const struct dist_kernels *dist_active(void)
{
	pthread_once(&simd_once, simd_select);
	return simd_active;
}

const char *rvf_simd_name(void)
{
	const struct dist_kernels *k = dist_active();

	return k ? k->name : "unsupported";
}

float rvf_distance(enum rvf_metric metric, const float *a, const float *b, uint32_t dim)
{
	const struct dist_kernels *k = dist_active();
	float na, nb, d;

	if (!k) {
		log_error("rvf_distance: no usable SIMD kernels (see RVF_SIMD)");
		return NAN;
	}
	switch (metric) {
	case RVF_METRIC_L2:
		return k->l2sq_f32(a, b, dim);
	case RVF_METRIC_IP:
		return 1.0f - k->dot_f32(a, b, dim);
	case RVF_METRIC_COSINE:
		na = k->dot_f32(a, a, dim);
		nb = k->dot_f32(b, b, dim);
		if (na <= 0 || nb <= 0)
			return 1.0f;
		d = 1.0f - k->dot_f32(a, b, dim) / (sqrtf(na) * sqrtf(nb));
		/* rounding can step just outside [0, 2] */
		return d < 0.0f ? 0.0f : d > 2.0f ? 2.0f : d;
	}
	log_error("rvf_distance: unknown metric %d", (int)metric);
	return NAN;
}
