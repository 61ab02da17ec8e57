/*
 * store/store_cow.c - copy-on-write branches (include/rvf/rvf.h): the COW
 * map, attaching the parent at open, the delta checkpoint, stats and
 * branch creation. Writes, flatten: store_cow_write.c; freeze and the
 * membership filter: store_member.c.
 *
 * COW branch, on disk: the child is an ordinary store file whose header
 * has STORE_F_COW and whose segments are
 *
 *   COW_MAP (0x20)  CowMapHeader (map_format 2, extent list) | cow body:
 *     0x00 u64 snapshot_epoch   parent generation branched (its frozen epoch)
 *     0x08 u64 parent_nodes     nodes of the parent's graph = the cluster space
 *     0x10 u64 parent_live      live vectors of the parent
 *     0x18 u64 nhidden          parent ids this child deleted or replaced
 *     0x20 u32 nextents         local cluster extents
 *     0x24 u32 path_len         bytes of the parent's absolute path
 *     0x28 u32 generation       +1 per rewrite
 *     0x2C u32 reserved, 0x30 16 reserved (zero)
 *   then path (padded to 8) | hidden u64[nhidden] ascending |
 *   extents {u32 first_cluster, u32 count}[nextents] ascending, disjoint.
 *   Exactly one COW_MAP; every change of it is a new segment that replaces
 *   the old one in the same commit as the change.
 *   VEC / META / JOURNAL  the child's own ingests and deletes of its own rows.
 *
 * COW branch, in memory (open, cow_attach): the parent is opened read-only
 * (recursively: a parent that is a branch attaches its own parent), checked
 * (there, same file id, still frozen, same state hash, same graph size),
 * and its graph (loaded with room for the branch's nodes: cow_room) and
 * metadata store are taken over; the hidden parent ids are tombstoned in
 * that graph, then the branch's delta checkpoint is applied (below) and its
 * own segments newer than that are replayed on top (inserts replace nodes,
 * as an upsert does; without a usable delta, all of its segments). So the child's index
 * is one graph holding exactly what a full copy holds, plus tombstones that
 * only route: queries run as on any store. Internal ids below parent_nodes
 * are the parent's; a node there that is live is a parent vector the child
 * still sees (cow_parent_visible).
 *
 * Checkpoint of a branch (vector index 0, CKPT_F_DELTA, layout in
 * store_internal.h): the tables as for any store, a tie (parent state
 * hash, epoch, parent node count, the fingerprint of the parent's graph as
 * attached, the COW map generation) and an rvf_hnsw_save_delta blob: the
 * nodes above parent_nodes with their lists, the parent nodes whose lists
 * changed, the tombstones, entry point and max level. Attach hashes every
 * parent node's lists (rvf_hnsw_base_sign) before the branch changes
 * anything; that is what the delta is diffed and checked against. Open =
 * attach + apply the delta (+ replay the segments newer than it). A delta
 * that does not fit (another parent graph, e.g. one rebuilt after a damaged
 * checkpoint, or RVF_COW_DELTA=0) is skipped and the branch's rows are
 * re-inserted as without one; a damaged one makes open start over without
 * it (as for a standalone store's checkpoint). Either way the next
 * checkpoint writes a fresh delta.
 *
 * Writes on a branch: an ingest that replaces a visible parent id, or a
 * delete of one, adds the id to the hidden list (new COW_MAP in the same
 * commit); rows the child owns are tombstoned with JOURNAL as usual.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/log.h"
#include "codec/hash.h"
#include "codec/identity.h"
#include "store/store_internal.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

size_t ids_sort_unique(uint64_t *a, size_t n)
{
	size_t u = 0;

	qsort(a, n, sizeof(*a), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (!u || a[u - 1] != a[i])
			a[u++] = a[i];
	return u;
}

void segtab_remove(struct segtab *t, uint64_t id)
{
	struct sseg *g = segtab_find(t, id);

	if (!g)
		return;
	size_t pos = (size_t)(g - t->a);
	memmove(&t->a[pos], &t->a[pos + 1], (t->n - pos - 1) * sizeof(*t->a));
	t->n--;
}

int segtab_add_simple(struct rvf_store *s, uint64_t id, uint8_t type, size_t len)
{
	struct sseg g = { .id = id, .type = type, .payload_len = len,
			  .disk_bytes = store_disk_bytes(s, len) };

	return segtab_add(&s->segs, &g);
}

/* ---- COW map codec ------------------------------------------------------------------- */

#define COW_BODY 64u
struct cow_body {
	uint64_t snapshot_epoch;     /* 0x00 */
	uint64_t parent_nodes;       /* 0x08 */
	uint64_t parent_live;        /* 0x10 */
	uint64_t nhidden;            /* 0x18 */
	uint32_t nextents;           /* 0x20 */
	uint32_t path_len;           /* 0x24 */
	uint32_t generation;         /* 0x28 */
	uint32_t reserved0;          /* 0x2C */
	uint8_t  reserved[16];       /* 0x30 */
} __attribute__((packed));
_Static_assert(sizeof(struct cow_body) == COW_BODY, "cow body size");

static uint64_t align8(uint64_t x) { return (x + 7) & ~(uint64_t)7; }

void cow_release(struct cow_state *c)
{
	free(c->base_sign);
	free(c->parent_path);
	free(c->hidden);
	free(c->local);
	memset(c, 0, sizeof(*c));
}

static void cow_geometry(uint32_t dim, uint32_t *cluster_size, uint32_t *vpc)
{
	uint32_t row = dim * 4, cs = 65536;

	while (cs < row)
		cs <<= 1;
	*cluster_size = cs;
	*vpc = cs / row;
}

static uint64_t cow_nclusters(const struct cow_state *c)
{
	return (c->parent_nodes + c->vpc - 1) / c->vpc;
}

int cow_map_encode(const struct rvf_store *s, const struct cow_state *c, const uint64_t *hidden,
		   size_t nhidden, const uint64_t *local, void **out, size_t *outlen)
{
	struct rvf_cow_map_hdr h;
	struct cow_body b;
	uint64_t nc = cow_nclusters(c), next = 0;
	size_t plen = strlen(c->parent_path), len;
	uint8_t *buf, *p;

	(void)s;
	/* extents: runs of set bits */
	for (uint64_t i = 0; local && i < nc; i++)
		if ((local[i / 64] >> (i % 64)) & 1 && (i == 0 || !((local[(i - 1) / 64] >> ((i - 1) % 64)) & 1)))
			next++;
	len = RVF_COW_MAP_HDR_SIZE + COW_BODY + align8(plen) + nhidden * 8 + next * 8;
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	memset(&h, 0, sizeof(h));
	h.magic = RVF_COW_MAP_MAGIC;
	h.version = RVF_COW_MAP_VERSION;
	h.map_format = RVF_COW_MAP_EXTENTS;
	h.cluster_size_bytes = c->cluster_size;
	h.vectors_per_cluster = c->vpc;
	memcpy(h.base_file_id, c->parent_id, 16);
	memcpy(h.base_file_hash, c->parent_hash, 32);
	memset(&b, 0, sizeof(b));
	b.snapshot_epoch = c->snapshot_epoch;
	b.parent_nodes = c->parent_nodes;
	b.parent_live = c->parent_live;
	b.nhidden = nhidden;
	b.nextents = (uint32_t)next;
	b.path_len = (uint32_t)plen;
	b.generation = c->generation;
	p = buf;
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	memcpy(p, &b, sizeof(b));
	p += sizeof(b);
	memcpy(p, c->parent_path, plen);
	p += align8(plen);
	if (nhidden)
		memcpy(p, hidden, nhidden * 8);
	p += nhidden * 8;
	for (uint64_t i = 0; local && i < nc;) {
		if (!((local[i / 64] >> (i % 64)) & 1)) {
			i++;
			continue;
		}
		uint32_t first = (uint32_t)i, cnt = 0;
		while (i < nc && ((local[i / 64] >> (i % 64)) & 1)) {
			cnt++;
			i++;
		}
		memcpy(p, &first, 4);
		memcpy(p + 4, &cnt, 4);
		p += 8;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

static int cow_map_decode(const struct rvf_store *s, uint64_t seg, const uint8_t *buf, size_t len,
			  struct cow_state *c)
{
	struct rvf_cow_map_hdr h;
	struct cow_body b;
	static const uint8_t zero[16];
	uint32_t cs, vpc;
	const uint8_t *p;
	uint64_t need, nc, prev_end = 0;

	memset(c, 0, sizeof(*c));
	if (len < RVF_COW_MAP_HDR_SIZE + COW_BODY)
		goto bad;
	memcpy(&h, buf, sizeof(h));
	memcpy(&b, buf + sizeof(h), sizeof(b));
	cow_geometry(s->hdr.dimension, &cs, &vpc);
	if (h.magic != RVF_COW_MAP_MAGIC || h.version != RVF_COW_MAP_VERSION)
		goto bad;
	if (h.map_format != RVF_COW_MAP_EXTENTS)
		return log_fail(-ENOTSUP, "%s: COW_MAP segment %llu: map format %u is not supported",
				s->path, (unsigned long long)seg, h.map_format);
	if (h.cluster_size_bytes != cs || h.vectors_per_cluster != vpc || h.compression_policy ||
	    b.reserved0 || memcmp(b.reserved, zero, 16) || !b.path_len || b.path_len > PATH_MAX ||
	    b.nhidden > b.parent_live || b.parent_live > b.parent_nodes ||
	    /* internal ids are u32; the cluster bitmap is sized by this */
	    b.parent_nodes > UINT32_MAX - 1)
		goto bad;
	need = RVF_COW_MAP_HDR_SIZE + COW_BODY + align8(b.path_len) + b.nhidden * 8 + (uint64_t)b.nextents * 8;
	if (need != len)
		goto bad;
	c->cluster_size = cs;
	c->vpc = vpc;
	c->snapshot_epoch = b.snapshot_epoch;
	c->parent_nodes = b.parent_nodes;
	c->parent_live = b.parent_live;
	c->generation = b.generation;
	c->seg = seg;
	memcpy(c->parent_id, h.base_file_id, 16);
	memcpy(c->parent_hash, h.base_file_hash, 32);
	nc = cow_nclusters(c);
	c->nclusters = nc;
	p = buf + sizeof(h) + sizeof(b);
	c->parent_path = strndup((const char *)p, b.path_len);
	c->hidden = malloc(b.nhidden ? b.nhidden * 8 : 8);
	c->local = calloc((nc + 63) / 64 + 1, 8);
	if (!c->parent_path || !c->hidden || !c->local) {
		cow_release(c);
		return -ENOMEM;
	}
	if (strlen(c->parent_path) != b.path_len)
		goto bad_free;
	p += align8(b.path_len);
	memcpy(c->hidden, p, b.nhidden * 8);
	c->nhidden = b.nhidden;
	for (size_t i = 1; i < c->nhidden; i++)
		if (c->hidden[i] <= c->hidden[i - 1])
			goto bad_free;
	p += b.nhidden * 8;
	for (uint32_t e = 0; e < b.nextents; e++) {
		uint32_t first, cnt;
		memcpy(&first, p + e * 8, 4);
		memcpy(&cnt, p + e * 8 + 4, 4);
		if (!cnt || first < prev_end || (uint64_t)first + cnt > nc)
			goto bad_free;
		for (uint64_t i = first; i < (uint64_t)first + cnt; i++)
			c->local[i / 64] |= 1ull << (i % 64);
		prev_end = (uint64_t)first + cnt + 1;
	}
	return 0;
bad_free:
	cow_release(c);
bad:
	return log_fail(-EUCLEAN, "%s: COW_MAP segment %llu is invalid", s->path, (unsigned long long)seg);
}

/* ---- COW: open ------------------------------------------------------------------------- */

static __thread int cow_depth;     /* parents being opened on this thread */
__thread uint64_t cow_room;        /* nodes the branches being opened will add */
#define COW_MAX_DEPTH 64

bool cow_parent_visible(const struct rvf_store *s, uint64_t id)
{
	uint32_t iid;

	return store_is_cow(s) && !rvf_hnsw_id_of(s->h, id, &iid) && iid < s->cow.parent_nodes &&
	       rvf_hnsw_contains(s->h, id) == 1;
}

static uint64_t view_live(const struct rvf_store *s)
{
	return s->hdr.live + (store_is_cow(s) ? s->cow.base_live : 0);
}

int cow_attach(struct rvf_store *s, const struct rvf_dir_segment *segs, size_t n)
{
	const struct rvf_dir_segment *d = NULL;
	struct rvf_store_opts po = { .threads = s->threads, .io = s->dopt.io };
	struct rvf_store *p = NULL;
	struct cow_state c;
	uint8_t hash[RVF_HASH_LEN];
	void *buf = NULL;
	size_t len, nmaps = 0;
	int err;

	for (size_t i = 0; i < n; i++)
		if (segs[i].type == RVF_SEG_COW_MAP) {
			d = &segs[i];
			nmaps++;
		}
	if (nmaps != 1)
		return log_fail(-EUCLEAN, "%s: a COW branch needs one COW_MAP segment, it has %zu", s->path,
				nmaps);
	err = store_replay_read(s, s->dir, d, &buf, &len);
	if (!err)
		err = cow_map_decode(s, d->id, buf, len, &c);
	free(buf);
	if (err)
		return err;
	if (memcmp(c.parent_id, s->hdr.identity.parent_id, 16) ||
	    memcmp(c.parent_hash, s->hdr.identity.parent_hash, 32)) {
		err = log_fail(-EUCLEAN, "%s: the COW map and the file identity name different parents", s->path);
		goto fail;
	}
	if (cow_depth >= COW_MAX_DEPTH) {
		err = log_fail(-ELOOP, "%s: more than %d branches above this one (a cycle?)", s->path,
			       COW_MAX_DEPTH);
		goto fail;
	}
	/* the parent's graph gets room for this branch's nodes (and those of the
	 * branches below it): applying the deltas then moves no arrays */
	uint64_t saved_room = cow_room, own = s->hdr.live + s->hdr.deleted;
	cow_room += own + own / 4 + 64;
	cow_depth++;
	err = rvf_store_open_readonly(c.parent_path, &po, &p);
	cow_depth--;
	cow_room = saved_room;
	if (err) {
		err = log_fail(err, "%s: cannot open its parent %s: %s", s->path, c.parent_path,
			       err == -ENOENT ? "the parent is missing" : rvf_strerror(err));
		goto fail;
	}
	if (memcmp(p->hdr.identity.file_id, c.parent_id, 16)) {
		err = log_fail(-ESTALE, "%s: %s is not its parent any more (another file id)", s->path,
			       c.parent_path);
		goto fail;
	}
	if (!(p->hdr.flags & STORE_F_FROZEN)) {
		err = log_fail(-ESTALE, "%s: its parent %s is no longer frozen", s->path, c.parent_path);
		goto fail;
	}
	if (p->hdr.dimension != s->hdr.dimension || p->hdr.metric != s->hdr.metric) {
		err = log_fail(-EUCLEAN, "%s: its parent %s has another dimension or metric", s->path,
			       c.parent_path);
		goto fail;
	}
	err = rvf_store_state_hash(p, hash);
	if (err) {
		err = log_fail(err, "%s: hashing its parent %s: %s", s->path, c.parent_path, rvf_strerror(err));
		goto fail;
	}
	if (memcmp(hash, c.parent_hash, 32) || p->hdr.frozen_epoch != c.snapshot_epoch) {
		err = log_fail(-ESTALE, "%s: its parent %s changed since the branch (state hash mismatch)",
			       s->path, c.parent_path);
		goto fail;
	}
	if (rvf_hnsw_count(p->h) != c.parent_nodes || view_live(p) != c.parent_live) {
		err = log_fail(-ESTALE, "%s: its parent %s does not have the graph it was branched from "
			       "(%zu nodes, %llu live; the map says %llu, %llu)", s->path, c.parent_path,
			       rvf_hnsw_count(p->h), (unsigned long long)view_live(p),
			       (unsigned long long)c.parent_nodes, (unsigned long long)c.parent_live);
		goto fail;
	}
	/* adopt the parent's view */
	rvf_hnsw_free(s->h);
	s->h = p->h;
	p->h = NULL;
	{
		struct meta_store *t = s->ms;
		s->ms = p->ms;
		p->ms = t;
	}
	if (p->mem.active) {
		member_release(&s->mem);
		s->mem = p->mem;
		memset(&p->mem, 0, sizeof(p->mem));
		free(s->mem.bits);
		s->mem.bits = NULL;
		s->mem.own = false;
		s->mem.seg = 0;
	}
	store_free_handle(p);
	p = NULL;
	/* the parent's graph as attached, before this branch changes it: what
	 * a delta checkpoint is made against (lists hashed only where the
	 * handle can write one) */
	err = rvf_hnsw_base_sign(s->h, &c.base_sign, &c.base_fp);
	if (err)
		goto fail;
	if (s->readonly) {
		free(c.base_sign);
		c.base_sign = NULL;
	}
	for (size_t i = 0; i < c.nhidden; i++) {
		uint32_t iid;
		if (rvf_hnsw_id_of(s->h, c.hidden[i], &iid) || iid >= c.parent_nodes ||
		    rvf_hnsw_delete(s->h, c.hidden[i])) {
			err = log_fail(-EUCLEAN, "%s: the COW map hides id %llu, which is no live vector of the parent",
				       s->path, (unsigned long long)c.hidden[i]);
			goto fail;
		}
		meta_store_remove(s->ms, c.hidden[i]);
	}
	c.base_live = c.parent_live - c.nhidden;
	cow_release(&s->cow);
	s->cow = c;
	return 0;
fail:
	store_free_handle(p);
	cow_release(&c);
	return err;
}

/* ---- COW: the delta checkpoint ------------------------------------------------------------- */

static uint64_t tie_check(const struct cow_tie *t, const void *segs, size_t segs_len, const void *locs,
			  size_t locs_len)
{
	XXH3_state_t *st = XXH3_createState();
	uint64_t h;

	if (!st)
		return 0;             /* a zero check fails at open: the delta is not used */
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, segs, segs_len);
	XXH3_64bits_update(st, locs, locs_len);
	XXH3_64bits_update(st, t, offsetof(struct cow_tie, check));
	h = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return h | 1;
}

void cow_tie_make(const struct cow_state *c, struct ckpt_parts *p)
{
	struct cow_tie *t = &p->tie;

	memset(t, 0, sizeof(*t));
	memcpy(t->parent_hash, c->parent_hash, 32);
	t->snapshot_epoch = c->snapshot_epoch;
	t->parent_nodes = c->parent_nodes;
	t->base_fp = c->base_fp;
	t->generation = c->generation;
	t->check = tie_check(t, p->segs, p->hdr.nsegs * sizeof(*p->segs), p->locs,
			     p->hdr.nlocs * sizeof(*p->locs));
}

static bool delta_disabled(void)
{
	const char *e = getenv("RVF_COW_DELTA");

	return e && !strcmp(e, "0");
}

int cow_ckpt_usable(const struct rvf_store *s, const void *buf, size_t len, const struct ckpt_hdr *ck)
{
	const uint8_t *p = buf;
	size_t segs_len = ck->nsegs * sizeof(struct ckpt_seg), locs_len = ck->nlocs * sizeof(struct loc);
	const char *why = NULL;
	struct cow_tie t;

	if (!store_is_cow(s)) {
		if (ck->flags & CKPT_F_DELTA)
			return log_fail(-EUCLEAN, "%s: a standalone store with a branch's delta checkpoint",
					s->path);
		return 0;
	}
	if (!(ck->flags & CKPT_F_DELTA))
		return log_fail(-EUCLEAN, "%s: a COW branch with a standalone graph checkpoint", s->path);
	if (len < CKPT_HDR + segs_len + locs_len + COW_TIE)
		return -EUCLEAN;       /* ckpt_frame_check passed: cannot happen */
	memcpy(&t, p + CKPT_HDR + segs_len + locs_len, sizeof(t));
	if (t.reserved || t.check != tie_check(&t, p + CKPT_HDR, segs_len, p + CKPT_HDR + segs_len, locs_len))
		return log_fail(-EUCLEAN, "%s: the branch's delta checkpoint fails its check", s->path);
	if (delta_disabled())
		why = "RVF_COW_DELTA=0";
	else if (memcmp(t.parent_hash, s->cow.parent_hash, 32) || t.snapshot_epoch != s->cow.snapshot_epoch)
		why = "it was made for another parent state";
	else if (t.parent_nodes != s->cow.parent_nodes || t.base_fp != s->cow.base_fp)
		why = "the parent's graph as attached is not the one it was made against";
	else if (t.generation > s->cow.generation)
		why = "it is newer than the branch's COW map";
	if (why) {
		log_warn("%s: not using the branch's delta checkpoint (%s): re-inserting the branch's own "
			 "rows into its parent's graph", s->path, why);
		return -ESTALE;
	}
	return 0;
}

int cow_delta_loaded(struct rvf_store *s, size_t live0)
{
	size_t n = rvf_hnsw_count(s->h), live_new = 0;

	for (size_t i = (size_t)s->cow.parent_nodes; i < n; i++) {
		int dead = 1;
		rvf_hnsw_label_of(s->h, (uint32_t)i, NULL, &dead);
		live_new += !dead;
	}
	/* attach tombstoned every hidden parent id (the map is newest): the
	 * delta's tombstones among the parent's nodes must all be among those */
	if (rvf_hnsw_live_count(s->h) != live0 + live_new)
		return log_fail(-EUCLEAN, "%s: the branch's delta checkpoint hides %zd parent vectors its COW "
				"map does not", s->path, (ssize_t)(live0 + live_new) - (ssize_t)rvf_hnsw_live_count(s->h));
	return 0;
}
/* ---- COW: stats ------------------------------------------------------------------------ */

static int rvf_cow_none(const struct rvf_store *s)
{
	return log_fail(-ENOENT, "%s: not a COW branch", s->path);
}

bool rvf_store_is_cow_child(const struct rvf_store *s)
{
	return s && store_is_cow(s);
}

const char *rvf_store_parent_path(const struct rvf_store *s)
{
	return s && store_is_cow(s) ? s->cow.parent_path : NULL;
}

int rvf_store_cow_stats(const struct rvf_store *s, struct rvf_cow_stats *out)
{
	struct rvf_cow_stats r;

	if (!s || !out)
		return -EINVAL;
	if (!store_is_cow(s))
		return rvf_cow_none(s);
	memset(&r, 0, sizeof(r));
	r.cluster_count = (uint32_t)s->cow.nclusters;
	for (uint64_t i = 0; i < s->cow.nclusters; i++)
		r.local_cluster_count += (s->cow.local[i / 64] >> (i % 64)) & 1;
	r.cluster_size = s->cow.cluster_size;
	r.vectors_per_cluster = s->cow.vpc;
	r.frozen = s->hdr.flags & STORE_F_FROZEN;
	r.snapshot_epoch = s->cow.snapshot_epoch;
	r.pending_writes = 0;
	r.parent_vectors = s->cow.parent_live;
	r.hidden_parent_vectors = s->cow.nhidden;
	r.local_vectors = s->hdr.live;
	*out = r;
	return 0;
}
/* ---- COW: branch ----------------------------------------------------------------------- */

int rvf_store_branch(struct rvf_store *parent, const char *child_path, const struct rvf_store_opts *o,
		     struct rvf_store **child)
{
	struct rvf_store_opts co = { 0 };
	struct rvf_file_identity cid;
	struct rvf_lineage_record lin;
	struct freeze_rec rec;
	struct cow_state c;
	char *abs = NULL;
	void *buf = NULL;
	size_t len = 0;
	int err;

	if (!parent || !child_path || !*child_path)
		return -EINVAL;
	err = store_readable(parent);
	if (err)
		return err;
	if (parent->rust_view)
		return log_fail(-ENOTSUP, "%s: a Rust RVF file cannot be branched; import it first", parent->path);
	if (!(parent->hdr.flags & STORE_F_FROZEN)) {
		if (parent->readonly)
			return log_fail(-EROFS, "%s: branch: the parent is not frozen and is open read-only "
					"(freeze it first)", parent->path);
		err = rvf_store_freeze(parent);
		if (err)
			return err;
	}
	err = freeze_read(parent, &rec);
	if (err)
		return err;
	abs = realpath(parent->path, NULL);
	if (!abs)
		return log_fail(-errno, "%s: branch: cannot resolve the parent's path", parent->path);
	memset(&c, 0, sizeof(c));
	c.parent_path = abs;
	memcpy(c.parent_id, parent->hdr.identity.file_id, 16);
	memcpy(c.parent_hash, rec.state_hash, 32);
	c.snapshot_epoch = rec.epoch;
	c.parent_nodes = rvf_hnsw_count(parent->h);
	c.parent_live = view_live(parent);
	cow_geometry(parent->hdr.dimension, &c.cluster_size, &c.vpc);
	err = cow_map_encode(parent, &c, NULL, 0, NULL, &buf, &len);
	if (err)
		goto out;
	err = file_identity_derive(&parent->hdr.identity, rec.state_hash, &cid);
	if (!err)
		err = lineage_record_build(&cid, RVF_DERIVE_CLONE, 0, now_realtime_ns(), NULL, &lin);
	if (err)
		goto out;
	co = store_child_opts(parent, o);
	err = store_create_with(child_path, &co, &cid, &lin, STORE_F_COW, RVF_SEG_COW_MAP, buf, len, child);
out:
	free(buf);
	free(abs);
	return err;
}
