/*
 * dir_fixture.h - what the directory suites (test_dir, test_dir_fail) share:
 * a temp directory and file per test, segment writers and readers.
 */
#ifndef RVF_TESTS_DIR_FIXTURE_H
#define RVF_TESTS_DIR_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rvf/dir.h"
#include "crashsim.h"
#include "testutil.h"

struct fx {
	char *dir;
	char *path;
};
int df_setup(void **state);
int df_teardown(void **state);
void df_fill(void *buf, size_t len, uint64_t seed);
void df_expect_segment(struct rvf_dir *d, uint64_t id, size_t len, uint64_t seed);
void df_put(struct rvf_dir *d, uint64_t id, uint8_t type, size_t len, uint64_t seed);

#endif
