/*
 * bpf/prefilter.bpf.c - rvfd's in-kernel query prefilter: one object, three
 * entry points sharing one check and three maps.
 *
 *   sock_prefilter    SEC("socket")     on each daemon UDP socket, after IP
 *                     reassembly: the authoritative kernel filter. Offset 0
 *                     of the skb is the UDP header.
 *   xdp_prefilter     SEC("xdp")        optional early drop on the interface,
 *   xdp_prefilter_mb  SEC("xdp.frags")  and its multi-buffer twin for MTUs
 *                     above ~3.5 KB. XDP runs before reassembly: it judges
 *                     unfragmented datagrams and first fragments (whose UDP
 *                     length is the whole datagram's) by their header and
 *                     passes every other fragment. A valid, unfragmented
 *                     query is redirected into the AF_XDP socket of its RX
 *                     queue (rvf_xsks) when the daemon put one there; with
 *                     no socket for the queue (the map's default, and the
 *                     whole of rvfd's plain UDP mode) it passes as before.
 *
 * Invariants:
 *  - O(1) per packet: the 32-byte header, the length, two array lookups. The
 *    vector is never read (a loop over it costs the verifier 10^6 states and
 *    the packet microseconds); userspace re-checks everything, finiteness
 *    included.
 *  - No variable-offset packet pointers: the UDP and query headers are copied
 *    to the stack with bpf_{skb,xdp}_load_bytes at a scalar offset, so the
 *    object loads with CAP_BPF + CAP_NET_ADMIN, without CAP_PERFMON.
 *  - Drop only what is certainly a bad query to our port; everything else
 *    (other ports, ARP, IPv6, non-UDP, malformed IP, fragments we cannot
 *    judge) passes to the stack and is counted as other_passed or fragments.
 *  - Every packet a program sees is counted exactly once, in its slot of
 *    rvf_counters (RVF_WIRE_SLOT_XDP or _SOCK); `redirected` is not a
 *    reason but the part of `passed` that went to an AF_XDP socket.
 *
 * Check order (the daemon's validator uses the same, so the three counter
 * slots agree): truncated, magic (a stats request passes), version, header
 * (hdr_len, flags, reserved), namespace shape (dim, elem_type), length, k and
 * ef, membership.
 *
 * Maps (names <= 15 chars; __u32 keys, never enums, so BTF survives):
 *   rvf_ns       ARRAY[RVF_WIRE_MAX_NS] of struct rvf_wire_ns, mmapable: the
 *                daemon writes a shape as one atomic 8-byte store and the
 *                program reads it as one 8-byte load, so a query never sees
 *                half of an update.
 *   rvf_members  ARRAY[RVF_WIRE_MEMBER_WORDS] of u64, mmapable: bit ns%64 of
 *                word ns/64 set = served; flipped with atomic or/and.
 *   rvf_counters PERCPU_ARRAY[RVF_WIRE_NSLOTS] of struct rvf_wire_counters.
 *   rvf_xsks     XSKMAP[RVF_WIRE_XSK_QUEUES], keyed by RX queue index: the
 *                daemon's AF_XDP sockets (rvfd --xdp-mode afxdp). A query
 *                redirected there counts as passed and as redirected.
 *   rvf_xsks_sg  the same for frames above RVF_WIRE_XSK_MAX_FRAME (multi-
 *                buffer, xdp_prefilter_mb): only sockets bound with
 *                XDP_USE_SG, which take a frame as several descriptors, are
 *                put here; without one such frames pass to the stack.
 * Constants in .rodata, set by the loader before load: rvf_port, and
 * rvf_abi_version, which the loader checks against RVF_WIRE_ABI_VERSION.
 *
 * Test variants (built by the Makefile for tests/bpf only):
 *   -DRVF_PF_ABI=N            another ABI version in .rodata
 *   -DRVF_PF_NO_MEMBERS       no rvf_members map (and no membership check)
 *   -DRVF_PF_VERIFIER_REJECT  sock_prefilter dereferences a lookup that may
 *                             fail without a NULL check (the verifier refuses it)
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "rvf/wire.h"
#include "prefilter.h"

#ifndef RVF_PF_ABI
#define RVF_PF_ABI RVF_WIRE_ABI_VERSION
#endif

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 rvf_abi_version = RVF_PF_ABI;
const volatile __u16 rvf_port = RVF_WIRE_DEFAULT_PORT;     /* host order */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RVF_WIRE_MAX_NS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rvf_wire_ns);
} rvf_ns SEC(".maps");

#ifndef RVF_PF_NO_MEMBERS
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RVF_WIRE_MEMBER_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} rvf_members SEC(".maps");
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RVF_WIRE_NSLOTS);
	__type(key, __u32);
	__type(value, struct rvf_wire_counters);
} rvf_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, RVF_WIRE_XSK_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} rvf_xsks SEC(".maps"), rvf_xsks_sg SEC(".maps");

/* Not in the 6.1 uapi headers this builds against. */
struct pf_vlan {
	__be16 tci;
	__be16 proto;
};

#define PF_IP_MF     0x2000
#define PF_IP_OFFSET 0x1fff

/*
 * One field per reason, each at a constant offset. Indexing the value as
 * u64s by idx would be pointer arithmetic with a scalar that differs between
 * the merged paths, which the verifier refuses without CAP_PERFMON.
 */
static __always_inline void count(__u32 slot, __u32 idx)
{
	struct rvf_wire_counters *c = bpf_map_lookup_elem(&rvf_counters, &slot);

	if (!c)
		return;
	switch (idx) {
	case RVF_WIRE_R_PASSED:      c->passed++; break;
	case RVF_WIRE_R_BAD_MAGIC:   c->bad_magic++; break;
	case RVF_WIRE_R_BAD_VERSION: c->bad_version++; break;
	case RVF_WIRE_R_BAD_HEADER:  c->bad_header++; break;
	case RVF_WIRE_R_BAD_DIM:     c->bad_dim++; break;
	case RVF_WIRE_R_BAD_LENGTH:  c->bad_length++; break;
	case RVF_WIRE_R_BAD_K:       c->bad_k++; break;
	case RVF_WIRE_R_NOT_MEMBER:  c->not_member++; break;
	case RVF_WIRE_R_TRUNCATED:   c->truncated++; break;
	case PF_OTHER:               c->other_passed++; break;
	case PF_FRAGMENT:            c->fragments++; break;
	case PF_REDIRECTED:          c->redirected++; break;
	}
}

static __always_inline __u32 elem_size(__u32 elem_type)
{
	return elem_type == RVF_WIRE_ELEM_F32 ? 4 : elem_type == RVF_WIRE_ELEM_F16 ? 2
	       : elem_type == RVF_WIRE_ELEM_I8 ? 1 : 0;
}

/*
 * The one check all three programs share: q is an aligned copy of the 32
 * header bytes, len the datagram's UDP payload length. Returns the counter
 * index: RVF_WIRE_R_PASSED for a valid query, PF_OTHER for a stats request
 * (both pass), a drop reason otherwise.
 */
static __always_inline __u32 check_query(const struct pf_query *q, __u32 len)
{
	__u32 ns = q->ns_id, dim, elem, max_k, word;
	const __u64 *shape, *bits;
	__u64 raw;

	if (q->magic != RVF_WIRE_QUERY_MAGIC)
		return q->magic == RVF_WIRE_STATS_MAGIC ? PF_OTHER : RVF_WIRE_R_BAD_MAGIC;
	if (q->version != RVF_WIRE_VERSION)
		return RVF_WIRE_R_BAD_VERSION;
	if (q->hdr_len != RVF_WIRE_QUERY_HDR_LEN || (q->flags & ~RVF_WIRE_QF_KNOWN) || q->reserved)
		return RVF_WIRE_R_BAD_HEADER;
	if (ns >= RVF_WIRE_MAX_NS)
		return RVF_WIRE_R_NOT_MEMBER;
	shape = bpf_map_lookup_elem(&rvf_ns, &ns);
	if (!shape)
		return RVF_WIRE_R_NOT_MEMBER;
	raw = *(const volatile __u64 *)shape;     /* one load: see rvf_ns above */
	dim = raw & 0xffff;
	elem = (raw >> 16) & 0xff;
	max_k = (raw >> 32) & 0xffff;
	if (dim == 0 || q->dim != dim || q->elem_type != elem)
		return RVF_WIRE_R_BAD_DIM;
	if (len != RVF_WIRE_QUERY_HDR_LEN + dim * elem_size(elem))
		return RVF_WIRE_R_BAD_LENGTH;
	if (max_k == 0 || max_k > RVF_WIRE_MAX_K)
		max_k = RVF_WIRE_MAX_K;
	if (q->k == 0 || q->k > max_k || (q->ef && q->ef < q->k))
		return RVF_WIRE_R_BAD_K;
#ifndef RVF_PF_NO_MEMBERS
	word = ns / 64;
	bits = bpf_map_lookup_elem(&rvf_members, &word);
	if (!bits || !((*(const volatile __u64 *)bits >> (ns % 64)) & 1))
		return RVF_WIRE_R_NOT_MEMBER;
#else
	(void)word;
	(void)bits;
#endif
	return RVF_WIRE_R_PASSED;
}

static __always_inline int passes(__u32 idx)
{
	return idx == RVF_WIRE_R_PASSED || idx == PF_OTHER;
}

SEC("socket")
int sock_prefilter(struct __sk_buff *skb)
{
	struct pf_query q;
	__u32 len = skb->len, idx;

#ifdef RVF_PF_VERIFIER_REJECT
	{
		/* a key the verifier cannot prove in range, so the lookup may
		 * return NULL, dereferenced without a check */
		__u32 key = skb->len & 7;
		__u64 *v = bpf_map_lookup_elem(&rvf_counters, &key);

		len += (__u32)*v;
	}
#endif
	if (len < sizeof(struct udphdr) + sizeof(q) ||
	    bpf_skb_load_bytes(skb, sizeof(struct udphdr), &q, sizeof(q)))
		idx = RVF_WIRE_R_TRUNCATED;
	else
		idx = check_query(&q, len - sizeof(struct udphdr));
	count(RVF_WIRE_SLOT_SOCK, idx);
	return passes(idx) ? skb->len : 0;
}

/*
 * UDP to rvf_port with the query header at hand (ip, udp and q point into
 * the packet or at stack copies): lengths, then the shared check. A valid
 * query whose frame holds the whole datagram (not a first fragment) is
 * PF_PASSED_WHOLE, decided after the check so the verifier walks the check
 * once for both kinds of frame.
 */
static __always_inline __u32 judge_udp(struct xdp_md *ctx, const struct iphdr *ip, __u32 l3,
				       const struct udphdr *udp, const struct pf_query *q)
{
	__u32 frag = bpf_ntohs(ip->frag_off), ihl = ip->ihl * 4, udp_len, frame, ip_len, idx;

	if (udp->dest != bpf_htons(rvf_port))
		return PF_OTHER;
	udp_len = bpf_ntohs(udp->len);
	if (udp_len < sizeof(*udp) + sizeof(*q))
		return RVF_WIRE_R_TRUNCATED;
	if (!(frag & PF_IP_MF)) {
		/* Whole datagram here: its lengths must agree with the frame (the
		 * stack would drop it otherwise). A first fragment's UDP length is
		 * the reassembled datagram's and is taken as given. */
		frame = bpf_xdp_get_buff_len(ctx);
		ip_len = bpf_ntohs(ip->tot_len);
		if (ip_len > frame - l3 || ip_len < ihl + udp_len)
			return RVF_WIRE_R_TRUNCATED;
	}
	idx = check_query(q, udp_len - sizeof(*udp));
	return idx == RVF_WIRE_R_PASSED && !(frag & PF_IP_MF) ? PF_PASSED_WHOLE : idx;
}

/*
 * XDP: Ethernet, up to two VLAN tags, IPv4, UDP to rvf_port. The common
 * frame (untagged, a 20-byte IP header, a whole query header in the first
 * buffer) is read in place at constant offsets, which halves the cost (the
 * header at offset 42 is read unaligned: fine where the verifier does not
 * demand strict alignment, x86 and arm64). Anything else goes the general
 * way: VLAN headers in place, then IP, UDP and the query header copied out
 * at the offsets the headers give. The frame length always comes from
 * bpf_xdp_get_buff_len (data_end - data is pointer arithmetic the verifier
 * refuses without CAP_PERFMON, and misses frags).
 */
static __always_inline __u32 xdp_judge(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *fip = data + sizeof(*eth);
	struct udphdr *fudp = data + sizeof(*eth) + sizeof(*fip);
	struct pf_vlan *vlan;
	struct iphdr ip;
	struct {
		struct udphdr udp;
		struct pf_query q;
	} h;
	__u32 l3 = sizeof(*eth), l4, frag;
	__be16 proto;

	if ((void *)(fip + 1) <= end && eth->h_proto == bpf_htons(ETH_P_IP) && fip->version == 4 &&
	    fip->ihl == 5) {
		if (fip->protocol != IPPROTO_UDP)
			return PF_OTHER;
		if (fip->frag_off & bpf_htons(PF_IP_OFFSET))
			return PF_FRAGMENT;
		if ((void *)fudp + sizeof(h) <= end)
			return judge_udp(ctx, fip, l3, fudp, (const struct pf_query *)(fudp + 1));
	}

	if ((void *)(eth + 1) > end)
		return PF_OTHER;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		vlan = (void *)(eth + 1);
		if ((void *)(vlan + 1) > end)
			return PF_OTHER;
		proto = vlan->proto;
		l3 += sizeof(*vlan);
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			if ((void *)(vlan + 2) > end)
				return PF_OTHER;
			proto = vlan[1].proto;
			l3 += sizeof(*vlan);
		}
	}
	if (proto != bpf_htons(ETH_P_IP) || bpf_xdp_load_bytes(ctx, l3, &ip, sizeof(ip)))
		return PF_OTHER;
	if (ip.version != 4 || ip.ihl < 5 || ip.protocol != IPPROTO_UDP)
		return PF_OTHER;        /* malformed IP: the stack's to judge */
	frag = bpf_ntohs(ip.frag_off);
	if (frag & PF_IP_OFFSET)
		return PF_FRAGMENT;     /* no UDP header here */
	l4 = l3 + ip.ihl * 4;
	if (bpf_xdp_load_bytes(ctx, l4, &h, sizeof(h))) {
		/* Too short for a query header: is it to our port at all? */
		if (bpf_xdp_load_bytes(ctx, l4, &h.udp, sizeof(h.udp)) ||
		    h.udp.dest != bpf_htons(rvf_port))
			return PF_OTHER;
		if (frag & PF_IP_MF)
			return PF_FRAGMENT;   /* a tiny first fragment: reassembly decides */
		return RVF_WIRE_R_TRUNCATED;
	}
	return judge_udp(ctx, &ip, l3, &h.udp, &h.q);
}

/*
 * A valid query that is a whole datagram in one frame goes to the AF_XDP
 * socket of its queue, if any: rvf_xsks for frames of at most
 * RVF_WIRE_XSK_MAX_FRAME bytes (what a 4 KiB AF_XDP frame holds past the
 * kernel's headroom), rvf_xsks_sg for larger (multi-buffer) ones, which a
 * socket bound without XDP_USE_SG would drop. Fragments and everything else
 * take the stack.
 */
static __always_inline int xdp_prefilter_run(struct xdp_md *ctx)
{
	__u32 idx = xdp_judge(ctx);
	long act;

	if (idx == PF_PASSED_WHOLE) {
		count(RVF_WIRE_SLOT_XDP, RVF_WIRE_R_PASSED);
		if (bpf_xdp_get_buff_len(ctx) > RVF_WIRE_XSK_MAX_FRAME)
			act = bpf_redirect_map(&rvf_xsks_sg, ctx->rx_queue_index, XDP_PASS);
		else
			act = bpf_redirect_map(&rvf_xsks, ctx->rx_queue_index, XDP_PASS);
		if (act == XDP_REDIRECT)
			count(RVF_WIRE_SLOT_XDP, PF_REDIRECTED);
		return (int)act;
	}
	count(RVF_WIRE_SLOT_XDP, idx);
	return passes(idx) || idx == PF_FRAGMENT ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int xdp_prefilter(struct xdp_md *ctx)
{
	return xdp_prefilter_run(ctx);
}

SEC("xdp.frags")
int xdp_prefilter_mb(struct xdp_md *ctx)
{
	return xdp_prefilter_run(ctx);
}
