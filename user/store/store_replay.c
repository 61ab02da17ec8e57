/*
 * store/store_replay.c - replay: applying one segment (VEC ids, META,
 * JOURNAL) to the handle's memory, and the open-time load (store_load):
 * segments the checkpoint covers without their vectors, the graph loaded
 * with vectors streamed from their VEC segments (a small segment cache fed
 * by the prefetch thread), then the catch-up of newer segments and the
 * counter check (invariants 2 and 4 in store.c). A damaged checkpoint is
 * dropped and the graph rebuilt from the vectors.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/log.h"
#include "store/store_internal.h"

#define PREFETCH_MIN_SEGS 4u       /* fewer VEC segments: not worth a thread */

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


/* ---- open: replay ------------------------------------------------------------------ */

static void hnsw_opts_from_hdr(const struct rvf_store *s, struct rvf_hnsw_opts *ho)
{
	memset(ho, 0, sizeof(*ho));
	ho->M = s->hdr.M;
	ho->ef_construction = s->hdr.ef_construction;
	ho->seed = s->hdr.seed;
	ho->threads = s->threads;
	ho->quant = s->hdr.quant;
}


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

	if (!store_owned_type(d->type))
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
		owned += store_owned_type(s->segs.a[i].type) && s->segs.a[i].id <= ck->covers_seg_id;
	if (owned != ck->nsegs)
		goto bad;
	for (uint64_t i = 0; i < ck->nsegs; i++) {
		struct ckpt_seg e;
		memcpy(&e, &cs[i], sizeof(e));
		struct sseg *g = segtab_find(&s->segs, e.id);
		if (!g || !store_owned_type(g->type) || e.id > ck->covers_seg_id || e.live_rows > e.rows ||
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

/* Room for the ids the header promises, before replay has checked them
 * (store_check_counters does): a hint only, so a header that lies is held
 * to what the file can hold (every id takes at least 8 bytes of it). */
static size_t map_hint(const struct rvf_store *s)
{
	int64_t fsz = rvf_dir_file_size(s->dir);
	uint64_t cap = fsz > 0 ? (uint64_t)fsz / 8 : 0;
	uint64_t live = s->hdr.live < cap ? s->hdr.live : cap;

	return (size_t)(s->hdr.deleted > cap - live ? cap : live + s->hdr.deleted);
}

int store_load(struct rvf_store *s)
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
	err = idmap_init(&s->map, map_hint(s));
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
