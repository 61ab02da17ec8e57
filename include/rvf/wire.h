/*
 * rvf/wire.h - the query protocol rvfd speaks over UDP, shared by the BPF
 * prefilter (bpf/, clang -target bpf), the daemon, the client and the load
 * generator. This file is the authoritative table of the packet layouts; a
 * client in any language can be written from it alone.
 *
 * Every integer is little-endian. One request is one UDP datagram; one reply
 * is one UDP datagram sent back to the request's source address and port.
 * Nothing here is authenticated: the source address and the namespace id are
 * whatever the sender wrote, so membership is admission control, not access
 * control.
 *
 * Query datagram (client -> rvfd), RVF_WIRE_QUERY_HDR_LEN = 32 bytes + vector
 * ---------------------------------------------------------------------------
 *  off  size  field
 *  0x00  4    magic       RVF_WIRE_QUERY_MAGIC, bytes "RVQ1"
 *  0x04  1    version     RVF_WIRE_VERSION (1)
 *  0x05  1    flags       RVF_WIRE_QF_* (unknown bits: bad request)
 *  0x06  2    hdr_len     32 in version 1; the vector starts at hdr_len
 *  0x08  2    dim         must equal the namespace's store dimension
 *  0x0A  1    elem_type   RVF_WIRE_ELEM_* (must equal the namespace's)
 *  0x0B  1    reserved    0
 *  0x0C  2    k           1 .. RVF_WIRE_MAX_K
 *  0x0E  2    ef          0 = the daemon's default; else >= k
 *  0x10  4    ns_id       namespace (store) to search, < RVF_WIRE_MAX_NS
 *  0x14  4    filter_id   0 = none; else a filter configured in rvfd
 *  0x18  8    request_id  echoed in the reply (clients match and retry on it)
 *  0x20  dim*elem_size    the query vector
 *
 * The datagram length must be exactly hdr_len + dim * elem_size.
 *
 * Reply datagram (rvfd -> client), RVF_WIRE_REPLY_HDR_LEN = 24 bytes + results
 * ---------------------------------------------------------------------------
 *  0x00  4    magic       RVF_WIRE_REPLY_MAGIC, bytes "RVR1"
 *  0x04  1    version     1
 *  0x05  1    status      enum rvf_wire_status
 *  0x06  2    count       results that follow (0 unless status is OK)
 *  0x08  4    ns_id       echoed
 *  0x0C  4    reserved    0
 *  0x10  8    request_id  echoed
 *  0x18  count * 12       results, nearest first: { u64 id, f32 distance }
 *
 * k = 100 gives 24 + 1200 = 1224 bytes: one unfragmented datagram at MTU 1500.
 *
 * Stats request (client -> rvfd): the 32-byte header with magic
 * RVF_WIRE_STATS_MAGIC ("RVS1"), version 1, hdr_len 32, every other field 0
 * except request_id; no vector. The reply is a datagram starting with
 * RVF_WIRE_STATS_REPLY_MAGIC ("RVT1"), version, 2 reserved bytes, then UTF-8
 * JSON text (the daemon's counters) to the end of the datagram.
 *
 * The BPF prefilter checks, per datagram to the daemon's port: magic, version,
 * hdr_len, flags, dim and elem_type against the namespace's configuration,
 * length, k, and the namespace's membership bit. Userspace repeats every check
 * (and the vector's finiteness): BPF is an optimisation, never the only guard.
 */
#ifndef RVF_WIRE_H
#define RVF_WIRE_H

#ifdef __bpf__
#include <linux/types.h>
typedef __u8  rvf_u8;
typedef __u16 rvf_u16;
typedef __u32 rvf_u32;
typedef __u64 rvf_u64;
#else
#include <stddef.h>
#include <stdint.h>
typedef uint8_t  rvf_u8;
typedef uint16_t rvf_u16;
typedef uint32_t rvf_u32;
typedef uint64_t rvf_u64;
#endif

#define RVF_WIRE_QUERY_MAGIC        0x31515652u  /* "RVQ1" */
#define RVF_WIRE_REPLY_MAGIC        0x31525652u  /* "RVR1" */
#define RVF_WIRE_STATS_MAGIC        0x31535652u  /* "RVS1" */
#define RVF_WIRE_STATS_REPLY_MAGIC  0x31545652u  /* "RVT1" */
#define RVF_WIRE_VERSION            1u
#define RVF_WIRE_QUERY_HDR_LEN      32u
#define RVF_WIRE_REPLY_HDR_LEN      24u
#define RVF_WIRE_RESULT_LEN         12u
#define RVF_WIRE_MAX_K              100u
#define RVF_WIRE_MAX_DIM            16384u       /* any elem type; a shape must also fit one
                                                  * datagram (f32: at most 16368) */
#define RVF_WIRE_MAX_NS             65536u       /* namespace ids 0 .. 65535 */
#define RVF_WIRE_DEFAULT_PORT       7407u
#define RVF_WIRE_MAX_DATAGRAM       65507u       /* largest UDP payload over IPv4 */

/* The BPF object's ABI; the loader refuses an object built for another. */
#define RVF_WIRE_ABI_VERSION        1u

enum rvf_wire_elem {
	RVF_WIRE_ELEM_F32 = 0,          /* the only type rvf stores today */
	RVF_WIRE_ELEM_F16 = 1,
	RVF_WIRE_ELEM_I8  = 2,
};

/* Query flags: none are defined in version 1; a set bit is a bad request. */
#define RVF_WIRE_QF_KNOWN           0x00u

enum rvf_wire_status {
	RVF_WIRE_OK            = 0,
	RVF_WIRE_BAD_REQUEST   = 1,     /* malformed, wrong dim/type/length, bad k */
	RVF_WIRE_NOT_MEMBER    = 2,     /* the namespace is not served here */
	RVF_WIRE_OVERLOADED    = 3,     /* queue full; retry later */
	RVF_WIRE_SHUTTING_DOWN = 4,     /* the daemon is stopping */
	RVF_WIRE_INTERNAL      = 5,     /* the search failed (logged by rvfd) */
};

struct rvf_wire_query {
	rvf_u32 magic;
	rvf_u8  version;
	rvf_u8  flags;
	rvf_u16 hdr_len;
	rvf_u16 dim;
	rvf_u8  elem_type;
	rvf_u8  reserved;
	rvf_u16 k;
	rvf_u16 ef;
	rvf_u32 ns_id;
	rvf_u32 filter_id;
	rvf_u64 request_id;
} __attribute__((packed));

struct rvf_wire_reply {
	rvf_u32 magic;
	rvf_u8  version;
	rvf_u8  status;
	rvf_u16 count;
	rvf_u32 ns_id;
	rvf_u32 reserved;
	rvf_u64 request_id;
} __attribute__((packed));

struct rvf_wire_result {
	rvf_u64 id;
	float   distance;
} __attribute__((packed));

_Static_assert(sizeof(struct rvf_wire_query) == RVF_WIRE_QUERY_HDR_LEN, "query header size");
_Static_assert(__builtin_offsetof(struct rvf_wire_query, dim) == 0x08, "query dim offset");
_Static_assert(__builtin_offsetof(struct rvf_wire_query, elem_type) == 0x0A, "query elem offset");
_Static_assert(__builtin_offsetof(struct rvf_wire_query, k) == 0x0C, "query k offset");
_Static_assert(__builtin_offsetof(struct rvf_wire_query, ns_id) == 0x10, "query ns offset");
_Static_assert(__builtin_offsetof(struct rvf_wire_query, request_id) == 0x18, "query id offset");
_Static_assert(sizeof(struct rvf_wire_reply) == RVF_WIRE_REPLY_HDR_LEN, "reply header size");
_Static_assert(__builtin_offsetof(struct rvf_wire_reply, ns_id) == 0x08, "reply ns offset");
_Static_assert(__builtin_offsetof(struct rvf_wire_reply, request_id) == 0x10, "reply id offset");
_Static_assert(sizeof(struct rvf_wire_result) == RVF_WIRE_RESULT_LEN, "result size");
_Static_assert(RVF_WIRE_REPLY_HDR_LEN + RVF_WIRE_MAX_K * RVF_WIRE_RESULT_LEN <= 1472,
	       "a full reply fits one datagram at MTU 1500");

/*
 * Why a datagram was dropped or passed: the counters the BPF programs and the
 * daemon's userspace validator both keep (same reasons, same order).
 */
enum rvf_wire_reason {
	RVF_WIRE_R_PASSED = 0,          /* a valid query, handed on */
	RVF_WIRE_R_BAD_MAGIC,           /* not a query (to our port) */
	RVF_WIRE_R_BAD_VERSION,
	RVF_WIRE_R_BAD_HEADER,          /* hdr_len, flags or reserved wrong */
	RVF_WIRE_R_BAD_DIM,             /* dim or elem_type not the namespace's */
	RVF_WIRE_R_BAD_LENGTH,          /* length != hdr_len + dim * elem size */
	RVF_WIRE_R_BAD_K,               /* k == 0, k > max, or 0 < ef < k */
	RVF_WIRE_R_NOT_MEMBER,          /* namespace not served */
	RVF_WIRE_R_TRUNCATED,           /* shorter than the header: malformed */
	RVF_WIRE_R_NONFINITE,           /* userspace only: NaN or inf in the vector */
	RVF_WIRE_R_NREASONS
};

/*
 * Per-CPU counters of one BPF program (one map value per program kind), with
 * named fields so `bpftool map dump` prints them by name through BTF.
 */
struct rvf_wire_counters {
	rvf_u64 passed;                 /* valid queries passed on */
	rvf_u64 bad_magic;
	rvf_u64 bad_version;
	rvf_u64 bad_header;
	rvf_u64 bad_dim;
	rvf_u64 bad_length;
	rvf_u64 bad_k;
	rvf_u64 not_member;
	rvf_u64 truncated;
	rvf_u64 nonfinite;              /* always 0 in BPF */
	rvf_u64 other_passed;           /* not for us (other port, ARP, IPv6...): passed */
	rvf_u64 fragments;              /* non-first IP fragments: passed unchecked */
	rvf_u64 redirected;             /* AF_XDP: queries redirected to a socket */
};

/* AF_XDP (rvfd --xdp-mode afxdp): the XSKMAPs `rvf_xsks` and `rvf_xsks_sg`
 * have one slot per RX queue index below RVF_WIRE_XSK_QUEUES; XDP redirects
 * a query through rvf_xsks when its frame is at most RVF_WIRE_XSK_MAX_FRAME
 * bytes (a 4 KiB UMEM frame less the kernel's 256-byte headroom), larger
 * (multi-buffer) frames through rvf_xsks_sg, which holds only sockets bound
 * with XDP_USE_SG; with no socket in the slot the query takes the UDP path. */
#define RVF_WIRE_XSK_QUEUES         64u
#define RVF_WIRE_XSK_MAX_FRAME      3840u

/* Keys of the counters map: which program counted. */
enum rvf_wire_counter_slot {
	RVF_WIRE_SLOT_XDP = 0,
	RVF_WIRE_SLOT_SOCK = 1,
	RVF_WIRE_SLOT_USER = 2,         /* the daemon's own validator */
	RVF_WIRE_NSLOTS
};

/*
 * A namespace's shape, as the prefilter checks it: the value of the
 * `rvf_ns` ARRAY map (RVF_WIRE_MAX_NS entries, keyed by ns id). Whether a
 * namespace is admitted is the membership bitmap `rvf_members` (an ARRAY of
 * RVF_WIRE_MAX_NS / 64 u64 words, bit ns % 64 of word ns / 64), which the
 * daemon flips without reloading anything.
 */
struct rvf_wire_ns {
	rvf_u16 dim;
	rvf_u8  elem_type;
	rvf_u8  reserved8;
	rvf_u16 max_k;                  /* 0 = RVF_WIRE_MAX_K */
	rvf_u16 reserved16;
};
_Static_assert(sizeof(struct rvf_wire_ns) == 8, "ns config size");
#define RVF_WIRE_MEMBER_WORDS       (RVF_WIRE_MAX_NS / 64u)

static inline rvf_u32 rvf_wire_elem_size(rvf_u8 elem_type)
{
	return elem_type == RVF_WIRE_ELEM_F32 ? 4u : elem_type == RVF_WIRE_ELEM_F16 ? 2u
	       : elem_type == RVF_WIRE_ELEM_I8 ? 1u : 0u;
}

#ifndef __bpf__
/*
 * ---- userspace codec (user/wire/wire.c, in librvf) -------------------------
 *
 * Encoders write into a caller's buffer and return the datagram's length, or
 * -ENOSPC (buffer too small) / -EINVAL (a field the encoder refuses to put on
 * the wire). Parsers take a borrowed datagram and never read past len.
 *
 * The validator applies the checks in this order, and the first that fails
 * names the datagram's reason. The BPF prefilter keeps the same order with
 * one difference: it knows a namespace by its shape in rvf_ns and checks the
 * membership bit after k, so a datagram for a namespace the daemon does not
 * serve (shape unset) counts as bad_dim in the kernel and not_member here.
 *
 *   len < 32                                   RVF_WIRE_R_TRUNCATED
 *   magic != "RVQ1"                            RVF_WIRE_R_BAD_MAGIC
 *   version != 1                               RVF_WIRE_R_BAD_VERSION
 *   hdr_len != 32, unknown flags, reserved     RVF_WIRE_R_BAD_HEADER
 *   ns_id not served (ns == NULL)              RVF_WIRE_R_NOT_MEMBER
 *   dim or elem_type not the namespace's       RVF_WIRE_R_BAD_DIM
 *   len != hdr_len + dim * elem size           RVF_WIRE_R_BAD_LENGTH
 *   k == 0, k > max_k, 0 < ef < k              RVF_WIRE_R_BAD_K
 *   a NaN or infinity in the vector            RVF_WIRE_R_NONFINITE
 *
 * A truncated or bad-magic datagram is not answered (it may not be ours, and
 * answering junk would make rvfd a reflector); the daemon answers the others
 * with the status rvf_wire_reason_status() gives.
 */
#include <stdbool.h>

/* The query header with magic, version and hdr_len filled in and every other
 * field zero. */
void rvf_wire_query_init(struct rvf_wire_query *h);

/* h (borrowed) followed by the vector (h->dim elements of h->elem_type, vec
 * borrowed, copied as given) into buf. Writes the header as given, so tests
 * can build bad datagrams; -EINVAL only for an unknown elem_type or
 * dim > RVF_WIRE_MAX_DIM. Returns the length. */
int rvf_wire_query_encode(const struct rvf_wire_query *h, const void *vec, void *buf, size_t cap);

/* The header checks that need no namespace: length >= 32, magic, version,
 * hdr_len, flags, reserved. *h (may be NULL) gets the header when the result
 * is neither TRUNCATED nor BAD_MAGIC. */
enum rvf_wire_reason rvf_wire_query_parse(const void *buf, size_t len, struct rvf_wire_query *h);

/* Every check in the table above for a datagram to the namespace ns
 * (borrowed; NULL = the namespace is not served). *h as for parse; *vec (may
 * be NULL) gets a view of the vector inside buf when the result is PASSED. */
enum rvf_wire_reason rvf_wire_query_validate(const void *buf, size_t len, const struct rvf_wire_ns *ns,
					     struct rvf_wire_query *h, const void **vec);

/* True when no element of vec (dim elements, unaligned is fine) is a NaN or
 * an infinity. i8 vectors are always finite; an unknown type is not. */
bool rvf_wire_vector_finite(const void *vec, uint32_t dim, uint8_t elem_type);

/* The reply status for a reason (PASSED -> OK); -1 for the reasons that are
 * dropped unanswered (TRUNCATED, BAD_MAGIC). */
int rvf_wire_reason_status(enum rvf_wire_reason r);

/* Static strings: "passed", "bad_magic", ... (the field names of struct
 * rvf_wire_counters) and "ok", "bad_request", ...; "unknown" otherwise. */
const char *rvf_wire_reason_name(enum rvf_wire_reason r);
const char *rvf_wire_status_name(int status);

/* Counter field of a reason (&c->passed for PASSED, ...); NULL for NREASONS. */
rvf_u64 *rvf_wire_counter_field(struct rvf_wire_counters *c, enum rvf_wire_reason r);

/* Reply: h (magic and version are filled in here; count is taken from h) and
 * h->count results (borrowed). -EINVAL when count > RVF_WIRE_MAX_K. */
int rvf_wire_reply_encode(const struct rvf_wire_reply *h, const struct rvf_wire_result *res,
			  void *buf, size_t cap);

/* Check a reply: magic, version, status known, count <= RVF_WIRE_MAX_K,
 * count == 0 unless OK, reserved 0, len == 24 + 12 * count. *h gets the
 * header; result i is read with rvf_wire_reply_result (results inside buf
 * are unaligned). 0 or -EPROTO. */
int rvf_wire_reply_parse(const void *buf, size_t len, struct rvf_wire_reply *h);
void rvf_wire_reply_result(const void *buf, uint16_t i, struct rvf_wire_result *out);

/* Stats request: 32 bytes, see the table above. encode returns 32. parse:
 * 0 (and *request_id) when buf is exactly a stats request, -EPROTO when it
 * has the stats magic but a bad length or field, -ENOMSG when it is not one. */
int rvf_wire_stats_request_encode(rvf_u64 request_id, void *buf, size_t cap);
int rvf_wire_stats_request_parse(const void *buf, size_t len, rvf_u64 *request_id);

/* The stats reply header as the table above gives it: u32 magic "RVT1"
 * (0x00), u8 version (0x04), u16 reserved = 0 (0x05); JSON from 0x07. */
#define RVF_WIRE_STATS_REPLY_HDR_LEN 7u

/* Stats reply: the 7-byte header then json (len bytes, borrowed, not
 * NUL-terminated on the wire). -ENOSPC past cap or RVF_WIRE_MAX_DATAGRAM. */
int rvf_wire_stats_reply_encode(const char *json, size_t json_len, void *buf, size_t cap);
/* *json: a view of the JSON text inside buf (json_len bytes, not terminated).
 * 0 or -EPROTO (bad magic, version, reserved, or no text). */
int rvf_wire_stats_reply_parse(const void *buf, size_t len, const char **json, size_t *json_len);
#endif /* !__bpf__ */

#endif
