/* ascii_case.h: case-insensitive comparison of ASCII bytes (header names, tokens) without libc's locale-aware strncasecmp. */
#ifndef PK_ASCII_CASE_H
#define PK_ASCII_CASE_H
#include <stddef.h>

/* 'A'..'Z' to 'a'..'z'; every other byte as it is (HTTP's case-insensitivity is ASCII's only). */
static inline unsigned char pk__ascii_lower(unsigned char c) {
  return (unsigned char)(c + ((unsigned)(c - 'A') < 26u ? 32 : 0));
}

/* Whether the n bytes at a and b are the same, ignoring ASCII case. strncasecmp went through the
 * locale on every call (3 calls a request: 1.6 % of a POST /validate's user CPU in a profile);
 * the names compared here are a few bytes long, and a length check comes first at every site. */
static inline int pk__ascii_ieq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (pk__ascii_lower((unsigned char)a[i]) != pk__ascii_lower((unsigned char)b[i])) return 0;
  return 1;
}
#endif
