/*
 * index/hnsw_traverse.c - the traversal machinery insertion (hnsw_build.c)
 * and queries (hnsw_search.c) share: prepared queries (normalised, SQ8
 * quantised), exact re-ranking and its SQ8 error bound, search contexts
 * (a pool on the handle, or caller-owned) with their visited sets, greedy
 * descent, the one-level beam search, and the candidate sort.
 *
 * A search context belongs to one search at a time: taken from the pool
 * (hnsw_sctx_get, hnsw_sctx_put) or owned by the caller, and fitted to the
 * index (hnsw_sctx_fit) before use.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw_internal.h"
#include "index/hnsw_traverse.h"

void hnsw_sctx_release(struct sctx *c)
{
	free(c->vbits);
	free(c->vtouch);
	free(c->cand);
	free(c->res);
	free(c->q);
	free(c->u);
	free(c->tmp);
	free(c->todo);
}

void hnsw_sctx_free(struct sctx *c)
{
	if (!c)
		return;
	hnsw_sctx_release(c);
	free(c);
}

/* u: the context's code buffer (dim bytes). */
static void qprep_sums(const struct rvf_hnsw *h, struct qprep *p, uint8_t *u)
{
	float lo = p->q[0], hi = p->q[0], step;
	double dstep, dinv, sums[3];

	p->qq = h->k->dot_f32(p->q, p->q, h->dim);
	p->u = u;
	p->kslack = (float)(h->dim + 16) * 0x1.0p-23f;
	if (h->quant != RVF_HNSW_QUANT_SQ8)
		return;
	for (uint32_t i = 1; i < h->dim; i++) {
		lo = p->q[i] < lo ? p->q[i] : lo;
		hi = p->q[i] > hi ? p->q[i] : hi;
	}
	dstep = ((double)hi - lo) / 255.0;      /* in double: see sq8_encode */
	dinv = dstep > 0 ? 1.0 / dstep : 0.0;
	step = (float)dstep;
	h->k->sq8_quantise(p->q, h->dim, lo, dinv, step, u, sums);
	p->qhq = (float)sums[1];
	p->eq = (float)(sqrt(sums[2]) * (1.0 + 0x1.0p-20));
	p->tmax = (float)(255.0 * sums[0]);
	p->qlo = lo;
	p->qstep = step;
	p->a = (float)((double)h->dim * lo + (double)step * sums[0]);
	p->e = (float)(128.0 * sums[0]);
}

/* buf: dim floats, used for the normalised copy under cosine. */
void hnsw_qprep_init(const struct rvf_hnsw *h, struct qprep *p, const float *query, float *buf, uint8_t *u)
{
	if (h->metric == RVF_METRIC_COSINE) {
		double n = 0;

		for (uint32_t i = 0; i < h->dim; i++)
			n += (double)query[i] * query[i];
		n = n > 0 ? 1.0 / sqrt(n) : 0.0;
		for (uint32_t i = 0; i < h->dim; i++)
			buf[i] = (float)(query[i] * n);
		p->q = buf;
	} else {
		p->q = query;
	}
	qprep_sums(h, p, u);
}

/* A stored node as the query (its vector is already normalised). */
void hnsw_qprep_node(const struct rvf_hnsw *h, struct qprep *p, uint32_t id, uint8_t *u)
{
	p->q = hnsw_fvec(h, id);
	qprep_sums(h, p, u);
}

float hnsw_node_dist(const struct rvf_hnsw *h, uint32_t a, uint32_t b)
{
	return exact_dist(h, hnsw_fvec(h, a), b);
}

/* Exact distances for the n nodes in res (SQ8 re-rank), loading the next
 * vectors while the current one is computed. */
void hnsw_rerank(const struct rvf_hnsw *h, const float *q, struct cand *res, size_t n)
{
	for (size_t i = 0; i < n && i < 2; i++)
		prefetch_fvec(h, res[i].id);
	for (size_t i = 0; i < n; i++) {
		if (i + 2 < n)
			prefetch_fvec(h, res[i + 2].id);
		res[i].d = exact_dist(h, q, res[i].id);
	}
}

/*
 * A lower bound on the exact distance of node id from its SQ8 estimate
 * est. The estimate is exact for the decoded vectors q^, x^ (an integer dot
 * product, then a few float operations), so by the triangle inequality
 * |q - x| >= |q^ - x^| - |q - q^| - |x - x^|, with |q^ - x^|^2 =
 * est - |q|^2 + |q^|^2 under L2; under IP/cosine
 * |q.x - q^.x^| <= |q - q^| (|x^| + |x - x^|) + |q^| |x - x^|. Float
 * rounding is covered twice over: the estimate's by a slack of 2^-18 of the
 * magnitude of its terms (each rounds at 2^-24; there are about a dozen),
 * and the exact kernel's (at most n 2^-24 of the sum of its |terms|, which
 * is the distance under L2 and at most |q| |x| under IP) by (n + 16) 2^-23
 * of that. So the bound never exceeds the exact distance as computed, and
 * skipping on it gives the results of a full re-rank exactly.
 */
float hnsw_sq8_lower_bound(const struct rvf_hnsw *h, const struct qprep *p, uint32_t id, float est)
{
	const uint8_t *blk = h->blocks + (size_t)id * h->block_size + h->data_off;
	float hdr[5], mag, r;

	memcpy(hdr, blk, sizeof(hdr));
	mag = fabsf(hdr[0] * p->a) + fabsf(hdr[1]) * (fabsf(p->qlo * hdr[3]) + fabsf(p->qstep) * p->tmax);
	if (h->metric == RVF_METRIC_L2) {
		float s2 = est - p->qq + p->qhq - 0x1.0p-18f * (2.0f * p->qq + p->qhq + hdr[2] + 2.0f * mag);

		r = (s2 > 0 ? sqrtf(s2) : 0.0f) - p->eq - hdr[4];
		return r > 0 ? r * r * (1.0f - p->kslack) : 0.0f;
	}
	r = p->eq * (sqrtf(hdr[2]) + hdr[4]) + sqrtf(p->qhq) * hdr[4];
	return est - r - 0x1.0p-18f * 2.0f * (1.0f + mag) - p->kslack * sqrtf(p->qq) * (sqrtf(hdr[2]) + hdr[4]);
}

int hnsw_cand_grow(struct cand **a, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 64;
	struct cand *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*a, n * sizeof(**a));
	if (!p)
		return -ENOMEM;
	*a = p;
	*cap = n;
	return 0;
}

/* Size the visited set for n nodes (cleared). 0 or -ENOMEM (c unchanged). */
int hnsw_visited_fit(struct sctx *c, size_t n)
{
	size_t words = (n + 63) / 64;
	uint64_t *v = calloc(words, sizeof(*v));
	uint32_t *t = malloc(words * sizeof(*t));

	if (!v || !t) {
		free(v);
		free(t);
		return -ENOMEM;
	}
	free(c->vbits);
	free(c->vtouch);
	c->vbits = v;
	c->vtouch = t;
	c->vcap = n;
	c->ntouch = 0;
	return 0;
}

/*
 * Make c fit a search of h: query buffers for its dimension, link buffers
 * for its degree, a visited set covering its nodes (its reserved capacity,
 * so an index that grows within it needs no new one). Allocates only what
 * is too small; 0, or -ENOMEM with c still whole (and fitting what it fit).
 */
int hnsw_sctx_fit(const struct rvf_hnsw *h, struct sctx *c)
{
	if (c->qdim < h->dim) {
		float *q = aligned_alloc(64, hnsw_round_up(h->dim * sizeof(float), 64));
		uint8_t *u = aligned_alloc(64, hnsw_round_up(h->dim, 64));

		if (!q || !u) {
			free(q);
			free(u);
			return -ENOMEM;
		}
		free(c->q);
		free(c->u);
		c->q = q;
		c->u = u;
		c->qdim = h->dim;
	}
	if (c->lcap < h->M0 + 1) {
		uint32_t *t = malloc((h->M0 + 1) * sizeof(uint32_t));
		/* todo: up to 2 lcap admitted ids, then lcap ids to hop through
		 * (hnsw_search_layer_2hop) */
		uint32_t *d = malloc(3 * (h->M0 + 1) * sizeof(uint32_t));

		if (!t || !d) {
			free(t);
			free(d);
			return -ENOMEM;
		}
		free(c->tmp);
		free(c->todo);
		c->tmp = t;
		c->todo = d;
		c->lcap = h->M0 + 1;
	}
	if (c->vcap < h->count && hnsw_visited_fit(c, h->cap > h->count ? h->cap : h->count))
		return -ENOMEM;
	return 0;
}

struct sctx *hnsw_sctx_get(const struct rvf_hnsw *h)
{
	struct sctx *c;

	pthread_mutex_lock(&h->sync->pool_lock);
	c = h->sync->pool;
	if (c)
		h->sync->pool = c->next;
	pthread_mutex_unlock(&h->sync->pool_lock);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
	}
	if (hnsw_sctx_fit(h, c)) {
		hnsw_sctx_free(c);
		return NULL;
	}
	return c;
}

void hnsw_sctx_put(const struct rvf_hnsw *h, struct sctx *c)
{
	pthread_mutex_lock(&h->sync->pool_lock);
	c->next = h->sync->pool;
	h->sync->pool = c;
	pthread_mutex_unlock(&h->sync->pool_lock);
}

void hnsw_visited_begin(struct sctx *c)
{
	for (size_t i = 0; i < c->ntouch; i++)
		c->vbits[c->vtouch[i]] = 0;
	c->ntouch = 0;
}

/* ---- graph search --------------------------------------------------------- */

/* The list of id at level, copied under its lock while an MT build runs. */
const uint32_t *hnsw_read_links(const struct rvf_hnsw *h, struct sctx *c, uint32_t id, int level)
{
	const uint32_t *l = hnsw_links(h, id, level);

	if (!h->mt)
		return l;
	node_lock(h, id);
	memcpy(c->tmp, l, (l[0] + 1) * sizeof(uint32_t));
	node_unlock(h, id);
	return c->tmp;
}

uint32_t hnsw_greedy_descent(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
			     uint32_t cur, int from, int to, float *dcur)
{
	float d = trav_dist(h, p, cur);

	for (int lc = from; lc > to; lc--) {
		int changed = 1;

		while (changed) {
			const uint32_t *l = hnsw_read_links(h, c, cur, lc);

			changed = 0;
			for (uint32_t j = 1; j <= l[0]; j++) {
				float dn = trav_dist(h, p, l[j]);

				if (dn < d) {
					d = dn;
					cur = l[j];
					changed = 1;
				}
			}
		}
	}
	*dcur = d;
	return cur;
}

/*
 * Beam search at one level from ep. Leaves up to ef admitted nodes in c->res
 * (a max-heap on traversal distance). -ENOMEM if a heap cannot grow.
 */
int hnsw_search_layer(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
		      uint32_t ep, float dep, uint32_t ef, int level, const struct admit *ad)
{
	float bound = INFINITY;

	c->ncand = c->nres = 0;
	if (hnsw_cand_grow(&c->cand, &c->ccap, 64) || hnsw_cand_grow(&c->res, &c->rcap, (size_t)ef + 1))
		return -ENOMEM;
	hnsw_visited_begin(c);
	visited_test_set(c, ep);
	minheap_push(c->cand, &c->ncand, (struct cand){ dep, ep });
	if (admitted(ad, ep)) {
		maxheap_push(c->res, &c->nres, (struct cand){ dep, ep });
		if (c->nres >= ef)
			bound = c->res[0].d;
	}
	while (c->ncand) {
		struct cand cur = c->cand[0];
		const uint32_t *l;
		uint32_t nt = 0;

		if (cur.d > bound)
			break;
		minheap_pop(c->cand, &c->ncand);
		if (c->ncand) {
			/* the whole list: up to 3 lines on level 0 */
			const char *nl = (const char *)hnsw_links(h, c->cand[0].id, level);

			for (size_t o = 0; o < 4 * (hnsw_max_links(h, level) + 1); o += 64)
				__builtin_prefetch(nl + o, 0, 3);
		}
		l = hnsw_read_links(h, c, cur.id, level);
		for (uint32_t j = 1; j <= l[0]; j++) {
			uint32_t id = l[j];

			if (visited_test_set(c, id))
				continue;
			c->todo[nt++] = id;
			__builtin_prefetch((const char *)h->blocks + (size_t)id * h->block_size + h->data_off, 0, 3);
		}
		if (hnsw_cand_grow(&c->cand, &c->ccap, c->ncand + nt))
			return -ENOMEM;
		for (uint32_t j = 0; j < nt; j++) {
			uint32_t id = c->todo[j];
			float d;

			if (j + 1 < nt)
				prefetch_node(h, c->todo[j + 1]);
			d = trav_dist(h, p, id);
			if (d >= bound)
				continue;
			minheap_push(c->cand, &c->ncand, (struct cand){ d, id });
			if (!admitted(ad, id))
				continue;
			maxheap_push(c->res, &c->nres, (struct cand){ d, id });
			if (c->nres > ef)
				maxheap_pop(c->res, &c->nres);
			if (c->nres >= ef)
				bound = c->res[0].d;
		}
	}
	return 0;
}

/*
 * Beam search at one level through admitted nodes only, for a filter held
 * as a bitmap that admits a minority of the nodes (after ACORN-1, Patel et
 * al. 2024: the predicate subgraph, its gaps bridged by two hops). The
 * plain search lets every node route, so a query whose neighbourhood the
 * filter excludes (class < 5 asked with a shoe) walks that whole region
 * before the bound tightens; here an excluded neighbour is never scored or
 * queued: its own list is read and its admitted neighbours are taken in
 * its place (at most 2 lcap admitted ids per expansion, one-hop ones
 * first). Seeds need not be admitted: they route, they are not results.
 * Leaves up to ef admitted nodes in c->res. -ENOMEM if a heap cannot grow.
 */
/* Admitted ids one expansion may take, in neighbour lists' worth; hops
 * through excluded neighbours go on only while the expansion holds fewer
 * than 1/TWOHOP_HOPS of a list's worth (a neighbourhood that admits that
 * many needs no bridge, and each hop is a list read); at most
 * TWOHOP_ROUTE_BASE + ef / TWOHOP_ROUTE_DIV excluded neighbours of an
 * admitted node route (a wider beam buys more recall with more routing).
 * Chosen on bench-filter (Fashion-MNIST, class < 5 and class = 7). */
#define TWOHOP_ACAP       2u
#define TWOHOP_HOPS       3u
#define TWOHOP_ROUTE_BASE 2u
#define TWOHOP_ROUTE_DIV  16u

int hnsw_search_layer_2hop(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
			   const struct cand *seeds, size_t ns, uint32_t ef, int level,
			   const struct admit *ad)
{
	size_t acap = TWOHOP_ACAP * (size_t)c->lcap, route = TWOHOP_ROUTE_BASE + ef / TWOHOP_ROUTE_DIV;
	uint32_t *hop = c->todo + acap;
	float bound = INFINITY;

	c->ncand = c->nres = 0;
	if (hnsw_cand_grow(&c->cand, &c->ccap, 64 + ns) ||
	    hnsw_cand_grow(&c->res, &c->rcap, (size_t)ef + 1))
		return -ENOMEM;
	hnsw_visited_begin(c);
	for (size_t i = 0; i < ns; i++) {
		if (visited_test_set(c, seeds[i].id))
			continue;
		minheap_push(c->cand, &c->ncand, seeds[i]);
		if (!admitted(ad, seeds[i].id))
			continue;
		maxheap_push(c->res, &c->nres, seeds[i]);
		if (c->nres > ef)
			maxheap_pop(c->res, &c->nres);
		if (c->nres >= ef)
			bound = c->res[0].d;
	}
	while (c->ncand) {
		struct cand cur = c->cand[0];
		const uint32_t *l;
		size_t nt = 0, nh = 0;

		if (cur.d > bound)
			break;
		minheap_pop(c->cand, &c->ncand);
		l = hnsw_read_links(h, c, cur.id, level);
		for (uint32_t j = 1; j <= l[0]; j++) {
			uint32_t id = l[j];

			if (c->vbits[id >> 6] >> (id & 63) & 1)
				continue;
			if (admitted(ad, id)) {
				visited_test_set(c, id);
				c->todo[nt++] = id;
				__builtin_prefetch((const char *)h->blocks + (size_t)id * h->block_size +
							   h->data_off, 0, 3);
			} else {
				hop[nh++] = id;
				__builtin_prefetch(hnsw_links(h, id, level), 0, 3);
			}
		}
		/* hop[] stays valid: reading a hop's list only overwrites c->tmp */
		for (size_t i = 0; nt * TWOHOP_HOPS < c->lcap && i < nh && nt < acap; i++) {
			const uint32_t *l2 = hnsw_read_links(h, c, hop[i], level);

			for (uint32_t j = 1; j <= l2[0] && nt < acap; j++) {
				uint32_t id = l2[j];

				if ((c->vbits[id >> 6] >> (id & 63) & 1) || !admitted(ad, id))
					continue;
				visited_test_set(c, id);
				c->todo[nt++] = id;
				__builtin_prefetch((const char *)h->blocks + (size_t)id * h->block_size +
							   h->data_off, 0, 3);
			}
		}
		if (hnsw_cand_grow(&c->cand, &c->ccap, c->ncand + nt))
			return -ENOMEM;
		for (size_t j = 0; j < nt; j++) {
			uint32_t id = c->todo[j];
			float d;

			if (j + 1 < nt)
				prefetch_node(h, c->todo[j + 1]);
			d = trav_dist(h, p, id);
			if (d >= bound)
				continue;
			minheap_push(c->cand, &c->ncand, (struct cand){ d, id });
			maxheap_push(c->res, &c->nres, (struct cand){ d, id });
			if (c->nres > ef)
				maxheap_pop(c->res, &c->nres);
			if (c->nres >= ef)
				bound = c->res[0].d;
		}
		/* the excluded neighbours of an admitted node that are nearer
		 * than the bound also route (their lists give two more hops),
		 * so an admitted pocket that two hops cannot reach is still
		 * found; excluded ones never queue further excluded ones, so
		 * an excluded region is entered only at its rim */
		if (!nh || !admitted(ad, cur.id) || hnsw_cand_grow(&c->cand, &c->ccap, c->ncand + nh))
			continue;
		for (size_t j = 0; j < nh && j < route; j++) {
			uint32_t id = hop[j];
			float d;

			if (c->vbits[id >> 6] >> (id & 63) & 1)
				continue;
			d = trav_dist(h, p, id);
			if (d >= bound)
				continue;
			visited_test_set(c, id);
			minheap_push(c->cand, &c->ncand, (struct cand){ d, id });
		}
	}
	return 0;
}

/* Sort by (d, id), nearest first. qsort's indirect compare showed up at
 * ~10% of a build (every insert sorts ef_construction candidates); this is
 * an inlined quicksort with insertion sort for short runs. */
void hnsw_cand_sort(struct cand *a, size_t n)
{
	while (n > 16) {
		size_t i = 0, j = n - 1, m = n / 2;
		struct cand p, t;

		/* median of three as the pivot */
		if (cand_less(a[m], a[0])) { t = a[m]; a[m] = a[0]; a[0] = t; }
		if (cand_less(a[n - 1], a[0])) { t = a[n - 1]; a[n - 1] = a[0]; a[0] = t; }
		if (cand_less(a[n - 1], a[m])) { t = a[n - 1]; a[n - 1] = a[m]; a[m] = t; }
		p = a[m];
		for (;;) {
			while (cand_less(a[i], p))
				i++;
			while (cand_less(p, a[j]))
				j--;
			if (i >= j)
				break;
			t = a[i]; a[i] = a[j]; a[j] = t;
			i++;
			j--;
		}
		/* recurse into the smaller side, loop on the larger */
		if (j + 1 < n - j - 1) {
			hnsw_cand_sort(a, j + 1);
			a += j + 1;
			n -= j + 1;
		} else {
			hnsw_cand_sort(a + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct cand x = a[i];
		size_t k = i;

		for (; k && cand_less(x, a[k - 1]); k--)
			a[k] = a[k - 1];
		a[k] = x;
	}
}
