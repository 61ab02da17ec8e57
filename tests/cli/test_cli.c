/*
 * test_cli.c - the `rvf` command-line tool end to end: every command run as
 * a separate process (fork/exec of build/bin/rvf) in a private temp
 * directory, its exit status, stdout and stderr checked, and its effect
 * checked through other commands (dump, status --json) or the library. This
 * file: help and unknown options, missing stores, create, ingest of every
 * input format and bad rows.
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
#include "cli_fixture.h"

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
	cf_run_argv(RUN_PLAIN, (char *const[]){ NULL });
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
	cf_write_bytes("img.bin", "kernel", 6);
	cf_write_bytes("q.csv", "1,2\n", 4);
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
		cf_run_argv(RUN_PLAIN, a);
		EXPECT_CODE(1);
		EXPECT_ERR("nope.rvf");
	}
	assert_int_equal(access(cf_tpath("child.rvf"), F_OK), -1);
	assert_int_equal(access(cf_tpath("dst.rvf"), F_OK), -1);
}

/* ---- create --------------------------------------------------------------- */

static void create_records_dimension_metric_and_profile(void **state)
{
	json_t *o;

	(void)state;
	OK("create", "a.rvf", "--dim", "12", "--metric", "cosine", "--m", "8", "--ef-construction", "50");
	EXPECT_OUT("dimension 12");
	o = cf_status_json("a.rvf");
	assert_int_equal(cf_jint(o, "dimension"), 12);
	assert_string_equal(cf_jstr(o, "metric"), "cosine");
	assert_string_equal(cf_jstr(o, "profile"), "generic");
	assert_int_equal(cf_jint(o, "live_vectors"), 0);
	assert_int_equal(cf_jint(o, "lineage_depth"), 0);
	/* the index parameters given at create come back from the file */
	assert_int_equal(cf_jint(json_object_get(o, "index"), "M"), 8);
	assert_int_equal(cf_jint(json_object_get(o, "index"), "ef_construction"), 50);
	assert_string_equal(cf_jstr(json_object_get(o, "index"), "quant"), "sq8");
	json_decref(o);

	OK("create", "b.rvtext", "--dim", "3", "--metric", "ip");
	o = cf_status_json("b.rvtext");
	assert_string_equal(cf_jstr(o, "profile"), "rvtext");
	assert_string_equal(cf_jstr(o, "metric"), "ip");
	json_decref(o);

	/* text status names the same things */
	OK("status", "a.rvf");
	EXPECT_OUT("cosine");
	EXPECT_OUT("dimension       12");

	/* float32 traversal and a seed: a store that answers queries */
	OK("create", "c.rvf", "--dim", "2", "--quant", "none", "--seed", "0x2a");
	cf_write_bytes("c.csv", "0,0\n1,0\n0,1\n5,5\n", 16);
	OK("ingest", "c.rvf", "c.csv");
	OK("query", "c.rvf", "--vector", "4.5,5", "--k", "2");
	assert_true(!strncmp(cf_R.out, "1 3 0.25\n2 ", 11));
	o = cf_status_json("c.rvf");
	assert_string_equal(cf_jstr(json_object_get(o, "index"), "quant"), "float32");
	assert_int_equal(cf_jint(json_object_get(o, "index"), "nodes"), 4);
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
	assert_int_equal(access(cf_tpath("b.rvf"), F_OK), -1);
}

/* ---- ingest --------------------------------------------------------------- */

static void write_npy_f4(const char *name, const float *v, size_t n, uint32_t dim)
{
	char hdr[128];
	int hl = snprintf(hdr, sizeof(hdr), "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %u), }",
			  n, dim);
	size_t total = 10 + (size_t)hl + 1;
	size_t pad = (64 - total % 64) % 64;
	FILE *f = fopen(cf_tpath(name), "wb");
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
	float *fv = cf_rand_vecs(50, dim), *nv = cf_rand_vecs(40, dim), *cv = cf_rand_vecs(30, dim),
	      *jv = cf_rand_vecs(20, dim);
	uint8_t bv[25][8], idx[16 + 10 * 8];
	struct dumped d;
	FILE *f;

	(void)state;
	OK("create", "s.rvf", "--dim", "8");

	cf_write_fvecs("a.fvecs", fv, 50, dim);
	OK("ingest", "s.rvf", "a.fvecs", "--progress");
	EXPECT_OUT("ingested 50 vectors");
	EXPECT_ERR("ingest: 50 / 50 vectors (100%)");

	write_npy_f4("b.npy", nv, 40, dim);
	OK("ingest", "s.rvf", "b.npy", "--ids-from", "1000");
	EXPECT_OUT("ingested 40");

	f = fopen(cf_tpath("c.csv"), "w");
	fprintf(f, "x0,x1,x2,x3,x4,x5,x6,x7\n");
	for (int i = 0; i < 30; i++)
		for (uint32_t j = 0; j < dim; j++)
			fprintf(f, "%.9g%s", (double)cv[i * dim + j], j + 1 < dim ? "," : "\n");
	fclose(f);
	/* --batch smaller than the file: several commits */
	OK("ingest", "s.rvf", "c.csv", "--ids-from", "2000", "--batch", "7");
	EXPECT_OUT("ingested 30");

	cf_write_jsonl("d.jsonl", jv, 20, dim, 3000);
	OK("ingest", "s.rvf", "d.jsonl");
	EXPECT_OUT("ingested 20");

	f = fopen(cf_tpath("e.bvecs"), "wb");
	for (int i = 0; i < 25; i++) {
		for (uint32_t j = 0; j < dim; j++)
			bv[i][j] = (uint8_t)tu_rng_below(&cf_rng, 256);
		fwrite(&dim, 4, 1, f);
		fwrite(bv[i], 1, dim, f);
	}
	fclose(f);
	OK("ingest", "s.rvf", "e.bvecs", "--ids-from", "4000");

	/* idx3-ubyte: 10 images of 2 x 4 pixels, unknown extension -> --format */
	memcpy(idx, "\x00\x00\x08\x03\x00\x00\x00\x0a\x00\x00\x00\x02\x00\x00\x00\x04", 16);
	for (int i = 0; i < 80; i++)
		idx[16 + i] = (uint8_t)tu_rng_below(&cf_rng, 256);
	cf_write_bytes("imgs.raw", idx, sizeof(idx));
	RVF("ingest", "s.rvf", "imgs.raw");
	EXPECT_CODE(2);
	EXPECT_ERR("--format");
	OK("ingest", "s.rvf", "imgs.raw", "--format", "idx", "--ids-from", "5000");
	/* gzip input is read directly; the format is guessed through ".gz" */
	{
		gzFile gz = gzopen(cf_tpath("t10k-idx3-ubyte.gz"), "wb");

		assert_non_null(gz);
		assert_int_equal(gzwrite(gz, idx, sizeof(idx)), (int)sizeof(idx));
		assert_int_equal(gzclose(gz), Z_OK);
	}
	OK("ingest", "s.rvf", "t10k-idx3-ubyte.gz", "--ids-from", "6000");
	EXPECT_OUT("ingested 10");

	assert_int_equal(cf_live_count("s.rvf"), 50 + 40 + 30 + 20 + 25 + 10 + 10);
	cf_dump_store("s.rvf", &d);
	assert_int_equal(d.n, 185);
	assert_int_equal(d.dim, dim);
	for (int i = 0; i < 50; i++)
		assert_memory_equal(cf_dumped_vec(&d, (uint64_t)i), fv + i * dim, dim * 4);
	for (int i = 0; i < 40; i++)
		assert_memory_equal(cf_dumped_vec(&d, 1000u + i), nv + i * dim, dim * 4);
	for (int i = 0; i < 30; i++)
		assert_memory_equal(cf_dumped_vec(&d, 2000u + i), cv + i * dim, dim * 4);
	for (int i = 0; i < 20; i++)
		assert_memory_equal(cf_dumped_vec(&d, 3000u + i), jv + i * dim, dim * 4);
	for (int i = 0; i < 25; i++)
		for (uint32_t j = 0; j < dim; j++)
			assert_true(cf_dumped_vec(&d, 4000u + i)[j] == (float)bv[i][j]);
	for (int i = 0; i < 10; i++)
		for (uint32_t j = 0; j < dim; j++) {
			assert_true(cf_dumped_vec(&d, 5000u + i)[j] == (float)idx[16 + i * dim + j]);
			assert_true(cf_dumped_vec(&d, 6000u + i)[j] == (float)idx[16 + i * dim + j]);
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
	cf_dumped_free(&d);

	/* re-ingesting an id replaces it (upsert) */
	cf_write_fvecs("one.fvecs", jv, 1, dim);
	OK("ingest", "s.rvf", "one.fvecs", "--ids-from", "7");
	cf_dump_store("s.rvf", &d);
	assert_int_equal(d.n, 185);
	assert_memory_equal(cf_dumped_vec(&d, 7), jv, dim * 4);
	cf_dumped_free(&d);
	free(fv);
	free(nv);
	free(cv);
	free(jv);
}

static void ingest_rejects_bad_rows_with_reasons_and_keeps_the_rest(void **state)
{
	float *v = cf_rand_vecs(5, 7);
	FILE *f;

	(void)state;
	OK("create", "s.rvf", "--dim", "4");

	/* a binary file of the wrong width is refused before anything is written */
	cf_write_fvecs("w.fvecs", v, 5, 7);
	RVF("ingest", "s.rvf", "w.fvecs");
	EXPECT_CODE(1);
	EXPECT_ERR("w.fvecs");
	EXPECT_ERR("dimension 4");
	assert_int_equal(cf_live_count("s.rvf"), 0);

	/* csv: NaN, infinity, short row, junk; the two good rows go in */
	f = fopen(cf_tpath("m.csv"), "w");
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
	assert_int_equal(cf_live_count("s.rvf"), 2);

	/* jsonl: malformed JSON, missing vector, bad metadata, NaN as a string */
	f = fopen(cf_tpath("m.jsonl"), "w");
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
	assert_int_equal(cf_live_count("s.rvf"), 3);

	/* missing input, unknown format, unguessable name, truncated npy */
	RVF("ingest", "s.rvf", "absent.fvecs");
	EXPECT_CODE(1);
	EXPECT_ERR("absent.fvecs");
	RVF("ingest", "s.rvf", "m.csv", "--format", "parquet");
	EXPECT_CODE(2);
	EXPECT_ERR("parquet");
	cf_write_bytes("data.bin", "abc", 3);
	RVF("ingest", "s.rvf", "data.bin");
	EXPECT_CODE(2);
	write_npy_f4("t.npy", v, 5, 4);
	{
		struct stat st;

		assert_int_equal(stat(cf_tpath("t.npy"), &st), 0);
		/* keep 3 whole rows of 16 bytes and 5 bytes of the fourth */
		assert_int_equal(truncate(cf_tpath("t.npy"), st.st_size - 2 * 16 + 5), 0);
	}
	RVF("ingest", "s.rvf", "t.npy", "--ids-from", "100");
	EXPECT_CODE(1);
	EXPECT_ERR("t.npy");
	EXPECT_ERR("truncated");
	cf_write_bytes("bad.npy", "not numpy at all", 16);
	RVF("ingest", "s.rvf", "bad.npy");
	EXPECT_CODE(1);
	EXPECT_ERR("bad.npy");
	RVF("ingest", "s.rvf", "m.csv", "--batch", "0");
	EXPECT_CODE(2);
	/* the three rows of the truncated npy that were complete went in */
	assert_int_equal(cf_live_count("s.rvf"), 3 + 3);
	/* a truncated .gz is an error, not a short file; complete lines before it go in */
	{
		gzFile gz = gzopen(cf_tpath("big.csv.gz"), "wb");
		struct stat st;

		assert_non_null(gz);
		for (int i = 0; i < 3000; i++)
			gzprintf(gz, "%d,%d,%d,%d\n", 7000 + i, i, i * 3 % 17, i % 5);
		assert_int_equal(gzclose(gz), Z_OK);
		assert_int_equal(stat(cf_tpath("big.csv.gz"), &st), 0);
		assert_int_equal(truncate(cf_tpath("big.csv.gz"), st.st_size / 2), 0);
	}
	RVF("ingest", "s.rvf", "big.csv.gz", "--ids-from", "7000");
	EXPECT_CODE(1);
	EXPECT_ERR("big.csv.gz: truncated gzip stream");
	{
		struct dumped d;
		size_t n = 0;

		cf_dump_store("s.rvf", &d);
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
		cf_dumped_free(&d);
	}
	/* a cosine store refuses an all-zero vector */
	OK("create", "c.rvf", "--dim", "4", "--metric", "cosine");
	cf_write_bytes("z.csv", "0,0,0,0\n1,0,0,0\n", 16);
	RVF("ingest", "c.rvf", "z.csv");
	EXPECT_CODE(1);
	EXPECT_ERR("line 1, id 0: rejected: all-zero");
	EXPECT_OUT("ingested 1 vectors");
	free(v);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(help_and_unknown_options_for_every_command, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(missing_store_is_named_for_every_command, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(create_records_dimension_metric_and_profile, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(create_rejects_bad_options_and_existing_files, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(ingest_every_format_reads_back_exactly, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(ingest_rejects_bad_rows_with_reasons_and_keeps_the_rest, cf_setup, cf_teardown),
	};

	(void)argc;
	if (cf_suite_init(argv[0]))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
