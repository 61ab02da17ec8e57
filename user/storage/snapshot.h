/*
 * storage/snapshot.h - in-memory form of a committed metadata snapshot, and
 * the codecs for it and for root slots (layouts in include/rvf/format.h).
 */
#ifndef RVF_STORAGE_SNAPSHOT_H
#define RVF_STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include "rvf/format.h"
#include "storage/alloc.h"

struct snap {
	uint64_t seq;
	uint64_t total_blocks;
	uint64_t commit_ns;
	struct rvf_meta_seg *segs;      /* sorted by segment_id */
	size_t nsegs;
	struct rvf_meta_vindex *vidx;   /* sorted by field_id */
	size_t nvidx;
	struct extent *free;            /* sorted, coalesced */
	size_t nfree;
	uint8_t *user;
	size_t user_len;
	/* where it lives (from the root slot) */
	struct extent meta_ext;
	uint64_t meta_len;
	uint64_t meta_hash;
	int slot;
};

void snap_release(struct snap *s);

/* Blocks an extent of header + payload needs; 0 on overflow. */
uint64_t seg_nblocks(uint64_t payload_len, uint32_t block_size);

size_t snap_encoded_size(size_t nsegs, size_t nvidx, size_t nfree, size_t user_len);
/* Encode into buf (snap_encoded_size bytes). */
void snap_encode(const struct snap *s, uint8_t *buf);

/* Decode and validate (counts, ordering, extents inside total, no overlap
 * among used and free extents including the snapshot's own). why gets a
 * reason on failure. Returns 0 or -EUCLEAN. */
int snap_decode(const uint8_t *buf, size_t len, uint64_t expect_seq, uint32_t block_size,
		struct extent meta_ext, struct snap *out, char *why, size_t whylen);

/* Seal a root slot: set magic and compute slot_hash. */
void root_seal(struct rvf_root_slot *r);

/* Check a root slot read from slot `index`: 0 valid; -ENOEXEC no magic (never
 * written, or not an rvf file); -EBADMSG slot hash mismatch; -ENOTSUP newer
 * format or unknown incompat feature; -EUCLEAN bad fields. */
int root_check(const struct rvf_root_slot *r, int index, const char **why);

/* Fill expected 64-byte RVF segment header for a directory entry. */
void seg_hdr_from_entry(struct rvf_seg_hdr *h, const struct rvf_meta_seg *e);

#endif
