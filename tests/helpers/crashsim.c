/* crashsim.c - see crashsim.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "crashsim.h"
#include "testutil.h"

struct held {
	uint64_t off;
	size_t len;
	uint8_t *data;
};

struct cs_io {
	struct io base;
	struct io *inner;
	struct crashsim *cs;
	struct held *held;
	size_t nheld, cap;
	struct tu_rng rng;
};


static struct cs_io *to_cs(struct io *io)
{
	return (struct cs_io *)io;
}

static void drop_held(struct cs_io *c)
{
	for (size_t i = 0; i < c->nheld; i++)
		free(c->held[i].data);
	c->nheld = 0;
}

static int apply(struct cs_io *c, const struct held *h, size_t len)
{
	return len ? io_pwrite(c->inner, h->data, len, h->off) : 0;
}

/*
 * How much of an unsynced write reaches the disk when the power goes: none,
 * all of it, or a torn prefix (at a sector boundary, or anywhere). All three
 * must be common: a wrong commit order typically shows only when a later
 * write (the root) survives whole and an earlier one (its data) does not.
 */
static size_t survives(struct cs_io *c, size_t len)
{
	switch (tu_rng_below(&c->rng, 8)) {
	case 0: case 1: case 2:
		return 0;
	case 3: case 4: case 5:
		return len;
	case 6:
		return (size_t)tu_rng_below(&c->rng, len / 512 + 1) * 512;
	default:
		return (size_t)tu_rng_below(&c->rng, len + 1);
	}
}

static void crash_now(struct cs_io *c)
{
	for (size_t i = 0; i < c->nheld; i++)
		apply(c, &c->held[i], survives(c, c->held[i].len));
	drop_held(c);
	c->cs->crashed = 1;
}

/* Count an op; returns 0 to proceed, -EIO when this op fails or crashes. */
static int tick(struct cs_io *c, int is_sync)
{
	struct crashsim *cs = c->cs;

	if (cs->crashed)
		return -EIO;
	cs->ops++;
	if (is_sync)
		cs->syncs++;
	else
		cs->writes++;
	if (cs->crash_at && cs->ops == cs->crash_at)
		return 1;     /* caller crashes after recording the op */
	if (cs->fail_at && cs->ops == cs->fail_at) {
		cs->failed = 1;
		if (is_sync)
			drop_held(c);
		return -EIO;
	}
	return 0;
}

/* The logical file's size: what is on disk, extended by the held writes (a
 * write cut to nothing by a truncate extends nothing, like an empty write). */
static int cs_size(struct io *io, uint64_t *size)
{
	struct cs_io *c = to_cs(io);
	struct stat st;

	if (c->cs->crashed)
		return -EIO;
	if (fstat(c->base.fd, &st))
		return -errno;
	*size = (uint64_t)st.st_size;
	for (size_t h = 0; h < c->nheld; h++)
		if (c->held[h].len && c->held[h].off + c->held[h].len > *size)
			*size = c->held[h].off + c->held[h].len;
	return 0;
}

static int cs_preadv(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct cs_io *c = to_cs(io);
	uint64_t size, end = off + iov_total(iov, iovcnt), o = off;
	int err = cs_size(io, &size);

	if (err)
		return err;
	if (end > size)
		return -ENODATA;
	for (int i = 0; i < iovcnt; i++) {
		size_t got = 0;
		if (!iov[i].iov_len)
			continue;   /* its base may be NULL */
		while (got < iov[i].iov_len) {
			ssize_t r = pread(c->base.fd, (char *)iov[i].iov_base + got,
					  iov[i].iov_len - got, (off_t)(o + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				break;
			got += (size_t)r;
		}
		memset((char *)iov[i].iov_base + got, 0, iov[i].iov_len - got);
		/* overlay held writes in order */
		uint64_t a = o, b = o + iov[i].iov_len;
		for (size_t h = 0; h < c->nheld; h++) {
			const struct held *w = &c->held[h];
			uint64_t s = w->off > a ? w->off : a;
			uint64_t e = w->off + w->len < b ? w->off + w->len : b;
			if (s < e)
				memcpy((char *)iov[i].iov_base + (s - a), w->data + (s - w->off), e - s);
		}
		o = b;
	}
	return 0;
}

static int hold(struct cs_io *c, const struct iovec *iov, int iovcnt, uint64_t off)
{
	size_t len = iov_total(iov, iovcnt), p = 0;
	uint8_t *d = malloc(len ? len : 1);

	if (!d)
		return -ENOMEM;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;   /* its base may be NULL */
		memcpy(d + p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	if (c->nheld == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->held = realloc(c->held, c->cap * sizeof(*c->held));
		if (!c->held)
			abort();
	}
	c->held[c->nheld++] = (struct held){ off, len, d };
	return 0;
}

static int cs_pwritev(struct io *io, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct cs_io *c = to_cs(io);
	int t = tick(c, 0);

	if (t < 0)
		return t;
	hold(c, iov, iovcnt, off);
	if (t == 1) {
		crash_now(c);
		return -EIO;
	}
	return 0;
}

/* A sync-like op begins: 0 to go on, -EIO when it fails or the power goes
 * at it (then the held writes have met their fate). */
static int sync_op(struct cs_io *c)
{
	int t = tick(c, 1);

	if (t < 0)
		return t;
	if (t == 1) {
		crash_now(c);
		return -EIO;
	}
	return 0;
}

static int cs_sync(struct io *io)
{
	struct cs_io *c = to_cs(io);
	int err = sync_op(c);

	if (err)
		return err;
	for (size_t i = 0; i < c->nheld && !err; i++)
		err = apply(c, &c->held[i], c->held[i].len);
	if (!err)
		drop_held(c);
	return err;
}

/* Held writes past size are cut, as the file they would land in is. */
static void cut_held(struct cs_io *c, uint64_t size)
{
	for (size_t i = 0; i < c->nheld; i++) {
		struct held *h = &c->held[i];

		if (h->off >= size)
			h->len = 0;
		else if (h->off + h->len > size)
			h->len = (size_t)(size - h->off);
	}
}

/* A size change is an op like a write. It takes effect at once (the file
 * everybody reads is the one on disk plus the held writes); when the power
 * goes at it, it reached the disk or did not, at random. */
static int cs_truncate(struct io *io, uint64_t size)
{
	struct cs_io *c = to_cs(io);
	int t = tick(c, 0), err = 0;

	if (t < 0)
		return t;
	if (t == 0 || tu_rng_below(&c->rng, 2)) {
		cut_held(c, size);
		err = c->inner->ops->truncate(c->inner, size);
	}
	if (t == 1) {
		crash_now(c);
		return -EIO;
	}
	return err;
}

/* The parent directory's fsync is an op like a sync: fail_at fails it,
 * crash_at loses the power there (the held writes of this file go as in
 * any crash; the name itself, already in the directory, stays). */
static int cs_sync_parent(struct io *io, const char *path)
{
	struct cs_io *c = to_cs(io);
	int err = sync_op(c);

	return err ? err : c->inner->ops->sync_parent(c->inner, path);
}

static void cs_release(struct io *io)
{
	struct cs_io *c = to_cs(io);

	drop_held(c);
	free(c->held);
	io_close(c->inner);
	free(c);
}

static const struct io_ops cs_ops = {
	.name = "crashsim",
	.preadv = cs_preadv,
	.pwritev = cs_pwritev,
	.sync = cs_sync,
	/* the backends' own sequence, so a wrong order in it shows up here
	 * (the io_uring chain is tested by tests/crash/test_chain.c) */
	.commit = io_commit_steps,
	.truncate = cs_truncate,
	.size = cs_size,
	.sync_parent = cs_sync_parent,
	.release = cs_release,
};

static struct io *wrap(struct io *inner, void *ctx)
{
	struct cs_io *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->base.ops = &cs_ops;
	c->base.fd = inner->fd;
	c->inner = inner;
	c->cs = ctx;
	tu_rng_init(&c->rng, c->cs->seed ^ 0x5eed);
	return &c->base;
}

void crashsim_install(struct crashsim *cs)
{
	io_set_wrapper(wrap, cs);
}

void crashsim_uninstall(void)
{
	io_set_wrapper(NULL, NULL);
}
