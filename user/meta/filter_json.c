/*
 * meta/filter_json.c - the JSON forms of filters and of a vector's metadata
 * (grammar in rvf/meta.h), over jansson.
 *
 * The parser walks the jansson tree keeping a JSON path ("$.and[1].gt.value")
 * so every error names where it is. Values are views into the jansson tree
 * (strings) or into buffers the parse context owns (decoded hex), and stay
 * valid until the parse finishes; constructors copy what they keep.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "meta/filter_priv.h"

struct pctx {
	const char *what;        /* "filter" or "metadata" */
	char path[256];
	size_t plen;
	void **allocs;           /* owned buffers freed when the parse ends */
	size_t nallocs;
	size_t acap;
};

static size_t path_push(struct pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(struct pctx *c, const char *fmt, ...)
{
	size_t old = c->plen, room = sizeof(c->path) - c->plen;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(c->path + c->plen, room, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= room) {
		/* Too deep to spell out: end in "..." and stop growing. */
		memcpy(c->path + sizeof(c->path) - 4, "...", 4);
		c->plen = sizeof(c->path) - 1;
	} else {
		c->plen += (size_t)k;
	}
	return old;
}

static void path_pop(struct pctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

static int perr(struct pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct pctx *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return log_fail(-EINVAL, "%s: %s at %s", c->what, msg, c->path);
}

static void *ctx_alloc(struct pctx *c, size_t size)
{
	void *p;

	if (c->nallocs == c->acap) {
		size_t cap = c->acap ? c->acap * 2 : 8;
		void **a = realloc(c->allocs, cap * sizeof(*a));
		if (!a)
			return NULL;
		c->allocs = a;
		c->acap = cap;
	}
	p = malloc(size ? size : 1);
	if (p)
		c->allocs[c->nallocs++] = p;
	return p;
}

static void ctx_release(struct pctx *c)
{
	for (size_t i = 0; i < c->nallocs; i++)
		free(c->allocs[i]);
	free(c->allocs);
}

/* ---- values ------------------------------------------------------------- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Strict decimal: optional '-' (when neg_ok), digits only, no overflow. */
static bool parse_dec(const char *s, size_t len, bool neg_ok, bool *neg, uint64_t *mag)
{
	uint64_t m = 0;
	size_t i = 0;

	*neg = false;
	if (len && s[0] == '-' && neg_ok) {
		*neg = true;
		i = 1;
	}
	if (i == len)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (m > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		m = m * 10 + (uint64_t)(s[i] - '0');
	}
	*mag = m;
	return true;
}

static int parse_typed(struct pctx *c, json_t *j, struct rvf_meta_value *v)
{
	const char *key = NULL, *s;
	json_t *x = NULL;
	size_t old, len;
	uint64_t mag;
	bool neg;
	int err = 0;

	if (json_object_size(j) != 1)
		return perr(c, "a typed value needs exactly one of 'u64', 'i64', 'f64', 'string', 'bytes', 'bool'");
	key = json_object_iter_key(json_object_iter(j));
	x = json_object_iter_value(json_object_iter(j));
	if (!key || !x)
		return perr(c, "a typed value needs exactly one key");
	old = path_push(c, ".%s", key);
	if (!strcmp(key, "u64")) {
		v->type = RVF_META_U64;
		if (json_is_integer(x) && json_integer_value(x) >= 0)
			v->v.u64 = (uint64_t)json_integer_value(x);
		else if (json_is_string(x) &&
			 parse_dec(json_string_value(x), json_string_length(x), false, &neg, &mag))
			v->v.u64 = mag;
		else
			err = perr(c, "'u64' needs an integer 0..18446744073709551615 (a decimal string above 2^63-1)");
	} else if (!strcmp(key, "i64")) {
		v->type = RVF_META_I64;
		if (json_is_integer(x)) {
			v->v.i64 = json_integer_value(x);
		} else if (json_is_string(x) &&
			   parse_dec(json_string_value(x), json_string_length(x), true, &neg, &mag) &&
			   mag <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
			v->v.i64 = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		} else {
			err = perr(c, "'i64' needs an integer -9223372036854775808..9223372036854775807");
		}
	} else if (!strcmp(key, "f64")) {
		v->type = RVF_META_F64;
		s = json_string_value(x);
		if (json_is_number(x))
			v->v.f64 = json_number_value(x);
		else if (s && !strcmp(s, "nan"))
			v->v.f64 = NAN;
		else if (s && !strcmp(s, "inf"))
			v->v.f64 = INFINITY;
		else if (s && !strcmp(s, "-inf"))
			v->v.f64 = -INFINITY;
		else
			err = perr(c, "'f64' needs a number or \"nan\", \"inf\", \"-inf\"");
	} else if (!strcmp(key, "string")) {
		if (!json_is_string(x))
			err = perr(c, "'string' needs a JSON string");
		else
			*v = rvf_meta_strn(json_string_value(x), json_string_length(x));
	} else if (!strcmp(key, "bytes")) {
		uint8_t *b;
		s = json_string_value(x);
		len = s ? json_string_length(x) : 0;
		if (!s || len % 2) {
			err = perr(c, "'bytes' needs an even-length string of hex digits");
		} else if (!(b = ctx_alloc(c, len / 2))) {
			err = log_fail(-ENOMEM, "%s: out of memory", c->what);
		} else {
			for (size_t i = 0; i < len / 2 && !err; i++) {
				int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
				if (hi < 0 || lo < 0)
					err = perr(c, "'bytes' has a non-hex character at index %zu",
						   hi < 0 ? 2 * i : 2 * i + 1);
				else
					b[i] = (uint8_t)(hi << 4 | lo);
			}
			*v = rvf_meta_bytes(b, len / 2);
		}
	} else if (!strcmp(key, "bool")) {
		if (!json_is_boolean(x))
			err = perr(c, "'bool' needs true or false");
		else
			*v = rvf_meta_u64(json_is_true(x));
	} else {
		path_pop(c, old);
		return perr(c, "unknown value type '%s' (expected u64, i64, f64, string, bytes, bool)",
			    key);
	}
	if (!err && meta_type_buf(v->type) && v->v.buf.len > RVF_META_MAX_BUF_LEN)
		err = perr(c, "value of %zu bytes exceeds the %u-byte limit", v->v.buf.len,
			   RVF_META_MAX_BUF_LEN);
	if (!err)
		path_pop(c, old);
	return err;
}

/* A value, plain or typed; the path names it already. */
static int parse_value(struct pctx *c, json_t *j, struct rvf_meta_value *v)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return parse_typed(c, j, v);
	case JSON_INTEGER:
		if (json_integer_value(j) >= 0)
			*v = rvf_meta_u64((uint64_t)json_integer_value(j));
		else
			*v = rvf_meta_i64(json_integer_value(j));
		return 0;
	case JSON_REAL:
		*v = rvf_meta_f64(json_real_value(j));
		return 0;
	case JSON_STRING:
		*v = rvf_meta_strn(json_string_value(j), json_string_length(j));
		if (v->v.buf.len > RVF_META_MAX_BUF_LEN)
			return perr(c, "value of %zu bytes exceeds the %u-byte limit", v->v.buf.len,
				    RVF_META_MAX_BUF_LEN);
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		*v = rvf_meta_u64(json_is_true(j));
		return 0;
	default:
		return perr(c, "expected a value (number, string, true/false, or a typed object such as {\"u64\":1})");
	}
}

/* ---- filters ------------------------------------------------------------ */

static const struct {
	const char *name;
	enum filter_op op;
} ops[] = {
	{ "eq", FOP_EQ }, { "ne", FOP_NE }, { "lt", FOP_LT }, { "le", FOP_LE },
	{ "gt", FOP_GT }, { "ge", FOP_GE }, { "in", FOP_IN }, { "range", FOP_RANGE },
	{ "and", FOP_AND }, { "or", FOP_OR }, { "not", FOP_NOT },
};

/* Every key of object j must be one of the NULL-terminated allowed list. */
static int check_keys(struct pctx *c, json_t *j, const char *opname, const char *const *allowed)
{
	const char *key;
	json_t *x;

	json_object_foreach(j, key, x) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = !strcmp(key, *a);
		if (!ok)
			return perr(c, "unknown key '%s' in '%s'", key, opname);
	}
	return 0;
}

static int parse_field(struct pctx *c, json_t *body, const char *opname, uint16_t *field)
{
	json_t *x = json_object_get(body, "field");
	json_int_t v;
	size_t old;
	int err = 0;

	if (!x)
		return perr(c, "'%s' needs 'field'", opname);
	old = path_push(c, ".field");
	if (!json_is_integer(x))
		err = perr(c, "'field' must be an integer 0..65535");
	else if ((v = json_integer_value(x)) < 0 || v > 65535)
		err = perr(c, "field id %lld is outside 0..65535", (long long)v);
	else
		*field = (uint16_t)v;
	if (!err)
		path_pop(c, old);
	return err;
}

/* Parse body[key] as a value, with the path pointing at it. */
static int parse_member(struct pctx *c, json_t *body, const char *key, const char *opname,
			struct rvf_meta_value *v)
{
	json_t *x = json_object_get(body, key);
	size_t old;
	int err;

	if (!x)
		return perr(c, "'%s' needs '%s'", opname, key);
	old = path_push(c, ".%s", key);
	err = parse_value(c, x, v);
	if (!err)
		path_pop(c, old);
	return err;
}

static int parse_filter(struct pctx *c, json_t *j, unsigned depth, struct rvf_filter **out);

static int parse_cmp(struct pctx *c, enum filter_op op, json_t *body, struct rvf_filter **out)
{
	static const char *const keys[] = { "field", "value", NULL };
	const char *name = filter_op_name(op);
	struct rvf_meta_value v;
	uint16_t field = 0;
	size_t old;

	if (!json_is_object(body))
		return perr(c, "'%s' needs an object {\"field\":F,\"value\":V}", name);
	if (check_keys(c, body, name, keys) || parse_field(c, body, name, &field) ||
	    parse_member(c, body, "value", name, &v))
		return -EINVAL;
	old = path_push(c, ".value");
	*out = filter_new_cmp(op, field, &v, c->path);
	path_pop(c, old);
	return *out ? 0 : -EINVAL;
}

static int parse_in(struct pctx *c, json_t *body, struct rvf_filter **out)
{
	static const char *const keys[] = { "field", "values", NULL };
	struct rvf_meta_value *vals = NULL;
	uint16_t field = 0;
	json_t *arr, *x;
	size_t old, i, n;
	int err = 0;

	if (!json_is_object(body))
		return perr(c, "'in' needs an object {\"field\":F,\"values\":[...]}");
	if (check_keys(c, body, "in", keys) || parse_field(c, body, "in", &field))
		return -EINVAL;
	arr = json_object_get(body, "values");
	if (!arr)
		return perr(c, "'in' needs 'values'");
	old = path_push(c, ".values");
	if (!json_is_array(arr))
		return perr(c, "'values' must be an array");
	n = json_array_size(arr);
	if (n && !(vals = calloc(n, sizeof(*vals))))
		return log_fail(-ENOMEM, "filter: out of memory");
	json_array_foreach(arr, i, x) {
		size_t o2 = path_push(c, "[%zu]", i);
		err = parse_value(c, x, &vals[i]);
		if (err)
			goto out;
		path_pop(c, o2);
	}
	*out = filter_new_in(field, vals, n, c->path);
	err = *out ? 0 : -EINVAL;
	if (!err)
		path_pop(c, old);
out:
	free(vals);
	return err;
}

static int parse_range(struct pctx *c, json_t *body, struct rvf_filter **out)
{
	static const char *const keys[] = { "field", "gte", "lo", "lt", "hi", NULL };
	struct rvf_meta_value lo, hi;
	const char *lk = "gte", *hk = "lt";
	uint16_t field = 0;

	if (!json_is_object(body))
		return perr(c, "'range' needs an object {\"field\":F,\"gte\":LO,\"lt\":HI}");
	if (check_keys(c, body, "range", keys) || parse_field(c, body, "range", &field))
		return -EINVAL;
	if (json_object_get(body, "gte") && json_object_get(body, "lo"))
		return perr(c, "'range' has both 'gte' and 'lo'");
	if (json_object_get(body, "lt") && json_object_get(body, "hi"))
		return perr(c, "'range' has both 'lt' and 'hi'");
	if (json_object_get(body, "lo"))
		lk = "lo";
	if (json_object_get(body, "hi"))
		hk = "hi";
	if (parse_member(c, body, lk, "range", &lo) || parse_member(c, body, hk, "range", &hi))
		return -EINVAL;
	*out = filter_new_range(field, &lo, &hi, c->path);
	return *out ? 0 : -EINVAL;
}

static int parse_bool(struct pctx *c, enum filter_op op, json_t *body, unsigned depth,
		      struct rvf_filter **out)
{
	const char *name = filter_op_name(op);
	struct rvf_filter **kids;
	size_t n, i;
	json_t *x;
	int err;

	if (op == FOP_NOT) {
		kids = calloc(1, sizeof(*kids));
		if (!kids)
			return log_fail(-ENOMEM, "filter: out of memory");
		err = parse_filter(c, body, depth + 1, &kids[0]);
		if (err) {
			free(kids);
			return err;
		}
		*out = filter_new_bool(op, kids, 1, c->path);
		return *out ? 0 : -EINVAL;
	}
	if (!json_is_array(body) || json_array_size(body) == 0)
		return perr(c, "'%s' needs a non-empty array of filters", name);
	n = json_array_size(body);
	kids = calloc(n, sizeof(*kids));
	if (!kids)
		return log_fail(-ENOMEM, "filter: out of memory");
	json_array_foreach(body, i, x) {
		size_t old = path_push(c, "[%zu]", i);
		err = parse_filter(c, x, depth + 1, &kids[i]);
		if (err) {
			while (i--)
				rvf_filter_free(kids[i]);
			free(kids);
			return err;
		}
		path_pop(c, old);
	}
	*out = filter_new_bool(op, kids, n, c->path);
	return *out ? 0 : -EINVAL;
}

static int parse_filter(struct pctx *c, json_t *j, unsigned depth, struct rvf_filter **out)
{
	const char *key = NULL;
	json_t *body = NULL;
	size_t old;
	int err = -EINVAL;

	if (depth > RVF_FILTER_MAX_DEPTH)
		return perr(c, "nested deeper than %u levels", RVF_FILTER_MAX_DEPTH);
	if (!json_is_object(j) || json_object_size(j) != 1)
		return perr(c, "expected an object with one operator key (eq, ne, lt, le, gt, ge, in, range, and, or, not)");
	key = json_object_iter_key(json_object_iter(j));
	body = json_object_iter_value(json_object_iter(j));
	if (!key || !body)
		return perr(c, "expected an object with one operator key");
	old = path_push(c, ".%s", key);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(key, ops[i].name))
			continue;
		switch (ops[i].op) {
		case FOP_IN:    err = parse_in(c, body, out); break;
		case FOP_RANGE: err = parse_range(c, body, out); break;
		case FOP_AND:
		case FOP_OR:
		case FOP_NOT:   err = parse_bool(c, ops[i].op, body, depth, out); break;
		default:        err = parse_cmp(c, ops[i].op, body, out); break;
		}
		if (!err)
			path_pop(c, old);
		return err;
	}
	path_pop(c, old);
	return perr(c, "unknown operator '%s' (expected eq, ne, lt, le, gt, ge, in, range, and, or, not)",
		    key);
}

static json_t *load(struct pctx *c, const char *json)
{
	json_error_t je;
	json_t *root;

	if (!json) {
		log_error("%s: no JSON given", c->what);
		return NULL;
	}
	root = json_loads(json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!root)
		log_error("%s: invalid JSON: %s at line %d, column %d%s", c->what, je.text, je.line,
			  je.column, strstr(je.text, "too big integer") ?
			  " (write integers above 2^63-1 as {\"u64\":\"<decimal>\"})" : "");
	return root;
}

int rvf_filter_parse_json(const char *json, struct rvf_filter **out)
{
	struct pctx c = { .what = "filter", .path = "$", .plen = 1 };
	struct rvf_filter *f = NULL;
	json_t *root;
	int err;

	root = load(&c, json);
	if (!root)
		return -EINVAL;
	err = parse_filter(&c, root, 1, &f);
	json_decref(root);
	ctx_release(&c);
	if (!err)
		*out = f;
	return err;
}

/* ---- to JSON ------------------------------------------------------------ */

static json_t *hex_string(const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * len + 1);
	json_t *j;

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * len] = '\0';
	j = json_stringn_nocheck(s, 2 * len);
	free(s);
	return j;
}

static json_t *typed_value(const struct rvf_meta_value *v, const char *what)
{
	char num[24];
	json_t *x = NULL;
	const char *key = "u64";

	switch (v->type) {
	case RVF_META_U64:
		if (v->v.u64 <= INT64_MAX) {
			x = json_integer((json_int_t)v->v.u64);
		} else {
			snprintf(num, sizeof(num), "%" PRIu64, v->v.u64);
			x = json_string(num);
		}
		break;
	case RVF_META_I64:
		key = "i64";
		x = json_integer(v->v.i64);
		break;
	case RVF_META_F64:
		key = "f64";
		if (isnan(v->v.f64))
			x = json_string("nan");
		else if (isinf(v->v.f64))
			x = json_string(v->v.f64 > 0 ? "inf" : "-inf");
		else
			x = json_real(v->v.f64);
		break;
	case RVF_META_STRING:
		key = "string";
		x = json_stringn(v->v.buf.len ? v->v.buf.ptr : "", v->v.buf.len);
		if (!x) {
			log_error("%s: a string value is not valid UTF-8 and has no JSON form", what);
			return NULL;
		}
		break;
	case RVF_META_BYTES:
		key = "bytes";
		x = hex_string(v->v.buf.ptr, v->v.buf.len);
		break;
	default:
		log_error("%s: invalid value type %u", what, (unsigned)v->type);
		return NULL;
	}
	if (!x) {
		log_error("%s: out of memory", what);
		return NULL;
	}
	return json_pack("{so}", key, x);
}

static json_t *filter_json(const struct rvf_filter *f)
{
	json_t *body = NULL, *arr;

	switch (f->op) {
	case FOP_AND:
	case FOP_OR:
		arr = json_array();
		for (uint32_t i = 0; arr && i < f->n; i++) {
			json_t *k = filter_json(f->u.kids[i]);
			if (!k || json_array_append_new(arr, k)) {
				json_decref(arr);
				arr = NULL;
			}
		}
		body = arr;
		break;
	case FOP_NOT:
		body = filter_json(f->u.kids[0]);
		break;
	case FOP_IN:
		arr = json_array();
		for (uint32_t i = 0; arr && i < f->n; i++) {
			json_t *v = typed_value(&f->u.in.vals[i], "filter");
			if (!v || json_array_append_new(arr, v)) {
				json_decref(arr);
				arr = NULL;
			}
		}
		body = arr ? json_pack("{sIso}", "field", (json_int_t)f->field, "values", arr) : NULL;
		break;
	case FOP_RANGE:
		body = json_pack("{sIsoso}", "field", (json_int_t)f->field,
				 "gte", typed_value(&f->u.r[0], "filter"),
				 "lt", typed_value(&f->u.r[1], "filter"));
		break;
	default:
		body = json_pack("{sIso}", "field", (json_int_t)f->field,
				 "value", typed_value(&f->u.v, "filter"));
		break;
	}
	return body ? json_pack("{so}", filter_op_name(f->op), body) : NULL;
}

char *rvf_filter_to_json(const struct rvf_filter *f)
{
	json_t *j;
	char *s;

	if (!f) {
		log_error("filter: no filter to write");
		return NULL;
	}
	j = filter_json(f);
	if (!j)
		return NULL;
	s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(j);
	if (!s)
		log_error("filter: out of memory");
	return s;
}

/* ---- metadata objects --------------------------------------------------- */

char *rvf_meta_to_json(const struct rvf_meta_entry *entries, size_t n)
{
	uint16_t idx[RVF_META_MAX_FIELDS];
	json_t *obj;
	char *s = NULL, key[8];

	if (meta_entries_sort(entries, n, idx, "metadata"))
		return NULL;
	obj = json_object();
	for (size_t i = 0; obj && i < n; i++) {
		const struct rvf_meta_entry *e = &entries[idx[i]];
		json_t *v = typed_value(&e->value, "metadata");
		snprintf(key, sizeof(key), "%u", (unsigned)e->field_id);
		if (!v || json_object_set_new(obj, key, v)) {
			json_decref(obj);
			obj = NULL;
		}
	}
	if (obj)
		s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(obj);
	if (!s)
		log_error("metadata: cannot write JSON");
	return s;
}

int rvf_meta_parse_json(const char *json, struct rvf_meta_entry **out, size_t *n)
{
	struct pctx c = { .what = "metadata", .path = "$", .plen = 1 };
	struct rvf_meta_entry *tmp = NULL, *res = NULL;
	uint16_t idx[RVF_META_MAX_FIELDS];
	size_t cnt = 0, data = 0, i = 0;
	const char *key;
	json_t *root, *x;
	uint8_t *p;
	int err = 0;

	root = load(&c, json);
	if (!root)
		return -EINVAL;
	if (!json_is_object(root)) {
		err = perr(&c, "expected an object {\"<field id>\": value, ...}");
		goto out;
	}
	cnt = json_object_size(root);
	if (cnt > RVF_META_MAX_FIELDS) {
		err = perr(&c, "%zu fields exceed the limit of %u per vector", cnt, RVF_META_MAX_FIELDS);
		goto out;
	}
	tmp = calloc(cnt ? cnt : 1, sizeof(*tmp));
	if (!tmp) {
		err = log_fail(-ENOMEM, "metadata: out of memory");
		goto out;
	}
	json_object_foreach(root, key, x) {
		size_t old = path_push(&c, ".%s", key);
		uint64_t mag;
		bool neg;
		if (!parse_dec(key, strlen(key), false, &neg, &mag) || mag > 65535 ||
		    (key[0] == '0' && key[1])) {
			err = perr(&c, "key '%s' is not a field id 0..65535", key);
			goto out;
		}
		tmp[i].field_id = (uint16_t)mag;
		err = parse_value(&c, x, &tmp[i].value);
		if (err)
			goto out;
		if (meta_type_buf(tmp[i].value.type))
			data += tmp[i].value.v.buf.len;
		path_pop(&c, old);
		i++;
	}
	err = meta_entries_sort(tmp, cnt, idx, "metadata");
	if (err)
		goto out;
	res = malloc((cnt ? cnt : 1) * sizeof(*res) + data);
	if (!res) {
		err = log_fail(-ENOMEM, "metadata: out of memory");
		goto out;
	}
	p = (uint8_t *)(res + cnt);
	for (i = 0; i < cnt; i++) {
		res[i] = tmp[idx[i]];
		if (meta_type_buf(res[i].value.type)) {
			size_t l = res[i].value.v.buf.len;
			if (l)
				memcpy(p, res[i].value.v.buf.ptr, l);
			res[i].value.v.buf.ptr = l ? p : NULL;
			p += l;
		}
	}
	*out = res;
	*n = cnt;
out:
	free(tmp);
	json_decref(root);
	ctx_release(&c);
	return err;
}
