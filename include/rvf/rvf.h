/*
 * rvf/rvf.h - the store: vectors with typed metadata, an HNSW index, deletes,
 * filters, compaction, lineage and embedded kernel/eBPF programs, all in one
 * crash-safe .rvf file (the storage layer is rvf/dir.h).
 *
 * Conventions (STYLE.md): functions return 0 or a count on success and -errno
 * on failure, with a message naming the file and the problem sent to the log
 * callback (rvf/error.h). Out-parameters are written only on success. Pointers
 * passed in are borrowed unless a comment says otherwise.
 *
 * Durability: every mutator (ingest, delete, delete_by_filter, compact,
 * embed_*, derive) has committed its change durably when it returns 0; a
 * crash afterwards never loses it, a crash before leaves the previous state.
 * The epoch is the storage generation of that commit (monotonic).
 *
 * Threading: one handle may be queried from many threads at once (queries,
 * query contexts, get_vector/get_meta/live_ids/status/accessors, and
 * rvf_store_changed); mutators and rvf_store_refresh need exclusive access
 * to the handle: no query may run on another thread meanwhile (a reader
 * that refreshes while serving queries holds a rwlock: queries shared,
 * refresh exclusive). Across processes: one writer (the handle from
 * rvf_store_create/open holds the file's write lock until close) and any
 * number of read-only handles, each seeing the snapshot it opened or last
 * refreshed to.
 */
#ifndef RVF_RVF_H
#define RVF_RVF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rvf/dir.h"
#include "rvf/error.h"
#include "rvf/index.h"
#include "rvf/meta.h"
#include "rvf/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rvf_store;

/* All-zero means defaults. At create every field counts; at open only the
 * run-time ones (marked *) do, the rest come from the file. */
struct rvf_store_opts {
	uint32_t dimension;          /* required at create, 1..65535 */
	enum rvf_metric metric;      /* RVF_METRIC_L2 (default), _IP, _COSINE */
	uint32_t M;                  /* HNSW links per node; 0 = 16 */
	uint32_t ef_construction;    /* 0 = 200 */
	uint64_t seed;               /* HNSW level seed; 0 = fixed default */
	uint32_t quant;              /* enum rvf_hnsw_quant, 0 = default */
	int      profile;            /* domain profile when the extension names none;
	                              * -1 or 0 = generic (the extension wins) */
	uint32_t threads;            /* * index build threads; 0 = all cores */
	uint32_t write_timeout_ms;   /* * wait for another writer; 0 = 5000 */
	enum rvf_io_kind io;         /* * I/O backend; 0 = auto (RVF_IO env var) */
	uint64_t checkpoint_every;   /* * vectors ingested (or deleted) between graph
	                              * checkpoints; 0 = max(65536, live / 4), or the
	                              * RVF_CKPT_EVERY environment variable */
};

/*
 * Create a new store at path (-EEXIST if anything is there). The domain
 * profile comes from the extension (.rvf, .rvdna, .rvtext, .rvgraph, .rvvis).
 * The handle holds the write lock. -EINVAL for a bad option.
 */
int rvf_store_create(const char *path, const struct rvf_store_opts *o, struct rvf_store **out);

/* Open for writing (crash recovery, write lock; -EBUSY past the timeout).
 * Loads the persisted graph, never rebuilds it from scratch. o may be NULL. */
int rvf_store_open(const char *path, const struct rvf_store_opts *o, struct rvf_store **out);

/* Open without a lock; every mutator fails with -EROFS. A file written by
 * the Rust RVF runtime (it starts with an RVF segment header, not an rvf
 * root) opens too, read-only, with the same contents rvf_store_import_rust
 * would give (its index is built in memory). */
int rvf_store_open_readonly(const char *path, const struct rvf_store_opts *o, struct rvf_store **out);

/* Persist what is pending (the graph checkpoint) and release the handle.
 * Returns 0 or the error of that last write; the handle is freed either way
 * and nothing acknowledged earlier is lost. NULL is fine. */
int rvf_store_close(struct rvf_store *s);

/* ---- ingest --------------------------------------------------------------- */

/* One vector to ingest: all borrowed. */
struct rvf_vector {
	uint64_t id;
	const float *values;
	uint32_t dim;                        /* must equal the store's dimension */
	const struct rvf_meta_entry *meta;   /* NULL when n_meta == 0 */
	uint32_t n_meta;
};

enum rvf_reject_reason {
	RVF_REJECT_DIMENSION = 1,    /* dim != store dimension */
	RVF_REJECT_NONFINITE = 2,    /* a NaN or infinite value */
	RVF_REJECT_METADATA  = 3,    /* invalid metadata (duplicate field, too big) */
	RVF_REJECT_ZERO_NORM = 4,    /* cosine store and an all-zero vector */
};
const char *rvf_reject_reason_name(enum rvf_reject_reason r);   /* static string */

struct rvf_reject {
	size_t index;                /* position in the batch */
	uint64_t id;
	enum rvf_reject_reason reason;
};

struct rvf_ingest_result {
	uint64_t accepted, rejected;
	uint64_t epoch;
	struct rvf_reject *rejects;  /* `rejected` entries, owned: free with
	                              * rvf_ingest_result_release */
};
void rvf_ingest_result_release(struct rvf_ingest_result *r);

/*
 * Ingest n vectors as one durable batch. Invalid vectors are rejected with a
 * reason and the rest go in. An id already in the store (live or deleted) is
 * replaced (upsert; a tombstone is cleared); an id twice in one batch: the
 * last one wins. A batch with nothing accepted commits nothing and returns
 * the current epoch. 0 or -errno (-EROFS, -EINVAL for NULL arrays, -ENOMEM,
 * -EIO...); on error nothing of the batch is visible, now or after reopen.
 * (One exception: running out of memory while updating the in-memory index
 * after the batch is durable. The call then fails, the batch is on disk, and
 * the handle refuses further mutators with -EIO until it is reopened.)
 */
int rvf_store_ingest_batch(struct rvf_store *s, const struct rvf_vector *v, size_t n,
			   struct rvf_ingest_result *res);

/* ---- query ---------------------------------------------------------------- */

#define RVF_QUERY_OMIT_DISTANCES 0x1u  /* leave distance at 0 */
#define RVF_QUERY_EXACT          0x2u  /* brute force instead of the graph */

/* All-zero means defaults. */
struct rvf_query_opts {
	uint32_t ef_search;                /* 0 = max(64, k); < k means k */
	const struct rvf_filter *filter;   /* NULL = all live vectors; borrowed */
	uint32_t flags;                    /* RVF_QUERY_* */
};

struct rvf_result {
	uint64_t id;
	float distance;                    /* the metric's distance, smaller is nearer */
};

/*
 * The k nearest live vectors to query (dim floats, the store's dimension)
 * that pass the filter, written to out (room for k), sorted by distance then
 * id. Returns how many (<= k), or -EINVAL (dim mismatch, k == 0, a non-finite
 * value), -ENOMEM. o may be NULL. Safe from many threads at once.
 */
int rvf_store_query(const struct rvf_store *s, const float *query, uint32_t dim, uint32_t k,
		    const struct rvf_query_opts *o, struct rvf_result *out);

/*
 * A caller-owned query context: what a query would otherwise allocate or
 * lock for (the index's visited set and heaps, the result buffer, and the
 * allowed-set bitmap of the last repeated filter, recognised by content).
 * rvf_store_query_ctx with a context gives exactly rvf_store_query's
 * results; once the context has grown to the queries' k and ef and the
 * store's size, an unfiltered query, or one whose filter has the same
 * content as the context's previous one (at an unchanged store, and from
 * its second query on, as the filter cache builds bitmaps), allocates
 * nothing and takes no mutex. Other filtered queries work as in
 * rvf_store_query (the cache's mutex, maybe an allocation).
 *
 * Lifetime: new sizes the context for s (which it borrows only for the
 * call). *out returned owned: free with rvf_query_ctx_free (NULL is fine),
 * which may run after s is closed. A context is not tied to s: it keeps
 * working after a refresh of s, or with another store, and grows itself
 * (allocates once) on the first query that needs more room (a store that
 * grew, a larger k or ef). A bitmap it holds is used only at the store
 * version it was built for; a refresh or mutation makes it re-resolve.
 * It may keep one outdated bitmap alive until its next filtered query.
 *
 * Threading: one context serves one query at a time; give each worker
 * thread its own. Queries with contexts run concurrently with each other
 * and with rvf_store_query, under the same rules (no mutator or refresh
 * meanwhile). new: 0, -EINVAL, -ENOMEM; query: as rvf_store_query, plus
 * -EINVAL for a NULL context.
 */
struct rvf_query_ctx;
int rvf_query_ctx_new(const struct rvf_store *s, struct rvf_query_ctx **out);
void rvf_query_ctx_free(struct rvf_query_ctx *c);
int rvf_store_query_ctx(const struct rvf_store *s, struct rvf_query_ctx *c, const float *query,
			uint32_t dim, uint32_t k, const struct rvf_query_opts *o, struct rvf_result *out);

/* ---- following other processes' commits ------------------------------------ */

/*
 * Move a read-only handle to the newest commit in the file. Segments
 * committed since the handle's snapshot (ingests, deletes, metadata, other
 * segments) are replayed into memory with the code open uses for segments
 * newer than the graph checkpoint; when that cannot give the new state (a
 * compaction rewrote or removed segments, a new graph checkpoint replaced
 * the graph) the in-memory state is rebuilt from the new snapshot as open
 * builds it. Either way the handle then answers exactly as a read-only
 * handle freshly opened on that snapshot (graph search identically too
 * when index builds are deterministic: opts.threads = 1).
 *
 * Returns 1 if the handle moved, 0 if it was already at the newest commit
 * (cheap: one read of the root slots), or -errno. On failure the handle
 * keeps its previous snapshot, unchanged, and answers as before; the next
 * refresh tries again. One exception: a failure after replay began (a
 * corrupt or inconsistent new segment, out of memory in the index) when the
 * rebuild that follows fails too. The handle is then marked stale: queries,
 * get_vector, get_meta, live_ids, status and verify return -ESTALE, and
 * rvf_store_changed reports true, until a refresh succeeds (1). -ESTALE
 * from refresh itself also means the path now names a different store.
 *
 * A writable handle holds the writer lock for life, so no one else commits:
 * refresh is a no-op returning 0. A Rust RVF file opened read-only is an
 * in-memory import: -ENOTSUP.
 *
 * Needs exclusive access to s (see Threading above). Query contexts survive
 * it (they regrow on their next query). While a refresh runs, the handle's
 * old snapshot and the new one are both pinned; refreshing lets writers
 * reuse space the old one held.
 */
int rvf_store_refresh(struct rvf_store *s);

/*
 * *changed = whether the file has a commit newer than the handle's
 * snapshot (false for a writable handle; true for a stale one). Reads the
 * two root slots (two small preads), takes no lock, changes nothing: safe
 * on any thread while queries run, so a poller can call it every few
 * milliseconds and take its exclusive lock for rvf_store_refresh only when
 * it says true. Not concurrently with refresh or close of s. A newest root
 * that refresh found unloadable (damage) is no longer reported. 0 or
 * -errno (the read's error).
 */
int rvf_store_changed(const struct rvf_store *s, bool *changed);

/* ---- delete --------------------------------------------------------------- */

struct rvf_delete_result {
	uint64_t deleted;            /* ids that were live and are now deleted */
	uint64_t epoch;
};

/* Tombstone ids (absent or already deleted ids are not counted). Durable. */
int rvf_store_delete(struct rvf_store *s, const uint64_t *ids, size_t n, struct rvf_delete_result *res);

/* Tombstone every live vector the filter selects. Durable. */
int rvf_store_delete_by_filter(struct rvf_store *s, const struct rvf_filter *f,
			       struct rvf_delete_result *res);

/* ---- status, segments, compaction ----------------------------------------- */

struct rvf_store_status {
	uint64_t live_vectors;
	uint64_t deleted_vectors;    /* tombstones not yet compacted away */
	uint64_t segments;           /* committed segments in the file, plus the graph
	                              * checkpoint (the dir's vector index 0), which
	                              * rvf_store_segment_dir does not list */
	uint64_t file_size;          /* bytes */
	uint64_t epoch;
	uint64_t live_bytes;         /* bytes of live data in segments and index */
	uint64_t dead_bytes;         /* bytes held by deleted vectors, superseded
	                              * data and free blocks */
	double   dead_space_ratio;   /* dead_bytes / file_size */
	uint32_t dimension;
	enum rvf_metric metric;
	int      profile;            /* enum rvf_domain_profile */
	bool     read_only;
	bool     frozen;
	uint64_t vector_indexes;     /* the dir's vector-index entries (in segments) */
	bool     has_index;          /* an HNSW graph is loaded; then: */
	uint64_t index_nodes;        /* its nodes, tombstones included */
	uint64_t index_memory_bytes; /* heap bytes it holds */
	uint32_t index_m, index_ef_construction;
	uint32_t index_quant;        /* RVF_HNSW_QUANT_* */
};
int rvf_store_status(const struct rvf_store *s, struct rvf_store_status *st);

uint32_t rvf_store_dimension(const struct rvf_store *s);
enum rvf_metric rvf_store_metric(const struct rvf_store *s);
const char *rvf_store_path(const struct rvf_store *s);

/* The committed segments (as rvf_dir_segments), *out owned (free()). */
int rvf_store_segment_dir(const struct rvf_store *s, struct rvf_dir_segment **out, size_t *n);

struct rvf_compact_result {
	uint64_t segments_compacted; /* segments rewritten or dropped */
	uint64_t bytes_reclaimed;    /* file_size before - after */
	uint64_t epoch;
};
/*
 * Rewrite the store without tombstones or superseded data, in place and
 * crash-safe (a crash leaves the old or the new state), streaming segment by
 * segment (never the whole file in RAM). Segments of types the store does
 * not manage (unknown types, KERNEL, EBPF, ...) are kept byte for byte.
 */
int rvf_store_compact(struct rvf_store *s, struct rvf_compact_result *res);

/* Full consistency check: storage (rvf_dir_check), every segment checksum,
 * the graph (rvf_hnsw_check), index vs vectors vs metadata. 0 or -EUCLEAN
 * with the first problem logged. */
int rvf_store_verify(struct rvf_store *s);

/* ---- reading back --------------------------------------------------------- */

/* The stored vector of a live id copied to out (dim floats); -ENOENT if the
 * id is absent or deleted. */
int rvf_store_get_vector(const struct rvf_store *s, uint64_t id, float *out, uint32_t dim);

/* The metadata of a live id: *out owned (one allocation holding entries and
 * their bytes: free() it), *n entries sorted by field id. -ENOENT if absent. */
int rvf_store_get_meta(const struct rvf_store *s, uint64_t id, struct rvf_meta_entry **out, size_t *n);

/* Every live id, ascending; *ids owned (free()). */
int rvf_store_live_ids(const struct rvf_store *s, uint64_t **ids, size_t *n);

/* ---- identity and lineage ------------------------------------------------- */

int rvf_store_file_identity(const struct rvf_store *s, struct rvf_file_identity *out);
void rvf_store_file_id(const struct rvf_store *s, uint8_t out[16]);
void rvf_store_parent_id(const struct rvf_store *s, uint8_t out[16]);
uint32_t rvf_store_lineage_depth(const struct rvf_store *s);
/* The derivation type recorded at derive (-ENOENT for a root store). */
int rvf_store_derivation(const struct rvf_store *s, struct rvf_lineage_record *out);

/*
 * Create child_path as a child of parent: same dimension, metric and index
 * parameters (o may override run-time fields and the profile), a fresh
 * file_id, parent_id = the parent's file_id, parent_hash = SHA-256 of the
 * parent's committed state (rvf_store_state_hash), depth + 1, and a lineage
 * record with the derivation type, all persisted. The child starts empty.
 * *child is an open writable handle.
 */
int rvf_store_derive(struct rvf_store *parent, const char *child_path, enum rvf_derivation_type type,
		     const struct rvf_store_opts *o, struct rvf_store **child);

/* SHA-256 over the committed state: every committed segment's header and
 * payload in segment id order plus the identity. */
int rvf_store_state_hash(struct rvf_store *s, uint8_t out[RVF_HASH_LEN]);

/* ---- freeze, membership, COW branches ------------------------------------- */

/*
 * Make the store's current generation immutable, on disk: the store header
 * gets a frozen flag (and the epoch of the frozen content), a graph
 * checkpoint covering everything is written first, and a freeze record with
 * the state hash (rvf_store_state_hash) goes into the same commit. From then
 * on every mutator (ingest, delete, delete_by_filter, compact, embed_*,
 * set_membership ...) fails with -EROFS, in this process and after any
 * reopen; rvf_store_status reports frozen. Queries, derive and branch work.
 * Freezing a frozen store returns 0; a read-only handle gives -EROFS.
 */
int rvf_store_freeze(struct rvf_store *s);
bool rvf_store_is_frozen(const struct rvf_store *s);

/*
 * Membership filter: a set of caller ids, include (only members are
 * visible) or exclude (members are hidden) mode, applied to every query
 * inside HNSW traversal: a node the filter rejects may route the search but
 * never enters the results, together with the query's metadata filter (both
 * must pass). An include filter with no ids shows nothing. Membership is
 * about ids, not rows: a member that is deleted and re-ingested is a member
 * again; ids not in the store may be members.
 *
 * On disk: one MEMBERSHIP segment (MembershipHeader with filter_type
 * RVF_MEMBERSHIP_IDSET, the sorted ids, SHA-256 filter_hash, generation_id
 * +1 per change), replaced in the commit of each change; compaction keeps
 * it. A COW branch inherits its parent's filter until it sets its own.
 *
 * set replaces the filter (ids borrowed, any order, duplicates fine); add /
 * remove change the member set in the current mode (with no filter yet,
 * add starts an include filter and remove an exclude one); clear drops it
 * (on a branch: sets "exclude nothing", so the parent's no longer applies).
 * All durable; -EROFS on a read-only or frozen store.
 */
int rvf_store_set_membership(struct rvf_store *s, enum rvf_membership_mode mode, const uint64_t *ids,
			     size_t n);
int rvf_store_membership_add(struct rvf_store *s, const uint64_t *ids, size_t n);
int rvf_store_membership_remove(struct rvf_store *s, const uint64_t *ids, size_t n);
int rvf_store_clear_membership(struct rvf_store *s);

struct rvf_membership_info {
	enum rvf_membership_mode mode;
	uint32_t generation;          /* of the segment it came from */
	bool inherited;               /* from the parent of a branch */
	const uint64_t *ids;          /* view: sorted member ids, valid until the next
	                               * mutation or refresh of s */
	size_t n;
	uint64_t visible;             /* live vectors the filter admits */
};
/* The filter in force: 0, or -ENOENT when there is none. */
int rvf_store_membership_filter(const struct rvf_store *s, struct rvf_membership_info *out);
/*
 * The filter as a dense bitmap over the index's internal ids (bit i of
 * word i/64 set = internal id i is admitted; rvf_hnsw_label_of maps an
 * internal id to its caller id): the form a daemon mirrors into a BPF
 * array map. *words is a view valid until the next mutation or refresh of
 * s; *nbits = rvf_hnsw_count(index). -ENOENT when there is no filter.
 */
int rvf_store_membership_bitmap(const struct rvf_store *s, const uint64_t **words, size_t *nbits);

/*
 * Copy-on-write branch: create child_path, a store that reads parent's
 * vectors, graph and metadata and writes only its own changes. The parent
 * must be frozen, or writable (then it is frozen first). The child records
 * the parent's absolute path, file id and the state hash of its frozen
 * content (from the freeze record: branching reads nothing of the parent's
 * data, so its cost does not grow with the parent), as a COW_MAP segment
 * written in the child's create commit, plus lineage (parent id, parent
 * hash, depth + 1, derivation clone) like rvf_store_derive.
 *
 * child may be NULL: the file is created and not opened (constant cost).
 * Otherwise *child is the child opened for writing, which is open cost:
 * opening a branch opens its parent read-only (recursively up the chain),
 * checks that the parent is there, has the recorded file id, is still
 * frozen and has the recorded state hash (reading it all), then takes the
 * parent's graph and metadata over and applies the child's own segments.
 * Each failure is an error naming the parent (-ENOENT missing, -ESTALE
 * changed or unfrozen).
 *
 * A branch answers exactly as a full copy of the parent with the child's
 * ingests, upserts and deletes applied would. It can be frozen and
 * branched in turn. Compaction keeps the parent reference; flatten
 * (rvf_store_compact_flags RVF_COMPACT_FLATTEN) makes it standalone.
 */
int rvf_store_branch(struct rvf_store *parent, const char *child_path, const struct rvf_store_opts *o,
		     struct rvf_store **child);
bool rvf_store_is_cow_child(const struct rvf_store *s);
/* The parent's path of a branch (view valid for the handle's life), NULL otherwise. */
const char *rvf_store_parent_path(const struct rvf_store *s);

/* COW statistics. Clusters are runs of vectors_per_cluster consecutive
 * internal ids of the parent's graph (cluster_size bytes of float rows);
 * a cluster is local once the child deletes or replaces a vector in it. */
struct rvf_cow_stats {
	uint32_t cluster_count;
	uint32_t local_cluster_count;
	uint32_t cluster_size;        /* bytes, a power of two */
	uint32_t vectors_per_cluster;
	bool     frozen;              /* this store */
	uint64_t snapshot_epoch;      /* parent generation that was branched */
	uint64_t pending_writes;      /* buffered, not yet durable: always 0 (every
	                               * mutator commits before it returns) */
	uint64_t parent_vectors;      /* live vectors of the parent */
	uint64_t hidden_parent_vectors; /* of those, deleted or replaced in this child */
	uint64_t local_vectors;       /* live vectors stored in this file */
};
/* 0, or -ENOENT for a store that is not a branch. */
int rvf_store_cow_stats(const struct rvf_store *s, struct rvf_cow_stats *out);

#define RVF_COMPACT_FLATTEN 0x1u   /* a branch: copy what it reads from its parent
                                    * into this file and drop the parent reference */
/* rvf_store_compact with flags (0 = rvf_store_compact). */
int rvf_store_compact_flags(struct rvf_store *s, unsigned flags, struct rvf_compact_result *res);

/* ---- kernel and eBPF segments -------------------------------------------- */

/* Public mirror of the KernelHeader fields a caller chooses. */
struct rvf_kernel_opts {
	uint8_t  arch;               /* enum rvf_kernel_arch */
	uint8_t  kernel_type;        /* enum rvf_kernel_type */
	uint32_t kernel_flags;       /* RVF_KERNEL_F_* (HAS_BINDING is set for you) */
	uint32_t min_memory_mb;
	uint64_t entry_point;
	uint8_t  api_transport;      /* enum rvf_api_transport */
	uint16_t api_port;
	uint32_t api_version;
	uint32_t vcpu_count;
	const void *cmdline;         /* may be NULL */
	size_t cmdline_len;
};

/* Embed a kernel image as a KERNEL segment (header with SHA-256 image_hash;
 * binding optional: NULL for none). Durable. Returns 0; *seg_id (may be NULL)
 * gets the new segment's id. */
int rvf_store_embed_kernel(struct rvf_store *s, const struct rvf_kernel_opts *ko, const void *image,
			   size_t image_len, const struct rvf_kernel_binding *binding, uint64_t *seg_id);

/* The newest KERNEL segment: header copied to hdr, image (and cmdline) copied
 * to owned buffers (free()); cmdline may be NULL to skip it. Hash verified.
 * -ENOENT when there is none. */
int rvf_store_extract_kernel(const struct rvf_store *s, struct rvf_kernel_hdr *hdr, void **image,
			     size_t *image_len, void **cmdline, size_t *cmdline_len);
/* Its binding; -ENOENT when the kernel has none (or there is no kernel). */
int rvf_store_extract_kernel_binding(const struct rvf_store *s, struct rvf_kernel_binding *out);

struct rvf_ebpf_opts {
	uint8_t  program_type;       /* enum rvf_ebpf_prog_type */
	uint8_t  attach_type;        /* enum rvf_ebpf_attach_type */
	uint32_t program_flags;
	uint16_t max_dimension;      /* 0 = the store's dimension */
};
/* Embed an eBPF ELF object (checked to be one; instruction and map counts
 * taken from it) and optional BTF as an EBPF segment. Durable. */
int rvf_store_embed_ebpf(struct rvf_store *s, const struct rvf_ebpf_opts *eo, const void *prog,
			 size_t prog_len, const void *btf, size_t btf_len, uint64_t *seg_id);
/* The newest EBPF segment; program (and BTF, when btf != NULL) copied to owned
 * buffers. Hash verified. -ENOENT when there is none. */
int rvf_store_extract_ebpf(const struct rvf_store *s, struct rvf_ebpf_hdr *hdr, void **prog,
			   size_t *prog_len, void **btf, size_t *btf_len);

/* ---- import --------------------------------------------------------------- */

/*
 * Create a native store at dst from a file written by the Rust RVF runtime:
 * same dimension, live ids and vectors bit for bit, deleted ids absent,
 * identity (file id, parent id, parent hash, depth) kept, and every carried
 * segment (KERNEL, EBPF, unknown types) copied byte for byte. The metric is
 * not recorded by the Rust runtime: o->metric chooses it (default L2). dst
 * must not exist. Returns 0 and, if out is not NULL, an open handle.
 */
int rvf_store_import_rust(const char *src, const char *dst, const struct rvf_store_opts *o,
			  struct rvf_store **out);

/* ---- misc ----------------------------------------------------------------- */

const char *rvf_metric_name(enum rvf_metric m);          /* "l2" | "ip" | "cosine" */
int rvf_metric_parse(const char *name, enum rvf_metric *m);  /* 0 or -EINVAL */

#ifdef __cplusplus
}
#endif
#endif
