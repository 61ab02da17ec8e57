/*
 * bench-dir - the storage layer's cost against the disk's own: commit
 * latency of a small commit, and sequential segment-write throughput with a
 * commit every N MiB, for the io_uring and syscall backends, each as a ratio
 * to a raw pwrite+fdatasync loop writing the same bytes to a fresh file in
 * the same directory in the same run.
 *
 * Output: one JSON line per measurement, then "summary:" lines. fsyncs per
 * commit are counted through the backend interface (a commit chain is
 * meta -> fdatasync -> root -> fdatasync, so it counts two).
 *
 * Environment: RVF_BENCH_DIR (default build/bench), RVF_BENCH_QUICK=1 for a
 * smoke run, RVF_BENCH_COMMITS (small commits, default 300),
 * RVF_BENCH_SEQ_MB (bytes per throughput run, default 1024).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "io/io.h"
#include "rvf/dir.h"
#include "rvf/error.h"

/* ---- fsync counting through the backend interface ------------------------ */

struct counting_io {
	struct io io;
	struct io *inner;
};

static unsigned long long n_syncs, n_commits;

static int c_preadv(struct io *io, const struct iovec *iov, int cnt, uint64_t off)
{
	struct counting_io *c = (struct counting_io *)io;
	return c->inner->ops->preadv(c->inner, iov, cnt, off);
}

static int c_pwritev(struct io *io, const struct iovec *iov, int cnt, uint64_t off)
{
	struct counting_io *c = (struct counting_io *)io;
	return c->inner->ops->pwritev(c->inner, iov, cnt, off);
}

static int c_sync(struct io *io)
{
	struct counting_io *c = (struct counting_io *)io;
	n_syncs++;
	return c->inner->ops->sync(c->inner);
}

static int c_commit(struct io *io, const struct iovec *meta, int cnt, uint64_t meta_off,
		    const void *root, size_t root_len, uint64_t root_off)
{
	struct counting_io *c = (struct counting_io *)io;
	n_syncs += 2;
	n_commits++;
	return c->inner->ops->commit(c->inner, meta, cnt, meta_off, root, root_len, root_off);
}

static int c_truncate(struct io *io, uint64_t size)
{
	struct counting_io *c = (struct counting_io *)io;
	return c->inner->ops->truncate(c->inner, size);
}

static int c_size(struct io *io, uint64_t *size)
{
	struct counting_io *c = (struct counting_io *)io;
	return c->inner->ops->size(c->inner, size);
}

static int c_sync_parent(struct io *io, const char *path)
{
	struct counting_io *c = (struct counting_io *)io;
	n_syncs++;
	return c->inner->ops->sync_parent(c->inner, path);
}

static void c_release(struct io *io)
{
	struct counting_io *c = (struct counting_io *)io;
	io_close(c->inner);
	free(c);
}

static const struct io_ops counting_ops = {
	.name = "counting", .preadv = c_preadv, .pwritev = c_pwritev, .sync = c_sync,
	.commit = c_commit, .truncate = c_truncate, .size = c_size, .sync_parent = c_sync_parent,
	.release = c_release,
};

static struct io *wrap(struct io *inner, void *ctx)
{
	struct counting_io *c = calloc(1, sizeof(*c));

	(void)ctx;
	if (!c)
		return inner;
	c->io.ops = &counting_ops;
	c->io.fd = inner->fd;
	c->inner = inner;
	return &c->io;
}

/* ---- helpers ------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-dir: %s: %s (%s)\n", what, rvf_strerror(err), rvf_last_error());
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	return s && *s ? strtoul(s, NULL, 10) : def;
}

static const char *bench_dir;

static char *path_in(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", bench_dir, name) < 0)
		exit(1);
	unlink(p);
	return p;
}

/* ---- raw anchors --------------------------------------------------------- */

/* Small writes: each iteration pwrites len bytes at the end and fdatasyncs. */
static void raw_small(size_t len, unsigned n, double *lat)
{
	char *path = path_in("raw-small.bin");
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	char *buf = malloc(len);

	if (fd < 0 || !buf)
		die("raw open", -errno);
	memset(buf, 0xA5, len);
	for (unsigned i = 0; i < n; i++) {
		double t0 = now_s();
		if (pwrite(fd, buf, len, (off_t)i * (off_t)len) != (ssize_t)len || fdatasync(fd))
			die("raw write", -errno);
		lat[i] = now_s() - t0;
	}
	close(fd);
	unlink(path);
	free(path);
	free(buf);
}

/* Sequential: chunk-sized pwrites, fdatasync every commit_every bytes and at
 * the end. Returns seconds. */
static double raw_seq(const void *chunk, size_t chunk_len, size_t total, size_t commit_every)
{
	char *path = path_in("raw-seq.bin");
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	size_t since = 0;
	double t0;

	if (fd < 0)
		die("raw open", -errno);
	t0 = now_s();
	for (size_t off = 0; off < total; off += chunk_len) {
		if (pwrite(fd, chunk, chunk_len, (off_t)off) != (ssize_t)chunk_len)
			die("raw write", -errno);
		since += chunk_len;
		if (since >= commit_every) {
			if (fdatasync(fd))
				die("raw fdatasync", -errno);
			since = 0;
		}
	}
	if (since && fdatasync(fd))
		die("raw fdatasync", -errno);
	t0 = now_s() - t0;
	close(fd);
	unlink(path);
	free(path);
	return t0;
}

/* ---- rvf_dir runs -------------------------------------------------------- */

static struct rvf_dir *fresh(enum rvf_io_kind kind, const char *name)
{
	struct rvf_dir_opts o = { .io = kind };
	struct rvf_dir *d = NULL;
	char *path = path_in(name);
	int err = rvf_dir_create(path, &o, &d);

	free(path);
	if (err)
		die("create", err);
	return d;
}

static void drop(struct rvf_dir *d)
{
	char *p = strdup(rvf_dir_path(d));

	rvf_dir_close(d);
	unlink(p);
	free(p);
}

static void dir_small(enum rvf_io_kind kind, size_t len, unsigned n, double *lat, double *syncs_per)
{
	struct rvf_dir *d = fresh(kind, "small.rvf");
	char *buf = malloc(len);
	unsigned long long s0, c0;

	memset(buf, 0x5A, len);
	s0 = n_syncs;
	c0 = n_commits;
	for (unsigned i = 0; i < n; i++) {
		double t0 = now_s();
		int err = rvf_dir_write_segment(d, i, 0x01, buf, len);
		if (!err)
			err = rvf_dir_commit(d);
		if (err)
			die("small commit", err);
		lat[i] = now_s() - t0;
	}
	*syncs_per = (double)(n_syncs - s0) / (double)(n_commits - c0);
	drop(d);
	free(buf);
}

static double dir_seq(enum rvf_io_kind kind, const void *chunk, size_t seg_len, size_t total,
		      size_t commit_every, double *syncs_per)
{
	struct rvf_dir *d = fresh(kind, "seq.rvf");
	size_t since = 0;
	uint64_t id = 0;
	unsigned long long s0 = n_syncs, c0 = n_commits;
	double t0 = now_s();
	int err;

	for (size_t off = 0; off < total; off += seg_len) {
		err = rvf_dir_write_segment(d, id++, 0x01, chunk, seg_len);
		if (err)
			die("segment write", err);
		since += seg_len;
		if (since >= commit_every) {
			if ((err = rvf_dir_commit(d)))
				die("commit", err);
			since = 0;
		}
	}
	if (since && (err = rvf_dir_commit(d)))
		die("commit", err);
	t0 = now_s() - t0;
	*syncs_per = (double)(n_syncs - s0) / (double)(n_commits - c0);
	drop(d);
	return t0;
}

static const char *kind_name(enum rvf_io_kind k)
{
	return k == RVF_IO_URING ? "io_uring" : "syscall";
}

int main(void)
{
	int quick = getenv("RVF_BENCH_QUICK") != NULL;
	unsigned n = (unsigned)env_ul("RVF_BENCH_COMMITS", quick ? 50 : 300);
	size_t total = (size_t)env_ul("RVF_BENCH_SEQ_MB", quick ? 128 : 1024) << 20;
	const size_t small = 4096;
	static const struct { size_t seg, every; } seqs[] = {
		{ 1u << 20, 64u << 20 },     /* 1 MiB segments, commit every 64 MiB */
		{ 16u << 20, 64u << 20 },    /* 16 MiB segments, commit every 64 MiB */
		{ 64u << 20, 256u << 20 },   /* 64 MiB segments, commit every 256 MiB */
	};
	const enum rvf_io_kind kinds[] = { RVF_IO_URING, RVF_IO_SYSCALL };
	double *lat = calloc(n, sizeof(double)), *raw = calloc(n, sizeof(double));
	double raw_p50, ratio_small[2] = { 0 }, ratio_seq[2][3] = { { 0 } }, spc_max = 0;
	char *chunk;

	bench_dir = getenv("RVF_BENCH_DIR") ? getenv("RVF_BENCH_DIR") : "build/bench";
	mkdir(bench_dir, 0755);
	rvf_set_log(rvf_log_stderr, NULL, RVF_LOG_WARN);
	io_set_wrapper(wrap, NULL);
	if (!lat || !raw || posix_memalign((void **)&chunk, 4096, 64u << 20))
		die("alloc", -ENOMEM);
	for (size_t i = 0; i < (64u << 20); i++)
		chunk[i] = (char)(i * 2654435761u >> 13);

	/* small commits: raw first, then each backend */
	sync();
	raw_small(small, n, raw);
	raw_p50 = pct(raw, n, 0.5);
	printf("{\"bench\":\"commit_small\",\"engine\":\"raw_pwrite_fdatasync\",\"bytes\":%zu,"
	       "\"n\":%u,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", small, n, raw_p50 * 1e6,
	       pct(raw, n, 0.99) * 1e6);
	for (int k = 0; k < 2; k++) {
		double spc;
		sync();
		dir_small(kinds[k], small, n, lat, &spc);
		double p50 = pct(lat, n, 0.5);
		ratio_small[k] = p50 / raw_p50;
		spc_max = spc > spc_max ? spc : spc_max;
		printf("{\"bench\":\"commit_small\",\"engine\":\"rvf_dir\",\"io\":\"%s\",\"bytes\":%zu,"
		       "\"n\":%u,\"p50_us\":%.1f,\"p99_us\":%.1f,\"fsyncs_per_commit\":%.2f,"
		       "\"ratio_to_raw\":%.2f}\n", kind_name(kinds[k]), small, n, p50 * 1e6,
		       pct(lat, n, 0.99) * 1e6, spc, ratio_small[k]);
	}
	fflush(stdout);

	/* sequential throughput: raw, io_uring and syscall runs interleaved,
	 * REPS rounds, median of each; sync() first so that no run pays for
	 * the previous one's writeback */
	for (size_t s = 0; s < sizeof(seqs) / sizeof(seqs[0]); s++) {
		enum { REPS = 3 };
		double t[3][REPS], spc[2] = { 0 }, med[3];
		for (int r = 0; r < REPS; r++) {
			sync();
			t[2][r] = raw_seq(chunk, seqs[s].seg, total, seqs[s].every);
			for (int k = 0; k < 2; k++) {
				sync();
				t[k][r] = dir_seq(kinds[k], chunk, seqs[s].seg, total, seqs[s].every, &spc[k]);
			}
		}
		for (int e = 0; e < 3; e++)
			med[e] = pct(t[e], REPS, 0.5);
		printf("{\"bench\":\"seq_write\",\"engine\":\"raw_pwrite_fdatasync\",\"segment_mib\":%zu,"
		       "\"commit_every_mib\":%zu,\"total_mib\":%zu,\"seconds\":%.3f,\"mib_s\":%.1f}\n",
		       seqs[s].seg >> 20, seqs[s].every >> 20, total >> 20, med[2],
		       (double)(total >> 20) / med[2]);
		for (int k = 0; k < 2; k++) {
			ratio_seq[k][s] = med[k] / med[2];
			spc_max = spc[k] > spc_max ? spc[k] : spc_max;
			printf("{\"bench\":\"seq_write\",\"engine\":\"rvf_dir\",\"io\":\"%s\","
			       "\"segment_mib\":%zu,\"commit_every_mib\":%zu,\"total_mib\":%zu,"
			       "\"seconds\":%.3f,\"mib_s\":%.1f,\"fsyncs_per_commit\":%.2f,"
			       "\"time_ratio_to_raw\":%.2f}\n", kind_name(kinds[k]), seqs[s].seg >> 20,
			       seqs[s].every >> 20, total >> 20, med[k], (double)(total >> 20) / med[k],
			       spc[k], ratio_seq[k][s]);
		}
		fflush(stdout);
	}
	printf("summary: small commit p50 / raw pwrite+fdatasync p50: io_uring %.2fx, syscall %.2fx "
	       "(a commit makes data and root durable: 2 fsyncs)\n", ratio_small[0], ratio_small[1]);
	printf("summary: sequential write time / raw loop (1, 16, 64 MiB segments): "
	       "io_uring %.2fx %.2fx %.2fx, syscall %.2fx %.2fx %.2fx (goal <= 1.20x for large)\n",
	       ratio_seq[0][0], ratio_seq[0][1], ratio_seq[0][2], ratio_seq[1][0], ratio_seq[1][1],
	       ratio_seq[1][2]);
	printf("summary: fsyncs per commit at most %.2f (goal <= 2)\n", spc_max);
	free(chunk);
	free(lat);
	free(raw);
	return 0;
}
