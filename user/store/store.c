/*
 * store/store.c - the store (include/rvf/rvf.h): lifecycle, the on-disk
 * record of a store inside one rvf_dir file, and replay at open.
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
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/log.h"
#include "format/identity.h"
#include "store/store_internal.h"

#define CKPT_MIN_VECTORS 65536u
#define PREFETCH_MIN_SEGS 4u       /* fewer VEC segments: not worth a thread */

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

static bool owned_type(uint8_t t)
{
	return t == RVF_SEG_VEC || t == RVF_SEG_META || t == RVF_SEG_JOURNAL;
}

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

/* ---- segment payload codecs ------------------------------------------------------ */

void vec_hdr_make(struct vec_hdr *h, uint32_t dim, uint64_t count)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, VEC_MAGIC, 4);
	h->version = VEC_VERSION;
	h->dim = dim;
	h->stride = dim * 4;
	h->count = count;
	h->ids_off = VEC_HDR;
	h->rows_off = VEC_HDR + align64(count * 8);
}

static int vec_hdr_check(const struct vec_hdr *h, uint64_t len, uint32_t dim, const char *path,
			 uint64_t seg_id)
{
	static const uint8_t zero[24];

	if (memcmp(h->magic, VEC_MAGIC, 4))
		return log_fail(-EUCLEAN, "%s: VEC segment %llu: bad magic", path, (unsigned long long)seg_id);
	if (h->version != VEC_VERSION || h->flags)
		return log_fail(-ENOTSUP, "%s: VEC segment %llu: version %u flags %#x not supported", path,
				(unsigned long long)seg_id, h->version, h->flags);
	if (h->dim != dim || h->stride != dim * 4 || h->ids_off != VEC_HDR ||
	    h->count > (len / 8) || h->rows_off != VEC_HDR + align64(h->count * 8) ||
	    memcmp(h->reserved, zero, sizeof(zero)) ||
	    h->count > (UINT64_MAX - h->rows_off) / h->stride ||
	    h->rows_off + h->count * h->stride != len)
		return log_fail(-EUCLEAN, "%s: VEC segment %llu: inconsistent header (dim %u, %llu rows, %llu bytes)",
				path, (unsigned long long)seg_id, h->dim, (unsigned long long)h->count,
				(unsigned long long)len);
	return 0;
}

int vec_parse(const void *buf, size_t len, uint32_t dim, const char *path, uint64_t seg_id,
	      const uint64_t **ids, const float **rows, size_t *count)
{
	struct vec_hdr h;
	int err;

	if (len < VEC_HDR)
		return log_fail(-EUCLEAN, "%s: VEC segment %llu: %zu bytes is too short", path,
				(unsigned long long)seg_id, len);
	memcpy(&h, buf, sizeof(h));
	err = vec_hdr_check(&h, len, dim, path, seg_id);
	if (err)
		return err;
	*ids = (const uint64_t *)(const void *)((const uint8_t *)buf + h.ids_off);
	*rows = (const float *)(const void *)((const uint8_t *)buf + h.rows_off);
	*count = (size_t)h.count;
	return 0;
}

int jrn_parse(const void *buf, size_t len, const char *path, uint64_t seg_id, const uint64_t **ids,
	      size_t *count)
{
	const uint8_t *p = buf;
	uint16_t ver, op;
	uint64_t n;

	if (len < JRN_HDR || memcmp(p, JRN_MAGIC, 4))
		return log_fail(-EUCLEAN, "%s: JOURNAL segment %llu: bad header", path,
				(unsigned long long)seg_id);
	memcpy(&ver, p + 4, 2);
	memcpy(&op, p + 6, 2);
	memcpy(&n, p + 8, 8);
	if (ver != JRN_VERSION || op != JRN_OP_DELETE)
		return log_fail(-ENOTSUP, "%s: JOURNAL segment %llu: version %u op %u not supported", path,
				(unsigned long long)seg_id, ver, op);
	if (n > (len - JRN_HDR) / 8 || JRN_HDR + n * 8 != len)
		return log_fail(-EUCLEAN, "%s: JOURNAL segment %llu: %llu ids do not fit %zu bytes", path,
				(unsigned long long)seg_id, (unsigned long long)n, len);
	*ids = (const uint64_t *)(const void *)(p + JRN_HDR);
	*count = (size_t)n;
	return 0;
}

/* Record walk over a META payload that meta_seg_decode has validated. */
int meta_walk(const void *buf, size_t len, void (*cb)(void *ctx, uint64_t id, bool set, uint32_t bytes),
	      void *ctx)
{
	const uint8_t *p = buf, *end = p + len;
	uint64_t nrec;

	if (len < META_SEG_HDR)
		return -EUCLEAN;
	memcpy(&nrec, p + 8, 8);
	p += META_SEG_HDR;
	for (uint64_t r = 0; r < nrec; r++) {
		const uint8_t *start = p;
		uint64_t id;
		uint16_t n;

		if (end - p < 9)
			return -EUCLEAN;
		memcpy(&id, p, 8);
		uint8_t op = p[8];
		p += 9;
		if (op == 1) {
			if (end - p < 2)
				return -EUCLEAN;
			memcpy(&n, p, 2);
			p += 2;
			for (uint16_t i = 0; i < n; i++) {
				if (end - p < 3)
					return -EUCLEAN;
				uint8_t type = p[2];
				p += 3;
				if (type == RVF_META_STRING || type == RVF_META_BYTES) {
					uint32_t l;
					if (end - p < 4)
						return -EUCLEAN;
					memcpy(&l, p, 4);
					p += 4;
					if ((uint64_t)(end - p) < l)
						return -EUCLEAN;
					p += l;
				} else {
					if (end - p < 8)
						return -EUCLEAN;
					p += 8;
				}
			}
		}
		cb(ctx, id, op == 1, (uint32_t)(p - start));
	}
	return p == end ? 0 : -EUCLEAN;
}

/* ---- replay: apply one segment to memory ----------------------------------------- */

static void seg_dead_row(struct rvf_store *s, uint64_t vseg)
{
	struct sseg *g = segtab_find(&s->segs, vseg);

	if (g && g->live_rows)
		g->live_rows--;
}

static void seg_dead_meta(struct rvf_store *s, struct loc *l)
{
	if (l->mseg) {
		struct sseg *g = segtab_find(&s->segs, l->mseg);
		if (g && g->live_bytes >= l->mbytes)
			g->live_bytes -= l->mbytes;
	}
	l->mseg = 0;
	l->mbytes = 0;
}

/* Rows of VEC segment seg_id (already in segs) become the ids' current rows. */
int store_apply_vec_ids(struct rvf_store *s, uint64_t seg_id, const uint64_t *ids, size_t n)
{
	struct sseg *g = segtab_find(&s->segs, seg_id);

	if (!g)
		return -EUCLEAN;
	for (size_t i = 0; i < n; i++) {
		struct loc *l = idmap_get(&s->map, ids[i]);
		if (l) {
			if (l->vseg == seg_id)
				return log_fail(-EUCLEAN, "%s: VEC segment %llu holds id %llu twice", s->path,
						(unsigned long long)seg_id, (unsigned long long)ids[i]);
			if (l->flags & LOC_DELETED) {
				l->flags &= ~LOC_DELETED;
				s->hdr.deleted--;
				s->hdr.live++;
			} else {
				seg_dead_row(s, l->vseg);
			}
		} else {
			l = idmap_put(&s->map, ids[i]);
			if (!l)
				return -ENOMEM;
			s->hdr.live++;
		}
		l->vseg = seg_id;
		l->row = (uint32_t)i;
	}
	g->live_rows += n;
	return 0;
}

struct meta_apply_ctx {
	struct rvf_store *s;
	struct sseg *g;
	int err;
};

static void meta_apply_cb(void *ctx, uint64_t id, bool set, uint32_t bytes)
{
	struct meta_apply_ctx *c = ctx;
	struct loc *l = idmap_get(&c->s->map, id);

	if (!l || (l->flags & LOC_DELETED)) {
		if (!c->err)
			c->err = log_fail(-EUCLEAN, "%s: META segment %llu has a record for id %llu, which is not live",
					  c->s->path, (unsigned long long)c->g->id, (unsigned long long)id);
		return;
	}
	seg_dead_meta(c->s, l);
	if (set) {
		l->mseg = c->g->id;
		l->mbytes = bytes;
		c->g->live_bytes += bytes;
	}
}

int store_apply_meta(struct rvf_store *s, uint64_t seg_id, const void *buf, size_t len)
{
	struct meta_apply_ctx c = { .s = s, .g = segtab_find(&s->segs, seg_id) };
	int n;

	if (!c.g)
		return -EUCLEAN;
	n = meta_seg_decode(buf, len, s->ms);
	if (n < 0)
		return log_fail(n, "%s: META segment %llu: %s", s->path, (unsigned long long)seg_id,
				rvf_strerror(n));
	c.g->rows = (uint64_t)n;
	if (meta_walk(buf, len, meta_apply_cb, &c))
		return log_fail(-EUCLEAN, "%s: META segment %llu: record walk failed", s->path,
				(unsigned long long)seg_id);
	return c.err;
}

int store_apply_journal(struct rvf_store *s, uint64_t seg_id, const uint64_t *ids, size_t n,
			bool to_index)
{
	for (size_t i = 0; i < n; i++) {
		struct loc *l = idmap_get(&s->map, ids[i]);
		if (!l || (l->flags & LOC_DELETED))
			return log_fail(-EUCLEAN, "%s: JOURNAL segment %llu deletes id %llu, which is not live",
					s->path, (unsigned long long)seg_id, (unsigned long long)ids[i]);
		l->flags |= LOC_DELETED;
		seg_dead_row(s, l->vseg);
		seg_dead_meta(s, l);
		meta_store_remove(s->ms, ids[i]);
		s->hdr.live--;
		s->hdr.deleted++;
		if (to_index) {
			int err = rvf_hnsw_delete(s->h, ids[i]);
			if (err)
				return log_fail(-EUCLEAN, "%s: JOURNAL segment %llu: id %llu not in the graph",
						s->path, (unsigned long long)seg_id, (unsigned long long)ids[i]);
		}
	}
	return 0;
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

static void hnsw_opts_from_hdr(const struct rvf_store *s, struct rvf_hnsw_opts *ho)
{
	memset(ho, 0, sizeof(*ho));
	ho->M = s->hdr.M;
	ho->ef_construction = s->hdr.ef_construction;
	ho->seed = s->hdr.seed;
	ho->threads = s->threads;
	ho->quant = s->hdr.quant;
}

static void runtime_opts(struct rvf_store *s, const struct rvf_store_opts *o)
{
	const char *env = getenv("RVF_CKPT_EVERY");

	s->threads = o ? o->threads : 0;
	s->ckpt_every = o ? o->checkpoint_every : 0;
	if (!s->ckpt_every && env && *env)
		s->ckpt_every = strtoull(env, NULL, 10);
}

/* Make a new directory entry durable. */
static void sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
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
	rvf_dir_close(s->dir);
	s->dir = NULL;
	if (link(tmp, path)) {
		err = -errno;
		log_error("%s: cannot create: %s", path, strerror(errno));
		goto fail;
	}
	unlink(tmp);
	made = false;
	sync_parent(path);
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

/* ---- open: replay ------------------------------------------------------------------ */

#define VCACHE 4
struct vcache {
	struct rvf_store *s;
	struct {
		uint64_t seg;
		void *buf;
		const uint64_t *ids;
		const float *rows;
		size_t count;
		size_t cap;          /* > 0: a prefetch buffer (recycled, not freed) */
		bool all_live;       /* every row is its id's current live row */
	} e[VCACHE];
	unsigned next;
	int cur;                 /* entry of the last row served, -1 none */
	size_t cur_row;
	int err;
};

/* The cache entry holding VEC segment seg (read and verified on a miss). */
static int vcache_entry(struct vcache *c, uint64_t seg)
{
	struct rvf_store *s = c->s;
	const uint64_t *ids;
	const float *rows;
	size_t len, count;
	void *buf = NULL;
	unsigned k;
	int err;

	for (k = 0; k < VCACHE; k++)
		if (c->e[k].buf && c->e[k].seg == seg)
			return (int)k;
	size_t cap = 0;
	if (prefetch_take(s->pf, seg, &buf, &len, &cap)) {
		cap = 0;
		err = rvf_dir_read_segment(s->dir, seg, &buf, &len);
	} else {
		err = 0;
	}
	if (err) {
		c->err = log_fail(err, "%s: reading VEC segment %llu: %s", s->path,
				  (unsigned long long)seg, rvf_strerror(err));
		return -1;
	}
	err = vec_parse(buf, len, s->hdr.dimension, s->path, seg, &ids, &rows, &count);
	if (err) {
		free(buf);
		c->err = err;
		return -1;
	}
	k = c->next++ % VCACHE;
	if (c->cur == (int)k)
		c->cur = -1;
	if (c->e[k].cap)
		prefetch_recycle(s->pf, c->e[k].buf, c->e[k].cap);
	else
		free(c->e[k].buf);
	c->e[k].cap = cap;
	const struct sseg *g = segtab_find(&s->segs, seg);
	c->e[k].seg = seg;
	c->e[k].buf = buf;
	c->e[k].ids = ids;
	c->e[k].rows = rows;
	c->e[k].count = count;
	c->e[k].all_live = g && g->live_rows == count;
	return (int)k;
}

/*
 * get_vec for the checkpoint load: the vector of a node live at the
 * checkpoint. Nodes come in internal id order, which is mostly row order, so
 * the row after the last one served is tried first (valid only in a segment
 * whose rows are all current); otherwise the id map says where the row is.
 */
static const float *ckpt_get_vec(void *ctx, uint64_t label, uint32_t internal_id)
{
	struct vcache *c = ctx;
	struct rvf_store *s = c->s;
	struct loc *l;
	int k;

	(void)internal_id;
	if (c->cur >= 0 && c->e[c->cur].all_live && c->cur_row + 1 < c->e[c->cur].count &&
	    c->e[c->cur].ids[c->cur_row + 1] == label) {
		c->cur_row++;
		return c->e[c->cur].rows + c->cur_row * s->hdr.dimension;
	}
	l = idmap_get(&s->map, label);
	if (!l || (l->flags & LOC_DELETED) || l->vseg > s->hdr.ckpt_seg_id) {
		log_error("%s: graph checkpoint has live id %llu, which the data does not",
			  s->path, (unsigned long long)label);
		c->err = -EUCLEAN;
		return NULL;
	}
	k = vcache_entry(c, l->vseg);
	if (k < 0)
		return NULL;
	if (l->row >= c->e[k].count) {
		c->err = -EUCLEAN;
		return NULL;
	}
	c->cur = k;
	c->cur_row = l->row;
	return c->e[k].rows + (size_t)l->row * s->hdr.dimension;
}

uint64_t store_disk_bytes(const struct rvf_store *s, uint64_t payload_len)
{
	uint64_t bs = rvf_dir_block_size(s->dir);

	return (RVF_SEG_HEADER_SIZE + payload_len + bs - 1) / bs * bs;
}

/* Read only the ids of a VEC segment (no vectors, no checksum: the
 * checkpoint's get_vec reads and verifies whole segments). */
static int replay_vec_ids(struct rvf_store *s, const struct rvf_dir_segment *d)
{
	struct vec_hdr h;
	uint64_t *ids = NULL;
	int err = rvf_dir_read_segment_range(s->dir, d->id, 0, &h, sizeof(h));

	if (err)
		return log_fail(err == -ERANGE ? -EUCLEAN : err, "%s: VEC segment %llu: %s", s->path,
				(unsigned long long)d->id, rvf_strerror(err));
	err = vec_hdr_check(&h, d->payload_len, s->hdr.dimension, s->path, d->id);
	if (err)
		return err;
	ids = malloc(h.count ? h.count * 8 : 1);
	if (!ids)
		return -ENOMEM;
	err = rvf_dir_read_segment_range(s->dir, d->id, VEC_HDR, ids, h.count * 8);
	if (!err) {
		segtab_find(&s->segs, d->id)->rows = h.count;
		err = store_apply_vec_ids(s, d->id, ids, h.count);
	}
	free(ids);
	return err;
}

int store_replay_read(const struct rvf_store *s, struct rvf_dir *dir, const struct rvf_dir_segment *d,
		      void **buf, size_t *len)
{
	int err = rvf_dir_read_segment(dir, d->id, buf, len);

	if (err)
		return log_fail(err, "%s: reading segment %llu: %s", s->path, (unsigned long long)d->id,
				rvf_strerror(err));
	return 0;
}

/*
 * Apply one store-owned segment's payload (read and checksum-verified) to
 * memory. full: also to the graph (VEC rows inserted, JOURNAL tombstones
 * applied), as for every segment newer than the checkpoint; without it only
 * the bookkeeping (the checkpoint's graph already has the segment).
 */
int store_replay_apply(struct rvf_store *s, const struct rvf_dir_segment *d, const void *buf,
		       size_t len, bool full)
{
	size_t n;
	const uint64_t *ids;
	const float *rows;
	int err;

	if (d->type == RVF_SEG_META) {
		err = store_apply_meta(s, d->id, buf, len);
	} else if (d->type == RVF_SEG_JOURNAL) {
		err = jrn_parse(buf, len, s->path, d->id, &ids, &n);
		if (!err) {
			segtab_find(&s->segs, d->id)->rows = n;
			err = store_apply_journal(s, d->id, ids, n, full);
			s->stats.catchup_deletes += full ? n : 0;
		}
	} else {
		err = vec_parse(buf, len, s->hdr.dimension, s->path, d->id, &ids, &rows, &n);
		if (!err) {
			segtab_find(&s->segs, d->id)->rows = n;
			err = store_apply_vec_ids(s, d->id, ids, n);
		}
		if (!err && n && full) {
			err = rvf_hnsw_add_batch(s->h, ids, rows, n);
			if (err)
				log_error("%s: VEC segment %llu: graph insert failed: %s", s->path,
					  (unsigned long long)d->id, rvf_strerror(err));
			s->stats.catchup_vectors += n;
			s->pending_vecs += n;
		}
	}
	return err;
}

static int replay_one(struct rvf_store *s, const struct rvf_dir_segment *d, bool full)
{
	void *buf = NULL;
	size_t len;
	int err;

	if (!owned_type(d->type))
		return 0;
	if (d->type == RVF_SEG_VEC && !full)
		return replay_vec_ids(s, d);
	err = store_replay_read(s, s->dir, d, &buf, &len);
	if (!err)
		err = store_replay_apply(s, d, buf, len, full);
	free(buf);
	return err;
}

/* Check a checkpoint payload's header and framing against covers. */
int ckpt_frame_check(const void *buf, size_t len, uint64_t covers, struct ckpt_hdr *ck)
{
	uint64_t tables;

	if (len < CKPT_HDR)
		return -EUCLEAN;
	memcpy(ck, buf, sizeof(*ck));
	if (ck->flags & ~(CKPT_F_TABLES | CKPT_F_DELTA))
		return -ENOTSUP;
	if ((!(ck->flags & CKPT_F_TABLES) && (ck->nsegs || ck->nlocs)) ||
	    ((ck->flags & CKPT_F_DELTA) && !(ck->flags & CKPT_F_TABLES)))
		return -EUCLEAN;
	if (memcmp(ck->magic, CKPT_MAGIC, 8) || ck->covers_seg_id != covers || ck->reserved ||
	    ck->nsegs > len / sizeof(struct ckpt_seg) || ck->nlocs > len / sizeof(struct loc) ||
	    ck->blob_len > len)
		return -EUCLEAN;
	tables = ck->nsegs * sizeof(struct ckpt_seg) + ck->nlocs * sizeof(struct loc);
	if (ck->flags & CKPT_F_DELTA)
		tables += COW_TIE;
	return CKPT_HDR + tables + ck->blob_len == len ? 0 : -EUCLEAN;
}

/* Read and check the checkpoint's header and framing; *buf owned. */
static int ckpt_read(struct rvf_store *s, void **buf, size_t *len, struct ckpt_hdr *ck)
{
	int err = prefetch_take_ckpt(s->pf, buf, len);

	if (err)
		err = rvf_dir_read_vector_index(s->dir, CKPT_FIELD, buf, len);
	if (err)
		return log_fail(err == -ENOENT ? -EUCLEAN : err,
				"%s: the graph checkpoint covering segment %llu cannot be read: %s", s->path,
				(unsigned long long)s->hdr.ckpt_seg_id, rvf_strerror(err));
	err = ckpt_frame_check(*buf, *len, s->hdr.ckpt_seg_id, ck);
	if (err) {
		log_error("%s: the graph checkpoint's header does not match the store (it covers %llu, the store header says %llu)",
			  s->path, *len >= CKPT_HDR ? (unsigned long long)ck->covers_seg_id : 0ull,
			  (unsigned long long)s->hdr.ckpt_seg_id);
		free(*buf);
		*buf = NULL;
	}
	return err;
}

/* The bookkeeping as of the checkpoint, from its tables (checked against
 * the segment directory; rvf_store_verify compares it with a full replay). */
static int ckpt_apply_tables(struct rvf_store *s, const uint8_t *buf, const struct ckpt_hdr *ck)
{
	const struct ckpt_seg *cs = (const struct ckpt_seg *)(const void *)(buf + CKPT_HDR);
	const uint8_t *lp = buf + CKPT_HDR + ck->nsegs * sizeof(struct ckpt_seg);
	uint64_t owned = 0;

	for (size_t i = 0; i < s->segs.n; i++)
		owned += owned_type(s->segs.a[i].type) && s->segs.a[i].id <= ck->covers_seg_id;
	if (owned != ck->nsegs)
		goto bad;
	for (uint64_t i = 0; i < ck->nsegs; i++) {
		struct ckpt_seg e;
		memcpy(&e, &cs[i], sizeof(e));
		struct sseg *g = segtab_find(&s->segs, e.id);
		if (!g || !owned_type(g->type) || e.id > ck->covers_seg_id || e.live_rows > e.rows ||
		    (i && e.id <= cs[i - 1].id))
			goto bad;
		g->rows = e.rows;
		g->live_rows = e.live_rows;
		g->live_bytes = e.live_bytes;
	}
	const struct sseg *v = NULL, *m = NULL;      /* last lookups (rows come in runs) */
	for (uint64_t i = 0; i < ck->nlocs; i++) {
		struct loc l, *n;
		memcpy(&l, lp + i * sizeof(l), sizeof(l));
		if (!v || v->id != l.vseg)
			v = segtab_find(&s->segs, l.vseg);
		if (l.mseg && (!m || m->id != l.mseg))
			m = segtab_find(&s->segs, l.mseg);
		if (!(l.flags & LOC_USED) || (l.flags & ~(LOC_USED | LOC_DELETED)) || l.pad ||
		    !v || v->type != RVF_SEG_VEC || v->id > ck->covers_seg_id || l.row >= v->rows ||
		    (l.mseg && (!m || m->type != RVF_SEG_META || m->id > ck->covers_seg_id)) ||
		    (!l.mseg && l.mbytes))
			goto bad;
		size_t used = s->map.used;
		n = idmap_put(&s->map, l.id);
		if (!n)
			return -ENOMEM;
		if (s->map.used == used)
			goto bad;                  /* the same id twice */
		*n = l;
		if (l.flags & LOC_DELETED)
			s->hdr.deleted++;
		else
			s->hdr.live++;
	}
	return 0;
bad:
	return log_fail(-EUCLEAN, "%s: graph checkpoint tables do not match the segments", s->path);
}

/* Metadata of segments <= the checkpoint, in order (locations come from the
 * tables): META records into the meta store, JOURNAL deletes out of it. */
static int replay_meta_only(struct rvf_store *s, const struct rvf_dir_segment *d)
{
	void *buf = NULL;
	size_t len, n;
	const uint64_t *ids;
	int err;

	if (d->type != RVF_SEG_META && d->type != RVF_SEG_JOURNAL)
		return 0;
	err = rvf_dir_read_segment(s->dir, d->id, &buf, &len);
	if (err)
		return log_fail(err, "%s: reading segment %llu: %s", s->path, (unsigned long long)d->id,
				rvf_strerror(err));
	if (d->type == RVF_SEG_META) {
		int r = meta_seg_decode(buf, len, s->ms);
		if (r < 0)
			err = log_fail(r, "%s: META segment %llu: %s", s->path, (unsigned long long)d->id,
				       rvf_strerror(r));
	} else {
		err = jrn_parse(buf, len, s->path, d->id, &ids, &n);
		for (size_t i = 0; !err && i < n; i++)
			meta_store_remove(s->ms, ids[i]);
	}
	free(buf);
	return err;
}

static int load_graph(struct rvf_store *s, const uint8_t *buf, size_t len, const struct ckpt_hdr *ck)
{
	struct vcache c = { .s = s, .cur = -1 };
	size_t off = len - ck->blob_len;
	bool cow = store_is_cow(s);
	size_t live0 = cow ? rvf_hnsw_live_count(s->h) : 0;
	int err = cow ? rvf_hnsw_load_delta(s->h, s->cow.base_fp, buf + off, ck->blob_len, ckpt_get_vec, &c)
		      : rvf_hnsw_load_cap(buf + off, ck->blob_len, ckpt_get_vec, &c,
					  cow_room ? (size_t)(ck->nodes + cow_room) : 0, &s->h);

	if (err) {
		if (c.err)
			err = c.err;
		if (err == -ESTALE || err == -ENOEXEC)
			err = -EUCLEAN;        /* the tie said this base: the checkpoint lies */
		log_error("%s: loading the graph checkpoint failed: %s", s->path, rvf_strerror(err));
		goto out;
	}
	if (cow) {
		err = cow_delta_loaded(s, live0);
		if (err)
			goto out;
	}
	if (rvf_hnsw_dim(s->h) != s->hdr.dimension || (uint32_t)rvf_hnsw_metric(s->h) != s->hdr.metric ||
	    rvf_hnsw_live_count(s->h) != s->hdr.live + (cow ? s->cow.base_live : 0) ||
	    rvf_hnsw_count(s->h) != ck->nodes) {
		err = log_fail(-EUCLEAN, "%s: graph checkpoint (%zu live, dim %u) does not match the data (%llu live, dim %u)",
			       s->path, rvf_hnsw_live_count(s->h), rvf_hnsw_dim(s->h),
			       (unsigned long long)s->hdr.live, s->hdr.dimension);
		goto out;
	}
	s->ckpt_bytes = len;
	s->stats.ckpt_loaded = 1;
	s->stats.ckpt_nodes_loaded = ck->nodes;
out:
	for (unsigned k = 0; k < VCACHE; k++)
		free(c.e[k].buf);
	return err;
}

/* A damaged checkpoint is worth a rebuild; any other failure is not. */
static int ckpt_damage(struct rvf_store *s, int err)
{
	if (err == -EBADMSG || err == -EUCLEAN)
		s->ckpt_bad = true;
	return err;
}

int store_check_counters(const struct rvf_store *s, const struct store_hdr *disk)
{
	uint64_t base = store_is_cow(s) ? s->cow.base_live : 0;

	if (s->hdr.live != disk->live || s->hdr.deleted != disk->deleted ||
	    rvf_hnsw_live_count(s->h) != s->hdr.live + base)
		return log_fail(-EUCLEAN, "%s: replay found %llu live / %llu deleted (graph %zu), the header says %llu / %llu",
				s->path, (unsigned long long)s->hdr.live, (unsigned long long)s->hdr.deleted,
				rvf_hnsw_live_count(s->h), (unsigned long long)disk->live,
				(unsigned long long)disk->deleted);
	return 0;
}

static int store_load(struct rvf_store *s)
{
	struct rvf_dir_segment *segs = NULL;
	struct rvf_hnsw_opts ho;
	struct store_hdr disk = s->hdr;
	struct ckpt_hdr ck;
	void *ckbuf = NULL;
	size_t cklen = 0;
	uint64_t t0, t1, t2;
	size_t n = 0, i;
	int err = rvf_dir_segments(s->dir, &segs, &n);

	if (err)
		return err;
	for (i = 0; i < n; i++) {
		struct sseg g = { .id = segs[i].id, .type = segs[i].type, .flags = segs[i].flags,
				  .payload_len = segs[i].payload_len,
				  .disk_bytes = store_disk_bytes(s, segs[i].payload_len) };
		if (segs[i].id >= s->hdr.next_seg_id) {
			/* A segment the store did not write (added through the dir by a
			 * tool) may have any id; ids the store hands out skip past it. */
			if (segs[i].type == RVF_SEG_VEC || segs[i].type == RVF_SEG_META ||
			    segs[i].type == RVF_SEG_JOURNAL) {
				err = log_fail(-EUCLEAN, "%s: segment %llu is beyond the header's next id %llu",
					       s->path, (unsigned long long)segs[i].id,
					       (unsigned long long)s->hdr.next_seg_id);
				goto out;
			}
			disk.next_seg_id = s->hdr.next_seg_id = segs[i].id + 1;
		}
		err = segtab_add(&s->segs, &g);
		if (err)
			goto out;
	}
	if (store_is_cow(s)) {
		err = cow_attach(s, segs, n);
		if (err)
			goto out;
	}
	idmap_release(&s->map);
	err = idmap_init(&s->map, s->hdr.live + s->hdr.deleted);
	if (err)
		goto out;
	s->hdr.live = s->hdr.deleted = 0;
	t0 = now_mono_ns();
	if (s->hdr.ckpt_seg_id) {
		/* the reader thread fetches the checkpoint and its VEC segments */
		uint64_t *vids = malloc((n ? n : 1) * sizeof(*vids));
		size_t nv = 0;
		if (vids) {
			for (i = 0; i < n && segs[i].id <= s->hdr.ckpt_seg_id; i++)
				if (segs[i].type == RVF_SEG_VEC)
					vids[nv++] = segs[i].id;
			if (nv >= PREFETCH_MIN_SEGS &&
			    prefetch_start(s->path, &s->dopt, rvf_dir_generation(s->dir), true, vids, nv, &s->pf))
				s->pf = NULL;
			free(vids);
		}
	}
	if (s->hdr.ckpt_seg_id) {
		err = ckpt_damage(s, ckpt_read(s, &ckbuf, &cklen, &ck));
		if (!err)
			err = ckpt_damage(s, cow_ckpt_usable(s, ckbuf, cklen, &ck));
		if (err == -ESTALE) {
			/* a branch's delta made against another parent graph (or
			 * turned off): replay all of the branch's segments */
			free(ckbuf);
			ckbuf = NULL;
			prefetch_stop(s->pf);
			s->pf = NULL;
			s->hdr.ckpt_seg_id = 0;
			err = 0;
		}
		if (err)
			goto out;
	}
	if (ckbuf && (ck.flags & CKPT_F_TABLES)) {
		err = ckpt_damage(s, ckpt_apply_tables(s, ckbuf, &ck));
		for (i = 0; i < n && segs[i].id <= s->hdr.ckpt_seg_id && !err; i++)
			err = replay_meta_only(s, &segs[i]);
	} else {
		for (i = 0; i < n && segs[i].id <= s->hdr.ckpt_seg_id && !err; i++)
			err = replay_one(s, &segs[i], false);
	}
	if (err)
		goto out;
	t1 = now_mono_ns();
	if (ckbuf) {
		err = ckpt_damage(s, load_graph(s, ckbuf, cklen, &ck));
		free(ckbuf);
		ckbuf = NULL;
	} else if (!s->h) {
		hnsw_opts_from_hdr(s, &ho);
		err = rvf_hnsw_new(s->hdr.dimension, (enum rvf_metric)s->hdr.metric, &ho, &s->h);
	}
	prefetch_stop(s->pf);
	s->pf = NULL;
	t2 = now_mono_ns();
	for (; i < n && !err; i++)
		err = replay_one(s, &segs[i], true);
	if (err)
		goto out;
	s->stats.open_replay_ns = t1 - t0;
	s->stats.open_graph_ns = t2 - t1;
	s->stats.open_catchup_ns = now_mono_ns() - t2;
	err = store_check_counters(s, &disk);
	if (err)
		goto out;
	{
		const struct rvf_dir_segment *mseg = NULL;
		for (i = 0; i < n; i++)
			if (segs[i].type == RVF_SEG_MEMBERSHIP)
				mseg = &segs[i];     /* the newest (there is one) */
		err = member_load(s, mseg);
		if (err)
			goto out;
	}
	if (s->stats.catchup_vectors || s->stats.catchup_deletes)
		log_info("%s: caught up %llu vectors and %llu deletes newer than the graph checkpoint",
			 s->path, (unsigned long long)s->stats.catchup_vectors,
			 (unsigned long long)s->stats.catchup_deletes);
	s->pending_dels = s->stats.catchup_deletes;
out:
	prefetch_stop(s->pf);
	s->pf = NULL;
	free(ckbuf);
	free(segs);
	return err;
}

/* Open reads nearly every byte of the file (ids, metadata, the checkpoint,
 * the rows of live vectors); start the kernel's readahead for all of it now,
 * so the disk works while the CPU parses. */
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
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &magic, 4, 0) == 4 && magic == RVF_SEG_MAGIC)
		r = 1;
	close(fd);
	return r;
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

/* ---- checkpoints ---------------------------------------------------------------------- */

/* Row order: the table then reads like the VEC segments do. */
static int cmp_loc_row(const void *a, const void *b)
{
	const struct loc *x = a, *y = b;

	if (x->vseg != y->vseg)
		return x->vseg < y->vseg ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

int ckpt_build(const struct rvf_hnsw *h, const struct segtab *t, const struct idmap *m,
	       uint64_t covers, const struct cow_state *cow, struct ckpt_parts *p)
{
	size_t blen = 0, ns = 0, nl = 0;
	int err;

	memset(p, 0, sizeof(*p));
	p->segs = malloc((t->n ? t->n : 1) * sizeof(*p->segs));
	p->locs = malloc((m->used ? m->used : 1) * sizeof(*p->locs));
	if (!p->segs || !p->locs) {
		ckpt_release(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct sseg *g = &t->a[i];
		if (owned_type(g->type) && g->id <= covers)
			p->segs[ns++] = (struct ckpt_seg){ g->id, g->rows, g->live_rows, g->live_bytes };
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].flags) {
			p->locs[nl] = m->slots[i];
			p->locs[nl++].pad = 0;
		}
	qsort(p->locs, nl, sizeof(*p->locs), cmp_loc_row);
	if (cow && !cow->base_sign)
		err = log_fail(-EINVAL, "internal: a branch checkpoint without the parent's list hashes");
	else if (cow)
		err = rvf_hnsw_save_delta(h, cow->base_sign, (size_t)cow->parent_nodes, cow->base_fp,
					  &p->blob, &blen);
	else
		err = rvf_hnsw_save(h, 0, &p->blob, &blen);
	if (err) {
		ckpt_release(p);
		return err;
	}
	memcpy(p->hdr.magic, CKPT_MAGIC, 8);
	p->hdr.covers_seg_id = covers;
	p->hdr.live = rvf_hnsw_live_count(h);
	p->hdr.nodes = rvf_hnsw_count(h);
	p->hdr.blob_len = blen;
	p->hdr.nsegs = ns;
	p->hdr.nlocs = nl;
	p->hdr.flags = CKPT_F_TABLES;
	if (cow) {
		p->hdr.flags |= CKPT_F_DELTA;
		cow_tie_make(cow, p);
	}
	return 0;
}

int ckpt_write(struct rvf_dir *d, const struct ckpt_parts *p)
{
	bool delta = p->hdr.flags & CKPT_F_DELTA;
	struct iovec iov[5] = {
		{ (void *)&p->hdr, sizeof(p->hdr) },
		{ p->segs, p->hdr.nsegs * sizeof(*p->segs) },
		{ p->locs, p->hdr.nlocs * sizeof(*p->locs) },
		{ (void *)&p->tie, delta ? sizeof(p->tie) : 0 },
		{ p->blob, p->hdr.blob_len },
	};

	return rvf_dir_write_vector_indexv(d, CKPT_FIELD, iov, 5);
}

void ckpt_release(struct ckpt_parts *p)
{
	free(p->segs);
	free(p->locs);
	free(p->blob);
	memset(p, 0, sizeof(*p));
}

uint64_t ckpt_size(const struct ckpt_parts *p)
{
	return CKPT_HDR + p->hdr.nsegs * sizeof(struct ckpt_seg) + p->hdr.nlocs * sizeof(struct loc) +
	       ((p->hdr.flags & CKPT_F_DELTA) ? COW_TIE : 0) + p->hdr.blob_len;
}

int store_checkpoint(struct rvf_store *s)
{
	struct ckpt_parts ck;
	struct store_hdr saved = s->hdr;
	uint64_t t0 = now_mono_ns();
	int err;

	/* A frozen store never changes (not even derived data). A branch's
	 * checkpoint is its graph as a delta against its parent's (open
	 * attaches the parent's graph and applies it). */
	if (s->hdr.flags & STORE_F_FROZEN) {
		s->pending_vecs = s->pending_dels = 0;
		return 0;
	}
	err = ckpt_build(s->h, &s->segs, &s->map, s->hdr.next_seg_id - 1,
			 store_is_cow(s) ? &s->cow : NULL, &ck);
	if (err)
		return log_fail(err, "%s: saving the graph: %s", s->path, rvf_strerror(err));
	err = ckpt_write(s->dir, &ck);
	if (!err) {
		s->hdr.ckpt_seg_id = ck.hdr.covers_seg_id;
		s->hdr.ckpt_count++;
		err = store_hdr_put(s);
	}
	if (!err)
		err = store_commit(s, "graph checkpoint");
	else
		rvf_dir_rollback(s->dir);
	if (err) {
		s->hdr = saved;
		ckpt_release(&ck);
		return err;
	}
	s->ckpt_bytes = ckpt_size(&ck);
	ckpt_release(&ck);
	s->pending_vecs = 0;
	s->pending_dels = 0;
	s->stats.checkpoints++;
	s->stats.ckpt_ns += now_mono_ns() - t0;
	return 0;
}

int store_maybe_checkpoint(struct rvf_store *s)
{
	uint64_t every = s->ckpt_every;

	if (!every) {
		every = s->hdr.live / 4;
		if (every < CKPT_MIN_VECTORS)
			every = CKPT_MIN_VECTORS;
	}
	if (s->pending_vecs < every && s->pending_dels < every)
		return 0;
	return store_checkpoint(s);
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
