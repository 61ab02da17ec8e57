/*
 * bench-filter - filtered queries through the store, at the same recall as
 * unfiltered ones (issues 11 and 12).
 *
 *   Fashion-MNIST (60k base, 10k queries; class label as metadata field 0)
 *   in one store (M=16, ef_construction=200, default SQ8 traversal). Three
 *   query sets over the same queries, k=10, one thread, one query context:
 *     none      no filter
 *     lt5       "class < 5": half the store, correlated with the query (a
 *               query of footwear has no allowed neighbour nearby)
 *     eq7       "class = 7" (sneakers): the demo's 10% filter
 *   For each ef (RVF_BENCH_EFS, default 10,16,32,64,128,256,512) every set
 *   runs in interleaved chunks of 100 queries, so all see the same machine;
 *   a first untimed pass warms up (and builds the filter's cached bitmap).
 *   recall@10 is against exact filtered ground truth (brute force over the
 *   rows the filter admits, cached in RVF_BENCH_CACHE).
 *
 * QPS is queries per second of this thread's CPU time (the machine is shared:
 * wall-clock chunks would charge one set for another job's time slice).
 *
 * Output: one JSON line per (set, ef), then a summary: each filtered set's
 * QPS at recall 0.90, 0.95 and 0.99 (interpolated on its curve) as a ratio to
 * the unfiltered QPS at the same recall. Environment: RVF_BENCH_QUICK=1
 * (20k base, 1k queries), RVF_BENCH_FMNIST_N / _NQ, RVF_BENCH_EFS,
 * RVF_BENCH_DIR (store file; default build/bench), RVF_BENCH_CACHE
 * (default build/bench-cache).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/data.h"
#include "rvf/error.h"
#include "rvf/rvf.h"

#define K        10
#define CHUNK    100
#define MAX_EFS  16
#define NSETS    3

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a machine shared with other jobs the ratio
 * must not depend on who else ran during a chunk. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t env_size(const char *name, size_t def)
{
	const char *e = getenv(name);

	return e && *e ? (size_t)strtoull(e, NULL, 10) : def;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-filter: %s: %s (%s)\n", what, rvf_strerror(err), rvf_last_error());
	exit(1);
}

struct set {
	const char *name;
	struct rvf_filter *f;       /* NULL: unfiltered */
	uint64_t *gt;               /* nq * K ids (UINT64_MAX pads short rows) */
	size_t *gtn;                /* matches per query row (<= K) */
	double qps[MAX_EFS], recall[MAX_EFS], t[MAX_EFS];
	size_t hits[MAX_EFS];
};

static bool admits(const struct set *s, unsigned cls)
{
	if (!strcmp(s->name, "lt5"))
		return cls < 5;
	if (!strcmp(s->name, "eq7"))
		return cls == 7;
	return true;
}

/* Exact filtered neighbours: brute force over the admitted rows (cached). */
static void ground_truth(struct set *s, const struct data_mat *base, const unsigned *cls,
			 const struct data_mat *q, const char *cache)
{
	struct data_mat sub = { 0 };
	struct data_gt gt = { 0 };
	size_t *rowid = malloc(base->n * sizeof(*rowid)), m = 0;
	int err;

	if (!rowid || data_mat_alloc(&sub, base->n, base->dim))
		die("ground truth", -ENOMEM);
	for (size_t i = 0; i < base->n; i++)
		if (admits(s, cls[i])) {
			memcpy(sub.v + m * base->dim, base->v + i * base->dim, base->dim * sizeof(float));
			rowid[m++] = i;
		}
	sub.n = m;
	err = data_gt_cached(&sub, q, RVF_METRIC_L2, K, 0, cache, &gt);
	if (err)
		die("ground truth", err);
	s->gt = malloc(q->n * K * sizeof(*s->gt));
	s->gtn = malloc(q->n * sizeof(*s->gtn));
	if (!s->gt || !s->gtn)
		die("ground truth", -ENOMEM);
	for (size_t i = 0; i < q->n; i++) {
		s->gtn[i] = m < K ? m : K;
		for (size_t j = 0; j < K; j++)
			s->gt[i * K + j] = j < s->gtn[i] ? rowid[gt.ids[i * gt.k + j]] : UINT64_MAX;
	}
	data_gt_release(&gt);
	data_mat_release(&sub);
	free(rowid);
}

static size_t hits_of(const struct set *s, size_t qi, const struct rvf_result *r, int n)
{
	size_t h = 0;

	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < s->gtn[qi]; j++)
			if (s->gt[qi * K + j] == r[i].id) {
				h++;
				break;
			}
	return h;
}

/* QPS at a recall target, interpolated between the bracketing efs; NAN if
 * the curve never reaches it. */
static double qps_at(const struct set *s, size_t nef, double target)
{
	for (size_t i = 0; i < nef; i++) {
		if (s->recall[i] < target)
			continue;
		if (i == 0 || s->recall[i] == s->recall[i - 1])
			return s->qps[i];
		return s->qps[i - 1] + (s->qps[i] - s->qps[i - 1]) * (target - s->recall[i - 1]) /
					       (s->recall[i] - s->recall[i - 1]);
	}
	return NAN;
}

static void build_store(const char *path, const struct data_mat *base, const unsigned *cls,
			struct rvf_store **out)
{
	struct rvf_store_opts o = { .dimension = base->dim, .M = 16, .ef_construction = 200 };
	size_t batch = 5000;
	struct rvf_vector *v = calloc(batch, sizeof(*v));
	struct rvf_meta_entry *me = calloc(batch, sizeof(*me));
	double t0 = now_s();
	int err;

	if (!v || !me)
		die("ingest", -ENOMEM);
	unlink(path);
	err = rvf_store_create(path, &o, out);
	if (err)
		die("create", err);
	for (size_t i = 0; i < base->n; i += batch) {
		size_t n = base->n - i < batch ? base->n - i : batch;
		for (size_t j = 0; j < n; j++) {
			me[j] = (struct rvf_meta_entry){ 0, rvf_meta_u64(cls[i + j]) };
			v[j] = (struct rvf_vector){ .id = i + j, .values = base->v + (i + j) * base->dim,
						    .dim = base->dim, .meta = &me[j], .n_meta = 1 };
		}
		err = rvf_store_ingest_batch(*out, v, n, NULL);
		if (err)
			die("ingest", err);
	}
	fprintf(stderr, "bench-filter: %zu vectors ingested in %.1f s\n", base->n, now_s() - t0);
	free(v);
	free(me);
}

int main(void)
{
	int quick = getenv("RVF_BENCH_QUICK") != NULL;
	size_t n = env_size("RVF_BENCH_FMNIST_N", quick ? 20000 : 60000);
	size_t nq = env_size("RVF_BENCH_FMNIST_NQ", quick ? 1000 : 10000);
	const char *dir = getenv("RVF_BENCH_DIR") ? getenv("RVF_BENCH_DIR") : "build/bench";
	const char *cache = getenv("RVF_BENCH_CACHE") ? getenv("RVF_BENCH_CACHE") : "build/bench-cache";
	const char *efs_env = getenv("RVF_BENCH_EFS");
	uint32_t efs[MAX_EFS];
	size_t nef = 0;
	struct data_mat base = { 0 }, q = { 0 }, lab = { 0 };
	struct rvf_meta_value five = rvf_meta_u64(5), seven = rvf_meta_u64(7);
	struct set sets[NSETS] = { { .name = "none" }, { .name = "lt5" }, { .name = "eq7" } };
	struct rvf_store *s = NULL;
	struct rvf_query_ctx *ctx = NULL;
	struct rvf_result r[K];
	unsigned *cls;
	char path[4096];
	int err;

	{
		char buf[256], *p, *save = NULL;
		snprintf(buf, sizeof(buf), "%s", efs_env && *efs_env ? efs_env : "10,16,32,64,128,256,512");
		for (p = strtok_r(buf, ",", &save); p && nef < MAX_EFS; p = strtok_r(NULL, ",", &save))
			efs[nef++] = (uint32_t)strtoul(p, NULL, 10);
	}
	err = data_fashion_mnist(NULL, &base, &q);
	if (!err)
		err = data_load(DATA_FMNIST_DIR "/train-labels-idx1-ubyte.gz", DATA_FMT_IDX, 0, &lab);
	if (err)
		die("Fashion-MNIST", err);
	if (lab.n != base.n || lab.dim != 1)
		die("Fashion-MNIST labels", -EUCLEAN);
	if (n < base.n)
		base.n = n;
	if (nq < q.n)
		q.n = nq;
	cls = malloc(base.n * sizeof(*cls));
	if (!cls)
		die("labels", -ENOMEM);
	for (size_t i = 0; i < base.n; i++)
		cls[i] = (unsigned)lab.v[i];
	sets[1].f = rvf_filter_lt(0, &five);
	sets[2].f = rvf_filter_eq(0, &seven);
	if (!sets[1].f || !sets[2].f)
		die("filter", -ENOMEM);
	for (int i = 0; i < NSETS; i++)
		ground_truth(&sets[i], &base, cls, &q, cache);

	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/bench-filter-%zu.rvf", dir, base.n);
	build_store(path, &base, cls, &s);
	err = rvf_query_ctx_new(s, &ctx);
	if (err)
		die("query context", err);

	for (size_t e = 0; e < nef; e++) {
		for (int pass = 0; pass < 2; pass++) {     /* pass 0 warms up */
			for (size_t c = 0; c < q.n; c += CHUNK) {
				size_t end = c + CHUNK < q.n ? c + CHUNK : q.n;
				for (int k = 0; k < NSETS; k++) {
					/* rotate which set goes first, chunk by chunk */
					struct set *st = &sets[(k + c / CHUNK) % NSETS];
					struct rvf_query_opts o = { .ef_search = efs[e], .filter = st->f };
					double t0 = cpu_s();
					size_t h = 0;
					for (size_t i = c; i < end; i++) {
						int got = rvf_store_query_ctx(s, ctx, q.v + i * q.dim, q.dim, K, &o, r);
						if (got < 0)
							die("query", got);
						h += hits_of(st, i, r, got);
					}
					if (pass) {
						st->t[e] += cpu_s() - t0;
						st->hits[e] += h;
					}
				}
			}
		}
		for (int k = 0; k < NSETS; k++) {
			struct set *st = &sets[k];
			size_t want = 0;
			for (size_t i = 0; i < q.n; i++)
				want += st->gtn[i];
			st->qps[e] = (double)q.n / st->t[e];
			st->recall[e] = want ? (double)st->hits[e] / (double)want : 1.0;
			printf("{\"bench\":\"store_filtered\",\"dataset\":\"fmnist\",\"n\":%zu,\"nq\":%zu,"
			       "\"k\":%d,\"filter\":\"%s\",\"ef\":%u,\"recall\":%.4f,\"qps\":%.0f}\n",
			       base.n, q.n, K, st->name, efs[e], st->recall[e], st->qps[e]);
			fflush(stdout);
		}
	}

	static const double targets[] = { 0.90, 0.95, 0.99 };
	printf("summary: filtered QPS / unfiltered QPS at the same recall@10 (fmnist %zu x %zu):", base.n, q.n);
	for (int k = 1; k < NSETS; k++)
		for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
			double a = qps_at(&sets[k], nef, targets[t]), b = qps_at(&sets[0], nef, targets[t]);
			printf(" %s@%.2f %.0f/%.0f = %.3fx;", sets[k].name, targets[t], a, b, a / b);
		}
	printf("\n");

	rvf_query_ctx_free(ctx);
	err = rvf_store_close(s);
	if (err)
		die("close", err);
	unlink(path);
	for (int k = 0; k < NSETS; k++) {
		rvf_filter_free(sets[k].f);
		free(sets[k].gt);
		free(sets[k].gtn);
	}
	free(cls);
	data_mat_release(&base);
	data_mat_release(&q);
	data_mat_release(&lab);
	return 0;
}
