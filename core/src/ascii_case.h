/* ascii_case.h: case-insensitive comparison of ASCII bytes (header names, tokens) without libc's locale-aware strncasecmp. */
#ifndef PK_ASCII_CASE_H
#define PK_ASCII_CASE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* White space as C's isspace sees it in the "C" locale (and Lua's %s): ' ', \t, \n, \v, \f, \r. */
static inline int pk__ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* 'A'..'Z' to 'a'..'z'; every other byte as it is (HTTP's case-insensitivity is ASCII's only). */
static inline unsigned char pk__ascii_lower(unsigned char c) {
  return (unsigned char)(c + ((unsigned)(c - 'A') < 26u ? 32 : 0));
}

/* The 8 bytes of x with 'A'..'Z' made 'a'..'z', every other byte as it is: for each byte, t is its
 * low 7 bits; t + 0x3f has its high bit set when t >= 'A', t + 0x25 when t > 'Z' (no sum carries
 * into the next byte), and a byte whose own high bit is set is not a letter. */
static inline uint64_t pk__ascii_lower8(uint64_t x) {
  const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80;
  uint64_t t = x & ~high;
  uint64_t upper = (t + ones * (0x80 - 'A')) & ~(t + ones * (0x80 - 'Z' - 1)) & ~x & high;
  return x | (upper >> 2);
}

/* Whether the n bytes at a and b are the same, ignoring ASCII case. strncasecmp went through the
 * locale on every call (3 calls a request: 1.6 % of a POST /validate's user CPU in a profile);
 * the names compared here are a few bytes long, and a length check comes first at every site.
 * Eight bytes at a time from 8 on (the last word overlaps the one before). */
static inline int pk__ascii_ieq(const char *a, const char *b, size_t n) {
  if (n >= 8) {
    uint64_t x, y;
    for (size_t i = 0; i + 8 <= n; i += 8) {
      memcpy(&x, a + i, 8);
      memcpy(&y, b + i, 8);
      if (x != y && pk__ascii_lower8(x) != pk__ascii_lower8(y)) return 0;
    }
    if (n % 8) {
      memcpy(&x, a + n - 8, 8);
      memcpy(&y, b + n - 8, 8);
      if (x != y && pk__ascii_lower8(x) != pk__ascii_lower8(y)) return 0;
    }
    return 1;
  }
  for (size_t i = 0; i < n; i++)
    if (pk__ascii_lower((unsigned char)a[i]) != pk__ascii_lower((unsigned char)b[i])) return 0;
  return 1;
}
#endif
