/*
 * rvf/svc.h - the public part of the query service library (librvfsvc,
 * linked before librvf): what tools outside the daemon use of it.
 *
 *   the query prefilter (user/bpfload, bpf/prefilter.bpf.c): load the
 *   built-in or a given object, configure namespaces, run its programs
 *   (BPF_PROG_TEST_RUN), read its counters, also from another process's
 *   pins; attaching it is the daemon's (user/bpfload/bpfload.h, which
 *   documents the whole lifecycle);
 *   service addresses (user/net): "A.B.C.D:PORT" and "[v6]:PORT" parsed
 *   as rvfd parses --listen.
 *
 * 0 / -errno everywhere, every error logged through rvf's log (rvf/error.h).
 */
#ifndef RVF_SVC_H
#define RVF_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rvf/wire.h"

/* ---- the query prefilter --------------------------------------------------- */

struct rvf_bpf;                          /* a loaded prefilter object */

struct rvf_bpf_opts {
	const void *obj; size_t obj_len;     /* ELF bytes, borrowed for the call;
					      * NULL = rvf_bpf_builtin() */
	uint16_t port;                       /* daemon UDP port, host order;
					      * 0 = RVF_WIRE_DEFAULT_PORT */
	const char *pin_dir;                 /* NULL = no pinning; else e.g.
					      * /sys/fs/bpf/rvf/<instance>: created (and
					      * bpffs mounted on /sys/fs/bpf if absent),
					      * locked for this handle's lifetime */
	char *log_buf; size_t log_len;       /* optional, borrowed: on a verifier
					      * failure, the log's last lines (NUL-ended) */
};

/*
 * Open the object (o NULL = all defaults), check its ABI against this build
 * (program names and types, map names, types, key/value sizes, entries and
 * flags, .rodata rvf_abi_version == RVF_WIRE_ABI_VERSION: -EPROTO
 * otherwise), set the port, load it (a verifier refusal logs the verifier's
 * last lines; -EACCES, -EINVAL or -E2BIG as the kernel says), and pin maps
 * and programs under pin_dir by their names. A pin dir another live handle
 * holds is -EBUSY; pins a dead instance left behind are replaced (logged).
 * Every namespace starts unconfigured and not a member. *out on success:
 * owned, rvf_bpf_close() it.
 */
int rvf_bpf_open(const struct rvf_bpf_opts *o, struct rvf_bpf **out);

/* Set namespace ns's shape (dim 1..RVF_WIRE_MAX_DIM, a known elem_type, a
 * query that fits one datagram, max_k <= RVF_WIRE_MAX_K, reserved zero:
 * -EINVAL otherwise); cfg NULL clears it (its queries then drop as bad_dim).
 * One atomic 8-byte store into the mmap'd rvf_ns: no reload, no torn reads. */
int rvf_bpf_set_ns(struct rvf_bpf *b, uint32_t ns, const struct rvf_wire_ns *cfg);

/* Admit (member) or refuse namespace ns: an atomic bit or/and in the mmap'd
 * rvf_members, seen by the next packet. -EINVAL when ns >= RVF_WIRE_MAX_NS. */
int rvf_bpf_set_member(struct rvf_bpf *b, uint32_t ns, bool member);

/* One program's counters in slot (RVF_WIRE_SLOT_*), summed over CPUs. */
int rvf_bpf_counters(struct rvf_bpf *b, uint32_t slot, struct rvf_wire_counters *sum);

/* The same from the pins another process made (for `rvf stats`): opens
 * pin_dir/rvf_counters, checks it is the map this build knows. */
int rvf_bpf_counters_pinned(const char *pin_dir, uint32_t slot, struct rvf_wire_counters *sum);

/* The programs, for tests and benchmarks that run them through
 * BPF_PROG_TEST_RUN. */
enum rvf_bpf_prog {
	RVF_BPF_PROG_SOCK = 0,          /* sock_prefilter */
	RVF_BPF_PROG_XDP,               /* xdp_prefilter */
	RVF_BPF_PROG_XDP_MB,            /* xdp_prefilter_mb */
	RVF_BPF_NPROGS
};
/* The program's fd (owned by b: valid until rvf_bpf_close), or -EINVAL. */
int rvf_bpf_prog_fd(const struct rvf_bpf *b, enum rvf_bpf_prog p);

/* Detach everything this handle attached, unpin, unmap, free; NULL ok. */
void rvf_bpf_close(struct rvf_bpf *b);

/* The prefilter object this build produced, embedded in the binary: a view
 * valid for the process's lifetime; *len its size. */
const void *rvf_bpf_builtin(size_t *len);
/* Its SHA-256, computed when it was built. */
void rvf_bpf_builtin_hash(uint8_t out[32]);

/* ---- addresses ---------------------------------------------------------------- */

/* "A.B.C.D:PORT", "[v6]:PORT" or "localhost:PORT" (127.0.0.1) into *ss
 * (*len its length), for socket(ss->ss_family, ...) and connect. Only
 * numeric addresses, never a DNS lookup. 0 or -EINVAL (logged: what is
 * wrong). */
int rvf_svc_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
