/*
 * testutil.h - shared helpers for rvf's cmocka tests: a private temp
 * directory per test, a printed and overridable random seed, a small PRNG,
 * and a visible SKIP.
 *
 * Every test binary includes <cmocka.h> after <stdarg.h> <stddef.h> <setjmp.h>
 * <stdint.h>; this header does that for you.
 */
#ifndef RVF_TESTUTIL_H
#define RVF_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <cmocka.h>

/* Make a fresh directory under $TMPDIR (or /tmp); returned owned (free()).
 * tu_rmrf removes it and everything below. */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);
/* path joined: returned owned. */
char *tu_path(const char *dir, const char *name);

/* Seed from $RVF_SEED or the clock; printed once as "seed: N". */
uint64_t tu_seed(void);

/* xoshiro256** PRNG. */
struct tu_rng { uint64_t s[4]; };
void tu_rng_init(struct tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(struct tu_rng *r);
/* uniform in [0, n) */
uint64_t tu_rng_below(struct tu_rng *r, uint64_t n);
/* uniform float in [0, 1) */
double tu_rng_unit(struct tu_rng *r);
void tu_rng_fill(struct tu_rng *r, void *buf, size_t len);

/* Print "SKIP: <reason>" and exit 77 (tests/run.sh counts it as skipped). */
__attribute__((noreturn, format(printf, 1, 2)))
void tu_skip(const char *fmt, ...);

/* Route rvf's log to stderr at the given level (default WARN). */
void tu_log_to_stderr(void);

/* rvf_simd_init, then "info: distance kernels: NAME" (the set this run's
 * figures are for): a forced RVF_SIMD set the CPU lacks fails here rather
 * than running on another set. 0, or 1 (the exit status) after saying why. */
int tu_simd_announce(void);

/* The directory of the Rust-written reference files: $RVF_FIXTURES, else
 * tests/fixtures/rvf-reference in the repository. Returned owned (free()),
 * or NULL when neither exists. */
char *tu_fixture_dir(void);

/* A path inside the repository (rel, e.g. "tests/fuzz/regress"): from the
 * working directory (make test runs at the repository root), else found
 * from the binary's path (<repo>/<build>/tests/<test>). Returned owned
 * (free()), or NULL when neither exists. */
char *tu_repo_path(const char *rel);

/* Whole-file read (returned owned, free(); NUL-terminated beyond *len) and
 * write; both fail the test on any error. */
void *tu_slurp(const char *path, size_t *len);
void tu_spit(const char *path, const void *buf, size_t len);

/* True when RVF_SOAK=1 (make soak): tests may run longer loops. */
bool tu_soak(void);

#endif
