/*
 * store/store_ckpt.c - graph checkpoints (vector index field 0): the payload
 * (ckpt_hdr, the segment and id tables, the rvf_hnsw_save blob) built from
 * the graph and bookkeeping, written in its own commit that touches no data
 * (invariant 2 in store.c), and the policy of when to take one.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/log.h"
#include "store/store_internal.h"

#define CKPT_MIN_VECTORS 65536u

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
		if (store_owned_type(g->type) && g->id <= covers)
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

