/*
 * index/distance_avx2.c - AVX2+FMA distance kernels (built with -mavx2 -mfma
 * only for this file; reached only through the dispatch table after a CPU
 * check). Four independent accumulators over 32 floats per step; the tail
 * (< 8 values) goes to the scalar kernel.
 */
#include <immintrin.h>

#include "index/distance.h"

static inline float hsum256(__m256 v)
{
	__m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
	__m128 s = _mm_add_ps(lo, hi);

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static float dist_l2sq_f32_avx2(const float *a, const float *b, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		__m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		__m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; i + 8 <= n; i += 8) {
		__m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		s0 = _mm256_fmadd_ps(d, d, s0);
	}
	s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
	return hsum256(s0) + dist_l2sq_f32_scalar(a + i, b + i, n - i);
}

static float dist_dot_f32_avx2(const float *a, const float *b, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
	return hsum256(s0) + dist_dot_f32_scalar(a + i, b + i, n - i);
}

static inline __m256 u8x8_to_ps(const uint8_t *c)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)c)));
}

static float dist_dot_f32_u8_avx2(const float *q, const uint8_t *c, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), u8x8_to_ps(c + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), u8x8_to_ps(c + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), u8x8_to_ps(c + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), u8x8_to_ps(c + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), u8x8_to_ps(c + i), s0);
	s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
	return hsum256(s0) + dist_dot_f32_u8_scalar(q + i, c + i, n - i);
}

/* u8 x s8 widened to s16 and multiplied pairwise into s32 (vpmaddwd): no
 * saturation, unlike vpmaddubsw. */
static int32_t dist_dot_u8_i8_avx2(const uint8_t *u, const int8_t *c, size_t n)
{
	__m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
	__m128i t;
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m256i u0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(u + i)));
		__m256i c0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c + i)));
		__m256i u1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(u + i + 16)));
		__m256i c1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c + i + 16)));

		s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(u0, c0));
		s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(u1, c1));
	}
	s0 = _mm256_add_epi32(s0, s1);
	t = _mm_add_epi32(_mm256_castsi256_si128(s0), _mm256_extracti128_si256(s0, 1));
	t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
	t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
	return _mm_cvtsi128_si32(t) + dist_dot_u8_i8_scalar(u + i, c + i, n - i);
}

const struct dist_kernels dist_kernels_avx2 = {
	.name = "avx2",
	.l2sq_f32 = dist_l2sq_f32_avx2,
	.dot_f32 = dist_dot_f32_avx2,
	.dot_f32_u8 = dist_dot_f32_u8_avx2,
	.dot_u8_i8 = dist_dot_u8_i8_avx2,
	.sq8_quantise = dist_sq8_quantise_scalar,   /* once per vector: not worth a kernel */
};
