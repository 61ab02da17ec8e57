/*
 * tools/rvf/cmd_data.c - commands that put vectors in and take them out:
 * create, ingest, delete, dump, import.
 *
 * ingest commits one durable batch per --batch rows (what the store
 * acknowledges survives a crash); rows the input cannot parse and rows the
 * store rejects are both counted as rejected, with reasons, and make the
 * exit status 1 while everything else goes in.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "input.h"

/* ---- create --------------------------------------------------------------- */

static const char create_usage[] =
	"usage: rvf create FILE --dim N [--metric l2|ip|cosine] [--m M] [--ef-construction E]\n"
	"\n"
	"Create an empty store. The extension picks the domain profile (.rvf generic,\n"
	".rvdna, .rvtext, .rvgraph, .rvvis). FILE must not exist.\n"
	"\n"
	"  --dim N               vector dimension, 1..65535 (required)\n"
	"  --metric M            l2 (squared Euclidean, default), ip (1 - dot), cosine\n"
	"  --m M                 HNSW links per node (default 16)\n"
	"  --ef-construction E   HNSW build beam width (default 200)\n"
	"  --quant Q             graph traversal codes: sq8 (default) or none (float32)\n"
	"  --seed S              HNSW level seed (default fixed)\n";

int cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dim", required_argument, 0, 'd' }, { "metric", required_argument, 0, 'M' },
		{ "m", required_argument, 0, 'm' }, { "ef-construction", required_argument, 0, 'e' },
		{ "quant", required_argument, 0, 'q' }, { "seed", required_argument, 0, 's' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct rvf_store_opts o = { 0 };
	struct rvf_store *s;
	int c, rc;

	while ((c = cli_getopt(argc, argv, ":h", lo, create_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'd':
			if (cli_u32("--dim", optarg, 1, 65535, &o.dimension))
				return EXIT_USAGE;
			break;
		case 'M':
			if (rvf_metric_parse(optarg, &o.metric)) {
				cli_err("--metric: unknown metric '%s' (l2, ip, cosine)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'm':
			if (cli_u32("--m", optarg, 2, 255, &o.M))
				return EXIT_USAGE;
			break;
		case 'e':
			if (cli_u32("--ef-construction", optarg, 1, 100000, &o.ef_construction))
				return EXIT_USAGE;
			break;
		case 'q':
			if (!strcmp(optarg, "sq8"))
				o.quant = RVF_HNSW_QUANT_SQ8;
			else if (!strcmp(optarg, "none"))
				o.quant = RVF_HNSW_QUANT_NONE;
			else {
				cli_err("--quant: '%s' is not sq8 or none", optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (cli_u64("--seed", optarg, &o.seed))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_err("expected one FILE (see rvf create --help)");
		return EXIT_USAGE;
	}
	if (!o.dimension) {
		cli_err("--dim is required (see rvf create --help)");
		return EXIT_USAGE;
	}
	cli_clear_lib_err();
	o.write_timeout_ms = cli_lock_timeout_ms;
	rc = rvf_store_create(argv[optind], &o, &s);
	if (rc) {
		cli_lib_err(argv[optind], "cannot create", rc);
		return 1;
	}
	printf("created %s: dimension %u, metric %s\n", argv[optind], o.dimension,
	       rvf_metric_name(o.metric));
	return cli_close(s, argv[optind]);
}

/* ---- ingest --------------------------------------------------------------- */

static const char ingest_usage[] =
	"usage: rvf ingest FILE INPUT [--format F] [--ids-from N] [--batch B] [--progress|--no-progress]\n"
	"\n"
	"Add the vectors in INPUT to the store FILE (an existing id is replaced).\n"
	"Each batch is committed durably before the next is read.\n"
	"\n"
	"  --format F     fvecs, bvecs, npy, idx, csv or jsonl; default from INPUT's\n"
	"                 name (.fvecs .bvecs .npy .csv .jsonl, idx: *-ubyte or *.idx;\n"
	"                 a .gz suffix is looked through: gzip input is read directly)\n"
	"  --ids-from N   id of the first vector (default 0); rows get N, N+1, ...\n"
	"                 jsonl lines may carry their own \"id\"\n"
	"  --batch B      vectors per committed batch (default 10000, fewer for very\n"
	"                 wide vectors: at most 64 MiB of values per batch)\n"
	"  --labels L     one integer label per vector (idx1 file such as\n"
	"                 train-labels-idx1-ubyte.gz, or text with one per line), stored\n"
	"                 as u64 metadata field --label-field (default 0), for filters;\n"
	"                 with fvecs, bvecs, npy and idx input (jsonl has its own meta)\n"
	"  --label-field F  field id for --labels (0..65535)\n"
	"  --progress     progress on stderr even when it is not a terminal\n"
	"  --no-progress  no progress, even on a terminal\n"
	"  --lock-timeout MS  wait this long for another writer (default 5000)\n"
	"\n"
	"jsonl: {\"id\":7,\"vector\":[0.1,...],\"meta\":{\"0\":\"cat\",\"1\":{\"u64\":3}}}\n"
	"  (meta keys are field ids 0..65535; values as in `rvf query --filter`)\n"
	"csv:   one vector per line; a non-numeric first line is a header\n"
	"\n"
	"Rows the input cannot parse and vectors the store refuses (wrong dimension,\n"
	"NaN or infinity, bad metadata, zero vector under cosine) are rejected with\n"
	"a reason; the rest go in. Exit status 1 if anything was rejected.\n";

#define MAX_SHOWN_REJECTS 10

struct ingest_stats {
	uint64_t accepted, rejected;
	uint64_t by_reason[8];   /* [0] = unparsable input, [1..4] store reasons */
	unsigned shown;
};

static void show_reject(struct ingest_stats *st, const char *input, bool text, uint64_t pos,
			const char *id, const char *why)
{
	if (st->shown++ >= MAX_SHOWN_REJECTS)
		return;
	if (text)
		cli_err("%s: line %llu%s%s: rejected: %s", input, (unsigned long long)pos,
			id ? ", id " : "", id ? id : "", why);
	else
		cli_err("%s: row %llu%s%s: rejected: %s", input, (unsigned long long)pos,
			id ? ", id " : "", id ? id : "", why);
}

static const char *reason_text(enum rvf_reject_reason r)
{
	switch (r) {
	case RVF_REJECT_DIMENSION: return "wrong dimension";
	case RVF_REJECT_NONFINITE: return "NaN or infinite value";
	case RVF_REJECT_METADATA: return "invalid metadata";
	case RVF_REJECT_ZERO_NORM: return "all-zero vector in a cosine store";
	}
	return "rejected";
}

static void progress(bool tty, uint64_t done, size_t total, double t0, bool final)
{
	static uint64_t shown = UINT64_MAX;
	double el = cli_now() - t0;
	double rate = el > 0 ? (double)done / el : 0;

	if (!tty && final && shown == done)
		return;   /* the last periodic line already said it */
	shown = done;

	if (total)
		fprintf(stderr, "%singest: %llu / %zu vectors (%.0f%%), %.0f vectors/s, %.1f s%s",
			tty ? "\r" : "", (unsigned long long)done, total,
			100.0 * (double)done / (double)total, rate, el, !tty ? "\n" : final ? "\033[K\n" : "\033[K");
	else
		fprintf(stderr, "%singest: %llu vectors, %.0f vectors/s, %.1f s%s", tty ? "\r" : "",
			(unsigned long long)done, rate, el, !tty ? "\n" : final ? "\033[K\n" : "\033[K");
	fflush(stderr);
}

/* Read n labels and point vecs[0..n) at them as u64 field `field`. */
static int attach_labels(struct input *lab, struct input_batch *lb, const char *labels_path,
			 bool labels_text, const char *input_path, uint16_t field,
			 struct rvf_meta_entry *lmeta,
			 struct rvf_vector *vecs, size_t n)
{
	long r = input_next(lab, lb, n);

	if (r < 0)
		return -EINVAL;
	if (lb->n_bad) {
		cli_err("%s: line %llu: %s", labels_path, (unsigned long long)lb->bad[0].pos,
			lb->bad[0].why);
		return -EINVAL;
	}
	for (size_t i = 0; i < lb->n; i++) {
		float x = lb->vals[lb->off[i]];

		if (lb->dim[i] != 1 || !(x >= 0) || x != (float)(uint64_t)x || x > 16777216.0f) {
			cli_err("%s: %s %llu: a label must be one non-negative integer", labels_path,
				labels_text ? "line" : "row", (unsigned long long)lb->pos[i]);
			return -EINVAL;
		}
		lmeta[i] = (struct rvf_meta_entry){ .field_id = field,
						    .value = rvf_meta_u64((uint64_t)x) };
		vecs[i].meta = &lmeta[i];
		vecs[i].n_meta = 1;
	}
	if (lb->n < n) {
		cli_err("%s has fewer labels than %s has rows", labels_path, input_path);
		return -EINVAL;
	}
	return 0;
}

int cmd_ingest(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "format", required_argument, 0, 'f' }, { "ids-from", required_argument, 0, 'i' },
		{ "batch", required_argument, 0, 'b' }, { "progress", no_argument, 0, 'p' },
		{ "no-progress", no_argument, 0, 'P' }, { "lock-timeout", required_argument, 0, 'L' },
		{ "labels", required_argument, 0, 'l' }, { "label-field", required_argument, 0, 'F' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *labels_path = NULL;
	bool labels_text = false;
	uint32_t label_field = 0;
	struct input *lab = NULL;
	struct input_batch lb = { 0 };
	struct rvf_meta_entry *lmeta = NULL;
	enum input_fmt fmt = IN_FVECS;
	bool have_fmt = false;
	uint64_t ids_from = 0;
	uint32_t batch = 0;   /* 0 = default, sized from the dimension */
	int want_progress = -1;   /* -1 = when stderr is a TTY */
	const char *path, *input_path;
	struct input *in = NULL;
	struct input_batch b = { 0 };
	struct rvf_vector *vecs = NULL;
	struct rvf_store *s = NULL;
	struct ingest_stats st = { 0 };
	bool tty = isatty(STDERR_FILENO), text, show;
	size_t total;
	double t0 = cli_now(), last = 0;
	uint64_t epoch = 0;
	int c, ret = 1;
	long r;

	while ((c = cli_getopt(argc, argv, ":h", lo, ingest_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'f':
			if (input_fmt_parse(optarg, &fmt)) {
				cli_err("--format: unknown format '%s' (fvecs, bvecs, npy, idx, csv, jsonl)",
					optarg);
				return EXIT_USAGE;
			}
			have_fmt = true;
			break;
		case 'i':
			if (cli_u64("--ids-from", optarg, &ids_from))
				return EXIT_USAGE;
			break;
		case 'b':
			if (cli_u32("--batch", optarg, 1, 10000000, &batch))
				return EXIT_USAGE;
			break;
		case 'l': labels_path = optarg; break;
		case 'F':
			if (cli_u32("--label-field", optarg, 0, 65535, &label_field))
				return EXIT_USAGE;
			break;
		case 'p': want_progress = 1; break;
		case 'P': want_progress = 0; break;
		case 'L':
			if (cli_u32("--lock-timeout", optarg, 1, UINT32_MAX, &cli_lock_timeout_ms))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc) {
		cli_err("expected FILE and INPUT (see rvf ingest --help)");
		return EXIT_USAGE;
	}
	path = argv[optind];
	input_path = argv[optind + 1];
	if (!have_fmt && input_fmt_guess(input_path, &fmt)) {
		cli_err("%s: cannot tell the format from the name; use --format "
			"(fvecs, bvecs, npy, idx, csv, jsonl)", input_path);
		return EXIT_USAGE;
	}
	show = want_progress < 0 ? tty : want_progress;
	text = fmt == IN_CSV || fmt == IN_JSONL;
	if (labels_path && text) {
		cli_err("--labels works with fvecs, bvecs, npy and idx input (csv rows may be "
			"skipped; jsonl lines carry their own \"meta\")");
		return EXIT_USAGE;
	}

	if (access(input_path, R_OK)) {
		cli_err("%s: %s", input_path, strerror(errno));
		return 1;
	}
	if (cli_open_rw(path, &s))
		return 1;
	if (input_open(input_path, fmt, ids_from, &in))
		goto out;
	if (input_dim(in) && input_dim(in) != rvf_store_dimension(s)) {
		cli_err("%s: rows have %u values but %s has dimension %u", input_path, input_dim(in),
			path, rvf_store_dimension(s));
		goto out;
	}
	total = input_rows_hint(in);
	if (!batch) {
		/* 10000 rows, but at most ~64 MiB of floats per batch */
		size_t cap = ((size_t)64 << 20) / (sizeof(float) * rvf_store_dimension(s));

		batch = cap < 10000 ? (cap ? (uint32_t)cap : 1) : 10000;
	}
	if (labels_path) {
		enum input_fmt lf;

		if (input_fmt_guess(labels_path, &lf) || lf != IN_IDX)
			lf = IN_CSV;   /* text: one label per line */
		labels_text = lf == IN_CSV;
		if (input_open(labels_path, lf, 0, &lab))
			goto out;
		if (input_dim(lab) > 1) {
			cli_err("%s: labels must be one number per row, not %u", labels_path,
				input_dim(lab));
			goto out;
		}
		if (total && input_rows_hint(lab) && total != input_rows_hint(lab)) {
			cli_err("%s has %zu rows but %s has %zu labels", input_path, total, labels_path,
				input_rows_hint(lab));
			goto out;
		}
		lmeta = calloc(batch, sizeof(*lmeta));
		if (!lmeta) {
			cli_err("out of memory");
			goto out;
		}
	}
	vecs = calloc(batch, sizeof(*vecs));
	if (!vecs) {
		cli_err("out of memory");
		goto out;
	}
	t0 = cli_now();
	while ((r = input_next(in, &b, batch)) > 0) {
		struct rvf_ingest_result res = { 0 };
		int rc;

		for (size_t i = 0; i < b.n_bad; i++) {
			st.rejected++;
			st.by_reason[0]++;
			show_reject(&st, input_path, text, b.bad[i].pos, NULL, b.bad[i].why);
		}
		if (b.n == 0)
			continue;
		for (size_t i = 0; i < b.n; i++)
			vecs[i] = (struct rvf_vector){ .id = b.id[i], .values = b.vals + b.off[i],
						      .dim = b.dim[i], .meta = b.meta[i],
						      .n_meta = b.n_meta[i] };
		if (lab && attach_labels(lab, &lb, labels_path, labels_text, input_path,
					 (uint16_t)label_field, lmeta, vecs, b.n))
			goto summary;
		cli_clear_lib_err();
		rc = rvf_store_ingest_batch(s, vecs, b.n, &res);
		if (rc) {
			cli_lib_err(path, "ingest failed", rc);
			/* rvf.h: a failed batch is not in the store, except when memory
			 * ran out updating the index after the batch was durable. */
			cli_err("%s: %llu vectors were committed before the failure; this batch "
				"(%s %llu..) %s", path, (unsigned long long)st.accepted,
				text ? "lines" : "rows", (unsigned long long)b.pos[0],
				rc == -ENOMEM ? "may be on disk too (out of memory after its commit: "
				"check with rvf status)" : "was not");
			goto summary;
		}
		st.accepted += res.accepted;
		st.rejected += res.rejected;
		epoch = res.epoch;
		for (uint64_t i = 0; i < res.rejected; i++) {
			const struct rvf_reject *rj = &res.rejects[i];
			char idbuf[24];

			st.by_reason[rj->reason < 8 ? rj->reason : 7]++;
			snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)rj->id);
			if (rj->reason == RVF_REJECT_DIMENSION) {
				char why[96];

				snprintf(why, sizeof(why), "%u values, the store has dimension %u",
					 b.dim[rj->index], rvf_store_dimension(s));
				show_reject(&st, input_path, text, b.pos[rj->index], idbuf, why);
			} else {
				show_reject(&st, input_path, text, b.pos[rj->index], idbuf,
					    reason_text(rj->reason));
			}
		}
		rvf_ingest_result_release(&res);
		if (show && (cli_now() - last > (tty ? 0.2 : 2.0))) {
			progress(tty, st.accepted + st.rejected, total, t0, false);
			last = cli_now();
		}
	}
	if (r < 0)
		goto summary;
	if (lab && input_next(lab, &lb, 1) != 0) {
		cli_err("%s has more labels than %s has rows", labels_path, input_path);
		goto summary;
	}
	if (show)
		progress(tty, st.accepted + st.rejected, total, t0, true);
	ret = st.rejected ? 1 : 0;
summary:
	if (st.shown > MAX_SHOWN_REJECTS)
		cli_err("... %u more rejections not shown", st.shown - MAX_SHOWN_REJECTS);
	if (epoch)
		printf("ingested %llu vectors into %s (epoch %llu), rejected %llu, %.2f s\n",
		       (unsigned long long)st.accepted, path, (unsigned long long)epoch,
		       (unsigned long long)st.rejected, cli_now() - t0);
	else
		printf("ingested %llu vectors into %s, rejected %llu, %.2f s\n",
		       (unsigned long long)st.accepted, path, (unsigned long long)st.rejected,
		       cli_now() - t0);
	if (st.rejected) {
		static const char *names[8] = { "unparsable input", NULL, NULL, NULL, NULL,
						NULL, NULL, "other" };

		for (int i = 0; i < 8; i++) {
			const char *nm = names[i] ? names[i] : reason_text((enum rvf_reject_reason)i);

			if (st.by_reason[i])
				printf("  rejected: %llu %s\n", (unsigned long long)st.by_reason[i], nm);
		}
	}
out:
	free(vecs);
	free(lmeta);
	input_batch_release(&b);
	input_batch_release(&lb);
	input_close(lab);
	input_close(in);
	if (s && cli_close(s, path))
		ret = 1;
	return ret;
}

/* ---- delete --------------------------------------------------------------- */

static const char delete_usage[] =
	"usage: rvf delete FILE (--ids 1,2,3 | --filter JSON)\n"
	"\n"
	"Delete vectors (tombstones, durable; `rvf compact` reclaims the space).\n"
	"\n"
	"  --ids LIST     comma-separated ids (absent ids are ignored)\n"
	"  --filter JSON  every live vector whose metadata matches (JSON filter as in\n"
	"                 `rvf query --help`; @path reads it from a file)\n"
	"  --lock-timeout MS  wait this long for another writer (default 5000)\n";

int cmd_delete(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ids", required_argument, 0, 'i' }, { "filter", required_argument, 0, 'f' },
		{ "lock-timeout", required_argument, 0, 'L' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *ids_arg = NULL, *filter_arg = NULL, *path;
	uint64_t *ids = NULL;
	size_t n = 0;
	struct rvf_filter *f = NULL;
	struct rvf_store *s = NULL;
	struct rvf_delete_result res = { 0 };
	int c, rc, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, delete_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'i': ids_arg = optarg; break;
		case 'f': filter_arg = optarg; break;
		case 'L':
			if (cli_u32("--lock-timeout", optarg, 1, UINT32_MAX, &cli_lock_timeout_ms))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_err("expected one FILE (see rvf delete --help)");
		return EXIT_USAGE;
	}
	path = argv[optind];
	if (!!ids_arg == !!filter_arg) {
		cli_err("give exactly one of --ids and --filter");
		return EXIT_USAGE;
	}
	if (ids_arg && cli_u64_list("--ids", ids_arg, &ids, &n))
		return EXIT_USAGE;
	if (filter_arg && cli_filter(filter_arg, &f))
		return EXIT_USAGE;
	if (cli_open_rw(path, &s))
		goto out;
	cli_clear_lib_err();
	rc = ids ? rvf_store_delete(s, ids, n, &res) : rvf_store_delete_by_filter(s, f, &res);
	if (rc) {
		cli_lib_err(path, "delete failed", rc);
		goto out;
	}
	printf("deleted %llu vectors from %s (epoch %llu)\n", (unsigned long long)res.deleted, path,
	       (unsigned long long)res.epoch);
	ret = 0;
out:
	if (s && cli_close(s, path))
		ret = 1;
	rvf_filter_free(f);
	free(ids);
	return ret;
}

/* ---- dump ----------------------------------------------------------------- */

static const char dump_usage[] =
	"usage: rvf dump FILE [--ids 1,2,3] [--limit N]\n"
	"\n"
	"Every live vector as one JSON line, sorted by id:\n"
	"  {\"id\":7,\"vector\":[0.5,...],\"meta\":{\"0\":{\"string\":\"cat\"}}}\n"
	"Values are printed with 9 significant digits, which reads back bit for bit;\n"
	"metadata in the typed form `rvf ingest` accepts.\n"
	"\n"
	"  --ids LIST   only these ids (sorted; an id that is not live is an error)\n"
	"  --limit N    only the first N\n";

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ids", required_argument, 0, 'i' }, { "limit", required_argument, 0, 'l' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct rvf_store *s;
	uint64_t *ids = NULL, limit = UINT64_MAX;
	size_t n = 0;
	float *v = NULL;
	uint32_t dim;
	const char *path, *ids_arg = NULL;
	int c, rc, ret = 1;

	while ((c = cli_getopt(argc, argv, ":h", lo, dump_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'i': ids_arg = optarg; break;
		case 'l':
			if (cli_u64("--limit", optarg, &limit))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_err("expected one FILE (see rvf dump --help)");
		return EXIT_USAGE;
	}
	path = argv[optind];
	if (cli_open_ro(path, &s))
		return 1;
	dim = rvf_store_dimension(s);
	v = malloc(sizeof(float) * dim);
	cli_clear_lib_err();
	if (ids_arg) {
		rc = cli_u64_list("--ids", ids_arg, &ids, &n);
		if (rc) {
			ret = EXIT_USAGE;
			goto out;
		}
		qsort(ids, n, sizeof(*ids), cmp_id);
	} else {
		rc = rvf_store_live_ids(s, &ids, &n);
	}
	if (rc || !v) {
		cli_lib_err(path, "cannot list ids", rc ? rc : -ENOMEM);
		goto out;
	}
	if (n > limit)
		n = (size_t)limit;
	for (size_t i = 0; i < n; i++) {
		struct rvf_meta_entry *me = NULL;
		size_t nm = 0;

		cli_clear_lib_err();
		rc = rvf_store_get_vector(s, ids[i], v, dim);
		if (!rc)
			rc = rvf_store_get_meta(s, ids[i], &me, &nm);
		if (rc == -ENOENT) {
			fflush(stdout);
			cli_err("%s: id %llu is not in the store (absent or deleted)", path,
				(unsigned long long)ids[i]);
			goto out;
		}
		if (rc) {
			char what[64];

			snprintf(what, sizeof(what), "cannot read id %llu", (unsigned long long)ids[i]);
			cli_lib_err(path, what, rc);
			goto out;
		}
		/* ids past INT64_MAX as strings (JSON readers take integers as
		 * signed 64-bit; ingest reads both forms); %.9g round-trips every
		 * float, and -0 is written -0.0 so it does not read back as +0 */
		if (ids[i] > INT64_MAX)
			printf("{\"id\":\"%llu\",\"vector\":[", (unsigned long long)ids[i]);
		else
			printf("{\"id\":%llu,\"vector\":[", (unsigned long long)ids[i]);
		for (uint32_t j = 0; j < dim; j++) {
			if (j)
				putchar(',');
			if (v[j] == 0.0f && signbit(v[j]))
				fputs("-0.0", stdout);
			else
				printf("%.9g", (double)v[j]);
		}
		if (nm) {
			char *mj = rvf_meta_to_json(me, nm);

			if (!mj) {
				printf("]}\n");
				cli_err("%s: id %llu: metadata cannot be written as JSON%s%s", path,
					(unsigned long long)ids[i], cli_lib_detail()[0] ? ": " : "",
					cli_lib_detail());
				free(me);
				goto out;
			}
			printf("],\"meta\":%s}\n", mj);
			free(mj);
		} else {
			printf("],\"meta\":{}}\n");
		}
		free(me);
	}
	if (fflush(stdout)) {
		cli_err("write error on standard output: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(v);
	free(ids);
	rvf_store_close(s);
	return ret;
}

/* ---- import --------------------------------------------------------------- */

static const char import_usage[] =
	"usage: rvf import SRC DST [--metric l2|ip|cosine]\n"
	"\n"
	"Convert SRC, a file written by the Rust RVF runtime, into a native store DST\n"
	"(which must not exist): dimension, live ids and vectors bit for bit, deletions,\n"
	"file identity and lineage, KERNEL/EBPF and unknown segments byte for byte.\n"
	"The Rust runtime does not record the metric: --metric chooses it (default l2).\n";

int cmd_import(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "metric", required_argument, 0, 'M' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct rvf_store_opts o = { 0 };
	struct rvf_store *s = NULL;
	struct rvf_store_status st;
	int c, rc;

	while ((c = cli_getopt(argc, argv, ":h", lo, import_usage)) != -1) {
		switch (c) {
		case 'h': return 0;
		case 'M':
			if (rvf_metric_parse(optarg, &o.metric)) {
				cli_err("--metric: unknown metric '%s' (l2, ip, cosine)", optarg);
				return EXIT_USAGE;
			}
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc) {
		cli_err("expected SRC and DST (see rvf import --help)");
		return EXIT_USAGE;
	}
	if (access(argv[optind], R_OK)) {
		cli_err("%s: %s", argv[optind], strerror(errno));
		return 1;
	}
	cli_clear_lib_err();
	rc = rvf_store_import_rust(argv[optind], argv[optind + 1], &o, &s);
	if (rc == -EEXIST) {
		cli_err("%s: already exists; import writes a new store and never overwrites a file",
			argv[optind + 1]);
		return 1;
	}
	if (rc) {
		cli_lib_err(argv[optind], "cannot import", rc);
		return 1;
	}
	if (rvf_store_status(s, &st) == 0)
		printf("imported %s -> %s: %llu vectors, dimension %u, metric %s, %llu segments\n",
		       argv[optind], argv[optind + 1], (unsigned long long)st.live_vectors,
		       st.dimension, rvf_metric_name(st.metric), (unsigned long long)st.segments);
	return cli_close(s, argv[optind + 1]);
}
