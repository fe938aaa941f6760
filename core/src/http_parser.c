/* http_parser.c: llhttp callbacks that collect a request and enforce header, URI and body limits. */
#include "http_parser.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ascii_case.h"
#include "multipart.h"

void pk__limits_default(pk__limits *l) {
  l->max_header = 16384;
  l->max_body = 1048576;
  l->max_uri = 8192;
  l->header_timeout_ms = 10000;
  l->body_timeout_ms = 30000;
  l->idle_timeout_ms = 60000;
  l->drain_timeout_ms = 30000;
  l->ws_max_message = 1048576;
  l->ws_send_buffer = 4194304;
  l->ws_ping_ms = 30000;
  l->worker_timeout_ms = 30000;
  l->max_input_buffer = 64ull * 1024 * 1024;
}

/* A body buffer bigger than this (or grown for a Content-Length over it) is freed once its request
 * was handed on or refused, so a keep-alive connection that once sent a big body does not keep the
 * memory while it idles. */
#define BODY_KEEP 16384
#define BUSY_MESSAGE "Server busy: the worker's memory for request bodies is in use (try again later)"

static pk__http_parser *P(llhttp_t *ll) { return (pk__http_parser *)ll->data; }

static int fail(pk__http_parser *p, int status, const char *msg);

static void release_body(pk__http_parser *p) {
  if (p->req.body.len > BODY_KEEP || p->req.content_length > BODY_KEEP) pk__buf_free(&p->req.body);
  else pk__buf_reset(&p->req.body);
  pk__input_release(p->budget, &p->reserved);
  pk__multipart_free(p->mp);   /* a body not handed on: its temporary files go */
  p->mp = NULL;
  p->mp_seen = 0;
}

struct pk__multipart *pk__http_parser_take_upload(pk__http_parser *p) {
  struct pk__multipart *m = p->mp;
  p->mp = NULL;
  return m;
}

/* A multipart/form-data body to parse as it arrives (the owner allowed it): the parser, and what
 * it holds in memory reserved instead of the whole Content-Length. 1 when there is one, 0 not,
 * -1 failed (answered). */
static int start_upload(pk__http_parser *p, pk__request *r) {
  size_t n, blen;
  const char *ct = pk__request_header(r, "content-type", 12, &n), *b;
  int kind = ct ? pk__multipart_boundary(ct, n, &b, &blen) : 0;
  if (kind == 0) return 0;
  if (kind < 0) return fail(p, 400, "multipart/form-data without a usable boundary parameter");
  static const char *tmp;
  if (!tmp) { tmp = getenv("TMPDIR"); if (!tmp || !*tmp) tmp = "/tmp"; }
  p->mp = pk__multipart_new(b, blen, p->upload_dir ? p->upload_dir : tmp);
  if (!p->mp) return fail(p, 503, "Out of memory");
  return 1;
}

/* The multipart parser holds this much now: its share of the budget (503 when over). */
static int reserve_upload(pk__http_parser *p) {
  size_t want = pk__multipart_memory(p->mp);
  if (want > p->reserved && pk__input_reserve(p->budget, &p->reserved, want)) return fail(p, 503, BUSY_MESSAGE);
  return 0;
}

void pk__http_parser_drop_body(pk__http_parser *p) { release_body(p); }

/* Every error closes the connection: the body read so far is of no use any more. */
static int fail(pk__http_parser *p, int status, const char *msg) {
  if (!p->error_status) { p->error_status = status; p->error_message = msg; }
  release_body(p);
  return -1;
}

/* Bodies are buffered in memory, under the worker's budget: room for the body to reach total
 * bytes is reserved before its bytes are read (the whole Content-Length once the head is
 * complete; a chunked body chunk by chunk, by each chunk's announced size), and the buffer is
 * grown to it at once. Over the budget: 503. */
static int reserve_body(pk__http_parser *p, uint64_t total) {
  if (pk__input_reserve(p->budget, &p->reserved, total)) return fail(p, 503, BUSY_MESSAGE);
  if (total > p->req.body.len && pk__buf_reserve(&p->req.body, (size_t)(total - p->req.body.len)))
    return fail(p, 503, "Out of memory");
  return 0;
}

static int on_message_begin(llhttp_t *ll) {
  pk__http_parser *p = P(ll);
  pk__request *r = &p->req;
  pk__buf_reset(&r->head);
  release_body(p);
  r->url_len = 0;
  r->nheaders = 0;
  r->expect_continue = 0;
  r->upgrade = 0;
  r->content_length = -1;
  p->last_was_value = 1;
  p->value_done = 0;
  p->state = PK_PS_HEADERS;
  p->url_end = p->value_end = NULL;   /* not the previous request's, in the same read */
  p->begun++;
  return 0;
}

static int append_head(pk__http_parser *p, const char *at, size_t len) {
  if (p->req.head.len + len > p->limits->max_header)
    return fail(p, 431, "Request header fields too large");
  if (pk__buf_append(&p->req.head, at, len)) return fail(p, 503, "Out of memory");
  return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len) {
  pk__http_parser *p = P(ll);
  if (p->req.url_len + len > p->limits->max_uri) return fail(p, 414, "URI too long");
  if (append_head(p, at, len)) return -1;
  p->req.url_len += (uint32_t)len;
  p->url_end = at + len;
  return 0;
}

/* llhttp 6 in strict mode still takes a bare LF as the end of the request line and of the head;
 * a proxy in front that does not would see other requests than we do (smuggling). Where the
 * bytes are at hand (the head arrived in one read, as it nearly always does), they are checked:
 * after the URL " HTTP/1.x\r\n", after the last value (and its trailing blanks) "\r\n\r\n". */
static int crlf_at(const pk__http_parser *p, const char *q, int lines) {
  for (int i = 0; i < 2 * lines; i++, q++) {
    if (q >= p->feed_end) return 1;             /* not here: nothing to say */
    if (*q != (i % 2 ? '\n' : '\r')) return 0;
  }
  return 1;
}

static int head_ends_ok(pk__http_parser *p) {
  if (p->value_end) {
    const char *q = p->value_end;
    while (q < p->feed_end && (*q == ' ' || *q == '\t')) q++;
    if (!crlf_at(p, q, 2)) return 0;
  }
  if (p->url_end && p->url_end + 9 <= p->feed_end && p->url_end[0] == ' ') {
    if (!crlf_at(p, p->url_end + 9, p->req.nheaders == 0 ? 2 : 1)) return 0;
  }
  return 1;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len) {
  pk__http_parser *p = P(ll);
  p->value_end = NULL;   /* a header with an empty value has no value_end of its own */
  pk__request *r = &p->req;
  if (p->last_was_value) {
    if (r->nheaders == PK_MAX_HEADERS) return fail(p, 431, "Too many header fields");
    pk__header *h = &r->headers[r->nheaders++];
    h->name_off = (uint32_t)r->head.len;
    h->name_len = 0;
    h->value_off = 0;
    h->value_len = 0;
    p->last_was_value = 0;
    p->value_done = 0;
  }
  if (append_head(p, at, len)) return -1;
  r->headers[r->nheaders - 1].name_len += (uint32_t)len;
  return 0;
}

/* After a line end and blanks only: at (a value's bytes, which llhttp hands over without the
 * blanks before them) follows an obs-fold, a header line continued on the next one. */
static int after_line_end(const pk__http_parser *p, const char *at) {
  const char *q = at;
  while (q > p->feed_start && (q[-1] == ' ' || q[-1] == '\t')) q--;
  return q == p->feed_start ? p->tail_line_end : q[-1] == '\n';
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len) {
  pk__http_parser *p = P(ll);
  pk__request *r = &p->req;
  /* llhttp joins an obs-fold to the value; it is refused instead, as RFC 9112 section 5.2 allows
   * and nginx does ("Transfer-Encoding:\r\n chunked" must not frame a body as chunked) */
  if (len && after_line_end(p, at)) return fail(p, 400, "Obsolete line folding (obs-fold) in a header");
  /* a value after a complete one, with no name between: a line such as ": b" (empty name) */
  if (p->value_done || r->nheaders == 0) return fail(p, 400, "Empty header name");
  pk__header *h = &r->headers[r->nheaders - 1];
  if (!p->last_was_value) {
    if (h->name_len == 0) return fail(p, 400, "Empty header name");
    h->value_off = (uint32_t)r->head.len;
    p->last_was_value = 1;
  }
  if (append_head(p, at, len)) return -1;
  h->value_len += (uint32_t)len;
  p->value_end = at + len;
  return 0;
}

/* The value ends before trailing spaces and tabs (RFC 9110 section 5.5: they are not part of it);
 * llhttp has already skipped the leading ones. */
static int on_header_value_complete(llhttp_t *ll) {
  pk__http_parser *p = P(ll);
  pk__request *r = &p->req;
  p->value_done = 1;
  if (p->last_was_value && r->nheaders > 0) {
    pk__header *h = &r->headers[r->nheaders - 1];
    const char *v = r->head.data + h->value_off;
    while (h->value_len && (v[h->value_len - 1] == ' ' || v[h->value_len - 1] == '\t')) h->value_len--;
  }
  return 0;
}

/* Transfer-Encoding other than "chunked" alone (gzip, chunked...) is not decoded here: 501
 * (RFC 9112 section 6.1), rather than passing compressed bytes on as the body. */
static int transfer_coding_ok(const char *v, size_t n) {
  if (!v) return 1;
  while (n && (*v == ' ' || *v == '\t')) { v++; n--; }
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

static int on_headers_complete(llhttp_t *ll) {
  pk__http_parser *p = P(ll);
  pk__request *r = &p->req;
  if (ll->http_major != 1) return fail(p, 505, "HTTP version not supported");
  if (!head_ends_ok(p)) return fail(p, 400, "Bare LF as a line end (send CRLF)");
  r->method = ll->method;
  p->state = PK_PS_BODY;   /* the head is complete (the access log names the method from here on) */
  r->http_minor = ll->http_minor;
  r->keep_alive = llhttp_should_keep_alive(ll);
  r->upgrade = ll->upgrade;
  size_t ten;
  const char *te = pk__request_header(r, "transfer-encoding", 17, &ten);
  if (!transfer_coding_ok(te, ten)) return fail(p, 501, "Transfer-Encoding not implemented (only chunked)");
  /* RFC 9112 6.1: an HTTP/1.0 request with Transfer-Encoding is read, then the connection closes
   * (an HTTP/1.0 hop before us may have framed it otherwise) */
  if (te && r->http_minor == 0) r->keep_alive = 0;
  p->max_body = p->limits->max_body;
  p->upload = 0;
  int has_body = (ll->flags & F_CONTENT_LENGTH) ? ll->content_length > 0 : te != NULL;
  if (has_body && p->on_head) p->on_head(p, r);   /* a route's own limit; uploads streamed */
  int upload = has_body && p->upload ? start_upload(p, r) : 0;
  if (upload < 0) return -1;
  if (ll->flags & F_CONTENT_LENGTH) {
    r->content_length = (int64_t)ll->content_length;
    if (ll->content_length > p->max_body) return fail(p, 413, "Payload too large");
    /* before any 100 Continue; an upload reserves what its parser holds, as it grows */
    if (ll->content_length && !upload && reserve_body(p, ll->content_length)) return -1;
  }
  size_t n;
  const char *v = pk__request_header(r, "expect", 6, &n);
  if (v) {
    if (n == 12 && strncasecmp(v, "100-continue", 12) == 0) {
      if (r->http_minor >= 1 && p->on_continue) p->on_continue(p);
      r->expect_continue = 1;
    } else {
      return fail(p, 417, "Unsupported expectation");
    }
  }
  p->state = PK_PS_BODY;
  return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len) {
  pk__http_parser *p = P(ll);
  if (p->mp) {                 /* an upload: parsed now, file parts written as they come */
    if (p->mp_seen + len > p->max_body) return fail(p, 413, "Payload too large");
    p->mp_seen += len;
    const char *why;
    int status = pk__multipart_feed(p->mp, at, len, &why);
    if (status) return fail(p, status, why);
    return reserve_upload(p);
  }
  if (p->req.body.len + len > p->max_body) return fail(p, 413, "Payload too large");
  if (pk__buf_append(&p->req.body, at, len)) return fail(p, 503, "Out of memory");
  return 0;
}

/* A chunk announced bigger than what the body may still take: 413 now, not after its bytes. */
static int on_chunk_header(llhttp_t *ll) {
  pk__http_parser *p = P(ll);
  uint64_t seen = p->mp ? p->mp_seen : p->req.body.len;
  if (ll->content_length > p->max_body - seen) return fail(p, 413, "Payload too large");
  if (ll->content_length && !p->mp && reserve_body(p, p->req.body.len + ll->content_length)) return -1;
  return 0;
}

static int on_message_complete(llhttp_t *ll) {
  pk__http_parser *p = P(ll);
  if (p->mp) {
    const char *why;
    int status = pk__multipart_finish(p->mp, &why);
    if (status) return fail(p, status, why);
  }
  p->state = PK_PS_HANDLER;
  int later = p->on_request ? p->on_request(p, &p->req) : 0;
  release_body(p);   /* handed on (the handler has its own copy): its share of the budget goes back */
  if (later) return HPE_PAUSED;
  if (p->state == PK_PS_HANDLER) p->state = PK_PS_IDLE;
  return 0;
}

void pk__http_parser_init(pk__http_parser *p, const pk__limits *l, pk__on_request cb,
                          pk__on_continue cont, void *data) {
  memset(p, 0, sizeof *p);
  llhttp_settings_init(&p->settings);
  p->settings.on_message_begin = on_message_begin;
  p->settings.on_url = on_url;
  p->settings.on_header_field = on_header_field;
  p->settings.on_header_value = on_header_value;
  p->settings.on_header_value_complete = on_header_value_complete;
  p->settings.on_chunk_header = on_chunk_header;
  p->settings.on_headers_complete = on_headers_complete;
  p->settings.on_body = on_body;
  p->settings.on_message_complete = on_message_complete;
  llhttp_init(&p->ll, HTTP_REQUEST, &p->settings);
  p->ll.data = p;
  p->limits = l;
  p->on_request = cb;
  p->on_continue = cont;
  p->data = data;
  p->state = PK_PS_IDLE;
  p->max_body = l->max_body;
  pk__buf_init(&p->req.head);
  pk__buf_init(&p->req.body);
}

void pk__http_parser_free(pk__http_parser *p) {
  pk__buf_free(&p->req.head);
  pk__buf_free(&p->req.body);
  pk__input_release(p->budget, &p->reserved);
  pk__multipart_free(p->mp);   /* an upload cut off half-way: its temporary files go */
  p->mp = NULL;
}

static int tchar(unsigned char ch) {   /* RFC 9110 section 5.6.2: the characters of a token */
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* llhttp refused the method at pos: is it a well-formed token ("PURGE /x", "FOO *"), which is
 * 501, rather than bytes that are not HTTP at all (400)? */
static int unknown_method(const char *start, const char *end, const char *pos) {
  const char *b = pos, *f = pos;
  while (b > start && tchar((unsigned char)b[-1])) b--;
  while (f < end && tchar((unsigned char)*f)) f++;
  if (f == b || f + 1 >= end || *f != ' ') return 0;
  if (b > start && b[-1] != '\n') return 0;       /* the method begins a line */
  return f[1] == '/' || f[1] == '*' || (end - f > 8 && strncasecmp(f + 1, "http://", 7) == 0) ||
         (end - f > 9 && strncasecmp(f + 1, "https://", 8) == 0);
}

/* Whether the bytes parsed end with a line end and blanks (a fold may go on in the next ones). */
static void note_tail(pk__http_parser *p, const char *data, size_t len) {
  const char *q = data + len;
  while (q > data && (q[-1] == ' ' || q[-1] == '\t')) q--;
  if (q > data) p->tail_line_end = q[-1] == '\n';
}

int pk__http_parser_feed(pk__http_parser *p, const char *data, size_t len, size_t *used) {
  p->feed_start = data;
  p->feed_end = data + len;
  p->url_end = p->value_end = NULL;   /* pointers into earlier reads are gone */
  llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
  if (e == HPE_OK) { *used = len; note_tail(p, data, len); return PK_FEED_OK; }
  const char *pos = llhttp_get_error_pos(&p->ll);
  *used = pos ? (size_t)(pos - data) : len;
  note_tail(p, data, *used);
  if (e == HPE_PAUSED) return PK_FEED_PAUSED;
  if (e == HPE_PAUSED_UPGRADE) {
    /* No upgrade is supported yet: the request was answered like any other and the
     * connection closes after it (keep_alive is forced off by the owner). */
    llhttp_resume_after_upgrade(&p->ll);
    return PK_FEED_PAUSED;
  }
  if (!p->error_status && e == HPE_INVALID_VERSION && pos && pos < data + len && *pos == '\r') {
    p->error_status = 505;            /* a well-formed version llhttp does not speak: HTTP/1.2, HTTP/3.5 */
    p->error_message = "HTTP version not supported";
  }
  if (!p->error_status && e == HPE_INVALID_METHOD && pos && unknown_method(data, data + len, pos)) {
    p->error_status = 501;            /* RFC 9110 section 9.1: a method the server does not know */
    p->error_message = "Method not implemented";
  }
  if (!p->error_status) {
    p->error_status = 400;
    p->error_message = "Malformed HTTP request";
  }
  release_body(p);   /* llhttp's own errors (a bad chunk) come here without fail() */
  return PK_FEED_ERROR;
}

void pk__http_parser_resume(pk__http_parser *p) {
  if (llhttp_get_errno(&p->ll) == HPE_PAUSED) llhttp_resume(&p->ll);
  p->state = PK_PS_IDLE;
}

const char *pk__request_header(const pk__request *r, const char *name, size_t nlen, size_t *len) {
  for (int i = 0; i < r->nheaders; i++) {
    const pk__header *h = &r->headers[i];
    if (h->name_len == nlen && pk__ascii_ieq(r->head.data + h->name_off, name, nlen)) {
      *len = h->value_len;
      return h->value_len ? r->head.data + h->value_off : "";
    }
  }
  return NULL;
}

/* Repeated field lines form one list joined with ", " (RFC 9110 5.3), but Cookie lines are
 * joined with "; " (RFC 6265 5.4), as one Cookie header would carry them. */
const char *pk__header_separator(const char *name, size_t nlen) {
  return nlen == 6 && pk__ascii_ieq(name, "cookie", 6) ? "; " : ", ";
}

const char *pk__request_header_joined(const pk__request *r, const char *name, size_t nlen, size_t *vlen) {
  static pk__buf joined;    /* repeated headers, joined; reused by the next call */
  const char *first = NULL;
  int count = 0;
  for (int i = 0; i < r->nheaders; i++) {
    const pk__header *hd = &r->headers[i];
    if (hd->name_len != nlen || !pk__ascii_ieq(r->head.data + hd->name_off, name, nlen)) continue;
    const char *v = hd->value_len ? r->head.data + hd->value_off : "";
    if (count == 0) { first = v; *vlen = hd->value_len; }
    else {
      if (count == 1) { pk__buf_reset(&joined); pk__buf_append(&joined, first, *vlen); }
      pk__buf_append(&joined, pk__header_separator(name, nlen), 2);
      pk__buf_append(&joined, v, hd->value_len);
    }
    count++;
  }
  if (count > 1) { *vlen = joined.len; return joined.data; }
  return first;
}
