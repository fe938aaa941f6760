/* cors.h: CORS settings of an app and the preflight answer, made in C without entering Lua. */
#ifndef PK_CORS_H
#define PK_CORS_H
#include <stddef.h>
#include "buf.h"

typedef struct pk__cors {
  char **origins;        /* allowed origins; NULL with any_origin set for "*" */
  int norigins;
  int any_origin;
  char *methods;         /* "GET, POST" */
  char *headers;         /* allowed request headers; NULL: echo Access-Control-Request-Headers */
  int credentials;
  long max_age;          /* seconds; < 0: not sent */
} pk__cors;

void pk__cors_free(pk__cors *c);
/* 1 if origin (not NUL-terminated) is allowed. */
int pk__cors_origin_allowed(const pk__cors *c, const char *origin, size_t len);
/* Appends the preflight response headers for an allowed origin. Allow-Methods is the configured
 * list, else `wired` (the methods wired at the path, e.g. "GET, HEAD, POST"). */
int pk__cors_preflight_headers(const pk__cors *c, pk__buf *out, const char *origin, size_t olen,
                               const char *req_headers, size_t rhlen, const char *wired);
/* Appends the headers of a simple (non-preflight) response for an allowed origin; for another
 * origin only "Vary: Origin" when the list is restricted. */
int pk__cors_response_headers(const pk__cors *c, pk__buf *out, const char *origin, size_t olen);
#endif
