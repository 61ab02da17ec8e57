/*
 * test_cli_cow.c - `rvf freeze`, `rvf membership`, `rvf branch`, `rvf
 * compact --flatten` and the lineage / COW / membership fields of `rvf
 * status`, each run as a separate process (build/bin/rvf, or $RVF_BIN) in
 * a private temp directory; effects checked through other commands.
 *
 * rvf-test: both-backends
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

static char rvf_bin[PATH_MAX];
static char *dir;
static int code;
static char *out, *err;

static char *slurp_file(const char *path)
{
	size_t len;

	return tu_slurp(path, &len);
}

static int run(char *const *args)
{
	char *argv[32], *op = tu_path(dir, ".out"), *ep = tu_path(dir, ".err");
	int n = 0, st;
	pid_t pid;

	argv[n++] = rvf_bin;
	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(dir))
			_exit(120);
		execv(rvf_bin, argv);
		_exit(123);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	free(out);
	free(err);
	out = slurp_file(op);
	err = slurp_file(ep);
	free(op);
	free(ep);
	if (getenv("RVF_TEST_VERBOSE"))
		fprintf(stderr, "rvf %s -> %d\n%s%s", args[0], code, out, err);
	return code;
}

#define RVF(...) run((char *const[]){ __VA_ARGS__, NULL })
#define OK(...) do { if (RVF(__VA_ARGS__)) { fprintf(stderr, "%s%s", out, err); fail(); } } while (0)

static json_t *status(const char *f)
{
	json_error_t je;

	OK("status", (char *)f, "--json");
	json_t *o = json_loads(out, 0, &je);
	assert_non_null(o);
	return o;
}

/* The ids `rvf query --json` returns for vector q. */
static int query_ids(const char *f, const char *q, uint64_t *ids)
{
	json_error_t je;
	int n = 0;

	OK("query", (char *)f, "--vector", (char *)q, "--k", "10", "--json");
	json_t *o = json_loads(out, JSON_DISABLE_EOF_CHECK, &je);
	assert_non_null(o);
	json_t *res = json_is_array(o) ? o : json_object_get(o, "results");
	assert_true(json_is_array(res));
	for (size_t i = 0; i < json_array_size(res); i++)
		ids[n++] = (uint64_t)json_integer_value(json_object_get(json_array_get(res, i), "id"));
	json_decref(o);
	return n;
}

/* dir/name in one of a few static buffers */
static const char *at(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir();
	char *p = tu_path(dir, "a.jsonl");
	FILE *f = fopen(p, "w");
	for (int i = 1; i <= 20; i++)
		fprintf(f, "{\"id\":%d,\"vector\":[%d,%d]}\n", i, i, i);
	fclose(f);
	free(p);
	p = tu_path(dir, "b.jsonl");
	f = fopen(p, "w");
	fprintf(f, "{\"id\":5,\"vector\":[100,100]}\n{\"id\":30,\"vector\":[0.5,0.5]}\n");
	fclose(f);
	free(p);
	OK("create", "p.rvf", "--dim", "2");
	OK("ingest", "p.rvf", "a.jsonl");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmrf(dir);
	free(dir);
	return 0;
}

static void freeze_refuses_writes_and_shows_in_status(void **state)
{
	(void)state;
	json_t *o = status("p.rvf");
	assert_false(json_is_true(json_object_get(o, "frozen")));
	json_decref(o);
	OK("freeze", "p.rvf");
	assert_non_null(strstr(out, "froze p.rvf"));
	OK("freeze", "p.rvf");
	assert_int_equal(RVF("ingest", "p.rvf", "b.jsonl"), 1);
	assert_non_null(strstr(err, "frozen"));
	assert_int_equal(RVF("delete", "p.rvf", "--ids", "1"), 1);
	assert_int_equal(RVF("compact", "p.rvf"), 1);
	assert_int_equal(RVF("membership", "p.rvf", "--include", "--ids", "1"), 1);
	o = status("p.rvf");
	assert_true(json_is_true(json_object_get(o, "frozen")));
	assert_int_equal(json_integer_value(json_object_get(o, "live_vectors")), 20);
	json_decref(o);
	OK("status", "p.rvf");
	assert_non_null(strstr(out, "frozen          yes"));
	assert_int_equal(RVF("freeze"), 2);
	assert_int_equal(RVF("freeze", "nope.rvf"), 1);
}

static void membership_include_exclude_ids_file_clear(void **state)
{
	uint64_t ids[10];
	(void)state;
	OK("membership", "p.rvf", "--include", "--ids", "3,7");
	int n = query_ids("p.rvf", "0,0", ids);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 3);
	assert_int_equal(ids[1], 7);
	json_t *o = status("p.rvf");
	json_t *m = json_object_get(o, "membership");
	assert_string_equal(json_string_value(json_object_get(m, "mode")), "include");
	assert_int_equal(json_integer_value(json_object_get(m, "ids")), 2);
	json_decref(o);
	char *p = tu_path(dir, "ids.txt");
	tu_spit(p, "1\n2 3,\n", 7);
	free(p);
	OK("membership", "p.rvf", "--exclude", "--ids-file", "ids.txt");
	n = query_ids("p.rvf", "0,0", ids);
	assert_int_equal(n, 10);
	assert_int_equal(ids[0], 4);
	OK("membership", "p.rvf", "--show");
	assert_non_null(strstr(out, "exclude 3 ids"));
	OK("membership", "p.rvf", "--clear");
	n = query_ids("p.rvf", "0,0", ids);
	assert_int_equal(ids[0], 1);
	OK("status", "p.rvf");
	assert_non_null(strstr(out, "membership      none"));
	assert_int_equal(RVF("membership", "p.rvf", "--include"), 2);
	assert_int_equal(RVF("membership", "p.rvf", "--ids", "1"), 2);
	assert_int_equal(RVF("membership", "p.rvf", "--include", "--ids", "x"), 2);
}

static void branch_status_writes_flatten_and_missing_parent(void **state)
{
	uint64_t ids[10];
	(void)state;
	OK("branch", "p.rvf", "c.rvf");
	assert_int_equal(RVF("ingest", "p.rvf", "b.jsonl"), 1);   /* the parent is frozen now */
	OK("ingest", "c.rvf", "b.jsonl");
	OK("delete", "c.rvf", "--ids", "1");
	int n = query_ids("c.rvf", "0,0", ids);
	assert_int_equal(n, 10);
	assert_int_equal(ids[0], 30);
	assert_int_equal(ids[1], 2);
	json_t *o = status("c.rvf");
	assert_int_equal(json_integer_value(json_object_get(o, "live_vectors")), 20);
	assert_int_equal(json_integer_value(json_object_get(o, "lineage_depth")), 1);
	json_t *cw = json_object_get(o, "cow");
	assert_non_null(cw);
	assert_non_null(strstr(json_string_value(json_object_get(cw, "parent")), "p.rvf"));
	assert_int_equal(json_integer_value(json_object_get(cw, "hidden_parent_vectors")), 2);
	assert_int_equal(json_integer_value(json_object_get(cw, "local_vectors")), 2);
	assert_int_equal(json_integer_value(json_object_get(cw, "pending_writes")), 0);
	assert_true(json_integer_value(json_object_get(cw, "local_clusters")) >= 1);
	json_decref(o);
	OK("status", "c.rvf");
	assert_non_null(strstr(out, "cow parent"));
	/* branch of a branch */
	OK("branch", "c.rvf", "g.rvf");
	o = status("g.rvf");
	assert_int_equal(json_integer_value(json_object_get(o, "lineage_depth")), 2);
	json_decref(o);
	assert_int_equal(RVF("branch", "p.rvf", "c.rvf"), 1);      /* exists */
	/* the parent missing: named in the error */
	assert_int_equal(rename(at("p.rvf"), at("q.rvf")), 0);
	assert_int_equal(RVF("status", "c.rvf"), 1);
	assert_non_null(strstr(err, "p.rvf"));
	assert_non_null(strstr(err, "missing"));
	assert_int_equal(rename(at("q.rvf"), at("p.rvf")), 0);
	assert_int_equal(RVF("compact", "c.rvf", "--flatten"), 1);  /* frozen by the branch g */
	assert_int_equal(RVF("compact", "p.rvf", "--flatten"), 1);  /* frozen, and no branch */
	OK("compact", "g.rvf", "--flatten");
	o = status("g.rvf");
	assert_null(json_object_get(o, "cow"));
	json_decref(o);
	unlink(at("p.rvf"));
	unlink(at("c.rvf"));
	n = query_ids("g.rvf", "0,0", ids);
	assert_int_equal(n, 10);
	assert_int_equal(ids[0], 30);
	assert_int_equal(ids[1], 2);
	OK("verify", "g.rvf");
	OK("ingest", "g.rvf", "a.jsonl");
}

int main(void)
{
	const char *env = getenv("RVF_BIN");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(freeze_refuses_writes_and_shows_in_status, setup, teardown),
		cmocka_unit_test_setup_teardown(membership_include_exclude_ids_file_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(branch_status_writes_flatten_and_missing_parent, setup, teardown),
	};

	if (env && *env) {
		snprintf(rvf_bin, sizeof(rvf_bin), "%s", env);
	} else {
		char self[PATH_MAX - 16];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		assert_true(n > 0);
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(rvf_bin, sizeof(rvf_bin), "%s/../bin/rvf", self);
	}
	tu_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
