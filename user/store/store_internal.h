/*
 * store/store_internal.h - the store's private state, shared by the files of
 * user/store/ (store.c has the state sketch and the on-disk layouts).
 */
#ifndef RVF_STORE_INTERNAL_H
#define RVF_STORE_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rvf/rvf.h"
#include "meta/meta_store.h"

/* ---- store header (the dir's user metadata), 320 B, all LE ---------------- */
#define STORE_HDR_MAGIC   "RVFSTHD1"
#define STORE_HDR_VERSION 1u
#define STORE_HDR_SIZE    320u

#define STORE_F_LINEAGE   0x1u      /* lineage record present (a derived child) */
#define STORE_F_IMPORTED  0x2u      /* created by rvf_store_import_rust */
#define STORE_F_FROZEN    0x4u      /* rvf_store_freeze: every mutator fails -EROFS */
#define STORE_F_COW       0x8u      /* a COW branch: reads its parent through the COW_MAP */
#define STORE_F_KNOWN     0xFu

struct store_hdr {
	char     magic[8];           /* 0x00 */
	uint32_t version;            /* 0x08 */
	uint32_t length;             /* 0x0C STORE_HDR_SIZE */
	uint32_t dimension;          /* 0x10 */
	uint32_t metric;             /* 0x14 */
	uint32_t M;                  /* 0x18 */
	uint32_t ef_construction;    /* 0x1C */
	uint64_t seed;               /* 0x20 */
	uint32_t quant;              /* 0x28 */
	uint32_t profile;            /* 0x2C */
	uint64_t next_seg_id;        /* 0x30 next segment id to hand out */
	uint64_t ckpt_seg_id;        /* 0x38 graph checkpoint covers segments <= this (0: none) */
	uint64_t live;               /* 0x40 live vectors */
	uint64_t deleted;            /* 0x48 tombstoned ids still holding rows */
	uint64_t flags;              /* 0x50 STORE_F_* */
	uint64_t import_max_seg_id;  /* 0x58 segments <= this were carried from a Rust file */
	uint64_t ckpt_count;         /* 0x60 checkpoints written (informational) */
	struct rvf_file_identity identity;      /* 0x68, 68 B */
	uint32_t reserved0;          /* 0xAC */
	struct rvf_lineage_record lineage;      /* 0xB0, 128 B */
	uint64_t frozen_epoch;       /* 0x130 generation the freeze committed (STORE_F_FROZEN), else 0 */
	uint64_t hash;               /* 0x138 XXH3-64 of bytes 0x00..0x137 */
} __attribute__((packed));
_Static_assert(sizeof(struct store_hdr) == STORE_HDR_SIZE, "store header size");
_Static_assert(offsetof(struct store_hdr, identity) == 0x68, "identity");
_Static_assert(offsetof(struct store_hdr, lineage) == 0xB0, "lineage");
_Static_assert(offsetof(struct store_hdr, hash) == 0x138, "hash");

/* ---- VEC segment payload (type 0x01) ---------------------------------------- */
#define VEC_MAGIC   "RVVS"
#define VEC_VERSION 1u
#define VEC_HDR     64u
struct vec_hdr {
	char     magic[4];           /* 0x00 */
	uint16_t version;            /* 0x04 */
	uint16_t flags;              /* 0x06 zero */
	uint32_t dim;                /* 0x08 */
	uint32_t stride;             /* 0x0C row bytes = dim * 4 */
	uint64_t count;              /* 0x10 rows */
	uint64_t ids_off;            /* 0x18 = 64 */
	uint64_t rows_off;           /* 0x20 = 64 + align64(count * 8) */
	uint8_t  reserved[24];       /* 0x28 zero */
} __attribute__((packed));
_Static_assert(sizeof(struct vec_hdr) == VEC_HDR, "vec header size");

/* ---- JOURNAL segment payload (type 0x04): tombstones ------------------------- */
#define JRN_MAGIC   "RVJN"
#define JRN_VERSION 1u
#define JRN_OP_DELETE 1u
#define JRN_HDR     16u          /* magic 4 | version u16 | op u16 | count u64 | ids */

/* ---- graph checkpoint (vector index field 0): prefix + rvf_hnsw_save blob ---- */
#define CKPT_MAGIC  "RVFCKPT1"
#define CKPT_HDR    64u
#define CKPT_FIELD  0u
#define CKPT_F_TABLES 0x1u     /* segment stats and id locations follow the header */
#define CKPT_F_DELTA  0x2u     /* a COW branch's: a cow_tie, then an rvf_hnsw_save_delta blob */
struct ckpt_hdr {
	char     magic[8];           /* 0x00 */
	uint64_t covers_seg_id;      /* 0x08 must equal the store header's ckpt_seg_id */
	uint64_t live;               /* 0x10 live nodes in the graph */
	uint64_t nodes;              /* 0x18 nodes incl. tombstones */
	uint64_t blob_len;           /* 0x20 bytes of the hnsw blob (last in the payload) */
	uint64_t nsegs;              /* 0x28 struct ckpt_seg entries (CKPT_F_TABLES) */
	uint64_t nlocs;              /* 0x30 struct loc entries (CKPT_F_TABLES) */
	uint32_t flags;              /* 0x38 CKPT_F_* */
	uint32_t reserved;           /* 0x3C zero */
} __attribute__((packed));
_Static_assert(sizeof(struct ckpt_hdr) == CKPT_HDR, "checkpoint header size");

/* With CKPT_F_TABLES the payload is
 *   ckpt_hdr | ckpt_seg[nsegs] | loc[nlocs] | hnsw blob
 * so open needs no pass over the VEC segments' ids: the bookkeeping of
 * every store-owned segment <= covers_seg_id and where every id's row and
 * metadata record live come with the checkpoint. */
struct ckpt_seg {
	uint64_t id, rows, live_rows, live_bytes;
};
_Static_assert(sizeof(struct ckpt_seg) == 32, "checkpoint segment entry");

/* With CKPT_F_DELTA (a COW branch; CKPT_F_TABLES too) the payload is
 *   ckpt_hdr | ckpt_seg[nsegs] | loc[nlocs] | cow_tie | delta blob
 * The blob (index/hnsw_io.c) holds the branch's graph as a delta against
 * its parent's graph as attached; the tie says which parent state it was
 * made against. Open uses it only if every tie field matches the attached
 * parent and the branch's COW map (generation <= the map's: later map
 * changes come with segments newer than covers_seg_id, which are replayed).
 *   offset size
 *   0x00   32    parent_hash      the parent's frozen state hash (COW_MAP)
 *   0x20   8     snapshot_epoch   the parent's frozen epoch
 *   0x28   8     parent_nodes     nodes of the parent's graph
 *   0x30   8     base_fp          rvf_hnsw_base_sign fingerprint of that graph
 *   0x38   4     generation       the COW map's generation at the checkpoint
 *   0x3C   4     reserved (0)
 *   0x40   8     check            XXH3-64 of the tables and tie bytes 0..0x40 */
#define COW_TIE 72u
struct cow_tie {
	uint8_t  parent_hash[32];
	uint64_t snapshot_epoch;
	uint64_t parent_nodes;
	uint64_t base_fp;
	uint32_t generation;
	uint32_t reserved;
	uint64_t check;
} __attribute__((packed));
_Static_assert(sizeof(struct cow_tie) == COW_TIE, "cow tie size");

/* ---- id map: where each id's current row and metadata record live ---------- */
#define LOC_USED    0x1u
#define LOC_DELETED 0x2u         /* tombstoned; the row is still in vseg */

struct loc {
	uint64_t id;
	uint64_t vseg;               /* VEC segment holding the current row */
	uint64_t mseg;               /* META segment holding the current SET record; 0 none */
	uint32_t row;
	uint32_t mbytes;             /* bytes of that record */
	uint32_t flags;              /* LOC_* ; 0 = empty slot */
	uint32_t pad;
};
_Static_assert(sizeof(struct loc) == 40, "loc size (it is written into checkpoints)");

struct idmap {
	struct loc *slots;
	size_t cap;                  /* power of two */
	size_t used;
};

int idmap_init(struct idmap *m, size_t hint);
void idmap_release(struct idmap *m);
struct loc *idmap_get(const struct idmap *m, uint64_t id);
/* The slot for id, inserted (flags LOC_USED, rest zero) when absent; NULL on ENOMEM. */
struct loc *idmap_put(struct idmap *m, uint64_t id);

/* ---- segment table ------------------------------------------------------------ */
struct sseg {
	uint64_t id;
	uint8_t  type;
	uint16_t flags;
	uint64_t payload_len;
	uint64_t disk_bytes;         /* blocks the extent occupies, in bytes */
	uint64_t rows;               /* VEC: rows; META: records; JOURNAL: ids */
	uint64_t live_rows;          /* VEC: rows that are some id's current live row */
	uint64_t live_bytes;         /* META: bytes of current SET records */
};

struct segtab {
	struct sseg *a;              /* sorted by id */
	size_t n, cap;
};

struct sseg *segtab_find(const struct segtab *t, uint64_t id);
int segtab_add(struct segtab *t, const struct sseg *s);

/* ---- the handle ----------------------------------------------------------------- */

/* Counters for tests and benchmarks (store_stats). */
struct store_stats {
	int      ckpt_loaded;        /* open loaded a graph checkpoint */
	uint64_t ckpt_nodes_loaded;  /* nodes in that checkpoint */
	uint64_t catchup_vectors;    /* vectors inserted at open (newer than the checkpoint),
	                              * and by catch-up refreshes since */
	uint64_t catchup_deletes;
	uint64_t checkpoints;        /* checkpoints written by this handle */
	uint64_t index_ns;           /* time in graph inserts (ingest) */
	uint64_t commit_ns;          /* time writing + committing data segments */
	uint64_t ckpt_ns;            /* time writing checkpoints */
	uint64_t open_replay_ns;     /* open: segments up to the checkpoint (ids, metadata) */
	uint64_t open_graph_ns;      /* open: checkpoint read + graph load */
	uint64_t open_catchup_ns;    /* open: segments newer than the checkpoint */
	uint64_t plan_exact;         /* filtered queries the planner answered by exact scan */
	uint64_t plan_graph;         /* filtered queries run in the graph with the filter */
	uint64_t plan_cached;        /* filtered queries that read a cached allowed-set bitmap */
	uint64_t filter_lookups;     /* filtered queries that looked their filter up in the
	                              * cache (mutex, serialisation); a query context's
	                              * repeated filter does not */
	uint64_t refresh_catchups;   /* refreshes that replayed only the new segments */
	uint64_t refresh_rebuilds;   /* refreshes that rebuilt the state from the snapshot */
	uint64_t refresh_ns;         /* duration of the last refresh that moved */
};

/* filter_cache.c: bitmaps of repeated filters (see there). */
#define FC_SLOTS 8u
struct fc_entry;
struct filter_cache {
	pthread_mutex_t mu;
	uint64_t tick;
	struct fc_entry *e[FC_SLOTS];
};
void fcache_init(struct filter_cache *c);
void fcache_release(struct filter_cache *c);
/* The allowed set of f at the store's current version (*allowed bits set), or
 * NULL when the filter is not (yet) cached: the first sighting of a filter
 * only registers it. Release a non-NULL result with fcache_put. */
const struct fc_entry *fcache_get(const struct rvf_store *s, const struct rvf_filter *f,
				  size_t *allowed);
const uint64_t *fcache_bits(const struct fc_entry *e);
size_t fcache_allowed(const struct fc_entry *e);
uint64_t fcache_version(const struct fc_entry *e);  /* the store version it was built at */
void fcache_put(const struct rvf_store *s, const struct fc_entry *e);
/* Drop a reference from fcache_get without the store (a query context may
 * outlive it): the count is atomic, the entry freed by the last one. */
void fcache_unref(const struct fc_entry *e);

/* ---- freeze record (vector index field 1), 64 B, all LE ---------------------
 * Written in the freeze commit: the state hash of the frozen content, so a
 * branch records it without reading the parent (rvf_store_state_hash reads
 * every segment; the vector index is not part of it). */
#define FREEZE_FIELD 1u
#define FREEZE_MAGIC "RVFFRZ01"
struct freeze_rec {
	char     magic[8];           /* 0x00 */
	uint64_t epoch;              /* 0x08 generation of the frozen content */
	uint8_t  state_hash[32];     /* 0x10 rvf_store_state_hash at the freeze */
	uint64_t reserved;           /* 0x30 zero */
	uint64_t check;              /* 0x38 XXH3-64 of bytes 0x00..0x37 */
} __attribute__((packed));
_Static_assert(sizeof(struct freeze_rec) == 64, "freeze record size");

/* ---- membership (store_cow.c): MEMBERSHIP segment, in memory -------------- */
struct membership {
	bool     active;             /* a filter applies to queries */
	bool     own;                /* persisted in this file (else inherited from the parent) */
	uint8_t  mode;               /* enum rvf_membership_mode */
	uint32_t generation;
	uint64_t *ids;               /* sorted, unique caller ids */
	size_t   n;
	uint64_t seg;                /* this file's MEMBERSHIP segment, 0 none */
	uint64_t *bits;              /* allowed, over the index's internal ids */
	size_t   nbits;              /* = rvf_hnsw_count at the last member_sync */
	size_t   allowed;            /* live nodes allowed */
};

/* ---- COW branch (store_cow.c) ----------------------------------------------- */
struct cow_state {
	char     *parent_path;       /* as recorded in the COW_MAP (absolute) */
	uint8_t  parent_id[16];
	uint8_t  parent_hash[32];
	uint64_t snapshot_epoch;     /* parent generation that was branched */
	uint64_t parent_nodes;       /* graph nodes of the parent (internal ids below this are
	                              * the parent's: the cluster space) */
	uint64_t parent_live;        /* live vectors of the parent view */
	uint64_t base_live;          /* parent vectors visible here (parent_live - nhidden) */
	uint32_t cluster_size;       /* bytes, power of two */
	uint32_t vpc;                /* vectors per cluster */
	uint32_t generation;         /* COW_MAP rewrites */
	uint64_t *hidden;            /* sorted parent ids deleted or replaced here */
	size_t   nhidden;
	uint64_t *local;             /* bitmap over clusters: holds a hidden parent vector */
	uint64_t nclusters;
	uint64_t seg;                /* the COW_MAP segment id */
	uint64_t *base_sign;         /* per parent node: hash of its lists as attached
	                              * (rvf_hnsw_base_sign; writable handles only) */
	uint64_t base_fp;            /* fingerprint of the parent's graph as attached */
};

struct rvf_store {
	char *path;
	struct rvf_dir *dir;
	bool readonly;
	int broken;                  /* -errno: memory no longer matches disk; mutators fail */
	struct store_hdr hdr;
	struct rvf_hnsw *h;
	struct meta_store *ms;
	struct idmap map;
	struct segtab segs;
	uint32_t threads;
	uint64_t ckpt_every;         /* vectors between checkpoints; 0 = auto */
	uint64_t version;            /* new value at every change to the contents, unique in
	                              * the process (store_version_bump), so a cached allowed
	                              * set never matches other contents, nor another handle */
	uint64_t pending_vecs;       /* rows ingested since the checkpoint */
	uint64_t pending_dels;
	uint64_t ckpt_bytes;          /* size of the committed checkpoint blob */
	struct rvf_dir_opts dopt;    /* how the dir was opened */
	struct prefetch *pf;         /* open only: the reader thread */
	struct store_stats stats;
	struct filter_cache fcache;
	bool ckpt_bad;               /* open: the graph checkpoint failed its checks */
	bool rust_view;              /* a Rust RVF file imported in memory (no refresh) */
	int stale;                   /* -errno: a refresh failed half-way; memory is no
	                              * committed snapshot, reads fail (store_readable) */
	uint64_t refused_seq;        /* newest root a refresh found but could not load */
	struct membership mem;
	struct cow_state cow;        /* valid when hdr.flags & STORE_F_COW */
};

static inline bool store_is_cow(const struct rvf_store *s)
{
	return s->hdr.flags & STORE_F_COW;
}

/* 0, or -ESTALE when the handle's memory is no committed snapshot. */
static inline int store_readable(const struct rvf_store *s)
{
	return s->stale ? -ESTALE : 0;
}

/* store.c, store_ckpt.c */
int store_hdr_put(struct rvf_store *s);                 /* encode + set user metadata (pending) */
int store_commit(struct rvf_store *s, const char *what); /* commit; rollback + log on failure */
int store_checkpoint(struct rvf_store *s);
/* The checkpoint payload for graph h and bookkeeping (t, m) covering
 * segments <= covers: written with ckpt_write, released with ckpt_release. */
struct ckpt_parts {
	struct ckpt_hdr hdr;
	struct cow_tie tie;          /* CKPT_F_DELTA */
	struct ckpt_seg *segs;
	struct loc *locs;
	void *blob;
};
/* cow (a branch's state, or NULL): the blob is a delta against the parent's
 * graph, with the tie (CKPT_F_DELTA). */
int ckpt_build(const struct rvf_hnsw *h, const struct segtab *t, const struct idmap *m,
	       uint64_t covers, const struct cow_state *cow, struct ckpt_parts *p);
uint64_t ckpt_size(const struct ckpt_parts *p);
int ckpt_write(struct rvf_dir *d, const struct ckpt_parts *p);
void ckpt_release(struct ckpt_parts *p);
int ckpt_frame_check(const void *buf, size_t len, uint64_t covers, struct ckpt_hdr *ck);
int store_maybe_checkpoint(struct rvf_store *s);
uint64_t store_row_bytes(const struct rvf_store *s);
uint64_t store_disk_bytes(const struct rvf_store *s, uint64_t payload_len);
/* seg_type/seg/seg_len: one segment (id 1) written in the create commit
 * (type 0: none), so a branch appears with its COW_MAP or not at all. */
int store_create_with(const char *path, const struct rvf_store_opts *o,
		      const struct rvf_file_identity *id, const struct rvf_lineage_record *lin,
		      uint64_t flags, uint8_t seg_type, const void *seg, size_t seg_len,
		      struct rvf_store **out);
int store_new_handle(const char *path, struct rvf_store **out);
void store_free_handle(struct rvf_store *s);

/* The open-time load of a handle whose dir is open and header read
 * (store_replay.c). */
int store_load(struct rvf_store *s);
/* Replaying segments into memory (store_replay.c) and their payload codecs
 * (store_codec.c). */
/* VEC, META and JOURNAL: the types replay owns (the rest are kept as they are). */
bool store_owned_type(uint8_t t);
int vec_hdr_check(const struct vec_hdr *h, uint64_t len, uint32_t dim, const char *path,
		  uint64_t seg_id);
int store_apply_vec_ids(struct rvf_store *s, uint64_t seg_id, const uint64_t *ids, size_t n);
int store_apply_meta(struct rvf_store *s, uint64_t seg_id, const void *buf, size_t len);
int store_apply_journal(struct rvf_store *s, uint64_t seg_id, const uint64_t *ids, size_t n,
			bool to_index);
int vec_parse(const void *buf, size_t len, uint32_t dim, const char *path, uint64_t seg_id,
	      const uint64_t **ids, const float **rows, size_t *count);
int jrn_parse(const void *buf, size_t len, const char *path, uint64_t seg_id,
	      const uint64_t **ids, size_t *count);
void vec_hdr_make(struct vec_hdr *h, uint32_t dim, uint64_t count);
/* Walk a validated META payload: cb(id, is_set, record bytes) per record. */
int meta_walk(const void *buf, size_t len, void (*cb)(void *ctx, uint64_t id, bool set, uint32_t bytes),
	      void *ctx);

int store_writable(const struct rvf_store *s);
/* options for a child of parent (derive, branch): o's run-time fields, the parent's shape */
struct rvf_store_opts store_child_opts(const struct rvf_store *parent, const struct rvf_store_opts *o);
void store_version_bump(struct rvf_store *s);

/* The open path and its pieces, shared with refresh (store_refresh.c). */
int store_open_native(const char *path, const struct rvf_store_opts *o, bool readonly,
		      struct rvf_store **out);
int store_hdr_decode(const char *path, const void *buf, size_t len, struct store_hdr *out);
/* Read a segment's payload through dir (checksum verified); *buf owned. */
int store_replay_read(const struct rvf_store *s, struct rvf_dir *dir, const struct rvf_dir_segment *d,
		      void **buf, size_t *len);
int store_replay_apply(struct rvf_store *s, const struct rvf_dir_segment *d, const void *buf,
		       size_t len, bool full);
/* Invariant 4: replay's counters (and the graph's) equal the header's. */
int store_check_counters(const struct rvf_store *s, const struct store_hdr *disk);

/* prefetch.c: a reader thread for open (see there). */
struct prefetch;
int prefetch_start(const char *path, const struct rvf_dir_opts *dopt, uint64_t generation,
		   bool want_ckpt, const uint64_t *ids, size_t n, struct prefetch **out);
int prefetch_take_ckpt(struct prefetch *p, void **buf, size_t *len);
int prefetch_take(struct prefetch *p, uint64_t id, void **buf, size_t *len, size_t *cap);
/* Give a buffer from prefetch_take back for reuse (p NULL: free it). */
void prefetch_recycle(struct prefetch *p, void *buf, size_t cap);
void prefetch_stop(struct prefetch *p);

/* store_cow.c, store_cow_write.c, store_member.c: COW branches, freeze,
 * membership */
size_t ids_sort_unique(uint64_t *a, size_t n);          /* sort, drop duplicates: new n */
void segtab_remove(struct segtab *t, uint64_t id);
int segtab_add_simple(struct rvf_store *s, uint64_t id, uint8_t type, size_t len);
int freeze_read(const struct rvf_store *s, struct freeze_rec *rec);
/* Rebuild the membership bitmap after the index changed (node count, renumbering). */
int member_sync(struct rvf_store *s);
/* Whether the membership filter admits caller id (no filter: true). */
bool member_allows(const struct rvf_store *s, uint64_t id);
/* Open: read this file's MEMBERSHIP segment d (NULL: none). */
int member_load(struct rvf_store *s, const struct rvf_dir_segment *d);
/* Open of a branch: read the COW_MAP, open and check the parent, adopt its
 * graph and metadata, hide what this child deleted or replaced. */
int cow_attach(struct rvf_store *s, const struct rvf_dir_segment *segs, size_t n);
/* While cow_attach opens a parent: the nodes the branches above will add to
 * its graph (load_graph reserves room for them). */
extern __thread uint64_t cow_room;
/* Fill p->tie (and its check over p's tables) from c. */
void cow_tie_make(const struct cow_state *c, struct ckpt_parts *p);
/* Whether the checkpoint buf (framing checked) fits this store: 0 yes;
 * -ESTALE a branch's delta made against another parent state (logged: the
 * caller replays instead); -EUCLEAN damaged or of the wrong kind. */
int cow_ckpt_usable(const struct rvf_store *s, const void *buf, size_t len, const struct ckpt_hdr *ck);
/* After the delta was applied to the attached graph (live0 live nodes
 * before): it must hide no parent node the COW map does not. */
int cow_delta_loaded(struct rvf_store *s, size_t live0);
void cow_release(struct cow_state *c);
void member_release(struct membership *m);
/* Whether id's current node is a live node of the parent (not replaced here). */
bool cow_parent_visible(const struct rvf_store *s, uint64_t id);
/* Encode the COW_MAP payload with hidden ids (sorted) and local cluster bitmap. */
int cow_map_encode(const struct rvf_store *s, const struct cow_state *c, const uint64_t *hidden,
		   size_t nhidden, const uint64_t *local, void **buf, size_t *len);
/* Merge sorted unique add[] into c (hidden ids + cluster bits), updating
 * base_live; the ids must be parent-visible (looked up before the graph changed). */
int cow_hide(struct rvf_store *s, const uint64_t *add, const uint32_t *iids, size_t n);
/* New hidden list and cluster bitmap with sorted unique add[] merged in
 * (*hid, *loc owned). */
int cow_merge(const struct cow_state *c, const uint64_t *add, const uint32_t *iids, size_t n,
	      uint64_t **hid, size_t *nhid, uint64_t **loc);

/* A COW_MAP change staged for one commit: the parent ids it hides. */
struct cow_stage {
	uint64_t *ids;               /* sorted unique parent-visible ids */
	uint32_t *iids;              /* their internal ids (the parent's nodes) */
	size_t n;
	uint64_t *hid, *loc;         /* the new hidden list and cluster bitmap */
	size_t nhid;
	void *buf;                   /* the COW_MAP payload */
	size_t len;
	uint64_t seg;                /* its segment id */
};
/* Stage hiding those of ids[] (any order) the branch sees from its parent
 * (cs->n may end up 0: nothing to write). */
int cow_stage_ids(struct rvf_store *s, const uint64_t *ids, size_t n, struct cow_stage *cs);
/* Write the staged COW_MAP (new id from hdr.next_seg_id) and drop the old one (pending). */
int cow_stage_write(struct rvf_store *s, struct cow_stage *cs);
/* After the commit: memory takes the new map; tombstone: also delete the
 * ids from the graph and metadata (a delete; an upsert replaces them). */
int cow_stage_apply(struct rvf_store *s, struct cow_stage *cs, bool tombstone);
void cow_stage_release(struct cow_stage *cs);

/* store_extra.c */
int store_stats(const struct rvf_store *s, struct store_stats *out);
int store_check_carried(const struct rvf_store *s, uint8_t type, uint64_t id, const void *buf, size_t len);
int store_open_rust_readonly(const char *path, const struct rvf_store_opts *o, struct rvf_store **out);

#endif
