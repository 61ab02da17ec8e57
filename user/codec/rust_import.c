/*
 * codec/rust_import.c - reader for .rvf files written by the Rust RVF
 * runtime (format summary in rust_import.h).
 *
 * Sequence:
 *   1. walk: read every 64-byte segment header from offset 0, back to back;
 *      the walk must land exactly on end of file. Headers only, no payloads.
 *   2. the live manifest is the last MANIFEST segment; load it (hash checked)
 *      and parse it; every directory entry must match a walked header.
 *   3. for each listed segment in file order: VEC rows are collected, KERNEL,
 *      EBPF and other types are copied raw, JOURNAL / WITNESS / old MANIFEST
 *      are only hash-checked.
 *   4. segments after the live manifest (an uncommitted write) are checked
 *      and ignored.
 *   5. resolve: sort rows by (id, file order), the last row of an id wins,
 *      ids in the deleted set are dropped.
 *
 * Invariant: no allocation or read size comes from the file without first
 * being bounded by the file size (and every product by an overflow check).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/log.h"
#include "codec/hash.h"
#include "codec/identity.h"
#include "codec/rust_import.h"

#define MANIFEST_HDR_LEN   22u
#define DIR_ENTRY_LEN      25u
#define FIDI_MAGIC         0x46494449u          /* "FIDI" */
#define FIDI_TRAILER_LEN   (4u + sizeof(struct rvf_file_identity))
#define VEC_HDR_LEN        6u

/* Where the bytes come from: a caller's buffer or a file descriptor. */
struct src {
	const char *name;
	const uint8_t *buf;             /* NULL: read from fd */
	int fd;
	uint64_t size;
};

/* A walked segment. */
struct wseg {
	uint64_t off;
	struct rvf_seg_hdr hdr;
	bool listed;                    /* named by the live manifest */
};

/* One VEC row before resolution: its id and where its floats sit in the
 * row arena (rows are appended in file order, so row order = file order). */
struct row {
	uint64_t id;
	uint64_t idx;
};

struct reader {
	struct src src;
	struct wseg *segs;
	size_t nsegs;
	struct rust_rvf *r;
	/* live manifest, parsed */
	const struct wseg *man;
	uint64_t n_rows;                /* VEC rows over all listed VEC segments */
	struct row *rows;
	float *arena;                   /* n_rows * dim floats */
};

__attribute__((format(printf, 4, 5)))
static int bad(const struct src *s, uint64_t off, int err, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return log_fail(err, "rust rvf import: %s: offset %llu: %s", s->name,
			(unsigned long long)off, msg);
}

static int src_read(const struct src *s, uint64_t off, void *dst, size_t n)
{
	uint8_t *d = dst;

	if (off > s->size || n > s->size - off)
		return bad(s, off, -EUCLEAN, "read of %zu bytes runs past end of file (%llu bytes)",
			   n, (unsigned long long)s->size);
	if (s->buf) {
		if (n)
			memcpy(d, s->buf + off, n);
		return 0;
	}
	while (n) {
		ssize_t got = pread(s->fd, d, n, (off_t)off);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return bad(s, off, -errno, "read failed: %s", strerror(errno));
		}
		if (got == 0)
			return bad(s, off, -EIO, "file shrank while being read");
		d += got;
		off += (uint64_t)got;
		n -= (size_t)got;
	}
	return 0;
}

/* ---- 1. walk ------------------------------------------------------------ */

static int check_seg_hdr(const struct src *s, uint64_t off, const struct rvf_seg_hdr *h)
{
	if (off == 0 && !memcmp(h, RVF_ROOT_MAGIC, 8))
		return bad(s, off, -ENOEXEC, "already a native rvf store, not a file of the Rust "
			   "runtime: nothing to import");
	if (h->magic != RVF_SEG_MAGIC)
		return off == 0 ? bad(s, off, -ENOEXEC, "not an RVF file (magic 0x%08x)", h->magic)
				: bad(s, off, -EUCLEAN, "bad segment magic 0x%08x", h->magic);
	if (h->version != RVF_SEG_VERSION)
		return bad(s, off, -EUCLEAN, "segment version %u (expected %u)", h->version,
			   RVF_SEG_VERSION);
	if (h->seg_type == RVF_SEG_INVALID)
		return bad(s, off, -EUCLEAN, "segment type 0 (invalid)");
	if (h->payload_length > s->size - off - RVF_SEG_HEADER_SIZE)
		return bad(s, off, -EUCLEAN, "segment payload of %llu bytes runs past end of "
			   "file (%llu bytes)", (unsigned long long)h->payload_length,
			   (unsigned long long)s->size);
	if (h->reserved_0 || h->reserved_1)
		return bad(s, off, -EUCLEAN, "segment header reserved fields are not zero");
	if (h->compression || (h->flags & (RVF_SEGF_COMPRESSED | RVF_SEGF_ENCRYPTED)) ||
	    h->uncompressed_len)
		return bad(s, off, -ENOTSUP, "compressed or encrypted segment (flags 0x%x, "
			   "compression %u)", h->flags, h->compression);
	if (h->checksum_algo != RVF_CKSUM_CRC32C && !all_zero(h->content_hash, 16))
		return bad(s, off, -ENOTSUP, "checksum algorithm %u is not the Rust runtime's (0)",
			   h->checksum_algo);
	return 0;
}

static int walk(struct reader *rd)
{
	const struct src *s = &rd->src;
	size_t cap = 0;
	uint64_t off = 0;
	int err;

	if (s->size == 0)
		return bad(s, 0, -ENOEXEC, "empty file");
	while (off < s->size) {
		struct rvf_seg_hdr h;

		if (s->size - off < RVF_SEG_HEADER_SIZE)
			return bad(s, off, off ? -EUCLEAN : -ENOEXEC,
				   "%llu trailing bytes are not a whole segment header",
				   (unsigned long long)(s->size - off));
		err = src_read(s, off, &h, sizeof(h));
		if (err)
			return err;
		err = check_seg_hdr(s, off, &h);
		if (err)
			return err;
		if (rd->nsegs == cap) {
			/* at most size / 64 segments fit in the file */
			size_t ncap = cap ? 2 * cap : 16;
			struct wseg *n = reallocarray(rd->segs, ncap, sizeof(*n));

			if (!n)
				return bad(s, off, -ENOMEM, "out of memory");
			rd->segs = n;
			cap = ncap;
		}
		rd->segs[rd->nsegs].off = off;
		rd->segs[rd->nsegs].hdr = h;
		rd->segs[rd->nsegs].listed = false;
		rd->nsegs++;
		off += RVF_SEG_HEADER_SIZE + h.payload_length;
	}
	return 0;
}

static struct wseg *find_seg(struct reader *rd, uint64_t off)
{
	size_t lo = 0, hi = rd->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rd->segs[mid].off == off)
			return &rd->segs[mid];
		if (rd->segs[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Read a segment's payload into a fresh buffer (at least 1 byte allocated)
 * and check its content hash when non-zero. With raw, the buffer holds the
 * header too, and *buf points at the header. */
static int load_seg(struct reader *rd, const struct wseg *w, bool raw, uint8_t **buf)
{
	const struct src *s = &rd->src;
	uint64_t plen = w->hdr.payload_length, skip = raw ? RVF_SEG_HEADER_SIZE : 0;
	uint8_t digest[16], *b;
	int err;

	/* check_seg_hdr bounded plen + 64 by the file size */
	if (plen + skip > SIZE_MAX - 1)
		return bad(s, w->off, -ENOMEM, "segment too large for memory");
	b = malloc((size_t)(plen + skip) + 1);
	if (!b)
		return bad(s, w->off, -ENOMEM, "out of memory for a %llu-byte segment",
			   (unsigned long long)plen);
	err = src_read(s, w->off + RVF_SEG_HEADER_SIZE - skip, b, (size_t)(plen + skip));
	if (err)
		goto fail;
	if (!all_zero(w->hdr.content_hash, 16)) {
		rust_content_hash(b + skip, (size_t)plen, digest);
		if (memcmp(digest, w->hdr.content_hash, 16)) {
			err = bad(s, w->off, -EBADMSG, "content hash mismatch in segment %llu "
				  "(type 0x%02x, %llu bytes)",
				  (unsigned long long)w->hdr.segment_id, w->hdr.seg_type,
				  (unsigned long long)plen);
			goto fail;
		}
	}
	*buf = b;
	return 0;
fail:
	free(b);
	return err;
}

/* ---- 2. manifest ---------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int parse_manifest(struct reader *rd, const uint8_t *p, uint64_t len)
{
	const struct src *s = &rd->src;
	const uint64_t moff = rd->man->off;
	struct rust_rvf *r = rd->r;
	uint64_t pos, seg_count, del_count, tail, i, j;
	int err;

	if (len < MANIFEST_HDR_LEN + 4)
		return bad(s, moff, -EUCLEAN, "manifest payload of %llu bytes is too short",
			   (unsigned long long)len);
	r->epoch = rd32(p);
	r->dim = rd16(p + 4);
	r->manifest_total = rd64(p + 6);
	seg_count = rd32(p + 14);
	r->profile_id = p[18];
	if (!all_zero(p + 19, 3))
		return bad(s, moff, -EUCLEAN, "manifest reserved bytes are not zero");
	if (r->dim == 0)
		return bad(s, moff, -EUCLEAN, "manifest dimension is 0");
	pos = MANIFEST_HDR_LEN;
	if (seg_count > (len - pos - 4) / DIR_ENTRY_LEN)
		return bad(s, moff, -EUCLEAN, "manifest lists %llu segments, more than its %llu "
			   "bytes can hold", (unsigned long long)seg_count, (unsigned long long)len);

	for (i = 0; i < seg_count; i++, pos += DIR_ENTRY_LEN) {
		uint64_t id = rd64(p + pos), off = rd64(p + pos + 8), plen = rd64(p + pos + 16);
		uint8_t type = p[pos + 24];
		struct wseg *w = find_seg(rd, off);

		if (!w)
			return bad(s, moff, -EUCLEAN, "directory entry %llu names offset %llu, where "
				   "no segment starts", (unsigned long long)i, (unsigned long long)off);
		if (w->hdr.segment_id != id || w->hdr.seg_type != type ||
		    w->hdr.payload_length != plen)
			return bad(s, moff, -EUCLEAN, "directory entry %llu (id %llu, type 0x%02x, "
				   "%llu bytes) does not match the segment at offset %llu (id %llu, "
				   "type 0x%02x, %llu bytes)", (unsigned long long)i,
				   (unsigned long long)id, type, (unsigned long long)plen,
				   (unsigned long long)off, (unsigned long long)w->hdr.segment_id,
				   w->hdr.seg_type, (unsigned long long)w->hdr.payload_length);
		if (off >= moff)
			return bad(s, moff, -EUCLEAN, "directory entry %llu names offset %llu, at or "
				   "after the manifest itself", (unsigned long long)i,
				   (unsigned long long)off);
		if (w->listed)
			return bad(s, moff, -EUCLEAN, "directory lists offset %llu twice",
				   (unsigned long long)off);
		w->listed = true;
	}

	del_count = rd32(p + pos);
	pos += 4;
	if (del_count > (len - pos) / 8)
		return bad(s, moff, -EUCLEAN, "manifest lists %llu deleted ids, more than its "
			   "%llu bytes can hold", (unsigned long long)del_count,
			   (unsigned long long)len);
	if (del_count) {
		r->deleted = malloc((size_t)del_count * sizeof(uint64_t));
		if (!r->deleted)
			return bad(s, moff, -ENOMEM, "out of memory");
		memcpy(r->deleted, p + pos, (size_t)del_count * 8);
		qsort(r->deleted, (size_t)del_count, sizeof(uint64_t), cmp_u64);
		for (i = 0, j = 0; i < del_count; i++)
			if (j == 0 || r->deleted[j - 1] != r->deleted[i])
				r->deleted[j++] = r->deleted[i];
		r->n_deleted = (size_t)j;
	}
	pos += del_count * 8;

	tail = len - pos;
	if (tail == 0)
		return 0;
	if (tail != FIDI_TRAILER_LEN || rd32(p + pos) != FIDI_MAGIC)
		return bad(s, moff, -EUCLEAN, "%llu unexpected bytes after the deleted ids "
			   "(expected nothing or a %zu-byte FIDI trailer)",
			   (unsigned long long)tail, (size_t)FIDI_TRAILER_LEN);
	memcpy(&r->identity, p + pos + 4, sizeof(r->identity));
	err = file_identity_check(&r->identity);
	if (err)
		return bad(s, moff, err, "inconsistent file identity (depth %u)",
			   r->identity.lineage_depth);
	r->has_identity = true;
	return 0;
}

/* ---- 3. listed segments ---------------------------------------------------- */

static bool is_carried(uint8_t type)
{
	return type != RVF_SEG_VEC && type != RVF_SEG_MANIFEST && type != RVF_SEG_JOURNAL &&
	       type != RVF_SEG_WITNESS;
}

/* Check a VEC payload's shape from its first 6 bytes; returns its row count. */
static int vec_shape(struct reader *rd, const struct wseg *w, const uint8_t hdr[VEC_HDR_LEN],
		     uint64_t *count)
{
	const struct src *s = &rd->src;
	uint64_t plen = w->hdr.payload_length, row = 8 + 4 * (uint64_t)rd->r->dim;
	uint16_t dim;
	uint64_t n;

	if (plen < VEC_HDR_LEN)
		return bad(s, w->off, -EUCLEAN, "VEC payload of %llu bytes is too short",
			   (unsigned long long)plen);
	dim = rd16(hdr);
	n = rd32(hdr + 2);
	if (dim != rd->r->dim)
		return bad(s, w->off, -EUCLEAN, "VEC segment has dimension %u, manifest says %u",
			   dim, rd->r->dim);
	/* n < 2^32 and row < 2^18: no overflow */
	if (plen - VEC_HDR_LEN != n * row)
		return bad(s, w->off, -EUCLEAN, "VEC segment of %llu bytes cannot hold %llu rows "
			   "of dimension %u", (unsigned long long)plen, (unsigned long long)n, dim);
	*count = n;
	return 0;
}

static int count_rows(struct reader *rd)
{
	uint8_t hdr[VEC_HDR_LEN] = { 0 };
	uint64_t n, total = 0;
	size_t i;
	int err;

	for (i = 0; i < rd->nsegs; i++) {
		const struct wseg *w = &rd->segs[i];

		if (!w->listed || w->hdr.seg_type != RVF_SEG_VEC)
			continue;
		err = 0;
		if (w->hdr.payload_length >= VEC_HDR_LEN)
			err = src_read(&rd->src, w->off + RVF_SEG_HEADER_SIZE, hdr, sizeof(hdr));
		if (!err)
			err = vec_shape(rd, w, hdr, &n);
		if (err == -EUCLEAN && !all_zero(w->hdr.content_hash, 16)) {
			/* A damaged payload is reported as what it is: a hash
			 * mismatch, not a shape error. */
			uint8_t *p = NULL;
			int herr = load_seg(rd, w, false, &p);

			free(p);
			if (herr)
				return herr;
		}
		if (err)
			return err;
		total += n;     /* sum of payload sizes bounds this by the file size */
	}
	rd->n_rows = total;
	return 0;
}

static int take_vec(struct reader *rd, const struct wseg *w, uint64_t *next)
{
	const size_t dim = rd->r->dim, row = 8 + 4 * dim;
	uint8_t *p = NULL;
	uint64_t n, k;
	int err;

	err = load_seg(rd, w, false, &p);
	if (!err)
		err = vec_shape(rd, w, p, &n);
	if (err)
		goto out;
	if (n > rd->n_rows - *next) {
		err = bad(&rd->src, w->off, -EIO, "VEC segment changed while being read");
		goto out;
	}
	for (k = 0; k < n; k++) {
		const uint8_t *rp = p + VEC_HDR_LEN + k * row;
		uint64_t at = *next + k;

		rd->rows[at].id = rd64(rp);
		rd->rows[at].idx = at;
		memcpy(rd->arena + at * dim, rp + 8, 4 * dim);
	}
	*next += n;
out:
	free(p);
	return err;
}

static int take_carried(struct reader *rd, const struct wseg *w)
{
	struct rust_rvf *r = rd->r;
	struct rust_rvf_seg *c;
	uint8_t *raw = NULL;
	int err;

	err = load_seg(rd, w, true, &raw);
	if (err)
		return err;
	c = &r->carried[r->n_carried++];
	c->type = w->hdr.seg_type;
	c->segment_id = w->hdr.segment_id;
	c->offset = w->off;
	c->hdr = w->hdr;
	c->raw = raw;
	c->raw_len = RVF_SEG_HEADER_SIZE + w->hdr.payload_length;
	c->payload = raw + RVF_SEG_HEADER_SIZE;
	c->payload_len = w->hdr.payload_length;
	return 0;
}

static int load_listed(struct reader *rd)
{
	const struct src *s = &rd->src;
	size_t i, n_carry = 0;
	uint64_t next = 0;
	int err;

	err = count_rows(rd);
	if (err)
		return err;
	for (i = 0; i < rd->nsegs; i++)
		if (rd->segs[i].listed && is_carried(rd->segs[i].hdr.seg_type))
			n_carry++;
	if (n_carry) {
		rd->r->carried = calloc(n_carry, sizeof(*rd->r->carried));
		if (!rd->r->carried)
			return bad(s, 0, -ENOMEM, "out of memory");
	}
	if (rd->n_rows) {
		/* rows * (8 + 4 * dim) <= file size, so these products fit */
		rd->rows = malloc((size_t)rd->n_rows * sizeof(*rd->rows));
		rd->arena = malloc((size_t)rd->n_rows * rd->r->dim * sizeof(float));
		if (!rd->rows || !rd->arena)
			return bad(s, 0, -ENOMEM, "out of memory for %llu vectors",
				   (unsigned long long)rd->n_rows);
	}
	for (i = 0; i < rd->nsegs; i++) {
		const struct wseg *w = &rd->segs[i];
		uint8_t *p = NULL;

		if (!w->listed)
			continue;
		if (w->hdr.seg_type == RVF_SEG_VEC) {
			err = take_vec(rd, w, &next);
		} else if (is_carried(w->hdr.seg_type)) {
			err = take_carried(rd, w);
		} else {
			/* JOURNAL, WITNESS, earlier MANIFESTs: integrity only. The
			 * runtime takes deletions from the manifest, not journals. */
			err = load_seg(rd, w, false, &p);
			free(p);
		}
		if (err)
			return err;
	}
	if (next != rd->n_rows)
		return bad(s, 0, -EIO, "VEC rows changed while being read");
	return 0;
}

/*
 * Segments after the live manifest were appended by a commit that never
 * wrote its manifest (a crash between the two). The runtime ignores them and
 * so do we, but only if they look like such a commit: complete, hash-valid,
 * of a type the runtime writes before a manifest, and VEC rows of the
 * manifest's shape. Anything else means damage (e.g. a manifest whose type
 * byte was hit), and guessing an older state would lose data silently.
 */
static int check_uncommitted(struct reader *rd)
{
	const struct wseg *w, *end = rd->segs + rd->nsegs;
	int err = 0;

	for (w = rd->man + 1; !err && w < end; w++) {
		uint8_t *p = NULL;
		uint64_t n;

		switch (w->hdr.seg_type) {
		case RVF_SEG_VEC: case RVF_SEG_JOURNAL: case RVF_SEG_WITNESS:
		case RVF_SEG_KERNEL: case RVF_SEG_EBPF: case RVF_SEG_WASM:
		case RVF_SEG_DASHBOARD:
			break;
		default:
			return bad(&rd->src, w->off, -EUCLEAN, "segment of type 0x%02x after the "
				   "last manifest is not part of an uncommitted write",
				   w->hdr.seg_type);
		}
		err = load_seg(rd, w, false, &p);
		if (!err && w->hdr.seg_type == RVF_SEG_VEC)
			err = vec_shape(rd, w, p, &n);
		free(p);
	}
	if (!err && rd->man + 1 < end)
		log_warn("rust rvf import: %s: ignoring %zu uncommitted segments after the last "
			 "manifest (offset %llu)", rd->src.name, (size_t)(end - rd->man - 1),
			 (unsigned long long)rd->man->off);
	return err;
}

/* ---- 5. resolve ------------------------------------------------------------ */

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool is_deleted(const struct rust_rvf *r, uint64_t id)
{
	return r->n_deleted &&
	       bsearch(&id, r->deleted, r->n_deleted, sizeof(uint64_t), cmp_u64) != NULL;
}

static int resolve(struct reader *rd)
{
	struct rust_rvf *r = rd->r;
	const size_t dim = r->dim;
	uint64_t i, live = 0;

	if (!rd->n_rows)
		return 0;
	qsort(rd->rows, (size_t)rd->n_rows, sizeof(*rd->rows), cmp_row);
	/* Keep the last row of each id (the latest write); drop deleted ids.
	 * Compact the winners to the front of rows[]. */
	for (i = 0; i < rd->n_rows; i++) {
		if (i + 1 < rd->n_rows && rd->rows[i + 1].id == rd->rows[i].id)
			continue;
		if (is_deleted(r, rd->rows[i].id))
			continue;
		rd->rows[live++] = rd->rows[i];
	}
	if (!live)
		return 0;
	r->ids = malloc((size_t)live * sizeof(uint64_t));
	r->vectors = malloc((size_t)live * dim * sizeof(float));
	if (!r->ids || !r->vectors)
		return bad(&rd->src, 0, -ENOMEM, "out of memory for %llu vectors",
			   (unsigned long long)live);
	for (i = 0; i < live; i++) {
		r->ids[i] = rd->rows[i].id;
		memcpy(r->vectors + i * dim, rd->arena + rd->rows[i].idx * dim,
		       dim * sizeof(float));
	}
	r->n_live = (size_t)live;
	return 0;
}

/* ---- entry points ------------------------------------------------------------ */

void rust_rvf_free(struct rust_rvf *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n_carried; i++)
		free(r->carried[i].raw);
	free(r->carried);
	free(r->ids);
	free(r->vectors);
	free(r->deleted);
	free(r);
}

static int read_src(const struct src *s, struct rust_rvf **out)
{
	struct reader rd;
	uint8_t *man = NULL;
	size_t i;
	int err;

	memset(&rd, 0, sizeof(rd));
	rd.src = *s;
	rd.r = calloc(1, sizeof(*rd.r));
	if (!rd.r)
		return bad(s, 0, -ENOMEM, "out of memory");
	rd.r->file_size = s->size;

	err = walk(&rd);
	if (err)
		goto out;
	rd.r->n_segments = rd.nsegs;
	for (i = rd.nsegs; i-- > 0; )
		if (rd.segs[i].hdr.seg_type == RVF_SEG_MANIFEST) {
			rd.man = &rd.segs[i];
			break;
		}
	if (!rd.man) {
		err = bad(s, 0, -EUCLEAN, "no MANIFEST segment in %zu segments", rd.nsegs);
		goto out;
	}
	rd.r->manifest_offset = rd.man->off;

	err = load_seg(&rd, rd.man, false, &man);
	if (!err)
		err = parse_manifest(&rd, man, rd.man->hdr.payload_length);
	if (!err)
		err = load_listed(&rd);
	if (!err)
		err = check_uncommitted(&rd);
	if (!err)
		err = resolve(&rd);
	if (err)
		goto out;
	if (rd.r->manifest_total != rd.r->n_live)
		log_warn("rust rvf import: %s: manifest says %llu vectors, %zu are live",
			 s->name, (unsigned long long)rd.r->manifest_total, rd.r->n_live);
	*out = rd.r;
	rd.r = NULL;
out:
	free(man);
	free(rd.rows);
	free(rd.arena);
	free(rd.segs);
	rust_rvf_free(rd.r);
	return err;
}

int rust_rvf_parse(const void *buf, size_t len, const char *name, struct rust_rvf **out)
{
	struct src s = { .name = name ? name : "(buffer)", .buf = buf, .fd = -1, .size = len };

	if ((!buf && len) || !out)
		return -EINVAL;
	if (!buf)
		s.buf = (const uint8_t *)"";
	return read_src(&s, out);
}

int rust_rvf_read(const char *path, struct rust_rvf **out)
{
	struct src s = { .name = path, .buf = NULL, .fd = -1 };
	struct stat st;
	int err;

	if (!path || !out)
		return -EINVAL;
	s.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s.fd < 0)
		return log_fail(-errno, "rust rvf import: %s: %s", path, strerror(errno));
	if (fstat(s.fd, &st)) {
		err = log_fail(-errno, "rust rvf import: %s: %s", path, strerror(errno));
	} else if (S_ISDIR(st.st_mode)) {
		err = log_fail(-EISDIR, "rust rvf import: %s: is a directory", path);
	} else if (!S_ISREG(st.st_mode)) {
		err = log_fail(-EINVAL, "rust rvf import: %s: not a regular file", path);
	} else {
		s.size = (uint64_t)st.st_size;
		err = read_src(&s, out);
	}
	close(s.fd);
	return err;
}

int rust_rvf_live_digest(const struct rust_rvf *r, uint8_t out[32])
{
	struct sha256_ctx c = { 0 };
	size_t i;
	int err;

	err = sha256_init(&c);
	for (i = 0; !err && i < r->n_live; i++) {
		err = sha256_update(&c, &r->ids[i], sizeof(uint64_t));
		if (!err)
			err = sha256_update(&c, r->vectors + i * r->dim, r->dim * sizeof(float));
	}
	if (!err)
		err = sha256_final(&c, out);
	sha256_release(&c);
	return err;
}
