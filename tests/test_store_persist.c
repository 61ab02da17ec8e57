/*
 * test_store_persist.c - the store API, what persists: compaction (an
 * unknown-type segment kept byte for byte, true reclaim figures, readers
 * keep their snapshot), the graph checkpoint loaded (not rebuilt) at open
 * with catch-up of newer batches, damaged and table-less checkpoints,
 * periodic checkpoints.
 *
 * rvf-test: both-backends
 * rvf-test: every-simd (tests/run.sh forces each kernel set in turn)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>

#include "rvf/rvf.h"
#include "codec/hash.h"
#include "store/store_internal.h"
#include "testutil.h"
#include "store_fixture.h"
#include "store/store_peek.h"

static void compaction_keeps_unknown_segment_bytes_and_reports_truth(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_dir *dir;
	struct rvf_compact_result cr;
	struct rvf_dir_segment before, after;
	struct tu_rng rng;
	uint8_t blob[5000];
	uint64_t unk = 1ull << 40;
	float got[DIM];

	tu_rng_init(&rng, tu_seed());
	tu_rng_fill(&rng, blob, sizeof(blob));
	sf_ds_make(&d, DIM, NV, 33);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	for (size_t i = 0; i < NV; i += 50)
		sf_ingest(s, &d, i, 50, true);
	/* a segment of a type rvf does not know, written through the dir */
	dir = rvf_store_dir(s);
	assert_int_equal(rvf_dir_write_segment(dir, unk, 0xF3, blob, sizeof(blob)), 0);
	assert_int_equal(rvf_dir_commit(dir), 0);
	rvf_store_close(s);
	s = sf_reopen(f->path);
	dir = rvf_store_dir(s);
	assert_int_equal(rvf_dir_segment_info(dir, unk, &before), 0);
	uint64_t ids[NV / 2];
	for (size_t i = 0; i < NV / 2; i++)
		ids[i] = d.ids[i * 2];
	assert_int_equal(rvf_store_delete(s, ids, NV / 2, NULL), 0);
	sf_ingest(s, &d, 1, 20, true);                /* upserts: superseded rows */
	struct rvf_store_status st0, st1;
	assert_int_equal(rvf_store_status(s, &st0), 0);
	struct stat sb0, sb1;
	assert_int_equal(stat(f->path, &sb0), 0);
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	assert_int_equal(stat(f->path, &sb1), 0);
	/* 12 VEC + 12 META + 1 JOURNAL before, 1 VEC + 1 META + 1 META: all rewritten */
	assert_true(cr.segments_compacted >= 25);
	assert_int_equal(cr.bytes_reclaimed, (uint64_t)(sb0.st_size - sb1.st_size));
	assert_true(sb1.st_size < sb0.st_size);
	assert_int_equal(cr.epoch, rvf_dir_generation(dir));
	assert_int_equal(rvf_store_status(s, &st1), 0);
	assert_int_equal(st1.live_vectors, NV / 2 + 10);
	assert_int_equal(st1.deleted_vectors, 0);
	assert_true(st1.dead_bytes < st0.dead_bytes);
	sf_expect_status_truth(s, NV / 2 + 10, 0, 0, 0);
	sf_expect_verify(s);
	for (int round = 0; round < 2; round++) {
		void *buf = NULL;
		size_t len = 0;
		assert_int_equal(rvf_dir_segment_info(rvf_store_dir(s), unk, &after), 0);
		assert_int_equal(after.type, 0xF3);
		assert_int_equal(after.payload_len, sizeof(blob));
		assert_int_equal(after.timestamp_ns, before.timestamp_ns);
		assert_memory_equal(after.content_hash, before.content_hash, 16);
		assert_int_equal(after.file_offset, before.file_offset);
		assert_int_equal(rvf_dir_read_segment(rvf_store_dir(s), unk, &buf, &len), 0);
		assert_int_equal(len, sizeof(blob));
		assert_memory_equal(buf, blob, sizeof(blob));
		free(buf);
		for (size_t i = 0; i < NV; i++) {
			int want = (i % 2 == 0 && !(i >= 1 && i <= 20)) ? -ENOENT : 0;
			assert_int_equal(rvf_store_get_vector(s, d.ids[i], got, DIM), want);
			if (!want)
				assert_memory_equal(got, d.v + i * DIM, sizeof(got));
		}
		struct rvf_filter *flt = sf_make_filter(6);
		struct rvf_query_opts qo = { .filter = flt, .flags = RVF_QUERY_EXACT };
		struct rvf_result r[NV];
		int n = rvf_store_query(s, d.v, DIM, NV, &qo, r);
		int want_n = 0;
		for (size_t i = 0; i < NV; i++)
			want_n += sf_bf_match(&d, 6, i) && !(i % 2 == 0 && !(i >= 1 && i <= 20));
		assert_int_equal(n, want_n);
		rvf_filter_free(flt);
		sf_expect_verify(s);
		rvf_store_close(s);
		s = sf_reopen(f->path);
	}
	/* compacting a compact store changes nothing */
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	assert_int_equal(cr.segments_compacted, 0);
	sf_expect_verify(s);
	rvf_store_close(s);
	sf_ds_free(&d);
}

static void compaction_with_one_metadata_segment_keeps_it_after_its_rows(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct rvf_compact_result cr;

	sf_ds_make(&d, DIM, 100, 35);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, 100, true);
	uint64_t id = d.ids[9];                  /* i % 10 == 9: no metadata */
	assert_false(d.has_meta[9]);
	assert_int_equal(rvf_store_delete(s, &id, 1, NULL), 0);
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	assert_true(cr.segments_compacted >= 2);
	sf_expect_verify(s);
	rvf_store_close(s);
	s = sf_reopen(f->path);
	sf_expect_verify(s);
	struct rvf_meta_entry *e = NULL;
	size_t ne = 0;
	assert_int_equal(rvf_store_get_meta(s, d.ids[0], &e, &ne), 0);
	assert_int_equal(ne, d.nme[0]);
	free(e);
	rvf_store_close(s);
	sf_ds_free(&d);
}

static void reader_keeps_its_snapshot_through_compaction(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s, *ro = NULL;
	struct rvf_compact_result cr;
	float got[DIM];
	uint64_t ids[NV / 2];

	sf_ds_make(&d, DIM, NV, 37);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	for (size_t i = 0; i < NV; i += 100)
		sf_ingest(s, &d, i, 100, true);
	assert_int_equal(rvf_store_open_readonly(f->path, NULL, &ro), 0);
	for (size_t i = 0; i < NV / 2; i++)
		ids[i] = d.ids[i];
	assert_int_equal(rvf_store_delete(s, ids, NV / 2, NULL), 0);
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	assert_true(cr.segments_compacted > 0);
	/* the reader still sees (and can read) every vector of its snapshot */
	for (size_t i = 0; i < NV; i++) {
		assert_int_equal(rvf_store_get_vector(ro, d.ids[i], got, DIM), 0);
		assert_memory_equal(got, d.v + i * DIM, sizeof(got));
	}
	sf_expect_verify(ro);
	rvf_store_close(ro);
	sf_expect_verify(s);
	/* without the reader, compaction moves data down and the file shrinks */
	sf_ingest(s, &d, 0, 10, true);
	uint64_t one = d.ids[NV - 1];
	assert_int_equal(rvf_store_delete(s, &one, 1, NULL), 0);
	assert_int_equal(rvf_store_compact(s, &cr), 0);
	sf_expect_verify(s);
	rvf_store_close(s);
	s = sf_reopen(f->path);
	for (size_t i = 0; i < NV; i++)
		assert_int_equal(rvf_store_get_vector(s, d.ids[i], got, DIM),
				 (i >= 10 && i < NV / 2) || i == NV - 1 ? -ENOENT : 0);
	sf_expect_verify(s);
	rvf_store_close(s);
	sf_ds_free(&d);
}

/* ---- graph persistence ------------------------------------------------------------------ */

/* The checkpoint is derived data: one damaged byte in it must not cost the
 * vectors. Open rebuilds the graph from the VEC segments (read-only: in
 * memory; writable: and writes a fresh checkpoint, so the next open loads
 * it again). */
static void damaged_checkpoint_is_rebuilt_from_the_vectors(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct store_stats st;
	struct rvf_result r[5];
	size_t len, at = 0;

	sf_ds_make(&d, DIM, NV, 43);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, 400, true);
	assert_int_equal(rvf_store_close(s), 0);
	uint8_t *b = tu_slurp(f->path, &len);
	for (size_t i = 0; i + 8 <= len && !at; i++)
		if (!memcmp(b + i, "RVFCKPT1", 8))
			at = i;
	assert_true(at > 0);
	b[at + 100] ^= 0x40;
	tu_spit(f->path, b, len);
	free(b);

	for (int pass = 0; pass < 3; pass++) {
		/* pass 0 read-only (rebuild in memory), 1 writable (rebuild and
		 * a new checkpoint), 2 read-only again (loads the new one) */
		s = NULL;
		if (pass == 1)
			assert_int_equal(rvf_store_open(f->path, NULL, &s), 0);
		else
			assert_int_equal(rvf_store_open_readonly(f->path, NULL, &s), 0);
		assert_int_equal(store_stats(s, &st), 0);
		assert_int_equal(st.ckpt_loaded, pass == 2);
		struct rvf_store_status ss;
		assert_int_equal(rvf_store_status(s, &ss), 0);
		assert_int_equal(ss.live_vectors, 400);
		for (size_t q = 0; q < 400; q += 37) {
			int n = rvf_store_query(s, d.v + q * DIM, DIM, 5, NULL, r);
			assert_int_equal(n, 5);
			assert_int_equal(r[0].id, d.ids[q]);
		}
		/* verify still reports the damage until a writer replaces it */
		if (pass == 0)
			assert_true(rvf_store_verify(s) < 0);
		else
			assert_int_equal(rvf_store_verify(s), 0);
		assert_int_equal(rvf_store_close(s), 0);
	}
	sf_ds_free(&d);
}

static void open_loads_the_graph_checkpoint_instead_of_rebuilding(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct store_stats st;
	struct rvf_result a[10], b[10];

	sf_ds_make(&d, DIM, NV, 41);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	sf_ingest(s, &d, 0, 400, true);
	int na = rvf_store_query(s, d.v + 3 * DIM, DIM, 10, NULL, a);
	assert_int_equal(rvf_store_close(s), 0);

	s = sf_reopen(f->path);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.ckpt_nodes_loaded, 400);
	assert_int_equal(st.catchup_vectors, 0);
	/* the same graph answers the same (approximate) query identically */
	int nb = rvf_store_query(s, d.v + 3 * DIM, DIM, 10, NULL, b);
	assert_int_equal(na, nb);
	for (int i = 0; i < na; i++) {
		assert_int_equal(a[i].id, b[i].id);
		assert_true(a[i].distance == b[i].distance);
	}

	/* a writer that dies without closing: its batches are durable, the
	 * checkpoint is older; the next open inserts only those batches */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rvf_store_close(s);   /* parent's lock goes with this fd too: reopen */
		struct rvf_store *c = NULL;
		struct rvf_store_opts o = { .checkpoint_every = 1000000 };
		if (rvf_store_open(f->path, &o, &c))
			_exit(2);
		struct rvf_vector *v = sf_ds_vecs(&d, 400, 200, true);
		if (rvf_store_ingest_batch(c, v, 200, NULL))
			_exit(3);
		uint64_t del = d.ids[0];
		if (rvf_store_delete(c, &del, 1, NULL))
			_exit(4);
		_exit(0);             /* no close: no checkpoint */
	}
	rvf_store_close(s);
	int wst;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
	s = sf_reopen(f->path);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.ckpt_nodes_loaded, 400);
	assert_int_equal(st.catchup_vectors, 200);
	assert_int_equal(st.catchup_deletes, 1);
	assert_int_equal(rvf_hnsw_live_count(rvf_store_index(s)), NV - 1);
	sf_expect_verify(s);
	assert_int_equal(rvf_store_close(s), 0);     /* checkpoints the catch-up */
	s = sf_reopen(f->path);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.ckpt_nodes_loaded, NV);
	assert_int_equal(st.catchup_vectors, 0);
	sf_expect_verify(s);
	rvf_store_close(s);
	sf_ds_free(&d);
}

/* A checkpoint without the bookkeeping tables (as the first version wrote
 * them) still opens: the ids then come from the VEC segments. */
static void checkpoint_without_tables_still_opens(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s;
	struct store_stats st;
	struct ckpt_hdr ck;
	void *buf = NULL;
	size_t len = 0;

	sf_ds_make(&d, DIM, 300, 45);
	s = sf_create(f->path, DIM, RVF_METRIC_L2);
	for (size_t i = 0; i < 300; i += 50)
		sf_ingest(s, &d, i, 50, true);
	uint64_t del[3] = { d.ids[1], d.ids[77], d.ids[150] };
	assert_int_equal(rvf_store_delete(s, del, 3, NULL), 0);
	assert_int_equal(rvf_store_close(s), 0);
	s = sf_reopen(f->path);
	assert_int_equal(rvf_dir_read_vector_index(rvf_store_dir(s), CKPT_FIELD, &buf, &len), 0);
	memcpy(&ck, buf, sizeof(ck));
	assert_int_equal(ck.flags, CKPT_F_TABLES);
	assert_int_equal(ck.nlocs, 300);
	ck.flags = 0;
	ck.nsegs = ck.nlocs = 0;
	struct iovec iov[2] = { { &ck, sizeof(ck) }, { (uint8_t *)buf + len - ck.blob_len, ck.blob_len } };
	assert_int_equal(rvf_dir_write_vector_indexv(rvf_store_dir(s), CKPT_FIELD, iov, 2), 0);
	assert_int_equal(rvf_dir_commit(rvf_store_dir(s)), 0);
	free(buf);
	rvf_store_close(s);
	s = sf_reopen(f->path);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.ckpt_loaded, 1);
	assert_int_equal(st.catchup_vectors, 0);
	struct rvf_store_status ss;
	assert_int_equal(rvf_store_status(s, &ss), 0);
	assert_int_equal(ss.live_vectors, 297);
	assert_int_equal(ss.deleted_vectors, 3);
	sf_expect_verify(s);
	rvf_store_close(s);
	sf_ds_free(&d);
}

static void periodic_checkpoints_during_ingest(void **state)
{
	struct fx *f = *state;
	struct ds d;
	struct rvf_store *s = NULL;
	struct store_stats st;
	struct rvf_store_opts o = { .dimension = DIM, .checkpoint_every = 100 };

	sf_ds_make(&d, DIM, NV, 43);
	assert_int_equal(rvf_store_create(f->path, &o, &s), 0);
	for (size_t i = 0; i < NV; i += 60)
		sf_ingest(s, &d, i, 60, false);
	assert_int_equal(store_stats(s, &st), 0);
	assert_true(st.checkpoints >= 4);
	sf_expect_verify(s);
	rvf_store_close(s);
	sf_ds_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(compaction_keeps_unknown_segment_bytes_and_reports_truth, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(compaction_with_one_metadata_segment_keeps_it_after_its_rows, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(reader_keeps_its_snapshot_through_compaction, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(open_loads_the_graph_checkpoint_instead_of_rebuilding, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(damaged_checkpoint_is_rebuilt_from_the_vectors, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(checkpoint_without_tables_still_opens, sf_setup, sf_teardown),
		cmocka_unit_test_setup_teardown(periodic_checkpoints_during_ingest, sf_setup, sf_teardown),
	};

	if (sf_suite_init())
		return 1;
	return cmocka_run_group_tests_name("store_persist", tests, NULL, NULL);
}
