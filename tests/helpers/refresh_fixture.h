/*
 * refresh_fixture.h - what the refresh suites (test_store_refresh,
 * test_store_refresh_edge) share: a store and its filters per test, batches
 * of generated rows, a read-only handle, and the yardstick: a refreshed
 * reader answers exactly as a freshly opened one.
 */
#ifndef RVF_TESTS_REFRESH_FIXTURE_H
#define RVF_TESTS_REFRESH_FIXTURE_H

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

#define DIM 16
#define K   10
#define NQ  16
#define EF  32
#define NFILT 4

struct fx {
	char *dir;
	char *path;
	struct rvf_filter *filt[NFILT];
};

extern const char *rf_animals[];
int rf_setup(void **state);
int rf_teardown(void **state);
/* ---- data: vectors and metadata are functions of (id, version) ---------------- */

void rf_vec_of(uint64_t id, uint32_t ver, float *out);

struct batch {
	size_t n;
	struct rvf_vector *v;
	float *vals;
	struct rvf_meta_entry (*me)[3];
};
/* ids from..from+n-1 at version ver; id % 10 == 9 has no metadata. */
void rf_batch_make(struct batch *b, uint64_t from, size_t n, uint32_t ver);
void rf_batch_free(struct batch *b);
/* 0 or the ingest error (usable in a forked child). */
int rf_put(struct rvf_store *s, uint64_t from, size_t n, uint32_t ver);
struct rvf_store *rf_make_store(const char *path, size_t n);
struct rvf_store *rf_open_ro(const char *path);
uint64_t rf_epoch_of(const struct rvf_store *s);
bool rf_changed(const struct rvf_store *s);

/* ---- answers: everything a reader serves, in a fixed order ------------------- */

#define NANS (NQ * (2 + NFILT * 3 * 2))

struct answers {
	struct rvf_store_status st;
	uint64_t *ids;
	size_t nids;
	int n[NANS];
	struct rvf_result r[NANS][K];
};
void rf_query_vec(size_t q, float *out);
/* Each filter three times over all queries (first sighting, bitmap build,
 * bitmap), graph and exact: every planner path, in the same order. */
void rf_answers_of(struct fx *f, const struct rvf_store *s, struct answers *a);
void rf_answers_release(struct answers *a);
void rf_same_results(const struct rvf_result *x, int nx, const struct rvf_result *y, int ny,
		     const char *what, size_t idx);
void rf_same_answers(const struct answers *a, const struct answers *b, const char *what);
void rf_same_status_and_ids(const struct answers *a, const struct answers *b, const char *what);
/* Equal status, live ids and exact answers; HNSW answers valid (live ids,
 * in distance order) and, over all queries, >= 0.95 recall against the
 * exact ones on both sides: for handles whose graphs were built along
 * different paths (a refresh that replayed commits one at a time beside a
 * fresh open that loaded the writer's newer checkpoint). */
void rf_equivalent_answers(const struct answers *a, const struct answers *b, const char *what);
/* The reader answers as a fresh read-only handle on the same snapshot. */
void rf_expect_matches_fresh(struct fx *f, const struct rvf_store *r, const char *what);
/* A query context answers every query as rvf_store_query on the same handle
 * (filters warmed up first, so both see cached bitmaps). */
void rf_expect_ctx_matches_query(struct fx *f, const struct rvf_store *s, struct rvf_query_ctx *c);

#endif
