/* crypto.c: base64url and constant-time comparison (pure C; the Lua module is lua_crypto.c). */
#include "crypto.h"
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>

/* ---- base64url (RFC 4648 section 5) ---- */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Character -> 6-bit value, or -1 for everything outside the alphabet (all 256 bytes spelled
 * out: a zero-filled tail would read as 'A'). */
static const signed char b64url_rev[256] = {
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
  52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
  -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
  15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
  -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
  41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
  -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

size_t pk__b64url_encode(const unsigned char *in, size_t n, char *out) {
  char *o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    *o++ = B64URL[v >> 18];
    *o++ = B64URL[(v >> 12) & 63];
    *o++ = B64URL[(v >> 6) & 63];
    *o++ = B64URL[v & 63];
  }
  if (n - i == 1) {
    unsigned v = (unsigned)in[i] << 16;
    *o++ = B64URL[v >> 18];
    *o++ = B64URL[(v >> 12) & 63];
  } else if (n - i == 2) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
    *o++ = B64URL[v >> 18];
    *o++ = B64URL[(v >> 12) & 63];
    *o++ = B64URL[(v >> 6) & 63];
  }
  return (size_t)(o - out);
}

int pk__b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen) {
  /* Padding, if any, must bring the length to a multiple of 4 and hold no more than 2 '='. */
  if (n % 4 == 0 && n > 0 && in[n - 1] == '=') {
    n--;
    if (in[n - 1] == '=') n--;
    if (n % 4 < 2) return -EINVAL;
  }
  if (n % 4 == 1) return -EINVAL;
  unsigned char *o = out;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    int a = b64url_rev[(unsigned char)in[i]], b = b64url_rev[(unsigned char)in[i + 1]];
    int c = b64url_rev[(unsigned char)in[i + 2]], d = b64url_rev[(unsigned char)in[i + 3]];
    if ((a | b | c | d) < 0) return -EINVAL;
    unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
    *o++ = (unsigned char)(v >> 16);
    *o++ = (unsigned char)(v >> 8);
    *o++ = (unsigned char)v;
  }
  if (n - i >= 2) {
    int a = b64url_rev[(unsigned char)in[i]], b = b64url_rev[(unsigned char)in[i + 1]];
    int c = n - i == 3 ? b64url_rev[(unsigned char)in[i + 2]] : 0;
    if ((a | b | c) < 0) return -EINVAL;
    unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6;
    /* The bits below the last whole byte must be zero, or two strings would decode alike. */
    if (n - i == 2 ? (v & 0xffff) : (v & 0xff)) return -EINVAL;
    *o++ = (unsigned char)(v >> 16);
    if (n - i == 3) *o++ = (unsigned char)(v >> 8);
  }
  *outlen = (size_t)(o - out);
  return 0;
}

int pk__ct_equals(const void *a, size_t an, const void *b, size_t bn) {
  if (an != bn) {
    /* The lengths are public (a MAC has a fixed one); still touch every byte, so a mismatch in
     * length costs what a mismatch in content does. */
    (void)CRYPTO_memcmp(a, a, an);
    return 0;
  }
  return CRYPTO_memcmp(a, b, an) == 0;
}

/* ---- Lua bindings ---- */
