/* http_response.h: serialises response heads and bodies into a connection's output buffer. */
#ifndef PK_HTTP_RESPONSE_H
#define PK_HTTP_RESPONSE_H
#include <stddef.h>
#include "buf.h"

typedef struct pk__response {
  int status;
  const char *content_type; size_t content_type_len;   /* NULL: no Content-Type */
  const char *extra; size_t extra_len;                 /* complete "Name: v\r\n" lines; for a 426
                                                          the Upgrade line (Connection is written here) */
  const char *body; size_t body_len;
  int keep_alive;        /* 0: "Connection: close" */
  int http10;            /* request was HTTP/1.0: keep-alive must be announced */
  int head;              /* HEAD request: headers only (Content-Length still of the body) */
  int stream;            /* a body of unknown length follows (until close): no Content-Length */
} pk__response;

/* One status: reason phrase, and for 4xx/5xx Pikku's error name (else NULL); message: Pikku's
 * default message where it is not the reason phrase in sentence case (else NULL). */
typedef struct pk__status_info { int code; const char *reason; const char *name; const char *message; } pk__status_info;
/* The whole table, in status order (n receives its length). */
const pk__status_info *pk__status_table(size_t *n);
/* Reason phrase for a status ("Not Found"); "Unknown" for codes not in the table. */
const char *pk__status_reason(int status);
/* Error name used in JSON error bodies for a status ("NotFound"). */
const char *pk__status_error_name(int status);
/* Appends the whole response, with one Connection header: "close" without keep_alive,
 * "keep-alive" for HTTP/1.0 with it; for a 426 "Upgrade" is put in front of those (RFC 9110
 * section 7.8) and Connection lines in extra are dropped. Returns 0 or -ENOMEM. */
int pk__response_write(pk__buf *out, const pk__response *r);
/* 1 when a client's X-Request-Id may be used as the errorId: 1 to PK_REQUEST_ID_MAX bytes, no
 * control characters (bytes below 0x20 and 0x7f). Else the core makes a new id (pk__gen_id). The
 * one rule: the runtime asks it through core.request_id. */
#define PK_REQUEST_ID_MAX 200
int pk__request_id_valid(const char *id, size_t n);
/* Appends {"name":...,"message":...,"errorId":...} for a core-generated error. */
int pk__error_body(pk__buf *out, int status, const char *message, const char *error_id, size_t id_len);
#endif
