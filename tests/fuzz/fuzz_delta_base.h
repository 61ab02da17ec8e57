/*
 * fuzz_delta_base.h - the base graph fuzz_hnsw_delta applies its inputs to,
 * shared with mkseeds (which grows it and saves real deltas as seeds): one
 * definition, so a seed's fingerprint matches the target's base.
 */
#ifndef RVF_FUZZ_DELTA_BASE_H
#define RVF_FUZZ_DELTA_BASE_H

#include <stdint.h>

#include "rvf/index.h"

#define FUZZ_DELTA_DIM 4

static inline void fuzz_delta_row(uint32_t i, float *row)
{
	for (int j = 0; j < FUZZ_DELTA_DIM; j++)
		row[j] = (float)((i * 13 + (uint32_t)j * 5) % 17) / 17.0f - 0.3f;
}

/* 48 nodes, M 4, one build thread (deterministic), every 7th deleted. */
static inline int fuzz_delta_base(struct rvf_hnsw **out)
{
	struct rvf_hnsw_opts o = { .M = 4, .ef_construction = 16, .threads = 1 };
	struct rvf_hnsw *h = NULL;
	float row[FUZZ_DELTA_DIM];
	int err = rvf_hnsw_new(FUZZ_DELTA_DIM, RVF_METRIC_L2, &o, &h);

	for (uint32_t i = 0; !err && i < 48; i++) {
		fuzz_delta_row(i, row);
		err = rvf_hnsw_add(h, 1000 + i, row);
	}
	for (uint32_t i = 0; !err && i < 48; i += 7)
		err = rvf_hnsw_delete(h, 1000 + i);
	if (err) {
		rvf_hnsw_free(h);
		return err;
	}
	*out = h;
	return 0;
}

#endif
