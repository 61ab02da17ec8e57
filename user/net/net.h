/*
 * net/net.h - UDP plumbing for the query service (librvfsvc): addresses,
 * sockets, and the datagram loop a worker thread runs.
 *
 * The loop knows nothing of the protocol: it hands each datagram to a
 * handler (a datagram and its source in, a reply out) and sends what the
 * handler wrote back to the source. Two transports sit behind one call:
 *
 *   io_uring   a multishot recvmsg on the socket drawing from a provided
 *              buffer ring (re-armed whenever it ends, e.g. on -ENOBUFS when
 *              the ring ran dry), replies as sendmsg SQEs, everything of one
 *              wakeup submitted together;
 *   syscall    poll + recvmmsg / sendmmsg, for hosts where io_uring is not
 *              allowed (a seccomp profile, kernel.io_uring_disabled).
 *
 * A kernel-bypass receive path (AF_XDP) plugs in at the same handler.
 *
 * Errors: 0 / -errno, with a message through the library log (rvf/error.h).
 */
#ifndef RVF_NET_NET_H
#define RVF_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* "A.B.C.D:PORT", "[v6]:PORT" or "localhost:PORT" (127.0.0.1). Only numeric
 * addresses, never a DNS lookup. 0 or -EINVAL (logged: what is wrong). */
int net_addr_parse(const char *s, struct net_addr *out);
/* "A.B.C.D:PORT" / "[v6]:PORT" into buf (64 bytes is enough). */
void net_addr_str(const struct sockaddr *sa, char *buf, size_t len);
uint16_t net_addr_port(const struct net_addr *a);
void net_addr_set_port(struct net_addr *a, uint16_t port);

/* A UDP socket bound to a (close-on-exec). reuseport sets SO_REUSEPORT
 * first. 0 or -errno (-EADDRINUSE, -EADDRNOTAVAIL, ...), logged with the
 * address. *a's port is updated to the bound one (port 0 picks one). */
int net_udp_bind(struct net_addr *a, bool reuseport, int *fd);

/* Ask for socket buffers of bytes each way: SO_RCVBUFFORCE/SO_SNDBUFFORCE
 * when allowed (CAP_NET_ADMIN), else the plain options (capped by
 * net.core.rmem_max). Returns the receive buffer the kernel granted. */
int net_udp_buffers(int fd, int bytes);

/* One received datagram, as the loop hands it to the handler. */
struct net_dgram {
	const uint8_t *data;
	size_t len;                    /* the datagram's real length */
	size_t avail;                  /* bytes of it at data: < len when it was
	                                * longer than the receive buffer */
	const struct sockaddr *src;
	socklen_t src_len;
	uint64_t rx_ns;                /* kernel receive time (CLOCK_REALTIME ns), 0 unknown */
};

/*
 * Handle one datagram; write the reply (at most cap bytes) to reply and
 * return its length, or 0 to send nothing. draining is true for datagrams
 * read after the stop signal (still queued in the socket). Called from the
 * loop's thread only.
 */
typedef size_t (*net_handler_fn)(void *ctx, const struct net_dgram *d, bool draining,
				 uint8_t *reply, size_t cap);

enum net_io_kind {
	NET_IO_URING = 1,
	NET_IO_SYSCALL = 2,
};
const char *net_io_name(enum net_io_kind k);   /* "io_uring" | "syscall" */

/*
 * Can this process run the io_uring transport? Sets up a small ring and a
 * provided buffer ring and checks the opcodes it needs. 0, or -errno with
 * the reason in why (e.g. "io_uring_setup: Function not implemented").
 */
int net_uring_probe(char *why, size_t why_len);

struct net_loop_opts {
	int fd;                        /* bound UDP socket (borrowed) */
	int stop_fd;                   /* eventfd: readable = stop (borrowed) */
	enum net_io_kind io;
	net_handler_fn fn;
	void *ctx;
	size_t max_dgram;              /* receive buffer per datagram; 0 = 65536 */
	size_t reply_cap;              /* largest reply; 0 = 2048 */
	unsigned batch;                /* datagrams per syscall batch; 0 = 64 */
	unsigned drain_max;            /* datagrams answered after stop; 0 = 4096 */
};

/* What a loop did, for the daemon's counters (plain fields, written by the
 * loop's thread with relaxed atomic stores, read by anyone). */
struct net_loop_stats {
	uint64_t received;             /* datagrams */
	uint64_t sent;                 /* replies */
	uint64_t send_errors;
	uint64_t rearms;               /* io_uring: multishot recv re-armed */
	uint64_t drained;              /* answered after stop */
	uint64_t fallbacks;            /* io_uring failed at run time: now syscall */
};

/*
 * Serve fd until stop_fd becomes readable, then answer what is still queued
 * (draining, at most drain_max) and return 0. -errno on a setup failure
 * (logged). An io_uring loop whose ring fails at run time logs it once and
 * carries on with the syscall transport (counted in st->fallbacks).
 */
int net_loop_run(const struct net_loop_opts *o, struct net_loop_stats *st);

/* Helpers both receive paths (this loop and AF_XDP's, net/afxdp.h) share. */

/* *c += n as one relaxed atomic store: the loop's thread writes its
 * counters, anyone may read them. */
static inline void net_bump(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Send tx[0..n) with sendmmsg; a datagram the kernel refuses is counted in
 * *errors and skipped (sendmmsg reports only the first failure of a call),
 * the others in *sent (both with net_bump). */
void net_send_all(int fd, struct mmsghdr *tx, unsigned n, uint64_t *sent, uint64_t *errors);

#endif
