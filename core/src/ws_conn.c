/* ws_conn.c: a connection after the WebSocket upgrade: frames in and out, pings, close, fan-out. */
#define _GNU_SOURCE             /* memmem */
#include "ws_conn.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "http_response.h"
#include "hub_client.h"
#include "log.h"
#include "worker.h"
#include "ws_deflate.h"
#include "ws_handshake.h"

typedef struct { pk__ws *ws; int code; } closed_note;
pk__ws *pk__ws_closing;             /* the connection whose channel_close runs now (channel_get) */
static closed_note *closed;          /* channel_close calls owed to Lua at the end of the turn */
static int nclosed, closed_cap;
static pk__conn **doomed;            /* over their send buffer: closed at the end of the turn */
static int ndoomed, doomed_cap;

static pk__buf zbuf;              /* inflate/deflate output, shared by the worker's connections */
#define DEFLATE_MIN 128           /* smaller messages are sent as they are */

static void append_frame(pk__conn *c, int opcode, const char *data, size_t len) {
  uint8_t hdr[PK__WS_MAX_HEADER];
  int rsv1 = 0;
  if (c->ws->deflate_bits && len >= DEFLATE_MIN &&
      pk__ws_deflate_window(data, len, c->ws->deflate_bits, &zbuf) == 0 && zbuf.len < len) {
    data = zbuf.data;
    len = zbuf.len;
    rsv1 = 1;
  }
  size_t hl = pk__ws_frame_header(hdr, opcode, len, 1);
  if (rsv1) hdr[0] |= 0x40;
  pk__buf_append(&c->out, hdr, hl);
  pk__buf_append(&c->out, data, len);
  pk__conn_queue_flush(c);
}

/* An event: "data: <line>\n" per line of data, then a blank line. A line ends at CR, LF or CRLF,
 * as the client reads it (WHATWG HTML, "server-sent events", parsing an event stream): a CR left
 * inside a data: line would end it there and let the rest start a field of its own ("event:",
 * "id:", "retry:"). n line ends make n + 1 data: lines, so the client gets the text back with
 * each line end as LF (a final line end too: "a\n" is "data: a\ndata: \n"). */
static void append_event(pk__conn *c, const char *data, size_t len) {
  const char *p = data, *end = data + len;
  for (;;) {
    const char *le = p;
    while (le < end && *le != '\n' && *le != '\r') le++;
    pk__buf_append(&c->out, "data: ", 6);
    pk__buf_append(&c->out, p, (size_t)(le - p));
    pk__buf_append(&c->out, "\n", 1);
    if (le == end) break;
    p = le + 1;
    if (*le == '\r' && p < end && *p == '\n') p++;
  }
  pk__buf_append(&c->out, "\n", 1);
  c->ws->last_seen_ms = pk__worker_now_ms();
  pk__conn_queue_flush(c);
}

/* Where the frame or event of out that holds byte n ends (n itself if one starts there), from
 * `from`, where one starts. Frames and events go into out whole. A frame of ours is never masked:
 * a 2, 4 or 10-byte header, then the payload. An event ends at its first blank line ("\n\n"
 * is found nowhere else: each of its lines starts with "data: " or ": "). */
static size_t message_end(const pk__conn *c, size_t from, size_t n) {
  const pk__buf *out = &c->out;
  if (n <= from) return from;
  if (c->ws->sse) {
    size_t at = n >= from + 2 ? n - 2 : from;
    const char *e = memmem(out->data + at, out->len - at, "\n\n", 2);
    return e ? (size_t)(e - out->data) + 2 : out->len;
  }
  size_t pos = from;
  while (pos < n && pos + 2 <= out->len) {
    const uint8_t *h = (const uint8_t *)out->data + pos;
    uint64_t len = h[1] & 0x7f;
    size_t hl = 2;
    if (len == 126) { len = (uint64_t)h[2] << 8 | h[3]; hl = 4; }
    else if (len == 127) { len = 0; for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i]; hl = 10; }
    pos += hl + (size_t)len;
  }
  return pos;
}

/* Bytes at the head of out that must go out before any can be dropped: the response head of the
 * upgrade (or of the event stream), or the rest of a frame (an event) the kernel took the start
 * of. 0 once out_taken moved on without us: out was flushed (what it held went whole into a
 * write) or dropped. */
static size_t out_part(pk__conn *c) {
  return c->ws->part_taken == c->out_taken ? c->ws->out_part : 0;
}

static void set_out_part(pk__conn *c, size_t part) {
  c->ws->out_part = part;
  c->ws->part_taken = c->out_taken;
}

/* Hands what out holds to the kernel now, as far as it takes it without waiting. Returns the
 * bytes the kernel has not taken. */
static size_t write_now(pk__conn *c) {
  size_t n = pk__conn_try_write(c);
  if (!n) return pk__conn_unsent(c);
  size_t part = out_part(c);
  size_t keep = n < part ? part - n : message_end(c, part, n) - n;
  pk__buf_consume(&c->out, n);
  c->out_taken++;
  set_out_part(c, keep);
  return pk__conn_unsent(c);
}

/* Room for len more bytes under --ws-send-buffer? The limit is on the backlog a client that
 * does not read leaves: bytes the kernel has not taken (pk__conn_unsent), not bytes sent in one
 * turn. What a turn sends is queued in out and written at the end of it (but for its first frame
 * to a connection with nothing waiting, written at once: send_direct); when the queue would pass
 * the limit, what it holds is written now (write_now), and only what the kernel did not take
 * counts. So a burst bigger than the limit reaches a client that reads (as long as
 * the kernel's buffers and the client's reading keep what waits under the limit), while a loop
 * sending without end to a client that does not read is stopped once the kernel's buffers are
 * full and the limit is passed: memory stays near the limit.
 * A message goes out when nothing waits, whatever its size (a client that reads is not closed
 * for one big message); else, when what waits plus it would pass the limit, it is refused and
 * the connection is doomed: closed with 1008 at the end of the turn, sent nothing more.
 * Returns 0 or -1. */
static int reserve(pk__conn *c, size_t len) {
  pk__ws *ws = c->ws;
  uint64_t limit = pk__W->opts->limits.ws_send_buffer;
  size_t unsent = pk__conn_unsent(c);
  if (unsent == 0 || unsent + len <= limit) return 0;
  unsent = write_now(c);
  if (unsent == 0 || unsent + len <= limit) return 0;
  ws->doomed = 1;
  if (ndoomed == doomed_cap) {
    int cap = doomed_cap ? doomed_cap * 2 : 16;
    pk__conn **p = realloc(doomed, sizeof *p * (size_t)cap);
    if (!p) { pk__conn_close(c); return -ENOMEM; }
    doomed = p;
    doomed_cap = cap;
  }
  doomed[ndoomed++] = c;
  return -ENOBUFS;
}

/* The first frame a turn sends to a WebSocket with nothing waiting goes to the kernel at once,
 * from the caller's bytes: a publish to many subscribers then writes each one from the same
 * message, still in the cache, instead of copying it into every connection's queue and writing
 * those, cold, at the turn's end. The frames sent after it in the same turn are queued and go
 * out together at the turn's end, as before, so a burst costs at most one write more. What the
 * kernel does not take is queued as the rest of a frame begun. Returns 1 when the frame is
 * handled (sent, or its rest queued), 0 when it is to be queued whole. */
static int send_direct(pk__conn *c, int opcode, const char *data, size_t len) {
  pk__ws *ws = c->ws;
  if (ws->sse || ws->deflate_bits || ws->direct_turn == pk__W->turn || len > (1u << 30)) return 0;
  if (c->writing || pk__conn_unsent(c)) return 0;
  ws->direct_turn = pk__W->turn;
  uint8_t hdr[PK__WS_MAX_HEADER];
  size_t hl = pk__ws_frame_header(hdr, opcode, len, 1);
  uv_buf_t b[2] = {uv_buf_init((char *)hdr, (unsigned)hl), uv_buf_init((char *)data, (unsigned)len)};
  int n = uv_try_write((uv_stream_t *)&c->tcp, b, 2);
  if (n <= 0) return 0;              /* nothing taken, or an error the turn's flush reports */
  c->out_taken++;
  size_t sent = (size_t)n, total = hl + len;
  if (sent == total) return 1;
  int failed = sent < hl ? pk__buf_append(&c->out, hdr + sent, hl - sent) || pk__buf_append(&c->out, data, len)
                         : pk__buf_append(&c->out, data + (sent - hl), total - sent);
  if (failed) { pk__conn_close(c); return 1; }
  set_out_part(c, total - sent);     /* it must go out before anything queued after it may be dropped */
  pk__conn_queue_flush(c);
  return 1;
}

int pk__ws_send(pk__conn *c, int opcode, const char *data, size_t len) {
  pk__ws *ws = c->ws;
  if (!ws || c->closing || ws->close_sent || ws->doomed) return -ENOTCONN;
  if (ws->sse && opcode != PK__WS_OP_TEXT) return -EINVAL;   /* an event stream carries text only */
  if (reserve(c, len)) return -ENOBUFS;
  if (send_direct(c, opcode, data, len)) return 0;
  if (ws->sse) append_event(c, data, len);
  else append_frame(c, opcode, data, len);
  return 0;
}

void pk__ws_close(pk__conn *c, int code, const char *reason, size_t rlen) {
  pk__ws *ws = c->ws;
  if (!ws || c->closing) return;
  if (!ws->close_sent) ws->close_sent_ms = pk__worker_now_ms();
  /* nothing is read from it any more: a message it left open gives its share of the input budget
   * back now, not when the connection is gone (pk__ws_feed does it when the parser runs) */
  if (!ws->feeding) pk__ws_parser_drop(&ws->parser);
  if (ws->sse) {                 /* the end of an event stream is the end of the connection */
    ws->close_sent = 1;
    if (!ws->close_code) ws->close_code = code;
    c->close_after = 1;
    pk__conn_queue_flush(c);
    return;
  }
  if (!ws->close_sent) {
    uint8_t frame[2 + PK__WS_MAX_CONTROL];
    size_t n = pk__ws_close_frame(frame, code, reason, rlen);
    pk__buf_append(&c->out, frame, n);
    ws->close_sent = 1;
    if (!ws->close_code) ws->close_code = code;
  }
  c->close_after = 1;
  c->linger = 1;          /* give the client time to answer our close; its bytes are dropped */
  pk__conn_queue_flush(c);
}

/* ---- frames from the client ------------------------------------------------------------------ */

static int on_message(pk__ws_parser *p, int opcode, const char *data, size_t len) {
  pk__conn *c = p->data;
  if (opcode & PK__WS_COMPRESSED) {
    opcode &= ~PK__WS_COMPRESSED;
    int rc = pk__ws_inflate(data, len, pk__W->opts->limits.ws_max_message, &zbuf);
    if (rc == -E2BIG) { pk__ws_close(c, PK__WS_CLOSE_TOO_BIG, "message too big", 15); return 1; }
    if (rc) { pk__ws_close(c, PK__WS_CLOSE_PROTOCOL, "bad compressed data", 19); return 1; }
    if (opcode == PK__WS_OP_TEXT && !pk__utf8_valid(zbuf.data ? zbuf.data : "", zbuf.len)) {
      pk__ws_close(c, PK__WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8", 31);
      return 1;
    }
    data = zbuf.data ? zbuf.data : "";
    len = zbuf.len;
  }
  pk__host_channel_message(pk__W->host, c->ws->cid, data, len, opcode == PK__WS_OP_BINARY);
  return c->closing || c->ws->close_sent;
}

/* A pong for every ping, but only one waiting: while the pong to an earlier ping is still the
 * last thing queued (not written yet, nothing queued after it), it is replaced by the pong to
 * this one (RFC 6455 section 5.5.3 allows answering only the latest ping). So a ping flood from
 * a client that does not read keeps one pong queued, not one per ping; and pongs count against
 * --ws-send-buffer like any frame (over it: 1008 at the end of the turn). */
static int on_ping(pk__ws_parser *p, const char *data, size_t len) {
  pk__conn *c = p->data;
  pk__ws *ws = c->ws;
  if (ws->close_sent || ws->doomed) return 1;
  if (ws->pong_len && ws->pong_taken == c->out_taken && ws->pong_at + ws->pong_len == c->out.len)
    pk__buf_truncate(&c->out, ws->pong_at);
  ws->pong_len = 0;
  uint8_t frame[2 + PK__WS_MAX_CONTROL];
  size_t n = pk__ws_pong_frame(frame, data, len);
  if (reserve(c, n)) return 1;
  ws->pong_at = c->out.len;
  if (pk__buf_append(&c->out, frame, n)) { pk__conn_close(c); return 1; }
  ws->pong_len = n;
  ws->pong_taken = c->out_taken;
  pk__conn_queue_flush(c);
  return 0;
}

static int on_pong(pk__ws_parser *p, const char *data, size_t len) {
  ((pk__conn *)p->data)->ws->ping_out = 0;
  return 0;
}

static int on_close(pk__ws_parser *p, int code, const char *reason, size_t len) {
  pk__conn *c = p->data;
  c->ws->close_code = code;
  /* echo the code (an empty close is answered with 1000) and close after it is written */
  pk__ws_close(c, code == PK__WS_CLOSE_NO_STATUS ? PK__WS_CLOSE_NORMAL : code, "", 0);
  c->ws->close_code = code;
  return 1;
}

static const pk__ws_callbacks callbacks = {on_message, on_ping, on_pong, on_close};

void pk__ws_feed(pk__conn *c, char *data, size_t len) {
  pk__ws *ws = c->ws;
  uint64_t now = pk__worker_now_ms();
  ws->last_seen_ms = now;
  ws->ping_out = 0;
  while (len > 0 && !c->closing && !ws->close_sent && !ws->doomed) {
    size_t used = 0;
    ws->feeding = 1;
    int rc = pk__ws_parser_feed(&ws->parser, data, len, &used);
    ws->feeding = 0;
    data += used;
    len -= used;
    if (rc < 0) {
      pk__logf("warn", "websocket %.0f: closing with %d: %s", ws->cid, ws->parser.close_code,
               ws->parser.error ? ws->parser.error : "protocol error");
      const char *why = ws->parser.error ? ws->parser.error : "";
      pk__ws_close(c, ws->parser.close_code, why, strlen(why));
      return;
    }
    if (rc == 0) break;
  }
  if (c->closing) return;              /* ws may be gone already */
  if (ws->close_sent) { pk__ws_parser_drop(&ws->parser); return; }
  if (ws->parser.msg_open && ws->msg_seen != ws->parser.msg_begun) {
    ws->msg_seen = ws->parser.msg_begun;   /* a new message is open: its deadline starts now */
    ws->msg_start_ms = now;
  }
}

/* ---- upgrade ----------------------------------------------------------------------------------- */

/* The connection is a channel now (WebSocket or event stream): log the request, then let the
 * app open it; headers are readable through core.header(cid, ...) during channel_open only. */
static void start_channel(pk__conn *c, pk__host *h, const pk__route_match *m, int status, const char *path,
                          size_t plen, const char *query, size_t qlen) {
  c->ws->last_seen_ms = pk__worker_now_ms();
  c->deadline_ms = 0;
  pk__conn_access_log(c, status, NULL, 0);
  c->req_handle = c->ws->cid;
  pk__host_channel_open(h, c->ws->cid, m->index, path, plen, query, qlen, m);
  c->req_handle = 0;
}

void pk__ws_upgrade(pk__conn *c, pk__request *r, pk__host *h, const pk__route_match *m,
                    const char *path, size_t plen, const char *query, size_t qlen) {
  static pk__buf joined;           /* header lines joined into one list; reused by the next upgrade */
  pk__ws_upgrade_req q;
  pk__ws_upgrade_res res;
  c->keep_alive = 0;
  if (pk__ws_upgrade_req_from(&q, r, &joined)) { pk__conn_close(c); return; }
  if (!q.upgrade) {   /* a plain GET (pk__response_write adds the Connection: upgrade of a 426) */
    static const char upgrade[] = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
    pk__conn_respond_error(c, 426, "this route is a WebSocket channel: connect with Upgrade: websocket",
                           upgrade, sizeof upgrade - 1);
    return;
  }
  if (pk__ws_upgrade_check(&q, pk__host_protocols(h, m->index), &res)) {
    pk__conn_respond_error(c, res.status, res.reason, res.extra, res.extra ? strlen(res.extra) : 0);
    return;
  }
  if (pk__ws_upgrade_write(&c->out, &res)) { pk__conn_close(c); return; }   /* with the extension */
  c->upgraded = 1;                 /* from here on the bytes from the client are frames */
  pk__conn_queue_flush(c);
  c->ws = pk__ws_new(pk__conn_new_handle(c));
  if (!c->ws) { pk__conn_close(c); return; }
  pk__ws_parser_init(&c->ws->parser, &callbacks, pk__W->opts->limits.ws_max_message, c);
  c->ws->parser.budget = &pk__W->input;   /* partial messages count against --max-input-buffer */
  c->ws->parser.deflate = res.deflate.window_bits != 0;
  c->ws->deflate_bits = res.deflate.window_bits;
  set_out_part(c, c->out.len);      /* the 101 head is no frame: never dropped, never walked */
  /* the agreed subprotocol, for wire.channel.protocol (kept with the connection, like its state) */
  if (res.protocol && pk__ws_kv_set(c->ws, "protocol", res.protocol, res.protocol_len)) { pk__conn_close(c); return; }
  start_channel(c, h, m, 101, path, plen, query, qlen);
}

void pk__sse_open(pk__conn *c, pk__request *r, pk__host *h, const pk__route_match *m,
                  const char *path, size_t plen, const char *query, size_t qlen) {
  static const char head[] =
    "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
  pk__buf extra;                   /* with the CORS headers for an allowed origin, as any response */
  pk__buf_init(&extra);
  pk__buf_append(&extra, head, sizeof head - 1);
  if (h->cors) {
    size_t olen;
    const char *origin = pk__request_header(r, "origin", 6, &olen);
    pk__cors_response_headers(h->cors, &extra, origin, origin ? olen : 0);
  }
  pk__response resp = {.status = 200, .extra = extra.data, .extra_len = extra.len, .keep_alive = 0,
                       .http10 = r->http_minor == 0, .head = 1, .stream = 1};
  pk__response_write(&c->out, &resp);
  pk__buf_free(&extra);
  pk__conn_queue_flush(c);
  c->keep_alive = 0;
  if (r->method == HTTP_HEAD) { c->close_after = 1; return; }
  c->upgraded = 1;                 /* nothing from the client is parsed any more (conn.c feed) */
  c->ws = pk__ws_new(pk__conn_new_handle(c));
  if (!c->ws) { pk__conn_close(c); return; }
  c->ws->sse = 1;
  set_out_part(c, c->out.len);      /* the response head: never dropped */
  start_channel(c, h, m, 200, path, plen, query, qlen);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

void pk__ws_closed(pk__conn *c) {
  pk__ws *ws = c->ws;
  c->ws = NULL;
  if (nclosed == closed_cap) {
    int cap = closed_cap ? closed_cap * 2 : 16;
    closed_note *p = realloc(closed, sizeof *p * (size_t)cap);
    if (p) { closed = p; closed_cap = cap; }
  }
  for (int i = 0; i < ndoomed; i++) if (doomed[i] == c) doomed[i] = NULL;
  pk__ws_leave_topics(ws);           /* gone from every topic now; its strings stay for channel_close */
  if (nclosed < closed_cap) {
    closed[nclosed].ws = ws;
    closed[nclosed++].code = ws->close_code ? ws->close_code : 1006;
  } else {
    pk__ws_free(ws);
  }
}

void pk__ws_sweep(pk__conn *c, uint64_t now) {
  pk__ws *ws = c->ws;
  uint64_t idle = pk__W->opts->limits.ws_ping_ms;
  if (ws->close_sent) {
    /* a client that does not read never gets our close (it waits behind what it did not read):
     * after one idle period the connection is cut */
    if (now - ws->close_sent_ms >= idle) pk__conn_close(c);
    return;
  }
  /* a client that answers pings may not keep a message open for ever: it has as long to finish
   * one as an HTTP client has to send a body (--body-timeout-ms), from the message's first frame */
  if (ws->parser.msg_open && now - ws->msg_start_ms >= pk__W->opts->limits.body_timeout_ms) {
    pk__logf("warn", "websocket %.0f: closing with 1008: a message was begun %llu ms ago and is not complete",
             ws->cid, (unsigned long long)(now - ws->msg_start_ms));
    pk__ws_close(c, PK__WS_CLOSE_POLICY, "message not completed in time", 29);
    return;
  }
  if (now - ws->last_seen_ms < idle) return;
  if (ws->sse) {                 /* a comment line keeps proxies from closing an idle stream */
    pk__buf_append(&c->out, ": heartbeat\n\n", 13);
    pk__conn_queue_flush(c);
    ws->last_seen_ms = now;
    return;
  }
  if (ws->ping_out) {
    pk__ws_close(c, PK__WS_CLOSE_GOING_AWAY, "idle timeout", 12);
    return;
  }
  uint8_t frame[2 + PK__WS_MAX_CONTROL];
  size_t n = pk__ws_control_frame(frame, PK__WS_OP_PING, "", 0);
  pk__buf_append(&c->out, frame, n);
  pk__conn_queue_flush(c);
  ws->ping_out = 1;
  ws->last_seen_ms = now;          /* the pong has another idle period to come */
}

static unsigned long long slow_clients_closed;

void pk__ws_end_of_turn(pk__worker *w) {
  for (int i = 0; i < ndoomed; i++) {
    pk__conn *c = doomed[i];
    if (!c || c->closing) continue;
    slow_clients_closed++;
    pk__logf("warn", "%s %.0f: closed%s: the client does not read (%llu so far)",
             c->ws->sse ? "event stream" : "websocket", c->ws->cid, c->ws->sse ? "" : " with 1008",
             slow_clients_closed);
    c->ws->doomed = 0;
    /* drop what it would not read (but the rest of a frame begun): the close frame goes first */
    pk__buf_truncate(&c->out, out_part(c));
    c->out_taken++;
    pk__ws_close(c, PK__WS_CLOSE_POLICY, "send buffer full", 16);
  }
  ndoomed = 0;
  for (int i = 0; i < nclosed; i++) {   /* channel_close may not close others: no new notes here */
    pk__ws_closing = closed[i].ws;
    /* its calls waiting on an outbound operation have it cancelled and unwind (in whichever state
     * they run: one a reload left too), before on_disconnect starts */
    pk__host_abandon_everywhere(PK_ABANDON_CHANNEL, closed[i].ws->cid,
                                w->drain_expired ? PK_ABANDON_DRAIN : PK_ABANDON_GONE);
    pk__host_channel_close(w->host, closed[i].ws->cid, closed[i].code);
    pk__ws_closing = NULL;
    pk__ws_free(closed[i].ws);
  }
  nclosed = 0;
}

/* ---- publish ---------------------------------------------------------------------------------- */

typedef struct { const char *data; size_t len; } msg;

static void send_to(pk__conn *c, void *arg) {
  msg *m = arg;
  pk__ws_send(c, PK__WS_OP_TEXT, m->data, m->len);
}

void pk__channel_deliver(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude_cid) {
  msg m = {data, dlen};
  pk__topic_each(topic, tlen, exclude_cid, send_to, &m);
}

int pk__channel_publish(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude_cid) {
  if (tlen > PK__WS_MAX_TOPIC_LEN) return -ENAMETOOLONG;
  /* the hub first: a publish the other workers cannot take (their queue is full) reaches no one */
  int rc = pk__hub_publish(topic, tlen, data, dlen, exclude_cid);   /* a no-op without a hub (pikku test) */
  if (rc < 0) return rc;
  msg m = {data, dlen};
  return pk__topic_each(topic, tlen, exclude_cid, send_to, &m);
}
