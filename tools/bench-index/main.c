/*
 * bench-index - rvf's HNSW beside hnswlib (Debian libhnswlib-dev, through
 * hnswlib_shim.cpp) on the same data with the same parameters (M=16,
 * ef_construction=200), as issue 3 asks:
 *
 *   for each data set (Fashion-MNIST 60k/10k; synthetic clustered 1M x 128
 *   with 1,000 queries):
 *     build time with 1 and 2 threads, index memory (analytic and RSS growth)
 *     for ef in {10,16,32,64,128,256,512}: every query, one thread, one query
 *       per call, k=10: recall@10, QPS, p50/p99 latency
 *   one JSON line per measurement on stdout, then a summary line: rvf QPS /
 *   hnswlib QPS at equal recall (interpolated) at 0.95 and 0.99, and the
 *   build time ratios.
 *
 * Timing loop as in the reference anchors: 500 untimed warm-up queries per
 * ef, then a loop over all queries with two clock reads per query; the
 * median of 3 such passes. Passes of the two engines alternate so that load
 * from neighbours on this shared machine hits both alike. Progress and a
 * table go to stderr.
 *
 * Environment (all optional):
 *   RVF_BENCH_DATASETS   "fmnist,synth" (default both)
 *   RVF_BENCH_ENGINES    "rvf,hnswlib" (default both)
 *   RVF_BENCH_QUICK=1    small sets for a smoke run (20k/2k and 100k/500)
 *   RVF_BENCH_FMNIST_N / _NQ, RVF_BENCH_SYNTH_N / _NQ   sizes
 *   RVF_BENCH_SYNTH_1T=1 also time 1-thread builds of the synthetic set
 *                        (about 15 min each at 1M; off by default, and the
 *                        synthetic searches then run on the 2-thread builds)
 *   RVF_BENCH_EFS        comma list, default 10,16,32,64,128,256,512
 *   RVF_BENCH_CACHE      ground-truth cache dir (default build/bench-cache)
 *   RVF_BENCH_QUANT      rvf traversal: sq8 (default) or none
 *   RVF_BENCH_ROWS       rvf float rows: owned (default: the index copies
 *                        them, as hnswlib does) or borrowed (opts.rows: the
 *                        index reads the bench's own matrix, holding only
 *                        codes and graph)
 *   RVF_BENCH_TRIALS     search passes per (engine, ef), default 3; the
 *                        median by QPS is reported with the min and max
 */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data/data.h"
#include "hnswlib_shim.h"
#include "rvf/error.h"
#include "rvf/index.h"

#define K         10
#define M_PARAM   16
#define EFC_PARAM 200
#define WARMUP    500
#define MAX_EFS   16
#define MAX_TRIALS 9

enum engine { ENG_RVF, ENG_HNSWLIB, ENG_N };
static const char *const eng_name[ENG_N] = { "rvf", "hnswlib" };

struct point { uint32_t ef; double recall, qps, p50, p99; };

struct run {
	const char *dataset;
	struct data_mat base, queries;
	struct data_gt gt;
	struct rvf_hnsw *rvf;
	struct hnswlib_idx *hl;
	double build_s[ENG_N][3];    /* [engine][threads] (index 1 and 2), 0 = not run */
	unsigned search_threads;     /* build threads of the searched indexes */
	struct point pts[ENG_N][MAX_EFS];
	size_t npts;
};

static uint32_t efs[MAX_EFS] = { 10, 16, 32, 64, 128, 256, 512 };
static size_t nefs = 7;
static int use_engine[ENG_N] = { 1, 1 };
static unsigned rvf_quant = RVF_HNSW_QUANT_SQ8;
static unsigned trials = 3;
static int rows_borrowed;

/* opts.rows for RVF_BENCH_ROWS=borrowed: label = row of the base matrix */
static const float *base_row(void *ctx, uint64_t label, uint32_t id)
{
	const struct data_mat *m = ctx;
	(void)id;

	return label < m->n ? m->v + label * m->dim : NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t env_size(const char *name, size_t def)
{
	const char *e = getenv(name);

	return e && *e ? (size_t)strtoull(e, NULL, 0) : def;
}

static int env_has(const char *name, const char *item, int def)
{
	const char *e = getenv(name);
	size_t n = strlen(item);

	if (!e || !*e)
		return def;
	for (const char *p = e; (p = strstr(p, item)); p += n)
		if ((p == e || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

static double rss_mib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench-index: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

/* ---- builds --------------------------------------------------------------- */

static int build_rvf(struct run *r, unsigned threads, int keep)
{
	struct rvf_hnsw_opts o = { .M = M_PARAM, .ef_construction = EFC_PARAM, .threads = threads,
				   .capacity_hint = r->base.n, .quant = rvf_quant };
	struct rvf_hnsw *h = NULL;
	uint64_t *labels = malloc(r->base.n * sizeof(*labels));
	double rss0, t0, t;
	int err;

	if (!labels)
		return -ENOMEM;
	if (rows_borrowed) {
		o.rows = base_row;
		o.rows_ctx = &r->base;
	}
	for (size_t i = 0; i < r->base.n; i++)
		labels[i] = i;
	malloc_trim(0);
	rss0 = rss_mib();
	t0 = now_s();
	err = rvf_hnsw_new(r->base.dim, RVF_METRIC_L2, &o, &h);
	if (!err)
		err = rvf_hnsw_add_batch(h, labels, r->base.v, r->base.n);
	t = now_s() - t0;
	free(labels);
	if (err) {
		fprintf(stderr, "bench-index: rvf build failed: %s (%s)\n", rvf_strerror(err), rvf_last_error());
		rvf_hnsw_free(h);
		return err;
	}
	r->build_s[ENG_RVF][threads] = t;
	printf("{\"dataset\":\"%s\",\"engine\":\"rvf\",\"measure\":\"build\",\"build_s\":%.3f,\"threads\":%u,"
	       "\"n\":%zu,\"index_mib\":%.1f,\"index_bytes_per_vector\":%.0f,\"rss_growth_mib\":%.1f,"
	       "\"simd\":\"%s\",\"quant\":\"%s\",\"rows\":\"%s\"}\n",
	       r->dataset, t, threads, r->base.n, rvf_hnsw_memory_bytes(h) / 1048576.0,
	       (double)rvf_hnsw_memory_bytes(h) / (double)r->base.n, rss_mib() - rss0,
	       rvf_simd_name(), rvf_quant == RVF_HNSW_QUANT_NONE ? "none" : "sq8", rows_borrowed ? "borrowed" : "owned");
	fflush(stdout);
	if (keep) {
		r->rvf = h;
	} else {
		rvf_hnsw_free(h);
		malloc_trim(0);
	}
	return 0;
}

static int build_hnswlib(struct run *r, unsigned threads, int keep)
{
	struct hnswlib_idx *h;
	double rss0, t0, t;
	int err;

	malloc_trim(0);
	rss0 = rss_mib();
	t0 = now_s();
	h = hnswlib_new(r->base.dim, r->base.n, M_PARAM, EFC_PARAM, 100);
	if (!h)
		return -ENOMEM;
	err = hnswlib_add_all(h, r->base.v, r->base.n, r->base.dim, threads);
	t = now_s() - t0;
	if (err) {
		hnswlib_free(h);
		fprintf(stderr, "bench-index: hnswlib build failed\n");
		return -EIO;
	}
	r->build_s[ENG_HNSWLIB][threads] = t;
	printf("{\"dataset\":\"%s\",\"engine\":\"hnswlib\",\"measure\":\"build\",\"build_s\":%.3f,\"threads\":%u,"
	       "\"n\":%zu,\"index_mib\":%.1f,\"index_bytes_per_vector\":%.0f,\"rss_growth_mib\":%.1f}\n",
	       r->dataset, t, threads, r->base.n, hnswlib_memory_bytes(h) / 1048576.0,
	       (double)hnswlib_memory_bytes(h) / (double)r->base.n, rss_mib() - rss0);
	fflush(stdout);
	if (keep) {
		r->hl = h;
	} else {
		hnswlib_free(h);
		malloc_trim(0);
	}
	return 0;
}

/* ---- searches ------------------------------------------------------------- */

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int one_query(struct run *r, enum engine e, const float *q, uint32_t ef, uint64_t *labels)
{
	if (e == ENG_RVF) {
		struct rvf_hnsw_result res[K];
		int n = rvf_hnsw_search(r->rvf, q, K, ef, NULL, res);

		for (int i = 0; i < n; i++)
			labels[i] = res[i].label;
		return n;
	} else {
		float d[K];

		return hnswlib_search(r->hl, q, K, labels, d);
	}
}

/* One timed pass over all queries (after the warm-up). */
static int search_trial(struct run *r, enum engine e, uint32_t ef, struct point *pt)
{
	size_t nq = r->queries.n;
	double *lat = malloc(nq * sizeof(double)), rec = 0, t0;
	uint64_t labels[K];

	if (!lat)
		return -ENOMEM;
	if (e == ENG_HNSWLIB)
		hnswlib_set_ef(r->hl, ef);
	for (size_t i = 0; i < WARMUP; i++)
		one_query(r, e, r->queries.v + (i % nq) * r->queries.dim, ef, labels);
	t0 = now_s();
	for (size_t i = 0; i < nq; i++) {
		const float *q = r->queries.v + i * r->queries.dim;
		double a = now_s();
		int n = one_query(r, e, q, ef, labels);

		lat[i] = now_s() - a;
		if (n < 0) {
			free(lat);
			return n;
		}
		rec += data_recall_at(&r->gt, i, labels, (size_t)n, K);
	}
	pt->ef = ef;
	pt->qps = (double)nq / (now_s() - t0);
	pt->recall = rec / (double)nq;
	qsort(lat, nq, sizeof(double), dbl_cmp);
	pt->p50 = lat[nq / 2] * 1e6;
	pt->p99 = lat[(size_t)((double)(nq - 1) * 0.99)] * 1e6;
	free(lat);
	return 0;
}

static int pt_qps_cmp(const void *a, const void *b)
{
	double x = ((const struct point *)a)->qps, y = ((const struct point *)b)->qps;

	return x < y ? -1 : x > y;
}

/* The median trial (by QPS) of tr[0..n), printed as the measurement. */
static void report_point(const struct run *r, enum engine e, struct point *tr, unsigned n, struct point *out)
{
	qsort(tr, n, sizeof(*tr), pt_qps_cmp);
	*out = tr[n / 2];
	printf("{\"dataset\":\"%s\",\"engine\":\"%s\",\"ef\":%u,\"recall\":%.4f,\"qps\":%.1f,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f,\"build_s\":%.3f,\"threads\":%u,\"trials\":%u,\"qps_min\":%.1f,\"qps_max\":%.1f}\n",
	       r->dataset, eng_name[e], out->ef, out->recall, out->qps, out->p50, out->p99,
	       r->build_s[e][r->search_threads], r->search_threads, n, tr[0].qps, tr[n - 1].qps);
	fflush(stdout);
}

/*
 * QPS at recall target: linear interpolation between the two measured points
 * (ordered by ef) whose recalls bracket the target; if even the smallest ef
 * beats the target, that point's QPS (an understatement); NAN if never
 * reached.
 */
static double qps_at(const struct point *p, size_t n, double target)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i].recall < target)
			continue;
		if (i == 0 || p[i].recall == p[i - 1].recall)
			return p[i].qps;
		return p[i - 1].qps + (p[i].qps - p[i - 1].qps) * (target - p[i - 1].recall) /
					      (p[i].recall - p[i - 1].recall);
	}
	return NAN;
}

static void json_num(const char *key, double v, int last)
{
	if (isnan(v) || isinf(v))
		printf("\"%s\":null%s", key, last ? "" : ",");
	else
		printf("\"%s\":%.4g%s", key, v, last ? "" : ",");
}

static void summary(const struct run *r)
{
	double q[ENG_N][2];
	static const double targets[2] = { 0.95, 0.99 };

	for (int e = 0; e < ENG_N; e++)
		for (int t = 0; t < 2; t++)
			q[e][t] = use_engine[e] ? qps_at(r->pts[e], r->npts, targets[t]) : NAN;
	printf("{\"summary\":\"bench-index\",\"dataset\":\"%s\",\"n\":%zu,\"nq\":%zu,\"search_on_build_threads\":%u,",
	       r->dataset, r->base.n, r->queries.n, r->search_threads);
	json_num("rvf_qps_at_0.95", q[ENG_RVF][0], 0);
	json_num("hnswlib_qps_at_0.95", q[ENG_HNSWLIB][0], 0);
	json_num("qps_ratio_at_0.95", q[ENG_RVF][0] / q[ENG_HNSWLIB][0], 0);
	json_num("rvf_qps_at_0.99", q[ENG_RVF][1], 0);
	json_num("hnswlib_qps_at_0.99", q[ENG_HNSWLIB][1], 0);
	json_num("qps_ratio_at_0.99", q[ENG_RVF][1] / q[ENG_HNSWLIB][1], 0);
	for (unsigned t = 1; t <= 2; t++) {
		char k1[64], k2[64], k3[64];
		double a = r->build_s[ENG_RVF][t], b = r->build_s[ENG_HNSWLIB][t];

		snprintf(k1, sizeof(k1), "rvf_build_s_%ut", t);
		snprintf(k2, sizeof(k2), "hnswlib_build_s_%ut", t);
		snprintf(k3, sizeof(k3), "build_ratio_%ut", t);
		json_num(k1, a > 0 ? a : NAN, 0);
		json_num(k2, b > 0 ? b : NAN, 0);
		json_num(k3, a > 0 && b > 0 ? a / b : NAN, t == 2);
	}
	printf("}\n");
	fflush(stdout);
	/* a human-readable table on stderr */
	fprintf(stderr, "\n%-8s %-8s %5s %8s %10s %9s %9s\n", "dataset", "engine", "ef", "recall", "QPS", "p50_us",
		"p99_us");
	for (size_t i = 0; i < r->npts; i++)
		for (int e = 0; e < ENG_N; e++)
			if (use_engine[e])
				fprintf(stderr, "%-8s %-8s %5u %8.4f %10.0f %9.1f %9.1f\n", r->dataset, eng_name[e],
					r->pts[e][i].ef, r->pts[e][i].recall, r->pts[e][i].qps, r->pts[e][i].p50,
					r->pts[e][i].p99);
	char b1[32] = "skipped", b2[32] = "skipped";

	if (r->build_s[ENG_RVF][1] > 0 && r->build_s[ENG_HNSWLIB][1] > 0)
		snprintf(b1, sizeof(b1), "%.2f", r->build_s[ENG_RVF][1] / r->build_s[ENG_HNSWLIB][1]);
	if (r->build_s[ENG_RVF][2] > 0 && r->build_s[ENG_HNSWLIB][2] > 0)
		snprintf(b2, sizeof(b2), "%.2f", r->build_s[ENG_RVF][2] / r->build_s[ENG_HNSWLIB][2]);
	fprintf(stderr, "QPS ratio rvf/hnswlib at recall 0.95: %.2f, at 0.99: %.2f; build ratio 1t %s, 2t %s\n\n",
		q[ENG_RVF][0] / q[ENG_HNSWLIB][0], q[ENG_RVF][1] / q[ENG_HNSWLIB][1], b1, b2);
}

static int run_dataset(struct run *r, int time_1t, unsigned search_threads, const char *cache)
{
	int err = 0;
	double t0 = now_s();

	progress("%s: %zu x %u base, %zu queries; ground truth (cached in %s)", r->dataset, r->base.n, r->base.dim,
		 r->queries.n, cache);
	err = data_gt_cached(&r->base, &r->queries, RVF_METRIC_L2, K, 0, cache, &r->gt);
	if (err) {
		fprintf(stderr, "bench-index: ground truth failed: %s\n", rvf_last_error());
		return err;
	}
	progress("%s: ground truth in %.1f s", r->dataset, now_s() - t0);
	r->search_threads = search_threads;
	/* builds that are only timed first, then the ones searched */
	for (unsigned t = 1; t <= 2 && !err; t++) {
		if (t == search_threads || (t == 1 && !time_1t))
			continue;
		for (int e = 0; e < ENG_N && !err; e++) {
			if (!use_engine[e])
				continue;
			progress("%s: timing a %u-thread %s build", r->dataset, t, eng_name[e]);
			err = e == ENG_RVF ? build_rvf(r, t, 0) : build_hnswlib(r, t, 0);
		}
	}
	for (int e = 0; e < ENG_N && !err; e++) {
		if (!use_engine[e])
			continue;
		progress("%s: building %s with %u thread(s) (searched)", r->dataset, eng_name[e], search_threads);
		err = e == ENG_RVF ? build_rvf(r, search_threads, 1) : build_hnswlib(r, search_threads, 1);
	}
	if (err)
		return err;
	for (size_t i = 0; i < nefs && !err; i++) {
		struct point tr[ENG_N][MAX_TRIALS];

		progress("%s: ef=%u, %u trial(s) per engine", r->dataset, efs[i], trials);
		/* trials of the two engines interleaved in time */
		for (unsigned t = 0; t < trials && !err; t++)
			for (int e = 0; e < ENG_N && !err; e++)
				if (use_engine[e])
					err = search_trial(r, (enum engine)e, efs[i], &tr[e][t]);
		for (int e = 0; e < ENG_N && !err; e++)
			if (use_engine[e])
				report_point(r, (enum engine)e, tr[e], trials, &r->pts[e][i]);
		r->npts = i + 1;
	}
	if (!err)
		summary(r);
	return err;
}

static void run_release(struct run *r)
{
	rvf_hnsw_free(r->rvf);
	hnswlib_free(r->hl);
	data_gt_release(&r->gt);
	data_mat_release(&r->base);
	data_mat_release(&r->queries);
}

int main(void)
{
	int quick = env_size("RVF_BENCH_QUICK", 0) != 0, rc = 0, err;
	const char *cache = getenv("RVF_BENCH_CACHE");
	const char *e = getenv("RVF_BENCH_EFS");
	const char *qz = getenv("RVF_BENCH_QUANT");

	if (!cache || !*cache)
		cache = "build/bench-cache";
	if (e && *e) {
		nefs = 0;
		for (char *p = (char *)e; *p && nefs < MAX_EFS;) {
			char *end;
			unsigned long v = strtoul(p, &end, 10);

			if (end == p)
				break;
			efs[nefs++] = (uint32_t)v;
			p = *end == ',' ? end + 1 : end;
		}
	}
	trials = (unsigned)env_size("RVF_BENCH_TRIALS", 3);
	trials = trials < 1 ? 1 : trials > MAX_TRIALS ? MAX_TRIALS : trials;
	if (qz && !strcmp(qz, "none"))
		rvf_quant = RVF_HNSW_QUANT_NONE;
	rows_borrowed = getenv("RVF_BENCH_ROWS") && !strcmp(getenv("RVF_BENCH_ROWS"), "borrowed");
	if (rows_borrowed && rvf_quant == RVF_HNSW_QUANT_NONE) {
		fprintf(stderr, "bench-index: RVF_BENCH_ROWS=borrowed needs RVF_BENCH_QUANT=sq8\n");
		return 1;
	}
	use_engine[ENG_RVF] = env_has("RVF_BENCH_ENGINES", "rvf", 1);
	use_engine[ENG_HNSWLIB] = env_has("RVF_BENCH_ENGINES", "hnswlib", 1);
	rvf_set_log(rvf_log_stderr, NULL, RVF_LOG_WARN);
	err = rvf_simd_init();
	if (err) {
		fprintf(stderr, "bench-index: %s\n", rvf_last_error());
		return 1;
	}

	if (env_has("RVF_BENCH_DATASETS", "fmnist", 1)) {
		struct run r = { .dataset = "fmnist" };
		size_t n = env_size("RVF_BENCH_FMNIST_N", quick ? 20000 : 60000);
		size_t nq = env_size("RVF_BENCH_FMNIST_NQ", quick ? 2000 : 10000);

		err = data_fashion_mnist(NULL, &r.base, &r.queries);
		if (err) {
			fprintf(stderr, "bench-index: Fashion-MNIST: %s (skipped)\n", rvf_last_error());
			rc = 1;
		} else {
			if (n < r.base.n)
				r.base.n = n;
			if (nq < r.queries.n)
				r.queries.n = nq;
			/* deterministic builds: search the 1-thread ones, time 2 threads */
			if (run_dataset(&r, 1, 1, cache))
				rc = 1;
		}
		run_release(&r);
	}
	if (env_has("RVF_BENCH_DATASETS", "synth", 1)) {
		struct run r = { .dataset = "synth" };
		struct data_synth_opts o = { 0 };
		int time_1t = env_size("RVF_BENCH_SYNTH_1T", 0) != 0;

		o.n = env_size("RVF_BENCH_SYNTH_N", quick ? 100000 : 1000000);
		o.nq = env_size("RVF_BENCH_SYNTH_NQ", quick ? 500 : 1000);
		if (!time_1t)
			progress("synth: 1-thread builds skipped (about 15 min each for 1M on these "
				 "machines; RVF_BENCH_SYNTH_1T=1 times them); searches run on the "
				 "2-thread builds");
		progress("synth: generating %zu x 128 (seed 42)", o.n);
		err = data_synth_clustered(&o, &r.base, &r.queries);
		if (err) {
			rc = 1;
		} else {
			r.dataset = "synth";
			if (run_dataset(&r, time_1t, time_1t ? 1 : 2, cache))
				rc = 1;
		}
		run_release(&r);
	}
	return rc;
}
