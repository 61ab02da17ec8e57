/*
 * bench-rvfd/bench.h - what main.c (the UDP path: latency, flood) shares
 * with afxdp.c (AF_XDP copy mode against the UDP path on one veth pair).
 */
#ifndef RVF_BENCH_RVFD_H
#define RVF_BENCH_RVFD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "data/data.h"
#include "harness/harness.h"

extern char bindir[PATH_MAX];          /* where rvfd, rvf and rvf-load are */
extern struct netpair bench_pair;      /* the veth pair, removed by cleanup() */
extern pid_t daemon_pid;               /* the running rvfd, or 0 */
extern int bench_k, bench_ef;          /* what measure() asks for */

double now_s(void);
/* Run cmd and parse what it prints as JSON; NULL if it could not run or
 * printed no JSON (then, with what set, "bench-rvfd: <what> said: ..."). */
json_t *bench_json_of(const char *cmd, const char *what);
/* The q-quantile of v[0..n) (sorts v). */
double pct(double *v, size_t n, double q);
/* Kill the daemon, remove the namespaces (also atexit). */
void cleanup(void);
/* rvfd on store (namespace 1), one worker, in netns (NULL: here); extra:
 * more arguments separated by spaces. The port, 0 on failure. */
uint16_t start_rvfd(const char *log, const char *netns, const char *store, const char *listen,
		    const char *extra, char *filter_line, size_t fl_len);
void stop_rvfd(void);
/* One query at a time against ip:port (50 warm-up queries first); lat[i]
 * the round trip of query i in seconds. 0 or -1. */
int measure(const char *ip, uint16_t port, const float *q, size_t nq, uint32_t dim, double *lat);
/* CPU seconds (user + system, every thread) the daemon has used so far. */
double daemon_cpu_s(void);
int bench_build_store(const char *path, const struct data_mat *base);
int bench_inproc(const char *path, const struct data_mat *qm, int k, int ef, double *out);

/* afxdp.c: the AF_XDP phase; 0, or 1 when it could not run at all. */
int bench_afxdp(const char *dir);

#endif
