/*
 * index/hnsw_delta.c - an index saved as what differs from a base graph (a
 * COW branch's graph against its parent's as attached), and applied back
 * onto a copy of that base: rvf_hnsw_base_sign, rvf_hnsw_save_delta,
 * rvf_hnsw_load_delta. The whole-index blob is in hnsw_io.c.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/log.h"
#include "index/hnsw_blob.h"
#include "index/hnsw_internal.h"

/* ---- delta against a base graph ------------------------------------------- */

/*
 * Delta blob (rvf_hnsw_save_delta): an index whose first B nodes are a base
 * graph (a COW branch's parent, attached as it is) saved as what differs
 * from that base. Little-endian:
 *
 *   offset size  field
 *   0      8     magic "RVFHDLT\0"
 *   8      4     version (1)
 *   12     4     flags (0)
 *   16     4     dim
 *   20     4     metric
 *   24     4     M
 *   28     4     ef_construction
 *   32     4     quant
 *   36     4     max level (int32)
 *   40     8     B: base nodes (the base's count; the delta applies to no other)
 *   48     8     count: nodes after the delta (>= B; new nodes are B..count-1)
 *   56     8     live (after the delta, on the base as it was signed)
 *   64     4     entry point
 *   68     4     reserved (0)
 *   72     8     base fingerprint (rvf_hnsw_base_sign of the base as it was)
 *   80     32    level generator state (4 x u64)
 *   112    4     D: base nodes tombstoned (all of them, old or new)
 *   116    4     C: base nodes whose lists changed
 *   120    8     payload length P (bytes from 128 to the checksum)
 *   128    P     labels u64[count-B], flags u8[count-B], levels u8[count-B]
 *                of the new nodes, dead base ids u32[D] ascending, changed
 *                base ids u32[C] ascending, lists of each new node (levels
 *                0..L, each u32 n, u32 ids[n]), lists of each changed base
 *                node (levels 0..its level), vectors f32[dim] (as inserted)
 *                of each new node that is deleted
 *   128+P  8     XXH3-64 of bytes [0, 128+P)
 *
 * Loading checks everything against the blob's bounds and the base before
 * changing the base, then repairs reachability (as a batch insert does) and
 * runs rvf_hnsw_check on the result.
 */
#define DELTA_MAGIC   "RVFHDLT"
#define DELTA_VERSION 1u
#define DELTA_HDR     128u

/* A node's lists at every level, folded into one hash seeded by its label. */
static uint64_t node_hash(const struct rvf_hnsw *h, uint32_t u)
{
	uint64_t x = h->labels[u] ^ ((uint64_t)h->levels[u] << 56);

	for (int lc = 0; lc <= h->levels[u]; lc++) {
		const uint32_t *l = hnsw_links(h, u, lc);

		x = XXH3_64bits_withSeed(l, 4 * (1 + (size_t)l[0]), x);
	}
	return x;
}

int rvf_hnsw_base_sign(const struct rvf_hnsw *h, uint64_t **hashes, uint64_t *fp)
{
	uint64_t *a, tail[4];
	XXH3_state_t *st;

	if (!h || !hashes || !fp)
		return -EINVAL;
	a = malloc((h->count ? h->count : 1) * sizeof(*a));
	st = XXH3_createState();
	if (!a || !st) {
		free(a);
		XXH3_freeState(st);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->count; i++)
		a[i] = node_hash(h, (uint32_t)i);
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, a, h->count * sizeof(*a));
	XXH3_64bits_update(st, h->flags, h->count);
	tail[0] = h->count;
	tail[1] = h->entry;
	tail[2] = (uint64_t)(int64_t)h->maxlevel;
	tail[3] = ((uint64_t)h->dim << 32) | ((uint64_t)h->M << 8) | h->quant;
	XXH3_64bits_update(st, tail, sizeof(tail));
	*fp = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	*hashes = a;
	return 0;
}

static size_t lists_bytes(const struct rvf_hnsw *h, uint32_t u)
{
	size_t b = 0;

	for (int lc = 0; lc <= h->levels[u]; lc++)
		b += 4 * (1 + (size_t)hnsw_links(h, u, lc)[0]);
	return b;
}

static void put_lists(struct wbuf *w, const struct rvf_hnsw *h, uint32_t u)
{
	for (int lc = 0; lc <= h->levels[u]; lc++) {
		const uint32_t *l = hnsw_links(h, u, lc);

		put(w, l, 4 * (1 + (size_t)l[0]));
	}
}

int rvf_hnsw_save_delta(const struct rvf_hnsw *h, const uint64_t *hashes, size_t nbase, uint64_t fp,
			void **buf, size_t *len)
{
	size_t size = DELTA_HDR + 8, nnew, ndead = 0, nchg = 0;
	uint32_t *dead = NULL, *chg = NULL;
	struct wbuf w;

	if (!h || (!hashes && nbase) || !buf || !len || nbase > h->count)
		return -EINVAL;
	nnew = h->count - nbase;
	dead = malloc((nbase ? nbase : 1) * 4);
	chg = malloc((nbase ? nbase : 1) * 4);
	if (!dead || !chg) {
		free(dead);
		free(chg);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nbase; i++) {
		uint32_t u = (uint32_t)i;

		if (h->flags[u] & HNSW_NODE_DELETED)
			dead[ndead++] = u;
		if (node_hash(h, u) != hashes[i]) {
			chg[nchg++] = u;
			size += lists_bytes(h, u);
		}
	}
	size += nnew * (8 + 1 + 1) + 4 * (ndead + nchg);
	for (size_t i = nbase; i < h->count; i++) {
		size += lists_bytes(h, (uint32_t)i);
		if (h->flags[i] & HNSW_NODE_DELETED)
			size += 4 * (size_t)h->dim;
	}
	w.p = malloc(size);
	w.len = 0;
	if (!w.p) {
		free(dead);
		free(chg);
		return log_fail(-ENOMEM, "hnsw save delta: out of memory for a %zu-byte blob", size);
	}
	memset(w.p, 0, DELTA_HDR);
	put_shape(&w, DELTA_MAGIC, DELTA_VERSION, 0, h);
	put_u64(&w, nbase);
	put_u64(&w, h->count);
	put_u64(&w, h->live);
	put_u32(&w, h->entry);
	put_u32(&w, 0);
	put_u64(&w, fp);
	put(&w, h->rng, sizeof(h->rng));
	put_u32(&w, (uint32_t)ndead);
	put_u32(&w, (uint32_t)nchg);
	put_u64(&w, size - DELTA_HDR - 8);

	put(&w, h->labels + nbase, nnew * 8);
	put(&w, h->flags + nbase, nnew);
	put(&w, h->levels + nbase, nnew);
	put(&w, dead, 4 * ndead);
	put(&w, chg, 4 * nchg);
	for (size_t i = nbase; i < h->count; i++)
		put_lists(&w, h, (uint32_t)i);
	for (size_t i = 0; i < nchg; i++)
		put_lists(&w, h, chg[i]);
	for (size_t i = nbase; i < h->count; i++)
		if (h->flags[i] & HNSW_NODE_DELETED)
			put(&w, hnsw_orig(h, (uint32_t)i), 4 * (size_t)h->dim);
	put_u64(&w, XXH3_64bits(w.p, w.len));
	free(dead);
	free(chg);
	*buf = w.p;
	*len = w.len;
	return 0;
}

struct delta {
	uint32_t dim, metric, M, efc, quant, entry, ndead, nchg;
	int32_t maxlevel;
	uint64_t base, count, live, fp, rng[4];
	const uint8_t *flags, *levels;   /* of the new nodes */
	const uint8_t *dead, *chg;   /* u32 arrays */
	size_t new_lists, chg_lists, vecs;  /* offsets into the blob */
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint8_t delta_level(const struct rvf_hnsw *h, const struct delta *d, uint32_t v)
{
	return v < d->base ? h->levels[v] : d->levels[v - d->base];
}

/* Check the lists of node u (levels 0..L) at r's offset; advances r. */
static int delta_lists(struct rbuf *r, const struct rvf_hnsw *h, const struct delta *d, uint32_t u,
		       int L)
{
	for (int lc = 0; lc <= L; lc++) {
		uint32_t n;
		size_t max = lc ? h->M : h->M0;

		if (r->len - r->off < 4)
			return log_fail(-EUCLEAN, "hnsw load delta: truncated in the lists of node %u", u);
		n = rd32(r->p + r->off);
		if (n > max)
			return log_fail(-EUCLEAN, "hnsw load delta: node %u level %d has %u links > %zu", u,
					lc, n, max);
		if ((r->len - r->off - 4) / 4 < n)
			return log_fail(-EUCLEAN, "hnsw load delta: truncated in the lists of node %u", u);
		for (uint32_t j = 0; j < n; j++) {
			uint32_t v = rd32(r->p + r->off + 4 + 4 * (size_t)j);

			if (v >= d->count || v == u || delta_level(h, d, v) < lc)
				return log_fail(-EUCLEAN, "hnsw load delta: node %u level %d: bad link %u", u,
						lc, v);
		}
		r->off += 4 * (1 + (size_t)n);
	}
	return 0;
}

/* Copy the lists of node u (already checked) from the blob at *off. */
static void delta_copy_lists(struct rvf_hnsw *h, const uint8_t *p, size_t *off, uint32_t u)
{
	for (int lc = 0; lc <= h->levels[u]; lc++) {
		uint32_t n = rd32(p + *off);

		memcpy(hnsw_links(h, u, lc), p + *off, 4 * (1 + (size_t)n));
		*off += 4 * (1 + (size_t)n);
	}
}

static int delta_parse(const struct rvf_hnsw *h, uint64_t fp, const uint8_t *p, size_t len,
		       struct delta *d)
{
	struct rbuf r = { p, len, 0 };
	uint32_t version = 0, flags = 0, resv = 0;
	uint64_t plen = 0, sum = 0, nnew;
	char magic[8];
	size_t live, ndeadnew = 0;
	int err;

	memset(d, 0, sizeof(*d));
	if (len < DELTA_HDR + 8)
		return log_fail(-EUCLEAN, "hnsw load delta: blob truncated (%zu bytes)", len);
	take(&r, magic, 8);
	if (memcmp(magic, DELTA_MAGIC, 8))
		return log_fail(-ENOEXEC, "hnsw load delta: not an HNSW delta (bad magic)");
	take(&r, &version, 4);
	if (version != DELTA_VERSION)
		return log_fail(version > DELTA_VERSION ? -ENOTSUP : -EUCLEAN,
				"hnsw load delta: version %u, this build reads %u", version, DELTA_VERSION);
	take(&r, &flags, 4);
	take(&r, &d->dim, 4);
	take(&r, &d->metric, 4);
	take(&r, &d->M, 4);
	take(&r, &d->efc, 4);
	take(&r, &d->quant, 4);
	take(&r, &d->maxlevel, 4);
	take(&r, &d->base, 8);
	take(&r, &d->count, 8);
	take(&r, &d->live, 8);
	take(&r, &d->entry, 4);
	take(&r, &resv, 4);
	take(&r, &d->fp, 8);
	take(&r, d->rng, sizeof(d->rng));
	take(&r, &d->ndead, 4);
	take(&r, &d->nchg, 4);
	take(&r, &plen, 8);
	if (plen != len - DELTA_HDR - 8)
		return log_fail(-EUCLEAN, "hnsw load delta: blob is %zu bytes, header says %llu", len,
				(unsigned long long)(plen + DELTA_HDR + 8));
	memcpy(&sum, p + len - 8, 8);
	if (sum != XXH3_64bits(p, len - 8))
		return log_fail(-EBADMSG, "hnsw load delta: checksum mismatch");
	if (flags || resv || d->dim != h->dim || d->metric != (uint32_t)h->metric || d->M != h->M ||
	    d->efc != h->efc || d->quant != h->quant)
		return log_fail(-EUCLEAN, "hnsw load delta: parameters differ from the base's");
	if (d->base != h->count || d->fp != fp)
		return log_fail(-ESTALE, "hnsw load delta: made for another base graph (%llu nodes, "
				"fingerprint %016llx; this one has %zu, %016llx)", (unsigned long long)d->base,
				(unsigned long long)d->fp, h->count, (unsigned long long)fp);
	if (d->count < d->base || d->count > (uint64_t)UINT32_MAX - 1 || d->live > d->count ||
	    d->maxlevel < h->maxlevel || d->maxlevel > HNSW_MAX_LEVEL ||
	    (d->count ? d->maxlevel < 0 || d->entry >= d->count : d->maxlevel != -1 || d->entry != HNSW_NO_ID) ||
	    d->ndead > d->base || d->nchg > d->base)
		return log_fail(-EUCLEAN, "hnsw load delta: bad shape (count %llu live %llu maxlevel %d "
				"entry %u)", (unsigned long long)d->count, (unsigned long long)d->live,
				d->maxlevel, d->entry);
	nnew = d->count - d->base;
	/* each new node takes at least 14 bytes, each listed base id 4 + (changed) 4 */
	if (nnew * 14 + 4 * (uint64_t)d->ndead + 8 * (uint64_t)d->nchg > plen)
		return log_fail(-EUCLEAN, "hnsw load delta: %llu new nodes do not fit %llu bytes",
				(unsigned long long)nnew, (unsigned long long)plen);
	r.off = DELTA_HDR;
	r.len = len - 8;
	d->flags = p + r.off + nnew * 8;
	d->levels = d->flags + nnew;
	d->dead = d->levels + nnew;
	d->chg = d->dead + 4 * (size_t)d->ndead;
	r.off += nnew * 10 + 4 * ((size_t)d->ndead + d->nchg);
	live = h->live;
	for (uint64_t i = 0; i < nnew; i++) {
		if (d->flags[i] & ~HNSW_NODE_DELETED)
			return log_fail(-EUCLEAN, "hnsw load delta: new node %llu has unknown flags 0x%x",
					(unsigned long long)(d->base + i), d->flags[i]);
		if (d->levels[i] > d->maxlevel)
			return log_fail(-EUCLEAN, "hnsw load delta: new node %llu has level %u above %d",
					(unsigned long long)(d->base + i), d->levels[i], d->maxlevel);
		live += !(d->flags[i] & HNSW_NODE_DELETED);
		ndeadnew += !!(d->flags[i] & HNSW_NODE_DELETED);
	}
	for (uint32_t i = 0; i < d->ndead; i++) {
		uint32_t u = rd32(d->dead + 4 * (size_t)i);

		if (u >= d->base || (i && u <= rd32(d->dead + 4 * (size_t)(i - 1))))
			return log_fail(-EUCLEAN, "hnsw load delta: bad tombstone list");
		live -= !(h->flags[u] & HNSW_NODE_DELETED);
	}
	for (uint32_t i = 0; i < d->nchg; i++) {
		uint32_t u = rd32(d->chg + 4 * (size_t)i);

		if (u >= d->base || (i && u <= rd32(d->chg + 4 * (size_t)(i - 1))))
			return log_fail(-EUCLEAN, "hnsw load delta: bad changed-node list");
	}
	/* h may have more tombstones among the base nodes than the base had when
	 * it was signed (a COW branch hides parent ids at attach): never fewer */
	if (live > d->live)
		return log_fail(-EUCLEAN, "hnsw load delta: live count %llu, the nodes give %zu",
				(unsigned long long)d->live, live);
	if (d->count && delta_level(h, d, d->entry) != d->maxlevel)
		return log_fail(-EUCLEAN, "hnsw load delta: entry point %u is not on the top level %d",
				d->entry, d->maxlevel);
	d->new_lists = r.off;
	for (uint64_t i = 0; i < nnew; i++) {
		err = delta_lists(&r, h, d, (uint32_t)(d->base + i), d->levels[i]);
		if (err)
			return err;
	}
	d->chg_lists = r.off;
	for (uint32_t i = 0; i < d->nchg; i++) {
		uint32_t u = rd32(d->chg + 4 * (size_t)i);

		err = delta_lists(&r, h, d, u, h->levels[u]);
		if (err)
			return err;
	}
	d->vecs = r.off;
	if ((r.len - r.off) != ndeadnew * 4 * (size_t)d->dim)
		return log_fail(-EUCLEAN, "hnsw load delta: %zu bytes of vectors for %zu deleted new nodes",
				r.len - r.off, ndeadnew);
	return 0;
}

int rvf_hnsw_load_delta(struct rvf_hnsw *h, uint64_t fp, const void *buf, size_t len,
			rvf_hnsw_vec_fn get_vec, void *ctx)
{
	const uint8_t *p = buf;
	struct delta d;
	size_t off, voff, first;
	uint64_t nnew;
	float *tmp = NULL;
	int err;

	if (!h || !buf)
		return -EINVAL;
	err = delta_parse(h, fp, p, len, &d);
	if (err)
		return err;
	nnew = d.count - d.base;
	if (nnew && !get_vec) {
		for (uint64_t i = 0; i < nnew; i++)
			if (!(d.flags[i] & HNSW_NODE_DELETED))
				return log_fail(-EUCLEAN, "hnsw load delta: live new nodes and no get_vec");
	}
	err = hnsw_reserve(h, d.count);
	tmp = malloc((size_t)h->dim * sizeof(float));
	if (err || !tmp) {
		free(tmp);
		return err ? err : -ENOMEM;
	}
	/* Stage 1: the new nodes, in slots past h->count (nothing sees them
	 * yet: on failure the base is as it was). */
	first = h->count;
	off = d.new_lists;
	voff = d.vecs;
	for (uint64_t i = 0; i < nnew && !err; i++) {
		uint32_t u = (uint32_t)(first + i);
		const float *v;

		memcpy(&h->labels[u], p + DELTA_HDR + 8 * i, 8);
		h->flags[u] = d.flags[i];
		h->levels[u] = d.levels[i];
		h->indeg0[u] = 0;
		h->upper[u] = NULL;
		if (d.levels[i]) {
			h->upper[u] = calloc((size_t)d.levels[i] * (h->M + 1), sizeof(uint32_t));
			if (!h->upper[u]) {
				err = -ENOMEM;
				break;
			}
		}
		delta_copy_lists(h, p, &off, u);
		if (d.flags[i] & HNSW_NODE_DELETED) {
			memcpy(tmp, p + voff, 4 * (size_t)h->dim);
			voff += 4 * (size_t)h->dim;
			v = tmp;
		} else {
			v = get_vec(ctx, h->labels[u], u);
			if (!v) {
				err = log_fail(-EUCLEAN, "hnsw load delta: no vector for label %llu (node %u)",
					       (unsigned long long)h->labels[u], u);
				break;
			}
		}
		for (uint32_t k = 0; k < h->dim && !err; k++)
			if (!isfinite(v[k]))
				err = log_fail(-EUCLEAN, "hnsw load delta: vector of node %u is not finite", u);
		if (!err)
			hnsw_place_vector(h, u, v);
	}
	free(tmp);
	if (err) {
		for (uint64_t i = 0; i < nnew; i++) {
			free(h->upper[first + i]);
			h->upper[first + i] = NULL;
		}
		return err;
	}
	/* Stage 2: change the base. */
	for (uint32_t i = 0; i < d.ndead; i++) {
		uint32_t u = rd32(d.dead + 4 * (size_t)i);

		if (!(h->flags[u] & HNSW_NODE_DELETED)) {
			h->flags[u] |= HNSW_NODE_DELETED;
			h->live--;
		}
	}
	off = d.chg_lists;
	for (uint32_t i = 0; i < d.nchg; i++) {
		uint32_t u = rd32(d.chg + 4 * (size_t)i);
		const uint32_t *l = hnsw_links(h, u, 0);

		for (uint32_t j = 1; j <= l[0]; j++)
			h->indeg0[l[j]]--;
		delta_copy_lists(h, p, &off, u);
		for (uint32_t j = 1; j <= l[0]; j++)
			h->indeg0[l[j]]++;
	}
	h->count = d.count;
	for (uint64_t i = 0; i < nnew; i++) {
		uint32_t u = (uint32_t)(first + i), old = lmap_get(&h->map, h->labels[u]);
		const uint32_t *l = hnsw_links(h, u, 0);
		int dead = h->flags[u] & HNSW_NODE_DELETED;

		for (uint32_t j = 1; j <= l[0]; j++)
			h->indeg0[l[j]]++;
		h->live += !dead;
		/* the label map: a live node wins; among tombstones the newest */
		if (old != HNSW_NO_ID && !(h->flags[old] & HNSW_NODE_DELETED) && dead)
			continue;
		if (lmap_put(&h->map, h->labels[u], u))
			return log_fail(-ENOMEM, "hnsw load delta: label map full (the graph is changed)");
	}
	h->entry = d.entry;
	h->maxlevel = d.maxlevel;
	memcpy(h->rng, d.rng, sizeof(h->rng));
	h->adds_since_repair = 0;
	/* single inserts repair reachability only now and then: a writer's graph
	 * may hold a live node no path reaches yet; link it as an insert would */
	err = hnsw_repair_reachability(h);
	if (!err)
		err = rvf_hnsw_check(h);
	if (err)
		return log_fail(err, "hnsw load delta: the graph after the delta fails its check");
	log_debug("hnsw: applied a delta of %llu new nodes, %u changed and %u dead base nodes",
		  (unsigned long long)nnew, d.nchg, d.ndead);
	return 0;
}
