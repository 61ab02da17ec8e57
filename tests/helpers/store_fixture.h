/*
 * store_fixture.h - what the store suites (test_store, test_store_persist,
 * test_store_api) share: a temp directory per test, a generated data set
 * with typed metadata, create / ingest / reopen / verify helpers, the
 * brute-force filter evaluator, the status ground truth.
 */
#ifndef RVF_TESTS_STORE_FIXTURE_H
#define RVF_TESTS_STORE_FIXTURE_H

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

struct fx {
	char *dir;
	char *path;
};
int sf_setup(void **state);
int sf_teardown(void **state);

/* ---- a generated data set with typed metadata --------------------------------------- */

#define DIM 16
#define NV  600

struct ds {
	uint32_t dim;
	size_t n;
	uint64_t *ids;
	float *v;
	/* metadata model */
	bool has_meta[NV];
	uint64_t f0[NV];          /* u64 i % 7 */
	int64_t f1[NV];           /* i64 i % 11 - 5 */
	bool has_f2[NV];
	double f2[NV];            /* f64 i * 0.5 (absent when i % 5 == 0) */
	const char *f3[NV];       /* string */
	uint8_t f4[NV];           /* one byte of bytes */
	struct rvf_meta_entry me[NV][5];
	uint32_t nme[NV];
};

extern const char *sf_animals[];
void sf_ds_make(struct ds *d, uint32_t dim, size_t n, uint64_t seed);
void sf_ds_free(struct ds *d);
struct rvf_vector *sf_ds_vecs(const struct ds *d, size_t from, size_t n, bool meta);
void sf_ingest(struct rvf_store *s, const struct ds *d, size_t from, size_t n, bool meta);
struct rvf_store *sf_create(const char *path, uint32_t dim, enum rvf_metric m);
struct rvf_store *sf_reopen(const char *path);
void sf_expect_verify(struct rvf_store *s);
struct rvf_filter *sf_make_filter(int k);
/* The brute-force evaluator: straight from the data model and meta.h. */
bool sf_bf_match(const struct ds *d, int k, size_t i);
/* ---- status and compaction ------------------------------------------------------------- */

/* Ground truth for dead bytes from the dir's own figures and the layout. */
void sf_expect_status_truth(struct rvf_store *s, uint64_t live, uint64_t deleted,
			    uint64_t dead_rows, uint64_t dead_other);
/* Log to stderr and say which distance kernels this run uses: a forced
 * RVF_SIMD set the CPU lacks fails here rather than running on another set.
 * 0, or 1 (the exit status) after saying why. */
int sf_suite_init(void);

#endif
