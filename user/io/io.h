/*
 * io/io.h - the I/O backend interface under the storage layer.
 *
 * Two backends implement it: io_uring (default; batched segment writes,
 * parallel chunked reads, and the commit as one linked chain
 * meta-write -> fdatasync -> root-write -> fdatasync) and plain syscalls
 * (pread/pwritev/fdatasync), for hosts where io_uring is unavailable. Tests
 * wrap a backend (io_set_wrapper) to inject faults and simulate crashes.
 *
 * Besides reads, writes and syncs, the ops carry the file's other durable
 * changes (its size, and its name in a directory), so a wrapper sees every
 * one of them.
 *
 * Every op returns 0 on success or -errno; a short write or read past EOF is
 * an error (-EIO / -ENODATA), so callers never see partial success.
 */
#ifndef RVF_IO_H
#define RVF_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "rvf/io.h"

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
	/* ftruncate(2) the file to size bytes. */
	int (*truncate)(struct io *io, uint64_t size);
	/* The file's size in bytes as reads through this io see it (a wrapper
	 * that holds writes counts them), so a length read from the file can
	 * be checked against it before anything is allocated for it. */
	int (*size)(struct io *io, uint64_t *size);
	/* Make a new name of the file durable: fsync(2) of the directory that
	 * holds path (the file's own data is not synced by this). */
	int (*sync_parent)(struct io *io, const char *path);
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

/*
 * Test hook inside the io_uring backend (process-wide; unset in normal use;
 * tests/crash/test_chain.c). submit() sees every write and fdatasync the
 * backend is about to submit, done() its result as the backend took it.
 * For a link of the commit chain, submit() may return a fault:
 *
 *   IO_FAULT_SHORT  a write link writes only the first half of its bytes
 *                   and completes short (on an fdatasync: as IO_FAULT_EIO);
 *   IO_FAULT_EIO    the link fails with -EIO without running.
 *
 * Either way the kernel itself cancels the rest of the chain (-ECANCELED),
 * as it does after any failed link: the backend puts a request the kernel
 * refuses (a write to fd -1) in the faulted link's place, or right after
 * the half write, and reports the faulted link's result as described.
 * Faults outside the chain are ignored.
 */
enum io_fault { IO_FAULT_NONE = 0, IO_FAULT_SHORT, IO_FAULT_EIO };

struct io_req_info {
	int link;          /* position in the commit chain; -1 outside it */
	int nlinks;        /* links in that chain; 0 outside it */
	int is_sync;       /* an fdatasync; otherwise a write */
	uint64_t off;      /* a write's place and size */
	size_t len;
};

struct io_uring_hook {
	enum io_fault (*submit)(void *ctx, const struct io_req_info *r);
	void (*done)(void *ctx, const struct io_req_info *r, int res);
	void *ctx;
};

/* h borrowed until replaced; NULL removes the hook. */
void io_uring_set_hook(const struct io_uring_hook *h);

/* The plain syscalls behind the truncate, size and sync_parent ops, shared
 * by both backends (none is on a hot path, so io_uring has no own). */
int io_fd_truncate(struct io *io, uint64_t size);
int io_fd_size(struct io *io, uint64_t *size);
int io_fd_sync_parent(struct io *io, const char *path);

/* Helpers shared by backends: total bytes of an iovec, and advance an iovec
 * array past n bytes (in place; returns the new count and start). */
size_t iov_total(const struct iovec *iov, int iovcnt);
int iov_advance(struct iovec **iov, int *iovcnt, size_t n);

#endif
