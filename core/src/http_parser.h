/* http_parser.h: HTTP/1.1 request parsing on llhttp, with the size limits applied as bytes arrive. */
#ifndef PK_HTTP_PARSER_H
#define PK_HTTP_PARSER_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <llhttp.h>
#include "buf.h"
#include "input_budget.h"

#define PK_MAX_HEADERS 100

typedef struct pk__limits {
  size_t max_header;            /* request line + headers, bytes -> 431 */
  size_t max_body;              /* body bytes -> 413 */
  size_t max_uri;               /* request target bytes -> 414 */
  uint64_t header_timeout_ms;   /* first byte to end of headers -> 408 */
  uint64_t body_timeout_ms;     /* end of headers to end of body -> 408; a WebSocket message's
                                   first frame to its end -> close 1008 (ws_conn.c) */
  uint64_t idle_timeout_ms;     /* keep-alive wait for the next request -> close */
  uint64_t drain_timeout_ms;    /* SIGTERM: longest wait for in-flight requests */
  uint64_t ws_max_message;      /* WebSocket message bytes -> close 1009 */
  uint64_t ws_send_buffer;      /* WebSocket bytes queued to a client that does not read -> close 1008 */
  uint64_t ws_ping_ms;          /* WebSocket idle time before a server ping; no answer in as long -> close */
  uint64_t worker_timeout_ms;   /* a worker whose loop is stuck this long is killed and restarted (0: never) */
  uint64_t max_input_buffer;    /* a worker's request bodies being read + partial WebSocket messages,
                                   together -> 503 / close 1013 (input_budget.h) */
} pk__limits;

void pk__limits_default(pk__limits *l);

typedef struct pk__header { uint32_t name_off, name_len, value_off, value_len; } pk__header;

typedef struct pk__request {
  pk__buf head;                 /* URL, then header names and values, back to back */
  uint32_t url_len;             /* URL is head.data[0 .. url_len) */
  pk__header headers[PK_MAX_HEADERS];
  int nheaders;
  pk__buf body;
  int method;                   /* llhttp_method_t */
  int http_minor;               /* 0 or 1 (major is always 1) */
  int keep_alive;
  int expect_continue;
  int upgrade;
  int64_t content_length;       /* -1 when absent */
} pk__request;

enum { PK_PS_IDLE, PK_PS_HEADERS, PK_PS_BODY, PK_PS_HANDLER };
enum { PK_FEED_OK, PK_FEED_PAUSED, PK_FEED_ERROR };

typedef struct pk__http_parser pk__http_parser;
struct pk__multipart;
/* Called when a request's head is complete and a body may follow: the owner may set max_body (the
 * route's own limit) and upload (a multipart/form-data body is parsed as it arrives, file parts
 * going to temporary files, instead of being buffered whole). */
typedef void (*pk__on_head)(pk__http_parser *p, pk__request *req);
/* Called when a request is complete: return 0 if it was answered already, 1 if the answer comes
 * later (the parser then pauses until pk__http_parser_resume). */
typedef int (*pk__on_request)(pk__http_parser *p, pk__request *req);
/* Called when headers ask for "Expect: 100-continue" and the body is within limits and its
 * Content-Length has been reserved (an over-budget body gets its 503 without a 100 Continue). */
typedef void (*pk__on_continue)(pk__http_parser *p);

struct pk__http_parser {
  llhttp_t ll;                  /* private */
  llhttp_settings_t settings;   /* private */
  pk__request req;              /* read-only: the request being parsed or handled */
  const pk__limits *limits;
  pk__input_budget *budget;     /* public: the budget bodies are read under (NULL: none); set after init */
  uint64_t reserved;            /* private: the body's share of the budget */
  int state;                    /* read-only: PK_PS_* */
  int error_status;             /* read-only: after PK_FEED_ERROR, the status to answer */
  const char *error_message;    /* read-only: after PK_FEED_ERROR */
  int last_was_value;           /* private */
  int value_done;               /* private: the last header value is complete (a new one needs a name) */
  unsigned begun;               /* read-only: requests begun so far */
  const char *feed_start;       /* private: the bytes being fed */
  const char *feed_end;         /* private: the end of the bytes being fed */
  int tail_line_end;            /* private: the bytes fed before ended with a line end and blanks */
  const char *url_end;          /* private: where the URL ended in these bytes (NULL: elsewhere) */
  const char *value_end;        /* private: where the last header value ended in these bytes */
  pk__on_request on_request;
  pk__on_continue on_continue;
  pk__on_head on_head;          /* public: set after init, or NULL */
  uint64_t max_body;            /* public (on_head): this request's body limit; --max-body-size by default */
  int upload;                   /* public (on_head): parse a multipart/form-data body as it arrives */
  const char *upload_dir;       /* public: where file parts go (NULL: $TMPDIR, else /tmp) */
  struct pk__multipart *mp;     /* private: the body's parser (multipart.c), until handed on */
  uint64_t mp_seen;             /* private: bytes of that body so far */
  void *data;                   /* owner's pointer */
};

void pk__http_parser_init(pk__http_parser *p, const pk__limits *l, pk__on_request cb,
                          pk__on_continue cont, void *data);
void pk__http_parser_free(pk__http_parser *p);
/* Parses up to len bytes; *used is how many were consumed. PK_FEED_PAUSED: a request is being
 * handled and the rest must be fed after pk__http_parser_resume. PK_FEED_ERROR: answer
 * error_status and close. */
int pk__http_parser_feed(pk__http_parser *p, const char *data, size_t len, size_t *used);
void pk__http_parser_resume(pk__http_parser *p);
/* Drops the body read so far and gives its share of the budget back (a request refused before its
 * body was all read: the 408 of a stalled body). Bodies are dropped by the parser itself once their
 * request was handed to on_request, and on every error it reports. */
void pk__http_parser_drop_body(pk__http_parser *p);
/* The parsed multipart body of the request being handled (its temporary files are the caller's to
 * remove then, with pk__multipart_free), or NULL when it had none. */
struct pk__multipart *pk__http_parser_take_upload(pk__http_parser *p);

/* Finds a header (case-insensitive). Returns its value and sets *len, or NULL. */
const char *pk__request_header(const pk__request *r, const char *name, size_t nlen, size_t *len);
/* The same, with repeated headers joined into one value (pk__header_separator between them);
 * the value stays valid until the next call. */
const char *pk__request_header_joined(const pk__request *r, const char *name, size_t nlen, size_t *vlen);
/* "; " for Cookie, ", " for every other header: what joins repeated lines of one header. */
const char *pk__header_separator(const char *name, size_t nlen);
static inline const char *pk__request_url(const pk__request *r) { return r->head.data; }
/* How many of a request target's len bytes are its path: those before the first '?'. */
static inline size_t pk__url_path_len(const char *url, size_t len) {
  const char *q = url ? memchr(url, '?', len) : NULL;
  return q ? (size_t)(q - url) : len;
}
#endif
