/*
 * rvf/meta.h - per-vector typed metadata and the filter language.
 *
 * Every vector may carry a small set of typed fields, each named by a u16
 * field id: u64, i64, f64, string (UTF-8 by convention, not NUL-terminated,
 * may contain any byte) or bytes. A vector holds at most one value per field
 * id and at most RVF_META_MAX_FIELDS fields; one string/bytes value is at most
 * RVF_META_MAX_BUF_LEN bytes.
 *
 * Filters select vectors by their metadata:
 *
 *   eq ne lt le gt ge   field OP value
 *   in                  field equals one of a list of values
 *   range               lo <= field < hi   (half-open, [lo, hi))
 *   and or not          boolean combinations (and/or are n-ary)
 *
 * Semantics (the same in C, JSON, during HNSW traversal and in scans):
 *
 *  - Numbers compare by numeric value across u64, i64 and f64, exactly: no
 *    conversion through double, so u64 2^63+1 > i64 2^63-1 > f64 9.2e18 hold as
 *    they do mathematically, and u64 5 == i64 5 == f64 5.0. An f64 NaN (stored
 *    or in the filter) is unordered: it makes eq/lt/le/gt/ge/in/range false.
 *  - Strings compare bytewise (memcmp, then the shorter first), which is code
 *    point order for UTF-8.
 *  - Bytes support eq, ne and in only; a string never equals bytes.
 *  - Comparing a number with a string or bytes is false (not an error).
 *  - ne(f, v) is exactly not(eq(f, v)): true for a vector that lacks the
 *    field, holds another type, or holds NaN.
 *  - A vector that lacks the field: eq, lt, le, gt, ge, in and range are
 *    false, ne is true; not() inverts whatever its operand gave. A vector
 *    with no metadata at all lacks every field.
 *  - and() of nothing would be true and or() of nothing false, but neither
 *    constructor nor the JSON parser builds an empty one.
 *
 * Filter trees nest at most RVF_FILTER_MAX_DEPTH levels (a leaf is depth 1).
 * rvf_filter_and/or flatten an operand that is already the same operator, so
 * chaining and(and(a, b), c) builds a flat and(a, b, c) of depth 2.
 *
 * JSON form (rvf_filter_parse_json / rvf_filter_to_json)
 * ------------------------------------------------------
 *   filter  := {"eq":CMP} | {"ne":CMP} | {"lt":CMP} | {"le":CMP}
 *            | {"gt":CMP} | {"ge":CMP}
 *            | {"in":{"field":F,"values":[VALUE,...]}}      (0 or more values)
 *            | {"range":{"field":F,"gte":VALUE,"lt":VALUE}}  ("lo"/"hi" are
 *                                                            accepted aliases)
 *            | {"and":[filter,...]} | {"or":[filter,...]}   (1 or more)
 *            | {"not":filter}
 *   CMP     := {"field":F,"value":VALUE}
 *   F       := integer 0..65535
 *   VALUE   := typed | plain
 *   typed   := {"u64":N} | {"i64":N} | {"f64":X} | {"string":S}
 *            | {"bytes":HEX} | {"bool":true|false}
 *       N may be a JSON integer or a decimal string ("18446744073709551615";
 *       use the string form above 2^63-1, which JSON parsers cap at i64).
 *       X may be a JSON number or one of the strings "nan", "inf", "-inf".
 *       HEX is an even-length string of hex digits (either case), e.g.
 *       "00ff10"; bytes are never base64.
 *       bool is stored as u64 1 / 0.
 *   plain   := JSON integer >= 0 -> u64; negative integer -> i64;
 *              JSON real (has '.' or exponent) -> f64; string -> string;
 *              true/false -> u64 1/0.
 *   Every object takes exactly the keys shown: an unknown key, a missing key,
 *   a second operator key, or a lower and upper bound spelled twice is
 *   rejected. lt/le/gt/ge/range need a numeric or string value; range bounds
 *   must both be numbers or both be strings.
 *   Example: {"and":[{"eq":{"field":0,"value":"cat"}},
 *                    {"range":{"field":2,"gte":1.5,"lt":{"u64":10}}}]}
 *
 * rvf_filter_to_json always writes the typed form (so a value keeps its exact
 * type) and parses back to an identical tree.
 */
#ifndef RVF_META_H
#define RVF_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RVF_META_MAX_FIELDS   1024u          /* fields per vector */
#define RVF_META_MAX_BUF_LEN  (16u << 20)    /* bytes per string/bytes value */
#define RVF_FILTER_MAX_DEPTH  64u

enum rvf_meta_type {
	RVF_META_U64 = 0,
	RVF_META_I64 = 1,
	RVF_META_F64 = 2,
	RVF_META_STRING = 3,
	RVF_META_BYTES = 4,
};

/* One typed value. For STRING and BYTES, buf is a view (borrowed) that the
 * owner of the value keeps alive; everything in rvf that keeps a value copies
 * it. buf.ptr may be NULL only when buf.len == 0. */
struct rvf_meta_value {
	enum rvf_meta_type type;
	union {
		uint64_t u64;
		int64_t i64;
		double f64;
		struct {
			const void *ptr;
			size_t len;
		} buf;
	} v;
};

struct rvf_meta_entry {
	uint16_t field_id;
	struct rvf_meta_value value;
};

static inline struct rvf_meta_value rvf_meta_u64(uint64_t x)
{
	struct rvf_meta_value m = { .type = RVF_META_U64, .v.u64 = x };
	return m;
}

static inline struct rvf_meta_value rvf_meta_i64(int64_t x)
{
	struct rvf_meta_value m = { .type = RVF_META_I64, .v.i64 = x };
	return m;
}

static inline struct rvf_meta_value rvf_meta_f64(double x)
{
	struct rvf_meta_value m = { .type = RVF_META_F64, .v.f64 = x };
	return m;
}

/* s is borrowed: the value is a view of it. */
static inline struct rvf_meta_value rvf_meta_strn(const char *s, size_t len)
{
	struct rvf_meta_value m = { .type = RVF_META_STRING, .v.buf = { s, len } };
	return m;
}

static inline struct rvf_meta_value rvf_meta_bytes(const void *p, size_t len)
{
	struct rvf_meta_value m = { .type = RVF_META_BYTES, .v.buf = { p, len } };
	return m;
}

/* ---- filters ------------------------------------------------------------ */

/* Opaque expression tree. It owns copies of every string/bytes value it was
 * given; free it with rvf_filter_free. Immutable once built, so one tree may
 * be evaluated by many threads at once. */
struct rvf_filter;

/*
 * Leaf constructors. v (and vals, lo, hi) are borrowed and copied. Return an
 * owned tree (free with rvf_filter_free), or NULL with a log_error message
 * on bad input (NULL value, invalid type, bytes given to an ordering
 * operator, range bounds of different kinds, a buffer over
 * RVF_META_MAX_BUF_LEN) or out of memory.
 */
struct rvf_filter *rvf_filter_eq(uint16_t field, const struct rvf_meta_value *v);
struct rvf_filter *rvf_filter_ne(uint16_t field, const struct rvf_meta_value *v);
struct rvf_filter *rvf_filter_lt(uint16_t field, const struct rvf_meta_value *v);
struct rvf_filter *rvf_filter_le(uint16_t field, const struct rvf_meta_value *v);
struct rvf_filter *rvf_filter_gt(uint16_t field, const struct rvf_meta_value *v);
struct rvf_filter *rvf_filter_ge(uint16_t field, const struct rvf_meta_value *v);
/* vals may be NULL when n == 0 (then the filter matches nothing). */
struct rvf_filter *rvf_filter_in(uint16_t field, const struct rvf_meta_value *vals, size_t n);
/* lo <= field < hi. lo and hi both numeric or both strings. */
struct rvf_filter *rvf_filter_range(uint16_t field, const struct rvf_meta_value *lo,
				    const struct rvf_meta_value *hi);

/*
 * Combinators. a and b are taken (owned by the result, or freed on failure).
 * A NULL operand gives NULL and frees the other, so constructor calls nest
 * without checks: rvf_filter_and(rvf_filter_eq(..), rvf_filter_gt(..)).
 * NULL also when the result would nest deeper than RVF_FILTER_MAX_DEPTH.
 */
struct rvf_filter *rvf_filter_and(struct rvf_filter *a, struct rvf_filter *b);
struct rvf_filter *rvf_filter_or(struct rvf_filter *a, struct rvf_filter *b);
struct rvf_filter *rvf_filter_not(struct rvf_filter *a);

/* Deep copy; returned owned, NULL on out of memory. f borrowed. */
struct rvf_filter *rvf_filter_clone(const struct rvf_filter *f);

/* Accepts NULL. */
void rvf_filter_free(struct rvf_filter *f);

/*
 * Evaluate f against one vector's entries (borrowed; any order; a field that
 * appears twice uses its first occurrence). f == NULL matches everything.
 */
bool rvf_filter_match(const struct rvf_filter *f, const struct rvf_meta_entry *entries,
		      size_t n);

/*
 * Parse the JSON form above. json is a borrowed NUL-terminated string. On
 * success *out gets an owned tree (free with rvf_filter_free); on failure
 * returns -EINVAL (or -ENOMEM), leaves *out untouched, and logs one error
 * saying what is wrong and where as a JSON path, e.g.
 *   "filter: 'gt' needs a numeric or string value at $.and[1].gt.value".
 */
int rvf_filter_parse_json(const char *json, struct rvf_filter **out);

/*
 * The typed JSON form of f (borrowed), on one line; returned owned (free()).
 * NULL on out of memory, or (logged) when a string value is not valid UTF-8
 * and so cannot be written as a JSON string.
 */
char *rvf_filter_to_json(const struct rvf_filter *f);

/* ---- metadata as JSON (for the CLI: jsonl ingest, dump) ----------------- */

/*
 * entries (borrowed) as a JSON object keyed by decimal field id with typed
 * values, fields in ascending id order: {"0":{"u64":42},"3":{"string":"cat"}}.
 * Returned owned (free()); NULL on out of memory, invalid UTF-8 in a string,
 * or an invalid type (logged).
 */
char *rvf_meta_to_json(const struct rvf_meta_entry *entries, size_t n);

/*
 * Parse such an object (borrowed NUL-terminated json). Values may be typed or
 * plain, as in filters. On success *out is one owned allocation holding the
 * entries and their string/bytes data (free() it), sorted by field id, and
 * *n their count (an empty object gives n == 0 and a non-NULL *out).
 * -EINVAL with a log_error message on bad input (duplicate field, id out of
 * range, bad value); outputs untouched on failure.
 */
int rvf_meta_parse_json(const char *json, struct rvf_meta_entry **out, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
