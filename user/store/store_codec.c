/*
 * store/store_codec.c - the payload codecs of the segments the store owns
 * (layouts in store_internal.h and at the top of store.c): VEC (vec_hdr,
 * ids, 64-byte aligned rows), JOURNAL (tombstoned ids) and META (meta_seg
 * records). Parsers check every length and count against the payload before
 * handing out views into it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/log.h"
#include "store/store_internal.h"

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

bool store_owned_type(uint8_t t)
{
	return t == RVF_SEG_VEC || t == RVF_SEG_META || t == RVF_SEG_JOURNAL;
}

/* ---- segment payload codecs ------------------------------------------------------ */

void vec_hdr_make(struct vec_hdr *h, uint32_t dim, uint64_t count)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, VEC_MAGIC, 4);
	h->version = VEC_VERSION;
	h->dim = dim;
	h->stride = dim * 4;
	h->count = count;
	h->ids_off = VEC_HDR;
	h->rows_off = VEC_HDR + align64(count * 8);
}

int vec_hdr_check(const struct vec_hdr *h, uint64_t len, uint32_t dim, const char *path,
		  uint64_t seg_id)
{
	static const uint8_t zero[24];

	if (memcmp(h->magic, VEC_MAGIC, 4))
		return log_fail(-EUCLEAN, "%s: VEC segment %llu: bad magic", path, (unsigned long long)seg_id);
	if (h->version != VEC_VERSION || h->flags)
		return log_fail(-ENOTSUP, "%s: VEC segment %llu: version %u flags %#x not supported", path,
				(unsigned long long)seg_id, h->version, h->flags);
	if (h->dim != dim || h->stride != dim * 4 || h->ids_off != VEC_HDR ||
	    h->count > (len / 8) || h->rows_off != VEC_HDR + align64(h->count * 8) ||
	    memcmp(h->reserved, zero, sizeof(zero)) ||
	    h->count > (UINT64_MAX - h->rows_off) / h->stride ||
	    h->rows_off + h->count * h->stride != len)
		return log_fail(-EUCLEAN, "%s: VEC segment %llu: inconsistent header (dim %u, %llu rows, %llu bytes)",
				path, (unsigned long long)seg_id, h->dim, (unsigned long long)h->count,
				(unsigned long long)len);
	return 0;
}

int vec_parse(const void *buf, size_t len, uint32_t dim, const char *path, uint64_t seg_id,
	      const uint64_t **ids, const float **rows, size_t *count)
{
	struct vec_hdr h;
	int err;

	if (len < VEC_HDR)
		return log_fail(-EUCLEAN, "%s: VEC segment %llu: %zu bytes is too short", path,
				(unsigned long long)seg_id, len);
	memcpy(&h, buf, sizeof(h));
	err = vec_hdr_check(&h, len, dim, path, seg_id);
	if (err)
		return err;
	*ids = (const uint64_t *)(const void *)((const uint8_t *)buf + h.ids_off);
	*rows = (const float *)(const void *)((const uint8_t *)buf + h.rows_off);
	*count = (size_t)h.count;
	return 0;
}

int jrn_parse(const void *buf, size_t len, const char *path, uint64_t seg_id, const uint64_t **ids,
	      size_t *count)
{
	const uint8_t *p = buf;
	uint16_t ver, op;
	uint64_t n;

	if (len < JRN_HDR || memcmp(p, JRN_MAGIC, 4))
		return log_fail(-EUCLEAN, "%s: JOURNAL segment %llu: bad header", path,
				(unsigned long long)seg_id);
	memcpy(&ver, p + 4, 2);
	memcpy(&op, p + 6, 2);
	memcpy(&n, p + 8, 8);
	if (ver != JRN_VERSION || op != JRN_OP_DELETE)
		return log_fail(-ENOTSUP, "%s: JOURNAL segment %llu: version %u op %u not supported", path,
				(unsigned long long)seg_id, ver, op);
	if (n > (len - JRN_HDR) / 8 || JRN_HDR + n * 8 != len)
		return log_fail(-EUCLEAN, "%s: JOURNAL segment %llu: %llu ids do not fit %zu bytes", path,
				(unsigned long long)seg_id, (unsigned long long)n, len);
	*ids = (const uint64_t *)(const void *)(p + JRN_HDR);
	*count = (size_t)n;
	return 0;
}

/* Record walk over a META payload that meta_seg_decode has validated. */
int meta_walk(const void *buf, size_t len, void (*cb)(void *ctx, uint64_t id, bool set, uint32_t bytes),
	      void *ctx)
{
	const uint8_t *p = buf, *end = p + len;
	uint64_t nrec;

	if (len < META_SEG_HDR)
		return -EUCLEAN;
	memcpy(&nrec, p + 8, 8);
	p += META_SEG_HDR;
	for (uint64_t r = 0; r < nrec; r++) {
		const uint8_t *start = p;
		uint64_t id;
		uint16_t n;

		if (end - p < 9)
			return -EUCLEAN;
		memcpy(&id, p, 8);
		uint8_t op = p[8];
		p += 9;
		if (op == 1) {
			if (end - p < 2)
				return -EUCLEAN;
			memcpy(&n, p, 2);
			p += 2;
			for (uint16_t i = 0; i < n; i++) {
				if (end - p < 3)
					return -EUCLEAN;
				uint8_t type = p[2];
				p += 3;
				if (type == RVF_META_STRING || type == RVF_META_BYTES) {
					uint32_t l;
					if (end - p < 4)
						return -EUCLEAN;
					memcpy(&l, p, 4);
					p += 4;
					if ((uint64_t)(end - p) < l)
						return -EUCLEAN;
					p += l;
				} else {
					if (end - p < 8)
						return -EUCLEAN;
					p += 8;
				}
			}
		}
		cb(ctx, id, op == 1, (uint32_t)(p - start));
	}
	return p == end ? 0 : -EUCLEAN;
}

