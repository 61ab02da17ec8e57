/*
 * test_cli_query.c - the `rvf` CLI end to end (see test_cli.c): queries (a
 * vector, a file with QPS and recall, filters, threads), labels as metadata,
 * delete by ids and by filter, compaction, random operations against a
 * model.
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

/* ---- query ---------------------------------------------------------------- */

static void query_vector_finds_itself_and_prints_json(void **state)
{
	float *v;
	char arg[512] = "";
	json_t *o, *r0;
	json_error_t je;

	(void)state;
	v = cf_make_store("s.rvf", 300, "l2");
	for (int j = 0; j < 8; j++)
		snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), j ? ",%.9g" : "%.9g",
			 (double)v[17 * 8 + j]);
	OK("query", "s.rvf", "--vector", arg, "--k", "5");
	assert_true(!strncmp(cf_R.out, "1 17 0\n", 7));
	assert_int_equal(strlen(cf_R.out) > 0, 1);
	{
		int lines = 0;

		for (char *p = cf_R.out; *p; p++)
			lines += *p == '\n';
		assert_int_equal(lines, 5);
	}
	OK("query", "s.rvf", "--vector", arg, "--k", "3", "--json", "--exact");
	o = json_loads(cf_R.out, 0, &je);
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
	v = cf_make_store("s.rvf", 1000, "l2");
	q = cf_rand_vecs(40, 8);
	cf_write_fvecs("q.fvecs", q, 40, 8);
	OK("query", "s.rvf", "--queries", "q.fvecs", "--k", "10", "--recall", "--gt-cache", "gt",
	   "--threads", "2");
	EXPECT_ERR("recall@10");
	for (line = strtok_r(cf_R.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
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
	last = cf_R.err + strlen(cf_R.err) - 1;
	while (last > cf_R.err && last[-1] != '\n')
		last--;
	assert_non_null(strstr(last, "queries 40"));
	assert_non_null(strstr(last, "QPS"));
	{
		double recall = strtod(strstr(cf_R.err, "recall@10") + 10, NULL);

		/* 1000 points in 8-d with ef 64: the graph should find nearly all */
		assert_true(recall > 0.9 && recall <= 1.0);
	}
	/* a ground-truth file computed here by brute force gives the same recall */
	{
		char want[64], *at;
		FILE *f = fopen(cf_tpath("gt.ivecs"), "wb");
		int32_t dimk = 10;

		at = strstr(cf_R.err, "recall@10 ");
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
	assert_int_equal(cf_R.out_len, 0);

	/* wrong dimension in the queries file */
	cf_write_fvecs("q7.fvecs", q, 5, 7);
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
	float *v = cf_rand_vecs(200, 4);
	char line[128], *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	OK("create", "s.rvf", "--dim", "4");
	cf_write_fvecs("v.fvecs", v, 200, 4);
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
	cf_write_bytes("q.jsonl", text, len);
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
	float *v = cf_rand_vecs(400, 8), *q = cf_rand_vecs(10, 8);
	char *line, *save = NULL;
	int lines = 0;

	(void)state;
	OK("create", "s.rvf", "--dim", "8");
	cf_write_jsonl("m.jsonl", v, 400, 8, 0);
	OK("ingest", "s.rvf", "m.jsonl");
	cf_write_fvecs("q.fvecs", q, 10, 8);
	OK("query", "s.rvf", "--queries", "q.fvecs", "--k", "5", "--threads", "3",
	   "--filter", "{\"and\":[{\"eq\":{\"field\":0,\"value\":\"even\"}},"
		       "{\"range\":{\"field\":1,\"gte\":100,\"lt\":{\"u64\":300}}}]}", "--recall");
	EXPECT_ERR("recall@5");
	for (line = strtok_r(cf_R.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
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

		cf_write_bytes("f.json", fj, strlen(fj));
	}
	OK("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--filter", "@f.json", "--json");
	{
		json_t *o = json_loads(cf_R.out, 0, NULL);
		json_t *res = json_object_get(o, "results");

		/* field 2 = id / 4 > 99.5  <=>  id >= 399 */
		assert_int_equal(json_array_size(res), 1);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 0), "id")), 399);
		json_decref(o);
	}
	OK("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--filter",
	   "{\"eq\":{\"field\":0,\"value\":\"none\"}}");
	assert_int_equal(cf_R.out_len, 0);

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
	float *v = cf_rand_vecs(100, 8), *q = cf_rand_vecs(30, 8);
	uint8_t idx1[8 + 100];
	struct dumped d;
	FILE *f;
	char *line, *save = NULL;
	int lines = 0;

	(void)state;
	OK("create", "s.rvf", "--dim", "8");
	cf_write_fvecs("v.fvecs", v, 100, 8);
	/* idx1-ubyte labels: magic 0x00000801, count 100, then one byte each */
	memcpy(idx1, "\x00\x00\x08\x01\x00\x00\x00\x64", 8);
	for (int i = 0; i < 100; i++)
		idx1[8 + i] = (uint8_t)(i % 10);
	cf_write_bytes("labels-idx1-ubyte", idx1, sizeof(idx1));
	OK("ingest", "s.rvf", "v.fvecs", "--labels", "labels-idx1-ubyte", "--batch", "30");
	cf_dump_store("s.rvf", &d);
	assert_int_equal(d.n, 100);
	for (size_t i = 0; i < d.n; i++)
		assert_int_equal(json_integer_value(json_object_get(json_object_get(d.meta[i], "0"), "u64")),
				 d.id[i] % 10);
	cf_dumped_free(&d);

	cf_write_fvecs("q.fvecs", q, 30, 8);
	OK("query", "s.rvf", "--queries", "q.fvecs", "--limit", "12", "--k", "4",
	   "--filter", "{\"eq\":{\"field\":0,\"value\":3}}", "--recall");
	EXPECT_ERR("recall@4 1.0000 over 12 queries");
	for (line = strtok_r(cf_R.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
		json_t *o = json_loads(line, 0, NULL), *res = json_object_get(o, "results");

		assert_int_equal(json_array_size(res), 4);
		for (size_t i = 0; i < 4; i++)
			assert_int_equal(json_integer_value(json_object_get(json_array_get(res, i), "id")) % 10, 3);
		json_decref(o);
	}
	assert_int_equal(lines, 12);

	/* text labels into another field; a count mismatch and a bad label fail */
	f = fopen(cf_tpath("l.txt"), "w");
	for (int i = 0; i < 100; i++)
		fprintf(f, "%d\n", 1000 + i);
	fclose(f);
	OK("ingest", "s.rvf", "v.fvecs", "--labels", "l.txt", "--label-field", "5");
	cf_dump_store("s.rvf", &d);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d.meta[42], "5"), "u64")),
			 1042);
	cf_dumped_free(&d);
	cf_write_bytes("short.txt", "1\n2\n", 4);
	RVF("ingest", "s.rvf", "v.fvecs", "--labels", "short.txt");
	EXPECT_CODE(1);
	EXPECT_ERR("fewer labels");
	cf_write_bytes("neg.txt", "1\n-2\n", 5);
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
	float *v = cf_rand_vecs(200, 8);
	struct dumped before, after;
	json_t *o;

	(void)state;
	OK("create", "s.rvf", "--dim", "8");
	cf_write_jsonl("m.jsonl", v, 200, 8, 0);
	OK("ingest", "s.rvf", "m.jsonl");

	OK("delete", "s.rvf", "--ids", "1,2,3,500");
	EXPECT_OUT("deleted 3 vectors");
	OK("delete", "s.rvf", "--filter", "{\"lt\":{\"field\":1,\"value\":50}}");
	EXPECT_OUT("deleted 47 vectors");   /* 0..49 less the three already gone */
	OK("delete", "s.rvf", "--ids", "1");
	EXPECT_OUT("deleted 0 vectors");
	o = cf_status_json("s.rvf");
	assert_int_equal(cf_jint(o, "live_vectors"), 150);
	assert_int_equal(cf_jint(o, "deleted_vectors") > 0, 1);
	json_decref(o);

	/* deleted ids never come back from a query */
	OK("query", "s.rvf", "--vector", "0,0,0,0,0,0,0,0", "--k", "200", "--exact", "--json");
	{
		json_t *r = json_loads(cf_R.out, 0, NULL), *res = json_object_get(r, "results");

		assert_int_equal(json_array_size(res), 150);
		for (size_t i = 0; i < 150; i++)
			assert_true(json_integer_value(json_object_get(json_array_get(res, i), "id")) >= 50);
		json_decref(r);
	}
	cf_dump_store("s.rvf", &before);
	assert_int_equal(before.n, 150);
	assert_int_equal(before.id[0], 50);
	/* dump of chosen ids, in id order; a deleted one is an error */
	OK("dump", "s.rvf", "--ids", "120,60");
	assert_true(!strncmp(cf_R.out, "{\"id\":60,", 9));
	assert_non_null(strstr(cf_R.out, "\n{\"id\":120,"));
	RVF("dump", "s.rvf", "--ids", "60,3");
	EXPECT_CODE(1);
	EXPECT_ERR("id 3 is not in the store");
	OK("dump", "s.rvf", "--limit", "2");
	assert_true(!strncmp(cf_R.out, "{\"id\":50,", 9));
	assert_non_null(strstr(cf_R.out, "\n{\"id\":51,"));
	assert_null(strstr(cf_R.out, "\"id\":52,"));

	OK("compact", "s.rvf");
	EXPECT_OUT("compacted s.rvf");
	o = cf_status_json("s.rvf");
	assert_int_equal(cf_jint(o, "live_vectors"), 150);
	assert_int_equal(cf_jint(o, "deleted_vectors"), 0);
	json_decref(o);
	cf_dump_store("s.rvf", &after);
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
	assert_int_equal(cf_live_count("s.rvf"), 150);
	cf_dumped_free(&before);
	cf_dumped_free(&after);
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
	OK("create", "s.rvf", "--dim", "4", "--metric", tu_rng_below(&cf_rng, 2) ? "l2" : "ip");
	for (int step = 0; step < STEPS; step++) {
		uint64_t op = tu_rng_below(&cf_rng, 10);
		size_t live = 0, n;

		if (op < 5) {
			FILE *f = fopen(cf_tpath("b.jsonl"), "w");
			int rows = 1 + (int)tu_rng_below(&cf_rng, 30);

			for (int r = 0; r < rows; r++) {
				int id = (int)tu_rng_below(&cf_rng, NID);

				m[id].live = true;
				for (int j = 0; j < 4; j++)
					m[id].v[j] = (float)(tu_rng_unit(&cf_rng) * 2 - 1);
				m[id].cat = (int)tu_rng_below(&cf_rng, 3);
				m[id].num = tu_rng_below(&cf_rng, 100);
				fprintf(f, "{\"id\":%d,\"vector\":[%.9g,%.9g,%.9g,%.9g],\"meta\":"
					"{\"0\":\"%s\",\"1\":{\"u64\":%llu}}}\n", id, (double)m[id].v[0],
					(double)m[id].v[1], (double)m[id].v[2], (double)m[id].v[3],
					cats[m[id].cat], (unsigned long long)m[id].num);
			}
			fclose(f);
			snprintf(arg, sizeof(arg), "%llu", (unsigned long long)(1 + tu_rng_below(&cf_rng, 40)));
			OK("ingest", "s.rvf", "b.jsonl", "--batch", arg);
		} else if (op < 7) {
			int k = 1 + (int)tu_rng_below(&cf_rng, 10), expect = 0;
			size_t len = 0;

			for (int i = 0; i < k; i++) {
				int id = (int)tu_rng_below(&cf_rng, NID);

				expect += m[id].live;
				m[id].live = false;
				len += (size_t)snprintf(arg + len, sizeof(arg) - len, "%s%d", i ? "," : "", id);
			}
			OK("delete", "s.rvf", "--ids", arg);
			/* an id listed twice is deleted (and counted) once */
			snprintf(arg, sizeof(arg), "deleted %d vectors", expect);
			EXPECT_OUT(arg);
		} else if (op < 8) {
			uint64_t t = tu_rng_below(&cf_rng, 100);
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

		cf_dump_store("s.rvf", &d);
		n = 0;
		for (int id = 0; id < NID; id++) {
			const float *v = cf_dumped_vec(&d, (uint64_t)id);

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
		cf_dumped_free(&d);
		assert_int_equal(cf_live_count("s.rvf"), (long long)live);
		if (step % 10 == 9)
			OK("verify", "s.rvf");
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(query_vector_finds_itself_and_prints_json, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(query_file_prints_a_line_per_query_qps_and_recall, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(query_filter_selects_by_metadata_and_rejects_bad_json, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(threaded_queries_report_the_first_failure_with_its_reason, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(ingest_labels_become_filterable_metadata, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(delete_by_ids_and_filter_then_compact_keeps_the_rest, cf_setup, cf_teardown),
		cmocka_unit_test_setup_teardown(random_operations_match_a_model, cf_setup, cf_teardown),
	};

	(void)argc;
	if (cf_suite_init(argv[0]))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
