/* tzfile.c: reads TZif files (RFC 8536, versions 1 to 4) and answers the UTC offset at an instant from the transition table or, after it, the footer's POSIX TZ rule. */
#include "tzfile.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "civil.h"

#define TZ_MAX_FILE (1 << 20)
#define TZ_MAX_NAME 255

/* One date of a POSIX TZ rule: 'J' Jn (1-365, Feb 29 never counted), 'D' n (0-365, counted),
 * 'M' Mm.w.d (month, week 1-5 where 5 is the last, weekday 0-6); secs: local time of day. */
typedef struct rule_date { char kind; int a, w, d; int32_t secs; } rule_date;

typedef struct footer {
  int has_dst;
  int32_t std_off, dst_off; /* seconds east of UTC */
  rule_date start, end;     /* start in standard time, end in daylight time */
} footer;

struct pk__tz {
  uint32_t n;       /* transitions */
  int64_t *at;      /* their instants, ascending */
  uint8_t *type;    /* the local time type from each transition on */
  int32_t *off;     /* per type: seconds east of UTC */
  uint8_t *dst;     /* per type: 1 in daylight saving time */
  int has_footer;
  footer f;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* The name as it may appear in a message: at most 64 bytes, unprintable bytes as '?'. */
static const char *shown(const char *name, char *buf) {
  size_t i = 0;
  for (; name[i] && i < 64; i++) buf[i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
  strcpy(buf + i, name[i] ? "..." : "");
  return buf;
}

/* ---- the footer: a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3" ---- */

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* A zone abbreviation: 3 or more letters, or <...> of letters, digits, '+' and '-'. */
static const char *abbrev(const char *s) {
  const char *p = s;
  if (*p == '<') {
    for (p++; is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-'; p++) {}
    return *p == '>' && p - s - 1 >= 3 ? p + 1 : NULL;
  }
  while (is_alpha(*p)) p++;
  return p - s >= 3 ? p : NULL;
}

static const char *number(const char *s, int max, int *out) {
  int v = 0, k = 0;
  for (; is_digit(*s) && k < 4; s++, k++) v = v * 10 + (*s - '0');
  if (!k || is_digit(*s) || v > max) return NULL;
  *out = v;
  return s;
}

/* [+-]hh[:mm[:ss]], hh at most maxh; the value in seconds with its sign. */
static const char *hms(const char *s, int maxh, int32_t *out) {
  int sign = 1, h, m = 0, sec = 0;
  if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
  if (!(s = number(s, maxh, &h))) return NULL;
  if (*s == ':' && !(s = number(s + 1, 59, &m))) return NULL;
  if (*s == ':' && !(s = number(s + 1, 59, &sec))) return NULL;
  *out = sign * (h * 3600 + m * 60 + sec);
  return s;
}

static const char *date_rule(const char *s, rule_date *r) {
  r->secs = 7200;
  if (*s == 'J') { r->kind = 'J'; if (!(s = number(s + 1, 365, &r->a)) || r->a < 1) return NULL; }
  else if (*s == 'M') {
    r->kind = 'M';
    if (!(s = number(s + 1, 12, &r->a)) || r->a < 1 || *s != '.') return NULL;
    if (!(s = number(s + 1, 5, &r->w)) || r->w < 1 || *s != '.') return NULL;
    if (!(s = number(s + 1, 6, &r->d))) return NULL;
  } else { r->kind = 'D'; if (!(s = number(s, 365, &r->a))) return NULL; }
  if (*s == '/' && !(s = hms(s + 1, 167, &r->secs))) return NULL;   /* RFC 8536 3.3.1: -167..167 h */
  return s;
}

static int parse_footer(const char *s, footer *f) {
  int32_t v;
  memset(f, 0, sizeof *f);
  if (!(s = abbrev(s)) || !(s = hms(s, 24, &v))) return -1;
  f->std_off = -v;                                    /* POSIX counts west of UTC */
  if (!*s) return 0;
  if (!(s = abbrev(s))) return -1;
  f->has_dst = 1;
  f->dst_off = f->std_off + 3600;
  if (*s && *s != ',') {
    if (!(s = hms(s, 24, &v))) return -1;
    f->dst_off = -v;
  }
  if (!*s) {                                          /* no rule: POSIX leaves it open; the US one */
    f->start = (rule_date){'M', 3, 2, 0, 7200};
    f->end = (rule_date){'M', 11, 1, 0, 7200};
    return 0;
  }
  if (*s != ',' || !(s = date_rule(s + 1, &f->start))) return -1;
  if (*s != ',' || !(s = date_rule(s + 1, &f->end))) return -1;
  return *s ? -1 : 0;
}

/* The day number of a rule's date in year y. */
static int64_t rule_day(const rule_date *r, int64_t y) {
  int64_t jan1 = pk__days_from_civil(y, 1, 1);
  if (r->kind == 'J') return jan1 + r->a - 1 + (pk__is_leap(y) && r->a >= 60);
  if (r->kind == 'D') return jan1 + r->a;
  int64_t first = pk__days_from_civil(y, r->a, 1);
  int64_t day = first + (r->d - pk__weekday(first) + 7) % 7 + 7 * (r->w - 1);
  while (day >= first + pk__days_in_month(y, r->a)) day -= 7;   /* week 5: the last one */
  return day;
}

/* The footer rule at t: offset, DST flag, and the rule's changes just before (at or before t) and
 * after t. The changes of five years around t's are enough for any rule. */
static void footer_lookup(const footer *f, int64_t t, int32_t *off, int *dst, int64_t *prev, int64_t *next) {
  *off = f->std_off; *dst = 0; *prev = INT64_MIN; *next = INT64_MAX;
  if (!f->has_dst) return;
  struct { int64_t at; int dst; } e[10], tmp;
  int64_t y;
  int m, d, k = 0;
  if (t < -((int64_t)1 << 50)) t = -((int64_t)1 << 50);   /* far outside any use; keeps the sums in range */
  if (t > (int64_t)1 << 50) t = (int64_t)1 << 50;
  pk__civil_from_days(pk__floor_div(t, 86400), &y, &m, &d);
  for (int64_t yy = y - 2; yy <= y + 2; yy++) {
    e[k].at = rule_day(&f->start, yy) * 86400 + f->start.secs - f->std_off; e[k++].dst = 1;
    e[k].at = rule_day(&f->end, yy) * 86400 + f->end.secs - f->dst_off; e[k++].dst = 0;
  }
  for (int i = 1; i < k; i++)                 /* stable: a start meeting last year's end wins */
    for (int j = i; j > 0 && e[j - 1].at > e[j].at; j--) tmp = e[j], e[j] = e[j - 1], e[j - 1] = tmp;
  int i = -1;
  while (i + 1 < k && e[i + 1].at <= t) i++;
  if (i < 0) { *dst = !e[0].dst; *next = e[0].at; }
  else { *dst = e[i].dst; *prev = e[i].at; *next = i + 1 < k ? e[i + 1].at : INT64_MAX; }
  *off = *dst ? f->dst_off : f->std_off;
}

/* ---- lookups ---- */

static void lookup(const pk__tz *tz, int64_t t, int32_t *off, int *dst, int64_t *prev, int64_t *next) {
  *prev = INT64_MIN; *next = INT64_MAX;
  if (!tz) { *off = 0; *dst = 0; return; }
  uint32_t n = tz->n;
  if (n == 0 && tz->has_footer) { footer_lookup(&tz->f, t, off, dst, prev, next); return; }
  if (n == 0 || t < tz->at[0]) {              /* before the first transition: type 0 (RFC 8536 3.2) */
    *off = tz->off[0]; *dst = tz->dst[0];
    if (n) *next = tz->at[0];
    return;
  }
  if (t >= tz->at[n - 1]) {
    int ty = tz->type[n - 1];
    *off = tz->off[ty]; *dst = tz->dst[ty]; *prev = tz->at[n - 1];
    if (tz->has_footer) {
      int32_t fo;
      int fd;
      int64_t fp, fn;
      footer_lookup(&tz->f, t, &fo, &fd, &fp, &fn);
      if (fp != INT64_MIN && fp > tz->at[n - 1]) { *off = fo; *dst = fd; *prev = fp; }
      *next = fn;
    }
    return;
  }
  uint32_t lo = 0, hi = n - 1;                /* at[lo] <= t < at[hi] */
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (tz->at[mid] <= t) lo = mid; else hi = mid;
  }
  *off = tz->off[tz->type[lo]]; *dst = tz->dst[tz->type[lo]];
  *prev = tz->at[lo]; *next = tz->at[hi];
}

long pk__tz_offset(const pk__tz *tz, int64_t utc_s, int *is_dst) {
  int32_t off;
  int dst;
  int64_t p, n;
  lookup(tz, utc_s, &off, &dst, &p, &n);
  if (is_dst) *is_dst = dst;
  return off;
}

long pk__tz_span(const pk__tz *tz, int64_t utc_s, int64_t *from, int64_t *until) {
  int32_t off, o2;
  int dst;
  int64_t prev, next, p2, n2;
  lookup(tz, utc_s, &off, &dst, &prev, &next);
  /* transitions that change only the name or the DST flag do not end a span */
  for (int k = 0; k < 64 && prev != INT64_MIN; k++) {
    lookup(tz, prev - 1, &o2, &dst, &p2, &n2);
    if (o2 != off) break;
    prev = p2;
  }
  for (int k = 0; k < 64 && next != INT64_MAX; k++) {
    lookup(tz, next, &o2, &dst, &p2, &n2);
    if (o2 != off) break;
    next = n2;
  }
  *from = prev;
  *until = next;
  return off;
}

/* ---- reading the file ---- */

typedef struct header { int version; uint32_t isut, isstd, leap, time, type, chars; } header;

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

static int read_header(const uint8_t *p, size_t n, header *h) {
  if (n < 44 || memcmp(p, "TZif", 4)) return -1;
  h->version = p[4] == 0 ? 1 : p[4] - '0';
  if (h->version < 1 || h->version > 9) return -1;
  h->isut = be32(p + 20); h->isstd = be32(p + 24); h->leap = be32(p + 28);
  h->time = be32(p + 32); h->type = be32(p + 36); h->chars = be32(p + 40);
  if (h->type < 1 || h->type > 256 || (h->isut && h->isut != h->type) || (h->isstd && h->isstd != h->type)) return -1;
  return 0;
}

static uint64_t block_size(const header *h, int tsize) {
  return (uint64_t)h->time * (tsize + 1) + (uint64_t)h->type * 6 + h->chars
       + (uint64_t)h->leap * (tsize + 4) + h->isstd + h->isut;
}

/* Builds the zone from one data block (tsize 4 or 8) and the footer string (NULL: none). */
static int build(pk__tz **out, const header *h, const uint8_t *b, int tsize, const char *footer_str) {
  size_t sz = sizeof(pk__tz) + (size_t)h->time * 9 + (size_t)h->type * 5;
  pk__tz *tz = calloc(1, sz);
  if (!tz) return -ENOMEM;
  tz->n = h->time;
  tz->at = (int64_t *)(tz + 1);
  tz->off = (int32_t *)(tz->at + h->time);
  tz->type = (uint8_t *)(tz->off + h->type);
  tz->dst = tz->type + h->time;
  for (uint32_t i = 0; i < h->time; i++) {
    tz->at[i] = tsize == 8 ? be64(b + (size_t)i * 8) : (int32_t)be32(b + (size_t)i * 4);
    if (i && tz->at[i] <= tz->at[i - 1]) goto bad;
  }
  b += (size_t)h->time * tsize;
  for (uint32_t i = 0; i < h->time; i++)
    if ((tz->type[i] = b[i]) >= h->type) goto bad;
  b += h->time;
  for (uint32_t i = 0; i < h->type; i++, b += 6) {
    int32_t off = (int32_t)be32(b);
    if (off < -89999 || off > 93599 || b[4] > 1) goto bad;   /* RFC 8536 3.2: utoff range, isdst 0/1 */
    tz->off[i] = off;
    tz->dst[i] = b[4];
  }
  if (footer_str && *footer_str) {
    if (parse_footer(footer_str, &tz->f)) goto bad;
    tz->has_footer = 1;
  }
  *out = tz;
  return 0;
bad:
  free(tz);
  return -EINVAL;
}

static int parse_tzif(pk__tz **out, const uint8_t *p, size_t n) {
  header h;
  if (read_header(p, n, &h)) return -EINVAL;
  uint64_t b1 = block_size(&h, 4);
  if (44 + b1 > n) return -EINVAL;
  if (h.version == 1) {
    if (h.leap) return -ENOTSUP;
    return build(out, &h, p + 44, 4, NULL);
  }
  const uint8_t *p2 = p + 44 + b1;
  size_t n2 = n - 44 - (size_t)b1;
  if (read_header(p2, n2, &h)) return -EINVAL;
  if (h.leap) return -ENOTSUP;
  uint64_t b2 = block_size(&h, 8);
  if (44 + b2 > n2) return -EINVAL;
  const char *f = (const char *)p2 + 44 + b2, *end = (const char *)p + n;
  char rule[256];
  if (f >= end || *f != '\n') return -EINVAL;
  const char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
  if (!nl || nl - f - 1 >= (ptrdiff_t)sizeof rule) return -EINVAL;
  memcpy(rule, f + 1, (size_t)(nl - f - 1));
  rule[nl - f - 1] = 0;
  return build(out, &h, p2 + 44, 8, rule);
}

static int valid_name(const char *name) {
  size_t n = strlen(name);
  if (!n || n > TZ_MAX_NAME || name[0] == '/' || strstr(name, "..")) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!(is_alpha(c) || is_digit(c) || c == '/' || c == '_' || c == '-' || c == '+' || c == '.')) return 0;
  }
  return 1;
}

int pk__tz_load(pk__tz **out, const char *name, char *err, size_t errlen) {
  char path[4096], sh[72];
  *out = NULL;
  if (!name || !strcmp(name, "UTC")) return 0;
  if (!valid_name(name)) { seterr(err, errlen, "invalid time zone name '%s'", shown(name, sh)); return -EINVAL; }
  const char *dir = getenv("TZDIR");
  if (!dir || !*dir) dir = "/usr/share/zoneinfo";
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
    seterr(err, errlen, "invalid time zone name '%s'", shown(name, sh));
    return -EINVAL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    int e = fd < 0 ? errno : ENOENT;
    if (fd >= 0) close(fd);
    if (e == ENOENT || e == ENOTDIR) { seterr(err, errlen, "unknown time zone '%s'", shown(name, sh)); return -ENOENT; }
    seterr(err, errlen, "time zone '%s': %s", shown(name, sh), strerror(e));
    return -e;
  }
  if (st.st_size > TZ_MAX_FILE) { close(fd); seterr(err, errlen, "time zone '%s': file too large", shown(name, sh)); return -EINVAL; }
  uint8_t *buf = malloc((size_t)st.st_size + 1);
  if (!buf) { close(fd); return -ENOMEM; }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  int rc = parse_tzif(out, buf, got);
  free(buf);
  if (rc == -ENOTSUP) { seterr(err, errlen, "time zone '%s': leap second zones are not supported", shown(name, sh)); return -EINVAL; }
  if (rc == -EINVAL) seterr(err, errlen, "time zone '%s': not a valid TZif file", shown(name, sh));
  return rc;
}

void pk__tz_free(pk__tz *tz) { free(tz); }
