/*
 * index/hnsw_search.c - the public HNSW searches.
 *
 * Search: greedy descent on the upper levels, then a beam search on level 0
 * (hnsw_traverse.c) with two heaps: candidates (every node, so excluded nodes
 * still route) and results (only admitted nodes: live and passing the
 * filter, so excluded ones never use up ef). SQ8 mode traverses on 8-bit
 * codes and re-ranks the results with exact float distances, skipping those
 * whose error bound rules them out of the k best. A filtered search is
 * planned here and only here (plan_of / rvf_hnsw_plan): very selective
 * filters take the exact scan of the allowed set; a bitmap admitting a
 * minority takes a filtered descent and the two-hop beam through admitted
 * nodes (hnsw_search_layer_2hop), falling back to the plain beam when that
 * finds fewer than k; anything else the plain beam. Every path ends in the
 * same top-k cut, ordered by (distance, label).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "index/hnsw_internal.h"
#include "index/hnsw_traverse.h"

/* ---- search --------------------------------------------------------------- */

/* A bitmap filter admitting less than this fraction takes the two-hop search
 * (hnsw_search_layer_2hop); it scans exactly below TWOHOP_SCAN * ef admitted. */
#define TWOHOP_SEL  0.6
#define TWOHOP_SCAN 16.0

/* Fraction of live nodes the filter admits, from a strided sample. */
static double estimate_selectivity(const struct rvf_hnsw *h, const struct admit *ad)
{
	size_t step = h->count / 512 + 1, seen = 0, ok = 0;

	for (size_t i = 0; i < h->count; i += step) {
		if (h->flags[i] & HNSW_NODE_DELETED)
			continue;
		seen++;
		ok += admitted(ad, (uint32_t)i) != 0;
	}
	return seen ? (double)ok / (double)seen : 1.0;
}

/* The k best of a result stream by (distance, label): a max-heap whose root
 * is the worst kept, so ties at the cut go to the smaller label whatever the
 * internal ids are. */
static inline int res_worse(const struct rvf_hnsw_result *a, const struct rvf_hnsw_result *b)
{
	return a->distance > b->distance || (a->distance == b->distance && a->label > b->label);
}

/* Put x at the root of the max-heap a[0..n) (on res_worse) and sift it
 * down to its place: topk_offer's replacement of the worst, and each step
 * of topk_sort. */
static void topk_sift_root(struct rvf_hnsw_result *a, size_t n, struct rvf_hnsw_result x)
{
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && res_worse(&a[c + 1], &a[c]))
			c++;
		if (!res_worse(&a[c], &x))
			break;
		a[i] = a[c];
		i = c;
	}
	a[i] = x;
}

static void topk_offer(struct rvf_hnsw_result *a, size_t *n, size_t k, struct rvf_hnsw_result x)
{
	size_t i;

	if (*n == k) {
		if (res_worse(&a[0], &x))
			topk_sift_root(a, k, x);   /* x replaces the worst */
		return;
	}
	i = (*n)++;
	while (i) {
		size_t p = (i - 1) / 2;

		if (!res_worse(&x, &a[p]))
			break;
		a[i] = a[p];
		i = p;
	}
	a[i] = x;
}

/* Sort a full top-k heap (topk_offer's max-heap on res_worse) ascending, in
 * place: the root (worst) goes to the end, as in heapsort. The same order
 * qsort by (distance, label) gives, without the buffer glibc's qsort may malloc. */
static void topk_sort(struct rvf_hnsw_result *a, size_t n)
{
	while (n > 1) {
		struct rvf_hnsw_result x = a[--n];

		a[n] = a[0];
		topk_sift_root(a, n, x);
	}
}

/* The first admitted node at or after i, or h->count. */
static inline size_t next_admitted(const struct rvf_hnsw *h, const struct admit *ad, size_t i)
{
	while (i < h->count && !admitted(ad, (uint32_t)i))
		i++;
	return i;
}

/* Brute force over the admitted nodes. The rows of a selective filter are
 * scattered, so each one is a fresh trip to memory: the row after next is
 * prefetched while this one is computed. */
/* A result's distance: cosine is 1 - cos of normalised rows, which rounding
 * can push just outside [0, 2]. */
static inline float result_dist(const struct rvf_hnsw *h, float d)
{
	if (h->metric != RVF_METRIC_COSINE)
		return d;
	return d < 0.0f ? 0.0f : d > 2.0f ? 2.0f : d;
}

/*
 * The k best by exact distance among the n SQ8 traversal results in res
 * (estimates in d) into the top-k heap out (holding *m): nearest estimate
 * first, skipping without reading its float row any candidate whose lower
 * bound (sq8_lower_bound) exceeds the k-th exact distance so far. That
 * cannot change the result, and it leaves about k row reads per query
 * instead of ef: each is a trip to memory for a whole float row. The k-th
 * distance only shrinks, so a row already ruled out is never prefetched.
 */
static void rerank_topk(const struct rvf_hnsw *h, const struct qprep *p, struct cand *res, size_t n,
			uint32_t k, struct rvf_hnsw_result *out, size_t *m)
{
	float kth = INFINITY;
	size_t pf = 0;

	hnsw_cand_sort(res, n);
	for (size_t i = 0; i < n; i++)
		res[i].d = hnsw_sq8_lower_bound(h, p, res[i].id, res[i].d);
	for (size_t i = 0; i < n; i++) {
		struct rvf_hnsw_result x;

		for (; pf < n && pf < i + 3; pf++)      /* rows up to two ahead in flight */
			if (!(res[pf].d > kth))
				prefetch_fvec(h, res[pf].id);
		if (res[i].d > kth)
			continue;
		x.distance = result_dist(h, exact_dist(h, p->q, res[i].id));
		x.label = h->labels[res[i].id];
		topk_offer(out, m, k, x);
		/* under cosine a k-th distance clamped to 2 bounds nothing */
		if (*m == k && (h->metric != RVF_METRIC_COSINE || out[0].distance < 2.0f))
			kth = out[0].distance;
	}
}

static int exact_scan(const struct rvf_hnsw *h, const struct qprep *p, uint32_t k,
		      const struct admit *ad, struct rvf_hnsw_result *out)
{
	size_t n = 0, i = next_admitted(h, ad, 0), ahead = next_admitted(h, ad, i + 1), ahead2;

	if (i < h->count)
		prefetch_fvec(h, (uint32_t)i);
	if (ahead < h->count)
		prefetch_fvec(h, (uint32_t)ahead);
	for (; i < h->count; i = ahead, ahead = ahead2) {
		uint32_t id = (uint32_t)i;
		struct rvf_hnsw_result x;

		ahead2 = ahead < h->count ? next_admitted(h, ad, ahead + 1) : h->count;
		if (ahead2 < h->count)
			prefetch_fvec(h, (uint32_t)ahead2);
		x.distance = result_dist(h, exact_dist(h, p->q, id));
		x.label = h->labels[id];
		topk_offer(out, &n, k, x);
	}
	topk_sort(out, n);
	return (int)n;
}

/*
 * The plan of a filtered search (ad->f set). A plain beam search must look
 * at about ef/sel nodes to collect ef admitted ones; scanning costs
 * `allowed` distances: it scans when the allowed set is small next to the
 * detour (sel^2 * live < 32 ef). The two-hop search (a bitmap admitting
 * less than TWOHOP_SEL) scores admitted nodes only, about as many as an
 * unfiltered search of the allowed set would, so it scans when the
 * allowed set is below TWOHOP_SCAN * ef, or when the plain rule says so
 * (for rows wider than 128 dimensions weighted by 128 / dim, a scan's cost):
 * for an uncorrelated filter each expansion reads several hop lists, and a
 * scan of narrow rows measured cheaper (bench-store: a 10% filter on 105k x
 * 128 took 420 us through two hops, 208 us by scan). *allowed: the
 * estimated count.
 */
static enum rvf_hnsw_plan plan_of(const struct rvf_hnsw *h, const struct admit *ad, uint32_t k,
				  uint32_t ef, double *allowed)
{
	const struct rvf_hnsw_filter *f = ad->f;
	double sel = f->selectivity > 0 ? f->selectivity : estimate_selectivity(h, ad);
	int twohop = f->bitmap && sel < TWOHOP_SEL;

	if (ef < k)
		ef = k;
	*allowed = sel * (double)h->live;
	if (sel <= 0 || *allowed * sel < 32.0 * ef * (twohop && h->dim > 128 ? 128.0 / h->dim : 1.0) ||
	    (twohop && *allowed < TWOHOP_SCAN * ef))
		return RVF_HNSW_PLAN_EXACT;
	return twohop ? RVF_HNSW_PLAN_GRAPH_2HOP : RVF_HNSW_PLAN_GRAPH;
}

enum rvf_hnsw_plan rvf_hnsw_plan(const struct rvf_hnsw *h, uint32_t k, uint32_t ef,
				 const struct rvf_hnsw_filter *f)
{
	struct admit ad = { h, f, 1 };
	double allowed;

	if (!h || !f || (!f->bitmap && !f->allow))
		return RVF_HNSW_PLAN_GRAPH;
	return plan_of(h, &ad, k, ef, &allowed);
}

/*
 * The filtered descent for hnsw_search_layer_2hop: on each upper level a
 * narrow two-hop beam from the admitted nodes the level above found (or,
 * while none is found, from where the plain greedy descent stands), so
 * level 0 starts among admitted nodes near the query even when the query's
 * own neighbourhood is excluded. Fills seeds (up to DESCENT_SEEDS) for level 0.
 */
#define DESCENT_EF    4u
#define DESCENT_SEEDS DESCENT_EF

static int filtered_descent(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
			    const struct admit *ad, struct cand *seeds, size_t *ns)
{
	uint32_t cur = h->entry;
	float d = trav_dist(h, p, cur);
	size_t n = 0;

	for (int lc = h->maxlevel; lc >= 1; lc--) {
		int err;

		if (!n)
			seeds[n++] = (struct cand){ d, cur };
		err = hnsw_search_layer_2hop(h, c, p, seeds, n, DESCENT_EF, lc, ad);
		if (err)
			return err;
		hnsw_cand_sort(c->res, c->nres);
		n = c->nres < DESCENT_SEEDS ? c->nres : DESCENT_SEEDS;
		memcpy(seeds, c->res, n * sizeof(*seeds));
		cur = hnsw_greedy_descent(h, c, p, cur, lc, lc - 1, &d);
	}
	if (!n)
		seeds[n++] = (struct cand){ d, cur };
	*ns = n;
	return 0;
}

/* own: the caller's context, or NULL for one from the pool. */
static int search_common(const struct rvf_hnsw *h, struct sctx *own, const float *query, uint32_t k,
			 uint32_t ef, const struct rvf_hnsw_filter *f, struct rvf_hnsw_result *out,
			 int exact)
{
	struct admit ad = { h, NULL, 0 };
	double allowed = 0;
	int twohop = 0;
	struct qprep p;
	struct sctx *c;
	int ret;

	if (!h || !query || (k && !out))
		return -EINVAL;
	if (!k || !h->live)
		return 0;
	if (k > INT32_MAX)
		return -EINVAL;
	if (ef < k)
		ef = k;
	if (f && (f->bitmap || f->allow))
		ad.f = f;
	ad.any = ad.f || h->live != h->count;
	c = own;
	if (c ? hnsw_sctx_fit(h, c) != 0 : !(c = hnsw_sctx_get(h)))
		return -ENOMEM;
	hnsw_qprep_init(h, &p, query, c->q, c->u);

	if (!exact && ad.f) {
		enum rvf_hnsw_plan plan = plan_of(h, &ad, k, ef, &allowed);

		exact = plan == RVF_HNSW_PLAN_EXACT;
		twohop = plan == RVF_HNSW_PLAN_GRAPH_2HOP;
	}
	if (exact) {
		ret = exact_scan(h, &p, k, &ad, out);
	} else {
		struct cand seeds[DESCENT_SEEDS];
		size_t n, ns = 0;
		float dep;
		uint32_t ep;

		ret = 0;
		if (twohop) {
			ret = filtered_descent(h, c, &p, &ad, seeds, &ns);
			if (!ret)
				ret = hnsw_search_layer_2hop(h, c, &p, seeds, ns, ef, 0, &ad);
			/* fewer than k where more are admitted: the admitted
			 * subgraph did not connect; the plain search lets every
			 * node route */
			twohop = !ret && c->nres < k && allowed >= k;
		}
		if (!ret && (!ns || twohop)) {
			ep = hnsw_greedy_descent(h, c, &p, h->entry, h->maxlevel, 0, &dep);
			ret = hnsw_search_layer(h, c, &p, ep, dep, ef, 0, &ad);
		}
		if (!ret) {
			/* the cut at k by (distance, label): ties go to the smaller label */
			size_t m = 0;

			n = c->nres;
			if (h->quant == RVF_HNSW_QUANT_SQ8)
				rerank_topk(h, &p, c->res, n, k, out, &m);
			else
				for (size_t i = 0; i < n; i++)
					topk_offer(out, &m, k, (struct rvf_hnsw_result){ h->labels[c->res[i].id],
											  result_dist(h, c->res[i].d) });
			topk_sort(out, m);
			ret = (int)m;
		}
	}
	if (!own)
		hnsw_sctx_put(h, c);
	return ret;
}

int rvf_hnsw_search(const struct rvf_hnsw *h, const float *query, uint32_t k, uint32_t ef,
		    const struct rvf_hnsw_filter *f, struct rvf_hnsw_result *out)
{
	return search_common(h, NULL, query, k, ef, f, out, 0);
}

int rvf_hnsw_exact_search(const struct rvf_hnsw *h, const float *query, uint32_t k, uint32_t ef,
			  const struct rvf_hnsw_filter *f, struct rvf_hnsw_result *out)
{
	return search_common(h, NULL, query, k, ef, f, out, 1);
}

int rvf_hnsw_search_ctx_new(const struct rvf_hnsw *h, struct rvf_hnsw_search_ctx **out)
{
	struct rvf_hnsw_search_ctx *c;

	if (!out)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (h && rvf_hnsw_search_ctx_reserve(c, h, 0)) {
		rvf_hnsw_search_ctx_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void rvf_hnsw_search_ctx_free(struct rvf_hnsw_search_ctx *c)
{
	if (!c)
		return;
	hnsw_sctx_release(&c->sc);
	free(c);
}

int rvf_hnsw_search_ctx_reserve(struct rvf_hnsw_search_ctx *c, const struct rvf_hnsw *h, uint32_t ef)
{
	if (!c || !h)
		return -EINVAL;
	if (hnsw_sctx_fit(h, &c->sc) || hnsw_cand_grow(&c->sc.cand, &c->sc.ccap, 64) ||
	    hnsw_cand_grow(&c->sc.res, &c->sc.rcap, (size_t)(ef > 64 ? ef : 64) + 1))
		return -ENOMEM;
	return 0;
}

int rvf_hnsw_search_with(const struct rvf_hnsw *h, struct rvf_hnsw_search_ctx *c, const float *query,
			 uint32_t k, uint32_t ef, const struct rvf_hnsw_filter *f,
			 struct rvf_hnsw_result *out)
{
	if (!c)
		return -EINVAL;
	return search_common(h, &c->sc, query, k, ef, f, out, 0);
}

int rvf_hnsw_exact_search_with(const struct rvf_hnsw *h, struct rvf_hnsw_search_ctx *c,
			       const float *query, uint32_t k, uint32_t ef,
			       const struct rvf_hnsw_filter *f, struct rvf_hnsw_result *out)
{
	if (!c)
		return -EINVAL;
	return search_common(h, &c->sc, query, k, ef, f, out, 1);
}

size_t hnsw_nearest_nodes(const struct rvf_hnsw *h, uint32_t u, uint32_t ef, uint32_t *ids, size_t max)
{
	struct admit ad = { h, NULL, 0 };
	struct qprep p;
	struct sctx *c = hnsw_sctx_get(h);
	size_t n = 0;
	float dep;
	uint32_t ep;

	if (!c || h->maxlevel < 0)
		goto out;
	hnsw_qprep_node(h, &p, u, c->u);
	ep = hnsw_greedy_descent(h, c, &p, h->entry, h->maxlevel, 0, &dep);
	if (hnsw_search_layer(h, c, &p, ep, dep, ef, 0, &ad))
		goto out;
	hnsw_cand_sort(c->res, c->nres);
	for (size_t i = 0; i < c->nres && n < max; i++)
		if (c->res[i].id != u)
			ids[n++] = c->res[i].id;
out:
	if (c)
		hnsw_sctx_put(h, c);
	return n;
}

int hnsw_sq8_bound(const struct rvf_hnsw *h, const float *query, uint32_t id, float *est, float *lb,
		   float *exact)
{
	struct sctx *c;
	struct qprep p;

	if (h->quant != RVF_HNSW_QUANT_SQ8 || id >= h->count)
		return -EINVAL;
	c = hnsw_sctx_get(h);
	if (!c)
		return -ENOMEM;
	hnsw_qprep_init(h, &p, query, c->q, c->u);
	*est = trav_dist(h, &p, id);
	*lb = hnsw_sq8_lower_bound(h, &p, id, *est);
	*exact = exact_dist(h, p.q, id);
	hnsw_sctx_put(h, c);
	return 0;
}
