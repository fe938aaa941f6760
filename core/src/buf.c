/* buf.c: a growable byte buffer (doubling growth, no shrinking until freed). */
#include "buf.h"
#include <errno.h>
#include "json_scan.h"
#include "utf8.h"
#include <stdlib.h>
#include <string.h>

void pk__buf_init(pk__buf *b) { b->data = NULL; b->len = 0; b->cap = 0; }

void pk__buf_free(pk__buf *b) { free(b->data); pk__buf_init(b); }

int pk__buf_grow(pk__buf *b, size_t extra) {
  if (b->len + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int pk__buf_append_str(pk__buf *b, const char *s) { return pk__buf_append(b, s, strlen(s)); }

int pk__buf_append_uint(pk__buf *b, unsigned long long v) {
  char tmp[24];
  int i = sizeof tmp;
  do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v);
  return pk__buf_append(b, tmp + i, sizeof tmp - i);
}

void pk__buf_consume(pk__buf *b, size_t n) {
  if (n >= b->len) { b->len = 0; return; }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

/* Bytes that need an escape in a JSON string: 0 = none, else the letter after the backslash
 * ('u' = \u00XX); 'U' = a byte of 0x80 or more, to check as UTF-8. */
#define U8(x) [x] = 'U', [x + 1] = 'U', [x + 2] = 'U', [x + 3] = 'U', [x + 4] = 'U', [x + 5] = 'U', \
  [x + 6] = 'U', [x + 7] = 'U'
#define U64(x) U8(x), U8(x + 8), U8(x + 16), U8(x + 24), U8(x + 32), U8(x + 40), U8(x + 48), U8(x + 56)
static const char json_escape[256] = {
  U64(0x80), U64(0xc0),
  ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r', ['"'] = '"', ['\\'] = '\\',
  [0] = 'u', [1] = 'u', [2] = 'u', [3] = 'u', [4] = 'u', [5] = 'u', [6] = 'u', [7] = 'u',
  [11] = 'u', [14] = 'u', [15] = 'u', [16] = 'u', [17] = 'u', [18] = 'u', [19] = 'u', [20] = 'u',
  [21] = 'u', [22] = 'u', [23] = 'u', [24] = 'u', [25] = 'u', [26] = 'u', [27] = 'u', [28] = 'u',
  [29] = 'u', [30] = 'u', [31] = 'u',
};

int pk__buf_append_json_string(pk__buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (pk__buf_reserve(b, n + 2)) return -ENOMEM;    /* grows again only when escapes are met */
  b->data[b->len++] = '"';
  size_t i = 0;
  if (n <= 32) {   /* short (keys, most values): checked in words, then copied */
    char *o = b->data + b->len;
    if (pk__json_plain_short((const unsigned char *)s, n)) {
      pk__json_copy_short(o, s, n);
      b->len += n;
      b->data[b->len++] = '"';
      return 0;
    }
    while (i < n && pk__json_plain_byte[(unsigned char)s[i]]) { o[i] = s[i]; i++; }
    b->len += i;
  }
  while (i < n) {
    size_t run = i + pk__json_plain_run((const unsigned char *)s + i, n - i);
    memcpy(b->data + b->len, s + i, run - i);
    b->len += run - i;
    if (run == n) break;
    if (pk__buf_reserve(b, 6 + (n - run - 1) + 1)) return -ENOMEM;
    unsigned char c = (unsigned char)s[run];
    char e = json_escape[c], *o = b->data + b->len;
    if (e == 'U') {   /* JSON text is UTF-8 (RFC 8259 8.1): a malformed byte becomes U+FFFD */
      size_t k = pk__utf8_seq((const unsigned char *)s + run, n - run);
      if (k) memcpy(o, s + run, k);
      else { o[0] = (char)0xef; o[1] = (char)0xbf; o[2] = (char)0xbd; }
      b->len += k ? k : 3;
      i = run + (k ? k : 1);
      continue;
    }
    o[0] = '\\';
    o[1] = e;
    if (e == 'u') { o[2] = '0'; o[3] = '0'; o[4] = hex[c >> 4]; o[5] = hex[c & 15]; b->len += 6; }
    else b->len += 2;
    i = run + 1;
  }
  b->data[b->len++] = '"';
  return 0;
}
