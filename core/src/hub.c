/* hub.c: the hub's frames (encode, parse, stream decoder) and the master's fan-out to workers. */
#include "hub.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "log.h"
#include "ws_topics.h"

#define put32 pk__hub_put32
#define get32 pk__hub_get32
#define put64 pk__hub_put64
#define get64 pk__hub_get64

int pk__hub_encode_publish(pk__buf *out, const pk__hub_msg *m) {
  if (m->tlen > PK__WS_MAX_TOPIC_LEN) return -ENAMETOOLONG;
  if (m->tlen > PK_HUB_MAX_FRAME || m->dlen > PK_HUB_MAX_FRAME ||
      PK_HUB_PUBLISH_FIXED + m->tlen + m->dlen > PK_HUB_MAX_FRAME)
    return -EMSGSIZE;
  size_t len = PK_HUB_PUBLISH_FIXED + m->tlen + m->dlen;
  char *p = pk__buf_space(out, PK_HUB_HEADER + len, NULL);
  if (!p) return -ENOMEM;
  uint64_t xbits;
  memcpy(&xbits, &m->exclude, sizeof xbits);
  put32(p, (uint32_t)len);
  p[4] = PK_HUB_PUBLISH;
  put32(p + 5, m->origin);
  put64(p + 9, m->seq);
  put64(p + 17, xbits);
  put32(p + 25, (uint32_t)m->tlen);
  if (m->tlen) memcpy(p + 29, m->topic, m->tlen);
  if (m->dlen) memcpy(p + 29 + m->tlen, m->data, m->dlen);
  pk__buf_commit(out, PK_HUB_HEADER + len);
  return 0;
}

int pk__hub_parse_publish(const pk__hub_frame *f, pk__hub_msg *m) {
  if (f->type != PK_HUB_PUBLISH || f->body_len < PK_HUB_PUBLISH_FIXED - 1) return -EPROTO;
  const char *b = f->body;
  uint64_t xbits = get64(b + 12);
  m->origin = get32(b);
  m->seq = get64(b + 4);
  memcpy(&m->exclude, &xbits, sizeof xbits);
  m->tlen = get32(b + 20);
  if (m->tlen > f->body_len - (PK_HUB_PUBLISH_FIXED - 1)) return -EPROTO;
  if (m->tlen > PK__WS_MAX_TOPIC_LEN) return -EPROTO;   /* no worker sends one: not forwarded */
  m->topic = b + 24;
  m->data = m->topic + m->tlen;
  m->dlen = f->body_len - (PK_HUB_PUBLISH_FIXED - 1) - m->tlen;
  return 0;
}

void pk__hub_decoder_init(pk__hub_decoder *d) {
  pk__buf_init(&d->buf);
  d->pos = 0;
  d->max_frame = PK_HUB_MAX_FRAME;
}

void pk__hub_decoder_free(pk__hub_decoder *d) {
  pk__buf_free(&d->buf);
  d->pos = 0;
}

char *pk__hub_decoder_space(pk__hub_decoder *d, size_t want, size_t *got) {
  if (d->pos) {   /* drop the frames already returned */
    pk__buf_consume(&d->buf, d->pos);
    d->pos = 0;
  }
  return pk__buf_space(&d->buf, want, got);
}

void pk__hub_decoder_commit(pk__hub_decoder *d, size_t n) { pk__buf_commit(&d->buf, n); }

int pk__hub_decoder_feed(pk__hub_decoder *d, const void *p, size_t n) {
  size_t got;
  char *s = pk__hub_decoder_space(d, n, &got);
  if (!s) return -ENOMEM;
  memcpy(s, p, n);
  pk__hub_decoder_commit(d, n);
  return 0;
}

int pk__hub_decoder_next(pk__hub_decoder *d, pk__hub_frame *f) {
  size_t avail = d->buf.len - d->pos;
  if (avail < PK_HUB_HEADER) return 0;
  const char *p = d->buf.data + d->pos;
  uint32_t len = get32(p);
  if (len < 1 || len > d->max_frame) return -EPROTO;
  if (avail - PK_HUB_HEADER < len) return 0;
  f->raw = p;
  f->raw_len = PK_HUB_HEADER + (size_t)len;
  f->type = (unsigned char)p[PK_HUB_HEADER];
  f->body = p + PK_HUB_HEADER + 1;
  f->body_len = len - 1;
  d->pos += f->raw_len;
  return 1;
}

/* ---- master side ---- */

int pk__hub_init(pk__hub *h, int npeers) {
  h->peers = calloc((size_t)(npeers > 0 ? npeers : 1), sizeof *h->peers);
  if (!h->peers) return -ENOMEM;
  h->npeers = npeers;
  h->backlog_max = PK_HUB_BACKLOG_MAX;
  for (int i = 0; i < npeers; i++) {
    h->peers[i].fd = -1;
    pk__hub_decoder_init(&h->peers[i].in);
    pk__buf_init(&h->peers[i].out);
  }
  return 0;
}

void pk__hub_free(pk__hub *h) {
  for (int i = 0; i < h->npeers; i++) {
    pk__hub_detach(h, i);
    pk__hub_decoder_free(&h->peers[i].in);
    pk__buf_free(&h->peers[i].out);
  }
  free(h->peers);
  h->peers = NULL;
  h->npeers = 0;
}

void pk__hub_detach(pk__hub *h, int i) {
  pk__hub_peer *p = &h->peers[i];
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  pk__buf_reset(&p->in.buf);
  p->in.pos = 0;
  pk__buf_reset(&p->out);
  p->out_pos = 0;
  p->front_left = 0;
}

void pk__hub_attach(pk__hub *h, int i, int fd) {
  pk__hub_detach(h, i);
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  h->peers[i].fd = fd;
}

void pk__hub_close_fds(pk__hub *h) {
  for (int i = 0; i < h->npeers; i++)
    if (h->peers[i].fd >= 0) { close(h->peers[i].fd); h->peers[i].fd = -1; }
}

/* Drops the PUBLISH frames peer i has not started to write; the rest of a frame already partly
 * written stays, so the worker's stream stays whole, and so do the master's own frames to it (job
 * replies and runs: a worker waits for those). */
static void drop_backlog(pk__hub *h, int i) {
  pk__hub_peer *p = &h->peers[i];
  size_t at = p->out_pos + p->front_left, keep = at, bytes = 0;
  uint64_t frames = 0;
  for (size_t q = at; q + PK_HUB_HEADER < p->out.len;) {
    size_t flen = PK_HUB_HEADER + get32(p->out.data + q);
    if (p->out.data[q + PK_HUB_HEADER] == PK_HUB_PUBLISH) {
      frames++;
      bytes += flen;
    } else {
      if (keep != q) memmove(p->out.data + keep, p->out.data + q, flen);
      keep += flen;
    }
    q += flen;
  }
  pk__buf_truncate(&p->out, keep);
  p->dropped += frames;
  pk__logf("warn", "hub: worker %d is not reading its messages; dropped %llu queued message(s) (%zu bytes)",
           i + 1, (unsigned long long)frames, bytes);
}

int pk__hub_send(pk__hub *h, int i, const char *raw, size_t len) {
  if (i < 0 || i >= h->npeers || h->peers[i].fd < 0) return -EPIPE;
  pk__hub_peer *p = &h->peers[i];
  if (p->out_pos && p->out_pos == p->out.len) { pk__buf_reset(&p->out); p->out_pos = 0; }
  return pk__buf_append(&p->out, raw, len);
}

int pk__hub_route(pk__hub *h, int from, const pk__hub_frame *f) {
  int n = 0;
  for (int i = 0; i < h->npeers; i++) {
    pk__hub_peer *p = &h->peers[i];
    if (i == from || p->fd < 0) continue;
    if (pk__hub_pending(h, i) + f->raw_len > h->backlog_max) drop_backlog(h, i);
    if (p->out_pos && p->out_pos == p->out.len) { pk__buf_reset(&p->out); p->out_pos = 0; }
    if (pk__buf_append(&p->out, f->raw, f->raw_len)) {
      pk__logf("error", "hub: out of memory; a message to worker %d is dropped", i + 1);
      p->dropped++;
      continue;
    }
    n++;
  }
  return n;
}

int pk__hub_read(pk__hub *h, int i) {
  pk__hub_peer *p = &h->peers[i];
  size_t budget = 1024 * 1024;   /* then let the other workers' sockets have a turn */
  while (budget > 0 && p->fd >= 0) {
    size_t room;
    char *s = pk__hub_decoder_space(&p->in, 64 * 1024, &room);
    if (!s) return -ENOMEM;
    ssize_t r = read(p->fd, s, room);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (r <= 0) return -EPIPE;
    pk__hub_decoder_commit(&p->in, (size_t)r);
    budget = (size_t)r >= budget ? 0 : budget - (size_t)r;
    pk__hub_frame f;
    int rc;
    while ((rc = pk__hub_decoder_next(&p->in, &f)) == 1) {
      pk__hub_msg m;
      if (f.type != PK_HUB_PUBLISH && h->on_frame) {
        if (h->on_frame(i, &f, h->on_frame_ud) < 0) {
          pk__logf("error", "hub: worker %d sent a malformed frame (type %d, %zu bytes)", i + 1, f.type, f.raw_len);
          return -EPROTO;
        }
        if (p->fd < 0) return -EPIPE;   /* the handler detached it */
        continue;
      }
      if (pk__hub_parse_publish(&f, &m)) {
        pk__logf("error", "hub: worker %d sent a malformed frame (type %d, %zu bytes)", i + 1, f.type, f.raw_len);
        return -EPROTO;
      }
      pk__hub_route(h, i, &f);
    }
    if (rc < 0) {
      pk__logf("error", "hub: worker %d sent a frame with a bad length", i + 1);
      return rc;
    }
  }
  return 0;
}

int pk__hub_flush(pk__hub *h, int i) {
  pk__hub_peer *p = &h->peers[i];
  while (p->fd >= 0 && p->out_pos < p->out.len) {
    ssize_t n = send(p->fd, p->out.data + p->out_pos, p->out.len - p->out_pos, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return -EPIPE;
    /* find where the written bytes end relative to frame boundaries */
    size_t q = p->out_pos, end = p->out_pos + (size_t)n;
    if (p->front_left) {
      size_t k = p->front_left < (size_t)n ? p->front_left : (size_t)n;
      p->front_left -= k;
      q += k;
    }
    while (q < end) {
      size_t flen = PK_HUB_HEADER + get32(p->out.data + q);
      if (q + flen > end) { p->front_left = q + flen - end; break; }
      q += flen;
    }
    p->out_pos = end;
  }
  if (p->out_pos == p->out.len) {
    pk__buf_reset(&p->out);
    p->out_pos = 0;
  } else if (p->out_pos > p->out.len / 2) {
    pk__buf_consume(&p->out, p->out_pos);
    p->out_pos = 0;
  }
  return 0;
}
