/*
 * codec/hash.c - SHA-256 over OpenSSL's EVP interface and the Rust RVF
 * runtime's CRC32 content hash (zlib's crc32). Nothing here is hand-rolled:
 * the digests come from maintained libraries.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "common/log.h"
#include "codec/hash.h"

int sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	struct sha256_ctx c = { 0 };
	int err;

	err = sha256_init(&c);
	if (!err)
		err = sha256_update(&c, p, n);
	if (!err)
		err = sha256_final(&c, out);
	sha256_release(&c);
	return err;
}

int sha256_init(struct sha256_ctx *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	c->md = NULL;
	if (!md)
		return log_fail(-ENOMEM, "sha256: out of memory");
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return log_fail(-EIO, "sha256: EVP_DigestInit_ex failed");
	}
	c->md = md;
	return 0;
}

int sha256_update(struct sha256_ctx *c, const void *p, size_t n)
{
	if (!c->md)
		return -EINVAL;
	if (n && EVP_DigestUpdate(c->md, p, n) != 1)
		return log_fail(-EIO, "sha256: EVP_DigestUpdate failed");
	return 0;
}

int sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;
	int err = 0;

	if (!c->md)
		return -EINVAL;
	if (EVP_DigestFinal_ex(c->md, out, &len) != 1 || len != SHA256_LEN)
		err = log_fail(-EIO, "sha256: EVP_DigestFinal_ex failed");
	sha256_release(c);
	return err;
}

void sha256_release(struct sha256_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

int sha256_equal(const uint8_t a[SHA256_LEN], const uint8_t b[SHA256_LEN])
{
	return CRYPTO_memcmp(a, b, SHA256_LEN) == 0;
}

void hex_encode(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static uint32_t rotl32(uint32_t v, unsigned r)
{
	return r ? (v << r) | (v >> (32 - r)) : v;
}

void rust_content_hash(const void *p, size_t n, uint8_t out[16])
{
	const Bytef *b = p;
	uLong c = crc32(0L, Z_NULL, 0);
	uint32_t w;
	unsigned i;

	/* zlib's length is a uInt: feed large payloads in pieces. */
	while (n) {
		uInt chunk = n > UINT_MAX ? UINT_MAX : (uInt)n;

		c = crc32(c, b, chunk);
		b += chunk;
		n -= chunk;
	}
	for (i = 0; i < 4; i++) {
		w = rotl32((uint32_t)c, 8 * i);
		memcpy(out + 4 * i, &w, 4);
	}
}
