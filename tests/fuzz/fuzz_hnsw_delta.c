/*
 * fuzz_hnsw_delta - arbitrary bytes as an HNSW delta (rvf_hnsw_load_delta)
 * applied to a fixed base graph (fuzz_delta_base.h). The first input byte
 * selects repairs, so mutations reach past the cheap checks: bit 0 rewrites
 * the trailing XXH3 checksum, bit 1 the base node count and fingerprint.
 * A delta that loads must leave a graph that passes rvf_hnsw_check and
 * answers a search; one refused before any change must leave the base as it
 * was (same bytes).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "rvf/error.h"
#include "rvf/index.h"
#include "fuzz_delta_base.h"
#include "fuzz_util.h"

static float zero[FUZZ_DELTA_DIM];
static void *base_blob;
static size_t base_len;
static uint64_t base_fp, base_nodes;

static const float *vec(void *ctx, uint64_t label, uint32_t id)
{
	(void)ctx; (void)label; (void)id;
	return zero;
}

static void base_init(void)
{
	struct rvf_hnsw *h = NULL;
	uint64_t *hashes = NULL;

	if (base_blob)
		return;
	if (fuzz_delta_base(&h) || rvf_hnsw_base_sign(h, &hashes, &base_fp) ||
	    rvf_hnsw_save(h, RVF_HNSW_SAVE_VECTORS, &base_blob, &base_len))
		abort();
	base_nodes = rvf_hnsw_count(h);
	free(hashes);
	rvf_hnsw_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct rvf_hnsw *h = NULL;
	struct rvf_hnsw_result res[4];
	uint8_t *buf;
	size_t n;
	int err;

	rvf_set_log(fuzz_quiet, NULL, RVF_LOG_ERROR);
	base_init();
	if (!len)
		return 0;
	n = len - 1;
	buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	memcpy(buf, data + 1, n);
	if ((data[0] & 2) && n >= 80) {
		memcpy(buf + 40, &base_nodes, 8);
		memcpy(buf + 72, &base_fp, 8);
	}
	if ((data[0] & 1) && n >= 8) {
		uint64_t sum = XXH3_64bits(buf, n - 8);
		memcpy(buf + n - 8, &sum, 8);
	}
	if (rvf_hnsw_load(base_blob, base_len, NULL, NULL, &h))
		abort();
	err = rvf_hnsw_load_delta(h, base_fp, buf, n, vec, NULL);
	if (!err) {
		if (rvf_hnsw_check(h))
			abort();
		rvf_hnsw_search(h, zero, 4, 16, NULL, res);
	} else if (err != -EUCLEAN) {
		/* refused before any change (only a result that fails its check
		 * comes back -EUCLEAN after one): the base is untouched */
		void *b = NULL;
		size_t bl = 0;
		if (rvf_hnsw_save(h, RVF_HNSW_SAVE_VECTORS, &b, &bl) || bl != base_len ||
		    memcmp(b, base_blob, bl))
			abort();
		free(b);
	}
	rvf_hnsw_free(h);
	free(buf);
	return 0;
}
