/*
 * meta/filter.c - building, copying, freeing and evaluating filter trees.
 *
 * Invariants of a built tree (the evaluator relies on them, so every
 * constructor enforces them): EQ..GE hold a valid value, and LT..GE never a
 * bytes value; RANGE bounds are both numeric or both strings; IN's lookup
 * tables are sorted; AND/OR have n >= 1 children, NOT exactly 1; depth <=
 * RVF_FILTER_MAX_DEPTH, so the recursive walk is bounded.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/log.h"
#include "meta/filter_priv.h"
#include "meta/meta_store.h"

const char *filter_op_name(unsigned op)
{
	switch (op) {
	case FOP_EQ:    return "eq";
	case FOP_NE:    return "ne";
	case FOP_LT:    return "lt";
	case FOP_LE:    return "le";
	case FOP_GT:    return "gt";
	case FOP_GE:    return "ge";
	case FOP_IN:    return "in";
	case FOP_RANGE: return "range";
	case FOP_AND:   return "and";
	case FOP_OR:    return "or";
	case FOP_NOT:   return "not";
	}
	return "?";
}

#define AT(path) (path) ? " at " : "", (path) ? (path) : ""

static void value_release(struct rvf_meta_value *v)
{
	if (meta_type_buf(v->type))
		free((void *)v->v.buf.ptr);
}

static int value_copy(struct rvf_meta_value *dst, const struct rvf_meta_value *src)
{
	void *p;

	*dst = *src;
	if (!meta_type_buf(src->type))
		return 0;
	dst->v.buf.ptr = NULL;
	if (!src->v.buf.len)
		return 0;
	p = malloc(src->v.buf.len);
	if (!p)
		return -ENOMEM;
	memcpy(p, src->v.buf.ptr, src->v.buf.len);
	dst->v.buf.ptr = p;
	return 0;
}

static int check_value(const struct rvf_meta_value *v, unsigned op, const char *path)
{
	if (!v)
		return log_fail(-EINVAL, "filter: '%s' needs a value%s%s", filter_op_name(op), AT(path));
	if (meta_value_check(v, "filter"))
		return -EINVAL;
	if (op != FOP_EQ && op != FOP_NE && op != FOP_IN && v->type == RVF_META_BYTES)
		return log_fail(-EINVAL, "filter: '%s' needs a numeric or string value, not bytes%s%s",
				filter_op_name(op), AT(path));
	return 0;
}

void rvf_filter_free(struct rvf_filter *f)
{
	if (!f)
		return;
	switch (f->op) {
	case FOP_AND:
	case FOP_OR:
	case FOP_NOT:
		for (uint32_t i = 0; i < f->n; i++)
			rvf_filter_free(f->u.kids[i]);
		free(f->u.kids);
		break;
	case FOP_IN:
		for (uint32_t i = 0; i < f->n; i++)
			value_release(&f->u.in.vals[i]);
		free(f->u.in.vals);
		free(f->u.in.keys);
		free(f->u.in.bufs);
		break;
	case FOP_RANGE:
		value_release(&f->u.r[0]);
		value_release(&f->u.r[1]);
		break;
	default:
		value_release(&f->u.v);
		break;
	}
	free(f);
}

struct rvf_filter *filter_new_cmp(enum filter_op op, uint16_t field,
				  const struct rvf_meta_value *v, const char *path)
{
	struct rvf_filter *f;

	if (check_value(v, op, path))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto oom;
	f->op = (uint8_t)op;
	f->depth = 1;
	f->field = field;
	if (value_copy(&f->u.v, v))
		goto oom_free;
	return f;
oom_free:
	free(f);
oom:
	log_error("filter: out of memory");
	return NULL;
}

static int cmp_key(const void *a, const void *b)
{
	return meta_num_key_cmp(a, b);
}

static int cmp_buf_idx(const void *a, const void *b, void *ctx)
{
	const struct rvf_meta_value *vals = ctx;

	return meta_buf_cmp(&vals[*(const uint32_t *)a], &vals[*(const uint32_t *)b]);
}

/* Sort IN's numeric keys and string/bytes indices for binary search. */
static int in_index(struct rvf_filter *f)
{
	uint32_t nk = 0, nb = 0;

	if (!f->n)
		return 0;
	f->u.in.keys = malloc(f->n * sizeof(*f->u.in.keys));
	f->u.in.bufs = malloc(f->n * sizeof(*f->u.in.bufs));
	if (!f->u.in.keys || !f->u.in.bufs)
		return -ENOMEM;
	for (uint32_t i = 0; i < f->n; i++) {
		const struct rvf_meta_value *v = &f->u.in.vals[i];
		if (meta_type_buf(v->type))
			f->u.in.bufs[nb++] = i;
		else if (meta_num_key(v, &f->u.in.keys[nk]))
			nk++;
	}
	qsort(f->u.in.keys, nk, sizeof(*f->u.in.keys), cmp_key);
	qsort_r(f->u.in.bufs, nb, sizeof(*f->u.in.bufs), cmp_buf_idx, f->u.in.vals);
	f->u.in.nkeys = nk;
	f->u.in.nbufs = nb;
	return 0;
}

struct rvf_filter *filter_new_in(uint16_t field, const struct rvf_meta_value *vals, size_t n,
				 const char *path)
{
	struct rvf_filter *f;

	if (n > UINT32_MAX) {
		log_error("filter: 'in' with %zu values is too many%s%s", n, AT(path));
		return NULL;
	}
	if (n && !vals) {
		log_error("filter: 'in' needs its values%s%s", AT(path));
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (check_value(&vals[i], FOP_IN, path))
			return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto oom;
	f->op = FOP_IN;
	f->depth = 1;
	f->field = field;
	if (n) {
		f->u.in.vals = calloc(n, sizeof(*vals));
		if (!f->u.in.vals)
			goto oom_free;
	}
	for (size_t i = 0; i < n; i++) {
		f->n = (uint32_t)i + 1;
		if (value_copy(&f->u.in.vals[i], &vals[i]))
			goto oom_free;     /* the failed copy holds a NULL buffer */
	}
	if (in_index(f))
		goto oom_free;
	return f;
oom_free:
	rvf_filter_free(f);
oom:
	log_error("filter: out of memory");
	return NULL;
}

struct rvf_filter *filter_new_range(uint16_t field, const struct rvf_meta_value *lo,
				    const struct rvf_meta_value *hi, const char *path)
{
	struct rvf_filter *f;

	if (check_value(lo, FOP_RANGE, path) || check_value(hi, FOP_RANGE, path))
		return NULL;
	if (meta_type_numeric(lo->type) != meta_type_numeric(hi->type)) {
		log_error("filter: 'range' bounds must both be numbers or both strings%s%s",
			  AT(path));
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		goto oom;
	f->op = FOP_RANGE;
	f->depth = 1;
	f->field = field;
	f->u.r[0].type = f->u.r[1].type = RVF_META_U64;
	if (value_copy(&f->u.r[0], lo) || value_copy(&f->u.r[1], hi))
		goto oom_free;
	return f;
oom_free:
	rvf_filter_free(f);
oom:
	log_error("filter: out of memory");
	return NULL;
}

struct rvf_filter *filter_new_bool(enum filter_op op, struct rvf_filter **kids, size_t n,
				   const char *path)
{
	struct rvf_filter *f = NULL;
	unsigned depth = 0;

	if (n == 0 || n > UINT32_MAX || (op == FOP_NOT && n != 1)) {
		log_error("filter: '%s' cannot take %zu operands%s%s", filter_op_name(op), n, AT(path));
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if (kids[i]->depth > depth)
			depth = kids[i]->depth;
	if (depth + 1 > RVF_FILTER_MAX_DEPTH) {
		log_error("filter: nested deeper than %u levels%s%s", RVF_FILTER_MAX_DEPTH, AT(path));
		goto fail;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		log_error("filter: out of memory");
		goto fail;
	}
	f->op = (uint8_t)op;
	f->depth = (uint8_t)(depth + 1);
	f->n = (uint32_t)n;
	f->u.kids = kids;
	return f;
fail:
	for (size_t i = 0; i < n; i++)
		rvf_filter_free(kids[i]);
	free(kids);
	return NULL;
}

struct rvf_filter *rvf_filter_eq(uint16_t field, const struct rvf_meta_value *v)
{
	return filter_new_cmp(FOP_EQ, field, v, NULL);
}

struct rvf_filter *rvf_filter_ne(uint16_t field, const struct rvf_meta_value *v)
{
	return filter_new_cmp(FOP_NE, field, v, NULL);
}

struct rvf_filter *rvf_filter_lt(uint16_t field, const struct rvf_meta_value *v)
{
	return filter_new_cmp(FOP_LT, field, v, NULL);
}

struct rvf_filter *rvf_filter_le(uint16_t field, const struct rvf_meta_value *v)
{
	return filter_new_cmp(FOP_LE, field, v, NULL);
}

struct rvf_filter *rvf_filter_gt(uint16_t field, const struct rvf_meta_value *v)
{
	return filter_new_cmp(FOP_GT, field, v, NULL);
}

struct rvf_filter *rvf_filter_ge(uint16_t field, const struct rvf_meta_value *v)
{
	return filter_new_cmp(FOP_GE, field, v, NULL);
}

struct rvf_filter *rvf_filter_in(uint16_t field, const struct rvf_meta_value *vals, size_t n)
{
	return filter_new_in(field, vals, n, NULL);
}

struct rvf_filter *rvf_filter_range(uint16_t field, const struct rvf_meta_value *lo,
				    const struct rvf_meta_value *hi)
{
	return filter_new_range(field, lo, hi, NULL);
}

/* and/or with flattening: an operand with the same operator gives up its
 * children, so a chain of and() stays depth 2. */
static struct rvf_filter *combine(enum filter_op op, struct rvf_filter *a, struct rvf_filter *b)
{
	struct rvf_filter *ops[2] = { a, b };
	struct rvf_filter **kids;
	size_t n = 0, k = 0;

	if (!a || !b) {
		rvf_filter_free(a);
		rvf_filter_free(b);
		return NULL;
	}
	for (int i = 0; i < 2; i++)
		n += ops[i]->op == op ? ops[i]->n : 1;
	kids = n <= UINT32_MAX ? malloc(n * sizeof(*kids)) : NULL;
	if (!kids) {
		log_error("filter: out of memory");
		rvf_filter_free(a);
		rvf_filter_free(b);
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		if (ops[i]->op == op) {
			memcpy(kids + k, ops[i]->u.kids, ops[i]->n * sizeof(*kids));
			k += ops[i]->n;
			free(ops[i]->u.kids);
			free(ops[i]);
		} else {
			kids[k++] = ops[i];
		}
	}
	return filter_new_bool(op, kids, n, NULL);
}

struct rvf_filter *rvf_filter_and(struct rvf_filter *a, struct rvf_filter *b)
{
	return combine(FOP_AND, a, b);
}

struct rvf_filter *rvf_filter_or(struct rvf_filter *a, struct rvf_filter *b)
{
	return combine(FOP_OR, a, b);
}

struct rvf_filter *rvf_filter_not(struct rvf_filter *a)
{
	struct rvf_filter **kids;

	if (!a)
		return NULL;
	kids = malloc(sizeof(*kids));
	if (!kids) {
		log_error("filter: out of memory");
		rvf_filter_free(a);
		return NULL;
	}
	kids[0] = a;
	return filter_new_bool(FOP_NOT, kids, 1, NULL);
}

struct rvf_filter *rvf_filter_clone(const struct rvf_filter *f)
{
	struct rvf_filter **kids;

	if (!f)
		return NULL;
	switch (f->op) {
	case FOP_AND:
	case FOP_OR:
	case FOP_NOT:
		kids = calloc(f->n, sizeof(*kids));
		if (!kids)
			break;
		for (uint32_t i = 0; i < f->n; i++) {
			kids[i] = rvf_filter_clone(f->u.kids[i]);
			if (!kids[i]) {
				while (i--)
					rvf_filter_free(kids[i]);
				free(kids);
				return NULL;
			}
		}
		return filter_new_bool(f->op, kids, f->n, NULL);
	case FOP_IN:
		return filter_new_in(f->field, f->u.in.vals, f->n, NULL);
	case FOP_RANGE:
		return filter_new_range(f->field, &f->u.r[0], &f->u.r[1], NULL);
	default:
		return filter_new_cmp(f->op, f->field, &f->u.v, NULL);
	}
	log_error("filter: out of memory");
	return NULL;
}

/* Exact identity of two values: type and bits (an f64 by its bit pattern,
 * as the typed JSON form keeps it). */
static bool value_same(const struct rvf_meta_value *a, const struct rvf_meta_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case RVF_META_U64:
		return a->v.u64 == b->v.u64;
	case RVF_META_I64:
		return a->v.i64 == b->v.i64;
	case RVF_META_F64:
		return !memcmp(&a->v.f64, &b->v.f64, sizeof(double));
	default:
		return a->v.buf.len == b->v.buf.len &&
		       (!a->v.buf.len || !memcmp(a->v.buf.ptr, b->v.buf.ptr, a->v.buf.len));
	}
}

bool filter_equal(const struct rvf_filter *a, const struct rvf_filter *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->op != b->op || a->field != b->field || a->n != b->n)
		return false;
	switch (a->op) {
	case FOP_AND:
	case FOP_OR:
	case FOP_NOT:
		for (uint32_t i = 0; i < a->n; i++)
			if (!filter_equal(a->u.kids[i], b->u.kids[i]))
				return false;
		return true;
	case FOP_IN:
		for (uint32_t i = 0; i < a->n; i++)
			if (!value_same(&a->u.in.vals[i], &b->u.in.vals[i]))
				return false;
		return true;
	case FOP_RANGE:
		return value_same(&a->u.r[0], &b->u.r[0]) && value_same(&a->u.r[1], &b->u.r[1]);
	default:
		return value_same(&a->u.v, &b->u.v);
	}
}

/* ---- evaluation --------------------------------------------------------- */

/* Where a vector's fields come from: a store record, or a caller's array. */
struct fview {
	const uint8_t *rec;
	const struct rvf_meta_entry *e;
	size_t n;
};

static inline bool view_get(const struct fview *w, uint16_t field, struct rvf_meta_value *out)
{
	if (w->rec)
		return rec_field(w->rec, field, out);
	for (size_t i = 0; i < w->n; i++) {
		if (w->e[i].field_id == field) {
			*out = w->e[i].value;
			return true;
		}
	}
	return false;
}

static bool in_has(const struct rvf_filter *f, const struct rvf_meta_value *sv)
{
	size_t lo = 0, hi;
	int c;

	if (meta_type_buf(sv->type)) {
		hi = f->u.in.nbufs;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			c = meta_buf_cmp(&f->u.in.vals[f->u.in.bufs[mid]], sv);
			if (c == 0)
				return true;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return false;
	}
	struct num_key k;
	if (!meta_num_key(sv, &k))
		return false;
	hi = f->u.in.nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		c = meta_num_key_cmp(&f->u.in.keys[mid], &k);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool eval_leaf(const struct rvf_filter *f, const struct rvf_meta_value *sv)
{
	int c;

	switch (f->op) {
	case FOP_EQ: return meta_cmp(sv, &f->u.v) == 0;
	case FOP_NE: return meta_cmp(sv, &f->u.v) != 0;
	case FOP_LT: return meta_cmp(sv, &f->u.v) == -1;
	case FOP_LE: c = meta_cmp(sv, &f->u.v); return c == -1 || c == 0;
	case FOP_GT: return meta_cmp(sv, &f->u.v) == 1;
	case FOP_GE: c = meta_cmp(sv, &f->u.v); return c == 1 || c == 0;
	case FOP_IN: return in_has(f, sv);
	case FOP_RANGE:
		c = meta_cmp(sv, &f->u.r[0]);
		return (c == 0 || c == 1) && meta_cmp(sv, &f->u.r[1]) == -1;
	}
	return false;
}

static bool eval(const struct rvf_filter *f, const struct fview *w)
{
	struct rvf_meta_value sv;

	switch (f->op) {
	case FOP_AND:
		for (uint32_t i = 0; i < f->n; i++)
			if (!eval(f->u.kids[i], w))
				return false;
		return true;
	case FOP_OR:
		for (uint32_t i = 0; i < f->n; i++)
			if (eval(f->u.kids[i], w))
				return true;
		return false;
	case FOP_NOT:
		return !eval(f->u.kids[0], w);
	default:
		if (!view_get(w, f->field, &sv))
			return f->op == FOP_NE;
		return eval_leaf(f, &sv);
	}
}

bool rvf_filter_match(const struct rvf_filter *f, const struct rvf_meta_entry *entries, size_t n)
{
	struct fview w = { .e = entries, .n = entries ? n : 0 };

	return !f || eval(f, &w);
}

bool filter_eval_record(const struct rvf_filter *f, const uint8_t *rec)
{
	struct fview w = { .rec = rec };

	return !f || eval(f, &w);
}

bool filter_eval(const struct rvf_filter *f, const struct meta_store *ms, uint64_t id)
{
	struct fview w = { 0 };

	if (!f)
		return true;
	w.rec = ms ? meta_store_record(ms, id) : NULL;
	return eval(f, &w);
}

bool filter_matches_missing(const struct rvf_filter *f)
{
	struct fview w = { 0 };

	return !f || eval(f, &w);
}
