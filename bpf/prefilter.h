/*
 * bpf/prefilter.h - private to prefilter.bpf.c: an aligned mirror of the
 * query header, the counter indexes beyond enum rvf_wire_reason, and the
 * compile-time proof that both match include/rvf/wire.h.
 *
 * struct rvf_wire_query is packed (alignment 1), so clang -target bpf would
 * read each field a byte at a time. Every field is naturally aligned in the
 * wire layout, so this unpacked twin has the same bytes and is read with
 * ordinary loads from an aligned stack copy.
 */
#ifndef RVF_BPF_PREFILTER_H
#define RVF_BPF_PREFILTER_H

#include "rvf/wire.h"

struct pf_query {
	__u32 magic;
	__u8  version;
	__u8  flags;
	__u16 hdr_len;
	__u16 dim;
	__u8  elem_type;
	__u8  reserved;
	__u16 k;
	__u16 ef;
	__u32 ns_id;
	__u32 filter_id;
	__u64 request_id;
};

#define PF_SAME_OFFSET(f) \
	_Static_assert(__builtin_offsetof(struct pf_query, f) == \
		       __builtin_offsetof(struct rvf_wire_query, f), "pf_query." #f)
PF_SAME_OFFSET(magic);
PF_SAME_OFFSET(version);
PF_SAME_OFFSET(flags);
PF_SAME_OFFSET(hdr_len);
PF_SAME_OFFSET(dim);
PF_SAME_OFFSET(elem_type);
PF_SAME_OFFSET(reserved);
PF_SAME_OFFSET(k);
PF_SAME_OFFSET(ef);
PF_SAME_OFFSET(ns_id);
PF_SAME_OFFSET(filter_id);
PF_SAME_OFFSET(request_id);
_Static_assert(sizeof(struct pf_query) == RVF_WIRE_QUERY_HDR_LEN, "pf_query size");

/*
 * The check returns a counter index: 0 .. RVF_WIRE_R_NREASONS-1 are enum
 * rvf_wire_reason, then the two pass-through counters. Index i is the i-th
 * u64 of struct rvf_wire_counters, the layout userspace (and the tests) sum
 * and index by; the asserts tie each index to its named field, so
 * reordering either side breaks the build.
 */
enum pf_counter {
	PF_OTHER = RVF_WIRE_R_NREASONS,     /* not a query for us: passed */
	PF_FRAGMENT,                        /* non-first IP fragment: passed unchecked */
	PF_REDIRECTED,                      /* a passed query sent to an AF_XDP socket */
	PF_NCOUNTERS,
	PF_PASSED_WHOLE = 0x100             /* XDP only, not a counter: a valid query
					     * that is a whole datagram (counted as
					     * passed; an AF_XDP candidate) */
};

#define PF_COUNTER_AT(idx, f) \
	_Static_assert(__builtin_offsetof(struct rvf_wire_counters, f) == (idx) * 8, \
		       "counter index of " #f)
PF_COUNTER_AT(RVF_WIRE_R_PASSED, passed);
PF_COUNTER_AT(RVF_WIRE_R_BAD_MAGIC, bad_magic);
PF_COUNTER_AT(RVF_WIRE_R_BAD_VERSION, bad_version);
PF_COUNTER_AT(RVF_WIRE_R_BAD_HEADER, bad_header);
PF_COUNTER_AT(RVF_WIRE_R_BAD_DIM, bad_dim);
PF_COUNTER_AT(RVF_WIRE_R_BAD_LENGTH, bad_length);
PF_COUNTER_AT(RVF_WIRE_R_BAD_K, bad_k);
PF_COUNTER_AT(RVF_WIRE_R_NOT_MEMBER, not_member);
PF_COUNTER_AT(RVF_WIRE_R_TRUNCATED, truncated);
PF_COUNTER_AT(RVF_WIRE_R_NONFINITE, nonfinite);
PF_COUNTER_AT(PF_OTHER, other_passed);
PF_COUNTER_AT(PF_FRAGMENT, fragments);
PF_COUNTER_AT(PF_REDIRECTED, redirected);
_Static_assert(sizeof(struct rvf_wire_counters) >= PF_NCOUNTERS * 8, "counters cover the indexes");

/* struct rvf_wire_ns read as one little-endian u64 (see ns_shape()). */
_Static_assert(__builtin_offsetof(struct rvf_wire_ns, dim) == 0, "ns dim at byte 0");
_Static_assert(__builtin_offsetof(struct rvf_wire_ns, elem_type) == 2, "ns elem_type at byte 2");
_Static_assert(__builtin_offsetof(struct rvf_wire_ns, max_k) == 4, "ns max_k at byte 4");

#endif
