/*
 * wire/wire.c - the userspace codec of the UDP query protocol (rvf/wire.h):
 * encoders for queries, replies and stats messages, their parsers, and the
 * validator the daemon runs on every datagram before it searches.
 *
 * Invariants: nothing here reads outside [buf, buf + len); every multi-byte
 * field is read and written little-endian through memcpy (datagrams sit at
 * any alignment, and x86 and arm64 are little-endian so it is a plain load);
 * the validator's order of checks is the table in wire.h, which the BPF
 * prefilter shares, so both count a datagram under the same reason.
 */
#include <errno.h>
#include <string.h>

#include "rvf/wire.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire format is little-endian; a big-endian port needs byte swaps here"
#endif

void rvf_wire_query_init(struct rvf_wire_query *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = RVF_WIRE_QUERY_MAGIC;
	h->version = RVF_WIRE_VERSION;
	h->hdr_len = RVF_WIRE_QUERY_HDR_LEN;
}

int rvf_wire_query_encode(const struct rvf_wire_query *h, const void *vec, void *buf, size_t cap)
{
	uint32_t esz = rvf_wire_elem_size(h->elem_type);
	size_t vlen, len;

	if (!esz || h->dim > RVF_WIRE_MAX_DIM || (h->dim && !vec))
		return -EINVAL;
	vlen = (size_t)h->dim * esz;
	len = RVF_WIRE_QUERY_HDR_LEN + vlen;
	if (len > cap)
		return -ENOSPC;
	memcpy(buf, h, RVF_WIRE_QUERY_HDR_LEN);
	if (vlen)
		memcpy((uint8_t *)buf + RVF_WIRE_QUERY_HDR_LEN, vec, vlen);
	return (int)len;
}

enum rvf_wire_reason rvf_wire_query_parse(const void *buf, size_t len, struct rvf_wire_query *h)
{
	struct rvf_wire_query q;

	if (len < RVF_WIRE_QUERY_HDR_LEN)
		return RVF_WIRE_R_TRUNCATED;
	memcpy(&q, buf, sizeof(q));
	if (q.magic != RVF_WIRE_QUERY_MAGIC)
		return RVF_WIRE_R_BAD_MAGIC;
	if (h)
		*h = q;
	if (q.version != RVF_WIRE_VERSION)
		return RVF_WIRE_R_BAD_VERSION;
	if (q.hdr_len != RVF_WIRE_QUERY_HDR_LEN || (q.flags & ~RVF_WIRE_QF_KNOWN) || q.reserved)
		return RVF_WIRE_R_BAD_HEADER;
	return RVF_WIRE_R_PASSED;
}

enum rvf_wire_reason rvf_wire_query_validate(const void *buf, size_t len, const struct rvf_wire_ns *ns,
					     struct rvf_wire_query *h, const void **vec)
{
	struct rvf_wire_query q;
	enum rvf_wire_reason r = rvf_wire_query_parse(buf, len, &q);
	uint32_t max_k;
	const uint8_t *v;

	if (r == RVF_WIRE_R_TRUNCATED || r == RVF_WIRE_R_BAD_MAGIC)
		return r;
	if (h)
		*h = q;
	if (r != RVF_WIRE_R_PASSED)
		return r;
	if (!ns || q.ns_id >= RVF_WIRE_MAX_NS)
		return RVF_WIRE_R_NOT_MEMBER;
	if (q.dim != ns->dim || q.elem_type != ns->elem_type || !rvf_wire_elem_size(q.elem_type))
		return RVF_WIRE_R_BAD_DIM;
	if (len != (size_t)q.hdr_len + (size_t)q.dim * rvf_wire_elem_size(q.elem_type))
		return RVF_WIRE_R_BAD_LENGTH;
	max_k = ns->max_k ? ns->max_k : RVF_WIRE_MAX_K;
	if (max_k > RVF_WIRE_MAX_K)
		max_k = RVF_WIRE_MAX_K;
	if (q.k == 0 || q.k > max_k || (q.ef && q.ef < q.k))
		return RVF_WIRE_R_BAD_K;
	v = (const uint8_t *)buf + q.hdr_len;
	if (!rvf_wire_vector_finite(v, q.dim, q.elem_type))
		return RVF_WIRE_R_NONFINITE;
	if (vec)
		*vec = v;
	return RVF_WIRE_R_PASSED;
}

/* An f32 is NaN or infinite when its 8 exponent bits are all set; an f16
 * when its 5 are. The OR of (bits & mask) == mask over the vector is
 * branch-free, so the compiler vectorises the loop. */
bool rvf_wire_vector_finite(const void *vec, uint32_t dim, uint8_t elem_type)
{
	const uint8_t *p = vec;
	uint32_t bad = 0;

	switch (elem_type) {
	case RVF_WIRE_ELEM_F32:
		for (uint32_t i = 0; i < dim; i++) {
			uint32_t x;

			memcpy(&x, p + 4 * (size_t)i, 4);
			bad |= (x & 0x7f800000u) == 0x7f800000u;
		}
		return !bad;
	case RVF_WIRE_ELEM_F16:
		for (uint32_t i = 0; i < dim; i++) {
			uint16_t x;

			memcpy(&x, p + 2 * (size_t)i, 2);
			bad |= (x & 0x7c00u) == 0x7c00u;
		}
		return !bad;
	case RVF_WIRE_ELEM_I8:
		return true;
	default:
		return false;
	}
}

int rvf_wire_reason_status(enum rvf_wire_reason r)
{
	switch (r) {
	case RVF_WIRE_R_PASSED:
		return RVF_WIRE_OK;
	case RVF_WIRE_R_NOT_MEMBER:
		return RVF_WIRE_NOT_MEMBER;
	case RVF_WIRE_R_BAD_VERSION:
	case RVF_WIRE_R_BAD_HEADER:
	case RVF_WIRE_R_BAD_DIM:
	case RVF_WIRE_R_BAD_LENGTH:
	case RVF_WIRE_R_BAD_K:
	case RVF_WIRE_R_NONFINITE:
		return RVF_WIRE_BAD_REQUEST;
	default:
		return -1;
	}
}

const char *rvf_wire_reason_name(enum rvf_wire_reason r)
{
	static const char *const names[RVF_WIRE_R_NREASONS] = {
		[RVF_WIRE_R_PASSED] = "passed",         [RVF_WIRE_R_BAD_MAGIC] = "bad_magic",
		[RVF_WIRE_R_BAD_VERSION] = "bad_version", [RVF_WIRE_R_BAD_HEADER] = "bad_header",
		[RVF_WIRE_R_BAD_DIM] = "bad_dim",       [RVF_WIRE_R_BAD_LENGTH] = "bad_length",
		[RVF_WIRE_R_BAD_K] = "bad_k",           [RVF_WIRE_R_NOT_MEMBER] = "not_member",
		[RVF_WIRE_R_TRUNCATED] = "truncated",   [RVF_WIRE_R_NONFINITE] = "nonfinite",
	};

	return (unsigned)r < RVF_WIRE_R_NREASONS ? names[r] : "unknown";
}

const char *rvf_wire_status_name(int status)
{
	switch (status) {
	case RVF_WIRE_OK: return "ok";
	case RVF_WIRE_BAD_REQUEST: return "bad_request";
	case RVF_WIRE_NOT_MEMBER: return "not_member";
	case RVF_WIRE_OVERLOADED: return "overloaded";
	case RVF_WIRE_SHUTTING_DOWN: return "shutting_down";
	case RVF_WIRE_INTERNAL: return "internal";
	default: return "unknown";
	}
}

rvf_u64 *rvf_wire_counter_field(struct rvf_wire_counters *c, enum rvf_wire_reason r)
{
	switch (r) {
	case RVF_WIRE_R_PASSED: return &c->passed;
	case RVF_WIRE_R_BAD_MAGIC: return &c->bad_magic;
	case RVF_WIRE_R_BAD_VERSION: return &c->bad_version;
	case RVF_WIRE_R_BAD_HEADER: return &c->bad_header;
	case RVF_WIRE_R_BAD_DIM: return &c->bad_dim;
	case RVF_WIRE_R_BAD_LENGTH: return &c->bad_length;
	case RVF_WIRE_R_BAD_K: return &c->bad_k;
	case RVF_WIRE_R_NOT_MEMBER: return &c->not_member;
	case RVF_WIRE_R_TRUNCATED: return &c->truncated;
	case RVF_WIRE_R_NONFINITE: return &c->nonfinite;
	default: return NULL;
	}
}

int rvf_wire_reply_encode(const struct rvf_wire_reply *h, const struct rvf_wire_result *res,
			  void *buf, size_t cap)
{
	struct rvf_wire_reply r = *h;
	size_t len;

	if (r.count > RVF_WIRE_MAX_K || (r.count && !res))
		return -EINVAL;
	len = RVF_WIRE_REPLY_HDR_LEN + (size_t)r.count * RVF_WIRE_RESULT_LEN;
	if (len > cap)
		return -ENOSPC;
	r.magic = RVF_WIRE_REPLY_MAGIC;
	r.version = RVF_WIRE_VERSION;
	memcpy(buf, &r, sizeof(r));
	if (r.count)
		memcpy((uint8_t *)buf + RVF_WIRE_REPLY_HDR_LEN, res, (size_t)r.count * RVF_WIRE_RESULT_LEN);
	return (int)len;
}

int rvf_wire_reply_parse(const void *buf, size_t len, struct rvf_wire_reply *h)
{
	struct rvf_wire_reply r;

	if (len < RVF_WIRE_REPLY_HDR_LEN)
		return -EPROTO;
	memcpy(&r, buf, sizeof(r));
	if (r.magic != RVF_WIRE_REPLY_MAGIC || r.version != RVF_WIRE_VERSION || r.reserved ||
	    r.status > RVF_WIRE_INTERNAL || r.count > RVF_WIRE_MAX_K ||
	    (r.count && r.status != RVF_WIRE_OK) ||
	    len != RVF_WIRE_REPLY_HDR_LEN + (size_t)r.count * RVF_WIRE_RESULT_LEN)
		return -EPROTO;
	*h = r;
	return 0;
}

void rvf_wire_reply_result(const void *buf, uint16_t i, struct rvf_wire_result *out)
{
	memcpy(out, (const uint8_t *)buf + RVF_WIRE_REPLY_HDR_LEN + (size_t)i * RVF_WIRE_RESULT_LEN,
	       sizeof(*out));
}

int rvf_wire_stats_request_encode(rvf_u64 request_id, void *buf, size_t cap)
{
	struct rvf_wire_query q;

	if (cap < RVF_WIRE_QUERY_HDR_LEN)
		return -ENOSPC;
	rvf_wire_query_init(&q);
	q.magic = RVF_WIRE_STATS_MAGIC;
	q.request_id = request_id;
	memcpy(buf, &q, sizeof(q));
	return RVF_WIRE_QUERY_HDR_LEN;
}

int rvf_wire_stats_request_parse(const void *buf, size_t len, rvf_u64 *request_id)
{
	struct rvf_wire_query q, want;
	uint32_t magic;

	if (len < 4)
		return -ENOMSG;
	memcpy(&magic, buf, 4);
	if (magic != RVF_WIRE_STATS_MAGIC)
		return -ENOMSG;
	if (len != RVF_WIRE_QUERY_HDR_LEN)
		return -EPROTO;
	memcpy(&q, buf, sizeof(q));
	rvf_wire_query_init(&want);
	want.magic = RVF_WIRE_STATS_MAGIC;
	want.request_id = q.request_id;
	if (memcmp(&q, &want, sizeof(q)))
		return -EPROTO;
	*request_id = q.request_id;
	return 0;
}

int rvf_wire_stats_reply_encode(const char *json, size_t json_len, void *buf, size_t cap)
{
	uint8_t hdr[RVF_WIRE_STATS_REPLY_HDR_LEN] = { 0 };
	uint32_t magic = RVF_WIRE_STATS_REPLY_MAGIC;
	size_t len = RVF_WIRE_STATS_REPLY_HDR_LEN + json_len;

	if (len > cap || len > RVF_WIRE_MAX_DATAGRAM)
		return -ENOSPC;
	memcpy(hdr, &magic, 4);
	hdr[4] = RVF_WIRE_VERSION;
	memcpy(buf, hdr, sizeof(hdr));
	memcpy((uint8_t *)buf + sizeof(hdr), json, json_len);
	return (int)len;
}

int rvf_wire_stats_reply_parse(const void *buf, size_t len, const char **json, size_t *json_len)
{
	const uint8_t *p = buf;
	uint32_t magic;

	if (len <= RVF_WIRE_STATS_REPLY_HDR_LEN)
		return -EPROTO;
	memcpy(&magic, p, 4);
	if (magic != RVF_WIRE_STATS_REPLY_MAGIC || p[4] != RVF_WIRE_VERSION || p[5] || p[6])
		return -EPROTO;
	*json = (const char *)p + RVF_WIRE_STATS_REPLY_HDR_LEN;
	*json_len = len - RVF_WIRE_STATS_REPLY_HDR_LEN;
	return 0;
}
