/*
 * test_import.c - the reader for files written by the Rust RVF runtime
 * (user/codec/rust_import.c): every reference fixture must read back
 * exactly as its README says (from a file and from a buffer), lineage,
 * runtime content hashes, carried segments byte for byte.
 *
 * Fixtures: $RVF_FIXTURES, else tests/fixtures/rvf-reference (copies of
 * the work area's reference files; tu_fixture_dir).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "rust_fixtures.h"
#include "common/log.h"
#include "codec/ebpf.h"
#include "codec/hash.h"
#include "codec/kernel.h"
#include "codec/rust_import.h"
#include "rvf/format.h"
#include "rvf/payload.h"
#include "import_fixture.h"

/* Everything the README says about one fixture, plus internal consistency. */
static void check_fixture(const struct rust_fixture *fx, const struct rust_rvf *r)
{
	char hex[33], d16[17];
	size_t i;

	assert_int_equal(r->dim, fx->dim);
	assert_int_equal(r->n_live, fx->live);
	assert_int_equal(r->n_deleted, fx->deleted);
	assert_true(r->n_live > 0);
	assert_int_equal(r->ids[0], fx->first_id);
	for (i = 1; i < r->n_live; i++)
		assert_true(r->ids[i - 1] < r->ids[i]);
	if_digest16(r, d16);
	if (strcmp(d16, fx->live_sha16))
		fail_msg("%s: live_sha256 %s, README says %s", fx->file, d16, fx->live_sha16);
	/* segments: one VEC, the manifests, and the carried one */
	assert_int_equal(r->n_segments, 1 + fx->manifests + (fx->carried_type ? 1 : 0));
	assert_int_equal(r->n_carried, fx->carried_type ? 1 : 0);
	if (fx->carried_type)
		assert_int_equal(r->carried[0].type, fx->carried_type);
	assert_int_equal(r->manifest_total, fx->live);

	assert_true(r->has_identity);
	hex_encode(r->identity.file_id, 16, hex);
	if (!strcmp(fx->file, "lineage_parent.rvf"))
		assert_string_equal(hex, rust_parent_file_id);
	if (!strcmp(fx->file, "lineage_child.rvf")) {
		assert_int_equal(r->identity.lineage_depth, 1);
		hex_encode(r->identity.parent_id, 16, hex);
		assert_string_equal(hex, rust_parent_file_id);
	} else {
		uint8_t zero[32] = { 0 };

		assert_int_equal(r->identity.lineage_depth, 0);
		assert_memory_equal(r->identity.parent_id, zero, 16);
		assert_memory_equal(r->identity.parent_hash, zero, 32);
	}
}

static void fixtures_match_readme(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < RUST_N_FIXTURES; i++) {
		struct rust_rvf *r = NULL;
		char *p = tu_path(if_fixture_dir, rust_fixtures[i].file);
		int err = rust_rvf_read(p, &r);

		if (err)
			fail_msg("%s: %d (%s)", rust_fixtures[i].file, err, rvf_last_error());
		check_fixture(&rust_fixtures[i], r);
		rust_rvf_free(r);
		free(p);
	}
}

static void buffer_parse_equals_file_read(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < RUST_N_FIXTURES; i++) {
		struct rust_rvf *a = NULL, *b = NULL;
		char *p = tu_path(if_fixture_dir, rust_fixtures[i].file);
		size_t len;
		uint8_t *buf = if_load_fixture(&rust_fixtures[i], &len);

		assert_int_equal(rust_rvf_read(p, &a), 0);
		assert_int_equal(rust_rvf_parse(buf, len, rust_fixtures[i].file, &b), 0);
		free(buf);      /* nothing in b may point into it */
		assert_int_equal(a->n_live, b->n_live);
		assert_memory_equal(a->ids, b->ids, a->n_live * sizeof(uint64_t));
		assert_memory_equal(a->vectors, b->vectors, a->n_live * a->dim * sizeof(float));
		assert_memory_equal(&a->identity, &b->identity, sizeof(a->identity));
		assert_int_equal(a->n_carried, b->n_carried);
		if (a->n_carried)
			assert_memory_equal(a->carried[0].raw, b->carried[0].raw, a->carried[0].raw_len);
		rust_rvf_free(a);
		rust_rvf_free(b);
		free(p);
	}
}

static void lineage_child_names_parent(void **state)
{
	struct rust_rvf *parent = NULL, *child = NULL;
	char *pp = tu_path(if_fixture_dir, "lineage_parent.rvf");
	char *cp = tu_path(if_fixture_dir, "lineage_child.rvf");

	(void)state;
	assert_int_equal(rust_rvf_read(pp, &parent), 0);
	assert_int_equal(rust_rvf_read(cp, &child), 0);
	assert_memory_equal(child->identity.parent_id, parent->identity.file_id, 16);
	assert_int_equal(child->identity.lineage_depth, parent->identity.lineage_depth + 1);
	assert_memory_not_equal(child->identity.file_id, parent->identity.file_id, 16);
	rust_rvf_free(parent);
	rust_rvf_free(child);
	free(pp);
	free(cp);
}

/* The runtime's content hash: every segment header of every fixture matches
 * rust_content_hash of its payload, so the reader really checks it. */
static void runtime_content_hash_matches_every_fixture_segment(void **state)
{
	size_t i, checked = 0;

	(void)state;
	for (i = 0; i < RUST_N_FIXTURES; i++) {
		size_t len, off = 0;
		uint8_t *b = if_load_fixture(&rust_fixtures[i], &len);

		while (off + RVF_SEG_HEADER_SIZE <= len) {
			struct rvf_seg_hdr h;
			uint8_t d[16];

			memcpy(&h, b + off, sizeof(h));
			assert_int_equal(h.magic, RVF_SEG_MAGIC);
			assert_true(h.payload_length <= len - off - RVF_SEG_HEADER_SIZE);
			rust_content_hash(b + off + RVF_SEG_HEADER_SIZE, h.payload_length, d);
			assert_memory_equal(d, h.content_hash, 16);
			checked++;
			off += RVF_SEG_HEADER_SIZE + h.payload_length;
		}
		assert_int_equal(off, len);
		free(b);
	}
	assert_int_equal(checked, 3 + 3 + 2 + 3 + 5 + 5 + 3 + 3);
}

static void carried_segments_are_byte_identical(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < RUST_N_FIXTURES; i++) {
		const struct rust_fixture *fx = &rust_fixtures[i];
		struct rust_rvf *r = NULL;
		const struct rust_rvf_seg *c;
		size_t len;
		uint8_t *b;

		if (!fx->carried_type)
			continue;
		b = if_load_fixture(fx, &len);
		assert_int_equal(rust_rvf_parse(b, len, fx->file, &r), 0);
		c = &r->carried[0];
		assert_true(c->offset + c->raw_len <= len);
		assert_memory_equal(c->raw, b + c->offset, c->raw_len);
		assert_ptr_equal(c->payload, c->raw + RVF_SEG_HEADER_SIZE);
		assert_int_equal(c->payload_len, c->hdr.payload_length);
		assert_int_equal(c->raw_len, RVF_SEG_HEADER_SIZE + c->payload_len);
		assert_memory_equal(&c->hdr, b + c->offset, RVF_SEG_HEADER_SIZE);

		if (c->type == RVF_SEG_KERNEL) {
			struct kernel_view kv;

			/* RVF writes cmdline_offset 128 while the cmdline follows the
			 * image: only the RVF-compatible parse accepts that ... */
			assert_int_equal(kernel_payload_parse(c->payload, c->payload_len, 0, &kv),
					 -EUCLEAN);
			/* ... and the RVF-compatible parse accepts the layout. */
			assert_int_equal(kernel_payload_parse(c->payload, c->payload_len,
							      KERNEL_PARSE_RUST, &kv), 0);
			assert_false(kv.has_binding);
			assert_int_equal(kv.image_len, c->payload_len - RVF_KERNEL_HDR_SIZE);
			assert_ptr_equal(kv.image, c->payload + RVF_KERNEL_HDR_SIZE);
			assert_int_equal(kv.cmdline_len, 0);
			/* api_port is big-endian on disk: bytes 00 16 = port 22 */
			assert_int_equal(c->payload[0x2A], 0x00);
			assert_int_equal(c->payload[0x2B], 0x16);
			assert_int_equal(kv.api_port, 22);
		} else {
			struct ebpf_view ev;

			assert_int_equal(ebpf_payload_parse(c->payload, c->payload_len, 0, &ev),
					 -EBADMSG);
			assert_int_equal(ebpf_payload_parse(c->payload, c->payload_len,
							    EBPF_PARSE_RUST, &ev), 0);
			assert_int_equal(ev.hdr.max_dimension, fx->dim);
			assert_int_equal(RVF_EBPF_HDR_SIZE + ev.prog_len + ev.btf_len, c->payload_len);
			/* RVF's insn_count is program bytes / 8 (ruvector-rvf 2.11) */
			assert_int_equal(ev.hdr.insn_count, ev.prog_len / 8);
		}
		rust_rvf_free(r);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixtures_match_readme),
		cmocka_unit_test(buffer_parse_equals_file_read),
		cmocka_unit_test(lineage_child_names_parent),
		cmocka_unit_test(runtime_content_hash_matches_every_fixture_segment),
		cmocka_unit_test(carried_segments_are_byte_identical),
	};

	if_find_fixtures();
	printf("fixtures: %s\n", if_fixture_dir);
	return cmocka_run_group_tests(tests, if_setup, NULL);
}
