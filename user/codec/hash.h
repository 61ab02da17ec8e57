/*
 * codec/hash.h - the hashes rvf's on-disk payloads use: SHA-256 (OpenSSL's
 * EVP, one-shot and incremental) and the Rust RVF runtime's CRC32-based
 * 16-byte segment content hash (read-only compatibility).
 */
#ifndef RVF_CODEC_HASH_H
#define RVF_CODEC_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32u

/* SHA-256 of p[0..n) into out. p may be NULL when n == 0. 0 or -ENOMEM/-EIO. */
int sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);

/* Incremental SHA-256: init, update any number of times, final, release.
 * final leaves the ctx released; release is safe on a zeroed, initialised
 * or finalised ctx (and after a failed init). */
struct sha256_ctx {
	void *md;               /* EVP_MD_CTX *, opaque here */
};
int sha256_init(struct sha256_ctx *c);
int sha256_update(struct sha256_ctx *c, const void *p, size_t n);
int sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
void sha256_release(struct sha256_ctx *c);

/* Constant-time equality of two SHA-256 digests (true when equal). */
int sha256_equal(const uint8_t a[SHA256_LEN], const uint8_t b[SHA256_LEN]);

/* Lower-case hex of the first n bytes of d into out (2n + 1 bytes, NUL-ended). */
void hex_encode(const uint8_t *d, size_t n, char *out);

/*
 * The content hash the Rust RVF runtime writes in segment headers
 * (checksum_algo 0, ruvector-rvf 1.5): c = CRC32-IEEE of the payload, then
 * four little-endian u32 words rotl(c, 0), rotl(c, 8), rotl(c, 16),
 * rotl(c, 24). Derived from the reference fixtures (every segment matches).
 */
void rust_content_hash(const void *p, size_t n, uint8_t out[16]);

#endif
