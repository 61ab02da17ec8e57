/*
 * tools/bench-cow - copy-on-write branches: branch creation time for parents
 * of 10k, 100k and 1M vectors (it should not grow with the parent), the
 * child file's size right after branching, the child's open time, and query
 * QPS on a child with 10% local changes (5% upserts of parent ids, 5% new
 * ids, plus deletes) as a ratio to the same queries on a flattened copy of
 * it (goal >= 0.9x). One JSON line per measurement, then a summary.
 *
 * Environment: RVF_BENCH_QUICK=1 (10k and 100k only), RVF_BENCH_DIR (temp
 * dir, default $TMPDIR or /tmp), RVF_BENCH_DIM (default 64).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
	fprintf(stderr, "bench-cow: %s: %s\n", what, rvf_strerror(rc));
	exit(1);
}

static void ingest(struct rvf_store *s, uint64_t id0, size_t n, uint32_t dim)
{
	const size_t B = 50000;
	float *rows = malloc(B * dim * sizeof(float));
	struct rvf_vector *v = calloc(B, sizeof(*v));
	struct rvf_ingest_result r;

	for (size_t i = 0; i < n; i += B) {
		size_t k = n - i < B ? n - i : B;
		for (size_t j = 0; j < k; j++) {
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

static double qps(struct rvf_store *s, const float *q, size_t nq, uint32_t dim)
{
	struct rvf_result res[10];
	struct rvf_query_opts o = { .ef_search = 64 };
	double best = 0;

	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		for (size_t i = 0; i < nq; i++)
			if (rvf_store_query(s, q + i * dim, dim, 10, &o, res) < 0)
				die("query", -1);
		double r = nq / (now() - t0);
		if (r > best)
			best = r;
	}
	return best;
}

int main(void)
{
	const char *tmp = getenv("RVF_BENCH_DIR") ? getenv("RVF_BENCH_DIR") : getenv("TMPDIR");
	int quick = getenv("RVF_BENCH_QUICK") != NULL;
	uint32_t dim = getenv("RVF_BENCH_DIM") ? (uint32_t)atoi(getenv("RVF_BENCH_DIM")) : 64;
	size_t sizes[] = { 10000, 100000, 1000000 }, nsz = quick ? 2 : 3;
	char dir[4096], pp[4200], cp[4200], fp[4200];
	double branch_ms[3] = { 0 }, ratio = 0;

	snprintf(dir, sizeof(dir), "%s/bench-cow-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	for (size_t si = 0; si < nsz; si++) {
		size_t n = sizes[si];
		struct rvf_store_opts o = { .dimension = dim };
		struct rvf_store *p, *c, *f;
		struct stat st;
		int rc;

		snprintf(pp, sizeof(pp), "%s/p%zu.rvf", dir, n);
		snprintf(cp, sizeof(cp), "%s/c%zu.rvf", dir, n);
		snprintf(fp, sizeof(fp), "%s/f%zu.rvf", dir, n);
		if ((rc = rvf_store_create(pp, &o, &p)))
			die("create", rc);
		ingest(p, 0, n, dim);
		if ((rc = rvf_store_freeze(p)))
			die("freeze", rc);
		double t0 = now();
		if ((rc = rvf_store_branch(p, cp, NULL, NULL)))
			die("branch", rc);
		branch_ms[si] = (now() - t0) * 1e3;
		stat(cp, &st);
		printf("{\"bench\":\"branch\",\"parent_vectors\":%zu,\"dim\":%u,\"branch_ms\":%.3f,"
		       "\"child_bytes\":%lld}\n", n, dim, branch_ms[si], (long long)st.st_size);
		rvf_store_close(p);
		if (si != 1)
			continue;
		/* query QPS with 10% local changes vs a flattened copy */
		t0 = now();
		if ((rc = rvf_store_open(cp, NULL, &c)))
			die("open child", rc);
		double open_s = now() - t0;
		ingest(c, 0, n / 20, dim);               /* 5% upserts of parent ids */
		ingest(c, n, n / 20, dim);               /* 5% new ids */
		uint64_t *del = malloc(n / 100 * 8);
		for (size_t i = 0; i < n / 100; i++)
			del[i] = n / 10 + i * 7;
		rvf_store_delete(c, del, n / 100, NULL);
		free(del);
		rvf_store_close(c);
		/* the flattened copy: same content, standalone */
		{
			FILE *in = fopen(cp, "rb"), *out = fopen(fp, "wb");
			char buf[1 << 16];
			size_t k;
			while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
				fwrite(buf, 1, k, out);
			fclose(in);
			fclose(out);
		}
		if ((rc = rvf_store_open(fp, NULL, &f)) || (rc = rvf_store_compact_flags(f, RVF_COMPACT_FLATTEN, NULL)))
			die("flatten", rc);
		rvf_store_close(f);
		t0 = now();
		if ((rc = rvf_store_open_readonly(cp, NULL, &c)))
			die("reopen child", rc);
		double reopen_s = now() - t0;
		if ((rc = rvf_store_open_readonly(fp, NULL, &f)))
			die("open flat", rc);
		size_t nq = 2000;
		float *q = malloc(nq * dim * sizeof(float));
		for (size_t i = 0; i < nq * dim; i++)
			q[i] = frand();
		double qc = qps(c, q, nq, dim), qf = qps(f, q, nq, dim);
		ratio = qc / qf;
		printf("{\"bench\":\"child_query\",\"parent_vectors\":%zu,\"local_changes\":0.1,"
		       "\"child_open_s\":%.3f,\"child_reopen_s\":%.3f,\"child_qps\":%.0f,\"flat_qps\":%.0f,"
		       "\"ratio\":%.3f}\n", n, open_s, reopen_s, qc, qf, ratio);
		free(q);
		rvf_store_close(c);
		rvf_store_close(f);
		unlink(fp);
	}
	for (size_t si = 0; si < nsz; si++) {
		snprintf(pp, sizeof(pp), "%s/p%zu.rvf", dir, sizes[si]);
		snprintf(cp, sizeof(cp), "%s/c%zu.rvf", dir, sizes[si]);
		unlink(pp);
		unlink(cp);
	}
	rmdir(dir);
	printf("summary: branch creation %.2f / %.2f", branch_ms[0], branch_ms[1]);
	if (nsz > 2)
		printf(" / %.2f", branch_ms[2]);
	printf(" ms for 10k / 100k%s parent vectors; child query QPS %.2fx a flattened copy "
	       "(goal >= 0.9x)\n", nsz > 2 ? " / 1M" : "", ratio);
	return 0;
}
