/* http_date.h: HTTP dates (RFC 9110 section 5.6.7) of any moment: Last-Modified out, If-Modified-Since in. */
#ifndef PK_HTTP_DATE_H
#define PK_HTTP_DATE_H
#include <stddef.h>
#include <time.h>

#define PK__HTTP_DATE_LEN 29   /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes t as an IMF-fixdate into out (>= 30 bytes, NUL-terminated); returns PK__HTTP_DATE_LEN. */
size_t pk__http_date_format(time_t t, char *out);
/* Parses an HTTP date in any of the three forms a recipient must accept (IMF-fixdate, RFC 850,
 * asctime). Returns 0 and sets *out, or -EINVAL. */
int pk__http_date_parse(const char *s, size_t n, time_t *out);
#endif
