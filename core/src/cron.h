/* cron.h: cron schedules: parsing 5- and 6-field expressions, macros and @every, and the next run time in a zone. */
#ifndef PK_CRON_H
#define PK_CRON_H
#include <stddef.h>
#include <stdint.h>
#include "tzfile.h"

/* A parsed schedule. Bit v of a set means value v matches. */
typedef struct pk__cron {
  uint64_t second;          /* 0-59 ({0} for a 5-field expression) */
  uint64_t minute;          /* 0-59 */
  uint32_t hour;            /* 0-23 */
  uint32_t dom;             /* day of month, 1-31 */
  uint16_t month;           /* 1-12 */
  uint8_t dow;              /* day of week, 0-6, 0 = Sunday (7 in the expression is 0 here) */
  uint8_t has_seconds;      /* 6 fields were given */
  uint8_t dom_star, dow_star, hour_star; /* the field starts with a star (a plain star or a star step) */
  int64_t every_ms;         /* > 0: "@every DURATION"; the sets above are unused */
} pk__cron;

#define PK_CRON_EVERY_MIN_MS 1000LL
#define PK_CRON_EVERY_MAX_MS (366LL * 86400 * 1000)

/* Parses expr. Returns 0, or -EINVAL with err naming the field and the bad token ("minute field:
 * 61 is out of range 0-59", "expected 5 or 6 fields, got 4"). */
int pk__cron_parse(pk__cron *c, const char *expr, char *err, size_t errlen);

/* The first run time strictly after after_ms (Unix milliseconds), on tz's wall clock (NULL: UTC),
 * or -1 when there is none: a date that never exists ("0 0 30 2 *"), nothing within 50 years, or
 * after_ms outside the years 1 to 9999. */
int64_t pk__cron_next(const pk__cron *c, const pk__tz *tz, int64_t after_ms);

/* Writes t_ms as ISO 8601 with tz's offset at that instant ("2026-03-29T03:00:00+02:00"; "Z" when
 * tz is NULL; ".mmm" when t_ms is not a whole second). Returns the length written (out is always
 * NUL-terminated when n > 0). */
size_t pk__cron_format_iso(char *out, size_t n, const pk__tz *tz, int64_t t_ms);
#endif
