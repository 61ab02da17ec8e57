/*
 * io/io.h - the I/O backend interface under the storage layer.
 *
 * Two backends implement it: io_uring (default; batched segment writes,
 * parallel chunked reads, and the commit as one linked chain
 * meta-write -> fdatasync -> root-write -> fdatasync) and plain syscalls
 * (pread/pwritev/fdatasync), for hosts where io_uring is unavailable. Tests
 * wrap a backend (io_set_wrapper) to inject faults and simulate crashes.
 *
 * Every op returns 0 on success or -errno; a short write or read past EOF is
 * an error (-EIO / -ENODATA), so callers never see partial success.
 */
#ifndef RVF_IO_H
#define RVF_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "rvf/dir.h"

struct io;

struct io_ops {
	const char *name;
	/* Read exactly the iovec total at off; -ENODATA if the file ends first. */
	int (*preadv)(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off);
	/* Write exactly the iovec total at off. */
	int (*pwritev)(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off);
	/* fdatasync(2). */
	int (*sync)(struct io *io);
	/* The commit sequence: write meta at meta_off, sync, write root at
	 * root_off, sync. Stops at the first failure. */
	int (*commit)(struct io *io, const struct iovec *meta, int meta_cnt, uint64_t meta_off,
		      const void *root, size_t root_len, uint64_t root_off);
	/* Release backend resources (not the fd). */
	void (*release)(struct io *io);
};

struct io {
	const struct io_ops *ops;
	int fd;
};

/* Open a backend over fd (borrowed; stays open). kind AUTO consults $RVF_IO
 * ("uring" | "syscall"), then tries io_uring and falls back to syscalls with
 * one log line. *out owned: free with io_close. */
int io_open(int fd, enum rvf_io_kind kind, struct io **out);
void io_close(struct io *io);

int io_sys_open(int fd, struct io **out);
int io_uring_open(int fd, struct io **out);

/* The commit sequence through io's own pwritev and sync (for backends with
 * no native chain, and the crash simulator, which must see the same order a
 * backend uses): write meta, sync, write root, sync. */
int io_commit_steps(struct io *io, const struct iovec *meta, int meta_cnt, uint64_t meta_off,
		    const void *root, size_t root_len, uint64_t root_off);

static inline int io_pread(struct io *io, void *buf, size_t len, uint64_t off)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };
	return io->ops->preadv(io, &v, 1, off);
}

static inline int io_pwrite(struct io *io, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
	return io->ops->pwritev(io, &v, 1, off);
}

/*
 * Test hook: when set, io_open passes every new backend through wrap(), which
 * returns the io to use (it may wrap and own the inner one). Process-wide.
 */
typedef struct io *(*io_wrap_fn)(struct io *inner, void *ctx);
void io_set_wrapper(io_wrap_fn wrap, void *ctx);

/* Helpers shared by backends: total bytes of an iovec, and advance an iovec
 * array past n bytes (in place; returns the new count and start). */
size_t iov_total(const struct iovec *iov, int iovcnt);
int iov_advance(struct iovec **iov, int *iovcnt, size_t n);

#endif
