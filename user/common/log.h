/*
 * common/log.h - internal logging and small helpers shared by all modules.
 * Messages go to the sink set with rvf_set_log(); ERROR messages are also kept
 * as the thread's rvf_last_error().
 */
#ifndef RVF_COMMON_LOG_H
#define RVF_COMMON_LOG_H

#include <stdint.h>
#include "rvf/error.h"

__attribute__((format(printf, 2, 3)))
void log_msg(enum rvf_log_level level, const char *fmt, ...);

#define log_error(...) log_msg(RVF_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(RVF_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(RVF_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(RVF_LOG_DEBUG, __VA_ARGS__)

/* Log at ERROR and return err (a negative errno), for one-line error exits. */
__attribute__((format(printf, 2, 3)))
int log_fail(int err, const char *fmt, ...);

/* CLOCK_REALTIME / CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_realtime_ns(void);
uint64_t now_mono_ns(void);

#endif
