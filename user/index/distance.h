/*
 * index/distance.h - internal SIMD distance kernels and their run-time
 * dispatch. Every kernel set (scalar, avx2, avx512) implements the same
 * table; rvf_simd_init() picks one per process (see rvf/index.h).
 *
 * Kernel names say what they return:
 *   l2sq_f32(a, b, n)     sum (a_i - b_i)^2
 *   dot_f32(a, b, n)      sum a_i b_i
 *   dot_f32_u8(q, c, n)   sum q_i c_i  (float query against uint8 codes)
 *   dot_u8_i8(u, c, n)    sum u_i c_i  (uint8 query codes against int8 data
 *                         codes, exact in int32 for n <= 65536)
 *   sq8_quantise(x, n, lo, inv, step, c, sums)
 *                         c_i = min(255, floor((x_i - lo) inv + 1/2)) in
 *                         double (x_i >= lo), sums[0] = sum c_i, sums[1] =
 *                         sum r_i^2, sums[2] = sum (x_i - r_i)^2 with r_i =
 *                         lo + step c_i (double): the SQ8 codes of a node or
 *                         query and the sums its header and bound need
 * None of them needs any alignment or padding; n may be 0.
 */
#ifndef RVF_INDEX_DISTANCE_H
#define RVF_INDEX_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

struct dist_kernels {
	const char *name;
	float (*l2sq_f32)(const float *a, const float *b, size_t n);
	float (*dot_f32)(const float *a, const float *b, size_t n);
	float (*dot_f32_u8)(const float *q, const uint8_t *c, size_t n);
	int32_t (*dot_u8_i8)(const uint8_t *u, const int8_t *c, size_t n);
	void (*sq8_quantise)(const float *x, size_t n, double lo, double inv, double step, uint8_t *c,
			     double sums[3]);
};

extern const struct dist_kernels dist_kernels_scalar;
extern const struct dist_kernels dist_kernels_avx2;
extern const struct dist_kernels dist_kernels_avx512;
/* AVX-512 with VNNI (vpdpbusd) for dot_u8_i8; what "avx512" means on CPUs
 * that have VNNI. */
extern const struct dist_kernels dist_kernels_avx512_vnni;

/* The selected table, or NULL if rvf_simd_init() failed / was not called. */
const struct dist_kernels *dist_active(void);

/* Kernel set by name ("scalar", "avx2", "avx512"); NULL if unknown or if
 * this CPU cannot run it. Used by tests to compare every set against scalar. */
const struct dist_kernels *dist_by_name(const char *name);

/* Scalar helpers shared by the kernel files for short tails. */
float dist_l2sq_f32_scalar(const float *a, const float *b, size_t n);
float dist_dot_f32_scalar(const float *a, const float *b, size_t n);
float dist_dot_f32_u8_scalar(const float *q, const uint8_t *c, size_t n);
int32_t dist_dot_u8_i8_scalar(const uint8_t *u, const int8_t *c, size_t n);
void dist_sq8_quantise_scalar(const float *x, size_t n, double lo, double inv, double step, uint8_t *c,
			      double sums[3]);

#endif
