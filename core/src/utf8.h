/* utf8.h: strict UTF-8 validation (RFC 3629), of a whole buffer or incrementally across chunks. */
#ifndef PK_UTF8_H
#define PK_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Where an incremental validation stands between chunks. All fields private; zero-filled (or
 * pk__utf8_init) is the state at the start of a text. */
typedef struct pk__utf8_state {
  uint8_t need;   /* continuation bytes still expected for the current code point */
  uint8_t lo, hi; /* the range the next continuation byte must fall in */
} pk__utf8_state;

static inline void pk__utf8_init(pk__utf8_state *st) { st->need = 0; st->lo = 0x80; st->hi = 0xbf; }

/* 1 when s[0..n) is well-formed UTF-8: no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF, no code point cut off at the end. 0 otherwise. */
int pk__utf8_valid(const char *s, size_t n);

/* The length (2 to 4) of the well-formed UTF-8 sequence that starts at p, with avail bytes
 * readable there, or 0 when p[0] does not start one. */
size_t pk__utf8_seq(const unsigned char *p, size_t avail);

/* Writes code point cp (at most 0x10FFFF, not a surrogate) as UTF-8 into b (room for 4 bytes);
 * returns the number of bytes. */
int pk__utf8_encode(unsigned cp, char *b);

/* Validates the next n bytes of a text split anywhere (also inside a code point). Returns 0 while
 * what was seen so far is the prefix of some valid text, -EILSEQ as soon as it cannot be; after
 * -EILSEQ the state is undefined until pk__utf8_init. */
int pk__utf8_feed(pk__utf8_state *st, const char *s, size_t n);

/* 1 when the text fed so far ends on a code point boundary (so, with every feed having returned
 * 0, it is complete and valid), 0 when a code point is still open. */
static inline int pk__utf8_complete(const pk__utf8_state *st) { return st->need == 0; }
#endif
