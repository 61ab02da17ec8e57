/*
 * store/store_cow_write.c - a COW branch's writes: the COW map changes an
 * ingest or delete stages (store_write.c commits them), and flatten
 * (rvf compact --flatten), which makes the branch a standalone store.
 * The on-disk layout and the open path: store_cow.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/store_internal.h"

/* ---- COW: the hidden list and cluster bitmap ------------------------------------------------- */

int cow_merge(const struct cow_state *c, const uint64_t *add, const uint32_t *iids, size_t n,
	      uint64_t **hid, size_t *nhid, uint64_t **loc)
{
	size_t words = (c->nclusters + 63) / 64 + 1, i = 0, j = 0, k = 0;
	uint64_t *h = malloc((c->nhidden + n + 1) * 8), *l = malloc(words * 8);

	if (!h || !l) {
		free(h);
		free(l);
		return -ENOMEM;
	}
	while (i < c->nhidden || j < n) {
		if (j == n || (i < c->nhidden && c->hidden[i] < add[j]))
			h[k++] = c->hidden[i++];
		else if (i == c->nhidden || add[j] < c->hidden[i])
			h[k++] = add[j++];
		else {
			h[k++] = add[j++];
			i++;
		}
	}
	memcpy(l, c->local, words * 8);
	for (j = 0; j < n; j++) {
		uint64_t cl = iids[j] / c->vpc;
		l[cl / 64] |= 1ull << (cl % 64);
	}
	*hid = h;
	*nhid = k;
	*loc = l;
	return 0;
}

/* ---- COW: flatten ----------------------------------------------------------------------- */

struct flat_ctx { const struct rvf_store *s; };

static bool keep_parent_origin(void *ctx, uint64_t id)
{
	const struct flat_ctx *f = ctx;

	return cow_parent_visible(f->s, id);
}

#define FLAT_ROWS 65536u

/*
 * One commit: the parent vectors this branch sees become VEC segments of
 * its own (rows read from the adopted graph), their metadata one META
 * segment, the COW_MAP goes and the header loses STORE_F_COW. The lineage
 * (parent id and hash) stays: the file still records where it came from.
 */
static int flatten(struct rvf_store *s)
{
	struct store_hdr old = s->hdr;
	size_t nodes = (size_t)s->cow.parent_nodes, nv = 0, nsegs = 0;
	uint32_t dim = s->hdr.dimension;
	uint64_t *ids = NULL, *segids = NULL, *segrows = NULL, mseg = 0;
	void *mbuf = NULL;
	size_t mlen = 0;
	uint8_t *vbuf = NULL;
	struct vec_hdr vh;
	struct flat_ctx fc = { s };
	int err = 0;

	ids = malloc((nodes ? nodes : 1) * 8);
	segids = malloc((nodes / FLAT_ROWS + 2) * 8);
	segrows = malloc((nodes / FLAT_ROWS + 2) * 8);
	if (!ids || !segids || !segrows) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nodes; i++) {
		uint64_t label;
		int dead;
		if (!rvf_hnsw_label_of(s->h, (uint32_t)i, &label, &dead) && !dead &&
		    cow_parent_visible(s, label))
			ids[nv++] = label;
	}
	if (nv != s->cow.base_live) {
		err = log_fail(-EUCLEAN, "%s: flatten: %zu parent vectors visible, the map says %llu", s->path,
			       nv, (unsigned long long)s->cow.base_live);
		goto out;
	}
	vec_hdr_make(&vh, dim, FLAT_ROWS);
	if (posix_memalign((void **)&vbuf, 64, vh.rows_off + (size_t)FLAT_ROWS * vh.stride)) {
		vbuf = NULL;
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nv && !err; i += FLAT_ROWS) {
		size_t k = nv - i < FLAT_ROWS ? nv - i : FLAT_ROWS;
		vec_hdr_make(&vh, dim, k);
		memset(vbuf, 0, vh.rows_off);
		memcpy(vbuf, &vh, sizeof(vh));
		memcpy(vbuf + VEC_HDR, ids + i, k * 8);
		for (size_t j = 0; j < k; j++)
			memcpy(vbuf + vh.rows_off + j * vh.stride, rvf_hnsw_vector(s->h, ids[i + j]), vh.stride);
		segids[nsegs] = s->hdr.next_seg_id++;
		segrows[nsegs] = k;
		err = rvf_dir_write_segment(s->dir, segids[nsegs++], RVF_SEG_VEC, vbuf,
					    vh.rows_off + k * vh.stride);
	}
	if (!err) {
		err = meta_seg_encode_store(s->ms, keep_parent_origin, &fc, &mbuf, &mlen);
		if (!err && mlen > META_SEG_HDR) {
			mseg = s->hdr.next_seg_id++;
			err = rvf_dir_write_segment(s->dir, mseg, RVF_SEG_META, mbuf, mlen);
		}
	}
	if (!err && rvf_dir_remove_segments(s->dir, &s->cow.seg, 1) != 1)
		err = -EUCLEAN;
	if (!err) {
		s->hdr.flags &= ~(uint64_t)STORE_F_COW;
		s->hdr.live += nv;
		err = store_hdr_put(s);
	}
	err = err ? err : store_commit(s, "flatten");
	if (err) {
		rvf_dir_rollback(s->dir);
		s->hdr = old;
		goto out;
	}
	store_version_bump(s);
	/* durable: memory follows (the graph already holds every row) */
	s->hdr.live = old.live;
	segtab_remove(&s->segs, s->cow.seg);
	for (size_t i = 0, off = 0; i < nsegs && !err; off += segrows[i], i++) {
		size_t k = segrows[i];
		vec_hdr_make(&vh, dim, k);
		err = segtab_add_simple(s, segids[i], RVF_SEG_VEC, vh.rows_off + k * vh.stride);
		if (!err) {
			segtab_find(&s->segs, segids[i])->rows = k;
			err = store_apply_vec_ids(s, segids[i], ids + off, k);
		}
	}
	if (!err && mseg) {
		err = segtab_add_simple(s, mseg, RVF_SEG_META, mlen);
		if (!err)
			err = store_apply_meta(s, mseg, mbuf, mlen);
	}
	cow_release(&s->cow);
	if (!err && (s->hdr.live != old.live + nv || rvf_hnsw_live_count(s->h) != s->hdr.live))
		err = log_fail(-EUCLEAN, "%s: internal: counters after flatten disagree", s->path);
	if (err) {
		s->broken = err;
		log_error("%s: flatten committed but memory could not follow: %s; reopen the store", s->path,
			  rvf_strerror(err));
		goto out;
	}
	s->pending_vecs += nv;
out:
	free(ids);
	free(segids);
	free(segrows);
	free(vbuf);
	free(mbuf);
	return err;
}

int rvf_store_compact_flags(struct rvf_store *s, unsigned flags, struct rvf_compact_result *res)
{
	int err;

	if (flags & ~RVF_COMPACT_FLATTEN)
		return -EINVAL;
	if ((flags & RVF_COMPACT_FLATTEN) && s && store_is_cow(s)) {
		err = store_writable(s);
		if (!err)
			err = flatten(s);
		if (err)
			return err;
		/* a standalone store now: a checkpoint, so its next open loads the graph */
		err = store_checkpoint(s);
		if (err)
			return err;
	}
	return rvf_store_compact(s, res);
}

/* ---- COW: staged map changes (store_write.c) --------------------------------------------- */

int cow_stage_ids(struct rvf_store *s, const uint64_t *ids, size_t n, struct cow_stage *cs)
{
	size_t k = 0;
	int err;

	memset(cs, 0, sizeof(*cs));
	cs->ids = malloc((n ? n : 1) * 8);
	if (!cs->ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (cow_parent_visible(s, ids[i]))
			cs->ids[k++] = ids[i];
	k = ids_sort_unique(cs->ids, k);
	cs->n = k;
	if (!k)
		return 0;
	cs->iids = malloc(k * sizeof(*cs->iids));
	if (!cs->iids)
		return -ENOMEM;
	for (size_t i = 0; i < k; i++)
		if (rvf_hnsw_id_of(s->h, cs->ids[i], &cs->iids[i]))
			return -EUCLEAN;
	err = cow_merge(&s->cow, cs->ids, cs->iids, k, &cs->hid, &cs->nhid, &cs->loc);
	if (err)
		return err;
	struct cow_state c = s->cow;
	c.generation++;
	return cow_map_encode(s, &c, cs->hid, cs->nhid, cs->loc, &cs->buf, &cs->len);
}

int cow_stage_write(struct rvf_store *s, struct cow_stage *cs)
{
	int err;

	cs->seg = s->hdr.next_seg_id;
	err = rvf_dir_write_segment(s->dir, cs->seg, RVF_SEG_COW_MAP, cs->buf, cs->len);
	if (err)
		return err;
	s->hdr.next_seg_id++;
	return rvf_dir_remove_segments(s->dir, &s->cow.seg, 1) == 1 ? 0 : -EUCLEAN;
}

int cow_stage_apply(struct rvf_store *s, struct cow_stage *cs, bool tombstone)
{
	int err;

	if (tombstone)
		for (size_t i = 0; i < cs->n; i++) {
			err = rvf_hnsw_delete(s->h, cs->ids[i]);
			if (err)
				return err;
			meta_store_remove(s->ms, cs->ids[i]);
		}
	segtab_remove(&s->segs, s->cow.seg);
	err = segtab_add_simple(s, cs->seg, RVF_SEG_COW_MAP, cs->len);
	free(s->cow.hidden);
	free(s->cow.local);
	s->cow.hidden = cs->hid;
	s->cow.nhidden = cs->nhid;
	s->cow.local = cs->loc;
	cs->hid = cs->loc = NULL;
	s->cow.seg = cs->seg;
	s->cow.generation++;
	s->cow.base_live -= cs->n;
	return err;
}

void cow_stage_release(struct cow_stage *cs)
{
	free(cs->ids);
	free(cs->iids);
	free(cs->hid);
	free(cs->loc);
	free(cs->buf);
	memset(cs, 0, sizeof(*cs));
}
