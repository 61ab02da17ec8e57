/*
 * common/log.c - the process-wide log sink, rvf_strerror and the per-thread
 * last error. The default sink discards everything: the library never prints
 * unless the application asks it to.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

static rvf_log_fn log_fn;
static void *log_ctx;
static enum rvf_log_level log_max = RVF_LOG_INFO;
static __thread char last_error[512];

void rvf_set_log(rvf_log_fn fn, void *ctx, enum rvf_log_level max_level)
{
	log_fn = fn;
	log_ctx = ctx;
	log_max = max_level;
}

void rvf_log_stderr(void *ctx, enum rvf_log_level level, const char *msg)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	(void)ctx;
	fprintf(stderr, "rvf: %s: %s\n", names[level <= RVF_LOG_DEBUG ? level : RVF_LOG_DEBUG], msg);
}

static void log_vmsg(enum rvf_log_level level, const char *fmt, va_list ap)
{
	char buf[sizeof(last_error)];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (level == RVF_LOG_ERROR)
		memcpy(last_error, buf, sizeof(buf));
	if (log_fn && level <= log_max)
		log_fn(log_ctx, level, buf);
}

void rvf_log(enum rvf_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int rvf_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(RVF_LOG_ERROR, fmt, ap);
	va_end(ap);
	return err;
}

const char *rvf_last_error(void)
{
	return last_error;
}

const char *rvf_strerror(int err)
{
	switch (err) {
	case 0:         return "success";
	case -EBADMSG:  return "checksum mismatch";
	case -EUCLEAN:  return "corrupt or inconsistent structure";
	case -EPROTO:   return "malformed wire message";
	case -EBUSY:    return "writer locked by another handle or process";
	case -EROFS:    return "read-only handle or frozen store";
	case -ENOTSUP:  return "needs a newer rvf format version or an unknown feature";
	case -EIO:      return "I/O error (handle poisoned; close and reopen)";
	case -ESTALE:   return "stale handle (refresh it again, or reopen)";
	case -ENOEXEC:  return "not an rvf store file";
	case -ENOENT:   return "not found";
	case -EEXIST:   return "already exists";
	case -EINVAL:   return "invalid argument";
	case -ENOMEM:   return "out of memory";
	case -ERANGE:   return "out of range";
	case -ENOSPC:   return "no space left on device";
	case -EISDIR:   return "is a directory";
	case -EACCES:   return "permission denied";
	case -EDOM:     return "dimension mismatch";
	default:
		if (err < 0)
			return strerror(-err);
		return "unknown result";
	}
}

uint64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
