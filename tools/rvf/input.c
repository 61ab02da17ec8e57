/*
 * tools/rvf/input.c - the readers behind input.h. Binary formats the data
 * module knows (fvecs, bvecs, idx) go through data_reader; npy, csv and jsonl
 * are parsed here, through zlib's gz* calls so .gz files read like plain
 * ones. A batch owns its rows until the next input_next or release.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <zlib.h>

#include "cli.h"
#include "data/data.h"
#include "input.h"

static const char *const fmt_names[] = { "fvecs", "bvecs", "npy", "idx", "csv", "jsonl" };

int input_fmt_parse(const char *name, enum input_fmt *out)
{
	for (int i = 0; i < (int)(sizeof(fmt_names) / sizeof(fmt_names[0])); i++)
		if (!strcmp(name, fmt_names[i])) {
			*out = (enum input_fmt)i;
			return 0;
		}
	if (!strcmp(name, "ndjson")) {
		*out = IN_JSONL;
		return 0;
	}
	return -EINVAL;
}

const char *input_fmt_name(enum input_fmt f)
{
	return fmt_names[f];
}

static bool ends_with(const char *s, size_t len, const char *suf)
{
	size_t n = strlen(suf);

	return len >= n && !strncasecmp(s + len - n, suf, n);
}

int input_fmt_guess(const char *path, enum input_fmt *out)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strlen(base);
	if (ends_with(base, len, ".gz"))
		len -= 3;
	if (ends_with(base, len, ".fvecs"))
		*out = IN_FVECS;
	else if (ends_with(base, len, ".bvecs"))
		*out = IN_BVECS;
	else if (ends_with(base, len, ".npy"))
		*out = IN_NPY;
	else if (ends_with(base, len, ".csv"))
		*out = IN_CSV;
	else if (ends_with(base, len, ".jsonl") || ends_with(base, len, ".ndjson"))
		*out = IN_JSONL;
	else if (ends_with(base, len, ".idx") || ends_with(base, len, "-ubyte") ||
		 strstr(base, "-idx") || strstr(base, ".idx"))
		*out = IN_IDX;
	else
		return -EINVAL;
	return 0;
}

/* ---- batches -------------------------------------------------------------- */

static void batch_clear(struct input_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->meta[i]);
		b->meta[i] = NULL;
	}
	for (size_t i = 0; i < b->n_bad; i++)
		free(b->bad[i].why);
	b->n = 0;
	b->n_bad = 0;
}

void input_batch_release(struct input_batch *b)
{
	if (!b)
		return;
	batch_clear(b);
	free(b->vals);
	free(b->off);
	free(b->dim);
	free(b->id);
	free(b->pos);
	free(b->meta);
	free(b->n_meta);
	free(b->bad);
	memset(b, 0, sizeof(*b));
}

static int grow(void **p, size_t elem, size_t want)
{
	void *np = realloc(*p, elem * want);

	if (!np)
		return -ENOMEM;
	*p = np;
	return 0;
}

/* Room for one more row with dim values; returns the value pointer. */
static float *batch_add_row(struct input_batch *b, uint32_t dim, uint64_t id, uint64_t pos)
{
	size_t used = b->n ? b->off[b->n - 1] + b->dim[b->n - 1] : 0;

	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : 256;

		if (grow((void **)&b->off, sizeof(size_t), nc) || grow((void **)&b->dim, 4, nc) ||
		    grow((void **)&b->id, 8, nc) || grow((void **)&b->pos, 8, nc) ||
		    grow((void **)&b->meta, sizeof(void *), nc) || grow((void **)&b->n_meta, 4, nc))
			return NULL;
		for (size_t i = b->cap; i < nc; i++)
			b->meta[i] = NULL;
		b->cap = nc;
	}
	if (used + dim > b->vals_cap) {
		size_t nc = b->vals_cap ? 2 * b->vals_cap : 4096;

		while (nc < used + dim)
			nc *= 2;
		if (grow((void **)&b->vals, sizeof(float), nc))
			return NULL;
		b->vals_cap = nc;
	}
	b->off[b->n] = used;
	b->dim[b->n] = dim;
	b->id[b->n] = id;
	b->pos[b->n] = pos;
	b->meta[b->n] = NULL;
	b->n_meta[b->n] = 0;
	b->n++;
	return b->vals + used;
}

static int batch_add_bad(struct input_batch *b, uint64_t pos, const char *why)
{
	if (b->n_bad == b->bad_cap) {
		size_t nc = b->bad_cap ? 2 * b->bad_cap : 16;

		if (grow((void **)&b->bad, sizeof(*b->bad), nc))
			return -ENOMEM;
		b->bad_cap = nc;
	}
	b->bad[b->n_bad].pos = pos;
	b->bad[b->n_bad].why = strdup(why);
	if (!b->bad[b->n_bad].why)
		return -ENOMEM;
	b->n_bad++;
	return 0;
}

/* ---- the reader ----------------------------------------------------------- */

enum npy_type { NPY_F4, NPY_F8, NPY_I1, NPY_U1, NPY_I2, NPY_U2, NPY_I4, NPY_U4, NPY_I8, NPY_U8 };

struct input {
	char *path;
	enum input_fmt fmt;
	uint64_t next_id;
	uint64_t row;            /* rows (binary) or lines (text) consumed */
	struct data_reader *dr;  /* fvecs, bvecs, idx */
	gzFile gz;               /* npy, csv, jsonl */
	/* npy */
	enum npy_type npy;
	size_t npy_elem;
	size_t npy_rows;
	size_t vecs_rows;        /* fvecs/bvecs, from the file size */
	uint32_t dim;
	void *raw;
	/* text */
	char *line;
	size_t line_cap;
	bool header_checked;
	int pending;             /* error to return after the rows read before it */
};

static int gz_full(struct input *in, void *dst, size_t n)
{
	size_t got = 0;

	while (got < n) {
		unsigned want = n - got > (1u << 30) ? 1u << 30 : (unsigned)(n - got);
		int r = gzread(in->gz, (char *)dst + got, want);

		if (r < 0) {
			int zerr;

			cli_err("%s: read error: %s", in->path, gzerror(in->gz, &zerr));
			return -EIO;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got == n ? 0 : got == 0 ? 1 : -EUCLEAN;
}

static int npy_open(struct input *in)
{
	uint8_t pre[10];
	uint32_t hlen;
	char *hdr = NULL, *p;
	int rc = gz_full(in, pre, 8);
	size_t d0 = 0, d1 = 0;
	int ndim = 0;
	static const struct { const char *code; enum npy_type t; size_t sz; } types[] = {
		{ "f4", NPY_F4, 4 }, { "f8", NPY_F8, 8 }, { "i1", NPY_I1, 1 }, { "u1", NPY_U1, 1 },
		{ "i2", NPY_I2, 2 }, { "u2", NPY_U2, 2 }, { "i4", NPY_I4, 4 }, { "u4", NPY_U4, 4 },
		{ "i8", NPY_I8, 8 }, { "u8", NPY_U8, 8 }, { "b1", NPY_U1, 1 },
	};
	bool found = false;

	if (rc || memcmp(pre, "\x93NUMPY", 6)) {
		cli_err("%s: not a .npy file (no \\x93NUMPY magic)", in->path);
		return -EINVAL;
	}
	if (pre[6] == 1) {
		if (gz_full(in, pre + 8, 2))
			goto trunc;
		hlen = pre[8] | (uint32_t)pre[9] << 8;
	} else if (pre[6] == 2 || pre[6] == 3) {
		uint8_t l[4];

		if (gz_full(in, l, 4))
			goto trunc;
		hlen = l[0] | (uint32_t)l[1] << 8 | (uint32_t)l[2] << 16 | (uint32_t)l[3] << 24;
	} else {
		cli_err("%s: unsupported .npy version %u", in->path, pre[6]);
		return -EINVAL;
	}
	if (hlen > (1u << 20)) {
		cli_err("%s: .npy header of %u bytes is implausible", in->path, hlen);
		return -EINVAL;
	}
	hdr = malloc(hlen + 1);
	if (!hdr)
		return -ENOMEM;
	if (gz_full(in, hdr, hlen)) {
		free(hdr);
		goto trunc;
	}
	hdr[hlen] = '\0';

	p = strstr(hdr, "'descr'");
	if (!p || !(p = strchr(p + 7, '\'')))
		goto bad_hdr;
	p++;
	if (*p == '>' && strncmp(p + 1, "i1", 2) && strncmp(p + 1, "u1", 2)) {
		cli_err("%s: big-endian .npy data is not supported", in->path);
		goto fail;
	}
	if (*p == '<' || *p == '|' || *p == '=' || *p == '>')
		p++;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strncmp(p, types[i].code, 2) && p[2] == '\'') {
			in->npy = types[i].t;
			in->npy_elem = types[i].sz;
			found = true;
		}
	if (!found) {
		char *q = strchr(p, '\'');

		cli_err("%s: unsupported .npy dtype '%.*s' (f4 f8 i1 u1 i2 u2 i4 u4 i8 u8)", in->path,
			q ? (int)(q - p) : 8, p);
		goto fail;
	}
	p = strstr(hdr, "'fortran_order'");
	if (!p)
		goto bad_hdr;
	p += strlen("'fortran_order'");
	while (*p == ' ' || *p == ':')
		p++;
	if (!strncmp(p, "True", 4)) {
		cli_err("%s: Fortran-order .npy arrays are not supported (save with C order)", in->path);
		goto fail;
	}
	p = strstr(hdr, "'shape'");
	if (!p || !(p = strchr(p, '(')))
		goto bad_hdr;
	p++;
	while (*p && *p != ')') {
		char *end;
		unsigned long long v;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ')')
			break;
		v = strtoull(p, &end, 10);
		if (end == p)
			goto bad_hdr;
		if (ndim == 0)
			d0 = v;
		else if (ndim == 1)
			d1 = v;
		ndim++;
		p = end;
	}
	if (ndim == 1) {
		in->npy_rows = 1;
		d1 = d0;
	} else if (ndim == 2) {
		in->npy_rows = d0;
	} else {
		cli_err("%s: .npy array has %d dimensions; need 1 (one vector) or 2 (rows x dim)",
			in->path, ndim);
		goto fail;
	}
	if (d1 == 0 || d1 > 65535) {
		cli_err("%s: .npy rows have %zu values; need 1..65535", in->path, d1);
		goto fail;
	}
	in->dim = (uint32_t)d1;
	in->raw = malloc(in->npy_elem * in->dim);
	if (!in->raw)
		goto fail;
	free(hdr);
	return 0;
bad_hdr:
	cli_err("%s: malformed .npy header '%s'", in->path, hdr);
fail:
	free(hdr);
	return -EINVAL;
trunc:
	cli_err("%s: truncated .npy header", in->path);
	return -EINVAL;
}

/* Row count of a plain (not gzip) fvecs/bvecs file from its size; 0 if the
 * size does not fit (the reader then reports what is wrong) or gzip. */
static size_t vecs_rows(const char *path, uint32_t dim, size_t elem)
{
	struct stat st;
	unsigned char magic[2] = { 0, 0 };
	FILE *f = fopen(path, "rb");
	size_t row = 4 + elem * dim;

	if (!f)
		return 0;
	if (fread(magic, 1, 2, f) != 2 || (magic[0] == 0x1f && magic[1] == 0x8b) ||
	    fstat(fileno(f), &st) || (size_t)st.st_size % row) {
		fclose(f);
		return 0;
	}
	fclose(f);
	return (size_t)st.st_size / row;
}

int input_open(const char *path, enum input_fmt fmt, uint64_t ids_from, struct input **out)
{
	struct input *in = calloc(1, sizeof(*in));
	int rc = 0;

	if (!in || !(in->path = strdup(path))) {
		free(in);
		return -ENOMEM;
	}
	in->fmt = fmt;
	in->next_id = ids_from;
	if (fmt == IN_FVECS || fmt == IN_BVECS || fmt == IN_IDX) {
		enum data_format df = fmt == IN_FVECS ? DATA_FMT_FVECS
				    : fmt == IN_BVECS ? DATA_FMT_BVECS : DATA_FMT_IDX;

		cli_clear_lib_err();
		rc = data_reader_open(path, df, &in->dr);
		if (rc) {
			if (cli_lib_detail()[0])
				cli_err("%s: cannot read as %s: %s", path, fmt_names[fmt], cli_lib_detail());
			else
				cli_err("%s: cannot read as %s: %s", path, fmt_names[fmt], strerror(-rc));
			goto fail;
		}
		in->dim = data_reader_dim(in->dr);
		if (fmt != IN_IDX)
			in->vecs_rows = vecs_rows(path, in->dim, fmt == IN_FVECS ? 4 : 1);
		in->raw = malloc(sizeof(float) * in->dim);
		if (!in->raw) {
			rc = -ENOMEM;
			goto fail;
		}
	} else {
		in->gz = gzopen(path, "rb");
		if (!in->gz) {
			rc = errno ? -errno : -ENOMEM;
			cli_err("%s: %s", path, strerror(-rc));
			goto fail;
		}
		gzbuffer(in->gz, 1u << 18);
		if (fmt == IN_NPY && (rc = npy_open(in)))
			goto fail;
	}
	*out = in;
	return 0;
fail:
	input_close(in);
	return rc;
}

size_t input_rows_hint(const struct input *in)
{
	if (in->dr)
		return in->fmt == IN_IDX ? data_reader_rows_hint(in->dr) : in->vecs_rows;
	if (in->fmt == IN_NPY)
		return in->npy_rows;
	return 0;
}

uint32_t input_dim(const struct input *in)
{
	return in->dim;
}

void input_close(struct input *in)
{
	if (!in)
		return;
	data_reader_close(in->dr);
	if (in->gz)
		gzclose(in->gz);
	free(in->raw);
	free(in->line);
	free(in->path);
	free(in);
}

static long next_datareader(struct input *in, struct input_batch *b, size_t max)
{
	size_t got = 0;

	/* Read straight into the batch, one row at a time through batch_add_row so
	 * every row carries its id and position. */
	while (got < max) {
		float *row = batch_add_row(b, in->dim, in->next_id, in->row);
		long r;

		if (!row)
			return -ENOMEM;
		cli_clear_lib_err();
		r = data_reader_next(in->dr, row, 1);
		if (r < 0) {
			b->n--;
			in->pending = (int)r;
			cli_err("%s: %s at row %llu: %s", in->path,
				r == -EUCLEAN ? "malformed or truncated input" : "read error",
				(unsigned long long)in->row,
				cli_lib_detail()[0] ? cli_lib_detail() : strerror((int)-r));
			return got ? (long)got : r;
		}
		if (r == 0) {
			b->n--;
			break;
		}
		in->next_id++;
		in->row++;
		got++;
	}
	return (long)got;
}

static float npy_value(const struct input *in, size_t i)
{
	const uint8_t *p = (const uint8_t *)in->raw + i * in->npy_elem;

	switch (in->npy) {
	case NPY_F4: { float v; memcpy(&v, p, 4); return v; }
	case NPY_F8: { double v; memcpy(&v, p, 8); return (float)v; }
	case NPY_I1: return (float)(int8_t)p[0];
	case NPY_U1: return (float)p[0];
	case NPY_I2: { int16_t v; memcpy(&v, p, 2); return (float)v; }
	case NPY_U2: { uint16_t v; memcpy(&v, p, 2); return (float)v; }
	case NPY_I4: { int32_t v; memcpy(&v, p, 4); return (float)v; }
	case NPY_U4: { uint32_t v; memcpy(&v, p, 4); return (float)v; }
	case NPY_I8: { int64_t v; memcpy(&v, p, 8); return (float)v; }
	case NPY_U8: { uint64_t v; memcpy(&v, p, 8); return (float)v; }
	}
	return NAN;
}

static long next_npy(struct input *in, struct input_batch *b, size_t max)
{
	size_t got = 0;

	while (got < max && in->row < in->npy_rows) {
		float *row;
		int rc = gz_full(in, in->raw, in->npy_elem * in->dim);

		if (rc) {
			if (rc > 0 || rc == -EUCLEAN)
				cli_err("%s: truncated: the header promises %zu rows, data ends at row %llu",
					in->path, in->npy_rows, (unsigned long long)in->row);
			in->pending = rc > 0 ? -EUCLEAN : rc;
			return got ? (long)got : in->pending;
		}
		row = batch_add_row(b, in->dim, in->next_id, in->row);
		if (!row)
			return -ENOMEM;
		for (uint32_t j = 0; j < in->dim; j++)
			row[j] = npy_value(in, j);
		in->next_id++;
		in->row++;
		got++;
	}
	return (long)got;
}

/* One line into in->line (without the newline). 1 = got one, 0 = EOF. */
static int read_line(struct input *in)
{
	size_t len = 0;

	for (;;) {
		if (in->line_cap - len < 2) {
			size_t nc = in->line_cap ? 2 * in->line_cap : 8192;
			char *nl = realloc(in->line, nc);

			if (!nl)
				return -ENOMEM;
			in->line = nl;
			in->line_cap = nc;
		}
		if (!gzgets(in->gz, in->line + len, (int)(in->line_cap - len))) {
			int zerr;
			const char *msg = gzerror(in->gz, &zerr);

			if (zerr == Z_BUF_ERROR) {
				cli_err("%s: truncated gzip stream at line %llu", in->path,
					(unsigned long long)in->row + 1);
				return -EUCLEAN;
			}
			if (zerr != Z_OK) {
				cli_err("%s: read error at line %llu: %s", in->path,
					(unsigned long long)in->row + 1, msg);
				return -EIO;
			}
			if (len == 0)
				return 0;
			break;
		}
		len += strlen(in->line + len);
		if (len && in->line[len - 1] == '\n')
			break;
	}
	while (len && (in->line[len - 1] == '\n' || in->line[len - 1] == '\r'))
		in->line[--len] = '\0';
	in->row++;
	return 1;
}

static bool is_blank(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return *s == '\0' || *s == '#';
}

/* Parse a csv line of numbers into the batch; on a bad field, a bad row. */
static int csv_line(struct input *in, struct input_batch *b)
{
	uint32_t n = 1;
	char *p = in->line, *end;
	float *row;
	char why[160];

	for (const char *q = p; *q; q++)
		n += *q == ',';
	if (!in->header_checked) {
		in->header_checked = true;
		while (isspace((unsigned char)*p))
			p++;
		strtof(p, &end);
		if (end == p)
			return 0;   /* header */
		p = in->line;
	}
	if (n > 65535) {
		snprintf(why, sizeof(why), "%u values (at most 65535)", n);
		return batch_add_bad(b, in->row, why);
	}
	row = batch_add_row(b, n, in->next_id, in->row);
	if (!row)
		return -ENOMEM;
	for (uint32_t j = 0; j < n; j++) {
		row[j] = strtof(p, &end);
		while (isspace((unsigned char)*end))
			end++;
		if (end == p || (*end && *end != ',')) {
			b->n--;
			snprintf(why, sizeof(why), "field %u is not a number", j + 1);
			return batch_add_bad(b, in->row, why);
		}
		p = *end ? end + 1 : end;
	}
	in->next_id++;
	return 0;
}

static int json_float(json_t *v, float *out)
{
	if (json_is_number(v)) {
		*out = (float)json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (!strcasecmp(s, "nan"))
			*out = NAN;
		else if (!strcasecmp(s, "inf") || !strcasecmp(s, "+inf"))
			*out = INFINITY;
		else if (!strcasecmp(s, "-inf"))
			*out = -INFINITY;
		else
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

static int jsonl_line(struct input *in, struct input_batch *b)
{
	json_error_t jerr;
	json_t *root = json_loads(in->line, JSON_REJECT_DUPLICATES, &jerr), *vec, *idv, *meta;
	char why[300];
	const char *key;
	json_t *val;
	size_t n;
	float *row;
	uint64_t id = in->next_id;
	int rc = 0;

	if (!root) {
		snprintf(why, sizeof(why), "bad JSON at column %d: %s", jerr.column, jerr.text);
		return batch_add_bad(b, in->row, why);
	}
	if (!json_is_object(root)) {
		rc = batch_add_bad(b, in->row, "not a JSON object");
		goto out;
	}
	json_object_foreach(root, key, val) {
		if (strcmp(key, "id") && strcmp(key, "vector") && strcmp(key, "meta")) {
			snprintf(why, sizeof(why), "unknown key '%.64s' (id, vector, meta)", key);
			rc = batch_add_bad(b, in->row, why);
			goto out;
		}
	}
	idv = json_object_get(root, "id");
	if (idv) {
		if (json_is_integer(idv) && json_integer_value(idv) >= 0) {
			id = (uint64_t)json_integer_value(idv);
		} else if (json_is_string(idv)) {
			char *end;

			errno = 0;
			id = strtoull(json_string_value(idv), &end, 10);
			if (errno || *end || !isdigit((unsigned char)json_string_value(idv)[0])) {
				rc = batch_add_bad(b, in->row, "\"id\" is not a non-negative integer");
				goto out;
			}
		} else {
			rc = batch_add_bad(b, in->row, "\"id\" is not a non-negative integer");
			goto out;
		}
	}
	vec = json_object_get(root, "vector");
	if (!json_is_array(vec) || json_array_size(vec) == 0) {
		rc = batch_add_bad(b, in->row, "\"vector\" missing or not a non-empty array");
		goto out;
	}
	n = json_array_size(vec);
	if (n > 65535) {
		rc = batch_add_bad(b, in->row, "\"vector\" has more than 65535 values");
		goto out;
	}
	row = batch_add_row(b, (uint32_t)n, id, in->row);
	if (!row) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < n; j++)
		if (json_float(json_array_get(vec, j), &row[j])) {
			b->n--;
			snprintf(why, sizeof(why), "\"vector\"[%zu] is not a number", j);
			rc = batch_add_bad(b, in->row, why);
			goto out;
		}
	meta = json_object_get(root, "meta");
	if (meta && !json_is_null(meta)) {
		char *txt = json_dumps(meta, JSON_COMPACT | JSON_ENCODE_ANY);
		struct rvf_meta_entry *ent;
		size_t ne;

		if (!txt) {
			b->n--;
			rc = -ENOMEM;
			goto out;
		}
		cli_clear_lib_err();
		if (rvf_meta_parse_json(txt, &ent, &ne)) {
			b->n--;
			snprintf(why, sizeof(why), "\"meta\": %s",
				 cli_lib_detail()[0] ? cli_lib_detail() : "invalid");
			rc = batch_add_bad(b, in->row, why);
			free(txt);
			goto out;
		}
		free(txt);
		b->meta[b->n - 1] = ent;
		b->n_meta[b->n - 1] = (uint32_t)ne;
	}
	in->next_id++;
out:
	json_decref(root);
	return rc;
}

static long next_text(struct input *in, struct input_batch *b, size_t max)
{
	while (b->n + b->n_bad < max) {
		int rc = read_line(in);

		if (rc < 0) {
			if (b->n + b->n_bad == 0)
				return rc;
			in->pending = rc;
			break;
		}
		if (rc == 0)
			break;
		if (is_blank(in->line))
			continue;
		rc = in->fmt == IN_CSV ? csv_line(in, b) : jsonl_line(in, b);
		if (rc)
			return rc;
	}
	return (long)(b->n + b->n_bad);
}

long input_next(struct input *in, struct input_batch *b, size_t max)
{
	long r;

	batch_clear(b);
	if (in->pending)
		return in->pending;
	if (in->dr)
		r = next_datareader(in, b, max);
	else if (in->fmt == IN_NPY)
		r = next_npy(in, b, max);
	else
		r = next_text(in, b, max);
	if (r == -ENOMEM)
		cli_err("%s: out of memory", in->path);
	return r;
}
