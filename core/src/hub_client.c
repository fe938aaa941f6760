/* hub_client.c: a worker's end of the hub socket: batched non-blocking PUBLISH out, delivery in. */
#include "hub_client.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hub.h"
#include "log.h"
#include "ws_topics.h"

void (*pk__hub_deliver)(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude);
void (*pk__hub_lost)(void);
void (*pk__hub_on_frame)(const pk__hub_frame *f);

typedef struct { uv_write_t req; pk__buf buf; } write_req;

/* One hub connection per worker process. */
static struct {
  uv_pipe_t pipe;
  int started, lost, closing;
  uint32_t origin;
  uint64_t seq;
  pk__buf pending;        /* frames published this loop turn */
  pk__hub_decoder in;
  int warned;             /* a drop was logged; reset once the queue is short again */
} C;

static void on_close(uv_handle_t *h) {
  pk__buf_free(&C.pending);
  pk__hub_decoder_free(&C.in);
  C.closing = 0;
}

static void close_handle(void) {
  if (!C.started || C.closing) return;
  C.started = 0;
  C.closing = 1;
  uv_close((uv_handle_t *)&C.pipe, on_close);
}

static void lose(const char *why) {
  if (C.lost || !C.started) return;
  C.lost = 1;
  pk__logf("warn", "hub: connection to the master lost (%s)", why);
  close_handle();
  if (pk__hub_lost) pk__hub_lost();
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  size_t got = 0;
  char *p = pk__hub_decoder_space(&C.in, 64 * 1024, &got);
  *buf = uv_buf_init(p, p ? (unsigned)got : 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread < 0) { lose(nread == UV_EOF ? "end of stream" : uv_strerror((int)nread)); return; }
  if (nread == 0) return;
  pk__hub_decoder_commit(&C.in, (size_t)nread);
  pk__hub_frame f;
  int rc;
  while ((rc = pk__hub_decoder_next(&C.in, &f)) == 1) {
    pk__hub_msg m;
    if (f.type != PK_HUB_PUBLISH && pk__hub_on_frame) {
      pk__hub_on_frame(&f);
      if (!C.started) return;
      continue;
    }
    if (pk__hub_parse_publish(&f, &m)) { lose("malformed frame"); return; }
    if (pk__hub_deliver) pk__hub_deliver(m.topic, m.tlen, m.data, m.dlen, m.exclude);
    if (!C.started) return;   /* the callback stopped the client */
  }
  if (rc < 0) lose("frame with a bad length");
}

int pk__hub_client_start(uv_loop_t *loop, int fd, int origin) {
  if (C.started || C.closing) return UV_EBUSY;
  memset(&C, 0, sizeof C);
  pk__buf_init(&C.pending);
  pk__hub_decoder_init(&C.in);
  C.origin = (uint32_t)origin;
  int rc = uv_pipe_init(loop, &C.pipe, 0);
  if (rc) return rc;
  C.started = 1;
  rc = uv_pipe_open(&C.pipe, fd);
  if (!rc) rc = uv_read_start((uv_stream_t *)&C.pipe, on_alloc, on_read);
  if (rc) close_handle();
  return rc;
}

int pk__hub_client_active(void) { return C.started && !C.lost; }

size_t pk__hub_client_backlog(void) {
  if (!C.started || C.lost) return 0;
  return C.pending.len + uv_stream_get_write_queue_size((uv_stream_t *)&C.pipe);
}

int pk__hub_publish(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude) {
  if (tlen > PK__WS_MAX_TOPIC_LEN) return -ENAMETOOLONG;
  if (!C.started || C.lost) return 0;
  if (PK_HUB_PUBLISH_FIXED + tlen + dlen > PK_HUB_MAX_FRAME || tlen > PK_HUB_MAX_FRAME || dlen > PK_HUB_MAX_FRAME)
    return -EMSGSIZE;
  size_t queued = C.pending.len + uv_stream_get_write_queue_size((uv_stream_t *)&C.pipe);
  if (queued + PK_HUB_PUBLISH_FIXED + tlen + dlen > PK_HUB_BACKLOG_MAX) {
    if (!C.warned) pk__logf("warn", "hub: over %zu bytes of publishes wait for the master (a burst, or a master"
                            " that does not read): publishes are refused until it catches up",
                            (size_t)PK_HUB_BACKLOG_MAX);
    C.warned = 1;
    return -ENOBUFS;
  }
  if (queued < PK_HUB_BACKLOG_MAX / 2) C.warned = 0;
  pk__hub_msg m = {C.origin, C.seq + 1, exclude, topic, tlen, data, dlen};
  int rc = pk__hub_encode_publish(&C.pending, &m);
  if (!rc) C.seq++;
  return rc;
}

pk__buf *pk__hub_client_outbox(size_t len, int *rc) {
  if (!C.started || C.lost) { *rc = -ENOTCONN; return NULL; }
  if (len > PK_HUB_HEADER + PK_HUB_MAX_FRAME) { *rc = -EMSGSIZE; return NULL; }
  size_t queued = C.pending.len + uv_stream_get_write_queue_size((uv_stream_t *)&C.pipe);
  if (queued + len > PK_HUB_BACKLOG_MAX) { *rc = -ENOBUFS; return NULL; }
  *rc = 0;
  return &C.pending;
}

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  pk__buf_free(&w->buf);
  free(w);
  if (status < 0 && status != UV_ECANCELED) lose(uv_strerror(status));
}

void pk__hub_client_flush(void) {
  if (!C.started || C.lost || C.pending.len == 0) return;
  uv_stream_t *s = (uv_stream_t *)&C.pipe;
  if (uv_stream_get_write_queue_size(s) == 0) {
    uv_buf_t b = uv_buf_init(C.pending.data, (unsigned)C.pending.len);
    int n = uv_try_write(s, &b, 1);
    if (n == (int)C.pending.len) { pk__buf_reset(&C.pending); return; }
    if (n > 0) pk__buf_consume(&C.pending, (size_t)n);
    else if (n != UV_EAGAIN) { lose(uv_strerror(n)); return; }
  }
  write_req *w = malloc(sizeof *w);
  if (!w) return;   /* stays pending; retried next turn */
  w->buf = C.pending;
  pk__buf_init(&C.pending);
  uv_buf_t b = uv_buf_init(w->buf.data, (unsigned)w->buf.len);
  int rc = uv_write(&w->req, s, &b, 1, on_write);
  if (rc) {
    pk__buf_free(&w->buf);
    free(w);
    lose(uv_strerror(rc));
  }
}

void pk__hub_client_stop(void) { close_handle(); }
