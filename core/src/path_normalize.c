/* path_normalize.c: the request path with its dot segments removed before routing (RFC 3986 section 5.2.4). */
#include "path_normalize.h"
#include <stdint.h>
#include <string.h>

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

/* The byte an escape at s (s[0] == '%', n bytes left) stands for, or -1 when it is not one. */
static int escaped(const char *s, size_t n) {
  if (n < 3) return -1;
  int h = hexval((unsigned char)s[1]), l = hexval((unsigned char)s[2]);
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/* 1 when the bytes s..s+n, with "%2e" read as '.', are "." ; 2 when ".."; else 0. */
static int dots(const char *s, size_t n) {
  int count = 0;
  for (size_t i = 0; i < n;) {
    if (s[i] == '.') { i++; }
    else if (s[i] == '%' && escaped(s + i, n - i) == '.') { i += 3; }
    else return 0;
    if (++count > 2) return 0;
  }
  return count;
}

/* A segment with an encoded slash or backslash, or a raw backslash: is one of the pieces these
 * separate a dot segment once decoded? */
static int hidden_dots(const char *s, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i <= n;) {
    size_t step = 1;
    int sep = i == n;
    if (!sep && s[i] == '\\') sep = 1;
    else if (!sep && s[i] == '%') {
      int b = escaped(s + i, n - i);
      if (b == '/' || b == '\\') { sep = 1; step = 3; }
    }
    if (sep) {
      if (dots(s + start, i - start)) return 1;
      start = i + step;
    }
    i += step;
  }
  return 0;
}

/* Whether a segment may hide a separator: it holds '%' or '\\'. */
static int may_hide(const char *s, size_t n) {
  return memchr(s, '%', n) != NULL || memchr(s, '\\', n) != NULL;
}

/* Bit 7 of each byte of the result: set at the first byte of x equal to c (exact), and possibly
 * at bytes after it (a borrow); none when no byte is c. */
static inline uint64_t bytes_eq(uint64_t x, unsigned char c) {
  const uint64_t ones = 0x0101010101010101ull;
  uint64_t y = x ^ (ones * c);
  return (y - ones) & ~y & (ones * 0x80);
}

/* 1 when the path part of url (before the first '?') holds none of '.', '%' and '\\': nothing to
 * do, the common case. One pass of 8 bytes at a time (every request's path comes here, where four
 * memchr calls cost more than the path's bytes). Only says 1 when that is certain. */
static int plain_path(const char *url, size_t ulen) {
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  (void)url; (void)ulen;
  return 0;   /* the lowest bit is the first byte only in little-endian words: the memchr calls decide */
#else
  size_t i = 0;
  for (;;) {
    uint64_t x;
    size_t n = ulen - i;
    if (n >= 8) memcpy(&x, url + i, 8);
    else if (n == 0) return 1;
    else {   /* under 8 bytes: two overlapping loads of 4 (or bytes), then '/'s (none of the four) */
      const char *s = url + i;
      if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        x = a | (uint64_t)b << (8 * (n - 4));
      } else {
        x = 0;
        for (size_t k = 0; k < n; k++) x |= (uint64_t)(unsigned char)s[k] << (8 * k);
      }
      x |= 0x2f2f2f2f2f2f2f2full & (~0ull << (8 * n));
    }
    uint64_t q = bytes_eq(x, '?');
    uint64_t o = bytes_eq(x, '.') | bytes_eq(x, '%') | bytes_eq(x, '\\');
    if (q) {   /* the lowest '?' bit is exact, and so is the lowest bit of o: compare below it */
      return !(o & ((q & -q) - 1));
    }
    if (o) return 0;
    if (n <= 8) return 1;
    i += 8;
  }
#endif
}

const char *pk__path_normalize(const char *url, size_t ulen, pk__buf *scratch, const char **out, size_t *olen) {
  *out = url;
  *olen = ulen;
  if (plain_path(url, ulen)) return NULL;
  const char *q = memchr(url, '?', ulen);
  size_t plen = q ? (size_t)(q - url) : ulen;
  if (!memchr(url, '.', plen) && !memchr(url, '%', plen) && !memchr(url, '\\', plen)) return NULL;
  if (!plen || url[0] != '/') return NULL;   /* "*" and the like: not a path (the caller's rule) */
  /* first pass: anything to do? */
  int change = 0;
  for (size_t i = 1; i <= plen;) {
    const char *e = memchr(url + i, '/', plen - i);
    size_t n = e ? (size_t)(e - (url + i)) : plen - i;
    if (dots(url + i, n)) change = 1;
    else if (may_hide(url + i, n) && hidden_dots(url + i, n)) return "Encoded dot segment in the path";
    i += n + 1;
  }
  if (!change) return NULL;
  /* second pass: RFC 3986 section 5.2.4, into scratch (segments pushed and popped at its end) */
  pk__buf_reset(scratch);
  if (pk__buf_reserve(scratch, ulen + 1)) return "Out of memory";
  for (size_t i = 1; i <= plen;) {
    const char *e = memchr(url + i, '/', plen - i);
    size_t n = e ? (size_t)(e - (url + i)) : plen - i;
    int last = e == NULL;
    int d = dots(url + i, n);
    if (d == 2) {
      if (scratch->len == 0) return "The path climbs above the root (\"..\")";
      while (scratch->len && scratch->data[scratch->len - 1] != '/') pk__buf_truncate(scratch, scratch->len - 1);
      pk__buf_truncate(scratch, scratch->len - 1);   /* the '/' before the popped segment */
      if (last) pk__buf_append(scratch, "/", 1);
    } else if (d == 1) {
      if (last) pk__buf_append(scratch, "/", 1);
    } else {
      pk__buf_append(scratch, "/", 1);
      pk__buf_append(scratch, url + i, n);
    }
    i += n + 1;
  }
  if (scratch->len == 0) pk__buf_append(scratch, "/", 1);
  if (q) pk__buf_append(scratch, q, ulen - plen);
  *out = scratch->data;
  *olen = scratch->len;
  return NULL;
}
