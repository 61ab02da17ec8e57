/*
 * bench-store - the store API's costs (issue 4):
 *
 *   ingest      durable ingest, dim 128 (RVF_BENCH_DIM), batches of 1,000
 *               (RVF_BENCH_BATCH) each committed before the next: vectors/s
 *               for the commit path alone (VEC/META segments written and
 *               committed, fsyncs included; graph inserts excluded) and for
 *               the whole call (graph build and periodic checkpoints included).
 *   open        a persisted store of RVF_BENCH_N (default 1,000,000) vectors:
 *               time from rvf_store_open to the first query answered, with the
 *               page cache of the file dropped, as a ratio to reading the file
 *               once (sequential read, 1 MiB chunks, cache dropped too);
 *               medians of three alternating runs.
 *   query       QPS through rvf_store_query vs rvf_hnsw_search on the same
 *               index, same queries, k and ef (single thread); overhead %.
 *   refresh     (issue 11) a read-only handle on a RVF_BENCH_REFRESH_N (default
 *               100,000) vector store with metadata, following a writer: per
 *               round the writer checkpoints (the reader follows: the rebuild
 *               path) and appends RVF_BENCH_REFRESH_ADD (1,000) vectors; the
 *               rvf_store_refresh latency for that commit (the catch-up path)
 *               vs opening a fresh read-only handle on the same file to its
 *               first query (the anchor: what a daemon would do without
 *               refresh; it loads the same checkpoint and inserts the same
 *               vectors; page cache warm for both), medians of five rounds;
 *               the rvf_store_changed poll. Then, on that reader, a query
 *               context vs rvf_store_query, unfiltered and with a repeated
 *               10% filter, on one and two threads: CPU time per query
 *               (interleaved chunks, as above) and wall-clock QPS.
 *
 * Data: data_synth_clustered (seeded). Output: one JSON line per figure and
 * a closing summary. Environment: RVF_BENCH_N, RVF_BENCH_DIM, RVF_BENCH_BATCH,
 * RVF_BENCH_NQ, RVF_BENCH_EF, RVF_BENCH_QUICK=1 (100k vectors), RVF_BENCH_DIR
 * (where the store files go; default build/bench), RVF_BENCH_KEEP=1 (reuse a
 * persisted store of the same size from an earlier run for the open/query
 * figures; the ingest figure then comes from a 100k-vector run).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rvf/rvf.h"
#include "data/data.h"
#include "store/store_internal.h"
#include "store/store_peek.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: the query comparison must not depend on what
 * else the machine runs (wall-clock QPS is reported beside it). */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static size_t env_size(const char *name, size_t def)
{
	const char *e = getenv(name);

	return e && *e ? (size_t)strtoull(e, NULL, 10) : def;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-store: %s: %s (%s)\n", what, rvf_strerror(err), rvf_last_error());
	exit(1);
}

/* Drop the file's pages from the page cache (it is clean after fsync). */
static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

static double read_file_once(const char *path, uint64_t *bytes)
{
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY);
	double t0 = now_s();
	ssize_t n;

	*bytes = 0;
	if (fd < 0 || !buf) {
		perror(path);
		exit(1);
	}
	while ((n = read(fd, buf, cap)) > 0)
		*bytes += (uint64_t)n;
	close(fd);
	free(buf);
	return now_s() - t0;
}

struct ingest_fig { double wall, commit, index, ckpt; uint64_t checkpoints; };

static struct ingest_fig ingest_all(const char *path, const struct data_mat *base, size_t batch)
{
	struct rvf_store_opts o = { .dimension = base->dim };
	struct rvf_vector *v = calloc(batch, sizeof(*v));
	struct rvf_store *s = NULL;
	struct ingest_fig f = { 0 };
	struct store_stats st;
	double t0;
	int err;

	unlink(path);
	err = rvf_store_create(path, &o, &s);
	if (err)
		die("create", err);
	t0 = now_s();
	for (size_t i = 0; i < base->n; i += batch) {
		size_t n = base->n - i < batch ? base->n - i : batch;
		for (size_t j = 0; j < n; j++)
			v[j] = (struct rvf_vector){ .id = i + j, .values = base->v + (i + j) * base->dim,
						    .dim = base->dim };
		err = rvf_store_ingest_batch(s, v, n, NULL);
		if (err)
			die("ingest", err);
		if (isatty(2) && (i / batch) % 50 == 0)
			fprintf(stderr, "\ringest %zu / %zu", i + n, base->n);
	}
	f.wall = now_s() - t0;
	store_stats(s, &st);
	f.commit = (double)st.commit_ns * 1e-9;
	f.index = (double)st.index_ns * 1e-9;
	f.ckpt = (double)st.ckpt_ns * 1e-9;
	f.checkpoints = st.checkpoints;
	err = rvf_store_close(s);
	if (err)
		die("close", err);
	if (isatty(2))
		fprintf(stderr, "\r\033[K");
	free(v);
	return f;
}

/* ---- refresh vs reopen, query contexts ------------------------------------------- */

struct refresh_fig {
	size_t n, add;
	double refresh_ms, open_ms, open_catchup_ms, changed_us, rebuild_ms;
	/* [filtered][threads - 1]: CPU us per query and wall-clock QPS */
	double cpu_query[2][2], cpu_ctx[2][2], qps_query[2][2], qps_ctx[2][2];
};

/* Ingest rows [from, from + n) of m as ids from.., with field 0 = id % 10. */
static void ingest_meta(struct rvf_store *s, const struct data_mat *m, size_t from, size_t n)
{
	struct rvf_vector *v = calloc(n, sizeof(*v));
	struct rvf_meta_entry *me = calloc(n, sizeof(*me));
	int err;

	if (!v || !me)
		die("ingest", -ENOMEM);
	for (size_t j = 0; j < n; j++) {
		me[j] = (struct rvf_meta_entry){ 0, rvf_meta_u64((from + j) % 10) };
		v[j] = (struct rvf_vector){ .id = from + j, .values = m->v + (from + j) * m->dim,
					    .dim = m->dim, .meta = &me[j], .n_meta = 1 };
	}
	err = rvf_store_ingest_batch(s, v, n, NULL);
	if (err)
		die("ingest", err);
	free(v);
	free(me);
}

/* One thread's share of the QPS comparison: the query set, in chunks of 50
 * that alternate between a context and rvf_store_query (which goes first
 * alternates per pass), so both see the same machine. */
struct qrun {
	const struct rvf_store *s;
	const struct data_mat *q;
	const struct rvf_query_opts *o;
	pthread_barrier_t *go;
	int passes;
	double cpu[2], wall[2];        /* [0] rvf_store_query, [1] context */
	size_t done[2];
};

static void *qrun_thread(void *arg)
{
	struct qrun *r = arg;
	struct rvf_query_ctx *ctx = NULL;
	struct rvf_result res[10];
	uint32_t dim = r->q->dim;

	if (rvf_query_ctx_new(r->s, &ctx))
		die("query context", -ENOMEM);
	pthread_barrier_wait(r->go);
	for (int pass = 0; pass < r->passes; pass++)
		for (size_t c = 0; c < r->q->n; c += 50) {
			size_t e = c + 50 < r->q->n ? c + 50 : r->q->n;
			for (int which = 0; which < 2; which++) {
				int use_ctx = (which + pass) & 1;
				double c0 = cpu_s(), t0 = now_s();
				for (size_t i = c; i < e; i++) {
					const float *q = r->q->v + i * dim;
					int n = use_ctx ? rvf_store_query_ctx(r->s, ctx, q, dim, 10, r->o, res)
							: rvf_store_query(r->s, q, dim, 10, r->o, res);
					if (n < 0)
						die("query", n);
				}
				if (pass) {      /* the first pass warms up (contexts grow, bitmaps get built) */
					r->cpu[use_ctx] += cpu_s() - c0;
					r->wall[use_ctx] += now_s() - t0;
					r->done[use_ctx] += e - c;
				}
			}
		}
	rvf_query_ctx_free(ctx);
	return NULL;
}

static void qps_pair(const struct rvf_store *s, const struct data_mat *q, const struct rvf_query_opts *o,
		     int threads, double cpu_us[2], double qps[2])
{
	struct qrun r[2];
	pthread_t t[2];
	pthread_barrier_t go;

	pthread_barrier_init(&go, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		r[i] = (struct qrun){ .s = s, .q = q, .o = o, .go = &go, .passes = 4 };
		if (pthread_create(&t[i], NULL, qrun_thread, &r[i]))
			die("pthread_create", -EAGAIN);
	}
	for (int m = 0; m < 2; m++)
		cpu_us[m] = qps[m] = 0;
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	for (int m = 0; m < 2; m++) {
		double cpu = 0, wall = 0;
		size_t done = 0;
		for (int i = 0; i < threads; i++) {
			cpu += r[i].cpu[m];
			wall = r[i].wall[m] > wall ? r[i].wall[m] : wall;
			done += r[i].done[m];
		}
		cpu_us[m] = cpu / (double)done * 1e6;
		qps[m] = (double)done / wall;
	}
	pthread_barrier_destroy(&go);
}

/*
 * Per commit: the writer checkpoints and the reader follows (the rebuild
 * path); the writer appends `add` vectors and the reader refreshes (the
 * catch-up path); then a fresh read-only open of the same file to its first
 * query, which loads the same checkpoint and inserts the same vectors.
 */
static struct refresh_fig bench_refresh(const char *dir, uint32_t dim, uint32_t ef)
{
	struct refresh_fig f = { .n = env_size("RVF_BENCH_REFRESH_N", 100000),
				 .add = env_size("RVF_BENCH_REFRESH_ADD", 1000) };
	enum { REPS = 5 };
	struct data_synth_opts so = { .n = f.n + REPS * f.add, .nq = 1000, .dim = dim, .seed = 7 };
	struct data_mat base = { 0 }, queries = { 0 };
	struct rvf_store_opts wo = { .dimension = dim, .checkpoint_every = 1u << 30 };
	struct rvf_store *w = NULL, *r = NULL, *fresh = NULL;
	struct rvf_result res[10];
	struct store_stats st;
	double refresh[REPS], open[REPS], opencu[REPS], rebuild[REPS], t0;
	char path[4096];
	int err;

	snprintf(path, sizeof(path), "%s/bench-refresh-%zu-%u.rvf", dir, f.n, dim);
	unlink(path);
	err = data_synth_clustered(&so, &base, &queries);
	if (err)
		die("synthetic data", err);
	err = rvf_store_create(path, &wo, &w);
	if (err)
		die("create", err);
	for (size_t i = 0; i < f.n; i += 10000)
		ingest_meta(w, &base, i, f.n - i < 10000 ? f.n - i : 10000);
	err = rvf_store_open_readonly(path, NULL, &r);
	if (err)
		die("open", err);
	for (int rep = 0; rep < REPS; rep++) {
		bool ch = false;

		err = store_checkpoint(w);
		if (err)
			die("checkpoint", err);
		t0 = now_s();
		err = rvf_store_refresh(r);
		rebuild[rep] = now_s() - t0;
		if (err != 1)
			die("refresh", err < 0 ? err : -EPROTO);
		ingest_meta(w, &base, f.n + (size_t)rep * f.add, f.add);
		t0 = now_s();
		err = rvf_store_refresh(r);
		refresh[rep] = now_s() - t0;
		if (err != 1)
			die("refresh", err < 0 ? err : -EPROTO);
		t0 = now_s();
		err = rvf_store_open_readonly(path, NULL, &fresh);
		if (!err)
			err = rvf_store_query(fresh, queries.v, dim, 10, NULL, res);
		open[rep] = now_s() - t0;
		if (err < 0)
			die("fresh open", err);
		store_stats(fresh, &st);
		opencu[rep] = (double)st.open_catchup_ns * 1e-9;
		if (st.catchup_vectors != f.add)
			die("fresh open did not load the checkpoint", -EPROTO);
		rvf_store_close(fresh);
		/* the poll, with nothing new */
		t0 = now_s();
		for (int i = 0; i < 1000; i++)
			if (rvf_store_changed(r, &ch) || ch)
				die("changed", -EPROTO);
		f.changed_us = (now_s() - t0) * 1e3;   /* seconds per 1000 calls = us per call */
	}
	store_stats(r, &st);
	if (st.refresh_catchups != REPS || st.refresh_rebuilds != REPS)
		die("refresh took an unexpected path", -EPROTO);
	qsort(refresh, REPS, sizeof(double), cmp_double);
	qsort(open, REPS, sizeof(double), cmp_double);
	qsort(opencu, REPS, sizeof(double), cmp_double);
	qsort(rebuild, REPS, sizeof(double), cmp_double);
	f.refresh_ms = refresh[REPS / 2] * 1e3;
	f.open_ms = open[REPS / 2] * 1e3;
	f.open_catchup_ms = opencu[REPS / 2] * 1e3;
	f.rebuild_ms = rebuild[REPS / 2] * 1e3;
	err = rvf_store_close(w);
	if (err)
		die("close", err);

	struct rvf_meta_value v3 = rvf_meta_u64(3);
	struct rvf_filter *flt = rvf_filter_eq(0, &v3);
	struct rvf_query_opts plain = { .ef_search = ef }, filtered = { .ef_search = ef, .filter = flt };
	for (int fl = 0; fl < 2; fl++)
		for (int th = 1; th <= 2; th++) {
			double cpu[2], qps[2];
			qps_pair(r, &queries, fl ? &filtered : &plain, th, cpu, qps);
			f.cpu_query[fl][th - 1] = cpu[0];
			f.cpu_ctx[fl][th - 1] = cpu[1];
			f.qps_query[fl][th - 1] = qps[0];
			f.qps_ctx[fl][th - 1] = qps[1];
		}
	rvf_filter_free(flt);
	rvf_store_close(r);
	unlink(path);
	data_mat_release(&base);
	data_mat_release(&queries);

	printf("{\"bench\":\"store_refresh\",\"n\":%zu,\"dim\":%u,\"appended_per_commit\":%zu,"
	       "\"refresh_ms\":%.2f,\"fresh_open_first_query_ms\":%.2f,\"fresh_open_catchup_ms\":%.2f,"
	       "\"speedup\":%.2f,\"changed_poll_us\":%.2f,\"refresh_new_checkpoint_ms\":%.2f}\n",
	       f.n, dim, f.add, f.refresh_ms, f.open_ms, f.open_catchup_ms, f.open_ms / f.refresh_ms,
	       f.changed_us, f.rebuild_ms);
	for (int fl = 0; fl < 2; fl++)
		for (int th = 0; th < 2; th++)
			printf("{\"bench\":\"store_query_ctx\",\"n\":%zu,\"k\":10,\"ef\":%u,\"filter\":\"%s\","
			       "\"threads\":%d,\"cpu_us_per_query\":%.2f,\"cpu_us_per_query_ctx\":%.2f,"
			       "\"qps_query\":%.0f,\"qps_ctx\":%.0f,\"cpu_saved_pct\":%.1f}\n",
			       f.n + REPS * f.add, ef, fl ? "10%, repeated" : "none", th + 1,
			       f.cpu_query[fl][th], f.cpu_ctx[fl][th], f.qps_query[fl][th], f.qps_ctx[fl][th],
			       (1 - f.cpu_ctx[fl][th] / f.cpu_query[fl][th]) * 100);
	return f;
}

int main(void)
{
	int quick = getenv("RVF_BENCH_QUICK") != NULL;
	size_t n = env_size("RVF_BENCH_N", quick ? 100000 : 1000000);
	uint32_t dim = (uint32_t)env_size("RVF_BENCH_DIM", 128);
	size_t batch = env_size("RVF_BENCH_BATCH", 1000);
	size_t nq = env_size("RVF_BENCH_NQ", 1000);
	uint32_t ef = (uint32_t)env_size("RVF_BENCH_EF", 64);
	const char *dir = getenv("RVF_BENCH_DIR") ? getenv("RVF_BENCH_DIR") : "build/bench";
	int keep = getenv("RVF_BENCH_KEEP") != NULL;
	struct data_synth_opts so = { .n = n, .nq = nq, .dim = dim };
	struct data_mat base = { 0 }, queries = { 0 };
	char path[4096];
	struct rvf_store *s = NULL;
	struct stat sb;
	struct ingest_fig ig;
	int err;

	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/bench-store-%zu-%u.rvf", dir, n, dim);
	err = data_synth_clustered(&so, &base, &queries);
	if (err)
		die("synthetic data", err);

	/* ---- ingest ---- */
	if (keep && !stat(path, &sb)) {
		struct data_mat sub = base;
		char p2[4200];
		sub.n = n < 100000 ? n : 100000;
		snprintf(p2, sizeof(p2), "%s.ingest", path);
		ig = ingest_all(p2, &sub, batch);
		unlink(p2);
		n = sub.n;
	} else {
		ig = ingest_all(path, &base, batch);
	}
	/* "excluding the graph": the whole ingest wall time (validation, batch
	 * encoding, writes, commits, id/metadata updates) less only the time in
	 * graph inserts and graph checkpoints */
	double excl = ig.wall - ig.index - ig.ckpt;
	if (excl <= 0)
		excl = ig.commit;
	printf("{\"bench\":\"store_ingest\",\"n\":%zu,\"dim\":%u,\"batch\":%zu,\"batches\":%zu,"
	       "\"wall_s\":%.3f,\"commit_s\":%.3f,\"index_s\":%.3f,\"checkpoint_s\":%.3f,\"checkpoints\":%llu,"
	       "\"excl_graph_s\":%.3f,\"durable_vps_excl_graph\":%.0f,\"durable_vps_incl_graph\":%.0f,"
	       "\"commits_per_s\":%.1f}\n",
	       n, dim, batch, (n + batch - 1) / batch, ig.wall, ig.commit, ig.index, ig.ckpt,
	       (unsigned long long)ig.checkpoints, excl, (double)n / excl, (double)n / ig.wall,
	       (double)((n + batch - 1) / batch) / excl);
	size_t ingest_n = n;
	n = base.n;

	/* ---- open to first query, cold cache: median of 3 (read, open) pairs,
	 * each alternating, since a VM disk's speed drifts ---- */
	uint64_t bytes = 0;
	struct rvf_result r[10];
	struct store_stats st;
	double reads[3], opens[3], t0;
	for (int rep = 0; rep < 3; rep++) {
		drop_cache(path);
		reads[rep] = read_file_once(path, &bytes);
		drop_cache(path);
		if (s)
			rvf_store_close(s);
		s = NULL;
		t0 = now_s();
		err = rvf_store_open(path, NULL, &s);
		if (err)
			die("open", err);
		int got = rvf_store_query(s, queries.v, dim, 10, NULL, r);
		opens[rep] = now_s() - t0;
		store_stats(s, &st);
		if (got != 10 || !st.ckpt_loaded) {
			fprintf(stderr, "bench-store: open did not load a checkpoint or the query failed\n");
			return 1;
		}
	}
	qsort(reads, 3, sizeof(double), cmp_double);
	qsort(opens, 3, sizeof(double), cmp_double);
	double t_read = reads[1], t_open = opens[1];
	printf("{\"bench\":\"store_open\",\"n\":%zu,\"file_bytes\":%llu,\"read_file_s\":%.3f,"
	       "\"open_first_query_s\":%.3f,\"ratio\":%.2f,\"catchup_vectors\":%llu,\"read_mib_s\":%.0f,"
	       "\"replay_s\":%.3f,\"graph_load_s\":%.3f,\"catchup_s\":%.3f}\n",
	       n, (unsigned long long)bytes, t_read, t_open, t_open / t_read,
	       (unsigned long long)st.catchup_vectors, (double)bytes / t_read / (1 << 20),
	       (double)st.open_replay_ns * 1e-9, (double)st.open_graph_ns * 1e-9,
	       (double)st.open_catchup_ns * 1e-9);

	/* ---- query QPS: store API vs bare index ---- */
	const struct rvf_hnsw *h = rvf_store_index(s);
	struct rvf_query_opts qo = { .ef_search = ef };
	struct rvf_hnsw_result hr[10];
	double t_store = 0, t_bare = 0, c_store = 0, c_bare = 0;
	/* interleaved in chunks, alternating which goes first, so both see the
	 * same machine (other processes, frequency) */
	for (int rep = 0; rep < 6; rep++) {
		for (size_t c = 0; c < queries.n; c += 50) {
			size_t e = c + 50 < queries.n ? c + 50 : queries.n;
			for (int which = 0; which < 2; which++) {
				int bare = (which + rep) & 1;
				double c0 = cpu_s();
				t0 = now_s();
				for (size_t q = c; q < e; q++) {
					if (bare)
						rvf_hnsw_search(h, queries.v + q * dim, 10, ef, NULL, hr);
					else
						rvf_store_query(s, queries.v + q * dim, dim, 10, &qo, r);
				}
				if (rep) {      /* the first pass warms up */
					*(bare ? &t_bare : &t_store) += now_s() - t0;
					*(bare ? &c_bare : &c_store) += cpu_s() - c0;
				}
			}
		}
	}
	double best_store = t_store / 5, best_bare = t_bare / 5;
	double qps_store = (double)queries.n / best_store, qps_bare = (double)queries.n / best_bare;
	double overhead = (c_store / c_bare - 1) * 100;
	printf("{\"bench\":\"store_query\",\"n\":%zu,\"nq\":%zu,\"k\":10,\"ef\":%u,\"threads\":1,"
	       "\"qps_store\":%.0f,\"qps_bare_index\":%.0f,\"cpu_us_per_query_store\":%.2f,"
	       "\"cpu_us_per_query_bare\":%.2f,\"overhead_pct\":%.2f}\n",
	       n, queries.n, ef, qps_store, qps_bare, c_store / (5.0 * (double)queries.n) * 1e6,
	       c_bare / (5.0 * (double)queries.n) * 1e6, overhead);
	rvf_store_close(s);

	struct refresh_fig rf = bench_refresh(dir, dim, ef);

	printf("summary: durable ingest %.0f vec/s excluding graph build (%.1f commits/s), %.0f vec/s "
	       "including it; open-to-first-query %.2f s for %zu x %u (%.0f MiB) = %.2fx reading the file "
	       "(%.2f s); query %.0f QPS via store vs %.0f bare index (wall clock); store overhead %.1f%% of CPU time per query (target < 5%%); "
	       "refresh after +%zu on %zu: %.1f ms vs %.1f ms for a fresh read-only open (%.1fx; its own catch-up %.1f ms), poll %.2f us, "
	       "across a new checkpoint %.0f ms; query context vs rvf_store_query, CPU us per query: %.1f vs %.1f unfiltered, "
	       "%.1f vs %.1f with a repeated filter (1 thread), %.1f vs %.1f and %.1f vs %.1f (2 threads)\n",
	       (double)ingest_n / excl, (double)((ingest_n + batch - 1) / batch) / excl,
	       (double)ingest_n / ig.wall,
	       t_open, n, dim, (double)bytes / (1 << 20), t_open / t_read, t_read, qps_store, qps_bare,
	       overhead, rf.add, rf.n, rf.refresh_ms, rf.open_ms, rf.open_ms / rf.refresh_ms, rf.open_catchup_ms,
	       rf.changed_us, rf.rebuild_ms, rf.cpu_ctx[0][0], rf.cpu_query[0][0], rf.cpu_ctx[1][0],
	       rf.cpu_query[1][0], rf.cpu_ctx[0][1], rf.cpu_query[0][1], rf.cpu_ctx[1][1], rf.cpu_query[1][1]);
	if (!keep)
		unlink(path);
	data_mat_release(&base);
	data_mat_release(&queries);
	return 0;
}
