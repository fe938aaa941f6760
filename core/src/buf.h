/* buf.h: a growable byte buffer used for request bodies, header storage and output. */
#ifndef PK_BUF_H
#define PK_BUF_H
#include <errno.h>
#include <stddef.h>
#include <string.h>

typedef struct pk__buf {
  char *data;   /* read-only outside buf.c: contents */
  size_t len;   /* read-only outside buf.c: bytes used */
  size_t cap;   /* private: bytes allocated (changed only through the functions below) */
} pk__buf;

void pk__buf_init(pk__buf *b);
void pk__buf_free(pk__buf *b);
/* private: pk__buf_reserve when the room is not there */
int pk__buf_grow(pk__buf *b, size_t extra);
/* Room for `extra` more bytes. Returns 0, or -ENOMEM. (Inline, as pk__buf_append: the hot paths
 * append a few bytes at a time, and the room is nearly always there.) */
static inline int pk__buf_reserve(pk__buf *b, size_t extra) {
  return b->len + extra <= b->cap ? 0 : pk__buf_grow(b, extra);
}
static inline int pk__buf_append(pk__buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (pk__buf_reserve(b, n)) return -ENOMEM;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}
int pk__buf_append_str(pk__buf *b, const char *s);
/* Appends the decimal form of v. */
int pk__buf_append_uint(pk__buf *b, unsigned long long v);
/* Drops the first n bytes. */
void pk__buf_consume(pk__buf *b, size_t n);
static inline void pk__buf_reset(pk__buf *b) { b->len = 0; }
/* Keeps only the first n bytes (n <= len). */
static inline void pk__buf_truncate(pk__buf *b, size_t n) { if (n < b->len) b->len = n; }
/* Writing in place: room for at least `want` more bytes (NULL on ENOMEM) and how much there is
 * (*room); pk__buf_commit(b, n) then adds the n bytes written there. */
static inline char *pk__buf_space(pk__buf *b, size_t want, size_t *room) {
  if (pk__buf_reserve(b, want)) return NULL;
  if (room) *room = b->cap - b->len;
  return b->data + b->len;
}
static inline void pk__buf_commit(pk__buf *b, size_t n) { b->len += n; }


/* Appends s as a JSON string literal (quotes included), escaping as RFC 8259 requires. */
int pk__buf_append_json_string(pk__buf *b, const char *s, size_t n);
#endif
