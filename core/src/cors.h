/* cors.h: CORS settings of an app and the header lines of its answers: the one owner of CORS (Lua asks it). */
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
  char *expose;          /* "X-Request-Id, ..." for Access-Control-Expose-Headers; NULL: none */
  int credentials;
  long max_age;          /* seconds; < 0: not sent */
} pk__cors;

void pk__cors_free(pk__cors *c);
/* 1 if origin (not NUL-terminated; NULL or empty: no) is allowed. */
int pk__cors_origin_allowed(const pk__cors *c, const char *origin, size_t len);
/* Appends the header lines of the 204 answer to a preflight: Allow (`wired`, the methods wired at
 * the path, e.g. "GET, HEAD, POST", and OPTIONS), then for an allowed origin the CORS lines (Allow-
 * Methods is the configured list, else `wired`; Allow-Headers the configured list, else the
 * request's), for another only "Vary: Origin". Returns 0 or -ENOMEM. */
int pk__cors_preflight_headers(const pk__cors *c, pk__buf *out, const char *origin, size_t olen,
                               const char *req_headers, size_t rhlen, const char *wired);
/* Appends the header lines of any other answer (the app's and the core's own errors alike) for an
 * allowed origin; for another origin only "Vary: Origin" when the list is restricted. Returns 0
 * or -ENOMEM. */
int pk__cors_response_headers(const pk__cors *c, pk__buf *out, const char *origin, size_t olen);
#endif
