/*
 * test_import_hostile.c - the Rust-file reader on hostile input: truncation,
 * byte flips, garbage, directories, mutated files with fixed-up hashes: each
 * fails cleanly or changes nothing, without tripping ASan/UBSan.
 *
 * Fixtures: $RVF_FIXTURES, else tests/fixtures/rvf-reference (copies of
 * the work area's reference files; tu_fixture_dir).
 */
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
#include "import_fixture.h"

/* ---- hostile fixtures ---------------------------------------------------- */

/* Offsets of every segment header in a fixture. */
static size_t seg_offsets(const uint8_t *b, size_t len, size_t *offs, size_t max)
{
	size_t n = 0, off = 0;

	while (off + RVF_SEG_HEADER_SIZE <= len && n < max) {
		uint64_t plen;

		memcpy(&plen, b + off + 0x10, 8);
		offs[n++] = off;
		off += RVF_SEG_HEADER_SIZE + plen;
	}
	return n;
}

static bool is_boundary(const size_t *offs, size_t n, size_t at)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (offs[i] == at)
			return true;
	return false;
}

static void truncated_fixtures_fail(void **state)
{
	struct tu_rng rng;
	size_t i, k;

	(void)state;
	tu_rng_init(&rng, tu_seed());
	for (i = 0; i < RUST_N_FIXTURES; i++) {
		size_t len, offs[16], nseg, cuts = 0;
		uint8_t *b = if_load_fixture(&rust_fixtures[i], &len);

		nseg = seg_offsets(b, len, offs, 16);
		for (k = 0; k < 600; k++) {
			struct rust_rvf *r = NULL;
			size_t cut;
			uint8_t *t;
			int err;

			if (k < 130)
				cut = k;                                /* 0..129 */
			else if (k < 130 + 6 * nseg) {                  /* around headers */
				static const long d[6] = { -1, 1, 63, 64, 65, 70 };
				long c = (long)offs[(k - 130) / 6] + d[(k - 130) % 6];

				if (c < 0 || (size_t)c >= len)
					continue;
				cut = (size_t)c;
			} else if (k < 140 + 6 * nseg)
				cut = len - 1 - (k - 130 - 6 * nseg);   /* the last bytes */
			else
				cut = tu_rng_below(&rng, len);
			/* a copy of exactly cut bytes, so ASan sees any over-read */
			t = malloc(cut ? cut : 1);
			assert_non_null(t);
			memcpy(t, b, cut);
			err = rust_rvf_parse(t, cut, rust_fixtures[i].file, &r);
			if (err >= 0 && is_boundary(offs, nseg, cut)) {
				/* cut exactly between segments: a valid earlier file,
				 * whose live manifest must be an earlier one */
				assert_true(r->manifest_offset < offs[nseg - 1]);
				assert_true(r->n_live <= rust_fixtures[i].live);
				rust_rvf_free(r);
				free(t);
				continue;
			}
			if (err >= 0)
				fail_msg("%s truncated to %zu bytes parsed", rust_fixtures[i].file, cut);
			assert_null(r);
			free(t);
			cuts++;
		}
		assert_true(cuts > 500);
		free(b);
	}
}

static void truncated_file_on_disk_fails(void **state)
{
	char *dir = tu_tmpdir(), *p = tu_path(dir, "t.rvf");
	size_t len, cuts[] = { 1, 63, 64, 100, 161, 163, 5000 };
	uint8_t *b = if_load_fixture(&rust_fixtures[5], &len);
	size_t i;

	(void)state;
	/* 162 is where the second segment starts: that cut is a valid file
	 * holding only the empty manifest create() wrote */
	{
		struct rust_rvf *r = NULL;
		FILE *f = fopen(p, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, 162, f), 162);
		fclose(f);
		assert_int_equal(rust_rvf_read(p, &r), 0);
		assert_int_equal(r->n_live, 0);
		assert_int_equal(r->epoch, 0);
		rust_rvf_free(r);
	}
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct rust_rvf *r = NULL;
		FILE *f = fopen(p, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, cuts[i], f), cuts[i]);
		fclose(f);
		assert_true(rust_rvf_read(p, &r) < 0);
		assert_null(r);
		assert_non_null(strstr(rvf_last_error(), p));
	}
	/* a file shortened by its last byte */
	{
		struct rust_rvf *r = NULL;
		FILE *f = fopen(p, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, len - 1, f), len - 1);
		fclose(f);
		assert_int_equal(rust_rvf_read(p, &r), -EUCLEAN);
	}
	free(b);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* Which header bytes the reader ignores: timestamp_ns, flags bits other than
 * COMPRESSED/ENCRYPTED, and the live manifest's own segment_id. A flip there
 * may parse, and must then give exactly the unflipped result. */
static void flipped_fixture_bytes_fail_or_change_nothing(void **state)
{
	struct tu_rng rng;
	size_t i, k;

	(void)state;
	tu_rng_init(&rng, tu_seed() ^ 0xf11b);
	for (i = 0; i < RUST_N_FIXTURES; i++) {
		const struct rust_fixture *fx = &rust_fixtures[i];
		size_t len, offs[16], nseg, s, flips, tried = 0, passed = 0;
		uint8_t *b = if_load_fixture(fx, &len);
		char want[17];
		struct rust_rvf *good = NULL;

		assert_int_equal(rust_rvf_parse(b, len, fx->file, &good), 0);
		if_digest16(good, want);
		nseg = seg_offsets(b, len, offs, 16);
		/* the small kernel fixture is flipped at every byte; others sampled,
		 * always including every header byte */
		flips = len <= 20000 ? len : 3000 + nseg * RVF_SEG_HEADER_SIZE;
		for (k = 0; k < flips; k++) {
			struct rust_rvf *r = NULL;
			size_t at, in_seg = 0;
			uint8_t x = (uint8_t)(1 + tu_rng_below(&rng, 255));
			bool in_hdr;
			int err;

			if (len <= 20000)
				at = k;
			else if (k < nseg * RVF_SEG_HEADER_SIZE)
				at = offs[k / RVF_SEG_HEADER_SIZE] + k % RVF_SEG_HEADER_SIZE;
			else
				at = tu_rng_below(&rng, len);
			for (s = 0; s < nseg; s++)
				if (offs[s] <= at)
					in_seg = s;
			in_hdr = at - offs[in_seg] < RVF_SEG_HEADER_SIZE;
			b[at] ^= x;
			err = rust_rvf_parse(b, len, fx->file, &r);
			b[at] ^= x;
			tried++;
			if (!in_hdr) {
				/* every payload byte of every fixture segment is hashed */
				if (err != -EBADMSG)
					fail_msg("%s: flip at %zu (payload) gave %d", fx->file, at, err);
				continue;
			}
			if (err < 0) {
				assert_null(r);
				continue;
			}
			if (in_seg == nseg - 1 && at - offs[in_seg] == 0x05) {
				/* the live manifest's type byte now says e.g. KERNEL: the
				 * file reads as a crash after the previous commit */
				assert_true(r->epoch < good->epoch);
				rust_rvf_free(r);
				continue;
			}
			{
				char got[17];
				size_t field = at - offs[in_seg];

				passed++;
				if_digest16(r, got);
				assert_string_equal(got, want);
				assert_int_equal(r->n_live, good->n_live);
				assert_memory_equal(&r->identity, &good->identity, sizeof(r->identity));
				if (!((field >= 0x18 && field < 0x20) || field == 0x06 || field == 0x07 ||
				      field >= 0x3C ||
				      (in_seg == nseg - 1 && field >= 0x08 && field < 0x10)))
					fail_msg("%s: flip at %zu (header field 0x%zx) parsed",
						 fx->file, at, field);
				rust_rvf_free(r);
			}
		}
		assert_true(tried >= 3000 || tried == len);
		assert_true(passed > 0);        /* timestamps are ignored, so some pass */
		rust_rvf_free(good);
		free(b);
	}
}

static void empty_garbage_and_directories_fail(void **state)
{
	char *dir = tu_tmpdir(), *p = tu_path(dir, "x.rvf");
	struct rust_rvf *r = NULL;
	struct tu_rng rng;
	uint8_t *g;
	size_t k;
	FILE *f;

	(void)state;
	tu_rng_init(&rng, tu_seed() ^ 0x9a4b);
	f = fopen(p, "wb");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(rust_rvf_read(p, &r), -ENOEXEC);
	assert_non_null(strstr(rvf_last_error(), "empty"));
	assert_int_equal(rust_rvf_parse(NULL, 0, "empty", &r), -ENOEXEC);
	assert_int_equal(rust_rvf_read(dir, &r), -EISDIR);
	assert_int_equal(rust_rvf_read("/nonexistent/x.rvf", &r), -ENOENT);
	assert_int_equal(rust_rvf_read("/dev/null", &r), -EINVAL);
	assert_int_equal(rust_rvf_parse(NULL, 5, "x", &r), -EINVAL);
	assert_null(r);

	g = malloc(70000);
	assert_non_null(g);
	for (k = 0; k < 400; k++) {
		size_t n = 1 + tu_rng_below(&rng, k < 200 ? 200 : 70000);
		int err;

		tu_rng_fill(&rng, g, n);
		if (k & 1) {            /* a plausible first header over garbage */
			uint32_t m = RVF_SEG_MAGIC;

			if (n >= 6) {
				memcpy(g, &m, 4);
				g[4] = 1;
				g[5] = (uint8_t)(k % 3 ? RVF_SEG_MANIFEST : RVF_SEG_VEC);
			}
		}
		err = rust_rvf_parse(g, n, "garbage", &r);
		if (err >= 0)
			fail_msg("%zu bytes of garbage parsed", n);
		assert_null(r);
	}
	free(g);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* Random structural damage with hashes recomputed afterwards, so the parser
 * itself (not the hash) must cope. Success is allowed; crashes are not. */
static void mutated_files_with_fixed_hashes_never_crash(void **state)
{
	struct tu_rng rng;
	size_t len, k, iters = tu_soak() ? 200000 : 20000, ok = 0;
	uint8_t *orig = if_load_fixture(&rust_fixtures[5], &len), *b = malloc(len + 256);

	(void)state;
	assert_non_null(b);
	tu_rng_init(&rng, tu_seed() ^ 0x3e3e);
	for (k = 0; k < iters; k++) {
		struct rust_rvf *r = NULL;
		size_t n = len, off = 0, j, nmut = 1 + tu_rng_below(&rng, 4);
		int err;

		memcpy(b, orig, len);
		for (j = 0; j < nmut; j++) {
			size_t at = tu_rng_below(&rng, n);

			switch (tu_rng_below(&rng, 4)) {
			case 0:
				b[at] = (uint8_t)tu_rng_next(&rng);
				break;
			case 1:         /* a small integer, often a length or count */
				b[at] = (uint8_t)tu_rng_below(&rng, 4);
				break;
			case 2:
				n = at;
				break;
			default:
				memset(b + at, 0xFF, n - at < 4 ? n - at : 4);
				break;
			}
		}
		/* re-hash every segment the walk can still see */
		while (off + RVF_SEG_HEADER_SIZE <= n) {
			struct rvf_seg_hdr h;

			memcpy(&h, b + off, sizeof(h));
			if (h.payload_length > n - off - RVF_SEG_HEADER_SIZE)
				break;
			if (h.checksum_algo == 0)
				rust_content_hash(b + off + 64, h.payload_length,
						  b + off + offsetof(struct rvf_seg_hdr, content_hash));
			off += RVF_SEG_HEADER_SIZE + h.payload_length;
		}
		{
			/* an exact-size copy so ASan sees any over-read */
			uint8_t *t = malloc(n ? n : 1);

			assert_non_null(t);
			memcpy(t, b, n);
			err = rust_rvf_parse(t, n, "mutated", &r);
			free(t);
		}
		if (!err) {
			ok++;
			assert_true(r->dim > 0);
			for (j = 1; j < r->n_live; j++)
				assert_true(r->ids[j - 1] < r->ids[j]);
			for (j = 0; j < r->n_carried; j++)
				assert_true(r->carried[j].raw_len == 64 + r->carried[j].payload_len);
		} else {
			assert_null(r);
		}
		rust_rvf_free(r);
	}
	printf("info: %zu of %zu mutated files parsed\n", ok, iters);
	free(b);
	free(orig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(truncated_fixtures_fail),
		cmocka_unit_test(truncated_file_on_disk_fails),
		cmocka_unit_test(flipped_fixture_bytes_fail_or_change_nothing),
		cmocka_unit_test(empty_garbage_and_directories_fail),
		cmocka_unit_test(mutated_files_with_fixed_hashes_never_crash),
	};

	if_find_fixtures();
	printf("fixtures: %s\n", if_fixture_dir);
	return cmocka_run_group_tests(tests, if_setup, NULL);
}
