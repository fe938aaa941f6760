/* http_date.c: HTTP dates (RFC 9110 section 5.6.7) of any moment: Last-Modified out, If-Modified-Since in. */
#include "http_date.h"
#include <errno.h>
#include <string.h>
#include <strings.h>

static const char days[] = "SunMonTueWedThuFriSat";
static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static void two(char *p, int v) { p[0] = (char)('0' + v / 10 % 10); p[1] = (char)('0' + v % 10); }

size_t pk__http_date_format(time_t t, char *out) {
  struct tm tm;
  gmtime_r(&t, &tm);
  memcpy(out, days + 3 * tm.tm_wday, 3);
  out[3] = ',';
  out[4] = ' ';
  two(out + 5, tm.tm_mday);
  out[7] = ' ';
  memcpy(out + 8, months + 3 * tm.tm_mon, 3);
  out[11] = ' ';
  int y = tm.tm_year + 1900;
  two(out + 12, y / 100);
  two(out + 14, y % 100);
  out[16] = ' ';
  two(out + 17, tm.tm_hour);
  out[19] = ':';
  two(out + 20, tm.tm_min);
  out[22] = ':';
  two(out + 23, tm.tm_sec);
  memcpy(out + 25, " GMT", 5);
  return PK__HTTP_DATE_LEN;
}

static int month_of(const char *s) {
  for (int i = 0; i < 12; i++)
    if (strncasecmp(s, months + 3 * i, 3) == 0) return i;
  return -1;
}

static int num(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* "HH:MM:SS" */
static int clock_of(const char *s, struct tm *tm) {
  if (s[2] != ':' || s[5] != ':') return -1;
  if (num(s, 2, &tm->tm_hour) || num(s + 3, 2, &tm->tm_min) || num(s + 6, 2, &tm->tm_sec)) return -1;
  return tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60 ? -1 : 0;
}

int pk__http_date_parse(const char *s, size_t n, time_t *out) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *comma = memchr(s, ',', n);
  if (n == 29 && comma == s + 3) {                 /* Sun, 06 Nov 1994 08:49:37 GMT */
    if (s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || memcmp(s + 25, " GMT", 4)) return -EINVAL;
    if (num(s + 5, 2, &tm.tm_mday) || (tm.tm_mon = month_of(s + 8)) < 0 || num(s + 12, 4, &tm.tm_year) ||
        clock_of(s + 17, &tm))
      return -EINVAL;
    tm.tm_year -= 1900;
  } else if (comma && n >= 30 && comma[1] == ' ') {  /* Sunday, 06-Nov-94 08:49:37 GMT */
    const char *d = comma + 2;
    if ((size_t)(s + n - d) != 22 || d[2] != '-' || d[6] != '-' || d[9] != ' ' || memcmp(d + 18, " GMT", 4))
      return -EINVAL;
    if (num(d, 2, &tm.tm_mday) || (tm.tm_mon = month_of(d + 3)) < 0 || num(d + 7, 2, &tm.tm_year) ||
        clock_of(d + 10, &tm))
      return -EINVAL;
    if (tm.tm_year < 70) tm.tm_year += 100;          /* RFC 9110: a two-digit year 50+ years ahead is past */
  } else if (n == 24 && !comma) {                    /* Sun Nov  6 08:49:37 1994 */
    if (s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ') return -EINVAL;
    char day[2] = {s[8] == ' ' ? '0' : s[8], s[9]};
    if ((tm.tm_mon = month_of(s + 4)) < 0 || num(day, 2, &tm.tm_mday) || clock_of(s + 11, &tm) ||
        num(s + 20, 4, &tm.tm_year))
      return -EINVAL;
    tm.tm_year -= 1900;
  } else {
    return -EINVAL;
  }
  if (tm.tm_mday < 1 || tm.tm_mday > 31) return -EINVAL;
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return -EINVAL;
  *out = t;
  return 0;
}
