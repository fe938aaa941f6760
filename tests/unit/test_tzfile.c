/* test_tzfile.c: unit tests of tzfile.c: offsets against glibc's localtime_r in many zones (1850-2200), footer-only, v1 and broken files, spans, and load errors. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "tzfile.h"

static int zone_exists(const char *name) {
  char p[512];
  snprintf(p, sizeof p, "/usr/share/zoneinfo/%s", name);
  return access(p, R_OK) == 0;
}

/* The zone's offset by glibc (its own TZif reader), for comparison. */
static long glibc_offset(int64_t t, int *dst) {
  time_t tt = (time_t)t;
  struct tm tm;
  localtime_r(&tt, &tm);
  *dst = tm.tm_isdst > 0;
  return tm.tm_gmtoff;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

/* Every 6 hours from 1850 to 2200 and at random instants the offsets and DST flags agree; where
 * glibc's offset changes between two samples, the change is at the same second in both. */
static void compare_with_glibc(const char *zone) {
  if (!zone_exists(zone)) { fprintf(stderr, "skipping %s: not installed\n", zone); return; }
  pk__tz *tz;
  char err[128];
  assert_int_equal(pk__tz_load(&tz, zone, err, sizeof err), 0);
  setenv("TZ", zone, 1);
  tzset();
  const int64_t from = -3786825600LL, to = 7258118400LL;   /* 1850-01-01, 2200-01-01 */
  int gd, md;
  long prev = glibc_offset(from, &gd);
  for (int64_t t = from; t < to; t += 6 * 3600) {
    long g = glibc_offset(t, &gd), m = pk__tz_offset(tz, t, &md);
    if (g != m || gd != md) fail_msg("%s at %lld: glibc %ld/%d, pikku %ld/%d", zone, (long long)t, g, gd, m, md);
    if (g != prev) {                          /* find the change's second with glibc, check ours */
      int64_t lo = t - 6 * 3600, hi = t;
      while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (glibc_offset(mid, &gd) == g) hi = mid; else lo = mid;
      }
      int64_t a, b;
      assert_int_equal(pk__tz_offset(tz, hi - 1, NULL), prev);
      assert_int_equal(pk__tz_offset(tz, hi, NULL), g);
      assert_int_equal(pk__tz_span(tz, hi, &a, &b), g);
      assert_true(a == hi);
      assert_int_equal(pk__tz_span(tz, hi - 1, &a, &b), prev);
      assert_true(b == hi);
    }
    prev = g;
  }
  for (int i = 0; i < 20000; i++) {
    int64_t t = from + (int64_t)(next_rand() % (uint64_t)(to - from));
    long g = glibc_offset(t, &gd), m = pk__tz_offset(tz, t, &md);
    if (g != m || gd != md) fail_msg("%s at %lld: glibc %ld/%d, pikku %ld/%d", zone, (long long)t, g, gd, m, md);
  }
  pk__tz_free(tz);
}

static void test_against_glibc(void **s) {
  static const char *zones[] = {
    "Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata",
    "Europe/Dublin",       /* negative DST in the footer: IST-1GMT0,M10.5.0,M3.5.0/1 */
    "Europe/London", "America/Sao_Paulo", "America/Santiago", "Pacific/Chatham", "Pacific/Apia",
    "Africa/Casablanca", "Antarctica/Troll", "America/St_Johns", "Asia/Tehran", "Pacific/Kiritimati",
    "America/Havana", "America/Godthab", "Etc/GMT+5", "EST5EDT", "UTC",
  };
  for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) compare_with_glibc(zones[i]);
  unsetenv("TZ");
  tzset();
}

/* ---- files written by the test, in a TZDIR of its own ---- */

static char dir[64];

static void put32(FILE *f, uint32_t v) { fputc(v >> 24, f); fputc(v >> 16 & 255, f); fputc(v >> 8 & 255, f); fputc(v & 255, f); }
static void put64(FILE *f, int64_t v) { put32(f, (uint32_t)((uint64_t)v >> 32)); put32(f, (uint32_t)v); }
static void header(FILE *f, char version, uint32_t leap, uint32_t n, uint32_t types) {
  fwrite("TZif", 1, 4, f);
  fputc(version, f);
  for (int i = 0; i < 15; i++) fputc(0, f);
  put32(f, 0); put32(f, 0); put32(f, leap); put32(f, n); put32(f, types); put32(f, 4);
}
static void block(FILE *f, int tsize, uint32_t leap, uint32_t n, const int64_t *at, const uint8_t *idx,
                  uint32_t types, const int32_t *off, const uint8_t *dst) {
  for (uint32_t i = 0; i < n; i++) { if (tsize == 8) put64(f, at[i]); else put32(f, (uint32_t)at[i]); }
  for (uint32_t i = 0; i < n; i++) fputc(idx[i], f);
  for (uint32_t i = 0; i < types; i++) { put32(f, (uint32_t)off[i]); fputc(dst[i], f); fputc(0, f); }
  fwrite("ABC", 1, 4, f);
  for (uint32_t i = 0; i < leap; i++) { if (tsize == 8) put64(f, 78796800); else put32(f, 78796800); put32(f, 1); }
}
/* A zone file: version '\0' (1) or '2'/'3' (a minimal v1 block, then the 64-bit one and the footer). */
static void write_zone(const char *name, char version, uint32_t leap, uint32_t n, const int64_t *at, const uint8_t *idx,
                       uint32_t types, const int32_t *off, const uint8_t *dst, const char *footer) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  if (version == 0) {
    header(f, 0, leap, n, types);
    block(f, 4, leap, n, at, idx, types, off, dst);
  } else {
    header(f, version, 0, 0, 1);
    block(f, 4, 0, 0, NULL, NULL, 1, off, dst);
    header(f, version, leap, n, types);
    block(f, 8, leap, n, at, idx, types, off, dst);
    fprintf(f, "\n%s\n", footer);
  }
  fclose(f);
}

static int setup_dir(void **s) {
  strcpy(dir, "/tmp/pikku-tz-XXXXXX");
  assert_non_null(mkdtemp(dir));
  setenv("TZDIR", dir, 1);
  return 0;
}
static int teardown_dir(void **s) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  unsetenv("TZDIR");
  return 0;
}

/* A "slim" file: no transitions at all, only the footer; it must give the system Berlin's offsets
 * from 1997 on (Berlin's rule since 1996). */
static void test_footer_only(void **s) {
  int32_t off = 3600;
  uint8_t dst = 0;
  write_zone("Slim", '2', 0, 0, NULL, NULL, 1, &off, &dst, "CET-1CEST,M3.5.0,M10.5.0/3");
  pk__tz *slim, *berlin;
  unsetenv("TZDIR");
  assert_int_equal(pk__tz_load(&berlin, "Europe/Berlin", NULL, 0), 0);
  setenv("TZDIR", dir, 1);
  assert_int_equal(pk__tz_load(&slim, "Slim", NULL, 0), 0);
  for (int64_t t = 852076800; t < 7258118400LL; t += 3 * 3600 + 17) {   /* 1997 to 2200 */
    int d1, d2;
    assert_int_equal(pk__tz_offset(slim, t, &d1), pk__tz_offset(berlin, t, &d2));
    assert_int_equal(d1, d2);
  }
  int64_t a, b;                               /* 2026: 29 March 01:00Z to 25 October 01:00Z */
  assert_int_equal(pk__tz_span(slim, 1780000000, &a, &b), 7200);
  assert_true(a == 1774746000 && b == 1792890000);
  assert_int_equal(pk__tz_span(slim, 1774745999, &a, &b), 3600);
  assert_true(b == 1774746000);
  pk__tz_free(slim);
  pk__tz_free(berlin);
}

/* Footer oddities: DST all year (RFC 8536 3.3.1's example), a quoted name with minutes, DST
 * without a rule (the US one), week 5 meaning the last, and J/n day forms. */
static void test_footer_forms(void **s) {
  int32_t off = -14400;
  uint8_t dst = 1;
  pk__tz *tz;
  write_zone("AllYear", '3', 0, 0, NULL, NULL, 1, &off, &dst, "EST5EDT,0/0,J365/25");
  assert_int_equal(pk__tz_load(&tz, "AllYear", NULL, 0), 0);
  for (int64_t t = 946684800; t < 4102444800LL; t += 86400 * 7 + 3599) {
    int d;
    assert_int_equal(pk__tz_offset(tz, t, &d), -14400);
    assert_int_equal(d, 1);
  }
  pk__tz_free(tz);

  off = 19800; dst = 0;
  write_zone("Quoted", '2', 0, 0, NULL, NULL, 1, &off, &dst, "<+0530>-5:30");
  assert_int_equal(pk__tz_load(&tz, "Quoted", NULL, 0), 0);
  assert_int_equal(pk__tz_offset(tz, 1780000000, NULL), 19800);
  int64_t a, b;
  pk__tz_span(tz, 1780000000, &a, &b);
  assert_true(a == INT64_MIN && b == INT64_MAX);
  pk__tz_free(tz);

  off = -18000;
  write_zone("NoRule", '2', 0, 0, NULL, NULL, 1, &off, &dst, "EST5EDT");
  assert_int_equal(pk__tz_load(&tz, "NoRule", NULL, 0), 0);
  assert_int_equal(pk__tz_offset(tz, 1772953199, NULL), -18000);   /* 2026-03-08 06:59:59Z */
  assert_int_equal(pk__tz_offset(tz, 1772953200, NULL), -14400);   /* 2026-03-08 07:00Z: 02:00 EST */
  pk__tz_free(tz);

  /* J60 is 1 March in every year; 59 (zero-based) is 29 February in leap years, 1 March in others
   * (values checked with glibc: TZ='AAA0BBB,J60/0,59/0' date -d @...) */
  off = 0;
  write_zone("Julian", '2', 0, 0, NULL, NULL, 1, &off, &dst, "AAA0BBB,J60/0,59/0");
  assert_int_equal(pk__tz_load(&tz, "Julian", NULL, 0), 0);
  assert_int_equal(pk__tz_offset(tz, 1709161199, NULL), 3600);    /* 2024-02-28 22:59:59Z */
  assert_int_equal(pk__tz_offset(tz, 1709165000, NULL), 0);       /* 2024-02-29 00:03:20Z */
  assert_int_equal(pk__tz_offset(tz, 1709251200, NULL), 3600);    /* 2024-03-01 00:00Z */
  assert_int_equal(pk__tz_offset(tz, 1772321400, NULL), 0);       /* 2026-02-28 23:30Z */
  assert_int_equal(pk__tz_offset(tz, 1772323200, NULL), 3600);    /* 2026-03-01 00:00Z */
  pk__tz_free(tz);
}

/* Version 1: 32-bit transitions, no footer; the last type holds after the last transition, type 0
 * before the first. */
static void test_version1(void **s) {
  int64_t at[2] = {1000000, 2000000};
  uint8_t idx[2] = {1, 2}, dst[3] = {0, 1, 0};
  int32_t off[3] = {-3600, 7200, 19800};
  write_zone("Old", 0, 0, 2, at, idx, 3, off, dst, NULL);
  pk__tz *tz;
  int d;
  assert_int_equal(pk__tz_load(&tz, "Old", NULL, 0), 0);
  assert_int_equal(pk__tz_offset(tz, -5000000000LL, &d), -3600);
  assert_int_equal(pk__tz_offset(tz, 999999, &d), -3600);
  assert_int_equal(pk__tz_offset(tz, 1000000, &d), 7200);
  assert_int_equal(d, 1);
  assert_int_equal(pk__tz_offset(tz, 1999999, &d), 7200);
  assert_int_equal(pk__tz_offset(tz, 2000000, &d), 19800);
  assert_int_equal(pk__tz_offset(tz, 5000000000LL, &d), 19800);
  assert_int_equal(d, 0);
  pk__tz_free(tz);
}

static void test_bad_files(void **s) {
  char err[128];
  pk__tz *tz;
  int32_t off = 0;
  uint8_t dst = 0;
  write_zone("Leap", '2', 1, 0, NULL, NULL, 1, &off, &dst, "UTC0");
  assert_int_equal(pk__tz_load(&tz, "Leap", err, sizeof err), -EINVAL);
  assert_string_equal(err, "time zone 'Leap': leap second zones are not supported");
  write_zone("BadFooter", '2', 0, 0, NULL, NULL, 1, &off, &dst, "CET-1CEST,M13.5.0,M10.5.0/3");
  assert_int_equal(pk__tz_load(&tz, "BadFooter", err, sizeof err), -EINVAL);
  assert_string_equal(err, "time zone 'BadFooter': not a valid TZif file");
  char p[256];
  snprintf(p, sizeof p, "%s/Text", dir);
  FILE *f = fopen(p, "w");
  fputs("not a zone\n", f);
  fclose(f);
  assert_int_equal(pk__tz_load(&tz, "Text", err, sizeof err), -EINVAL);
  assert_string_equal(err, "time zone 'Text': not a valid TZif file");

  /* every truncation of a real file is refused or loads; random byte flips never crash */
  FILE *in = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
  if (!in) return;
  static unsigned char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, in);
  fclose(in);
  snprintf(p, sizeof p, "%s/Cut", dir);
  for (size_t k = 0; k < n; k++) {
    FILE *o = fopen(p, "wb");
    fwrite(buf, 1, k, o);
    fclose(o);
    assert_int_equal(pk__tz_load(&tz, "Cut", NULL, 0), -EINVAL);
  }
  for (int round = 0; round < 300; round++) {
    static unsigned char m[1 << 16];
    memcpy(m, buf, n);
    for (int j = 0; j < 4; j++) m[next_rand() % n] ^= (unsigned char)(1u << (next_rand() % 8));
    FILE *o = fopen(p, "wb");
    fwrite(m, 1, n, o);
    fclose(o);
    if (pk__tz_load(&tz, "Cut", NULL, 0) == 0) {
      for (int64_t t = -4000000000LL; t < 8000000000LL; t += 50000000) {
        int64_t a, b;
        pk__tz_span(tz, t, &a, &b);
        assert_true(a <= t && t < b);
      }
      pk__tz_free(tz);
    }
  }
}

static void test_names(void **s) {
  char err[128];
  pk__tz *tz = (pk__tz *)1;
  assert_int_equal(pk__tz_load(&tz, NULL, err, sizeof err), 0);
  assert_null(tz);
  assert_int_equal(pk__tz_load(&tz, "UTC", err, sizeof err), 0);
  assert_null(tz);
  assert_int_equal(pk__tz_offset(NULL, 1780000000, NULL), 0);
  assert_int_equal(pk__tz_load(&tz, "Mars/Base", err, sizeof err), -ENOENT);
  assert_string_equal(err, "unknown time zone 'Mars/Base'");
  assert_int_equal(pk__tz_load(&tz, "Europe", err, sizeof err), -ENOENT);   /* a directory */
  assert_string_equal(err, "unknown time zone 'Europe'");
  assert_int_equal(pk__tz_load(&tz, "Europe/Berlin/x", err, sizeof err), -ENOENT);
  static const char *bad[] = {"", "../etc/passwd", "/etc/passwd", "Europe/../UTC", "Europe/Ber lin", "Europe\\Berlin", "a\nb"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(pk__tz_load(&tz, bad[i], err, sizeof err), -EINVAL);
  assert_string_equal(err, "invalid time zone name 'a?b'");
  assert_int_equal(pk__tz_load(&tz, "../etc/passwd", err, sizeof err), -EINVAL);
  assert_string_equal(err, "invalid time zone name '../etc/passwd'");
  assert_int_equal(pk__tz_load(&tz, "Etc/UTC", err, sizeof err), 0);
  assert_non_null(tz);
  assert_int_equal(pk__tz_offset(tz, 1780000000, NULL), 0);
  pk__tz_free(tz);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_against_glibc),
    cmocka_unit_test(test_names),
    cmocka_unit_test_setup_teardown(test_footer_only, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(test_footer_forms, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(test_version1, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(test_bad_files, setup_dir, teardown_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
