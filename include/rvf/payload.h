/*
 * rvf/payload.h - on-disk layouts of the RVF payload headers rvf reads and
 * writes inside segments: FileIdentity, LineageRecord, KernelHeader,
 * KernelBinding, EbpfHeader, MembershipHeader, CowMapHeader.
 *
 * These are RVF's layouts (ruvector-rvf.md sections 1.9 and 1.12), byte for
 * byte, so a file rvf writes can be read by RVF tools and the other way round.
 * Every struct is packed (alignment 1, so a pointer into any file buffer may
 * be used) and every field is naturally aligned in the file anyway; the
 * _Static_asserts pin size and key offsets. All integers are little-endian
 * except KernelHeader.api_port, which RVF stores big-endian (network order).
 * 4-byte magics are ASCII read as a big-endian number ("RVKN" = 0x52564B4E)
 * and stored as a little-endian u32, so the bytes on disk read "NKVR".
 *
 * Segment payload layouts (the header comes first in each):
 *
 *   KERNEL (0x0E) without binding:  KernelHeader | image | cmdline
 *   KERNEL (0x0E) with binding:     KernelHeader | KernelBinding | cmdline | image
 *       rvf sets RVF_KERNEL_F_HAS_BINDING in kernel_flags when (and only when)
 *       a binding follows the header; RVF itself guesses from binding_version,
 *       which cannot be told apart from the first bytes of an image.
 *       cmdline_offset is the payload offset of the cmdline in both layouts
 *       (128 + image_size without a binding, 256 with one). image_hash is
 *       SHA-256 of the image bytes.
 *   EBPF (0x0F):  EbpfHeader | program (ELF .o, program_size bytes)
 *                 | BTF (btf_size bytes, may be 0)
 *       program_hash is SHA-256 of the program bytes.
 *   MEMBERSHIP (0x22):  MembershipHeader | filter (filter_size bytes at filter_offset)
 *   COW_MAP (0x20):     CowMapHeader | map body
 */
#ifndef RVF_PAYLOAD_H
#define RVF_PAYLOAD_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rvf payload structs are laid out little-endian; add byte swaps before porting"
#endif

#define RVF_HASH_LEN 32u        /* SHA-256 digest length used by every *_hash[32] */

/* ---- FileIdentity, 68 B (ruvector-rvf 1.9) ------------------------------- */
/*  0x00 16  file_id (random, never all zero)
 *  0x10 16  parent_id (all zero for a root)
 *  0x20 32  parent_hash (SHA-256 of the parent's committed state; zero for a root)
 *  0x40  4  lineage_depth (0 root; parent + 1)
 */
struct rvf_file_identity {
	uint8_t  file_id[16];
	uint8_t  parent_id[16];
	uint8_t  parent_hash[32];
	uint32_t lineage_depth;
} __attribute__((packed));
_Static_assert(sizeof(struct rvf_file_identity) == 68, "FileIdentity size");
_Static_assert(offsetof(struct rvf_file_identity, parent_id) == 0x10, "parent_id");
_Static_assert(offsetof(struct rvf_file_identity, parent_hash) == 0x20, "parent_hash");
_Static_assert(offsetof(struct rvf_file_identity, lineage_depth) == 0x40, "lineage_depth");

/* Derivation types (ruvector-rvf 2.10). */
enum rvf_derivation_type {
	RVF_DERIVE_CLONE        = 0,
	RVF_DERIVE_FILTER       = 1,
	RVF_DERIVE_MERGE        = 2,
	RVF_DERIVE_QUANTIZE     = 3,
	RVF_DERIVE_REINDEX      = 4,
	RVF_DERIVE_TRANSFORM    = 5,
	RVF_DERIVE_SNAPSHOT     = 6,
	RVF_DERIVE_USER_DEFINED = 0xFF,
};

/* Lineage witness types (ruvector-rvf 1.9). */
enum rvf_lineage_witness {
	RVF_WITNESS_DERIVATION = 0x09,
	RVF_WITNESS_MERGE      = 0x0A,
	RVF_WITNESS_SNAPSHOT   = 0x0B,
	RVF_WITNESS_TRANSFORM  = 0x0C,
	RVF_WITNESS_VERIFY     = 0x0D,
};

/* ---- LineageRecord, 128 B (ruvector-rvf 1.9) ------------------------------ */
/*  0x00 16  file_id           0x40  1  derivation_type (rvf_derivation_type)
 *  0x10 16  parent_id         0x41  3  pad, zero
 *  0x20 32  parent_hash       0x44  4  mutation_count
 *                             0x48  8  timestamp_ns
 *                             0x50  1  description_len (<= 47)
 *                             0x51 47  description (UTF-8, not NUL-terminated)
 */
#define RVF_LINEAGE_DESC_MAX 47u
struct rvf_lineage_record {
	uint8_t  file_id[16];
	uint8_t  parent_id[16];
	uint8_t  parent_hash[32];
	uint8_t  derivation_type;
	uint8_t  pad[3];
	uint32_t mutation_count;
	uint64_t timestamp_ns;
	uint8_t  description_len;
	char     description[RVF_LINEAGE_DESC_MAX];
} __attribute__((packed));
_Static_assert(sizeof(struct rvf_lineage_record) == 128, "LineageRecord size");
_Static_assert(offsetof(struct rvf_lineage_record, derivation_type) == 0x40, "derivation_type");
_Static_assert(offsetof(struct rvf_lineage_record, mutation_count) == 0x44, "mutation_count");
_Static_assert(offsetof(struct rvf_lineage_record, timestamp_ns) == 0x48, "timestamp_ns");
_Static_assert(offsetof(struct rvf_lineage_record, description) == 0x51, "description");

/* ---- domain profiles (ruvector-rvf 1.10) ---------------------------------- */
enum rvf_domain_profile {
	RVF_PROFILE_GENERIC  = 0,   /* .rvf */
	RVF_PROFILE_RVDNA    = 1,   /* .rvdna,   magic "RDNA" */
	RVF_PROFILE_RVTEXT   = 2,   /* .rvtext,  magic "RTXT" */
	RVF_PROFILE_RVGRAPH  = 3,   /* .rvgraph, magic "RGRH" */
	RVF_PROFILE_RVVISION = 4,   /* .rvvis,   magic "RVIS" */
};
#define RVF_PROFILE_COUNT 5

/*
 * The domain profile named by path's extension, matched case-insensitively
 * (".RVF" and ".rvf" are the same). path is borrowed. Returns the profile
 * (>= 0), or -ENOENT when the extension is none of the five (callers then fall
 * back to their options), -EINVAL when path is NULL.
 */
int rvf_profile_from_path(const char *path);

/* The extension (with the dot, lower case) of a profile, or NULL when p is not
 * a profile. Returns a static string. */
const char *rvf_profile_extension(enum rvf_domain_profile p);

/* The 4-byte profile magic as a u32 ("RDNA" = 0x52444E41); 0 for Generic and
 * for unknown values. */
uint32_t rvf_profile_magic(enum rvf_domain_profile p);

/* ---- KernelHeader, 128 B (ruvector-rvf 1.12) ------------------------------ */
/*  0x00  4  magic 0x52564B4E "RVKN"     0x2A  2  api_port, BIG-endian
 *  0x04  2  header_version (1)          0x2C  4  api_version
 *  0x06  1  arch (rvf_kernel_arch)      0x30 32  image_hash (SHA-256 of image)
 *  0x07  1  kernel_type                 0x50 16  build_id
 *  0x08  4  kernel_flags (RVF_KERNEL_F_*) 0x60 8  build_timestamp
 *  0x0C  4  min_memory_mb               0x68  4  vcpu_count
 *  0x10  8  entry_point                 0x6C  4  reserved, zero
 *  0x18  8  image_size                  0x70  8  cmdline_offset (in the payload)
 *  0x20  8  compressed_size (= image_size; rvf does not compress)
 *  0x28  1  compression (0)             0x78  4  cmdline_length
 *  0x29  1  api_transport               0x7C  4  reserved, zero
 */
#define RVF_KERNEL_MAGIC        0x52564B4Eu
#define RVF_KERNEL_HDR_VERSION  1u
#define RVF_KERNEL_HDR_SIZE     128u

enum rvf_kernel_arch {
	RVF_ARCH_X86_64    = 0,
	RVF_ARCH_AARCH64   = 1,
	RVF_ARCH_RISCV64   = 2,
	RVF_ARCH_UNIVERSAL = 0xFE,
	RVF_ARCH_UNKNOWN   = 0xFF,
};

enum rvf_kernel_type {
	RVF_KTYPE_HERMIT     = 0,
	RVF_KTYPE_MICROLINUX = 1,
	RVF_KTYPE_ASTERINAS  = 2,
	RVF_KTYPE_WASIP2     = 3,
	RVF_KTYPE_CUSTOM     = 4,
	RVF_KTYPE_TEST_STUB  = 0xFE,
};

enum rvf_api_transport {
	RVF_API_TCP_HTTP = 0,
	RVF_API_GRPC     = 1,
	RVF_API_VSOCK    = 2,
	RVF_API_SHMEM    = 3,
	RVF_API_NONE     = 0xFF,
};

#define RVF_KERNEL_F_REQUIRES_TEE      (1u << 0)
#define RVF_KERNEL_F_REQUIRES_KVM      (1u << 1)
#define RVF_KERNEL_F_REQUIRES_UEFI     (1u << 2)
#define RVF_KERNEL_F_HAS_NETWORKING    (1u << 3)
#define RVF_KERNEL_F_HAS_QUERY_API     (1u << 4)
#define RVF_KERNEL_F_HAS_INGEST_API    (1u << 5)
#define RVF_KERNEL_F_HAS_ADMIN_API     (1u << 6)
#define RVF_KERNEL_F_ATTESTATION_READY (1u << 7)
#define RVF_KERNEL_F_SIGNED            (1u << 8)
#define RVF_KERNEL_F_MEASURED          (1u << 9)
#define RVF_KERNEL_F_COMPRESSED        (1u << 10)
#define RVF_KERNEL_F_RELOCATABLE       (1u << 11)
#define RVF_KERNEL_F_HAS_VIRTIO_NET    (1u << 12)
#define RVF_KERNEL_F_HAS_VIRTIO_BLK    (1u << 13)
#define RVF_KERNEL_F_HAS_VSOCK         (1u << 14)
/* rvf extension: a 128-byte KernelBinding follows the header (see above). */
#define RVF_KERNEL_F_HAS_BINDING       (1u << 31)
/* Bits 15..30 are reserved: rvf writes them zero and rejects them on read. */
#define RVF_KERNEL_F_KNOWN             (0x7FFFu | RVF_KERNEL_F_HAS_BINDING)

struct rvf_kernel_hdr {
	uint32_t magic;
	uint16_t header_version;
	uint8_t  arch;
	uint8_t  kernel_type;
	uint32_t kernel_flags;
	uint32_t min_memory_mb;
	uint64_t entry_point;
	uint64_t image_size;
	uint64_t compressed_size;
	uint8_t  compression;
	uint8_t  api_transport;
	uint16_t api_port_be;       /* big-endian: use htons/ntohs */
	uint32_t api_version;
	uint8_t  image_hash[32];
	uint8_t  build_id[16];
	uint64_t build_timestamp;
	uint32_t vcpu_count;
	uint32_t reserved0;
	uint64_t cmdline_offset;
	uint32_t cmdline_length;
	uint32_t reserved1;
} __attribute__((packed));
_Static_assert(sizeof(struct rvf_kernel_hdr) == RVF_KERNEL_HDR_SIZE, "KernelHeader size");
_Static_assert(offsetof(struct rvf_kernel_hdr, entry_point) == 0x10, "entry_point");
_Static_assert(offsetof(struct rvf_kernel_hdr, compression) == 0x28, "compression");
_Static_assert(offsetof(struct rvf_kernel_hdr, api_port_be) == 0x2A, "api_port");
_Static_assert(offsetof(struct rvf_kernel_hdr, image_hash) == 0x30, "image_hash");
_Static_assert(offsetof(struct rvf_kernel_hdr, build_id) == 0x50, "build_id");
_Static_assert(offsetof(struct rvf_kernel_hdr, vcpu_count) == 0x68, "vcpu_count");
_Static_assert(offsetof(struct rvf_kernel_hdr, cmdline_offset) == 0x70, "cmdline_offset");
_Static_assert(offsetof(struct rvf_kernel_hdr, cmdline_length) == 0x78, "cmdline_length");

/* ---- KernelBinding, 128 B (ruvector-rvf 1.12) ----------------------------- */
/*  0x00 32  manifest_root_hash      0x44  4  pad, zero
 *  0x20 32  policy_hash             0x48  8  allowed_segment_mask (0 = any)
 *  0x40  2  binding_version (>= 1)  0x50 48  reserved, zero
 *  0x42  2  min_runtime_version
 */
#define RVF_KERNEL_BINDING_SIZE     128u
#define RVF_KERNEL_BINDING_VERSION  1u
struct rvf_kernel_binding {
	uint8_t  manifest_root_hash[32];
	uint8_t  policy_hash[32];
	uint16_t binding_version;
	uint16_t min_runtime_version;
	uint32_t pad;
	uint64_t allowed_segment_mask;
	uint8_t  reserved[48];
} __attribute__((packed));
_Static_assert(sizeof(struct rvf_kernel_binding) == RVF_KERNEL_BINDING_SIZE, "KernelBinding size");
_Static_assert(offsetof(struct rvf_kernel_binding, binding_version) == 0x40, "binding_version");
_Static_assert(offsetof(struct rvf_kernel_binding, allowed_segment_mask) == 0x48, "allowed_segment_mask");
_Static_assert(offsetof(struct rvf_kernel_binding, reserved) == 0x50, "binding reserved");

/* ---- EbpfHeader, 64 B (ruvector-rvf 1.12) --------------------------------- */
/*  0x00  4  magic 0x52564250 "RVBP"     0x0E  2  max_dimension (0 = unchecked)
 *  0x04  2  header_version (1)          0x10  8  program_size
 *  0x06  1  program_type                0x18  4  map_count
 *  0x07  1  attach_type                 0x1C  4  btf_size
 *  0x08  4  program_flags               0x20 32  program_hash (SHA-256 of program)
 *  0x0C  2  insn_count: BPF instructions (8-byte slots; ld_imm64 counts 2) in
 *           the ELF's executable sections, saturated at 65535
 */
#define RVF_EBPF_MAGIC       0x52564250u
#define RVF_EBPF_HDR_VERSION 1u
#define RVF_EBPF_HDR_SIZE    64u

enum rvf_ebpf_prog_type {
	RVF_EBPF_PROG_XDP_DISTANCE  = 0,
	RVF_EBPF_PROG_TC_FILTER     = 1,
	RVF_EBPF_PROG_SOCKET_FILTER = 2,
	RVF_EBPF_PROG_TRACEPOINT    = 3,
	RVF_EBPF_PROG_KPROBE        = 4,
	RVF_EBPF_PROG_CGROUP_SKB    = 5,
	RVF_EBPF_PROG_CUSTOM        = 0xFF,
};

enum rvf_ebpf_attach_type {
	RVF_EBPF_ATTACH_XDP_INGRESS    = 0,
	RVF_EBPF_ATTACH_TC_INGRESS     = 1,
	RVF_EBPF_ATTACH_TC_EGRESS      = 2,
	RVF_EBPF_ATTACH_SOCKET_FILTER  = 3,
	RVF_EBPF_ATTACH_CGROUP_INGRESS = 4,
	RVF_EBPF_ATTACH_CGROUP_EGRESS  = 5,
	RVF_EBPF_ATTACH_NONE           = 0xFF,
};

struct rvf_ebpf_hdr {
	uint32_t magic;
	uint16_t header_version;
	uint8_t  program_type;
	uint8_t  attach_type;
	uint32_t program_flags;
	uint16_t insn_count;
	uint16_t max_dimension;
	uint64_t program_size;
	uint32_t map_count;
	uint32_t btf_size;
	uint8_t  program_hash[32];
} __attribute__((packed));
_Static_assert(sizeof(struct rvf_ebpf_hdr) == RVF_EBPF_HDR_SIZE, "EbpfHeader size");
_Static_assert(offsetof(struct rvf_ebpf_hdr, insn_count) == 0x0C, "insn_count");
_Static_assert(offsetof(struct rvf_ebpf_hdr, program_size) == 0x10, "program_size");
_Static_assert(offsetof(struct rvf_ebpf_hdr, btf_size) == 0x1C, "btf_size");
_Static_assert(offsetof(struct rvf_ebpf_hdr, program_hash) == 0x20, "program_hash");

/* ---- MembershipHeader, 96 B (ruvector-rvf 1.12, 2.9) ---------------------- */
/*  0x00  4  magic 0x52564D42 "RVMB"     0x20  4  filter_size
 *  0x04  2  version (1)                 0x24  4  generation_id
 *  0x06  1  filter_type (0 dense bitmap) 0x28 32 filter_hash (SHA-256 of filter)
 *  0x07  1  filter_mode (0 include, 1 exclude)
 *  0x08  8  vector_count                0x48  8  bloom_offset (0, unused)
 *  0x10  8  member_count                0x50  4  bloom_size (0, unused)
 *  0x18  8  filter_offset (96)          0x54 12  reserved, zero
 */
#define RVF_MEMBERSHIP_MAGIC    0x52564D42u
#define RVF_MEMBERSHIP_VERSION  1u
#define RVF_MEMBERSHIP_HDR_SIZE 96u
/* rvf writes RVF_MEMBERSHIP_IDSET (an rvf extension of RVF's types): the
 * filter is the member ids as u64 ascending, unique (filter_size = 8 *
 * member_count), since caller ids are sparse u64 and a dense bitmap over
 * them may not fit. The dense bitmap a daemon mirrors is built in memory
 * over the store's internal ids (rvf_store_membership_bitmap). */
enum rvf_membership_filter_type {
	RVF_MEMBERSHIP_DENSE = 0, RVF_MEMBERSHIP_ROARING = 1, RVF_MEMBERSHIP_IDSET = 2,
};
enum rvf_membership_mode { RVF_MEMBERSHIP_INCLUDE = 0, RVF_MEMBERSHIP_EXCLUDE = 1 };
struct rvf_membership_hdr {
	uint32_t magic;
	uint16_t version;
	uint8_t  filter_type;
	uint8_t  filter_mode;
	uint64_t vector_count;
	uint64_t member_count;
	uint64_t filter_offset;
	uint32_t filter_size;
	uint32_t generation_id;
	uint8_t  filter_hash[32];
	uint64_t bloom_offset;
	uint32_t bloom_size;
	uint8_t  reserved[12];
} __attribute__((packed));
_Static_assert(sizeof(struct rvf_membership_hdr) == RVF_MEMBERSHIP_HDR_SIZE, "MembershipHeader size");
_Static_assert(offsetof(struct rvf_membership_hdr, vector_count) == 0x08, "vector_count");
_Static_assert(offsetof(struct rvf_membership_hdr, filter_size) == 0x20, "filter_size");
_Static_assert(offsetof(struct rvf_membership_hdr, filter_hash) == 0x28, "filter_hash");
_Static_assert(offsetof(struct rvf_membership_hdr, bloom_offset) == 0x48, "bloom_offset");
_Static_assert(offsetof(struct rvf_membership_hdr, bloom_size) == 0x50, "bloom_size");

/* ---- CowMapHeader, 64 B (ruvector-rvf 1.12, 2.9) -------------------------- */
/*  0x00  4  magic 0x5256434D "RVCM"     0x08  4  cluster_size_bytes (power of two)
 *  0x04  2  version (1)                 0x0C  4  vectors_per_cluster
 *  0x06  1  map_format (0 flat, 1 ART, 2 extent list)
 *  0x07  1  compression_policy          0x10 16  base_file_id
 *                                       0x20 32  base_file_hash
 */
#define RVF_COW_MAP_MAGIC    0x5256434Du
#define RVF_COW_MAP_VERSION  1u
#define RVF_COW_MAP_HDR_SIZE 64u
enum rvf_cow_map_format { RVF_COW_MAP_FLAT = 0, RVF_COW_MAP_ART = 1, RVF_COW_MAP_EXTENTS = 2 };
/* Flat map entry tags (ruvector-rvf 1.12). */
enum rvf_cow_tag { RVF_COW_UNALLOCATED = 0, RVF_COW_PARENT_REF = 1, RVF_COW_LOCAL = 2 };
struct rvf_cow_map_hdr {
	uint32_t magic;
	uint16_t version;
	uint8_t  map_format;
	uint8_t  compression_policy;
	uint32_t cluster_size_bytes;
	uint32_t vectors_per_cluster;
	uint8_t  base_file_id[16];
	uint8_t  base_file_hash[32];
} __attribute__((packed));
_Static_assert(sizeof(struct rvf_cow_map_hdr) == RVF_COW_MAP_HDR_SIZE, "CowMapHeader size");
_Static_assert(offsetof(struct rvf_cow_map_hdr, cluster_size_bytes) == 0x08, "cluster_size_bytes");
_Static_assert(offsetof(struct rvf_cow_map_hdr, base_file_id) == 0x10, "base_file_id");
_Static_assert(offsetof(struct rvf_cow_map_hdr, base_file_hash) == 0x20, "base_file_hash");

#ifdef __cplusplus
}
#endif
#endif
