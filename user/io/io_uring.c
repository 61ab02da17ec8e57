/*
 * io/io_uring.c - the io_uring backend.
 *
 * Bulk reads and writes are cut into chunks of at most CHUNK bytes and kept
 * up to DEPTH in flight, so a large segment moves with parallel requests;
 * short completions are re-queued for their remainder. The commit is one
 * submission of a linked chain:
 *
 *     WRITEV meta | LINK -> FSYNC(DATASYNC) | LINK -> WRITE root | LINK -> FSYNC(DATASYNC)
 *
 * (a large snapshot is written with the parallel path first and the chain
 * starts at the fsync). A failure anywhere cancels the rest of the chain
 * (-ECANCELED), and the first real error is returned. Tests fault single
 * links through io_uring_set_hook (io.h); the kernel still does the
 * cancelling.
 *
 * The file is deliberately NOT registered with the ring: a registered file
 * keeps the open file description alive until the ring is torn down, which
 * the kernel does asynchronously after the process dies, so a killed
 * writer's OFD lock would outlive it (seen in tests/crash/test_kill.c).
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/io.h"

#define DEPTH 32u
#define CHUNK (1u << 20)

struct uio {
	struct io base;
	struct io_uring ring;
	int dead;          /* -errno: the ring failed; writes and syncs return it */
	struct io *reads;  /* after that: reads go through plain syscalls */
};

/* tests only (io.h); read where requests are prepared and reaped */
static const struct io_uring_hook *hook;

void io_uring_set_hook(const struct io_uring_hook *h)
{
	hook = h;
}

static enum io_fault hook_submit(const struct io_req_info *r)
{
	return hook && hook->submit ? hook->submit(hook->ctx, r) : IO_FAULT_NONE;
}

static void hook_done(const struct io_req_info *r, int res)
{
	if (hook && hook->done)
		hook->done(hook->ctx, r, res);
}

/*
 * Submit errors worth a retry: a signal (always), or the kernel short of
 * memory / the completion queue needing to drain (RETRY_MAX times, backing
 * off up to 5 ms). 1 to retry, 0 to give up.
 */
#define RETRY_MAX 1000
static int retry_submit(int r, unsigned *tries)
{
	struct timespec ts = { 0, 0 };

	if (r == -EINTR)
		return 1;
	if ((r != -EAGAIN && r != -EBUSY) || ++*tries > RETRY_MAX)
		return 0;
	ts.tv_nsec = (long)(*tries < 100 ? *tries : 100) * 50000L;
	nanosleep(&ts, NULL);
	return 1;
}

/*
 * The ring failed in a way this backend cannot recover from. Requests that
 * were prepared but never submitted stay unsubmitted for good (nothing is
 * submitted on a dead ring, so a half-built commit chain can never be
 * flushed later); the ones the kernel took are waited for, so no caller
 * buffer is still in the kernel's hands when the error returns.
 */
static int ring_fail(struct uio *u, int err, unsigned prepared)
{
	unsigned ready = io_uring_sq_ready(&u->ring);
	unsigned left = prepared > ready ? prepared - ready : 0;
	struct io_uring_cqe *cqe;

	if (!u->dead)
		u->dead = err;
	while (left) {
		int r = io_uring_wait_cqe(&u->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		io_uring_cqe_seen(&u->ring, cqe);
		left--;
	}
	return err;
}

struct req {
	char *buf;
	size_t len;
	uint64_t off;
};

static struct uio *to_uio(struct io *io)
{
	return (struct uio *)io;
}

/* Cut the iovec into chunk requests. *out owned by caller. */
static int build_reqs(const struct iovec *iov, int iovcnt, uint64_t off, struct req **out, size_t *n)
{
	size_t cap = 0, cnt = 0;
	struct req *r = NULL;

	for (int i = 0; i < iovcnt; i++)
		cap += (iov[i].iov_len + CHUNK - 1) / CHUNK;
	if (cap == 0) {
		*out = NULL;
		*n = 0;
		return 0;
	}
	r = malloc(cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (int i = 0; i < iovcnt; i++) {
		char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		while (left) {
			size_t c = left < CHUNK ? left : CHUNK;
			r[cnt++] = (struct req){ .buf = p, .len = c, .off = off };
			p += c;
			off += c;
			left -= c;
		}
	}
	*out = r;
	*n = cnt;
	return 0;
}

/* On a dead ring the last commit stays readable: reads use plain syscalls. */
static int dead_read(struct uio *u, const struct iovec *iov, int iovcnt, uint64_t off)
{
	if (!u->reads && io_sys_open(u->base.fd, &u->reads))
		return u->dead;
	return u->reads->ops->preadv(u->reads, iov, iovcnt, off);
}

static int uring_rw(struct uio *u, int write, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct req *reqs = NULL;
	size_t n = 0, next = 0, inflight = 0, nretry = 0;
	size_t *retry = NULL;
	unsigned tries = 0;
	int err;

	if (u->dead)
		return write ? u->dead : dead_read(u, iov, iovcnt, off);
	err = build_reqs(iov, iovcnt, off, &reqs, &n);
	if (err || n == 0)
		return err;
	retry = malloc(n * sizeof(*retry));
	if (!retry) {
		free(reqs);
		return -ENOMEM;
	}
	while ((!err && (next < n || nretry)) || inflight) {
		while (!err && inflight < DEPTH && (nretry || next < n)) {
			size_t idx = nretry ? retry[--nretry] : next++;
			struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
			if (!sqe) {
				/* cannot happen with DEPTH <= ring size; be safe */
				if (idx == next - 1 && !nretry)
					next--;
				else
					retry[nretry++] = idx;
				break;
			}
			if (write) {
				struct io_req_info ri = { -1, 0, 0, reqs[idx].off, reqs[idx].len };
				hook_submit(&ri);
				io_uring_prep_write(sqe, u->base.fd, reqs[idx].buf, (unsigned)reqs[idx].len, reqs[idx].off);
			} else {
				io_uring_prep_read(sqe, u->base.fd, reqs[idx].buf, (unsigned)reqs[idx].len, reqs[idx].off);
			}
			io_uring_sqe_set_data64(sqe, idx);
			inflight++;
		}
		int r = io_uring_submit_and_wait(&u->ring, 1);
		if (r < 0 && !retry_submit(r, &tries)) {
			err = ring_fail(u, r, (unsigned)inflight);
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&u->ring, head, cqe) {
			size_t idx = (size_t)io_uring_cqe_get_data64(cqe);
			int res = cqe->res;
			seen++;
			inflight--;
			if (write) {
				struct io_req_info ri = { -1, 0, 0, reqs[idx].off, reqs[idx].len };
				hook_done(&ri, res);
			}
			if (res < 0) {
				if ((res == -EINTR || res == -EAGAIN) && !err)
					retry[nretry++] = idx;
				else if (!err)
					err = res;
			} else if ((size_t)res < reqs[idx].len) {
				if (res == 0) {
					if (!err)
						err = write ? -EIO : -ENODATA;
				} else {
					reqs[idx].buf += res;
					reqs[idx].len -= (size_t)res;
					reqs[idx].off += (uint64_t)res;
					retry[nretry++] = idx;
				}
			}
		}
		io_uring_cq_advance(&u->ring, seen);
	}
	free(retry);
	free(reqs);
	/* a read the ring failed under is simply done again without it */
	if (err && !write && u->dead)
		err = dead_read(u, iov, iovcnt, off);
	return err;
}

static int u_preadv(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return uring_rw(to_uio(io), 0, iov, iovcnt, off);
}

static int u_pwritev(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return uring_rw(to_uio(io), 1, iov, iovcnt, off);
}

/* A commit-chain link before it is prepared: a write (iov) or an fsync. */
struct link {
	const struct iovec *iov;
	int iovcnt;
	struct io_req_info info;
	int inject;        /* a faulted link's reported result */
};

/* user_data of the request a short-write fault adds to cut the chain */
#define CUT_TAG UINT64_MAX

/* Submit the prepared chain (nsqe requests for n links) and reap it; the
 * first non-cancel error wins, a short write is -EIO. */
static int run_chain(struct uio *u, unsigned nsqe, struct link *l, unsigned n)
{
	struct io_uring_cqe *cqe;
	int err = 0, r;
	unsigned got = 0, tries = 0;

	/* The whole chain goes in at once, or the ring is given up. A short
	 * submit leaves the part the kernel took running as a chain of its
	 * own; sending the rest later would make a second chain not ordered
	 * after the first (a root write could overtake the snapshot write). */
	for (;;) {
		unsigned ready = io_uring_sq_ready(&u->ring);

		r = io_uring_submit(&u->ring);
		if (r == (int)ready)
			break;
		if (r > 0)
			return ring_fail(u, -EIO, nsqe);
		if (r == 0 || !retry_submit(r, &tries))
			return ring_fail(u, r ? r : -EIO, nsqe);
	}
	while (got < nsqe) {
		r = io_uring_wait_cqe(&u->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return ring_fail(u, r, nsqe - got);
		uint64_t idx = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
		got++;
		if (idx >= n)
			continue;          /* CUT_TAG: the kernel refused it, as meant */
		if (l[idx].inject)
			res = l[idx].inject;
		hook_done(&l[idx].info, res);
		if (res < 0) {
			if (!err || err == -ECANCELED)
				err = res;
		} else if (!l[idx].info.is_sync && (size_t)res != l[idx].info.len) {
			if (!err || err == -ECANCELED)
				err = -EIO;
		}
	}
	return err;
}

/*
 * Prepare the n links as one chain (each linked to the next) and run it.
 * A fault from the test hook replaces a link by a request the kernel
 * refuses, so the kernel cancels everything after it; a short write keeps
 * its first half and is followed by such a request.
 */
static int submit_chain(struct uio *u, struct link *l, unsigned n)
{
	static char cut_byte;
	struct iovec half[16];
	unsigned nsqe = 0;
	int faulted = 0;

	if (io_uring_sq_space_left(&u->ring) < n + 1)
		return ring_fail(u, -EIO, 0);
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
		enum io_fault f;

		l[i].info.link = (int)i;
		l[i].info.nlinks = (int)n;
		l[i].inject = 0;
		f = hook_submit(&l[i].info);
		if (faulted)
			f = IO_FAULT_NONE;   /* one fault per chain: the rest is cancelled */
		if (f == IO_FAULT_SHORT && (l[i].info.is_sync || l[i].iovcnt > 16 || l[i].info.len < 2))
			f = IO_FAULT_EIO;
		faulted |= f != IO_FAULT_NONE;
		if (f == IO_FAULT_EIO) {
			io_uring_prep_write(sqe, -1, &cut_byte, 1, 0);
			l[i].inject = -EIO;
		} else if (f == IO_FAULT_SHORT) {
			size_t want = l[i].info.len / 2;
			int k = 0;
			for (; want && k < l[i].iovcnt; k++) {
				half[k] = l[i].iov[k];
				if (half[k].iov_len > want)
					half[k].iov_len = want;
				want -= half[k].iov_len;
			}
			io_uring_prep_writev(sqe, u->base.fd, half, (unsigned)k, l[i].info.off);
			io_uring_sqe_set_data64(sqe, i);
			sqe->flags |= IOSQE_IO_LINK;
			nsqe++;
			sqe = io_uring_get_sqe(&u->ring);
			io_uring_prep_write(sqe, -1, &cut_byte, 1, 0);
			io_uring_sqe_set_data64(sqe, CUT_TAG);
			if (i + 1 < n)
				sqe->flags |= IOSQE_IO_LINK;
			nsqe++;
			continue;
		} else if (l[i].info.is_sync) {
			io_uring_prep_fsync(sqe, u->base.fd, IORING_FSYNC_DATASYNC);
		} else {
			io_uring_prep_writev(sqe, u->base.fd, l[i].iov, (unsigned)l[i].iovcnt, l[i].info.off);
		}
		io_uring_sqe_set_data64(sqe, i);
		if (i + 1 < n)
			sqe->flags |= IOSQE_IO_LINK;
		nsqe++;
	}
	return run_chain(u, nsqe, l, n);
}

static int u_sync(struct io *io)
{
	struct uio *u = to_uio(io);
	struct link l = { .info = { -1, 0, 1, 0, 0 } };
	struct io_uring_sqe *sqe;

	if (u->dead)
		return u->dead;
	/* every call reaps all it submits, so the ring is empty here */
	if (io_uring_sq_space_left(&u->ring) < 1)
		return ring_fail(u, -EIO, 0);
	hook_submit(&l.info);
	sqe = io_uring_get_sqe(&u->ring);
	io_uring_prep_fsync(sqe, u->base.fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, 0);
	return run_chain(u, 1, &l, 1);
}

static int u_commit(struct io *io, const struct iovec *meta, int meta_cnt, uint64_t meta_off,
		    const void *root, size_t root_len, uint64_t root_off)
{
	struct uio *u = to_uio(io);
	struct iovec rootv = { .iov_base = (void *)root, .iov_len = root_len };
	struct link chain[4], sync = { .info = { .is_sync = 1 } };
	size_t meta_len = iov_total(meta, meta_cnt);
	unsigned n = 0;
	int err;

	if (u->dead)
		return u->dead;
	if (meta_len > CHUNK || meta_cnt > 16) {
		/* large snapshot: parallel chunked write first */
		err = uring_rw(u, 1, meta, meta_cnt, meta_off);
		if (err)
			return err;
	} else {
		chain[n++] = (struct link){ meta, meta_cnt, { .off = meta_off, .len = meta_len }, 0 };
	}
#ifdef RVF_MUTANT_ROOT_BEFORE_SYNC
	/* mutant (make mutants): the root is linked before the data fsync */
	chain[n++] = (struct link){ &rootv, 1, { .off = root_off, .len = root_len }, 0 };
	chain[n++] = sync;
#else
	chain[n++] = sync;
	chain[n++] = (struct link){ &rootv, 1, { .off = root_off, .len = root_len }, 0 };
#endif
	chain[n++] = sync;
	return submit_chain(u, chain, n);
}

static void u_release(struct io *io)
{
	struct uio *u = to_uio(io);

	io_uring_queue_exit(&u->ring);
	io_close(u->reads);
	free(u);
}

static const struct io_ops uring_ops = {
	.name = "io_uring",
	.preadv = u_preadv,
	.pwritev = u_pwritev,
	.sync = u_sync,
	.commit = u_commit,
	.truncate = io_fd_truncate,
	.size = io_fd_size,
	.sync_parent = io_fd_sync_parent,
	.release = u_release,
};

int io_uring_open(int fd, struct io **out)
{
	struct uio *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return -ENOMEM;
	err = io_uring_queue_init(DEPTH * 2, &u->ring, 0);
	if (err) {
		free(u);
		return err;
	}
	u->base.ops = &uring_ops;
	u->base.fd = fd;
	*out = &u->base;
	return 0;
}
