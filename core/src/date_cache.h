/* date_cache.h: the HTTP Date header value, re-rendered at most once a second. */
#ifndef PK_DATE_CACHE_H
#define PK_DATE_CACHE_H
#include <time.h>
/* Renders now into the cache if the second changed. */
void pk__date_update(time_t now);
/* "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes, NUL-terminated). */
const char *pk__date_str(void);
#endif
