/*
 * fuzz_reseal.h - make a mutated store file's checksums true again, so a
 * fuzzer's mutations reach the code behind them (snapshot parsing, segment
 * tables, payload codecs) instead of stopping at the first hash compare.
 *
 * For each root slot with the right magic and a sane block size: every
 * segment and vector-index entry of the snapshot it names whose extent lies
 * inside the buffer gets its XXH3-128 content hash recomputed (in the
 * segment header and in the snapshot entry), then the snapshot's meta_hash,
 * then the slot's own slot_hash. Lengths, ids and offsets stay as mutated:
 * only hashes are rewritten. Layouts: include/rvf/format.h.
 */
#ifndef RVF_FUZZ_RESEAL_H
#define RVF_FUZZ_RESEAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "rvf/format.h"

/* p[off .. off + n) lies inside a buffer of len bytes (no overflow). */
static inline int reseal_inside(size_t len, uint64_t off, uint64_t n)
{
	return off <= len && n <= len - off;
}

/* Recompute the content hash of the segment whose header starts at hoff
 * and whose payload is plen bytes; copy it to entry_hash too. */
static inline void reseal_segment(uint8_t *p, size_t len, uint64_t hoff, uint64_t plen,
				  uint8_t *entry_hash)
{
	XXH128_canonical_t c;

	if (!reseal_inside(len, hoff, RVF_SEG_HEADER_SIZE) ||
	    !reseal_inside(len, hoff + RVF_SEG_HEADER_SIZE, plen))
		return;
	XXH128_canonicalFromHash(&c, XXH3_128bits(p + hoff + RVF_SEG_HEADER_SIZE, plen));
	memcpy(p + hoff + offsetof(struct rvf_seg_hdr, content_hash), c.digest, 16);
	memcpy(entry_hash, c.digest, 16);
}

static inline void reseal_snapshot(uint8_t *p, size_t len, uint8_t *snap, uint64_t slen, uint32_t bs)
{
	struct rvf_meta_hdr mh;
	uint64_t nseg, nvi, room = (slen - sizeof(mh)) / 64;

	memcpy(&mh, snap, sizeof(mh));
	nseg = mh.n_segments < room ? mh.n_segments : room;
	nvi = mh.n_vindex < room - nseg ? mh.n_vindex : room - nseg;
	for (uint64_t i = 0; i < nseg; i++) {
		struct rvf_meta_seg *e = (void *)(snap + sizeof(mh) + 64 * i);
		uint64_t blk, pl;

		memcpy(&blk, &e->start_block, 8);
		memcpy(&pl, &e->payload_len, 8);
		if (blk < (UINT64_MAX - RVF_DATA_START) / bs)
			reseal_segment(p, len, RVF_DATA_START + blk * bs, pl, e->content_hash);
	}
	for (uint64_t i = 0; i < nvi; i++) {
		struct rvf_meta_vindex *e = (void *)(snap + sizeof(mh) + 64 * (nseg + i));
		uint64_t blk, pl;

		memcpy(&blk, &e->start_block, 8);
		memcpy(&pl, &e->payload_len, 8);
		if (blk < (UINT64_MAX - RVF_DATA_START) / bs)
			reseal_segment(p, len, RVF_DATA_START + blk * bs, pl, e->content_hash);
	}
}

static inline void reseal_store(uint8_t *p, size_t len)
{
	for (uint64_t slot = 0; slot < 2; slot++) {
		uint64_t off = slot * RVF_ROOT_SLOT_STRIDE, moff, h;
		struct rvf_root_slot r;

		if (!reseal_inside(len, off, sizeof(r)))
			continue;
		memcpy(&r, p + off, sizeof(r));
		if (memcmp(r.magic, RVF_ROOT_MAGIC, 8) || r.block_size < RVF_MIN_BLOCK_SIZE ||
		    r.block_size > RVF_MAX_BLOCK_SIZE || (r.block_size & (r.block_size - 1)))
			continue;
		if (r.meta_block < (UINT64_MAX - RVF_DATA_START) / r.block_size) {
			moff = RVF_DATA_START + r.meta_block * r.block_size;
			if (r.meta_len >= sizeof(struct rvf_meta_hdr) && reseal_inside(len, moff, r.meta_len)) {
				reseal_snapshot(p, len, p + moff, r.meta_len, r.block_size);
				h = XXH3_64bits(p + moff, r.meta_len);
				memcpy(p + off + offsetof(struct rvf_root_slot, meta_hash), &h, 8);
			}
		}
		h = XXH3_64bits(p + off, offsetof(struct rvf_root_slot, slot_hash));
		memcpy(p + off + offsetof(struct rvf_root_slot, slot_hash), &h, 8);
	}
}

#endif
