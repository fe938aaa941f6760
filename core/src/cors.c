/* cors.c: origin checks and preflight headers for pikku.cors (the Lua layer adds the simple-response headers). */
#include "cors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pk__cors_free(pk__cors *c) {
  if (!c) return;
  for (int i = 0; i < c->norigins; i++) free(c->origins[i]);
  free(c->origins);
  free(c->methods);
  free(c->headers);
  free(c);
}

int pk__cors_origin_allowed(const pk__cors *c, const char *origin, size_t len) {
  if (c->any_origin) return 1;
  for (int i = 0; i < c->norigins; i++)
    if (strlen(c->origins[i]) == len && memcmp(c->origins[i], origin, len) == 0) return 1;
  return 0;
}

int pk__cors_preflight_headers(const pk__cors *c, pk__buf *out, const char *origin, size_t olen,
                               const char *req_headers, size_t rhlen, const char *wired) {
  int rc = 0;
  rc |= pk__buf_append_str(out, "Access-Control-Allow-Origin: ");
  if (c->any_origin && !c->credentials) rc |= pk__buf_append_str(out, "*");
  else rc |= pk__buf_append(out, origin, olen);
  rc |= pk__buf_append_str(out, "\r\nVary: Origin\r\nAccess-Control-Allow-Methods: ");
  rc |= pk__buf_append_str(out, c->methods ? c->methods : wired);
  rc |= pk__buf_append_str(out, "\r\n");
  const char *h = c->headers;
  size_t hl = h ? strlen(h) : 0;
  if (!h && req_headers) { h = req_headers; hl = rhlen; }
  if (h && hl) {
    rc |= pk__buf_append_str(out, "Access-Control-Allow-Headers: ");
    rc |= pk__buf_append(out, h, hl);
    rc |= pk__buf_append_str(out, "\r\n");
  }
  if (c->credentials) rc |= pk__buf_append_str(out, "Access-Control-Allow-Credentials: true\r\n");
  if (c->max_age >= 0) {
    rc |= pk__buf_append_str(out, "Access-Control-Max-Age: ");
    rc |= pk__buf_append_uint(out, (unsigned long long)c->max_age);
    rc |= pk__buf_append_str(out, "\r\n");
  }
  return rc ? -1 : 0;
}

int pk__cors_response_headers(const pk__cors *c, pk__buf *out, const char *origin, size_t olen) {
  int rc = 0;
  if (!origin || !pk__cors_origin_allowed(c, origin, olen)) {
    if (!c->any_origin) rc |= pk__buf_append_str(out, "Vary: Origin\r\n");
    return rc ? -1 : 0;
  }
  rc |= pk__buf_append_str(out, "Access-Control-Allow-Origin: ");
  if (c->any_origin && !c->credentials) rc |= pk__buf_append_str(out, "*");
  else rc |= pk__buf_append(out, origin, olen);
  rc |= pk__buf_append_str(out, "\r\n");
  if (!c->any_origin || c->credentials) rc |= pk__buf_append_str(out, "Vary: Origin\r\n");
  if (c->credentials) rc |= pk__buf_append_str(out, "Access-Control-Allow-Credentials: true\r\n");
  return rc ? -1 : 0;
}
