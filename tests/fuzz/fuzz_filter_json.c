/*
 * fuzz_filter_json - arbitrary text as a JSON filter. A tree that parses must
 * print back (rvf_filter_to_json) to text that parses to the same printout.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rvf/error.h"
#include "rvf/meta.h"

static void quiet(void *ctx, enum rvf_log_level l, const char *msg)
{
	(void)ctx; (void)l; (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct rvf_filter *f = NULL, *g = NULL;
	char *s = malloc(len + 1), *j1, *j2;

	rvf_set_log(quiet, NULL, RVF_LOG_ERROR);
	memcpy(s, data, len);
	s[len] = 0;
	if (rvf_filter_parse_json(s, &f) == 0) {
		j1 = rvf_filter_to_json(f);
		if (!j1 || rvf_filter_parse_json(j1, &g) != 0)
			abort();
		j2 = rvf_filter_to_json(g);
		if (!j2 || strcmp(j1, j2))
			abort();
		free(j1);
		free(j2);
		rvf_filter_free(g);
		rvf_filter_free(f);
	}
	free(s);
	return 0;
}
