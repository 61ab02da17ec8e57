/*
 * rvf/format.h - the authoritative table of rvf's on-disk layout.
 *
 * All integers are little-endian. Offsets are in bytes. A change to any table
 * here is a format change: bump RVF_FORMAT_VERSION or add a feature bit.
 *
 * File
 * ----
 *   0x0000  root slot A (RVF_ROOT_SLOT_SIZE bytes used, rest of 4 KiB zero)
 *   0x1000  root slot B (a different 4 KiB page, so one torn sector or page
 *           cannot damage both)
 *   0x2000  block 0; block N starts at RVF_DATA_START + N * block_size
 *
 * A root slot names a metadata snapshot (an extent of blocks) by first block,
 * length and XXH3-64. Open picks the valid slot with the highest commit_seq;
 * a commit writes the slot *not* holding the newest root.
 *
 * Segment extent: a 64-byte RVF segment header followed by the payload, in
 * ceil((64 + payload_len) / block_size) consecutive blocks. The payload starts
 * 64 bytes into a block, so it is 64-byte aligned in the file.
 *
 * This file holds the storage layer's layouts (root slots, metadata
 * snapshot, segment header, type codes). The payloads inside segments are
 * laid out where their codec lives, each with its own offset table:
 *
 *   what                                  table in
 *   store header (the dir's user meta)    user/store/store_internal.h  struct store_hdr
 *   VEC payload (0x01)                    user/store/store_internal.h  struct vec_hdr
 *   JOURNAL payload (0x04, tombstones)    user/store/store_internal.h  JRN_*
 *   graph checkpoint (vector index 0)     user/store/store_internal.h  struct ckpt_hdr
 *   HNSW blob (inside the checkpoint)     user/index/hnsw_io.c         header comment
 *   COW branch checkpoint (CKPT_F_DELTA)  user/store/store_internal.h  struct cow_tie
 *   HNSW delta blob (inside that)         user/index/hnsw_delta.c      "Delta blob"
 *   META payload (0x07)                   user/meta/meta_store.h       "META segment payload"
 *   KERNEL / EBPF / identity / lineage /  include/rvf/payload.h        (RVF's own layouts)
 *   MEMBERSHIP / COW_MAP headers
 *   query and reply datagrams (network)   include/rvf/wire.h
 */
#ifndef RVF_FORMAT_H
#define RVF_FORMAT_H

#include <stdint.h>
#include <stddef.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rvf structs are laid out little-endian; add byte swaps before porting"
#endif

#define RVF_FORMAT_VERSION      1u
#define RVF_ROOT_SLOT_SIZE      128u
#define RVF_ROOT_SLOT_STRIDE    4096u
#define RVF_DATA_START          8192u
#define RVF_DEFAULT_BLOCK_SIZE  4096u
#define RVF_MIN_BLOCK_SIZE      4096u
#define RVF_MAX_BLOCK_SIZE      (1u << 20)

#define RVF_ROOT_MAGIC  "RVFSTORE"          /* 8 bytes at offset 0 of a slot */
#define RVF_META_MAGIC  "RVFMETA1"          /* 8 bytes at offset 0 of a snapshot */

/* Feature bits (ext4 style). Unknown incompat bit: refuse to open. Unknown
 * ro_compat bit: open read-only only. Unknown compat bit: ignore. */
#define RVF_INCOMPAT_KNOWN   0u
#define RVF_RO_COMPAT_KNOWN  0u

/* ---- root slot ---------------------------------------------------------- */
/*  off  size  field
 *  0x00  8    magic "RVFSTORE"
 *  0x08  4    format_version
 *  0x0C  4    block_size
 *  0x10  4    incompat features
 *  0x14  4    ro_compat features
 *  0x18  4    compat features
 *  0x1C  4    slot_index (0 = A, 1 = B); must match where it was read
 *  0x20  8    commit_seq (monotonic; 0 = never written)
 *  0x28  8    meta_block (first block of the snapshot extent)
 *  0x30  8    meta_nblocks
 *  0x38  8    meta_len (bytes of snapshot)
 *  0x40  8    meta_hash (XXH3-64 of the snapshot bytes)
 *  0x48  8    total_blocks (copy of the snapshot's; for tools)
 *  0x50 16    store_uuid (random at create; same in both slots)
 *  0x60  8    created_ns (CLOCK_REALTIME at create)
 *  0x68 16    reserved, zero
 *  0x78  8    slot_hash (XXH3-64 of bytes 0x00..0x77)
 */
struct rvf_root_slot {
	char     magic[8];
	uint32_t format_version;
	uint32_t block_size;
	uint32_t incompat;
	uint32_t ro_compat;
	uint32_t compat;
	uint32_t slot_index;
	uint64_t commit_seq;
	uint64_t meta_block;
	uint64_t meta_nblocks;
	uint64_t meta_len;
	uint64_t meta_hash;
	uint64_t total_blocks;
	uint8_t  store_uuid[16];
	uint64_t created_ns;
	uint8_t  reserved[16];
	uint64_t slot_hash;
};
_Static_assert(sizeof(struct rvf_root_slot) == RVF_ROOT_SLOT_SIZE, "root slot size");
_Static_assert(offsetof(struct rvf_root_slot, commit_seq) == 0x20, "commit_seq");
_Static_assert(offsetof(struct rvf_root_slot, store_uuid) == 0x50, "store_uuid");
_Static_assert(offsetof(struct rvf_root_slot, slot_hash) == 0x78, "slot_hash");

/* ---- metadata snapshot ---------------------------------------------------- */
/* header (64 B), then n_segments x rvf_meta_seg, n_vindex x rvf_meta_vindex,
 * n_free x rvf_meta_extent, then user_meta_len bytes of opaque user metadata.
 *  0x00  8    magic "RVFMETA1"
 *  0x08  8    commit_seq (must equal the root's)
 *  0x10  8    total_blocks (blocks in the data region this snapshot spans)
 *  0x18  4    n_segments
 *  0x1C  4    n_vindex
 *  0x20  4    n_free
 *  0x24  4    reserved, zero
 *  0x28  8    user_meta_len
 *  0x30  8    commit_ns (CLOCK_REALTIME of the commit)
 *  0x38  8    reserved, zero
 */
struct rvf_meta_hdr {
	char     magic[8];
	uint64_t commit_seq;
	uint64_t total_blocks;
	uint32_t n_segments;
	uint32_t n_vindex;
	uint32_t n_free;
	uint32_t reserved0;
	uint64_t user_meta_len;
	uint64_t commit_ns;
	uint64_t reserved1;
};
_Static_assert(sizeof(struct rvf_meta_hdr) == 64, "meta header size");

/*  segment entry, 64 B
 *  0x00  8    segment_id
 *  0x08  8    start_block
 *  0x10  8    payload_len
 *  0x18  8    generation (commit_seq of the commit that wrote it)
 *  0x20  8    timestamp_ns (as in the segment header)
 *  0x28 16    content_hash (as in the segment header)
 *  0x38  1    seg_type
 *  0x39  1    checksum_algo
 *  0x3A  2    flags
 *  0x3C  4    reserved, zero
 */
struct rvf_meta_seg {
	uint64_t segment_id;
	uint64_t start_block;
	uint64_t payload_len;
	uint64_t generation;
	uint64_t timestamp_ns;
	uint8_t  content_hash[16];
	uint8_t  seg_type;
	uint8_t  checksum_algo;
	uint16_t flags;
	uint32_t reserved;
};
_Static_assert(sizeof(struct rvf_meta_seg) == 64, "meta seg entry size");

/*  vector-index entry, 64 B (the blob is stored as an INDEX segment whose
 *  segment_id is the field id)
 *  0x00  4    field_id
 *  0x04  4    reserved, zero
 *  0x08  8    start_block
 *  0x10  8    payload_len
 *  0x18  8    generation
 *  0x20  8    timestamp_ns
 *  0x28 16    content_hash
 *  0x38  8    reserved, zero
 */
struct rvf_meta_vindex {
	uint32_t field_id;
	uint32_t reserved0;
	uint64_t start_block;
	uint64_t payload_len;
	uint64_t generation;
	uint64_t timestamp_ns;
	uint8_t  content_hash[16];
	uint64_t reserved1;
};
_Static_assert(sizeof(struct rvf_meta_vindex) == 64, "meta vindex entry size");

/*  free extent, 16 B: start_block u64, nblocks u64 (sorted, coalesced) */
struct rvf_meta_extent {
	uint64_t start;
	uint64_t count;
};
_Static_assert(sizeof(struct rvf_meta_extent) == 16, "extent size");

/* ---- RVF segment header (64 B; ruvector-rvf section 1.1) ------------------ */
/*  0x00  4    magic 0x52564653 ("SFVR" on disk)
 *  0x04  1    version (1)
 *  0x05  1    seg_type (RVF_SEG_*)
 *  0x06  2    flags
 *  0x08  8    segment_id
 *  0x10  8    payload_length
 *  0x18  8    timestamp_ns
 *  0x20  1    checksum_algo (rvf writes 1 = XXH3-128)
 *  0x21  1    compression (0 none)
 *  0x22  2    reserved_0, zero
 *  0x24  4    reserved_1, zero
 *  0x28 16    content_hash (XXH3-128 of the payload, canonical big-endian)
 *  0x38  4    uncompressed_len (0 when not compressed)
 *  0x3C  4    alignment_pad
 */
#define RVF_SEG_MAGIC        0x52564653u
#define RVF_SEG_VERSION      1u
#define RVF_SEG_HEADER_SIZE  64u

#define RVF_CKSUM_CRC32C     0u
#define RVF_CKSUM_XXH3_128   1u
#define RVF_CKSUM_SHAKE256   2u

struct rvf_seg_hdr {
	uint32_t magic;
	uint8_t  version;
	uint8_t  seg_type;
	uint16_t flags;
	uint64_t segment_id;
	uint64_t payload_length;
	uint64_t timestamp_ns;
	uint8_t  checksum_algo;
	uint8_t  compression;
	uint16_t reserved_0;
	uint32_t reserved_1;
	uint8_t  content_hash[16];
	uint32_t uncompressed_len;
	uint32_t alignment_pad;
};
_Static_assert(sizeof(struct rvf_seg_hdr) == RVF_SEG_HEADER_SIZE, "segment header size");
_Static_assert(offsetof(struct rvf_seg_hdr, checksum_algo) == 0x20, "checksum_algo");
_Static_assert(offsetof(struct rvf_seg_hdr, content_hash) == 0x28, "content_hash");

/* RVF segment type codes (ruvector-rvf section 1.2). */
enum rvf_seg_type {
	RVF_SEG_INVALID    = 0x00,
	RVF_SEG_VEC        = 0x01,
	RVF_SEG_INDEX      = 0x02,
	RVF_SEG_OVERLAY    = 0x03,
	RVF_SEG_JOURNAL    = 0x04,
	RVF_SEG_MANIFEST   = 0x05,
	RVF_SEG_QUANT      = 0x06,
	RVF_SEG_META       = 0x07,
	RVF_SEG_HOT        = 0x08,
	RVF_SEG_SKETCH     = 0x09,
	RVF_SEG_WITNESS    = 0x0A,
	RVF_SEG_PROFILE    = 0x0B,
	RVF_SEG_CRYPTO     = 0x0C,
	RVF_SEG_META_IDX   = 0x0D,
	RVF_SEG_KERNEL     = 0x0E,
	RVF_SEG_EBPF       = 0x0F,
	RVF_SEG_WASM       = 0x10,
	RVF_SEG_DASHBOARD  = 0x11,
	RVF_SEG_COW_MAP    = 0x20,
	RVF_SEG_REFCOUNT   = 0x21,
	RVF_SEG_MEMBERSHIP = 0x22,
	RVF_SEG_DELTA      = 0x23,
};

/* Segment flags (ruvector-rvf section 1.3). */
#define RVF_SEGF_COMPRESSED  0x0001u
#define RVF_SEGF_ENCRYPTED   0x0002u
#define RVF_SEGF_SIGNED      0x0004u
#define RVF_SEGF_SEALED      0x0008u
#define RVF_SEGF_PARTIAL     0x0010u
#define RVF_SEGF_TOMBSTONE   0x0020u
#define RVF_SEGF_HOT         0x0040u
#define RVF_SEGF_OVERLAY     0x0080u
#define RVF_SEGF_SNAPSHOT    0x0100u
#define RVF_SEGF_CHECKPOINT  0x0200u
#define RVF_SEGF_ATTESTED    0x0400u
#define RVF_SEGF_HAS_LINEAGE 0x0800u

#endif
