/*
 * data/data.h - internal data-set plumbing shared by the CLI (`rvf ingest
 * --format idx|fvecs|bvecs`), benchmarks and tests:
 *
 *   - readers for idx (MNIST-style, e.g. Fashion-MNIST), fvecs, bvecs and
 *     ivecs files, plain or gzip-compressed (zlib detects which), as a
 *     streaming reader and as whole-file loads; fvecs/ivecs writers
 *   - exact brute-force k-NN ground truth (multi-threaded), with a file cache
 *   - a seeded synthetic "embedding-like" set: a mixture of Gaussian clusters
 *     in a low-dimensional latent space, randomly projected up, plus noise
 *
 * All functions return 0 / -errno and log the reason (common/log.h).
 */
#ifndef RVF_DATA_DATA_H
#define RVF_DATA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "rvf/index.h"

/* n rows of dim float32, contiguous, 64-byte aligned. */
struct data_mat {
	float *v;
	size_t n;
	uint32_t dim;
};
int data_mat_alloc(struct data_mat *m, size_t n, uint32_t dim);
void data_mat_release(struct data_mat *m);          /* accepts a zeroed/NULL-v struct */

struct data_imat {
	int32_t *v;
	size_t n;
	uint32_t dim;
};
void data_imat_release(struct data_imat *m);

enum data_format { DATA_FMT_IDX, DATA_FMT_FVECS, DATA_FMT_BVECS, DATA_FMT_IVECS };
/* "idx" | "fvecs" | "bvecs" | "ivecs" -> 0, else -EINVAL. */
int data_format_parse(const char *name, enum data_format *fmt);
const char *data_format_name(enum data_format fmt);

/*
 * Streaming reader. idx files may hold u8, s8, i16, i32, f32 or f64 values
 * and any number of dimensions; each first-axis item is one row of the
 * product of the other sizes. bvecs/ivecs values convert to float; ivecs
 * rows are read as floats here (use data_load_ivecs for ids).
 */
struct data_reader;
int data_reader_open(const char *path, enum data_format fmt, struct data_reader **out);
/* Row width, known after open. */
uint32_t data_reader_dim(const struct data_reader *r);
/* Row count if the format says (idx), else 0 (unknown until EOF). */
size_t data_reader_rows_hint(const struct data_reader *r);
/* Read up to max rows into rows (max * dim floats). Returns rows read
 * (0 at end), -EUCLEAN on malformed/truncated input, -EIO on read error. */
long data_reader_next(struct data_reader *r, float *rows, size_t max);
void data_reader_close(struct data_reader *r);      /* accepts NULL */

/* Whole-file loads; max_n = 0 reads everything. */
int data_load(const char *path, enum data_format fmt, size_t max_n, struct data_mat *out);
int data_load_ivecs(const char *path, size_t max_n, struct data_imat *out);

/* Writers (plain files). */
int data_save_fvecs(const char *path, const float *v, size_t n, uint32_t dim);
int data_save_ivecs(const char *path, const int32_t *v, size_t n, uint32_t dim);

/* Fashion-MNIST from Debian's dataset-fashion-mnist: 60,000 base rows and
 * 10,000 queries of 784 pixels (0..255 as floats). dir NULL = the default
 * DATA_FMNIST_DIR. -ENOENT (with a log) when the files are missing. */
#define DATA_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
int data_fashion_mnist(const char *dir, struct data_mat *base, struct data_mat *queries);

/* ---- ground truth --------------------------------------------------------- */

struct data_gt {
	uint32_t *ids;     /* nq * k, row i = query i's neighbours, nearest first */
	float *dist;       /* matching distances (metric as rvf_distance) */
	size_t nq;
	uint32_t k;
};
void data_gt_release(struct data_gt *gt);

/*
 * Exact k nearest base rows for every query. Candidates come from a blocked
 * float scan; the final order uses double-precision distances, ties by the
 * smaller id. threads 0 = all cores. k <= base->n.
 */
int data_gt_compute(const struct data_mat *base, const struct data_mat *queries, enum rvf_metric metric,
		    uint32_t k, unsigned threads, struct data_gt *out);
/*
 * Same, cached in cache_dir (created if missing) under a name derived from a
 * hash of base, queries, metric and k; a damaged cache file is recomputed.
 */
int data_gt_cached(const struct data_mat *base, const struct data_mat *queries, enum rvf_metric metric,
		   uint32_t k, unsigned threads, const char *cache_dir, struct data_gt *out);

/* |found[0..n) ∩ gt row qi's first k| / k, found holding base row ids. */
double data_recall_at(const struct data_gt *gt, size_t qi, const uint64_t *found, size_t n, uint32_t k);

/* ---- synthetic clustered set ---------------------------------------------- */

struct data_synth_opts {
	size_t n;            /* base rows; 0 = 1,000,000 */
	size_t nq;           /* query rows; 0 = 1,000 */
	uint32_t dim;        /* 0 = 128 */
	uint32_t latent;     /* latent dimension; 0 = 24 */
	uint32_t clusters;   /* 0 = 300 */
	uint64_t seed;       /* 0 = 42 */
	unsigned threads;    /* 0 = all cores; the output does not depend on it */
};
/*
 * A mixture of `clusters` Gaussians (random weights and spreads) in a
 * latent-dimensional space, projected by one random Gaussian matrix to dim,
 * plus small isotropic noise. Queries are fresh draws from the same mixture.
 */
int data_synth_clustered(const struct data_synth_opts *o, struct data_mat *base, struct data_mat *queries);

#endif
