/*
 * fuzz_hnsw_load - arbitrary bytes as a serialised HNSW index. A blob that
 * loads must pass rvf_hnsw_check and answer a search.
 */
#include <stdint.h>
#include <stdlib.h>

#include "rvf/error.h"
#include "rvf/index.h"

static float zero[65536];

static void quiet(void *ctx, enum rvf_log_level l, const char *msg)
{
	(void)ctx; (void)l; (void)msg;
}

static const float *vec(void *ctx, uint64_t label, uint32_t id)
{
	(void)ctx; (void)label; (void)id;
	return zero;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct rvf_hnsw *h = NULL;
	struct rvf_hnsw_result res[4];

	rvf_set_log(quiet, NULL, RVF_LOG_ERROR);
	if (rvf_hnsw_load(data, len, vec, NULL, &h))
		return 0;
	if (rvf_hnsw_check(h))
		abort();
	rvf_hnsw_search(h, zero, 4, 16, NULL, res);
	rvf_hnsw_free(h);
	return 0;
}
