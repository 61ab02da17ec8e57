/*
 * index/hnsw_traverse.h - the traversal machinery shared by insertion
 * (hnsw_build.c), queries (hnsw_search.c) and the handle (hnsw.c): search
 * contexts, prepared queries, candidate heaps, filters, node locks. The hot
 * helpers are static inline so the beam search keeps them inlined; the rest
 * lives in hnsw_traverse.c.
 */
#ifndef RVF_INDEX_HNSW_TRAVERSE_H
#define RVF_INDEX_HNSW_TRAVERSE_H

#include <math.h>
#include <string.h>

#include "index/hnsw_internal.h"

static inline void node_lock(const struct rvf_hnsw *h, uint32_t id)
{
	if (!h->mt)
		return;
	while (__atomic_test_and_set(&h->locks[id], __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&h->locks[id], __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static inline void node_unlock(const struct rvf_hnsw *h, uint32_t id)
{
	if (h->mt)
		__atomic_clear(&h->locks[id], __ATOMIC_RELEASE);
}

static inline void indeg_add(struct rvf_hnsw *h, uint32_t id, int delta)
{
	if (h->mt)
		__atomic_add_fetch(&h->indeg0[id], (uint32_t)delta, __ATOMIC_RELAXED);
	else
		h->indeg0[id] += (uint32_t)delta;
}

static inline uint32_t indeg_get(const struct rvf_hnsw *h, uint32_t id)
{
	return __atomic_load_n(&h->indeg0[id], __ATOMIC_RELAXED);
}

struct sctx {
	struct sctx *next;
	/* Visited set: a bitmap over internal ids (1 bit per node keeps it in
	 * L2 for a million nodes) and the words set since the last reset, so a
	 * reset clears only those. */
	uint64_t *vbits;
	uint32_t *vtouch;
	size_t vcap, ntouch;     /* vcap: nodes covered */
	struct cand *cand, *res;
	size_t ccap, rcap, ncand, nres;
	float *q;              /* prepared query, dim padded to 16 */
	uint8_t *u;            /* its 8-bit codes (SQ8) */
	uint32_t *tmp;         /* copy of one neighbour list (+1 count) */
	uint32_t *todo;        /* 3 lcap ids (see hnsw_sctx_fit) */
	uint32_t qdim;         /* q and u hold this many values */
	uint32_t lcap;         /* tmp and todo hold this many ids */
};

/* The public, caller-owned form: one context outside the pool. */
struct rvf_hnsw_search_ctx {
	struct sctx sc;
};

/*
 * A query prepared for one metric: normalised for cosine, and for SQ8 also
 * quantised to 8 bits, q_i ~ qlo + qstep * u_i (u_i in 0..255), so that the
 * traversal dot product is one integer kernel call (vpdpbusd on AVX-512
 * VNNI) plus a few multiplies:
 *
 *   sum q_i x_i ~ lo (n qlo + qstep U) + step (qlo C + qstep (I + 128 U))
 *
 * with U = sum u_i, C = sum c_i (node header), I = sum u_i (c_i - 128).
 */
struct qprep {
	const float *q;
	const uint8_t *u;          /* SQ8: query codes */
	float qq;                  /* |q|^2 */
	float qlo, qstep;
	float a;                   /* n qlo + qstep U */
	float e;                   /* 128 U */
	float qhq, eq;             /* |q^|^2 and |q - q^| (rounded up) of the decoded query q^ */
	float tmax;                /* 255 U: bounds I + 128 U */
	float kslack;              /* (n + 16) 2^-23: the exact kernels' rounding */
};

static inline float exact_dist(const struct rvf_hnsw *h, const float *q, uint32_t id)
{
	if (h->metric == RVF_METRIC_L2)
		return h->k->l2sq_f32(q, hnsw_fvec(h, id), h->dim);
	return 1.0f - h->k->dot_f32(q, hnsw_fvec(h, id), h->dim);
}

/* Traversal distance: the SQ8 estimate, or exact without quantisation. */
static inline float trav_dist(const struct rvf_hnsw *h, const struct qprep *p, uint32_t id)
{
	const uint8_t *blk;
	float hdr[4], ip;
	int32_t dot;

	if (h->quant != RVF_HNSW_QUANT_SQ8)
		return exact_dist(h, p->q, id);
	blk = h->blocks + (size_t)id * h->block_size + h->data_off;
	memcpy(hdr, blk, sizeof(hdr));
	dot = h->k->dot_u8_i8(p->u, (const int8_t *)(blk + HNSW_SQ8_HDR), h->dim);
	ip = hdr[0] * p->a + hdr[1] * (p->qlo * hdr[3] + p->qstep * ((float)dot + p->e));
	if (h->metric == RVF_METRIC_L2)
		return p->qq - 2.0f * ip + hdr[2];
	return 1.0f - ip;
}

static inline void prefetch_fvec(const struct rvf_hnsw *h, uint32_t id)
{
	const char *p = (const char *)hnsw_fvec(h, id);

	for (size_t o = 0; o < 4 * (size_t)h->dim; o += 64)
		__builtin_prefetch(p + o, 0, 0);
}

static inline void prefetch_node(const struct rvf_hnsw *h, uint32_t id)
{
	const char *p = (const char *)h->blocks + (size_t)id * h->block_size + h->data_off;
	size_t n = h->quant == RVF_HNSW_QUANT_SQ8 ? HNSW_SQ8_HDR + h->dim : 4 * (size_t)h->dim;

	for (size_t o = 0; o < n; o += 64)
		__builtin_prefetch(p + o, 0, 3);
}

/* ---- heaps and search contexts ------------------------------------------- */

struct cand { float d; uint32_t id; };

/* min-heap on d (candidates) */
static inline void minheap_push(struct cand *a, size_t *n, struct cand x)
{
	size_t i = (*n)++;

	while (i) {
		size_t p = (i - 1) / 2;

		if (a[p].d <= x.d)
			break;
		a[i] = a[p];
		i = p;
	}
	a[i] = x;
}

static inline void minheap_pop(struct cand *a, size_t *n)
{
	struct cand x = a[--(*n)];
	size_t i = 0, m = *n;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= m)
			break;
		if (c + 1 < m && a[c + 1].d < a[c].d)
			c++;
		if (x.d <= a[c].d)
			break;
		a[i] = a[c];
		i = c;
	}
	if (m)
		a[i] = x;
}

/* max-heap on d (results) */
static inline void maxheap_push(struct cand *a, size_t *n, struct cand x)
{
	size_t i = (*n)++;

	while (i) {
		size_t p = (i - 1) / 2;

		if (a[p].d >= x.d)
			break;
		a[i] = a[p];
		i = p;
	}
	a[i] = x;
}

static inline void maxheap_pop(struct cand *a, size_t *n)
{
	struct cand x = a[--(*n)];
	size_t i = 0, m = *n;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= m)
			break;
		if (c + 1 < m && a[c + 1].d > a[c].d)
			c++;
		if (x.d >= a[c].d)
			break;
		a[i] = a[c];
		i = c;
	}
	if (m)
		a[i] = x;
}

/* Mark id visited; 1 if it already was. */
static inline int visited_test_set(struct sctx *c, uint32_t id)
{
	uint64_t *w = &c->vbits[id >> 6], b = 1ull << (id & 63);

	if (*w & b)
		return 1;
	if (!*w)
		c->vtouch[c->ntouch++] = id >> 6;
	*w |= b;
	return 0;
}

/* ---- filters -------------------------------------------------------------- */

struct admit {
	const struct rvf_hnsw *h;
	const struct rvf_hnsw_filter *f;  /* NULL: only tombstones excluded */
	int any;                          /* 0: everything admitted (fast path) */
};

static inline int admitted(const struct admit *a, uint32_t id)
{
	const struct rvf_hnsw *h = a->h;

	if (!a->any)
		return 1;
	/* the bitmap first: one bit per node stays in cache, the flags byte
	 * of a node two hops away is a miss (a third of the two-hop search's
	 * time before) */
	if (a->f && a->f->bitmap && !(a->f->bitmap[id >> 6] >> (id & 63) & 1))
		return 0;
	if (h->flags[id] & HNSW_NODE_DELETED)
		return 0;
	if (!a->f)
		return 1;
	if (a->f->allow && !a->f->allow(a->f->ctx, h->labels[id], id))
		return 0;
	return 1;
}

static inline int cand_less(struct cand x, struct cand y)
{
	return x.d < y.d || (x.d == y.d && x.id < y.id);
}

/* hnsw_traverse.c */
void hnsw_sctx_release(struct sctx *c);
void hnsw_sctx_free(struct sctx *c);
/* Make c fit a search of h (see hnsw_traverse.c). 0 or -ENOMEM. */
int hnsw_sctx_fit(const struct rvf_hnsw *h, struct sctx *c);
/* A fitted context from h's pool (or a new one); NULL on -ENOMEM. */
struct sctx *hnsw_sctx_get(const struct rvf_hnsw *h);
void hnsw_sctx_put(const struct rvf_hnsw *h, struct sctx *c);
/* Size c's visited set for n nodes (cleared). 0 or -ENOMEM (c unchanged). */
int hnsw_visited_fit(struct sctx *c, size_t n);
void hnsw_visited_begin(struct sctx *c);
void hnsw_qprep_init(const struct rvf_hnsw *h, struct qprep *p, const float *query, float *buf, uint8_t *u);
void hnsw_qprep_node(const struct rvf_hnsw *h, struct qprep *p, uint32_t id, uint8_t *u);
void hnsw_rerank(const struct rvf_hnsw *h, const float *q, struct cand *res, size_t n);
float hnsw_sq8_lower_bound(const struct rvf_hnsw *h, const struct qprep *p, uint32_t id, float est);
int hnsw_cand_grow(struct cand **a, size_t *cap, size_t need);
const uint32_t *hnsw_read_links(const struct rvf_hnsw *h, struct sctx *c, uint32_t id, int level);
uint32_t hnsw_greedy_descent(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
			     uint32_t cur, int from, int to, float *dcur);
int hnsw_search_layer(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
		      uint32_t ep, float dep, uint32_t ef, int level, const struct admit *ad);
int hnsw_search_layer_2hop(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
			   const struct cand *seeds, size_t ns, uint32_t ef, int level,
			   const struct admit *ad);
void hnsw_cand_sort(struct cand *a, size_t n);

#endif
