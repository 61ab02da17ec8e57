/*
 * storage/dir.c - the single-file directory (include/rvf/dir.h).
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
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "common/log.h"
#include "io/io.h"
#include "storage/alloc.h"
#include "storage/lock.h"
#include "storage/snapshot.h"

#define DEFAULT_WRITE_TIMEOUT_MS 5000u

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

/* ---- small helpers -------------------------------------------------------- */

static uint64_t blk_off(const struct rvf_dir *d, uint64_t block)
{
	return RVF_DATA_START + block * d->bs;
}

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

static void txn_end(struct rvf_dir *d);
static void repin(struct rvf_dir *d);

/* Also ends the transaction: nothing of it can commit any more, and its
 * writer lock must not keep other processes waiting until close. */
static int poison(struct rvf_dir *d, int err, const char *what)
{
	if (!d->poison) {
		d->poison = err ? err : -EIO;
		log_error("%s: %s failed (%s); handle poisoned: further writes fail, reads "
			  "serve the last commit; close and reopen to recover",
			  d->path, what, strerror(-d->poison));
	}
	if (d->txn.active)
		txn_end(d);
	if (d->hold) {
		/* pin what reads still serve, then let other writers in */
		d->hold = 0;
		repin(d);
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

static void meta_to_seg(struct rvf_meta_seg *s, const struct rvf_meta_vindex *v)
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

static struct extent seg_extent(const struct rvf_dir *d, const struct rvf_meta_seg *e)
{
	return (struct extent){ e->start_block, seg_nblocks(e->payload_len, d->bs) };
}

static struct rvf_meta_seg *find_seg(struct rvf_meta_seg *a, size_t n, uint64_t id)
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

static struct rvf_meta_vindex *find_vidx(struct rvf_meta_vindex *a, size_t n, uint32_t f)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].field_id == f)
			return &a[i];
	return NULL;
}

/* ---- loading a snapshot from disk ------------------------------------------ */

struct root_pick {
	struct rvf_root_slot slot[2];
	int status[2];
	const char *why[2];
};

static int read_roots(struct rvf_dir *d, struct root_pick *rp)
{
	uint8_t buf[RVF_DATA_START];
	int err = io_pread(d->io, buf, sizeof(buf), 0);

	if (err == -ENODATA)
		return log_fail(-ENOEXEC, "%s: file is shorter than the rvf header (%u bytes); "
				"not an rvf store or truncated", d->path, RVF_DATA_START);
	if (err)
		return log_fail(err, "%s: cannot read root slots: %s", d->path, strerror(-err));
	for (int i = 0; i < 2; i++) {
		memcpy(&rp->slot[i], buf + (size_t)i * RVF_ROOT_SLOT_STRIDE, sizeof(rp->slot[i]));
		rp->status[i] = root_check(&rp->slot[i], i, &rp->why[i]);
	}
	return 0;
}

/* Read and decode the snapshot a sound root slot names. */
static int load_snap(struct rvf_dir *d, const struct rvf_root_slot *r, int slot, struct snap *out,
		     char *why, size_t whylen)
{
	uint8_t *buf;
	int err;

	if (r->meta_len < sizeof(struct rvf_meta_hdr) ||
	    r->meta_len > r->meta_nblocks * (uint64_t)r->block_size ||
	    r->meta_nblocks > r->total_blocks || r->meta_block > r->total_blocks - r->meta_nblocks) {
		snprintf(why, whylen, "root names a snapshot outside the file");
		return -EUCLEAN;
	}
	buf = malloc(r->meta_len);
	if (!buf)
		return -ENOMEM;
	err = io_pread(d->io, buf, r->meta_len, RVF_DATA_START + r->meta_block * r->block_size);
	if (err == -ENODATA) {
		snprintf(why, whylen, "snapshot lies past the end of the file (truncated)");
		err = -EUCLEAN;
	} else if (err) {
		snprintf(why, whylen, "cannot read snapshot: %s", strerror(-err));
	} else if (XXH3_64bits(buf, r->meta_len) != r->meta_hash) {
		snprintf(why, whylen, "snapshot checksum mismatch");
		err = -EBADMSG;
	} else {
		err = snap_decode(buf, r->meta_len, r->commit_seq, r->block_size,
				  (struct extent){ r->meta_block, r->meta_nblocks }, out, why, whylen);
		if (!err && out->total_blocks != r->total_blocks) {
			snprintf(why, whylen, "snapshot and root disagree on total_blocks");
			snap_release(out);
			err = -EUCLEAN;
		}
	}
	if (!err) {
		out->meta_hash = r->meta_hash;
		out->slot = slot;
	}
	free(buf);
	return err;
}

/*
 * Find the newest loadable snapshot. On success *out holds it and d's
 * geometry and max_seq are set. Errors name every reason a slot was refused.
 */
static int load_newest(struct rvf_dir *d, struct snap *out)
{
	struct root_pick rp;
	char why[2][160] = { "", "" };
	int order[2], err, tried = 0;

	err = read_roots(d, &rp);
	if (err)
		return err;
	if (rp.status[0] == -ENOEXEC && rp.status[1] == -ENOEXEC) {
		uint8_t m[4];
		memcpy(m, &rp.slot[0], 4);
		if (!memcmp(m, "SFVR", 4))
			return log_fail(-ENOEXEC, "%s: this is a file written by the Rust RVF runtime, "
					"not an rvf store; convert it with `rvf import`", d->path);
		return log_fail(-ENOEXEC, "%s: not an rvf store (no root magic)", d->path);
	}
	for (int i = 0; i < 2; i++)
		if (rp.status[i] == -ENOTSUP)
			return log_fail(-ENOTSUP, "%s: root slot %c %s (format %u; this rvf reads %u)",
					d->path, 'A' + i, rp.why[i], rp.slot[i].format_version,
					RVF_FORMAT_VERSION);
	/* newest first */
	int first = rp.status[0] == 0 && (rp.status[1] || rp.slot[0].commit_seq > rp.slot[1].commit_seq) ? 0 : 1;
	order[0] = first;
	order[1] = first ^ 1;
	d->max_seq = 0;
	for (int i = 0; i < 2; i++)
		if (rp.status[i] == 0 && rp.slot[i].commit_seq > d->max_seq)
			d->max_seq = rp.slot[i].commit_seq;
	err = -EUCLEAN;
	for (int k = 0; k < 2; k++) {
		int i = order[k];
		if (rp.status[i]) {
			snprintf(why[i], sizeof(why[i]), "%s", rp.why[i]);
			continue;
		}
		tried++;
		err = load_snap(d, &rp.slot[i], i, out, why[i], sizeof(why[i]));
		if (err == -ENOMEM)
			return err;
		if (!err) {
			const struct rvf_root_slot *r = &rp.slot[i];
			if (k == 1 && rp.status[order[0]] != -ENOEXEC)
				log_warn("%s: root slot %c refused (%s); recovered commit %llu from slot %c",
					 d->path, 'A' + order[0], why[order[0]],
					 (unsigned long long)r->commit_seq, 'A' + i);
			d->bs = r->block_size;
			memcpy(d->uuid, r->store_uuid, 16);
			d->created_ns = r->created_ns;
			if (r->ro_compat & ~RVF_RO_COMPAT_KNOWN && !d->readonly) {
				snap_release(out);
				return log_fail(-ENOTSUP, "%s: uses read-only-compatible features this rvf "
						"cannot write; open it read-only", d->path);
			}
			return 0;
		}
	}
	(void)tried;
	return log_fail(err == -EBADMSG ? -EBADMSG : -EUCLEAN,
			"%s: no valid root: slot A: %s; slot B: %s", d->path,
			why[0][0] ? why[0] : "not tried", why[1][0] ? why[1] : "not tried");
}

/* ---- transactions ------------------------------------------------------------ */

static void txn_clear(struct rvf_dir *d)
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

static void txn_end(struct rvf_dir *d)
{
	txn_clear(d);
	if (!d->hold)
		unlock_writer(d->fd);
}

/*
 * Move this handle's pin to the snapshot it now sees (lock.h): the new pin is
 * taken before the old one goes, so the handle is never unpinned while it
 * can read. A sequence too large to pin keeps the load byte held instead,
 * which stops reuse altogether: safe, only wasteful. Handles that hold the
 * writer lock for life need no pin (no other writer exists).
 */
static void repin(struct rvf_dir *d)
{
	uint64_t seq = d->snap.seq;

	if (d->hold || (d->pinned && d->pin_seq == seq))
		return;
	if (lock_pin_seq(d->fd, seq) == 0) {
		if (d->pinned)
			unlock_pin_seq(d->fd, d->pin_seq);
		d->pinned = 1;
		d->pin_seq = seq;
		if (d->loading) {
			unlock_load(d->fd);
			d->loading = 0;
		}
		return;
	}
	if (!d->loading && lock_load(d->fd) == 0)
		d->loading = 1;
	if (!d->loading)
		log_warn("%s: cannot pin snapshot %llu; another writer may reuse its blocks",
			 d->path, (unsigned long long)seq);
}

/* Refresh to the newest commit if another handle has committed since. */
static int refresh(struct rvf_dir *d)
{
	struct root_pick rp;
	struct snap s;
	int err = read_roots(d, &rp);

	if (err)
		return err;
	int cur = d->snap.slot;
	if (rp.status[cur] == 0 && rp.slot[cur].commit_seq == d->snap.seq &&
	    !(rp.status[cur ^ 1] == 0 && rp.slot[cur ^ 1].commit_seq > d->snap.seq))
		return 0;
	memset(&s, 0, sizeof(s));
	err = load_newest(d, &s);
	if (err)
		return err;
	if (s.seq == d->snap.seq && s.slot == d->snap.slot) {
		snap_release(&s);
		return 0;
	}
	snap_release(&d->snap);
	d->snap = s;
	repin(d);
	return 1;
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
		err = refresh(d);
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

static void hash128(const struct iovec *iov, int iovcnt, uint8_t out[16])
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

	hash128(j->iov, j->iovcnt, j->out);
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
	hash128(iov, iovcnt, e->content_hash);
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
	memcpy(v + 1, iov, sizeof(*iov) * (size_t)iovcnt);
	err = d->io->ops->pwritev(d->io, v, iovcnt + 1, blk_off(d, ext.start));
	if (v != stackv)
		free(v);
out:
	if (err) {
		txn_drop_extent(d, ext);
		return poison(d, err, "segment write");
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
		txn_end(d);
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
	n.slot = d->snap.slot ^ 1;

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
		poison(d, err, "commit");
		goto out_fin;
	}
	/* Durable. Publish. */
	snap_release(&d->snap);
	d->snap = n;
	memset(&n, 0, sizeof(n));
	d->max_seq = d->snap.seq;
	repin(d);
	if (trimmed && ftruncate(d->fd, (off_t)blk_off(d, d->snap.total_blocks)))
		log_warn("%s: could not trim %llu free tail blocks: %s", d->path,
			 (unsigned long long)trimmed, strerror(errno));
out_fin:
	alloc_release(&fin);
	free(buf);
out_snap:
	snap_release(&n);
	alloc_release(&freed);
out_txn:
	txn_end(d);
	return err;
}

/* ---- reading -------------------------------------------------------------------- */

static int read_entry(struct rvf_dir *d, const struct rvf_meta_seg *e, void **out, size_t *outlen)
{
	struct rvf_seg_hdr want, got;
	uint8_t hash[16];
	void *buf = NULL;
	int err;

	if (e->payload_len > SIZE_MAX - 64)
		return -ENOMEM;
	if (posix_memalign(&buf, 64, e->payload_len ? e->payload_len : 1))
		return -ENOMEM;
	struct iovec v[2] = {
		{ .iov_base = &got, .iov_len = sizeof(got) },
		{ .iov_base = buf, .iov_len = e->payload_len },
	};
	err = d->io->ops->preadv(d->io, v, 2, blk_off(d, e->start_block));
	if (err) {
		free(buf);
		if (err == -ENODATA)
			return log_fail(-EUCLEAN, "%s: segment %llu lies past the end of the file "
					"(truncated)", d->path, (unsigned long long)e->segment_id);
		return log_fail(err, "%s: reading segment %llu: %s", d->path,
				(unsigned long long)e->segment_id, strerror(-err));
	}
	seg_hdr_from_entry(&want, e);
	if (memcmp(&want, &got, sizeof(want))) {
		free(buf);
		return log_fail(-EBADMSG, "%s: segment %llu header does not match the directory "
				"(damaged or overwritten)", d->path, (unsigned long long)e->segment_id);
	}
	struct iovec pv = { .iov_base = buf, .iov_len = e->payload_len };
	hash128(&pv, 1, hash);
	if (memcmp(hash, e->content_hash, 16)) {
		free(buf);
		return log_fail(-EBADMSG, "%s: segment %llu (type 0x%02x, %llu bytes) checksum "
				"mismatch", d->path, (unsigned long long)e->segment_id, e->seg_type,
				(unsigned long long)e->payload_len);
	}
	if (out) {
		*out = buf;
		*outlen = e->payload_len;
	} else {
		free(buf);
	}
	return 0;
}

int rvf_dir_read_segment(struct rvf_dir *d, uint64_t id, void **buf, size_t *len)
{
	const struct rvf_meta_seg *e;

	if (!d || !buf || !len)
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	return read_entry(d, e, buf, len);
}

int rvf_dir_verify_segment(struct rvf_dir *d, uint64_t id)
{
	const struct rvf_meta_seg *e;

	if (!d)
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	return read_entry(d, e, NULL, NULL);
}

int rvf_dir_read_segment_range(struct rvf_dir *d, uint64_t id, uint64_t off, void *buf, size_t len)
{
	const struct rvf_meta_seg *e;
	int err;

	if (!d || (len && !buf))
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	if (off > e->payload_len || len > e->payload_len - off)
		return -ERANGE;
	if (!len)
		return 0;
	err = io_pread(d->io, buf, len, blk_off(d, e->start_block) + RVF_SEG_HEADER_SIZE + off);
	if (err == -ENODATA)
		return log_fail(-EUCLEAN, "%s: segment %llu lies past the end of the file",
				d->path, (unsigned long long)id);
	return err;
}

static void fill_public(const struct rvf_dir *d, struct rvf_dir_segment *o, const struct rvf_meta_seg *e)
{
	memset(o, 0, sizeof(*o));
	o->id = e->segment_id;
	o->type = e->seg_type;
	o->flags = e->flags;
	o->payload_len = e->payload_len;
	o->generation = e->generation;
	o->timestamp_ns = e->timestamp_ns;
	o->file_offset = blk_off(d, e->start_block);
	memcpy(o->content_hash, e->content_hash, 16);
}

int rvf_dir_segments(struct rvf_dir *d, struct rvf_dir_segment **out, size_t *n)
{
	struct rvf_dir_segment *a = NULL;

	if (!d || !out || !n)
		return -EINVAL;
	if (d->snap.nsegs) {
		a = malloc(d->snap.nsegs * sizeof(*a));
		if (!a)
			return -ENOMEM;
		for (size_t i = 0; i < d->snap.nsegs; i++)
			fill_public(d, &a[i], &d->snap.segs[i]);
	}
	*out = a;
	*n = d->snap.nsegs;
	return 0;
}

int rvf_dir_segment_info(struct rvf_dir *d, uint64_t id, struct rvf_dir_segment *out)
{
	const struct rvf_meta_seg *e;

	if (!d || !out)
		return -EINVAL;
	e = find_seg(d->snap.segs, d->snap.nsegs, id);
	if (!e)
		return -ENOENT;
	fill_public(d, out, e);
	return 0;
}

int rvf_dir_read_vector_index(struct rvf_dir *d, uint32_t field, void **buf, size_t *len)
{
	const struct rvf_meta_vindex *v;
	struct rvf_meta_seg s;

	if (!d || !buf || !len)
		return -EINVAL;
	v = find_vidx(d->snap.vidx, d->snap.nvidx, field);
	if (!v)
		return -ENOENT;
	meta_to_seg(&s, v);
	return read_entry(d, &s, buf, len);
}

int rvf_dir_vector_index_fields(struct rvf_dir *d, uint32_t **fields, size_t *n)
{
	uint32_t *a = NULL;

	if (!d || !fields || !n)
		return -EINVAL;
	if (d->snap.nvidx) {
		a = malloc(d->snap.nvidx * sizeof(*a));
		if (!a)
			return -ENOMEM;
		for (size_t i = 0; i < d->snap.nvidx; i++)
			a[i] = d->snap.vidx[i].field_id;
	}
	*fields = a;
	*n = d->snap.nvidx;
	return 0;
}

int rvf_dir_user_metadata(struct rvf_dir *d, void **data, size_t *len)
{
	if (!d || !data || !len)
		return -EINVAL;
	*data = NULL;
	*len = d->snap.user_len;
	if (d->snap.user_len) {
		*data = malloc(d->snap.user_len);
		if (!*data)
			return -ENOMEM;
		memcpy(*data, d->snap.user, d->snap.user_len);
	}
	return 0;
}

int rvf_dir_refresh(struct rvf_dir *d)
{
	if (!d)
		return -EINVAL;
	if (d->txn.active)
		return -EBUSY;
	return refresh(d);
}

/*
 * Plain pread(2) on the descriptor, not the I/O backend: a ring is not
 * thread-safe and this must be callable beside reads on other threads. It
 * touches no state of d (the fd is fixed for the handle's life).
 */
int rvf_dir_peek_generation(const struct rvf_dir *d, uint64_t *seq)
{
	uint64_t best = 0;

	if (!d || !seq)
		return -EINVAL;
	for (int i = 0; i < 2; i++) {
		struct rvf_root_slot r;
		const char *why;
		ssize_t n = pread(d->fd, &r, sizeof(r), (off_t)i * RVF_ROOT_SLOT_STRIDE);

		if (n < 0)
			return -errno;
		if ((size_t)n == sizeof(r) && root_check(&r, i, &why) == 0 && r.commit_seq > best)
			best = r.commit_seq;
	}
	if (!best)
		return -EUCLEAN;
	*seq = best;
	return 0;
}

int rvf_dir_reuse_blocked(struct rvf_dir *d)
{
	if (!d)
		return -EINVAL;
	return lock_pins_below(d->fd, d->snap.seq);
}

uint64_t rvf_dir_generation(const struct rvf_dir *d) { return d ? d->snap.seq : 0; }
uint64_t rvf_dir_total_blocks(const struct rvf_dir *d) { return d ? d->snap.total_blocks : 0; }
uint32_t rvf_dir_block_size(const struct rvf_dir *d) { return d ? d->bs : 0; }
const char *rvf_dir_path(const struct rvf_dir *d) { return d ? d->path : NULL; }
const uint8_t *rvf_dir_uuid(const struct rvf_dir *d) { return d ? d->uuid : NULL; }
int rvf_dir_is_readonly(const struct rvf_dir *d) { return d ? d->readonly : 1; }
int rvf_dir_poisoned(const struct rvf_dir *d) { return d ? d->poison : 0; }
const char *rvf_dir_io_name(const struct rvf_dir *d) { return d && d->io ? d->io->ops->name : NULL; }

uint64_t rvf_dir_free_block_count(const struct rvf_dir *d)
{
	uint64_t n = 0;

	if (!d)
		return 0;
	for (size_t i = 0; i < d->snap.nfree; i++)
		n += d->snap.free[i].count;
	return n;
}

int64_t rvf_dir_file_size(const struct rvf_dir *d)
{
	struct stat st;

	if (!d)
		return -EINVAL;
	if (fstat(d->fd, &st))
		return -errno;
	return st.st_size;
}

void rvf_dir_set_write_timeout(struct rvf_dir *d, uint32_t ms)
{
	if (d)
		d->write_timeout_ms = ms;
}

/* ---- check ----------------------------------------------------------------------- */

struct ck_span {
	uint64_t start, end;
	const char *what;
	uint64_t id;
};

static int ck_cmp(const void *a, const void *b)
{
	const struct ck_span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

int rvf_dir_check(struct rvf_dir *d, struct rvf_dir_check_report *rep)
{
	struct rvf_dir_check_report r;
	struct root_pick rp;
	struct ck_span *sp;
	size_t ns = 0;
	uint64_t covered = 0;
	int err;

	if (!d)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.total_blocks = d->snap.total_blocks;
	err = read_roots(d, &rp);
	if (err)
		return err;
	if (rp.status[d->snap.slot] || rp.slot[d->snap.slot].commit_seq < d->snap.seq) {
		log_error("%s: check: the root slot of commit %llu is no longer sound (%s)", d->path,
			  (unsigned long long)d->snap.seq, rp.why[d->snap.slot] ? rp.why[d->snap.slot] : "replaced");
		r.problems++;
	}
	if (!rp.status[d->snap.slot] && rp.slot[d->snap.slot].commit_seq == d->snap.seq) {
		/* the snapshot as it is on disk now, not as it was loaded */
		struct snap again;
		char why[160] = "";

		memset(&again, 0, sizeof(again));
		err = load_snap(d, &rp.slot[d->snap.slot], d->snap.slot, &again, why, sizeof(why));
		if (err == -ENOMEM)
			return err;
		if (err) {
			log_error("%s: check: snapshot of commit %llu: %s", d->path,
				  (unsigned long long)d->snap.seq, why);
			r.problems++;
		}
		snap_release(&again);
	}
	if (rp.status[d->snap.slot ^ 1] && rp.status[d->snap.slot ^ 1] != -ENOENT)
		/* an older root torn by a crash is a state recovery allows (the
		 * next commit overwrites it): worth a note, not a problem */
		log_info("%s: check: the other root slot is not sound (%s)", d->path,
			 rp.why[d->snap.slot ^ 1] ? rp.why[d->snap.slot ^ 1] : "unreadable");
	sp = malloc((d->snap.nsegs + d->snap.nvidx + d->snap.nfree + 1) * sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	for (size_t i = 0; i < d->snap.nsegs; i++) {
		const struct rvf_meta_seg *e = &d->snap.segs[i];
		struct extent x = seg_extent(d, e);
		sp[ns++] = (struct ck_span){ x.start, x.start + x.count, "segment", e->segment_id };
		r.used_blocks += x.count;
		if (read_entry(d, e, NULL, NULL))
			r.problems++;
		else
			r.bytes_verified += e->payload_len;
		r.segments++;
	}
	for (size_t i = 0; i < d->snap.nvidx; i++) {
		struct rvf_meta_seg s;
		meta_to_seg(&s, &d->snap.vidx[i]);
		struct extent x = seg_extent(d, &s);
		sp[ns++] = (struct ck_span){ x.start, x.start + x.count, "vector index", s.segment_id };
		r.used_blocks += x.count;
		if (read_entry(d, &s, NULL, NULL))
			r.problems++;
		else
			r.bytes_verified += s.payload_len;
		r.vector_indexes++;
	}
	sp[ns++] = (struct ck_span){ d->snap.meta_ext.start, d->snap.meta_ext.start + d->snap.meta_ext.count,
				     "snapshot", d->snap.seq };
	r.used_blocks += d->snap.meta_ext.count;
	for (size_t i = 0; i < d->snap.nfree; i++) {
		const struct extent *f = &d->snap.free[i];
		sp[ns++] = (struct ck_span){ f->start, f->start + f->count, "free extent", i };
		r.free_blocks += f->count;
		if (i && f->start <= d->snap.free[i - 1].start + d->snap.free[i - 1].count) {
			log_error("%s: check: free list not sorted and coalesced at %zu", d->path, i);
			r.problems++;
		}
	}
	qsort(sp, ns, sizeof(*sp), ck_cmp);
	for (size_t i = 0; i < ns; i++) {
		if (sp[i].end > d->snap.total_blocks) {
			log_error("%s: check: %s %llu ends past total_blocks", d->path, sp[i].what,
				  (unsigned long long)sp[i].id);
			r.problems++;
		}
		if (i && sp[i].start < sp[i - 1].end) {
			log_error("%s: check: %s %llu overlaps %s %llu at block %llu", d->path,
				  sp[i].what, (unsigned long long)sp[i].id, sp[i - 1].what,
				  (unsigned long long)sp[i - 1].id, (unsigned long long)sp[i].start);
			r.problems++;
		}
		covered += sp[i].end - sp[i].start;
	}
	if (covered != d->snap.total_blocks || r.used_blocks + r.free_blocks != d->snap.total_blocks) {
		log_error("%s: check: used %llu + free %llu blocks != total %llu (leaked or double-counted)",
			  d->path, (unsigned long long)r.used_blocks, (unsigned long long)r.free_blocks,
			  (unsigned long long)d->snap.total_blocks);
		r.problems++;
	}
	free(sp);
	if (rep)
		*rep = r;
	return r.problems ? -EUCLEAN : 0;
}

/* ---- open / create / close ------------------------------------------------------ */

static int dir_new(const char *path, const struct rvf_dir_opts *o, int readonly, struct rvf_dir **out)
{
	struct rvf_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->path = strdup(path);
	if (!d->path) {
		free(d);
		return -ENOMEM;
	}
	d->fd = -1;
	d->readonly = readonly;
	d->write_timeout_ms = o && o->write_timeout_ms ? o->write_timeout_ms : DEFAULT_WRITE_TIMEOUT_MS;
	*out = d;
	return 0;
}

void rvf_dir_close(struct rvf_dir *d)
{
	if (!d)
		return;
	if (d->txn.active)
		txn_clear(d);
	io_close(d->io);
	if (d->fd >= 0)
		close(d->fd);   /* drops this description's OFD locks */
	snap_release(&d->snap);
	free(d->path);
	free(d);
}

/* Common tail of open and create: backend, locks, recovery. */
static int dir_attach(struct rvf_dir *d, const struct rvf_dir_opts *o)
{
	int err = io_open(d->fd, o ? o->io : RVF_IO_AUTO, &d->io);

	if (err)
		return log_fail(err, "%s: cannot set up I/O: %s", d->path, strerror(-err));
	if (!d->readonly && o && o->hold_write_lock) {
		err = lock_writer(d->fd, d->write_timeout_ms, d->path);
		if (err)
			return err;
		d->hold = 1;
	} else {
		/* hold the load byte until the snapshot read is pinned */
		err = lock_load(d->fd);
		if (err)
			return log_fail(err, "%s: cannot take a reader pin: %s", d->path, strerror(-err));
		d->loading = 1;
	}
	err = load_newest(d, &d->snap);
	if (!err)
		repin(d);
	return err;
}

static int open_common(const char *path, const struct rvf_dir_opts *o, int readonly, struct rvf_dir **out)
{
	struct rvf_dir *d = NULL;
	struct stat st;
	int err;

	if (!path || !*path || !out)
		return -EINVAL;
	err = dir_new(path, o, readonly, &d);
	if (err)
		return err;
	/* O_NONBLOCK: a FIFO at the path must not hang the open (refused below) */
	d->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (d->fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			log_error("%s: no such file", path);
		else if (err == -EACCES)
			log_error("%s: permission denied%s", path, readonly ? "" :
				  " (open it read-only if you only need to read)");
		else if (err == -EISDIR)
			log_error("%s: is a directory, not an rvf store", path);
		else
			log_error("%s: cannot open: %s", path, strerror(-err));
		goto fail;
	}
	if (fstat(d->fd, &st)) {
		err = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		err = log_fail(-EISDIR, "%s: is a directory, not an rvf store", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = log_fail(-EINVAL, "%s: not a regular file", path);
		goto fail;
	}
	if (fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) & ~O_NONBLOCK)) {
		err = -errno;
		goto fail;
	}
	if (st.st_size == 0) {
		err = log_fail(-ENOEXEC, "%s: empty file, not an rvf store", path);
		goto fail;
	}
	err = dir_attach(d, o);
	if (err)
		goto fail;
	*out = d;
	return 0;
fail:
	rvf_dir_close(d);
	return err;
}

int rvf_dir_open(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out)
{
	return open_common(path, o, 0, out);
}

int rvf_dir_open_readonly(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out)
{
	return open_common(path, o, 1, out);
}

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, err = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		err = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return err;
}

/* Write the first commit (an empty snapshot in block 0, root slot A). */
static int write_initial(int fd, const char *path, uint32_t bs, enum rvf_io_kind kind)
{
	struct snap s;
	struct rvf_root_slot root;
	struct io *io = NULL;
	uint8_t *buf;
	size_t len;
	int err;

	memset(&s, 0, sizeof(s));
	s.seq = 1;
	s.total_blocks = 1;
	s.commit_ns = now_realtime_ns();
	len = snap_encoded_size(0, 0, 0, 0);
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	snap_encode(&s, buf);
	memset(&root, 0, sizeof(root));
	root.format_version = RVF_FORMAT_VERSION;
	root.block_size = bs;
	root.slot_index = 0;
	root.commit_seq = 1;
	root.meta_block = 0;
	root.meta_nblocks = 1;
	root.meta_len = len;
	root.meta_hash = XXH3_64bits(buf, len);
	root.total_blocks = 1;
	if (getrandom(root.store_uuid, sizeof(root.store_uuid), 0) != sizeof(root.store_uuid)) {
		free(buf);
		return -errno;
	}
	root.created_ns = s.commit_ns;
	root_seal(&root);
	err = io_open(fd, kind, &io);
	if (!err) {
		struct iovec v = { .iov_base = buf, .iov_len = len };
		err = io->ops->commit(io, &v, 1, RVF_DATA_START, &root, sizeof(root), 0);
		io_close(io);
	}
	if (err)
		log_error("%s: writing the initial commit failed: %s", path, strerror(-err));
	free(buf);
	return err;
}

int rvf_dir_create(const char *path, const struct rvf_dir_opts *o, struct rvf_dir **out)
{
	struct rvf_dir *d = NULL;
	uint32_t bs = o && o->block_size ? o->block_size : RVF_DEFAULT_BLOCK_SIZE;
	mode_t mode = o && o->mode ? (mode_t)o->mode : 0644;
	char *tmp = NULL, *dcopy = NULL;
	int err;

	if (!path || !*path || !out)
		return -EINVAL;
	if (bs < RVF_MIN_BLOCK_SIZE || bs > RVF_MAX_BLOCK_SIZE || (bs & (bs - 1)))
		return log_fail(-EINVAL, "%s: block size %u is not a power of two in 4 KiB..1 MiB",
				path, bs);
	if (!access(path, F_OK))
		return log_fail(-EEXIST, "%s: already exists", path);
	err = dir_new(path, o, 0, &d);
	if (err)
		return err;
	/* Build the file where nobody can see it, then link it into place: a
	 * crash during create leaves no half-made store behind. */
	dcopy = strdup(path);
	if (!dcopy) {
		err = -ENOMEM;
		goto fail;
	}
	d->fd = open(dirname(dcopy), O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (d->fd < 0) {
		if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0) {
			tmp = NULL;
			err = -ENOMEM;
			goto fail;
		}
		d->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	}
	if (d->fd < 0) {
		err = -errno;
		log_error("%s: cannot create: %s", path, strerror(-err));
		goto fail;
	}
	err = write_initial(d->fd, path, bs, o ? o->io : RVF_IO_AUTO);
	if (err)
		goto fail_tmp;
	if (tmp) {
		err = link(tmp, path) ? -errno : 0;
		unlink(tmp);
	} else {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", d->fd);
		err = linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) ? -errno : 0;
	}
	if (err) {
		if (err == -EEXIST)
			log_error("%s: already exists", path);
		else
			log_error("%s: cannot create: %s", path, strerror(-err));
		goto fail;
	}
	err = fsync_parent(path);
	if (err) {
		log_error("%s: fsync of the parent directory failed: %s", path, strerror(-err));
		goto fail;
	}
	err = dir_attach(d, o);
	if (err)
		goto fail;
	free(dcopy);
	free(tmp);
	*out = d;
	return 0;
fail_tmp:
	if (tmp)
		unlink(tmp);
fail:
	free(dcopy);
	free(tmp);
	rvf_dir_close(d);
	return err;
}
