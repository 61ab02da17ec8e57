/*
 * import_fixture.h - what the Rust-import suites (test_import,
 * test_import_hostile, test_import_crafted) share: finding and loading the
 * reference files, a digest helper, the quiet log.
 */
#ifndef RVF_TESTS_IMPORT_FIXTURE_H
#define RVF_TESTS_IMPORT_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "rust_fixtures.h"
#include "common/log.h"
#include "codec/ebpf.h"
#include "codec/hash.h"
#include "codec/kernel.h"
#include "codec/rust_import.h"
#include "rvf/format.h"
#include "rvf/payload.h"

/* ---- fixtures ------------------------------------------------------------- */

extern char *if_fixture_dir;
void if_find_fixtures(void);
uint8_t *if_load_fixture(const struct rust_fixture *fx, size_t *len);
void if_digest16(const struct rust_rvf *r, char out[17]);
int if_setup(void **state);

#endif
