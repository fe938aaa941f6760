/* http_stream.c: streamed responses (wire.http:stream): chunked on HTTP/1.1, close-delimited on 1.0, the call waiting while the client is slow. */
#include "http_stream.h"
#include <errno.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include "worker.h"

static void freed(uv_handle_t *t) { free(t->data); }

static pk__conn *stream_conn(double handle) {
  pk__conn *c = pk__conn_of_request(handle);
  return c && c->stream && !c->closing ? c : NULL;
}

int pk__stream_begin(double handle, int status, const char *ct, size_t ctlen, const char *extra, size_t elen) {
  pk__conn *c = pk__conn_of_request(handle);
  if (!c || c->stream) return -ENOENT;
  if (status < 200 || status == 204 || status == 205 || status == 304) return -EINVAL;
  pk__stream *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->c = c;
  s->h = c->req_host;
  s->status = status;
  s->head = c->parser.req.method == HTTP_HEAD;
  s->chunked = c->parser.req.http_minor >= 1;
  uv_timer_init(pk__W->loop, &s->timer);
  s->timer.data = s;
  if (!s->chunked) c->keep_alive = 0;      /* HTTP/1.0: the body ends with the connection */
  pk__buf lines;
  pk__buf_init(&lines);
  if (elen) pk__buf_append(&lines, extra, elen);
  if (s->chunked) pk__buf_append_str(&lines, "Transfer-Encoding: chunked\r\n");
  c->stream = s;
  pk__conn_write(c, status, NULL, 0, ct, ctlen, lines.data, lines.len, 1);
  pk__buf_free(&lines);
  return 0;
}

int pk__stream_write(double handle, const char *data, size_t len) {
  pk__conn *c = stream_conn(handle);
  if (!c) return -ENOENT;
  pk__stream *s = c->stream;
  if (len && !s->head) {
    if (s->chunked) {
      char hex[20];
      int n = 0;
      for (size_t v = len; v; v >>= 4) n++;
      for (int i = n - 1, k = 0; i >= 0; i--, k++) hex[k] = "0123456789abcdef"[(len >> (4 * i)) & 15];
      hex[n] = '\r';
      hex[n + 1] = '\n';
      pk__buf_append(&c->out, hex, (size_t)n + 2);
      pk__buf_append(&c->out, data, len);
      pk__buf_append(&c->out, "\r\n", 2);
    } else {
      pk__buf_append(&c->out, data, len);
    }
    pk__conn_queue_flush(c);
  }
  return pk__conn_unsent(c) > PK__STREAM_HIGH_WATER ? 1 : 0;
}

static void resume_writer(uv_timer_t *t) {
  pk__stream *s = t->data;
  double token = s->token;
  if (!token || !s->c) return;
  s->token = 0;
  lua_pushboolean(s->h->L, 1);
  pk__host_resume(s->h, token, 1);
}

int pk__stream_wait(double handle, double token) {
  pk__conn *c = stream_conn(handle);
  if (!c) return -ENOENT;
  if (pk__conn_unsent(c) <= PK__STREAM_HIGH_WATER / 4) return 0;
  c->stream->token = token;
  /* a client that reads nothing holds the connection only as long as an idle one (sweep closes it) */
  c->deadline_ms = pk__worker_now_ms() + pk__W->opts->limits.idle_timeout_ms;
  return 1;
}

void pk__stream_unwait(double handle) {
  pk__conn *c = pk__conn_of_request(handle);
  if (c && c->stream) c->stream->token = 0;
}

void pk__stream_drained(pk__conn *c) {
  pk__stream *s = c->stream;
  if (!s->token) return;
  c->deadline_ms = 0;
  uv_timer_start(&s->timer, resume_writer, 0, 0);
}

int pk__stream_end(double handle, int abort) {
  pk__conn *c = stream_conn(handle);
  if (!c) return -ENOENT;
  pk__stream *s = c->stream;
  if (abort) {
    c->keep_alive = 0;
    c->close_after = 1;
  } else if (s->chunked && !s->head) {
    pk__buf_append(&c->out, "0\r\n\r\n", 5);
  }
  if (!c->keep_alive) c->close_after = 1;   /* HTTP/1.0 (the end of the body), Connection: close */
  pk__conn_queue_flush(c);
  c->stream = NULL;
  s->c = NULL;
  s->token = 0;
  uv_close((uv_handle_t *)&s->timer, freed);
  pk__conn_request_done(c, s->status, NULL, 0, 0);
  return 0;
}

void pk__stream_closed(pk__conn *c) {
  pk__stream *s = c->stream;
  /* the connection went before the stream's end (the client left, a write failed): logged with the
   * status its head carried, as nginx logs an answer cut short once its head was sent */
  pk__conn_access_log(c, s->status, NULL, 0);
  c->stream = NULL;
  s->c = NULL;
  s->token = 0;   /* the runtime's abandon resumes the waiting call */
  uv_close((uv_handle_t *)&s->timer, freed);
}
