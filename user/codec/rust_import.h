/*
 * codec/rust_import.h - read a .rvf file written by the Rust RVF runtime
 * (ruvnet/RuVector rvf-runtime; ruvector-rvf.md 1.1, 1.5, 1.8, 1.11) so the
 * store can import it.
 *
 * That format: 64-byte segment headers back to back (no padding), the last
 * MANIFEST segment is the live one; its payload is
 *   epoch u32 | dimension u16 | total_vectors u64 | seg_count u32 |
 *   profile_id u8 | 3 reserved                                   (22 B)
 *   seg_count x {seg_id u64, offset u64, payload_len u64, seg_type u8} (25 B)
 *   del_count u32 | del_count x u64 deleted ids
 *   [ "FIDI" (u32 0x46494449) | FileIdentity (68 B) ]
 * and every VEC payload is  dim u16 | count u32 | count x {id u64, f32[dim]}.
 *
 * The reader is strict: the segment walk must end exactly at end of file,
 * every directory entry must name a segment header at that offset with the
 * same id, type and length, and every non-zero content hash (the runtime's
 * CRC32 form, see rust_content_hash) of the live manifest and of every listed
 * segment must match. Segments after the live manifest (a write that crashed
 * before its manifest) are ignored, as the runtime does, but only when they
 * are hash-valid and of the types such a write produces. A damaged file is an error, never a silently older
 * state. Every length is bounded by the file size before it is used for an
 * allocation or a read.
 */
#ifndef RVF_CODEC_RUST_IMPORT_H
#define RVF_CODEC_RUST_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rvf/format.h"
#include "rvf/payload.h"

/* A segment carried over byte for byte (KERNEL, EBPF and every other type
 * that is not VEC, MANIFEST, JOURNAL or WITNESS). */
struct rust_rvf_seg {
	uint8_t  type;                  /* enum rvf_seg_type (or unknown) */
	uint64_t segment_id;
	uint64_t offset;                /* of its header in the source file */
	struct rvf_seg_hdr hdr;         /* decoded copy of the 64-byte header */
	uint8_t *raw;                   /* header + payload as in the file; owned */
	uint64_t raw_len;               /* 64 + payload_len */
	const uint8_t *payload;         /* raw + 64 */
	uint64_t payload_len;
};

/* Everything recoverable from a Rust-written file. Owned by the struct;
 * free with rust_rvf_free. */
struct rust_rvf {
	uint16_t dim;
	uint32_t epoch;
	uint8_t  profile_id;            /* the manifest's ProfileId byte (hardware tier) */
	uint64_t manifest_total;        /* total_vectors as the manifest recorded it */
	uint64_t manifest_offset;       /* of the live MANIFEST segment's header */
	uint64_t file_size;
	size_t   n_segments;            /* segment headers in the file */

	size_t    n_live;
	uint64_t *ids;                  /* n_live ids, strictly ascending */
	float    *vectors;              /* n_live * dim, row i is ids[i], bits as stored */

	size_t    n_deleted;
	uint64_t *deleted;              /* the manifest's deleted ids, ascending, unique */

	bool has_identity;              /* a FIDI trailer was present */
	struct rvf_file_identity identity;      /* zero when !has_identity */

	size_t n_carried;
	struct rust_rvf_seg *carried;   /* in file order */
};

/*
 * Read the file at path (borrowed). *out is set only on success (free with
 * rust_rvf_free). Holds at most one segment payload in memory besides the
 * result. Errors (all logged with the file name and offset):
 *   -ENOEXEC  empty file, or it does not start with an RVF segment header
 *   -EUCLEAN  corrupt or inconsistent structure
 *   -EBADMSG  a content hash does not match
 *   -ENOTSUP  compressed/encrypted segments, or a checksum algorithm other
 *             than the runtime's
 *   -EISDIR / -EINVAL  path is a directory / not a regular file
 *   -ENOMEM, or -errno from open/pread
 */
int rust_rvf_read(const char *path, struct rust_rvf **out);

/* The same from a buffer (borrowed; nothing in *out points into it). name
 * labels error messages (may be NULL). */
int rust_rvf_parse(const void *buf, size_t len, const char *name, struct rust_rvf **out);

/* Free; NULL is fine. */
void rust_rvf_free(struct rust_rvf *r);

/*
 * SHA-256 over the live vectors in id order, each as id (u64 LE) followed by
 * its dim f32 values as stored: the fixtures README's live_sha256 (whose
 * published form is the first 16 hex digits). 0 or -errno.
 */
int rust_rvf_live_digest(const struct rust_rvf *r, uint8_t out[32]);

#endif
