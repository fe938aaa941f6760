/* http_conn.c: HTTP connections of a worker: reading, parsing, routing, answering, timeouts, closing. */
#include "http_conn.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <strings.h>
#include <unistd.h>
#include "abandon.h"
#include "ascii_case.h"
#include "arrival.h"
#include "call_guard.h"
#include "clock.h"
#include "date_cache.h"
#include "dev_page.h"
#include "http_file.h"
#include "http_stream.h"
#include "http_response.h"
#include "log.h"
#include "metrics.h"
#include "multipart.h"
#include "route_settings.h"
#include "path_normalize.h"
#include "request_target.h"
#include "traceparent.h"
#include "router.h"
#include "static_files.h"
#include "worker.h"
#include "ws_conn.h"
#include "ws_handshake.h"

#define READ_BUF_SIZE 65536
#define OUT_HIGH_WATER (256 * 1024)
#define HEALTH_PATH "/_pikku/health"
#define METRICS_PATH "/_pikku/metrics"   /* served only under serve --metrics (metrics.c) */
#define LINGER_MS 2000   /* after an error answer, how long unread input is drained before closing */

static char read_buf[READ_BUF_SIZE];
static const char health_body[] = "{\"status\":\"ok\"}";

/* ---- ids and handles ------------------------------------------------------------------------ */

/* A random seed from the kernel (uv_random, synchronous: getrandom(2)), or, if it has none to give,
 * the clock mixed with the process id. */
static uint64_t random_seed(void) {
  uint64_t r;
  if (uv_random(NULL, NULL, &r, sizeof r, 0, NULL)) r = pk__clock_ns() ^ ((uint64_t)getpid() << 16);
  return r;
}

size_t pk__gen_id(char *buf) {
  static uint64_t seed, counter;
  static const char hex[] = "0123456789abcdef";
  if (!seed) seed = random_seed() | 1;
  uint64_t a = seed, b = ++counter;
  b ^= b >> 33; b *= 0xff51afd7ed558ccdULL; b ^= b >> 33;   /* spread the counter's bits */
  for (int i = 0; i < 16; i++) buf[i] = hex[(a >> (60 - 4 * i)) & 15];
  for (int i = 0; i < 16; i++) buf[16 + i] = hex[((b ^ counter) >> (60 - 4 * i)) & 15];
  buf[32] = 0;
  return 32;
}

const char *pk__error_id(const char *client_id, size_t n, char *gen, size_t *len) {
  if (pk__request_id_valid(client_id, n)) { *len = n; return client_id; }
  *len = pk__gen_id(gen);
  return gen;
}

/* A handle (an HTTP request's, or a channel's cid: the same numbers) is
 *   (serial << (WORKER_BITS + SLOT_BITS)) | (worker id << SLOT_BITS) | slot
 * so that it names its connection's slot (found without a search), is unique among the workers
 * of a server (a cid crosses workers in a publish's exclude), and is an exact integer in a double
 * (Lua's number): 22 + 11 + 20 = 53 bits. The serial counts per slot, so an old handle of a slot
 * matches again only after 2^22 uses of that very slot; it starts at a random value in each
 * worker process, so a worker restarted by the master does not hand out its predecessor's ids
 * (a message from the old worker still in the hub, excluding one of its ids, would otherwise skip
 * a new connection). */
#define SLOT_BITS 20                    /* slots per worker: 2^20 connections */
#define WORKER_BITS 11                  /* worker ids 1..2047 (--workers is at most 1024) */
#define SERIAL_BITS 22
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define SERIAL_MASK ((1u << SERIAL_BITS) - 1)
#define HANDLE_LIMIT 9007199254740992.0 /* 2^53 */

static uint32_t serial_base(void) {
  static uint32_t base;
  if (!base) base = ((uint32_t)random_seed() & SERIAL_MASK) | 1;
  return base;
}

double pk__conn_new_handle(pk__conn *c) {
  pk__worker *w = pk__W;
  uint32_t serial = (w->serials[c->slot] + 1) & SERIAL_MASK;
  if (!serial) serial = 1;
  w->serials[c->slot] = serial;
  uint64_t h = ((uint64_t)serial << (WORKER_BITS + SLOT_BITS)) |
               ((uint64_t)((unsigned)w->id & ((1u << WORKER_BITS) - 1)) << SLOT_BITS) | c->slot;
  return (double)h;
}

static pk__conn *slot_of(double handle) {
  if (!(handle > 0 && handle < HANDLE_LIMIT) || !pk__W) return NULL;
  uint32_t slot = (uint32_t)((uint64_t)handle & SLOT_MASK);
  return slot < pk__W->nslots ? pk__W->slots[slot] : NULL;
}

pk__conn *pk__conn_from_handle(double handle) {
  pk__conn *c = slot_of(handle);
  return c && c->req_handle == handle ? c : NULL;
}

pk__conn *pk__conn_from_cid(double cid) {
  pk__conn *c = slot_of(cid);
  return c && c->ws && c->ws->cid == cid && !c->closing ? c : NULL;
}

static int take_slot(pk__conn *c) {
  pk__worker *w = pk__W;
  for (uint32_t i = 0; i < w->nslots; i++) {
    uint32_t s = (w->free_slot_hint + i) % w->nslots;
    if (!w->slots[s]) { w->slots[s] = c; c->slot = s; w->free_slot_hint = s + 1; return 0; }
  }
  if (w->nslots >= (1u << SLOT_BITS)) return -EMFILE;
  uint32_t n = w->nslots ? w->nslots * 2 : 1024;
  uint32_t *sp = realloc(w->serials, sizeof *sp * n);
  if (!sp) return -ENOMEM;
  w->serials = sp;
  uint32_t base = serial_base();
  for (uint32_t i = w->nslots; i < n; i++) sp[i] = base;
  pk__conn **p = realloc(w->slots, sizeof *p * n);
  if (!p) return -ENOMEM;
  memset(p + w->nslots, 0, sizeof *p * (n - w->nslots));
  w->slots = p;
  c->slot = w->nslots;
  p[w->nslots] = c;
  w->free_slot_hint = w->nslots + 1;
  w->nslots = n;
  return 0;
}

/* ---- output ------------------------------------------------------------------------------- */

void pk__conn_queue_flush(pk__conn *c) {
  if (c->queued_flush || c->closing) return;
  c->queued_flush = 1;
  c->flush_next = pk__W->flush_list;
  pk__W->flush_list = c;
}

static void queue_resume(pk__conn *c) {
  if (c->queued_resume || c->closing) return;
  c->queued_resume = 1;
  c->resume_next = pk__W->resume_list;
  pk__W->resume_list = c;
}

static void on_close(uv_handle_t *h) {
  pk__conn *c = (pk__conn *)h->data;
  pk__http_parser_free(&c->parser);   /* and the body's share of the input budget */
  pk__buf_free(&c->out);
  pk__buf_free(&c->pending_in);
  pk__input_release(&pk__W->input, &c->pending_held);
  free(c);
}

void pk__conn_close(pk__conn *c) {
  if (c->closing) return;
  pk__worker *w = pk__W;
  c->closing = 1;
  if (c->ws) pk__ws_closed(c);
  pk__file_free(c);
  if (c->stream) pk__stream_closed(c);
  pk__multipart_free(c->uploads);   /* the request's temporary files go with it */
  c->uploads = NULL;
  if (c->req_host && c->req_handle)   /* its call's outbound operation is cancelled */
    pk__abandon_later(c->req_host, c->req_handle, w->drain_expired ? PK_ABANDON_DRAIN : PK_ABANDON_GONE);
  if (c->req_host) { pk__host_unref(c->req_host); c->req_host = NULL; }
  c->req_handle = 0;
  w->slots[c->slot] = NULL;
  if (c->prev) c->prev->next = c->next; else w->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  w->nconns--;
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

typedef struct { uv_write_t req; pk__conn *c; size_t len; char data[]; } write_req;

static void start_reading(pk__conn *c);

static void on_write(uv_write_t *req, int status) {
  write_req *wr = (write_req *)req;
  pk__conn *c = wr->c;
  free(wr);
  if (c->closing) return;
  c->writing = 0;
  if (status < 0) { pk__conn_close(c); return; }
  if (c->out.len || c->close_after || c->file) pk__conn_queue_flush(c);
  if (c->throttled && c->out.len < OUT_HIGH_WATER) { c->throttled = 0; queue_resume(c); }
  if (c->stream && !c->out.len) pk__stream_drained(c);
}

/* Lingering close: a client still sending (an over-limit body, say) would get a reset that can
 * destroy the error answer in flight if we closed at once. So: shut down our side, read and drop
 * what still arrives until the client closes or LINGER_MS pass, then close. */
static void on_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread < 0) pk__conn_close((pk__conn *)s->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void on_shutdown(uv_shutdown_t *req, int status) {
  pk__conn *c = req->data;
  if (c->closing) return;
  if (status < 0) pk__conn_close(c);
}

static void start_linger(pk__conn *c) {
  c->lingering = 1;
  c->deadline_ms = pk__worker_now_ms() + LINGER_MS;
  c->shutdown_req.data = c;
  /* a WebSocket is still reading (uv_read_start would fail with EALREADY, and closing at once with
   * the client's bytes unread resets the connection: the close frame just written is lost) */
  uv_read_stop((uv_stream_t *)&c->tcp);
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read))
    pk__conn_close(c);
}

static void flush(pk__conn *c) {
  for (;;) {
    if (c->closing || c->writing) return;
    if (!c->out.len && c->file) {   /* a file body: sendfile, or its next piece into out (http_file.c) */
      if (pk__file_continue(c)) { pk__conn_close(c); return; }
      if (!c->file) queue_resume(c);   /* sent: the next request may be parsed */
    }
    if (!c->out.len) break;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN) n = 0;
    if (n < 0) { pk__conn_close(c); return; }
    pk__buf_consume(&c->out, (size_t)n);
    if (n) c->out_taken++;
    if (c->out.len) {
      write_req *wr = malloc(sizeof *wr + c->out.len);
      if (!wr) { pk__conn_close(c); return; }
      wr->c = c;
      wr->len = c->out.len;
      memcpy(wr->data, c->out.data, c->out.len);
      pk__buf_reset(&c->out);
      c->out_taken++;
      uv_buf_t rb = uv_buf_init(wr->data, (unsigned)wr->len);
      if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &rb, 1, on_write)) { free(wr); pk__conn_close(c); return; }
      c->writing = 1;
      return;
    }
    if (!c->file) break;            /* all written at once; a file body goes on */
  }
  /* all written at once (no on_write will come): a connection stopped for its backlog reads again */
  if (c->throttled) { c->throttled = 0; queue_resume(c); }
  if (c->stream) pk__stream_drained(c);
  if (c->close_after && !c->lingering) {
    if (c->linger) start_linger(c);
    else pk__conn_close(c);
  }
}

/* Mid-turn (a burst bigger than the send buffer): how many of out's first bytes the kernel takes
 * now, without waiting. Only what uv_try_write takes at once; it takes nothing while libuv still
 * holds bytes of an earlier write, so the order is kept. Nothing is closed here: an error counts
 * as nothing taken and shows again at the end of the turn's flush. The bytes taken are still in
 * out: the caller drops them (pk__buf_consume, out_taken++). */
size_t pk__conn_try_write(pk__conn *c) {
  if (c->closing || !c->out.len) return 0;
  size_t len = c->out.len < (1u << 30) ? c->out.len : (1u << 30);
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)len);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  return n > 0 ? (size_t)n : 0;
}

/* Bytes queued for the connection that the kernel has not taken yet: in out, and in libuv's
 * write queue (what a write in flight still holds; libuv counts down as the kernel takes them). */
size_t pk__conn_unsent(pk__conn *c) {
  return c->out.len + (c->closing ? 0 : uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
}

/* ---- answering ------------------------------------------------------------------------------ */

/* The request's route for metrics: its label and the cache of its slot (metrics.c). */
static void count_request(pk__conn *c, int status, double ms) {
  static int unmatched = -1, health = -1, metrics = -1;
  pk__host *h = c->req_host ? c->req_host : pk__W->host;
  pk__route_settings *rs = c->route_index > 0 ? pk__route_settings_of(h, c->route_index) : NULL;
  if (rs && rs->label) pk__metrics_request(rs->label, &rs->metric_slot, status, ms);
  else if (c->route_index == -1) pk__metrics_request("GET " HEALTH_PATH, &health, status, ms);
  else if (c->route_index == -2) pk__metrics_request("GET " METRICS_PATH, &metrics, status, ms);
  else pk__metrics_request(NULL, &unmatched, status, ms);
}

void pk__conn_access_log(pk__conn *c, int status, const char *error_id, size_t idlen) {
  int counted = pk__metrics_on();
  if (!pk__log_access_enabled() && !counted) return;
  if (counted) {
    count_request(c, status, c->req_start_ns ? (double)(pk__clock_ns() - c->req_start_ns) / 1e6 : 0);
    if (!pk__log_access_enabled()) return;
  }
  pk__request *r = &c->parser.req;
  const char *url = pk__request_url(r);
  size_t plen = r->url_len;
  if (!url || !plen) { url = "-"; plen = 1; }    /* an error before any byte of the target */
  plen = pk__url_path_len(url, plen);
  /* before its head was complete a request has no method yet (r->method is the last one's) */
  int head_done = c->parser.state != PK_PS_HEADERS && c->parser.state != PK_PS_IDLE;
  const char *method = head_done ? llhttp_method_name((llhttp_method_t)r->method) : "-";
  double ms = c->req_start_ns ? (double)(pk__clock_ns() - c->req_start_ns) / 1e6 : 0;
  pk__log_access(method, url, plen, status, ms, error_id, idlen);
}

void pk__conn_write(pk__conn *c, int status, const char *body, size_t blen, const char *ct, size_t ctlen,
                    const char *extra, size_t elen, int stream) {
  pk__request *r = &c->parser.req;
  if (pk__W->draining) c->keep_alive = 0;
  pk__response resp = {
    .status = status, .content_type = ct, .content_type_len = ctlen, .extra = extra, .extra_len = elen,
    .body = body, .body_len = blen, .keep_alive = c->keep_alive, .http10 = r->http_minor == 0,
    .head = r->method == HTTP_HEAD, .stream = stream,
  };
  if (pk__response_write(&c->out, &resp)) { pk__conn_close(c); return; }
  if (!c->keep_alive && !c->stream) c->close_after = 1;   /* a stream closes at its end (http_stream.c) */
  pk__conn_queue_flush(c);
  if (c->out.len > OUT_HIGH_WATER && !c->stream) c->throttled = 1;
}

static void write_response(pk__conn *c, int status, const char *body, size_t blen, const char *ct,
                           size_t ctlen, const char *extra, size_t elen) {
  pk__conn_write(c, status, body, blen, ct, ctlen, extra, elen, 0);
}

/* A response made by the core itself: an error body in Pikku's shape. */
void pk__conn_respond_error(pk__conn *c, int status, const char *message, const char *extra, size_t elen) {
  pk__request *r = &c->parser.req;
  char gen[33];
  size_t idlen;
  size_t tplen;
  const char *id = pk__request_header(r, "x-request-id", 12, &idlen);
  const char *tp = pk__request_header(r, "traceparent", 11, &tplen);
  id = pk__call_id(id, id ? idlen : 0, tp, tp ? tplen : 0, gen, &idlen);
  pk__buf body;
  pk__buf_init(&body);
  if (pk__error_body(&body, status, message, id, idlen)) { pk__buf_free(&body); pk__conn_close(c); return; }
  write_response(c, status, body.data, body.len, "application/json", 16, extra, elen);
  pk__conn_access_log(c, status, id, idlen);
  pk__buf_free(&body);
}

int pk__conn_has_uploads(double handle) {
  pk__conn *c = pk__conn_from_handle(handle);
  return c && c->uploads;
}

pk__conn *pk__conn_of_request(double handle) {
  pk__conn *c = pk__conn_from_handle(handle);
  return c && !c->upgraded ? c : NULL;      /* a cid during channel_open is no request to answer */
}

void pk__conn_request_done(pk__conn *c, int status, const char *error_id, size_t idlen, int logged) {
  c->req_handle = 0;
  pk__multipart_free(c->uploads);   /* the call is answered: its uploaded files are removed */
  c->uploads = NULL;
  if (!logged) pk__conn_access_log(c, status, error_id, idlen);
  if (c->req_host) { pk__host_unref(c->req_host); c->req_host = NULL; }
  if (!c->in_parser && !c->file) queue_resume(c);   /* the parser was paused for this request */
}

int pk__conn_respond(double handle, int status, const char *body, size_t blen, const char *ct, size_t ctlen,
                     const char *extra, size_t elen, const char *error_id, size_t idlen) {
  pk__conn *c = pk__conn_of_request(handle);
  if (!c || c->stream) return -ENOENT;       /* a stream's answer began already */
  c->req_handle = 0;
  write_response(c, status, body, blen, ct, ctlen, extra, elen);
  pk__conn_request_done(c, status, error_id, idlen, 0);
  return 0;
}

/* ---- requests ------------------------------------------------------------------------------- */

static void on_continue(pk__http_parser *p) {
  pk__conn *c = p->data;
  pk__buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
  flush(c);
}

/* A CORS preflight for a known path: answered here, without Lua. Returns 1 if answered. */
static int preflight(pk__conn *c, pk__request *r, const pk__cors *cors, const pk__router *router,
                     const char *path, size_t plen) {
  size_t olen, mlen, hlen;
  const char *origin = pk__request_header(r, "origin", 6, &olen);
  const char *method = pk__request_header(r, "access-control-request-method", 29, &mlen);
  if (!origin || !method) return 0;
  const char *req_headers = pk__request_header(r, "access-control-request-headers", 30, &hlen);
  char wired[96];
  pk__router_path_methods(router, path, plen, wired, sizeof wired);
  pk__buf extra;
  pk__buf_init(&extra);
  if (pk__cors_preflight_headers(cors, &extra, origin, olen, req_headers, req_headers ? hlen : 0, wired)) {
    pk__buf_free(&extra);
    pk__conn_close(c);
    return 1;
  }
  write_response(c, 204, NULL, 0, NULL, 0, extra.data, extra.len);
  pk__conn_access_log(c, 204, NULL, 0);
  pk__buf_free(&extra);
  return 1;
}

/* OPTIONS answered by the core (RFC 9110 section 9.3.7): 204 with the methods allowed. */
static void answer_options(pk__conn *c, unsigned allow) {
  char methods[96], extra[128];
  pk__router_allow_str(allow | (1u << PK_OPTIONS), methods, sizeof methods);
  int n = snprintf(extra, sizeof extra, "Allow: %s\r\n", methods);
  write_response(c, 204, NULL, 0, NULL, 0, extra, (size_t)n);
  pk__conn_access_log(c, 204, NULL, 0);
}

/* A request's head is complete and a body follows: the route's own body limit, and whether a
 * multipart/form-data body is parsed as it arrives (an HTTP route that does not take the raw
 * body). The route is looked up only when it matters: an upload, or an app with route limits. */
static void on_head(pk__http_parser *p, pk__request *r) {
  pk__host *h = pk__W->host;
  size_t n;
  const char *ct = pk__request_header(r, "content-type", 12, &n);
  while (ct && n && (*ct == ' ' || *ct == '\t')) { ct++; n--; }
  int multipart = ct && n >= 19 && pk__ascii_ieq(ct, "multipart/form-data", 19);
  if (!multipart && !h->body_limits) return;
  const char *url = r->head.data, *np;
  size_t ulen = r->url_len, nlen;
  const char *hash = ulen ? memchr(url, '#', ulen) : NULL;
  if (hash) ulen = (size_t)(hash - url);
  if (!ulen || url[0] != '/') return;   /* absolute-form: --max-body-size (rare: proxies) */
  static pk__buf scratch;
  if (pk__path_normalize(url, ulen, &scratch, &np, &nlen)) return;   /* a 400 follows */
  const char *q = memchr(np, '?', nlen);
  const char *mname = llhttp_method_name((llhttp_method_t)r->method);
  int mid = pk__method_id(mname, strlen(mname));
  pk__route_match m;
  if (pk__router_match(h->router, mid, np, q ? (size_t)(q - np) : nlen, &m) <= 0) return;
  int kind = pk__host_route_kind(h, m.index);
  if (kind != PK_ROUTE_HTTP && kind != PK_ROUTE_HTTP_CHANNEL) return;
  pk__route_settings *rs = pk__route_settings_of(h, m.index);
  if (rs && rs->max_body) p->max_body = rs->max_body;
  p->upload = multipart && !(rs && rs->raw_body) && mid != PK_GET && mid != PK_HEAD && mid != PK_DELETE;
}

/* Whether a request's Upgrade header lists websocket: on a GET route that shares its path with a
 * channel, such a request opens the channel and every other one is the route's. */
static int asks_websocket(const pk__request *r) {
  size_t n;
  const char *v = pk__request_header_joined(r, "upgrade", 7, &n);
  return v && pk__ws_list_has(v, n, "websocket", 9);
}

/* After an answer written at once: 1 (parse nothing more) when the connection closes after it,
 * so bytes that follow a "Connection: close" request get no answer of their own. */
static int answered(const pk__conn *c) { return c->close_after || c->closing; }

/* Returns 1 to pause the parser right after this request: a handler answers later, or nothing
 * after this request may be parsed on this connection (it closes after the answer, or it is a
 * WebSocket or an event stream now); feed() sorts out which. */
static int on_request(pk__http_parser *p, pk__request *r) {
  pk__conn *c = p->data;
  pk__worker *w = pk__W;
  if (c->upgraded || c->close_after || c->closing) return 1;
  c->keep_alive = r->keep_alive && !r->upgrade && !w->draining;
  const char *url;
  size_t ulen;
  const char *bad = pk__target_origin(r->head.data, r->url_len, &url, &ulen);
  /* dot segments removed before routing: no param can hold ".." as a segment (path_normalize.c) */
  static pk__buf normalized;   /* used while this request is routed and dispatched */
  if (!bad) bad = pk__path_normalize(url, ulen, &normalized, &url, &ulen);
  if (bad) {
    c->keep_alive = 0;
    pk__conn_respond_error(c, 400, bad, NULL, 0);
    return answered(c);
  }
  if (ulen == 1 && url[0] == '*') {   /* the server itself: OPTIONS only */
    if (r->method == HTTP_OPTIONS) answer_options(c, (1u << PK_METHODS) - 1);
    else { c->keep_alive = 0; pk__conn_respond_error(c, 400, "Bad request target", NULL, 0); }
    return answered(c);
  }
  /* RFC 9112 section 3.2: exactly one Host in HTTP/1.1, and a valid one in any version */
  int hosts = 0;
  size_t hlen = 0;
  const char *hv = NULL;
  for (int i = 0; i < r->nheaders && hosts < 2; i++)
    if (r->headers[i].name_len == 4 && pk__ascii_ieq(r->head.data + r->headers[i].name_off, "host", 4)) {
      hosts++;
      hv = r->head.data + r->headers[i].value_off;
      hlen = r->headers[i].value_len;
    }
  const char *host_err = hosts > 1                             ? "More than one Host header"
                         : hosts == 0 && r->http_minor >= 1     ? "Missing Host header"
                         : hosts && !pk__host_value_ok(hv, hlen) ? "Invalid Host header"
                                                                : NULL;
  if (host_err) {
    c->keep_alive = 0;
    pk__conn_respond_error(c, 400, host_err, NULL, 0);
    return answered(c);
  }
  const char *q = memchr(url, '?', ulen);
  size_t plen = q ? (size_t)(q - url) : ulen;
  const char *mname = llhttp_method_name((llhttp_method_t)r->method);
  int mid = pk__method_id(mname, strlen(mname));
  c->route_index = 0;
  if (plen == sizeof METRICS_PATH - 1 && pk__metrics_on() && memcmp(url, METRICS_PATH, plen) == 0) {
    c->route_index = -2;
    if (mid == PK_GET || mid == PK_HEAD) {
      pk__buf text;
      pk__buf_init(&text);
      if (pk__metrics_render(&text)) pk__conn_respond_error(c, 503, "Out of memory", NULL, 0);
      else {
        write_response(c, 200, text.data, text.len, PK__METRICS_CONTENT_TYPE, sizeof PK__METRICS_CONTENT_TYPE - 1, NULL, 0);
        pk__conn_access_log(c, 200, NULL, 0);
      }
      pk__buf_free(&text);
    } else {
      pk__conn_respond_error(c, 405, "Method not allowed", "Allow: GET, HEAD\r\n", 18);
    }
    return answered(c);
  }
  if (plen == sizeof HEALTH_PATH - 1 && memcmp(url, HEALTH_PATH, plen) == 0) {
    c->route_index = -1;
    if (mid == PK_GET || mid == PK_HEAD) {
      write_response(c, 200, health_body, sizeof health_body - 1, "application/json", 16, NULL, 0);
      pk__conn_access_log(c, 200, NULL, 0);
    } else if (mid == PK_OPTIONS) {
      answer_options(c, (1u << PK_GET) | (1u << PK_HEAD));
    } else {
      pk__conn_respond_error(c, 405, "Method not allowed", "Allow: GET, HEAD\r\n", 18);
    }
    return answered(c);
  }
  if (pk__dev_page(c, r)) return answered(c);   /* --dev: the last load error, once */
  pk__host *h = w->host;
  pk__route_match m;
  int found = pk__router_match(h->router, mid, url, plen, &m);
  c->route_index = found > 0 ? m.index : 0;
  /* a preflight route is the one pikku.cors adds; an OPTIONS route the app wires itself runs */
  if (mid == PK_OPTIONS && found > 0 && h->cors && pk__host_route_kind(h, m.index) == PK_ROUTE_PREFLIGHT &&
      preflight(c, r, h->cors, h->router, url, plen))
    return answered(c);
  if (found < 0 && mid == PK_OPTIONS) {   /* what the path allows */
    answer_options(c, m.allow);
    return answered(c);
  }
  if (found <= 0) {
    /* the core's own 404/405 carry CORS headers too, so a browser can read them */
    pk__buf extra;
    pk__buf_init(&extra);
    if (found < 0) {
      char allow[96];
      pk__router_allow_str(m.allow, allow, sizeof allow);
      pk__buf_append_str(&extra, "Allow: ");
      pk__buf_append_str(&extra, allow);
      pk__buf_append_str(&extra, "\r\n");
    }
    if (h->cors) {
      size_t olen;
      const char *origin = pk__request_header(r, "origin", 6, &olen);
      pk__cors_response_headers(h->cors, &extra, origin, origin ? olen : 0);
    }
    if (found == 0) pk__conn_respond_error(c, 404, "Route not found", extra.data, extra.len);
    else pk__conn_respond_error(c, 405, "Method not allowed", extra.data, extra.len);
    pk__buf_free(&extra);
    return answered(c);
  }
  int kind = pk__host_route_kind(h, m.index);
  if (kind == PK_ROUTE_STATIC) {     /* files of a directory, answered here (static_files.c) */
    pk__static_serve(c, h, &m, url, plen, q ? ulen - plen : 0);
    return c->file || answered(c) ? 1 : 0;
  }
  if (kind == PK_ROUTE_CHANNEL || (kind == PK_ROUTE_HTTP_CHANNEL && asks_websocket(r))) {
    pk__ws_upgrade(c, r, h, &m, url, plen, q ? q + 1 : NULL, q ? ulen - plen - 1 : 0);
    return 1;          /* upgraded (the rest is frames) or refused (the connection closes) */
  }
  if (kind == PK_ROUTE_SSE && (mid == PK_GET || mid == PK_HEAD)) {
    pk__sse_open(c, r, h, &m, url, plen, q ? q + 1 : NULL, q ? ulen - plen - 1 : 0);
    return 1;          /* an event stream (nothing more is parsed), or a HEAD that closes */
  }
  c->req_handle = pk__conn_new_handle(c);
  c->req_host = h;
  pk__host_ref(h);
  const char *query = q ? q + 1 : NULL;
  size_t qlen = q ? ulen - plen - 1 : 0;
  int ignore_body = mid == PK_GET || mid == PK_HEAD || mid == PK_DELETE;
  const char *body = ignore_body ? NULL : r->body.data;
  size_t blen = ignore_body ? 0 : r->body.len;
  static pk__buf form;   /* a multipart body parsed as it arrived: its fields and files as JSON */
  c->uploads = pk__http_parser_take_upload(p);
  if (c->uploads) {
    pk__buf_reset(&form);
    if (pk__multipart_json(c->uploads, &form)) {
      pk__conn_respond(c->req_handle, 503, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
      return c->close_after || c->closing ? 1 : 0;
    }
    body = form.data;
    blen = form.len;
  }
  int rc = pk__host_dispatch(h, c->req_handle, m.index, mname, url, plen, query, qlen, body, blen, &m);
  if (rc && c->req_handle) {
    pk__conn_respond(c->req_handle, 500, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
  }
  c->call_deadline_ms = c->req_handle ? pk__call_guard_deadline(c->req_handle) : 0;   /* it waits */
  return c->req_handle || c->close_after || c->closing ? 1 : 0;
}

/* ---- input ------------------------------------------------------------------------------------ */

static void set_deadline(pk__conn *c) {
  const pk__limits *l = &pk__W->opts->limits;
  int st = c->parser.state;
  unsigned begun = c->parser.begun;
  if (st == c->deadline_state && begun == c->deadline_req && c->deadline_ms) return;
  c->deadline_state = st;
  c->deadline_req = begun;
  switch (st) {
  case PK_PS_IDLE: c->deadline_ms = pk__worker_now_ms() + l->idle_timeout_ms; break;
  case PK_PS_HEADERS: c->deadline_ms = pk__worker_now_ms() + l->header_timeout_ms; break;
  case PK_PS_BODY: c->deadline_ms = pk__worker_now_ms() + l->body_timeout_ms; break;
  default: c->deadline_ms = 0; break;
  }
}

static void feed_bytes(pk__conn *c, char *data, size_t len) {
  uint64_t arrived = c->arrived_ns ? c->arrived_ns : pk__clock_ns();   /* arrival.c */
  c->arrived_ns = 0;
  while (len > 0 && !c->closing && !c->close_after) {
    size_t used = 0;
    /* a request is timed from the arrival of the bytes it begins in (also one the core refuses
     * before it is complete: 400, 408, 413...) */
    if (c->parser.state == PK_PS_IDLE) { c->req_start_ns = arrived; c->route_index = 0; }
    c->in_parser = 1;
    int rc = pk__http_parser_feed(&c->parser, data, len, &used);
    c->in_parser = 0;
    data += used;
    len -= used;
    if (rc == PK_FEED_ERROR) {
      /* a 503 (the input budget is in use, or memory ran out) passes: the client may try again */
      static const char retry[] = "Retry-After: 5\r\n";
      int busy = c->parser.error_status == 503;
      c->keep_alive = 0;
      c->linger = 1;
      if (c->parser.state != PK_PS_HANDLER)
        pk__conn_respond_error(c, c->parser.error_status, c->parser.error_message, busy ? retry : NULL,
                               busy ? sizeof retry - 1 : 0);
      else
        c->close_after = 1;
      uv_read_stop((uv_stream_t *)&c->tcp);
      return;
    }
    if (rc == PK_FEED_PAUSED) {
      if (c->upgraded) {
        /* The bytes after a WebSocket upgrade request are frames, never HTTP. After the head
         * of an event stream's GET the client has nothing to say: what it sends is dropped
         * unparsed (and so is anything it sends later, in on_read), and the stream goes on;
         * reading goes on too, to notice when the client goes. */
        if (len && c->ws && !c->ws->sse && !c->closing) pk__ws_feed(c, data, len);
        return;
      }
      if (c->req_handle || c->file) {    /* a handler answers later (or a file is being sent): keep the rest */
        c->paused = 1;
        pk__buf_append(&c->pending_in, data, len);
        /* at most one read, already in memory: counted against the budget, never refused */
        pk__input_charge(&pk__W->input, &c->pending_held, len);
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->deadline_ms = 0;
        c->deadline_state = PK_PS_HANDLER;
        return;
      }
      pk__http_parser_resume(&c->parser);
    }
  }
  set_deadline(c);
  if (c->throttled || c->close_after) uv_read_stop((uv_stream_t *)&c->tcp);
}

/* The bytes of one read, or of one held back: the first call they start takes the clock reading
 * of their read as its start (pk__call_clock_ns), for as long as they are fed and no longer. */
static void feed(pk__conn *c, char *data, size_t len) {
  pk__call_clock_ns = c->read_ns;
  c->read_ns = 0;
  feed_bytes(c, data, len);
  pk__call_clock_ns = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  pk__conn *c = (pk__conn *)h->data;
  c->arrived_ns = pk__arrival_ns((uv_stream_t *)h, &c->read_ns);   /* before the read */
  buf->base = read_buf;
  buf->len = sizeof read_buf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  pk__conn *c = (pk__conn *)s->data;
  if (nread == 0) { c->read_ns = 0; return; }
  if (nread < 0) {
    /* The peer closed or failed: a request still in a handler is abandoned, and one whose body
     * had not all arrived is dropped; both are logged as 499 (nginx's "client closed request"). */
    if (!c->upgraded && !c->stream && (c->req_handle || c->parser.state == PK_PS_BODY))
      pk__conn_access_log(c, 499, NULL, 0);   /* a stream cut short is logged when it closes */
    pk__conn_close(c);
    return;
  }
  if (c->upgraded) {                    /* frames; or an event stream's client, ignored (feed) */
    if (c->ws && !c->ws->sse) pk__ws_feed(c, buf->base, (size_t)nread);
    return;
  }
  feed(c, buf->base, (size_t)nread);
}

static void start_reading(pk__conn *c) {
  if (!c->closing && !c->close_after) uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* A handler finished (or output drained): parse what was kept, then read again. */
static void resume(pk__conn *c) {
  if (c->closing) return;
  if (c->req_handle || c->file) return;   /* still in a handler, or sending a file */
  if (c->throttled) return;
  if (c->paused) {
    c->paused = 0;
    pk__http_parser_resume(&c->parser);
    if (c->pending_in.len) {
      pk__buf kept = c->pending_in;       /* feed from a private copy: feed may append again */
      uint64_t kept_held = c->pending_held;
      pk__buf_init(&c->pending_in);
      c->pending_held = 0;
      c->read_ns = 0;   /* bytes read earlier: their first call reads the clock itself */
      feed(c, kept.data, kept.len);
      pk__buf_free(&kept);
      pk__input_release(&pk__W->input, &kept_held);
      if (c->paused || c->closing) return;
    } else {
      set_deadline(c);
    }
  }
  if (c->throttled) return;
  if (pk__W->draining && c->parser.state == PK_PS_IDLE && !c->out.len && !c->writing) {
    c->close_after = 1;
    pk__conn_queue_flush(c);
    return;
  }
  start_reading(c);
}

void pk__conn_end_of_turn(pk__worker *w) {
  w->turn++;
  pk__ws_end_of_turn(w);
  /* until both lists are empty: a flush that wrote a backlog at once queues a resume */
  while (w->resume_list || w->flush_list) {
    while (w->resume_list) {
      pk__conn *c = w->resume_list;
      w->resume_list = c->resume_next;
      c->queued_resume = 0;
      resume(c);
    }
    while (w->flush_list) {
      pk__conn *c = w->flush_list;
      w->flush_list = c->flush_next;
      c->queued_flush = 0;
      flush(c);
    }
  }
}

/* Warnings about refused connections: at most one a second, whatever refuses them. */
static int refusal_warning_due(void) {
  static uint64_t last_ms;
  uint64_t now = pk__worker_now_ms();
  if (last_ms && now - last_ms < 1000) return 0;
  last_ms = now;
  return 1;
}

/* Near the file-descriptor limit, connections are refused: libuv accepts and closes them (its
 * EMFILE trick) without telling us, so warn when an accepted socket's number comes within a few
 * of the limit (descriptors are given lowest first). */
static void warn_if_few_fds(pk__conn *c) {
  static long limit = -1;
  uv_os_fd_t fd;
  if (limit < 0) {
    struct rlimit rl;
    limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 0;
  }
  if (!limit || uv_fileno((uv_handle_t *)&c->tcp, &fd) || fd + 4 < limit || !refusal_warning_due()) return;
  pk__logf("warn", "out of file descriptors: socket %d of a limit of %ld (ulimit -n); new connections"
           " are refused until some close: raise the limit", (int)fd, limit);
}

void pk__conn_accept_failed(int status) {
  if (refusal_warning_due())
    pk__logf("warn", "accept failed: %s; new connections are refused (raise `ulimit -n` or lower the load)",
             uv_strerror(status));
}

void pk__conn_accept(pk__worker *w) {
  pk__conn *c = calloc(1, sizeof *c);
  if (!c) return;
  uv_tcp_init(w->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&c->tcp) || take_slot(c)) {
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_close);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  warn_if_few_fds(c);
  pk__http_parser_init(&c->parser, &w->opts->limits, on_request, on_continue, c);
  c->parser.budget = &w->input;
  c->parser.on_head = on_head;
  pk__buf_init(&c->out);
  pk__buf_init(&c->pending_in);
  c->next = w->conns;
  if (w->conns) w->conns->prev = c;
  w->conns = c;
  w->nconns++;
  c->deadline_state = PK_PS_IDLE;
  c->deadline_ms = pk__worker_now_ms() + w->opts->limits.idle_timeout_ms;
  start_reading(c);
}

/* How many ticks apart a WebSocket's own checks run (pk__ws_sweep: pings, a message's deadline, a
 * close left unanswered). They act on timeouts of seconds, and with thousands of connections a
 * look at each one every tick was most of an idle worker's CPU: each is looked at every 4 ticks
 * (a second) when the shortest of those timeouts is 4 s or more, so none fires later than a
 * quarter of its length; every tick when one is shorter. */
static unsigned ws_sweep_every(const pk__limits *l) {
  uint64_t shortest = l->ws_ping_ms < l->body_timeout_ms ? l->ws_ping_ms : l->body_timeout_ms;
  return shortest >= 4000 ? 4 : shortest >= 2000 ? 2 : 1;
}

void pk__conn_sweep(pk__worker *w, uint64_t now) {
  static unsigned turn;
  unsigned every = ws_sweep_every(&w->opts->limits);
  turn++;
  for (pk__conn *c = w->conns, *next; c; c = next) {
    next = c->next;
    if (c->ws && !c->lingering) {
      if (every == 1 || (c->slot + turn) % every == 0) pk__ws_sweep(c, now);
      continue;
    }
    if (c->req_handle && c->paused && pk__peer_gone((uv_stream_t *)&c->tcp)) {   /* left mid-call */
      pk__conn_access_log(c, 499, NULL, 0);
      pk__conn_close(c);   /* its call's outbound operation is cancelled (abandon.c) */
      continue;
    }
    if (c->req_handle && pk__call_guard_expire(c, (double)now)) continue;   /* waited past its time limit */
    if (!c->deadline_ms || now < c->deadline_ms) continue;
    if (c->lingering) { pk__conn_close(c); continue; }
    if (c->close_after && !c->file) continue;   /* a file to a client that reads nothing is cut */
    int st = c->parser.state;
    if (st == PK_PS_HEADERS || st == PK_PS_BODY) {
      c->keep_alive = 0;
      c->linger = 1;
      pk__conn_respond_error(c, 408, st == PK_PS_HEADERS ? "Timed out reading the request headers"
                                                     : "Timed out reading the request body", NULL, 0);
      pk__http_parser_drop_body(&c->parser);   /* its share of the input budget too, not at close */
      c->parser.state = PK_PS_IDLE;   /* after the answer: its log line names a body's method */
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->deadline_ms = 0;
    } else {
      pk__conn_close(c);
    }
  }
}

void pk__conn_drain_expired(pk__worker *w) {
  w->drain_expired = 1;   /* pk__conn_close abandons with PK_ABANDON_DRAIN */
  for (pk__conn *c = w->conns, *next; c; c = next) {
    next = c->next;
    if (c->req_handle && !c->ws) {
      pk__request *r = &c->parser.req;
      const char *url = pk__request_url(r);
      int plen = (int)pk__url_path_len(url, r->url_len);
      pk__logf("warn", "drain timeout: %s %.*s: its call is abandoned (an outbound operation it waits on is cancelled)"
               " and its connection closed", llhttp_method_name((llhttp_method_t)r->method), plen, url);
    }
    pk__conn_close(c);
  }
}

void pk__conn_drain(pk__worker *w) {
  for (pk__conn *c = w->conns, *next; c; c = next) {
    next = c->next;
    if (c->ws) { pk__ws_close(c, 1001, "server shutting down", 20); continue; }
    if (c->parser.state == PK_PS_IDLE && !c->req_handle && !c->out.len && !c->writing) pk__conn_close(c);
    else c->keep_alive = 0;
  }
}
