/*
 * index/hnsw_internal.h - the HNSW handle's layout, shared by hnsw.c (the
 * handle), hnsw_build.c, hnsw_search.c, hnsw_traverse.c, hnsw_io.c
 * (save/load) and hnsw_check.c (invariants, repair).
 *
 * Memory layout (internal id i, dense, insertion order):
 *
 *   blocks + i*block_size       level-0 block, 64-byte aligned:
 *       u32 count, u32 links[M0]                 level-0 neighbour list
 *       at data_off: SQ8  -> f32 lo, f32 step, f32 |x^|^2, f32 sum(c),
 *                           f32 |x - x^|, 12 zero bytes,
 *                           s8 codes[dim] (c - 128, x ~ lo + step * c)
 *                    NONE -> f32 vector[dim] (64-byte aligned)
 *   fvecs + i*fvec_stride       SQ8 only: the float32 vector (normalised for
 *                               cosine) used for exact re-ranking and links;
 *                               NULL when the rows are borrowed (opts.rows)
 *   orig + i*dim                cosine only: the vector as inserted
 *   upper[i]                    levels[i] lists of (u32 count, u32 links[M]),
 *                               for levels 1..levels[i]; NULL when level 0
 *   labels[i], flags[i], levels[i], indeg0[i] (level-0 in-degree)
 *
 * A node's list at a level is only written under its spin lock while a
 * multi-threaded batch runs (mt != 0); otherwise there is a single writer
 * and no reader (the public contract) and no locks are taken.
 */
#ifndef RVF_INDEX_HNSW_INTERNAL_H
#define RVF_INDEX_HNSW_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "index/distance.h"
#include "rvf/index.h"

#define HNSW_MAX_LEVEL   31
#define HNSW_MAX_DIM     65536u
#define HNSW_NODE_DELETED 0x01u
#define HNSW_NO_ID       UINT32_MAX
#define HNSW_SQ8_HDR     32u

struct sctx;

/* Lives apart from the handle so compact can swap the data part wholesale. */
struct hnsw_sync {
	pthread_mutex_t glock;      /* entry point / max level during MT build */
	pthread_mutex_t pool_lock;  /* search context free list */
	struct sctx *pool;
};

struct lmap {                   /* label -> internal id, open addressing */
	uint64_t *keys;
	uint32_t *vals;             /* id + 1; 0 = empty slot */
	size_t cap, used;           /* cap is a power of two */
};

struct rvf_hnsw {
	uint32_t dim, M, M0, efc, threads, quant;
	enum rvf_metric metric;
	uint64_t seed;
	double level_mult;          /* 1 / ln(M) */
	uint64_t rng[4];            /* level generator (xoshiro256**) */
	const struct dist_kernels *k;

	size_t count, live, cap;
	uint8_t *blocks;
	size_t block_size, data_off;
	float *fvecs;
	size_t fvec_stride;         /* floats */
	float *orig;
	rvf_hnsw_vec_fn rows;       /* borrowed rows (SQ8, L2/IP), or NULL */
	void *rows_ctx;
	uint64_t *labels;
	uint8_t *flags, *levels;
	uint32_t **upper;
	uint32_t *indeg0;
	uint8_t *locks;
	uint32_t entry;
	int maxlevel;               /* -1 when empty */
	size_t adds_since_repair;
	int mt;

	struct lmap map;
	struct hnsw_sync *sync;
};

static inline uint32_t *hnsw_links(const struct rvf_hnsw *h, uint32_t id, int level)
{
	if (level == 0)
		return (uint32_t *)(void *)(h->blocks + (size_t)id * h->block_size);
	return h->upper[id] + (size_t)(level - 1) * (h->M + 1);
}

/* The float32 vector distances are computed on (normalised for cosine). */
static inline const float *hnsw_fvec(const struct rvf_hnsw *h, uint32_t id)
{
	if (h->rows)
		return h->rows(h->rows_ctx, h->labels[id], id);
	if (h->fvecs)
		return h->fvecs + (size_t)id * h->fvec_stride;
	return (const float *)(const void *)(h->blocks + (size_t)id * h->block_size + h->data_off);
}

/* The vector as the caller inserted it. */
static inline const float *hnsw_orig(const struct rvf_hnsw *h, uint32_t id)
{
	if (h->orig)
		return h->orig + (size_t)id * h->dim;
	return hnsw_fvec(h, id);
}

static inline size_t hnsw_round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

static inline size_t hnsw_max_links(const struct rvf_hnsw *h, int level)
{
	return level == 0 ? h->M0 : h->M;
}

/* hnsw.c */
int hnsw_alloc(uint32_t dim, enum rvf_metric metric, const struct rvf_hnsw_opts *o,
	       struct rvf_hnsw **out);
int hnsw_reserve(struct rvf_hnsw *h, size_t cap);
/* Copy (and normalise / quantise) vec into node id's slots. */
void hnsw_place_vector(struct rvf_hnsw *h, uint32_t id, const float *vec);
/* Room for want keys. 0 or -ENOMEM (m unchanged). */
int lmap_grow(struct lmap *m, size_t want);
int lmap_put(struct lmap *m, uint64_t key, uint32_t id);
uint32_t lmap_get(const struct lmap *m, uint64_t key);
/* hnsw_traverse.c: the exact distance between two nodes. */
float hnsw_node_dist(const struct rvf_hnsw *h, uint32_t a, uint32_t b);
/* hnsw_search.c */
/* For tests (SQ8 only): node id's traversal estimate for query, its lower
 * bound used by the re-rank, and the exact distance. 0 or -EINVAL/-ENOMEM. */
int hnsw_sq8_bound(const struct rvf_hnsw *h, const float *query, uint32_t id, float *est, float *lb,
		   float *exact);
/* Search level 0 from the entry point for node u's vector; fills ids[] with
 * up to max nearest nodes (nearest first); returns how many. */
size_t hnsw_nearest_nodes(const struct rvf_hnsw *h, uint32_t u, uint32_t ef, uint32_t *ids, size_t max);

/* hnsw_build.c */
/* Give u (no level-0 in-link, or with unreachable set no path from the
 * entry) one from the first of nb[] that has room; else from the first
 * whose list has a slot to give (the link to its most-linked target, which
 * u then links instead, so that target stays reachable through u). Returns
 * 1 if linked, 0 if no candidate could take it. */
int hnsw_adopt(struct rvf_hnsw *h, uint32_t u, const uint32_t *nb, size_t nnb, int unreachable);

/* hnsw_check.c */
/* Make every live node reachable from the entry on level 0. 0 or -ENOMEM. */
int hnsw_repair_reachability(struct rvf_hnsw *h);
/* How many live nodes level 0 cannot reach from the entry point, the
 * lowest such node id in *first (untouched when none); or -ENOMEM. */
int hnsw_unreachable_live(const struct rvf_hnsw *h, size_t *first);

#endif
