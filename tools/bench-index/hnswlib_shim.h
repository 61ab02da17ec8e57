/* hnswlib_shim.h - the C view of hnswlib used by bench-index (see
 * hnswlib_shim.cpp). Labels are row numbers. */
#ifndef RVF_BENCH_HNSWLIB_SHIM_H
#define RVF_BENCH_HNSWLIB_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hnswlib_idx;
/* NULL on failure. Free with hnswlib_free. */
struct hnswlib_idx *hnswlib_new(uint32_t dim, size_t max_elements, uint32_t M, uint32_t efc, uint64_t seed);
void hnswlib_free(struct hnswlib_idx *h);
/* Insert rows 0..n-1 (label = row) with threads workers. 0 or -1. */
int hnswlib_add_all(struct hnswlib_idx *h, const float *vecs, size_t n, uint32_t dim, unsigned threads);
void hnswlib_set_ef(struct hnswlib_idx *h, size_t ef);
/* k nearest, nearest first; returns how many. */
int hnswlib_search(const struct hnswlib_idx *h, const float *q, uint32_t k, uint64_t *labels, float *dist);
size_t hnswlib_memory_bytes(const struct hnswlib_idx *h);

#ifdef __cplusplus
}
#endif
#endif
