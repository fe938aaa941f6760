/* http_file.c: a file as the answer to a request: validators, conditional requests, single ranges, the body by sendfile. */
#include "http_file.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <unistd.h>
#include "http_date.h"
#include "worker.h"

#define PIECE (64 * 1024)   /* what is read into the output when the socket is full */

/* ---- validators and ranges ------------------------------------------------------------------ */

static size_t etag_of(const struct stat *st, char *out, size_t cap) {
  int n = snprintf(out, cap, "\"%llx-%llx\"", (unsigned long long)st->st_mtime, (unsigned long long)st->st_size);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int pk__etag_match(const char *v, size_t n, const char *etag, size_t elen) {
  const char *p = v, *end = v + n;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
    if (p == end) break;
    if (*p == '*') return 1;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2;   /* weak comparison */
    const char *s = p;
    if (p < end && *p == '"') {
      const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
      if (!q) return 0;
      p = q + 1;
    } else {
      while (p < end && *p != ',') p++;
    }
    if ((size_t)(p - s) == elen && memcmp(s, etag, elen) == 0) return 1;
  }
  return 0;
}

/* decimal digits at *p up to end; -1 when none or too many */
static int64_t digits(const char **p, const char *end) {
  int64_t v = 0;
  const char *s = *p;
  while (*p < end && **p >= '0' && **p <= '9') {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (**p - '0');
    (*p)++;
  }
  return *p == s ? -1 : v;
}

int pk__range_parse(const char *v, size_t n, int64_t size, int64_t *first, int64_t *last) {
  const char *p = v, *end = v + n;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  if (end - p < 6 || strncasecmp(p, "bytes=", 6)) return 0;
  p += 6;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
  if (memchr(p, ',', (size_t)(end - p))) return 0;   /* several ranges: the whole file (RFC 9110 14.2 lets us) */
  int64_t a, b;
  if (p < end && *p == '-') {                         /* suffix: the last N bytes */
    p++;
    if ((b = digits(&p, end)) < 0 || p != end) return 0;
    if (b == 0 || size == 0) return -1;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return 1;
  }
  if ((a = digits(&p, end)) < 0 || p >= end || *p != '-') return 0;
  p++;
  if (p == end) b = -1;
  else if ((b = digits(&p, end)) < 0 || p != end || b < a) return 0;
  if (a >= size) return -1;
  *first = a;
  *last = b < 0 || b >= size ? size - 1 : b;
  return 1;
}

/* If-Range: the range applies only when it names this very representation (a strong ETag match,
 * or its Last-Modified date exactly). */
static int if_range_holds(const char *v, size_t n, const char *etag, size_t elen, time_t mtime) {
  while (n && (*v == ' ' || *v == '\t')) { v++; n--; }
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (n && (v[0] == '"' || v[0] == 'W')) return n == elen && memcmp(v, etag, elen) == 0;
  time_t t;
  return pk__http_date_parse(v, n, &t) == 0 && t == mtime;
}

/* ---- the answer ----------------------------------------------------------------------------- */

#define LIT(b, s) pk__buf_append((b), (s), sizeof(s) - 1)

int pk__file_answer(pk__conn *c, int fd, const struct stat *st, const char *type, const char *extra, size_t elen) {
  pk__request *r = &c->parser.req;
  int head = r->method == HTTP_HEAD;
  char etag[48], lm[32];
  size_t etlen = etag_of(st, etag, sizeof etag);
  pk__http_date_format(st->st_mtime, lm);
  int64_t size = (int64_t)st->st_size, first = 0, last = size - 1;
  int status = 200;
  size_t n;
  const char *inm = pk__request_header_joined(r, "if-none-match", 13, &n);
  if (inm) {
    if (pk__etag_match(inm, n, etag, etlen)) status = 304;
  } else {
    const char *ims = pk__request_header(r, "if-modified-since", 17, &n);
    time_t t;
    if (ims && pk__http_date_parse(ims, n, &t) == 0 && st->st_mtime <= t) status = 304;
  }
  const char *range = status == 200 && r->method == HTTP_GET ? pk__request_header(r, "range", 5, &n) : NULL;
  if (range) {
    size_t irn;
    const char *ir = pk__request_header(r, "if-range", 8, &irn);
    if (!ir || if_range_holds(ir, irn, etag, etlen, st->st_mtime)) {
      int rc = pk__range_parse(range, n, size, &first, &last);
      if (rc > 0) status = 206;
      else if (rc < 0) {
        close(fd);
        char cr[64];
        int k = snprintf(cr, sizeof cr, "Content-Range: bytes */%lld\r\n", (long long)size);
        pk__conn_respond_error(c, 416, "Range not satisfiable", cr, (size_t)k);   /* logs itself */
        return 416;
      }
    }
  }
  int64_t len = status == 304 ? 0 : last - first + 1;
  if (len < 0) len = 0;
  pk__buf h;
  pk__buf_init(&h);
  LIT(&h, "Last-Modified: ");
  pk__buf_append(&h, lm, PK__HTTP_DATE_LEN);
  LIT(&h, "\r\nETag: ");
  pk__buf_append(&h, etag, etlen);
  if (status != 304) {
    LIT(&h, "\r\nAccept-Ranges: bytes\r\nContent-Length: ");
    pk__buf_append_uint(&h, (unsigned long long)len);
  }
  if (status == 206) {
    LIT(&h, "\r\nContent-Range: bytes ");
    pk__buf_append_uint(&h, (unsigned long long)first);
    LIT(&h, "-");
    pk__buf_append_uint(&h, (unsigned long long)last);
    LIT(&h, "/");
    pk__buf_append_uint(&h, (unsigned long long)size);
  }
  LIT(&h, "\r\n");
  if (elen) pk__buf_append(&h, extra, elen);
  pk__conn_write(c, status, NULL, 0, type, strlen(type), h.data, h.len, 1);
  pk__conn_access_log(c, status, NULL, 0);
  pk__buf_free(&h);
  if (c->closing || head || status == 304 || len == 0) { close(fd); return status; }
  if (len <= PK__FILE_INLINE_MAX) {          /* read into the output: one write with the head */
    size_t room;
    char *dst = pk__buf_space(&c->out, (size_t)len, &room);
    ssize_t got = dst ? pread(fd, dst, (size_t)len, first) : -1;
    close(fd);
    if (got != len) { pk__conn_close(c); return status; }   /* changed under us: the length is promised */
    pk__buf_commit(&c->out, (size_t)len);
    return status;
  }
  pk__file_body *f = malloc(sizeof *f);
  if (!f) { close(fd); pk__conn_close(c); return status; }
  f->fd = fd;
  f->pos = first;
  f->end = first + len;
  c->file = f;
  pk__conn_queue_flush(c);
  return status;
}

int pk__file_continue(pk__conn *c) {
  pk__file_body *f = c->file;
  uv_os_fd_t sock;
  if (uv_fileno((uv_handle_t *)&c->tcp, &sock)) return -EBADF;
  while (f->pos < f->end) {
    off_t off = f->pos;
    size_t want = (size_t)(f->end - f->pos) > (1u << 30) ? (1u << 30) : (size_t)(f->end - f->pos);
    ssize_t n = sendfile(sock, f->fd, &off, want);
    if (n > 0) { f->pos = off; c->out_taken++; continue; }
    if (n == 0) return -EIO;                          /* the file shrank: the length was promised */
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -errno;
    /* the socket is full: the next piece waits in the output, written when the socket drains */
    size_t piece = (size_t)(f->end - f->pos) < PIECE ? (size_t)(f->end - f->pos) : PIECE;
    char *dst = pk__buf_space(&c->out, piece, NULL);
    if (!dst) return -ENOMEM;
    ssize_t got = pread(f->fd, dst, piece, f->pos);
    if (got <= 0) return -EIO;
    pk__buf_commit(&c->out, (size_t)got);
    f->pos += got;
    /* a client that stops reading holds the connection only as long as an idle one */
    c->deadline_ms = pk__worker_now_ms() + pk__W->opts->limits.idle_timeout_ms;
    return 0;
  }
  pk__file_free(c);
  return 0;
}

void pk__file_free(pk__conn *c) {
  if (!c->file) return;
  close(c->file->fd);
  free(c->file);
  c->file = NULL;
}
