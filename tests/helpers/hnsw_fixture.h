/*
 * hnsw_fixture.h - what the HNSW suites (test_hnsw, test_hnsw_update,
 * test_hnsw_edge) share: the Fashion-MNIST world (base rows, queries, exact
 * ground truth, the 20k index built with 2 threads), index builders, the
 * invariant check, recall and result comparisons.
 */
#ifndef RVF_TESTS_HNSW_FIXTURE_H
#define RVF_TESTS_HNSW_FIXTURE_H

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "data/data.h"
#include "index/hnsw_internal.h"
#include "rvf/error.h"
#include "rvf/index.h"
#include "testutil.h"

#define FM_N      20000
#define FM_Q      200
#define SMALL_N   3000
#define SMALL_Q   100
#define DIM       784
#define K         10
#define LABEL_OFF (1ull << 40)   /* labels far from internal ids */

struct world {
	struct data_mat base, queries;   /* FM_N x DIM, FM_Q x DIM */
	struct data_mat small;           /* view: first SMALL_N rows of base */
	struct data_mat squeries;        /* view: first SMALL_Q queries */
	struct data_gt gt;               /* exact L2 top-K of queries in base */
	struct data_gt sgt;              /* exact L2 top-K of squeries in small */
	struct rvf_hnsw *big;            /* FM_N rows, add_batch with 2 threads */
	uint64_t seed;
};

extern struct world hw_W;
/* ---- helpers ---------------------------------------------------------------- */

void hw_check_ok(const struct rvf_hnsw *h, const char *phase);
struct rvf_hnsw *hw_build(const struct data_mat *m, size_t n, enum rvf_metric metric,
			  const struct rvf_hnsw_opts *o, uint64_t label_off);
/* Results sorted by (distance, label), with distances equal (within float
 * rounding) to rvf_distance against the vector stored under the label. */
void hw_check_sorted_exact(const struct rvf_hnsw *h, const float *q, const struct rvf_hnsw_result *r, int n);
void hw_same_result_lists(const struct rvf_hnsw_result *a, const struct rvf_hnsw_result *b, size_t n);
/* Mean recall@K of h on the queries against gt, whose ids are rows; the
 * index stores row i under label label_off + i. */
double hw_recall_of(const struct rvf_hnsw *h, const struct data_mat *qs, const struct data_gt *gt,
		    uint32_t ef, const struct rvf_hnsw_filter *f, uint64_t label_off);
void hw_need_recall(double got, double want, const char *what);
/* ---- group setup: load data, ground truth, the shared 20k index ------------ */

/* The data, the ground truth and, with big, the FM_N index (W.big). */
int hw_world_load(bool big);
int hw_world_setup(void **state);
/* The suites that need no W.big: the data and the ground truth only. */
int hw_world_setup_data(void **state);
int hw_world_teardown(void **state);
int hw_allow_even_label(void *ctx, uint64_t label, uint32_t id);

/* ---- save / load ------------------------------------------------------------ */

struct vec_src { const float *rows; uint64_t label_off; size_t n; size_t calls; int fail_at; };
const float *hw_get_vec(void *ctx, uint64_t label, uint32_t id);
void hw_same_results(const struct rvf_hnsw *a, const struct rvf_hnsw *b, const struct data_mat *qs);

#endif
