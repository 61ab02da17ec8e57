/*
 * common/bytes.h - the byte helpers the payload codecs share: unaligned
 * little-endian loads (the host is little-endian; include/rvf/format.h) and
 * an all-zero test.
 */
#ifndef RVF_COMMON_BYTES_H
#define RVF_COMMON_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t rd16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t rd32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rd64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* True when all n bytes at p are zero (n == 0 included). */
static inline bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

#endif
