/*
 * net/afxdp.h - the kernel-bypass receive path (librvfsvc): one AF_XDP
 * socket on one RX queue of an interface, its UMEM, and the loop a worker
 * runs on it. The XDP program that fills the socket is not ours to load
 * here (libxdp's own is inhibited): the caller attaches the prefilter and
 * puts net_xsk_fd() into its XSKMAP (user/bpfload rvf_bpf_xsk_set).
 *
 *   UMEM      nframes frames of frame_size bytes (anonymous mmap, locked by
 *             the kernel: needs CAP_IPC_LOCK or RLIMIT_MEMLOCK >= its size),
 *             a fill ring the kernel takes empty frames from and a
 *             completion ring (unused: replies do not go out on the TX ring).
 *   frames    all start on a free stack; the fill ring is topped up from it
 *             before each wait, and a received frame goes back on the stack
 *             once its datagram has been handled (recycled, never freed).
 *   bind      XDP_ZEROCOPY first (needs driver support), then XDP_COPY; the
 *             mode that worked is reported. Either can fail (no AF_XDP, no
 *             CAP_NET_RAW, memlock): the caller then serves by UDP only.
 *
 * The loop parses Ethernet (up to two VLAN tags), IPv4 (header checksum,
 * lengths, no fragments) and UDP (to the served port, length), hands the
 * payload to the same net_handler_fn the UDP loop calls, and sends the reply
 * with sendmmsg on a normal UDP socket bound to the served port, so the
 * client sees the same source address and port either way. UDP checksums
 * are not verified (on veth a local sender leaves them partial; the payload
 * is validated in full by the handler). Anything else in a frame (not IPv4
 * UDP to the port, bad lengths) is counted and recycled unanswered.
 *
 * Frames carry no receive timestamp: --max-wait-ms shedding does not apply
 * to AF_XDP queries (a full RX ring drops instead: rx_ring_full).
 *
 * Queries in frames larger than RVF_WIRE_XSK_MAX_FRAME (jumbo MTUs) are
 * redirected only to sockets bound with XDP_USE_SG (multi_buffer), and then
 * reassembled from their descriptors; otherwise the prefilter passes them to
 * the stack. Queries larger than the MTU arrive as IP fragments, which are
 * never redirected: the stack reassembles them and the UDP path answers.
 *
 * Errors: 0 / -errno, logged through the library log.
 */
#ifndef RVF_NET_AFXDP_H
#define RVF_NET_AFXDP_H

#include <stdbool.h>
#include <stdint.h>

#include "net/net.h"

struct net_xsk;

enum net_xsk_mode {
	NET_XSK_OFF = 0,
	NET_XSK_ZEROCOPY = 1,
	NET_XSK_COPY = 2,
};
const char *net_xsk_mode_name(enum net_xsk_mode m);   /* "off" | "zerocopy" | "copy" */

/* Defaults (0 in the options) and limits. Ring sizes are powers of two. */
#define NET_XSK_FRAME_SIZE   4096u      /* 2048 or 4096 */
#define NET_XSK_RING         1024u      /* rx and fill rings: 64 .. 16384 */
#define NET_XSK_RING_MIN     64u
#define NET_XSK_RING_MAX     16384u
/* UMEM frames default to rx ring + fill ring, at least that many. */

struct net_xsk_opts {
	const char *ifname;
	uint32_t queue;
	uint32_t frame_size;            /* 0 = NET_XSK_FRAME_SIZE */
	uint32_t rx_size;               /* 0 = NET_XSK_RING */
	uint32_t fill_size;             /* 0 = NET_XSK_RING */
	uint32_t nframes;               /* 0 = rx_size + fill_size */
	bool no_zerocopy;               /* skip the zero-copy attempt */
	bool multi_buffer;              /* bind with XDP_USE_SG (a frame larger than
					 * one UMEM frame arrives as several
					 * descriptors), else without */
};

/* Check sizes without creating anything: 0 or -EINVAL with the reason in why. */
int net_xsk_check_opts(const struct net_xsk_opts *o, char *why, size_t why_len);

/*
 * Create the UMEM and the socket on (ifname, queue): zero-copy, then copy
 * (with multi_buffer: zero-copy + SG, copy + SG, then copy without SG).
 * *out (owned, net_xsk_close) and its mode on success. zc_err / sg_err get
 * the refused zero-copy / multi-buffer copy attempt's -errno (0 when it
 * worked or was not tried), so the caller can say what it runs and why.
 */
int net_xsk_open(const struct net_xsk_opts *o, struct net_xsk **out, int *zc_err, int *sg_err);
bool net_xsk_multi_buffer(const struct net_xsk *x);   /* bound with XDP_USE_SG */
enum net_xsk_mode net_xsk_mode(const struct net_xsk *x);
int net_xsk_fd(const struct net_xsk *x);
uint32_t net_xsk_queue(const struct net_xsk *x);

/* The kernel's XDP_STATISTICS for the socket. */
struct net_xsk_kstats {
	uint64_t rx_dropped, rx_invalid_descs, rx_ring_full, rx_fill_ring_empty_descs,
		 tx_invalid_descs;
};
int net_xsk_kernel_stats(const struct net_xsk *x, struct net_xsk_kstats *out);

void net_xsk_close(struct net_xsk *x);

struct net_xsk_loop_opts {
	struct net_xsk *x;
	int reply_fd;                   /* UDP socket bound to the served port (borrowed) */
	int stop_fd;                    /* eventfd: readable = stop (borrowed) */
	uint16_t port;                  /* the served UDP port, host order */
	net_handler_fn fn;
	void *ctx;
	size_t reply_cap;               /* largest reply; 0 = 2048 */
	unsigned batch;                 /* frames per wakeup; 0 = 64 */
};

/* What the loop did (written by its thread with relaxed atomic stores). */
struct net_xsk_loop_stats {
	uint64_t frames;                /* descriptors taken off the RX ring */
	uint64_t datagrams;             /* parsed and handed to the handler */
	uint64_t not_parsed;            /* frames that were not IPv4 UDP to the port */
	uint64_t sent;                  /* replies */
	uint64_t send_errors;
	uint64_t wakeups;               /* fill-ring wakeups asked of the kernel */
	uint64_t multi_buffer;          /* frames reassembled from several descriptors */
};

/* Serve the socket until stop_fd becomes readable, then answer what is on
 * the RX ring (draining) and return 0; -errno on a setup failure. */
int net_xsk_loop_run(const struct net_xsk_loop_opts *o, struct net_xsk_loop_stats *st);

#endif
