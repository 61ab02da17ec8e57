/*
 * dir_fixture.c - see dir_fixture.h.
 */
#include "dir_fixture.h"

int df_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir();
	f->path = tu_path(f->dir, "s.rvf");
	*state = f;
	return 0;
}

int df_teardown(void **state)
{
	struct fx *f = *state;

	crashsim_uninstall();
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

void df_fill(void *buf, size_t len, uint64_t seed)
{
	struct tu_rng r;

	tu_rng_init(&r, seed);
	tu_rng_fill(&r, buf, len);
}

void df_expect_segment(struct rvf_dir *d, uint64_t id, size_t len, uint64_t seed)
{
	void *buf = NULL, *want = malloc(len ? len : 1);
	size_t got = 0;

	df_fill(want, len, seed);
	assert_int_equal(rvf_dir_read_segment(d, id, &buf, &got), 0);
	assert_int_equal(got, len);
	assert_memory_equal(buf, want, len);
	assert_int_equal((uintptr_t)buf % 64, 0);
	free(buf);
	free(want);
}

void df_put(struct rvf_dir *d, uint64_t id, uint8_t type, size_t len, uint64_t seed)
{
	void *buf = malloc(len ? len : 1);

	df_fill(buf, len, seed);
	assert_int_equal(rvf_dir_write_segment(d, id, type, buf, len), 0);
	free(buf);
}
