/*
 * codec/kernel.c - KERNEL segment payloads (KernelHeader, KernelBinding).
 *
 * Invariants of a payload rvf writes, all checked by kernel_payload_parse:
 * the header's sizes account for every payload byte (no slack, no overlap);
 * RVF_KERNEL_F_HAS_BINDING is set exactly when a binding follows; the image
 * is stored uncompressed and image_hash is its SHA-256.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "common/log.h"
#include "codec/hash.h"
#include "codec/kernel.h"

int kernel_payload_size(size_t image_len, size_t cmdline_len, bool with_binding, size_t *out)
{
	if (image_len == 0 || image_len > KERNEL_MAX_IMAGE)
		return log_fail(-EINVAL, "kernel image is %zu bytes (must be 1..%u)",
				image_len, KERNEL_MAX_IMAGE);
	if (cmdline_len > KERNEL_MAX_CMDLINE)
		return log_fail(-EINVAL, "kernel cmdline is %zu bytes (max %u)",
				cmdline_len, KERNEL_MAX_CMDLINE);
	/* Both limits are far below SIZE_MAX / 4: no overflow. */
	*out = RVF_KERNEL_HDR_SIZE + (with_binding ? RVF_KERNEL_BINDING_SIZE : 0) +
	       image_len + cmdline_len;
	return 0;
}

int kernel_hdr_build(const struct kernel_spec *spec, const void *image, size_t image_len,
		     size_t cmdline_len, bool with_binding, struct rvf_kernel_hdr *out)
{
	struct rvf_kernel_hdr h;
	size_t total;
	uint32_t kflags;
	int err;

	if (!spec || !image || !out)
		return -EINVAL;
	err = kernel_payload_size(image_len, cmdline_len, with_binding, &total);
	if (err)
		return err;
	kflags = spec->kernel_flags & ~RVF_KERNEL_F_HAS_BINDING;
	if (kflags & ~RVF_KERNEL_F_KNOWN)
		return log_fail(-EINVAL, "kernel flags 0x%x use reserved bits", spec->kernel_flags);
	if (with_binding)
		kflags |= RVF_KERNEL_F_HAS_BINDING;

	memset(&h, 0, sizeof(h));
	h.magic = RVF_KERNEL_MAGIC;
	h.header_version = RVF_KERNEL_HDR_VERSION;
	h.arch = spec->arch;
	h.kernel_type = spec->kernel_type;
	h.kernel_flags = kflags;
	h.min_memory_mb = spec->min_memory_mb;
	h.entry_point = spec->entry_point;
	h.image_size = image_len;
	h.compressed_size = image_len;
	h.compression = 0;
	h.api_transport = spec->api_transport;
	h.api_port_be = htons(spec->api_port);
	h.api_version = spec->api_version;
	memcpy(h.build_id, spec->build_id, sizeof(h.build_id));
	h.build_timestamp = spec->build_timestamp;
	h.vcpu_count = spec->vcpu_count;
	h.cmdline_length = (uint32_t)cmdline_len;
	h.cmdline_offset = with_binding ? RVF_KERNEL_HDR_SIZE + RVF_KERNEL_BINDING_SIZE
					: RVF_KERNEL_HDR_SIZE + image_len;
	err = sha256(image, image_len, h.image_hash);
	if (!err)
		*out = h;
	return err;
}

int kernel_binding_check(const struct rvf_kernel_binding *b)
{
	if (b->binding_version == 0)
		return log_fail(-EUCLEAN, "kernel binding: binding_version is 0");
	if (b->pad != 0)
		return log_fail(-EUCLEAN, "kernel binding: pad is 0x%x, must be 0", b->pad);
	if (!all_zero(b->reserved, sizeof(b->reserved)))
		return log_fail(-EUCLEAN, "kernel binding: reserved bytes are not zero");
	return 0;
}

int kernel_payload_encode(const struct kernel_spec *spec, const void *image, size_t image_len,
			  const void *cmdline, size_t cmdline_len,
			  const struct rvf_kernel_binding *binding, void *dst, size_t dst_len)
{
	struct rvf_kernel_hdr h;
	uint8_t *d = dst;
	size_t need;
	int err;

	if (!dst || (cmdline_len && !cmdline))
		return -EINVAL;
	err = kernel_payload_size(image_len, cmdline_len, binding != NULL, &need);
	if (err)
		return err;
	if (dst_len < need)
		return log_fail(-EINVAL, "kernel payload needs %zu bytes, buffer has %zu",
				need, dst_len);
	if (binding && (err = kernel_binding_check(binding)))
		return err;
	err = kernel_hdr_build(spec, image, image_len, cmdline_len, binding != NULL, &h);
	if (err)
		return err;

	memcpy(d, &h, sizeof(h));
	d += sizeof(h);
	if (binding) {
		memcpy(d, binding, sizeof(*binding));
		d += sizeof(*binding);
		if (cmdline_len)
			memcpy(d, cmdline, cmdline_len);
		memcpy(d + cmdline_len, image, image_len);
	} else {
		memcpy(d, image, image_len);
		if (cmdline_len)
			memcpy(d + image_len, cmdline, cmdline_len);
	}
	return 0;
}

/* Locate image and cmdline for the layout the header (and flags) say.
 * Every arithmetic step is bounded by len, so no overflow. */
static int kernel_layout(const struct rvf_kernel_hdr *h, const uint8_t *p, size_t len,
			 unsigned flags, struct kernel_view *v)
{
	const uint64_t hs = RVF_KERNEL_HDR_SIZE, bs = RVF_KERNEL_BINDING_SIZE;
	uint64_t rest, cl = h->cmdline_length;
	bool binding = h->kernel_flags & RVF_KERNEL_F_HAS_BINDING;

	if (flags & KERNEL_PARSE_RUST) {
		/* RVF marks a binding only by cmdline_offset 256 and a non-zero
		 * binding_version; accept that guess only if the sizes agree. */
		struct rvf_kernel_binding b;

		if (!binding && h->cmdline_offset == hs + bs && len >= hs + bs) {
			memcpy(&b, p + hs, sizeof(b));
			binding = b.binding_version != 0 && len - hs - bs >= cl &&
				  len - hs - bs - cl == h->image_size;
		}
	}
	if (len < hs || (binding && len < hs + bs))
		return log_fail(-EUCLEAN, "kernel payload of %zu bytes is too short", len);
	rest = len - hs - (binding ? bs : 0);
	if (h->image_size == 0 || h->image_size > rest || cl > rest - h->image_size ||
	    h->image_size + cl != rest)
		return log_fail(-EUCLEAN, "kernel payload: image_size %llu + cmdline_length %llu "
				"do not fill the %llu bytes after the header",
				(unsigned long long)h->image_size, (unsigned long long)cl,
				(unsigned long long)rest);
	if (binding) {
		memcpy(&v->binding, p + hs, sizeof(v->binding));
		if (kernel_binding_check(&v->binding))
			return -EUCLEAN;
		if (h->cmdline_offset != hs + bs)
			return log_fail(-EUCLEAN, "kernel payload: cmdline_offset %llu, expected %llu "
					"after a binding",
					(unsigned long long)h->cmdline_offset,
					(unsigned long long)(hs + bs));
		v->cmdline = p + hs + bs;
		v->image = p + hs + bs + cl;
	} else {
		/* rvf writes the cmdline's real offset; RVF writes 128. */
		if (h->cmdline_offset != hs + h->image_size &&
		    !((flags & KERNEL_PARSE_RUST) && h->cmdline_offset == hs))
			return log_fail(-EUCLEAN, "kernel payload: cmdline_offset %llu, expected %llu",
					(unsigned long long)h->cmdline_offset,
					(unsigned long long)(hs + h->image_size));
		v->image = p + hs;
		v->cmdline = p + hs + h->image_size;
	}
	v->has_binding = binding;
	v->image_len = h->image_size;
	v->cmdline_len = (uint32_t)cl;
	if (!cl)
		v->cmdline = NULL;
	return 0;
}

int kernel_payload_parse(const void *payload, size_t len, unsigned flags,
			 struct kernel_view *out)
{
	struct kernel_view v;
	struct rvf_kernel_hdr *h = &v.hdr;
	uint8_t digest[SHA256_LEN];
	int err;

	if (!payload || !out || (flags & ~KERNEL_PARSE_RUST))
		return -EINVAL;
	if (len < RVF_KERNEL_HDR_SIZE)
		return log_fail(-EUCLEAN, "kernel payload of %zu bytes is shorter than its header",
				len);
	memset(&v, 0, sizeof(v));
	memcpy(h, payload, sizeof(*h));
	if (h->magic != RVF_KERNEL_MAGIC)
		return log_fail(-EUCLEAN, "kernel header: bad magic 0x%08x", h->magic);
	if (h->header_version == 0)
		return log_fail(-EUCLEAN, "kernel header: version 0");
	if (h->header_version > RVF_KERNEL_HDR_VERSION)
		return log_fail(-ENOTSUP, "kernel header: version %u is newer than %u",
				h->header_version, RVF_KERNEL_HDR_VERSION);
	if (h->compression != 0 || (h->kernel_flags & RVF_KERNEL_F_COMPRESSED))
		return log_fail(-ENOTSUP, "kernel header: compressed images (compression %u) "
				"are not supported", h->compression);
	if (h->compressed_size != h->image_size)
		return log_fail(-EUCLEAN, "kernel header: compressed_size %llu != image_size %llu "
				"for an uncompressed image",
				(unsigned long long)h->compressed_size,
				(unsigned long long)h->image_size);
	if (h->kernel_flags & ~RVF_KERNEL_F_KNOWN)
		return log_fail(-EUCLEAN, "kernel header: reserved flag bits in 0x%08x",
				h->kernel_flags);
	if (h->reserved0 || h->reserved1)
		return log_fail(-EUCLEAN, "kernel header: reserved fields are not zero");
	err = kernel_layout(h, payload, len, flags, &v);
	if (err)
		return err;
	if (!(flags & KERNEL_PARSE_RUST)) {
		err = sha256(v.image, v.image_len, digest);
		if (err)
			return err;
		if (!sha256_equal(digest, h->image_hash))
			return log_fail(-EBADMSG, "kernel image: SHA-256 does not match image_hash");
	}
	v.api_port = ntohs(h->api_port_be);
	*out = v;
	return 0;
}
