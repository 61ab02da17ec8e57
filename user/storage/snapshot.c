/*
 * storage/snapshot.c - encode/decode of metadata snapshots and root slots.
 *
 * Decoding treats the bytes as hostile even though they passed a checksum:
 * every count is bounded by the buffer, every extent by total_blocks, and all
 * used and free extents must be disjoint, so a crafted file can never make
 * the allocator hand out a block that is still in use.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "storage/snapshot.h"

void snap_release(struct snap *s)
{
	if (!s)
		return;
	free(s->segs);
	free(s->vidx);
	free(s->free);
	free(s->user);
	memset(s, 0, sizeof(*s));
}

uint64_t seg_nblocks(uint64_t payload_len, uint32_t block_size)
{
	uint64_t total = payload_len + RVF_SEG_HEADER_SIZE;

	if (total < payload_len || total > UINT64_MAX - block_size)
		return 0;
	return (total + block_size - 1) / block_size;
}

size_t snap_encoded_size(size_t nsegs, size_t nvidx, size_t nfree, size_t user_len)
{
	return sizeof(struct rvf_meta_hdr) + nsegs * sizeof(struct rvf_meta_seg) +
	       nvidx * sizeof(struct rvf_meta_vindex) + nfree * sizeof(struct rvf_meta_extent) +
	       user_len;
}

void snap_encode(const struct snap *s, uint8_t *buf)
{
	struct rvf_meta_hdr h;
	uint8_t *p = buf;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, RVF_META_MAGIC, 8);
	h.commit_seq = s->seq;
	h.total_blocks = s->total_blocks;
	h.n_segments = (uint32_t)s->nsegs;
	h.n_vindex = (uint32_t)s->nvidx;
	h.n_free = (uint32_t)s->nfree;
	h.user_meta_len = s->user_len;
	h.commit_ns = s->commit_ns;
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	if (s->nsegs)
		memcpy(p, s->segs, s->nsegs * sizeof(*s->segs));
	p += s->nsegs * sizeof(*s->segs);
	if (s->nvidx)
		memcpy(p, s->vidx, s->nvidx * sizeof(*s->vidx));
	p += s->nvidx * sizeof(*s->vidx);
	for (size_t i = 0; i < s->nfree; i++) {
		struct rvf_meta_extent e = { s->free[i].start, s->free[i].count };
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	if (s->user_len)
		memcpy(p, s->user, s->user_len);
}

struct span {
	uint64_t start, end;
	int kind;  /* 0 segment, 1 vindex, 2 free, 3 snapshot */
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Say why a snapshot is refused (into why, whylen bytes). */
__attribute__((format(printf, 3, 4)))
static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int snap_decode(const uint8_t *buf, size_t len, uint64_t expect_seq, uint32_t bs,
		struct extent meta_ext, struct snap *out, char *why, size_t whylen)
{
	struct rvf_meta_hdr h;
	struct snap s;
	struct span *spans = NULL;
	size_t nspans = 0;
	const uint8_t *p;

	memset(&s, 0, sizeof(s));
	if (len < sizeof(h)) {
		why_set(why, whylen, "snapshot of %zu bytes is shorter than its header", len);
		goto release;
	}
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, RVF_META_MAGIC, 8)) {
		why_set(why, whylen, "snapshot magic mismatch");
		goto release;
	}
	if (h.commit_seq != expect_seq) {
		why_set(why, whylen, "snapshot sequence %llu does not match root sequence %llu",
				     (unsigned long long)h.commit_seq, (unsigned long long)expect_seq);
		goto release;
	}
	if (h.reserved0 || h.reserved1) {
		why_set(why, whylen, "snapshot reserved fields are not zero");
		goto release;
	}
	if (h.user_meta_len > len || snap_encoded_size(h.n_segments, h.n_vindex, h.n_free,
						       (size_t)h.user_meta_len) != len) {
		why_set(why, whylen, "snapshot counts (%u segments, %u indexes, %u free, %llu user bytes) "
				     "do not add up to its length %zu", h.n_segments, h.n_vindex, h.n_free,
				     (unsigned long long)h.user_meta_len, len);
		goto release;
	}
	if (h.total_blocks > (UINT64_MAX - RVF_DATA_START) / bs) {
		why_set(why, whylen, "total_blocks %llu out of range", (unsigned long long)h.total_blocks);
		goto release;
	}

	s.seq = h.commit_seq;
	s.total_blocks = h.total_blocks;
	s.commit_ns = h.commit_ns;
	s.nsegs = h.n_segments;
	s.nvidx = h.n_vindex;
	s.nfree = h.n_free;
	s.user_len = (size_t)h.user_meta_len;
	s.segs = malloc((s.nsegs ? s.nsegs : 1) * sizeof(*s.segs));
	s.vidx = malloc((s.nvidx ? s.nvidx : 1) * sizeof(*s.vidx));
	s.free = malloc((s.nfree ? s.nfree : 1) * sizeof(*s.free));
	s.user = s.user_len ? malloc(s.user_len) : NULL;
	spans = malloc((s.nsegs + s.nvidx + s.nfree + 1) * sizeof(*spans));
	if (!s.segs || !s.vidx || !s.free || (s.user_len && !s.user) || !spans) {
		snap_release(&s);
		free(spans);
		return -ENOMEM;
	}
	p = buf + sizeof(h);
	memcpy(s.segs, p, s.nsegs * sizeof(*s.segs));
	p += s.nsegs * sizeof(*s.segs);
	memcpy(s.vidx, p, s.nvidx * sizeof(*s.vidx));
	p += s.nvidx * sizeof(*s.vidx);
	for (size_t i = 0; i < s.nfree; i++) {
		struct rvf_meta_extent e;
		memcpy(&e, p, sizeof(e));
		p += sizeof(e);
		s.free[i].start = e.start;
		s.free[i].count = e.count;
	}
	if (s.user_len)
		memcpy(s.user, p, s.user_len);

	for (size_t i = 0; i < s.nsegs; i++) {
		const struct rvf_meta_seg *e = &s.segs[i];
		uint64_t nb = seg_nblocks(e->payload_len, bs);
		if (i && e->segment_id <= s.segs[i - 1].segment_id) {
			why_set(why, whylen, "segment directory not sorted at entry %zu", i);
			goto release;
		}
		if (!nb || e->start_block > s.total_blocks || nb > s.total_blocks - e->start_block) {
			why_set(why, whylen, "segment %llu extent outside the data region",
					     (unsigned long long)e->segment_id);
			goto release;
		}
		if (e->reserved || e->generation > s.seq) {
			why_set(why, whylen, "segment %llu entry is malformed", (unsigned long long)e->segment_id);
			goto release;
		}
		spans[nspans++] = (struct span){ e->start_block, e->start_block + nb, 0 };
	}
	for (size_t i = 0; i < s.nvidx; i++) {
		const struct rvf_meta_vindex *e = &s.vidx[i];
		uint64_t nb = seg_nblocks(e->payload_len, bs);
		if (i && e->field_id <= s.vidx[i - 1].field_id) {
			why_set(why, whylen, "vector-index directory not sorted at entry %zu", i);
			goto release;
		}
		if (!nb || e->start_block > s.total_blocks || nb > s.total_blocks - e->start_block) {
			why_set(why, whylen, "vector index %u extent outside the data region", e->field_id);
			goto release;
		}
		if (e->reserved0 || e->reserved1 || e->generation > s.seq) {
			why_set(why, whylen, "vector index %u entry is malformed", e->field_id);
			goto release;
		}
		spans[nspans++] = (struct span){ e->start_block, e->start_block + nb, 1 };
	}
	for (size_t i = 0; i < s.nfree; i++) {
		const struct extent *e = &s.free[i];
		if (!e->count || e->start > s.total_blocks || e->count > s.total_blocks - e->start) {
			why_set(why, whylen, "free extent %zu outside the data region", i);
			goto release;
		}
		if (i && e->start <= s.free[i - 1].start + s.free[i - 1].count - 1) {
			why_set(why, whylen, "free list not sorted or overlapping at %zu", i);
			goto release;
		}
		spans[nspans++] = (struct span){ e->start, e->start + e->count, 2 };
	}
	if (!meta_ext.count || meta_ext.start > s.total_blocks ||
	    meta_ext.count > s.total_blocks - meta_ext.start) {
		why_set(why, whylen, "snapshot extent outside the data region");
		goto release;
	}
	spans[nspans++] = (struct span){ meta_ext.start, meta_ext.start + meta_ext.count, 3 };
	qsort(spans, nspans, sizeof(*spans), span_cmp);
	for (size_t i = 1; i < nspans; i++)
		if (spans[i].start < spans[i - 1].end) {
			why_set(why, whylen, "extents overlap at block %llu", (unsigned long long)spans[i].start);
			goto release;
		}
	free(spans);
	s.meta_ext = meta_ext;
	s.meta_len = len;
	*out = s;
	return 0;
release:
	free(spans);
	snap_release(&s);
	return -EUCLEAN;
}

static uint64_t slot_hash(const struct rvf_root_slot *r)
{
	return XXH3_64bits(r, offsetof(struct rvf_root_slot, slot_hash));
}

void root_seal(struct rvf_root_slot *r)
{
	memcpy(r->magic, RVF_ROOT_MAGIC, 8);
	r->slot_hash = slot_hash(r);
}

int root_check(const struct rvf_root_slot *r, int index, const char **why)
{
	static const uint8_t zero[16];

	if (memcmp(r->magic, RVF_ROOT_MAGIC, 8)) {
		*why = "no root magic";
		return -ENOEXEC;
	}
#ifndef RVF_MUTANT_NO_ROOT_CHECKSUM   /* mutant (make mutants): skip it */
	if (r->slot_hash != slot_hash(r)) {
		*why = "root slot checksum mismatch (torn or damaged)";
		return -EBADMSG;
	}
#endif
	if (r->format_version > RVF_FORMAT_VERSION) {
		*why = "written by a newer rvf format version";
		return -ENOTSUP;
	}
	if (r->incompat & ~RVF_INCOMPAT_KNOWN) {
		*why = "uses an incompatible feature this rvf does not know";
		return -ENOTSUP;
	}
	if (r->format_version == 0 || (int)r->slot_index != index || r->commit_seq == 0 ||
	    r->block_size < RVF_MIN_BLOCK_SIZE || r->block_size > RVF_MAX_BLOCK_SIZE ||
	    (r->block_size & (r->block_size - 1)) || r->meta_nblocks == 0 ||
	    memcmp(r->reserved, zero, sizeof(r->reserved))) {
		*why = "root slot fields out of range";
		return -EUCLEAN;
	}
	return 0;
}

void seg_hdr_from_entry(struct rvf_seg_hdr *h, const struct rvf_meta_seg *e)
{
	memset(h, 0, sizeof(*h));
	h->magic = RVF_SEG_MAGIC;
	h->version = RVF_SEG_VERSION;
	h->seg_type = e->seg_type;
	h->flags = e->flags;
	h->segment_id = e->segment_id;
	h->payload_length = e->payload_len;
	h->timestamp_ns = e->timestamp_ns;
	h->checksum_algo = e->checksum_algo;
	memcpy(h->content_hash, e->content_hash, 16);
}
