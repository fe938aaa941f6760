/* schema_check.c: the string checks of JSON Schema: UTF-8 length, formats, and the fast pattern matcher. */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "schema_internal.h"
#include "utf8.h"

/* Code points in a UTF-8 string: every byte that is not a continuation byte (10xxxxxx) starts one.
 * Invalid UTF-8 is counted the same way (lua-cjson only produces valid UTF-8). */
size_t pk__utf8_len(const char *s, size_t n) {
  size_t cont = 0;
  for (size_t i = 0; i < n; i++) cont += ((unsigned char)s[i] & 0xC0) == 0x80;
  return n - cont;
}

/* ---- formats --------------------------------------------------------------------------------- */

static const char *const format_names[] = {NULL, "email", "uuid", "date-time", "date", "uri"};

int pk__sformat_id(const char *name) {
  for (int i = 1; i < (int)(sizeof format_names / sizeof *format_names); i++)
    if (strcmp(name, format_names[i]) == 0) return i;
  return PK__SF_NONE;
}

const char *pk__sformat_name(int id) { return id > 0 && id <= PK__SF_URI ? format_names[id] : "?"; }


/* The dot-atom local part and host name of the usual HTML/ajv check (no quoted local parts, no IP
 * literals): atext+ ("." atext+)* "@" label ("." label)+, label = alnum (alnum|"-")* alnum. */
static int check_email(const char *s, size_t n) {
  static const char atext_extra[] = "!#$%&'*+/=?^_`{|}~-";
  size_t i = 0, atom = 0;
  for (; i < n && s[i] != '@'; i++) {
    char c = s[i];
    if (c == '.') {
      if (atom == 0) return 0;
      atom = 0;
    } else if (pk__is_alnum((unsigned char)c) || (c && strchr(atext_extra, c))) {
      atom++;
    } else {
      return 0;
    }
  }
  if (i == n || atom == 0) return 0;
  i++;
  int labels = 0;
  while (i < n) {
    size_t start = i;
    while (i < n && (pk__is_alnum((unsigned char)s[i]) || s[i] == '-')) i++;
    if (i == start || s[start] == '-' || s[i - 1] == '-') return 0;
    labels++;
    if (i == n) break;
    if (s[i] != '.' || i + 1 == n) return 0;
    i++;
  }
  return labels >= 2;
}

static int check_uuid(const char *s, size_t n) {
  if (n != 36) return 0;
  for (size_t i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return 0;
    } else if (!pk__is_hex((unsigned char)s[i])) {
      return 0;
    }
  }
  return 1;
}

/* Reads exactly `w` digits at s[*i]. */
static int digits(const char *s, size_t n, size_t *i, int w, int *out) {
  int v = 0;
  if (*i + (size_t)w > n) return 0;
  for (int k = 0; k < w; k++) {
    char c = s[*i + k];
    if (!pk__is_digit((unsigned char)c)) return 0;
    v = v * 10 + (c - '0');
  }
  *i += (size_t)w;
  *out = v;
  return 1;
}

static int lit(const char *s, size_t n, size_t *i, char c) {
  if (*i >= n || s[*i] != c) return 0;
  (*i)++;
  return 1;
}

/* full-date of RFC 3339, with the days of each month and leap years checked. */
static int parse_date(const char *s, size_t n, size_t *i) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, m, d;
  if (!digits(s, n, i, 4, &y) || !lit(s, n, i, '-') || !digits(s, n, i, 2, &m) || !lit(s, n, i, '-') ||
      !digits(s, n, i, 2, &d))
    return 0;
  if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return 0;
  if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return 0;
  return 1;
}

/* date-time of RFC 3339: full-date ("T" / "t" / " ") HH:MM:SS[.frac] ("Z" / "z" / ±HH:MM). A leap
 * second (SS = 60) only at 23:59 UTC: the local time minus the offset (as ajv's full mode checks). */
static int check_date_time(const char *s, size_t n) {
  size_t i = 0;
  int h, mi, sec, oh = 0, om = 0, sign = 0;
  if (!parse_date(s, n, &i)) return 0;
  if (i >= n || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) return 0;
  i++;
  if (!digits(s, n, &i, 2, &h) || !lit(s, n, &i, ':') || !digits(s, n, &i, 2, &mi) || !lit(s, n, &i, ':') ||
      !digits(s, n, &i, 2, &sec))
    return 0;
  if (h > 23 || mi > 59 || sec > 60) return 0;
  if (i < n && s[i] == '.') {
    size_t start = ++i;
    while (i < n && pk__is_digit((unsigned char)s[i])) i++;
    if (i == start) return 0;
  }
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
    if (++i != n) return 0;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    sign = s[i++] == '+' ? 1 : -1;
    if (!digits(s, n, &i, 2, &oh) || !lit(s, n, &i, ':') || !digits(s, n, &i, 2, &om)) return 0;
    if (oh > 23 || om > 59 || i != n) return 0;
  } else {
    return 0;
  }
  if (sec < 60) return 1;
  int utc = ((h * 60 + mi - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
  return utc == 23 * 60 + 59;
}

static int check_date(const char *s, size_t n) {
  size_t i = 0;
  return parse_date(s, n, &i) && i == n;
}

/* Characters of RFC 3986 (besides letters, digits and %HH escapes) by where they may appear. */
static int uri_char(unsigned char c, const char *extra) {
  return pk__is_alnum(c) || (c && strchr("-._~!$&'()*+,;=", c)) || (c && strchr(extra, c));
}

/* Skips characters of the given kind and valid %HH escapes from s[*i]; 0 at a bad escape. */
static int uri_run(const char *s, size_t n, size_t *i, const char *extra) {
  for (; *i < n; (*i)++) {
    unsigned char c = (unsigned char)s[*i];
    if (c == '%') {
      if (*i + 2 >= n || !pk__is_hex((unsigned char)s[*i + 1]) || !pk__is_hex((unsigned char)s[*i + 2])) return 0;
      *i += 2;
    } else if (!uri_char(c, extra)) {
      break;
    }
  }
  return 1;
}

/* The authority s[i..end) of RFC 3986: [userinfo "@"] host [":" port], the host a reg-name or an
 * IP literal in brackets (an IPv6 address or "v" version "." ...; its inside is not parsed further). */
static int check_authority(const char *s, size_t i, size_t end) {
  const char *at = memchr(s + i, '@', end - i);
  if (at) {
    size_t u = i;
    if (!uri_run(s, end, &u, ":") || s + u != at) return 0;
    i = u + 1;
  }
  if (i < end && s[i] == '[') {
    size_t h = ++i;
    if (!uri_run(s, end, &i, ":") || i == h || i >= end || s[i] != ']') return 0;
    i++;
  } else if (!uri_run(s, end, &i, "")) {
    return 0;
  }
  if (i < end && s[i] == ':')
    for (i++; i < end && pk__is_digit((unsigned char)s[i]); i++) {}
  return i == end;
}

/* An absolute URI of RFC 3986: scheme ":" ["//" authority] path ["?" query] ["#" fragment], each
 * part of its own characters with valid %HH escapes (so no second '#', and '[' ']' only around an
 * IP literal host). One pass over the string. */
static int check_uri(const char *s, size_t n) {
  size_t i = 0;
  if (n == 0 || !pk__is_alpha((unsigned char)s[0])) return 0;
  while (i < n && (pk__is_alnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) i++;
  if (i == n || s[i] != ':') return 0;
  i++;
  if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
    size_t end = i += 2;
    while (end < n && s[end] != '/' && s[end] != '?' && s[end] != '#') end++;
    if (!check_authority(s, i, end)) return 0;
    i = end;
  }
  if (!uri_run(s, n, &i, ":@/")) return 0;                          /* path */
  if (i < n && s[i] == '?' && (i++, !uri_run(s, n, &i, ":@/?"))) return 0; /* query */
  if (i < n && s[i] == '#' && (i++, !uri_run(s, n, &i, ":@/?"))) return 0; /* fragment */
  return i == n;
}

int pk__sformat_check(int id, const char *s, size_t n) {
  switch (id) {
  case PK__SF_EMAIL: return check_email(s, n);
  case PK__SF_UUID: return check_uuid(s, n);
  case PK__SF_DATE_TIME: return check_date_time(s, n);
  case PK__SF_DATE: return check_date(s, n);
  case PK__SF_URI: return check_uri(s, n);
  default: return 1;
  }
}

/* ---- a fast matcher for the common patterns -------------------------------------------------- */

/* Patterns without groups or alternation (a sequence of characters and classes with *, +, ?, {n,m},
 * optionally anchored) run as a bit-parallel NFA: no allocation, linear in the subject, no
 * backtracking. glibc's regexec handles the rest; it is several times slower per call. */

static void set_bit(pk__sre *r, int cls, unsigned c) { r->cls[cls][c >> 5] |= 1u << (c & 31); }

static int class_has(const char *name, size_t n, unsigned c) {
#define IS(s) (n == sizeof s - 1 && memcmp(name, s, n) == 0)
  if (IS("space")) return c == ' ' || (c >= '\t' && c <= '\r');
  if (IS("digit")) return pk__is_digit((int)c);
  if (IS("alpha")) return pk__is_alpha((int)c);
  if (IS("alnum")) return pk__is_alnum((int)c);
  if (IS("upper")) return c >= 'A' && c <= 'Z';
  if (IS("lower")) return c >= 'a' && c <= 'z';
  if (IS("xdigit")) return pk__is_hex((int)c);
#undef IS
  return -1;
}

/* A POSIX bracket expression after '['; fills class `cls`. Returns the index after ']' or 0. */
static size_t sre_bracket(pk__sre *r, int cls, const char *s, size_t i) {
  int neg = 0, first = 1;
  if (s[i] == '^') { neg = 1; i++; }
  for (;;) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\0') return 0;
    if (c == ']' && !first) { i++; break; }
    first = 0;
    if (c == '[' && s[i + 1] == ':') {
      const char *end = strstr(s + i + 2, ":]");
      if (!end) return 0;
      size_t n = (size_t)(end - (s + i + 2));
      if (class_has(s + i + 2, n, 'a') < 0) return 0;
      for (unsigned k = 0; k < 256; k++)
        if (class_has(s + i + 2, n, k)) set_bit(r, cls, k);
      i = (size_t)(end - s) + 2;
      continue;
    }
    if (c == '[' && (s[i + 1] == '.' || s[i + 1] == '=')) return 0;
    if (s[i + 1] == '-' && s[i + 2] != ']' && s[i + 2] != '\0') {
      unsigned char hi = (unsigned char)s[i + 2];
      if (hi < c || hi == '[') return 0;
      for (unsigned k = c; k <= hi; k++) set_bit(r, cls, k);
      i += 3;
      continue;
    }
    set_bit(r, cls, c);
    i++;
  }
  if (neg)
    for (int w = 0; w < 8; w++) r->cls[cls][w] = ~r->cls[cls][w];
  return i;
}

static int sre_add(pk__sre *r, int kind, int cls) {
  if (r->n >= PK__SRE_MAX - 1) return -E2BIG;
  r->kind[r->n] = (unsigned char)kind;
  r->state_cls[r->n] = (unsigned char)cls;
  r->n++;
  return 0;
}

static void sre_dfa(pk__sre *r);

int pk__sre_compile(const char *s, pk__sre *r) {
  memset(r, 0, sizeof *r);
  size_t i = 0;
  if (s[0] == '^') { r->anchored_start = 1; i++; }
  while (s[i]) {
    if (s[i] == '$' && s[i + 1] == '\0') { r->anchored_end = 1; break; }
    if (r->ncls >= PK__SRE_MAX - 1) return -ENOTSUP;
    int cls = r->ncls++;
    unsigned char c = (unsigned char)s[i];
    if (c == '[') {
      if (!(i = sre_bracket(r, cls, s, i + 1))) return -ENOTSUP;
    } else if (c == '\\') {
      c = (unsigned char)s[i + 1];
      if (!c || !strchr(".[]()*+?{}|^$\\", c)) return -ENOTSUP;
      set_bit(r, cls, c);
      i += 2;
    } else if (strchr("()|^$*+?{}", c)) {
      return -ENOTSUP;
    } else if (c == '.') {
      for (int w = 0; w < 8; w++) r->cls[cls][w] = ~0u;
      i++;
    } else {
      set_bit(r, cls, c);
      i++;
    }
    /* quantifier */
    char q = s[i];
    int lo = 1, hi = 1; /* hi < 0: unbounded */
    if (q == '*') lo = 0, hi = -1, i++;
    else if (q == '+') lo = 1, hi = -1, i++;
    else if (q == '?') lo = 0, hi = 1, i++;
    else if (q == '{') {
      char *end;
      long a = strtol(s + i + 1, &end, 10), b = a;
      if (end == s + i + 1) return -ENOTSUP;
      if (*end == ',') {
        if (end[1] == '}') b = -1, end++;
        else {
          char *e2;
          b = strtol(end + 1, &e2, 10);
          if (e2 == end + 1 || b < a) return -ENOTSUP;
          end = e2;
        }
      }
      if (*end != '}' || a > PK__SRE_MAX || b > PK__SRE_MAX) return -ENOTSUP;
      lo = (int)a, hi = (int)b;
      i = (size_t)(end - s) + 1;
    }
    if (s[i] && strchr("*+?{", s[i])) return -ENOTSUP;
    for (int k = 0; k < lo; k++)
      if (sre_add(r, 0, cls)) return -ENOTSUP;
    if (hi < 0) {
      if (sre_add(r, 2, cls)) return -ENOTSUP;
    } else {
      for (int k = lo; k < hi; k++)
        if (sre_add(r, 1, cls)) return -ENOTSUP;
    }
  }
  /* epsilon closures: an optional or starred state may be skipped */
  for (int k = r->n; k >= 0; k--) {
    r->close[k] = 1ull << k;
    if (k < r->n && r->kind[k] != 0) r->close[k] |= r->close[k + 1];
  }
  sre_dfa(r);
  return 0;
}

/* One step of the NFA: the states after byte c from the states in cur. */
static uint64_t sre_step(const pk__sre *r, uint64_t cur, unsigned c) {
  uint64_t fin = 1ull << r->n, next = r->anchored_start ? 0 : r->close[0], live = cur & ~fin;
  while (live) {
    int k = __builtin_ctzll(live);
    live &= live - 1;
    const uint32_t *set = r->cls[r->state_cls[k]];
    if (set[c >> 5] & (1u << (c & 31))) next |= r->kind[k] == 2 ? r->close[k] : r->close[k + 1];
  }
  return next;
}

/* The NFA's state sets as a DFA (subset construction over classes of bytes that every character
 * class of the pattern treats alike), built once here so a match costs one table lookup per byte.
 * Patterns with more sets or byte classes than the tables hold keep dfa_n = 0 and run the NFA. */
static void sre_dfa(pk__sre *r) {
  uint64_t sig[256], seen_sig[PK__SRE_DFA_CLS], sets[PK__SRE_DFA_MAX];
  unsigned char rep[PK__SRE_DFA_CLS];          /* a byte of each class */
  int ncls = 0;
  r->dfa_n = 0;
  if (r->ncls > 64) return;
  for (unsigned c = 0; c < 256; c++) {
    sig[c] = 0;
    for (int k = 0; k < r->ncls; k++)
      if (r->cls[k][c >> 5] & (1u << (c & 31))) sig[c] |= 1ull << k;
    int j = 0;
    while (j < ncls && seen_sig[j] != sig[c]) j++;
    if (j == ncls) {
      if (ncls == PK__SRE_DFA_CLS) return;
      seen_sig[ncls] = sig[c];
      rep[ncls++] = (unsigned char)c;
    }
    r->byte_cls[c] = (unsigned char)j;
  }
  uint64_t fin = 1ull << r->n;
  int n = 1;
  sets[0] = r->close[0];
  for (int s = 0; s < n; s++) {
    r->dfa_accept[s] = (sets[s] & fin) != 0;
    for (int j = 0; j < ncls; j++) {
      uint64_t next = sre_step(r, sets[s], rep[j]);
      int t = PK__SRE_DEAD;
      if (next) {
        for (t = 0; t < n && sets[t] != next; t++) {}
        if (t == n) {
          if (n == PK__SRE_DFA_MAX) return;
          sets[n++] = next;
        }
      }
      r->dfa_next[s][j] = (unsigned char)t;
    }
  }
  r->dfa_n = n;
}

int pk__sre_match(const pk__sre *r, const char *s, size_t n) {
  if (r->dfa_n) {
    unsigned st = 0;
    for (size_t i = 0; i < n; i++) {
      if (r->dfa_accept[st] && !r->anchored_end) return 1;
      st = r->dfa_next[st][r->byte_cls[(unsigned char)s[i]]];
      if (st == PK__SRE_DEAD) return 0;
    }
    return r->dfa_accept[st];
  }
  uint64_t fin = 1ull << r->n, cur = r->close[0], start = r->anchored_start ? 0 : r->close[0];
  for (size_t i = 0; i < n; i++) {
    if ((cur & fin) && !r->anchored_end) return 1;
    unsigned c = (unsigned char)s[i];
    uint64_t next = start, live = cur & ~fin;
    while (live) {
      int k = __builtin_ctzll(live);
      live &= live - 1;
      const uint32_t *set = r->cls[r->state_cls[k]];
      if (set[c >> 5] & (1u << (c & 31))) next |= r->kind[k] == 2 ? r->close[k] : r->close[k + 1];
    }
    cur = next;
    if (!cur) return 0;
  }
  return (cur & fin) != 0;
}
