/* worker.h: a worker process: its loop, listener, connections and the calls Lua makes into it. */
#ifndef PK_WORKER_H
#define PK_WORKER_H
#include <stdint.h>
#include <uv.h>
#include "http_parser.h"
#include "lua_host.h"
#include "options.h"
#include "channel.h"

typedef struct pk__conn {
  uv_tcp_t tcp;                 /* private */
  pk__http_parser parser;       /* private */
  pk__buf out;                  /* private: response bytes not yet written */
  pk__buf pending_in;           /* private: bytes read while a request was being handled */
  uint32_t slot;                /* read-only: index in the worker's slot table */
  double req_handle;            /* read-only: handle of the request in a Lua handler, 0 if none */
  pk__host *req_host;           /* private: the state that request pins */
  uint64_t req_start_ns;        /* private: for the access log duration */
  uint64_t deadline_ms;         /* private: 0 = none */
  int deadline_state;           /* private: parser state the deadline was set for */
  unsigned deadline_req;        /* private: request count the deadline was set for */
  uv_shutdown_t shutdown_req;   /* private: lingering close */
  pk__ws *ws;                   /* private: set once the connection is a WebSocket */
  uint64_t out_taken;           /* private: bumped whenever bytes leave out (written or dropped),
                                   so a position in out can be known to still hold what it held */
  unsigned char in_parser, keep_alive, close_after, closing, writing, throttled, queued_flush,
      queued_resume, paused, linger, lingering;
  unsigned char upgraded;       /* read-only: a WebSocket or event stream now: no more HTTP on it */
  struct pk__conn *prev, *next; /* private: all connections */
  struct pk__conn *flush_next, *resume_next; /* private: work lists for the end of the turn */
} pk__conn;

typedef struct pk__worker {
  uv_loop_t *loop;
  const pk__options *opts;
  int id;
  uv_tcp_t listener;
  uv_signal_t sig_hup, sig_term, sig_int;
  uv_timer_t tick;
  uv_prepare_t prepare;
  uv_check_t check;
  pk__host *host;               /* current Lua state */
  int generation;
  pk__conn *conns;
  int nconns;
  pk__conn **slots;
  uint32_t nslots, free_slot_hint;
  uint32_t *serials;            /* private: per slot, the serial of its last handle (conn.c) */
  pk__conn *flush_list, *resume_list;
  int draining;
  uint64_t drain_deadline_ms;
} pk__worker;

extern pk__worker *pk__W;

/* Runs a worker until it has drained; returns the exit code. */
int pk__worker_run(const pk__options *o, int id, int ready_fd, pk__host *loaded);
/* The worker's heartbeat: set by the master (before fork) to this worker's slot of a page shared
 * with it; the worker stamps it with CLOCK_MONOTONIC milliseconds on every tick. NULL: none. */
extern volatile double *pk__heartbeat;
/* The generation a reload asks for, in the same shared page, written by the master before it
 * signals the workers (so a worker that got several SIGHUPs at once takes the last number). NULL:
 * none, each worker counts its own. */
extern volatile int *pk__reload_generation;

/* conn.c */
void pk__conn_accept(pk__worker *w);
/* The listener's accept failed (status < 0): logged, at most once a second with the fd warnings. */
void pk__conn_accept_failed(int status);
void pk__conn_end_of_turn(pk__worker *w);
void pk__conn_sweep(pk__worker *w, uint64_t now_ms);
void pk__conn_drain(pk__worker *w);
void pk__conn_close(pk__conn *c);
pk__conn *pk__conn_from_handle(double handle);
/* Answers the Lua request identified by handle. Returns 0, or -1 if it is gone. */
int pk__conn_respond(double handle, int status, const char *body, size_t blen, const char *ct,
                     size_t ctlen, const char *extra, size_t elen, const char *error_id, size_t idlen);
double pk__conn_new_handle(pk__conn *c);
/* An error answer made by the core (Pikku's body, errorId from x-request-id or new); the
 * connection closes after it unless it is keep-alive. extra: header lines or NULL. */
void pk__conn_respond_error(pk__conn *c, int status, const char *message, const char *extra, size_t elen);
/* The access log line of the connection's current request. */
void pk__conn_access_log(pk__conn *c, int status, const char *error_id, size_t idlen);
void pk__conn_queue_flush(pk__conn *c);
/* Bytes queued for c that the kernel has not taken (in out, or held by a write in flight). */
size_t pk__conn_unsent(pk__conn *c);
/* How many of out's first bytes the kernel takes now, without waiting (for a burst bigger than
 * the send buffer within one turn); never closes c. The caller drops them from out. */
size_t pk__conn_try_write(pk__conn *c);
/* The WebSocket connection with this cid, or NULL. */
pk__conn *pk__conn_from_cid(double cid);

/* ws_conn.c: a connection in WebSocket mode */
/* Answers an upgrade on a channel route (101 or an error) and calls the app's channel_open. */
void pk__ws_upgrade(pk__conn *c, pk__request *r, pk__host *h, const pk__route_match *m,
                    const char *path, size_t plen, const char *query, size_t qlen);
/* Starts a server-sent events stream (200 text/event-stream, kept open) and calls channel_open. */
void pk__sse_open(pk__conn *c, pk__request *r, pk__host *h, const pk__route_match *m,
                  const char *path, size_t plen, const char *query, size_t qlen);
void pk__ws_feed(pk__conn *c, char *data, size_t len);
/* Queues one frame; -1 (and the connection is closed with 1008 at the end of the turn) when the
 * client is over its send buffer. */
int pk__ws_send(pk__conn *c, int opcode, const char *data, size_t len);
void pk__ws_close(pk__conn *c, int code, const char *reason, size_t rlen);
/* Called by pk__conn_close: leaves every topic and tells Lua at the end of the turn. */
void pk__ws_closed(pk__conn *c);
extern pk__ws *pk__ws_closing;   /* during channel_close: that connection's strings stay readable */
void pk__ws_sweep(pk__conn *c, uint64_t now_ms);
void pk__ws_end_of_turn(pk__worker *w);
/* Sends data to every local subscriber of topic but exclude_cid (what the hub delivers from the
 * other workers). */
void pk__channel_deliver(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude_cid);
/* Sends data to every local subscriber of topic but exclude_cid, and to the other workers. */
int pk__channel_publish(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude_cid);
/* (returns the local receivers, or the hub's -ENOBUFS / -EMSGSIZE when it refused it: then no one got it) */

/* Fills buf (>= 33 bytes) with a new unique id; returns its length. */
size_t pk__gen_id(char *buf);
#endif
