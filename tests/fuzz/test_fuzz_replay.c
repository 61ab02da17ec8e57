/*
 * test_fuzz_replay - `make test`'s share of the fuzzing: every input kept in
 * the repository for a fuzz target, tests/fuzz/regress/<target>/ (each crash
 * a campaign found, kept after its fix) and tests/fuzz/seeds/<target>/, runs
 * through that target's own entry point: tests/fuzz/fuzz_<target>.c built
 * with ASan+UBSan but without libFuzzer, its LLVMFuzzerTestOneInput renamed
 * rvf_fuzz_<target> (Makefile, FUZZ_ENTRY_OBJS). So a regression input
 * exercises exactly the checks the fuzzer ran, whatever they assert.
 *
 * Each input runs in a child process: a crash, sanitizer report, leak or
 * abort() names its file and the other inputs still run.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* libFuzzer refuses any single allocation above its -malloc_limit_mb (by
 * default -rss_limit_mb, 2048 in tools/fuzz.sh); ASan does the same here, so
 * an input kept for an out-of-memory report fails its replay too. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "max_allocation_size_mb=2048";
}

typedef int (*fuzz_fn)(const uint8_t *data, size_t len);

#define TARGETS(X) \
	X(fuzz_dir_open) X(fuzz_filter_json) X(fuzz_hnsw_delta) X(fuzz_hnsw_load) X(fuzz_input) \
	X(fuzz_rust_import) X(fuzz_segments) X(fuzz_store_open) X(fuzz_wire)

#define DECLARE(t) int rvf_##t(const uint8_t *data, size_t len);
TARGETS(DECLARE)
#define ENTRY(t) { #t, rvf_##t },
static const struct { const char *name; fuzz_fn fn; } targets[] = { TARGETS(ENTRY) };
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

static int known_target(const char *name)
{
	for (size_t i = 0; i < NTARGETS; i++)
		if (!strcmp(targets[i].name, name))
			return 1;
	return 0;
}

/* A dir listing, sorted, without dot files; NULL when dir is absent. */
static struct dirent **list(const char *dir, int *n)
{
	struct dirent **de = NULL;
	int k = scandir(dir, &de, NULL, alphasort), m = 0;

	if (k < 0) {
		*n = 0;
		return NULL;
	}
	for (int i = 0; i < k; i++) {
		if (de[i]->d_name[0] == '.')
			free(de[i]);
		else
			de[m++] = de[i];
	}
	*n = m;
	return de;
}

static void free_list(struct dirent **de, int n)
{
	for (int i = 0; i < n; i++)
		free(de[i]);
	free(de);
}

/* The test binary links every entry it names; a new fuzz_*.c without an
 * entry here would silently never be replayed. */
static void every_fuzz_target_is_replayed(void **state)
{
	char *dir = tu_repo_path("tests/fuzz");
	struct dirent **de;
	int n, found = 0;
	(void)state;

	assert_non_null(dir);
	de = list(dir, &n);
	for (int i = 0; i < n; i++) {
		const char *nm = de[i]->d_name;
		size_t l = strlen(nm);
		char base[256];

		if (strncmp(nm, "fuzz_", 5) || l < 3 || strcmp(nm + l - 2, ".c") || l - 2 >= sizeof(base))
			continue;
		memcpy(base, nm, l - 2);
		base[l - 2] = '\0';
		if (!known_target(base))
			fail_msg("tests/fuzz/%s has no entry in test_fuzz_replay's TARGETS", nm);
		found++;
	}
	assert_int_equal(found, (int)NTARGETS);
	free_list(de, n);
	free(dir);
}

/* A misspelt directory under regress/ or seeds/ would be skipped, not replayed. */
static void every_input_directory_names_a_target(void **state)
{
	static const char *const roots[] = { "tests/fuzz/regress", "tests/fuzz/seeds" };
	(void)state;

	for (size_t r = 0; r < 2; r++) {
		char *dir = tu_repo_path(roots[r]);
		struct dirent **de;
		int n;

		if (!dir)
			continue;
		de = list(dir, &n);
		for (int i = 0; i < n; i++)
			if (!known_target(de[i]->d_name))
				fail_msg("%s/%s is not a fuzz target", roots[r], de[i]->d_name);
		free_list(de, n);
		free(dir);
	}
}

/* Run one input in a child; 0 when it returned normally and exit()
 * (LeakSanitizer runs there) succeeded. */
static int replay_one(fuzz_fn fn, const char *path, char *why, size_t why_len)
{
	pid_t pid;
	int st = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t len;
		uint8_t *buf = tu_slurp(path, &len);

		/* a hang guard, not a time limit: these inputs take milliseconds */
		alarm(600);
		fn(buf, len);
		free(buf);
		exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		snprintf(why, why_len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(why, why_len, "exit status %d (sanitizer report above)", WEXITSTATUS(st));
	return -1;
}

static void kept_inputs_replay_cleanly_through_their_targets(void **state)
{
	static const char *const kinds[] = { "regress", "seeds" };
	size_t counts[2] = { 0, 0 }, bad = 0;
	(void)state;

	for (size_t t = 0; t < NTARGETS; t++) {
		for (size_t k = 0; k < 2; k++) {
			char rel[256], *dir;
			struct dirent **de;
			int n;

			snprintf(rel, sizeof(rel), "tests/fuzz/%s/%s", kinds[k], targets[t].name);
			dir = tu_repo_path(rel);
			if (!dir)
				continue;
			de = list(dir, &n);
			for (int i = 0; i < n; i++) {
				char *p = tu_path(dir, de[i]->d_name), why[128];

				if (replay_one(targets[t].fn, p, why, sizeof(why))) {
					printf("FAIL: %s: %s/%s: %s\n", targets[t].name, rel, de[i]->d_name, why);
					bad++;
				}
				counts[k]++;
				free(p);
			}
			free_list(de, n);
			free(dir);
		}
	}
	printf("info: fuzz replay: %zu regression inputs and %zu seeds through %zu targets\n", counts[0],
	       counts[1], NTARGETS);
	if (counts[0] + counts[1] == 0)
		fail_msg("no inputs found under tests/fuzz/regress or tests/fuzz/seeds");
	if (bad)
		fail_msg("%zu kept fuzz inputs fail (listed above)", bad);
}

/* The children's scratch files (fuzz_util.h) go to a private directory,
 * removed afterwards: each child has its own pid, so its own file. */
static int scratch_setup(void **state)
{
	char *dir = tu_tmpdir();

	setenv("RVF_FUZZ_TMP", dir, 1);
	*state = dir;
	return 0;
}

static int scratch_teardown(void **state)
{
	tu_rmrf(*state);
	free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_fuzz_target_is_replayed),
		cmocka_unit_test(every_input_directory_names_a_target),
		cmocka_unit_test_setup_teardown(kept_inputs_replay_cleanly_through_their_targets,
						scratch_setup, scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
