/*
 * store/store_refresh.c - moving a read-only handle to the newest commit
 * (rvf_store_refresh) and asking cheaply whether there is one
 * (rvf_store_changed), for a long-lived reader such as rvfd.
 *
 *   peek the root slots ---- no newer sound root -------------------> 0
 *        |
 *   open the newest snapshot in a second dir handle; the handle's own
 *   dir keeps the old snapshot pinned and readable meanwhile
 *        |
 *   incremental? the store header is the same apart from the counters
 *   and the next id, the checkpoint is the same (ckpt_seg_id and
 *   ckpt_count), every old segment is still there with the same type,
 *   length and content hash, and every new store-owned segment is newer
 *   than every old segment
 *        | yes                                   | no (compaction, new
 *   read + verify every new segment              | checkpoint, other params)
 *   (failure: close it, nothing changed)         |
 *        |                                       |
 *   apply them in id order with the open         |
 *   path's catch-up (store_replay_apply),        |
 *   check the counters against the new header    |
 *   (failure: memory is torn -> rebuild) ------->+
 *        |                                  rebuild: open the snapshot as a
 *   adopt the header, swap the dirs        fresh read-only store (the open
 *   (the old pin goes) ----------------> 1  path) and swap its state in -> 1
 *                                           (failure: nothing changed; if
 *                                           memory was torn, STALE)
 *
 * Invariants
 *   1. The handle's dir and its memory describe the same commit, except in
 *      STALE, where memory is no commit at all: every read then fails with
 *      -ESTALE (store_readable) until a refresh rebuilds it.
 *   2. A refresh that fails without tearing memory leaves the handle exactly
 *      as it was (same dir, same snapshot, same answers).
 *   3. After an incremental refresh the in-memory state is what an open of
 *      the same snapshot builds: the same checkpoint loaded, then the same
 *      segments replayed in the same order by the same code. (The graph is
 *      identical when inserts are deterministic, i.e. one build thread.)
 *
 * Why a second dir handle instead of rvf_dir_refresh on the handle's own:
 * a catch-up that fails while reading must leave the handle on its
 * previous snapshot, and rvf_dir_refresh cannot go back. The extra open
 * costs tens of microseconds next to the catch-up itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/store_internal.h"

static bool owned(uint8_t t)
{
	return t == RVF_SEG_VEC || t == RVF_SEG_META || t == RVF_SEG_JOURNAL;
}

/* NULL when memory at header a can catch up to header b by replay alone. */
static const char *hdr_blocks_catchup(const struct store_hdr *a, const struct store_hdr *b)
{
	if (a->dimension != b->dimension || a->metric != b->metric || a->M != b->M ||
	    a->ef_construction != b->ef_construction || a->seed != b->seed || a->quant != b->quant)
		return "the index parameters changed";
	if (a->profile != b->profile || a->flags != b->flags ||
	    a->import_max_seg_id != b->import_max_seg_id ||
	    memcmp(&a->identity, &b->identity, sizeof(a->identity)) ||
	    memcmp(&a->lineage, &b->lineage, sizeof(a->lineage)))
		return "the store's identity changed";
	if (a->ckpt_seg_id != b->ckpt_seg_id || a->ckpt_count != b->ckpt_count)
		return "a new graph checkpoint replaced the graph";
	return NULL;
}

static bool same_segment(const struct rvf_dir_segment *a, const struct rvf_dir_segment *b)
{
	return a->id == b->id && a->type == b->type && a->flags == b->flags &&
	       a->payload_len == b->payload_len && !memcmp(a->content_hash, b->content_hash, 16);
}

/*
 * The segments of the new list (nw, sorted) that the old one (od, sorted)
 * lacks, into *add (owned), or a reason why replaying them cannot give
 * the new state.
 */
static const char *diff_segments(const struct rvf_dir_segment *od, size_t no,
				 const struct rvf_dir_segment *nw, size_t nn, uint64_t next_seg_id,
				 struct rvf_dir_segment **add, size_t *nadd, int *err)
{
	uint64_t old_max = no ? od[no - 1].id : 0;
	size_t i = 0, j = 0, k = 0;

	*add = malloc((nn ? nn : 1) * sizeof(**add));
	if (!*add) {
		*err = -ENOMEM;
		return NULL;
	}
	while (i < no || j < nn) {
		if (i < no && (j == nn || od[i].id < nw[j].id))
			return "a segment was removed";
		if (i < no && od[i].id == nw[j].id) {
			if (!same_segment(&od[i], &nw[j]))
				return "a segment was rewritten";
			i++;
			j++;
			continue;
		}
		/* new in the snapshot: replay order is id order, so a store-owned
		 * one must come after everything replayed so far */
		if (owned(nw[j].type) && (nw[j].id <= old_max || nw[j].id >= next_seg_id))
			return "a new segment is out of order";
		if (nw[j].type == RVF_SEG_MEMBERSHIP || nw[j].type == RVF_SEG_COW_MAP)
			return "the membership filter or COW map changed";
		(*add)[k++] = nw[j++];
	}
	*nadd = k;
	return NULL;
}

/*
 * Catch up from the handle's snapshot to nd's (header nh). 0 done; 1 not
 * incremental (nothing changed, rebuild instead); -errno failed, with *torn
 * telling whether memory had started to change.
 */
static int catch_up(struct rvf_store *s, struct rvf_dir *nd, const struct store_hdr *nh, bool *torn)
{
	struct rvf_dir_segment *od = NULL, *nw = NULL, *add = NULL;
	size_t no = 0, nn = 0, nadd = 0, i;
	void **bufs = NULL;
	size_t *lens = NULL;
	const char *why = hdr_blocks_catchup(&s->hdr, nh);
	int err = 0;

	*torn = false;
	if (why)
		goto not_incremental;
	err = rvf_dir_segments(s->dir, &od, &no);
	if (!err)
		err = rvf_dir_segments(nd, &nw, &nn);
	if (!err)
		why = diff_segments(od, no, nw, nn, nh->next_seg_id, &add, &nadd, &err);
	if (err)
		goto out;
	if (why)
		goto not_incremental;

	/* read everything first: an unreadable segment changes nothing */
	bufs = calloc(nadd ? nadd : 1, sizeof(*bufs));
	lens = calloc(nadd ? nadd : 1, sizeof(*lens));
	if (!bufs || !lens) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nadd && !err; i++)
		if (owned(add[i].type))
			err = store_replay_read(s, nd, &add[i], &bufs[i], &lens[i]);
	if (err)
		goto out;

	/* from here on memory changes: any failure leaves it torn */
	*torn = true;
	for (i = 0; i < nadd && !err; i++) {
		struct sseg g = { .id = add[i].id, .type = add[i].type, .flags = add[i].flags,
				  .payload_len = add[i].payload_len,
				  .disk_bytes = store_disk_bytes(s, add[i].payload_len) };
		err = segtab_add(&s->segs, &g);
	}
	for (i = 0; i < nadd && !err; i++)
		if (owned(add[i].type))
			err = store_replay_apply(s, &add[i], bufs[i], lens[i], true);
	if (!err)
		err = store_check_counters(s, nh);
	if (!err)
		err = member_sync(s);
	if (err)
		goto out;
	/* the new header, with the counters replay computed (equal) and the
	 * next id past any segment a tool added, as open does */
	uint64_t live = s->hdr.live, deleted = s->hdr.deleted;
	s->hdr = *nh;
	s->hdr.live = live;
	s->hdr.deleted = deleted;
	for (i = 0; i < nn; i++)
		if (nw[i].id >= s->hdr.next_seg_id)
			s->hdr.next_seg_id = nw[i].id + 1;
	*torn = false;
	goto out;
not_incremental:
	log_info("%s: refresh rebuilds the in-memory state: %s", s->path, why);
	err = 1;
out:
	for (i = 0; bufs && i < nadd; i++)
		free(bufs[i]);
	free(bufs);
	free(lens);
	free(add);
	free(nw);
	free(od);
	return err;
}

#define SWAP(a, b) do { __typeof__(a) t_ = (a); (a) = (b); (b) = t_; } while (0)

/* Give s the state of n (a fresh handle on the same file) and n the old
 * state of s, to be freed with it. The filter cache stays (its entries go
 * stale with the version); run-time options and counters of s stay. */
static void swap_state(struct rvf_store *s, struct rvf_store *n)
{
	SWAP(s->dir, n->dir);
	SWAP(s->hdr, n->hdr);
	SWAP(s->h, n->h);
	SWAP(s->ms, n->ms);
	SWAP(s->map, n->map);
	SWAP(s->segs, n->segs);
	SWAP(s->pending_vecs, n->pending_vecs);
	SWAP(s->pending_dels, n->pending_dels);
	SWAP(s->ckpt_bytes, n->ckpt_bytes);
	SWAP(s->ckpt_bad, n->ckpt_bad);
	SWAP(s->mem, n->mem);
	SWAP(s->cow, n->cow);
	s->stats.ckpt_loaded = n->stats.ckpt_loaded;
	s->stats.ckpt_nodes_loaded = n->stats.ckpt_nodes_loaded;
	s->stats.catchup_vectors = n->stats.catchup_vectors;
	s->stats.catchup_deletes = n->stats.catchup_deletes;
	s->stats.open_replay_ns = n->stats.open_replay_ns;
	s->stats.open_graph_ns = n->stats.open_graph_ns;
	s->stats.open_catchup_ns = n->stats.open_catchup_ns;
	store_version_bump(s);
}

/* The open path on the newest snapshot, swapped in on success. */
static int rebuild(struct rvf_store *s)
{
	struct rvf_store_opts o = {
		.threads = s->threads,
		.write_timeout_ms = s->dopt.write_timeout_ms,
		.io = s->dopt.io,
		.checkpoint_every = s->ckpt_every,
	};
	struct rvf_store *n = NULL;
	int err = store_open_native(s->path, &o, true, &n);

	if (err)
		return log_fail(err, "%s: refresh: reopening the newest snapshot failed: %s", s->path,
				rvf_strerror(err));
	if (memcmp(rvf_dir_uuid(n->dir), rvf_dir_uuid(s->dir), 16)) {
		store_free_handle(n);
		return log_fail(-ESTALE, "%s: the path now names a different store; open it anew", s->path);
	}
	swap_state(s, n);
	store_free_handle(n);
	s->stale = 0;
	s->refused_seq = 0;
	s->stats.refresh_rebuilds++;
	return 0;
}

int rvf_store_refresh(struct rvf_store *s)
{
	struct rvf_dir *nd = NULL;
	struct store_hdr nh;
	void *um = NULL;
	size_t umlen = 0;
	uint64_t seq, t0 = now_mono_ns();
	bool torn = false;
	int err;

	if (!s)
		return -EINVAL;
	if (!s->readonly)
		return 0;      /* the writer lock is held for life: no one else commits */
	if (s->rust_view)
		return log_fail(-ENOTSUP, "%s: a Rust RVF file is read through an in-memory import; "
				"open it again to see changes", s->path);
	if (s->stale)
		goto rebuild;
	err = rvf_dir_peek_generation(s->dir, &seq);
	if (err)
		return log_fail(err, "%s: refresh: cannot read the root slots: %s", s->path, rvf_strerror(err));
	if (seq <= rvf_dir_generation(s->dir) || seq == s->refused_seq)
		return 0;
	err = rvf_dir_open_readonly(s->path, &s->dopt, &nd);
	if (err)
		return err;
	if (memcmp(rvf_dir_uuid(nd), rvf_dir_uuid(s->dir), 16)) {
		err = log_fail(-ESTALE, "%s: the path now names a different store; open it anew", s->path);
		goto out;
	}
	if (rvf_dir_generation(nd) <= rvf_dir_generation(s->dir)) {
		/* the newest root names a snapshot that does not load (the open
		 * fell back to an older root): stay, and stop reporting it */
		log_warn("%s: commit %llu cannot be loaded; staying at %llu", s->path,
			 (unsigned long long)seq, (unsigned long long)rvf_dir_generation(s->dir));
		s->refused_seq = seq;
		err = 0;
		goto out;
	}
	err = rvf_dir_user_metadata(nd, &um, &umlen);
	if (!err)
		err = store_hdr_decode(s->path, um, umlen, &nh);
	free(um);
	if (err)
		goto out;
	err = catch_up(s, nd, &nh, &torn);
	if (err == 0) {
		SWAP(s->dir, nd);
		store_version_bump(s);
		s->stats.refresh_catchups++;
		err = 1;
		goto out;
	}
	if (err < 0 && !torn)
		goto out;
	rvf_dir_close(nd);
	nd = NULL;
	if (torn)
		log_warn("%s: refresh: catching up failed half-way (%s); rebuilding from the snapshot",
			 s->path, rvf_strerror(err));
rebuild:
	err = rebuild(s);
	if (err) {
		if (torn || s->stale) {
			s->stale = err;
			log_error("%s: refresh failed with the in-memory state half-updated; reads fail "
				  "with -ESTALE until a refresh succeeds", s->path);
		}
		goto out;
	}
	err = 1;
out:
	rvf_dir_close(nd);
	if (err == 1)
		s->stats.refresh_ns = now_mono_ns() - t0;
	return err;
}

int rvf_store_changed(const struct rvf_store *s, bool *changed)
{
	uint64_t seq;
	int err;

	if (!s || !changed)
		return -EINVAL;
	if (!s->readonly || s->rust_view) {
		*changed = false;
		return 0;
	}
	if (s->stale) {
		*changed = true;
		return 0;
	}
	err = rvf_dir_peek_generation(s->dir, &seq);
	if (err)
		return err;
	*changed = seq > rvf_dir_generation(s->dir) && seq != s->refused_seq;
	return 0;
}
