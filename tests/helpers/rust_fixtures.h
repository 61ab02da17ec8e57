/*
 * rust_fixtures.h - the Rust-written reference files (tests/fixtures/
 * rvf-reference, or $RVF_FIXTURES) and what their README says of each, for
 * every suite that reads them (test_import*, test_store_import, test_cli_admin).
 */
#ifndef RVF_TESTS_RUST_FIXTURES_H
#define RVF_TESTS_RUST_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

struct rust_fixture {
	const char *file;
	uint16_t dim;
	size_t live;
	uint64_t first_id;
	size_t deleted;
	size_t manifests;
	uint8_t carried_type;           /* 0 = none */
	const char *live_sha16;         /* README's live_sha256, first 16 hex digits */
};

#define RUST_N_FIXTURES 8
extern const struct rust_fixture rust_fixtures[RUST_N_FIXTURES];
/* lineage_child.rvf's parent: lineage_parent.rvf's file id (hex). */
extern const char rust_parent_file_id[];

#endif
