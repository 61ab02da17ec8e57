/*
 * test_cli.c - the `rvf` command-line tool end to end: every command run as
 * a separate process (fork/exec of build/bin/rvf) in a private temp
 * directory, its exit status, stdout and stderr checked, and its effect
 * checked through other commands (dump, status --json) or the library.
 * Bad input for each: wrong dimension, NaN, malformed JSON filter, missing
 * files, unknown options, a locked store and a read-only file system.
 *
 * The binary: $RVF_BIN, else ../bin/rvf next to this test binary (make puts
 * tests in build/tests/ and tools in build/bin/). Fixtures for `rvf import`:
 * $RVF_FIXTURES, else tests/fixtures/rvf-reference (tu_fixture_dir).
 *
 * rvf-test: both-backends   (tests/run.sh runs this with RVF_IO=uring and
 * RVF_IO=syscall; the child processes inherit it)
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "testutil.h"
#include "rvf/rvf.h"

static char rvf_bin[PATH_MAX];
static char fixture_dir[PATH_MAX];
static char *dir;          /* this test's temp dir (the children's cwd) */
static struct tu_rng rng;

/* ---- running the tool ----------------------------------------------------- */

struct res {
	int code;              /* exit status, or 128 + signal */
	char *out, *err;
	size_t out_len;
	char cmd[1024];
};
static struct res R;

enum { RUN_PLAIN = 0, RUN_RDONLY_FS = 1 };
static const char *run_env[4];     /* extra NAME=VALUE for the child, NULL-terminated */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return b;
}

/* Run rvf with argv (NULL-terminated) in dir; output kept in R. */
static int run_argv(int mode, char *const *args)
{
	char *outp = tu_path(dir, ".out"), *errp = tu_path(dir, ".err");
	char *argv[64];
	int n = 0, st;
	pid_t pid;

	free(R.out);
	free(R.err);
	memset(&R, 0, sizeof(R));
	argv[n++] = rvf_bin;
	for (int i = 0; args[i]; i++) {
		assert_true(n < 62);
		argv[n++] = args[i];
		if (strlen(R.cmd) + strlen(args[i]) + 2 < sizeof(R.cmd)) {
			strcat(R.cmd, " ");
			strcat(R.cmd, args[i]);
		}
	}
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(120);
		if (chdir(dir))
			_exit(121);
		for (int i = 0; run_env[i]; i++)
			putenv((char *)run_env[i]);
		if (mode == RUN_RDONLY_FS) {
			/* A private mount namespace where dir is a read-only bind mount. */
			if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
			    mount(dir, dir, NULL, MS_BIND, NULL) ||
			    mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL))
				_exit(122);
			if (chdir(dir))
				_exit(121);
		}
		execv(rvf_bin, argv);
		_exit(123);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	R.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	R.out = slurp(outp, &R.out_len);
	R.err = slurp(errp, NULL);
	free(outp);
	free(errp);
	return R.code;
}

#define RVF(...) run_argv(RUN_PLAIN, (char *const[]){ __VA_ARGS__, NULL })
#define RVF_RO(...) run_argv(RUN_RDONLY_FS, (char *const[]){ __VA_ARGS__, NULL })

static void show_run(void)
{
	fprintf(stderr, "command: rvf%s\nexit: %d\n--- stdout (%zu bytes) ---\n%.4000s\n--- stderr ---\n%.4000s\n",
		R.cmd, R.code, R.out_len, R.out, R.err);
}

/* The last run exited with code; on mismatch print everything and fail. */
#define EXPECT_CODE(want) do {                                                  \
		if (R.code != (want)) {                                         \
			show_run();                                             \
			fail_msg("rvf exited %d, expected %d", R.code, (want)); \
		}                                                               \
	} while (0)
#define EXPECT_OUT(s) do {                                                      \
		if (!strstr(R.out, (s))) {                                      \
			show_run();                                             \
			fail_msg("stdout lacks \"%s\"", (s));                   \
		}                                                               \
	} while (0)
#define EXPECT_ERR(s) do {                                                      \
		if (!strcasestr(R.err, (s))) {                                  \
			show_run();                                             \
			fail_msg("stderr lacks \"%s\"", (s));                   \
		}                                                               \
	} while (0)

/* Run and require success. */
#define OK(...) do { RVF(__VA_ARGS__); EXPECT_CODE(0); } while (0)

/* ---- input files ---------------------------------------------------------- */

static char *tpath(const char *name)
{
	static char buf[8][PATH_MAX];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void write_bytes(const char *name, const void *p, size_t n)
{
	FILE *f = fopen(tpath(name), "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static float *rand_vecs(size_t n, uint32_t dim)
{
	float *v = malloc(n * dim * sizeof(float));

	assert_non_null(v);
	for (size_t i = 0; i < n * dim; i++)
		v[i] = (float)(tu_rng_unit(&rng) * 2.0 - 1.0);
	return v;
}

static void write_fvecs(const char *name, const float *v, size_t n, uint32_t dim)
{
	FILE *f = fopen(tpath(name), "wb");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(fwrite(&dim, 4, 1, f), 1);
		assert_int_equal(fwrite(v + i * dim, 4, dim, f), dim);
	}
	assert_int_equal(fclose(f), 0);
}

/* jsonl with metadata: field 0 "even"/"odd" by id, field 1 u64 id, field 2 f64 */
static void write_jsonl(const char *name, const float *v, size_t n, uint32_t dim, uint64_t id0)
{
	FILE *f = fopen(tpath(name), "w");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = id0 + i;

		fprintf(f, "{\"id\":%llu,\"vector\":[", (unsigned long long)id);
		for (uint32_t j = 0; j < dim; j++)
			fprintf(f, j ? ",%.9g" : "%.9g", (double)v[i * dim + j]);
		fprintf(f, "],\"meta\":{\"0\":\"%s\",\"1\":{\"u64\":%llu},\"2\":%.3f}}\n",
			id % 2 ? "odd" : "even", (unsigned long long)id, (double)id / 4.0);
	}
	assert_int_equal(fclose(f), 0);
}

/* The store's live vectors through `rvf dump`: ids ascending, vectors. */
struct dumped {
	size_t n;
	uint64_t *id;
	float *v;
	uint32_t dim;
	json_t **meta;
};

static void dumped_free(struct dumped *d)
{
	for (size_t i = 0; i < d->n; i++)
		json_decref(d->meta[i]);
	free(d->id);
	free(d->v);
	free(d->meta);
	memset(d, 0, sizeof(*d));
}

static void dump_store(const char *store, struct dumped *d)
{
	char *line, *save = NULL;
	size_t cap = 0;

	OK("dump", (char *)store);
	memset(d, 0, sizeof(*d));
	for (line = strtok_r(R.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je), *vec;

		if (!o)
			fail_msg("dump line is not JSON (%s): %.200s", je.text, line);
		vec = json_object_get(o, "vector");
		assert_true(json_is_integer(json_object_get(o, "id")));
		assert_true(json_is_array(vec));
		if (d->n == cap) {
			cap = cap ? 2 * cap : 64;
			d->id = realloc(d->id, cap * sizeof(*d->id));
			d->meta = realloc(d->meta, cap * sizeof(*d->meta));
		}
		if (d->n == 0) {
			d->dim = (uint32_t)json_array_size(vec);
		} else {
			assert_int_equal(json_array_size(vec), d->dim);
			assert_true((uint64_t)json_integer_value(json_object_get(o, "id")) > d->id[d->n - 1]);
		}
		d->v = realloc(d->v, cap * d->dim * sizeof(float));
		d->id[d->n] = (uint64_t)json_integer_value(json_object_get(o, "id"));
		for (uint32_t j = 0; j < d->dim; j++) {
			/* %.9g text reads back bit for bit through strtof */
			char *txt = json_dumps(json_array_get(vec, j), JSON_ENCODE_ANY);

			d->v[d->n * d->dim + j] = strtof(txt, NULL);
			free(txt);
		}
		d->meta[d->n] = json_incref(json_object_get(o, "meta"));
		d->n++;
		json_decref(o);
	}
}

static const float *dumped_vec(const struct dumped *d, uint64_t id)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->id[i] == id)
			return d->v + i * d->dim;
	return NULL;
}

static json_t *status_json(const char *store)
{
	json_error_t je;
	json_t *o;

	OK("status", (char *)store, "--json");
	o = json_loads(R.out, 0, &je);
	if (!o) {
		show_run();
		fail_msg("status --json is not JSON: %s", je.text);
	}
	return o;
}

static long long jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("no integer \"%s\"", key);
	return json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("no string \"%s\"", key);
	return json_string_value(v);
}

static long long live_count(const char *store)
{
	json_t *o = status_json(store);
	long long n = jint(o, "live_vectors");

	json_decref(o);
	return n;
}

/* A store of n random 8-d vectors (ids 0..n-1) from fvecs; returns them. */
static float *make_store(const char *store, size_t n, const char *metric)
{
	float *v = rand_vecs(n, 8);

	write_fvecs("base.fvecs", v, n, 8);
	OK("create", (char *)store, "--dim", "8", "--metric", (char *)metric);
	OK("ingest", (char *)store, "base.fvecs");
	return v;
}

/* ---- fixtures ------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir();
	run_env[0] = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
	return 0;
}

/* ---- help and usage ------------------------------------------------------- */

static const char *const commands[] = {
	"create", "ingest", "query", "delete", "status", "segments", "compact", "derive",
	"embed-kernel", "extract-kernel", "embed-ebpf", "extract-ebpf", "verify", "dump", "import",
	"remote-query", "stats",
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void help_and_unknown_options_for_every_command(void **state)
{
	(void)state;
	OK("--help");
	for (size_t i = 0; i < N_COMMANDS; i++)
		EXPECT_OUT(commands[i]);
	RVF("frobnicate");
	EXPECT_CODE(2);
	EXPECT_ERR("unknown command");
	run_argv(RUN_PLAIN, (char *const[]){ NULL });
	EXPECT_CODE(2);

	for (size_t i = 0; i < N_COMMANDS; i++) {
		char want[64];

		OK((char *)commands[i], "--help");
		snprintf(want, sizeof(want), "usage: rvf %s", commands[i]);
		EXPECT_OUT(want);
		OK((char *)commands[i], "-h");
		RVF((char *)commands[i], "--no-such-option", "x.rvf");
		EXPECT_CODE(2);
		EXPECT_ERR("unknown option '--no-such-option'");
		/* no arguments at all: a usage error naming what is missing */
		RVF((char *)commands[i]);
		EXPECT_CODE(2);
		EXPECT_ERR("expected");
	}
}

/* Every command that takes a store reports a missing one by name. */
static void missing_store_is_named_for_every_command(void **state)
{
	(void)state;
	write_bytes("img.bin", "kernel", 6);
	write_bytes("q.csv", "1,2\n", 4);
	static const char *const cmds[][6] = {
		{ "ingest", "nope.rvf", "q.csv" },
		{ "query", "nope.rvf", "--vector", "1,2" },
		{ "delete", "nope.rvf", "--ids", "1" },
		{ "status", "nope.rvf" },
		{ "segments", "nope.rvf" },
		{ "compact", "nope.rvf" },
		{ "derive", "nope.rvf", "child.rvf" },
		{ "embed-kernel", "nope.rvf", "img.bin" },
		{ "extract-kernel", "nope.rvf", "out.bin" },
		{ "embed-ebpf", "nope.rvf", "img.bin" },
		{ "extract-ebpf", "nope.rvf", "out.bin" },
		{ "verify", "nope.rvf" },
		{ "dump", "nope.rvf" },
		{ "import", "nope.rvf", "dst.rvf" },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char *a[7] = { 0 };

		for (int j = 0; j < 6 && cmds[i][j]; j++)
			a[j] = (char *)cmds[i][j];
		run_argv(RUN_PLAIN, a);
		EXPECT_CODE(1);
		EXPECT_ERR("nope.rvf");
	}
	assert_int_equal(access(tpath("child.rvf"), F_OK), -1);
	assert_int_equal(access(tpath("dst.rvf"), F_OK), -1);
}

/* ---- create --------------------------------------------------------------- */

static void create_records_dimension_metric_and_profile(void **state)
{
	json_t *o;

	(void)state;
	OK("create", "a.rvf", "--dim", "12", "--metric", "cosine", "--m", "8", "--ef-construction", "50");
	EXPECT_OUT("dimension 12");
	o = status_json("a.rvf");
	assert_int_equal(jint(o, "dimension"), 12);
	assert_string_equal(jstr(o, "metric"), "cosine");
	assert_string_equal(jstr(o, "profile"), "generic");
	assert_int_equal(jint(o, "live_vectors"), 0);
	assert_int_equal(jint(o, "lineage_depth"), 0);
	/* the index parameters given at create come back from the file */
	assert_int_equal(jint(json_object_get(o, "index"), "M"), 8);
	assert_int_equal(jint(json_object_get(o, "index"), "ef_construction"), 50);
	assert_string_equal(jstr(json_object_get(o, "index"), "quant"), "sq8");
	json_decref(o);

	OK("create", "b.rvtext", "--dim", "3", "--metric", "ip");
	o = status_json("b.rvtext");
	assert_string_equal(jstr(o, "profile"), "rvtext");
	assert_string_equal(jstr(o, "metric"), "ip");
	json_decref(o);

	/* text status names the same things */
	OK("status", "a.rvf");
	EXPECT_OUT("cosine");
	EXPECT_OUT("dimension       12");

	/* float32 traversal and a seed: a store that answers queries */
	OK("create", "c.rvf", "--dim", "2", "--quant", "none", "--seed", "0x2a");
	write_bytes("c.csv", "0,0\n1,0\n0,1\n5,5\n", 16);
	OK("ingest", "c.rvf", "c.csv");
	OK("query", "c.rvf", "--vector", "4.5,5", "--k", "2");
	assert_true(!strncmp(R.out, "1 3 0.25\n2 ", 11));
	o = status_json("c.rvf");
	assert_string_equal(jstr(json_object_get(o, "index"), "quant"), "float32");
	assert_int_equal(jint(json_object_get(o, "index"), "nodes"), 4);
	json_decref(o);
	RVF("create", "d.rvf", "--dim", "2", "--quant", "pq");
	EXPECT_CODE(2);

	/* -v passes the library's own messages through */
	RVF("-v", "status", "absent.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("rvf: error: ");
}

static void create_rejects_bad_options_and_existing_files(void **state)
{
	(void)state;
	OK("create", "a.rvf", "--dim", "4");
	RVF("create", "a.rvf", "--dim", "4");
	EXPECT_CODE(1);
	EXPECT_ERR("a.rvf");
	EXPECT_ERR("exists");
	RVF("create", "b.rvf");
	EXPECT_CODE(2);
	EXPECT_ERR("--dim");
	RVF("create", "b.rvf", "--dim", "0");
	EXPECT_CODE(2);
	RVF("create", "b.rvf", "--dim", "70000");
	EXPECT_CODE(2);
	RVF("create", "b.rvf", "--dim", "4x");
	EXPECT_CODE(2);
	RVF("create", "b.rvf", "--dim", "4", "--metric", "hamming");
	EXPECT_CODE(2);
	EXPECT_ERR("hamming");
	RVF("create", "b.rvf", "--dim", "4", "--m", "1");
	EXPECT_CODE(2);
	RVF("create", "no/such/dir/b.rvf", "--dim", "4");
	EXPECT_CODE(1);
	EXPECT_ERR("no/such/dir/b.rvf");
	assert_int_equal(access(tpath("b.rvf"), F_OK), -1);
}

/* ---- ingest --------------------------------------------------------------- */

static void write_npy_f4(const char *name, const float *v, size_t n, uint32_t dim)
{
	char hdr[128];
	int hl = snprintf(hdr, sizeof(hdr), "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %u), }",
			  n, dim);
	size_t total = 10 + (size_t)hl + 1;
	size_t pad = (64 - total % 64) % 64;
	FILE *f = fopen(tpath(name), "wb");
	uint16_t len = (uint16_t)(hl + pad + 1);

	assert_non_null(f);
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fwrite(&len, 2, 1, f);
	fwrite(hdr, 1, (size_t)hl, f);
	for (size_t i = 0; i < pad; i++)
		fputc(' ', f);
	fputc('\n', f);
	fwrite(v, sizeof(float), n * dim, f);
	assert_int_equal(fclose(f), 0);
}

static void ingest_every_format_reads_back_exactly(void **state)
{
	const uint32_t dim = 8;
	float *fv = rand_vecs(50, dim), *nv = rand_vecs(40, dim), *cv = rand_vecs(30, dim),
	      *jv = rand_vecs(20, dim);
	uint8_t bv[25][8], idx[16 + 10 * 8];
	struct dumped d;
	FILE *f;

	(void)state;
	OK("create", "s.rvf", "--dim", "8");

	write_fvecs("a.fvecs", fv, 50, dim);
	OK("ingest", "s.rvf", "a.fvecs", "--progress");
	EXPECT_OUT("ingested 50 vectors");
	EXPECT_ERR("ingest: 50 / 50 vectors (100%)");

	write_npy_f4("b.npy", nv, 40, dim);
	OK("ingest", "s.rvf", "b.npy", "--ids-from", "1000");
	EXPECT_OUT("ingested 40");

	f = fopen(tpath("c.csv"), "w");
	fprintf(f, "x0,x1,x2,x3,x4,x5,x6,x7\n");
	for (int i = 0; i < 30; i++)
		for (uint32_t j = 0; j < dim; j++)
			fprintf(f, "%.9g%s", (double)cv[i * dim + j], j + 1 < dim ? "," : "\n");
	fclose(f);
	/* --batch smaller than the file: several commits */
	OK("ingest", "s.rvf", "c.csv", "--ids-from", "2000", "--batch", "7");
	EXPECT_OUT("ingested 30");

	write_jsonl("d.jsonl", jv, 20, dim, 3000);
	OK("ingest", "s.rvf", "d.jsonl");
	EXPECT_OUT("ingested 20");

	f = fopen(tpath("e.bvecs"), "wb");
	for (int i = 0; i < 25; i++) {
		for (uint32_t j = 0; j < dim; j++)
			bv[i][j] = (uint8_t)tu_rng_below(&rng, 256);
		fwrite(&dim, 4, 1, f);
		fwrite(bv[i], 1, dim, f);
	}
	fclose(f);
	OK("ingest", "s.rvf", "e.bvecs", "--ids-from", "4000");

	/* idx3-ubyte: 10 images of 2 x 4 pixels, unknown extension -> --format */
	memcpy(idx, "\x00\x00\x08\x03\x00\x00\x00\x0a\x00\x00\x00\x02\x00\x00\x00\x04", 16);
	for (int i = 0; i < 80; i++)
		idx[16 + i] = (uint8_t)tu_rng_below(&rng, 256);
	write_bytes("imgs.raw", idx, sizeof(idx));
	RVF("ingest", "s.rvf", "imgs.raw");
	EXPECT_CODE(2);
	EXPECT_ERR("--format");
	OK("ingest", "s.rvf", "imgs.raw", "--format", "idx", "--ids-from", "5000");
	/* gzip input is read directly; the format is guessed through ".gz" */
	{
		gzFile gz = gzopen(tpath("t10k-idx3-ubyte.gz"), "wb");

		assert_non_null(gz);
		assert_int_equal(gzwrite(gz, idx, sizeof(idx)), (int)sizeof(idx));
		assert_int_equal(gzclose(gz), Z_OK);
	}
	OK("ingest", "s.rvf", "t10k-idx3-ubyte.gz", "--ids-from", "6000");
	EXPECT_OUT("ingested 10");

	assert_int_equal(live_count("s.rvf"), 50 + 40 + 30 + 20 + 25 + 10 + 10);
	dump_store("s.rvf", &d);
	assert_int_equal(d.n, 185);
	assert_int_equal(d.dim, dim);
	for (int i = 0; i < 50; i++)
		assert_memory_equal(dumped_vec(&d, (uint64_t)i), fv + i * dim, dim * 4);
	for (int i = 0; i < 40; i++)
		assert_memory_equal(dumped_vec(&d, 1000u + i), nv + i * dim, dim * 4);
	for (int i = 0; i < 30; i++)
		assert_memory_equal(dumped_vec(&d, 2000u + i), cv + i * dim, dim * 4);
	for (int i = 0; i < 20; i++)
		assert_memory_equal(dumped_vec(&d, 3000u + i), jv + i * dim, dim * 4);
	for (int i = 0; i < 25; i++)
		for (uint32_t j = 0; j < dim; j++)
			assert_true(dumped_vec(&d, 4000u + i)[j] == (float)bv[i][j]);
	for (int i = 0; i < 10; i++)
		for (uint32_t j = 0; j < dim; j++) {
			assert_true(dumped_vec(&d, 5000u + i)[j] == (float)idx[16 + i * dim + j]);
			assert_true(dumped_vec(&d, 6000u + i)[j] == (float)idx[16 + i * dim + j]);
		}
	/* jsonl metadata comes back in the typed form */
	for (size_t i = 0; i < d.n; i++) {
		json_t *m = d.meta[i];

		if (d.id[i] < 3000 || d.id[i] >= 3020) {
			assert_int_equal(json_object_size(m), 0);
			continue;
		}
		assert_string_equal(json_string_value(json_object_get(json_object_get(m, "0"), "string")),
				    d.id[i] % 2 ? "odd" : "even");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "1"), "u64")),
				 d.id[i]);
		assert_true(json_number_value(json_object_get(json_object_get(m, "2"), "f64")) ==
			    (double)d.id[i] / 4.0);
	}
	dumped_free(&d);

	/* re-ingesting an id replaces it (upsert) */
	write_fvecs("one.fvecs", jv, 1, dim);
	OK("ingest", "s.rvf", "one.fvecs", "--ids-from", "7");
	dump_store("s.rvf", &d);
	assert_int_equal(d.n, 185);
	assert_memory_equal(dumped_vec(&d, 7), jv, dim * 4);
	dumped_free(&d);
	free(fv);
	free(nv);
	free(cv);
	free(jv);
}

static void ingest_rejects_bad_rows_with_reasons_and_keeps_the_rest(void **state)
{
	float *v = rand_vecs(5, 7);
	FILE *f;

	(void)state;
	OK("create", "s.rvf", "--dim", "4");

	/* a binary file of the wrong width is refused before anything is written */
	write_fvecs("w.fvecs", v, 5, 7);
	RVF("ingest", "s.rvf", "w.fvecs");
	EXPECT_CODE(1);
	EXPECT_ERR("w.fvecs");
	EXPECT_ERR("dimension 4");
	assert_int_equal(live_count("s.rvf"), 0);

	/* csv: NaN, infinity, short row, junk; the two good rows go in */
	f = fopen(tpath("m.csv"), "w");
	fprintf(f, "1,2,3,4\nnan,1,2,3\n1,2,3\n5,6,7,8\n1,inf,2,3\nx,y,z,w\n");
	fclose(f);
	RVF("ingest", "s.rvf", "m.csv");
	EXPECT_CODE(1);
	EXPECT_OUT("ingested 2 vectors");
	EXPECT_OUT("rejected 4");       /* NaN, short, inf, junk */
	EXPECT_ERR("line 2");
	EXPECT_ERR("NaN");
	EXPECT_ERR("line 3");
	EXPECT_ERR("3 values");
	assert_int_equal(live_count("s.rvf"), 2);

	/* jsonl: malformed JSON, missing vector, bad metadata, NaN as a string */
	f = fopen(tpath("m.jsonl"), "w");
	fprintf(f, "{\"id\":1,\"vector\":[1,2,3,4]}\n"
		   "{\"id\":2,\"vector\":[1,2,3,4]\n"
		   "{\"id\":3}\n"
		   "{\"id\":4,\"vector\":[1,2,3,4],\"meta\":{\"99999\":1}}\n"
		   "{\"id\":5,\"vector\":[1,\"nan\",3,4]}\n"
		   "{\"id\":6,\"vector\":[1,2,3,4],\"extra\":1}\n"
		   "{\"id\":7,\"vector\":[1,2,3,4,5]}\n"
		   "{\"id\":8,\"vector\":[1,2,3,4],\"meta\":{\"2\":{\"bytes\":\"0q\"}}}\n");
	fclose(f);
	RVF("ingest", "s.rvf", "m.jsonl");
	EXPECT_CODE(1);
	EXPECT_OUT("ingested 1 vectors");
	EXPECT_OUT("rejected 7");
	EXPECT_ERR("line 8: rejected: \"meta\"");
	EXPECT_ERR("non-hex");
	EXPECT_ERR("line 2");
	EXPECT_ERR("bad JSON");
	EXPECT_ERR("line 3");
	EXPECT_ERR("line 4");
	EXPECT_ERR("meta");
	EXPECT_ERR("line 5, id 5");
	EXPECT_ERR("extra");
	EXPECT_ERR("line 7, id 7");
	assert_int_equal(live_count("s.rvf"), 3);

	/* missing input, unknown format, unguessable name, truncated npy */
	RVF("ingest", "s.rvf", "absent.fvecs");
	EXPECT_CODE(1);
	EXPECT_ERR("absent.fvecs");
	RVF("ingest", "s.rvf", "m.csv", "--format", "parquet");
	EXPECT_CODE(2);
	EXPECT_ERR("parquet");
	write_bytes("data.bin", "abc", 3);
	RVF("ingest", "s.rvf", "data.bin");
	EXPECT_CODE(2);
	write_npy_f4("t.npy", v, 5, 4);
	{
		struct stat st;

		assert_int_equal(stat(tpath("t.npy"), &st), 0);
		/* keep 3 whole rows of 16 bytes and 5 bytes of the fourth */
		assert_int_equal(truncate(tpath("t.npy"), st.st_size - 2 * 16 + 5), 0);
	}
	RVF("ingest", "s.rvf", "t.npy", "--ids-from", "100");
	EXPECT_CODE(1);
	EXPECT_ERR("t.npy");
	EXPECT_ERR("truncated");
	write_bytes("bad.npy", "not numpy at all", 16);
	RVF("ingest", "s.rvf", "bad.npy");
	EXPECT_CODE(1);
	EXPECT_ERR("bad.npy");
	RVF("ingest", "s.rvf", "m.csv", "--batch", "0");
	EXPECT_CODE(2);
	/* the three rows of the truncated npy that were complete went in */
	assert_int_equal(live_count("s.rvf"), 3 + 3);
	/* a truncated .gz is an error, not a short file; complete lines before it go in */
	{
		gzFile gz = gzopen(tpath("big.csv.gz"), "wb");
		struct stat st;

		assert_non_null(gz);
		for (int i = 0; i < 3000; i++)
			gzprintf(gz, "%d,%d,%d,%d\n", 7000 + i, i, i * 3 % 17, i % 5);
		assert_int_equal(gzclose(gz), Z_OK);
		assert_int_equal(stat(tpath("big.csv.gz"), &st), 0);
		assert_int_equal(truncate(tpath("big.csv.gz"), st.st_size / 2), 0);
	}
	RVF("ingest", "s.rvf", "big.csv.gz", "--ids-from", "7000");
	EXPECT_CODE(1);
	EXPECT_ERR("big.csv.gz: truncated gzip stream");
	{
		struct dumped d;
		size_t n = 0;

		dump_store("s.rvf", &d);
		for (size_t i = 0; i < d.n; i++) {
			if (d.id[i] < 7000)
				continue;
			/* every row that went in is a whole line */
			uint64_t r = d.id[i] - 7000;

			assert_true(d.v[i * d.dim] == (float)d.id[i]);
			assert_true(d.v[i * d.dim + 1] == (float)r);
			assert_true(d.v[i * d.dim + 2] == (float)(r * 3 % 17));
			assert_true(d.v[i * d.dim + 3] == (float)(r % 5));
			n++;
		}
		assert_true(n > 0 && n < 3000);
		dumped_free(&d);
	}
	/* a cosine store refuses an all-zero vector */
	OK("create", "c.rvf", "--dim", "4", "--metric", "cosine");
	write_bytes("z.csv", "0,0,0,0\n1,0,0,0\n", 16);
	RVF("ingest", "c.rvf", "z.csv");
	EXPECT_CODE(1);
	EXPECT_ERR("line 1, id 0: rejected: all-zero");
	EXPECT_OUT("ingested 1 vectors");
	free(v);
}

/* ---- query ---------------------------------------------------------------- */

static void query_vector_finds_itself_and_prints_json(void **state)
{
	float *v;
	char arg[512] = "";
	json_t *o, *r0;
	json_error_t je;

	(void)state;
	v = make_store("s.rvf", 300, "l2");
	for (int j = 0; j < 8; j++)
		snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), j ? ",%.9g" : "%.9g",
			 (double)v[17 * 8 + j]);
	OK("query", "s.rvf", "--vector", arg, "--k", "5");
	assert_true(!strncmp(R.out, "1 17 0\n", 7));
	assert_int_equal(strlen(R.out) > 0, 1);
	{
		int lines = 0;

		for (char *p = R.out; *p; p++)
			lines += *p == '\n';
		assert_int_equal(lines, 5);
	}
	OK("query", "s.rvf", "--vector", arg, "--k", "3", "--json", "--exact");
	o = json_loads(R.out, 0, &je);
	assert_non_null(o);
	assert_int_equal(json_array_size(json_object_get(o, "results")), 3);
	r0 = json_array_get(json_object_get(o, "results"), 0);
	assert_int_equal(json_integer_value(json_object_get(r0, "id")), 17);
	assert_true(json_number_value(json_object_get(r0, "distance")) == 0.0);
	json_decref(o);

	/* bad input: wrong dimension, NaN, junk, neither or both sources */
	RVF("query", "s.rvf", "--vector", "1,2,3");
	EXPECT_CODE(1);
	EXPECT_ERR("dimension 8");
	RVF("query", "s.rvf", "--vector", "nan,0,0,0,0,0,0,0");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	RVF("query", "s.rvf", "--vector", "1,2,x");
	EXPECT_CODE(2);
	RVF("query", "s.rvf");
	EXPECT_CODE(2);
	RVF("query", "s.rvf", "--vector", arg, "--queries", "q.fvecs");
	EXPECT_CODE(2);
	RVF("query", "s.rvf", "--vector", arg, "--k", "0");
	EXPECT_CODE(2);
	free(v);
}

static void query_file_prints_a_line_per_query_qps_and_recall(void **state)
{
	float *v, *q;
	char *line, *save = NULL, *last;
	int n = 0;

	(void)state;
	v = make_store("s.rvf", 1000, "l2");
	q = rand_vecs(40, 8);
	write_fvecs("q.fvecs", q, 40, 8);
	OK("query", "s.rvf", "--queries", "q.fvecs", "--k", "10", "--recall", "--gt-cache", "gt",
	   "--threads", "2");
	EXPECT_ERR("recall@10");
	for (line = strtok_r(R.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		json_t *o = json_loads(line, 0, NULL), *res;

		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "query")), n);
		res = json_object_get(o, "results");
		assert_int_equal(json_array_size(res), 10);
		for (size_t i = 1; i < 10; i++)
			assert_true(json_number_value(json_object_get(json_array_get(res, i - 1), "distance")) <=
				    json_number_value(json_object_get(json_array_get(res, i), "distance")));
		json_decref(o);
	}
	assert_int_equal(n, 40);
	/* the last stderr line: count, seconds, QPS */
	last = R.err + strlen(R.err) - 1;
	while (last > R.err && last[-1] != '\n')
		last--;
	assert_non_null(strstr(last, "queries 40"));
	assert_non_null(strstr(last, "QPS"));
	{
		double recall = strtod(strstr(R.err, "recall@10") + 10, NULL);

		/* 1000 points in 8-d with ef 64: the graph should find nearly all */
		assert_true(recall > 0.9 && recall <= 1.0);
	}
	/* a ground-truth file computed here by brute force gives the same recall */
	{
		char want[64], *at;
		FILE *f = fopen(tpath("gt.ivecs"), "wb");
		int32_t dimk = 10;

		at = strstr(R.err, "recall@10 ");
		assert_non_null(at);
		snprintf(want, sizeof(want), "%.16s", at);
		for (int i = 0; i < 40; i++) {
			int32_t best[10];
			double bd[10];

			for (int j = 0; j < 10; j++)
				bd[j] = INFINITY, best[j] = -1;
			for (int b = 0; b < 1000; b++) {
				double dd = 0;

				for (int j = 0; j < 8; j++)
					dd += ((double)v[b * 8 + j] - q[i * 8 + j]) * ((double)v[b * 8 + j] - q[i * 8 + j]);
				for (int j = 0; j < 10; j++)
					if (dd < bd[j]) {
						memmove(bd + j + 1, bd + j, (size_t)(9 - j) * sizeof(*bd));
						memmove(best + j + 1, best + j, (size_t)(9 - j) * sizeof(*best));
						bd[j] = dd;
						best[j] = b;
						break;
					}
			}
			fwrite(&dimk, 4, 1, f);
			fwrite(best, 4, 10, f);
		}
		fclose(f);
		OK("query", "s.rvf", "--queries", "q.fvecs", "--gt", "gt.ivecs", "--threads", "2");
		EXPECT_ERR(want);
		/* the id mapping matters: shifted ids match nothing */
		OK("query", "s.rvf", "--queries", "q.fvecs", "--gt", "gt.ivecs", "--gt-ids-from", "5000",
		   "--no-results");
		EXPECT_ERR("recall@10 0.0000");
		RVF("query", "s.rvf", "--queries", "q.fvecs", "--gt", "gt.ivecs", "--k", "11");
		EXPECT_CODE(1);
		EXPECT_ERR("gt.ivecs");
		RVF("query", "s.rvf", "--queries", "q.fvecs", "--gt", "absent.ivecs");
		EXPECT_CODE(1);
		EXPECT_ERR("absent.ivecs");
	}
	/* the exact path has recall 1 by construction: checks the recall code */
	OK("query", "s.rvf", "--queries", "q.fvecs", "--exact", "--recall", "--no-results");
	EXPECT_ERR("recall@10 1.0000");
	assert_int_equal(R.out_len, 0);

	/* wrong dimension in the queries file */
	write_fvecs("q7.fvecs", q, 5, 7);
	RVF("query", "s.rvf", "--queries", "q7.fvecs");
	EXPECT_CODE(1);
	EXPECT_ERR("q7.fvecs");
	EXPECT_ERR("dimension 8");
	RVF("query", "s.rvf", "--queries", "none.fvecs");
	EXPECT_CODE(1);
	EXPECT_ERR("none.fvecs");
	free(v);
	free(q);
}

/* Worker threads log their failed queries at the same moment; the report
 * must still name the first failed query with that query's own reason (a
 * process-wide error buffer raced: make tsan runs this on the TSan CLI). */
static void threaded_queries_report_the_first_failure_with_its_reason(void **state)
{
	float *v = rand_vecs(200, 4);
	char line[128], *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	OK("create", "s.rvf", "--dim", "4");
	write_fvecs("v.fvecs", v, 200, 4);
	OK("ingest", "s.rvf", "v.fvecs");
	f = open_memstream(&text, &len);
	assert_non_null(f);
	/* queries 0..36 fine, then every other one has a NaN, at position
	 * i % 4: each failure has its own message, and 37's says value 1 */
	for (int i = 0; i < 400; i++) {
		if (i >= 37 && i % 2)
			snprintf(line, sizeof(line), "{\"vector\":[%s,%s,%s,%s]}\n", i % 4 == 0 ? "\"nan\"" : "1",
				 i % 4 == 1 ? "\"nan\"" : "1", i % 4 == 2 ? "\"nan\"" : "1",
				 i % 4 == 3 ? "\"nan\"" : "1");
		else
			snprintf(line, sizeof(line), "{\"vector\":[%d,2,3,4]}\n", i % 9);
		fputs(line, f);
	}
	assert_int_equal(fclose(f), 0);
	write_bytes("q.jsonl", text, len);
	free(text);
	for (int t = 1; t <= 4; t += 3) {
		char th[16];

		snprintf(th, sizeof(th), "%d", t);
		RVF("query", "s.rvf", "--queries", "q.jsonl", "--threads", th, "--no-results");
		EXPECT_CODE(1);
		EXPECT_ERR("query 37 failed");
		EXPECT_ERR("query value 1 is NaN or infinite");
	}
	free(v);
}

static void query_filter_selects_by_metadata_and_rejects_bad_json(void **state)
{
	float *v = rand_vecs(400, 8), *q = rand_vecs(10, 8);
	char *line, *save = NULL;
	int lines = 0;

	(void)state;
	OK("create", "s.rvf", "--dim", "8");
	write_jsonl("m.jsonl", v, 400, 8, 0);
	OK("ingest", "s.rvf", "m.jsonl");
	write_fvecs("q.fvecs", q, 10, 8);
	OK("query", "s.rvf", "--queries", "q.fvecs", "--k", "5", "--threads", "3",
	   "--filter", "{\"and\":[{\"eq\":{\"field\":0,\"value\":\"even\"}},"
		       "{\"range\":{\"field\":1,\"gte\":100,\"lt\":{\"u64\":300}}}]}", "--recall");
	EXPECT_ERR("recall@5");
	for (line = strtok_r(R.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL), *res = json_object_get(o, "results");

		assert_int_equal(json_array_size(res), 5);
		for (size_t i = 0; i < 5; i++) {
			long long id = json_integer_value(json_object_get(json_array_get(res, i), "id"));

			assert_true(id % 2 == 0 && id >= 100 && id < 300);
		}
		json_decref(o);
		lines++;
	}
	assert_int_equal(lines, 10);

	/* a filter file, and a filter nothing matches */
	{
		const char *fj = "{\"gt\":{\"field\":2,\"value\":99.5}}";

		write_bytes("f.json", fj, strlen(fj));
	}
	OK("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--filter", "@f.json", "--json");
	{
		json_t *o = json_loads(R.out, 0, NULL);
		json_t *res = json_object_get(o, "results");

		/* field 2 = id / 4 > 99.5  <=>  id >= 399 */
		assert_int_equal(json_array_size(res), 1);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 0), "id")), 399);
		json_decref(o);
	}
	OK("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--filter",
	   "{\"eq\":{\"field\":0,\"value\":\"none\"}}");
	assert_int_equal(R.out_len, 0);

	RVF("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--filter", "{\"eq\":{\"field\":0}");
	EXPECT_CODE(2);
	EXPECT_ERR("filter");
	RVF("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--filter", "{\"gt\":{\"field\":0,\"value\":{\"bytes\":\"00\"}}}");
	EXPECT_CODE(2);
	EXPECT_ERR("filter");
	RVF("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--filter", "{\"between\":{}}");
	EXPECT_CODE(2);
	RVF("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--filter", "@missing.json");
	EXPECT_CODE(2);
	EXPECT_ERR("missing.json");
	free(v);
	free(q);
}

static void ingest_labels_become_filterable_metadata(void **state)
{
	float *v = rand_vecs(100, 8), *q = rand_vecs(30, 8);
	uint8_t idx1[8 + 100];
	struct dumped d;
	FILE *f;
	char *line, *save = NULL;
	int lines = 0;

	(void)state;
	OK("create", "s.rvf", "--dim", "8");
	write_fvecs("v.fvecs", v, 100, 8);
	/* idx1-ubyte labels: magic 0x00000801, count 100, then one byte each */
	memcpy(idx1, "\x00\x00\x08\x01\x00\x00\x00\x64", 8);
	for (int i = 0; i < 100; i++)
		idx1[8 + i] = (uint8_t)(i % 10);
	write_bytes("labels-idx1-ubyte", idx1, sizeof(idx1));
	OK("ingest", "s.rvf", "v.fvecs", "--labels", "labels-idx1-ubyte", "--batch", "30");
	dump_store("s.rvf", &d);
	assert_int_equal(d.n, 100);
	for (size_t i = 0; i < d.n; i++)
		assert_int_equal(json_integer_value(json_object_get(json_object_get(d.meta[i], "0"), "u64")),
				 d.id[i] % 10);
	dumped_free(&d);

	write_fvecs("q.fvecs", q, 30, 8);
	OK("query", "s.rvf", "--queries", "q.fvecs", "--limit", "12", "--k", "4",
	   "--filter", "{\"eq\":{\"field\":0,\"value\":3}}", "--recall");
	EXPECT_ERR("recall@4 1.0000 over 12 queries");
	for (line = strtok_r(R.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
		json_t *o = json_loads(line, 0, NULL), *res = json_object_get(o, "results");

		assert_int_equal(json_array_size(res), 4);
		for (size_t i = 0; i < 4; i++)
			assert_int_equal(json_integer_value(json_object_get(json_array_get(res, i), "id")) % 10, 3);
		json_decref(o);
	}
	assert_int_equal(lines, 12);

	/* text labels into another field; a count mismatch and a bad label fail */
	f = fopen(tpath("l.txt"), "w");
	for (int i = 0; i < 100; i++)
		fprintf(f, "%d\n", 1000 + i);
	fclose(f);
	OK("ingest", "s.rvf", "v.fvecs", "--labels", "l.txt", "--label-field", "5");
	dump_store("s.rvf", &d);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d.meta[42], "5"), "u64")),
			 1042);
	dumped_free(&d);
	write_bytes("short.txt", "1\n2\n", 4);
	RVF("ingest", "s.rvf", "v.fvecs", "--labels", "short.txt");
	EXPECT_CODE(1);
	EXPECT_ERR("fewer labels");
	write_bytes("neg.txt", "1\n-2\n", 5);
	RVF("ingest", "s.rvf", "v.fvecs", "--labels", "neg.txt");
	EXPECT_CODE(1);
	EXPECT_ERR("neg.txt: line 2: a label must be one non-negative integer");
	RVF("ingest", "s.rvf", "m.jsonl", "--labels", "l.txt");
	EXPECT_CODE(2);
	RVF("query", "s.rvf", "--queries", "q.fvecs", "--limit", "0");
	EXPECT_CODE(2);
	free(v);
	free(q);
}

/* ---- delete and compact --------------------------------------------------- */

static void delete_by_ids_and_filter_then_compact_keeps_the_rest(void **state)
{
	float *v = rand_vecs(200, 8);
	struct dumped before, after;
	json_t *o;

	(void)state;
	OK("create", "s.rvf", "--dim", "8");
	write_jsonl("m.jsonl", v, 200, 8, 0);
	OK("ingest", "s.rvf", "m.jsonl");

	OK("delete", "s.rvf", "--ids", "1,2,3,500");
	EXPECT_OUT("deleted 3 vectors");
	OK("delete", "s.rvf", "--filter", "{\"lt\":{\"field\":1,\"value\":50}}");
	EXPECT_OUT("deleted 47 vectors");   /* 0..49 less the three already gone */
	OK("delete", "s.rvf", "--ids", "1");
	EXPECT_OUT("deleted 0 vectors");
	o = status_json("s.rvf");
	assert_int_equal(jint(o, "live_vectors"), 150);
	assert_int_equal(jint(o, "deleted_vectors") > 0, 1);
	json_decref(o);

	/* deleted ids never come back from a query */
	OK("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--k", "200", "--exact", "--json");
	{
		json_t *r = json_loads(R.out, 0, NULL), *res = json_object_get(r, "results");

		assert_int_equal(json_array_size(res), 150);
		for (size_t i = 0; i < 150; i++)
			assert_true(json_integer_value(json_object_get(json_array_get(res, i), "id")) >= 50);
		json_decref(r);
	}
	dump_store("s.rvf", &before);
	assert_int_equal(before.n, 150);
	assert_int_equal(before.id[0], 50);
	/* dump of chosen ids, in id order; a deleted one is an error */
	OK("dump", "s.rvf", "--ids", "120,60");
	assert_true(!strncmp(R.out, "{\"id\":60,", 9));
	assert_non_null(strstr(R.out, "\n{\"id\":120,"));
	RVF("dump", "s.rvf", "--ids", "60,3");
	EXPECT_CODE(1);
	EXPECT_ERR("id 3 is not in the store");
	OK("dump", "s.rvf", "--limit", "2");
	assert_true(!strncmp(R.out, "{\"id\":50,", 9));
	assert_non_null(strstr(R.out, "\n{\"id\":51,"));
	assert_null(strstr(R.out, "\"id\":52,"));

	OK("compact", "s.rvf");
	EXPECT_OUT("compacted s.rvf");
	o = status_json("s.rvf");
	assert_int_equal(jint(o, "live_vectors"), 150);
	assert_int_equal(jint(o, "deleted_vectors"), 0);
	json_decref(o);
	dump_store("s.rvf", &after);
	assert_int_equal(after.n, before.n);
	assert_memory_equal(after.id, before.id, before.n * 8);
	assert_memory_equal(after.v, before.v, before.n * 8 * 4);
	for (size_t i = 0; i < after.n; i++)
		assert_true(json_equal(after.meta[i], before.meta[i]));
	OK("verify", "s.rvf");
	EXPECT_OUT("OK");

	/* bad input */
	RVF("delete", "s.rvf");
	EXPECT_CODE(2);
	RVF("delete", "s.rvf", "--ids", "1", "--filter", "{\"eq\":{\"field\":0,\"value\":1}}");
	EXPECT_CODE(2);
	RVF("delete", "s.rvf", "--ids", "1,x");
	EXPECT_CODE(2);
	RVF("delete", "s.rvf", "--filter", "[1,2]");
	EXPECT_CODE(2);
	EXPECT_ERR("filter");
	RVF("compact", "s.rvf", "--json");
	EXPECT_CODE(2);
	assert_int_equal(live_count("s.rvf"), 150);
	dumped_free(&before);
	dumped_free(&after);
	free(v);
}

/* Random ingest (upserts, repeats within a batch), delete by id and by filter
 * and compaction against an in-memory model; after every step the dump, the
 * status count and (now and then) verify must agree with the model. */
static void random_operations_match_a_model(void **state)
{
	enum { NID = 120, STEPS = 40 };
	struct { bool live; float v[4]; int cat; uint64_t num; } m[NID];
	static const char *const cats[] = { "a", "b", "c" };
	struct dumped d;
	char arg[256];

	(void)state;
	memset(m, 0, sizeof(m));
	OK("create", "s.rvf", "--dim", "4", "--metric", tu_rng_below(&rng, 2) ? "l2" : "ip");
	for (int step = 0; step < STEPS; step++) {
		uint64_t op = tu_rng_below(&rng, 10);
		size_t live = 0, n;

		if (op < 5) {
			FILE *f = fopen(tpath("b.jsonl"), "w");
			int rows = 1 + (int)tu_rng_below(&rng, 30);

			for (int r = 0; r < rows; r++) {
				int id = (int)tu_rng_below(&rng, NID);

				m[id].live = true;
				for (int j = 0; j < 4; j++)
					m[id].v[j] = (float)(tu_rng_unit(&rng) * 2 - 1);
				m[id].cat = (int)tu_rng_below(&rng, 3);
				m[id].num = tu_rng_below(&rng, 100);
				fprintf(f, "{\"id\":%d,\"vector\":[%.9g,%.9g,%.9g,%.9g],\"meta\":"
					"{\"0\":\"%s\",\"1\":{\"u64\":%llu}}}\n", id, (double)m[id].v[0],
					(double)m[id].v[1], (double)m[id].v[2], (double)m[id].v[3],
					cats[m[id].cat], (unsigned long long)m[id].num);
			}
			fclose(f);
			snprintf(arg, sizeof(arg), "%llu", (unsigned long long)(1 + tu_rng_below(&rng, 40)));
			OK("ingest", "s.rvf", "b.jsonl", "--batch", arg);
		} else if (op < 7) {
			int k = 1 + (int)tu_rng_below(&rng, 10), expect = 0;
			size_t len = 0;

			for (int i = 0; i < k; i++) {
				int id = (int)tu_rng_below(&rng, NID);

				expect += m[id].live;
				m[id].live = false;
				len += (size_t)snprintf(arg + len, sizeof(arg) - len, "%s%d", i ? "," : "", id);
			}
			OK("delete", "s.rvf", "--ids", arg);
			/* an id listed twice is deleted (and counted) once */
			snprintf(arg, sizeof(arg), "deleted %d vectors", expect);
			EXPECT_OUT(arg);
		} else if (op < 8) {
			uint64_t t = tu_rng_below(&rng, 100);
			int expect = 0;

			for (int id = 0; id < NID; id++)
				if (m[id].live && m[id].cat == 0 && m[id].num < t) {
					m[id].live = false;
					expect++;
				}
			snprintf(arg, sizeof(arg), "{\"and\":[{\"eq\":{\"field\":0,\"value\":\"a\"}},"
				 "{\"lt\":{\"field\":1,\"value\":%llu}}]}", (unsigned long long)t);
			OK("delete", "s.rvf", "--filter", arg);
			snprintf(arg, sizeof(arg), "deleted %d vectors", expect);
			EXPECT_OUT(arg);
		} else {
			OK("compact", "s.rvf");
		}

		dump_store("s.rvf", &d);
		n = 0;
		for (int id = 0; id < NID; id++) {
			const float *v = dumped_vec(&d, (uint64_t)id);

			if (!m[id].live) {
				if (v)
					fail_msg("step %d: id %d is deleted but dumped", step, id);
				continue;
			}
			live++;
			if (!v)
				fail_msg("step %d: live id %d missing from the dump", step, id);
			assert_memory_equal(v, m[id].v, sizeof(m[id].v));
			for (size_t i = 0; i < d.n; i++)
				if (d.id[i] == (uint64_t)id) {
					json_t *mt = d.meta[i];

					assert_string_equal(json_string_value(json_object_get(
						json_object_get(mt, "0"), "string")), cats[m[id].cat]);
					assert_int_equal(json_integer_value(json_object_get(
						json_object_get(mt, "1"), "u64")), m[id].num);
					n++;
				}
		}
		assert_int_equal(d.n, live);
		assert_int_equal(n, live);
		dumped_free(&d);
		assert_int_equal(live_count("s.rvf"), (long long)live);
		if (step % 10 == 9)
			OK("verify", "s.rvf");
	}
}

/* ---- segments, verify ----------------------------------------------------- */

static void segments_list_and_verify_catches_corruption(void **state)
{
	float *v;
	json_t *a, *seg;
	json_error_t je;
	size_t i;
	long long off = -1, len = 0;
	int fd;
	uint8_t byte;

	(void)state;
	v = make_store("s.rvf", 500, "l2");
	OK("segments", "s.rvf");
	EXPECT_OUT("segments");
	OK("segments", "s.rvf", "--json");
	a = json_loads(R.out, 0, &je);
	assert_non_null(a);
	assert_true(json_array_size(a) > 0);
	json_array_foreach(a, i, seg) {
		assert_true(json_is_string(json_object_get(seg, "type")));
		assert_true(json_is_integer(json_object_get(seg, "file_offset")));
		/* the largest segment holds the vectors */
		if (json_integer_value(json_object_get(seg, "payload_len")) > len) {
			len = json_integer_value(json_object_get(seg, "payload_len"));
			off = json_integer_value(json_object_get(seg, "file_offset"));
		}
	}
	json_decref(a);
	assert_true(off > 0 && len > 1000);
	OK("verify", "s.rvf");
	EXPECT_OUT("OK");

	/* flip one byte in the middle of that payload */
	fd = open(tpath("s.rvf"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, off + 64 + len / 2), 1);
	byte ^= 0x5a;
	assert_int_equal(pwrite(fd, &byte, 1, off + 64 + len / 2), 1);
	close(fd);
	RVF("verify", "s.rvf");
	assert_int_not_equal(R.code, 0);
	EXPECT_ERR("s.rvf");

	/* not an rvf file at all */
	write_bytes("junk.rvf", "this is not a store, just text padding it out to a size", 56);
	RVF("verify", "junk.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("junk.rvf");
	RVF("status", "junk.rvf");
	EXPECT_CODE(1);
	free(v);
}

/* ---- derive --------------------------------------------------------------- */

static void derive_records_parent_and_type(void **state)
{
	json_t *p, *c;
	float *v;

	(void)state;
	v = make_store("p.rvf", 50, "cosine");
	OK("derive", "p.rvf", "c.rvf", "--type", "filter");
	p = status_json("p.rvf");
	c = status_json("c.rvf");
	assert_int_equal(jint(c, "lineage_depth"), 1);
	assert_string_equal(jstr(c, "parent_id"), jstr(p, "file_id"));
	assert_string_not_equal(jstr(c, "file_id"), jstr(p, "file_id"));
	assert_string_equal(jstr(c, "derivation"), "filter");
	assert_string_equal(jstr(c, "metric"), "cosine");
	assert_int_equal(jint(c, "dimension"), 8);
	assert_int_equal(jint(c, "live_vectors"), 0);
	assert_int_equal(strlen(jstr(c, "parent_hash")), 64);
	json_decref(c);

	OK("derive", "c.rvf", "g.rvf");
	c = status_json("g.rvf");
	assert_int_equal(jint(c, "lineage_depth"), 2);
	assert_string_equal(jstr(c, "derivation"), "clone");
	json_decref(c);
	json_decref(p);

	RVF("derive", "p.rvf", "x.rvf", "--type", "teleport");
	EXPECT_CODE(2);
	RVF("derive", "p.rvf", "c.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("c.rvf");
	free(v);
}

/* ---- kernel and eBPF ------------------------------------------------------ */

static void kernel_embed_extract_round_trip(void **state)
{
	uint8_t img[9000];
	char *back;
	size_t blen;
	float *v;

	(void)state;
	v = make_store("s.rvf", 20, "l2");
	tu_rng_fill(&rng, img, sizeof(img));
	write_bytes("bzImage", img, sizeof(img));
	RVF("extract-kernel", "s.rvf", "out.bin");
	EXPECT_CODE(1);
	EXPECT_ERR("no kernel");

	OK("embed-kernel", "s.rvf", "bzImage", "--arch", "aarch64", "--cmdline", "console=ttyS0 quiet",
	   "--api-port", "8080", "--api-transport", "vsock", "--vcpus", "2", "--min-memory", "256",
	   "--flags", "networking,query-api", "--bind");
	OK("extract-kernel", "s.rvf", "out.bin");
	back = slurp(tpath("out.bin"), &blen);
	assert_int_equal(blen, sizeof(img));
	assert_memory_equal(back, img, sizeof(img));
	free(back);
	EXPECT_OUT("aarch64");
	EXPECT_OUT("port 8080");
	EXPECT_OUT("vsock");
	EXPECT_OUT("\"console=ttyS0 quiet\"");
	EXPECT_OUT("binding version 1");
	OK("segments", "s.rvf");
	EXPECT_OUT("KERNEL");
	OK("verify", "s.rvf");

	/* the newest kernel wins; the store's vectors are untouched */
	img[0] ^= 1;
	write_bytes("bzImage2", img, 100);
	OK("embed-kernel", "s.rvf", "bzImage2");
	OK("extract-kernel", "s.rvf", "out2.bin");
	back = slurp(tpath("out2.bin"), &blen);
	assert_int_equal(blen, 100);
	assert_memory_equal(back, img, 100);
	free(back);
	assert_int_equal(live_count("s.rvf"), 20);

	RVF("extract-kernel", "s.rvf", "no/such/dir/out.bin");
	EXPECT_CODE(1);
	EXPECT_ERR("no/such/dir/out.bin");
	RVF("embed-kernel", "s.rvf", "absent.img");
	EXPECT_CODE(1);
	EXPECT_ERR("absent.img");
	RVF("embed-kernel", "s.rvf", "bzImage", "--arch", "sparc");
	EXPECT_CODE(2);
	EXPECT_ERR("sparc");
	RVF("embed-kernel", "s.rvf", "bzImage", "--api-port", "70000");
	EXPECT_CODE(2);
	RVF("embed-kernel", "s.rvf", "bzImage", "--policy-hash", "abc");
	EXPECT_CODE(2);
	free(v);
}

static void ebpf_embed_extract_round_trip(void **state)
{
	char cmd[PATH_MAX * 2];
	char *prog, *back;
	size_t plen, blen;
	float *v;
	FILE *f;

	(void)state;
	v = make_store("s.rvf", 20, "l2");
	f = fopen(tpath("p.bpf.c"), "w");
	fprintf(f, "#include <linux/bpf.h>\n"
		   "__attribute__((section(\"xdp\"), used)) int xdp_pass(struct xdp_md *ctx)\n"
		   "{ return ctx->data_end > ctx->data ? XDP_PASS : XDP_DROP; }\n"
		   "char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu "
		 "-c p.bpf.c -o p.bpf.o", dir);
	if (system(cmd) != 0)
		fail_msg("clang -target bpf failed (tools/deps.sh installs clang)");
	write_bytes("btf.bin", "\x9f\xeb\x01\x00btf-bytes", 13);

	RVF("extract-ebpf", "s.rvf", "out.o");
	EXPECT_CODE(1);
	EXPECT_ERR("no eBPF");
	OK("embed-ebpf", "s.rvf", "p.bpf.o", "--type", "xdp", "--max-dim", "8", "--btf", "btf.bin");
	OK("extract-ebpf", "s.rvf", "out.o", "--btf-out", "out.btf");
	prog = slurp(tpath("p.bpf.o"), &plen);
	back = slurp(tpath("out.o"), &blen);
	assert_int_equal(blen, plen);
	assert_memory_equal(back, prog, plen);
	free(back);
	back = slurp(tpath("out.btf"), &blen);
	assert_int_equal(blen, 13);
	assert_memory_equal(back, "\x9f\xeb\x01\x00btf-bytes", 13);
	free(back);
	free(prog);
	EXPECT_OUT("type xdp");
	EXPECT_OUT("attach xdp-ingress");
	EXPECT_OUT("max dimension 8");
	OK("segments", "s.rvf");
	EXPECT_OUT("EBPF");

	/* not an ELF object */
	write_bytes("text.o", "hello, not an ELF file", 22);
	RVF("embed-ebpf", "s.rvf", "text.o");
	EXPECT_CODE(1);
	EXPECT_ERR("text.o");
	RVF("embed-ebpf", "s.rvf", "p.bpf.o", "--type", "lsm");
	EXPECT_CODE(2);
	RVF("embed-ebpf", "s.rvf", "p.bpf.o", "--max-dim", "0");
	EXPECT_CODE(2);
	free(v);
}

/* ---- locks and read-only file systems ------------------------------------- */

static void locked_store_fails_writers_and_serves_readers(void **state)
{
	struct rvf_store *s;
	float *v;

	(void)state;
	v = make_store("s.rvf", 100, "l2");
	write_fvecs("more.fvecs", v, 10, 8);
	/* this process holds the writer lock */
	assert_int_equal(rvf_store_open(tpath("s.rvf"), NULL, &s), 0);

	run_env[0] = "RVF_LOCK_TIMEOUT_MS=200";
	run_env[1] = NULL;
	RVF("ingest", "s.rvf", "more.fvecs", "--ids-from", "1000");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	EXPECT_ERR("lock");
	RVF("delete", "s.rvf", "--ids", "1", "--lock-timeout", "100");
	EXPECT_CODE(1);
	RVF("compact", "s.rvf");
	EXPECT_CODE(1);
	write_bytes("img.bin", "kernel image", 12);
	RVF("embed-kernel", "s.rvf", "img.bin");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	RVF("embed-ebpf", "s.rvf", "img.bin");
	EXPECT_CODE(1);
	/* readers take no lock */
	OK("status", "s.rvf");
	EXPECT_OUT("live vectors    100");
	OK("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0");
	OK("dump", "s.rvf");
	OK("verify", "s.rvf");

	assert_int_equal(rvf_store_close(s), 0);
	OK("ingest", "s.rvf", "more.fvecs", "--ids-from", "1000");
	assert_int_equal(live_count("s.rvf"), 110);
	free(v);
}

static void read_only_file_system_fails_writers_and_serves_readers(void **state)
{
	float *v;

	(void)state;
	v = make_store("s.rvf", 100, "l2");
	RVF_RO("status", "s.rvf");
	if (R.code == 122)
		skip();   /* no mount namespace here (needs CAP_SYS_ADMIN) */
	EXPECT_CODE(0);
	EXPECT_OUT("live vectors    100");
	RVF_RO("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--k", "3");
	EXPECT_CODE(0);
	RVF_RO("dump", "s.rvf");
	EXPECT_CODE(0);
	RVF_RO("ingest", "s.rvf", "base.fvecs", "--ids-from", "500");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	RVF_RO("delete", "s.rvf", "--ids", "1");
	EXPECT_CODE(1);
	RVF_RO("create", "new.rvf", "--dim", "4");
	EXPECT_CODE(1);
	EXPECT_ERR("new.rvf");
	RVF_RO("compact", "s.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("s.rvf");
	RVF_RO("derive", "s.rvf", "child.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("child.rvf");
	write_bytes("img.bin", "kernel image", 12);
	RVF_RO("embed-kernel", "s.rvf", "img.bin");
	EXPECT_CODE(1);
	if (fixture_dir[0]) {
		char src[PATH_MAX + 32];

		snprintf(src, sizeof(src), "%s/basic_store.rvf", fixture_dir);
		RVF_RO("import", src, "imp.rvf");
		EXPECT_CODE(1);
		EXPECT_ERR("imp.rvf");
	}
	RVF_RO("verify", "s.rvf");
	EXPECT_CODE(0);
	RVF_RO("segments", "s.rvf", "--json");
	EXPECT_CODE(0);
	assert_int_equal(live_count("s.rvf"), 100);
	free(v);
}

/* ---- import --------------------------------------------------------------- */

struct fixture {
	const char *file;
	int dim;
	int live;
	const char *sha16;
};
static const struct fixture fixtures[] = {
	{ "basic_store.rvf", 384, 100, "a1ccee43808a9b9b" },
	{ "access_control.rvf", 128, 150, "a115efcd718083b4" },
	{ "compacted.rvf", 128, 150, "20d3d313d732aeca" },
	{ "filtered_search.rvf", 128, 500, "a8dc9479f30a993a" },
	{ "ebpf_accelerator.rvf", 384, 100, "a1ccee43808a9b9b" },
	{ "linux_microkernel.rvf", 64, 20, "42cabddec3d6a927" },
	{ "lineage_parent.rvf", 128, 100, "596dc29f0ae05640" },
	{ "lineage_child.rvf", 128, 50, "6a111d51e3352b47" },
};

/* README's digest: SHA-256 over (id u64 LE, f32 values) of live vectors by id. */
static void live_sha16(const struct dumped *d, char out[17])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t md[32];
	unsigned mdlen;

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	for (size_t i = 0; i < d->n; i++) {
		EVP_DigestUpdate(c, &d->id[i], 8);
		EVP_DigestUpdate(c, d->v + i * d->dim, d->dim * 4);
	}
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 8; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void import_reproduces_every_rust_fixture(void **state)
{
	(void)state;
	if (!fixture_dir[0])
		skip();
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		char src[PATH_MAX * 2], dst[64], sha[17];
		struct dumped d;
		json_t *o;

		snprintf(src, sizeof(src), "%s/%s", fixture_dir, fixtures[i].file);
		snprintf(dst, sizeof(dst), "imp%zu.rvf", i);
		OK("import", src, dst);
		o = status_json(dst);
		assert_int_equal(jint(o, "dimension"), fixtures[i].dim);
		assert_int_equal(jint(o, "live_vectors"), fixtures[i].live);
		if (!strcmp(fixtures[i].file, "lineage_child.rvf")) {
			assert_int_equal(jint(o, "lineage_depth"), 1);
			assert_string_equal(jstr(o, "parent_id"), "183dabe5dce50c9a4ee02b2db6313cb9");
		}
		if (!strcmp(fixtures[i].file, "lineage_parent.rvf"))
			assert_string_equal(jstr(o, "file_id"), "183dabe5dce50c9a4ee02b2db6313cb9");
		json_decref(o);
		dump_store(dst, &d);
		assert_int_equal(d.n, fixtures[i].live);
		live_sha16(&d, sha);
		assert_string_equal(sha, fixtures[i].sha16);
		dumped_free(&d);
		/* the Rust file itself opens read-only with the same contents */
		dump_store(src, &d);
		live_sha16(&d, sha);
		assert_string_equal(sha, fixtures[i].sha16);
		dumped_free(&d);
		OK("verify", dst);
		if (!strcmp(fixtures[i].file, "linux_microkernel.rvf")) {
			OK("segments", dst);
			EXPECT_OUT("KERNEL");
		}
		if (!strcmp(fixtures[i].file, "ebpf_accelerator.rvf")) {
			OK("segments", dst);
			EXPECT_OUT("EBPF");
		}
	}
	/* garbage, truncated, existing destination */
	write_bytes("garbage.rvf", "SFVRgarbage garbage garbage garbage garbage garbage garbage garbage", 67);
	RVF("import", "garbage.rvf", "g.rvf");
	EXPECT_CODE(1);
	EXPECT_ERR("garbage.rvf");
	assert_int_equal(access(tpath("g.rvf"), F_OK), -1);
	{
		char src[PATH_MAX * 2];
		size_t n;
		char *b;

		snprintf(src, sizeof(src), "%s/basic_store.rvf", fixture_dir);
		b = slurp(src, &n);
		write_bytes("trunc.rvf", b, n / 2);
		free(b);
		RVF("import", "trunc.rvf", "t.rvf");
		EXPECT_CODE(1);
		EXPECT_ERR("trunc.rvf");
		RVF("import", src, "imp0.rvf");
		EXPECT_CODE(1);
		EXPECT_ERR("imp0.rvf: already exists");
		RVF("import", src, "x.rvf", "--metric", "manhattan");
		EXPECT_CODE(2);
		/* a native store is not imported again; a Rust file is not
		 * written, and the error says how to get a writable copy */
		RVF("import", "imp0.rvf", "again.rvf");
		EXPECT_CODE(1);
		EXPECT_ERR("already a native rvf store");
		assert_int_equal(access(tpath("again.rvf"), F_OK), -1);
		write_bytes("one.csv", "1,2,3\n", 6);
		RVF("ingest", src, "one.csv");
		EXPECT_CODE(1);
		EXPECT_ERR("rvf import");
		/* an eBPF payload that is not an ELF object is named as such */
		RVF("embed-ebpf", "imp0.rvf", "one.csv");
		EXPECT_CODE(1);
		EXPECT_ERR("not an eBPF ELF object");
	}
}

/* dump's output is ingest's input: ids past INT64_MAX, -0.0 and values that
 * need all nine digits come back bit for bit through dump -> ingest -> dump. */
static void dump_output_ingests_back_bit_for_bit(void **state)
{
	size_t a_len, b_len;
	char *a, *b;

	static const char edge[] =
		    "{\"id\":\"18446744073709551615\",\"vector\":[-0.0,1.17549435e-38,3.40282347e+38]}\n"
		    "{\"id\":\"9223372036854775808\",\"vector\":[0.1,-0.0,-1e-45]}\n"
		    "{\"id\":7,\"vector\":[0,0.333333343,-2.5],\"meta\":{\"0\":{\"u64\":\"18446744073709551615\"}}}\n";

	(void)state;
	write_bytes("edge.jsonl", edge, strlen(edge));
	OK("create", "e1.rvf", "--dim", "3");
	OK("ingest", "e1.rvf", "edge.jsonl");
	RVF("dump", "e1.rvf");
	EXPECT_CODE(0);
	a = strdup(R.out);
	a_len = R.out_len;
	write_bytes("edge2.jsonl", a, a_len);
	OK("create", "e2.rvf", "--dim", "3");
	OK("ingest", "e2.rvf", "edge2.jsonl", "--format", "jsonl");
	RVF("dump", "e2.rvf");
	EXPECT_CODE(0);
	b = R.out;
	b_len = R.out_len;
	assert_int_equal(a_len, b_len);
	assert_memory_equal(a, b, a_len);
	assert_non_null(strstr(a, "\"id\":\"18446744073709551615\""));
	assert_non_null(strstr(a, "-0.0"));
	free(a);
}

/* ---- main ----------------------------------------------------------------- */

static void find_paths(const char *argv0)
{
	const char *e = getenv("RVF_BIN");
	char self[PATH_MAX], *fx;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		snprintf(self, sizeof(self), "%s", argv0);
	else
		self[n] = '\0';
	if (e && *e) {
		if (!realpath(e, rvf_bin))
			snprintf(rvf_bin, sizeof(rvf_bin), "%s", e);
	} else {
		char tmp[PATH_MAX + 16], *d = strdup(self);

		snprintf(tmp, sizeof(tmp), "%s/../bin/rvf", dirname(d));
		free(d);
		if (!realpath(tmp, rvf_bin))
			snprintf(rvf_bin, sizeof(rvf_bin), "%.*s", (int)sizeof(rvf_bin) - 1, tmp);
	}
	fx = tu_fixture_dir();
	if (fx) {
		snprintf(fixture_dir, sizeof(fixture_dir), "%s", fx);
		free(fx);
	}
	if (fixture_dir[0]) {
		char probe[PATH_MAX + 32];

		snprintf(probe, sizeof(probe), "%s/basic_store.rvf", fixture_dir);
		if (access(probe, R_OK))
			fixture_dir[0] = '\0';
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(help_and_unknown_options_for_every_command, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_store_is_named_for_every_command, setup, teardown),
		cmocka_unit_test_setup_teardown(create_records_dimension_metric_and_profile, setup, teardown),
		cmocka_unit_test_setup_teardown(create_rejects_bad_options_and_existing_files, setup, teardown),
		cmocka_unit_test_setup_teardown(ingest_every_format_reads_back_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(ingest_rejects_bad_rows_with_reasons_and_keeps_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(query_vector_finds_itself_and_prints_json, setup, teardown),
		cmocka_unit_test_setup_teardown(query_file_prints_a_line_per_query_qps_and_recall, setup, teardown),
		cmocka_unit_test_setup_teardown(query_filter_selects_by_metadata_and_rejects_bad_json, setup, teardown),
		cmocka_unit_test_setup_teardown(threaded_queries_report_the_first_failure_with_its_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(ingest_labels_become_filterable_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_by_ids_and_filter_then_compact_keeps_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(random_operations_match_a_model, setup, teardown),
		cmocka_unit_test_setup_teardown(segments_list_and_verify_catches_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(derive_records_parent_and_type, setup, teardown),
		cmocka_unit_test_setup_teardown(kernel_embed_extract_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(ebpf_embed_extract_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(locked_store_fails_writers_and_serves_readers, setup, teardown),
		cmocka_unit_test_setup_teardown(read_only_file_system_fails_writers_and_serves_readers, setup, teardown),
		cmocka_unit_test_setup_teardown(import_reproduces_every_rust_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(dump_output_ingests_back_bit_for_bit, setup, teardown),
	};

	(void)argc;
	find_paths(argv[0]);
	if (access(rvf_bin, X_OK)) {
		fprintf(stderr, "rvf binary not found at %s (build it with make, or set RVF_BIN)\n", rvf_bin);
		return 1;
	}
	printf("info: rvf binary %s, fixtures %s\n", rvf_bin, fixture_dir[0] ? fixture_dir : "(none)");
	if (!fixture_dir[0])
		printf("SKIP (import test): fixtures not found; set RVF_FIXTURES\n");
	tu_rng_init(&rng, tu_seed());
	tu_log_to_stderr();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
