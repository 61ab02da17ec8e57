/*
 * rvf/index.h - the vector index: SIMD distance kernels and an HNSW graph
 * (Malkov & Yashunin) with filtered search, tombstones and serialisation.
 *
 * Distances (smaller is nearer), float32 rows of `dim` values:
 *   RVF_METRIC_L2      squared Euclidean distance, sum (a_i - b_i)^2
 *   RVF_METRIC_IP      1 - dot(a, b)            (can be negative)
 *   RVF_METRIC_COSINE  1 - dot(a, b) / (|a| |b|) (a zero vector has cosine 0)
 *
 * Labels are caller-chosen u64 ids. Inside the index every inserted vector
 * gets a dense u32 "internal id" in insertion order; a label maps to at most
 * one live node. Re-adding a label (live or deleted) tombstones the old node
 * and maps the label to the new one. Tombstones keep routing searches but
 * never appear in results; rvf_hnsw_compact() drops them.
 *
 * Threading: any number of concurrent searches (search, exact_search, the
 * _with variants each with its own context, contains, vector, label_of,
 * count, save, check) on one handle are safe;
 * mutation (add, add_batch, delete, compact) needs exclusive access.
 * add_batch uses opts.threads worker threads internally.
 *
 * SIMD: kernels are chosen once per process from the CPU's features
 * (avx512 > avx2 > scalar). The environment variable RVF_SIMD=scalar|avx2|
 * avx512 forces one; forcing one the CPU lacks is an error (-ENOTSUP from
 * rvf_simd_init, rvf_hnsw_new and rvf_hnsw_load), never a silent fallback.
 */
#ifndef RVF_INDEX_H
#define RVF_INDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rvf_metric { RVF_METRIC_L2 = 0, RVF_METRIC_IP = 1, RVF_METRIC_COSINE = 2 };

/* ---- distance kernels ---------------------------------------------------- */

/*
 * Select the SIMD kernels (idempotent, thread-safe). 0, -EINVAL for an
 * unknown RVF_SIMD value, -ENOTSUP when RVF_SIMD names a kernel set this CPU
 * cannot run. Called by rvf_hnsw_new/load; call it yourself before using
 * rvf_distance directly if you want the error.
 */
int rvf_simd_init(void);

/* "avx512" | "avx2" | "scalar", or "unsupported" when rvf_simd_init failed.
 * Returns a static string. */
const char *rvf_simd_name(void);

/*
 * Distance between two rows (borrowed, any alignment) under metric. Returns
 * NaN (and logs an error) if rvf_simd_init failed or metric is unknown.
 */
float rvf_distance(enum rvf_metric metric, const float *a, const float *b, uint32_t dim);

/* ---- HNSW ----------------------------------------------------------------- */

enum rvf_hnsw_quant {
	RVF_HNSW_QUANT_DEFAULT = 0,  /* = RVF_HNSW_QUANT_SQ8 */
	RVF_HNSW_QUANT_NONE    = 1,  /* traverse with float32 distances */
	/* Traverse with 8-bit codes (per-vector affine scalar quantisation of
	 * both the stored vectors and the query, so a traversal distance is one
	 * integer dot product: vpdpbusd on AVX-512 VNNI), then re-rank the ef
	 * best with exact float32 distances. Returned distances are always
	 * exact. */
	RVF_HNSW_QUANT_SQ8     = 2,
};

/* Supplies the vector of a node: a view of dim floats (see where it is
 * used for how long the view must stay valid); NULL = not available. */
typedef const float *(*rvf_hnsw_vec_fn)(void *ctx, uint64_t label, uint32_t internal_id);

/* All-zero means defaults. */
struct rvf_hnsw_opts {
	uint32_t M;               /* max links per node on upper levels; 0 = 16; level 0 has 2*M */
	uint32_t ef_construction; /* 0 = 200 */
	uint64_t seed;            /* level generator seed; 0 = a fixed default. Same seed and
	                           * same serial insert order give the same graph. */
	uint32_t threads;         /* worker threads for add_batch/compact; 0 = all online cores */
	uint64_t capacity_hint;   /* expected node count, to reserve memory up front */
	uint32_t quant;           /* enum rvf_hnsw_quant */
	/*
	 * Borrowed float rows (SQ8 with L2 or IP only; NULL = the index keeps
	 * its own copy). The SQ8 search reads a float row only to re-rank
	 * (about k per query) and the build to choose links, so the rows need
	 * not sit in the index: rows(rows_ctx, label, id) must return the
	 * vector node id was inserted with, never NULL, for every node in the
	 * index (tombstones too) for as long as it is there, from any thread.
	 * Compaction renumbers ids (and keeps borrowing), so a callback that
	 * outlives one should go by label. The index then holds codes and
	 * graph only (rvf_hnsw_memory_bytes counts no rows). Not kept by
	 * save/load: a loaded index owns its rows.
	 */
	rvf_hnsw_vec_fn rows;
	void *rows_ctx;
};

struct rvf_hnsw;

/* Create an empty index. o may be NULL (defaults). 0, -EINVAL (dim 0 or
 * > 65536, bad metric, M < 2 or > 255), -ENOTSUP (forced SIMD), -ENOMEM.
 * *out returned owned (free with rvf_hnsw_free), untouched on failure. */
int rvf_hnsw_new(uint32_t dim, enum rvf_metric metric, const struct rvf_hnsw_opts *o,
		 struct rvf_hnsw **out);
void rvf_hnsw_free(struct rvf_hnsw *h);   /* accepts NULL */

/* Insert vec (borrowed, dim floats, copied) under label; an existing label is
 * replaced (old node tombstoned). 0, -EINVAL (non-finite value), -ENOMEM,
 * -ERANGE (more than 2^32-2 nodes). */
int rvf_hnsw_add(struct rvf_hnsw *h, uint64_t label, const float *vec);

/*
 * Insert n vectors (vecs: n rows of dim floats, borrowed) with opts.threads
 * workers. Internal ids, label replacement and node levels are assigned in
 * array order exactly as n serial adds would; with one thread the graph is
 * identical to serial adds, with more the links may differ. On error nothing
 * of the batch is left visible except (for -ENOMEM mid-way) nothing at all:
 * the batch is validated and memory reserved before any change.
 */
int rvf_hnsw_add_batch(struct rvf_hnsw *h, const uint64_t *labels, const float *vecs, size_t n);

/* Tombstone label. 0, -ENOENT if absent or already deleted. */
int rvf_hnsw_delete(struct rvf_hnsw *h, uint64_t label);

/* All-zero (or a NULL pointer) = no filter. A node is allowed when its bit is
 * set in bitmap (if given) AND allow() returns nonzero (if given). */
struct rvf_hnsw_filter {
	const uint64_t *bitmap;  /* borrowed; bit i of word i/64 for internal id i; must
	                          * cover rvf_hnsw_count() bits */
	int (*allow)(void *ctx, uint64_t label, uint32_t internal_id);
	void *ctx;
	double selectivity;      /* estimated allowed fraction; 0 = unknown (sampled) */
};

struct rvf_hnsw_result { uint64_t label; float distance; };

/*
 * k nearest live, allowed nodes to query (borrowed, dim floats). ef < k means
 * ef = k. out must hold k results. Returns the number written (<= k), sorted
 * by distance then label, or -EINVAL/-ENOMEM. Excluded nodes (tombstones,
 * filtered out) route the search but never enter results and do not use up
 * ef. The index plans the search (rvf_hnsw_plan): when the filter admits
 * few nodes it scans the allowed set exactly; a bitmap admitting a minority
 * is searched through admitted nodes with two-hop expansion. Safe to call
 * concurrently.
 */
int rvf_hnsw_search(const struct rvf_hnsw *h, const float *query, uint32_t k, uint32_t ef,
		    const struct rvf_hnsw_filter *f, struct rvf_hnsw_result *out);
/*
 * How rvf_hnsw_search answers a query of k, ef with filter f (the one
 * planner: callers pass the filter and its selectivity and let the index
 * choose). EXACT: a scan of the allowed set (a filter admitting few nodes);
 * GRAPH: the beam search with every node routing; GRAPH_2HOP: a bitmap
 * filter admitting a minority, searched through admitted nodes with
 * two-hop expansion (user/index/hnsw_search.c).
 */
enum rvf_hnsw_plan { RVF_HNSW_PLAN_EXACT = 1, RVF_HNSW_PLAN_GRAPH = 2, RVF_HNSW_PLAN_GRAPH_2HOP = 3 };
enum rvf_hnsw_plan rvf_hnsw_plan(const struct rvf_hnsw *h, uint32_t k, uint32_t ef,
				 const struct rvf_hnsw_filter *f);
/* Same contract, by brute force over every live allowed node (ef ignored). */
int rvf_hnsw_exact_search(const struct rvf_hnsw *h, const float *query, uint32_t k, uint32_t ef,
			  const struct rvf_hnsw_filter *f, struct rvf_hnsw_result *out);

/*
 * A caller-owned search context: the visited set, candidate heaps and query
 * buffers one search needs. rvf_hnsw_search takes one from a pool on the
 * index under a mutex (allocating the first time); the _with variants use
 * the caller's instead, so once the context fits they allocate nothing and
 * take no lock. A context is tied to no index: it grows (allocates) on the
 * first search of an index with more nodes, a larger dimension or degree
 * than it fits, so it survives the index growing or being replaced. One
 * context serves one search at a time (one per thread).
 *
 * new: h may be NULL; else the context is sized for h now (as _reserve).
 * *out returned owned (free with rvf_hnsw_search_ctx_free, NULL is fine),
 * untouched on failure. reserve: size c for searches of h with ef up to ef
 * (0 = 64), so the next one does not allocate. 0, -EINVAL, -ENOMEM.
 */
struct rvf_hnsw_search_ctx;
int rvf_hnsw_search_ctx_new(const struct rvf_hnsw *h, struct rvf_hnsw_search_ctx **out);
void rvf_hnsw_search_ctx_free(struct rvf_hnsw_search_ctx *c);
int rvf_hnsw_search_ctx_reserve(struct rvf_hnsw_search_ctx *c, const struct rvf_hnsw *h, uint32_t ef);
/* rvf_hnsw_search / rvf_hnsw_exact_search with context c (borrowed, not in
 * use by another search): same contract and results. */
int rvf_hnsw_search_with(const struct rvf_hnsw *h, struct rvf_hnsw_search_ctx *c, const float *query,
			 uint32_t k, uint32_t ef, const struct rvf_hnsw_filter *f,
			 struct rvf_hnsw_result *out);
int rvf_hnsw_exact_search_with(const struct rvf_hnsw *h, struct rvf_hnsw_search_ctx *c,
			       const float *query, uint32_t k, uint32_t ef,
			       const struct rvf_hnsw_filter *f, struct rvf_hnsw_result *out);

/*
 * Serialise graph, labels, tombstones, parameters and (with
 * RVF_HNSW_SAVE_VECTORS) every vector. Without the flag the vectors of live
 * nodes are left out (the caller supplies them at load); tombstones' vectors
 * are always kept since tombstones still route. The blob carries magic,
 * version and an XXH3-64 checksum. *buf returned owned (free()).
 */
#define RVF_HNSW_SAVE_VECTORS 1u
int rvf_hnsw_save(const struct rvf_hnsw *h, unsigned flags, void **buf, size_t *len);

/* rvf_hnsw_load's get_vec (rvf_hnsw_vec_fn) supplies the vector of a live
 * node whose vector is not in the blob: a view valid until the call returns. */

/*
 * Rebuild an index from a blob (borrowed) without recomputing the graph.
 * get_vec is called once per live node only when the blob has no vectors.
 * 0; -ENOEXEC wrong magic; -ENOTSUP newer version; -EBADMSG checksum
 * mismatch; -EUCLEAN truncated/inconsistent blob or NULL from get_vec (or
 * get_vec missing); -ENOMEM. Never reads outside buf[0..len).
 * *out returned owned, untouched on failure.
 */
int rvf_hnsw_load(const void *buf, size_t len, rvf_hnsw_vec_fn get_vec, void *ctx,
		  struct rvf_hnsw **out);
/* rvf_hnsw_load with room for capacity nodes (a hint: e.g. the nodes a delta
 * will add, so applying it does not move the arrays). */
int rvf_hnsw_load_cap(const void *buf, size_t len, rvf_hnsw_vec_fn get_vec, void *ctx, size_t capacity,
		      struct rvf_hnsw **out);

/*
 * Deltas (a COW branch's graph against its parent's): an index whose first
 * nbase nodes are a base graph saved as only what differs from that base
 * (new nodes, changed lists, tombstones, entry point; layout in hnsw_delta.c).
 * rvf_hnsw_base_sign, on the base before it changes: per-node list hashes
 * (*hashes owned, rvf_hnsw_count(h) of them) and a fingerprint of the whole
 * base. rvf_hnsw_save_delta: h against those hashes (fp is recorded).
 * rvf_hnsw_load_delta applies a delta to h, which must be the base with
 * fingerprint fp: -ESTALE for another base and -EBADMSG/-EUCLEAN/-ENOEXEC/
 * -ENOTSUP/-ENOMEM as rvf_hnsw_load, h untouched; -EUCLEAN after a change
 * only when the result fails rvf_hnsw_check (then discard h). get_vec gives
 * the new live nodes' vectors. Base nodes h has tombstoned since it was
 * signed stay tombstoned.
 */
int rvf_hnsw_base_sign(const struct rvf_hnsw *h, uint64_t **hashes, uint64_t *fp);
int rvf_hnsw_save_delta(const struct rvf_hnsw *h, const uint64_t *hashes, size_t nbase, uint64_t fp,
			void **buf, size_t *len);
int rvf_hnsw_load_delta(struct rvf_hnsw *h, uint64_t fp, const void *buf, size_t len,
			rvf_hnsw_vec_fn get_vec, void *ctx);

size_t rvf_hnsw_count(const struct rvf_hnsw *h);       /* nodes incl. tombstones */
size_t rvf_hnsw_live_count(const struct rvf_hnsw *h);
int rvf_hnsw_contains(const struct rvf_hnsw *h, uint64_t label);   /* 1 live, 0 absent/deleted */
/* View of a live node's vector as inserted (for cosine the original, not the
 * normalised copy), valid until the next mutation of h; NULL if absent. */
const float *rvf_hnsw_vector(const struct rvf_hnsw *h, uint64_t label);
/* 0, or -ENOENT if internal_id >= count. label/deleted may be NULL. */
int rvf_hnsw_label_of(const struct rvf_hnsw *h, uint32_t internal_id, uint64_t *label, int *deleted);
/* Internal id of a label's current node (live or tombstoned): 0 or -ENOENT. */
int rvf_hnsw_id_of(const struct rvf_hnsw *h, uint64_t label, uint32_t *internal_id);

/*
 * Drop tombstones and rebuild every neighbourhood from the live nodes, in
 * internal id order (internal ids are renumbered densely; labels keep their
 * vectors). Uses opts.threads. 0 or -ENOMEM (h unchanged on failure).
 */
int rvf_hnsw_compact(struct rvf_hnsw *h);
/* Compact when tombstones exceed max_tombstone_ratio of all nodes (e.g. 0.2).
 * Returns 1 if it compacted, 0 if not needed, or -errno. */
int rvf_hnsw_maybe_compact(struct rvf_hnsw *h, double max_tombstone_ratio);

/*
 * Verify invariants: degree bounds, link ids in range, no self or duplicate
 * links, levels consistent, entry point on the top level, label map
 * consistent, every live node reachable from the entry point on level 0.
 * 0 or -EUCLEAN with a log_error naming the first problem.
 */
int rvf_hnsw_check(const struct rvf_hnsw *h);

size_t rvf_hnsw_memory_bytes(const struct rvf_hnsw *h);  /* heap bytes held */
uint32_t rvf_hnsw_dim(const struct rvf_hnsw *h);
enum rvf_metric rvf_hnsw_metric(const struct rvf_hnsw *h);
/* Effective parameters (defaults resolved). */
void rvf_hnsw_get_opts(const struct rvf_hnsw *h, struct rvf_hnsw_opts *o);

#ifdef __cplusplus
}
#endif
#endif
