/*
 * data/gt.c - exact k-NN ground truth by brute force, and its file cache.
 *
 * Two passes per query: a float scan with the SIMD kernels keeps the best
 * k + margin candidates (margin absorbs float rounding near the k-th
 * distance), then those are re-scored in double precision and ordered by
 * (distance, id). Queries are handed out to threads in blocks so that one
 * base row is reused from L1 across the block.
 *
 * Cache file (little-endian):
 *   0  8  magic "RVFGT\0\0\1"
 *   8  8  nq
 *   16 4  k
 *   20 4  metric
 *   24 8  key: XXH3-64 of the base and query rows, their shapes, metric and k
 *   32    ids u32[nq*k], then dist f32[nq*k]
 *   end 8 XXH3-64 of everything before
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "data/data.h"
#include "rvf/error.h"
#include "rvf/index.h"

#define GT_QBLOCK 8
#define GT_MAGIC  "RVFGT\0\0\1"

struct gt_cand { float d; uint32_t id; };

/* dot(a, b) through the public kernels (the IP distance is 1 - dot). */
static float gt_dot(const float *a, const float *b, uint32_t dim)
{
	return 1.0f - rvf_distance(RVF_METRIC_IP, a, b, dim);
}

struct gt_job {
	const struct data_mat *base, *queries;
	enum rvf_metric metric;
	uint32_t k, ncand;
	float *bnorm;           /* cosine: |base row| */
	struct data_gt *out;
	size_t next;            /* atomic: next query block */
	int err;
};

void data_gt_release(struct data_gt *gt)
{
	if (!gt)
		return;
	free(gt->ids);
	free(gt->dist);
	gt->ids = NULL;
	gt->dist = NULL;
	gt->nq = 0;
}

/* max-heap on d, then id (the worst candidate on top) */
static int worse(struct gt_cand a, struct gt_cand b)
{
	return a.d > b.d || (a.d == b.d && a.id > b.id);
}

static void heap_replace_top(struct gt_cand *h, size_t n, struct gt_cand x)
{
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && worse(h[c + 1], h[c]))
			c++;
		if (!worse(h[c], x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

static void heap_push(struct gt_cand *h, size_t *n, struct gt_cand x)
{
	size_t i = (*n)++;

	while (i) {
		size_t p = (i - 1) / 2;

		if (!worse(x, h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = x;
}

static double dist_double(enum rvf_metric metric, const float *a, const float *b, uint32_t dim)
{
	double s = 0, na = 0, nb = 0;

	for (uint32_t i = 0; i < dim; i++) {
		if (metric == RVF_METRIC_L2) {
			double d = (double)a[i] - b[i];

			s += d * d;
		} else {
			s += (double)a[i] * b[i];
			na += (double)a[i] * a[i];
			nb += (double)b[i] * b[i];
		}
	}
	if (metric == RVF_METRIC_L2)
		return s;
	if (metric == RVF_METRIC_IP)
		return 1.0 - s;
	if (na <= 0 || nb <= 0)
		return 1.0;
	return 1.0 - s / (sqrt(na) * sqrt(nb));
}

struct gt_final { double d; uint32_t id; };

static int final_cmp(const void *a, const void *b)
{
	const struct gt_final *x = a, *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void *gt_worker(void *arg)
{
	struct gt_job *j = arg;
	const struct data_mat *B = j->base, *Q = j->queries;
	uint32_t dim = B->dim, nc = j->ncand;
	struct gt_cand *heaps = malloc((size_t)GT_QBLOCK * nc * sizeof(*heaps));
	struct gt_final *fin = malloc((size_t)nc * sizeof(*fin));
	size_t nh[GT_QBLOCK];
	float qn[GT_QBLOCK];

	if (!heaps || !fin) {
		__atomic_store_n(&j->err, -ENOMEM, __ATOMIC_RELAXED);
		goto out;
	}
	for (;;) {
		size_t q0 = __atomic_fetch_add(&j->next, GT_QBLOCK, __ATOMIC_RELAXED), nq;

		if (q0 >= Q->n)
			break;
		nq = Q->n - q0 < GT_QBLOCK ? Q->n - q0 : GT_QBLOCK;
		for (size_t b = 0; b < nq; b++) {
			const float *q = Q->v + (q0 + b) * dim;

			nh[b] = 0;
			qn[b] = sqrtf(gt_dot(q, q, dim));
		}
		for (size_t i = 0; i < B->n; i++) {
			const float *row = B->v + i * dim;

			for (size_t b = 0; b < nq; b++) {
				const float *q = Q->v + (q0 + b) * dim;
				struct gt_cand c = { 0, (uint32_t)i };
				struct gt_cand *h = heaps + b * nc;

				if (j->metric == RVF_METRIC_L2) {
					c.d = rvf_distance(RVF_METRIC_L2, q, row, dim);
				} else {
					float dot = gt_dot(q, row, dim);

					if (j->metric == RVF_METRIC_IP)
						c.d = 1.0f - dot;
					else if (qn[b] > 0 && j->bnorm[i] > 0)
						c.d = 1.0f - dot / (qn[b] * j->bnorm[i]);
					else
						c.d = 1.0f;
				}
				if (nh[b] < nc)
					heap_push(h, &nh[b], c);
				else if (worse(h[0], c))
					heap_replace_top(h, nc, c);
			}
		}
		for (size_t b = 0; b < nq; b++) {
			const float *q = Q->v + (q0 + b) * dim;
			struct gt_cand *h = heaps + b * nc;
			size_t row = q0 + b;

			for (size_t c = 0; c < nh[b]; c++)
				fin[c] = (struct gt_final){ dist_double(j->metric, q, B->v + (size_t)h[c].id * dim, dim),
							    h[c].id };
			qsort(fin, nh[b], sizeof(*fin), final_cmp);
			for (uint32_t c = 0; c < j->k; c++) {
				j->out->ids[row * j->k + c] = fin[c].id;
				j->out->dist[row * j->k + c] = (float)fin[c].d;
			}
		}
	}
out:
	free(heaps);
	free(fin);
	return NULL;
}

int data_gt_compute(const struct data_mat *base, const struct data_mat *queries, enum rvf_metric metric,
		    uint32_t k, unsigned threads, struct data_gt *out)
{
	struct gt_job j = { 0 };
	struct data_gt gt = { 0 };
	pthread_t tid[64];
	unsigned nt = 0;
	int err;

	if (!base || !queries || !out || !k || k > base->n || base->dim != queries->dim || !base->dim ||
	    base->n > UINT32_MAX || metric > RVF_METRIC_COSINE)
		return rvf_fail(-EINVAL, "data: bad ground-truth request (k %u, base %zu x %u, queries %zu x %u)",
				k, base ? base->n : 0, base ? base->dim : 0, queries ? queries->n : 0,
				queries ? queries->dim : 0);
	err = rvf_simd_init();
	if (err)
		return err;
	gt.nq = queries->n;
	gt.k = k;
	gt.ids = malloc((queries->n ? queries->n : 1) * k * sizeof(*gt.ids));
	gt.dist = malloc((queries->n ? queries->n : 1) * k * sizeof(*gt.dist));
	if (!gt.ids || !gt.dist) {
		err = rvf_fail(-ENOMEM, "data: out of memory for ground truth");
		goto out;
	}
	j.base = base;
	j.queries = queries;
	j.metric = metric;
	j.k = k;
	j.ncand = base->n < (size_t)2 * k + 16 ? (uint32_t)base->n : 2 * k + 16;
	j.out = &gt;
	if (metric == RVF_METRIC_COSINE) {
		j.bnorm = malloc((base->n ? base->n : 1) * sizeof(float));
		if (!j.bnorm) {
			err = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < base->n; i++) {
			const float *r = base->v + i * base->dim;

			j.bnorm[i] = sqrtf(gt_dot(r, r, base->dim));
		}
	}
	if (!threads) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		threads = c > 0 ? (unsigned)c : 1;
	}
	if (threads > 64)
		threads = 64;
	for (nt = 0; nt + 1 < threads; nt++)
		if (pthread_create(&tid[nt], NULL, gt_worker, &j))
			break;
	gt_worker(&j);
	for (unsigned i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	err = j.err;
	if (err)
		goto out;
	*out = gt;
	gt.ids = NULL;
	gt.dist = NULL;
out:
	free(j.bnorm);
	data_gt_release(&gt);
	return err;
}

/* ---- cache ---------------------------------------------------------------- */

static uint64_t gt_key(const struct data_mat *base, const struct data_mat *queries, enum rvf_metric metric,
		       uint32_t k)
{
	XXH3_state_t *st = XXH3_createState();
	uint64_t shape[6] = { base->n, base->dim, queries->n, queries->dim, (uint64_t)metric, k }, key;

	if (!st)
		return 0;
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, shape, sizeof(shape));
	XXH3_64bits_update(st, base->v, base->n * base->dim * sizeof(float));
	XXH3_64bits_update(st, queries->v, queries->n * queries->dim * sizeof(float));
	key = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return key;
}

static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = 0;
			if (mkdir(p, 0755) && errno != EEXIST) {
				err = rvf_fail(-errno, "data: mkdir %s: %s", p, strerror(errno));
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return err;
}

struct gt_hdr {
	char magic[8];
	uint64_t nq;
	uint32_t k, metric;
	uint64_t key;
};

static int gt_read(const char *path, const struct gt_hdr *want, struct data_gt *out)
{
	size_t cells = want->nq * want->k, size = sizeof(struct gt_hdr) + cells * 8 + 8;
	struct gt_hdr h;
	uint8_t *buf = NULL;
	uint64_t sum;
	FILE *f = fopen(path, "rb");
	int ok = 0;

	if (!f)
		return 0;
	buf = malloc(size);
	if (buf && fread(buf, 1, size, f) == size && fgetc(f) == EOF) {
		memcpy(&h, buf, sizeof(h));
		memcpy(&sum, buf + size - 8, 8);
		ok = !memcmp(&h, want, sizeof(h)) && sum == XXH3_64bits(buf, size - 8);
	}
	fclose(f);
	if (ok) {
		out->ids = malloc((cells ? cells : 1) * 4);
		out->dist = malloc((cells ? cells : 1) * 4);
		if (!out->ids || !out->dist) {
			data_gt_release(out);
			ok = 0;
		} else {
			memcpy(out->ids, buf + sizeof(h), cells * 4);
			memcpy(out->dist, buf + sizeof(h) + cells * 4, cells * 4);
			out->nq = want->nq;
			out->k = want->k;
		}
	}
	free(buf);
	return ok;
}

static int gt_write(const char *path, const struct gt_hdr *h, const struct data_gt *gt)
{
	size_t cells = gt->nq * gt->k, size = sizeof(*h) + cells * 8 + 8;
	uint8_t *buf = malloc(size);
	char *tmp = NULL;
	uint64_t sum;
	FILE *f;
	int err = 0;

	if (!buf || asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(buf, h, sizeof(*h));
	memcpy(buf + sizeof(*h), gt->ids, cells * 4);
	memcpy(buf + sizeof(*h) + cells * 4, gt->dist, cells * 4);
	sum = XXH3_64bits(buf, size - 8);
	memcpy(buf + size - 8, &sum, 8);
	f = fopen(tmp, "wb");
	if (!f || fwrite(buf, 1, size, f) != size || fflush(f)) {
		err = rvf_fail(-EIO, "data: cannot write ground-truth cache %s: %s", tmp, strerror(errno));
		if (f)
			fclose(f);
		unlink(tmp);
	} else if (fclose(f) || rename(tmp, path)) {
		err = rvf_fail(-EIO, "data: cannot write ground-truth cache %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	free(buf);
	return err;
}

int data_gt_cached(const struct data_mat *base, const struct data_mat *queries, enum rvf_metric metric,
		   uint32_t k, unsigned threads, const char *cache_dir, struct data_gt *out)
{
	struct gt_hdr h = { GT_MAGIC, 0, 0, 0, 0 };
	struct data_gt gt = { 0 };
	char path[4096];
	int err;

	if (!base || !queries || !out || !cache_dir)
		return -EINVAL;
	h.nq = queries->n;
	h.k = k;
	h.metric = (uint32_t)metric;
	h.key = gt_key(base, queries, metric, k);
	snprintf(path, sizeof(path), "%s/gt-%016llx-k%u.bin", cache_dir, (unsigned long long)h.key, k);
	if (gt_read(path, &h, out))
		return 0;
	err = data_gt_compute(base, queries, metric, k, threads, &gt);
	if (err)
		return err;
	/* A cache that cannot be written is not an error: the answer is good. */
	if (!mkdir_p(cache_dir) && gt_write(path, &h, &gt))
		rvf_log(RVF_LOG_WARN, "data: ground truth not cached in %s", cache_dir);
	*out = gt;
	return 0;
}

double data_recall_at(const struct data_gt *gt, size_t qi, const uint64_t *found, size_t n, uint32_t k)
{
	const uint32_t *row;
	size_t hit = 0;

	if (!gt || qi >= gt->nq || !k || k > gt->k)
		return 0;
	row = gt->ids + qi * gt->k;
	if (n > k)
		n = k;
	for (size_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < k; j++) {
			if (found[i] == row[j]) {
				hit++;
				break;
			}
		}
	}
	return (double)hit / k;
}
