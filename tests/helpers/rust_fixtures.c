/*
 * rust_fixtures.c - see rust_fixtures.h.
 */
#include "rvf/format.h"
#include "rust_fixtures.h"

/* Straight from tests/fixtures/rvf-reference/README.md. */
const struct rust_fixture rust_fixtures[] = {
	{ "basic_store.rvf",       384, 100,   0, 0, 2, 0,              "a1ccee43808a9b9b" },
	{ "access_control.rvf",    128, 150,   0, 0, 2, 0,              "a115efcd718083b4" },
	{ "compacted.rvf",         128, 150,  50, 0, 1, 0,              "20d3d313d732aeca" },
	{ "filtered_search.rvf",   128, 500,   0, 0, 2, 0,              "a8dc9479f30a993a" },
	{ "ebpf_accelerator.rvf",  384, 100,   0, 0, 3, RVF_SEG_EBPF,   "a1ccee43808a9b9b" },
	{ "linux_microkernel.rvf",  64,  20,   0, 0, 3, RVF_SEG_KERNEL, "42cabddec3d6a927" },
	{ "lineage_parent.rvf",    128, 100,   0, 0, 2, 0,              "596dc29f0ae05640" },
	{ "lineage_child.rvf",     128,  50, 200, 0, 2, 0,              "6a111d51e3352b47" },
};
const char rust_parent_file_id[] = "183dabe5dce50c9a4ee02b2db6313cb9";
