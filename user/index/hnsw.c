/*
 * index/hnsw.c - HNSW graph (Malkov & Yashunin 2016): insertion with the
 * neighbour-selection heuristic, multi-threaded batch build, filtered search
 * with tombstones, exact scan, compaction.
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
 * Search: greedy descent on the upper levels, then a beam search on level 0
 * with two heaps: candidates (every node, so excluded nodes still route) and
 * results (only admitted nodes: live and passing the filter, so excluded ones
 * never use up ef). SQ8 mode traverses on 8-bit codes and re-ranks the
 * results with exact float distances, skipping those whose error bound
 * rules them out of the k best. Very selective filters switch to an
 * exact scan of the allowed set.
 *
 * Invariants (rvf_hnsw_check): list sizes <= Mmax, ids < count, no self or
 * duplicate links, node levels <= maxlevel, entry has level maxlevel,
 * indeg0 matches the level-0 lists, live nodes reachable on level 0.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "index/hnsw_internal.h"

#define DEFAULT_SEED 0x5eed0f4e5a1c0de5ull
#define HUGE_PAGE    (2u << 20)
#define HUGE_MIN     (8u << 20)

/* ---- small helpers -------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

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

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

static void node_lock(const struct rvf_hnsw *h, uint32_t id)
{
	if (!h->mt)
		return;
	while (__atomic_test_and_set(&h->locks[id], __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&h->locks[id], __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static void node_unlock(const struct rvf_hnsw *h, uint32_t id)
{
	if (h->mt)
		__atomic_clear(&h->locks[id], __ATOMIC_RELEASE);
}

static void indeg_add(struct rvf_hnsw *h, uint32_t id, int delta)
{
	if (h->mt)
		__atomic_add_fetch(&h->indeg0[id], (uint32_t)delta, __ATOMIC_RELAXED);
	else
		h->indeg0[id] += (uint32_t)delta;
}

static uint32_t indeg_get(const struct rvf_hnsw *h, uint32_t id)
{
	return __atomic_load_n(&h->indeg0[id], __ATOMIC_RELAXED);
}

/* ---- label map ------------------------------------------------------------ */

static size_t lmap_slot(uint64_t key, size_t cap)
{
	uint64_t x = key;

	return (size_t)(splitmix64(&x) & (cap - 1));
}

static int lmap_grow(struct lmap *m, size_t want)
{
	size_t cap = m->cap ? m->cap : 64;
	uint64_t *keys;
	uint32_t *vals;

	while (cap < want * 2)
		cap *= 2;
	if (cap == m->cap)
		return 0;
	keys = malloc(cap * sizeof(*keys));
	vals = calloc(cap, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t s;

		if (!m->vals[i])
			continue;
		s = lmap_slot(m->keys[i], cap);
		while (vals[s])
			s = (s + 1) & (cap - 1);
		keys[s] = m->keys[i];
		vals[s] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

/* Needs room (lmap_grow(m, used + 1)) reserved by the caller. */
int lmap_put(struct lmap *m, uint64_t key, uint32_t id)
{
	size_t s;

	if ((m->used + 1) * 2 > m->cap && lmap_grow(m, m->used + 1))
		return -ENOMEM;
	s = lmap_slot(key, m->cap);
	while (m->vals[s] && m->keys[s] != key)
		s = (s + 1) & (m->cap - 1);
	if (!m->vals[s])
		m->used++;
	m->keys[s] = key;
	m->vals[s] = id + 1;
	return 0;
}

uint32_t lmap_get(const struct lmap *m, uint64_t key)
{
	size_t s;

	if (!m->cap)
		return HNSW_NO_ID;
	s = lmap_slot(key, m->cap);
	while (m->vals[s]) {
		if (m->keys[s] == key)
			return m->vals[s] - 1;
		s = (s + 1) & (m->cap - 1);
	}
	return HNSW_NO_ID;
}

/* ---- construction / memory ------------------------------------------------ */

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

int hnsw_alloc(uint32_t dim, enum rvf_metric metric, const struct rvf_hnsw_opts *o,
	       struct rvf_hnsw **out)
{
	struct rvf_hnsw_opts def = { 0 };
	struct rvf_hnsw *h;
	uint64_t sm;
	int err;

	if (!o)
		o = &def;
	err = rvf_simd_init();
	if (err)
		return err;
	if (dim == 0 || dim > HNSW_MAX_DIM)
		return log_fail(-EINVAL, "hnsw: dimension %u out of range 1..%u", dim, HNSW_MAX_DIM);
	if (metric != RVF_METRIC_L2 && metric != RVF_METRIC_IP && metric != RVF_METRIC_COSINE)
		return log_fail(-EINVAL, "hnsw: unknown metric %d", (int)metric);
	if (o->M == 1 || o->M > 255)
		return log_fail(-EINVAL, "hnsw: M=%u out of range 2..255", o->M);
	if (o->quant > RVF_HNSW_QUANT_SQ8)
		return log_fail(-EINVAL, "hnsw: unknown quantisation %u", o->quant);
	if (o->rows && (o->quant == RVF_HNSW_QUANT_NONE || metric == RVF_METRIC_COSINE))
		return log_fail(-EINVAL, "hnsw: borrowed rows need SQ8 and L2 or IP");

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->sync = calloc(1, sizeof(*h->sync));
	if (!h->sync) {
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_init(&h->sync->glock, NULL);
	pthread_mutex_init(&h->sync->pool_lock, NULL);
	h->dim = dim;
	h->metric = metric;
	h->M = o->M ? o->M : 16;
	h->M0 = 2 * h->M;
	h->efc = o->ef_construction ? o->ef_construction : 200;
	h->seed = o->seed ? o->seed : DEFAULT_SEED;
	h->threads = o->threads ? o->threads : online_cpus();
	h->quant = o->quant == RVF_HNSW_QUANT_NONE ? RVF_HNSW_QUANT_NONE : RVF_HNSW_QUANT_SQ8;
	h->level_mult = 1.0 / log((double)h->M);
	sm = h->seed;
	for (int i = 0; i < 4; i++)
		h->rng[i] = splitmix64(&sm);
	h->k = dist_active();
	h->rows = o->rows;
	h->rows_ctx = o->rows_ctx;
	h->maxlevel = -1;
	h->entry = HNSW_NO_ID;
	if (h->quant == RVF_HNSW_QUANT_SQ8) {
		h->data_off = round_up(4 + 4 * (size_t)h->M0, 16);
		h->block_size = round_up(h->data_off + HNSW_SQ8_HDR + dim, 64);
		h->fvec_stride = round_up(dim, 16);
	} else {
		h->data_off = round_up(4 + 4 * (size_t)h->M0, 64);
		h->block_size = round_up(h->data_off + 4 * (size_t)dim, 64);
	}
	if (o->capacity_hint && hnsw_reserve(h, o->capacity_hint) < 0) {
		rvf_hnsw_free(h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

int rvf_hnsw_new(uint32_t dim, enum rvf_metric metric, const struct rvf_hnsw_opts *o,
		 struct rvf_hnsw **out)
{
	int err;

	if (!out)
		return -EINVAL;
	err = hnsw_alloc(dim, metric, o, out);
	if (!err)
		log_debug("hnsw: new dim=%u metric=%d M=%u efc=%u quant=%s simd=%s", dim, (int)metric,
			  (*out)->M, (*out)->efc, (*out)->quant == RVF_HNSW_QUANT_SQ8 ? "sq8" : "none",
			  rvf_simd_name());
	return err;
}

/* Grow an array to ncap elements of size sz, zeroing the new part; aligned
 * arrays are reallocated by hand since realloc does not keep alignment. */
static int grow_array(void *pp, size_t oldn, size_t newn, size_t sz, size_t align)
{
	void **p = pp, *q;

	if (align) {
		size_t bytes = round_up(newn * sz, align);

		/* Big arrays are read at random (one node per hop): 2 MiB pages
		 * take the TLB misses out of every hop. The kernel here gives
		 * huge pages on request only (THP "madvise" mode). */
		if (bytes >= HUGE_MIN) {
			align = HUGE_PAGE;
			bytes = round_up(bytes, HUGE_PAGE);
		}
		q = aligned_alloc(align, bytes);
		if (!q)
			return -ENOMEM;
		if (bytes >= HUGE_MIN)
			madvise(q, bytes, MADV_HUGEPAGE);   /* advice only: failure is harmless */
		if (*p)
			memcpy(q, *p, oldn * sz);
		free(*p);
	} else {
		q = realloc(*p, newn * sz);
		if (!q)
			return -ENOMEM;
	}
	memset((char *)q + oldn * sz, 0, (newn - oldn) * sz);
	*p = q;
	return 0;
}

int hnsw_reserve(struct rvf_hnsw *h, size_t cap)
{
	size_t old = h->cap;

	if (cap <= h->cap)
		return 0;
	if (cap > (size_t)UINT32_MAX - 1)
		return log_fail(-ERANGE, "hnsw: %zu nodes exceed the 2^32-2 limit", cap);
	/* Each grow leaves a consistent (bigger) array; cap moves only at the end. */
	if (grow_array(&h->blocks, old, cap, h->block_size, 64) ||
	    (h->quant == RVF_HNSW_QUANT_SQ8 && !h->rows &&
	     grow_array(&h->fvecs, old * h->fvec_stride, cap * h->fvec_stride, sizeof(float), 64)) ||
	    (h->metric == RVF_METRIC_COSINE &&
	     grow_array(&h->orig, old * h->dim, cap * h->dim, sizeof(float), 0)) ||
	    grow_array(&h->labels, old, cap, sizeof(*h->labels), 0) ||
	    grow_array(&h->flags, old, cap, 1, 0) ||
	    grow_array(&h->levels, old, cap, 1, 0) ||
	    grow_array(&h->upper, old, cap, sizeof(*h->upper), 0) ||
	    grow_array(&h->indeg0, old, cap, sizeof(*h->indeg0), 0) ||
	    grow_array(&h->locks, old, cap, 1, 0) ||
	    lmap_grow(&h->map, cap))
		return log_fail(-ENOMEM, "hnsw: out of memory growing to %zu nodes", cap);
	h->cap = cap;
	return 0;
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
	uint32_t *todo;
	uint32_t qdim;         /* q and u hold this many values */
	uint32_t lcap;         /* tmp and todo hold this many ids */
};

/* The public, caller-owned form: one context outside the pool. */
struct rvf_hnsw_search_ctx {
	struct sctx sc;
};

static void sctx_release(struct sctx *c)
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

static void sctx_free(struct sctx *c)
{
	if (!c)
		return;
	sctx_release(c);
	free(c);
}

void rvf_hnsw_free(struct rvf_hnsw *h)
{
	if (!h)
		return;
	if (h->upper)
		for (size_t i = 0; i < h->count; i++)
			free(h->upper[i]);
	free(h->blocks);
	free(h->fvecs);
	free(h->orig);
	free(h->labels);
	free(h->flags);
	free(h->levels);
	free(h->upper);
	free(h->indeg0);
	free(h->locks);
	free(h->map.keys);
	free(h->map.vals);
	if (h->sync) {
		while (h->sync->pool) {
			struct sctx *c = h->sync->pool;

			h->sync->pool = c->next;
			sctx_free(c);
		}
		pthread_mutex_destroy(&h->sync->glock);
		pthread_mutex_destroy(&h->sync->pool_lock);
		free(h->sync);
	}
	free(h);
}

/* ---- vectors -------------------------------------------------------------- */

/*
 * Per-vector affine 8-bit code: x_i ~ lo + step * c_i, c_i in 0..255, kept
 * as the signed byte c_i - 128 (the operand vpdpbusd wants signed). Header
 * (HNSW_SQ8_HDR bytes): lo, step, |x^|^2 (of the decoded vector x^), sum of
 * c_i, |x - x^| (rounded up, for the re-rank bound), zeros.
 */
static void sq8_encode(const struct rvf_hnsw *h, const float *x, uint8_t *dst)
{
	float lo = x[0], hi = x[0], step, hdr[HNSW_SQ8_HDR / 4] = { 0 };
	double sums[3], dstep, dinv;
	uint8_t *codes = dst + HNSW_SQ8_HDR;
	uint32_t dim = h->dim;

	for (uint32_t i = 1; i < dim; i++) {
		lo = x[i] < lo ? x[i] : lo;
		hi = x[i] > hi ? x[i] : hi;
	}
	/* In double: in float, hi - lo overflows for values near +-FLT_MAX and
	 * 1 / step does for a denormal spread, and (int)inf or (int)NaN is
	 * undefined (UBSan caught both through the store). */
	dstep = ((double)hi - lo) / 255.0;
	dinv = dstep > 0 ? 1.0 / dstep : 0.0;
	step = (float)dstep;
	/* round half up (the argument is >= 0), then c - 128 as a signed byte */
	h->k->sq8_quantise(x, dim, lo, dinv, step, codes, sums);
	for (uint32_t i = 0; i < dim; i++)
		codes[i] ^= 0x80;
	hdr[0] = lo;
	hdr[1] = step;
	hdr[2] = (float)sums[1];
	hdr[3] = (float)sums[0];   /* <= 255 * 65536 < 2^24: exact */
	hdr[4] = (float)(sqrt(sums[2]) * (1.0 + 0x1.0p-20));
	memcpy(dst, hdr, sizeof(hdr));
}

void hnsw_place_vector(struct rvf_hnsw *h, uint32_t id, const float *vec)
{
	float *dst;

	if (h->rows) {             /* L2/IP: the codes come from the row as given */
		sq8_encode(h, vec, h->blocks + (size_t)id * h->block_size + h->data_off);
		return;
	}
	dst = (float *)hnsw_fvec(h, id);
	if (h->metric == RVF_METRIC_COSINE) {
		double n = 0;

		memcpy(h->orig + (size_t)id * h->dim, vec, h->dim * sizeof(float));
		for (uint32_t i = 0; i < h->dim; i++)
			n += (double)vec[i] * vec[i];
		n = n > 0 ? 1.0 / sqrt(n) : 0.0;
		for (uint32_t i = 0; i < h->dim; i++)
			dst[i] = (float)(vec[i] * n);
	} else {
		memcpy(dst, vec, h->dim * sizeof(float));
	}
	if (h->quant == RVF_HNSW_QUANT_SQ8)
		sq8_encode(h, dst, h->blocks + (size_t)id * h->block_size + h->data_off);
}

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
static void qprep_init(const struct rvf_hnsw *h, struct qprep *p, const float *query, float *buf, uint8_t *u)
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
static void qprep_node(const struct rvf_hnsw *h, struct qprep *p, uint32_t id, uint8_t *u)
{
	p->q = hnsw_fvec(h, id);
	qprep_sums(h, p, u);
}

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

float hnsw_node_dist(const struct rvf_hnsw *h, uint32_t a, uint32_t b)
{
	return exact_dist(h, hnsw_fvec(h, a), b);
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

/* Exact distances for the n nodes in res (SQ8 re-rank), loading the next
 * vectors while the current one is computed. */
static void rerank(const struct rvf_hnsw *h, const float *q, struct cand *res, size_t n)
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
static float sq8_lower_bound(const struct rvf_hnsw *h, const struct qprep *p, uint32_t id, float est)
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

static int cand_grow(struct cand **a, size_t *cap, size_t need)
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

/* min-heap on d (candidates) */
static void minheap_push(struct cand *a, size_t *n, struct cand x)
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

static void minheap_pop(struct cand *a, size_t *n)
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
static void maxheap_push(struct cand *a, size_t *n, struct cand x)
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

static void maxheap_pop(struct cand *a, size_t *n)
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

/* Size the visited set for n nodes (cleared). 0 or -ENOMEM (c unchanged). */
static int visited_fit(struct sctx *c, size_t n)
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
static int sctx_fit(const struct rvf_hnsw *h, struct sctx *c)
{
	if (c->qdim < h->dim) {
		float *q = aligned_alloc(64, round_up(h->dim * sizeof(float), 64));
		uint8_t *u = aligned_alloc(64, round_up(h->dim, 64));

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
		uint32_t *d = malloc((h->M0 + 1) * sizeof(uint32_t));

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
	if (c->vcap < h->count && visited_fit(c, h->cap > h->count ? h->cap : h->count))
		return -ENOMEM;
	return 0;
}

static struct sctx *sctx_get(const struct rvf_hnsw *h)
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
	if (sctx_fit(h, c)) {
		sctx_free(c);
		return NULL;
	}
	return c;
}

static void sctx_put(const struct rvf_hnsw *h, struct sctx *c)
{
	pthread_mutex_lock(&h->sync->pool_lock);
	c->next = h->sync->pool;
	h->sync->pool = c;
	pthread_mutex_unlock(&h->sync->pool_lock);
}

static void visited_begin(struct sctx *c)
{
	for (size_t i = 0; i < c->ntouch; i++)
		c->vbits[c->vtouch[i]] = 0;
	c->ntouch = 0;
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
	if (h->flags[id] & HNSW_NODE_DELETED)
		return 0;
	if (!a->f)
		return 1;
	if (a->f->bitmap && !(a->f->bitmap[id >> 6] >> (id & 63) & 1))
		return 0;
	if (a->f->allow && !a->f->allow(a->f->ctx, h->labels[id], id))
		return 0;
	return 1;
}

/* ---- graph search --------------------------------------------------------- */

/* The list of id at level, copied under its lock while an MT build runs. */
static const uint32_t *read_links(const struct rvf_hnsw *h, struct sctx *c, uint32_t id, int level)
{
	const uint32_t *l = hnsw_links(h, id, level);

	if (!h->mt)
		return l;
	node_lock(h, id);
	memcpy(c->tmp, l, (l[0] + 1) * sizeof(uint32_t));
	node_unlock(h, id);
	return c->tmp;
}

static uint32_t greedy_descent(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
			       uint32_t cur, int from, int to, float *dcur)
{
	float d = trav_dist(h, p, cur);

	for (int lc = from; lc > to; lc--) {
		int changed = 1;

		while (changed) {
			const uint32_t *l = read_links(h, c, cur, lc);

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
static int search_layer(const struct rvf_hnsw *h, struct sctx *c, const struct qprep *p,
			uint32_t ep, float dep, uint32_t ef, int level, const struct admit *ad)
{
	float bound = INFINITY;

	c->ncand = c->nres = 0;
	if (cand_grow(&c->cand, &c->ccap, 64) || cand_grow(&c->res, &c->rcap, (size_t)ef + 1))
		return -ENOMEM;
	visited_begin(c);
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
		l = read_links(h, c, cur.id, level);
		for (uint32_t j = 1; j <= l[0]; j++) {
			uint32_t id = l[j];

			if (visited_test_set(c, id))
				continue;
			c->todo[nt++] = id;
			__builtin_prefetch((const char *)h->blocks + (size_t)id * h->block_size + h->data_off, 0, 3);
		}
		if (cand_grow(&c->cand, &c->ccap, c->ncand + nt))
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

static inline int cand_less(struct cand x, struct cand y)
{
	return x.d < y.d || (x.d == y.d && x.id < y.id);
}

/* Sort by (d, id), nearest first. qsort's indirect compare showed up at
 * ~10% of a build (every insert sorts ef_construction candidates); this is
 * an inlined quicksort with insertion sort for short runs. */
static void cand_sort(struct cand *a, size_t n)
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
			cand_sort(a, j + 1);
			a += j + 1;
			n -= j + 1;
		} else {
			cand_sort(a + j + 1, n - j - 1);
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
	cand_sort(cands, n + 1);
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

	qprep_node(h, &p, u, c->u);
	ep = greedy_descent(h, c, &p, ep, maxl, L, &dep);
	for (int lc = L < maxl ? L : maxl; lc >= 0; lc--) {
		struct admit ad = { h, NULL, 0 };
		size_t n, m, max = h->M;
		uint32_t j2;
		uint32_t *mine;

		err = search_layer(h, c, &p, ep, dep, h->efc, lc, &ad);
		if (err)
			break;
		/* In an MT build u may already be reachable (another worker linked
		 * to it through an upper level): never select u itself. */
		n = 0;
		for (size_t i = 0; i < c->nres; i++)
			if (c->res[i].id != u)
				c->res[n++] = c->res[i];
		if (h->quant == RVF_HNSW_QUANT_SQ8)
			rerank(h, p.q, c->res, n);
		cand_sort(c->res, n);
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
	struct sctx *c = sctx_get(h);

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
	sctx_put(h, c);
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
		c[got] = sctx_get(h);
		if (!c[got])
			err = -ENOMEM;
		else if ((c[got]->vcap < h->cap && visited_fit(c[got], h->cap)) ||
			 cand_grow(&c[got]->res, &c[got]->rcap, (size_t)h->efc + 2) ||
			 cand_grow(&c[got]->cand, &c[got]->ccap, (size_t)h->efc * 4 + 64))
			err = -ENOMEM;
		if (c[got])
			got++;
	}
	for (unsigned i = 0; i < got; i++)
		sctx_put(h, c[i]);
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

/* ---- search --------------------------------------------------------------- */

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

static void topk_offer(struct rvf_hnsw_result *a, size_t *n, size_t k, struct rvf_hnsw_result x)
{
	size_t i;

	if (*n == k) {
		if (!res_worse(&a[0], &x))
			return;
		/* replace the root and sift down */
		i = 0;
		for (;;) {
			size_t c = 2 * i + 1;

			if (c >= k)
				break;
			if (c + 1 < k && res_worse(&a[c + 1], &a[c]))
				c++;
			if (!res_worse(&a[c], &x))
				break;
			a[i] = a[c];
			i = c;
		}
		a[i] = x;
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
		size_t i = 0;

		a[n] = a[0];
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

	cand_sort(res, n);
	for (size_t i = 0; i < n; i++)
		res[i].d = sq8_lower_bound(h, p, res[i].id, res[i].d);
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

/* own: the caller's context, or NULL for one from the pool. */
static int search_common(const struct rvf_hnsw *h, struct sctx *own, const float *query, uint32_t k,
			 uint32_t ef, const struct rvf_hnsw_filter *f, struct rvf_hnsw_result *out,
			 int exact)
{
	struct admit ad = { h, NULL, 0 };
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
	if (c ? sctx_fit(h, c) != 0 : !(c = sctx_get(h)))
		return -ENOMEM;
	qprep_init(h, &p, query, c->q, c->u);

	if (!exact && ad.f) {
		double sel = f->selectivity > 0 ? f->selectivity : estimate_selectivity(h, &ad);
		double allowed = sel * (double)h->live;

		/* A beam search must look at about ef/sel nodes to collect ef
		 * admitted ones; scanning costs `allowed` distances. Scan when the
		 * allowed set is small next to the detour (sel^2 * live < 32 ef). */
		if (sel <= 0 || allowed * sel < 32.0 * ef)
			exact = 1;
	}
	if (exact) {
		ret = exact_scan(h, &p, k, &ad, out);
	} else {
		float dep;
		uint32_t ep = greedy_descent(h, c, &p, h->entry, h->maxlevel, 0, &dep);
		size_t n;

		ret = search_layer(h, c, &p, ep, dep, ef, 0, &ad);
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
		sctx_put(h, c);
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
	sctx_release(&c->sc);
	free(c);
}

int rvf_hnsw_search_ctx_reserve(struct rvf_hnsw_search_ctx *c, const struct rvf_hnsw *h, uint32_t ef)
{
	if (!c || !h)
		return -EINVAL;
	if (sctx_fit(h, &c->sc) || cand_grow(&c->sc.cand, &c->sc.ccap, 64) ||
	    cand_grow(&c->sc.res, &c->sc.rcap, (size_t)(ef > 64 ? ef : 64) + 1))
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
	struct sctx *c = sctx_get(h);
	size_t n = 0;
	float dep;
	uint32_t ep;

	if (!c || h->maxlevel < 0)
		goto out;
	qprep_node(h, &p, u, c->u);
	ep = greedy_descent(h, c, &p, h->entry, h->maxlevel, 0, &dep);
	if (search_layer(h, c, &p, ep, dep, ef, 0, &ad))
		goto out;
	cand_sort(c->res, c->nres);
	for (size_t i = 0; i < c->nres && n < max; i++)
		if (c->res[i].id != u)
			ids[n++] = c->res[i].id;
out:
	if (c)
		sctx_put(h, c);
	return n;
}

int hnsw_sq8_bound(const struct rvf_hnsw *h, const float *query, uint32_t id, float *est, float *lb,
		   float *exact)
{
	struct sctx *c;
	struct qprep p;

	if (h->quant != RVF_HNSW_QUANT_SQ8 || id >= h->count)
		return -EINVAL;
	c = sctx_get(h);
	if (!c)
		return -ENOMEM;
	qprep_init(h, &p, query, c->q, c->u);
	*est = trav_dist(h, &p, id);
	*lb = sq8_lower_bound(h, &p, id, *est);
	*exact = exact_dist(h, p.q, id);
	sctx_put(h, c);
	return 0;
}

/* ---- accessors ------------------------------------------------------------ */

size_t rvf_hnsw_count(const struct rvf_hnsw *h)
{
	return h ? h->count : 0;
}

size_t rvf_hnsw_live_count(const struct rvf_hnsw *h)
{
	return h ? h->live : 0;
}

int rvf_hnsw_contains(const struct rvf_hnsw *h, uint64_t label)
{
	uint32_t id;

	if (!h)
		return 0;
	id = lmap_get(&h->map, label);
	return id != HNSW_NO_ID && !(h->flags[id] & HNSW_NODE_DELETED);
}

const float *rvf_hnsw_vector(const struct rvf_hnsw *h, uint64_t label)
{
	uint32_t id;

	if (!h)
		return NULL;
	id = lmap_get(&h->map, label);
	if (id == HNSW_NO_ID || (h->flags[id] & HNSW_NODE_DELETED))
		return NULL;
	return hnsw_orig(h, id);
}

int rvf_hnsw_label_of(const struct rvf_hnsw *h, uint32_t internal_id, uint64_t *label, int *deleted)
{
	if (!h || internal_id >= h->count)
		return -ENOENT;
	if (label)
		*label = h->labels[internal_id];
	if (deleted)
		*deleted = !!(h->flags[internal_id] & HNSW_NODE_DELETED);
	return 0;
}

int rvf_hnsw_id_of(const struct rvf_hnsw *h, uint64_t label, uint32_t *internal_id)
{
	uint32_t id;

	if (!h)
		return -EINVAL;
	id = lmap_get(&h->map, label);
	if (id == HNSW_NO_ID)
		return -ENOENT;
	if (internal_id)
		*internal_id = id;
	return 0;
}

size_t rvf_hnsw_memory_bytes(const struct rvf_hnsw *h)
{
	size_t b;

	if (!h)
		return 0;
	b = sizeof(*h) + sizeof(*h->sync) + h->cap * h->block_size;
	if (h->fvecs)
		b += h->cap * h->fvec_stride * sizeof(float);
	if (h->orig)
		b += h->cap * h->dim * sizeof(float);
	b += h->cap * (sizeof(*h->labels) + 2 + sizeof(*h->upper) + sizeof(*h->indeg0) + 1);
	b += h->map.cap * (sizeof(*h->map.keys) + sizeof(*h->map.vals));
	for (size_t i = 0; i < h->count; i++)
		b += (size_t)h->levels[i] * (h->M + 1) * sizeof(uint32_t);
	return b;
}

uint32_t rvf_hnsw_dim(const struct rvf_hnsw *h)
{
	return h ? h->dim : 0;
}

enum rvf_metric rvf_hnsw_metric(const struct rvf_hnsw *h)
{
	return h ? h->metric : RVF_METRIC_L2;
}

void rvf_hnsw_get_opts(const struct rvf_hnsw *h, struct rvf_hnsw_opts *o)
{
	if (!h || !o)
		return;
	memset(o, 0, sizeof(*o));
	o->M = h->M;
	o->ef_construction = h->efc;
	o->seed = h->seed;
	o->threads = h->threads;
	o->capacity_hint = h->cap;
	o->quant = h->quant;
	o->rows = h->rows;
	o->rows_ctx = h->rows_ctx;
}

/* ---- compaction ----------------------------------------------------------- */

int rvf_hnsw_compact(struct rvf_hnsw *h)
{
	struct rvf_hnsw_opts o;
	struct rvf_hnsw *n = NULL;
	struct hnsw_sync *keep;
	uint64_t *labels = NULL;
	float *vecs = NULL;
	size_t m = 0;
	int err;

	if (!h)
		return -EINVAL;
	rvf_hnsw_get_opts(h, &o);
	o.capacity_hint = h->live ? h->live : 1;
	err = hnsw_alloc(h->dim, h->metric, &o, &n);
	if (err)
		return err;
	labels = malloc((h->live ? h->live : 1) * sizeof(*labels));
	vecs = malloc((h->live ? h->live : 1) * h->dim * sizeof(float));
	if (!labels || !vecs) {
		err = log_fail(-ENOMEM, "hnsw: out of memory compacting %zu nodes", h->live);
		goto out;
	}
	for (size_t i = 0; i < h->count; i++) {
		if (h->flags[i] & HNSW_NODE_DELETED)
			continue;
		labels[m] = h->labels[i];
		memcpy(vecs + m * h->dim, hnsw_orig(h, (uint32_t)i), h->dim * sizeof(float));
		m++;
	}
	err = rvf_hnsw_add_batch(n, labels, vecs, m);
	if (err)
		goto out;
	/* Swap the data, keep h's own locks and search pool. */
	keep = h->sync;
	{
		struct rvf_hnsw tmp = *h;

		*h = *n;
		*n = tmp;
	}
	n->sync = h->sync;
	h->sync = keep;
	log_debug("hnsw: compacted to %zu nodes", h->count);
out:
	rvf_hnsw_free(n);
	free(labels);
	free(vecs);
	return err;
}

int rvf_hnsw_maybe_compact(struct rvf_hnsw *h, double max_tombstone_ratio)
{
	int err;

	if (!h)
		return -EINVAL;
	if (!h->count || (double)(h->count - h->live) <= max_tombstone_ratio * (double)h->count)
		return 0;
	err = rvf_hnsw_compact(h);
	return err ? err : 1;
}
