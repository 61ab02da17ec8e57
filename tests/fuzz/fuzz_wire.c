/*
 * fuzz_wire - arbitrary bytes through every wire parser (rvf/wire.h): the
 * query validator against a namespace shape taken from the first bytes, the
 * reply parser, and the stats request/reply parsers. Whatever a parser
 * accepts must encode back to exactly the same bytes; a query the validator
 * passes must have the length, k and finiteness it promises.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rvf/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t out[RVF_WIRE_MAX_DATAGRAM + 64];
	struct rvf_wire_ns ns = { 0 };
	struct rvf_wire_query q;
	struct rvf_wire_reply r;
	const void *vec = NULL;
	const char *json;
	size_t jlen;
	uint64_t rid;
	int n;

	if (len < 4)
		return 0;
	/* shape: dim from bytes 0-1 (small, so real queries turn up), type 2 */
	ns.dim = (uint16_t)((data[0] | data[1] << 8) % 64);
	ns.elem_type = data[2] % 4;
	ns.max_k = data[3] % 3 == 0 ? 0 : data[3];
	bool served = data[3] & 0x80;
	data += 4;
	len -= 4;

	enum rvf_wire_reason why = rvf_wire_query_validate(data, len, served ? &ns : NULL, &q, &vec);
	if ((unsigned)why >= RVF_WIRE_R_NREASONS)
		abort();
	if (why == RVF_WIRE_R_PASSED) {
		if (len != RVF_WIRE_QUERY_HDR_LEN + (size_t)q.dim * rvf_wire_elem_size(q.elem_type) ||
		    q.k == 0 || q.k > RVF_WIRE_MAX_K || (q.ef && q.ef < q.k) ||
		    !rvf_wire_vector_finite(vec, q.dim, q.elem_type))
			abort();
		n = rvf_wire_query_encode(&q, vec, out, sizeof(out));
		if (n < 0 || (size_t)n != len || memcmp(out, data, len))
			abort();
	}
	if (rvf_wire_reason_status(why) < -1)
		abort();

	if (rvf_wire_reply_parse(data, len, &r) == 0) {
		struct rvf_wire_result res[RVF_WIRE_MAX_K];

		for (uint16_t i = 0; i < r.count; i++)
			rvf_wire_reply_result(data, i, &res[i]);
		n = rvf_wire_reply_encode(&r, res, out, sizeof(out));
		if (n < 0 || (size_t)n != len || memcmp(out, data, len))
			abort();
	}
	if (rvf_wire_stats_request_parse(data, len, &rid) == 0) {
		n = rvf_wire_stats_request_encode(rid, out, sizeof(out));
		if (n != (int)len || memcmp(out, data, len))
			abort();
	}
	if (rvf_wire_stats_reply_parse(data, len, &json, &jlen) == 0) {
		n = rvf_wire_stats_reply_encode(json, jlen, out, sizeof(out));
		if (n < 0 || (size_t)n != len || memcmp(out, data, len))
			abort();
	}
	return 0;
}
