/*
 * test_wire.c - the userspace wire codec (rvf/wire.h): queries, replies and
 * stats messages round-trip byte for byte; the validator names the right
 * reason for each kind of bad datagram, in the documented order; the
 * finiteness check sees every NaN and infinity at every position.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "rvf/wire.h"

#define DIM 24

static struct rvf_wire_ns ns24 = { .dim = DIM, .elem_type = RVF_WIRE_ELEM_F32 };

static int good_query(uint8_t *buf, size_t cap, struct rvf_wire_query *h, float *v)
{
	rvf_wire_query_init(h);
	h->dim = DIM;
	h->k = 10;
	h->ef = 64;
	h->ns_id = 7;
	h->request_id = 0x1122334455667788ull;
	for (int i = 0; i < DIM; i++)
		v[i] = (float)i * 0.5f - 3.0f;
	return rvf_wire_query_encode(h, v, buf, cap);
}

static void query_round_trips_and_validates(void **state)
{
	uint8_t buf[512];
	struct rvf_wire_query h, got;
	float v[DIM];
	const void *vec = NULL;
	int n = good_query(buf, sizeof(buf), &h, v);

	(void)state;
	assert_int_equal(n, RVF_WIRE_QUERY_HDR_LEN + DIM * 4);
	assert_int_equal(rvf_wire_query_validate(buf, (size_t)n, &ns24, &got, &vec), RVF_WIRE_R_PASSED);
	assert_memory_equal(&got, &h, sizeof(h));
	assert_ptr_equal(vec, buf + RVF_WIRE_QUERY_HDR_LEN);
	assert_memory_equal(vec, v, sizeof(v));
	/* little-endian on the wire, field by field */
	assert_memory_equal(buf, "RVQ1", 4);
	assert_int_equal(buf[4], 1);
	assert_int_equal(buf[6] | buf[7] << 8, 32);
	assert_int_equal(buf[8] | buf[9] << 8, DIM);
	assert_int_equal(buf[0x0C], 10);
	assert_int_equal(buf[0x10], 7);
	assert_int_equal(buf[0x18], 0x88);
	assert_int_equal(buf[0x1F], 0x11);
	assert_int_equal(rvf_wire_query_encode(&h, v, buf, (size_t)n - 1), -ENOSPC);
	h.elem_type = 9;
	assert_int_equal(rvf_wire_query_encode(&h, v, buf, sizeof(buf)), -EINVAL);
}

/* Each fault on its own gives its reason; two faults give the earlier one. */
static void each_bad_field_has_its_reason(void **state)
{
	uint8_t good[512], b[512];
	struct rvf_wire_query h;
	float v[DIM];
	size_t n;
	struct rvf_wire_ns ns_k5 = ns24;

	(void)state;
	n = (size_t)good_query(good, sizeof(good), &h, v);
#define CASE(len, want, ns, ...) do { memcpy(b, good, n); __VA_ARGS__; \
		assert_int_equal(rvf_wire_query_validate(b, (len), (ns), NULL, NULL), (want)); } while (0)
	CASE(n, RVF_WIRE_R_PASSED, &ns24);
	CASE(31, RVF_WIRE_R_TRUNCATED, &ns24);
	CASE(0, RVF_WIRE_R_TRUNCATED, &ns24);
	CASE(n, RVF_WIRE_R_BAD_MAGIC, &ns24, b[0] = 'X');
	CASE(n, RVF_WIRE_R_BAD_VERSION, &ns24, b[4] = 2);
	CASE(n, RVF_WIRE_R_BAD_HEADER, &ns24, b[5] = 1);
	CASE(n, RVF_WIRE_R_BAD_HEADER, &ns24, b[6] = 40);
	CASE(n, RVF_WIRE_R_BAD_HEADER, &ns24, b[0x0B] = 1);
	CASE(n, RVF_WIRE_R_NOT_MEMBER, NULL);
	CASE(n, RVF_WIRE_R_BAD_DIM, &ns24, b[8] = DIM + 1);
	CASE(n, RVF_WIRE_R_BAD_DIM, &ns24, b[0x0A] = RVF_WIRE_ELEM_F16);
	CASE(n, RVF_WIRE_R_BAD_DIM, &ns24, b[0x0A] = 7);
	CASE(n - 4, RVF_WIRE_R_BAD_LENGTH, &ns24);
	CASE(n + 1, RVF_WIRE_R_BAD_LENGTH, &ns24);
	CASE(40, RVF_WIRE_R_BAD_LENGTH, &ns24);
	CASE(n, RVF_WIRE_R_BAD_K, &ns24, b[0x0C] = 0);
	CASE(n, RVF_WIRE_R_BAD_K, &ns24, b[0x0C] = 101);
	CASE(n, RVF_WIRE_R_BAD_K, &ns24, b[0x0E] = 5, b[0x0F] = 0);   /* 0 < ef < k */
	CASE(n, RVF_WIRE_R_PASSED, &ns24, b[0x0E] = 0, b[0x0F] = 0);  /* ef 0 = default */
	ns_k5.max_k = 5;
	CASE(n, RVF_WIRE_R_BAD_K, &ns_k5);
	CASE(n, RVF_WIRE_R_NONFINITE, &ns24, memcpy(b + 32 + 4 * 3, &(float){ NAN }, 4));
	/* order: magic before version before header before membership ... */
	CASE(n, RVF_WIRE_R_BAD_MAGIC, &ns24, b[0] = 'X', b[4] = 9);
	CASE(n, RVF_WIRE_R_BAD_VERSION, &ns24, b[4] = 9, b[5] = 1);
	CASE(n, RVF_WIRE_R_BAD_HEADER, NULL, b[5] = 1);
	CASE(n, RVF_WIRE_R_NOT_MEMBER, NULL, b[8] = 1);
	CASE(n - 4, RVF_WIRE_R_BAD_DIM, &ns24, b[8] = DIM - 1, b[0x0A] = 2);
	CASE(n - 1, RVF_WIRE_R_BAD_LENGTH, &ns24, b[0x0C] = 0);
	CASE(n, RVF_WIRE_R_BAD_K, &ns24, b[0x0C] = 0, memcpy(b + 32, &(float){ INFINITY }, 4));
#undef CASE
	/* statuses: junk is dropped, the rest answered */
	assert_int_equal(rvf_wire_reason_status(RVF_WIRE_R_TRUNCATED), -1);
	assert_int_equal(rvf_wire_reason_status(RVF_WIRE_R_BAD_MAGIC), -1);
	assert_int_equal(rvf_wire_reason_status(RVF_WIRE_R_PASSED), RVF_WIRE_OK);
	assert_int_equal(rvf_wire_reason_status(RVF_WIRE_R_NOT_MEMBER), RVF_WIRE_NOT_MEMBER);
	for (int r = RVF_WIRE_R_BAD_VERSION; r <= RVF_WIRE_R_BAD_K; r++)
		if (r != RVF_WIRE_R_NOT_MEMBER)
			assert_int_equal(rvf_wire_reason_status(r), RVF_WIRE_BAD_REQUEST);
	assert_int_equal(rvf_wire_reason_status(RVF_WIRE_R_NONFINITE), RVF_WIRE_BAD_REQUEST);
}

static void reason_names_are_the_counter_fields(void **state)
{
	struct rvf_wire_counters c;

	(void)state;
	memset(&c, 0, sizeof(c));
	for (int r = 0; r < RVF_WIRE_R_NREASONS; r++) {
		rvf_u64 *f = rvf_wire_counter_field(&c, r);

		assert_non_null(f);
		*f = (rvf_u64)r + 1;
		assert_string_not_equal(rvf_wire_reason_name(r), "unknown");
	}
	assert_int_equal(c.passed, 1);
	assert_int_equal(c.bad_magic, 2);
	assert_int_equal(c.not_member, RVF_WIRE_R_NOT_MEMBER + 1);
	assert_int_equal(c.nonfinite, RVF_WIRE_R_NONFINITE + 1);
	assert_string_equal(rvf_wire_reason_name(RVF_WIRE_R_BAD_DIM), "bad_dim");
	assert_null(rvf_wire_counter_field(&c, RVF_WIRE_R_NREASONS));
	assert_string_equal(rvf_wire_status_name(RVF_WIRE_OVERLOADED), "overloaded");
	assert_string_equal(rvf_wire_status_name(99), "unknown");
}

static void finiteness_sees_every_position(void **state)
{
	const float bad[] = { NAN, -NAN, INFINITY, -INFINITY };
	float v[67];
	uint16_t h[67];
	uint8_t raw[4 * 67 + 1];

	(void)state;
	for (int i = 0; i < 67; i++) {
		v[i] = (float)i - 30.0f;
		h[i] = 0x3c00;   /* 1.0 */
	}
	v[5] = 3.4e38f;      /* the largest finite values are finite */
	v[6] = -1e-45f;      /* and so are subnormals */
	assert_true(rvf_wire_vector_finite(v, 67, RVF_WIRE_ELEM_F32));
	for (int pos = 0; pos < 67; pos++)
		for (int b = 0; b < 4; b++) {
			float keep = v[pos];

			v[pos] = bad[b];
			assert_false(rvf_wire_vector_finite(v, 67, RVF_WIRE_ELEM_F32));
			/* unaligned */
			memcpy(raw + 1, v, sizeof(v));
			assert_false(rvf_wire_vector_finite(raw + 1, 67, RVF_WIRE_ELEM_F32));
			v[pos] = keep;
		}
	assert_true(rvf_wire_vector_finite(h, 67, RVF_WIRE_ELEM_F16));
	h[66] = 0x7c00;      /* f16 inf */
	assert_false(rvf_wire_vector_finite(h, 67, RVF_WIRE_ELEM_F16));
	h[66] = 0x7e01;      /* f16 NaN */
	assert_false(rvf_wire_vector_finite(h, 67, RVF_WIRE_ELEM_F16));
	h[66] = 0x7bff;      /* f16 max */
	assert_true(rvf_wire_vector_finite(h, 67, RVF_WIRE_ELEM_F16));
	assert_true(rvf_wire_vector_finite(raw, 67, RVF_WIRE_ELEM_I8));
	assert_false(rvf_wire_vector_finite(raw, 67, 3));
	assert_true(rvf_wire_vector_finite(v, 0, RVF_WIRE_ELEM_F32));
}

static void reply_round_trips_and_rejects_bad_ones(void **state)
{
	struct rvf_wire_result res[RVF_WIRE_MAX_K], got;
	struct rvf_wire_reply h = { .status = RVF_WIRE_OK, .ns_id = 3, .request_id = 99 }, p;
	uint8_t buf[2048], b[2048];
	int n;

	(void)state;
	for (unsigned i = 0; i < RVF_WIRE_MAX_K; i++) {
		res[i].id = 1000 + (uint64_t)i;
		res[i].distance = (float)i / 8;
	}
	h.count = RVF_WIRE_MAX_K;
	n = rvf_wire_reply_encode(&h, res, buf, sizeof(buf));
	assert_int_equal(n, 24 + 12 * RVF_WIRE_MAX_K);
	assert_int_equal(rvf_wire_reply_parse(buf, (size_t)n, &p), 0);
	assert_int_equal(p.count, RVF_WIRE_MAX_K);
	assert_int_equal(p.ns_id, 3);
	assert_int_equal(p.request_id, 99);
	for (uint16_t i = 0; i < p.count; i++) {
		rvf_wire_reply_result(buf, i, &got);
		assert_int_equal(got.id, res[i].id);
		assert_true(got.distance == res[i].distance);
	}
	assert_memory_equal(buf, "RVR1", 4);
	h.count = RVF_WIRE_MAX_K + 1;
	assert_int_equal(rvf_wire_reply_encode(&h, res, buf, sizeof(buf)), -EINVAL);
	h.count = 2;
	assert_int_equal(rvf_wire_reply_encode(&h, res, buf, 24 + 23), -ENOSPC);
	n = rvf_wire_reply_encode(&h, res, buf, sizeof(buf));
	assert_int_equal(rvf_wire_reply_parse(buf, (size_t)n - 1, &p), -EPROTO);
	assert_int_equal(rvf_wire_reply_parse(buf, 23, &p), -EPROTO);
	memcpy(b, buf, (size_t)n); b[0] ^= 1;
	assert_int_equal(rvf_wire_reply_parse(b, (size_t)n, &p), -EPROTO);
	memcpy(b, buf, (size_t)n); b[4] = 2;
	assert_int_equal(rvf_wire_reply_parse(b, (size_t)n, &p), -EPROTO);
	memcpy(b, buf, (size_t)n); b[5] = RVF_WIRE_BAD_REQUEST;   /* results with an error */
	assert_int_equal(rvf_wire_reply_parse(b, (size_t)n, &p), -EPROTO);
	memcpy(b, buf, (size_t)n); b[5] = 77;
	assert_int_equal(rvf_wire_reply_parse(b, (size_t)n, &p), -EPROTO);
	memcpy(b, buf, (size_t)n); b[0x0C] = 1;
	assert_int_equal(rvf_wire_reply_parse(b, (size_t)n, &p), -EPROTO);
	/* an error reply has no results */
	h.count = 0;
	h.status = RVF_WIRE_SHUTTING_DOWN;
	n = rvf_wire_reply_encode(&h, NULL, buf, sizeof(buf));
	assert_int_equal(n, 24);
	assert_int_equal(rvf_wire_reply_parse(buf, 24, &p), 0);
	assert_int_equal(p.status, RVF_WIRE_SHUTTING_DOWN);
}

static void stats_messages_round_trip(void **state)
{
	uint8_t buf[256], b[256];
	uint64_t id = 0;
	const char *json;
	size_t jl;
	int n;

	(void)state;
	n = rvf_wire_stats_request_encode(0xabcdefull, buf, sizeof(buf));
	assert_int_equal(n, 32);
	assert_memory_equal(buf, "RVS1", 4);
	assert_int_equal(rvf_wire_stats_request_parse(buf, 32, &id), 0);
	assert_int_equal(id, 0xabcdefull);
	assert_int_equal(rvf_wire_stats_request_parse(buf, 33, &id), -EPROTO);
	memcpy(b, buf, 32); b[8] = 1;                 /* dim must be 0 */
	assert_int_equal(rvf_wire_stats_request_parse(b, 32, &id), -EPROTO);
	memcpy(b, buf, 32); b[0] = 'X';
	assert_int_equal(rvf_wire_stats_request_parse(b, 32, &id), -ENOMSG);
	assert_int_equal(rvf_wire_stats_request_parse(b, 2, &id), -ENOMSG);
	/* a stats request is not a query */
	assert_int_equal(rvf_wire_query_validate(buf, 32, &ns24, NULL, NULL), RVF_WIRE_R_BAD_MAGIC);

	n = rvf_wire_stats_reply_encode("{\"a\":1}", 7, buf, sizeof(buf));
	assert_int_equal(n, 7 + 7);
	assert_memory_equal(buf, "RVT1", 4);
	assert_int_equal(rvf_wire_stats_reply_parse(buf, (size_t)n, &json, &jl), 0);
	assert_int_equal(jl, 7);
	assert_memory_equal(json, "{\"a\":1}", 7);
	assert_int_equal(rvf_wire_stats_reply_parse(buf, 7, &json, &jl), -EPROTO);
	memcpy(b, buf, (size_t)n); b[5] = 1;
	assert_int_equal(rvf_wire_stats_reply_parse(b, (size_t)n, &json, &jl), -EPROTO);
	assert_int_equal(rvf_wire_stats_reply_encode("x", 1, buf, 7), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query_round_trips_and_validates),
		cmocka_unit_test(each_bad_field_has_its_reason),
		cmocka_unit_test(reason_names_are_the_counter_fields),
		cmocka_unit_test(finiteness_sees_every_position),
		cmocka_unit_test(reply_round_trips_and_rejects_bad_ones),
		cmocka_unit_test(stats_messages_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
