/* cron.c: parses cron expressions into bit sets and finds the next run time on a zone's wall clock (gaps and repeats of DST changes included). */
#include "cron.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "ascii_case.h"
#include "civil.h"

#define HORIZON_S (50LL * 366 * 86400)          /* next() looks this far ahead, at most */
#define MIN_MS (-62135596800000LL)              /* 0001-01-01T00:00:00Z */
#define MAX_MS (253402300800000LL)              /* 10000-01-01T00:00:00Z */

/* ---- parsing ---- */

typedef struct field {
  const char *name;
  int min, max, top;            /* values min..max; top: the largest written value (7 for Sunday) */
  const char *const *names;     /* 3-letter names of min, min+1, ... or NULL */
  const char *what;             /* "month" or "day" in "is not a month name" */
} field;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
static const field F_SECOND = {"second", 0, 59, 59, NULL, NULL};
static const field F_MINUTE = {"minute", 0, 59, 59, NULL, NULL};
static const field F_HOUR = {"hour", 0, 23, 23, NULL, NULL};
static const field F_DOM = {"day-of-month", 1, 31, 31, NULL, NULL};
static const field F_MONTH = {"month", 1, 12, 12, month_names, "month"};
static const field F_DOW = {"day-of-week", 0, 6, 7, day_names, "day"};

static int is_space(char c) { return pk__ascii_space((unsigned char)c); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static char upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 32) : c; }

/* s[0..n) as it may appear in a message: at most 40 bytes, unprintable bytes as '?'. */
static const char *tok(char *buf, const char *s, size_t n) {
  size_t k = n > 40 ? 40 : n;
  for (size_t i = 0; i < k; i++) buf[i] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
  strcpy(buf + k, n > k ? "..." : "");
  return buf;
}

static int fail(char *err, size_t errlen, const field *f, const char *fmt, ...) {
  if (err && errlen) {
    size_t k = 0;
    if (f) k = (size_t)snprintf(err, errlen, "%s field: ", f->name);
    if (k < errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + k, errlen - k, fmt, ap);
      va_end(ap);
    }
  }
  return -EINVAL;
}

/* One value of an item: a number or (month, day of week) a name. sun_is_7: SUN is 7 (the end of a
 * range that starts after Sunday, "FRI-SUN"). */
static int parse_value(const field *f, const char *s, size_t n, const char *item, size_t in, int sun_is_7,
                       int *out, char *err, size_t errlen) {
  char b1[48];
  if (!n) return fail(err, errlen, f, "'%s' is missing a number", tok(b1, item, in));
  if (is_digit(s[0])) {
    long v = 0;
    for (size_t i = 0; i < n; i++) {
      if (!is_digit(s[i])) return fail(err, errlen, f, "'%s' is not a number", tok(b1, s, n));
      if (v < 100000) v = v * 10 + (s[i] - '0');
    }
    if (v < f->min || v > f->top) return fail(err, errlen, f, "%s is out of range %d-%d", tok(b1, s, n), f->min, f->top);
    *out = (int)v;
    return 0;
  }
  if (f->names && is_alpha(s[0])) {
    for (int k = 0; n == 3 && k <= f->max - f->min; k++)
      if (upper(s[0]) == f->names[k][0] && upper(s[1]) == f->names[k][1] && upper(s[2]) == f->names[k][2]) {
        *out = f->min + k;
        if (sun_is_7 && f == &F_DOW && k == 0) *out = 7;
        return 0;
      }
    return fail(err, errlen, f, "'%s' is not a %s name", tok(b1, s, n), f->what);
  }
  return fail(err, errlen, f, "'%s' is not a number", tok(b1, s, n));
}

/* One item of a list: "*", "a", "a-b", each optionally "/step" ("a/n": a to the end by n). */
static int parse_item(const field *f, const char *s, size_t n, uint64_t *bits, char *err, size_t errlen) {
  char b1[48], b2[48];
  const char *slash = memchr(s, '/', n);
  size_t bn = slash ? (size_t)(slash - s) : n;
  int lo, hi, step = 1, rc;
  if (bn == 1 && s[0] == '*') { lo = f->min; hi = f->max; }
  else {
    const char *dash = memchr(s, '-', bn);
    if (dash) {
      size_t ln = (size_t)(dash - s);
      if (memchr(dash + 1, '-', bn - ln - 1)) return fail(err, errlen, f, "'%s' is not a valid range", tok(b1, s, bn));
      if ((rc = parse_value(f, s, ln, s, n, 0, &lo, err, errlen))) return rc;
      if ((rc = parse_value(f, dash + 1, bn - ln - 1, s, n, lo > 0, &hi, err, errlen))) return rc;
      if (lo > hi) return fail(err, errlen, f, "range '%s' is reversed", tok(b1, s, bn));
    } else {
      if ((rc = parse_value(f, s, bn, s, n, 0, &lo, err, errlen))) return rc;
      hi = slash ? f->max : lo;
      if (hi < lo) hi = lo;                     /* "7/2" in day-of-week: just Sunday */
    }
  }
  if (slash) {
    const char *p = slash + 1;
    size_t pn = n - bn - 1;
    long v = 0;
    if (!pn) return fail(err, errlen, f, "'%s' is missing a number", tok(b1, s, n));
    for (size_t i = 0; i < pn; i++) {
      if (!is_digit(p[i])) return fail(err, errlen, f, "step '%s' is not a number", tok(b1, p, pn));
      if (v < 100000) v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > f->max - f->min)
      return fail(err, errlen, f, "step %s is out of range 1-%d", tok(b2, p, pn), f->max - f->min);
    step = (int)v;
  }
  for (int v = lo; v <= hi; v += step) *bits |= (uint64_t)1 << (v == 7 && f == &F_DOW ? 0 : v);
  return 0;
}

/* A whole field: a comma-separated list of items. */
static int parse_field(const field *f, const char *s, size_t n, uint64_t *bits, char *err, size_t errlen) {
  char b1[48];
  size_t i = 0;
  *bits = 0;
  for (;;) {
    size_t j = i;
    while (j < n && s[j] != ',') j++;
    if (j == i) return fail(err, errlen, f, "empty item in '%s'", tok(b1, s, n));
    int rc = parse_item(f, s + i, j - i, bits, err, errlen);
    if (rc) return rc;
    if (j == n) return 0;
    i = j + 1;
  }
}

/* "1h30m", "30s", "1500ms": whole numbers with h, m, s or ms, in any order. */
static int parse_duration(const char *s, size_t n, int64_t *ms) {
  int64_t total = 0;
  size_t i = 0;
  if (!n) return -1;
  while (i < n) {
    int64_t v = 0;
    size_t d = i;
    while (i < n && is_digit(s[i])) { if (v < 1000000000000LL) v = v * 10 + (s[i] - '0'); i++; }
    if (i == d) return -1;
    int64_t unit;
    if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's') { unit = 1; i += 2; }
    else if (i < n && s[i] == 'h') { unit = 3600000; i++; }
    else if (i < n && s[i] == 'm') { unit = 60000; i++; }
    else if (i < n && s[i] == 's') { unit = 1000; i++; }
    else return -1;
    if (v > 1000000000000LL) v = 1000000000000LL;
    total += v * unit;
    if (total > PK_CRON_EVERY_MAX_MS) total = PK_CRON_EVERY_MAX_MS + 1;   /* too long; keeps it in range */
  }
  *ms = total;
  return 0;
}

static int parse_macro(pk__cron *c, const char *s, size_t n, char *err, size_t errlen) {
  static const struct { const char *name, *expr; } macros[] = {
    {"yearly", "0 0 1 1 *"}, {"annually", "0 0 1 1 *"}, {"monthly", "0 0 1 * *"}, {"weekly", "0 0 * * 0"},
    {"daily", "0 0 * * *"}, {"midnight", "0 0 * * *"}, {"hourly", "0 * * * *"},
  };
  char b1[48], b2[48];
  size_t w = 0;
  while (w < n && !is_space(s[w])) w++;
  size_t r = w;
  while (r < n && is_space(s[r])) r++;
  if (w == 6 && !strncasecmp(s, "@every", 6)) {
    size_t e = r;
    while (e < n && !is_space(s[e])) e++;
    if (e == r) return fail(err, errlen, NULL, "@every needs a duration, e.g. @every 5m");
    size_t x = e;
    while (x < n && is_space(s[x])) x++;
    if (x < n) return fail(err, errlen, NULL, "unexpected '%s' after @every %s", tok(b1, s + x, n - x), tok(b2, s + r, e - r));
    int64_t ms;
    if (parse_duration(s + r, e - r, &ms))
      return fail(err, errlen, NULL, "@every: '%s' is not a duration like 30s, 5m, 1h30m or 1500ms", tok(b1, s + r, e - r));
    if (ms < PK_CRON_EVERY_MIN_MS) return fail(err, errlen, NULL, "@every: '%s' is less than the minimum 1s", tok(b1, s + r, e - r));
    if (ms > PK_CRON_EVERY_MAX_MS) return fail(err, errlen, NULL, "@every: '%s' is more than the maximum 366 days (8784h)", tok(b1, s + r, e - r));
    memset(c, 0, sizeof *c);
    c->every_ms = ms;
    return 0;
  }
  for (size_t k = 0; k < sizeof macros / sizeof macros[0]; k++)
    if (w - 1 == strlen(macros[k].name) && !strncasecmp(s + 1, macros[k].name, w - 1)) {
      if (r < n) return fail(err, errlen, NULL, "unexpected '%s' after %s", tok(b1, s + r, n - r), tok(b2, s, w));
      return pk__cron_parse(c, macros[k].expr, err, errlen);
    }
  return fail(err, errlen, NULL, "unknown macro '%s'", tok(b1, s, w));
}

int pk__cron_parse(pk__cron *c, const char *expr, char *err, size_t errlen) {
  static const field *const six[6] = {&F_SECOND, &F_MINUTE, &F_HOUR, &F_DOM, &F_MONTH, &F_DOW};
  const char *start[6];
  size_t len[6], n = strlen(expr);
  int count = 0;
  if (err && errlen) err[0] = 0;
  while (n && is_space(expr[n - 1])) n--;
  while (n && is_space(*expr)) expr++, n--;
  if (n && expr[0] == '@') return parse_macro(c, expr, n, err, errlen);
  for (size_t i = 0; i < n;) {
    while (i < n && is_space(expr[i])) i++;
    if (i == n) break;
    size_t j = i;
    while (j < n && !is_space(expr[j])) j++;
    if (count < 6) start[count] = expr + i, len[count] = j - i;
    count++;
    i = j;
  }
  if (count != 5 && count != 6) return fail(err, errlen, NULL, "expected 5 or 6 fields, got %d", count);
  pk__cron p;
  memset(&p, 0, sizeof p);
  uint64_t bits[6] = {1, 0, 0, 0, 0, 0};        /* a 5-field expression runs at second 0 */
  for (int k = 6 - count; k < 6; k++) {
    int i = k - (6 - count);
    int rc = parse_field(six[k], start[i], len[i], &bits[k], err, errlen);
    if (rc) return rc;
  }
  p.second = bits[0];
  p.minute = bits[1];
  p.hour = (uint32_t)bits[2];
  p.dom = (uint32_t)bits[3];
  p.month = (uint16_t)bits[4];
  p.dow = (uint8_t)bits[5];
  p.has_seconds = count == 6;
  p.hour_star = start[count - 4][0] == '*';
  p.dom_star = start[count - 3][0] == '*';
  p.dow_star = start[count - 1][0] == '*';
  *c = p;
  return 0;
}

/* ---- next run time ---- */

/* The lowest value >= from in set, or -1. */
static int next_in(uint64_t set, int from) {
  if (from >= 64) return -1;
  uint64_t m = set & (~(uint64_t)0 << from);
  return m ? __builtin_ctzll(m) : -1;
}

static int day_matches(const pk__cron *c, int d, int wd) {
  int dom = c->dom >> d & 1, dow = c->dow >> wd & 1;
  return c->dom_star || c->dow_star ? dom && dow : dom || dow;   /* Vixie: both restricted, either */
}

/* 0 when no date can ever match: the day-of-month rule is in force and no selected day exists in
 * any selected month (February counted with 29 days). */
static int possible(const pk__cron *c) {
  if (!c->dom_star && !c->dow_star) return 1;
  for (int m = 1; m <= 12; m++)
    if (c->month >> m & 1 && (c->dom & ((2u << (m == 2 ? 29 : pk__days_in_month(2001, m))) - 2))) return 1;
  return 0;
}

/* The first wall-clock second in [lo, hi) (local seconds, as if the zone were UTC) that the
 * schedule matches, or -1. Jumps field by field: month, day, hour, minute, second. */
static int64_t match_between(const pk__cron *c, int64_t lo, int64_t hi) {
  if (lo >= hi) return -1;
  int64_t days = pk__floor_div(lo, 86400), y;
  int sod = (int)(lo - days * 86400), mo, d, h = sod / 3600, mi = sod / 60 % 60, s = sod % 60;
  pk__civil_from_days(days, &y, &mo, &d);
  for (int guard = 0; guard < 1000000; guard++) {
    if (!(c->month >> mo & 1)) {
      int m2 = next_in(c->month, mo + 1);
      if (m2 < 0) { y++; m2 = next_in(c->month, 1); }
      mo = m2; d = 1; h = mi = s = 0;
    }
    if (d > pk__days_in_month(y, mo)) {
      if (++mo > 12) { y++; mo = 1; }
      d = 1; h = mi = s = 0;
      continue;
    }
    int64_t day = pk__days_from_civil(y, mo, d);
    if (day * 86400 >= hi) return -1;
    if (!day_matches(c, d, pk__weekday(day))) { d++; h = mi = s = 0; continue; }
    int h2 = next_in(c->hour, h);
    if (h2 < 0) { d++; h = mi = s = 0; continue; }
    if (h2 != h) { h = h2; mi = s = 0; }
    int m2 = next_in(c->minute, mi);
    if (m2 < 0) { mi = s = 0; if (++h == 24) { h = 0; d++; } continue; }
    if (m2 != mi) { mi = m2; s = 0; }
    int s2 = next_in(c->second, s);
    if (s2 < 0) { s = 0; if (++mi == 60) { mi = 0; if (++h == 24) { h = 0; d++; } } continue; }
    int64_t t = day * 86400 + h * 3600 + mi * 60 + s2;
    return t < hi ? t : -1;
  }
  return -1;
}

/* Walks the spans of constant UTC offset from after_ms on. In a span with offset o the instants
 * [u, b) read u+o .. b+o on the wall clock, one to one. Where a span starts with the clock set
 * forward (a gap) and a skipped wall time matches, the run is the span's first instant; where it
 * starts with the clock set back, the repeated wall times are skipped unless the hour field is '*'. */
int64_t pk__cron_next(const pk__cron *c, const pk__tz *tz, int64_t after_ms) {
  if (after_ms < MIN_MS || after_ms >= MAX_MS) return -1;
  if (c->every_ms > 0) {
    int64_t t = (pk__floor_div(after_ms, c->every_ms) + 1) * c->every_ms;
    return t < MAX_MS ? t : -1;
  }
  if (!c->second || !c->minute || !c->hour || !c->dom || !c->month || !c->dow || !possible(c)) return -1;
  int64_t u = pk__floor_div(after_ms, 1000) + 1, limit = u + HORIZON_S;
  for (int k = 0; k < 100000 && u < limit; k++) {
    int64_t a, b;
    int64_t o = pk__tz_span(tz, u, &a, &b), lo = u + o;
    if (a != INT64_MIN) {
      int64_t op = pk__tz_offset(tz, a - 1, NULL);
      if (op < o && u == a && match_between(c, a + op, a + o) >= 0) return a * 1000;
      if (op > o && !c->hour_star && lo < a + op) lo = a + op;
    }
    int64_t end = b < limit ? b : limit;
    int64_t wall = match_between(c, lo, end + o);
    if (wall >= 0) return (wall - o) * 1000 < MAX_MS ? (wall - o) * 1000 : -1;
    u = end;
  }
  return -1;
}

size_t pk__cron_format_iso(char *out, size_t n, const pk__tz *tz, int64_t t_ms) {
  int64_t s = pk__floor_div(t_ms, 1000), y;
  int ms = (int)pk__floor_mod(t_ms, 1000), mo, d;
  long off = tz ? pk__tz_offset(tz, s, NULL) : 0;
  int64_t l = s + off, days = pk__floor_div(l, 86400);
  int sod = (int)(l - days * 86400);
  char frac[8] = "", zone[16] = "Z";
  pk__civil_from_days(days, &y, &mo, &d);
  if (ms) snprintf(frac, sizeof frac, ".%03d", ms);
  if (tz) {
    long a = off < 0 ? -off : off;
    int k = snprintf(zone, sizeof zone, "%c%02ld:%02ld", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    if (a % 60) snprintf(zone + k, sizeof zone - (size_t)k, ":%02ld", a % 60);
  }
  int k = snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02d%s%s", (long long)y, mo, d, sod / 3600, sod / 60 % 60,
                   sod % 60, frac, zone);
  if (k < 0) return 0;
  return n == 0 ? 0 : (size_t)k < n ? (size_t)k : n - 1;
}
