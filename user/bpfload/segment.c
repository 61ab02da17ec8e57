/*
 * bpfload/segment.c - the prefilter built into the binary, the checks an
 * EBPF segment passes before it is loaded, and the classic-BPF fallback for
 * when eBPF is not permitted (bpfload.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <byteswap.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfload/bpfload.h"
#include "bpfload/bpfload_priv.h"
#include "common/log.h"
#include "codec/ebpf.h"
#include "codec/hash.h"

/* build/gen/prefilter_obj.S: the object's bytes and SHA-256, made at build time */
extern const uint8_t prefilter_obj_start[];
extern const uint8_t prefilter_obj_end[];
extern const uint8_t prefilter_obj_sha256[32];

/* ---- the built-in object and EBPF segments ------------------------------------ */

const void *rvf_bpf_builtin(size_t *len)
{
	if (len)
		*len = (size_t)(prefilter_obj_end - prefilter_obj_start);
	return prefilter_obj_start;
}

void rvf_bpf_builtin_hash(uint8_t out[32])
{
	memcpy(out, prefilter_obj_sha256, 32);
}

int rvf_bpf_check_segment(const struct rvf_ebpf_hdr *h, const void *prog, size_t len,
			  uint32_t store_dim, bool trust_foreign)
{
	uint8_t digest[SHA256_LEN], builtin[SHA256_LEN];
	char have[2 * SHA256_LEN + 1], want[2 * SHA256_LEN + 1];
	int err;

	if (!h || !prog)
		return -EINVAL;
	if (h->magic != RVF_EBPF_MAGIC || h->header_version != RVF_EBPF_HDR_VERSION)
		return log_fail(-EPROTO, "EBPF segment: not an RVF EbpfHeader (magic 0x%08x version %u)",
				h->magic, h->header_version);
	if (h->program_size != len)
		return log_fail(-EPROTO, "EBPF segment: header says %llu program bytes, have %zu",
				(unsigned long long)h->program_size, len);
	if (h->program_type != RVF_EBPF_PROG_SOCKET_FILTER &&
	    h->program_type != RVF_EBPF_PROG_XDP_DISTANCE)
		return log_fail(-EPROTO, "EBPF segment: program type %u is not a socket filter or XDP "
				"prefilter rvfd can attach", h->program_type);
	err = sha256(prog, len, digest);
	if (err)
		return log_fail(err, "EBPF segment: cannot hash the program");
	if (!sha256_equal(digest, h->program_hash))
		return log_fail(-EBADMSG, "EBPF segment: the program's SHA-256 does not match its "
				"header's program_hash (damaged or altered)");
	err = ebpf_check_dimension(h, store_dim);
	if (err)
		return log_fail(err, "EBPF segment: max_dimension %u does not cover the store's "
				"dimension %u", h->max_dimension, store_dim);
	rvf_bpf_builtin_hash(builtin);
	if (!sha256_equal(digest, builtin)) {
		hex_encode(digest, SHA256_LEN, have);
		hex_encode(builtin, SHA256_LEN, want);
		if (!trust_foreign)
			return log_fail(-EPERM, "EBPF segment holds a program other than the prefilter "
					"this rvfd was built with (sha256 %.16s..., built-in %.16s...); "
					"not loading it unless foreign programs are trusted", have, want);
		log_warn("EBPF segment: loading a foreign program (sha256 %.16s..., built-in "
			 "%.16s...) because foreign programs are trusted", have, want);
	}
	if (h->btf_size)
		log_info("EBPF segment: its separate BTF (%u bytes) is not used; the object's own "
			 ".BTF is", h->btf_size);
	return 0;
}

/* ---- classic BPF fallback ----------------------------------------------------- */

int rvf_cbpf_attach(int fd, uint16_t dim, uint8_t elem_type)
{
	/* cBPF loads are big-endian; the wire is little-endian: compare swapped.
	 * Offsets count from the UDP header (8 bytes), as for eBPF filters. */
	enum {
		L_MAGIC, L_STATS, L_QUERY, L_VER, L_VER_EQ, L_FLAGS, L_FLAGS_SET, L_HDR, L_HDR_EQ,
		L_DIM, L_DIM_EQ, L_ELEM, L_ELEM_EQ, L_K, L_K_HI, L_K_MIN, L_K_MAX, L_LEN, L_LEN_EQ,
		L_ACCEPT, L_DROP, L_N
	};
#define TO(label, at) ((label) - (at) - 1)
	uint32_t esz = rvf_wire_elem_size(elem_type), dgram;
	int one = 1;

	if (!esz || dim == 0 || dim > RVF_WIRE_MAX_DIM ||
	    RVF_WIRE_QUERY_HDR_LEN + (uint32_t)dim * esz > RVF_WIRE_MAX_DATAGRAM)
		return log_fail(-EINVAL, "cBPF filter: dim %u elem_type %u is not a query shape",
				dim, elem_type);
	dgram = 8 + RVF_WIRE_QUERY_HDR_LEN + (uint32_t)dim * esz;
	struct sock_filter f[L_N] = {
		[L_MAGIC]     = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8 + 0x00),
		[L_STATS]     = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, bswap_32(RVF_WIRE_STATS_MAGIC),
				       TO(L_ACCEPT, L_STATS), 0),
		[L_QUERY]     = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, bswap_32(RVF_WIRE_QUERY_MAGIC),
				       0, TO(L_DROP, L_QUERY)),
		[L_VER]       = BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 8 + 0x04),
		[L_VER_EQ]    = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RVF_WIRE_VERSION, 0,
				       TO(L_DROP, L_VER_EQ)),
		[L_FLAGS]     = BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 8 + 0x05),
		[L_FLAGS_SET] = BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0xffu & ~RVF_WIRE_QF_KNOWN,
				       TO(L_DROP, L_FLAGS_SET), 0),
		[L_HDR]       = BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 8 + 0x06),
		[L_HDR_EQ]    = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, bswap_16(RVF_WIRE_QUERY_HDR_LEN), 0,
				       TO(L_DROP, L_HDR_EQ)),
		[L_DIM]       = BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 8 + 0x08),
		[L_DIM_EQ]    = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, bswap_16(dim), 0,
				       TO(L_DROP, L_DIM_EQ)),
		/* elem_type (0x0A) and reserved (0x0B) as one big-endian half */
		[L_ELEM]      = BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 8 + 0x0A),
		[L_ELEM_EQ]   = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)elem_type << 8, 0,
				       TO(L_DROP, L_ELEM_EQ)),
		/* k (0x0C) read big-endian is lo << 8 | hi: hi must be 0, lo 1..MAX_K */
		[L_K]         = BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 8 + 0x0C),
		[L_K_HI]      = BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0xff, TO(L_DROP, L_K_HI), 0),
		[L_K_MIN]     = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 1u << 8, 0, TO(L_DROP, L_K_MIN)),
		[L_K_MAX]     = BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, RVF_WIRE_MAX_K << 8,
				       TO(L_DROP, L_K_MAX), 0),
		[L_LEN]       = BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		[L_LEN_EQ]    = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, dgram, 0, TO(L_DROP, L_LEN_EQ)),
		[L_ACCEPT]    = BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
		[L_DROP]      = BPF_STMT(BPF_RET | BPF_K, 0),
	};
#undef TO
	struct sock_fprog fp = { .len = L_N, .filter = f };
	_Static_assert(RVF_WIRE_MAX_K < 256, "k's high byte is zero");

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)))
		return log_fail(-errno, "cBPF filter: cannot attach to socket %d: %s", fd,
				strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof(one)))
		return log_fail(-errno, "cBPF filter: attached to socket %d but cannot lock it: %s", fd,
				strerror(errno));
	return 0;
}
