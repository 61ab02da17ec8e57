/*
 * test_chain.c - faults inside the io_uring commit chain, the one linked
 * submission  write snapshot -> fdatasync -> write root -> fdatasync
 * (with a snapshot larger than a ring chunk the snapshot is written first
 * and the chain is the last three links).
 *
 * Through the backend's test hook (io/io.h) every link of one commit, in
 * turn, completes short or fails with -EIO; the kernel cancels the links
 * after it. For each, require:
 *   - the links before it succeeded, the ones after it are -ECANCELED;
 *   - the commit fails and the handle is poisoned: later writes and
 *     commits fail with -EIO, reads still give commit n exactly;
 *   - after close and reopen the file is commit n if the fault came before
 *     the root was written whole and n+1 if after (never anything else),
 *     passes rvf_dir_check and takes a new commit.
 * Then power loss at each link: the chain is cut there and, of the writes
 * no completed fdatasync covers yet (segment data, snapshot, root), several
 * subsets are undone (none, all, all but the chain's own, all but the
 * last, only the first, random ones); the file must reopen as exactly
 * commit n or n+1.
 *
 * io_uring only: the syscall backend has no chain (crashsim covers its
 * sequence). SKIP if io_uring cannot be set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"
#include "rvf/dir.h"
#include "testutil.h"

#define NSEG   24
#define FIELD  3
#define BIG_USER (1300u << 10)    /* makes the snapshot larger than a chunk */
#define MAXREQ 256
#define NLOSS  8                  /* power-loss variants per link */

struct item { int present; size_t len; uint64_t seed; };
struct model { struct item seg[NSEG], vidx, user; };

static uint8_t *scratch;

static void fill(void *buf, size_t len, uint64_t seed)
{
	struct tu_rng r;

	tu_rng_init(&r, seed);
	tu_rng_fill(&r, buf, len);
}

static void put_item(struct item *it, size_t len, uint64_t seed)
{
	it->present = 1;
	it->len = len;
	it->seed = seed;
	fill(scratch, len, seed);
}

static int same(const void *got, size_t len, const struct item *it)
{
	if (!it->present || len != it->len)
		return 0;
	if (!len)
		return 1;
	fill(scratch, len, it->seed);
	return !memcmp(got, scratch, len);
}

/* 1 if d holds exactly m. */
static int matches(struct rvf_dir *d, const struct model *m)
{
	size_t n = 0, want = 0, len;
	struct rvf_dir_segment *segs = NULL;
	void *buf;
	int ok = !rvf_dir_segments(d, &segs, &n);

	for (int i = 0; i < NSEG; i++)
		want += (size_t)m->seg[i].present;
	ok = ok && n == want;
	for (size_t i = 0; ok && i < n; i++) {
		buf = NULL;
		ok = segs[i].id < NSEG && !rvf_dir_read_segment(d, segs[i].id, &buf, &len) &&
		     same(buf, len, &m->seg[segs[i].id]);
		free(buf);
	}
	free(segs);
	buf = NULL;
	ok = ok && !rvf_dir_read_vector_index(d, FIELD, &buf, &len) && same(buf, len, &m->vidx);
	free(buf);
	buf = NULL;
	ok = ok && !rvf_dir_user_metadata(d, &buf, &len) && same(buf, len, &m->user);
	free(buf);
	return ok;
}

/* ---- the hook: fault one link, record every request and its result ------ */

struct req {
	struct io_req_info info;
	int res, completed;
	uint8_t *pre;          /* a write's bytes before it (zeros past EOF) */
};

struct rec {
	int fd;                /* a descriptor of our own, for pre-images */
	int target;            /* chain link to fault; -1 none */
	enum io_fault kind;
	struct req r[MAXREQ];
	int n;
	int durable;           /* r[0..durable) are covered by a completed sync */
};

static enum io_fault on_submit(void *ctx, const struct io_req_info *info)
{
	struct rec *c = ctx;
	struct req *q;

	assert_true(c->n < MAXREQ);
	q = &c->r[c->n++];
	memset(q, 0, sizeof(*q));
	q->info = *info;
	if (!info->is_sync) {
		ssize_t got;
		q->pre = calloc(1, info->len ? info->len : 1);
		assert_non_null(q->pre);
		got = pread(c->fd, q->pre, info->len, (off_t)info->off);
		assert_true(got >= 0);
	}
	return info->link >= 0 && info->link == c->target ? c->kind : IO_FAULT_NONE;
}

static void on_done(void *ctx, const struct io_req_info *info, int res)
{
	struct rec *c = ctx;

	/* chain links complete in order; other requests before the next one
	 * is submitted, so the newest matching submission is this one */
	for (int i = c->n - 1; i >= 0; i--) {
		struct req *q = &c->r[i];
		if (q->completed || q->info.link != info->link || q->info.is_sync != info->is_sync ||
		    q->info.off != info->off || q->info.len != info->len)
			continue;
		q->res = res;
		q->completed = 1;
		if (info->is_sync && res == 0)
			c->durable = i + 1;
		return;
	}
	fail_msg("done() for a request never submitted (link %d)", info->link);
}

static void rec_release(struct rec *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->r[i].pre);
	c->n = 0;
}

/* ---- one scenario ---------------------------------------------------------- */

struct fx {
	char *dir, *path;
	uint8_t *tmpl;         /* the file at commit n */
	size_t tlen;
	uint64_t gen_n;
	struct model m[2];     /* commit n and n+1 */
	int big;
	uint64_t seed;
	uint64_t faults, shorts, eios, crash_points, lost, partial;
};

/* Stage the transaction that makes commit n+1 from n (matching f->m[1]). */
static void stage(struct rvf_dir *d, const struct fx *f)
{
	const struct model *a = &f->m[0], *b = &f->m[1];

	for (uint64_t i = 0; i < NSEG; i++) {
		const struct item *x = &a->seg[i], *y = &b->seg[i];
		if (y->present && (!x->present || x->seed != y->seed)) {
			fill(scratch, y->len, y->seed);
			assert_int_equal(rvf_dir_write_segment(d, i, RVF_SEG_VEC, scratch, y->len), 0);
		} else if (!y->present && x->present) {
			assert_int_equal(rvf_dir_remove_segments(d, &i, 1), 1);
		}
	}
	fill(scratch, b->vidx.len, b->vidx.seed);
	assert_int_equal(rvf_dir_write_vector_index(d, FIELD, scratch, b->vidx.len), 0);
	fill(scratch, b->user.len, b->user.seed);
	assert_int_equal(rvf_dir_set_user_metadata(d, scratch, b->user.len), 0);
}

static struct rvf_dir *open_uring(const char *path)
{
	struct rvf_dir_opts o = { .io = RVF_IO_URING };
	struct rvf_dir *d = NULL;

	assert_int_equal(rvf_dir_open(path, &o, &d), 0);
	assert_string_equal(rvf_dir_io_name(d), "io_uring");
	return d;
}

/* Reopen after the fault and classify; returns the generation found (0
 * if the file does not open). */
static uint64_t reopen_check(struct fx *f, const char *what)
{
	struct rvf_dir_opts o = { .io = RVF_IO_URING };
	struct rvf_dir *d = NULL;
	uint64_t gen;
	int bad = 0, err = rvf_dir_open(f->path, &o, &d);

	if (err) {
		printf("%s: reopen failed: %s (%s)\n", what, rvf_strerror(err), rvf_last_error());
		f->partial++;
		return 0;
	}
	gen = rvf_dir_generation(d);
	if (gen == f->gen_n) {
		bad = !matches(d, &f->m[0]);
	} else if (gen == f->gen_n + 1) {
		bad = !matches(d, &f->m[1]);
	} else {
		printf("%s: reopened at generation %llu, not %llu or %llu\n", what,
		       (unsigned long long)gen, (unsigned long long)f->gen_n,
		       (unsigned long long)f->gen_n + 1);
		if (gen < f->gen_n)
			f->lost++;
		else
			f->partial++;
		rvf_dir_close(d);
		return gen;
	}
	if (bad) {
		printf("%s: generation %llu does not hold its commit (partial state)\n", what,
		       (unsigned long long)gen);
		f->partial++;
	} else if (rvf_dir_check(d, NULL)) {
		printf("%s: rvf_dir_check failed: %s\n", what, rvf_last_error());
		f->partial++;
	} else if (rvf_dir_write_segment(d, 0, RVF_SEG_VEC, "again", 5) || rvf_dir_commit(d) ||
		   rvf_dir_check(d, NULL)) {
		printf("%s: cannot commit after reopening\n", what);
		f->partial++;
	}
	rvf_dir_close(d);
	return gen;
}

/* Run commit n+1 with link `target` faulted; the hook's record is left in c. */
static void faulted_commit(struct fx *f, struct rec *c, int target, enum io_fault kind)
{
	struct io_uring_hook h = { on_submit, on_done, c };
	struct rvf_dir *d;
	int err;

	tu_spit(f->path, f->tmpl, f->tlen);
	d = open_uring(f->path);
	memset(c, 0, sizeof(*c));
	c->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(c->fd >= 0);
	c->target = target;
	c->kind = kind;
	io_uring_set_hook(&h);
	stage(d, f);
	err = rvf_dir_commit(d);
	io_uring_set_hook(NULL);
	close(c->fd);
	assert_int_equal(err, -EIO);

	/* poisoned: no more writes, reads serve commit n */
	assert_int_not_equal(rvf_dir_poisoned(d), 0);
	assert_int_equal(rvf_dir_generation(d), f->gen_n);
	assert_true(matches(d, &f->m[0]));
	assert_int_equal(rvf_dir_write_segment(d, 1, RVF_SEG_VEC, "x", 1), -EIO);
	assert_int_equal(rvf_dir_set_user_metadata(d, "x", 1), -EIO);
	assert_int_equal(rvf_dir_commit(d), -EIO);
	assert_true(matches(d, &f->m[0]));
	rvf_dir_close(d);
}

/* The chain links in c, in order; returns how many. */
static int chain_of(const struct rec *c, const struct req **links)
{
	int n = 0;

	for (int i = 0; i < c->n; i++)
		if (c->r[i].info.link >= 0) {
			assert_int_equal(c->r[i].info.link, n);
			links[n++] = &c->r[i];
		}
	return n;
}

/* Fault every link of the chain with every fault kind. */
static void every_link_every_fault(struct fx *f)
{
	struct rec *c = calloc(1, sizeof(*c));
	const struct req *links[8];
	int nlinks = 4 - f->big;

	assert_non_null(c);
	for (int target = 0; target < nlinks; target++) {
		for (int k = 0; k < 2; k++) {
			enum io_fault kind = k ? IO_FAULT_EIO : IO_FAULT_SHORT;
			char what[96];
			int n, root_link = -1;

			faulted_commit(f, c, target, kind);
			n = chain_of(c, links);
			assert_int_equal(n, nlinks);
			if (kind == IO_FAULT_SHORT && links[target]->info.is_sync) {
				rec_release(c);
				continue;     /* an fsync cannot be short */
			}
			/* in order: the links before succeeded, the faulted one
			 * as asked, the rest cancelled by the kernel */
			for (int i = 0; i < n; i++) {
				const struct req *q = links[i];
				assert_true(q->completed);
				if (i < target)
					assert_int_equal(q->res, q->info.is_sync ? 0 : (int)q->info.len);
				else if (i == target && kind == IO_FAULT_SHORT)
					assert_int_equal(q->res, (int)(q->info.len / 2));
				else if (i == target)
					assert_int_equal(q->res, -EIO);
				else
					assert_int_equal(q->res, -ECANCELED);
			}
			for (int i = 0; i < n; i++)
				if (!links[i]->info.is_sync && links[i]->info.off < RVF_DATA_START)
					root_link = i;
			assert_true(root_link >= 0);
			snprintf(what, sizeof(what), "%s snapshot, %s at link %d", f->big ? "large" : "small",
				 kind == IO_FAULT_SHORT ? "short write" : "-EIO", target);
			/* the kernel ran nothing after the fault: a root not written
			 * whole is refused, one written whole is the new commit */
			assert_int_equal(reopen_check(f, what), f->gen_n + (target > root_link));
			f->faults++;
			if (kind == IO_FAULT_SHORT)
				f->shorts++;
			else
				f->eios++;
			rec_release(c);
		}
	}
	free(c);
}

/* Undo the writes of c no completed sync covers, as chosen by variant v. */
static void lose_power(const struct fx *f, const struct rec *c, int v, struct tu_rng *r)
{
	int fd = open(f->path, O_WRONLY | O_CLOEXEC), first = -1, last = -1;

	assert_true(fd >= 0);
	for (int i = c->durable; i < c->n; i++)
		if (!c->r[i].info.is_sync && c->r[i].completed && c->r[i].res > 0) {
			if (first < 0)
				first = i;
			last = i;
		}
	for (int i = c->durable; i < c->n; i++) {
		const struct req *q = &c->r[i];
		int undo;
		if (q->info.is_sync || !q->completed || q->res <= 0)
			continue;
		switch (v) {
		case 0: undo = 0; break;                         /* all reached the disk */
		case 1: undo = 1; break;                         /* none did */
		case 2: undo = q->info.link < 0; break;          /* the chain's own did */
		case 3: undo = i != last; break;                 /* only the last one did */
		case 4: undo = i == first; break;                /* all but the first did */
		default: undo = (int)tu_rng_below(r, 2); break;
		}
		if (undo)
			assert_int_equal(pwrite(fd, q->pre, q->info.len, (off_t)q->info.off),
					 (ssize_t)q->info.len);
	}
	close(fd);
}

/* Power loss at every link: cut the chain there, drop unsynced writes. */
static void power_loss_at_every_link(struct fx *f)
{
	struct rec *c = calloc(1, sizeof(*c));
	struct tu_rng r;
	int nlinks = 4 - f->big;

	assert_non_null(c);
	tu_rng_init(&r, f->seed ^ 0x10551055ull);
	for (int target = 0; target < nlinks; target++) {
		for (int v = 0; v < NLOSS; v++) {
			char what[96];

			faulted_commit(f, c, target, IO_FAULT_EIO);
			lose_power(f, c, v, &r);
			snprintf(what, sizeof(what), "%s snapshot, power lost at link %d (variant %d)",
				 f->big ? "large" : "small", target, v);
			reopen_check(f, what);
			f->crash_points++;
			rec_release(c);
		}
	}
	free(c);
}

/* Build commit n (two commits, so there is a free list) and the model of
 * commit n+1. */
static void setup_states(struct fx *f)
{
	struct rvf_dir *d = NULL;
	struct tu_rng r;
	struct model *a = &f->m[0], *b = &f->m[1];

	memset(f->m, 0, sizeof(f->m));
	tu_rng_init(&r, f->seed);
	assert_int_equal(rvf_dir_create(f->path, NULL, &d), 0);
	for (int round = 0; round < 2; round++) {
		for (uint64_t i = 0; i < 12; i++) {
			if (round && tu_rng_below(&r, 3))
				continue;
			put_item(&a->seg[i], 100 + (size_t)tu_rng_below(&r, 20000), tu_rng_next(&r));
			assert_int_equal(rvf_dir_write_segment(d, i, RVF_SEG_VEC, scratch, a->seg[i].len), 0);
		}
		put_item(&a->vidx, 5000, tu_rng_next(&r));
		assert_int_equal(rvf_dir_write_vector_index(d, FIELD, scratch, a->vidx.len), 0);
		put_item(&a->user, f->big ? BIG_USER : 200, tu_rng_next(&r));
		assert_int_equal(rvf_dir_set_user_metadata(d, scratch, a->user.len), 0);
		assert_int_equal(rvf_dir_commit(d), 0);
	}
	f->gen_n = rvf_dir_generation(d);
	assert_true(matches(d, a));
	rvf_dir_close(d);
	f->tmpl = tu_slurp(f->path, &f->tlen);

	/* n+1: one segment replaced, one removed, two new (one of them
	 * large), a new vector index and new user metadata */
	*b = *a;
	put_item(&b->seg[2], 7000, tu_rng_next(&r));
	b->seg[5].present = 0;
	put_item(&b->seg[20], 300000, tu_rng_next(&r));
	put_item(&b->seg[21], 64, tu_rng_next(&r));
	put_item(&b->vidx, 3000, tu_rng_next(&r));
	put_item(&b->user, f->big ? BIG_USER + 4096 : 300, tu_rng_next(&r));
}

static void run_variant(int big, uint64_t seed, struct fx *tot)
{
	struct fx f;

	memset(&f, 0, sizeof(f));
	f.big = big;
	f.seed = seed;
	f.dir = tu_tmpdir();
	f.path = tu_path(f.dir, "chain.rvf");
	setup_states(&f);
	every_link_every_fault(&f);
	power_loss_at_every_link(&f);
	printf("info: %s snapshot: %llu faults (%llu short writes, %llu -EIO), %llu power losses\n",
	       big ? "large" : "small", (unsigned long long)f.faults, (unsigned long long)f.shorts,
	       (unsigned long long)f.eios, (unsigned long long)f.crash_points);
	tot->faults += f.faults;
	tot->shorts += f.shorts;
	tot->eios += f.eios;
	tot->crash_points += f.crash_points;
	tot->lost += f.lost;
	tot->partial += f.partial;
	free(f.tmpl);
	tu_rmrf(f.dir);
	free(f.dir);
	free(f.path);
}

static void chain_faults_poison_and_recover(void **state)
{
	uint64_t seed = tu_seed();
	struct fx tot;
	struct rvf_dir_opts o = { .io = RVF_IO_URING };
	struct rvf_dir *d = NULL;
	char *dir = tu_tmpdir(), *path = tu_path(dir, "probe.rvf");
	int err;

	(void)state;
	err = rvf_dir_create(path, &o, &d);
	rvf_dir_close(d);
	tu_rmrf(dir);
	free(dir);
	free(path);
	if (err)
		tu_skip("io_uring cannot be set up here (%s)", rvf_strerror(err));
	scratch = malloc(BIG_USER + 8192);
	assert_non_null(scratch);
	memset(&tot, 0, sizeof(tot));
	run_variant(0, seed, &tot);
	run_variant(1, seed * 31 + 7, &tot);
	printf("summary: %llu chain faults (%llu short writes, %llu -EIO): every one poisoned the "
	       "handle and reopened at commit n or n+1\n", (unsigned long long)tot.faults,
	       (unsigned long long)tot.shorts, (unsigned long long)tot.eios);
	printf("crash points: %llu, lost commits: %llu, partial states: %llu\n",
	       (unsigned long long)tot.crash_points, (unsigned long long)tot.lost,
	       (unsigned long long)tot.partial);
	assert_int_equal(tot.lost, 0);
	assert_int_equal(tot.partial, 0);
	free(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chain_faults_poison_and_recover),
	};

	return cmocka_run_group_tests_name("chain", tests, NULL, NULL);
}
