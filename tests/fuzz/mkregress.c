/*
 * mkregress - write the regression inputs that were crafted, not found:
 *
 *   mkregress OUTDIR     -> OUTDIR/<target>/<name>
 *
 * (built by `make fuzz-build` as build/fuzz/mkregress; what it writes is
 * copied into tests/fuzz/regress/ and replayed by make test). Each input
 * is made by a fuzz_craft.h function with the library itself, so it stays
 * a well-formed file with exactly one lie in it. Exit 1 on any failure.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_craft.h"
#include "rvf/error.h"

int main(int argc, char **argv)
{
	char path[4096];
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: mkregress OUTDIR\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/fuzz_dir_open", argv[1]);
	mkdir(argv[1], 0755);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fuzz_dir_open/dir-far-segment", argv[1]);
	err = craft_far_segment(path);
	if (err) {
		fprintf(stderr, "mkregress: %s: %s (%s)\n", path, rvf_strerror(err), rvf_last_error());
		return 1;
	}
	printf("%s\n", path);
	return 0;
}
