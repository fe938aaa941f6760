/* http_file.h: a file as the answer to a request: validators, conditional requests, single ranges, the body by sendfile. */
#ifndef PK_HTTP_FILE_H
#define PK_HTTP_FILE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "http_conn.h"

/* A file body still being sent on a connection, after the bytes of c->out. */
typedef struct pk__file_body {
  int fd;            /* private */
  int64_t pos, end;  /* private: the bytes [pos, end) still to send */
} pk__file_body;

/* Files up to this size are read into the connection's output and written with the head in one
 * write; bigger ones (or their range) go by sendfile(2) after it. */
#define PK__FILE_INLINE_MAX (32 * 1024)

/* Answers c's current request with the file open on fd (its stat in st; fd is c's now, closed when
 * sent or at once): ETag ("mtime-size" in hex, as nginx) and Last-Modified, 304 for a matching
 * If-None-Match (else If-Modified-Since), one byte range of a GET (206; 416 when it cannot be
 * satisfied; If-Range honoured; several ranges: the whole file), HEAD without the body. type is
 * the Content-Type, extra header lines (Cache-Control, Vary, CORS...) go after the server's own.
 * Returns the status answered (and logged). A body left to send is in c->file, and the
 * connection parses nothing more until it is sent. */
int pk__file_answer(pk__conn *c, int fd, const struct stat *st, const char *type, const char *extra, size_t elen);

/* Called by the connection's flush when its output is empty and c->file is set: sends by
 * sendfile(2) until the socket is full, then reads the next piece into c->out so that the
 * connection's write waits for the socket (libuv owns the socket's readiness). Frees c->file when
 * all is sent. Returns 0, or a negative errno (the connection must close: the body is cut). */
int pk__file_continue(pk__conn *c);
/* The connection closes: the file is closed. */
void pk__file_free(pk__conn *c);

/* The single byte range of a Range value for a representation of `size` bytes: 1 and [*first,
 * *last] when it is one satisfiable range; 0 when the header is to be ignored (not "bytes=", not
 * valid, several ranges); -1 when it cannot be satisfied (416). */
int pk__range_parse(const char *v, size_t n, int64_t size, int64_t *first, int64_t *last);
/* 1 when an If-None-Match value (v, n bytes) matches etag (weak comparison, "*" matches any). */
int pk__etag_match(const char *v, size_t n, const char *etag, size_t elen);
#endif
