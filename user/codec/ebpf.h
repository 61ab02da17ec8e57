/*
 * codec/ebpf.h - encode and parse EBPF segment payloads:
 *
 *   EbpfHeader(64) | program (ELF object, program_size bytes) | BTF (btf_size)
 *
 * program_hash is SHA-256 of the program bytes. insn_count and map_count are
 * read from the ELF (see ebpf_elf_count).
 */
#ifndef RVF_CODEC_EBPF_H
#define RVF_CODEC_EBPF_H

#include <stddef.h>
#include <stdint.h>

#include "rvf/payload.h"

/* RVF's runtime caps eBPF programs at 16 MiB; rvf uses the same cap. */
#define EBPF_MAX_PROGRAM  (16u << 20)
#define EBPF_MAX_BTF      (16u << 20)

struct ebpf_spec {
	uint8_t  program_type;      /* enum rvf_ebpf_prog_type */
	uint8_t  attach_type;       /* enum rvf_ebpf_attach_type */
	uint32_t program_flags;
	uint16_t max_dimension;     /* largest query dimension the program accepts */
};

/*
 * Count what an eBPF ELF object holds, with libelf:
 *   insns: BPF instructions = sum over SHT_PROGBITS sections with
 *          SHF_EXECINSTR of sh_size / 8 (a 16-byte ld_imm64 counts 2, as the
 *          kernel's insn_cnt does); the header's u16 saturates at 65535.
 *   maps:  symbols defined in the ".maps" section (BTF-defined maps) plus
 *          those in a legacy "maps" section.
 * elf is borrowed (copied internally: libelf may write to its input).
 * 0, -ENOEXEC when it is not an ELF64 eBPF (EM_BPF) relocatable object or
 * has a section that runs past the end, -ENOMEM.
 */
int ebpf_elf_count(const void *elf, size_t len, uint64_t *insns, uint32_t *maps);

/* Payload bytes for a program and BTF. -EINVAL when prog_len is 0 or above
 * EBPF_MAX_PROGRAM, or btf_len above EBPF_MAX_BTF. */
int ebpf_payload_size(size_t prog_len, size_t btf_len, size_t *out);

/* Build the EbpfHeader: magic, version, sizes, SHA-256 program_hash, and
 * insn_count/map_count from ebpf_elf_count (so prog must be a real eBPF ELF).
 * Borrowed inputs; out written only on success. */
int ebpf_hdr_build(const struct ebpf_spec *spec, const void *prog, size_t prog_len,
		   size_t btf_len, struct rvf_ebpf_hdr *out);

/* Write the whole EBPF payload into dst (at least ebpf_payload_size()).
 * btf may be NULL when btf_len is 0. 0 or -errno. */
int ebpf_payload_encode(const struct ebpf_spec *spec, const void *prog, size_t prog_len,
			const void *btf, size_t btf_len, void *dst, size_t dst_len);

/* A parsed EBPF payload; pointers are views into the parsed buffer. */
struct ebpf_view {
	struct rvf_ebpf_hdr hdr;
	const uint8_t *prog;
	uint64_t prog_len;
	const uint8_t *btf;             /* NULL when btf_len == 0 */
	uint32_t btf_len;
};

/* Parse flag for payloads the Rust RVF runtime wrote: its program_hash is a
 * toy hash, not SHA-256, so it is not checked. */
#define EBPF_PARSE_RUST 0x1u

/*
 * Parse and validate an EBPF payload: magic, header_version, 64 +
 * program_size + btf_size == len exactly, program_size > 0, and
 * program_hash == SHA-256(program) unless EBPF_PARSE_RUST. insn_count is not
 * re-derived here (RVF wrote program_size / 8); callers about to load the
 * program check it with ebpf_elf_count. payload borrowed; out written only on
 * success. -EUCLEAN, -EBADMSG, -ENOTSUP (newer header_version). Logged.
 */
int ebpf_payload_parse(const void *payload, size_t len, unsigned flags, struct ebpf_view *out);

/* 0 when a program whose header says max_dimension can serve a store of
 * dimension dim (max_dimension 0 means "not declared" and is refused, as
 * RVF's ADR-030 requires a declared bound); -ERANGE otherwise (logged). */
int ebpf_check_dimension(const struct rvf_ebpf_hdr *h, uint32_t dim);

#endif
