/*
 * store/store_write.c - ingest and delete: one segment set and one durable
 * commit per call, memory updated only once the commit is durable (the state
 * sketch is in store.c).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/store_internal.h"

const char *rvf_reject_reason_name(enum rvf_reject_reason r)
{
	switch (r) {
	case RVF_REJECT_DIMENSION: return "wrong dimension";
	case RVF_REJECT_NONFINITE: return "NaN or infinite value";
	case RVF_REJECT_METADATA:  return "invalid metadata";
	case RVF_REJECT_ZERO_NORM: return "zero vector in a cosine store";
	}
	return "unknown reason";
}

void rvf_ingest_result_release(struct rvf_ingest_result *r)
{
	if (!r)
		return;
	free(r->rejects);
	r->rejects = NULL;
}

/* 0 if the entries are what meta_store_set accepts; seen is a 65536-bit
 * scratch bitmap, left all zero. */
static int meta_ok(const struct rvf_meta_entry *e, uint32_t n, uint64_t *seen)
{
	int ok = 1;
	uint32_t i;

	if (!n)
		return 1;
	if (!e || n > RVF_META_MAX_FIELDS)
		return 0;
	for (i = 0; i < n && ok; i++) {
		uint16_t f = e[i].field_id;
		switch (e[i].value.type) {
		case RVF_META_U64: case RVF_META_I64: case RVF_META_F64:
			break;
		case RVF_META_STRING: case RVF_META_BYTES:
			if ((!e[i].value.v.buf.ptr && e[i].value.v.buf.len) ||
			    e[i].value.v.buf.len > RVF_META_MAX_BUF_LEN)
				ok = 0;
			break;
		default:
			ok = 0;
		}
		if (seen[f / 64] & (1ull << (f % 64)))
			ok = 0;
		seen[f / 64] |= 1ull << (f % 64);
	}
	for (uint32_t j = 0; j < i; j++)
		seen[e[j].field_id / 64] = 0;
	return ok;
}

static int vector_check(const struct rvf_store *s, const struct rvf_vector *v, uint64_t *seen)
{
	double norm = 0;

	if (v->dim != s->hdr.dimension || !v->values)
		return RVF_REJECT_DIMENSION;
	for (uint32_t d = 0; d < v->dim; d++) {
		if (!isfinite(v->values[d]))
			return RVF_REJECT_NONFINITE;
		norm += (double)v->values[d] * v->values[d];
	}
	if (!meta_ok(v->meta, v->n_meta, seen))
		return RVF_REJECT_METADATA;
	if (s->hdr.metric == RVF_METRIC_COSINE && norm == 0)
		return RVF_REJECT_ZERO_NORM;
	return 0;
}

struct idx_id { uint64_t id; size_t idx; };

static int cmp_idx_id(const void *a, const void *b)
{
	const struct idx_id *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int rvf_store_ingest_batch(struct rvf_store *s, const struct rvf_vector *v, size_t n,
			   struct rvf_ingest_result *res)
{
	struct rvf_ingest_result r = { 0 };
	struct store_hdr old;
	struct idx_id *order = NULL;
	size_t *keep = NULL, nkeep = 0, nvalid = 0;
	struct meta_rec *recs = NULL;
	size_t nrec = 0;
	uint64_t *seen = NULL, *ids;
	uint8_t *vbuf = NULL;
	void *mbuf = NULL;
	size_t mlen = 0;
	struct vec_hdr vh;
	struct cow_stage cs = { 0 };
	uint64_t vseg, mseg = 0, pl, pd, t0;
	uint32_t dim;
	int err = store_writable(s);

	if (err)
		return err;
	if (!v && n)
		return log_fail(-EINVAL, "%s: ingest: NULL vector array", s->path);
	dim = s->hdr.dimension;
	seen = calloc(65536 / 64, 8);
	order = malloc((n ? n : 1) * sizeof(*order));
	keep = malloc((n ? n : 1) * sizeof(*keep));
	r.rejects = calloc(n ? n : 1, sizeof(*r.rejects));
	if (!seen || !order || !keep || !r.rejects) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int why = vector_check(s, &v[i], seen);
		if (why) {
			r.rejects[r.rejected++] = (struct rvf_reject){ i, v[i].id, (enum rvf_reject_reason)why };
			continue;
		}
		order[nvalid++] = (struct idx_id){ v[i].id, i };
	}
	r.accepted = nvalid;
	/* an id twice in the batch: the last one wins */
	qsort(order, nvalid, sizeof(*order), cmp_idx_id);
	for (size_t i = 0; i < nvalid; i++)
		if (i + 1 == nvalid || order[i + 1].id != order[i].id)
			keep[nkeep++] = order[i].idx;
	qsort(keep, nkeep, sizeof(*keep), cmp_size);
	if (!nkeep) {
		r.epoch = rvf_dir_generation(s->dir);
		goto out;
	}

	/* the VEC payload */
	vec_hdr_make(&vh, dim, nkeep);
	size_t vlen = (size_t)(vh.rows_off + (uint64_t)nkeep * vh.stride);
	if (posix_memalign((void **)&vbuf, 64, vlen)) {
		vbuf = NULL;
		err = -ENOMEM;
		goto out;
	}
	memset(vbuf, 0, vh.rows_off);
	memcpy(vbuf, &vh, sizeof(vh));
	ids = (uint64_t *)(void *)(vbuf + VEC_HDR);
	pl = s->hdr.live;
	pd = s->hdr.deleted;
	recs = malloc(nkeep * sizeof(*recs));
	if (!recs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < nkeep; j++) {
		const struct rvf_vector *x = &v[keep[j]];
		const struct loc *l = idmap_get(&s->map, x->id);
		ids[j] = x->id;
		memcpy(vbuf + vh.rows_off + j * vh.stride, x->values, vh.stride);
		if (!l) {
			pl++;
		} else if (l->flags & LOC_DELETED) {
			pl++;
			pd--;
		}
		if (x->n_meta || meta_store_has(s->ms, x->id))
			recs[nrec++] = (struct meta_rec){ x->id, x->meta, x->n_meta };
	}
	if (nrec) {
		err = meta_seg_encode(recs, nrec, &mbuf, &mlen);
		if (err)
			goto out;
	}
	if (store_is_cow(s)) {
		/* parent vectors this batch replaces: hidden from now on */
		err = cow_stage_ids(s, ids, nkeep, &cs);
		if (err)
			goto out;
	}

	/* one commit */
	t0 = now_mono_ns();
	old = s->hdr;
	vseg = s->hdr.next_seg_id;
	err = rvf_dir_write_segment(s->dir, vseg, RVF_SEG_VEC, vbuf, vlen);
	if (!err && nrec) {
		mseg = vseg + 1;
		err = rvf_dir_write_segment(s->dir, mseg, RVF_SEG_META, mbuf, mlen);
	}
	s->hdr.next_seg_id = vseg + 1 + (nrec ? 1 : 0);
	if (!err && cs.n)
		err = cow_stage_write(s, &cs);
	if (!err) {
		s->hdr.live = pl;
		s->hdr.deleted = pd;
		err = store_hdr_put(s);
	}
	err = err ? err : store_commit(s, "ingest");
	if (err) {
		rvf_dir_rollback(s->dir);
		s->hdr = old;
		goto out;
	}
	s->stats.commit_ns += now_mono_ns() - t0;
	store_version_bump(s);

	/* durable: now memory */
	s->hdr.live = old.live;
	s->hdr.deleted = old.deleted;
	{
		struct sseg g = { .id = vseg, .type = RVF_SEG_VEC, .payload_len = vlen, .rows = nkeep,
				  .disk_bytes = store_disk_bytes(s, vlen) };
		err = segtab_add(&s->segs, &g);
		if (!err)
			err = store_apply_vec_ids(s, vseg, ids, nkeep);
	}
	if (!err && nrec) {
		struct sseg g = { .id = mseg, .type = RVF_SEG_META, .payload_len = mlen,
				  .disk_bytes = store_disk_bytes(s, mlen) };
		err = segtab_add(&s->segs, &g);
		if (!err)
			err = store_apply_meta(s, mseg, mbuf, mlen);
	}
	if (!err && cs.n)
		err = cow_stage_apply(s, &cs, false);
	if (!err) {
		t0 = now_mono_ns();
		err = rvf_hnsw_add_batch(s->h, ids, (const float *)(const void *)(vbuf + vh.rows_off), nkeep);
		s->stats.index_ns += now_mono_ns() - t0;
	}
	if (!err)
		err = member_sync(s);
	if (!err && (s->hdr.live != pl || s->hdr.deleted != pd))
		err = log_fail(-EUCLEAN, "%s: internal: counters after ingest disagree", s->path);
	if (err) {
		s->broken = err;
		log_error("%s: batch committed (epoch %llu) but the in-memory state could not be updated: %s; reopen the store",
			  s->path, (unsigned long long)rvf_dir_generation(s->dir), rvf_strerror(err));
		goto out;
	}
	s->pending_vecs += nkeep;
	r.epoch = rvf_dir_generation(s->dir);
	if (store_maybe_checkpoint(s))
		log_warn("%s: graph checkpoint failed (the batch itself is durable)", s->path);
out:
	free(seen);
	free(order);
	free(keep);
	free(recs);
	free(vbuf);
	free(mbuf);
	cow_stage_release(&cs);
	if (!err && res) {
		*res = r;
	} else {
		free(r.rejects);
	}
	return err;
}

/* Tombstone the (sorted, unique, live) ids in one commit: a JOURNAL for
 * the store's own rows, and on a branch a new COW_MAP hiding the parent's
 * (cs, staged by the caller). */
static int delete_live(struct rvf_store *s, const uint64_t *ids, size_t n, struct cow_stage *cs,
		       struct rvf_delete_result *res)
{
	struct store_hdr old = s->hdr;
	uint8_t *buf = NULL;
	uint64_t seg = 0;
	size_t len = JRN_HDR + n * 8;
	int err = 0;

	if (!n && !cs->n)
		goto done;
	if (!n)
		goto cow_only;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, JRN_MAGIC, 4);
	uint16_t ver = JRN_VERSION, op = JRN_OP_DELETE;
	uint64_t cnt = n;
	memcpy(buf + 4, &ver, 2);
	memcpy(buf + 6, &op, 2);
	memcpy(buf + 8, &cnt, 8);
	memcpy(buf + JRN_HDR, ids, n * 8);
	seg = s->hdr.next_seg_id;
	err = rvf_dir_write_segment(s->dir, seg, RVF_SEG_JOURNAL, buf, len);
	if (!err)
		s->hdr.next_seg_id = seg + 1;
cow_only:
	if (!err && cs->n)
		err = cow_stage_write(s, cs);
	if (!err) {
		s->hdr.live -= n;
		s->hdr.deleted += n;
		err = store_hdr_put(s);
	}
	err = err ? err : store_commit(s, "delete");
	if (err) {
		rvf_dir_rollback(s->dir);
		s->hdr = old;
		goto out;
	}
	s->hdr.live = old.live;
	s->hdr.deleted = old.deleted;
	store_version_bump(s);
	if (n) {
		struct sseg g = { .id = seg, .type = RVF_SEG_JOURNAL, .payload_len = len, .rows = n,
				  .disk_bytes = store_disk_bytes(s, len) };
		err = segtab_add(&s->segs, &g);
		if (!err)
			err = store_apply_journal(s, seg, ids, n, true);
	}
	if (!err && cs->n)
		err = cow_stage_apply(s, cs, true);
	if (!err)
		err = member_sync(s);
	if (err) {
		s->broken = err;
		log_error("%s: delete committed but the in-memory state could not be updated: %s; reopen the store",
			  s->path, rvf_strerror(err));
		goto out;
	}
	s->pending_dels += n;
	if (store_maybe_checkpoint(s))
		log_warn("%s: graph checkpoint failed (the delete itself is durable)", s->path);
done:
	if (res) {
		res->deleted = n + cs->n;
		res->epoch = rvf_dir_generation(s->dir);
	}
out:
	free(buf);
	return err;
}

/* Delete ids (any order, duplicates and absent ids fine). */
static int delete_ids(struct rvf_store *s, const uint64_t *ids, size_t n, struct rvf_delete_result *res)
{
	struct cow_stage cs = { 0 };
	uint64_t *live = NULL, *par = NULL;
	size_t k = 0, np = 0;
	int err;

	live = malloc((n ? n : 1) * 8);
	par = malloc((n ? n : 1) * 8);
	if (!live || !par) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct loc *l = idmap_get(&s->map, ids[i]);
		if (l && !(l->flags & LOC_DELETED))
			live[k++] = ids[i];
		else if (!l && store_is_cow(s) && cow_parent_visible(s, ids[i]))
			par[np++] = ids[i];
	}
	qsort(live, k, 8, cmp_u64);
	size_t u = 0;
	for (size_t i = 0; i < k; i++)
		if (!u || live[u - 1] != live[i])
			live[u++] = live[i];
	err = np ? cow_stage_ids(s, par, np, &cs) : 0;
	if (!err)
		err = delete_live(s, live, u, &cs, res);
out:
	cow_stage_release(&cs);
	free(live);
	free(par);
	return err;
}

int rvf_store_delete(struct rvf_store *s, const uint64_t *ids, size_t n, struct rvf_delete_result *res)
{
	int err = store_writable(s);

	if (err)
		return err;
	if (!ids && n)
		return log_fail(-EINVAL, "%s: delete: NULL id array", s->path);
	return delete_ids(s, ids, n, res);
}

int rvf_store_delete_by_filter(struct rvf_store *s, const struct rvf_filter *f,
			       struct rvf_delete_result *res)
{
	uint64_t *ids = NULL;
	size_t k = 0;
	int err = store_writable(s);

	if (err)
		return err;
	if (!f)
		return log_fail(-EINVAL, "%s: delete_by_filter needs a filter", s->path);
	if (store_is_cow(s)) {
		/* the branch's view: every live node of the graph */
		size_t nodes = rvf_hnsw_count(s->h);
		ids = malloc((rvf_hnsw_live_count(s->h) + 1) * 8);
		if (!ids)
			return -ENOMEM;
		for (size_t i = 0; i < nodes; i++) {
			uint64_t label;
			int dead;
			if (!rvf_hnsw_label_of(s->h, (uint32_t)i, &label, &dead) && !dead &&
			    filter_eval(f, s->ms, label))
				ids[k++] = label;
		}
		err = delete_ids(s, ids, k, res);
		free(ids);
		return err;
	}
	ids = malloc((s->hdr.live ? s->hdr.live : 1) * 8);
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < s->map.cap; i++) {
		const struct loc *l = &s->map.slots[i];
		if (l->flags && !(l->flags & LOC_DELETED) && filter_eval(f, s->ms, l->id))
			ids[k++] = l->id;
	}
	qsort(ids, k, 8, cmp_u64);
	struct cow_stage cs = { 0 };
	err = delete_live(s, ids, k, &cs, res);
	free(ids);
	return err;
}
