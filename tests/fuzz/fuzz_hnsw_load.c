/*
 * fuzz_hnsw_load - arbitrary bytes as a serialised HNSW index. A blob that
 * loads must pass rvf_hnsw_check and answer a search.
 *
 * Every input is tried twice: as given (the length and checksum gates), and
 * resealed: a copy with the header's payload length and the trailing XXH3
 * rewritten to match, so mutations reach the node table, lists and vectors
 * instead of dying at the checksum almost every time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "rvf/error.h"
#include "rvf/index.h"
#include "fuzz_util.h"

#define HDR      128u    /* blob header; the payload length sits at 104 */
#define PLEN_OFF 104u

static float zero[65536];

static const float *vec(void *ctx, uint64_t label, uint32_t id)
{
	(void)ctx; (void)label; (void)id;
	return zero;
}

static void try_load(const uint8_t *data, size_t len)
{
	struct rvf_hnsw *h = NULL;
	struct rvf_hnsw_result res[4];

	if (rvf_hnsw_load(data, len, vec, NULL, &h))
		return;
	if (rvf_hnsw_check(h))
		abort();
	rvf_hnsw_search(h, zero, 4, 16, NULL, res);
	rvf_hnsw_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint64_t plen, sum;
	uint8_t *copy;

	rvf_set_log(fuzz_quiet, NULL, RVF_LOG_ERROR);
	try_load(data, len);
	if (len < HDR + 8)
		return 0;
	copy = malloc(len);
	if (!copy)
		abort();
	memcpy(copy, data, len);
	plen = len - HDR - 8;
	memcpy(copy + PLEN_OFF, &plen, 8);
	sum = XXH3_64bits(copy, len - 8);
	memcpy(copy + len - 8, &sum, 8);
	try_load(copy, len);
	free(copy);
	return 0;
}
