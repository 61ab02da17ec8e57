/*
 * test_store_cow.c - copy-on-write branches. A branch is checked against a
 * full copy: a plain store that receives the parent's operations and then
 * the child's (store_cow_model.h). Exact search must agree exactly (ids and
 * distances); graph search by recall against the copy's exact answer.
 * Branch errors (parent missing, changed, unfrozen), chains of three,
 * compaction (parent reference kept) and flatten, crashes during child
 * writes (crashsim: nothing acknowledged lost), and the branch's delta
 * checkpoint (the writer's graph back, the re-insert fallback's answers,
 * damaged and stale deltas). Freeze and membership: test_store_member.c.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "index/hnsw_internal.h"
#include "crashsim.h"
#include "store_cow_model.h"
#include "store/store_peek.h"

/* ---- branches ------------------------------------------------------------------------------ */

static void branch_answers_as_a_full_copy_across_reopen(void **state)
{
	struct fx *f = *state;
	char *pp = P(f, "p.rvf"), *cp = P(f, "copy.rvf"), *ch = P(f, "c.rvf");
	struct rvf_store *p, *copy, *c;
	struct model m = { 0 };
	struct tu_rng r;
	struct rvf_cow_stats cs;
	int hits = 0, tot = 0;

	tu_rng_init(&r, seed + 1);
	make_parent(pp, cp, &r, &m, &p, &copy, 40);
	assert_int_equal(rvf_store_branch(p, ch, NULL, &c), 0);   /* freezes p */
	assert_true(rvf_store_is_frozen(p));
	assert_true(rvf_store_is_cow_child(c));
	assert_false(rvf_store_is_cow_child(p));
	char *real = realpath(pp, NULL);
	assert_string_equal(rvf_store_parent_path(c), real);
	free(real);
	assert_int_equal(rvf_store_cow_stats(c, &cs), 0);
	assert_int_equal(cs.local_cluster_count, 0);
	assert_int_equal(cs.pending_writes, 0);
	assert_true(cs.cluster_count >= 1);
	assert_int_equal(cs.cluster_size & (cs.cluster_size - 1), 0);
	assert_int_equal(rvf_store_cow_stats(p, &cs), -ENOENT);
	/* lineage */
	uint8_t pid[16], cpid[16], h[32];
	struct rvf_file_identity ci;
	rvf_store_file_id(p, pid);
	rvf_store_parent_id(c, cpid);
	assert_memory_equal(pid, cpid, 16);
	assert_int_equal(rvf_store_lineage_depth(c), rvf_store_lineage_depth(p) + 1);
	assert_int_equal(rvf_store_state_hash(p, h), 0);
	assert_int_equal(rvf_store_file_identity(c, &ci), 0);
	assert_memory_equal(ci.parent_hash, h, 32);
	check_equal(c, copy, &hits, &tot);
	for (int i = 0; i < 40; i++) {
		random_op(&r, c, &m, copy);
		if (i % 10 == 9)
			check_equal(c, copy, &hits, &tot);
	}
	assert_int_equal(rvf_store_cow_stats(c, &cs), 0);
	assert_true(cs.local_cluster_count > 0);
	assert_true(cs.hidden_parent_vectors > 0);
	/* reopen both (child writable, then read-only) */
	assert_int_equal(rvf_store_close(c), 0);
	assert_int_equal(rvf_store_close(p), 0);
	assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
	check_equal(c, copy, &hits, &tot);
	struct rvf_cow_stats cs2;
	assert_int_equal(rvf_store_cow_stats(c, &cs2), 0);
	assert_memory_equal(&cs, &cs2, sizeof(cs));     /* persisted, not recomputed */
	rvf_store_close(c);
	assert_int_equal(rvf_store_open_readonly(ch, NULL, &c), 0);
	check_equal(c, copy, &hits, &tot);
	rvf_store_close(c);
	/* the parent is untouched by all of it */
	assert_int_equal(rvf_store_open_readonly(pp, NULL, &p), 0);
	uint8_t h2[32];
	assert_int_equal(rvf_store_state_hash(p, h2), 0);
	assert_memory_equal(h, h2, 32);
	rvf_store_close(p);
	printf("info: branch graph recall vs full copy exact: %.3f (%d/%d)\n", (double)hits / tot, hits, tot);
	assert_true(hits * 100 >= tot * 95);
	rvf_store_close(copy);
	free(pp);
	free(cp);
	free(ch);
}

static void branch_membership_equals_brute_force(void **state)
{
	struct fx *f = *state;
	char *pp = P(f, "p.rvf"), *cp = P(f, "copy.rvf"), *ch = P(f, "c.rvf");
	struct rvf_store *p, *copy, *c;
	struct model m = { 0 };
	struct tu_rng r;
	struct rvf_membership_info mi;
	uint64_t mem[40];

	tu_rng_init(&r, seed + 2);
	make_parent(pp, cp, &r, &m, &p, &copy, 30);
	for (int i = 0; i < 40; i++)
		mem[i] = tu_rng_below(&r, NID);
	assert_int_equal(rvf_store_set_membership(p, RVF_MEMBERSHIP_EXCLUDE, mem, 40), 0);
	assert_int_equal(rvf_store_branch(p, ch, NULL, &c), 0);
	/* inherited from the parent */
	assert_int_equal(rvf_store_membership_filter(c, &mi), 0);
	assert_true(mi.inherited);
	membership_matches_brute(c, &m, mem, 40, false);
	for (int i = 0; i < 10; i++)
		random_op(&r, c, &m, NULL);
	membership_matches_brute(c, &m, mem, 40, false);
	assert_int_equal(rvf_store_set_membership(c, RVF_MEMBERSHIP_INCLUDE, mem, 20), 0);
	membership_matches_brute(c, &m, mem, 20, true);
	assert_int_equal(rvf_store_close(c), 0);
	assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
	membership_matches_brute(c, &m, mem, 20, true);
	assert_int_equal(rvf_store_clear_membership(c), 0);   /* the parent's no longer applies */
	membership_matches_brute(c, &m, NULL, 0, false);
	rvf_store_close(c);
	rvf_store_close(p);
	rvf_store_close(copy);
	free(pp);
	free(cp);
	free(ch);
}

static void branch_open_fails_clearly_when_parent_missing_changed_or_unfrozen(void **state)
{
	struct fx *f = *state;
	char *pp = P(f, "p.rvf"), *cp = P(f, "copy.rvf"), *ch = P(f, "c.rvf"), *moved = P(f, "moved.rvf"),
	     *moved2 = P(f, "pristine.rvf");
	struct rvf_store *p, *copy, *c = NULL, *x = NULL;
	struct model m = { 0 };
	struct tu_rng r;

	tu_rng_init(&r, seed + 3);
	make_parent(pp, cp, &r, &m, &p, &copy, 10);
	rvf_store_close(copy);
	/* a read-only, unfrozen parent cannot be branched */
	rvf_store_close(p);
	assert_int_equal(rvf_store_open_readonly(pp, NULL, &p), 0);
	assert_int_equal(rvf_store_branch(p, ch, NULL, &c), -EROFS);
	rvf_store_close(p);
	assert_int_equal(rvf_store_open(pp, NULL, &p), 0);
	assert_int_equal(rvf_store_freeze(p), 0);
	assert_int_equal(rvf_store_branch(p, ch, NULL, NULL), 0);    /* file only */
	assert_int_equal(rvf_store_branch(p, ch, NULL, NULL), -EEXIST);
	rvf_store_close(p);
	assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
	rvf_store_close(c);
	/* missing */
	assert_int_equal(rename(pp, moved), 0);
	assert_int_equal(rvf_store_open(ch, NULL, &c), -ENOENT);
	assert_int_equal(rvf_store_open_readonly(ch, NULL, &c), -ENOENT);
	assert_int_equal(rename(moved, pp), 0);
	/* changed: a segment added behind the store's back (a frozen store
	 * refuses every write of its own); a pristine copy kept for later */
	{
		size_t len;
		void *bytes = tu_slurp(pp, &len);
		tu_spit(moved2, bytes, len);
		free(bytes);
	}
	assert_int_equal(rvf_store_open(pp, NULL, &p), 0);
	struct rvf_dir *d = rvf_store_dir(p);
	assert_int_equal(rvf_dir_write_segment(d, 1000, 0x7e, "x", 1), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_store_close(p);
	assert_int_equal(rvf_store_open(ch, NULL, &c), -ESTALE);
	/* another store at the parent's path */
	unlink(pp);
	struct rvf_store_opts o = opts();
	assert_int_equal(rvf_store_create(pp, &o, &x), 0);
	assert_int_equal(rvf_store_freeze(x), 0);
	rvf_store_close(x);
	assert_int_equal(rvf_store_open(ch, NULL, &c), -ESTALE);
	/* unfrozen: the real parent back, its frozen flag cleared behind the
	 * store's back (the API never unfreezes) */
	unlink(pp);
	assert_int_equal(rename(moved2, pp), 0);
	assert_int_equal(rvf_store_open(ch, NULL, &c), 0);     /* intact again */
	rvf_store_close(c);
	assert_int_equal(rvf_store_open(pp, NULL, &p), 0);
	{
		struct store_hdr hd;
		void *um;
		size_t ul;
		assert_int_equal(rvf_dir_user_metadata(rvf_store_dir(p), &um, &ul), 0);
		assert_int_equal(ul, sizeof(hd));
		memcpy(&hd, um, sizeof(hd));
		free(um);
		hd.flags &= ~(uint64_t)STORE_F_FROZEN;
		hd.frozen_epoch = 0;
		hd.hash = XXH3_64bits(&hd, offsetof(struct store_hdr, hash));
		assert_int_equal(rvf_dir_set_user_metadata(rvf_store_dir(p), &hd, sizeof(hd)), 0);
		assert_int_equal(rvf_dir_commit(rvf_store_dir(p)), 0);
	}
	rvf_store_close(p);
	assert_int_equal(rvf_store_open(ch, NULL, &c), -ESTALE);
	free(pp);
	free(cp);
	free(ch);
	free(moved);
	free(moved2);
}

static void three_level_chain_records_lineage_and_equals_a_full_copy(void **state)
{
	struct fx *f = *state;
	char *paths[4], name[32];
	struct rvf_store *s[4], *copy;
	char *cp = P(f, "copy.rvf");
	struct model m = { 0 };
	struct tu_rng r;
	int hits = 0, tot = 0;

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "l%d.rvf", i);
		paths[i] = P(f, name);
	}
	tu_rng_init(&r, seed + 4);
	make_parent(paths[0], cp, &r, &m, &s[0], &copy, 25);
	for (int lvl = 1; lvl < 4; lvl++) {
		assert_int_equal(rvf_store_branch(s[lvl - 1], paths[lvl], NULL, &s[lvl]), 0);
		assert_int_equal(rvf_store_lineage_depth(s[lvl]), (uint32_t)lvl);
		assert_string_equal(strrchr(rvf_store_parent_path(s[lvl]), '/') + 1,
				    strrchr(paths[lvl - 1], '/') + 1);
		for (int i = 0; i < 12; i++)
			random_op(&r, s[lvl], &m, copy);
		check_equal(s[lvl], copy, &hits, &tot);
	}
	for (int i = 3; i >= 0; i--)
		assert_int_equal(rvf_store_close(s[i]), 0);
	assert_int_equal(rvf_store_open_readonly(paths[3], NULL, &s[3]), 0);
	check_equal(s[3], copy, &hits, &tot);
	rvf_store_close(s[3]);
	assert_true(hits * 100 >= tot * 95);
	rvf_store_close(copy);
	for (int i = 0; i < 4; i++)
		free(paths[i]);
	free(cp);
}

static void compact_keeps_the_parent_reference_and_flatten_makes_it_standalone(void **state)
{
	struct fx *f = *state;
	char *pp = P(f, "p.rvf"), *cp = P(f, "copy.rvf"), *ch = P(f, "c.rvf");
	struct rvf_store *p, *copy, *c;
	struct model m = { 0 };
	struct tu_rng r;
	struct rvf_compact_result cr;
	int hits = 0, tot = 0;

	tu_rng_init(&r, seed + 5);
	make_parent(pp, cp, &r, &m, &p, &copy, 30);
	assert_int_equal(rvf_store_branch(p, ch, NULL, &c), 0);
	rvf_store_close(p);
	for (int i = 0; i < 30; i++)
		random_op(&r, c, &m, copy);
	assert_int_equal(rvf_store_compact(c, &cr), 0);
	assert_true(rvf_store_is_cow_child(c));
	check_equal(c, copy, &hits, &tot);
	rvf_store_close(c);
	assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
	assert_true(rvf_store_is_cow_child(c));
	check_equal(c, copy, &hits, &tot);
	/* flatten: the parent is no longer needed */
	assert_int_equal(rvf_store_compact_flags(c, RVF_COMPACT_FLATTEN, &cr), 0);
	assert_false(rvf_store_is_cow_child(c));
	assert_null(rvf_store_parent_path(c));
	check_equal(c, copy, &hits, &tot);
	rvf_store_close(c);
	unlink(pp);
	assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
	check_equal(c, copy, &hits, &tot);
	for (int i = 0; i < 5; i++)
		random_op(&r, c, &m, copy);
	check_equal(c, copy, &hits, &tot);
	rvf_store_close(c);
	rvf_store_close(copy);
	free(pp);
	free(cp);
	free(ch);
}

/* ---- crashes during child writes ------------------------------------------------------ */

#define CRASH_OPS 8

static void crash_during_child_writes_loses_nothing_committed(void **state)
{
	struct fx *f = *state;
	char *pp = P(f, "p.rvf"), *ch = P(f, "c.rvf"), *cp = P(f, "copy.rvf");
	struct rvf_store *p, *copy, *c;
	static struct model before, models[CRASH_OPS + 2];
	struct tu_rng r;
	uint64_t points = 0;

	tu_rng_init(&r, seed + 6);
	make_parent(pp, cp, &r, &before, &p, &copy, 15);
	rvf_store_close(copy);
	assert_int_equal(rvf_store_freeze(p), 0);
	rvf_store_close(p);
	for (uint64_t at = 1;; at++) {
		struct crashsim cs = { .crash_at = at, .seed = seed + at };
		struct tu_rng wr;
		int acked = 0;
		unlink(ch);
		assert_int_equal(rvf_store_open_readonly(pp, NULL, &p), 0);
		assert_int_equal(rvf_store_branch(p, ch, NULL, NULL), 0);
		rvf_store_close(p);
		models[0] = before;
		tu_rng_init(&wr, seed + 7);
		crashsim_install(&cs);
		assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
		for (int i = 0; i < CRASH_OPS; i++) {
			struct model next = models[i];
			size_t n = 1 + tu_rng_below(&wr, 6);
			uint64_t ids[8], vs[8];
			bool meta[8];
			struct rvf_vector v[8];
			float rows[8 * DIM];
			int rc;
			for (size_t j = 0; j < n; j++) {
				ids[j] = tu_rng_below(&wr, NID);
				vs[j] = tu_rng_next(&wr);
				meta[j] = false;
			}
			if (i % 3 == 2) {
				for (size_t j = 0; j < n; j++)
					next.it[ids[j]].live = false;
				rc = rvf_store_delete(c, ids, n, NULL);
			} else {
				for (size_t j = 0; j < n; j++) {
					vec_of(vs[j], rows + j * DIM);
					v[j] = (struct rvf_vector){ .id = ids[j], .values = rows + j * DIM, .dim = DIM };
					next.it[ids[j]] = (struct item){ true, vs[j], meta[j], 0 };
				}
				rc = rvf_store_ingest_batch(c, v, n, NULL);
			}
			models[i + 1] = next;
			if (rc)
				break;
			acked = i + 1;
			/* the branch's delta checkpoint is written mid-way too */
			if (i % 3 == 1 && store_checkpoint(c))
				break;
		}
		crashsim_uninstall();
		bool crashed = cs.crashed;
		rvf_store_close(c);
		if (!crashed)
			break;
		points++;
		/* the child is exactly as after `acked` ops, or the one in flight */
		assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
		assert_int_equal(rvf_store_verify(c), 0);
		assert_int_equal(rvf_hnsw_check(c->h), 0);
		uint64_t *ids;
		size_t n;
		assert_int_equal(rvf_store_live_ids(c, &ids, &n), 0);
		int match = -1;
		for (int cand = acked; cand <= acked + 1 && cand <= CRASH_OPS && match < 0; cand++) {
			const struct model *mm = &models[cand];
			size_t k = 0;
			bool ok = true;
			for (uint64_t id = 0; id < NID && ok; id++) {
				if (!mm->it[id].live)
					continue;
				float want[DIM], got[DIM];
				vec_of(mm->it[id].vs, want);
				ok = k < n && ids[k] == id && !rvf_store_get_vector(c, id, got, DIM) &&
				     !memcmp(got, want, sizeof(got));
				k++;
			}
			if (ok && k == n)
				match = cand;
		}
		free(ids);
		assert_true(match >= 0);
		rvf_store_close(c);
	}
	printf("crash points: %llu (child writes)\n", (unsigned long long)points);
	assert_true(points > 10);
	free(pp);
	free(ch);
	free(cp);
}


/* ---- the branch's delta checkpoint --------------------------------------------------------- */

/* The graph's bytes (rvf_hnsw_save without live vectors). */
static void graph_bytes(const struct rvf_store *s, void **b, size_t *l)
{
	assert_int_equal(rvf_hnsw_check(s->h), 0);
	assert_int_equal(rvf_hnsw_save(s->h, 0, b, l), 0);
}

/* Graph (not exact) search on a and b gives the same ids and distances. */
static void same_graph_results(struct rvf_store *a, struct rvf_store *b)
{
	for (uint64_t qi = 0; qi < 24; qi++) {
		float q[DIM];
		struct rvf_result ra[K], rb[K];
		struct rvf_query_opts qo = { .ef_search = 2 * NID };
		vec_of(seed * 5 + qi, q);
		int na = rvf_store_query(a, q, DIM, K, &qo, ra);
		int nb = rvf_store_query(b, q, DIM, K, &qo, rb);
		assert_int_equal(na, nb);
		for (int i = 0; i < na; i++) {
			assert_int_equal(ra[i].id, rb[i].id);
			assert_true(ra[i].distance == rb[i].distance);
		}
	}
}

static struct store_stats open_stats(const char *path, bool readonly, struct rvf_store **out)
{
	struct store_stats st;
	struct rvf_store_opts o = { .threads = 1 };     /* inserts are deterministic */

	if (readonly)
		assert_int_equal(rvf_store_open_readonly(path, &o, out), 0);
	else
		assert_int_equal(rvf_store_open(path, &o, out), 0);
	store_stats(*out, &st);
	return st;
}

/* Close without the checkpoint close would write. */
static void close_no_ckpt(struct rvf_store *s)
{
	s->pending_vecs = s->pending_dels = 0;
	assert_int_equal(rvf_store_close(s), 0);
}

/* Rewrite the branch's checkpoint: edit(payload, tie offset) then commit. */
static void edit_ckpt(const char *path, void (*edit)(uint8_t *buf, size_t len, size_t tie))
{
	struct rvf_store *s;
	struct ckpt_hdr ck;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(rvf_store_open(path, NULL, &s), 0);
	assert_int_equal(rvf_dir_read_vector_index(s->dir, CKPT_FIELD, (void **)&buf, &len), 0);
	assert_int_equal(ckpt_frame_check(buf, len, s->hdr.ckpt_seg_id, &ck), 0);
	assert_true(ck.flags & CKPT_F_DELTA);
	edit(buf, len, CKPT_HDR + ck.nsegs * sizeof(struct ckpt_seg) + ck.nlocs * sizeof(struct loc));
	assert_int_equal(rvf_dir_write_vector_index(s->dir, CKPT_FIELD, buf, len), 0);
	assert_int_equal(store_commit(s, "test: edit the checkpoint"), 0);
	free(buf);
	close_no_ckpt(s);
}

/* The tie's check, as store_cow.c computes it. */
static void tie_reseal(uint8_t *buf, size_t tie)
{
	struct cow_tie t;
	XXH3_state_t *st = XXH3_createState();

	memcpy(&t, buf + tie, sizeof(t));
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, buf + CKPT_HDR, tie - CKPT_HDR);
	XXH3_64bits_update(st, &t, offsetof(struct cow_tie, check));
	t.check = XXH3_64bits_digest(st) | 1;
	XXH3_freeState(st);
	memcpy(buf + tie, &t, sizeof(t));
}

static void flip_blob(uint8_t *buf, size_t len, size_t tie)
{
	buf[tie + COW_TIE + (len - tie - COW_TIE) / 2] ^= 0x40;
}

static void flip_tie(uint8_t *buf, size_t len, size_t tie)
{
	(void)len;
	buf[tie + offsetof(struct cow_tie, generation)] ^= 1;    /* check no longer matches */
}

static void stale_fp(uint8_t *buf, size_t len, size_t tie)
{
	(void)len;
	buf[tie + offsetof(struct cow_tie, base_fp)] ^= 1;
	tie_reseal(buf, tie);
}

static void stale_gen(uint8_t *buf, size_t len, size_t tie)
{
	(void)len;
	buf[tie + offsetof(struct cow_tie, generation) + 2] ^= 1;      /* +65536 */
	tie_reseal(buf, tie);
}

/* The delta blob lies under a valid checksum (its entry point is past its
 * nodes, offsets from hnsw_io.c's table): only the delta's own checks can
 * catch it. */
static void lying_blob(uint8_t *buf, size_t len, size_t tie)
{
	uint8_t *b = buf + tie + COW_TIE;
	size_t bl = len - tie - COW_TIE;
	uint64_t count, sum;
	uint32_t entry;

	memcpy(&count, b + 48, 8);
	entry = (uint32_t)count;
	memcpy(b + 64, &entry, 4);
	sum = XXH3_64bits(b, bl - 8);
	memcpy(b + bl - 8, &sum, 8);
}

static void branch_delta_checkpoint_equals_reinsert_and_a_full_copy(void **state)
{
	struct fx *f = *state;
	char *pp = P(f, "p.rvf"), *cp = P(f, "copy.rvf"), *ch = P(f, "c.rvf");
	struct rvf_store *p, *copy, *c, *fb;
	struct model m = { 0 };
	struct tu_rng r;
	struct store_stats st;
	int hits = 0, tot = 0;
	void *ga, *gb;
	size_t la, lb;

	tu_rng_init(&r, seed + 11);
	make_parent(pp, cp, &r, &m, &p, &copy, 40);
	struct rvf_store_opts one = { .threads = 1 };
	assert_int_equal(rvf_store_branch(p, ch, &one, &c), 0);
	rvf_store_close(p);
	for (int i = 0; i < 30; i++)
		random_op(&r, c, &m, copy);
	/* (a single-row insert may leave a node unreachable until a later
	 * repair; applying a delta repairs: do it first, so the bytes compare) */
	assert_int_equal(hnsw_repair_reachability(c->h), 0);
	assert_int_equal(store_checkpoint(c), 0);
	graph_bytes(c, &ga, &la);
	close_no_ckpt(c);
	/* open = attach + the delta: the graph the writer had, byte for byte */
	for (int ro = 0; ro < 2; ro++) {
		st = open_stats(ch, ro, &c);
		assert_int_equal(st.ckpt_loaded, 1);
		assert_int_equal(st.catchup_vectors, 0);      /* none of its rows re-inserted */
		graph_bytes(c, &gb, &lb);
		assert_int_equal(la, lb);
		assert_memory_equal(ga, gb, la);
		free(gb);
		check_equal(c, copy, &hits, &tot);
		if (ro)
			rvf_store_close(c);
		else
			close_no_ckpt(c);
	}
	/* more writes after it: open applies the delta, then replays only those */
	st = open_stats(ch, false, &c);
	for (int i = 0; i < 8; i++)
		random_op(&r, c, &m, copy);
	close_no_ckpt(c);
	for (int ro = 1; ro >= 0; ro--) {
		st = open_stats(ch, ro, &c);
		assert_int_equal(st.ckpt_loaded, 1);
		assert_true(st.catchup_vectors > 0 && st.catchup_vectors <= 8 * 32);
		check_equal(c, copy, &hits, &tot);
		/* the same answers as re-inserting all of the branch's rows (the
		 * forced fallback; its graph is built another way, so ef covers
		 * every node: both searches must then agree with each other) */
		setenv("RVF_COW_DELTA", "0", 1);
		st = open_stats(ch, true, &fb);
		unsetenv("RVF_COW_DELTA");
		assert_int_equal(st.ckpt_loaded, 0);
		assert_true(st.catchup_vectors > 8 * 32);
		check_equal(fb, copy, &hits, &tot);
		same_graph_results(c, fb);
		rvf_store_close(fb);
		if (ro)
			rvf_store_close(c);
		else
			assert_int_equal(rvf_store_close(c), 0);   /* writes a delta covering all */
	}
	st = open_stats(ch, true, &c);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.catchup_vectors, 0);
	check_equal(c, copy, &hits, &tot);
	rvf_store_close(c);

	/* a damaged delta (blob, tie, or a blob whose content lies under a
	 * valid checksum): open starts over without it, answers the same, and a
	 * writable open writes a fresh one */
	void (*damage[])(uint8_t *, size_t, size_t) = { flip_blob, flip_tie, lying_blob };
	for (size_t k = 0; k < sizeof(damage) / sizeof(damage[0]); k++) {
		edit_ckpt(ch, damage[k]);
		st = open_stats(ch, true, &c);
		assert_int_equal(st.ckpt_loaded, 0);
		check_equal(c, copy, &hits, &tot);
		rvf_store_close(c);
		st = open_stats(ch, false, &c);
		assert_int_equal(st.ckpt_loaded, 0);
		check_equal(c, copy, &hits, &tot);
		assert_int_equal(rvf_store_close(c), 0);
		st = open_stats(ch, true, &c);
		assert_int_equal(st.ckpt_loaded, 1);
		check_equal(c, copy, &hits, &tot);
		rvf_store_close(c);
	}
	/* a stale delta (another parent graph; newer than the COW map): skipped
	 * in place, rows re-inserted; the next checkpoint replaces it */
	void (*stale[])(uint8_t *, size_t, size_t) = { stale_fp, stale_gen };
	for (size_t k = 0; k < sizeof(stale) / sizeof(stale[0]); k++) {
		edit_ckpt(ch, stale[k]);
		st = open_stats(ch, false, &c);
		assert_int_equal(st.ckpt_loaded, 0);
		assert_true(st.catchup_vectors > 0);
		check_equal(c, copy, &hits, &tot);
		random_op(&r, c, &m, copy);
		assert_int_equal(rvf_store_close(c), 0);
		st = open_stats(ch, true, &c);
		assert_int_equal(st.ckpt_loaded, 1);
		check_equal(c, copy, &hits, &tot);
		rvf_store_close(c);
	}
	/* compaction of the branch keeps a delta (new tables, same graph) */
	struct rvf_compact_result cr;
	assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
	for (int i = 0; i < 6; i++)
		random_op(&r, c, &m, copy);
	assert_int_equal(rvf_store_compact(c, &cr), 0);
	close_no_ckpt(c);
	st = open_stats(ch, true, &c);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.catchup_vectors, 0);
	check_equal(c, copy, &hits, &tot);
	rvf_store_close(c);
	printf("info: delta reopen graph recall vs full copy exact: %.3f (%d/%d)\n", (double)hits / tot,
	       hits, tot);
	assert_true(hits * 100 >= tot * 95);
	free(ga);
	rvf_store_close(copy);
	free(pp);
	free(cp);
	free(ch);
}

/* A branch of a branch: the middle one's delta is what the third attaches. */
static void delta_of_a_branch_of_a_branch(void **state)
{
	struct fx *f = *state;
	char *pp = P(f, "p.rvf"), *cp = P(f, "copy.rvf"), *b1 = P(f, "b1.rvf"), *b2 = P(f, "b2.rvf");
	struct rvf_store *p, *copy, *c, *d;
	struct model m = { 0 };
	struct tu_rng r;
	struct store_stats st;
	int hits = 0, tot = 0;

	tu_rng_init(&r, seed + 12);
	make_parent(pp, cp, &r, &m, &p, &copy, 25);
	assert_int_equal(rvf_store_branch(p, b1, NULL, &c), 0);
	rvf_store_close(p);
	for (int i = 0; i < 15; i++)
		random_op(&r, c, &m, copy);
	assert_int_equal(rvf_store_branch(c, b2, NULL, &d), 0);   /* freezes b1 (checkpoint first) */
	rvf_store_close(c);
	for (int i = 0; i < 15; i++)
		random_op(&r, d, &m, copy);
	assert_int_equal(rvf_store_close(d), 0);
	st = open_stats(b1, true, &c);
	assert_int_equal(st.ckpt_loaded, 1);
	rvf_store_close(c);
	st = open_stats(b2, true, &d);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.catchup_vectors, 0);
	check_equal(d, copy, &hits, &tot);
	rvf_store_close(d);
	assert_true(hits * 100 >= tot * 95);
	rvf_store_close(copy);
	free(pp);
	free(cp);
	free(b1);
	free(b2);
}

/* Edges: an empty parent (the delta's base has no nodes), a branch that
 * only deletes (no new nodes), a branch that deletes all it sees. */
static void delta_edges_empty_parent_and_delete_only_branches(void **state)
{
	struct fx *f = *state;
	char *pp = P(f, "p.rvf"), *cp = P(f, "copy.rvf"), *ch = P(f, "c.rvf"), *ep = P(f, "e.rvf"),
	     *ec = P(f, "ec.rvf");
	struct rvf_store_opts o = opts();
	struct rvf_store *p, *copy, *c;
	struct model m = { 0 }, me = { 0 };
	struct tu_rng r;
	struct store_stats st;
	int hits = 0, tot = 0;

	/* empty parent */
	assert_int_equal(rvf_store_create(ep, &o, &p), 0);
	assert_int_equal(rvf_store_create(cp, &o, &copy), 0);
	assert_int_equal(rvf_store_branch(p, ec, NULL, &c), 0);
	rvf_store_close(p);
	tu_rng_init(&r, seed + 13);
	for (int i = 0; i < 10; i++)
		random_op(&r, c, &me, copy);
	assert_int_equal(rvf_store_close(c), 0);
	st = open_stats(ec, true, &c);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.catchup_vectors, 0);
	check_equal(c, copy, &hits, &tot);
	rvf_store_close(c);
	rvf_store_close(copy);
	unlink(cp);

	/* deletes only, then all of the parent's ids */
	make_parent(pp, cp, &r, &m, &p, &copy, 20);
	assert_int_equal(rvf_store_branch(p, ch, NULL, &c), 0);
	rvf_store_close(p);
	for (int round = 0; round < 2; round++) {
		uint64_t ids[NID];
		size_t n = 0;
		for (uint64_t id = 0; id < NID; id++)
			if (m.it[id].live && (round || id % 3 == 0))
				ids[n++] = id;
		del(c, &m, ids, n);
		del(copy, NULL, ids, n);
		/* (hiding parent ids re-inserts nothing at open, so it asks for no
		 * checkpoint: write one, a delta with no new nodes) */
		assert_int_equal(store_checkpoint(c), 0);
		assert_int_equal(rvf_store_close(c), 0);
		st = open_stats(ch, true, &c);
		assert_int_equal(st.ckpt_loaded, 1);
		assert_int_equal(st.catchup_vectors, 0);
		check_equal(c, copy, &hits, &tot);
		rvf_store_close(c);
		assert_int_equal(rvf_store_open(ch, NULL, &c), 0);
	}
	rvf_store_close(c);
	rvf_store_close(copy);
	free(pp);
	free(cp);
	free(ch);
	free(ep);
	free(ec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(branch_answers_as_a_full_copy_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(branch_membership_equals_brute_force, setup, teardown),
		cmocka_unit_test_setup_teardown(branch_open_fails_clearly_when_parent_missing_changed_or_unfrozen, setup, teardown),
		cmocka_unit_test_setup_teardown(three_level_chain_records_lineage_and_equals_a_full_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(compact_keeps_the_parent_reference_and_flatten_makes_it_standalone, setup, teardown),
		cmocka_unit_test_setup_teardown(crash_during_child_writes_loses_nothing_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(branch_delta_checkpoint_equals_reinsert_and_a_full_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(delta_of_a_branch_of_a_branch, setup, teardown),
		cmocka_unit_test_setup_teardown(delta_edges_empty_parent_and_delete_only_branches, setup, teardown),
	};

	seed = tu_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
