/*
 * rvfd_fixture.c - see rvfd_fixture.h.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rvfd_fixture.h"

char *fx_shared_dir;
uint64_t fx_seed;

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir();
	f->store = tu_path(fx_shared_dir, "s1.rvf");
	f->store2 = tu_path(fx_shared_dir, "s2.rvf");
	assert_int_equal(rvf_store_open_readonly(f->store, NULL, &f->ro), 0);
	f->q = malloc(NQ * DIM * sizeof(float));
	fill_vectors(f->q, NQ, DIM, fx_seed ^ 0x5151);
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;

	kill_leftovers();
	rvf_store_close(f->ro);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->store);
	free(f->store2);
	free(f->q);
	free(f);
	return 0;
}

int fx_teardown_net(void **state)
{
	destroy_all_pairs();
	return fx_teardown(state);
}

int fx_run(const struct CMUnitTest *tests, size_t n)
{
	char *p;
	int rc;

	find_binary();
	bad_shape = (struct bad_shape){ .ns = NS1, .dim = DIM, .dim2 = DIM2 };
	if (access(rvfd_bin, X_OK)) {
		fprintf(stderr, "rvfd binary not found at %s (build it with make, or set RVFD_BIN)\n", rvfd_bin);
		return 1;
	}
	if (geteuid() != 0)
		tu_skip("the veth tests need root (network namespaces)");
	if (system("ip netns list >/dev/null 2>&1 && command -v nsenter >/dev/null"))
		tu_skip("ip netns / nsenter not available");
	printf("info: rvfd binary %s\n", rvfd_bin);
	/* fixed data unless asked: the stores are the same on every run */
	if (getenv("RVF_SEED") && *getenv("RVF_SEED")) {
		fx_seed = tu_seed();
	} else {
		fx_seed = 42;
		printf("seed: 42 (set RVF_SEED to change)\n");
	}
	tu_log_to_stderr();
	atexit(destroy_all_pairs);
	atexit(kill_leftovers);
	signal(SIGPIPE, SIG_IGN);

	fx_shared_dir = tu_tmpdir();
	p = tu_path(fx_shared_dir, "s1.rvf");
	build_store(p, NVEC, DIM, fx_seed, true);
	free(p);
	p = tu_path(fx_shared_dir, "s2.rvf");
	build_store(p, NVEC2, DIM2, fx_seed ^ 2, false);
	free(p);
	p = tu_path(fx_shared_dir, "s1024.rvf");
	build_store(p, 500, 1024, fx_seed ^ 1024, false);
	free(p);
	rc = _cmocka_run_group_tests("rvfd", tests, n, NULL, NULL);
	tu_rmrf(fx_shared_dir);
	free(fx_shared_dir);
	return rc;
}
