/* crypto.h: base64url and constant-time comparison shared by crypto.c, its Lua module and tests. */
#ifndef PK_CRYPTO_H
#define PK_CRYPTO_H
#include <stddef.h>

#define PK__SHA256_LEN 32

/* Length of the unpadded base64url encoding of n bytes. */
#define PK__B64URL_ENC_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/* Upper bound of the bytes decoded from n characters. */
#define PK__B64URL_DEC_MAX(n) (((n) / 4) * 3 + 2)

/* Writes the base64url encoding of in[0..n) to out (no padding, no NUL); returns its length,
 * PK__B64URL_ENC_LEN(n). */
size_t pk__b64url_encode(const unsigned char *in, size_t n, char *out);

/* Decodes base64url in[0..n) into out (room for PK__B64URL_DEC_MAX(n) bytes) and sets *outlen.
 * Padding is optional but, when present, must be complete; '+', '/', whitespace and any other
 * character outside the alphabet, a length of 4k+1 and non-zero unused trailing bits (a second
 * spelling of the same bytes) are rejected. Returns 0, or -EINVAL. */
int pk__b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen);

/* 1 when a[0..an) equals b[0..bn). The time depends on the lengths only, never on the content. */
int pk__ct_equals(const void *a, size_t an, const void *b, size_t bn);
#endif
