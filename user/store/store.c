/*
 * store/store.c - the store (include/rvf/rvf.h): lifecycle (create, open,
 * close), the store header, and the on-disk record of a store inside one
 * rvf_dir file. The rest of the core, by what it does:
 *   store_codec.c   VEC / JOURNAL / META segment payload codecs
 *   store_replay.c  replay: applying segments to memory, the open-time load
 *                   (checkpoint, catch-up, counters)
 *   store_ckpt.c    graph checkpoints (build, write, when to take one)
 * and store_write.c, store_query.c, store_compact.c, store_refresh.c,
 * store_extra.c, store_cow.c beside them (see each).
 *
 * What is on disk (all inside the dir's committed snapshot):
 *
 *   user metadata   struct store_hdr (store_internal.h): dimension, metric,
 *                   HNSW parameters, profile, identity, lineage record, the
 *                   next segment id, live/deleted counters and ckpt_seg_id.
 *                   Versioned, XXH3-64 checked, decoded strictly.
 *   VEC  (0x01)     one per ingest batch: vec_hdr | ids u64[n] | pad to 64 |
 *                   rows f32[n][dim] (64-byte aligned in the file). Ids are
 *                   unique within a segment; a later segment's row replaces an
 *                   earlier one for the same id (upsert).
 *   META (0x07)     follows its batch's VEC segment: meta_seg codec records,
 *                   SET for vectors with metadata, CLEAR for an upsert that
 *                   drops metadata.
 *   JOURNAL (0x04)  one per delete: the ids tombstoned (all live at the time).
 *   vector index 0  the graph checkpoint: ckpt_hdr | rvf_hnsw_save blob
 *                   without live vectors (they come from VEC segments); a
 *                   COW branch's is a delta against its parent's graph
 *                   (CKPT_F_DELTA, store_cow.c).
 *   anything else   KERNEL, EBPF, types we do not know: kept as they are.
 *
 * Invariants
 *   1. Segment ids are handed out from hdr.next_seg_id, so they are
 *      monotonic: replaying VEC/META/JOURNAL segments in id order rebuilds
 *      the store's logical state (rows, tombstones, metadata).
 *   2. The graph checkpoint reflects exactly the segments with id <=
 *      hdr.ckpt_seg_id (the same value is in the checkpoint's own header).
 *      A data commit never touches the checkpoint; a checkpoint commit never
 *      touches data. Either can be lost to a crash without harm: open
 *      inserts the rows (and applies the tombstones) of segments newer than
 *      the checkpoint ("catch-up"), so the graph is never rebuilt at open
 *      except from segments no checkpoint has covered yet.
 *   3. Every mutator is one rvf_dir_commit (compaction: one for the rewrite,
 *      then optional relocation commits that change no content). Memory is
 *      updated only after the commit is durable; if that update fails the
 *      handle is marked broken (disk is right, memory is not; reopen).
 *   4. hdr.live/hdr.deleted equal what replay computes; open checks them.
 *   5. A META record comes after the VEC row it describes (segment order);
 *      compaction, which moves rows to new segments, therefore rewrites the
 *      metadata after them (store_compact.c).
 *
 * Create: a temporary file next to the path gets the dir's first commit and
 * then the header commit, and is linked into place: the path never names a
 * store without a header.
 *
 * Open:
 *
 *   dir open -> header -> segments <= ckpt: ids, metadata, tombstones (no
 *   vectors read) -> load graph, vectors of live nodes streamed from their
 *   VEC segments (get_vec, small segment cache, fed by a reader thread,
 *   prefetch.c) -> segments > ckpt: full replay incl. graph inserts/deletes
 *   -> counters checked.
 *
 * Checkpoints: at close, and after an ingest/delete once the vectors (or
 * deletes) since the last one reach max(65536, live / 4) (or
 * opts.checkpoint_every), which bounds the catch-up work after a crash.
 *
 * Handle states: OPEN (writable or read-only) -> [broken] -> CLOSED. The
 * writable handle holds the dir's write lock for its whole life. A
 * read-only handle moves to newer commits with rvf_store_refresh
 * (store_refresh.c: the catch-up below on the new segments, or this open
 * path again), and is STALE (reads -ESTALE) while a refresh that failed
 * half-way has left its memory matching no commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/log.h"
#include "codec/identity.h"
#include "store/store_internal.h"

uint64_t store_row_bytes(const struct rvf_store *s)
{
	return 8 + (uint64_t)s->hdr.dimension * 4;
}

void store_version_bump(struct rvf_store *s)
{
	static uint64_t next;

	s->version = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
}

int store_writable(const struct rvf_store *s)
{
	if (!s)
		return -EINVAL;
	if (s->readonly)
		return log_fail(-EROFS, "%s: store is open read-only", s->path);
	if (s->hdr.flags & STORE_F_FROZEN)
		return log_fail(-EROFS, "%s: store is frozen (since epoch %llu): it cannot change; "
				"branch it (rvf_store_branch) to write", s->path,
				(unsigned long long)s->hdr.frozen_epoch);
	if (s->broken)
		return log_fail(-EIO, "%s: store handle is broken by an earlier failure (%s); reopen it",
				s->path, strerror(-s->broken));
	return 0;
}

/* ---- header ------------------------------------------------------------------- */

static void hdr_seal(struct store_hdr *h)
{
	memcpy(h->magic, STORE_HDR_MAGIC, 8);
	h->version = STORE_HDR_VERSION;
	h->length = STORE_HDR_SIZE;
	h->hash = XXH3_64bits(h, offsetof(struct store_hdr, hash));
}

int store_hdr_decode(const char *path, const void *buf, size_t len, struct store_hdr *out)
{
	struct store_hdr h;

	if (len == 0)
		return log_fail(-EUCLEAN, "%s: no store header (an rvf file whose create did not finish?)",
				path);
	if (len < 16 || memcmp(buf, STORE_HDR_MAGIC, 8))
		return log_fail(-EUCLEAN, "%s: the file's user metadata is not an rvf store header", path);
	memcpy(&h, buf, len < sizeof(h) ? len : sizeof(h));
	if (h.version > STORE_HDR_VERSION)
		return log_fail(-ENOTSUP, "%s: store header version %u is newer than this rvf (%u)",
				path, h.version, STORE_HDR_VERSION);
	if (h.version != STORE_HDR_VERSION || len != STORE_HDR_SIZE || h.length != STORE_HDR_SIZE)
		return log_fail(-EUCLEAN, "%s: store header has version %u and length %zu (want %u, %u)",
				path, h.version, len, STORE_HDR_VERSION, STORE_HDR_SIZE);
	if (XXH3_64bits(&h, offsetof(struct store_hdr, hash)) != h.hash)
		return log_fail(-EBADMSG, "%s: store header checksum mismatch", path);
	if (h.dimension < 1 || h.dimension > 65535 || h.metric > RVF_METRIC_COSINE || h.M < 2 ||
	    h.M > 255 || !h.ef_construction || h.quant > RVF_HNSW_QUANT_SQ8 ||
	    h.profile >= RVF_PROFILE_COUNT || (h.flags & ~(uint64_t)STORE_F_KNOWN) || h.reserved0 ||
	    (!(h.flags & STORE_F_FROZEN) && h.frozen_epoch) || !h.next_seg_id || h.ckpt_seg_id >= h.next_seg_id ||
	    h.import_max_seg_id >= h.next_seg_id)
		return log_fail(-EUCLEAN, "%s: store header has an invalid field", path);
	if (file_identity_check(&h.identity))
		return log_fail(-EUCLEAN, "%s: store header has an invalid file identity", path);
	if ((h.flags & STORE_F_LINEAGE) && lineage_record_check(&h.lineage))
		return log_fail(-EUCLEAN, "%s: store header has an invalid lineage record", path);
	if (!(h.flags & STORE_F_LINEAGE)) {
		static const struct rvf_lineage_record zero;
		if (memcmp(&h.lineage, &zero, sizeof(zero)))
			return log_fail(-EUCLEAN, "%s: store header has lineage bytes without the flag", path);
	}
	*out = h;
	return 0;
}

int store_hdr_put(struct rvf_store *s)
{
	hdr_seal(&s->hdr);
	return rvf_dir_set_user_metadata(s->dir, &s->hdr, sizeof(s->hdr));
}

int store_commit(struct rvf_store *s, const char *what)
{
	int err = rvf_dir_commit(s->dir);

	if (err) {
		rvf_dir_rollback(s->dir);
		log_error("%s: %s: commit failed: %s", s->path, what, rvf_strerror(err));
	}
	return err;
}


/* ---- handle ------------------------------------------------------------------------ */

int store_new_handle(const char *path, struct rvf_store **out)
{
	struct rvf_store *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return -ENOMEM;
	}
	fcache_init(&s->fcache);
	store_version_bump(s);
	err = meta_store_new(&s->ms);
	if (!err)
		err = idmap_init(&s->map, 0);
	if (err) {
		store_free_handle(s);
		return err;
	}
	*out = s;
	return 0;
}

void store_free_handle(struct rvf_store *s)
{
	if (!s)
		return;
	fcache_release(&s->fcache);
	member_release(&s->mem);
	cow_release(&s->cow);
	rvf_hnsw_free(s->h);
	meta_store_free(s->ms);
	idmap_release(&s->map);
	free(s->segs.a);
	rvf_dir_close(s->dir);
	free(s->path);
	free(s);
}

static struct rvf_dir_opts dir_opts(const struct rvf_store_opts *o, bool hold)
{
	struct rvf_dir_opts d = { 0 };

	if (o) {
		d.write_timeout_ms = o->write_timeout_ms;
		d.io = o->io;
	}
	d.hold_write_lock = hold;
	return d;
}

static void runtime_opts(struct rvf_store *s, const struct rvf_store_opts *o)
{
	const char *env = getenv("RVF_CKPT_EVERY");

	s->threads = o ? o->threads : 0;
	s->ckpt_every = o ? o->checkpoint_every : 0;
	if (!s->ckpt_every && env && *env)
		s->ckpt_every = strtoull(env, NULL, 10);
}

int store_create_with(const char *path, const struct rvf_store_opts *o,
		      const struct rvf_file_identity *id, const struct rvf_lineage_record *lin,
		      uint64_t flags, uint8_t seg_type, const void *seg, size_t seg_len,
		      struct rvf_store **out)
{
	struct rvf_store *s = NULL;
	struct rvf_hnsw_opts ho = { 0 };
	struct rvf_dir_opts dopt;
	bool made = false;
	char *tmp = NULL;
	int err, profile;

	if (!path || !*path || !o || (!out && !seg_type))
		return -EINVAL;
	if (o->dimension < 1 || o->dimension > 65535)
		return log_fail(-EINVAL, "%s: dimension %u is not in 1..65535", path, o->dimension);
	if ((unsigned)o->metric > RVF_METRIC_COSINE)
		return log_fail(-EINVAL, "%s: unknown metric %d", path, (int)o->metric);
	if (o->M && (o->M < 2 || o->M > 255))
		return log_fail(-EINVAL, "%s: M %u is not in 2..255", path, o->M);
	if (o->quant > RVF_HNSW_QUANT_SQ8)
		return log_fail(-EINVAL, "%s: unknown quantisation %u", path, o->quant);
	if (o->profile < -1 || o->profile >= RVF_PROFILE_COUNT)
		return log_fail(-EINVAL, "%s: unknown profile %d", path, o->profile);
	profile = rvf_profile_from_path(path);
	if (profile < 0)
		profile = o->profile > 0 ? o->profile : RVF_PROFILE_GENERIC;

	err = store_new_handle(path, &s);
	if (err)
		return err;
	runtime_opts(s, o);
	ho.M = o->M;
	ho.ef_construction = o->ef_construction;
	ho.seed = o->seed;
	ho.threads = s->threads;
	ho.quant = o->quant;
	err = rvf_hnsw_new(o->dimension, o->metric, &ho, &s->h);
	if (err) {
		log_error("%s: cannot create the index: %s", path, rvf_strerror(err));
		goto fail;
	}
	rvf_hnsw_get_opts(s->h, &ho);
	memset(&s->hdr, 0, sizeof(s->hdr));
	s->hdr.dimension = o->dimension;
	s->hdr.metric = (uint32_t)o->metric;
	s->hdr.M = ho.M;
	s->hdr.ef_construction = ho.ef_construction;
	s->hdr.seed = ho.seed;
	s->hdr.quant = ho.quant ? ho.quant : RVF_HNSW_QUANT_SQ8;
	s->hdr.profile = (uint32_t)profile;
	s->hdr.next_seg_id = 1;
	s->hdr.flags = flags;
	if (id)
		s->hdr.identity = *id;
	else if ((err = file_identity_new(&s->hdr.identity)))
		goto fail;
	if (lin) {
		s->hdr.lineage = *lin;
		s->hdr.flags |= STORE_F_LINEAGE;
	}
	/* The store appears complete or not at all: it is built under a
	 * temporary name (header committed) and then linked into place. */
	if (!access(path, F_OK)) {
		err = log_fail(-EEXIST, "%s: already exists", path);
		goto fail;
	}
	if (asprintf(&tmp, "%s.creating-%d-%llx", path, (int)getpid(),
		     (unsigned long long)(now_mono_ns() & 0xffffffffffull)) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto fail;
	}
	dopt = dir_opts(o, true);
	err = rvf_dir_create(tmp, &dopt, &s->dir);
	if (err)
		goto fail;
	made = true;
	if (seg_type) {
		err = rvf_dir_write_segment(s->dir, s->hdr.next_seg_id, seg_type, seg, seg_len);
		if (err)
			goto fail;
		s->hdr.next_seg_id++;
	}
	err = store_hdr_put(s);
	if (!err)
		err = store_commit(s, "create");
	if (err)
		goto fail;
	/* the committed file takes its real name (made durable) before the
	 * temporary one goes */
	err = rvf_dir_link(s->dir, path);
	rvf_dir_close(s->dir);
	s->dir = NULL;
	if (err)
		goto fail;
	unlink(tmp);
	made = false;
	if (seg_type) {
		/* the first segment needs the open path (a branch attaches its parent) */
		store_free_handle(s);
		s = NULL;
		free(tmp);
		return out ? rvf_store_open(path, o, out) : 0;
	}
	err = rvf_dir_open(path, &dopt, &s->dir);
	if (err)
		goto fail;
	free(tmp);
	*out = s;
	return 0;
fail:
	store_free_handle(s);
	if (made)
		unlink(tmp);
	free(tmp);
	return err;
}

int rvf_store_create(const char *path, const struct rvf_store_opts *o, struct rvf_store **out)
{
	return store_create_with(path, o, NULL, NULL, 0, 0, NULL, 0, out);
}


static void prefetch(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		close(fd);
	}
}

/*
 * skip_ckpt: ignore the graph checkpoint and rebuild the graph from the
 * vector segments (a second try after the checkpoint failed its checks: the
 * checkpoint is derived data, the vectors are the truth). A writable handle
 * then writes a fresh checkpoint, so the rebuild is paid once.
 */
static int open_native(const char *path, const struct rvf_store_opts *o, bool readonly,
		       bool skip_ckpt, struct rvf_store **out)
{
	struct rvf_store *s = NULL;
	struct rvf_dir_opts dopt = dir_opts(o, !readonly);
	void *um = NULL;
	size_t umlen = 0;
	uint64_t live;
	int err = store_new_handle(path, &s);

	if (err)
		return err;
	s->dopt = dopt;
	s->readonly = readonly;
	runtime_opts(s, o);
	prefetch(path);
	err = readonly ? rvf_dir_open_readonly(path, &dopt, &s->dir) : rvf_dir_open(path, &dopt, &s->dir);
	if (err)
		goto fail;
	err = rvf_dir_user_metadata(s->dir, &um, &umlen);
	if (!err)
		err = store_hdr_decode(path, um, umlen, &s->hdr);
	free(um);
	if (!err && skip_ckpt)
		s->hdr.ckpt_seg_id = 0;        /* in memory: replay everything */
	live = s->hdr.live;
	if (!err)
		err = store_load(s);
	if (err && s->ckpt_bad && !skip_ckpt) {
		log_warn("%s: the graph checkpoint is damaged (%s); rebuilding the graph from the "
			 "%llu live vectors in the file", path, rvf_strerror(err), (unsigned long long)live);
		store_free_handle(s);
		return open_native(path, o, readonly, true, out);
	}
	if (!err && skip_ckpt && !readonly && !(s->hdr.flags & STORE_F_FROZEN)) {
		/* not fatal: without one the next open rebuilds again */
		if (store_checkpoint(s))
			log_warn("%s: could not write a new graph checkpoint", path);
		else
			log_info("%s: wrote a new graph checkpoint", path);
	}
	if (err)
		goto fail;
	*out = s;
	return 0;
fail:
	store_free_handle(s);
	return err;
}

/* A file the Rust runtime wrote starts with a segment header. */
static int is_rust_file(const char *path)
{
	uint32_t magic = 0;

	return rvf_dir_read_head(path, &magic, sizeof(magic)) == 0 && magic == RVF_SEG_MAGIC;
}

int store_open_native(const char *path, const struct rvf_store_opts *o, bool readonly,
		      struct rvf_store **out)
{
	return open_native(path, o, readonly, false, out);
}

int rvf_store_open(const char *path, const struct rvf_store_opts *o, struct rvf_store **out)
{
	if (!path || !*path || !out)
		return -EINVAL;
	if (is_rust_file(path))
		return log_fail(-ENOTSUP, "%s: written by the Rust RVF runtime: open it read-only, or import it "
				"into a native store (rvf_store_import_rust) to write to it", path);
	return open_native(path, o, false, false, out);
}

int rvf_store_open_readonly(const char *path, const struct rvf_store_opts *o, struct rvf_store **out)
{
	if (!path || !*path || !out)
		return -EINVAL;
	if (is_rust_file(path))
		return store_open_rust_readonly(path, o, out);
	return open_native(path, o, true, false, out);
}

int rvf_store_close(struct rvf_store *s)
{
	int err = 0;

	if (!s)
		return 0;
	if (!s->readonly && !s->broken && s->dir && !rvf_dir_poisoned(s->dir) &&
	    (s->pending_vecs || s->pending_dels))
		err = store_checkpoint(s);
	store_free_handle(s);
	return err;
}
