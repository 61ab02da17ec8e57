/*
 * import_fixture.c - see import_fixture.h.
 */
#include "import_fixture.h"

char *if_fixture_dir;

void if_find_fixtures(void)
{
	if_fixture_dir = tu_fixture_dir();
	if (!if_fixture_dir)
		tu_skip("reference fixtures not found (tests/fixtures/rvf-reference; or set RVF_FIXTURES)");
}

uint8_t *if_load_fixture(const struct rust_fixture *fx, size_t *len)
{
	char *p = tu_path(if_fixture_dir, fx->file);
	uint8_t *b = tu_slurp(p, len);

	free(p);
	return b;
}

void if_digest16(const struct rust_rvf *r, char out[17])
{
	uint8_t d[32];

	assert_int_equal(rust_rvf_live_digest(r, d), 0);
	hex_encode(d, 8, out);
}

int if_setup(void **state)
{
	(void)state;
	/* No log sink: thousands of rejections stay quiet; rvf_last_error()
	 * still records each message for the checks above. */
	rvf_set_log(NULL, NULL, RVF_LOG_ERROR);
	return 0;
}
