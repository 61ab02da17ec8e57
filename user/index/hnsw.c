/*
 * index/hnsw.c - the HNSW handle (Malkov & Yashunin 2016): allocation and
 * growth of its arrays, the label map, placing (normalising, quantising) a
 * node's vector, accessors, and compaction (a rebuild without tombstones).
 *
 * The rest of the index, by what it does:
 *   hnsw_traverse.c  prepared queries, search contexts, the beam search both
 *                    insertion and queries run (hnsw_traverse.h)
 *   hnsw_build.c     insertion, multi-threaded batch build, deletion
 *   hnsw_search.c    the public searches: filtered beam search, exact scan
 *   hnsw_io.c        save / load;  hnsw_delta.c  a delta against a base;
 *   hnsw_check.c     invariants, reachability repair
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
#include "index/hnsw_traverse.h"

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

/* ---- label map ------------------------------------------------------------ */

static size_t lmap_slot(uint64_t key, size_t cap)
{
	uint64_t x = key;

	return (size_t)(splitmix64(&x) & (cap - 1));
}

int lmap_grow(struct lmap *m, size_t want)
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
		h->data_off = hnsw_round_up(4 + 4 * (size_t)h->M0, 16);
		h->block_size = hnsw_round_up(h->data_off + HNSW_SQ8_HDR + dim, 64);
		h->fvec_stride = hnsw_round_up(dim, 16);
	} else {
		h->data_off = hnsw_round_up(4 + 4 * (size_t)h->M0, 64);
		h->block_size = hnsw_round_up(h->data_off + 4 * (size_t)dim, 64);
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
		size_t bytes = hnsw_round_up(newn * sz, align);

		/* Big arrays are read at random (one node per hop): 2 MiB pages
		 * take the TLB misses out of every hop. The kernel here gives
		 * huge pages on request only (THP "madvise" mode). */
		if (bytes >= HUGE_MIN) {
			align = HUGE_PAGE;
			bytes = hnsw_round_up(bytes, HUGE_PAGE);
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
			hnsw_sctx_free(c);
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
