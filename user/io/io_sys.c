/*
 * io/io_sys.c - the plain syscall backend: preadv/pwritev loops and
 * fdatasync. Used where io_uring is unavailable (containers often block it)
 * and in tests, which run every storage suite on both backends.
 */
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"

#define IOV_STACK 64

static int copy_iov(const struct iovec *in, int n, struct iovec *stack, struct iovec **out)
{
	*out = n <= IOV_STACK ? stack : malloc(sizeof(*in) * (size_t)n);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, in, sizeof(*in) * (size_t)n);
	return 0;
}

/* preadv or pwritev until the whole iovec is done: EINTR retried, a short
 * count continued; a read that hits the end of the file is -ENODATA, a
 * write that makes no progress -EIO. */
static int sys_rw(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off, bool write)
{
	struct iovec stack[IOV_STACK], *v, *cur;
	int err = copy_iov(iov, iovcnt, stack, &v);

	if (err)
		return err;
	cur = v;
	iov_advance(&cur, &iovcnt, 0);
	while (iovcnt > 0) {
		int cnt = iovcnt > IOV_MAX ? IOV_MAX : iovcnt;
		ssize_t r = write ? pwritev(io->fd, cur, cnt, (off_t)off) : preadv(io->fd, cur, cnt, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0) {
			err = write ? -EIO : -ENODATA;
			break;
		}
		off += (uint64_t)r;
		iov_advance(&cur, &iovcnt, (size_t)r);
	}
	if (v != stack)
		free(v);
	return err;
}

static int sys_preadv(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return sys_rw(io, iov, iovcnt, off, false);
}

static int sys_pwritev(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return sys_rw(io, iov, iovcnt, off, true);
}

static int sys_sync(struct io *io)
{
	/* Never retried: after a failed fsync the kernel may have dropped the
	 * dirty pages, so a second success would prove nothing. */
	return fdatasync(io->fd) ? -errno : 0;
}

static void sys_release(struct io *io)
{
	free(io);
}

static const struct io_ops sys_ops = {
	.name = "syscall",
	.preadv = sys_preadv,
	.pwritev = sys_pwritev,
	.sync = sys_sync,
	.commit = io_commit_steps,
	.truncate = io_fd_truncate,
	.size = io_fd_size,
	.sync_parent = io_fd_sync_parent,
	.release = sys_release,
};

int io_sys_open(int fd, struct io **out)
{
	struct io *io = calloc(1, sizeof(*io));

	if (!io)
		return -ENOMEM;
	io->ops = &sys_ops;
	io->fd = fd;
	*out = io;
	return 0;
}
