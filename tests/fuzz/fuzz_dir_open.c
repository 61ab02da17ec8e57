/*
 * fuzz_dir_open - arbitrary bytes as a store file: open it read-only, list
 * and read every segment, vector index and the user metadata, and run the
 * checker. Any outcome but a crash or a sanitizer report is fine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "rvf/dir.h"
#include "rvf/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char path[256];
	struct rvf_dir *d = NULL;
	struct rvf_dir_segment *segs = NULL;
	uint32_t *fields = NULL;
	size_t n = 0, nf = 0;

	rvf_set_log(fuzz_quiet, NULL, RVF_LOG_ERROR);
	if (!path[0])
		fuzz_path(path, sizeof(path), "dir");
	fuzz_write(path, data, len);
	if (rvf_dir_open_readonly(path, NULL, &d))
		return 0;
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
	return 0;
}
