/* date_cache.c: formats the IMF-fixdate once per second for every response of that second. */
#include "date_cache.h"
#include <stdio.h>

static char cached[32];
static time_t cached_at = -1;

void pk__date_update(time_t now) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (now == cached_at) return;
  struct tm tm;
  gmtime_r(&now, &tm);
  snprintf(cached, sizeof cached, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  cached_at = now;
}

const char *pk__date_str(void) {
  if (cached_at < 0) pk__date_update(time(NULL));
  return cached;
}
