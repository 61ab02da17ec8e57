/*
 * storage/lock.c - see lock.h. The lock bytes sit far beyond any real file
 * size (fcntl locks may cover bytes past EOF), so they never interact with
 * I/O on the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "storage/lock.h"

#define LOCK_WRITER_BYTE (1LL << 62)
#define LOCK_LOAD_BYTE   ((1LL << 62) + 1)
#define LOCK_SEQ_BASE    (1LL << 61)      /* + seq, seq < LOCK_SEQ_LIMIT */

static int ofd(int fd, int cmd, short type, off_t start)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = 1;
	return fcntl(fd, cmd, &fl) ? -errno : 0;
}

/* 1 if another description holds a lock on [start, start + len), 0 if not. */
static int held_by_others(int fd, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	if (fcntl(fd, F_OFD_GETLK, &fl))
		return -errno;
	return fl.l_type != F_UNLCK;
}

int lock_writer(int fd, uint32_t timeout_ms, const char *path)
{
	uint64_t deadline = now_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	uint64_t sleep_us = 500;

	for (;;) {
		int err = ofd(fd, F_OFD_SETLK, F_WRLCK, LOCK_WRITER_BYTE);
		if (!err)
			return 0;
		if (err != -EAGAIN && err != -EACCES)
			return log_fail(err, "%s: cannot take the writer lock: %s", path, strerror(-err));
		uint64_t now = now_mono_ns();
		if (now >= deadline)
			return log_fail(-EBUSY, "writer locked: %s is being written by another handle "
					"or process (waited %u ms)", path, timeout_ms);
		uint64_t left_us = (deadline - now) / 1000;
		struct timespec ts;
		uint64_t s = sleep_us < left_us ? sleep_us : left_us;
		ts.tv_sec = (time_t)(s / 1000000);
		ts.tv_nsec = (long)(s % 1000000) * 1000;
		nanosleep(&ts, NULL);
		if (sleep_us < 50000)
			sleep_us *= 2;
	}
}

void unlock_writer(int fd)
{
	ofd(fd, F_OFD_SETLK, F_UNLCK, LOCK_WRITER_BYTE);
}

int lock_load(int fd)
{
	return ofd(fd, F_OFD_SETLK, F_RDLCK, LOCK_LOAD_BYTE);
}

void unlock_load(int fd)
{
	ofd(fd, F_OFD_SETLK, F_UNLCK, LOCK_LOAD_BYTE);
}

int lock_pin_seq(int fd, uint64_t seq)
{
	if (seq >= LOCK_SEQ_LIMIT)
		return -EOVERFLOW;
	return ofd(fd, F_OFD_SETLK, F_RDLCK, LOCK_SEQ_BASE + (off_t)seq);
}

void unlock_pin_seq(int fd, uint64_t seq)
{
	if (seq < LOCK_SEQ_LIMIT)
		ofd(fd, F_OFD_SETLK, F_UNLCK, LOCK_SEQ_BASE + (off_t)seq);
}

int lock_pins_below(int fd, uint64_t seq)
{
	int err = held_by_others(fd, LOCK_LOAD_BYTE, 1);

	if (err || seq == 0)
		return err;
	if (seq > LOCK_SEQ_LIMIT)
		seq = LOCK_SEQ_LIMIT;
	return held_by_others(fd, LOCK_SEQ_BASE, (off_t)seq);
}
