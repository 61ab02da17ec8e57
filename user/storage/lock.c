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
#define LOCK_PIN_BYTE    ((1LL << 62) + 1)

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

int lock_pin(int fd)
{
	return ofd(fd, F_OFD_SETLK, F_RDLCK, LOCK_PIN_BYTE);
}

int lock_pins_present(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = LOCK_PIN_BYTE;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl))
		return -errno;
	return fl.l_type != F_UNLCK;
}
