/*
 * store/store_peek.h - the handles under a store, for tests and for the
 * benchmarks that measure a layer below the store (bench-store compares the
 * store's query with the bare index's). Not part of the public API: what a
 * user needs of them (generation, block size, index counts) is in
 * struct rvf_store_status.
 */
#ifndef RVF_STORE_PEEK_H
#define RVF_STORE_PEEK_H

#include "rvf/dir.h"
#include "rvf/index.h"
#include "rvf/rvf.h"

/* The storage handle (borrowed; never write to it behind the store's back). */
struct rvf_dir *rvf_store_dir(const struct rvf_store *s);
/* The in-memory index (borrowed, read-only use). */
const struct rvf_hnsw *rvf_store_index(const struct rvf_store *s);

#endif
