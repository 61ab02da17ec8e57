/*
 * rvfd/rvfd.h - the query daemon's internal pieces, shared by its files:
 *
 *   main.c     options, start-up, signals, shutdown
 *   ns.c       the served namespaces: one read-only store each, picked up
 *              again when another process commits (the watcher thread)
 *   handle.c   one datagram in, one reply out (transport independent)
 *   stats.c    counters, the latency histogram, the stats JSON
 *   filter.c   the kernel filter ladder: eBPF -> classic BPF -> userspace
 *   afxdp.c    --xdp-mode afxdp: one AF_XDP socket (and worker) per RX queue
 *              of --iface, fed by the XDP prefilter; zero-copy -> copy ->
 *              the UDP path alone
 *
 * Threads: the main thread waits for signals; one worker per socket runs
 * net_loop_run with handle_datagram; the watcher polls the stores for
 * commits. Workers hold d->lock for reading around each search; the watcher
 * holds it for writing only while it refreshes a store (replaying what
 * another process committed) or swaps in a reopened one, so a query always
 * sees one whole committed state. Each worker owns a query context, so a
 * search allocates nothing and takes no mutex.
 */
#ifndef RVF_RVFD_H
#define RVF_RVFD_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/afxdp.h"
#include "net/net.h"
#include "rvf/rvf.h"
#include "rvf/wire.h"

#define RVFD_STATS_MAX   16384        /* largest stats JSON */
#define RVFD_REPLY_CAP   (RVFD_STATS_MAX + RVF_WIRE_STATS_REPLY_HDR_LEN)
#define RVFD_LAT_BUCKETS 32          /* bucket b: latency < 2^b us (last: the rest) */

struct rvfd_ns {
	uint32_t id;
	char *path;                     /* owned */
	struct rvf_store *store;        /* owned; refreshed (or swapped) under d->lock (write) */
	struct rvf_wire_ns shape;
	uint64_t generation;            /* of the store being served */
	uint64_t refreshes;             /* commits picked up (watcher writes) */
	uint64_t live;                  /* live vectors of the served state */
};

struct rvfd_filter {
	uint32_t id;
	struct rvf_filter *f;           /* owned */
};

/* Per-worker counters: written by that worker only (relaxed atomic stores),
 * summed by whoever builds a stats reply. */
struct rvfd_counters {
	uint64_t datagrams;
	uint64_t queries;               /* valid queries searched */
	uint64_t stats_requests;
	uint64_t status[RVF_WIRE_INTERNAL + 1];   /* replies by status */
	uint64_t reason[RVF_WIRE_R_NREASONS];     /* userspace validator verdicts */
	uint64_t lat[RVFD_LAT_BUCKETS];           /* receive -> reply built, us */
};

struct rvfd;

struct rvfd_worker {
	struct rvfd *d;
	unsigned index;
	int fd;
	pthread_t thread;
	bool started;
	int rc;
	struct rvfd_counters c;
	struct net_loop_stats io;
	struct net_xsk *xsk;            /* AF_XDP workers: owned socket (fd above is
					 * then a borrowed UDP socket for replies) */
	struct net_xsk_loop_stats xio;
	struct rvf_query_ctx *qctx;     /* owned: this worker's search context */
	struct rvf_result res[RVF_WIRE_MAX_K];
};

enum rvfd_filter_level {
	RVFD_FILTER_NONE = 0,           /* userspace validation only */
	RVFD_FILTER_CBPF = 1,           /* classic BPF socket filter */
	RVFD_FILTER_EBPF = 2,           /* the eBPF prefilter (socket, + XDP) */
};

struct rvfd {
	/* configuration */
	struct rvfd_ns *ns;             /* n_ns, sorted by id */
	size_t n_ns;
	struct rvfd_filter *filters;    /* n_filters, sorted by id */
	size_t n_filters;
	struct net_addr listen;
	unsigned threads;
	uint32_t ef_default;
	uint32_t max_wait_ms;           /* 0 = never shed */
	uint32_t poll_ms;
	const char *instance;
	enum net_io_kind io;
	char io_why[160];               /* why io_uring is not used, or "" */
	size_t max_dgram;

	/* run time */
	pthread_rwlock_t lock;
	struct rvfd_worker *workers;
	int stop_fd;                    /* eventfd */
	atomic_bool stopping;
	uint64_t start_ns;

	/* the filter ladder */
	bool no_bpf;                    /* --no-bpf */
	bool trust_ebpf;                /* --trust-ebpf */
	const char *iface;              /* --iface, or NULL */
	int xdp_mode;                   /* RVF_XDP_NATIVE / _GENERIC, -1 = off */
	bool xdp_attached;
	char pin_dir[PATH_MAX];         /* --pin-dir, default /sys/fs/bpf/rvf/<instance> */
	enum rvfd_filter_level filter_level;
	char filter_why[1024];          /* what the ladder did and why, for humans */
	struct rvfd_bpf *bpf;           /* filter.c's state; NULL below eBPF */

	/* AF_XDP (afxdp.c) */
	bool afxdp_wanted;              /* --xdp-mode afxdp */
	uint32_t xsk_queues[RVF_WIRE_XSK_QUEUES];   /* --queues; n_queues 0 = every RX queue */
	unsigned n_queues;
	struct net_xsk_opts xsk_opts;   /* ring and frame sizes (ifname, queue set per socket) */
	enum net_xsk_mode xsk_mode;     /* what runs: OFF = the UDP path alone */
	char xsk_why[512];              /* how it came to be, for humans */
	uint64_t xsk_zc_refused;        /* sockets whose zero-copy bind was refused */
	uint64_t xsk_fallbacks;         /* 1 when AF_XDP was asked for and UDP serves alone */
	unsigned xsk_multi_buffer;      /* sockets bound with XDP_USE_SG */
	struct rvfd_worker *xworkers;   /* n_xworkers, one per AF_XDP socket */
	unsigned n_xworkers;

	/* watcher */
	pthread_t watcher;
	bool watcher_started;
	int watch_stop_fd;              /* eventfd */
};

/* ns.c */
int ns_open_all(struct rvfd *d);
void ns_close_all(struct rvfd *d);
const struct rvfd_ns *ns_find(const struct rvfd *d, uint32_t id);
int ns_watcher_start(struct rvfd *d);
void ns_watcher_stop(struct rvfd *d);
/* Check every store once for a commit and pick it up; returns how many
 * moved (the watcher's step, also run at start). */
int ns_poll_once(struct rvfd *d);

/* handle.c: the net_handler_fn of every worker (ctx = struct rvfd_worker). */
size_t handle_datagram(void *ctx, const struct net_dgram *dg, bool draining, uint8_t *reply, size_t cap);

/* main.c: while set, library errors are not printed (a rung of the filter
 * ladder that fails is reported once, as the ladder's result) */
extern bool rvfd_log_muted;

/* stats.c */
/* The userspace validator's verdicts summed over the workers. */
void stats_user_counters(struct rvfd *d, struct rvf_wire_counters *out);
void counters_add(uint64_t *c, uint64_t n);
void counters_latency(struct rvfd_counters *c, uint64_t us);
/* The stats JSON into buf (NUL-terminated); returns its length or -ENOSPC. */
int stats_json(struct rvfd *d, uint64_t request_id, char *buf, size_t cap);
const char *filter_level_name(enum rvfd_filter_level l);

/* filter.c */
/* Choose the level, load and attach it to every worker socket (and XDP on
 * --iface). 0 at whatever level it reached (d->filter_level, the story in
 * d->filter_why); -errno only for configuration errors (a pin directory
 * another live rvfd holds, an interface that does not exist). */
int filter_setup(struct rvfd *d);
/* Publish the userspace validator's counts beside the kernel's (pinned map
 * slot RVF_WIRE_SLOT_USER), so bpftool shows all three layers. */
void filter_publish_user(struct rvfd *d, const struct rvf_wire_counters *user);
/* Detach XDP and the socket filters, unpin, free. */
void filter_teardown(struct rvfd *d);
/* Kernel counters of a slot (RVF_WIRE_SLOT_XDP/SOCK); -ENOENT below eBPF. */
int filter_counters(struct rvfd *d, uint32_t slot, struct rvf_wire_counters *out);
/* AF_XDP socket fd into / out of the prefilter's rvf_xsks[queue] (and
 * rvf_xsks_sg[queue] for a socket bound with XDP_USE_SG). */
int filter_xsk_set(struct rvfd *d, uint32_t queue, int fd, bool multi_buffer);
void filter_xsk_clear(struct rvfd *d, uint32_t queue);

/* afxdp.c */
/* After filter_setup: open and register one socket per queue, or fall back
 * to the UDP path (d->xsk_mode, d->xsk_why). -errno only for configuration
 * errors (a queue the interface does not have, out of memory). */
int afxdp_setup(struct rvfd *d);
int afxdp_start(struct rvfd *d);        /* the AF_XDP worker threads */
void afxdp_unmap(struct rvfd *d);       /* map entries out: before the stop signal */
void afxdp_join(struct rvfd *d);        /* after the stop signal */
void afxdp_teardown(struct rvfd *d);    /* map entries out, sockets closed, freed */
/* Every worker, UDP ones first then AF_XDP ones: i < rvfd_nworkers(d). */
unsigned rvfd_nworkers(const struct rvfd *d);
struct rvfd_worker *rvfd_worker_at(struct rvfd *d, unsigned i);

#endif
