/* cors.c: the one owner of CORS (pikku.cors): origin checks, response and preflight header lines. */
#include "cors.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pk__cors_free(pk__cors *c) {
  if (!c) return;
  for (int i = 0; i < c->norigins; i++) free(c->origins[i]);
  free(c->origins);
  free(c->methods);
  free(c->headers);
  free(c->expose);
  free(c);
}

/* A value that may be copied into a header line: no CR or LF (an in-process request can carry
 * anything; the HTTP parser already refuses them on the wire). */
static int line_safe(const char *s, size_t n) {
  return !memchr(s, '\r', n) && !memchr(s, '\n', n);
}

int pk__cors_origin_allowed(const pk__cors *c, const char *origin, size_t len) {
  if (!origin || len == 0 || !line_safe(origin, len)) return 0;
  if (c->any_origin) return 1;
  for (int i = 0; i < c->norigins; i++)
    if (strlen(c->origins[i]) == len && memcmp(c->origins[i], origin, len) == 0) return 1;
  return 0;
}

/* Access-Control-Allow-Origin and what every allowed answer carries after it. */
static int allowed_lines(const pk__cors *c, pk__buf *out, const char *origin, size_t olen) {
  int rc = 0;
  rc |= pk__buf_append_str(out, "Access-Control-Allow-Origin: ");
  if (c->any_origin && !c->credentials) rc |= pk__buf_append_str(out, "*");
  else rc |= pk__buf_append(out, origin, olen);
  rc |= pk__buf_append_str(out, "\r\n");
  if (!c->any_origin || c->credentials) rc |= pk__buf_append_str(out, "Vary: Origin\r\n");
  if (c->credentials) rc |= pk__buf_append_str(out, "Access-Control-Allow-Credentials: true\r\n");
  if (c->expose) {
    rc |= pk__buf_append_str(out, "Access-Control-Expose-Headers: ");
    rc |= pk__buf_append_str(out, c->expose);
    rc |= pk__buf_append_str(out, "\r\n");
  }
  return rc ? -ENOMEM : 0;
}

int pk__cors_preflight_headers(const pk__cors *c, pk__buf *out, const char *origin, size_t olen,
                               const char *req_headers, size_t rhlen, const char *wired) {
  int rc = 0;
  rc |= pk__buf_append_str(out, "Allow: ");
  rc |= pk__buf_append_str(out, wired);
  rc |= pk__buf_append_str(out, *wired ? ", OPTIONS\r\n" : "OPTIONS\r\n");
  if (!pk__cors_origin_allowed(c, origin, olen)) {
    rc |= pk__buf_append_str(out, "Vary: Origin\r\n");   /* no CORS headers: the browser refuses */
    return rc ? -ENOMEM : 0;
  }
  rc |= allowed_lines(c, out, origin, olen);
  if (c->any_origin && !c->credentials) rc |= pk__buf_append_str(out, "Vary: Origin\r\n");
  rc |= pk__buf_append_str(out, "Access-Control-Allow-Methods: ");
  rc |= pk__buf_append_str(out, c->methods ? c->methods : wired);
  rc |= pk__buf_append_str(out, "\r\n");
  const char *h = c->headers;
  size_t hl = h ? strlen(h) : 0;
  if (!h && req_headers && line_safe(req_headers, rhlen)) { h = req_headers; hl = rhlen; }
  if (h && hl) {
    rc |= pk__buf_append_str(out, "Access-Control-Allow-Headers: ");
    rc |= pk__buf_append(out, h, hl);
    rc |= pk__buf_append_str(out, "\r\n");
    if (!c->headers) rc |= pk__buf_append_str(out, "Vary: Access-Control-Request-Headers\r\n");
  }
  if (c->max_age >= 0) {
    rc |= pk__buf_append_str(out, "Access-Control-Max-Age: ");
    rc |= pk__buf_append_uint(out, (unsigned long long)c->max_age);
    rc |= pk__buf_append_str(out, "\r\n");
  }
  return rc ? -ENOMEM : 0;
}

int pk__cors_response_headers(const pk__cors *c, pk__buf *out, const char *origin, size_t olen) {
  if (pk__cors_origin_allowed(c, origin, olen)) return allowed_lines(c, out, origin, olen);
  if (!c->any_origin && pk__buf_append_str(out, "Vary: Origin\r\n")) return -ENOMEM;
  return 0;
}
