/*
 * store/store_compact.c - compaction and the full consistency check.
 *
 * Compaction, one commit that changes content and then commits that only
 * move bytes:
 *
 *   1. rewrite: every VEC segment holding a dead row (deleted or superseded),
 *      and every small one when there are several, is streamed (one input
 *      segment and one output buffer of COMPACT_TARGET bytes in memory) into
 *      new VEC segments holding only current live rows; every JOURNAL goes
 *      (no row of a tombstoned id is left); the META segments are replaced
 *      by one holding the live metadata; a fresh graph checkpoint covering
 *      the new segments is written; old segments are removed. ONE commit:
 *      a crash leaves the old store or the new one.
 *   2. relocate: store-owned segments (VEC/META/JOURNAL) and the checkpoint
 *      that sit beyond what a packed file would need are rewritten with the
 *      same id and payload; the allocator places them first-fit in the holes
 *      step 1 freed. One commit, no content change.
 *   3. trim: an empty commit, which lets the dir cut the now free tail.
 *
 * Segments of any other type (KERNEL, EBPF, unknown) are never touched, so
 * they stay byte for byte (header included) where they are. While another
 * handle pins a snapshot the dir does not reuse freed blocks, so steps 2-3
 * are skipped (the space is reused by later writes once the pin is gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "store/store_internal.h"

#define COMPACT_TARGET (16u << 20)     /* bytes of rows per output VEC segment */

static bool store_owned(uint8_t type)
{
	return type == RVF_SEG_VEC || type == RVF_SEG_META || type == RVF_SEG_JOURNAL;
}

struct moved { uint64_t id, seg; uint32_t row; };

struct outbuf {
	struct rvf_store *s;
	uint8_t *buf;                /* vec_hdr | ids | rows, sized for cap rows */
	size_t cap, n;
	struct moved *mv;            /* where each live row went */
	size_t nmv;
	uint64_t *new_ids;           /* new segment ids */
	uint64_t *new_rows;
	size_t nnew;
	uint64_t next_id;
};

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

static uint64_t take_id(struct rvf_store *s, uint64_t *next)
{
	while (segtab_find(&s->segs, *next))
		(*next)++;
	return (*next)++;
}

static int out_flush(struct outbuf *o)
{
	struct rvf_store *s = o->s;
	uint32_t dim = s->hdr.dimension;
	struct vec_hdr vh;
	uint64_t id;
	int err;

	if (!o->n)
		return 0;
	vec_hdr_make(&vh, dim, o->n);
	/* rows were staged at the capacity's offset; move them to this count's */
	uint64_t cap_rows_off = VEC_HDR + align64((uint64_t)o->cap * 8);
	if (vh.rows_off != cap_rows_off)
		memmove(o->buf + vh.rows_off, o->buf + cap_rows_off, o->n * (size_t)vh.stride);
	memset(o->buf + VEC_HDR + o->n * 8, 0, vh.rows_off - VEC_HDR - o->n * 8);
	memcpy(o->buf, &vh, sizeof(vh));
	id = take_id(s, &o->next_id);
	err = rvf_dir_write_segment(s->dir, id, RVF_SEG_VEC, o->buf,
				    (size_t)(vh.rows_off + o->n * (uint64_t)vh.stride));
	if (err)
		return err;
	for (size_t i = o->nmv - o->n; i < o->nmv; i++)
		o->mv[i].seg = id;
	o->new_ids[o->nnew] = id;
	o->new_rows[o->nnew++] = o->n;
	o->n = 0;
	return 0;
}

static int out_add(struct outbuf *o, uint64_t id, const float *row)
{
	uint32_t dim = o->s->hdr.dimension;
	uint64_t rows_off = VEC_HDR + align64((uint64_t)o->cap * 8);
	uint64_t *ids = (uint64_t *)(void *)(o->buf + VEC_HDR);

	ids[o->n] = id;
	memcpy(o->buf + rows_off + o->n * (size_t)dim * 4, row, (size_t)dim * 4);
	o->mv[o->nmv++] = (struct moved){ id, 0, (uint32_t)o->n };
	o->n++;
	return o->n == o->cap ? out_flush(o) : 0;
}

/* Rewrite one VEC segment's current live rows into the output. */
static int stream_seg(struct outbuf *o, const struct sseg *g)
{
	struct rvf_store *s = o->s;
	const uint64_t *ids;
	const float *rows;
	void *buf = NULL;
	size_t len, n;
	int err = rvf_dir_read_segment(s->dir, g->id, &buf, &len);

	if (err)
		return log_fail(err, "%s: compact: reading VEC segment %llu: %s", s->path,
				(unsigned long long)g->id, rvf_strerror(err));
	err = vec_parse(buf, len, s->hdr.dimension, s->path, g->id, &ids, &rows, &n);
	for (size_t i = 0; i < n && !err; i++) {
		const struct loc *l = idmap_get(&s->map, ids[i]);
		if (l && !(l->flags & LOC_DELETED) && l->vseg == g->id && l->row == i)
			err = out_add(o, ids[i], rows + i * (size_t)s->hdr.dimension);
	}
	free(buf);
	return err;
}

struct seg_sum { struct rvf_store *s; uint64_t seg; uint64_t bytes; struct idmap *map; };

static void meta_sum_cb(void *ctx, uint64_t id, bool set, uint32_t bytes)
{
	struct seg_sum *c = ctx;
	struct loc *l = idmap_get(c->map, id);

	if (set && l) {
		l->mseg = c->seg;
		l->mbytes = bytes;
		c->bytes += bytes;
	}
}

static int cmp_moved(const void *a, const void *b)
{
	const struct moved *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static bool keep_local(void *ctx, uint64_t id)
{
	const struct rvf_store *s = ctx;
	const struct loc *l = idmap_get(&s->map, id);

	return l && !(l->flags & LOC_DELETED);
}

/* Step 1. Returns the number of old segments rewritten or dropped. */
static int compact_rewrite(struct rvf_store *s, uint64_t *ncompacted)
{
	struct outbuf o = { .s = s };
	struct store_hdr old = s->hdr;
	struct segtab nt = { 0 };
	struct idmap nm = { 0 };
	uint64_t rowb = store_row_bytes(s), nsmall = 0, nmeta = 0, dead_meta = 0, njrn = 0;
	uint64_t *rm = NULL, mseg = 0;
	size_t nrm = 0;
	bool *rewrite = NULL, meta_rw;
	void *mbuf = NULL;
	size_t mlen = 0;
	struct ckpt_parts ckp = { 0 };
	int err = 0;

	rewrite = calloc(s->segs.n + 1, sizeof(*rewrite));
	rm = malloc((s->segs.n + 1) * sizeof(*rm));
	if (!rewrite || !rm) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->segs.n; i++) {
		const struct sseg *g = &s->segs.a[i];
		if (g->type == RVF_SEG_VEC && g->rows * rowb < COMPACT_TARGET / 2)
			nsmall++;
		if (g->type == RVF_SEG_META) {
			nmeta++;
			if (g->live_bytes + META_SEG_HDR < g->payload_len)
				dead_meta++;
		}
		if (g->type == RVF_SEG_JOURNAL)
			njrn++;
	}
	bool vec_rw = false;
	for (size_t i = 0; i < s->segs.n; i++) {
		const struct sseg *g = &s->segs.a[i];
		if (g->type == RVF_SEG_VEC) {
			rewrite[i] = g->live_rows < g->rows || (nsmall > 1 && g->rows * rowb < COMPACT_TARGET / 2);
			vec_rw |= rewrite[i];
		}
	}
	/* A META record must follow its row in segment order, and rewritten rows
	 * get new (higher) ids: so any VEC rewrite rewrites the metadata too. */
	meta_rw = nmeta && (dead_meta || nmeta > 1 || vec_rw);
	for (size_t i = 0; i < s->segs.n; i++) {
		const struct sseg *g = &s->segs.a[i];
		if (g->type == RVF_SEG_JOURNAL || (g->type == RVF_SEG_META && meta_rw))
			rewrite[i] = true;
		if (rewrite[i])
			rm[nrm++] = g->id;
	}
	*ncompacted = nrm;
	if (!nrm)
		goto out;

	/* stream the VEC rewrite */
	o.cap = COMPACT_TARGET / rowb ? COMPACT_TARGET / rowb : 1;
	if (o.cap > s->hdr.live + 1)
		o.cap = s->hdr.live + 1;
	o.next_id = s->hdr.next_seg_id;
	if (posix_memalign((void **)&o.buf, 64, VEC_HDR + align64(o.cap * 8) + o.cap * rowb)) {
		o.buf = NULL;
		err = -ENOMEM;
		goto out;
	}
	o.mv = malloc((s->hdr.live + 1) * sizeof(*o.mv));
	o.new_ids = malloc((s->hdr.live / o.cap + 2) * 8);
	o.new_rows = malloc((s->hdr.live / o.cap + 2) * 8);
	if (!o.mv || !o.new_ids || !o.new_rows) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->segs.n && !err; i++)
		if (rewrite[i] && s->segs.a[i].type == RVF_SEG_VEC)
			err = stream_seg(&o, &s->segs.a[i]);
	if (!err)
		err = out_flush(&o);
	if (!err && meta_rw && meta_store_count(s->ms)) {
		/* a branch writes only its own rows' metadata (the parent's is read
		 * through the parent) */
		err = meta_seg_encode_store(s->ms, store_is_cow(s) ? keep_local : NULL, s, &mbuf, &mlen);
		if (!err) {
			mseg = take_id(s, &o.next_id);
			err = rvf_dir_write_segment(s->dir, mseg, RVF_SEG_META, mbuf, mlen);
		}
	}
	if (!err)
		err = rvf_dir_remove_segments(s->dir, rm, nrm) < 0 ? -EIO : 0;
	/* the bookkeeping after the rewrite (swapped in once it is durable) */
	for (size_t i = 0; i < s->segs.n && !err; i++)
		if (!rewrite[i])
			err = segtab_add(&nt, &s->segs.a[i]);
	for (size_t i = 0; i < o.nnew && !err; i++) {
		uint64_t len = VEC_HDR + align64(o.new_rows[i] * 8) + o.new_rows[i] * (uint64_t)s->hdr.dimension * 4;
		struct sseg g = { .id = o.new_ids[i], .type = RVF_SEG_VEC, .payload_len = len,
				  .disk_bytes = store_disk_bytes(s, len), .rows = o.new_rows[i],
				  .live_rows = o.new_rows[i] };
		err = segtab_add(&nt, &g);
	}
	if (!err)
		err = idmap_init(&nm, s->hdr.live);
	qsort(o.mv, o.nmv, sizeof(*o.mv), cmp_moved);
	for (size_t i = 0; i < s->map.cap && !err; i++) {
		const struct loc *l = &s->map.slots[i];
		if (!l->flags || (l->flags & LOC_DELETED))
			continue;
		struct loc *n = idmap_put(&nm, l->id);
		if (!n) {
			err = -ENOMEM;
			break;
		}
		n->vseg = l->vseg;
		n->row = l->row;
		if (meta_rw) {
			n->mseg = 0;
		} else {
			n->mseg = l->mseg;
			n->mbytes = l->mbytes;
		}
		struct moved key = { .id = l->id };
		const struct moved *m = bsearch(&key, o.mv, o.nmv, sizeof(*o.mv), cmp_moved);
		if (m) {
			n->vseg = m->seg;
			n->row = m->row;
		}
	}
	if (!err && mseg) {
		struct seg_sum c = { s, mseg, 0, &nm };
		err = meta_walk(mbuf, mlen, meta_sum_cb, &c) ? -EUCLEAN : 0;
		struct sseg g = { .id = mseg, .type = RVF_SEG_META, .payload_len = mlen,
				  .disk_bytes = store_disk_bytes(s, mlen), .rows = meta_store_count(s->ms),
				  .live_bytes = c.bytes };
		if (!err)
			err = segtab_add(&nt, &g);
	}
	if (err) {
		rvf_dir_rollback(s->dir);
		goto out;
	}
	/* the graph: drop tombstones when they are many, then checkpoint it with
	 * the new bookkeeping in the same commit (the old checkpoint names rows
	 * that are gone) */
	/* A branch keeps the parent's node numbering (ids below parent_nodes
	 * are the parent's): its graph is not compacted, and its checkpoint is
	 * the delta against the parent's graph. */
	bool cow = store_is_cow(s);
	if (!err && !cow) {
		int r = rvf_hnsw_maybe_compact(s->h, 0.2);
		err = r < 0 ? r : 0;
	}
	if (!err)
		err = ckpt_build(s->h, &nt, &nm, o.next_id - 1, cow ? &s->cow : NULL, &ckp);
	if (!err)
		err = ckpt_write(s->dir, &ckp);
	if (!err) {
		s->hdr.next_seg_id = o.next_id;
		s->hdr.ckpt_seg_id = ckp.hdr.covers_seg_id;
		s->hdr.ckpt_count++;
		s->hdr.deleted = 0;
		err = store_hdr_put(s);
	}
	err = err ? err : store_commit(s, "compact");
	if (err) {
		rvf_dir_rollback(s->dir);
		s->hdr = old;
		goto out;
	}
	store_version_bump(s);
	free(s->segs.a);
	s->segs = nt;
	nt.a = NULL;
	idmap_release(&s->map);
	s->map = nm;
	nm.slots = NULL;
	s->ckpt_bytes = ckpt_size(&ckp);
	s->pending_vecs = s->pending_dels = 0;
out:
	free(nt.a);
	idmap_release(&nm);
	free(o.buf);
	free(o.mv);
	free(o.new_ids);
	free(o.new_rows);
	free(rewrite);
	free(rm);
	free(mbuf);
	ckpt_release(&ckp);
	return err;
}

/* Step 2 + 3. Content-neutral; 0 or -errno. */
static int compact_relocate(struct rvf_store *s)
{
	uint64_t bs = rvf_dir_block_size(s->dir);
	uint64_t total = rvf_dir_total_blocks(s->dir), freeb = rvf_dir_free_block_count(s->dir);
	struct rvf_dir_segment *segs = NULL;
	size_t n = 0, moved = 0;
	int err;

	if (!freeb)
		return 0;
	/* While a reader pins an older snapshot the dir appends instead of
	 * reusing freed blocks: moving segments would only grow the file. */
	if (rvf_dir_reuse_blocked(s->dir)) {
		log_info("%s: compact: a reader holds a snapshot; freed space is reused later", s->path);
		return 0;
	}
	uint64_t packed_end = RVF_DATA_START + (total - freeb) * bs;
	err = rvf_dir_segments(s->dir, &segs, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n && !err; i++) {
		void *buf = NULL;
		size_t len;
		if (!store_owned(segs[i].type) || segs[i].file_offset < packed_end)
			continue;
		err = rvf_dir_read_segment(s->dir, segs[i].id, &buf, &len);
		if (!err) {
			struct iovec iov = { buf, len };
			err = rvf_dir_write_segmentv(s->dir, segs[i].id, segs[i].type, segs[i].flags, &iov, 1);
			moved++;
		}
		free(buf);
	}
	if (!err && s->hdr.ckpt_seg_id) {
		void *buf = NULL;
		size_t len;
		err = rvf_dir_read_vector_index(s->dir, CKPT_FIELD, &buf, &len);
		if (!err)
			err = rvf_dir_write_vector_index(s->dir, CKPT_FIELD, buf, len);
		free(buf);
		moved++;
	}
	free(segs);
	if (!err && moved)
		err = store_commit(s, "compact: relocate");
	else if (err)
		rvf_dir_rollback(s->dir);
	if (!err)
		err = store_commit(s, "compact: trim");   /* empty: the free tail goes */
	return err;
}

int rvf_store_compact(struct rvf_store *s, struct rvf_compact_result *res)
{
	uint64_t ncomp = 0;
	int64_t before, after;
	int err = store_writable(s);

	if (err)
		return err;
	before = rvf_dir_file_size(s->dir);
	err = compact_rewrite(s, &ncomp);
	if (!err) {
		err = member_sync(s);      /* the graph may have renumbered its nodes */
		if (err)
			s->broken = err;
	}
	if (!err)
		err = compact_relocate(s);
	if (err)
		return err;
	after = rvf_dir_file_size(s->dir);
	if (res) {
		res->segments_compacted = ncomp;
		res->bytes_reclaimed = before > after ? (uint64_t)(before - after) : 0;
		res->epoch = rvf_dir_generation(s->dir);
	}
	return 0;
}

/* ---- verify ------------------------------------------------------------------------------ */

struct vfy {
	struct rvf_store *s;
	struct idmap m;              /* replayed */
	struct meta_store *ms;       /* replayed */
	uint64_t live, deleted;
	uint64_t problems;
};

#define VPROB(v, ...) do { log_error(__VA_ARGS__); (v)->problems++; } while (0)

static void vfy_vec(struct vfy *v, const struct rvf_dir_segment *g, const void *buf, size_t len)
{
	struct rvf_store *s = v->s;
	const uint64_t *ids;
	const float *rows;
	size_t n;
	uint32_t dim = s->hdr.dimension;

	if (vec_parse(buf, len, dim, s->path, g->id, &ids, &rows, &n)) {
		v->problems++;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const float *row = rows + i * (size_t)dim;
		struct loc *l = idmap_get(&v->m, ids[i]);
		for (uint32_t d = 0; d < dim; d++)
			if (!isfinite(row[d])) {
				VPROB(v, "%s: verify: VEC segment %llu row %zu has a non-finite value", s->path,
				      (unsigned long long)g->id, i);
				break;
			}
		if (l && l->vseg == g->id) {
			VPROB(v, "%s: verify: VEC segment %llu holds id %llu twice", s->path,
			      (unsigned long long)g->id, (unsigned long long)ids[i]);
			continue;
		}
		if (!l) {
			l = idmap_put(&v->m, ids[i]);
			if (!l) {
				v->problems++;
				return;
			}
			v->live++;
		} else if (l->flags & LOC_DELETED) {
			l->flags &= ~LOC_DELETED;
			v->deleted--;
			v->live++;
		}
		l->vseg = g->id;
		l->row = (uint32_t)i;
		/* the current row (per the handle) must be the graph's vector */
		const struct loc *ml = idmap_get(&s->map, ids[i]);
		if (ml && !(ml->flags & LOC_DELETED) && ml->vseg == g->id && ml->row == i) {
			const float *hv = rvf_hnsw_vector(s->h, ids[i]);
			if (!hv || memcmp(hv, row, (size_t)dim * 4))
				VPROB(v, "%s: verify: id %llu: the graph's vector differs from VEC segment %llu",
				      s->path, (unsigned long long)ids[i], (unsigned long long)g->id);
		}
	}
}

static void vfy_meta_cb(void *ctx, uint64_t id, bool set, uint32_t bytes)
{
	struct vfy *v = ctx;
	struct loc *l = idmap_get(&v->m, id);

	(void)set;
	(void)bytes;
	if (!l || (l->flags & LOC_DELETED))
		VPROB(v, "%s: verify: a META record names id %llu, which is not live there", v->s->path,
		      (unsigned long long)id);
}

static void vfy_journal(struct vfy *v, const struct rvf_dir_segment *g, const void *buf, size_t len)
{
	const uint64_t *ids;
	size_t n;

	if (jrn_parse(buf, len, v->s->path, g->id, &ids, &n)) {
		v->problems++;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct loc *l = idmap_get(&v->m, ids[i]);
		if (!l || (l->flags & LOC_DELETED)) {
			VPROB(v, "%s: verify: JOURNAL segment %llu deletes id %llu, which is not live",
			      v->s->path, (unsigned long long)g->id, (unsigned long long)ids[i]);
			continue;
		}
		l->flags |= LOC_DELETED;
		meta_store_remove(v->ms, ids[i]);
		v->live--;
		v->deleted++;
	}
}

static int meta_equal(const struct rvf_meta_entry *a, const struct rvf_meta_entry *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].field_id != b[i].field_id || a[i].value.type != b[i].value.type)
			return 0;
		switch (a[i].value.type) {
		case RVF_META_STRING: case RVF_META_BYTES:
			if (a[i].value.v.buf.len != b[i].value.v.buf.len ||
			    (a[i].value.v.buf.len &&
			     memcmp(a[i].value.v.buf.ptr, b[i].value.v.buf.ptr, a[i].value.v.buf.len)))
				return 0;
			break;
		default:
			if (memcmp(&a[i].value.v.u64, &b[i].value.v.u64, 8))
				return 0;
		}
	}
	return 1;
}

struct meta_cmp { struct vfy *v; struct rvf_meta_entry *tmp; };

static int meta_cmp_cb(void *ctx, uint64_t id, const struct rvf_meta_entry *e, size_t n)
{
	struct meta_cmp *c = ctx;
	size_t m = 0;

	if (meta_store_get(c->v->s->ms, id, c->tmp, RVF_META_MAX_FIELDS, &m) || m != n ||
	    !meta_equal(e, c->tmp, n))
		VPROB(c->v, "%s: verify: metadata of id %llu differs from the META segments", c->v->s->path,
		      (unsigned long long)id);
	return 0;
}

/* The checkpoint's tables against the replay as of the checkpoint. */
static void vfy_ckpt_tables(struct vfy *v, const uint8_t *buf, const struct ckpt_hdr *ck)
{
	const uint8_t *lp = buf + CKPT_HDR + ck->nsegs * sizeof(struct ckpt_seg);

	if (!buf || !(ck->flags & CKPT_F_TABLES))
		return;
	if (ck->nlocs != v->m.used)
		VPROB(v, "%s: verify: the checkpoint places %llu ids, the segments up to it %zu", v->s->path,
		      (unsigned long long)ck->nlocs, v->m.used);
	for (uint64_t i = 0; i < ck->nlocs; i++) {
		struct loc l;
		memcpy(&l, lp + i * sizeof(l), sizeof(l));
		const struct loc *r = idmap_get(&v->m, l.id);
		if (!r || r->vseg != l.vseg || r->row != l.row ||
		    (r->flags & LOC_DELETED) != (l.flags & LOC_DELETED)) {
			VPROB(v, "%s: verify: the checkpoint places id %llu differently from the segments",
			      v->s->path, (unsigned long long)l.id);
			break;
		}
	}
}

static const float *vfy_zero_vec(void *ctx, uint64_t label, uint32_t internal_id)
{
	(void)label;
	(void)internal_id;
	return ctx;
}

int rvf_store_verify(struct rvf_store *s)
{
	struct vfy v = { .s = s };
	struct rvf_dir_segment *segs = NULL;
	struct meta_cmp mc = { &v, NULL };
	struct ckpt_hdr ck;
	uint8_t *ckbuf = NULL;
	size_t n = 0, cklen = 0;
	int err;

	if (!s)
		return -EINVAL;
	if (store_readable(s))
		return store_readable(s);
	if (rvf_dir_check(s->dir, NULL))
		v.problems++;
	if (rvf_hnsw_check(s->h))
		v.problems++;
	err = idmap_init(&v.m, s->hdr.live);
	if (!err)
		err = meta_store_new(&v.ms);
	if (!err)
		err = rvf_dir_segments(s->dir, &segs, &n);
	mc.tmp = malloc(RVF_META_MAX_FIELDS * sizeof(*mc.tmp));
	if (err || !mc.tmp) {
		err = err ? err : -ENOMEM;
		goto out;
	}
	if (s->hdr.ckpt_seg_id) {
		int e = rvf_dir_read_vector_index(s->dir, CKPT_FIELD, (void **)&ckbuf, &cklen);
		if (!e)
			e = ckpt_frame_check(ckbuf, cklen, s->hdr.ckpt_seg_id, &ck);
		if (e) {
			VPROB(&v, "%s: verify: the graph checkpoint is unusable: %s", s->path, rvf_strerror(e));
			free(ckbuf);
			ckbuf = NULL;
		}
	}
	bool tables_done = !ckbuf;
	for (size_t i = 0; i < n; i++) {
		const struct rvf_dir_segment *g = &segs[i];
		void *buf = NULL;
		size_t len;
		if (!tables_done && g->id > s->hdr.ckpt_seg_id) {
			vfy_ckpt_tables(&v, ckbuf, &ck);
			tables_done = true;
		}
		int e = rvf_dir_read_segment(s->dir, g->id, &buf, &len);
		if (e) {
			VPROB(&v, "%s: verify: segment %llu unreadable: %s", s->path, (unsigned long long)g->id,
			      rvf_strerror(e));
			continue;
		}
		if (store_owned(g->type) && g->id >= s->hdr.next_seg_id)
			VPROB(&v, "%s: verify: segment %llu is past the header's next id", s->path,
			      (unsigned long long)g->id);
		if (g->type == RVF_SEG_VEC) {
			vfy_vec(&v, g, buf, len);
		} else if (g->type == RVF_SEG_META) {
			if (meta_seg_decode(buf, len, v.ms) < 0 || meta_walk(buf, len, vfy_meta_cb, &v))
				VPROB(&v, "%s: verify: META segment %llu is invalid", s->path,
				      (unsigned long long)g->id);
		} else if (g->type == RVF_SEG_JOURNAL) {
			vfy_journal(&v, g, buf, len);
		} else if (g->type == RVF_SEG_KERNEL || g->type == RVF_SEG_EBPF) {
			if (store_check_carried(s, g->type, g->id, buf, len))
				v.problems++;
		}
		free(buf);
	}
	if (!tables_done)
		vfy_ckpt_tables(&v, ckbuf, &ck);
	/* replay vs the handle */
	if (v.live != s->hdr.live || v.deleted != s->hdr.deleted)
		VPROB(&v, "%s: verify: segments give %llu live / %llu deleted, the store says %llu / %llu",
		      s->path, (unsigned long long)v.live, (unsigned long long)v.deleted,
		      (unsigned long long)s->hdr.live, (unsigned long long)s->hdr.deleted);
	uint64_t base = store_is_cow(s) ? s->cow.base_live : 0;
	if (rvf_hnsw_live_count(s->h) != s->hdr.live + base)
		VPROB(&v, "%s: verify: the graph has %zu live nodes, the store %llu", s->path,
		      rvf_hnsw_live_count(s->h), (unsigned long long)(s->hdr.live + base));
	for (size_t i = 0; store_is_cow(s) && i < s->cow.nhidden; i++)
		if (rvf_hnsw_contains(s->h, s->cow.hidden[i]) && !idmap_get(&s->map, s->cow.hidden[i]))
			VPROB(&v, "%s: verify: hidden parent id %llu is visible", s->path,
			      (unsigned long long)s->cow.hidden[i]);
	for (size_t i = 0; i < v.m.cap; i++) {
		const struct loc *a = &v.m.slots[i], *b;
		if (!a->flags)
			continue;
		b = idmap_get(&s->map, a->id);
		if (!b || a->vseg != b->vseg || a->row != b->row ||
		    (a->flags & LOC_DELETED) != (b->flags & LOC_DELETED))
			VPROB(&v, "%s: verify: id %llu is placed differently in memory and on disk", s->path,
			      (unsigned long long)a->id);
		else if (!(a->flags & LOC_DELETED) && !rvf_hnsw_contains(s->h, a->id))
			VPROB(&v, "%s: verify: live id %llu is not in the graph", s->path,
			      (unsigned long long)a->id);
	}
	if (v.m.used != s->map.used)
		VPROB(&v, "%s: verify: the handle tracks %zu ids, the segments %zu", s->path, s->map.used,
		      v.m.used);
	/* the per-segment live row counts behind status's dead bytes */
	uint64_t *live_rows = calloc(s->segs.n + 1, sizeof(*live_rows));
	if (live_rows) {
		for (size_t i = 0; i < v.m.cap; i++) {
			const struct loc *a = &v.m.slots[i];
			const struct sseg *g;
			if (a->flags && !(a->flags & LOC_DELETED) && (g = segtab_find(&s->segs, a->vseg)))
				live_rows[g - s->segs.a]++;
		}
		for (size_t i = 0; i < s->segs.n; i++)
			if (s->segs.a[i].type == RVF_SEG_VEC && s->segs.a[i].live_rows != live_rows[i])
				VPROB(&v, "%s: verify: VEC segment %llu has %llu live rows, the handle counts %llu",
				      s->path, (unsigned long long)s->segs.a[i].id,
				      (unsigned long long)live_rows[i],
				      (unsigned long long)s->segs.a[i].live_rows);
		free(live_rows);
	}
	/* (a branch's metadata store also holds what it reads from its parent) */
	if (!store_is_cow(s) && meta_store_count(v.ms) != meta_store_count(s->ms))
		VPROB(&v, "%s: verify: %zu ids have metadata on disk, %zu in memory", s->path,
		      meta_store_count(v.ms), meta_store_count(s->ms));
	meta_store_foreach(v.ms, meta_cmp_cb, &mc);
	/* the checkpoint's graph must load (structure and checksum); a branch's
	 * delta applies to its parent's graph as attached, which the handle no
	 * longer has: its tie is checked (the delta's own checks run at open) */
	if (ckbuf && (ck.flags & CKPT_F_DELTA)) {
		int e = cow_ckpt_usable(s, ckbuf, cklen, &ck);
		if (e && e != -ESTALE)
			VPROB(&v, "%s: verify: the branch's graph checkpoint is unusable: %s", s->path,
			      rvf_strerror(e));
	} else if (ckbuf) {
		float *zero = calloc(s->hdr.dimension, 4);
		struct rvf_hnsw *h = NULL;
		int e = zero ? rvf_hnsw_load(ckbuf + cklen - ck.blob_len, ck.blob_len, vfy_zero_vec, zero, &h)
			     : -ENOMEM;
		if (e)
			VPROB(&v, "%s: verify: the graph checkpoint is unusable: %s", s->path, rvf_strerror(e));
		rvf_hnsw_free(h);
		free(zero);
	}
out:
	free(ckbuf);
	free(mc.tmp);
	free(segs);
	meta_store_free(v.ms);
	idmap_release(&v.m);
	if (err)
		return err;
	return v.problems ? -EUCLEAN : 0;
}
