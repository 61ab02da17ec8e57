/*
 * common/log.h - internal logging and small helpers shared by all modules.
 * Messages go to the sink set with rvf_set_log(); ERROR messages are also kept
 * as the thread's rvf_last_error().
 */
#ifndef RVF_COMMON_LOG_H
#define RVF_COMMON_LOG_H

#include <stdint.h>
#include "rvf/error.h"

/* The library's own names for the public rvf_log / rvf_fail (rvf/error.h). */
#define log_msg(...)   rvf_log(__VA_ARGS__)
#define log_fail(...)  rvf_fail(__VA_ARGS__)
#define log_error(...) log_msg(RVF_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(RVF_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(RVF_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(RVF_LOG_DEBUG, __VA_ARGS__)

/* CLOCK_REALTIME / CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_realtime_ns(void);
uint64_t now_mono_ns(void);

#endif
