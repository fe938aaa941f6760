/* schema_pattern.c: JSON Schema patterns (an ECMA-262 subset, by code point) translated to POSIX ERE. */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "schema_internal.h"
#include "utf8.h"

/* ---- patterns: ECMA-262 subset -> POSIX ERE -------------------------------------------------- */

/* A pattern sees characters (code points), as minLength does and as ECMA-262 does with the u flag,
 * while POSIX ERE in the C locale sees bytes. So every character, class and escape is read into a
 * set of code points and written as the UTF-8 bytes of its members:
 *   - an ASCII set is one bracket expression or byte ([a-z], x);
 *   - a set holding every non-ASCII character (., [^...], \D \S \W) is a lead byte (an ASCII member
 *     or 0xc0-0xff) and the continuation bytes after it; a counted repeat copies that, so the fast
 *     matcher below can still run it;
 *   - any other set (é, [é-ü], [^é]) is a group of alternative UTF-8 byte sequences.
 * This is exact for valid UTF-8 subjects: no atom can start on a continuation byte, so a run of
 * continuation bytes never stops inside a character that the next atom would then have to take. */

#define MAX_CP 0x10FFFFu
#define MAX_RANGES 128
#define MAX_COPIES 16 /* a counted repeat of a non-ASCII class is copied up to this often, else a group */

typedef struct { unsigned lo, hi; } cprange;
typedef struct { int n; cprange r[MAX_RANGES + 1]; } cpset; /* code points, sorted once normalized */
typedef struct { uint32_t w[8]; } byteset;
typedef struct { long lo, hi; } quant;                        /* hi < 0: unbounded */

typedef struct {
  char *p, *end;
  int full;
} out_t;

/* Translation state: the source and the position in it, the output, the first error. */
typedef struct {
  const char *s;
  size_t n, i;
  int depth; /* open groups */
  out_t o;
  const char *why;
} tr_t;

enum { IT_SET, IT_GROUP, IT_OTHER };

static void put(out_t *o, const char *s, size_t n) {
  if ((size_t)(o->end - o->p) <= n) { o->full = 1; return; }
  memcpy(o->p, s, n);
  o->p += n;
}
static void putc1(out_t *o, char c) { put(o, &c, 1); }
static void puts1(out_t *o, const char *s) { put(o, s, strlen(s)); }

/* A literal byte outside brackets, escaped if ERE gives it a meaning. */
static void put_literal(out_t *o, char c) {
  if (c && strchr(".[]()*+?{}|^$\\", c)) putc1(o, '\\');
  putc1(o, c);
}

static int tr_fail(tr_t *t, const char *why) {
  if (!t->why) t->why = why;
  return -EINVAL;
}

static int hexval(const char *s, int w) {
  int v = 0;
  for (int i = 0; i < w; i++) {
    int c = (unsigned char)s[i];
    if (!pk__is_hex(c)) return -1;
    v = v * 16 + (pk__is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

/* -- sets of code points -- */

static int set_add(tr_t *t, cpset *st, unsigned lo, unsigned hi) {
  if (st->n >= MAX_RANGES) return tr_fail(t, "character class too long");
  st->r[st->n].lo = lo;
  st->r[st->n].hi = hi;
  st->n++;
  return 0;
}

static int cmp_range(const void *a, const void *b) {
  const cprange *x = a, *y = b;
  return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Sorts the ranges and merges those that overlap or touch. */
static void set_normalize(cpset *st) {
  int m = 0;
  qsort(st->r, (size_t)st->n, sizeof *st->r, cmp_range);
  for (int k = 0; k < st->n; k++) {
    if (m > 0 && st->r[k].lo <= st->r[m - 1].hi + 1) {
      if (st->r[k].hi > st->r[m - 1].hi) st->r[m - 1].hi = st->r[k].hi;
    } else {
      st->r[m++] = st->r[k];
    }
  }
  st->n = m;
}

/* The complement of a normalized set within 0..MAX_CP (at most one range more). */
static void set_negate(cpset *st) {
  cpset out;
  unsigned next = 0;
  out.n = 0;
  for (int k = 0; k < st->n; k++) {
    if (st->r[k].lo > next) out.r[out.n++] = (cprange){next, st->r[k].lo - 1};
    next = st->r[k].hi + 1;
  }
  if (next <= MAX_CP) out.r[out.n++] = (cprange){next, MAX_CP};
  *st = out;
}

/* Adds \d \w \s (ASCII meanings) or their complements \D \W \S. Returns 0 if e names none. */
static int class_escape(tr_t *t, cpset *st, char e) {
  int lower = e | 0x20;
  const char *r = lower == 'd' ? "09" : lower == 'w' ? "09AZ__az" : lower == 's' ? "\t\r  " : NULL;
  cpset c;
  if (!r) return 0;
  for (c.n = 0; *r; r += 2) c.r[c.n++] = (cprange){(unsigned char)r[0], (unsigned char)r[1]};
  if (e != lower) set_negate(&c);
  for (int k = 0; k < c.n; k++) set_add(t, st, c.r[k].lo, c.r[k].hi);
  return 1;
}

/* -- reading the pattern -- */

/* The UTF-8 character at s[t->i]; -1 if the bytes are not UTF-8. */
static long next_char(tr_t *t) {
  static const unsigned least[] = {0, 0, 0x80, 0x800, 0x10000};
  const unsigned char *s = (const unsigned char *)t->s + t->i;
  unsigned c = s[0];
  int len = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
  if (len == 0 || t->i + (size_t)len > t->n) return -1;
  unsigned cp = len == 1 ? c : c & (0x3fu >> (len - 1));
  for (int k = 1; k < len; k++) {
    if ((s[k] & 0xc0) != 0x80) return -1;
    cp = cp << 6 | (s[k] & 0x3f);
  }
  if (cp < least[len] || cp > MAX_CP || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  t->i += (size_t)len;
  return (long)cp;
}

/* A literal character of the pattern (NUL too: it is written as [^\001-\377], see put_bytes). */
static long literal_char(tr_t *t) {
  long cp = next_char(t);
  return cp < 0 ? tr_fail(t, "the pattern is not valid UTF-8") : cp;
}

/* Joins a high surrogate with a following \uDC00-\uDFFF into one character. */
static long low_surrogate(tr_t *t, long hi) {
  const char *s = t->s + t->i;
  long lo = t->i + 5 < t->n && s[0] == '\\' && s[1] == 'u' ? hexval(s + 2, 4) : -1;
  if (lo < 0xdc00 || lo > 0xdfff) return hi;
  t->i += 6;
  return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
}

/* The character of a one-character escape at s[t->i], just after the backslash: \n \t \r \f \v,
 * \0 (not followed by a digit), \xHH, \uHHHH (a surrogate pair is one character) or escaped
 * punctuation; -1 if it is not one. */
static long escape_char(tr_t *t) {
  static const char from[] = "ntrfv", to[] = "\n\t\r\f\v";
  const char *s = t->s;
  char c = s[t->i];
  const char *p = c ? strchr(from, c) : NULL;
  if (p) {
    t->i++;
    return to[p - from];
  }
  if (c == 'x' || c == 'u') {
    size_t w = c == 'x' ? 2 : 4;
    long v = t->i + w < t->n ? hexval(s + t->i + 1, (int)w) : -1;
    if (v < 0) return -1;
    t->i += w + 1;
    return c == 'u' && v >= 0xd800 && v <= 0xdbff ? low_surrogate(t, v) : v;
  }
  if (c == '0' && !(t->i + 1 < t->n && pk__is_digit((unsigned char)s[t->i + 1]))) {
    t->i++;
    return 0;
  }
  if (pk__is_alnum((unsigned char)c) || (unsigned char)c >= 0x80 || c == 0) return -1;
  t->i++;
  return (unsigned char)c;
}

/* One character inside [...]: a literal, \b (backspace) or a one-character escape. */
static long class_char(tr_t *t) {
  if (t->s[t->i] != '\\') return literal_char(t);
  if (++t->i >= t->n) return tr_fail(t, "unterminated [...]");
  if (t->s[t->i] == 'b') {
    t->i++;
    return '\b';
  }
  long cp = escape_char(t);
  return cp < 0 ? tr_fail(t, "unsupported escape inside [...]") : cp;
}

static int is_class_escape(tr_t *t, size_t i) {
  return i + 1 < t->n && t->s[i] == '\\' && t->s[i + 1] && strchr("dDwWsS", t->s[i + 1]);
}

/* A class from just after '[' to just after ']'. A '-' at either end, or after \d \w \s, is itself. */
static int parse_class(tr_t *t, cpset *st) {
  int neg = t->i < t->n && t->s[t->i] == '^';
  t->i += (size_t)neg;
  if (!neg && t->i < t->n && t->s[t->i] == ']')
    return tr_fail(t, "the empty class [] matches nothing");
  while (t->i < t->n && t->s[t->i] != ']' && !t->why) {
    if (is_class_escape(t, t->i)) {
      class_escape(t, st, t->s[t->i + 1]);
      t->i += 2;
      continue;
    }
    long lo = class_char(t), hi = lo;
    if (lo < 0) return -EINVAL;
    if (t->i + 1 < t->n && t->s[t->i] == '-' && t->s[t->i + 1] != ']') {
      if (is_class_escape(t, ++t->i)) return tr_fail(t, "a range inside [...] cannot end with \\d, \\w or \\s");
      if ((hi = class_char(t)) < 0) return -EINVAL;
      if (hi < lo) return tr_fail(t, "reversed range inside [...]");
    }
    set_add(t, st, (unsigned)lo, (unsigned)hi);
  }
  if (t->why) return -EINVAL;
  if (t->i >= t->n) return tr_fail(t, "unterminated [...]");
  t->i++;
  set_normalize(st);
  if (neg) set_negate(st);
  return st->n ? 0 : tr_fail(t, "the class matches no character");
}

/* Digits at s[*i] (the value capped); returns how many. */
static int read_count(tr_t *t, size_t *i, long *v) {
  int k = 0;
  for (*v = 0; *i < t->n && pk__is_digit((unsigned char)t->s[*i]); (*i)++, k++)
    if (*v < 100000) *v = *v * 10 + (t->s[*i] - '0');
  return k;
}

/* {n}, {n,} or {n,m} at s[t->i]: 1 with q filled, or 0 if the '{' does not start one (it is then the
 * character '{', as in Annex B of ECMA-262). */
static int read_braces(tr_t *t, quant *q) {
  size_t i = t->i + 1;
  long lo, hi;
  if (!read_count(t, &i, &lo)) return 0;
  hi = lo;
  if (i < t->n && t->s[i] == ',' && (i++, !read_count(t, &i, &hi))) hi = -1;
  if (i >= t->n || t->s[i] != '}') return 0;
  t->i = i + 1;
  q->lo = lo;
  q->hi = hi;
  return 1;
}

/* A quantifier at s[t->i]: *, +, ?, {n}, {n,} or {n,m}, with an optional lazy '?' (which matches
 * the same strings). Returns 1 if there is one. */
static int read_quant(tr_t *t, quant *q) {
  char c = t->i < t->n ? t->s[t->i] : 0;
  if (c == '*') q->lo = 0, q->hi = -1, t->i++;
  else if (c == '+') q->lo = 1, q->hi = -1, t->i++;
  else if (c == '?') q->lo = 0, q->hi = 1, t->i++;
  else if (c != '{' || !read_braces(t, q)) return 0;
  if (q->hi >= 0 && q->hi < q->lo) return tr_fail(t, "numbers out of order in {n,m}");
  if (t->i < t->n && t->s[t->i] == '?') t->i++;
  return 1;
}

static int open_group(tr_t *t) {
  const char *s = t->s + t->i;
  size_t left = t->n - t->i;
  if (left > 1 && s[1] == '?') {
    if (left < 3 || s[2] != ':') return tr_fail(t, "lookahead, lookbehind and named groups are not supported");
    t->i += 2;
  }
  t->i++;
  t->depth++;
  putc1(&t->o, '(');
  return IT_OTHER;
}

static int read_escape(tr_t *t, cpset *st) {
  if (++t->i >= t->n) return tr_fail(t, "pattern ends with a backslash");
  char e = t->s[t->i];
  if (e == 'b' || e == 'B') {
    putc1(&t->o, '\\');
    putc1(&t->o, e);
    t->i++;
    return IT_OTHER;
  }
  if (e >= '1' && e <= '9') return tr_fail(t, "backreferences are not supported");
  if (class_escape(t, st, e)) {
    t->i++;
    return IT_SET;
  }
  long cp = escape_char(t);
  if (cp < 0)
    return tr_fail(t, "unsupported escape (supported: \\d \\D \\s \\S \\w \\W \\b \\B \\n \\t \\r \\f \\v \\xHH \\uHHHH and escaped punctuation)");
  set_add(t, st, (unsigned)cp, (unsigned)cp);
  return IT_SET;
}

/* Reads one item at s[t->i]. A character, class or class escape goes into st (IT_SET) to be written
 * with its quantifier; ')' (IT_GROUP) and the items that cannot be repeated (IT_OTHER: '(', '|',
 * '^', '$', \b, \B) are written at once. A '{' or '}' that is not part of a quantifier is a
 * character. */
static int read_item(tr_t *t, cpset *st) {
  char c = t->s[t->i];
  quant q;
  switch (c) {
  case '[':
    t->i++;
    return parse_class(t, st) ? -1 : IT_SET;
  case '.': /* any character but a newline */
    set_add(t, st, 0, '\n' - 1);
    set_add(t, st, '\n' + 1, MAX_CP);
    t->i++;
    return IT_SET;
  case '(': return open_group(t);
  case ')':
    if (t->depth == 0) return tr_fail(t, "unmatched ) (write \\) for the character)");
    t->depth--;
    t->i++;
    putc1(&t->o, ')');
    return IT_GROUP;
  case '|': case '^': case '$':
    t->i++;
    putc1(&t->o, c);
    return IT_OTHER;
  case '\\': return read_escape(t, st);
  case '*': case '+': case '?': return tr_fail(t, "nothing to repeat before *, + or ?");
  case '{':
    if (read_braces(t, &q)) return tr_fail(t, "nothing to repeat before {n,m}");
    break;
  default: break;
  }
  long cp = literal_char(t);
  if (cp >= 0) set_add(t, st, (unsigned)cp, (unsigned)cp);
  return IT_SET;
}

/* -- writing ERE -- */

static void bs_add(byteset *b, unsigned lo, unsigned hi) {
  for (unsigned c = lo; c <= hi; c++) b->w[c >> 5] |= 1u << (c & 31);
}
static int bs_has(const byteset *b, unsigned c) { return (b->w[c >> 5] >> (c & 31)) & 1; }
static int bracket_special(unsigned c) { return c == ']' || c == '[' || c == '^' || c == '-'; }

/* The members of a bracket expression, placed where POSIX reads them literally: ']' first, '[' '^'
 * '-' last ([-^] for just those two); runs of three or more bytes as ranges. */
static void put_bracket_body(out_t *o, const byteset *b, int neg) {
  int before = bs_has(b, ']');
  if (before) putc1(o, ']');
  for (unsigned c = 1; c < 256; c++) {
    if (!bs_has(b, c) || bracket_special(c)) continue;
    unsigned e = c;
    while (e < 255 && bs_has(b, e + 1) && !bracket_special(e + 1)) e++;
    putc1(o, (char)c);
    if (e > c + 1) putc1(o, '-');
    if (e > c) putc1(o, (char)e);
    c = e;
    before = 1;
  }
  if (!neg && !before && !bs_has(b, '[')) {
    puts1(o, bs_has(b, '-') ? "-^" : "^");
    return;
  }
  for (const char *p = "[^-"; *p; p++)
    if (bs_has(b, (unsigned char)*p)) putc1(o, *p);
}

/* Writes a non-empty set of bytes as one ERE atom: a literal, [...] or, for a set holding NUL (the
 * ERE is a C string), [^complement]. Returns -1 for all 256 bytes, which ERE cannot say that way. */
static int put_bytes(out_t *o, const byteset *b) {
  byteset x = *b;
  int neg = bs_has(b, 0), count = 0, first = 0;
  if (neg)
    for (int w = 0; w < 8; w++) x.w[w] = ~x.w[w];
  for (int c = 255; c >= 0; c--)
    if (bs_has(&x, (unsigned)c)) count++, first = c;
  if (count == 0) return -1;
  if (!neg && count == 1) {
    put_literal(o, (char)first);
    return 0;
  }
  putc1(o, '[');
  if (neg) putc1(o, '^');
  put_bracket_body(o, &x, neg);
  putc1(o, ']');
  return 0;
}

static void put_quant(out_t *o, const quant *q) {
  char b[48];
  if (q->lo == 1 && q->hi == 1) return;
  if (q->lo == 0 && q->hi < 0) snprintf(b, sizeof b, "*");
  else if (q->lo == 1 && q->hi < 0) snprintf(b, sizeof b, "+");
  else if (q->lo == 0 && q->hi == 1) snprintf(b, sizeof b, "?");
  else if (q->hi == q->lo) snprintf(b, sizeof b, "{%ld}", q->lo);
  else if (q->hi < 0) snprintf(b, sizeof b, "{%ld,}", q->lo);
  else snprintf(b, sizeof b, "{%ld,%ld}", q->lo, q->hi);
  puts1(o, b);
}

/* The ASCII members of a set, as bytes. */
static void ascii_bytes(const cpset *st, byteset *b) {
  memset(b, 0, sizeof *b);
  for (int k = 0; k < st->n && st->r[k].lo < 0x80; k++)
    bs_add(b, st->r[k].lo, st->r[k].hi < 0x80 ? st->r[k].hi : 0x7f);
}

/* The UTF-8 encodings of the characters lo..hi (all non-ASCII) as alternatives, each a sequence of
 * byte ranges ("\xc3[\xa9-\xbc]"). The range is split where the encoded length changes, then until
 * the bytes after the first one that differs cover their whole range. */
static void put_utf8_range(out_t *o, unsigned lo, unsigned hi, int *alts) {
  static const unsigned len_max[] = {0x7ff, 0xffff};
  for (int k = 0; k < 2; k++)
    if (lo <= len_max[k] && hi > len_max[k]) {
      put_utf8_range(o, lo, len_max[k], alts);
      put_utf8_range(o, len_max[k] + 1, hi, alts);
      return;
    }
  char a[4], b[4];
  int len = pk__utf8_encode(lo, a);
  for (int k = 1; k < len; k++) {
    unsigned m = (1u << (6 * k)) - 1;
    if ((lo & ~m) == (hi & ~m)) continue;
    if ((lo & m) != 0) {
      put_utf8_range(o, lo, lo | m, alts);
      put_utf8_range(o, (lo | m) + 1, hi, alts);
      return;
    }
    if ((hi & m) != m) {
      put_utf8_range(o, lo, (hi & ~m) - 1, alts);
      put_utf8_range(o, hi & ~m, hi, alts);
      return;
    }
  }
  pk__utf8_encode(hi, b);
  if ((*alts)++) putc1(o, '|');
  for (int k = 0; k < len; k++) {
    if (a[k] == b[k]) { putc1(o, a[k]); continue; }
    putc1(o, '[');
    putc1(o, a[k]);
    putc1(o, '-');
    putc1(o, b[k]);
    putc1(o, ']');
  }
}

/* A set holding every non-ASCII character: a lead byte and the continuation bytes after it. Counted
 * repeats are copies ("lead cont*" for each required one, "lead? cont*" for each optional one, and
 * "any*" for no upper bound), so no group is needed. */
static void put_wide(out_t *o, const cpset *st, const quant *q) {
  byteset lead, cont, any;
  ascii_bytes(st, &lead);
  any = lead;
  memset(&cont, 0, sizeof cont);
  bs_add(&lead, 0xc0, 0xff);
  bs_add(&cont, 0x80, 0xbf);
  bs_add(&any, 0x80, 0xff);
  int any_all = (any.w[0] & any.w[1] & any.w[2] & any.w[3]) == 0xffffffffu; /* every ASCII byte */
  long copies = q->hi < 0 ? q->lo : q->hi;
  if (copies > MAX_COPIES || (q->hi < 0 && any_all)) {
    putc1(o, '(');
    put_bytes(o, &lead);
    put_bytes(o, &cont);
    puts1(o, "*)");
    put_quant(o, q);
    return;
  }
  for (long k = 0; k < q->lo; k++) {
    put_bytes(o, &lead);
    if (k + 1 == q->lo && q->hi < 0) break; /* any* follows and takes the continuation bytes */
    put_bytes(o, &cont);
    putc1(o, '*');
  }
  if (q->hi < 0) {
    put_bytes(o, &any);
    putc1(o, '*');
    return;
  }
  for (long k = q->lo; k < q->hi; k++) {
    put_bytes(o, &lead);
    putc1(o, '?');
    put_bytes(o, &cont);
    putc1(o, '*');
  }
}

/* Any other set: a group of alternatives, the ASCII members as one of them. A single non-ASCII
 * character without a quantifier is just its bytes. */
static void put_mixed(out_t *o, const cpset *st, const quant *q) {
  byteset a;
  int alts = 0;
  if (st->n == 1 && st->r[0].lo == st->r[0].hi && q->lo == 1 && q->hi == 1) {
    char b[4];
    put(o, b, (size_t)pk__utf8_encode(st->r[0].lo, b));
    return;
  }
  ascii_bytes(st, &a);
  putc1(o, '(');
  if (put_bytes(o, &a) == 0) alts = 1;
  for (int k = 0; k < st->n; k++)
    if (st->r[k].hi >= 0x80) put_utf8_range(o, st->r[k].lo < 0x80 ? 0x80 : st->r[k].lo, st->r[k].hi, &alts);
  putc1(o, ')');
  put_quant(o, q);
}

static void put_set(out_t *o, const cpset *st, const quant *q) {
  const cprange *last = &st->r[st->n - 1];
  if (last->hi < 0x80) {
    byteset b;
    ascii_bytes(st, &b);
    put_bytes(o, &b);
    put_quant(o, q);
  } else if (last->lo <= 0x80 && last->hi == MAX_CP) {
    put_wide(o, st, q);
  } else {
    put_mixed(o, st, q);
  }
}

/* How many copies of its item a quantifier makes regcomp build: it expands {n,m} into m copies. */
static double copies(const quant *q) {
  if (q->hi >= 0) return q->hi > 1 ? (double)q->hi : 1;
  return q->lo > 0 ? (double)q->lo + 1 : 1;
}

/* How many of those copies are optional ({2,5}: 3): regcomp's memory grows with their square
 * (a{1,8080} takes 500 MB), so their total is capped on its own. */
static double optional_copies(const quant *q) {
  return q->hi > q->lo ? (double)(q->hi - q->lo) : 0;
}

int pk__spattern_translate(const char *s, size_t n, char *buf, size_t cap, const char **why) {
  tr_t t = {s, n, 0, 0, {buf, buf + cap, 0}, NULL};
  /* the size regcomp will build, group by group: nested counted repeats multiply, and
   * ((a{255}){255}){255} would take gigabytes, so the total is capped */
  double size[PK__SPATTERN_MAX_DEPTH + 1] = {0};
  double optional = 0;
  /* whether each open group can match the empty string: its current alternative so far, and any
   * finished one. regcomp treats every copy of such a group as optional, and ((a*)*)... chains
   * take it exponential time, so an unbounded repeat of one is refused */
  unsigned char alt_empty[PK__SPATTERN_MAX_DEPTH + 1], any_empty[PK__SPATTERN_MAX_DEPTH + 1];
  alt_empty[0] = 1;
  any_empty[0] = 0;
  int depth = 0;
  while (t.i < n && !t.why) {
    cpset st;
    quant q = {1, 1};
    st.n = 0;
    char first = s[t.i];
    int kind = read_item(&t, &st);
    int repeated = t.why ? 0 : read_quant(&t, &q);
    if (t.why) break;
    if (repeated && kind == IT_OTHER) tr_fail(&t, "nothing to repeat before a quantifier");
    else if (kind == IT_SET) put_set(&t.o, &st, &q);
    else if (repeated) put_quant(&t.o, &q);
    if (kind == IT_OTHER && first == '(') {
      if (depth == PK__SPATTERN_MAX_DEPTH) { tr_fail(&t, "groups nested too deep"); break; }
      size[++depth] = 0;
      alt_empty[depth] = 1;
      any_empty[depth] = 0;
    } else if (kind == IT_OTHER && first == '|') {
      any_empty[depth] |= alt_empty[depth];
      alt_empty[depth] = 1;
    } else if (kind == IT_GROUP && depth > 0) {
      int empty = any_empty[depth] || alt_empty[depth];
      double inner = size[depth--];
      if (inner < 1) inner = 1;      /* an empty group "()" is still a node regcomp copies */
      size[depth] += inner * copies(&q);
      if (empty && q.hi < 0) {
        tr_fail(&t, "a group that can match the empty string repeated without bound ((a*)*, (a|)+): drop the"
                    " outer or the inner repeat");
        break;
      }
      optional += inner * (empty ? copies(&q) : optional_copies(&q));
      if (!empty && q.lo > 0) alt_empty[depth] = 0;
    } else if (kind == IT_SET) {
      size[depth] += copies(&q);
      optional += optional_copies(&q);
      if (q.lo > 0) alt_empty[depth] = 0;
    }
    if (size[depth] > PK__SPATTERN_MAX_COPIES) tr_fail(&t, "counted repeats expand too far (nested {n,m} multiply)");
    else if (optional > PK__SPATTERN_MAX_OPTIONAL)
      tr_fail(&t, "counted repeats with too many optional copies ({n,m} with m - n over 2000 in all; for a length use minLength/maxLength)");
  }
  putc1(&t.o, '\0');
  if (t.why) {
    *why = t.why;
    return -EINVAL;
  }
  if (t.o.full) {
    *why = "pattern too long";
    return -ENOSPC;
  }
  return 0;
}

