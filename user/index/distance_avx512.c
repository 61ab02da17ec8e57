/*
 * index/distance_avx512.c - AVX-512 (F/BW/DQ/VL) distance kernels, built with
 * AVX-512 flags only for this file and reached only through the dispatch
 * table after a CPU check. Four accumulators over 64 floats per step; tails
 * use masked loads, so no read ever touches memory past the row.
 */
#include <immintrin.h>

#include "index/distance.h"

static float dist_l2sq_f32_avx512(const float *a, const float *b, size_t n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		__m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		__m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		__m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		__m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; i + 16 <= n; i += 16) {
		__m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		s0 = _mm512_fmadd_ps(d, d, s0);
	}
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);
		__m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
		s1 = _mm512_fmadd_ps(d, d, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float dist_dot_f32_avx512(const float *a, const float *b, size_t n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);
		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline __m512 u8x16_to_ps(const uint8_t *c)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)c)));
}

static float dist_dot_f32_u8_avx512(const float *q, const uint8_t *c, size_t n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), u8x16_to_ps(c + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), u8x16_to_ps(c + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 32), u8x16_to_ps(c + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 48), u8x16_to_ps(c + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), u8x16_to_ps(c + i), s0);
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);
		__m512 cv = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i)));
		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), cv, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* AVX-512BW: widen to s16, vpmaddwd into s32. */
static int32_t dist_dot_u8_i8_avx512(const uint8_t *u, const int8_t *c, size_t n)
{
	__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		__m512i u0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(u + i)));
		__m512i c0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(c + i)));
		__m512i u1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(u + i + 32)));
		__m512i c1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(c + i + 32)));

		s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(u0, c0));
		s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(u1, c1));
	}
	if (i < n) {
		__mmask64 m = n - i >= 64 ? ~0ull : (1ull << (n - i)) - 1;
		__m512i u0 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8((__mmask32)m, u + i));
		__m512i c0 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8((__mmask32)m, c + i));
		__m512i u1 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8((__mmask32)(m >> 32), u + i + 32));
		__m512i c1 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8((__mmask32)(m >> 32), c + i + 32));

		s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(u0, c0));
		s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(u1, c1));
	}
	return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

/* AVX-512 VNNI: vpdpbusd multiplies 64 u8 x s8 pairs and sums groups of
 * four into the s32 lanes, one instruction per 64 values. */
__attribute__((target("avx512vnni")))
static int32_t dist_dot_u8_i8_avx512_vnni(const uint8_t *u, const int8_t *c, size_t n)
{
	__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
	size_t i = 0;

	for (; i + 128 <= n; i += 128) {
		s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(u + i), _mm512_loadu_si512(c + i));
		s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(u + i + 64), _mm512_loadu_si512(c + i + 64));
	}
	for (; i + 64 <= n; i += 64)
		s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(u + i), _mm512_loadu_si512(c + i));
	if (i < n) {
		__mmask64 m = (1ull << (n - i)) - 1;

		s1 = _mm512_dpbusd_epi32(s1, _mm512_maskz_loadu_epi8(m, u + i), _mm512_maskz_loadu_epi8(m, c + i));
	}
	return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

/* Eight doubles per step, tail masked. The multiply and add of the code
 * are the rounding (embedded-rounding) forms so the compiler cannot fuse
 * them into an FMA: the codes then equal the scalar kernel's bit for bit.
 * The sums are accumulated per lane, so they differ from scalar only by
 * summation order. */
#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
static void dist_sq8_quantise_avx512(const float *x, size_t n, double lo, double inv, double step, uint8_t *c,
				     double sums[3])
{
	const __m512d vlo = _mm512_set1_pd(lo), vinv = _mm512_set1_pd(inv), vstep = _mm512_set1_pd(step);
	const __m512d half = _mm512_set1_pd(0.5), top = _mm512_set1_pd(255.0);
	__m512d rr = _mm512_setzero_pd(), ee = _mm512_setzero_pd();
	__m512i cs = _mm512_setzero_si512();

	for (size_t i = 0; i < n; i += 8) {
		__mmask8 m = n - i >= 8 ? 0xff : (__mmask8)((1u << (n - i)) - 1);
		__m512d xd = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i));
		__m512d t = _mm512_add_round_pd(_mm512_mul_round_pd(_mm512_sub_round_pd(xd, vlo, RN), vinv, RN), half, RN);
		__m256i ci = _mm512_cvttpd_epi32(_mm512_min_pd(t, top));
		__m512d cd = _mm512_cvtepi32_pd(ci);
		__m512d r = _mm512_add_round_pd(vlo, _mm512_mul_round_pd(vstep, cd, RN), RN);
		__m512d e = _mm512_maskz_sub_pd(m, xd, r);

		r = _mm512_maskz_mov_pd(m, r);
		_mm_mask_storeu_epi8(c + i, m, _mm256_cvtepi32_epi8(ci));
		cs = _mm512_add_epi64(cs, _mm512_maskz_cvtepi32_epi64(m, ci));
		rr = _mm512_fmadd_pd(r, r, rr);
		ee = _mm512_fmadd_pd(e, e, ee);
	}
	sums[0] = (double)_mm512_reduce_add_epi64(cs);
	sums[1] = _mm512_reduce_add_pd(rr);
	sums[2] = _mm512_reduce_add_pd(ee);
}

const struct dist_kernels dist_kernels_avx512 = {
	.name = "avx512",
	.l2sq_f32 = dist_l2sq_f32_avx512,
	.dot_f32 = dist_dot_f32_avx512,
	.dot_f32_u8 = dist_dot_f32_u8_avx512,
	.dot_u8_i8 = dist_dot_u8_i8_avx512,
	.sq8_quantise = dist_sq8_quantise_avx512,
};

const struct dist_kernels dist_kernels_avx512_vnni = {
	.name = "avx512",
	.l2sq_f32 = dist_l2sq_f32_avx512,
	.dot_f32 = dist_dot_f32_avx512,
	.dot_f32_u8 = dist_dot_f32_u8_avx512,
	.dot_u8_i8 = dist_dot_u8_i8_avx512_vnni,
	.sq8_quantise = dist_sq8_quantise_avx512,
};
