/*
 * data/data.c - matrices, the streaming reader for idx / fvecs / bvecs /
 * ivecs files (plain or gzip: zlib's gzread passes plain files through), the
 * whole-file loads, fvecs/ivecs writers and the Fashion-MNIST loader.
 *
 * Reader state: after open, dim is known. For the *vecs formats the first
 * row's 4-byte dimension prefix has been consumed (have_prefix = 1); every
 * later row's prefix is read and must repeat dim. idx files carry their row
 * count in the header and must end exactly after the last row.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data.h"
#include "rvf/error.h"

/* Widest row accepted: guards allocations against garbage headers. */
#define DATA_MAX_DIM (1u << 24)

/* ---- matrices ------------------------------------------------------------- */

int data_mat_alloc(struct data_mat *m, size_t n, uint32_t dim)
{
	size_t bytes;

	if (!m || !dim || (n && (size_t)dim > SIZE_MAX / sizeof(float) / n))
		return -EINVAL;
	bytes = n * dim * sizeof(float);
	bytes = (bytes + 63) / 64 * 64;
	m->v = aligned_alloc(64, bytes ? bytes : 64);
	if (!m->v)
		return rvf_fail(-ENOMEM, "data: out of memory for %zu x %u floats", n, dim);
	m->n = n;
	m->dim = dim;
	return 0;
}

void data_mat_release(struct data_mat *m)
{
	if (!m)
		return;
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

void data_imat_release(struct data_imat *m)
{
	if (!m)
		return;
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static const char *const fmt_names[] = {
	[DATA_FMT_IDX] = "idx", [DATA_FMT_FVECS] = "fvecs",
	[DATA_FMT_BVECS] = "bvecs", [DATA_FMT_IVECS] = "ivecs",
};

int data_format_parse(const char *name, enum data_format *fmt)
{
	if (!name || !fmt)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(fmt_names) / sizeof(fmt_names[0]); i++) {
		if (!strcmp(name, fmt_names[i])) {
			*fmt = (enum data_format)i;
			return 0;
		}
	}
	return rvf_fail(-EINVAL, "data: unknown format '%s' (want idx, fvecs, bvecs or ivecs)", name);
}

const char *data_format_name(enum data_format fmt)
{
	return (unsigned)fmt < sizeof(fmt_names) / sizeof(fmt_names[0]) ? fmt_names[fmt] : "unknown";
}

/* ---- streaming reader ----------------------------------------------------- */

enum idx_type { IDX_U8 = 0x08, IDX_S8 = 0x09, IDX_I16 = 0x0b, IDX_I32 = 0x0c, IDX_F32 = 0x0d, IDX_F64 = 0x0e };

struct data_reader {
	gzFile gz;
	char *path;
	enum data_format fmt;
	uint32_t dim;
	size_t rows_hint, rows_done;
	int have_prefix;           /* *vecs: the next row's dim prefix is already read */
	unsigned idx_type, elem;   /* idx: value type and size in bytes */
	uint8_t *raw;              /* one row of raw bytes */
	size_t raw_len;
};

/* Read exactly n bytes. 1 ok, 0 clean EOF before any byte, or -errno
 * (-EUCLEAN for a short read or corrupt gzip stream, -EIO for I/O). */
static int gz_read_full(struct data_reader *r, void *dst, size_t n)
{
	size_t got = 0;

	while (got < n) {
		size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
		int rc = gzread(r->gz, (char *)dst + got, (unsigned)want);
		int zerr;
		const char *msg;

		if (rc > 0) {
			got += (size_t)rc;
			continue;
		}
		msg = gzerror(r->gz, &zerr);
		if (rc < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
			if (zerr == Z_ERRNO)
				return rvf_fail(-EIO, "data: %s: read error: %s", r->path, strerror(errno));
			return rvf_fail(-EUCLEAN, "data: %s: corrupt or truncated compressed stream (%s)", r->path,
					msg);
		}
		if (got == 0)
			return 0;
		return rvf_fail(-EUCLEAN, "data: %s: truncated (%zu of %zu bytes of a record)", r->path, got, n);
	}
	return 1;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int open_idx(struct data_reader *r)
{
	uint8_t hdr[4], sz[4];
	uint64_t rows, width = 1;
	int rc;

	rc = gz_read_full(r, hdr, 4);
	if (rc <= 0)
		return rc ? rc : rvf_fail(-EUCLEAN, "data: %s: empty file", r->path);
	if (hdr[0] || hdr[1] || !hdr[3])
		return rvf_fail(-EUCLEAN, "data: %s: not an idx file (magic %02x%02x%02x%02x)", r->path, hdr[0],
				hdr[1], hdr[2], hdr[3]);
	switch (hdr[2]) {
	case IDX_U8: case IDX_S8: r->elem = 1; break;
	case IDX_I16: r->elem = 2; break;
	case IDX_I32: case IDX_F32: r->elem = 4; break;
	case IDX_F64: r->elem = 8; break;
	default:
		return rvf_fail(-EUCLEAN, "data: %s: unknown idx value type 0x%02x", r->path, hdr[2]);
	}
	r->idx_type = hdr[2];
	rc = gz_read_full(r, sz, 4);
	if (rc <= 0)
		return rc ? rc : rvf_fail(-EUCLEAN, "data: %s: truncated idx header", r->path);
	rows = be32(sz);
	for (unsigned i = 1; i < hdr[3]; i++) {
		rc = gz_read_full(r, sz, 4);
		if (rc <= 0)
			return rc ? rc : rvf_fail(-EUCLEAN, "data: %s: truncated idx header", r->path);
		width *= be32(sz);
		if (width > DATA_MAX_DIM)
			return rvf_fail(-EUCLEAN, "data: %s: row width %llu too large", r->path,
					(unsigned long long)width);
	}
	if (!width)
		return rvf_fail(-EUCLEAN, "data: %s: idx rows have zero width", r->path);
	r->dim = (uint32_t)width;
	r->rows_hint = rows;
	return 0;
}

static int open_vecs(struct data_reader *r)
{
	int32_t d;
	int rc = gz_read_full(r, &d, 4);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return rvf_fail(-EUCLEAN, "data: %s: empty %s file (dimension unknown)", r->path,
				data_format_name(r->fmt));
	if (d <= 0 || (uint32_t)d > DATA_MAX_DIM)
		return rvf_fail(-EUCLEAN, "data: %s: bad row dimension %d", r->path, d);
	r->dim = (uint32_t)d;
	r->have_prefix = 1;
	r->elem = r->fmt == DATA_FMT_BVECS ? 1 : 4;
	return 0;
}

int data_reader_open(const char *path, enum data_format fmt, struct data_reader **out)
{
	struct data_reader *r;
	int err;

	if (!path || !out || (unsigned)fmt > DATA_FMT_IVECS)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fmt = fmt;
	r->path = strdup(path);
	if (!r->path) {
		err = -ENOMEM;
		goto fail;
	}
	r->gz = gzopen(path, "rb");
	if (!r->gz) {
		err = rvf_fail(errno ? -errno : -ENOMEM, "data: cannot open %s: %s", path,
			       errno ? strerror(errno) : "out of memory");
		goto fail;
	}
	gzbuffer(r->gz, 1u << 18);
	err = fmt == DATA_FMT_IDX ? open_idx(r) : open_vecs(r);
	if (err)
		goto fail;
	r->raw_len = (size_t)r->dim * r->elem;
	r->raw = malloc(r->raw_len);
	if (!r->raw) {
		err = -ENOMEM;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	data_reader_close(r);
	return err;
}

uint32_t data_reader_dim(const struct data_reader *r)
{
	return r ? r->dim : 0;
}

size_t data_reader_rows_hint(const struct data_reader *r)
{
	return r ? r->rows_hint : 0;
}

static void convert_row(const struct data_reader *r, float *dst)
{
	const uint8_t *p = r->raw;
	uint32_t n = r->dim;

	if (r->fmt == DATA_FMT_BVECS || (r->fmt == DATA_FMT_IDX && r->idx_type == IDX_U8)) {
		for (uint32_t i = 0; i < n; i++)
			dst[i] = (float)p[i];
	} else if (r->fmt == DATA_FMT_FVECS) {
		memcpy(dst, p, (size_t)n * 4);
	} else if (r->fmt == DATA_FMT_IVECS) {
		for (uint32_t i = 0; i < n; i++) {
			int32_t v;

			memcpy(&v, p + 4 * (size_t)i, 4);
			dst[i] = (float)v;
		}
	} else {
		/* idx values are big-endian */
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *e = p + (size_t)i * r->elem;
			uint32_t u;
			uint64_t w;
			float f;
			double d;

			switch (r->idx_type) {
			case IDX_S8: dst[i] = (float)(int8_t)e[0]; break;
			case IDX_I16: dst[i] = (float)(int16_t)(uint16_t)(e[0] << 8 | e[1]); break;
			case IDX_I32: dst[i] = (float)(int32_t)be32(e); break;
			case IDX_F32:
				u = be32(e);
				memcpy(&f, &u, 4);
				dst[i] = f;
				break;
			default: /* IDX_F64 */
				w = (uint64_t)be32(e) << 32 | be32(e + 4);
				memcpy(&d, &w, 8);
				dst[i] = (float)d;
				break;
			}
		}
	}
}

long data_reader_next(struct data_reader *r, float *rows, size_t max)
{
	size_t got = 0;
	int rc;

	if (!r || (max && !rows))
		return -EINVAL;
	if (max > LONG_MAX)
		max = LONG_MAX;
	while (got < max) {
		if (r->fmt == DATA_FMT_IDX) {
			if (r->rows_done == r->rows_hint) {
				uint8_t extra;

				rc = gz_read_full(r, &extra, 1);
				if (rc < 0)
					return rc;
				if (rc > 0)
					return rvf_fail(-EUCLEAN, "data: %s: bytes after the %zu rows the header declares",
							r->path, r->rows_hint);
				break;
			}
		} else if (!r->have_prefix) {
			int32_t d;

			rc = gz_read_full(r, &d, 4);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
			if (d != (int32_t)r->dim)
				return rvf_fail(-EUCLEAN, "data: %s: row %zu has dimension %d, expected %u", r->path,
						r->rows_done, d, r->dim);
		}
		rc = gz_read_full(r, r->raw, r->raw_len);
		if (rc <= 0)
			return rc ? rc : rvf_fail(-EUCLEAN, "data: %s: truncated in row %zu", r->path, r->rows_done);
		r->have_prefix = 0;
		convert_row(r, rows + got * r->dim);
		got++;
		r->rows_done++;
	}
	return (long)got;
}

void data_reader_close(struct data_reader *r)
{
	if (!r)
		return;
	if (r->gz)
		gzclose(r->gz);
	free(r->raw);
	free(r->path);
	free(r);
}

/* ---- whole-file loads ----------------------------------------------------- */

/* The first allocation of a whole-file load is at most this many bytes; it
 * doubles as rows arrive. A header's row count and width are claims, not
 * data: sizing the matrix by them let a 23-byte idx file ask for 4096 rows of
 * 187,212 values (3 GB) before a single row was read. */
#define DATA_LOAD_FIRST_BYTES (64u << 20)

int data_load(const char *path, enum data_format fmt, size_t max_n, struct data_mat *out)
{
	struct data_reader *r = NULL;
	struct data_mat m = { 0 };
	size_t cap, n = 0, first;
	int err;

	if (!out)
		return -EINVAL;
	err = data_reader_open(path, fmt, &r);
	if (err)
		return err;
	/* idx: one row past the declared count, so the read that finds the end
	 * (and refuses trailing bytes) has room without growing the matrix */
	cap = r->rows_hint ? r->rows_hint + 1 : 4096;
	if (max_n && cap > max_n)
		cap = max_n;
	first = DATA_LOAD_FIRST_BYTES / ((size_t)r->dim * sizeof(float));
	if (cap > first)
		cap = first ? first : 1;
	err = data_mat_alloc(&m, cap ? cap : 1, r->dim);
	if (err)
		goto out;
	for (;;) {
		size_t want = cap - n;
		long got;

		if (max_n && n == max_n)
			break;
		if (!want) {
			struct data_mat bigger = { 0 };
			size_t ncap = cap * 2;

			if (max_n && ncap > max_n)
				ncap = max_n;
			if (r->rows_hint && ncap > r->rows_hint + 1)
				ncap = r->rows_hint + 1;
			err = data_mat_alloc(&bigger, ncap, r->dim);
			if (err)
				goto out;
			memcpy(bigger.v, m.v, n * r->dim * sizeof(float));
			data_mat_release(&m);
			m = bigger;
			cap = ncap;
			continue;
		}
		got = data_reader_next(r, m.v + n * r->dim, want);
		if (got < 0) {
			err = (int)got;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	m.n = n;
	*out = m;
	m.v = NULL;
out:
	data_mat_release(&m);
	data_reader_close(r);
	return err;
}

int data_load_ivecs(const char *path, size_t max_n, struct data_imat *out)
{
	struct data_mat m = { 0 };
	int32_t *v;
	int err;

	if (!out)
		return -EINVAL;
	/* Read as floats, then convert back: exact for |id| < 2^24 only, so read
	 * raw instead for anything larger. */
	err = data_load(path, DATA_FMT_IVECS, max_n, &m);
	if (err)
		return err;
	v = malloc((m.n ? m.n : 1) * m.dim * sizeof(*v));
	if (!v) {
		data_mat_release(&m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m.n * m.dim; i++) {
		if (m.v[i] >= 16777216.0f || m.v[i] <= -16777216.0f) {
			free(v);
			data_mat_release(&m);
			return rvf_fail(-ERANGE, "data: %s: id beyond 2^24 not supported", path);
		}
		v[i] = (int32_t)m.v[i];
	}
	out->v = v;
	out->n = m.n;
	out->dim = m.dim;
	data_mat_release(&m);
	return 0;
}

/* ---- writers -------------------------------------------------------------- */

static int save_vecs(const char *path, const void *v, size_t n, uint32_t dim)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int32_t d = (int32_t)dim;
	int err = 0;

	if (!path || (n && !v) || !dim || dim > INT32_MAX)
		return -EINVAL;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	{
		int fd = mkstemp(tmp);

		if (fd < 0) {
			err = rvf_fail(-errno, "data: cannot create %s: %s", tmp, strerror(errno));
			goto out;
		}
		f = fdopen(fd, "wb");
		if (!f) {
			err = -errno;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (fwrite(&d, 4, 1, f) != 1 ||
		    fwrite((const char *)v + i * dim * 4, 4, dim, f) != dim) {
			err = rvf_fail(-EIO, "data: write to %s failed: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (fflush(f) || fsync(fileno(f))) {
		err = rvf_fail(-EIO, "data: write to %s failed: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f)) {
		f = NULL;
		err = rvf_fail(-EIO, "data: close of %s failed", tmp);
		goto out;
	}
	f = NULL;
	if (rename(tmp, path)) {
		err = rvf_fail(-errno, "data: rename %s -> %s: %s", tmp, path, strerror(errno));
		goto out;
	}
out:
	if (f)
		fclose(f);
	if (err && tmp)
		unlink(tmp);
	free(tmp);
	return err;
}

int data_save_fvecs(const char *path, const float *v, size_t n, uint32_t dim)
{
	return save_vecs(path, v, n, dim);
}

int data_save_ivecs(const char *path, const int32_t *v, size_t n, uint32_t dim)
{
	return save_vecs(path, v, n, dim);
}

/* ---- Fashion-MNIST -------------------------------------------------------- */

static int load_first(const char *dir, const char *const *names, struct data_mat *out)
{
	char path[4096];

	for (size_t i = 0; names[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (access(path, R_OK) == 0)
			return data_load(path, DATA_FMT_IDX, 0, out);
	}
	return rvf_fail(-ENOENT, "data: Fashion-MNIST %s not found in %s (install dataset-fashion-mnist)",
			names[0], dir);
}

int data_fashion_mnist(const char *dir, struct data_mat *base, struct data_mat *queries)
{
	static const char *const train[] = { "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", NULL };
	static const char *const test[] = { "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte", NULL };
	struct data_mat b = { 0 }, q = { 0 };
	int err;

	if (!base || !queries)
		return -EINVAL;
	if (!dir)
		dir = DATA_FMNIST_DIR;
	err = load_first(dir, train, &b);
	if (err)
		return err;
	err = load_first(dir, test, &q);
	if (err) {
		data_mat_release(&b);
		return err;
	}
	if (b.dim != q.dim) {
		data_mat_release(&b);
		data_mat_release(&q);
		return rvf_fail(-EUCLEAN, "data: Fashion-MNIST train/test widths differ (%u, %u)", b.dim, q.dim);
	}
	*base = b;
	*queries = q;
	return 0;
}
