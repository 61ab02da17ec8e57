/*
 * meta/filter_priv.h - private to user/meta/: the filter tree layout, value
 * comparison and the record view the evaluator reads. Not for other modules
 * (they use rvf/meta.h and meta/meta_store.h).
 */
#ifndef RVF_META_FILTER_PRIV_H
#define RVF_META_FILTER_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rvf/meta.h"

/* Opcodes are RVF's wire opcodes (rvf-types/src/filter.rs). */
enum filter_op {
	FOP_EQ = 0x00, FOP_NE = 0x01, FOP_LT = 0x02, FOP_LE = 0x03,
	FOP_GT = 0x04, FOP_GE = 0x05, FOP_IN = 0x06, FOP_RANGE = 0x07,
	FOP_AND = 0x10, FOP_OR = 0x11, FOP_NOT = 0x12,
};

/* Numeric identity: two numbers are equal iff their keys are equal.
 * cls 0: integer in [-2^63, 0), bits = (uint64_t)(int64_t)x
 * cls 1: integer in [0, 2^64), bits = x
 * cls 2: any other non-NaN f64 (fractional, huge, infinite), bits = its
 *        IEEE bits (-0.0 is an integer, so the sign-of-zero issue vanishes). */
struct num_key {
	uint64_t bits;
	uint64_t cls;
};

/*
 * Tree node. Leaves own copies of their string/bytes data (separate
 * allocations, freed by rvf_filter_free). An IN node keeps the values in the
 * order given (for to_json) plus two sorted lookup tables: numeric keys and
 * indices of the string/bytes values ordered by meta_buf_cmp.
 */
struct rvf_filter {
	uint8_t op;             /* enum filter_op */
	uint8_t depth;          /* 1 for a leaf */
	uint16_t field;
	uint32_t n;             /* IN: values; AND/OR: children; NOT: 1 */
	union {
		struct rvf_meta_value v;        /* EQ..GE */
		struct rvf_meta_value r[2];     /* RANGE lo, hi */
		struct {
			struct rvf_meta_value *vals;
			struct num_key *keys;
			uint32_t nkeys;
			uint32_t nbufs;
			uint32_t *bufs;
		} in;
		struct rvf_filter **kids;       /* AND/OR/NOT */
	} u;
};

#define META_UNORDERED 2

static inline bool meta_type_numeric(enum rvf_meta_type t)
{
	return t == RVF_META_U64 || t == RVF_META_I64 || t == RVF_META_F64;
}

static inline bool meta_type_buf(enum rvf_meta_type t)
{
	return t == RVF_META_STRING || t == RVF_META_BYTES;
}

static inline bool meta_type_valid(unsigned t)
{
	return t <= RVF_META_BYTES;
}

/* -1, 0, 1, or META_UNORDERED (a NaN, number vs string/bytes, string vs
 * bytes). Exact across numeric types. */
int meta_cmp(const struct rvf_meta_value *a, const struct rvf_meta_value *b);

/* False for NaN and for non-numeric values. */
bool meta_num_key(const struct rvf_meta_value *v, struct num_key *k);
int meta_num_key_cmp(const struct num_key *a, const struct num_key *b);

/* Total order over string/bytes values (type first, then bytes), for sorting
 * IN lists: equal under it iff meta_cmp says 0. */
int meta_buf_cmp(const struct rvf_meta_value *a, const struct rvf_meta_value *b);

/* 0, or -EINVAL logged with what ("filter", "metadata") as a prefix. */
int meta_value_check(const struct rvf_meta_value *v, const char *what);

/*
 * Order entries e[0..n) by field id: idx[0..n) gets the permutation. -EINVAL
 * (logged, prefixed by what) for n > RVF_META_MAX_FIELDS, a duplicate field id
 * or an invalid value. e may be NULL when n == 0.
 */
int meta_entries_sort(const struct rvf_meta_entry *e, size_t n, uint16_t *idx,
		      const char *what);

/* A fresh leaf (internal constructors for the JSON parser; same checks as
 * the public ones, logging path as " at <path>" when path is non-NULL). */
struct rvf_filter *filter_new_cmp(enum filter_op op, uint16_t field,
				  const struct rvf_meta_value *v, const char *path);
struct rvf_filter *filter_new_in(uint16_t field, const struct rvf_meta_value *vals, size_t n,
				 const char *path);
struct rvf_filter *filter_new_range(uint16_t field, const struct rvf_meta_value *lo,
				    const struct rvf_meta_value *hi, const char *path);
/* AND/OR/NOT over kids (n >= 1; NOT n == 1), taking the array (malloc'd) and
 * the children; no flattening. Frees everything on failure. */
struct rvf_filter *filter_new_bool(enum filter_op op, struct rvf_filter **kids, size_t n,
				   const char *path);

/* "eq", "and", ... */
const char *filter_op_name(unsigned op);

/* Evaluate f against a store record (NULL: a vector without metadata). */
bool filter_eval_record(const struct rvf_filter *f, const uint8_t *rec);

/* Unaligned little-endian loads/stores (the host is little-endian; see
 * rvf/format.h). */
static inline uint16_t rd16(const void *p) { uint16_t x; memcpy(&x, p, 2); return x; }
static inline uint32_t rd32(const void *p) { uint32_t x; memcpy(&x, p, 4); return x; }
static inline uint64_t rd64(const void *p) { uint64_t x; memcpy(&x, p, 8); return x; }
static inline void wr16(void *p, uint16_t x) { memcpy(p, &x, 2); }
static inline void wr32(void *p, uint32_t x) { memcpy(p, &x, 4); }
static inline void wr64(void *p, uint64_t x) { memcpy(p, &x, 8); }

/*
 * A meta_store record: one vector's fields, sorted by field id, 8-aligned in
 * the store's arena.
 *   off 0   u16  n (fields, 1..RVF_META_MAX_FIELDS)
 *   off 2   u16  reserved, 0
 *   off 4   u32  size (whole record, multiple of 8)
 *   off 8   u16  field[n] (strictly increasing)
 *           u8   type[n]
 *           pad to 8
 *           u64  slot[n]: the number's bits, or for string/bytes
 *                (offset from record start << 32) | length
 *           data of string/bytes values
 */
#define REC_HDR 8u

static inline size_t rec_slots_off(unsigned n)
{
	return (REC_HDR + 3u * n + 7u) & ~(size_t)7u;
}

static inline void rec_value(const uint8_t *rec, unsigned n, unsigned i,
			     struct rvf_meta_value *out)
{
	uint64_t s = rd64(rec + rec_slots_off(n) + 8u * i);

	out->type = (enum rvf_meta_type)rec[REC_HDR + 2u * n + i];
	if (meta_type_buf(out->type)) {
		out->v.buf.ptr = rec + (s >> 32);
		out->v.buf.len = (uint32_t)s;
	} else {
		out->v.u64 = s;
	}
}

/* Look a field up in a record; false when the vector lacks it. */
static inline bool rec_field(const uint8_t *rec, uint16_t field, struct rvf_meta_value *out)
{
	unsigned n = rd16(rec), lo = 0, hi = n;

	while (hi - lo > 8) {
		unsigned mid = lo + (hi - lo) / 2;
		if (rd16(rec + REC_HDR + 2u * mid) <= field)
			lo = mid;
		else
			hi = mid;
	}
	for (unsigned i = lo; i < hi; i++) {
		uint16_t f = rd16(rec + REC_HDR + 2u * i);
		if (f == field) {
			rec_value(rec, n, i, out);
			return true;
		}
		if (f > field)
			break;
	}
	return false;
}

struct meta_store;
/* The record of id, or NULL. View valid until ms changes. */
const uint8_t *meta_store_record(const struct meta_store *ms, uint64_t id);

#endif
