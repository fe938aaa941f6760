/* json_scan.h: the run of string bytes that need no look in JSON (not '"', '\\', a control byte or non-ASCII), 16 at a time. */
#ifndef PK_JSON_SCAN_H
#define PK_JSON_SCAN_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* 1 for the bytes a JSON string holds as they are: all but '"' (0x22), '\\' (0x5c), control bytes and
 * bytes of 0x80 or more */
static const unsigned char pk__json_plain_byte[256] = {
  [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

/* The bytes of the 8 at v (a little-endian word) that a JSON string cannot hold as they are: 0x80
 * in each byte of 0x80 or more, below 0x20, '"' or '\\' (the usual "has a zero byte" trick on
 * v ^ '"' and v ^ '\\'; a flag can only spill into bytes after a real one, so the lowest is exact). */
static inline uint64_t pk__json_plain_word(uint64_t v) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
  return (v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* The same for the 4 bytes of a 32-bit word. */
static inline uint32_t pk__json_plain_word32(uint32_t v) {
  const uint32_t ones = 0x01010101u, highs = 0x80808080u;
  uint32_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
  return (v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* Whether all n bytes at s are plain (as pk__json_plain_run(s, n) == n), for short strings: in
 * words that may overlap, without a loop over bytes. */
static inline __attribute__((always_inline)) int pk__json_plain_short(const unsigned char *s, size_t n) {
  if (n >= 8) {
    uint64_t v, acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { memcpy(&v, s + i, 8); acc |= pk__json_plain_word(v); }
    if (i < n) { memcpy(&v, s + n - 8, 8); acc |= pk__json_plain_word(v); }
    return acc == 0;
  }
  if (n >= 4) {
    uint32_t x, y;
    memcpy(&x, s, 4);
    memcpy(&y, s + n - 4, 4);
    return (pk__json_plain_word32(x) | pk__json_plain_word32(y)) == 0;
  }
  static const unsigned char plain[256] = {[0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1};
  return (n < 1 || plain[s[0]]) && (n < 2 || plain[s[1]]) && (n < 3 || plain[s[2]]);
}

/* memcpy for n <= 32 without the call: words that may overlap (fixed sizes compile to moves). */
static inline __attribute__((always_inline)) void pk__json_copy_short(char *o, const char *s, size_t n) {
  if (n >= 16) {
    memcpy(o, s, 16);
    memcpy(o + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    memcpy(o, s, 8);
    memcpy(o + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    memcpy(o, s, 4);
    memcpy(o + n - 4, s + n - 4, 4);
  } else {
    for (size_t i = 0; i < n; i++) o[i] = s[i];
  }
}

/* How many of the n bytes at p come before the first '"', '\\', control byte (below 0x20) or byte
 * of 0x80 or more: the bytes a JSON string's encoder or decoder can copy as they are. */
static inline size_t pk__json_plain_run(const unsigned char *p, size_t n) {
  size_t i = 0;
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
    /* signed: bytes 0x80..0xff are negative, so "below 0x20" catches them with the control bytes */
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                               _mm_cmplt_epi8(v, space));
    int mask = _mm_movemask_epi8(hit);
    if (mask) return i + (size_t)__builtin_ctz((unsigned)mask);
  }
#endif
  /* 8 at a time in a 64-bit word (short strings, and the tail of long ones) */
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    uint64_t hit = pk__json_plain_word(v);
    if (hit) return i + (size_t)(__builtin_ctzll(hit) >> 3);
  }
  while (i < n && pk__json_plain_byte[p[i]]) i++;
  return i;
}
#endif
