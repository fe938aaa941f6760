/* test_cron.c: unit tests of cron.c: next run times in many zones (DST gaps and repeats, the footer rule's years), parsing, errors, formatting and cost. */
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
#include <time.h>
#include <unistd.h>
#include "cron.h"

/* "2026-01-01T00:00:00Z" to Unix ms, by glibc (not by the code under test). */
static int64_t utc_ms(const char *iso) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  assert_non_null(end);
  assert_int_equal(*end, 0);
  return (int64_t)timegm(&tm) * 1000;
}

static int zone_exists(const char *name) {
  char p[512];
  if (!strcmp(name, "UTC")) return 1;
  snprintf(p, sizeof p, "/usr/share/zoneinfo/%s", name);
  return access(p, R_OK) == 0;
}

/* Expression, zone, an instant (UTC), and the next five run times after it as the zone's clock
 * reads them. The expected times were computed apart from this code: by a brute-force walk over
 * every minute (second) in UTC with Python's zoneinfo, applying the rules of docs/schedules.md
 * as stated (a gap's matches run at the gap's end; a repeated wall time runs again only when the
 * hour field is '*'). NULL: no further run. */
typedef struct next_case { const char *expr, *zone, *after, *want[5]; } next_case;
static const next_case cases[] = {
  {"* * * * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z", "2026-01-01T00:04:00Z", "2026-01-01T00:05:00Z"}},
  {"*/15 * * * *", "UTC", "2026-01-01T00:07:00Z", {"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z", "2026-01-01T01:15:00Z"}},
  {"5,10-12,30 1-2 * jan,FEB *", "UTC", "2026-01-31T01:40:00Z", {"2026-01-31T02:05:00Z", "2026-01-31T02:10:00Z", "2026-01-31T02:11:00Z", "2026-01-31T02:12:00Z", "2026-01-31T02:30:00Z"}},
  {"0 22 * * 1-5/2", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T22:00:00Z", "2026-01-05T22:00:00Z", "2026-01-07T22:00:00Z", "2026-01-09T22:00:00Z", "2026-01-12T22:00:00Z"}},
  {"0 9 * * MON-FRI", "Europe/Berlin", "2026-01-01T00:00:00Z", {"2026-01-01T09:00:00+01:00", "2026-01-02T09:00:00+01:00", "2026-01-05T09:00:00+01:00", "2026-01-06T09:00:00+01:00", "2026-01-07T09:00:00+01:00"}},
  {"0 18 * * FRI-SUN", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T18:00:00Z", "2026-01-03T18:00:00Z", "2026-01-04T18:00:00Z", "2026-01-09T18:00:00Z", "2026-01-10T18:00:00Z"}},
  {"0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-18T00:00:00Z", "2026-01-25T00:00:00Z", "2026-02-01T00:00:00Z"}},
  {"15/20 * * * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:15:00Z", "2026-01-01T00:35:00Z", "2026-01-01T00:55:00Z", "2026-01-01T01:15:00Z", "2026-01-01T01:35:00Z"}},
  {"@hourly", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z", "2026-01-01T05:00:00Z"}},
  {"@daily", "America/New_York", "2026-01-01T00:00:00Z", {"2026-01-01T00:00:00-05:00", "2026-01-02T00:00:00-05:00", "2026-01-03T00:00:00-05:00", "2026-01-04T00:00:00-05:00", "2026-01-05T00:00:00-05:00"}},
  {"@midnight", "Asia/Kolkata", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00+05:30", "2026-01-03T00:00:00+05:30", "2026-01-04T00:00:00+05:30", "2026-01-05T00:00:00+05:30", "2026-01-06T00:00:00+05:30"}},
  {"@weekly", "Europe/Berlin", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00+01:00", "2026-01-11T00:00:00+01:00", "2026-01-18T00:00:00+01:00", "2026-01-25T00:00:00+01:00", "2026-02-01T00:00:00+01:00"}},
  {"@monthly", "Asia/Kolkata", "2026-01-01T00:00:00Z", {"2026-02-01T00:00:00+05:30", "2026-03-01T00:00:00+05:30", "2026-04-01T00:00:00+05:30", "2026-05-01T00:00:00+05:30", "2026-06-01T00:00:00+05:30"}},
  {"@yearly", "Australia/Sydney", "2026-01-01T00:00:00Z", {"2027-01-01T00:00:00+11:00", "2028-01-01T00:00:00+11:00", "2029-01-01T00:00:00+11:00", "2030-01-01T00:00:00+11:00", "2031-01-01T00:00:00+11:00"}},
  {"@annually", "UTC", "2026-06-01T00:00:00Z", {"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "2029-01-01T00:00:00Z", "2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"}},
  {"*/20 * * * * *", "UTC", "2026-01-01T00:00:05Z", {"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z", "2026-01-01T00:01:20Z", "2026-01-01T00:01:40Z"}},
  {"30 0 12 * * *", "Europe/Berlin", "2026-01-01T00:00:00Z", {"2026-01-01T12:00:30+01:00", "2026-01-02T12:00:30+01:00", "2026-01-03T12:00:30+01:00", "2026-01-04T12:00:30+01:00", "2026-01-05T12:00:30+01:00"}},
  {"0 0 29 2 *", "Europe/Berlin", "2026-01-01T00:00:00Z", {"2028-02-29T00:00:00+01:00", "2032-02-29T00:00:00+01:00", "2036-02-29T00:00:00+01:00", "2040-02-29T00:00:00+01:00", "2044-02-29T00:00:00+01:00"}},
  {"0 12 13 * FRI", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T12:00:00Z", "2026-01-09T12:00:00Z", "2026-01-13T12:00:00Z", "2026-01-16T12:00:00Z", "2026-01-23T12:00:00Z"}},
  {"0 12 */10 * FRI", "UTC", "2026-01-01T00:00:00Z", {"2026-05-01T12:00:00Z", "2026-07-31T12:00:00Z", "2026-08-21T12:00:00Z", "2026-09-11T12:00:00Z", "2026-12-11T12:00:00Z"}},
  {"0 12 13 * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-13T12:00:00Z", "2026-02-13T12:00:00Z", "2026-03-13T12:00:00Z", "2026-04-13T12:00:00Z", "2026-05-13T12:00:00Z"}},
  {"0 0 31 * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"}},
  {"0 0 30 * *", "UTC", "2026-01-15T00:00:00Z", {"2026-01-30T00:00:00Z", "2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z", "2026-05-30T00:00:00Z", "2026-06-30T00:00:00Z"}},
  {"30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", {"2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00", "2026-04-01T02:30:00+02:00"}},
  {"30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z", {"2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00", "2026-03-11T02:30:00-04:00"}},
  {"*/15 2 * * *", "Europe/Berlin", "2026-03-28T23:00:00Z", {"2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T02:15:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-30T02:45:00+02:00"}},
  {"*/15 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z", {"2026-03-29T01:45:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:15:00+02:00", "2026-03-29T03:30:00+02:00", "2026-03-29T03:45:00+02:00"}},
  {"0 2,3 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", {"2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T03:00:00+02:00", "2026-03-31T02:00:00+02:00", "2026-03-31T03:00:00+02:00"}},
  {"*/30 * * * *", "Europe/Berlin", "2026-10-24T23:40:00Z", {"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"}},
  {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", {"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00", "2026-10-28T02:30:00+01:00", "2026-10-29T02:30:00+01:00"}},
  {"*/20 2 * * *", "Europe/Berlin", "2026-10-24T23:50:00Z", {"2026-10-25T02:00:00+02:00", "2026-10-25T02:20:00+02:00", "2026-10-25T02:40:00+02:00", "2026-10-26T02:00:00+01:00", "2026-10-26T02:20:00+01:00"}},
  {"30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", {"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00", "2026-11-04T01:30:00-05:00", "2026-11-05T01:30:00-05:00"}},
  {"0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", {"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00", "2026-11-01T04:00:00-05:00"}},
  {"30 2 * * *", "Australia/Sydney", "2026-04-03T12:00:00Z", {"2026-04-04T02:30:00+11:00", "2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00", "2026-04-07T02:30:00+10:00", "2026-04-08T02:30:00+10:00"}},
  {"30 2 * * *", "Australia/Sydney", "2026-10-02T12:00:00Z", {"2026-10-03T02:30:00+10:00", "2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00", "2026-10-06T02:30:00+11:00", "2026-10-07T02:30:00+11:00"}},
  {"0 * * * *", "Australia/Sydney", "2026-04-04T14:30:00Z", {"2026-04-05T02:00:00+11:00", "2026-04-05T02:00:00+10:00", "2026-04-05T03:00:00+10:00", "2026-04-05T04:00:00+10:00", "2026-04-05T05:00:00+10:00"}},
  {"0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00:00Z", {"2026-01-01T09:00:00+05:30", "2026-01-02T09:00:00+05:30", "2026-01-03T09:00:00+05:30", "2026-01-04T09:00:00+05:30", "2026-01-05T09:00:00+05:30"}},
  {"*/15 1 * * *", "Australia/Lord_Howe", "2026-04-04T14:00:00Z", {"2026-04-05T01:15:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-06T01:00:00+10:30", "2026-04-06T01:15:00+10:30"}},
  {"*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:40:00Z", {"2026-04-05T01:45:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-05T01:45:00+10:30", "2026-04-05T02:00:00+10:30", "2026-04-05T02:15:00+10:30"}},
  {"15 2 * * *", "Australia/Lord_Howe", "2026-10-02T12:00:00Z", {"2026-10-03T02:15:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00", "2026-10-06T02:15:00+11:00", "2026-10-07T02:15:00+11:00"}},
  {"30 2 * * *", "Europe/Berlin", "2040-03-23T12:00:00Z", {"2040-03-24T02:30:00+01:00", "2040-03-25T03:00:00+02:00", "2040-03-26T02:30:00+02:00", "2040-03-27T02:30:00+02:00", "2040-03-28T02:30:00+02:00"}},
  {"*/30 * * * *", "Europe/Berlin", "2040-10-27T23:40:00Z", {"2040-10-28T02:00:00+02:00", "2040-10-28T02:30:00+02:00", "2040-10-28T02:00:00+01:00", "2040-10-28T02:30:00+01:00", "2040-10-28T03:00:00+01:00"}},
  {"30 1 * * *", "America/New_York", "2040-11-03T12:00:00Z", {"2040-11-04T01:30:00-04:00", "2040-11-05T01:30:00-05:00", "2040-11-06T01:30:00-05:00", "2040-11-07T01:30:00-05:00", "2040-11-08T01:30:00-05:00"}},
  {"0 0 1 * *", "Europe/Berlin", "2099-10-01T00:00:00Z", {"2099-11-01T00:00:00+01:00", "2099-12-01T00:00:00+01:00", "2100-01-01T00:00:00+01:00", "2100-02-01T00:00:00+01:00", "2100-03-01T00:00:00+01:00"}},
  {"0 3 * * SUN", "Europe/Dublin", "2040-03-20T00:00:00Z", {"2040-03-25T03:00:00+01:00", "2040-04-01T03:00:00+01:00", "2040-04-08T03:00:00+01:00", "2040-04-15T03:00:00+01:00", "2040-04-22T03:00:00+01:00"}},
  {"0 0 * * *", "America/Sao_Paulo", "2026-01-01T00:00:00Z", {"2026-01-01T00:00:00-03:00", "2026-01-02T00:00:00-03:00", "2026-01-03T00:00:00-03:00", "2026-01-04T00:00:00-03:00", "2026-01-05T00:00:00-03:00"}},
  {"30 23 30 12 *", "Pacific/Apia", "2011-01-01T00:00:00Z", {"2011-12-31T00:00:00+14:00", "2012-12-30T23:30:00+14:00", "2013-12-30T23:30:00+14:00", "2014-12-30T23:30:00+14:00", "2015-12-30T23:30:00+14:00"}},
  {"59 23 31 12 *", "UTC", "2026-06-01T00:00:00Z", {"2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z", "2028-12-31T23:59:00Z", "2029-12-31T23:59:00Z", "2030-12-31T23:59:00Z"}},
  {"0 0 1 1 *", "Pacific/Kiritimati", "2026-06-01T00:00:00Z", {"2027-01-01T00:00:00+14:00", "2028-01-01T00:00:00+14:00", "2029-01-01T00:00:00+14:00", "2030-01-01T00:00:00+14:00", "2031-01-01T00:00:00+14:00"}},
  {"@daily", "America/Santiago", "2026-09-04T12:00:00Z", {"2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00", "2026-09-08T00:00:00-03:00", "2026-09-09T00:00:00-03:00"}},
  {"30 2 * * *", "Australia/Sydney", "2040-10-05T12:00:00Z", {"2040-10-06T02:30:00+10:00", "2040-10-07T03:00:00+11:00", "2040-10-08T02:30:00+11:00", "2040-10-09T02:30:00+11:00", "2040-10-10T02:30:00+11:00"}},
  {"*/20 30 1 * * *", "America/New_York", "2026-11-01T05:00:00Z", {"2026-11-01T01:30:00-04:00", "2026-11-01T01:30:20-04:00", "2026-11-01T01:30:40-04:00", "2026-11-02T01:30:00-05:00", "2026-11-02T01:30:20-05:00"}},
  {"0 */30 * * * *", "Europe/Berlin", "2026-10-24T23:40:00Z", {"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"}},
  {"*/20 * 2 * * *", "Europe/Berlin", "2026-03-29T00:59:30Z", {"2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T02:00:20+02:00", "2026-03-30T02:00:40+02:00", "2026-03-30T02:01:00+02:00"}},
  {"@every 30s", "Asia/Kolkata", "2026-01-01T00:00:10Z", {"2026-01-01T05:30:30+05:30", "2026-01-01T05:31:00+05:30", "2026-01-01T05:31:30+05:30", "2026-01-01T05:32:00+05:30", "2026-01-01T05:32:30+05:30"}},
  {"@every 1h30m", "Asia/Kolkata", "2026-01-01T00:00:00Z", {"2026-01-01T07:00:00+05:30", "2026-01-01T08:30:00+05:30", "2026-01-01T10:00:00+05:30", "2026-01-01T11:30:00+05:30", "2026-01-01T13:00:00+05:30"}},
  {"@every 1500ms", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:00:01.500Z", "2026-01-01T00:00:03Z", "2026-01-01T00:00:04.500Z", "2026-01-01T00:00:06Z", "2026-01-01T00:00:07.500Z"}},
  {"@every 1h", "Europe/Berlin", "2026-03-29T00:30:00Z", {"2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00", "2026-03-29T05:00:00+02:00", "2026-03-29T06:00:00+02:00", "2026-03-29T07:00:00+02:00"}},
  {"@every 7m", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:07:00Z", "2026-01-01T00:14:00Z", "2026-01-01T00:21:00Z", "2026-01-01T00:28:00Z", "2026-01-01T00:35:00Z"}},
};

static void test_next_table(void **s) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const next_case *k = &cases[i];
    if (!zone_exists(k->zone)) { fprintf(stderr, "skipping '%s' in %s: zone not installed\n", k->expr, k->zone); continue; }
    pk__cron c;
    pk__tz *tz;
    char err[128], got[64];
    if (pk__cron_parse(&c, k->expr, err, sizeof err)) fail_msg("'%s': %s", k->expr, err);
    assert_int_equal(pk__tz_load(&tz, k->zone, err, sizeof err), 0);
    int64_t t = utc_ms(k->after);
    for (int j = 0; j < 5; j++) {
      t = pk__cron_next(&c, tz, t);
      if (!k->want[j]) { assert_true(t == -1); break; }
      if (t < 0) fail_msg("'%s' in %s after %s: run %d: none, want %s", k->expr, k->zone, k->after, j + 1, k->want[j]);
      pk__cron_format_iso(got, sizeof got, tz, t);
      if (strcmp(got, k->want[j]))
        fail_msg("'%s' in %s after %s: run %d: %s, want %s", k->expr, k->zone, k->after, j + 1, got, k->want[j]);
    }
    pk__tz_free(tz);
  }
}

/* Schedules that never run: -1 at once. */
static void test_never(void **s) {
  static const char *never[] = {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *", "* * 30-31 2 *", "0 0 31 4-6/2 *"};
  pk__cron c;
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
    assert_int_equal(pk__cron_parse(&c, never[i], NULL, 0), 0);
    assert_true(pk__cron_next(&c, NULL, utc_ms("2026-01-01T00:00:00Z")) == -1);
  }
  /* every other month from February: August, October and December have a 31st */
  assert_int_equal(pk__cron_parse(&c, "0 0 31 2/2 *", NULL, 0), 0);
  assert_true(pk__cron_next(&c, NULL, 0) > 0);
  /* outside the years 1 to 9999 */
  assert_int_equal(pk__cron_parse(&c, "* * * * *", NULL, 0), 0);
  assert_true(pk__cron_next(&c, NULL, INT64_MAX) == -1);
  assert_true(pk__cron_next(&c, NULL, INT64_MIN) == -1);
  assert_true(pk__cron_next(&c, NULL, utc_ms("9999-12-31T23:59:00Z")) == -1);
  assert_true(pk__cron_next(&c, NULL, utc_ms("9999-12-31T23:58:00Z")) == utc_ms("9999-12-31T23:59:00Z"));
}

/* Feb 29 on a Saturday or Sunday (a star step in day-of-week makes it the AND rule): rare but real. */
static void test_rare(void **s) {
  pk__cron c;
  char got[64];
  assert_int_equal(pk__cron_parse(&c, "0 0 29 2 */6", NULL, 0), 0);
  int64_t t = pk__cron_next(&c, NULL, utc_ms("2026-01-01T00:00:00Z"));
  pk__cron_format_iso(got, sizeof got, NULL, t);
  assert_string_equal(got, "2032-02-29T00:00:00Z");      /* a Sunday (date -d 2032-02-29 +%A) */
  t = pk__cron_next(&c, NULL, t);
  pk__cron_format_iso(got, sizeof got, NULL, t);
  assert_string_equal(got, "2048-02-29T00:00:00Z");      /* a Saturday; 2036-2044 are weekdays */
  /* across 2100 (not a leap year): Feb 29 after 2096 is 2104 */
  assert_int_equal(pk__cron_parse(&c, "0 0 29 2 *", NULL, 0), 0);
  t = pk__cron_next(&c, NULL, utc_ms("2096-03-01T00:00:00Z"));
  pk__cron_format_iso(got, sizeof got, NULL, t);
  assert_string_equal(got, "2104-02-29T00:00:00Z");
}

/* The sets and flags a few expressions parse into. */
static void test_parse_sets(void **s) {
  pk__cron c;
  assert_int_equal(pk__cron_parse(&c, "0 9 * * MON-FRI", NULL, 0), 0);
  assert_true(c.second == 1 && c.minute == 1 && c.hour == 1u << 9 && c.dom == 0xfffffffeu && c.month == 0x1ffe);
  assert_int_equal(c.dow, 0x3e);
  assert_true(!c.has_seconds && c.dom_star && !c.dow_star && !c.hour_star && c.every_ms == 0);
  assert_int_equal(pk__cron_parse(&c, "*/10 0-59/30 */6 1,15 */3 *", NULL, 0), 0);
  assert_true(c.has_seconds && c.second == (1ull | 1ull << 10 | 1ull << 20 | 1ull << 30 | 1ull << 40 | 1ull << 50));
  assert_true(c.minute == (1ull | 1ull << 30) && c.hour == (1u | 1u << 6 | 1u << 12 | 1u << 18));
  assert_true(c.dom == (1u << 1 | 1u << 15) && c.month == (1u << 1 | 1u << 4 | 1u << 7 | 1u << 10));
  assert_true(c.hour_star && !c.dom_star && c.dow_star);
  struct { const char *dow; unsigned bits; } d[] = {
    {"7", 1}, {"0-7", 0x7f}, {"5-7", 0x61}, {"FRI-SUN", 0x61}, {"SUN-SUN", 1}, {"sun-sat", 0x7f},
    {"MON/2", 0x2a}, {"7/2", 1}, {"1-5/2", 0x2a}, {"Tue,thu", 0x14}, {"*/2", 0x55},
  };
  for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
    char e[64];
    snprintf(e, sizeof e, "0 0 * * %s", d[i].dow);
    assert_int_equal(pk__cron_parse(&c, e, NULL, 0), 0);
    if (c.dow != d[i].bits) fail_msg("'%s': dow %#x, want %#x", e, c.dow, d[i].bits);
  }
  assert_int_equal(pk__cron_parse(&c, "0 0 * jan-MAR,Dec *", NULL, 0), 0);
  assert_int_equal(c.month, 1u << 1 | 1u << 2 | 1u << 3 | 1u << 12);
  assert_int_equal(pk__cron_parse(&c, "10/25 * * * *", NULL, 0), 0);
  assert_true(c.minute == (1ull << 10 | 1ull << 35));
  assert_int_equal(pk__cron_parse(&c, " \t0  9 * *\t1-5 \n", NULL, 0), 0);
  assert_int_equal(c.dow, 0x3e);
  /* macros */
  struct { const char *m, *same; } mac[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"}, {"  @Hourly ", "0 * * * *"},
  };
  for (size_t i = 0; i < sizeof mac / sizeof mac[0]; i++) {
    pk__cron a, b;
    assert_int_equal(pk__cron_parse(&a, mac[i].m, NULL, 0), 0);
    assert_int_equal(pk__cron_parse(&b, mac[i].same, NULL, 0), 0);
    assert_memory_equal(&a, &b, sizeof a);
  }
  struct { const char *e; int64_t ms; } ev[] = {
    {"@every 30s", 30000}, {"@every 5m", 300000}, {"@every 1h30m", 5400000}, {"@every 1500ms", 1500},
    {"@every 1s", 1000}, {"@every 8784h", 8784LL * 3600000}, {"@every 30m1h", 5400000}, {"@EVERY 2h", 7200000},
  };
  for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
    assert_int_equal(pk__cron_parse(&c, ev[i].e, NULL, 0), 0);
    assert_true(c.every_ms == ev[i].ms);
  }
}

/* Bad expressions and their exact messages. */
static void test_errors(void **s) {
  static const struct { const char *expr, *err; } bad[] = {
    {"61 * * * *", "minute field: 61 is out of range 0-59"},
    {"* 24 * * *", "hour field: 24 is out of range 0-23"},
    {"* * 0 * *", "day-of-month field: 0 is out of range 1-31"},
    {"* * 32 * *", "day-of-month field: 32 is out of range 1-31"},
    {"* * * 13 *", "month field: 13 is out of range 1-12"},
    {"* * * * 8", "day-of-week field: 8 is out of range 0-7"},
    {"60 * * * * *", "second field: 60 is out of range 0-59"},
    {"99999999999999999999 * * * *", "minute field: 99999999999999999999 is out of range 0-59"},
    {"* * * * FOO", "day-of-week field: 'FOO' is not a day name"},
    {"* * * JANUARY *", "month field: 'JANUARY' is not a month name"},
    {"* x * * *", "hour field: 'x' is not a number"},
    {"1x * * * *", "minute field: '1x' is not a number"},
    {"? * * * *", "minute field: '?' is not a number"},
    {"* * L * *", "day-of-month field: 'L' is not a number"},
    {"* * * * 1#2", "day-of-week field: '1#2' is not a number"},
    {"*-5 * * * *", "minute field: '*' is not a number"},
    {"* * * *", "expected 5 or 6 fields, got 4"},
    {"* * * * * * *", "expected 5 or 6 fields, got 7"},
    {"", "expected 5 or 6 fields, got 0"},
    {"  \t ", "expected 5 or 6 fields, got 0"},
    {"*/0 * * * *", "minute field: step 0 is out of range 1-59"},
    {"* * * * */7", "day-of-week field: step 7 is out of range 1-6"},
    {"*/x * * * *", "minute field: step 'x' is not a number"},
    {"* * * * */MON", "day-of-week field: step 'MON' is not a number"},
    {"1/2/3 * * * *", "minute field: step '2/3' is not a number"},
    {"5-2 * * * *", "minute field: range '5-2' is reversed"},
    {"* * * * FRI-MON", "day-of-week field: range 'FRI-MON' is reversed"},
    {"* * * DEC-JAN *", "month field: range 'DEC-JAN' is reversed"},
    {"1-2-3 * * * *", "minute field: '1-2-3' is not a valid range"},
    {"1,,2 * * * *", "minute field: empty item in '1,,2'"},
    {"* 1, * * *", "hour field: empty item in '1,'"},
    {"5- * * * *", "minute field: '5-' is missing a number"},
    {"*/ * * * *", "minute field: '*/' is missing a number"},
    {"@foo", "unknown macro '@foo'"},
    {"@daily 5", "unexpected '5' after @daily"},
    {"@every", "@every needs a duration, e.g. @every 5m"},
    {"@every 5x", "@every: '5x' is not a duration like 30s, 5m, 1h30m or 1500ms"},
    {"@every 5", "@every: '5' is not a duration like 30s, 5m, 1h30m or 1500ms"},
    {"@every 1.5h", "@every: '1.5h' is not a duration like 30s, 5m, 1h30m or 1500ms"},
    {"@every 500ms", "@every: '500ms' is less than the minimum 1s"},
    {"@every 9000h", "@every: '9000h' is more than the maximum 366 days (8784h)"},
    {"@every 5m extra", "unexpected 'extra' after @every 5m"},
    {"* * * * \x01", "day-of-week field: '?' is not a number"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pk__cron c;
    char err[128];
    int rc = pk__cron_parse(&c, bad[i].expr, err, sizeof err);
    if (rc != -EINVAL) fail_msg("'%s' parsed", bad[i].expr);
    if (strcmp(err, bad[i].err)) fail_msg("'%s': \"%s\", want \"%s\"", bad[i].expr, err, bad[i].err);
  }
  /* a long token is cut in the message; a small buffer is filled and terminated */
  pk__cron c;
  char err[128], tiny[8];
  assert_int_equal(pk__cron_parse(&c, "* * * * MONDAYMONDAYMONDAYMONDAYMONDAYMONDAYMONDAY", err, sizeof err), -EINVAL);
  assert_string_equal(err, "day-of-week field: 'MONDAYMONDAYMONDAYMONDAYMONDAYMONDAYMOND...' is not a day name");
  assert_int_equal(pk__cron_parse(&c, "61 * * * *", tiny, sizeof tiny), -EINVAL);
  assert_string_equal(tiny, "minute ");
  assert_int_equal(pk__cron_parse(&c, "61 * * * *", NULL, 0), -EINVAL);
}

static void test_unknown_zone(void **s) {
  pk__tz *tz;
  char err[128];
  assert_int_equal(pk__tz_load(&tz, "Mars/Base", err, sizeof err), -ENOENT);
  assert_string_equal(err, "unknown time zone 'Mars/Base'");
  assert_int_equal(pk__tz_load(&tz, "../../etc/passwd", err, sizeof err), -EINVAL);
  assert_string_equal(err, "invalid time zone name '../../etc/passwd'");
}

static void test_format(void **s) {
  char b[64];
  pk__tz *tz;
  assert_int_equal(pk__cron_format_iso(b, sizeof b, NULL, 0), 20);
  assert_string_equal(b, "1970-01-01T00:00:00Z");
  pk__cron_format_iso(b, sizeof b, NULL, -1);
  assert_string_equal(b, "1969-12-31T23:59:59.999Z");
  pk__cron_format_iso(b, sizeof b, NULL, utc_ms("2026-03-29T01:00:00Z") + 7);
  assert_string_equal(b, "2026-03-29T01:00:00.007Z");
  assert_int_equal(pk__cron_format_iso(b, 11, NULL, 0), 10);
  assert_string_equal(b, "1970-01-01");
  if (!zone_exists("America/St_Johns")) return;
  assert_int_equal(pk__tz_load(&tz, "America/St_Johns", NULL, 0), 0);
  pk__cron_format_iso(b, sizeof b, tz, utc_ms("2026-01-15T12:00:00Z"));
  assert_string_equal(b, "2026-01-15T08:30:00-03:30");
  pk__tz_free(tz);
  /* local mean time before 1893: Berlin was 53 minutes 28 seconds ahead (zdump -v Europe/Berlin) */
  assert_int_equal(pk__tz_load(&tz, "Europe/Berlin", NULL, 0), 0);
  pk__cron_format_iso(b, sizeof b, tz, utc_ms("1880-01-01T00:00:00Z"));
  assert_string_equal(b, "1880-01-01T00:53:28+00:53:28");
  pk__tz_free(tz);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static const char *pick_field(char *buf, int lo, int hi, int star_pct) {
  int r = (int)(next_rand() % 100), span = hi - lo;
  if (r < star_pct) return "*";
  if (r < star_pct + 15) { snprintf(buf, 32, "*/%d", 1 + (int)(next_rand() % (unsigned)(span < 30 ? span : 30))); return buf; }
  int a = lo + (int)(next_rand() % (unsigned)(span + 1)), b = a + (int)(next_rand() % (unsigned)(hi - a + 1));
  if (r < star_pct + 40) snprintf(buf, 32, "%d-%d", a, b);
  else if (r < star_pct + 60) snprintf(buf, 32, "%d,%d", a, b);
  else snprintf(buf, 32, "%d", a);
  return buf;
}

/* Random schedules and instants in several zones, checked against glibc's clock: every run is
 * after the instant, and at it the wall clock matches the schedule, or the clock has just jumped
 * forward (a gap's run); asking again from just before a run finds it again. */
static void test_random_against_clock(void **s) {
  static const char *zones[] = {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Havana", "UTC"};
  for (int i = 0; i < 3000; i++) {
    const char *zone = zones[next_rand() % 5];
    if (!zone_exists(zone)) continue;
    char f[5][32], e[200], err[128];
    snprintf(e, sizeof e, "%s %s %s %s %s", pick_field(f[0], 0, 59, 30), pick_field(f[1], 0, 23, 40),
             pick_field(f[2], 1, 31, 70), pick_field(f[3], 1, 12, 80), pick_field(f[4], 0, 6, 70));
    pk__cron c;
    pk__tz *tz;
    if (pk__cron_parse(&c, e, err, sizeof err)) fail_msg("'%s': %s", e, err);
    assert_int_equal(pk__tz_load(&tz, zone, NULL, 0), 0);
    setenv("TZ", zone, 1);
    tzset();
    int64_t after = (1700000000LL + (int64_t)(next_rand() % 700000000)) * 1000 + (int64_t)(next_rand() % 1000);
    int64_t t = pk__cron_next(&c, tz, after);
    if (t < 0) { pk__tz_free(tz); continue; }             /* e.g. Feb 31 */
    assert_true(t > after && t % 60000 == 0);
    time_t tt = (time_t)(t / 1000), before = tt - 60;
    struct tm w, wb;
    localtime_r(&tt, &w);
    localtime_r(&before, &wb);
    int dom = c.dom >> w.tm_mday & 1, dow = c.dow >> w.tm_wday & 1;
    int day = c.dom_star || c.dow_star ? dom && dow : dom || dow;
    int match = (c.minute >> w.tm_min & 1) && (c.hour >> w.tm_hour & 1) && (c.month >> (w.tm_mon + 1) & 1) && day;
    int gap = w.tm_gmtoff > wb.tm_gmtoff;
    if (!match && !gap) fail_msg("'%s' in %s after %lld: %lld does not match", e, zone, (long long)after, (long long)t);
    assert_true(pk__cron_next(&c, tz, t - 1) == t);
    pk__tz_free(tz);
  }
  unsetenv("TZ");
  tzset();
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* What a next() costs: printed, and held under a bound loose enough for sanitizer builds. */
static void test_cost(void **s) {
  static const struct { const char *expr, *zone; } exprs[] = {
    {"* * * * *", "UTC"}, {"*/15 * * * *", "Europe/Berlin"}, {"0 9 * * MON-FRI", "America/New_York"},
    {"30 2 * * *", "Europe/Berlin"}, {"0 0 29 2 *", "Europe/Berlin"}, {"0 0 30 2 *", "Europe/Berlin"},
    {"0 0 29 2 */6", "Australia/Sydney"}, {"0 12 */10 * FRI", "UTC"}, {"*/20 * * * * *", "Australia/Lord_Howe"},
    {"@every 30s", "UTC"},
  };
  for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
    pk__cron c;
    pk__tz *tz;
    assert_int_equal(pk__cron_parse(&c, exprs[i].expr, NULL, 0), 0);
    if (!zone_exists(exprs[i].zone)) continue;
    assert_int_equal(pk__tz_load(&tz, exprs[i].zone, NULL, 0), 0);
    int n = 2000;
    volatile int64_t sink = 0;
    double t0 = now_ns();
    for (int k = 0; k < n; k++) sink += pk__cron_next(&c, tz, (1767225600LL + k * 15551) * 1000);
    double per = (now_ns() - t0) / n;
    print_message("next('%s', %s): %.2f us\n", exprs[i].expr, exprs[i].zone, per / 1000);
    assert_true(per < 2e6);                   /* 2 ms: generous, for ASan/Debug on a busy machine */
    pk__tz_free(tz);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_next_table),
    cmocka_unit_test(test_never),
    cmocka_unit_test(test_rare),
    cmocka_unit_test(test_parse_sets),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_unknown_zone),
    cmocka_unit_test(test_format),
    cmocka_unit_test(test_random_against_clock),
    cmocka_unit_test(test_cost),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
