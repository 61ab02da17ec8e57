/*
 * cli_fixture.h - what the rvf CLI suites (tests/cli/test_cli*.c) share: the
 * rvf binary and fixture paths, a private temp directory per test (the
 * children's cwd), running rvf as a child process with its exit status,
 * stdout and stderr, writing input files, reading a store back through
 * `rvf dump` and `rvf status --json`.
 */
#ifndef RVF_TESTS_CLI_FIXTURE_H
#define RVF_TESTS_CLI_FIXTURE_H

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

extern char cf_rvf_bin[PATH_MAX];
extern char cf_fixture_dir[PATH_MAX];
extern char *cf_dir; /* this test's temp dir (the children's cwd) */
extern struct tu_rng cf_rng;

/* ---- running the tool ----------------------------------------------------- */

struct res {
	int code;              /* exit status, or 128 + signal */
	char *out, *err;
	size_t out_len;
	char cmd[1024];
};
extern struct res cf_R;

enum { RUN_PLAIN = 0, RUN_RDONLY_FS = 1 };
extern const char *cf_run_env[4]; /* extra NAME=VALUE for the child, NULL-terminated */
char *cf_slurp(const char *path, size_t *len);
/* Run rvf with argv (NULL-terminated) in dir; output kept in R. */
int cf_run_argv(int mode, char *const *args);

#define RVF(...) cf_run_argv(RUN_PLAIN, (char *const[]){ __VA_ARGS__, NULL })
void cf_show_run(void);

/* The last run exited with code; on mismatch print everything and fail. */
#define EXPECT_CODE(want) do {                                                  \
		if (cf_R.code != (want)) {                                         \
			cf_show_run();                                             \
			fail_msg("rvf exited %d, expected %d", cf_R.code, (want)); \
		}                                                               \
	} while (0)
#define EXPECT_OUT(s) do {                                                      \
		if (!strstr(cf_R.out, (s))) {                                      \
			cf_show_run();                                             \
			fail_msg("stdout lacks \"%s\"", (s));                   \
		}                                                               \
	} while (0)
#define EXPECT_ERR(s) do {                                                      \
		if (!strcasestr(cf_R.err, (s))) {                                  \
			cf_show_run();                                             \
			fail_msg("stderr lacks \"%s\"", (s));                   \
		}                                                               \
	} while (0)

/* Run and require success. */
#define OK(...) do { RVF(__VA_ARGS__); EXPECT_CODE(0); } while (0)
/* ---- input files ---------------------------------------------------------- */

char *cf_tpath(const char *name);
void cf_write_bytes(const char *name, const void *p, size_t n);
float *cf_rand_vecs(size_t n, uint32_t dim);
void cf_write_fvecs(const char *name, const float *v, size_t n, uint32_t dim);
/* jsonl with metadata: field 0 "even"/"odd" by id, field 1 u64 id, field 2 f64 */
void cf_write_jsonl(const char *name, const float *v, size_t n, uint32_t dim, uint64_t id0);

/* The store's live vectors through `rvf dump`: ids ascending, vectors. */
struct dumped {
	size_t n;
	uint64_t *id;
	float *v;
	uint32_t dim;
	json_t **meta;
};
void cf_dumped_free(struct dumped *d);
void cf_dump_store(const char *store, struct dumped *d);
const float *cf_dumped_vec(const struct dumped *d, uint64_t id);
json_t *cf_status_json(const char *store);
long long cf_jint(json_t *o, const char *key);
const char *cf_jstr(json_t *o, const char *key);
long long cf_live_count(const char *store);
/* A store of n random 8-d vectors (ids 0..n-1) from fvecs; returns them. */
float *cf_make_store(const char *store, size_t n, const char *metric);
/* ---- fixtures ------------------------------------------------------------- */

int cf_setup(void **state);
int cf_teardown(void **state);
/* ---- main ----------------------------------------------------------------- */

void cf_find_paths(const char *argv0);
/* Find the rvf binary and the fixtures from argv0, seed the generator, log
 * to stderr. 0, or 1 (the exit status) after saying why. */
int cf_suite_init(const char *argv0);

#endif
