/*
 * meta/meta_store.h - the store's view of metadata: an in-memory map from
 * vector id to that vector's typed fields, the filter evaluator that runs
 * inside HNSW traversal, a sampling selectivity estimate for the planner, and
 * the META segment (RVF type 0x07) payload codec.
 *
 * Threading: a meta_store is not locked. Any number of threads may read it
 * (get, has, foreach, filter_eval, filter_*) at once while nobody writes;
 * writers (set, remove, clear, meta_seg_decode) need exclusive access.
 *
 * Memory: one open-addressing hash table (16 bytes per slot, load <= 0.7)
 * plus one arena of packed records (8-byte header, 3 bytes + 8 bytes per
 * field, string data inline, 8-aligned). 1M vectors with three numeric fields
 * cost about 62 MB. Replaced records become garbage that is reclaimed by
 * repacking once it exceeds half the arena.
 */
#ifndef RVF_META_STORE_H
#define RVF_META_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rvf/meta.h"

struct meta_store;

/* *out gets an owned empty store (free with meta_store_free). 0 or -ENOMEM. */
int meta_store_new(struct meta_store **out);
/* Accepts NULL. */
void meta_store_free(struct meta_store *ms);

/*
 * Replace id's metadata with the n entries (borrowed; copied, any order).
 * n == 0 removes id's metadata. -EINVAL (logged) for a duplicate field id,
 * n > RVF_META_MAX_FIELDS, an invalid type, a NULL buffer with a non-zero
 * length, a buffer over RVF_META_MAX_BUF_LEN, or one vector's metadata over
 * 4 GiB; -ENOMEM. On failure id keeps its old metadata. e must not be a
 * view into ms itself (a meta_store_get result): copy it first.
 */
int meta_store_set(struct meta_store *ms, uint64_t id, const struct rvf_meta_entry *e,
		   size_t n);

/* Drop id's metadata. Returns 1 if it had some, 0 if not. */
int meta_store_remove(struct meta_store *ms, uint64_t id);

/* Drop everything and release the memory; ms stays usable. */
void meta_store_clear(struct meta_store *ms);

/*
 * Copy id's entries, sorted by field id, into out[0..cap). String/bytes
 * values are views into the store, valid until the next write to ms.
 * 0 and *n set; -ENOENT (not logged) when id has no metadata (*n = 0);
 * -ENOSPC when cap < the number of entries (*n set to that number; a buffer
 * of RVF_META_MAX_FIELDS entries is always enough).
 */
int meta_store_get(const struct meta_store *ms, uint64_t id, struct rvf_meta_entry *out,
		   size_t cap, size_t *n);

bool meta_store_has(const struct meta_store *ms, uint64_t id);

/* Ids that have metadata. */
size_t meta_store_count(const struct meta_store *ms);

/* Bytes allocated by the store (table + arena), for status and tests. */
size_t meta_store_memory_bytes(const struct meta_store *ms);

/*
 * Call cb for every id with metadata, in ascending id order, with its entries
 * (views valid during the call only). cb must not modify ms. A non-zero
 * return from cb stops the walk and is returned. -ENOMEM (for the id sort).
 */
typedef int (*meta_store_foreach_fn)(void *ctx, uint64_t id, const struct rvf_meta_entry *e,
				     size_t n);
int meta_store_foreach(const struct meta_store *ms, meta_store_foreach_fn cb, void *ctx);

/* ---- filter evaluation -------------------------------------------------- */

/*
 * Does vector id match f? f NULL matches everything; an id absent from ms
 * has no fields (so only ne/not-style filters can match it). f and ms
 * borrowed. Does not allocate or log; safe to call concurrently.
 */
bool filter_eval(const struct rvf_filter *f, const struct meta_store *ms, uint64_t id);

/* Do a and b hold the same tree: operators, fields, operand order, value
 * types and bytes (f64 by bit pattern)? Equal trees have equal
 * rvf_filter_to_json. Does not allocate; NULL equals only NULL. For caches
 * that must recognise a filter by content, never by its address. */
bool filter_equal(const struct rvf_filter *a, const struct rvf_filter *b);

/* What f says about a vector with no metadata at all. */
bool filter_matches_missing(const struct rvf_filter *f);

/*
 * Estimated fraction (0..1) of n_total vectors that match f, for the query
 * planner. Vectors in ms are sampled (sample_n of them, reproducibly from
 * seed; every one of them when ms holds no more than sample_n); the
 * n_total - count(ms) vectors without metadata count as
 * filter_matches_missing(f). n_total below count(ms) is treated as count(ms).
 * Returns 1.0 for f == NULL, 0 or 1 when there is nothing to sample.
 */
double filter_selectivity_estimate(const struct rvf_filter *f, const struct meta_store *ms,
				   uint64_t n_total, size_t sample_n, uint64_t seed);

/*
 * The ids in ms that match f, ascending, for an exact scan when f is very
 * selective. *ids is returned owned (free(); NULL when *n == 0). Ids without
 * metadata are not listed even if filter_matches_missing(f): the caller adds
 * those from its own id set. 0 or -ENOMEM.
 */
int filter_collect(const struct rvf_filter *f, const struct meta_store *ms, uint64_t **ids,
		   size_t *n);

/* ---- META segment payload (RVF segment type 0x07) ----------------------- */

/*
 * One payload is a batch of records applied in order; a later record (in the
 * same or a later segment) replaces an earlier one for the same id. The
 * 64-byte RVF segment header around it is the caller's. Layout (all LE):
 *
 *   off  size  field
 *   0x00  4    magic "RVMT"
 *   0x04  2    version (META_SEG_VERSION)
 *   0x06  2    flags, 0 (a reader rejects unknown bits)
 *   0x08  8    record_count
 *   0x10  8    body_len (payload length - 32)
 *   0x18  8    body_hash: XXH3-64 of the body
 *   0x20       body: record_count records
 *
 *   record := id u64 | op u8 | (op == SET: n u16 (1..RVF_META_MAX_FIELDS),
 *             n entries with strictly increasing field ids)
 *     op 1 SET    replace id's metadata with the entries
 *     op 2 CLEAR  id has no metadata (upsert without metadata, delete)
 *   entry  := field u16 | type u8 | value
 *     value: u64/i64/f64 as 8 bytes; string/bytes as len u32
 *            (<= RVF_META_MAX_BUF_LEN) then len bytes
 */
#define META_SEG_MAGIC    "RVMT"
#define META_SEG_VERSION  1u
#define META_SEG_HDR      32u
#define META_SEG_TYPE     0x07u

/* One id's metadata for the encoder: n == 0 writes a CLEAR record. */
struct meta_rec {
	uint64_t id;
	const struct rvf_meta_entry *entries;   /* borrowed, any order */
	size_t n;
};

/*
 * Encode recs[0..n) in the order given (an id may repeat; the last wins on
 * decode). *buf is returned owned (free()) with *len bytes. -EINVAL (logged)
 * for entries meta_store_set would reject; -ENOMEM.
 */
int meta_seg_encode(const struct meta_rec *recs, size_t n, void **buf, size_t *len);

/*
 * The merged segment for compaction: one SET record per id in ms, ascending,
 * skipping ids for which keep (if non-NULL) returns false.
 */
int meta_seg_encode_store(const struct meta_store *ms, bool (*keep)(void *ctx, uint64_t id),
			  void *ctx, void **buf, size_t *len);

/*
 * Check a payload (buf borrowed) in full, then apply its records to ms in
 * order (ms NULL: check only). Nothing is applied unless the whole payload is
 * valid. Returns the record count (>= 0, capped at INT_MAX) or:
 *   -EUCLEAN  truncated, bad magic, bad structure (logged with the offset)
 *   -EBADMSG  body hash mismatch
 *   -ENOTSUP  a newer version or unknown flags
 *   -ENOMEM   while applying (ms then holds a prefix of the records)
 */
int meta_seg_decode(const void *buf, size_t len, struct meta_store *ms);

#endif
