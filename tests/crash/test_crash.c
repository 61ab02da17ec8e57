/*
 * test_crash.c - crash at every write and every fsync of a 200+-commit
 * workload (mixed segment sizes, replacements, removals, vector-index writes
 * and removals, metadata-only and empty commits), reopen, and require the
 * file to hold exactly commit n (the last acknowledged) or n+1 (the one in
 * flight), and to pass rvf_dir_check.
 *
 * The workload is a pure function of the seed, so every run replays the
 * same ops and the crash point is the only variable. The state model keeps
 * (type, length, data seed) per id; data is regenerated from the seed.
 *
 * rvf-test: both-backends
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rvf/dir.h"
#include "crashsim.h"
#include "testutil.h"

#define NIDS    40
#define NFIELDS 4
#define NCOMMITS 210

struct item {
	int present;
	uint8_t type;
	uint32_t len;
	uint64_t dseed;
};

struct model {
	struct item seg[NIDS];
	struct item vidx[NFIELDS];
	struct item user;
};

static struct model models[NCOMMITS + 2];
static uint8_t *scratch;

static void fill(void *buf, size_t len, uint64_t seed)
{
	struct tu_rng r;

	tu_rng_init(&r, seed);
	tu_rng_fill(&r, buf, len);
}

static uint32_t pick_len(struct tu_rng *r)
{
	uint64_t k = tu_rng_below(r, 100);

	if (k < 5)
		return 0;
	if (k < 80)
		return (uint32_t)tu_rng_below(r, 6000);
	if (k < 97)
		return 20000 + (uint32_t)tu_rng_below(r, 50000);
	return 300000 + (uint32_t)tu_rng_below(r, 200000);
}

/*
 * Run the workload; models[j] is the state after the j-th acknowledged
 * commit, models[*acked + 1] the state the in-flight commit would publish.
 * Stops at the first error (a crash makes every later op fail).
 */
static void workload(const char *path, uint64_t seed, int *acked)
{
	struct rvf_dir *d = NULL;
	struct tu_rng r;
	struct model cur;
	int err = 0;

	tu_rng_init(&r, seed);
	memset(&cur, 0, sizeof(cur));
	models[0] = cur;
	*acked = 0;
	assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
	for (int c = 0; c < NCOMMITS && !err; c++) {
		uint64_t kind = tu_rng_below(&r, 10);
		uint64_t base = seed * 1000003u + (uint64_t)c * 101u;
		if (kind == 0) {
			/* empty commit */
		} else if (kind == 1) {
			/* metadata-only commit */
			cur.user.present = 1;
			cur.user.len = (uint32_t)tu_rng_below(&r, 3000);
			cur.user.dseed = base;
			fill(scratch, cur.user.len, base);
			err = rvf_dir_set_user_metadata(d, scratch, cur.user.len);
		} else {
			int nops = 1 + (int)tu_rng_below(&r, 4);
			for (int k = 0; k < nops && !err; k++) {
				uint64_t op = tu_rng_below(&r, 10);
				uint64_t id = tu_rng_below(&r, NIDS);
				if (op < 6) {
					struct item *it = &cur.seg[id];
					it->present = 1;
					it->type = tu_rng_below(&r, 8) == 0 ? 0xF3 : (uint8_t)(1 + tu_rng_below(&r, 15));
					it->len = pick_len(&r);
					it->dseed = base + (uint64_t)k;
					fill(scratch, it->len, it->dseed);
					err = rvf_dir_write_segment(d, id, it->type, scratch, it->len);
				} else if (op < 8) {
					cur.seg[id].present = 0;
					err = rvf_dir_remove_segments(d, &id, 1);
					err = err < 0 ? err : 0;
				} else if (op == 8) {
					struct item *it = &cur.vidx[id % NFIELDS];
					it->present = 1;
					it->len = pick_len(&r);
					it->dseed = base + 50 + (uint64_t)k;
					fill(scratch, it->len, it->dseed);
					err = rvf_dir_write_vector_index(d, (uint32_t)(id % NFIELDS), scratch, it->len);
				} else {
					int was = cur.vidx[id % NFIELDS].present;
					cur.vidx[id % NFIELDS].present = 0;
					err = rvf_dir_remove_vector_index(d, (uint32_t)(id % NFIELDS));
					if (err == -ENOENT && !was)
						err = 0;
				}
			}
		}
		models[*acked + 1] = cur;
		if (!err)
			err = rvf_dir_commit(d);
		if (!err)
			(*acked)++;
	}
	rvf_dir_close(d);
}

static int same_bytes(const void *got, size_t glen, const struct item *it)
{
	if (glen != it->len)
		return 0;
	if (!glen)
		return 1;   /* got may be NULL then (empty user metadata) */
	fill(scratch, it->len, it->dseed);
	return !memcmp(got, scratch, glen);
}

/* 1 if the store holds exactly model m. */
static int matches(struct rvf_dir *d, const struct model *m)
{
	struct rvf_dir_segment *segs = NULL;
	size_t n = 0, want = 0;
	int ok = 1;

	if (rvf_dir_segments(d, &segs, &n))
		return 0;
	for (int i = 0; i < NIDS; i++)
		want += m->seg[i].present;
	if (n != want)
		ok = 0;
	for (size_t i = 0; ok && i < n; i++) {
		const struct item *it = segs[i].id < NIDS ? &m->seg[segs[i].id] : NULL;
		void *buf = NULL;
		size_t len = 0;
		if (!it || !it->present || it->type != segs[i].type ||
		    rvf_dir_read_segment(d, segs[i].id, &buf, &len) || !same_bytes(buf, len, it))
			ok = 0;
		free(buf);
	}
	free(segs);
	for (uint32_t f = 0; ok && f < NFIELDS; f++) {
		void *buf = NULL;
		size_t len = 0;
		int err = rvf_dir_read_vector_index(d, f, &buf, &len);
		if (m->vidx[f].present)
			ok = !err && same_bytes(buf, len, &m->vidx[f]);
		else
			ok = err == -ENOENT;
		free(buf);
	}
	if (ok) {
		void *buf = NULL;
		size_t len = 0;
		if (rvf_dir_user_metadata(d, &buf, &len))
			ok = 0;
		else if (m->user.present)
			ok = same_bytes(buf, len, &m->user);
		else
			ok = len == 0;
		free(buf);
	}
	return ok;
}

static void crash_at_every_write_and_fsync(void **state)
{
	char *dir = tu_tmpdir(), *path = tu_path(dir, "c.rvf");
	struct rvf_dir *d = NULL;
	struct crashsim cs;
	uint64_t seed = tu_seed();
	uint64_t lost = 0, partial = 0, points, step = 1;
	uint8_t *tmpl;
	size_t tlen;
	int acked;

	(void)state;
	scratch = malloc(1 << 20);
	assert_int_equal(rvf_dir_create(path, NULL, &d), 0);
	rvf_dir_close(d);
	tmpl = tu_slurp(path, &tlen);

	/* dry run: count the ops, check the workload really commits */
	memset(&cs, 0, sizeof(cs));
	crashsim_install(&cs);
	workload(path, seed, &acked);
	crashsim_uninstall();
	assert_int_equal(acked, NCOMMITS);
	points = cs.ops;
	printf("workload: %d commits, %llu writes, %llu syncs\n", acked,
	       (unsigned long long)cs.writes, (unsigned long long)cs.syncs);
	assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
	assert_true(matches(d, &models[NCOMMITS]));
	assert_int_equal(rvf_dir_check(d, NULL), 0);
	rvf_dir_close(d);

	uint64_t ran = 0;
	for (uint64_t at = 1; at <= points; at += step) {
		tu_spit(path, tmpl, tlen);
		memset(&cs, 0, sizeof(cs));
		cs.crash_at = at;
		cs.seed = seed ^ (at * 0x9e3779b97f4a7c15ull);
		crashsim_install(&cs);
		workload(path, seed, &acked);
		crashsim_uninstall();
		assert_true(cs.crashed);
		ran++;

		int err = rvf_dir_open(path, NULL, &d);
		if (err) {
			printf("crash at op %llu: reopen failed: %s (%s)\n", (unsigned long long)at,
			       rvf_strerror(err), rvf_last_error());
			partial++;
			continue;
		}
		uint64_t gen = rvf_dir_generation(d);
		/* generation g holds models[g - 1] */
		if (gen < (uint64_t)acked + 1) {
			printf("crash at op %llu: lost commit: generation %llu after %d acknowledged\n",
			       (unsigned long long)at, (unsigned long long)gen, acked);
			lost++;
		} else if (gen > (uint64_t)acked + 2 || !matches(d, &models[gen - 1])) {
			printf("crash at op %llu: state is not commit %llu (acked %d)\n",
			       (unsigned long long)at, (unsigned long long)gen - 1, acked);
			partial++;
		} else if (rvf_dir_check(d, NULL)) {
			printf("crash at op %llu: rvf_dir_check failed: %s\n", (unsigned long long)at,
			       rvf_last_error());
			partial++;
		} else {
			/* the recovered file must take new commits */
			uint64_t id = 1;
			if (rvf_dir_write_segment(d, id, 1, "after", 5) || rvf_dir_commit(d) ||
			    rvf_dir_check(d, NULL)) {
				printf("crash at op %llu: cannot commit after recovery\n",
				       (unsigned long long)at);
				partial++;
			}
		}
		rvf_dir_close(d);
	}
	printf("crash points: %llu, lost commits: %llu, partial states: %llu\n",
	       (unsigned long long)ran, (unsigned long long)lost, (unsigned long long)partial);
	assert_int_equal(ran, points);
	assert_int_equal(lost, 0);
	assert_int_equal(partial, 0);
	free(tmpl);
	free(scratch);
	tu_rmrf(dir);
	free(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_at_every_write_and_fsync),
	};

	return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
