/*
 * io/io.c - backend selection and shared iovec helpers.
 *
 * Selection: an explicit kind wins; AUTO reads $RVF_IO, then tries io_uring
 * and falls back to syscalls, logging once per process why. Also the commit
 * sequence for backends that have no chain of their own, and the truncate,
 * size and parent-directory sync both backends share.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "io/io.h"

static io_wrap_fn wrapper;
static void *wrapper_ctx;

void io_set_wrapper(io_wrap_fn wrap, void *ctx)
{
	wrapper = wrap;
	wrapper_ctx = ctx;
}

int io_open(int fd, enum rvf_io_kind kind, struct io **out)
{
	static int fallback_logged;
	struct io *io = NULL;
	int err;

	if (kind == RVF_IO_AUTO) {
		const char *e = getenv("RVF_IO");
		if (e && !strcmp(e, "syscall"))
			kind = RVF_IO_SYSCALL;
		else if (e && (!strcmp(e, "uring") || !strcmp(e, "io_uring")))
			kind = RVF_IO_URING;
		else if (e && *e)
			return log_fail(-EINVAL, "RVF_IO=%s: expected \"uring\" or \"syscall\"", e);
	}
	switch (kind) {
	case RVF_IO_SYSCALL:
		err = io_sys_open(fd, &io);
		break;
	case RVF_IO_URING:
		err = io_uring_open(fd, &io);
		if (err)
			log_error("io_uring backend requested but unavailable: %s", strerror(-err));
		break;
	default:
		err = io_uring_open(fd, &io);
		if (err) {
			if (!fallback_logged++)
				log_warn("io_uring unavailable (%s); using the syscall I/O backend",
					 strerror(-err));
			err = io_sys_open(fd, &io);
		}
		break;
	}
	if (err)
		return err;
	if (wrapper)
		io = wrapper(io, wrapper_ctx);
	*out = io;
	return 0;
}

void io_close(struct io *io)
{
	if (io)
		io->ops->release(io);
}

int io_fd_truncate(struct io *io, uint64_t size)
{
	return ftruncate(io->fd, (off_t)size) ? -errno : 0;
}

int io_fd_size(struct io *io, uint64_t *size)
{
	struct stat st;

	if (fstat(io->fd, &st))
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int io_fd_sync_parent(struct io *io, const char *path)
{
	char *copy = strdup(path);
	int fd, err = 0;

	(void)io;
	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* never retried, like the file's own sync */
	if (fd < 0 || fsync(fd))
		err = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return err;
}

int io_commit_steps(struct io *io, const struct iovec *meta, int meta_cnt, uint64_t meta_off,
		    const void *root, size_t root_len, uint64_t root_off)
{
	int err = io->ops->pwritev(io, meta, meta_cnt, meta_off);

#ifdef RVF_MUTANT_ROOT_BEFORE_SYNC
	/* mutant (make mutants): the root goes out before the data is durable */
	if (!err)
		err = io_pwrite(io, root, root_len, root_off);
	if (!err)
		err = io->ops->sync(io);
#else
	/* the snapshot and every segment it names are durable before the root
	 * that points at them is written */
	if (!err)
		err = io->ops->sync(io);
	if (!err)
		err = io_pwrite(io, root, root_len, root_off);
#endif
	if (!err)
		err = io->ops->sync(io);
	return err;
}

size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

int iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (n && *iovcnt) {
		if (n >= (*iov)->iov_len) {
			n -= (*iov)->iov_len;
			(*iov)++;
			(*iovcnt)--;
		} else {
			(*iov)->iov_base = (char *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			n = 0;
		}
	}
	/* skip empty trailing entries */
	while (*iovcnt && (*iov)->iov_len == 0) {
		(*iov)++;
		(*iovcnt)--;
	}
	return *iovcnt;
}
