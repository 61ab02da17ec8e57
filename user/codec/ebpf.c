/*
 * codec/ebpf.c - EBPF segment payloads (EbpfHeader) and the libelf-based
 * instruction and map count of an eBPF object.
 *
 * The header's sizes account for every payload byte: 64 + program_size +
 * btf_size == payload length. Counting reads only ELF section headers and
 * the symbol table; it never loads anything into the kernel.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "codec/ebpf.h"
#include "codec/hash.h"

#ifndef EM_BPF
#define EM_BPF 247
#endif

static pthread_once_t elf_once = PTHREAD_ONCE_INIT;
static int elf_ok;

static void elf_init(void)
{
	elf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

int ebpf_elf_count(const void *elf, size_t len, uint64_t *insns, uint32_t *maps)
{
	Elf *e = NULL;
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	size_t shstrndx, maps_idx = 0, legacy_idx = 0, sym_idx = 0;
	uint64_t n_insns = 0;
	uint32_t n_maps = 0;
	char *copy;
	int err = -ENOEXEC;

	if (!elf || !insns || !maps)
		return -EINVAL;
	pthread_once(&elf_once, elf_init);
	if (!elf_ok)
		return log_fail(-ENOTSUP, "libelf: version mismatch");
	if (len < EI_NIDENT || memcmp(elf, ELFMAG, SELFMAG))
		return log_fail(-ENOEXEC, "eBPF program: not an ELF object");
	copy = malloc(len);
	if (!copy)
		return log_fail(-ENOMEM, "eBPF program: out of memory");
	memcpy(copy, elf, len);
	e = elf_memory(copy, len);
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_BPF || eh.e_type != ET_REL) {
		log_error("eBPF program: not an ELF64 eBPF relocatable object");
		goto out;
	}
	if (elf_getshdrstrndx(e, &shstrndx)) {
		log_error("eBPF program: no section name table");
		goto out;
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh)) {
			log_error("eBPF program: bad section header");
			goto out;
		}
		if (sh.sh_type != SHT_NOBITS && (sh.sh_offset > len || sh.sh_size > len - sh.sh_offset)) {
			log_error("eBPF program: section %zu runs past the end of the object",
				  elf_ndxscn(scn));
			goto out;
		}
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_PROGBITS && (sh.sh_flags & SHF_EXECINSTR))
			n_insns += sh.sh_size / 8;
		else if (sh.sh_type == SHT_SYMTAB)
			sym_idx = elf_ndxscn(scn);
		if (name && !strcmp(name, ".maps"))
			maps_idx = elf_ndxscn(scn);
		else if (name && !strcmp(name, "maps"))
			legacy_idx = elf_ndxscn(scn);
	}
	if (sym_idx && (maps_idx || legacy_idx)) {
		Elf_Data *d = elf_getdata(elf_getscn(e, sym_idx), NULL);
		GElf_Sym sym;
		int i;

		for (i = 0; d && gelf_getsym(d, i, &sym); i++) {
			if (sym.st_shndx == SHN_UNDEF || GELF_ST_TYPE(sym.st_info) == STT_SECTION)
				continue;
			if ((maps_idx && sym.st_shndx == maps_idx) ||
			    (legacy_idx && sym.st_shndx == legacy_idx))
				n_maps++;
		}
	}
	*insns = n_insns;
	*maps = n_maps;
	err = 0;
out:
	elf_end(e);
	free(copy);
	return err;
}

int ebpf_payload_size(size_t prog_len, size_t btf_len, size_t *out)
{
	if (prog_len == 0 || prog_len > EBPF_MAX_PROGRAM)
		return log_fail(-EINVAL, "eBPF program is %zu bytes (must be 1..%u)",
				prog_len, EBPF_MAX_PROGRAM);
	if (btf_len > EBPF_MAX_BTF)
		return log_fail(-EINVAL, "eBPF BTF is %zu bytes (max %u)", btf_len, EBPF_MAX_BTF);
	*out = RVF_EBPF_HDR_SIZE + prog_len + btf_len;
	return 0;
}

int ebpf_hdr_build(const struct ebpf_spec *spec, const void *prog, size_t prog_len,
		   size_t btf_len, struct rvf_ebpf_hdr *out)
{
	struct rvf_ebpf_hdr h;
	uint64_t insns;
	uint32_t maps;
	size_t total;
	int err;

	if (!spec || !prog || !out)
		return -EINVAL;
	err = ebpf_payload_size(prog_len, btf_len, &total);
	if (err)
		return err;
	err = ebpf_elf_count(prog, prog_len, &insns, &maps);
	if (err)
		return err;
	memset(&h, 0, sizeof(h));
	h.magic = RVF_EBPF_MAGIC;
	h.header_version = RVF_EBPF_HDR_VERSION;
	h.program_type = spec->program_type;
	h.attach_type = spec->attach_type;
	h.program_flags = spec->program_flags;
	h.insn_count = insns > UINT16_MAX ? UINT16_MAX : (uint16_t)insns;
	h.max_dimension = spec->max_dimension;
	h.program_size = prog_len;
	h.map_count = maps;
	h.btf_size = (uint32_t)btf_len;
	err = sha256(prog, prog_len, h.program_hash);
	if (!err)
		*out = h;
	return err;
}

int ebpf_payload_encode(const struct ebpf_spec *spec, const void *prog, size_t prog_len,
			const void *btf, size_t btf_len, void *dst, size_t dst_len)
{
	struct rvf_ebpf_hdr h;
	uint8_t *d = dst;
	size_t need;
	int err;

	if (!dst || (btf_len && !btf))
		return -EINVAL;
	err = ebpf_payload_size(prog_len, btf_len, &need);
	if (err)
		return err;
	if (dst_len < need)
		return log_fail(-EINVAL, "eBPF payload needs %zu bytes, buffer has %zu",
				need, dst_len);
	err = ebpf_hdr_build(spec, prog, prog_len, btf_len, &h);
	if (err)
		return err;
	memcpy(d, &h, sizeof(h));
	memcpy(d + sizeof(h), prog, prog_len);
	if (btf_len)
		memcpy(d + sizeof(h) + prog_len, btf, btf_len);
	return 0;
}

int ebpf_payload_parse(const void *payload, size_t len, unsigned flags, struct ebpf_view *out)
{
	struct ebpf_view v;
	struct rvf_ebpf_hdr *h = &v.hdr;
	const uint8_t *p = payload;
	uint8_t digest[SHA256_LEN];
	uint64_t rest;
	int err;

	if (!payload || !out || (flags & ~EBPF_PARSE_RUST))
		return -EINVAL;
	if (len < RVF_EBPF_HDR_SIZE)
		return log_fail(-EUCLEAN, "eBPF payload of %zu bytes is shorter than its header",
				len);
	memset(&v, 0, sizeof(v));
	memcpy(h, payload, sizeof(*h));
	if (h->magic != RVF_EBPF_MAGIC)
		return log_fail(-EUCLEAN, "eBPF header: bad magic 0x%08x", h->magic);
	if (h->header_version == 0)
		return log_fail(-EUCLEAN, "eBPF header: version 0");
	if (h->header_version > RVF_EBPF_HDR_VERSION)
		return log_fail(-ENOTSUP, "eBPF header: version %u is newer than %u",
				h->header_version, RVF_EBPF_HDR_VERSION);
	rest = len - RVF_EBPF_HDR_SIZE;
	if (h->program_size == 0 || h->program_size > rest ||
	    rest - h->program_size != h->btf_size)
		return log_fail(-EUCLEAN, "eBPF payload: program_size %llu + btf_size %u do not "
				"fill the %llu bytes after the header",
				(unsigned long long)h->program_size, h->btf_size,
				(unsigned long long)rest);
	v.prog = p + RVF_EBPF_HDR_SIZE;
	v.prog_len = h->program_size;
	v.btf_len = h->btf_size;
	v.btf = v.btf_len ? v.prog + v.prog_len : NULL;
	if (!(flags & EBPF_PARSE_RUST)) {
		err = sha256(v.prog, v.prog_len, digest);
		if (err)
			return err;
		if (!sha256_equal(digest, h->program_hash))
			return log_fail(-EBADMSG, "eBPF program: SHA-256 does not match program_hash");
	}
	*out = v;
	return 0;
}

int ebpf_check_dimension(const struct rvf_ebpf_hdr *h, uint32_t dim)
{
	if (h->max_dimension == 0)
		return log_fail(-ERANGE, "eBPF program declares no max_dimension");
	if (h->max_dimension < dim)
		return log_fail(-ERANGE, "eBPF program handles dimension <= %u, store has %u",
				h->max_dimension, dim);
	return 0;
}
