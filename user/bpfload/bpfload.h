/*
 * bpfload/bpfload.h - load, check, pin and attach rvfd's query prefilter
 * (bpf/prefilter.bpf.c), read its counters, and the classic-BPF fallback.
 *
 * Lifecycle of a struct rvf_bpf:
 *
 *   rvf_bpf_check_segment()    (when the object came from a store's EBPF segment)
 *   rvf_bpf_open()             ABI check, load, mmap the two bitmaps, pin
 *     rvf_bpf_set_ns() / rvf_bpf_set_member()        any time, no reload
 *     rvf_bpf_attach_socket() / rvf_bpf_attach_xdp()
 *     rvf_bpf_counters()
 *   rvf_bpf_close()            detach, unpin, free
 *
 * Privileges: loading needs CAP_BPF and CAP_NET_ADMIN (the programs use no
 * variable-offset packet pointers, so CAP_PERFMON is not needed); pinning
 * needs write access to the bpffs directory. Without them rvf_bpf_open fails
 * with -EPERM and the daemon falls back to rvf_cbpf_attach (no privileges)
 * and then to its userspace validator, saying so once.
 *
 * Threads: set_ns, set_member and counters may be called from any thread
 * at any time (lock-free stores into mmap'd maps; syscalls). open, attach
 * and close are not thread-safe against each other on the same handle.
 * libbpf's print hook is process-wide: this module installs its own the
 * first time rvf_bpf_open runs and routes libbpf's messages to rvf's log.
 *
 * 0 / -errno everywhere, every error logged through rvf's log.
 *
 * The part tools use (open, namespaces, counters, programs, close, the
 * built-in object) is public, in include/rvf/svc.h; this header adds what
 * only the daemon and the tests need: attaching, AF_XDP sockets, the user
 * counter slot, segment checks and the classic-BPF fallback.
 */
#ifndef RVF_BPFLOAD_H
#define RVF_BPFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rvf/payload.h"
#include "rvf/svc.h"
#include "rvf/wire.h"

/* SO_ATTACH_BPF sock_prefilter to UDP socket fd (borrowed). rvf_bpf_close
 * detaches it again if fd is still the same socket; a socket closed first
 * takes its filter with it. */
int rvf_bpf_attach_socket(struct rvf_bpf *b, int fd);

/* XDP attach modes */
#define RVF_XDP_NATIVE  0               /* driver mode (XDP_FLAGS_DRV_MODE) */
#define RVF_XDP_GENERIC 1               /* skb mode (XDP_FLAGS_SKB_MODE) */

/* Largest MTU at which the plain xdp_prefilter is attached; above it the
 * xdp.frags variant (veth refuses a non-frags program above 3506). A driver
 * that refuses the plain one with -ERANGE below this gets the frags one. */
#define RVF_XDP_LINEAR_MTU 3498u

/*
 * Attach xdp_prefilter (or xdp_prefilter_mb when the interface's MTU needs
 * it) to ifindex in the calling thread's network namespace, as a bpf_link:
 * another tool cannot silently replace it, and it goes away with this
 * handle (or the process). -EBUSY when the interface already has an XDP
 * program; -EEXIST when this handle already attached to it.
 */
int rvf_bpf_attach_xdp(struct rvf_bpf *b, int ifindex, int mode);

/*
 * AF_XDP: put socket xsk_fd (borrowed; the map holds its own reference) into
 * rvf_xsks[queue], so xdp_prefilter redirects valid whole queries arriving
 * on RX queue `queue` to it, and with multi_buffer (a socket bound with
 * XDP_USE_SG) also into rvf_xsks_sg[queue], for frames above
 * RVF_WIRE_XSK_MAX_FRAME; clear takes it out of both (absent is fine).
 * Closing the socket also removes it. -EINVAL for queue >=
 * RVF_WIRE_XSK_QUEUES. An XSKMAP cannot be read from userspace (lookups are
 * EOPNOTSUPP and its keys walk like an array's); `ss --xdp` lists sockets.
 */
int rvf_bpf_xsk_set(struct rvf_bpf *b, uint32_t queue, int xsk_fd, bool multi_buffer);
int rvf_bpf_xsk_clear(struct rvf_bpf *b, uint32_t queue);
/* The map's fd (owned by b), for tests. */
int rvf_bpf_xsk_map_fd(const struct rvf_bpf *b);

/* Publish the daemon's own validator counts in slot RVF_WIRE_SLOT_USER (CPU
 * 0 holds them, the others zero), so bpftool and rvf_bpf_counters_pinned
 * show all three layers side by side. */
int rvf_bpf_set_user_counters(struct rvf_bpf *b, const struct rvf_wire_counters *c);

/*
 * Check an EBPF segment before loading it: h (borrowed) must be an RVF
 * EbpfHeader (magic, header_version, program_size == len, a socket-filter
 * or XDP program type: -EPROTO), program_hash must be the SHA-256 of prog
 * (-EBADMSG), max_dimension must cover store_dim (-ERANGE), and program_hash
 * must be the built-in prefilter's unless trust_foreign (-EPERM). Logged.
 */
int rvf_bpf_check_segment(const struct rvf_ebpf_hdr *h, const void *prog, size_t len,
			  uint32_t store_dim, bool trust_foreign);

/*
 * Classic BPF fallback for when eBPF is not permitted (no privileges at
 * all): SO_ATTACH_FILTER a program checking length == 8 + 32 + dim * elem
 * size, magic, version, flags, hdr_len, dim, elem_type, reserved and
 * 1 <= k <= RVF_WIRE_MAX_K for one (dim, elem_type) shape (stats requests
 * pass), then SO_LOCK_FILTER so it cannot be removed. No namespace or
 * membership check. -EINVAL for a shape set_ns would refuse.
 */
int rvf_cbpf_attach(int fd, uint16_t dim, uint8_t elem_type);

#endif
