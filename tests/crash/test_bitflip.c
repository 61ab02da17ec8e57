/*
 * test_bitflip.c - flip bytes across every region of a committed file (both
 * root slots, the metadata snapshots, segment headers and payloads, the
 * vector index, free space) and require that opening and reading either
 * fails with a clear error or yields exactly one of the two committed states
 * the roots point at. Never a crash (this runs under ASan+UBSan), never
 * wrong data, never a mix of the two states, and never a modified file.
 *
 * The file holds generation 2 (state A) and generation 3 (state B); the two
 * root slots point at them, so a damaged newest root or snapshot must fall
 * back to A (any byte of a root is under its checksum, so a flipped one is
 * never accepted, even where no other check would notice), and damage
 * anywhere else must leave B readable or give an error for the damaged
 * part only.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rvf/dir.h"
#include "rvf/error.h"
#include "rvf/format.h"
#include "testutil.h"

#define NSEG 8

struct blob { uint8_t *p; size_t len; int present; uint8_t type; };

struct state {
	struct blob seg[NSEG];
	struct blob vidx;
	struct blob user;
};

static struct state st_a, st_b;

static void blob_set(struct blob *b, struct tu_rng *r, size_t len, uint8_t type)
{
	free(b->p);
	b->p = malloc(len ? len : 1);
	b->len = len;
	b->type = type;
	b->present = 1;
	tu_rng_fill(r, b->p, len);
}

static void blob_copy(struct blob *d, const struct blob *s)
{
	*d = *s;
	d->p = malloc(s->len ? s->len : 1);
	if (s->len)
		memcpy(d->p, s->p, s->len);
}

static void state_copy(struct state *dst, const struct state *src)
{
	for (int i = 0; i < NSEG; i++)
		blob_copy(&dst->seg[i], &src->seg[i]);
	blob_copy(&dst->vidx, &src->vidx);
	blob_copy(&dst->user, &src->user);
}

static void state_write(struct rvf_dir *d, const struct state *s, const struct state *prev)
{
	for (uint64_t i = 0; i < NSEG; i++) {
		if (s->seg[i].present) {
			if (prev && prev->seg[i].present && prev->seg[i].p == s->seg[i].p)
				continue;
			assert_int_equal(rvf_dir_write_segment(d, i, s->seg[i].type, s->seg[i].p, s->seg[i].len), 0);
		} else if (prev && prev->seg[i].present) {
			assert_int_equal(rvf_dir_remove_segments(d, &i, 1), 1);
		}
	}
	assert_int_equal(rvf_dir_write_vector_index(d, 7, s->vidx.p, s->vidx.len), 0);
	assert_int_equal(rvf_dir_set_user_metadata(d, s->user.p, s->user.len), 0);
	assert_int_equal(rvf_dir_commit(d), 0);
}

/*
 * Compare what d holds with s. Returns 1 on an exact match, 0 on a mismatch
 * that came with an error for the damaged part (a read failed), and -1 when
 * d returned data that differs from s (wrong data: the failure this test is
 * about).
 */
static int compare(struct rvf_dir *d, const struct state *s, int *errors)
{
	struct rvf_dir_segment *segs = NULL;
	size_t n = 0, want = 0;
	void *buf;
	size_t len;
	int err;

	*errors = 0;
	if (rvf_dir_segments(d, &segs, &n))
		return -1;
	for (int i = 0; i < NSEG; i++)
		want += s->seg[i].present;
	if (n != want) {
		free(segs);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct blob *b = segs[i].id < NSEG ? &s->seg[segs[i].id] : NULL;
		if (!b || !b->present || b->type != segs[i].type || b->len != segs[i].payload_len) {
			free(segs);
			return -1;
		}
		buf = NULL;
		err = rvf_dir_read_segment(d, segs[i].id, &buf, &len);
		if (err) {
			assert_true(err == -EBADMSG || err == -EUCLEAN || err == -EIO);
			(*errors)++;
		} else if (len != b->len || memcmp(buf, b->p, len)) {
			free(buf);
			free(segs);
			return -1;
		}
		free(buf);
	}
	free(segs);

	buf = NULL;
	err = rvf_dir_read_vector_index(d, 7, &buf, &len);
	if (err) {
		assert_true(err == -EBADMSG || err == -EUCLEAN || err == -EIO);
		(*errors)++;
	} else if (len != s->vidx.len || memcmp(buf, s->vidx.p, len)) {
		free(buf);
		return -1;
	}
	free(buf);

	buf = NULL;
	err = rvf_dir_user_metadata(d, &buf, &len);
	if (err) {
		assert_true(err == -EBADMSG || err == -EUCLEAN || err == -EIO);
		(*errors)++;
	} else if (len != s->user.len || memcmp(buf, s->user.p, len)) {
		free(buf);
		return -1;
	}
	free(buf);
	return *errors ? 0 : 1;
}

static void poke(const char *path, size_t off, uint8_t v)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &v, 1, (off_t)off), 1);
	close(fd);
}

struct tally {
	uint64_t trials, open_failed, state_b, state_a, b_with_errors, a_with_errors;
	uint64_t newest_root_refused;
};

/* Where the root of generation 3 (state B) lives: every byte of it is
 * covered by its checksum, so a flip there must never open state B. */
static size_t newest_root;

/* One damaged file: open (read-only or writable), classify, check nothing
 * was written. */
static void trial(const char *path, const uint8_t *orig, size_t flen, size_t off, uint8_t x,
		  int writable, struct tally *t)
{
	struct rvf_dir_opts o = { 0 };
	struct rvf_dir *d = NULL;
	uint8_t *after;
	size_t alen;
	int err, errs = 0, verdict;
	int in_newest = off >= newest_root && off < newest_root + RVF_ROOT_SLOT_SIZE;

	poke(path, off, orig[off] ^ x);
	err = writable ? rvf_dir_open(path, &o, &d) : rvf_dir_open_readonly(path, &o, &d);
	t->trials++;
	t->newest_root_refused += (uint64_t)in_newest;   /* unless accepted below */
	if (err) {
		/* a clear error, with a message naming the file */
		assert_true(err == -EBADMSG || err == -EUCLEAN || err == -ENOEXEC || err == -ENOTSUP ||
			    err == -EIO);
		assert_non_null(strstr(rvf_last_error(), path));
		t->open_failed++;
	} else {
		uint64_t gen = rvf_dir_generation(d);
		const struct state *s = gen == 3 ? &st_b : gen == 2 ? &st_a : NULL;
		if (!s)
			fail_msg("flip at 0x%zx ^%02x: opened generation %llu", off, x,
				 (unsigned long long)gen);
		if (in_newest && gen == 3)
			fail_msg("flip at 0x%zx ^%02x: the damaged newest root was accepted", off, x);
		verdict = compare(d, s, &errs);
		if (verdict < 0)
			fail_msg("flip at 0x%zx ^%02x: generation %llu returned wrong data", off, x,
				 (unsigned long long)gen);
		if (verdict == 1 && gen == 3)
			t->state_b++;
		else if (verdict == 1)
			t->state_a++;
		else if (gen == 3)
			t->b_with_errors++;
		else
			t->a_with_errors++;
		/* the checker must notice any damage a read noticed */
		if (errs)
			assert_int_not_equal(rvf_dir_check(d, NULL), 0);
		rvf_dir_close(d);
	}
	after = tu_slurp(path, &alen);
	assert_int_equal(alen, flen);
	assert_int_equal(after[off], orig[off] ^ x);
	after[off] = orig[off];
	if (memcmp(after, orig, flen))
		fail_msg("flip at 0x%zx: opening modified the file", off);
	free(after);
	poke(path, off, orig[off]);
}

static void flips_fail_cleanly_or_fall_back(void **state)
{
	char *dir = tu_tmpdir(), *path = tu_path(dir, "f.rvf");
	uint64_t seed = tu_seed();
	struct rvf_dir *d = NULL;
	struct tu_rng r;
	struct tally t = { 0 };
	uint8_t *orig;
	size_t flen;

	(void)state;
	tu_rng_init(&r, seed);
	memset(&st_a, 0, sizeof(st_a));
	memset(&st_b, 0, sizeof(st_b));
	for (int i = 0; i < NSEG; i++)
		blob_set(&st_a.seg[i], &r, i == 3 ? 20000 : (size_t)tu_rng_below(&r, 3000),
			 i == 5 ? 0xF3 : (uint8_t)(1 + i));
	blob_set(&st_a.vidx, &r, 5000, 0);
	blob_set(&st_a.user, &r, 300, 0);

	/* B: two segments replaced, one removed, new index and user metadata;
	 * the rest shared with A. */
	state_copy(&st_b, &st_a);
	blob_set(&st_b.seg[1], &r, 1500, 2);
	blob_set(&st_b.seg[3], &r, 9000, 1);
	st_b.seg[6].present = 0;
	blob_set(&st_b.vidx, &r, 4000, 0);
	blob_set(&st_b.user, &r, 200, 0);

	assert_int_equal(rvf_dir_create(path, NULL, &d), 0);
	state_write(d, &st_a, NULL);
	/* state_write skips blobs whose pointer did not change; st_b's copies
	 * have new pointers, so mark the shared ones to be skipped. */
	for (int i = 0; i < NSEG; i++)
		if (i != 1 && i != 3 && i != 6) {
			free(st_b.seg[i].p);
			st_b.seg[i].p = st_a.seg[i].p;
		}
	state_write(d, &st_b, &st_a);
	assert_int_equal(rvf_dir_generation(d), 3);
	rvf_dir_close(d);
	orig = tu_slurp(path, &flen);
	printf("info: file of %zu bytes, %zu blocks\n", flen, flen / RVF_DEFAULT_BLOCK_SIZE);
	{
		struct rvf_root_slot ra, rb;
		memcpy(&ra, orig, sizeof(ra));
		memcpy(&rb, orig + RVF_ROOT_SLOT_STRIDE, sizeof(rb));
		assert_true(ra.commit_seq == 3 || rb.commit_seq == 3);
		newest_root = ra.commit_seq == 3 ? 0 : RVF_ROOT_SLOT_STRIDE;
	}
	{
		/* what the test stands on: without the newest root, the file is
		 * exactly state A (its root and snapshot survived commit 3) */
		uint8_t zero[RVF_ROOT_SLOT_SIZE] = { 0 };
		int fd = open(path, O_WRONLY), err, errs = 0;

		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, zero, sizeof(zero), (off_t)newest_root), (ssize_t)sizeof(zero));
		close(fd);
		err = rvf_dir_open_readonly(path, NULL, &d);
		if (err)
			fail_msg("without the newest root the file does not open: %s", rvf_last_error());
		if (rvf_dir_generation(d) != 2 || compare(d, &st_a, &errs) != 1)
			fail_msg("without the newest root the file is not state A (generation %llu)",
				 (unsigned long long)rvf_dir_generation(d));
		rvf_dir_close(d);
		tu_spit(path, orig, flen);
	}

	/* every byte of both root slots, read-only and writable opens */
	for (size_t s = 0; s < 2; s++)
		for (size_t i = 0; i < RVF_ROOT_SLOT_SIZE; i++) {
			size_t off = s * RVF_ROOT_SLOT_STRIDE + i;
			uint8_t x = (uint8_t)(1u << tu_rng_below(&r, 8));
			trial(path, orig, flen, off, x, 0, &t);
			trial(path, orig, flen, off, (uint8_t)(1 + tu_rng_below(&r, 255)), 1, &t);
		}
	/* every data block: its first 256 bytes (segment and snapshot headers)
	 * byte by byte, and 48 random offsets in the rest */
	for (size_t b = RVF_DATA_START; b < flen; b += RVF_DEFAULT_BLOCK_SIZE) {
		for (size_t i = 0; i < 256 && b + i < flen; i++)
			trial(path, orig, flen, b + i, (uint8_t)(1u << tu_rng_below(&r, 8)), 0, &t);
		for (int k = 0; k < 48; k++) {
			size_t off = b + 256 + (size_t)tu_rng_below(&r, RVF_DEFAULT_BLOCK_SIZE - 256);
			if (off < flen)
				trial(path, orig, flen, off, (uint8_t)(1 + tu_rng_below(&r, 255)), k & 1, &t);
		}
	}
	/* both roots damaged: nothing to fall back to, so open must refuse */
	for (int k = 0; k < 64; k++) {
		size_t o0 = (size_t)tu_rng_below(&r, RVF_ROOT_SLOT_SIZE);
		size_t o1 = RVF_ROOT_SLOT_STRIDE + (size_t)tu_rng_below(&r, RVF_ROOT_SLOT_SIZE);
		uint8_t x0 = (uint8_t)(1 + tu_rng_below(&r, 255)), x1 = (uint8_t)(1 + tu_rng_below(&r, 255));
		int err;

		poke(path, o0, orig[o0] ^ x0);
		poke(path, o1, orig[o1] ^ x1);
		err = k & 1 ? rvf_dir_open(path, NULL, &d) : rvf_dir_open_readonly(path, NULL, &d);
		if (!err) {
			/* a flip in a slot's unused tail may leave it valid; then the data
			 * it names must still be exact */
			int errs;
			const struct state *s = rvf_dir_generation(d) == 3 ? &st_b : &st_a;
			assert_true(compare(d, s, &errs) >= 0);
			rvf_dir_close(d);
		} else {
			assert_true(err == -EUCLEAN || err == -EBADMSG || err == -ENOEXEC || err == -ENOTSUP);
			assert_non_null(strstr(rvf_last_error(), path));
			t.open_failed++;
		}
		t.trials++;
		poke(path, o0, orig[o0]);
		poke(path, o1, orig[o1]);
	}
	printf("summary: %llu flips: %llu refused at open, %llu newest state intact, "
	       "%llu fell back to the older state, %llu newest state with read errors, "
	       "%llu older state with read errors, 0 wrong data\n",
	       (unsigned long long)t.trials, (unsigned long long)t.open_failed,
	       (unsigned long long)t.state_b, (unsigned long long)t.state_a,
	       (unsigned long long)t.b_with_errors, (unsigned long long)t.a_with_errors);
	/* the file really exercised both outcomes */
	assert_int_equal(t.newest_root_refused, 2 * RVF_ROOT_SLOT_SIZE);
	assert_true(t.state_a > 0);
	assert_true(t.b_with_errors > 0);
	assert_true(t.open_failed > 0);

	free(orig);
	for (int i = 0; i < NSEG; i++) {
		if (st_b.seg[i].p != st_a.seg[i].p)
			free(st_b.seg[i].p);
		free(st_a.seg[i].p);
	}
	free(st_a.vidx.p);
	free(st_a.user.p);
	free(st_b.vidx.p);
	free(st_b.user.p);
	tu_rmrf(dir);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flips_fail_cleanly_or_fall_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
