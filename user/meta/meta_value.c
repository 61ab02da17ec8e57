/*
 * meta/meta_value.c - comparing typed metadata values.
 *
 * Numbers compare exactly across u64, i64 and f64: an f64 is split into its
 * integer part (exact once it is known to be in range) and the sign of its
 * fraction, so nothing is ever rounded through a double. NaN is unordered.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "common/log.h"
#include "meta/filter_priv.h"

#define TWO63 9223372036854775808.0     /* 2^63, exact in a double */
#define TWO64 18446744073709551616.0    /* 2^64 */

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_i64_u64(int64_t a, uint64_t b)
{
	return a < 0 ? -1 : cmp_u64((uint64_t)a, b);
}

static int cmp_f64_u64(double a, uint64_t b)
{
	double t;
	uint64_t ti;

	if (isnan(a))
		return META_UNORDERED;
	if (a < 0)
		return -1;
	if (a >= TWO64)
		return 1;
	t = trunc(a);
	ti = (uint64_t)t;
	if (ti != b)
		return cmp_u64(ti, b);
	return a > t;
}

static int cmp_f64_i64(double a, int64_t b)
{
	double t;
	int64_t ti;

	if (isnan(a))
		return META_UNORDERED;
	if (a < -TWO63)
		return -1;
	if (a >= TWO63)
		return 1;
	t = trunc(a);
	ti = (int64_t)t;
	if (ti != b)
		return cmp_i64(ti, b);
	return (a > t) - (a < t);
}

static int cmp_f64(double a, double b)
{
	if (isnan(a) || isnan(b))
		return META_UNORDERED;
	return (a > b) - (a < b);
}

static int flip(int c)
{
	return c == META_UNORDERED ? c : -c;
}

static int cmp_bytes(const struct rvf_meta_value *a, const struct rvf_meta_value *b)
{
	size_t la = a->v.buf.len, lb = b->v.buf.len;
	int c = 0;

	if (la && lb)
		c = memcmp(a->v.buf.ptr, b->v.buf.ptr, la < lb ? la : lb);
	if (c)
		return c < 0 ? -1 : 1;
	return cmp_u64(la, lb);
}

int meta_cmp(const struct rvf_meta_value *a, const struct rvf_meta_value *b)
{
	switch (a->type) {
	case RVF_META_U64:
		switch (b->type) {
		case RVF_META_U64: return cmp_u64(a->v.u64, b->v.u64);
		case RVF_META_I64: return flip(cmp_i64_u64(b->v.i64, a->v.u64));
		case RVF_META_F64: return flip(cmp_f64_u64(b->v.f64, a->v.u64));
		default:           return META_UNORDERED;
		}
	case RVF_META_I64:
		switch (b->type) {
		case RVF_META_U64: return cmp_i64_u64(a->v.i64, b->v.u64);
		case RVF_META_I64: return cmp_i64(a->v.i64, b->v.i64);
		case RVF_META_F64: return flip(cmp_f64_i64(b->v.f64, a->v.i64));
		default:           return META_UNORDERED;
		}
	case RVF_META_F64:
		switch (b->type) {
		case RVF_META_U64: return cmp_f64_u64(a->v.f64, b->v.u64);
		case RVF_META_I64: return cmp_f64_i64(a->v.f64, b->v.i64);
		case RVF_META_F64: return cmp_f64(a->v.f64, b->v.f64);
		default:           return META_UNORDERED;
		}
	case RVF_META_STRING:
	case RVF_META_BYTES:
		if (a->type != b->type)
			return META_UNORDERED;
		return cmp_bytes(a, b);
	}
	return META_UNORDERED;
}

bool meta_num_key(const struct rvf_meta_value *v, struct num_key *k)
{
	double f;

	switch (v->type) {
	case RVF_META_U64:
		k->cls = 1;
		k->bits = v->v.u64;
		return true;
	case RVF_META_I64:
		k->cls = v->v.i64 < 0 ? 0 : 1;
		k->bits = (uint64_t)v->v.i64;
		return true;
	case RVF_META_F64:
		f = v->v.f64;
		if (isnan(f))
			return false;
		if (f == trunc(f) && f >= -TWO63 && f < 0) {
			k->cls = 0;
			k->bits = (uint64_t)(int64_t)f;
		} else if (f == trunc(f) && f >= 0 && f < TWO64) {
			k->cls = 1;
			k->bits = (uint64_t)f;
		} else {
			k->cls = 2;
			memcpy(&k->bits, &f, sizeof(f));
		}
		return true;
	default:
		return false;
	}
}

int meta_num_key_cmp(const struct num_key *a, const struct num_key *b)
{
	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	return cmp_u64(a->bits, b->bits);
}

int meta_buf_cmp(const struct rvf_meta_value *a, const struct rvf_meta_value *b)
{
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	return cmp_bytes(a, b);
}

int meta_value_check(const struct rvf_meta_value *v, const char *what)
{
	if (!meta_type_valid((unsigned)v->type))
		return log_fail(-EINVAL, "%s: invalid value type %u", what, (unsigned)v->type);
	if (meta_type_buf(v->type)) {
		if (v->v.buf.len > RVF_META_MAX_BUF_LEN)
			return log_fail(-EINVAL, "%s: %s value of %zu bytes exceeds the %u-byte limit",
					what, v->type == RVF_META_STRING ? "string" : "bytes",
					v->v.buf.len, RVF_META_MAX_BUF_LEN);
		if (v->v.buf.len && !v->v.buf.ptr)
			return log_fail(-EINVAL, "%s: NULL buffer with length %zu", what,
					v->v.buf.len);
	}
	return 0;
}

static int cmp_field_idx(const void *a, const void *b, void *ctx)
{
	const struct rvf_meta_entry *e = ctx;
	uint16_t fa = e[*(const uint16_t *)a].field_id, fb = e[*(const uint16_t *)b].field_id;

	return (fa > fb) - (fa < fb);
}

int meta_entries_sort(const struct rvf_meta_entry *e, size_t n, uint16_t *idx,
		      const char *what)
{
	if (n > RVF_META_MAX_FIELDS)
		return log_fail(-EINVAL, "%s: %zu fields exceed the limit of %u per vector", what, n,
				RVF_META_MAX_FIELDS);
	if (n && !e)
		return log_fail(-EINVAL, "%s: NULL entries with count %zu", what, n);
	for (size_t i = 0; i < n; i++) {
		if (meta_value_check(&e[i].value, what))
			return -EINVAL;
		idx[i] = (uint16_t)i;
	}
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			uint16_t x = idx[i];
			size_t j = i;
			while (j > 0 && e[idx[j - 1]].field_id > e[x].field_id) {
				idx[j] = idx[j - 1];
				j--;
			}
			idx[j] = x;
		}
	} else {
		qsort_r(idx, n, sizeof(*idx), cmp_field_idx, (void *)e);
	}
	for (size_t i = 1; i < n; i++)
		if (e[idx[i]].field_id == e[idx[i - 1]].field_id)
			return log_fail(-EINVAL, "%s: field %u given twice", what,
					(unsigned)e[idx[i]].field_id);
	return 0;
}
