/*
 * rvf/dir.h - the single-file directory: rvf's storage layer.
 *
 * One file holds every segment, the per-field vector indexes, opaque user
 * metadata and the allocator state. Changes are shadow-paged: new data goes to
 * free blocks, and rvf_dir_commit() publishes it with a two-root atomic commit
 * (metadata snapshot -> fdatasync -> inactive root slot -> fdatasync). A crash
 * at any instant leaves the last durable commit or the one in flight, never a
 * mix. See include/rvf/format.h for the bytes.
 *
 * Transactions: the first mutating call on a writable handle takes the writer
 * lock (an OFD fcntl lock on the file, so a killed writer never leaves it
 * locked), refreshes the handle to the newest committed snapshot, and begins a
 * transaction; rvf_dir_commit() or rvf_dir_rollback() ends it and releases the
 * lock (unless the handle was opened with hold_write_lock). Pending changes are
 * invisible to readers, including rvf_dir_read_segment on the same handle.
 *
 * Readers: every handle sees one committed snapshot; rvf_dir_refresh() moves a
 * handle to the newest one. A read-only handle pins the snapshot it sees (a
 * shared lock on a byte for that sequence, moved by refresh); while anyone
 * pins a snapshot older than the newest, writers do not reuse freed blocks,
 * so a pinned snapshot stays readable. A reader that refreshes lets reuse
 * resume; one that never does keeps the file growing while others write.
 *
 * Failure: a failed write or fsync poisons the handle: every later mutating
 * call returns -EIO, reads keep serving the last committed snapshot, and the
 * way out is close + reopen (which runs recovery). An fsync is never retried.
 *
 * Thread safety: a handle is not thread-safe; use one per thread or lock
 * around it. Any number of handles and processes may open the same file,
 * but a handle must not be used from both sides of a fork(): parent and
 * child would share its locks (they belong to the open file description).
 */
#ifndef RVF_DIR_H
#define RVF_DIR_H

#include <stdint.h>
#include <stddef.h>
#include <sys/uio.h>
#include "rvf/error.h"
#include "rvf/format.h"
#include "rvf/io.h"             /* enum rvf_io_kind */

#ifdef __cplusplus
extern "C" {
#endif

struct rvf_dir;

/* All-zero opts mean defaults. Borrowed for the duration of the call. */
struct rvf_dir_opts {
	uint32_t block_size;        /* create only; 0 = 4096; power of two 4 KiB..1 MiB */
	uint32_t write_timeout_ms;  /* writer-lock wait; 0 = 5000 */
	enum rvf_io_kind io;
	int      hold_write_lock;   /* writable open: take the writer lock at open
	                               and keep it until close (-EBUSY at open if
	                               it cannot be had) */
	uint32_t mode;              /* create only; file mode, 0 = 0644 */
};

/* A committed segment (also used for vector-index entries, type INDEX). */
struct rvf_dir_segment {
	uint64_t id;
	uint8_t  type;              /* enum rvf_seg_type (any value kept verbatim) */
	uint16_t flags;
	uint64_t payload_len;
	uint64_t generation;        /* commit that wrote it */
	uint64_t timestamp_ns;
	uint64_t file_offset;       /* of the 64-byte segment header */
	uint8_t  content_hash[16];  /* XXH3-128 of the payload */
};

/* Create a new store file; -EEXIST if path exists. The file appears
 * atomically (written under a temporary name, then linked into place), holding
 * one empty commit (generation 1). *out owned: free with rvf_dir_close. */
int rvf_dir_create(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out);

/* Open for reading and writing; runs crash recovery (picks the newest valid
 * root; a torn newest root falls back to the other one). */
int rvf_dir_open(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out);

/* Open read-only: never writes, never takes the writer lock; mutators -EROFS. */
int rvf_dir_open_readonly(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out);

/* Close; a pending transaction is rolled back. Accepts NULL. */
void rvf_dir_close(struct rvf_dir *d);

/* Give d's file a second name, path (link(2); -EEXIST if it exists), and
 * make that name durable: the parent directory is fsynced through d's I/O
 * backend. A failed fsync is returned and the new name removed. Not on a
 * read-only handle (-EROFS). */
int rvf_dir_link(struct rvf_dir *d, const char *path);

/* The first len bytes of the file at path, read through the I/O layer
 * (before anything says it is a store file): 0, -ENODATA when the file is
 * shorter, or -errno. */
int rvf_dir_read_head(const char *path, void *buf, size_t len);

/* How long a writer waits for the writer lock before -EBUSY (open's default:
 * 5000 ms). 0 here means do not wait at all (unlike opts, where 0 means the
 * default). */
void rvf_dir_set_write_timeout(struct rvf_dir *d, uint32_t ms);

/* Write a segment: header + payload go to fresh blocks now; the segment
 * becomes visible at commit, replacing a committed segment with the same id.
 * data borrowed. len may be 0. */
int rvf_dir_write_segment(struct rvf_dir *d, uint64_t id, uint8_t type,
			  const void *data, size_t len);
/* Same, with flags and the payload gathered from iov (borrowed). */
int rvf_dir_write_segmentv(struct rvf_dir *d, uint64_t id, uint8_t type, uint16_t flags,
			   const struct iovec *iov, int iovcnt);

/* Read a committed segment's payload, checksum verified. *buf returned owned
 * (64-byte aligned; free with free()). -ENOENT if no such committed segment,
 * -EBADMSG on checksum mismatch. */
int rvf_dir_read_segment(struct rvf_dir *d, uint64_t id, void **buf, size_t *len);

/* Read part of a committed segment's payload into buf (borrowed), without
 * checksum verification (the caller verifies its own framing); -ERANGE past
 * the end. For streaming over large segments. */
int rvf_dir_read_segment_range(struct rvf_dir *d, uint64_t id, uint64_t off,
			       void *buf, size_t len);

/* Verify one committed segment's checksum without returning it. */
int rvf_dir_verify_segment(struct rvf_dir *d, uint64_t id);

/* Mark committed (or pending) segments for removal at commit. Ids that do not
 * exist are ignored; returns how many were found. */
int rvf_dir_remove_segments(struct rvf_dir *d, const uint64_t *ids, size_t n);

/* The committed segment directory, sorted by id. *out returned owned (free
 * with free()); *n may be 0 (then *out is NULL). */
int rvf_dir_segments(struct rvf_dir *d, struct rvf_dir_segment **out, size_t *n);

/* Look up one committed segment; -ENOENT if absent. */
int rvf_dir_segment_info(struct rvf_dir *d, uint64_t id, struct rvf_dir_segment *out);
/* The 64-byte header committed segment id has in the file (rvf/format.h),
 * built from its snapshot entry as the segment write built it: 0 or
 * -ENOENT. */
int rvf_dir_segment_header(struct rvf_dir *d, uint64_t id, struct rvf_seg_hdr *h);

/* Make every pending change durable and visible. Empty and metadata-only
 * commits are real commits (the generation advances). Two fsyncs. Either way
 * the transaction ends: on failure its changes are discarded (the segment
 * data written so far is unreferenced), and a failed write or fsync also
 * poisons the handle. */
int rvf_dir_commit(struct rvf_dir *d);

/* Discard the pending transaction and release the writer lock. */
int rvf_dir_rollback(struct rvf_dir *d);

/* Commit sequence of the snapshot this handle sees. */
uint64_t rvf_dir_generation(const struct rvf_dir *d);

/* Move the handle to the newest committed snapshot on disk. Returns 1 if it
 * changed, 0 if not; -EBUSY if a transaction is pending on this handle. */
int rvf_dir_refresh(struct rvf_dir *d);

/* The commit sequence of the newest sound root slot on disk (slot checksum
 * and fields checked; its snapshot is not read), for cheap change polling:
 * compare with rvf_dir_generation. One pread per slot, no lock, no change
 * to d, so safe from any thread while others read through d (not while d
 * is closed). A sound newest root whose snapshot fails to load makes this
 * run ahead of what rvf_dir_refresh reaches. 0, -EUCLEAN (no sound slot),
 * or the pread error. */
int rvf_dir_peek_generation(const struct rvf_dir *d, uint64_t *seq);

/* 1 when a commit now could not reuse freed blocks (another handle is
 * loading a snapshot or pins one older than the one this handle sees), 0
 * when it could, or -errno. */
int rvf_dir_reuse_blocked(struct rvf_dir *d);

/* Opaque user metadata, stored inside the snapshot. set: pending until
 * commit; data borrowed. get: the committed bytes, *data returned owned
 * (free with free(); NULL when empty). */
int rvf_dir_set_user_metadata(struct rvf_dir *d, const void *data, size_t len);
int rvf_dir_user_metadata(struct rvf_dir *d, void **data, size_t *len);

/* Per-field vector-index blobs (each in its own extent, as an INDEX segment). */
int rvf_dir_write_vector_index(struct rvf_dir *d, uint32_t field_id, const void *data, size_t len);
int rvf_dir_write_vector_indexv(struct rvf_dir *d, uint32_t field_id,
				const struct iovec *iov, int iovcnt);
int rvf_dir_read_vector_index(struct rvf_dir *d, uint32_t field_id, void **buf, size_t *len);
int rvf_dir_remove_vector_index(struct rvf_dir *d, uint32_t field_id);
/* Committed field ids, ascending; *fields returned owned (free()). */
int rvf_dir_vector_index_fields(struct rvf_dir *d, uint32_t **fields, size_t *n);

/* Allocator figures of the committed snapshot. */
uint64_t rvf_dir_free_block_count(const struct rvf_dir *d);
uint64_t rvf_dir_total_blocks(const struct rvf_dir *d);
uint32_t rvf_dir_block_size(const struct rvf_dir *d);
/* File size in bytes as the handle's I/O backend sees it (the size on disk;
 * may exceed the committed extent after a crash). */
int64_t rvf_dir_file_size(const struct rvf_dir *d);
const char *rvf_dir_path(const struct rvf_dir *d);
/* Identity of the store file (random, fixed at create). 16 bytes, view valid
 * for the handle's lifetime. */
const uint8_t *rvf_dir_uuid(const struct rvf_dir *d);
int rvf_dir_is_readonly(const struct rvf_dir *d);
/* 0, or the -errno that poisoned the handle. */
int rvf_dir_poisoned(const struct rvf_dir *d);

struct rvf_dir_check_report {
	uint64_t segments;          /* segments verified */
	uint64_t vector_indexes;
	uint64_t bytes_verified;    /* payload bytes hashed */
	uint64_t used_blocks;
	uint64_t free_blocks;
	uint64_t total_blocks;
	uint64_t problems;          /* each one logged at RVF_LOG_ERROR */
};

/* Full consistency check of the committed snapshot, re-read from disk: its
 * root slot and snapshot checksums, every segment and vector-index checksum,
 * no block both free and used, no overlapping extents, used + free == total
 * (an unsound older root slot, which a crash may leave, is logged at INFO).
 * 0 if clean, -EUCLEAN if any problem (each logged), or -ENOMEM/-EIO.
 * report may be NULL. */
int rvf_dir_check(struct rvf_dir *d, struct rvf_dir_check_report *report);

/* Name of the I/O backend in use: "io_uring" or "syscall". */
const char *rvf_dir_io_name(const struct rvf_dir *d);

#ifdef __cplusplus
}
#endif
#endif
