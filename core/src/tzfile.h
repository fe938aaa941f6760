/* tzfile.h: time zones read from the system's TZif files (RFC 8536), with their POSIX TZ footer rule. */
#ifndef PK_TZFILE_H
#define PK_TZFILE_H
#include <stddef.h>
#include <stdint.h>

/* A loaded zone. NULL stands for UTC everywhere a pk__tz is taken. */
typedef struct pk__tz pk__tz;

/* Loads zone name ("Europe/Berlin") from $TZDIR, else /usr/share/zoneinfo. NULL or "UTC" gives
 * *out = NULL (UTC, no file read). Returns 0, -ENOENT for a zone that is not there ("unknown time
 * zone 'Mars/Base'"), -EINVAL for a name that is not a zone name (empty, "..", a leading '/', odd
 * characters) or a file that is not valid TZif (or counts leap seconds), -ENOMEM; err receives
 * one line. */
int pk__tz_load(pk__tz **out, const char *name, char *err, size_t errlen);
void pk__tz_free(pk__tz *tz);

/* Seconds east of UTC at instant utc_s (Unix seconds); *is_dst (if not NULL) gets 1 in daylight
 * saving time, else 0. */
long pk__tz_offset(const pk__tz *tz, int64_t utc_s, int *is_dst);

/* The offset at utc_s (as pk__tz_offset) and the span of instants [*from, *until) around it with
 * that offset: the transitions just before and after where the offset changes (INT64_MIN /
 * INT64_MAX where there is none). */
long pk__tz_span(const pk__tz *tz, int64_t utc_s, int64_t *from, int64_t *until);
#endif
