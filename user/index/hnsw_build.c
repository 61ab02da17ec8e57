/*
 * index/hnsw_build.c - HNSW insertion with the neighbour-selection
 * heuristic, the multi-threaded batch build, and deletion (tombstones).
 *
 * Insert of node u (level L drawn from the seeded generator):
 *
 *   greedy descent from the entry point on levels maxlevel..L+1
 *   for level lc = min(L, maxlevel) .. 0:
 *       beam search (ef_construction) -> candidates, re-ranked exactly (SQ8)
 *       u's list  <- heuristic(candidates, M)
 *       each chosen v gets u appended, or its list re-pruned by the
 *       heuristic to Mmax (M, or M0 = 2M on level 0); a node whose only
 *       in-link is being pruned on level 0 is kept, so nothing is orphaned
 *   if L > maxlevel: u becomes the entry point
 *
 * A batch assigns ids, labels and levels serially (so the levels are those a
 * serial build draws), then links nodes from several threads, each list
 * written under its node's spin lock (h->mt). Every so many adds the
 * reachability repair (hnsw_check.c) re-links nodes an MT build left
 * without a level-0 in-link.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "index/hnsw_internal.h"
#include "index/hnsw_traverse.h"

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t xoshiro_next(uint64_t *s)
{
	uint64_t res = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
	s[2] ^= t; s[3] = rotl64(s[3], 45);
	return res;
}

static int random_level(struct rvf_hnsw *h)
{
	double u = ((double)(xoshiro_next(h->rng) >> 11) + 1.0) * 0x1.0p-53;  /* (0, 1] */
	double l = -log(u) * h->level_mult;

	return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (int)l;
}

/* ---- insertion ------------------------------------------------------------ */

/* Heuristic neighbour selection over cands (sorted nearest first, exact
 * distances to the base node). Writes at most max ids to out, returns count. */
static size_t select_heuristic(const struct rvf_hnsw *h, const struct cand *cands, size_t n,
			       size_t max, uint32_t *out)
{
	size_t m = 0;

	for (size_t i = 0; i < n && m < max; i++) {
		int good = 1;

		for (size_t j = 0; j < m; j++) {
			if (hnsw_node_dist(h, cands[i].id, out[j]) < cands[i].d) {
				good = 0;
				break;
			}
		}
		if (good)
			out[m++] = cands[i].id;
	}
	return m;
}

/* Add u to v's list at level, re-pruning v's list if full. */
static void connect_back(struct rvf_hnsw *h, uint32_t v, uint32_t u, int level)
{
	size_t max = hnsw_max_links(h, level);
	uint32_t *l;
	struct cand cands[2 * 256 + 1];
	uint32_t sel[2 * 256], n;
	size_t m;

	node_lock(h, v);
	l = hnsw_links(h, v, level);
	n = l[0];
	for (uint32_t j = 1; j <= n; j++) {
		if (l[j] == u) {
			node_unlock(h, v);
			return;
		}
	}
	if (n < max) {
		l[n + 1] = u;
		l[0] = n + 1;
		if (level == 0)
			indeg_add(h, u, 1);
		node_unlock(h, v);
		return;
	}
	for (uint32_t j = 0; j < n; j++)
		cands[j] = (struct cand){ hnsw_node_dist(h, v, l[j + 1]), l[j + 1] };
	cands[n] = (struct cand){ hnsw_node_dist(h, v, u), u };
	hnsw_cand_sort(cands, n + 1);
	m = select_heuristic(h, cands, n + 1, max, sel);
	if (level == 0) {
		/* Keep any node whose only in-link is this one (no orphans). */
		for (uint32_t j = 0; j <= n && m < max; j++) {
			uint32_t w = cands[j].id;
			size_t s;

			if (w == u || indeg_get(h, w) != 1)
				continue;
			for (s = 0; s < m && sel[s] != w; s++)
				;
			if (s == m)
				sel[m++] = w;
		}
		for (uint32_t j = 1; j <= n; j++) {
			size_t s;

			for (s = 0; s < m && sel[s] != l[j]; s++)
				;
			if (s == m)
				indeg_add(h, l[j], -1);
		}
		for (size_t s = 0; s < m; s++)
			if (sel[s] == u)
				indeg_add(h, u, 1);
	}
	memcpy(l + 1, sel, m * sizeof(uint32_t));
	l[0] = (uint32_t)m;
	node_unlock(h, v);
}

/* Give u the link to t that v gave up for u, so t stays reachable through
 * v -> u -> t. A full list of u gives up the link to the target with the
 * most in-links; one whose target has no other in-link goes only when u
 * itself is unreachable (nothing reachable can depend on u's links then). */
static void adopt_pass_on(struct rvf_hnsw *h, uint32_t u, uint32_t t, int unreachable)
{
	uint32_t *l, best = 0, bestdeg = unreachable ? 0 : 1;

	node_lock(h, u);
	l = hnsw_links(h, u, 0);
	for (uint32_t j = 1; j <= l[0]; j++)
		if (l[j] == t) {
			node_unlock(h, u);
			return;
		}
	if (l[0] < h->M0) {
		l[++l[0]] = t;
		indeg_add(h, t, 1);
		node_unlock(h, u);
		return;
	}
	for (uint32_t j = 1; j <= l[0]; j++) {
		uint32_t dg = indeg_get(h, l[j]);

		if (dg > bestdeg || (!best && dg == bestdeg && unreachable)) {
			bestdeg = dg;
			best = j;
		}
	}
	if (best) {
		indeg_add(h, l[best], -1);
		l[best] = t;
		indeg_add(h, t, 1);
	}
	node_unlock(h, u);
}

/* u has no in-link on level 0 (or, with unreachable set, no path from the
 * entry): link it from the first of nb[] that has room or already links
 * it; else from the first whose list has a slot to give: the link to the
 * target with the most in-links, which u then links instead (so nothing
 * loses its way in). While building (unreachable clear), only a target
 * with another in-link gives up its slot, as u's own list may be full. */
int hnsw_adopt(struct rvf_hnsw *h, uint32_t u, const uint32_t *nb, size_t nnb, int unreachable)
{
	for (size_t i = 0; i < nnb; i++) {
		uint32_t w = nb[i], *l;

		if (w == u)
			continue;
		node_lock(h, w);
		l = hnsw_links(h, w, 0);
		for (uint32_t j = 1; j <= l[0]; j++)
			if (l[j] == u) {
				/* already an in-link: u is reachable through w */
				node_unlock(h, w);
				return 1;
			}
		if (l[0] < h->M0) {
			l[++l[0]] = u;
			indeg_add(h, u, 1);
			node_unlock(h, w);
			return 1;
		}
		node_unlock(h, w);
	}
	for (size_t i = 0; i < nnb; i++) {
		uint32_t w = nb[i], *l, best = 0, bestdeg = unreachable ? 0 : 1, t;

		if (w == u)
			continue;
		node_lock(h, w);
		l = hnsw_links(h, w, 0);
		for (uint32_t j = 1; j <= l[0]; j++) {
			uint32_t dg = indeg_get(h, l[j]);

			if (l[j] == u) {        /* linked meanwhile (another thread) */
				node_unlock(h, w);
				return 1;
			}
			if (dg > bestdeg || (unreachable && !best)) {
				bestdeg = dg;
				best = j;
			}
		}
		if (!best) {
			node_unlock(h, w);
			continue;
		}
		t = l[best];
		indeg_add(h, t, -1);
		l[best] = u;
		indeg_add(h, u, 1);
		node_unlock(h, w);
		adopt_pass_on(h, u, t, unreachable);
		return 1;
	}
	return 0;
}

/* Link node u (vector placed, level set, upper lists allocated) into the graph. */
static int insert_node(struct rvf_hnsw *h, struct sctx *c, uint32_t u)
{
	int L = h->levels[u], maxl, hold;
	uint32_t ep, sel[256];
	struct qprep p;
	float dep;
	int err = 0;

	pthread_mutex_lock(&h->sync->glock);
	maxl = h->maxlevel;
	ep = h->entry;
	if (maxl < 0) {
		h->entry = u;
		h->maxlevel = L;
		pthread_mutex_unlock(&h->sync->glock);
		return 0;
	}
	hold = L > maxl;
	if (!hold)
		pthread_mutex_unlock(&h->sync->glock);

	hnsw_qprep_node(h, &p, u, c->u);
	ep = hnsw_greedy_descent(h, c, &p, ep, maxl, L, &dep);
	for (int lc = L < maxl ? L : maxl; lc >= 0; lc--) {
		struct admit ad = { h, NULL, 0 };
		size_t n, m, max = h->M;
		uint32_t j2;
		uint32_t *mine;

		err = hnsw_search_layer(h, c, &p, ep, dep, h->efc, lc, &ad);
		if (err)
			break;
		/* In an MT build u may already be reachable (another worker linked
		 * to it through an upper level): never select u itself. */
		n = 0;
		for (size_t i = 0; i < c->nres; i++)
			if (c->res[i].id != u)
				c->res[n++] = c->res[i];
		if (h->quant == RVF_HNSW_QUANT_SQ8)
			hnsw_rerank(h, p.q, c->res, n);
		hnsw_cand_sort(c->res, n);
		m = select_heuristic(h, c->res, n, max, sel);
		node_lock(h, u);
		mine = hnsw_links(h, u, lc);
		/* In an MT build another worker may already have linked back to u
		 * on this level (it found u through an upper level): keep those
		 * links after ours while there is room, so no in-link is lost
		 * without its in-degree being dropped too. */
		{
			uint32_t old[2 * 256 + 1], nold = mine[0], cap = (uint32_t)hnsw_max_links(h, lc);

			memcpy(old, mine + 1, nold * sizeof(uint32_t));
			memcpy(mine + 1, sel, m * sizeof(uint32_t));
			mine[0] = (uint32_t)m;
			for (uint32_t j = 0; j < nold; j++) {
				size_t s;

				for (s = 0; s < m && sel[s] != old[j]; s++)
					;
				if (s < m)
					continue;        /* already ours: counted once below */
				if (mine[0] < cap)
					mine[++mine[0]] = old[j];
				else if (lc == 0)
					indeg_add(h, old[j], -1);
			}
			if (lc == 0)
				for (size_t i = 0; i < m; i++) {
					for (j2 = 0; j2 < nold && old[j2] != sel[i]; j2++)
						;
					if (j2 == nold)
						indeg_add(h, sel[i], 1);
				}
		}
		node_unlock(h, u);
		for (size_t i = 0; i < m; i++)
			connect_back(h, sel[i], u, lc);
		if (lc == 0 && indeg_get(h, u) == 0)
			hnsw_adopt(h, u, sel, m, 0);
		if (n) {
			ep = c->res[0].id;
			dep = trav_dist(h, &p, ep);
		}
	}
	if (hold) {
		if (!err && L > h->maxlevel) {
			h->entry = u;
			h->maxlevel = L;
		}
		pthread_mutex_unlock(&h->sync->glock);
	}
	return err;
}

/* ---- add ------------------------------------------------------------------ */

static int check_finite(const float *v, uint32_t dim)
{
	for (uint32_t i = 0; i < dim; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

/* Assign ids, labels and levels for n new nodes in order (serial semantics). */
static int prepare_nodes(struct rvf_hnsw *h, const uint64_t *labels, size_t n)
{
	size_t first = h->count;
	uint64_t rng_save[4];
	int err = 0;
	size_t i;

	memcpy(rng_save, h->rng, sizeof(rng_save));
	for (i = 0; i < n; i++) {
		uint32_t id = (uint32_t)(first + i);
		int L = random_level(h);

		h->levels[id] = (uint8_t)L;
		h->upper[id] = NULL;
		if (L > 0) {
			h->upper[id] = calloc((size_t)L * (h->M + 1), sizeof(uint32_t));
			if (!h->upper[id]) {
				err = -ENOMEM;
				break;
			}
		}
	}
	if (err) {
		while (i--)
			free(h->upper[first + i]), h->upper[first + i] = NULL;
		memcpy(h->rng, rng_save, sizeof(rng_save));
		return log_fail(err, "hnsw: out of memory for upper-level lists");
	}
	for (i = 0; i < n; i++) {
		uint32_t id = (uint32_t)(first + i), old = lmap_get(&h->map, labels[i]);

		if (old != HNSW_NO_ID && !(h->flags[old] & HNSW_NODE_DELETED)) {
			h->flags[old] |= HNSW_NODE_DELETED;
			h->live--;
		}
		lmap_put(&h->map, labels[i], id);   /* room reserved by hnsw_reserve */
		h->labels[id] = labels[i];
		h->flags[id] = 0;
		h->indeg0[id] = 0;
		memset(h->blocks + (size_t)id * h->block_size, 0, 4);
		h->live++;
	}
	return 0;
}

struct batch {
	struct rvf_hnsw *h;
	const float *vecs;
	size_t first, n, next;   /* next: atomic work counter */
	int err;
};

static void *batch_worker(void *arg)
{
	struct batch *b = arg;
	struct rvf_hnsw *h = b->h;
	struct sctx *c = hnsw_sctx_get(h);

	if (!c) {
		__atomic_store_n(&b->err, -ENOMEM, __ATOMIC_RELAXED);
		return NULL;
	}
	for (;;) {
		size_t i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
		int err;

		if (i >= b->n || __atomic_load_n(&b->err, __ATOMIC_RELAXED))
			break;
		hnsw_place_vector(h, (uint32_t)(b->first + i), b->vecs + i * h->dim);
		err = insert_node(h, c, (uint32_t)(b->first + i));
		if (err) {
			__atomic_store_n(&b->err, err, __ATOMIC_RELAXED);
			break;
		}
	}
	hnsw_sctx_put(h, c);
	return NULL;
}

/*
 * Allocate the workers' search contexts before any node changes: visited sets
 * sized for the reserved capacity, result heaps for ef_construction and a
 * generous candidate heap. An out-of-memory failure then returns with the
 * index as it was; only a candidate heap outgrowing its reserve can still
 * fail mid-batch.
 */
static int prewarm_contexts(struct rvf_hnsw *h, unsigned threads)
{
	struct sctx *c[64];
	unsigned got = 0;
	int err = 0;

	while (got < threads && !err) {
		c[got] = hnsw_sctx_get(h);
		if (!c[got])
			err = -ENOMEM;
		else if ((c[got]->vcap < h->cap && hnsw_visited_fit(c[got], h->cap)) ||
			 hnsw_cand_grow(&c[got]->res, &c[got]->rcap, (size_t)h->efc + 2) ||
			 hnsw_cand_grow(&c[got]->cand, &c[got]->ccap, (size_t)h->efc * 4 + 64))
			err = -ENOMEM;
		if (c[got])
			got++;
	}
	for (unsigned i = 0; i < got; i++)
		hnsw_sctx_put(h, c[i]);
	return err;
}

static int add_many(struct rvf_hnsw *h, const uint64_t *labels, const float *vecs, size_t n,
		    unsigned threads)
{
	struct batch b = { h, vecs, h->count, n, 0, 0 };
	pthread_t tid[64];
	unsigned nt = 0;
	size_t want;
	int err;

	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!check_finite(vecs + i * h->dim, h->dim))
			return log_fail(-EINVAL, "hnsw: vector %zu (label %llu) has a non-finite value", i,
					(unsigned long long)labels[i]);
	if (h->count + n > (size_t)UINT32_MAX - 1)
		return log_fail(-ERANGE, "hnsw: %zu nodes exceed the 2^32-2 limit", h->count + n);
	want = h->cap;
	while (want < h->count + n)
		want = want ? want * 2 : 1024;
	err = hnsw_reserve(h, want);
	if (err)
		return err;
	if (lmap_grow(&h->map, h->map.used + n))
		return log_fail(-ENOMEM, "hnsw: out of memory for the label map");
	if (threads > 64)
		threads = 64;
	if (threads > n)
		threads = (unsigned)n;
	if (prewarm_contexts(h, threads ? threads : 1))
		return log_fail(-ENOMEM, "hnsw: out of memory for search contexts");
	err = prepare_nodes(h, labels, n);
	if (err)
		return err;
	h->count += n;

	if (threads <= 1) {
		batch_worker(&b);
	} else {
		h->mt = 1;
		for (nt = 0; nt < threads; nt++)
			if (pthread_create(&tid[nt], NULL, batch_worker, &b))
				break;
		if (nt == 0)
			batch_worker(&b);
		for (unsigned i = 0; i < nt; i++)
			pthread_join(tid[i], NULL);
		h->mt = 0;
	}
	if (b.err)
		return log_fail(b.err, "hnsw: batch insert failed: %s", rvf_strerror(b.err));
	h->adds_since_repair += n;
	if (n > 1 || h->adds_since_repair * 8 >= h->count) {
		err = hnsw_repair_reachability(h);
		h->adds_since_repair = 0;
	}
	return err;
}

int rvf_hnsw_add(struct rvf_hnsw *h, uint64_t label, const float *vec)
{
	if (!h || !vec)
		return -EINVAL;
	return add_many(h, &label, vec, 1, 1);
}

int rvf_hnsw_add_batch(struct rvf_hnsw *h, const uint64_t *labels, const float *vecs, size_t n)
{
	if (!h || (n && (!labels || !vecs)))
		return -EINVAL;
	return add_many(h, labels, vecs, n, h->threads);
}

int rvf_hnsw_delete(struct rvf_hnsw *h, uint64_t label)
{
	uint32_t id;

	if (!h)
		return -EINVAL;
	id = lmap_get(&h->map, label);
	if (id == HNSW_NO_ID || (h->flags[id] & HNSW_NODE_DELETED))
		return -ENOENT;
	h->flags[id] |= HNSW_NODE_DELETED;
	h->live--;
	return 0;
}
