/*
 * codec/identity.h - FileIdentity (68 B) and LineageRecord (128 B)
 * construction: random root ids, derived children, lineage records.
 * Layouts are in include/rvf/payload.h.
 */
#ifndef RVF_CODEC_IDENTITY_H
#define RVF_CODEC_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include "rvf/payload.h"

/* A fresh root identity: 16 random bytes of file_id from getrandom() (never
 * all zero), zero parent_id/parent_hash, depth 0. out is written only on
 * success. 0, or -errno from getrandom (-EIO if it keeps returning short). */
int file_identity_new(struct rvf_file_identity *out);

/*
 * The identity of a child derived from parent: a fresh file_id, parent_id =
 * parent->file_id, parent_hash as given (the caller hashes the parent's
 * committed state with SHA-256), lineage_depth = parent depth + 1.
 * All pointers borrowed; child may not alias parent. Written only on success.
 * -EOVERFLOW when the parent is already at depth UINT32_MAX, -EINVAL for a
 * parent whose file_id is all zero; else as file_identity_new.
 */
int file_identity_derive(const struct rvf_file_identity *parent,
			 const uint8_t parent_hash[RVF_HASH_LEN],
			 struct rvf_file_identity *child);

/* True for a root (parent_id all zero and depth 0). */
bool file_identity_is_root(const struct rvf_file_identity *id);

/*
 * Structural check of an identity read from disk: file_id non-zero; a root
 * (depth 0) has zero parent_id and parent_hash; a child (depth > 0) has a
 * non-zero parent_id different from its own file_id. 0 or -EUCLEAN (not
 * logged: the caller knows which file it came from).
 */
int file_identity_check(const struct rvf_file_identity *id);

/*
 * A LineageRecord for child (file_id, parent_id, parent_hash copied), with
 * derivation_type, mutation_count, timestamp_ns and a description of at most
 * RVF_LINEAGE_DESC_MAX bytes (desc may be NULL). -EINVAL when desc is longer.
 */
int lineage_record_build(const struct rvf_file_identity *child, uint8_t derivation_type,
			 uint32_t mutation_count, uint64_t timestamp_ns, const char *desc,
			 struct rvf_lineage_record *out);

/* Validate a LineageRecord read from disk: pad zero, description_len <= 47,
 * description bytes past description_len zero. 0 or -EUCLEAN. */
int lineage_record_check(const struct rvf_lineage_record *r);

#endif
