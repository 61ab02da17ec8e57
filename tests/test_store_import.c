/*
 * test_store_import.c - rvf_store_import_rust and rvf_store_open_readonly on
 * every file the Rust RVF runtime wrote (../shared/fixtures/rvf-reference):
 * dimensions, live ids, the vectors (the README's SHA-256 digests), no
 * deleted ids, lineage ids and depth, KERNEL/EBPF payloads byte-identical
 * and extractable; the same again after reopen. Garbage, truncated and
 * hostile files are refused and leave no destination file behind.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rvf/rvf.h"
#include "codec/hash.h"
#include "codec/rust_import.h"
#include "testutil.h"
#include "rust_fixtures.h"
#include "store/store_peek.h"

static char *fixture_dir;

static void find_fixtures(void)
{
	fixture_dir = tu_fixture_dir();
	if (!fixture_dir)
		tu_skip("reference fixtures not found (tests/fixtures/rvf-reference; or set RVF_FIXTURES)");
}

static char *fixture_path(const char *file)
{
	return tu_path(fixture_dir, file);
}

/* The README's digest over the store's live vectors. */
static void live_digest16(struct rvf_store *s, char out[17])
{
	uint64_t *ids = NULL;
	size_t n = 0;
	uint32_t dim = rvf_store_dimension(s);
	float *v = malloc(dim * 4);
	struct sha256_ctx c = { 0 };
	uint8_t d[32];
	char hex[65];

	assert_int_equal(rvf_store_live_ids(s, &ids, &n), 0);
	assert_int_equal(sha256_init(&c), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rvf_store_get_vector(s, ids[i], v, dim), 0);
		sha256_update(&c, &ids[i], 8);
		sha256_update(&c, v, dim * 4);
	}
	assert_int_equal(sha256_final(&c, d), 0);
	hex_encode(d, 32, hex);
	memcpy(out, hex, 16);
	out[16] = 0;
	free(ids);
	free(v);
}

static void check_store(struct rvf_store *s, const struct rust_fixture *fx, const struct rust_rvf *r)
{
	struct rvf_store_status st;
	uint64_t *ids = NULL;
	size_t n = 0;
	char dig[17], hex[33];
	struct rvf_file_identity id;

	assert_int_equal(rvf_store_status(s, &st), 0);
	assert_int_equal(st.dimension, fx->dim);
	assert_int_equal(st.live_vectors, fx->live);
	assert_int_equal(st.deleted_vectors, 0);
	assert_int_equal(rvf_store_live_ids(s, &ids, &n), 0);
	assert_int_equal(n, fx->live);
	assert_int_equal(ids[0], fx->first_id);
	assert_memory_equal(ids, r->ids, n * 8);
	for (size_t i = 0; i < r->n_deleted; i++)
		assert_false(rvf_hnsw_contains(rvf_store_index(s), r->deleted[i]));
	free(ids);
	live_digest16(s, dig);
	if (strcmp(dig, fx->live_sha16))
		fail_msg("%s: live digest %s, README says %s", fx->file, dig, fx->live_sha16);
	/* identity */
	assert_int_equal(rvf_store_file_identity(s, &id), 0);
	if (r->has_identity)
		assert_memory_equal(&id, &r->identity, sizeof(id));
	if (!strcmp(fx->file, "lineage_parent.rvf")) {
		hex_encode(id.file_id, 16, hex);
		assert_string_equal(hex, rust_parent_file_id);
		assert_int_equal(rvf_store_lineage_depth(s), 0);
	}
	if (!strcmp(fx->file, "lineage_child.rvf")) {
		hex_encode(id.parent_id, 16, hex);
		assert_string_equal(hex, rust_parent_file_id);
		assert_int_equal(rvf_store_lineage_depth(s), 1);
	}
	/* carried segments: payload byte for byte, and extractable */
	struct rvf_dir_segment *segs = NULL;
	size_t ns = 0, found = 0;
	assert_int_equal(rvf_store_segment_dir(s, &segs, &ns), 0);
	for (size_t i = 0; i < ns; i++) {
		if (segs[i].type == RVF_SEG_VEC || segs[i].type == RVF_SEG_META ||
		    segs[i].type == RVF_SEG_JOURNAL)
			continue;
		void *buf = NULL;
		size_t len = 0;
		assert_true(found < r->n_carried);
		const struct rust_rvf_seg *c = &r->carried[found++];
		assert_int_equal(segs[i].type, c->type);
		assert_int_equal(segs[i].flags, c->hdr.flags);
		assert_int_equal(rvf_dir_read_segment(rvf_store_dir(s), segs[i].id, &buf, &len), 0);
		assert_int_equal(len, c->payload_len);
		assert_memory_equal(buf, c->payload, len);
		free(buf);
	}
	free(segs);
	assert_int_equal(found, r->n_carried);
	assert_int_equal(found, fx->carried_type ? 1 : 0);
	if (fx->carried_type == RVF_SEG_KERNEL) {
		struct rvf_kernel_hdr kh;
		void *img = NULL;
		size_t ilen = 0;
		assert_int_equal(rvf_store_extract_kernel(s, &kh, &img, &ilen, NULL, NULL), 0);
		assert_int_equal(kh.magic, RVF_KERNEL_MAGIC);
		assert_int_equal(ilen, kh.image_size);
		assert_memory_equal(img, r->carried[0].payload + RVF_KERNEL_HDR_SIZE, ilen);
		free(img);
	}
	if (fx->carried_type == RVF_SEG_EBPF) {
		struct rvf_ebpf_hdr eh;
		void *prog = NULL;
		size_t plen = 0;
		assert_int_equal(rvf_store_extract_ebpf(s, &eh, &prog, &plen, NULL, NULL), 0);
		assert_int_equal(eh.magic, RVF_EBPF_MAGIC);
		assert_int_equal(plen, eh.program_size);
		assert_memory_equal(prog, r->carried[0].payload + RVF_EBPF_HDR_SIZE, plen);
		free(prog);
	}
	int err = rvf_store_verify(s);
	if (err)
		fail_msg("%s: verify: %s", fx->file, rvf_last_error());
}

static void every_fixture_imports_exactly(void **state)
{
	char *dir = tu_tmpdir();

	(void)state;
	for (size_t i = 0; i < RUST_N_FIXTURES; i++) {
		const struct rust_fixture *fx = &rust_fixtures[i];
		char *src = fixture_path(fx->file), *dst = tu_path(dir, fx->file);
		struct rust_rvf *r = NULL;
		struct rvf_store *s = NULL;
		struct rvf_store_opts o = { .metric = RVF_METRIC_COSINE };

		assert_int_equal(rust_rvf_read(src, &r), 0);
		int err = rvf_store_import_rust(src, dst, &o, &s);
		if (err)
			fail_msg("%s: import: %s (%s)", fx->file, rvf_strerror(err), rvf_last_error());
		assert_int_equal(rvf_store_metric(s), RVF_METRIC_COSINE);
		check_store(s, fx, r);
		assert_int_equal(rvf_store_close(s), 0);
		/* again after reopen: the graph comes from its checkpoint */
		assert_int_equal(rvf_store_open(dst, NULL, &s), 0);
		assert_int_equal(rvf_store_metric(s), RVF_METRIC_COSINE);
		check_store(s, fx, r);
		/* and the store is a normal writable store */
		float *v = calloc(fx->dim, 4);
		v[0] = 1;
		struct rvf_vector vv = { .id = 1u << 30, .values = v, .dim = fx->dim };
		assert_int_equal(rvf_store_ingest_batch(s, &vv, 1, NULL), 0);
		free(v);
		assert_int_equal(rvf_store_close(s), 0);
		/* import refuses an existing destination */
		assert_int_equal(rvf_store_import_rust(src, dst, NULL, NULL), -EEXIST);
		rust_rvf_free(r);
		free(src);
		free(dst);
	}
	tu_rmrf(dir);
	free(dir);
}

static void every_fixture_opens_readonly(void **state)
{
	(void)state;
	for (size_t i = 0; i < RUST_N_FIXTURES; i++) {
		const struct rust_fixture *fx = &rust_fixtures[i];
		char *src = fixture_path(fx->file);
		struct rust_rvf *r = NULL;
		struct rvf_store *s = NULL;
		struct rvf_store_status st;
		size_t before = 0, after = 0;
		uint8_t *b0 = tu_slurp(src, &before), *b1;

		assert_int_equal(rust_rvf_read(src, &r), 0);
		assert_int_equal(rvf_store_open_readonly(src, NULL, &s), 0);
		assert_string_equal(rvf_store_path(s), src);
		assert_int_equal(rvf_store_metric(s), RVF_METRIC_L2);
		check_store(s, fx, r);
		assert_int_equal(rvf_store_status(s, &st), 0);
		assert_true(st.read_only);
		uint64_t id = r->ids[0];
		assert_int_equal(rvf_store_delete(s, &id, 1, NULL), -EROFS);
		assert_int_equal(rvf_store_compact(s, NULL), -EROFS);
		/* a query finds each vector itself */
		float *q = malloc(fx->dim * 4);
		struct rvf_result res[3];
		assert_int_equal(rvf_store_get_vector(s, r->ids[fx->live / 2], q, fx->dim), 0);
		assert_true(rvf_store_query(s, q, fx->dim, 3, NULL, res) > 0);
		assert_true(res[0].distance == 0.0f);
		free(q);
		assert_int_equal(rvf_store_close(s), 0);
		s = NULL;
		assert_int_equal(rvf_store_open(src, NULL, &s), -ENOTSUP);
		assert_null(s);
		/* the file is untouched */
		b1 = tu_slurp(src, &after);
		assert_int_equal(before, after);
		assert_memory_equal(b0, b1, before);
		free(b0);
		free(b1);
		rust_rvf_free(r);
		free(src);
	}
}

static void garbage_and_truncated_files_are_refused(void **state)
{
	char *dir = tu_tmpdir(), *bad = tu_path(dir, "bad.rvf"), *dst = tu_path(dir, "dst.rvf");
	struct rvf_store *s = NULL;
	size_t len = 0;
	char *src = fixture_path("linux_microkernel.rvf");
	uint8_t *b = tu_slurp(src, &len);
	struct tu_rng r;
	int err;

	(void)state;
	tu_rng_init(&r, tu_seed());
	/* missing */
	assert_int_equal(rvf_store_import_rust(bad, dst, NULL, NULL), -ENOENT);
	/* empty */
	tu_spit(bad, "", 0);
	assert_int_equal(rvf_store_import_rust(bad, dst, NULL, NULL), -ENOEXEC);
	/* garbage */
	uint8_t junk[4096];
	tu_rng_fill(&r, junk, sizeof(junk));
	tu_spit(bad, junk, sizeof(junk));
	assert_int_equal(rvf_store_import_rust(bad, dst, NULL, NULL), -ENOEXEC);
	assert_int_equal(access(dst, F_OK), -1);
	/* truncated at many points: refused, nothing left behind, and the
	 * read-only open refuses the same files */
	for (int k = 0; k < 40; k++) {
		size_t cut = 1 + (size_t)tu_rng_below(&r, len - 1);
		tu_spit(bad, b, cut);
		err = rvf_store_import_rust(bad, dst, NULL, NULL);
		if (err == 0)
			fail_msg("a copy truncated to %zu of %zu bytes imported", cut, len);
		assert_int_equal(access(dst, F_OK), -1);
		assert_true(rvf_store_open_readonly(bad, NULL, &s) < 0);
		assert_null(s);
	}
	/* a flipped byte inside a payload: a hash mismatch */
	b[len / 2] ^= 0x40;
	tu_spit(bad, b, len);
	err = rvf_store_import_rust(bad, dst, NULL, NULL);
	assert_true(err == -EBADMSG || err == -EUCLEAN);
	assert_int_equal(access(dst, F_OK), -1);
	/* a native store is not a Rust file */
	struct rvf_store_opts o = { .dimension = 4 };
	assert_int_equal(rvf_store_create(dst, &o, &s), 0);
	rvf_store_close(s);
	char *dst2 = tu_path(dir, "dst2.rvf");
	assert_int_equal(rvf_store_import_rust(dst, dst2, NULL, NULL), -ENOEXEC);
	assert_non_null(strstr(rvf_last_error(), "already a native rvf store"));
	assert_int_equal(access(dst2, F_OK), -1);
	free(dst2);
	free(b);
	free(src);
	free(bad);
	free(dst);
	tu_rmrf(dir);
	free(dir);
}

/* A Rust file may hold a NaN row under a valid hash: the runtime stores any
 * bits. The import refuses it by id, leaves no destination behind, and
 * frees what the refused batch returned (it leaked; LeakSanitizer fails
 * this binary at exit if it does again). */
static void non_finite_vector_is_refused_by_id(void **state)
{
	char *dir = tu_tmpdir(), *bad = tu_path(dir, "nan.rvf"), *dst = tu_path(dir, "dst.rvf");
	char *src = fixture_path("lineage_child.rvf"), want[64];
	size_t len = 0, off = 0;
	uint8_t *b = tu_slurp(src, &len);
	uint32_t nan_bits = 0x7fc00000u;
	uint64_t id = 0;
	bool done = false;

	(void)state;
	while (!done && off + RVF_SEG_HEADER_SIZE <= len) {
		struct rvf_seg_hdr h;

		memcpy(&h, b + off, sizeof(h));
		if (h.seg_type == RVF_SEG_VEC) {
			uint8_t *pl = b + off + RVF_SEG_HEADER_SIZE;

			/* dim u16 | count u32 | {id u64, f32[dim]}...: row 0, value 0 */
			assert_true(h.payload_length >= 6 + 8 + 4);
			memcpy(&id, pl + 6, 8);
			memcpy(pl + 6 + 8, &nan_bits, 4);
			rust_content_hash(pl, h.payload_length, h.content_hash);
			memcpy(b + off, &h, sizeof(h));
			done = true;
		}
		off += RVF_SEG_HEADER_SIZE + h.payload_length;
	}
	assert_true(done);
	tu_spit(bad, b, len);
	assert_int_equal(rvf_store_import_rust(bad, dst, NULL, NULL), -EUCLEAN);
	snprintf(want, sizeof(want), "vector id %llu cannot be imported", (unsigned long long)id);
	assert_non_null(strstr(rvf_last_error(), want));
	assert_int_equal(access(dst, F_OK), -1);
	free(b);
	free(src);
	free(bad);
	free(dst);
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_fixture_imports_exactly),
		cmocka_unit_test(every_fixture_opens_readonly),
		cmocka_unit_test(garbage_and_truncated_files_are_refused),
		cmocka_unit_test(non_finite_vector_is_refused_by_id),
	};

	find_fixtures();
	tu_log_to_stderr();
	return cmocka_run_group_tests_name("store_import", tests, NULL, NULL);
}
