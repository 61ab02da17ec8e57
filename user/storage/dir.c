/*
 * storage/dir.c - the single-file directory (include/rvf/dir.h): transactions
 * (segment and vector-index writes, removals, user metadata) and the commit.
 *
 * The rest of the directory, by what it does:
 *   dir_open.c   root slots, loading and recovering the newest snapshot,
 *                pins and refresh, open / create / close
 *   dir_read.c   segment and vector-index reads, accessors
 *   dir_check.c  rvf_dir_check (the whole-file invariant checker)
 *   dir_internal.h  the handle's layout these files share
 *
 * Invariants
 *   1. Nothing reachable from the newest durable root is ever overwritten.
 *      New segment data and new snapshots go to blocks that are free in the
 *      committed snapshot; blocks a commit frees become allocatable only
 *      after that commit is durable (they stay reachable from the previous
 *      root until then), and not at all while another handle is loading a
 *      snapshot or pins one older than the newest (storage/lock.h).
 *   2. A commit is: snapshot -> fdatasync -> root slot (the one not holding
 *      the newest root) -> fdatasync. Until the root write is durable the old
 *      state is what recovery finds; after it, the new one.
 *   3. Open picks the valid root with the highest sequence whose snapshot
 *      also verifies; anything else falls back to the other root.
 *   4. A failed write or sync poisons the handle (d->poison); the in-memory
 *      committed snapshot is untouched, so reads keep working.
 *
 * Handle states
 *
 *     IDLE --first mutator--> TXN (writer lock held, refreshed, working
 *      ^                          allocator cloned from the snapshot)
 *      |                           |
 *      +--- commit ok / rollback --+
 *     any write/sync failure --> POISONED (mutators -EIO; reads served)
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "common/log.h"
#include "storage/dir_internal.h"

/* ---- small helpers -------------------------------------------------------- */

#define GROW(arr, n, cap) grow_array((void **)&(arr), &(cap), (n) + 1, sizeof(*(arr)))

static int grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 8;
	while (c < need)
		c *= 2;
	void *p = realloc(*arr, c * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

/* Also ends the transaction: nothing of it can commit any more, and its
 * writer lock must not keep other processes waiting until close. */
int dir_poison(struct rvf_dir *d, int err, const char *what)
{
	if (!d->poison) {
		d->poison = err ? err : -EIO;
		log_error("%s: %s failed (%s); handle poisoned: further writes fail, reads "
			  "serve the last commit; close and reopen to recover",
			  d->path, what, strerror(-d->poison));
	}
	if (d->txn.active)
		dir_txn_end(d);
	if (d->hold) {
		/* pin what reads still serve, then let other writers in */
		d->hold = 0;
		dir_repin(d);
		unlock_writer(d->fd);
	}
	return err;
}

static int check_writable(struct rvf_dir *d)
{
	if (d->readonly)
		return log_fail(-EROFS, "%s: handle is read-only", d->path);
	if (d->poison)
		return -EIO;
	return 0;
}

/* ---- transactions ------------------------------------------------------------ */

void dir_txn_clear(struct rvf_dir *d)
{
	struct txn *t = &d->txn;

	alloc_release(&t->alloc);
	free(t->w);
	free(t->rm);
	free(t->vw);
	free(t->vrm);
	free(t->user);
	memset(t, 0, sizeof(*t));
}

void dir_txn_end(struct rvf_dir *d)
{
	dir_txn_clear(d);
	if (!d->hold)
		unlock_writer(d->fd);
}

static int txn_begin(struct rvf_dir *d)
{
	struct txn *t = &d->txn;
	int err;

	if (t->active)
		return 0;
	if (!d->hold) {
		err = lock_writer(d->fd, d->write_timeout_ms, d->path);
		if (err)
			return err;
		/* Refresh before building anything on the snapshot: another process
		 * may have committed since we loaded it (lucisearch 0.8.0 lost
		 * commits by getting this order wrong). */
		err = dir_refresh(d);
		if (err < 0) {
			unlock_writer(d->fd);
			return err;
		}
	}
	memset(t, 0, sizeof(*t));
	err = lock_pins_below(d->fd, d->snap.seq);
	if (err < 0)
		goto fail;
	t->reuse = !err;
	err = alloc_init(&t->alloc, d->snap.total_blocks, d->snap.free, d->snap.nfree);
	if (err)
		goto fail;
	t->active = 1;
	return 0;
fail:
	if (!d->hold)
		unlock_writer(d->fd);
	return err;
}

/* Release blocks written earlier in this transaction (never committed). */
static void txn_drop_extent(struct rvf_dir *d, struct extent e)
{
	if (alloc_put(&d->txn.alloc, e))
		log_error("%s: internal: releasing a pending extent failed", d->path);
}

void dir_hash128(const struct iovec *iov, int iovcnt, uint8_t out[16])
{
	XXH3_state_t st;
	XXH128_canonical_t c;

	XXH3_128bits_reset(&st);
	for (int i = 0; i < iovcnt; i++)
		XXH3_128bits_update(&st, iov[i].iov_base, iov[i].iov_len);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
	memcpy(out, c.digest, 16);
}

/*
 * Payloads at least this large are hashed on a second thread while this one
 * writes them: hashing (XXH3-128) and the kernel's copy into the page cache
 * then overlap, so a large segment costs about what the write alone costs.
 * The header, which carries the hash, is written after the payload; both are
 * unreachable until a commit, whose chain syncs them before the root.
 */
#define HASH_THREAD_MIN (4u << 20)

struct hash_job {
	const struct iovec *iov;
	int iovcnt;
	uint8_t *out;
};

static void *hash_thread(void *arg)
{
	struct hash_job *j = arg;

	dir_hash128(j->iov, j->iovcnt, j->out);
	return NULL;
}

/* Write header + payload into a fresh extent; fills *e. */
static int write_extent(struct rvf_dir *d, uint64_t id, uint8_t type, uint16_t flags,
			const struct iovec *iov, int iovcnt, struct rvf_meta_seg *e)
{
	struct rvf_seg_hdr h;
	struct iovec stackv[9], *v = stackv;
	struct extent ext;
	uint64_t len = iov_total(iov, iovcnt);
	uint64_t nb = seg_nblocks(len, d->bs);
	struct hash_job job = { iov, iovcnt, e->content_hash };
	pthread_t hasher;
	int err, threaded = 0;

	if (!nb || iovcnt < 0)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->segment_id = id;
	e->payload_len = len;
	e->timestamp_ns = now_realtime_ns();
	e->seg_type = type;
	e->flags = flags;
	e->checksum_algo = RVF_CKSUM_XXH3_128;
	err = alloc_get(&d->txn.alloc, nb, d->txn.reuse, &ext);
	if (err)
		return err;
	e->start_block = ext.start;
	if (len >= HASH_THREAD_MIN)
		threaded = pthread_create(&hasher, NULL, hash_thread, &job) == 0;
	if (threaded) {
		/* payload now, header once the hash is known */
		err = d->io->ops->pwritev(d->io, iov, iovcnt, blk_off(d, ext.start) + sizeof(h));
		pthread_join(hasher, NULL);
		if (!err) {
			seg_hdr_from_entry(&h, e);
			err = io_pwrite(d->io, &h, sizeof(h), blk_off(d, ext.start));
		}
		goto out;
	}
	dir_hash128(iov, iovcnt, e->content_hash);
	seg_hdr_from_entry(&h, e);
	if (iovcnt + 1 > (int)(sizeof(stackv) / sizeof(stackv[0]))) {
		v = malloc(sizeof(*v) * (size_t)(iovcnt + 1));
		if (!v) {
			txn_drop_extent(d, ext);
			return -ENOMEM;
		}
	}
	v[0].iov_base = &h;
	v[0].iov_len = sizeof(h);
	if (iovcnt)   /* an empty payload may come as (NULL, 0) */
		memcpy(v + 1, iov, sizeof(*iov) * (size_t)iovcnt);
	err = d->io->ops->pwritev(d->io, v, iovcnt + 1, blk_off(d, ext.start));
	if (v != stackv)
		free(v);
out:
	if (err) {
		txn_drop_extent(d, ext);
		return dir_poison(d, err, "segment write");
	}
	return 0;
}

int rvf_dir_write_segmentv(struct rvf_dir *d, uint64_t id, uint8_t type, uint16_t flags,
			   const struct iovec *iov, int iovcnt)
{
	struct rvf_meta_seg e, *old;
	int err = check_writable(d);

	if (err)
		return err;
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	err = txn_begin(d);
	if (err)
		return err;
	err = write_extent(d, id, type, flags, iov, iovcnt, &e);
	if (err)
		return err;
	old = NULL;
	for (size_t i = 0; i < d->txn.nw; i++)
		if (d->txn.w[i].segment_id == id)
			old = &d->txn.w[i];
	if (old) {
		txn_drop_extent(d, seg_extent(d, old));
		*old = e;
		return 0;
	}
	if (GROW(d->txn.w, d->txn.nw, d->txn.capw)) {
		txn_drop_extent(d, seg_extent(d, &e));
		return -ENOMEM;
	}
	d->txn.w[d->txn.nw++] = e;
	return 0;
}

int rvf_dir_write_segment(struct rvf_dir *d, uint64_t id, uint8_t type, const void *data, size_t len)
{
	struct iovec v = { .iov_base = (void *)data, .iov_len = len };

	if (len && !data)
		return -EINVAL;
	return rvf_dir_write_segmentv(d, id, type, 0, &v, len ? 1 : 0);
}

int rvf_dir_remove_segments(struct rvf_dir *d, const uint64_t *ids, size_t n)
{
	int err = check_writable(d), found = 0;

	if (err)
		return err;
	if (n && !ids)
		return -EINVAL;
	err = txn_begin(d);
	if (err)
		return err;
	for (size_t k = 0; k < n; k++) {
		int hit = 0;
		for (size_t i = 0; i < d->txn.nw; i++) {
			if (d->txn.w[i].segment_id == ids[k]) {
				txn_drop_extent(d, seg_extent(d, &d->txn.w[i]));
				d->txn.w[i] = d->txn.w[--d->txn.nw];
				hit = 1;
				break;
			}
		}
		if (find_seg(d->snap.segs, d->snap.nsegs, ids[k])) {
			if (GROW(d->txn.rm, d->txn.nrm, d->txn.caprm))
				return -ENOMEM;
			d->txn.rm[d->txn.nrm++] = ids[k];
			hit = 1;
		}
		found += hit;
	}
	return found;
}

int rvf_dir_write_vector_indexv(struct rvf_dir *d, uint32_t field, const struct iovec *iov, int iovcnt)
{
	struct rvf_meta_seg e;
	struct rvf_meta_vindex v, *old;
	int err = check_writable(d);

	if (err)
		return err;
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	err = txn_begin(d);
	if (err)
		return err;
	err = write_extent(d, field, RVF_SEG_INDEX, 0, iov, iovcnt, &e);
	if (err)
		return err;
	memset(&v, 0, sizeof(v));
	v.field_id = field;
	v.start_block = e.start_block;
	v.payload_len = e.payload_len;
	v.timestamp_ns = e.timestamp_ns;
	memcpy(v.content_hash, e.content_hash, 16);
	/* a write cancels an earlier removal of the same field */
	for (size_t i = 0; i < d->txn.nvrm; i++)
		if (d->txn.vrm[i] == field)
			d->txn.vrm[i--] = d->txn.vrm[--d->txn.nvrm];
	old = find_vidx(d->txn.vw, d->txn.nvw, field);
	if (old) {
		struct rvf_meta_seg s;
		meta_to_seg(&s, old);
		txn_drop_extent(d, seg_extent(d, &s));
		*old = v;
		return 0;
	}
	if (GROW(d->txn.vw, d->txn.nvw, d->txn.capvw)) {
		txn_drop_extent(d, seg_extent(d, &e));
		return -ENOMEM;
	}
	d->txn.vw[d->txn.nvw++] = v;
	return 0;
}

int rvf_dir_write_vector_index(struct rvf_dir *d, uint32_t field, const void *data, size_t len)
{
	struct iovec v = { .iov_base = (void *)data, .iov_len = len };

	if (len && !data)
		return -EINVAL;
	return rvf_dir_write_vector_indexv(d, field, &v, len ? 1 : 0);
}

int rvf_dir_remove_vector_index(struct rvf_dir *d, uint32_t field)
{
	struct rvf_meta_vindex *p;
	int err = check_writable(d), hit = 0;

	if (err)
		return err;
	err = txn_begin(d);
	if (err)
		return err;
	p = find_vidx(d->txn.vw, d->txn.nvw, field);
	if (p) {
		struct rvf_meta_seg s;
		meta_to_seg(&s, p);
		txn_drop_extent(d, seg_extent(d, &s));
		*p = d->txn.vw[--d->txn.nvw];
		hit = 1;
	}
	if (find_vidx(d->snap.vidx, d->snap.nvidx, field)) {
		if (GROW(d->txn.vrm, d->txn.nvrm, d->txn.capvrm))
			return -ENOMEM;
		d->txn.vrm[d->txn.nvrm++] = field;
		hit = 1;
	}
	return hit ? 0 : -ENOENT;
}

int rvf_dir_set_user_metadata(struct rvf_dir *d, const void *data, size_t len)
{
	uint8_t *copy = NULL;
	int err = check_writable(d);

	if (err)
		return err;
	if (len && !data)
		return -EINVAL;
	err = txn_begin(d);
	if (err)
		return err;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	free(d->txn.user);
	d->txn.user = copy;
	d->txn.user_len = len;
	d->txn.user_set = 1;
	return 0;
}

int rvf_dir_rollback(struct rvf_dir *d)
{
	if (!d)
		return -EINVAL;
	if (d->txn.active)
		dir_txn_end(d);
	return 0;
}

/* ---- commit -------------------------------------------------------------------- */

static int cmp_seg(const void *a, const void *b)
{
	const struct rvf_meta_seg *x = a, *y = b;
	return x->segment_id < y->segment_id ? -1 : x->segment_id > y->segment_id;
}

static int cmp_vidx(const void *a, const void *b)
{
	const struct rvf_meta_vindex *x = a, *y = b;
	return x->field_id < y->field_id ? -1 : x->field_id > y->field_id;
}

static int in_u64(const uint64_t *a, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == v)
			return 1;
	return 0;
}

static int in_u32(const uint32_t *a, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == v)
			return 1;
	return 0;
}

/*
 * Build the next snapshot from the committed one and the transaction. The
 * extents the commit frees are returned in *freed (they join the free list
 * of the new snapshot, and the allocator once the commit is durable).
 */
static int build_next(struct rvf_dir *d, struct snap *n, struct alloc *freed)
{
	struct txn *t = &d->txn;
	struct snap *c = &d->snap;
	uint64_t seq = d->max_seq + 1;
	int err;

	memset(n, 0, sizeof(*n));
	err = alloc_init(freed, c->total_blocks, NULL, 0);
	if (err)
		return err;
	n->seq = seq;
	n->segs = malloc((c->nsegs + t->nw + 1) * sizeof(*n->segs));
	n->vidx = malloc((c->nvidx + t->nvw + 1) * sizeof(*n->vidx));
	if (!n->segs || !n->vidx)
		goto nomem;

	/* segments: committed minus removed/replaced, plus written */
	if (t->nw > 1)
		qsort(t->w, t->nw, sizeof(*t->w), cmp_seg);
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct rvf_meta_seg *e = &c->segs[i];
		if (in_u64(t->rm, t->nrm, e->segment_id) || find_seg(t->w, t->nw, e->segment_id)) {
			err = alloc_put(freed, seg_extent(d, e));
			if (err)
				goto fail;
			continue;
		}
		n->segs[n->nsegs++] = *e;
	}
	for (size_t i = 0; i < t->nw; i++) {
		n->segs[n->nsegs] = t->w[i];
		n->segs[n->nsegs++].generation = seq;
	}
	qsort(n->segs, n->nsegs, sizeof(*n->segs), cmp_seg);

	for (size_t i = 0; i < c->nvidx; i++) {
		const struct rvf_meta_vindex *e = &c->vidx[i];
		if (in_u32(t->vrm, t->nvrm, e->field_id) || find_vidx(t->vw, t->nvw, e->field_id)) {
			struct rvf_meta_seg s;
			meta_to_seg(&s, e);
			err = alloc_put(freed, seg_extent(d, &s));
			if (err)
				goto fail;
			continue;
		}
		n->vidx[n->nvidx++] = *e;
	}
	for (size_t i = 0; i < t->nvw; i++) {
		n->vidx[n->nvidx] = t->vw[i];
		n->vidx[n->nvidx++].generation = seq;
	}
	qsort(n->vidx, n->nvidx, sizeof(*n->vidx), cmp_vidx);

	if (t->user_set) {
		n->user_len = t->user_len;
		n->user = t->user;          /* moved */
		t->user = NULL;
		t->user_set = 0;
	} else if (c->user_len) {
		n->user = malloc(c->user_len);
		if (!n->user)
			goto nomem;
		memcpy(n->user, c->user, c->user_len);
		n->user_len = c->user_len;
	}
	/* the snapshot being replaced is freed by this commit too */
	err = alloc_put(freed, c->meta_ext);
	if (err)
		goto fail;
	return 0;
nomem:
	err = -ENOMEM;
fail:
	if (err == -EUCLEAN)
		log_error("%s: internal: a freed extent overlaps another; commit refused", d->path);
	snap_release(n);
	alloc_release(freed);
	return err;
}

int rvf_dir_commit(struct rvf_dir *d)
{
	struct snap n;
	struct alloc freed, fin;
	struct rvf_root_slot root;
	struct extent mext;
	uint8_t *buf = NULL;
	size_t len, bound;
	uint64_t trimmed = 0;
	int err = check_writable(d);

	if (err)
		return err;
	err = txn_begin(d);
	if (err)
		return err;
	err = build_next(d, &n, &freed);
	if (err)
		goto out_txn;

	/* Place the snapshot. Allocation never adds free extents, so the final
	 * free list is at most the working list plus what this commit frees. */
	bound = d->txn.alloc.nfree + freed.nfree;
	len = snap_encoded_size(n.nsegs, n.nvidx, bound, n.user_len);
#ifdef RVF_MUTANT_EARLY_REUSE
	/* mutant (make mutants): what this commit frees is allocatable at
	 * once, so the snapshot may land on blocks the durable root names */
	for (size_t i = 0; i < freed.nfree && !err; i++)
		err = alloc_put(&d->txn.alloc, freed.free[i]);
	freed.nfree = 0;
	if (err)
		goto out_snap;
#endif
	err = alloc_get(&d->txn.alloc, (len + d->bs - 1) / d->bs, d->txn.reuse, &mext);
	if (err)
		goto out_snap;
	/* Blocks free in the committed snapshot and untouched by this one are in
	 * neither root after the commit: a free tail can go. Not while pinned
	 * readers may still look at older snapshots. */
	if (d->txn.reuse)
		trimmed = alloc_trim_tail(&d->txn.alloc);
	err = alloc_clone(&fin, &d->txn.alloc);
	if (err)
		goto out_snap;
	for (size_t i = 0; i < freed.nfree && !err; i++)
		err = alloc_put(&fin, freed.free[i]);
	if (err) {
		log_error("%s: internal: freed extents overlap the free list; commit refused", d->path);
		goto out_fin;
	}
	n.total_blocks = fin.total;
	n.free = fin.free;            /* moved */
	n.nfree = fin.nfree;
	fin.free = NULL;
	n.commit_ns = now_realtime_ns();
	n.meta_ext = mext;
	len = snap_encoded_size(n.nsegs, n.nvidx, n.nfree, n.user_len);
	n.meta_len = len;
	buf = calloc(1, len);
	if (!buf) {
		err = -ENOMEM;
		goto out_fin;
	}
	snap_encode(&n, buf);
	n.meta_hash = XXH3_64bits(buf, len);
#ifdef RVF_MUTANT_ACTIVE_SLOT
	n.slot = d->snap.slot;        /* mutant (make mutants): overwrite the live root */
#else
	n.slot = d->snap.slot ^ 1;    /* the slot not holding the newest root */
#endif

	memset(&root, 0, sizeof(root));
	root.format_version = RVF_FORMAT_VERSION;
	root.block_size = d->bs;
	root.slot_index = (uint32_t)n.slot;
	root.commit_seq = n.seq;
	root.meta_block = mext.start;
	root.meta_nblocks = mext.count;
	root.meta_len = len;
	root.meta_hash = n.meta_hash;
	root.total_blocks = n.total_blocks;
	memcpy(root.store_uuid, d->uuid, 16);
	root.created_ns = d->created_ns;
	root_seal(&root);

	{
		struct iovec mv = { .iov_base = buf, .iov_len = len };
		err = d->io->ops->commit(d->io, &mv, 1, blk_off(d, mext.start), &root, sizeof(root),
					 (uint64_t)n.slot * RVF_ROOT_SLOT_STRIDE);
	}
	if (err) {
		dir_poison(d, err, "commit");
		goto out_fin;
	}
	/* Durable. Publish. */
	snap_release(&d->snap);
	d->snap = n;
	memset(&n, 0, sizeof(n));
	d->max_seq = d->snap.seq;
	dir_repin(d);
	if (trimmed) {
		int terr = d->io->ops->truncate(d->io, blk_off(d, d->snap.total_blocks));

		if (terr)
			log_warn("%s: could not trim %llu free tail blocks: %s", d->path,
				 (unsigned long long)trimmed, strerror(-terr));
	}
out_fin:
	alloc_release(&fin);
	free(buf);
out_snap:
	snap_release(&n);
	alloc_release(&freed);
out_txn:
	dir_txn_end(d);
	return err;
}

