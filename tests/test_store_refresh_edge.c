/*
 * test_store_refresh_edge.c - caller-owned query contexts (rvf_query_ctx),
 * filter equality, and the refresh failure paths: a new segment that fails
 * its checksum, a replay that fails half-way, the path naming another store.
 *
 * The yardstick everywhere: after a refresh the reader answers exactly as a
 * read-only handle freshly opened on the same snapshot: status counters,
 * live ids, exact search, graph search (both handles build with one thread,
 * so their graphs are identical) and filtered search through every planner
 * path, in the same query order on both (the filter cache's first sighting
 * samples, later ones use a bitmap). A forked writer ingests, upserts,
 * deletes, embeds, compacts and checkpoints in lockstep with the reader,
 * and then free-running while worker threads query under a rwlock.
 * Failure paths: a new segment that fails its checksum (the reader keeps
 * its snapshot), a replay that fails half-way (the handle goes stale until
 * a refresh rebuilds it), the path naming another store.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "rvf/rvf.h"
#include "meta/meta_store.h"
#include "store/store_internal.h"
#include "testutil.h"
#include "refresh_fixture.h"

/* ---- query contexts ------------------------------------------------------------------ */

static void query_ctx_matches_query_and_grows_with_the_store(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 500), *r = rf_open_ro(f->path);
	struct rvf_query_ctx *c = NULL, *cw = NULL;
	struct rvf_result x[K], y[K];
	struct rvf_query_opts o = { .filter = f->filt[0] };
	struct store_stats s0, s1;
	float q[DIM];

	assert_int_equal(rvf_query_ctx_new(r, &c), 0);
	assert_int_equal(rvf_query_ctx_new(w, &cw), 0);
	rf_expect_ctx_matches_query(f, r, c);
	rf_expect_ctx_matches_query(f, w, cw);
	/* the store grows to many times what the context was sized for */
	assert_int_equal(rf_put(w, 500, 3000, 0), 0);
	assert_int_equal(rvf_store_refresh(r), 1);
	rf_expect_ctx_matches_query(f, r, c);
	rf_expect_ctx_matches_query(f, w, cw);

	/* a repeated filter, even as another tree with the same content, is
	 * served from the context without a cache lookup */
	rf_query_vec(3, q);
	assert_true(rvf_store_query_ctx(r, c, q, DIM, K, &o, y) >= 0);
	assert_int_equal(store_stats(r, &s0), 0);
	struct rvf_filter *same = rvf_filter_clone(f->filt[0]);
	for (int i = 0; i < 20; i++) {
		o.filter = i % 2 ? same : f->filt[0];
		assert_true(rvf_store_query_ctx(r, c, q, DIM, K, &o, y) >= 0);
	}
	assert_int_equal(store_stats(r, &s1), 0);
	assert_int_equal(s1.filter_lookups, s0.filter_lookups);
	assert_true(s1.plan_cached >= s0.plan_cached + 20);
	assert_int_equal(rvf_store_query(r, q, DIM, K, &o, x), rvf_store_query_ctx(r, c, q, DIM, K, &o, y));
	assert_int_equal(store_stats(r, &s0), 0);
	assert_int_equal(s0.filter_lookups, s1.filter_lookups + 1);   /* the plain query's */
	/* after a change the context resolves the filter again */
	assert_int_equal(rf_put(w, 3500, 10, 0), 0);
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_true(rvf_store_query_ctx(r, c, q, DIM, K, &o, y) >= 0);
	assert_int_equal(store_stats(r, &s1), 0);
	assert_int_equal(s1.filter_lookups, s0.filter_lookups + 1);
	rf_expect_ctx_matches_query(f, r, c);

	/* bad input as rvf_store_query, plus a NULL context */
	assert_int_equal(rvf_store_query_ctx(r, NULL, q, DIM, K, NULL, y), -EINVAL);
	assert_int_equal(rvf_store_query_ctx(r, c, q, DIM - 1, K, NULL, y), -EINVAL);
	assert_int_equal(rvf_store_query_ctx(r, c, q, DIM, 0, NULL, y), -EINVAL);
	assert_int_equal(rvf_query_ctx_new(NULL, &c), -EINVAL);
	rvf_filter_free(same);
	/* a context may be freed after its store is closed */
	rvf_store_close(r);
	rvf_query_ctx_free(c);
	rvf_query_ctx_free(NULL);
	assert_int_equal(rvf_store_close(w), 0);
	rvf_query_ctx_free(cw);
}

static void filter_equal_compares_content_not_address(void **state)
{
	struct rvf_meta_value v3 = rvf_meta_u64(3), i3 = rvf_meta_i64(3), d3 = rvf_meta_f64(3.0);
	struct rvf_meta_value nz = rvf_meta_f64(-0.0), pz = rvf_meta_f64(0.0);
	struct rvf_meta_value s1 = rvf_meta_strn("ab", 2), s2 = rvf_meta_strn("ac", 2);
	struct rvf_meta_value in1[2] = { v3, s1 }, in2[2] = { s1, v3 };
	struct rvf_filter *a = rvf_filter_and(rvf_filter_eq(0, &v3), rvf_filter_in(1, in1, 2));
	struct rvf_filter *b = rvf_filter_and(rvf_filter_eq(0, &v3), rvf_filter_in(1, in1, 2));
	struct rvf_filter *c = rvf_filter_and(rvf_filter_eq(0, &v3), rvf_filter_in(1, in2, 2));
	struct rvf_filter *d = rvf_filter_and(rvf_filter_in(1, in1, 2), rvf_filter_eq(0, &v3));
	struct rvf_filter *e[] = {
		rvf_filter_eq(0, &v3), rvf_filter_eq(0, &i3), rvf_filter_eq(0, &d3), rvf_filter_eq(1, &v3),
		rvf_filter_ne(0, &v3), rvf_filter_eq(0, &nz), rvf_filter_eq(0, &pz), rvf_filter_eq(0, &s1),
		rvf_filter_eq(0, &s2), rvf_filter_range(0, &v3, &d3), rvf_filter_not(rvf_filter_eq(0, &v3)),
	};
	size_t ne = sizeof(e) / sizeof(e[0]);
	(void)state;

	assert_true(filter_equal(a, b));
	assert_true(filter_equal(a, a));
	assert_true(filter_equal(NULL, NULL));
	assert_false(filter_equal(a, NULL));
	assert_false(filter_equal(a, c));         /* IN operand order */
	assert_false(filter_equal(a, d));         /* AND operand order */
	for (size_t i = 0; i < ne; i++) {
		struct rvf_filter *cl = rvf_filter_clone(e[i]);
		assert_true(filter_equal(e[i], cl));
		for (size_t j = 0; j < ne; j++)
			if (i != j && filter_equal(e[i], e[j]))
				fail_msg("filters %zu and %zu are different but compare equal", i, j);
		rvf_filter_free(cl);
	}
	for (size_t i = 0; i < ne; i++)
		rvf_filter_free(e[i]);
	rvf_filter_free(a);
	rvf_filter_free(b);
	rvf_filter_free(c);
	rvf_filter_free(d);
}

/* ---- failure paths -------------------------------------------------------------------- */

/* Flip one payload byte of committed segment id on disk. */
static void flip_payload_byte(const char *path, uint64_t id, uint64_t at)
{
	struct rvf_dir *d = NULL;
	struct rvf_dir_segment si;
	uint8_t b;
	int fd;

	assert_int_equal(rvf_dir_open_readonly(path, NULL, &d), 0);
	assert_int_equal(rvf_dir_segment_info(d, id, &si), 0);
	rvf_dir_close(d);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)(si.file_offset + RVF_SEG_HEADER_SIZE + at)), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)(si.file_offset + RVF_SEG_HEADER_SIZE + at)), 1);
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static void unreadable_new_segment_leaves_the_reader_on_its_snapshot(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 600), *r = rf_open_ro(f->path);
	struct answers *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	struct rvf_dir_segment *segs = NULL;
	size_t n = 0;
	uint64_t e0 = rf_epoch_of(r), vseg = 0;

	rf_answers_of(f, r, before);
	assert_int_equal(rf_put(w, 600, 100, 0), 0);
	assert_int_equal(rvf_store_segment_dir(w, &segs, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (segs[i].type == RVF_SEG_VEC)
			vseg = segs[i].id;          /* the newest */
	free(segs);
	flip_payload_byte(f->path, vseg, 200);
	assert_true(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), -EBADMSG);
	/* everything as before, including what reads the file */
	assert_int_equal(rf_epoch_of(r), e0);
	rf_answers_of(f, r, after);
	rf_same_answers(before, after, "after a failed refresh");
	assert_int_equal(rvf_store_verify(r), 0);
	assert_true(rf_changed(r));             /* still behind: it will try again */
	assert_int_equal(rvf_store_refresh(r), -EBADMSG);
	flip_payload_byte(f->path, vseg, 200);
	assert_int_equal(rvf_store_refresh(r), 1);
	rf_expect_matches_fresh(f, r, "after the segment was repaired");
	rf_answers_release(before);
	rf_answers_release(after);
	free(before);
	free(after);
	rvf_store_close(r);
	assert_int_equal(rvf_store_close(w), 0);
}

/* Commit, behind the store's back, a VEC segment with one new vector and a
 * JOURNAL that deletes an id nobody has: replay applies the first and then
 * fails on the second. */
static void commit_bad_journal(const char *path, uint64_t *jseg)
{
	struct rvf_dir *d = NULL;
	struct store_hdr h;
	struct vec_hdr vh;
	void *um = NULL;
	size_t umlen = 0;
	_Alignas(64) uint8_t vbuf[VEC_HDR + 64 + DIM * 4];
	uint8_t jbuf[JRN_HDR + 8];
	uint64_t id = 777777, bogus = 999999999, cnt = 1;
	uint16_t ver = JRN_VERSION, op = JRN_OP_DELETE;

	assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
	assert_int_equal(rvf_dir_user_metadata(d, &um, &umlen), 0);
	assert_int_equal(umlen, sizeof(h));
	memcpy(&h, um, sizeof(h));
	free(um);
	vec_hdr_make(&vh, DIM, 1);
	assert_int_equal(vh.rows_off + DIM * 4, sizeof(vbuf));
	memset(vbuf, 0, sizeof(vbuf));
	memcpy(vbuf, &vh, sizeof(vh));
	memcpy(vbuf + VEC_HDR, &id, 8);
	rf_vec_of(id, 0, (float *)(void *)(vbuf + vh.rows_off));
	memcpy(jbuf, JRN_MAGIC, 4);
	memcpy(jbuf + 4, &ver, 2);
	memcpy(jbuf + 6, &op, 2);
	memcpy(jbuf + 8, &cnt, 8);
	memcpy(jbuf + 16, &bogus, 8);
	assert_int_equal(rvf_dir_write_segment(d, h.next_seg_id, RVF_SEG_VEC, vbuf, sizeof(vbuf)), 0);
	assert_int_equal(rvf_dir_write_segment(d, h.next_seg_id + 1, RVF_SEG_JOURNAL, jbuf, sizeof(jbuf)), 0);
	*jseg = h.next_seg_id + 1;
	h.next_seg_id += 2;
	h.live += 1;
	h.hash = XXH3_64bits(&h, offsetof(struct store_hdr, hash));
	assert_int_equal(rvf_dir_set_user_metadata(d, &h, sizeof(h)), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
}

static void replay_failing_half_way_makes_the_handle_stale_until_rebuilt(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 500), *r;
	struct rvf_query_ctx *c = NULL;
	struct rvf_result res[K];
	struct rvf_store_status st;
	struct rvf_dir *d = NULL;
	uint64_t *ids = NULL, jseg = 0;
	size_t n = 0;
	float q[DIM];

	assert_int_equal(rvf_store_close(w), 0);
	r = rf_open_ro(f->path);
	assert_int_equal(rvf_query_ctx_new(r, &c), 0);
	rf_query_vec(0, q);
	commit_bad_journal(f->path, &jseg);
	assert_true(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), -EUCLEAN);
	assert_int_equal(rvf_store_query(r, q, DIM, K, NULL, res), -ESTALE);
	assert_int_equal(rvf_store_query_ctx(r, c, q, DIM, K, NULL, res), -ESTALE);
	assert_int_equal(rvf_store_status(r, &st), -ESTALE);
	assert_int_equal(rvf_store_live_ids(r, &ids, &n), -ESTALE);
	assert_int_equal(rvf_store_get_vector(r, 1, q, DIM), -ESTALE);
	assert_int_equal(rvf_store_verify(r), -ESTALE);
	assert_true(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), -EUCLEAN);   /* still broken on disk */
	assert_true(rf_changed(r));
	/* repair the file: drop the bad journal */
	assert_int_equal(rvf_dir_open(f->path, NULL, &d), 0);
	assert_int_equal(rvf_dir_remove_segments(d, &jseg, 1), 1);
	assert_int_equal(rvf_dir_commit(d), 0);
	rvf_dir_close(d);
	assert_int_equal(rvf_store_refresh(r), 1);
	assert_false(rf_changed(r));
	assert_int_equal(rvf_store_get_vector(r, 777777, q, DIM), 0);
	rf_expect_matches_fresh(f, r, "after the rebuild");
	rf_expect_ctx_matches_query(f, r, c);
	rvf_query_ctx_free(c);
	rvf_store_close(r);
}

static void path_naming_another_store_is_refused(void **state)
{
	struct fx *f = *state;
	struct rvf_store *w = rf_make_store(f->path, 300), *r = rf_open_ro(f->path), *other;
	char *p2 = tu_path(f->dir, "other.rvf");
	struct answers *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	rf_answers_of(f, r, a);
	other = rf_make_store(p2, 100);
	assert_int_equal(rvf_store_close(other), 0);
	assert_int_equal(rename(p2, f->path), 0);
	assert_int_equal(rf_put(w, 300, 10, 0), 0);     /* the old file, still open */
	assert_true(rf_changed(r));
	assert_int_equal(rvf_store_refresh(r), -ESTALE);
	rf_answers_of(f, r, b);
	rf_same_answers(a, b, "after a refused refresh");
	rf_answers_release(a);
	rf_answers_release(b);
	free(a);
	free(b);
	free(p2);
	rvf_store_close(r);
	assert_int_equal(rvf_store_close(w), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(query_ctx_matches_query_and_grows_with_the_store, rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(filter_equal_compares_content_not_address, rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(unreadable_new_segment_leaves_the_reader_on_its_snapshot, rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(replay_failing_half_way_makes_the_handle_stale_until_rebuilt, rf_setup, rf_teardown),
		cmocka_unit_test_setup_teardown(path_naming_another_store_is_refused, rf_setup, rf_teardown),
	};

	tu_log_to_stderr();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
