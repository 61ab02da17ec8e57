/*
 * test_crash.c - crash the storage layer at every write and every fsync of
 * six workload shapes, reopen, and require the file to hold exactly commit
 * n (the last acknowledged) or n+1 (the one in flight) and to pass
 * rvf_dir_check; read-only handles pinning older snapshots must keep
 * reading exactly them while the writer commits.
 *
 *   mixed    one handle, 210 commits: mixed segment sizes, replacements,
 *            removals, vector-index writes and removals, metadata-only and
 *            empty commits
 *   small    many small commits: a few sub-block segments or metadata
 *   large    multi-block segments of 64 KiB..5 MiB (those of 4 MiB and
 *            more take the hash-thread path: payload first, header after)
 *   wide     600 segments and more, so every snapshot spans many blocks
 *   reuse    segments of 1..13 blocks replaced and removed, so freed
 *            extents are reused (checked: the file stays a fraction of
 *            what was written)
 *   readers  read-only handles pin older snapshots (and sometimes refresh)
 *            while the writer commits; after every commit each must read
 *            exactly its snapshot
 *
 * A workload is a run of sessions (a handle's lifetime: open, commit,
 * close); mixed is one long session. A crash point replays only its
 * session, from the file as the previous session left it, which is what a
 * full replay would reach there (the handle is new either way), so a crash
 * point stays cheap and there can be thousands. The ops of commit c are a
 * pure function of the shape's seed (derived from the printed run seed) and
 * c, so the crash point is the only variable. The state model keeps (type,
 * length, data seed) per item; data is regenerated from the seed.
 *
 * RVF_CRASH_SHAPE=<name> runs one shape; RVF_FAILFAST=1 stops at the first
 * failure (make mutants).
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

#define NFIELDS  4
#define NREADERS 2
#define SCRATCH  (6u << 20)

enum kind { MIXED, SMALL, LARGE, WIDE, REUSE, READERS };

struct shape {
	const char *name;
	enum kind kind;
	int sessions, per_session;   /* commits per session */
	int nids;                    /* segment ids 0..nids-1 */
	int base_segs;               /* committed before the first session */
};

static const struct shape shapes[] = {
	{ "mixed",   MIXED,    1, 210,  40,   0 },
	{ "small",   SMALL,   25,  20,  40,   0 },
	{ "large",   LARGE,    8,   5,   6,   0 },
	{ "wide",    WIDE,     5,  10, 640, 600 },
	{ "reuse",   REUSE,   14,  15,  16,   0 },
	{ "readers", READERS, 10,  15,  24,   0 },
};

struct item {
	uint8_t present;
	uint8_t type;
	uint32_t len;
	uint64_t dseed;
};

/* One shape's run. A model is nids segment items, NFIELDS vector-index
 * items and the user metadata; model(c) is the state after commit c of
 * the workload, held by generation base_gen + c. */
struct run {
	const struct shape *sh;
	uint64_t seed;
	int nitems;
	struct item *models;
	uint64_t base_gen;
	/* facts from the crash-free runs (counted while dry is set) */
	int dry;
	const struct crashsim *cs;      /* the simulator under the session */
	uint64_t blocks_written, pinned_commits, open_commits;
	/* results */
	uint64_t points, writes, syncs, lost, partial, reader_bad;
};

static uint8_t *scratch;
static int failfast;

static struct item *model(struct run *r, int c)
{
	return r->models + (size_t)c * (size_t)r->nitems;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill(void *buf, size_t len, uint64_t seed)
{
	struct tu_rng r;

	tu_rng_init(&r, seed);
	tu_rng_fill(&r, buf, len);
}

/* ---- the ops of one commit ---------------------------------------------------- */

struct ctx {
	struct run *r;
	struct rvf_dir *d;
	struct item *cur;
	struct tu_rng rng;
	uint64_t dseed;              /* next data seed */
};

static uint64_t below(struct ctx *x, uint64_t n)
{
	return tu_rng_below(&x->rng, n);
}

static int put_seg(struct ctx *x, uint64_t id, uint8_t type, uint32_t len)
{
	struct item *it = &x->cur[id];

	it->present = 1;
	it->type = type;
	it->len = len;
	it->dseed = x->dseed++;
	if (x->r->dry)
		x->r->blocks_written += (len + 64 + 4095) / 4096;
	fill(scratch, len, it->dseed);
	return rvf_dir_write_segment(x->d, id, type, scratch, len);
}

static int rm_seg(struct ctx *x, uint64_t id)
{
	int err = rvf_dir_remove_segments(x->d, &id, 1);

	x->cur[id].present = 0;
	return err < 0 ? err : 0;
}

static int put_vidx(struct ctx *x, uint32_t f, uint32_t len)
{
	struct item *it = &x->cur[x->r->sh->nids + f];

	it->present = 1;
	it->len = len;
	it->dseed = x->dseed++;
	fill(scratch, len, it->dseed);
	return rvf_dir_write_vector_index(x->d, f, scratch, len);
}

static int rm_vidx(struct ctx *x, uint32_t f)
{
	struct item *it = &x->cur[x->r->sh->nids + f];
	int was = it->present, err = rvf_dir_remove_vector_index(x->d, f);

	it->present = 0;
	return err == -ENOENT && !was ? 0 : err;
}

static int put_user(struct ctx *x, uint32_t len)
{
	struct item *it = &x->cur[x->r->sh->nids + NFIELDS];

	it->present = 1;
	it->len = len;
	it->dseed = x->dseed++;
	fill(scratch, len, it->dseed);
	return rvf_dir_set_user_metadata(x->d, scratch, len);
}

static uint32_t mixed_len(struct ctx *x)
{
	uint64_t k = below(x, 100);

	if (k < 5)
		return 0;
	if (k < 80)
		return (uint32_t)below(x, 6000);
	if (k < 97)
		return 20000 + (uint32_t)below(x, 50000);
	return 300000 + (uint32_t)below(x, 200000);
}

static uint8_t any_type(struct ctx *x)
{
	return below(x, 8) == 0 ? 0xF3 : (uint8_t)(1 + below(x, 15));
}

static int ops_mixed(struct ctx *x)
{
	uint64_t kind = below(x, 10);
	int err = 0;

	if (kind == 0)
		return 0;                              /* empty commit */
	if (kind == 1)
		return put_user(x, (uint32_t)below(x, 3000));   /* metadata only */
	for (int k = 0, nops = 1 + (int)below(x, 4); k < nops && !err; k++) {
		uint64_t op = below(x, 10), id = below(x, 40);
		if (op < 6) {
			uint8_t type = any_type(x);
			err = put_seg(x, id, type, mixed_len(x));
		} else if (op < 8) {
			err = rm_seg(x, id);
		} else if (op == 8) {
			err = put_vidx(x, (uint32_t)(id % NFIELDS), mixed_len(x));
		} else {
			err = rm_vidx(x, (uint32_t)(id % NFIELDS));
		}
	}
	return err;
}

static int ops_small(struct ctx *x)
{
	uint64_t kind = below(x, 10);
	int err = 0;

	if (kind == 0)
		return 0;
	if (kind < 3)
		return put_user(x, (uint32_t)below(x, 200));
	for (int k = 0, n = 1 + (int)below(x, 2); k < n && !err; k++)
		err = put_seg(x, below(x, 40), (uint8_t)(1 + below(x, 15)), (uint32_t)below(x, 600));
	if (!err && below(x, 4) == 0)
		err = rm_seg(x, below(x, 40));
	return err;
}

/* every 8th commit also writes one of 4 MiB or more (the hash-thread path) */
static int ops_large(struct ctx *x, int c)
{
	int err = 0;

	for (int k = 0, n = 1 + (int)below(x, 2); k < n && !err; k++) {
		uint32_t len = below(x, 4) ? (64u << 10) + (uint32_t)below(x, 700u << 10)
					   : (1u << 20) + (uint32_t)below(x, 1u << 20);
		err = put_seg(x, below(x, 6), RVF_SEG_VEC, len);
	}
	if (!err && c % 8 == 3)
		err = put_seg(x, below(x, 6), RVF_SEG_VEC, (4u << 20) + (uint32_t)below(x, 1u << 19));
	if (!err && below(x, 4) == 0)
		err = put_vidx(x, 0, (100u << 10) + (uint32_t)below(x, 200u << 10));
	if (!err && below(x, 5) == 0)
		err = rm_seg(x, below(x, 6));
	return err;
}

static int ops_wide(struct ctx *x)
{
	int err = 0;

	for (int k = 0, n = 1 + (int)below(x, 4); k < n && !err; k++)
		err = put_seg(x, below(x, 640), (uint8_t)(1 + below(x, 15)), (uint32_t)below(x, 300));
	if (!err && below(x, 2))
		err = rm_seg(x, below(x, 640));
	if (!err && below(x, 4) == 0)
		err = put_user(x, (uint32_t)below(x, 500));
	return err;
}

static int ops_reuse(struct ctx *x)
{
	int err = 0;

	for (int k = 0, n = 2 + (int)below(x, 3); k < n && !err; k++)
		err = put_seg(x, below(x, 16), RVF_SEG_VEC,
			      (uint32_t)(below(x, 12) * 4096 + below(x, 4000)));
	for (int k = 0, n = (int)below(x, 3); k < n && !err; k++)
		err = rm_seg(x, below(x, 16));
	return err;
}

static int ops_readers(struct ctx *x)
{
	int err = 0;

	for (int k = 0, n = 1 + (int)below(x, 3); k < n && !err; k++)
		err = put_seg(x, below(x, 24), (uint8_t)(1 + below(x, 15)), (uint32_t)below(x, 20000));
	if (!err && below(x, 3) == 0)
		err = rm_seg(x, below(x, 24));
	if (!err && below(x, 3) == 0)
		err = put_user(x, (uint32_t)below(x, 1000));
	return err;
}

/* ---- checking a handle against a model -------------------------------------- */

static int same_bytes(const void *got, size_t glen, const struct item *it)
{
	if (!it->present || glen != it->len)
		return 0;
	if (!glen)
		return 1;   /* got may be NULL then (empty user metadata) */
	fill(scratch, it->len, it->dseed);
	return !memcmp(got, scratch, glen);
}

/* 1 if the handle holds exactly model m. */
static int matches(const struct run *r, struct rvf_dir *d, const struct item *m)
{
	struct rvf_dir_segment *segs = NULL;
	const struct item *user = &m[r->sh->nids + NFIELDS];
	size_t n = 0, want = 0;
	int ok = 1;

	if (rvf_dir_segments(d, &segs, &n))
		return 0;
	for (int i = 0; i < r->sh->nids; i++)
		want += m[i].present;
	if (n != want)
		ok = 0;
	for (size_t i = 0; ok && i < n; i++) {
		const struct item *it = segs[i].id < (uint64_t)r->sh->nids ? &m[segs[i].id] : NULL;
		void *buf = NULL;
		size_t len = 0;
		if (!it || !it->present || it->type != segs[i].type ||
		    rvf_dir_read_segment(d, segs[i].id, &buf, &len) || !same_bytes(buf, len, it))
			ok = 0;
		free(buf);
	}
	free(segs);
	for (uint32_t f = 0; ok && f < NFIELDS; f++) {
		const struct item *it = &m[r->sh->nids + f];
		void *buf = NULL;
		size_t len = 0;
		int err = rvf_dir_read_vector_index(d, f, &buf, &len);
		ok = it->present ? !err && same_bytes(buf, len, it) : err == -ENOENT;
		free(buf);
	}
	if (ok) {
		void *buf = NULL;
		size_t len = 0;
		if (rvf_dir_user_metadata(d, &buf, &len))
			ok = 0;
		else
			ok = user->present ? same_bytes(buf, len, user) : len == 0;
		free(buf);
	}
	return ok;
}

/* ---- sessions ------------------------------------------------------------------- */

struct reader {
	struct rvf_dir *d;
};

/*
 * The readers shape, before commit c: readers open (pinning what is newest
 * now), refresh or close. Its own rng, so the writer's ops do not depend on
 * it.
 */
static void readers_step(struct run *r, const char *path, struct reader *rd, int c)
{
	struct tu_rng g;

	tu_rng_init(&g, mix64(r->seed ^ 0x7eade75ull ^ (uint64_t)c));
	for (int i = 0; i < NREADERS; i++) {
		uint64_t k = tu_rng_below(&g, 8);
		if (!rd[i].d && k < 3) {
			assert_int_equal(rvf_dir_open_readonly(path, NULL, &rd[i].d), 0);
		} else if (rd[i].d && k == 0) {
			rvf_dir_close(rd[i].d);
			rd[i].d = NULL;
		} else if (rd[i].d && k < 4 + 2 * (uint64_t)i) {
			assert_true(rvf_dir_refresh(rd[i].d) >= 0);
		}
	}
}

/* Each open reader must read exactly the snapshot it is on. */
static int readers_intact(struct run *r, struct reader *rd)
{
	int ok = 1;

	for (int i = 0; i < NREADERS; i++) {
		if (!rd[i].d)
			continue;
		uint64_t gen = rvf_dir_generation(rd[i].d);
		if (gen < r->base_gen || !matches(r, rd[i].d, model(r, (int)(gen - r->base_gen)))) {
			printf("shape %s: a reader on generation %llu no longer reads its snapshot\n",
			       r->sh->name, (unsigned long long)gen);
			ok = 0;
		}
	}
	return ok;
}

/*
 * Run commits [c0, c1) on path, which holds model(c0). Fills model(c + 1)
 * for every commit tried and returns how many were acknowledged; stops at
 * the first error (after a crash every op fails).
 */
static int session(struct run *r, const char *path, int c0, int c1)
{
	struct reader rd[NREADERS] = { { NULL } };
	struct rvf_dir *d = NULL;
	struct ctx x;
	int acked = 0, err = 0;

	assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
	memset(&x, 0, sizeof(x));
	x.r = r;
	x.d = d;
	for (int c = c0; c < c1 && !err; c++) {
		x.cur = model(r, c + 1);
		memcpy(x.cur, model(r, c), sizeof(*x.cur) * (size_t)r->nitems);
		tu_rng_init(&x.rng, mix64(r->seed ^ ((uint64_t)c << 24)));
		x.dseed = mix64(r->seed + (uint64_t)c * 0x10001ull) << 8;
		if (r->sh->kind == READERS) {
			readers_step(r, path, rd, c);
			if (r->dry && rvf_dir_reuse_blocked(d) > 0)
				r->pinned_commits++;
			else if (r->dry)
				r->open_commits++;
		}
		switch (r->sh->kind) {
		case MIXED:   err = ops_mixed(&x); break;
		case SMALL:   err = ops_small(&x); break;
		case LARGE:   err = ops_large(&x, c); break;
		case WIDE:    err = ops_wide(&x); break;
		case REUSE:   err = ops_reuse(&x); break;
		case READERS: err = ops_readers(&x); break;
		}
		if (!err)
			err = rvf_dir_commit(d);
		if (err)
			break;
		acked++;
		/* the power went after the commit was acknowledged (at the trim
		 * of a free tail, whose failure the commit does not report):
		 * nothing of this process runs on */
		if (r->cs->crashed)
			break;
		if (r->sh->kind == READERS && !readers_intact(r, rd))
			r->reader_bad++;
	}
	for (int i = 0; i < NREADERS; i++)
		rvf_dir_close(rd[i].d);
	rvf_dir_close(d);
	return acked;
}

/* After a crash with `acked` commits acknowledged: reopen and judge. */
static void judge(struct run *r, const char *path, int acked, uint64_t point)
{
	struct rvf_dir *d = NULL;
	struct crashsim quiet;
	uint64_t gen, want = r->base_gen + (uint64_t)acked;
	int err;

	/* through a simulator that never crashes: the commit after recovery
	 * then costs no real fdatasync (thousands of them would make the test
	 * wait on the disk, not on the code) */
	memset(&quiet, 0, sizeof(quiet));
	crashsim_install(&quiet);
	err = rvf_dir_open(path, NULL, &d);
	crashsim_uninstall();
	if (err) {
		printf("shape %s, crash point %llu: reopen failed: %s (%s)\n", r->sh->name,
		       (unsigned long long)point, rvf_strerror(err), rvf_last_error());
		r->partial++;
		return;
	}
	gen = rvf_dir_generation(d);
	if (gen < want) {
		printf("shape %s, crash point %llu: lost commit: generation %llu after %llu "
		       "acknowledged\n", r->sh->name, (unsigned long long)point,
		       (unsigned long long)gen, (unsigned long long)want);
		r->lost++;
	} else if (gen > want + 1 || !matches(r, d, model(r, (int)(gen - r->base_gen)))) {
		printf("shape %s, crash point %llu: partial state: generation %llu does not hold "
		       "its commit (acknowledged %llu)\n", r->sh->name, (unsigned long long)point,
		       (unsigned long long)gen, (unsigned long long)want);
		r->partial++;
	} else if (rvf_dir_check(d, NULL)) {
		printf("shape %s, crash point %llu: rvf_dir_check failed: %s\n", r->sh->name,
		       (unsigned long long)point, rvf_last_error());
		r->partial++;
	} else if (rvf_dir_write_segment(d, 1, 1, "after", 5) || rvf_dir_commit(d) ||
		   rvf_dir_check(d, NULL)) {
		/* the recovered file must take new commits */
		printf("shape %s, crash point %llu: cannot commit after recovery\n", r->sh->name,
		       (unsigned long long)point);
		r->partial++;
	}
	rvf_dir_close(d);
}

/* Before the first session: the wide shape's base segments. */
static void setup_base(struct run *r, const char *path)
{
	struct rvf_dir *d = NULL;
	struct ctx x;

	assert_int_equal(rvf_dir_create(path, NULL, &d), 0);
	memset(&x, 0, sizeof(x));
	x.r = r;
	x.d = d;
	x.cur = model(r, 0);
	tu_rng_init(&x.rng, mix64(r->seed ^ 0xba5eull));
	x.dseed = mix64(r->seed ^ 0xba5e5eedull) << 8;
	for (int i = 0; i < r->sh->base_segs; i++)
		assert_int_equal(put_seg(&x, (uint64_t)i, (uint8_t)(1 + below(&x, 15)),
					 (uint32_t)below(&x, 200)), 0);
	if (r->sh->base_segs)
		assert_int_equal(rvf_dir_commit(d), 0);
	r->base_gen = rvf_dir_generation(d);
	rvf_dir_close(d);
}

static int failed(const struct run *r)
{
	return r->lost || r->partial || r->reader_bad;
}

static void run_shape(struct run *r, const char *dir)
{
	const struct shape *sh = r->sh;
	int ncommits = sh->sessions * sh->per_session;
	char *path = tu_path(dir, sh->name);
	uint8_t *img, *next;
	size_t ilen, nlen;

	r->nitems = sh->nids + NFIELDS + 1;
	r->models = calloc((size_t)(ncommits + 2) * (size_t)r->nitems, sizeof(*r->models));
	assert_non_null(r->models);
	setup_base(r, path);
	img = tu_slurp(path, &ilen);
	for (int s = 0; s < sh->sessions && !(failfast && failed(r)); s++) {
		int c0 = s * sh->per_session, c1 = c0 + sh->per_session, acked;
		struct crashsim cs;
		struct rvf_dir *d = NULL;
		uint64_t ops;

		/* crash-free: count the ops, check the session really commits */
		tu_spit(path, img, ilen);
		memset(&cs, 0, sizeof(cs));
		crashsim_install(&cs);
		r->cs = &cs;
		r->dry = 1;
		acked = session(r, path, c0, c1);
		r->dry = 0;
		crashsim_uninstall();
		assert_int_equal(acked, c1 - c0);
		assert_int_equal(r->reader_bad, 0);
		ops = cs.ops;
		r->writes += cs.writes;
		r->syncs += cs.syncs;
		assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
		assert_int_equal(rvf_dir_generation(d), r->base_gen + (uint64_t)c1);
		assert_true(matches(r, d, model(r, c1)));
		assert_int_equal(rvf_dir_check(d, NULL), 0);
		rvf_dir_close(d);
		next = tu_slurp(path, &nlen);

		for (uint64_t at = 1; at <= ops && !(failfast && failed(r)); at++) {
			tu_spit(path, img, ilen);
			memset(&cs, 0, sizeof(cs));
			cs.crash_at = at;
			cs.seed = mix64(r->seed ^ ((uint64_t)s << 40) ^ at);
			crashsim_install(&cs);
			acked = session(r, path, c0, c1);
			crashsim_uninstall();
			assert_true(cs.crashed);
			r->points++;
			judge(r, path, c0 + acked, r->points);
		}
		free(img);
		img = next;
		ilen = nlen;
	}
	if (!failed(r)) {
		/* the shape did what it is named for */
		if (sh->kind == REUSE) {
			struct rvf_dir *d = NULL;
			assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
			printf("info: shape reuse: %llu blocks written, the file holds %llu\n",
			       (unsigned long long)r->blocks_written,
			       (unsigned long long)rvf_dir_total_blocks(d));
			assert_true(rvf_dir_total_blocks(d) * 4 < r->blocks_written);
			rvf_dir_close(d);
		}
		if (sh->kind == WIDE) {
			/* every segment fits one block and there is no vector
			 * index, so the rest of the used blocks is the snapshot */
			struct rvf_dir_check_report rep;
			struct rvf_dir *d = NULL;
			assert_int_equal(rvf_dir_open(path, NULL, &d), 0);
			assert_int_equal(rvf_dir_check(d, &rep), 0);
			printf("info: shape wide: %llu segments, the snapshot spans %llu blocks\n",
			       (unsigned long long)rep.segments,
			       (unsigned long long)(rep.used_blocks - rep.segments));
			assert_int_equal(rep.vector_indexes, 0);
			assert_true(rep.used_blocks - rep.segments >= 8);
			rvf_dir_close(d);
		}
		if (sh->kind == READERS) {
			printf("info: shape readers: %llu commits with reuse held back by a pin, %llu "
			       "without\n", (unsigned long long)r->pinned_commits,
			       (unsigned long long)r->open_commits);
			assert_true(r->pinned_commits > 0 && r->open_commits > 0);
		}
	}
	free(img);
	free(r->models);
	free(path);
}

static void crash_at_every_write_and_fsync(void **state)
{
	char *dir = tu_tmpdir();
	const char *only = getenv("RVF_CRASH_SHAPE"), *ff = getenv("RVF_FAILFAST");
	uint64_t seed = tu_seed(), points = 0, lost = 0, partial = 0, ran = 0;

	(void)state;
	failfast = ff && *ff == '1';
	scratch = malloc(SCRATCH);
	assert_non_null(scratch);
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		struct run r;

		if (only && *only && strcmp(only, shapes[k].name))
			continue;
		memset(&r, 0, sizeof(r));
		r.sh = &shapes[k];
		r.seed = mix64(seed + k);
		run_shape(&r, dir);
		printf("shape %s: seed %llu, %d sessions of %d commits, %llu writes and %llu syncs, "
		       "%llu crash points, lost commits %llu, partial states %llu\n", r.sh->name,
		       (unsigned long long)r.seed, r.sh->sessions, r.sh->per_session,
		       (unsigned long long)r.writes, (unsigned long long)r.syncs,
		       (unsigned long long)r.points, (unsigned long long)r.lost,
		       (unsigned long long)(r.partial + r.reader_bad));
		points += r.points;
		lost += r.lost;
		partial += r.partial + r.reader_bad;
		ran++;
		if (failfast && (lost || partial))
			break;
	}
	printf("crash points: %llu, lost commits: %llu, partial states: %llu\n",
	       (unsigned long long)points, (unsigned long long)lost, (unsigned long long)partial);
	assert_true(ran > 0);
	assert_int_equal(lost, 0);
	assert_int_equal(partial, 0);
	free(scratch);
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_at_every_write_and_fsync),
	};

	return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
