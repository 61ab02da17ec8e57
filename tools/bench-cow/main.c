/*
 * tools/bench-cow - copy-on-write branches:
 *
 *   1. branch creation time for parents of 10k, 100k and 1M vectors (it
 *      should not grow with the parent) and the child file's size right
 *      after branching. The 1M parent uses dim 16, M 8, ef_construction 32
 *      (RVF_BENCH_BIG_DIM) so its build stays within minutes and ~100 MB of
 *      disk on a shared 2-core box; branching does not read the vectors, so
 *      the dimension does not enter the figure being measured.
 *   2. on the 100k parent, a child with 10% local changes (5% upserts of
 *      parent ids, 5% new ids, 1% deletes of parent ids), closed (which
 *      writes its delta checkpoint): its reopen time with the delta and with
 *      it turned off (RVF_COW_DELTA=0: the branch's rows re-inserted), next
 *      to the parent's own open time;
 *   3. query QPS on that child as a ratio to the same queries on a flattened
 *      copy of it (goal >= 0.9x);
 *   4. 2 and 3 again on Fashion-MNIST (60k images of 784 pixels, Debian's
 *      dataset-fashion-mnist; the changes and queries are test images),
 *      skipped with a note when the data set is missing or
 *      RVF_BENCH_FMNIST=0.
 *
 * Each comparison (the three branch sizes; parent open, child reopen with
 * and without the delta; child and flat QPS) is measured alternately, best
 * of 5 (RVF_BENCH_REPS; QPS: best of 4x as many batches of 1000 queries),
 * to cut the noise of a shared machine. One JSON line per measurement, then a
 * summary line.
 *
 * Environment: RVF_BENCH_QUICK=1 (10k and 100k only), RVF_BENCH_DIR (temp
 * dir, default $TMPDIR or /tmp), RVF_BENCH_DIM (default 64),
 * RVF_BENCH_BIG_DIM (1M parent, default 16), RVF_BENCH_REPS (default 5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/data.h"
#include "rvf/rvf.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench-cow: %s: %s (%s)\n", what, rvf_strerror(rc), rvf_last_error());
	exit(1);
}

/* Ingest ids id0.. with rows from src (n x dim), or random rows when NULL. */
static void ingest_from(struct rvf_store *s, uint64_t id0, size_t n, uint32_t dim, const float *src)
{
	const size_t B = 50000;
	float *rows = malloc(B * dim * sizeof(float));
	struct rvf_vector *v = calloc(B, sizeof(*v));
	struct rvf_ingest_result r;

	for (size_t i = 0; i < n; i += B) {
		size_t k = n - i < B ? n - i : B;
		for (size_t j = 0; j < k; j++) {
			if (src)
				memcpy(rows + j * dim, src + (i + j) * dim, dim * sizeof(float));
			else
				for (uint32_t d = 0; d < dim; d++)
					rows[j * dim + d] = frand();
			v[j] = (struct rvf_vector){ .id = id0 + i + j, .values = rows + j * dim, .dim = dim };
		}
		int rc = rvf_store_ingest_batch(s, v, k, &r);
		if (rc)
			die("ingest", rc);
		rvf_ingest_result_release(&r);
	}
	free(rows);
	free(v);
}

static void ingest(struct rvf_store *s, uint64_t id0, size_t n, uint32_t dim)
{
	ingest_from(s, id0, n, dim, NULL);
}

static double qps_once(struct rvf_store *s, const float *q, size_t nq, uint32_t dim)
{
	struct rvf_result res[10];
	struct rvf_query_opts o = { .ef_search = 64 };
	double t0 = now();

	for (size_t i = 0; i < nq; i++)
		if (rvf_store_query(s, q + i * dim, dim, 10, &o, res) < 0)
			die("query", -1);
	return nq / (now() - t0);
}

/* Seconds to open path read-only (and close), with the delta on or off. */
static double open_once(const char *path, bool delta)
{
	struct rvf_store *s;
	double t0;
	int rc;

	if (!delta)
		setenv("RVF_COW_DELTA", "0", 1);
	t0 = now();
	rc = rvf_store_open_readonly(path, NULL, &s);
	t0 = now() - t0;
	unsetenv("RVF_COW_DELTA");
	if (rc)
		die("open", rc);
	rvf_store_close(s);
	return t0;
}

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[1 << 16];
	size_t k;

	if (!in || !out)
		die("copy", -1);
	while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, k, out) != k)
			die("copy", -1);
	fclose(in);
	if (fclose(out))
		die("copy", -1);
}

static long long file_bytes(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long long)st.st_size;
}

static double min2(double a, double b) { return a < b ? a : b; }
static double max2(double a, double b) { return a > b ? a : b; }

struct child_fig { double popen, re_delta, re_nodelta, ratio; };

/*
 * The child experiment on parent pp (n vectors, frozen) and its fresh
 * branch cp: 10% local changes (rows from q when given, else random), close
 * (its delta is written), reopen with/without the delta vs the parent's
 * open, then QPS against a flattened copy (queries after the change rows
 * of q, else random).
 */
static void child_bench(const char *data, const char *dir, const char *pp, const char *cp, size_t n,
			uint32_t d, const struct data_mat *q_src, int reps, struct child_fig *out)
{
	struct rvf_store *c, *f;
	char fp[4200];
	double re_delta, re_nodelta, popen, ratio;
	int rc;

	/* a child with 10% local changes, closed: its delta is written */
	if ((rc = rvf_store_open(cp, NULL, &c)))
		die("open child", rc);
	ingest_from(c, 0, n / 20, d, q_src ? q_src->v : NULL);       /* 5% upserts of parent ids */
	ingest_from(c, n, n / 20, d, q_src ? q_src->v + n / 20 * d : NULL);   /* 5% new ids */
	uint64_t *del = malloc(n / 100 * 8);
	for (size_t i = 0; i < n / 100; i++)
		del[i] = n / 10 + i * 7;
	if ((rc = rvf_store_delete(c, del, n / 100, NULL)))
		die("delete", rc);
	free(del);
	if ((rc = rvf_store_close(c)))
		die("close child", rc);
	/* the flattened copy: same content, standalone */
	snprintf(fp, sizeof(fp), "%s/f%zu.rvf", dir, n);
	copy_file(cp, fp);
	if ((rc = rvf_store_open(fp, NULL, &f)) || (rc = rvf_store_compact_flags(f, RVF_COMPACT_FLATTEN, NULL)))
		die("flatten", rc);
	rvf_store_close(f);

	/* reopen: parent alone, child with the delta, child without; alternately */
	re_delta = re_nodelta = popen = 1e30;
	for (int r = 0; r < reps; r++) {
		popen = min2(popen, open_once(pp, true));
		re_delta = min2(re_delta, open_once(cp, true));
		re_nodelta = min2(re_nodelta, open_once(cp, false));
	}
	printf("{\"bench\":\"child_reopen\",\"data\":\"%s\",\"parent_vectors\":%zu,\"dim\":%u,\"local_changes\":0.1,"
	       "\"child_bytes\":%lld,\"parent_open_s_best\":%.3f,\"child_reopen_delta_s_best\":%.3f,"
	       "\"child_reopen_reinsert_s_best\":%.3f,\"speedup\":%.1f,\"reps\":%d}\n", data, n, d,
	       file_bytes(cp), popen, re_delta, re_nodelta, re_nodelta / re_delta, reps);
	fflush(stdout);

	/* query QPS, child vs flattened copy: alternately, best of reps */
	if ((rc = rvf_store_open_readonly(cp, NULL, &c)))
		die("reopen child", rc);
	if ((rc = rvf_store_open_readonly(fp, NULL, &f)))
		die("open flat", rc);
	size_t nq = 2000;
	float *q = malloc(nq * d * sizeof(float));
	if (q_src && q_src->n >= n / 10 + nq)
		memcpy(q, q_src->v + n / 10 * d, nq * d * sizeof(float));
	else
		for (size_t i = 0; i < nq * d; i++)
			q[i] = frand();
	double qc = 0, qf = 0;
	qps_once(c, q, nq / 4, d);               /* warm both */
	qps_once(f, q, nq / 4, d);
	/* short batches, many alternations: the best of each lands in the
	 * machine's quiet moments, which then count for both alike */
	for (int r = 0; r < 4 * reps; r++) {
		qc = max2(qc, qps_once(c, q, nq / 2, d));
		qf = max2(qf, qps_once(f, q, nq / 2, d));
	}
	ratio = qc / qf;
	printf("{\"bench\":\"child_query\",\"data\":\"%s\",\"parent_vectors\":%zu,\"dim\":%u,\"local_changes\":0.1,"
	       "\"child_qps_best\":%.0f,\"flat_qps_best\":%.0f,\"ratio\":%.3f,\"reps\":%d}\n", data, n, d, qc,
	       qf, ratio, 4 * reps);
	fflush(stdout);
	free(q);
	rvf_store_close(c);
	rvf_store_close(f);
	unlink(fp);
	*out = (struct child_fig){ popen, re_delta, re_nodelta, ratio };
}

int main(void)
{
	const char *tmp = getenv("RVF_BENCH_DIR") ? getenv("RVF_BENCH_DIR") : getenv("TMPDIR");
	int quick = getenv("RVF_BENCH_QUICK") != NULL;
	uint32_t dim = getenv("RVF_BENCH_DIM") ? (uint32_t)atoi(getenv("RVF_BENCH_DIM")) : 64;
	uint32_t big_dim = getenv("RVF_BENCH_BIG_DIM") ? (uint32_t)atoi(getenv("RVF_BENCH_BIG_DIM")) : 16;
	int reps = getenv("RVF_BENCH_REPS") ? atoi(getenv("RVF_BENCH_REPS")) : 5;
	size_t sizes[] = { 10000, 100000, 1000000 }, nsz = quick ? 2 : 3;
	char dir[4096], pp[4200], cp[4200];
	double branch_ms[3] = { 0 };
	struct child_fig cr = { 0 }, fm = { 0 };
	struct data_mat fb = { 0 }, fq = { 0 };
	const char *fm_skip = NULL;
	long long child_bytes[3] = { 0 };

	if (reps < 1)
		reps = 1;
	snprintf(dir, sizeof(dir), "%s/bench-cow-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	struct rvf_store *par[3] = { 0 };
	double build_s[3] = { 0 };
	for (size_t si = 0; si < nsz; si++) {
		size_t n = sizes[si];
		uint32_t d = n >= 1000000 ? big_dim : dim;
		struct rvf_store_opts o = { .dimension = d };
		double t0;
		int rc;

		if (n >= 1000000) {
			o.M = 8;
			o.ef_construction = 32;
		}
		snprintf(pp, sizeof(pp), "%s/p%zu.rvf", dir, n);
		t0 = now();
		if ((rc = rvf_store_create(pp, &o, &par[si])))
			die("create", rc);
		ingest(par[si], 0, n, d);
		if ((rc = rvf_store_freeze(par[si])))
			die("freeze", rc);
		build_s[si] = now() - t0;
	}
	/* branch creation: the sizes alternately, best of reps, each a new
	 * child file (a branch's cost is a few fsyncs: the disk's noise on a
	 * shared box then hits every size alike); the parents' own writes are
	 * flushed first, so no branch waits for them */
	sync();
	for (size_t si = 0; si < nsz; si++)
		branch_ms[si] = 1e30;
	for (int r = 0; r < reps; r++)
		for (size_t si = 0; si < nsz; si++) {
			double t0;
			int rc;
			snprintf(cp, sizeof(cp), "%s/c%zu-%d.rvf", dir, sizes[si], r);
			t0 = now();
			if ((rc = rvf_store_branch(par[si], cp, NULL, NULL)))
				die("branch", rc);
			branch_ms[si] = min2(branch_ms[si], (now() - t0) * 1e3);
			child_bytes[si] = file_bytes(cp);
			if (r)
				unlink(cp);
		}
	for (size_t si = 0; si < nsz; si++) {
		snprintf(pp, sizeof(pp), "%s/p%zu.rvf", dir, sizes[si]);
		printf("{\"bench\":\"branch\",\"parent_vectors\":%zu,\"dim\":%u,\"parent_build_s\":%.1f,"
		       "\"parent_bytes\":%lld,\"branch_ms_best\":%.3f,\"reps\":%d,\"child_bytes\":%lld}\n",
		       sizes[si], sizes[si] >= 1000000 ? big_dim : dim, build_s[si], file_bytes(pp), branch_ms[si],
		       reps, child_bytes[si]);
		rvf_store_close(par[si]);
	}
	fflush(stdout);
	snprintf(pp, sizeof(pp), "%s/p%zu.rvf", dir, sizes[1]);
	snprintf(cp, sizeof(cp), "%s/c%zu-0.rvf", dir, sizes[1]);
	child_bench("random", dir, pp, cp, sizes[1], dim, NULL, reps, &cr);
	if (getenv("RVF_BENCH_FMNIST") && !strcmp(getenv("RVF_BENCH_FMNIST"), "0")) {
		fm_skip = "RVF_BENCH_FMNIST=0";
	} else if (data_fashion_mnist(NULL, &fb, &fq)) {
		fm_skip = rvf_last_error();
		fprintf(stderr, "bench-cow: Fashion-MNIST: %s (skipped)\n", fm_skip);
	} else {
		/* 60k images as the parent; the changes and queries are test images */
		char fpp[4200], fcp[4200];
		struct rvf_store_opts o = { .dimension = fb.dim };
		struct rvf_store *p;
		int rc;
		snprintf(fpp, sizeof(fpp), "%s/fm-p.rvf", dir);
		snprintf(fcp, sizeof(fcp), "%s/fm-c.rvf", dir);
		if ((rc = rvf_store_create(fpp, &o, &p)))
			die("create", rc);
		ingest_from(p, 0, fb.n, fb.dim, fb.v);
		if ((rc = rvf_store_branch(p, fcp, NULL, NULL)))       /* freezes it */
			die("branch", rc);
		rvf_store_close(p);
		child_bench("fashion-mnist", dir, fpp, fcp, fb.n, fb.dim, &fq, reps, &fm);
		unlink(fpp);
		unlink(fcp);
		data_mat_release(&fb);
		data_mat_release(&fq);
	}
	for (size_t si = 0; si < nsz; si++) {
		snprintf(pp, sizeof(pp), "%s/p%zu.rvf", dir, sizes[si]);
		snprintf(cp, sizeof(cp), "%s/c%zu-0.rvf", dir, sizes[si]);
		unlink(pp);
		unlink(cp);
	}
	rmdir(dir);
	printf("summary: branch creation %.2f / %.2f", branch_ms[0], branch_ms[1]);
	if (nsz > 2)
		printf(" / %.2f", branch_ms[2]);
	char big[64] = "";
	if (nsz > 2)
		snprintf(big, sizeof(big), " / %lld", child_bytes[2]);
	printf(" ms for 10k / 100k%s parent vectors (child files %lld / %lld%s bytes); child of the 100k "
	       "parent with 10%% changes reopens in %.3f s with its delta, %.3f s re-inserting (%.1fx; "
	       "parent alone %.3f s), its query QPS %.2fx a flattened copy (goal >= 0.9x)",
	       nsz > 2 ? " / 1M" : "", child_bytes[0], child_bytes[1], big, cr.re_delta, cr.re_nodelta,
	       cr.re_nodelta / cr.re_delta, cr.popen, cr.ratio);
	if (fm_skip)
		printf("; Fashion-MNIST skipped (%s)\n", fm_skip);
	else
		printf("; Fashion-MNIST 60k: reopen %.3f s with its delta, %.3f s re-inserting (%.1fx; parent "
		       "alone %.3f s), QPS %.2fx a flattened copy\n", fm.re_delta, fm.re_nodelta,
		       fm.re_nodelta / fm.re_delta, fm.popen, fm.ratio);
	return 0;
}
