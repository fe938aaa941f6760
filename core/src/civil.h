/* civil.h: proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01). */
#ifndef PK_CIVIL_H
#define PK_CIVIL_H
#include <stdint.h>

/* Floor division and the matching non-negative remainder (b > 0). */
static inline int64_t pk__floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }
static inline int64_t pk__floor_mod(int64_t a, int64_t b) { int64_t r = a % b; return r < 0 ? r + b : r; }

static inline int pk__is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static inline int pk__days_in_month(int64_t y, int m) {
  static const unsigned char dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && pk__is_leap(y) ? 29 : dim[m];
}

/* Leap years in [1, y) (negative for y < 1): a count that makes the day number easy. */
static inline int64_t pk__leaps_before(int64_t y) {
  int64_t p = y - 1;
  return pk__floor_div(p, 4) - pk__floor_div(p, 100) + pk__floor_div(p, 400);
}

/* The day number of y-m-d (m 1..12, d 1..31). */
static inline int64_t pk__days_from_civil(int64_t y, int m, int d) {
  static const short before[13] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  return 365 * (y - 1970) + (pk__leaps_before(y) - 477) + before[m] + (m > 2 && pk__is_leap(y)) + d - 1;
}

/* The date of day number days. */
static inline void pk__civil_from_days(int64_t days, int64_t *y, int *m, int *d) {
  int64_t yy = 1970 + pk__floor_div(days * 400, 146097);   /* 146097 days in 400 years */
  while (pk__days_from_civil(yy, 1, 1) > days) yy--;
  while (pk__days_from_civil(yy + 1, 1, 1) <= days) yy++;
  int doy = (int)(days - pk__days_from_civil(yy, 1, 1)), mm = 1;
  while (doy >= pk__days_in_month(yy, mm)) doy -= pk__days_in_month(yy, mm++);
  *y = yy; *m = mm; *d = doy + 1;
}

/* 0 = Sunday .. 6 = Saturday (1970-01-01 was a Thursday). */
static inline int pk__weekday(int64_t days) { return (int)pk__floor_mod(days + 4, 7); }
#endif
