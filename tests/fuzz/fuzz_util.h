/*
 * fuzz_util.h - shared by the fuzz targets (and, through them, the replay
 * test): a per-process scratch file and a quiet log sink.
 *
 * Targets that need a file write the input to one fixed path per process.
 * It lives in $RVF_FUZZ_TMP, else /dev/shm (tmpfs: a store create or import
 * fsyncs several times per input, and on a real disk that, not the parsers,
 * would set the exec rate), else $TMPDIR or /tmp. The replay test forks per
 * input, so every child gets its own path.
 */
#ifndef RVF_FUZZ_UTIL_H
#define RVF_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rvf/error.h"

static inline void fuzz_quiet(void *ctx, enum rvf_log_level l, const char *msg)
{
	(void)ctx; (void)l; (void)msg;
}

/* "<scratch dir>/rvf-fuzz-<tag>-<pid>" into buf. */
static inline void fuzz_path(char *buf, size_t n, const char *tag)
{
	const char *dir = getenv("RVF_FUZZ_TMP");
	struct stat st;

	if (!dir || !*dir)
		dir = !stat("/dev/shm", &st) && S_ISDIR(st.st_mode) && !access("/dev/shm", W_OK)
			      ? "/dev/shm" : getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	if (snprintf(buf, n, "%s/rvf-fuzz-%s-%d", dir, tag, (int)getpid()) >= (int)n)
		abort();
}

/* Replace path's contents with data[0..len); any failure aborts (the
 * harness, not the code under test, broke). */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd))
		abort();
}

#endif
