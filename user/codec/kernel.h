/*
 * codec/kernel.h - encode and parse KERNEL segment payloads:
 *
 *   KernelHeader(128) | image | cmdline                       (no binding)
 *   KernelHeader(128) | KernelBinding(128) | cmdline | image  (kernel_flags
 *                                                 has RVF_KERNEL_F_HAS_BINDING)
 *
 * Layouts and field meanings: include/rvf/payload.h. image_hash is SHA-256 of
 * the image; cmdline_offset is the cmdline's payload offset.
 */
#ifndef RVF_CODEC_KERNEL_H
#define RVF_CODEC_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rvf/payload.h"

/* Limits rvf enforces when writing (RVF's runtime caps kernels at 128 MiB). */
#define KERNEL_MAX_IMAGE    (128u << 20)
#define KERNEL_MAX_CMDLINE  (64u << 10)

/* What the caller chooses; all-zero is a valid x86_64 Hermit kernel with no
 * API. HAS_BINDING in kernel_flags is ignored: encode sets it from whether a
 * binding is given. */
struct kernel_spec {
	uint8_t  arch;              /* enum rvf_kernel_arch */
	uint8_t  kernel_type;       /* enum rvf_kernel_type */
	uint32_t kernel_flags;      /* RVF_KERNEL_F_*, bits 15..30 must be zero */
	uint32_t min_memory_mb;
	uint64_t entry_point;
	uint8_t  api_transport;     /* enum rvf_api_transport */
	uint16_t api_port;          /* host order; stored big-endian */
	uint32_t api_version;
	uint8_t  build_id[16];
	uint64_t build_timestamp;
	uint32_t vcpu_count;
};

/* Payload bytes needed for this image / cmdline / binding choice. -EINVAL
 * when image_len is 0 or above KERNEL_MAX_IMAGE, or cmdline_len is above
 * KERNEL_MAX_CMDLINE. */
int kernel_payload_size(size_t image_len, size_t cmdline_len, bool with_binding, size_t *out);

/*
 * Build the KernelHeader for an image: magic, version, sizes, SHA-256
 * image_hash, cmdline offset and length for the chosen layout, api_port in
 * big-endian. Borrowed inputs; out written only on success. -EINVAL for the
 * size limits above or reserved bits (15..30) in spec->kernel_flags.
 */
int kernel_hdr_build(const struct kernel_spec *spec, const void *image, size_t image_len,
		     size_t cmdline_len, bool with_binding, struct rvf_kernel_hdr *out);

/*
 * Write the whole KERNEL payload into dst (dst_len must be at least
 * kernel_payload_size()). binding == NULL means no binding; a binding must
 * pass kernel_binding_check(). cmdline may be NULL when cmdline_len is 0 and
 * holds raw bytes (no terminating NUL is added or required). 0 or -errno.
 */
int kernel_payload_encode(const struct kernel_spec *spec, const void *image, size_t image_len,
			  const void *cmdline, size_t cmdline_len,
			  const struct rvf_kernel_binding *binding, void *dst, size_t dst_len);

/* Check a binding: binding_version != 0, pad and reserved zero.
 * 0 or -EUCLEAN (logged). */
int kernel_binding_check(const struct rvf_kernel_binding *b);

/* A parsed KERNEL payload. Pointers are views into the payload buffer given
 * to kernel_payload_parse, valid while it is. hdr/binding are copies. */
struct kernel_view {
	struct rvf_kernel_hdr hdr;
	bool has_binding;
	struct rvf_kernel_binding binding;      /* zero when !has_binding */
	const uint8_t *image;
	uint64_t image_len;
	const uint8_t *cmdline;                 /* NULL when cmdline_len == 0 */
	uint32_t cmdline_len;
	uint16_t api_port;                      /* host order */
};

/*
 * Parse flag for payloads written by the Rust RVF runtime (carried over by
 * the importer): its image_hash is a toy hash, not SHA-256, so it is not
 * checked; its cmdline_offset is 128 even when the cmdline follows the image;
 * and a binding is recognised as RVF does (cmdline_offset 256, non-zero
 * binding_version) but only when the sizes then add up exactly.
 */
#define KERNEL_PARSE_RUST 0x1u

/*
 * Parse and validate a KERNEL payload: magic, header_version, no compression
 * (compressed_size == image_size), no reserved flag bits, reserved fields
 * zero, image and cmdline inside the payload with no bytes left over, the
 * binding (when present) valid, and image_hash == SHA-256(image) unless
 * KERNEL_PARSE_RUST. payload is borrowed; out written only on success.
 * -EUCLEAN malformed, -EBADMSG hash mismatch, -ENOTSUP compressed image or
 * newer header_version, -EINVAL bad arguments. Errors are logged.
 */
int kernel_payload_parse(const void *payload, size_t len, unsigned flags,
			 struct kernel_view *out);

#endif
