/*
 * fuzz_dir_open - arbitrary bytes as a store file: open it read-only, list
 * and read every segment, vector index and the user metadata, and run the
 * checker. Any outcome but a crash or a sanitizer report is fine.
 *
 * Every input runs twice: as given, and resealed (fuzz_reseal.h: content,
 * snapshot and root-slot hashes made true again) so that mutations behind
 * the checksums reach recovery, the snapshot parser and the checker.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_reseal.h"
#include "fuzz_util.h"
#include "rvf/dir.h"
#include "rvf/error.h"

static void open_all(const char *path, const uint8_t *data, size_t len)
{
	struct rvf_dir *d = NULL;
	struct rvf_dir_segment *segs = NULL;
	uint32_t *fields = NULL;
	size_t n = 0, nf = 0;

	fuzz_write(path, data, len);
	if (rvf_dir_open_readonly(path, NULL, &d))
		return;
	if (!rvf_dir_segments(d, &segs, &n))
		for (size_t i = 0; i < n; i++) {
			void *buf = NULL;
			size_t l;
			if (!rvf_dir_read_segment(d, segs[i].id, &buf, &l))
				free(buf);
		}
	if (!rvf_dir_vector_index_fields(d, &fields, &nf))
		for (size_t i = 0; i < nf; i++) {
			void *buf = NULL;
			size_t l;
			if (!rvf_dir_read_vector_index(d, fields[i], &buf, &l))
				free(buf);
		}
	{
		void *buf = NULL;
		size_t l;
		if (!rvf_dir_user_metadata(d, &buf, &l))
			free(buf);
	}
	rvf_dir_check(d, NULL);
	free(segs);
	free(fields);
	rvf_dir_close(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char path[256];
	uint8_t *copy;

	rvf_set_log(fuzz_quiet, NULL, RVF_LOG_ERROR);
	if (!path[0])
		fuzz_path(path, sizeof(path), "dir");
	open_all(path, data, len);
	copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, data, len);
	reseal_store(copy, len);
	if (memcmp(copy, data, len))
		open_all(path, copy, len);
	free(copy);
	return 0;
}
