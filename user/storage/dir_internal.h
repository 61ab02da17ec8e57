/*
 * storage/dir_internal.h - the directory handle's layout and the helpers its
 * files share: dir.c (transactions, commit), dir_open.c (roots, loading,
 * recovery, pins, open / create / close), dir_read.c (reads, accessors),
 * dir_check.c (rvf_dir_check). Invariants and the handle's states are at
 * the top of dir.c.
 */
#ifndef RVF_STORAGE_DIR_INTERNAL_H
#define RVF_STORAGE_DIR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "io/io.h"
#include "rvf/dir.h"
#include "rvf/format.h"
#include "storage/alloc.h"
#include "storage/lock.h"
#include "storage/snapshot.h"

struct txn {
	int active;
	int reuse;                       /* may reuse free blocks (no pins) */
	struct alloc alloc;              /* working allocator */
	struct rvf_meta_seg *w;          /* pending segment writes */
	size_t nw, capw;
	uint64_t *rm;                    /* pending segment removals */
	size_t nrm, caprm;
	struct rvf_meta_vindex *vw;      /* pending vector-index writes */
	size_t nvw, capvw;
	uint32_t *vrm;                   /* pending vector-index removals */
	size_t nvrm, capvrm;
	int user_set;
	uint8_t *user;
	size_t user_len;
};

struct rvf_dir {
	char *path;
	int fd;
	int readonly;
	int hold;                        /* writer lock held for the handle's life */
	int loading;                     /* holds the load byte (lock.h) */
	int pinned;                      /* holds the pin of snapshot pin_seq */
	uint64_t pin_seq;
	int poison;
	uint32_t bs;
	uint32_t write_timeout_ms;
	uint64_t max_seq;                /* highest sequence seen in a sound slot */
	uint8_t uuid[16];
	uint64_t created_ns;
	struct io *io;
	struct snap snap;                /* committed snapshot this handle sees */
	struct txn txn;
};

struct root_pick {
	struct rvf_root_slot slot[2];
	int status[2];
	const char *why[2];
};

static inline uint64_t blk_off(const struct rvf_dir *d, uint64_t block)
{
	return RVF_DATA_START + block * d->bs;
}

/* len bytes from block (of bs bytes) lie inside a file of fsz bytes. Both
 * come from the disk, so nothing here may overflow. */
static inline int extent_in_file(uint64_t fsz, uint32_t bs, uint64_t block, uint64_t len)
{
	uint64_t avail = fsz > RVF_DATA_START ? fsz - RVF_DATA_START : 0;

	return block <= avail / bs && len <= avail - block * bs;
}

static inline void meta_to_seg(struct rvf_meta_seg *s, const struct rvf_meta_vindex *v)
{
	memset(s, 0, sizeof(*s));
	s->segment_id = v->field_id;
	s->start_block = v->start_block;
	s->payload_len = v->payload_len;
	s->generation = v->generation;
	s->timestamp_ns = v->timestamp_ns;
	memcpy(s->content_hash, v->content_hash, 16);
	s->seg_type = RVF_SEG_INDEX;
	s->checksum_algo = RVF_CKSUM_XXH3_128;
}

static inline struct extent seg_extent(const struct rvf_dir *d, const struct rvf_meta_seg *e)
{
	return (struct extent){ e->start_block, seg_nblocks(e->payload_len, d->bs) };
}

static inline struct rvf_meta_seg *find_seg(struct rvf_meta_seg *a, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a[mid].segment_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo].segment_id == id ? &a[lo] : NULL;
}

static inline struct rvf_meta_vindex *find_vidx(struct rvf_meta_vindex *a, size_t n, uint32_t f)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].field_id == f)
			return &a[i];
	return NULL;
}

/* dir.c */
/* Poison the handle after a failed write or sync (invariant 4): ends any
 * transaction and gives up the writer lock. Returns err. */
int dir_poison(struct rvf_dir *d, int err, const char *what);
void dir_txn_clear(struct rvf_dir *d);
/* Drop the transaction and, unless held for life, the writer lock. */
void dir_txn_end(struct rvf_dir *d);
/* XXH3-128 of the bytes in iov (big payloads hashed on two threads). */
void dir_hash128(const struct iovec *iov, int iovcnt, uint8_t out[16]);

/* dir_open.c */
/* Read and check both root slots into rp (status 0 = sound). */
int dir_read_roots(struct rvf_dir *d, struct root_pick *rp);
/* Read and decode the snapshot a sound root slot names. */
int dir_load_snap(struct rvf_dir *d, const struct rvf_root_slot *r, int slot, struct snap *out,
		  char *why, size_t whylen);
/* The newest snapshot that verifies (invariant 3). */
int dir_load_newest(struct rvf_dir *d, struct snap *out);
/* Move the handle's pin to the snapshot it now sees (lock.h). */
void dir_repin(struct rvf_dir *d);
/* Move to the newest commit: 1 if it changed, 0 if not, or -errno. */
int dir_refresh(struct rvf_dir *d);

/* dir_read.c */
/* Read segment e, checking its header and content hash; out NULL only
 * verifies. */
int dir_read_entry(struct rvf_dir *d, const struct rvf_meta_seg *e, void **out, size_t *outlen);

#endif
