/* http_conn.h: a worker's client connections: HTTP reading, parsing, routing, answering, closing. */
#ifndef PK_HTTP_CONN_H
#define PK_HTTP_CONN_H
#include <stdint.h>
#include <uv.h>
#include "buf.h"
#include "host.h"
#include "http_parser.h"
#include "worker.h"
#include "ws_topics.h"

typedef struct pk__conn {
  uv_tcp_t tcp;                 /* private */
  pk__http_parser parser;       /* private */
  pk__buf out;                  /* private: response bytes not yet written */
  pk__buf pending_in;           /* private: bytes read while a request was being handled */
  uint64_t pending_held;        /* private: pending_in's share of the worker's input budget */
  uint32_t slot;                /* read-only: index in the worker's slot table */
  double req_handle;            /* read-only: handle of the request in a Lua handler, 0 if none */
  uint64_t arrived_ns;          /* private: when the bytes of the next read arrived (arrival.c), 0: now */
  uint64_t read_ns;             /* private: the clock when the next read began (its first call's start), 0: none */
  pk__host *req_host;           /* private: the state that request pins */
  uint64_t req_start_ns;        /* private: for the access log duration */
  double call_deadline_ms;      /* private: when the waiting call of req_handle is over its time
                                   limit (call_guard.c), 0: none */
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
  struct pk__file_body *file;   /* private (http_file.c): a file body sent after out, or NULL */
  struct pk__stream *stream;    /* private (http_stream.c): a streamed response in progress, or NULL */
  int route_index;              /* read-only: the route the current request matched (0: none) */
  struct pk__multipart *uploads;/* private: the current request's parsed multipart body and its
                                   temporary files, removed when the request is done */
  struct pk__conn *prev, *next; /* private: all connections */
  struct pk__conn *flush_next, *resume_next; /* private: work lists for the end of the turn */
} pk__conn;

void pk__conn_accept(pk__worker *w);
/* The listener's accept failed (status < 0): logged, at most once a second with the fd warnings. */
void pk__conn_accept_failed(int status);
void pk__conn_end_of_turn(pk__worker *w);
void pk__conn_sweep(pk__worker *w, uint64_t now_ms);
void pk__conn_drain(pk__worker *w);
/* The drain's deadline passed: every request still in flight is logged, and every connection
 * closed; the calls of their requests and channels are abandoned (PK_ABANDON_DRAIN). */
void pk__conn_drain_expired(pk__worker *w);
void pk__conn_close(pk__conn *c);
pk__conn *pk__conn_from_handle(double handle);
/* Answers the Lua request identified by handle. Returns 0, or -ENOENT if it is gone. */
int pk__conn_respond(double handle, int status, const char *body, size_t blen, const char *ct,
                     size_t ctlen, const char *extra, size_t elen, const char *error_id, size_t idlen);
double pk__conn_new_handle(pk__conn *c);
/* Writes a response for c's current request (keep-alive, HTTP/1.0 and HEAD as it says) and queues
 * the write. stream: no Content-Length is written (extra carries the framing: a file's length,
 * Transfer-Encoding, or none for a body that ends with the connection). */
void pk__conn_write(pk__conn *c, int status, const char *body, size_t blen, const char *ct, size_t ctlen,
                    const char *extra, size_t elen, int stream);
/* Whether the request of handle had its multipart/form-data body parsed by the core (its
 * temporary files live until the request is done). */
int pk__conn_has_uploads(double handle);
/* The connection of a request handle still waiting for its answer, or NULL. */
pk__conn *pk__conn_of_request(double handle);
/* The request of c (a handle answered by a file or at the end of a stream) is done: the handle is
 * dropped, the state it pinned let go, the next request is parsed (after a file body is sent).
 * Logs it unless `logged`. */
void pk__conn_request_done(pk__conn *c, int status, const char *error_id, size_t idlen, int logged);
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

/* The errorId of an answer: the client's X-Request-Id (client_id, n bytes; NULL: none) when
 * pk__request_id_valid takes it, else a new id written to gen (>= 33 bytes). *len: its length. */
const char *pk__error_id(const char *client_id, size_t n, char *gen, size_t *len);
/* Fills buf (>= 33 bytes) with a new unique id; returns its length. */
size_t pk__gen_id(char *buf);
#endif
