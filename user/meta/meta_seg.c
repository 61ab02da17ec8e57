/*
 * meta/meta_seg.c - the META segment payload codec (layout in meta_store.h).
 *
 * Decoding never trusts a length: every read is checked against the end of
 * the buffer, and the whole payload is validated before anything is applied,
 * so a corrupt segment changes nothing. The body hash catches bit flips that
 * still parse.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <xxhash.h>

#include "common/log.h"
#include "meta/filter_priv.h"
#include "meta/meta_store.h"

#define OP_SET   1u
#define OP_CLEAR 2u

static size_t rec_size(const struct rvf_meta_entry *e, size_t n)
{
	size_t s = 9;

	if (!n)
		return s;
	s += 2;
	for (size_t i = 0; i < n; i++) {
		s += 3;
		if (meta_type_buf(e[i].value.type))
			s += 4 + e[i].value.v.buf.len;
		else
			s += 8;
	}
	return s;
}

/* Write one record; e sorted by idx (NULL: e is already sorted). */
static uint8_t *put_rec(uint8_t *p, uint64_t id, const struct rvf_meta_entry *e,
			const uint16_t *idx, size_t n)
{
	wr64(p, id);
	p += 8;
	*p++ = n ? OP_SET : OP_CLEAR;
	if (!n)
		return p;
	wr16(p, (uint16_t)n);
	p += 2;
	for (size_t i = 0; i < n; i++) {
		const struct rvf_meta_entry *x = &e[idx ? idx[i] : i];
		wr16(p, x->field_id);
		p[2] = (uint8_t)x->value.type;
		p += 3;
		switch (x->value.type) {
		case RVF_META_U64: wr64(p, x->value.v.u64); p += 8; break;
		case RVF_META_I64: wr64(p, (uint64_t)x->value.v.i64); p += 8; break;
		case RVF_META_F64: memcpy(p, &x->value.v.f64, 8); p += 8; break;
		default:
			wr32(p, (uint32_t)x->value.v.buf.len);
			p += 4;
			if (x->value.v.buf.len)
				memcpy(p, x->value.v.buf.ptr, x->value.v.buf.len);
			p += x->value.v.buf.len;
			break;
		}
	}
	return p;
}

static void put_header(uint8_t *buf, uint64_t nrec, size_t len)
{
	memcpy(buf, META_SEG_MAGIC, 4);
	wr16(buf + 4, META_SEG_VERSION);
	wr16(buf + 6, 0);
	wr64(buf + 8, nrec);
	wr64(buf + 16, len - META_SEG_HDR);
	wr64(buf + 24, XXH3_64bits(buf + META_SEG_HDR, len - META_SEG_HDR));
}

int meta_seg_encode(const struct meta_rec *recs, size_t n, void **buf, size_t *len)
{
	uint16_t idx[RVF_META_MAX_FIELDS];
	size_t total = META_SEG_HDR;
	uint8_t *b, *p;

	if (n && !recs)
		return log_fail(-EINVAL, "meta segment: NULL records with count %zu", n);
	for (size_t i = 0; i < n; i++) {
		if (meta_entries_sort(recs[i].entries, recs[i].n, idx, "meta segment"))
			return -EINVAL;
		total += rec_size(recs[i].entries, recs[i].n);
	}
	b = malloc(total);
	if (!b)
		return log_fail(-ENOMEM, "meta segment: out of memory for %zu bytes", total);
	p = b + META_SEG_HDR;
	for (size_t i = 0; i < n; i++) {
		(void)meta_entries_sort(recs[i].entries, recs[i].n, idx, "meta segment");
		p = put_rec(p, recs[i].id, recs[i].entries, idx, recs[i].n);
	}
	put_header(b, n, total);
	*buf = b;
	*len = total;
	return 0;
}

struct enc_ctx {
	bool (*keep)(void *ctx, uint64_t id);
	void *kctx;
	size_t size;
	uint64_t nrec;
	uint8_t *p;
};

static int enc_size(void *ctx, uint64_t id, const struct rvf_meta_entry *e, size_t n)
{
	struct enc_ctx *c = ctx;

	if (c->keep && !c->keep(c->kctx, id))
		return 0;
	c->size += rec_size(e, n);
	c->nrec++;
	return 0;
}

static int enc_put(void *ctx, uint64_t id, const struct rvf_meta_entry *e, size_t n)
{
	struct enc_ctx *c = ctx;

	if (c->keep && !c->keep(c->kctx, id))
		return 0;
	c->p = put_rec(c->p, id, e, NULL, n);
	return 0;
}

int meta_seg_encode_store(const struct meta_store *ms, bool (*keep)(void *ctx, uint64_t id),
			  void *ctx, void **buf, size_t *len)
{
	struct enc_ctx c = { .keep = keep, .kctx = ctx, .size = META_SEG_HDR };
	uint8_t *b;
	int err;

	err = meta_store_foreach(ms, enc_size, &c);
	if (err)
		return err;
	b = malloc(c.size);
	if (!b)
		return log_fail(-ENOMEM, "meta segment: out of memory for %zu bytes", c.size);
	c.p = b + META_SEG_HDR;
	err = meta_store_foreach(ms, enc_put, &c);
	if (err) {
		free(b);
		return err;
	}
	put_header(b, c.nrec, c.size);
	*buf = b;
	*len = c.size;
	return 0;
}

/* Validate the body; returns 0 or -EUCLEAN (logged). */
static int check_body(const uint8_t *b, size_t len, uint64_t nrec)
{
	size_t off = 0, at;
	uint64_t r;

#define NEED(k, what) do { \
		if (len - off < (size_t)(k)) \
			return log_fail(-EUCLEAN, "meta segment: truncated %s at offset %zu of record %llu", \
					what, META_SEG_HDR + off, (unsigned long long)r); \
	} while (0)

	for (r = 0; r < nrec; r++) {
		unsigned op, n, prev = 0;
		at = off;
		NEED(9, "record header");
		op = b[off + 8];
		off += 9;
		if (op == OP_CLEAR)
			continue;
		if (op != OP_SET)
			return log_fail(-EUCLEAN, "meta segment: unknown record op %u at offset %zu",
					op, META_SEG_HDR + at);
		NEED(2, "field count");
		n = rd16(b + off);
		off += 2;
		if (n == 0 || n > RVF_META_MAX_FIELDS)
			return log_fail(-EUCLEAN, "meta segment: bad field count %u at offset %zu",
					n, META_SEG_HDR + at);
		for (unsigned i = 0; i < n; i++) {
			unsigned field, type;
			NEED(3, "entry");
			field = rd16(b + off);
			type = b[off + 2];
			if (i && field <= prev)
				return log_fail(-EUCLEAN, "meta segment: field ids out of order at offset %zu",
						META_SEG_HDR + off);
			if (!meta_type_valid(type))
				return log_fail(-EUCLEAN, "meta segment: bad value type %u at offset %zu",
						type, META_SEG_HDR + off);
			prev = field;
			off += 3;
			if (meta_type_buf((enum rvf_meta_type)type)) {
				uint32_t l;
				NEED(4, "value length");
				l = rd32(b + off);
				off += 4;
				if (l > RVF_META_MAX_BUF_LEN)
					return log_fail(-EUCLEAN, "meta segment: value length %u at offset %zu over the limit",
							l, META_SEG_HDR + off - 4);
				NEED(l, "value");
				off += l;
			} else {
				NEED(8, "value");
				off += 8;
			}
		}
	}
#undef NEED
	if (off != len)
		return log_fail(-EUCLEAN, "meta segment: %zu trailing bytes after %llu records",
				len - off, (unsigned long long)nrec);
	return 0;
}

int meta_seg_decode(const void *buf, size_t len, struct meta_store *ms)
{
	const uint8_t *b = buf;
	struct rvf_meta_entry *e = NULL;
	uint64_t nrec, blen;
	size_t off = META_SEG_HDR;
	int err;

	if (!b || len < META_SEG_HDR)
		return log_fail(-EUCLEAN, "meta segment: %zu bytes is shorter than its %u-byte header",
				len, META_SEG_HDR);
	if (memcmp(b, META_SEG_MAGIC, 4))
		return log_fail(-EUCLEAN, "meta segment: bad magic");
	if (rd16(b + 4) == 0)
		return log_fail(-EUCLEAN, "meta segment: version 0");
	if (rd16(b + 4) > META_SEG_VERSION || rd16(b + 6))
		return log_fail(-ENOTSUP, "meta segment: version %u flags 0x%x need a newer rvf",
				rd16(b + 4), rd16(b + 6));
	nrec = rd64(b + 8);
	blen = rd64(b + 16);
	if (blen != len - META_SEG_HDR)
		return log_fail(-EUCLEAN, "meta segment: body length %llu but %zu bytes present",
				(unsigned long long)blen, len - META_SEG_HDR);
	if (XXH3_64bits(b + META_SEG_HDR, blen) != rd64(b + 24))
		return log_fail(-EBADMSG, "meta segment: body hash mismatch");
	err = check_body(b + META_SEG_HDR, blen, nrec);
	if (err || !ms)
		return err ? err : (nrec > INT_MAX ? INT_MAX : (int)nrec);

	e = malloc(RVF_META_MAX_FIELDS * sizeof(*e));
	if (!e)
		return log_fail(-ENOMEM, "meta segment: out of memory");
	for (uint64_t r = 0; r < nrec; r++) {
		uint64_t id = rd64(b + off);
		unsigned n;
		if (b[off + 8] == OP_CLEAR) {
			off += 9;
			meta_store_remove(ms, id);
			continue;
		}
		n = rd16(b + off + 9);
		off += 11;
		for (unsigned i = 0; i < n; i++) {
			e[i].field_id = rd16(b + off);
			e[i].value.type = (enum rvf_meta_type)b[off + 2];
			off += 3;
			if (meta_type_buf(e[i].value.type)) {
				e[i].value.v.buf.len = rd32(b + off);
				e[i].value.v.buf.ptr = b + off + 4;
				off += 4 + e[i].value.v.buf.len;
			} else {
				e[i].value.v.u64 = rd64(b + off);
				off += 8;
			}
		}
		err = meta_store_set(ms, id, e, n);
		if (err)
			break;
	}
	free(e);
	if (err)
		return err;
	return nrec > INT_MAX ? INT_MAX : (int)nrec;
}
