/*
 * rvfd_fixture.h - the stores and the per-test fixture that test_rvfd.c and
 * test_rvfd_filter.c share: three stores built once per binary from fixed
 * seeds (RVF_SEED changes them), a private directory per test, and the
 * checks and clean-up every one of these binaries needs (the rvfd binary,
 * root, ip netns, daemons and namespaces removed at exit).
 */
#ifndef RVF_TESTS_RVFD_FIXTURE_H
#define RVF_TESTS_RVFD_FIXTURE_H

#include "rvfd_harness.h"

#define DIM    32
#define NVEC   2000
#define DIM2   16
#define NVEC2  300
#define NS1    1
#define NS2    7
#define NQ     300

/* fx_shared_dir/s1.rvf: NVEC x DIM, metadata field 0 = i % 10 (NS1);
 * s2.rvf: NVEC2 x DIM2 (NS2); s1024.rvf: 500 x 1024. Read-only for most
 * tests; tests that write make their own copy. */
extern char *fx_shared_dir;
extern uint64_t fx_seed;

struct fx {
	char *dir;        /* this test's own directory (daemon output) */
	char *store;      /* s1.rvf */
	char *store2;     /* s2.rvf */
	struct rvf_store *ro;   /* s1.rvf, read-only, for in-process answers */
	float *q;         /* query vectors, NQ x DIM */
};

int fx_setup(void **state);
int fx_teardown(void **state);
int fx_teardown_net(void **state);      /* also removes the veth pairs */

/* The whole binary: checks (skip without root or ip netns), seed, stores,
 * the group run, clean-up. Returns main's exit status. */
int fx_run(const struct CMUnitTest *tests, size_t n);

#endif
