/* buf.c: a growable byte buffer (doubling growth, no shrinking until freed). */
#include "buf.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pk__buf_init(pk__buf *b) { b->data = NULL; b->len = 0; b->cap = 0; }

void pk__buf_free(pk__buf *b) { free(b->data); pk__buf_init(b); }

int pk__buf_reserve(pk__buf *b, size_t extra) {
  if (b->len + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int pk__buf_append(pk__buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (pk__buf_reserve(b, n)) return -ENOMEM;
  memcpy(b->data + b->len, p, n);
  b->len += n;
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

int pk__buf_append_json_string(pk__buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (pk__buf_reserve(b, n + 2)) return -ENOMEM;
  b->data[b->len++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[6];
    size_t el = 0;
    if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; el = 2; }
    else if (c == '\n') { esc[0] = '\\'; esc[1] = 'n'; el = 2; }
    else if (c == '\r') { esc[0] = '\\'; esc[1] = 'r'; el = 2; }
    else if (c == '\t') { esc[0] = '\\'; esc[1] = 't'; el = 2; }
    else if (c < 0x20) { memcpy(esc, "\\u00", 4); esc[4] = hex[c >> 4]; esc[5] = hex[c & 15]; el = 6; }
    if (el) { if (pk__buf_append(b, esc, el)) return -ENOMEM; }
    else { if (pk__buf_reserve(b, 1)) return -ENOMEM; b->data[b->len++] = (char)c; }
  }
  return pk__buf_append(b, "\"", 1);
}
