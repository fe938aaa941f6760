/* redis_uv.c: hiredis's async API on the worker's libuv loop (our adapter, instead of hiredis/adapters/libuv.h). */
#include "redis_uv.h"
#include <stdlib.h>
#include <hiredis/hiredis.h>

/* Each uv_poll_start or uv_poll_stop costs an epoll_ctl (libuv drops the fd from epoll when a
 * poll stops), so the events watched change only when they must: READABLE stays on, WRITABLE
 * comes and goes only for a connect or a write the kernel did not take whole. */

enum { OUTSIDE, IN_READ, IN_WRITE };

typedef struct rpoll {
  uv_poll_t handle;
  redisAsyncContext *ac;    /* NULL once hiredis let go of it (its cleanup hook) */
  int events;               /* what the poll watches (0: stopped) */
  int want_write;           /* hiredis has output queued (its addWrite hook) */
  int inside;               /* inside redisAsyncHandleRead/Write of ac */
} rpoll;

static void on_poll(uv_poll_t *h, int status, int events);

static void set_events(rpoll *p, int events) {
  if (!p->ac || events == p->events) return;
  p->events = events;
  if (events) uv_poll_start(&p->handle, events, on_poll);
  else uv_poll_stop(&p->handle);
}

static void ev_add_read(void *d) {
  rpoll *p = d;
  set_events(p, p->events | UV_READABLE);
}

/* hiredis 0.14 never asks; reading stays on for the connection's life anyway */
static void ev_del_read(void *d) { (void)d; }

/* Called when a command is queued (written by pk__redis_uv_flush, or by the poll's callback when
 * it was queued inside hiredis), when connecting (the first writable event tells the connect is
 * done), and when a write was incomplete: only the last two need the writable event. */
static void ev_add_write(void *d) {
  rpoll *p = d;
  p->want_write = 1;
  if (!(p->ac->c.flags & REDIS_CONNECTED) || p->inside == IN_WRITE) set_events(p, p->events | UV_WRITABLE);
}

static void ev_del_write(void *d) {
  rpoll *p = d;
  p->want_write = 0;
  set_events(p, p->events & ~UV_WRITABLE);
}

static void poll_closed(uv_handle_t *h) { free(h->data); }

/* hiredis frees ac (before it closes the socket): the poll goes first */
static void ev_cleanup(void *d) {
  rpoll *p = d;
  p->ac = NULL;
  uv_close((uv_handle_t *)&p->handle, poll_closed);
}

static void handle_write(rpoll *p) {
  p->inside = IN_WRITE;
  redisAsyncHandleWrite(p->ac);   /* may free ac: p stays until the poll's close callback */
  p->inside = OUTSIDE;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  rpoll *p = h->data;
  redisAsyncContext *ac = p->ac;
  if (!ac) return;
  if (status < 0) {   /* POLLERR: libuv stopped the poll; reading or writing tells hiredis why */
    p->events = 0;
    events = UV_READABLE;
  }
  if (!(ac->c.flags & REDIS_CONNECTED)) {   /* connecting: hiredis checks the socket's error */
    handle_write(p);
    return;
  }
  if (events & UV_READABLE) {
    if (!ac->replies.head && !(ac->c.flags & (REDIS_SUBSCRIBED | REDIS_MONITORING))) {
      /* no reply is awaited: the server closed the connection (a restart, a timeout, a kill) or
       * sent something nobody asked for. Either way it cannot serve another command. */
      redisAsyncDisconnect(ac);
      return;
    }
    p->inside = IN_READ;
    redisAsyncHandleRead(ac);   /* may free ac */
    p->inside = OUTSIDE;
    if (!p->ac) return;
    if (status < 0) set_events(p, p->events | UV_READABLE);   /* read nothing, the poll was stopped */
  }
  /* writable, or a command a reply callback queued (written now, not on the next loop turn) */
  if (p->want_write && ((events & UV_WRITABLE) || !(p->events & UV_WRITABLE))) handle_write(p);
}

int pk__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
  if (ac->ev.data) return REDIS_ERR;
  rpoll *p = calloc(1, sizeof *p);
  if (!p) return REDIS_ERR;
  if (uv_poll_init(loop, &p->handle, ac->c.fd)) { free(p); return REDIS_ERR; }
  p->handle.data = p;
  p->ac = ac;
  uv_unref((uv_handle_t *)&p->handle);
  ac->ev.data = p;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  return REDIS_OK;
}

int pk__redis_uv_flush(redisAsyncContext *ac) {
  rpoll *p = ac->ev.data;
  if (!p || !p->want_write || p->inside) return 0;
  if ((ac->c.flags & (REDIS_IN_CALLBACK | REDIS_FREEING | REDIS_DISCONNECTING)) || !(ac->c.flags & REDIS_CONNECTED)) return 0;
  int done = 0;
  if (redisBufferWrite(&ac->c, &done) != REDIS_OK) return -1;
  if (done) {
    p->want_write = 0;
    set_events(p, p->events & ~UV_WRITABLE);
  } else {
    set_events(p, p->events | UV_WRITABLE);
  }
  return 0;
}
