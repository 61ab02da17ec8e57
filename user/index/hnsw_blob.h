/*
 * index/hnsw_blob.h - the byte cursors the HNSW blob writers and readers
 * share (hnsw_io.c: whole index; hnsw_delta.c: a delta against a base).
 * Little-endian host order throughout (format.h refuses other hosts).
 */
#ifndef RVF_INDEX_HNSW_BLOB_H
#define RVF_INDEX_HNSW_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "index/hnsw_internal.h"

/* Writer: the caller sized p for everything it will put. */
struct wbuf { uint8_t *p; size_t len; };

static inline void put(struct wbuf *w, const void *src, size_t n)
{
	if (!n)
		return;
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static inline void put_u32(struct wbuf *w, uint32_t v) { put(w, &v, 4); }
static inline void put_u64(struct wbuf *w, uint64_t v) { put(w, &v, 8); }

/* The fields both blobs open with, offsets 0..39: magic (8), version,
 * flags, dim, metric, M, ef_construction, quant, max level (int32). */
static inline void put_shape(struct wbuf *w, const char magic[8], uint32_t version, uint32_t flags,
			     const struct rvf_hnsw *h)
{
	int32_t ml = h->maxlevel;

	put(w, magic, 8);
	put_u32(w, version);
	put_u32(w, flags);
	put_u32(w, h->dim);
	put_u32(w, (uint32_t)h->metric);
	put_u32(w, h->M);
	put_u32(w, h->efc);
	put_u32(w, h->quant);
	put(w, &ml, 4);
}

/* Reader: take() copies n bytes or, past the end, returns -1 and moves not. */
struct rbuf { const uint8_t *p; size_t len, off; };

static inline int take(struct rbuf *r, void *dst, size_t n)
{
	if (n > r->len - r->off)
		return -1;
	if (!n)
		return 0;
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

#endif
