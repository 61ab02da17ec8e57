/*
 * tools/rvf/cmd_query.c - `rvf query`: one vector (--vector) or a file of
 * queries (--queries), optional metadata filter, optional recall against
 * exact results.
 *
 * Timing covers the searches only (queries are loaded first, results are
 * printed after), on --threads worker threads sharing one read-only handle.
 *
 * Recall (--recall) is computed against an exact k-NN computed independently
 * of the index: the store's live vectors are read back (rvf_store_get_vector)
 * and scanned by tools/data's brute-force ground truth, which orders by
 * double-precision distance with ties to the smaller id, the same rule as
 * the store. With --gt-cache DIR that exact result is kept in DIR, keyed by a
 * hash of the vectors, queries, metric and k, so a second run skips the scan
 * but never reuses a result for different data. With a --filter, the exact
 * answer comes from the store's own brute-force path (RVF_QUERY_EXACT) with
 * the same filter, since the plain scan knows nothing of metadata.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "data/data.h"
#include "input.h"

static const char query_usage[] =
	"usage: rvf query FILE (--vector v1,v2,... | --queries Q) [--k 10] [--ef 64]\n"
	"                 [--filter JSON] [--json] [--exact] [--threads T]\n"
	"                 [--recall [--gt-cache DIR]]\n"
	"\n"
	"  --vector LIST   one query vector, comma-separated; prints `rank id distance`\n"
	"                  lines (one JSON object with --json)\n"
	"  --queries Q     a file of query vectors (fvecs, bvecs, npy, idx, csv, jsonl;\n"
	"                  format from the name or --format); prints one JSON line per\n"
	"                  query {\"query\":i,\"results\":[{\"id\":..,\"distance\":..}]} and, last\n"
	"                  on stderr, the query count, seconds and QPS of the searches\n"
	"  --format F      format of the --queries file\n"
	"  --k K           neighbours per query (default 10)\n"
	"  --ef E          HNSW search beam (default 64; raised to k if smaller)\n"
	"  --filter JSON   only vectors whose metadata match (or @path to a file), e.g.\n"
	"                  {\"and\":[{\"eq\":{\"field\":0,\"value\":\"cat\"}},\n"
	"                          {\"range\":{\"field\":2,\"gte\":1.5,\"lt\":10}}]}\n"
	"                  operators: eq ne lt le gt ge in range and or not; values\n"
	"                  plain or typed ({\"u64\":N} {\"i64\":N} {\"f64\":X} {\"string\":S}\n"
	"                  {\"bytes\":HEX})\n"
	"  --exact         brute force instead of the graph\n"
	"  --threads T     search threads for --queries (default 1)\n"
	"  --recall        also report recall@k against exact results (stderr)\n"
	"  --gt-cache DIR  keep the exact results in DIR for later runs\n"
	"  --gt FILE       recall against a ground-truth .ivecs file instead (row i =\n"
	"                  base row numbers of query i's neighbours, as SIFT/GIST ship)\n"
	"  --gt-ids-from N the store id of base row 0 (the ingest's --ids-from; default 0)\n"
	"  --no-results    with --queries: do not print the per-query lines\n"
	"  --limit N       with --queries: only the first N queries\n"
	"\n"
	"Distances: l2 = squared Euclidean, ip = 1 - dot, cosine = 1 - cos.\n";

struct qctx {
	const struct rvf_store *s;
	const float *q;
	size_t nq;
	uint32_t dim, k;
	struct rvf_query_opts qo;
	struct rvf_result *res;   /* nq * k */
	int *cnt;                 /* results per query or -errno */
	atomic_size_t next;
	/* the first failed query (lowest index, which is the one reported) and
	 * the error its worker thread logged; under mu */
	pthread_mutex_t mu;
	size_t fail_at;
	char fail_why[1024];
};

static void *qworker(void *arg)
{
	struct qctx *c = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&c->next, 16);

		if (i >= c->nq)
			break;
		for (size_t j = i; j < c->nq && j < i + 16; j++) {
			cli_clear_lib_err();
			c->cnt[j] = rvf_store_query(c->s, c->q + j * c->dim, c->dim, c->k, &c->qo,
						    c->res + j * c->k);
			if (c->cnt[j] < 0) {
				pthread_mutex_lock(&c->mu);
				if (j < c->fail_at) {
					c->fail_at = j;
					snprintf(c->fail_why, sizeof(c->fail_why), "%s", cli_lib_detail());
				}
				pthread_mutex_unlock(&c->mu);
			}
		}
	}
	return NULL;
}

static int run_queries(struct qctx *c, unsigned threads)
{
	pthread_t tid[256];
	unsigned started = 0;

	atomic_store(&c->next, 0);
	pthread_mutex_init(&c->mu, NULL);
	c->fail_at = SIZE_MAX;
	c->fail_why[0] = '\0';
	if (threads > 1)
		for (unsigned t = 0; t < threads; t++) {
			if (pthread_create(&tid[t], NULL, qworker, c))
				break;
			started++;
		}
	if (!started)
		qworker(c);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	pthread_mutex_destroy(&c->mu);
	/* so cli_lib_err on this thread names the reported query's error */
	if (c->fail_at != SIZE_MAX)
		cli_set_lib_detail(c->fail_why);
	return 0;
}

static int load_queries(const char *qpath, bool have_fmt, enum input_fmt fmt, uint32_t dim,
			float **out, size_t *nq)
{
	struct input *in = NULL;
	struct input_batch b = { 0 };
	float *q = NULL;
	size_t n = 0, cap = 0;
	long r;
	int rc = -EINVAL;

	if (!have_fmt && input_fmt_guess(qpath, &fmt)) {
		cli_err("%s: cannot tell the format from the name; use --format", qpath);
		return -EINVAL;
	}
	if (input_open(qpath, fmt, 0, &in))
		return -EINVAL;
	while ((r = input_next(in, &b, 4096)) > 0) {
		if (b.n_bad) {
			cli_err("%s: line %llu: %s", qpath, (unsigned long long)b.bad[0].pos, b.bad[0].why);
			goto out;
		}
		if (n + b.n > cap) {
			size_t nc = cap ? cap : 4096;
			float *nqv;

			while (nc < n + b.n)
				nc *= 2;
			nqv = aligned_alloc(64, ((nc * dim * sizeof(float)) + 63) / 64 * 64);
			if (!nqv) {
				cli_err("%s: out of memory", qpath);
				goto out;
			}
			if (q)
				memcpy(nqv, q, n * dim * sizeof(float));
			free(q);
			q = nqv;
			cap = nc;
		}
		for (size_t i = 0; i < b.n; i++) {
			if (b.dim[i] != dim) {
				cli_err("%s: %s %llu has %u values but the store has dimension %u", qpath,
					fmt == IN_CSV || fmt == IN_JSONL ? "line" : "row",
					(unsigned long long)b.pos[i], b.dim[i], dim);
				goto out;
			}
			memcpy(q + (n + i) * dim, b.vals + b.off[i], dim * sizeof(float));
		}
		n += b.n;
	}
	if (r < 0)
		goto out;
	if (n == 0) {
		cli_err("%s: no query vectors", qpath);
		goto out;
	}
	*out = q;
	*nq = n;
	q = NULL;
	rc = 0;
out:
	free(q);
	input_batch_release(&b);
	input_close(in);
	return rc;
}

/* The store's live vectors as a dense matrix, row i = ids[i] (ascending). */
static int load_base(const struct rvf_store *s, const char *path, struct data_mat *base,
		     uint64_t **ids_out)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	uint32_t dim = rvf_store_dimension(s);
	int rc;

	cli_clear_lib_err();
	rc = rvf_store_live_ids(s, &ids, &n);
	if (rc) {
		cli_lib_err(path, "cannot list ids", rc);
		return rc;
	}
	if (n == 0) {
		cli_err("%s: the store is empty; no recall to compute", path);
		free(ids);
		return -ENOENT;
	}
	rc = data_mat_alloc(base, n, dim);
	if (rc) {
		cli_err("out of memory");
		free(ids);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		rc = rvf_store_get_vector(s, ids[i], base->v + i * dim, dim);
		if (rc) {
			cli_lib_err(path, "cannot read a vector back", rc);
			data_mat_release(base);
			free(ids);
			return rc;
		}
	}
	*ids_out = ids;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Recall of c->res against exact results; prints one line on stderr. */
static int report_recall(struct qctx *c, const char *path, const char *gt_cache, unsigned threads)
{
	double sum = 0, t0 = cli_now();
	size_t nq = c->nq;
	uint32_t k = c->k;
	int rc = 0;

	if (c->qo.filter) {
		/* The store's brute-force path with the same filter. */
		struct qctx e = *c;

		e.qo.flags |= RVF_QUERY_EXACT;
		e.res = malloc(nq * k * sizeof(*e.res));
		e.cnt = malloc(nq * sizeof(*e.cnt));
		if (!e.res || !e.cnt) {
			free(e.res);
			free(e.cnt);
			cli_err("out of memory");
			return -ENOMEM;
		}
		run_queries(&e, threads);
		for (size_t i = 0; i < nq && !rc; i++) {
			size_t hit = 0;

			if (e.cnt[i] < 0) {
				rc = e.cnt[i];
				cli_lib_err(path, "exact query failed", rc);
				break;
			}
			for (int a = 0; a < c->cnt[i]; a++)
				for (int g = 0; g < e.cnt[i]; g++)
					if (c->res[i * k + a].id == e.res[i * k + g].id) {
						hit++;
						break;
					}
			/* Fewer than k matching vectors: recall over what exists. */
			sum += e.cnt[i] ? (double)hit / (double)e.cnt[i] : 1.0;
		}
		free(e.res);
		free(e.cnt);
		if (!rc)
			fprintf(stderr, "recall@%u %.4f over %zu queries (exact: store brute force with "
				"the filter, %.1f s)\n", k, sum / (double)nq, nq, cli_now() - t0);
		return rc;
	} else {
		struct data_mat base = { 0 }, qm = { .v = (float *)c->q, .n = nq, .dim = c->dim };
		struct data_gt gt = { 0 };
		uint64_t *ids = NULL, *rows = NULL;

		rc = load_base(c->s, path, &base, &ids);
		if (rc)
			return rc;
		if (k > base.n) {
			cli_err("--recall: k = %u is more than the %zu vectors in the store", k, base.n);
			rc = -EINVAL;
			goto out;
		}
		cli_clear_lib_err();
		rc = gt_cache ? data_gt_cached(&base, &qm, rvf_store_metric(c->s), k, 0, gt_cache, &gt)
			      : data_gt_compute(&base, &qm, rvf_store_metric(c->s), k, 0, &gt);
		if (rc) {
			cli_lib_err(gt_cache ? gt_cache : path, "exact results failed", rc);
			goto out;
		}
		rows = malloc(k * sizeof(*rows));
		if (!rows) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nq; i++) {
			int n = c->cnt[i];

			/* store id -> base row (ids ascending, so a binary search). */
			for (int a = 0; a < n; a++) {
				uint64_t *p = bsearch(&c->res[i * k + a].id, ids, base.n, sizeof(*ids), cmp_u64);

				rows[a] = p ? (uint64_t)(p - ids) : UINT64_MAX;
			}
			sum += data_recall_at(&gt, i, rows, (size_t)n, k);
		}
		fprintf(stderr, "recall@%u %.4f over %zu queries (exact: brute force over %zu "
			"stored vectors%s%s, %.1f s)\n", k, sum / (double)nq, nq, base.n,
			gt_cache ? ", cache in " : "", gt_cache ? gt_cache : "", cli_now() - t0);
out:
		free(rows);
		data_gt_release(&gt);
		data_mat_release(&base);
		free(ids);
		return rc;
	}
}

/* Recall against a ground-truth file (ivecs: row i = base row numbers of
 * query i's neighbours, nearest first), ids = row + id_offset. */
static int report_recall_file(const struct qctx *c, const char *gt_path, uint64_t id_offset)
{
	struct data_imat gt = { 0 };
	double sum = 0;
	int rc;

	cli_clear_lib_err();
	rc = data_load_ivecs(gt_path, 0, &gt);
	if (rc) {
		cli_lib_err(gt_path, "cannot read the ground truth", rc);
		return rc;
	}
	if (gt.n < c->nq || gt.dim < c->k) {
		cli_err("%s: %zu rows of %u neighbours; need %zu rows of at least %u (--k)", gt_path,
			gt.n, gt.dim, c->nq, c->k);
		data_imat_release(&gt);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->nq; i++) {
		size_t hit = 0;

		for (int a = 0; a < c->cnt[i]; a++)
			for (uint32_t g = 0; g < c->k; g++)
				if (gt.v[i * gt.dim + g] >= 0 &&
				    c->res[i * c->k + a].id == (uint64_t)gt.v[i * gt.dim + g] + id_offset) {
					hit++;
					break;
				}
		sum += (double)hit / c->k;
	}
	fprintf(stderr, "recall@%u %.4f over %zu queries (against %s)\n", c->k, sum / (double)c->nq,
		c->nq, gt_path);
	data_imat_release(&gt);
	return 0;
}

static void print_results_json(FILE *f, const struct rvf_result *r, int n)
{
	fputs("\"results\":[", f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s{\"id\":%llu,\"distance\":%.9g}", i ? "," : "",
			(unsigned long long)r[i].id, (double)r[i].distance);
	fputc(']', f);
}

int cmd_query(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "vector", required_argument, 0, 'v' }, { "queries", required_argument, 0, 'Q' },
		{ "format", required_argument, 0, 'F' }, { "k", required_argument, 0, 'k' },
		{ "ef", required_argument, 0, 'e' }, { "filter", required_argument, 0, 'f' },
		{ "json", no_argument, 0, 'j' }, { "exact", no_argument, 0, 'x' },
		{ "threads", required_argument, 0, 't' }, { "recall", no_argument, 0, 'r' },
		{ "gt-cache", required_argument, 0, 'g' }, { "no-results", no_argument, 0, 'n' },
		{ "limit", required_argument, 0, 'l' }, { "gt", required_argument, 0, 'G' },
		{ "gt-ids-from", required_argument, 0, 'O' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *vec_arg = NULL, *qpath = NULL, *filter_arg = NULL, *gt_cache = NULL, *path;
	enum input_fmt fmt = IN_FVECS;
	bool have_fmt = false, json = false, exact = false, recall = false, no_results = false;
	uint32_t k = 10, ef = 64, threads = 1, dim;
	uint64_t limit = UINT64_MAX, gt_ids_from = 0;
	const char *gt_file = NULL;
	struct rvf_filter *filter = NULL;
	struct rvf_store *s = NULL;
	struct qctx ctx = { 0 };
	float *q = NULL;
	size_t nq = 0;
	double t0, secs;
	int c, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, query_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'v': vec_arg = optarg; break;
		case 'Q': qpath = optarg; break;
		case 'F':
			if (input_fmt_parse(optarg, &fmt)) {
				cli_err("--format: unknown format '%s'", optarg);
				return EXIT_USAGE;
			}
			have_fmt = true;
			break;
		case 'k':
			if (cli_u32("--k", optarg, 1, 100000, &k))
				return EXIT_USAGE;
			break;
		case 'e':
			if (cli_u32("--ef", optarg, 1, 1000000, &ef))
				return EXIT_USAGE;
			break;
		case 'f': filter_arg = optarg; break;
		case 'j': json = true; break;
		case 'x': exact = true; break;
		case 't':
			if (cli_u32("--threads", optarg, 1, 256, &threads))
				return EXIT_USAGE;
			break;
		case 'r': recall = true; break;
		case 'g': gt_cache = optarg; break;
		case 'G': gt_file = optarg; break;
		case 'O':
			if (cli_u64("--gt-ids-from", optarg, &gt_ids_from))
				return EXIT_USAGE;
			break;
		case 'n': no_results = true; break;
		case 'l':
			if (cli_u64("--limit", optarg, &limit) || limit == 0) {
				if (limit == 0)
					cli_err("--limit: must be at least 1");
				return EXIT_USAGE;
			}
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_err("expected one FILE (see rvf query --help)");
		return EXIT_USAGE;
	}
	path = argv[optind];
	if (!!vec_arg == !!qpath) {
		cli_err("give exactly one of --vector and --queries");
		return EXIT_USAGE;
	}
	if ((recall || gt_file) && !qpath) {
		cli_err("--recall and --gt need --queries");
		return EXIT_USAGE;
	}
	if (gt_file && (filter_arg || gt_cache)) {
		cli_err("--gt is a fixed answer: it cannot be combined with --filter or --gt-cache");
		return EXIT_USAGE;
	}
	if (filter_arg && cli_filter(filter_arg, &filter))
		return EXIT_USAGE;
	if (cli_open_ro(path, &s))
		goto out;
	dim = rvf_store_dimension(s);
	if (vec_arg) {
		uint32_t n;

		if (cli_float_list("--vector", vec_arg, &q, &n)) {
			ret = EXIT_USAGE;
			goto out;
		}
		if (n != dim) {
			cli_err("--vector has %u values but %s has dimension %u", n, path, dim);
			goto out;
		}
		nq = 1;
	} else if (load_queries(qpath, have_fmt, fmt, dim, &q, &nq)) {
		goto out;
	}
	if (nq > limit)
		nq = (size_t)limit;

	ctx.s = s;
	ctx.q = q;
	ctx.nq = nq;
	ctx.dim = dim;
	ctx.k = k;
	ctx.qo.ef_search = ef;
	ctx.qo.filter = filter;
	ctx.qo.flags = exact ? RVF_QUERY_EXACT : 0;
	ctx.res = malloc(nq * k * sizeof(*ctx.res));
	ctx.cnt = malloc(nq * sizeof(*ctx.cnt));
	if (!ctx.res || !ctx.cnt) {
		cli_err("out of memory");
		goto out;
	}
	cli_clear_lib_err();
	t0 = cli_now();
	run_queries(&ctx, threads);
	secs = cli_now() - t0;
	for (size_t i = 0; i < nq; i++)
		if (ctx.cnt[i] < 0) {
			char what[64];

			snprintf(what, sizeof(what), "query %zu failed", i);
			cli_lib_err(path, what, ctx.cnt[i]);
			goto out;
		}

	if (vec_arg && json) {
		putchar('{');
		print_results_json(stdout, ctx.res, ctx.cnt[0]);
		puts("}");
	} else if (vec_arg) {
		for (int i = 0; i < ctx.cnt[0]; i++)
			printf("%d %llu %.9g\n", i + 1, (unsigned long long)ctx.res[i].id,
			       (double)ctx.res[i].distance);
	} else if (!no_results) {
		for (size_t i = 0; i < nq; i++) {
			printf("{\"query\":%zu,", i);
			print_results_json(stdout, ctx.res + i * k, ctx.cnt[i]);
			puts("}");
		}
	}
	if (fflush(stdout)) {
		cli_err("write error on standard output: %s", strerror(errno));
		goto out;
	}
	if (gt_file) {
		if (report_recall_file(&ctx, gt_file, gt_ids_from))
			goto out;
	} else if (recall && report_recall(&ctx, path, gt_cache, threads)) {
		goto out;
	}
	if (qpath)
		fprintf(stderr, "queries %zu, %.3f s, %.0f QPS (k %u, ef %u, %u thread%s%s%s)\n", nq,
			secs, secs > 0 ? (double)nq / secs : 0.0, k, ef < k ? k : ef, threads,
			threads == 1 ? "" : "s", exact ? ", exact" : "", filter ? ", filtered" : "");
	ret = 0;
out:
	free(ctx.res);
	free(ctx.cnt);
	free(q);
	rvf_filter_free(filter);
	rvf_store_close(s);
	return ret;
}
