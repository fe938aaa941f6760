/* http_stream.h: streamed responses (wire.http:stream): chunked on HTTP/1.1, close-delimited on 1.0, the call waiting while the client is slow. */
#ifndef PK_HTTP_STREAM_H
#define PK_HTTP_STREAM_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "host.h"
#include "http_conn.h"

/* A writer waits once this many bytes wait for the client; memory per stream stays about here. */
#define PK__STREAM_HIGH_WATER (256 * 1024)

typedef struct pk__stream {
  pk__conn *c;       /* private: NULL once the connection is gone */
  pk__host *h;       /* private: the state the waiting call runs in */
  double token;      /* private: the call waiting for the output to drain, 0: none */
  uv_timer_t timer;  /* private: resumes that call from the loop, not from inside a flush */
  int chunked;       /* private: HTTP/1.1 chunked framing; else the body ends with the connection */
  int head;          /* private: a HEAD: nothing after the head */
  int status;        /* private: for the access log */
} pk__stream;

/* Starts the response of request `handle`: the head (status, Content-Type ct, extra header lines,
 * Transfer-Encoding: chunked on HTTP/1.1; Connection: close on 1.0). Returns 0, -ENOENT (the
 * request is gone or answered), -EINVAL (a status that has no body) or -ENOMEM. */
int pk__stream_begin(double handle, int status, const char *ct, size_t ctlen, const char *extra, size_t elen);
/* Queues one chunk. Returns 0, 1 when the writer should wait now (pk__stream_wait: more than
 * PK__STREAM_HIGH_WATER bytes wait for the client), or -ENOENT when the stream is gone. */
int pk__stream_write(double handle, const char *data, size_t len);
/* The call waits on token until what waits for the client is written (the core then resumes it
 * with true); a client that reads nothing for --idle-timeout-ms is cut. Returns 1 (waiting), 0
 * (nothing to wait for), -ENOENT (gone: the call is resumed by the runtime's abandon). */
int pk__stream_wait(double handle, double token);
/* The waiting call was abandoned: forget its token. */
void pk__stream_unwait(double handle);
/* Ends the body (the last chunk, or the connection's end on HTTP/1.0) and finishes the request.
 * abort: the function failed after the head went out: the connection closes without the last
 * chunk, so the client sees a cut body, not a complete one. Returns 0 or -ENOENT. */
int pk__stream_end(double handle, int abort);

/* The connection wrote all it had (http_conn.c): a waiting writer goes on. */
void pk__stream_drained(pk__conn *c);
/* The connection closes (http_conn.c). */
void pk__stream_closed(pk__conn *c);
#endif
