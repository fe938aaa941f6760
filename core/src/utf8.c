/* utf8.c: strict UTF-8 validation with an ASCII fast path, resumable at any byte. */
#include "utf8.h"
#include <errno.h>
#include <string.h>

/* The checks follow the table of well-formed byte sequences in RFC 3629 section 4 (the same as
 * Unicode's Table 3-7): the second byte's range depends on the lead byte, which is how overlong
 * forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF
 * (F4 90..BF) are excluded; C0, C1 and F5..FF never appear. */

#define HIGH_BITS 0x8080808080808080ULL

int pk__utf8_feed(pk__utf8_state *st, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  unsigned need = st->need, lo = st->lo, hi = st->hi;
  while (p < end) {
    if (need) {
      unsigned c = *p++;
      if (c < lo || c > hi) return -EILSEQ;
      need--;
      lo = 0x80;
      hi = 0xbf;
      continue;
    }
    /* Between code points: skip ASCII eight bytes at a time (the common case of JSON text). */
    while (end - p >= 8) {
      uint64_t v;
      memcpy(&v, p, 8);
      if (v & HIGH_BITS) break;
      p += 8;
    }
    if (p == end) break;
    unsigned c = *p++;
    if (c < 0x80) continue;
    if (c < 0xc2) return -EILSEQ;              /* a stray continuation byte, or overlong C0/C1 */
    if (c < 0xe0) { need = 1; continue; }
    if (c < 0xf0) {
      need = 2;
      if (c == 0xe0) lo = 0xa0;                /* below U+0800 would be overlong */
      else if (c == 0xed) hi = 0x9f;           /* U+D800..U+DFFF are surrogates */
      continue;
    }
    if (c < 0xf5) {
      need = 3;
      if (c == 0xf0) lo = 0x90;                /* below U+10000 would be overlong */
      else if (c == 0xf4) hi = 0x8f;           /* above U+10FFFF */
      continue;
    }
    return -EILSEQ;
  }
  st->need = (uint8_t)need;
  st->lo = (uint8_t)lo;
  st->hi = (uint8_t)hi;
  return 0;
}

int pk__utf8_valid(const char *s, size_t n) {
  pk__utf8_state st;
  pk__utf8_init(&st);
  return pk__utf8_feed(&st, s, n) == 0 && pk__utf8_complete(&st);
}

int pk__utf8_encode(unsigned cp, char *b) {
  if (cp < 0x80) { b[0] = (char)cp; return 1; }
  if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    b[0] = (char)(0xE0 | cp >> 12);
    b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  b[0] = (char)(0xF0 | cp >> 18);
  b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  b[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  b[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t pk__utf8_seq(const unsigned char *p, size_t avail) {
  unsigned c = p[0], lo = 0x80, hi = 0xbf;
  size_t n;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) { n = 3; if (c == 0xe0) lo = 0xa0; else if (c == 0xed) hi = 0x9f; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; if (c == 0xf0) lo = 0x90; else if (c == 0xf4) hi = 0x8f; }
  else return 0;
  if (avail < n || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++) if (p[i] < 0x80 || p[i] > 0xbf) return 0;
  return n;
}
