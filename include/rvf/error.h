/*
 * rvf/error.h - error convention and logging shared by every rvf layer.
 *
 * Every int-returning rvf function returns 0 (or a documented non-negative
 * count) on success and -errno on failure. Domain errors map to these errno
 * values, listed once here:
 *
 *   -EBADMSG    a checksum did not match (segment, metadata, root slot)
 *   -EUCLEAN    a structure is corrupt or inconsistent (no valid root, bad
 *               snapshot, overlapping extents, bad blob)
 *   -EPROTO     a malformed wire message
 *   -EBUSY      another process holds the writer lock past the timeout
 *   -EROFS      the handle is read-only, or the store is frozen
 *   -ENOTSUP    the file needs a newer format version / unknown feature
 *   -EIO        the handle is poisoned by an earlier write/fsync failure
 *   -ESTALE     a store handle's memory matches no committed snapshot (a
 *               refresh failed half-way; refresh again), or its path now
 *               names a different store
 *   -ENOENT     no such segment / field / file
 *   -EEXIST     the file (or id) already exists
 *   -EINVAL     bad argument
 *   -ENOMEM     out of memory
 *   -EFTYPE-like "not an rvf file" is reported as -ENOEXEC
 *
 * The library never prints: it reports through the log callback below.
 */
#ifndef RVF_ERROR_H
#define RVF_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rvf_log_level { RVF_LOG_ERROR = 0, RVF_LOG_WARN = 1, RVF_LOG_INFO = 2, RVF_LOG_DEBUG = 3 };

/* Log sink. msg is a view valid only during the call. */
typedef void (*rvf_log_fn)(void *ctx, enum rvf_log_level level, const char *msg);

/*
 * Set the process-wide log sink and the most verbose level passed to it.
 * fn == NULL restores the default, which discards everything (a library does
 * not write to stderr unless asked). Not thread-safe against concurrent logging.
 */
void rvf_set_log(rvf_log_fn fn, void *ctx, enum rvf_log_level max_level);

/* A ready-made sink that writes "rvf: <level>: msg" lines to stderr. */
void rvf_log_stderr(void *ctx, enum rvf_log_level level, const char *msg);

/*
 * Report through the same channel from code built on librvf (the tools'
 * data readers, say): rvf_log sends a message to the sink at level (an ERROR
 * also becomes this thread's rvf_last_error()); rvf_fail logs at ERROR and
 * returns err (a negative errno), for one-line error exits.
 */
__attribute__((format(printf, 2, 3)))
void rvf_log(enum rvf_log_level level, const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
int rvf_fail(int err, const char *fmt, ...);

/* Message for an rvf return value (negative errno); returns a static string. */
const char *rvf_strerror(int err);

/*
 * The text of the last error message logged by rvf in this thread (includes
 * file names and details, e.g. "writer locked: /x.rvf held by another
 * process"). View valid until the next rvf call on this thread; "" if none.
 */
const char *rvf_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
