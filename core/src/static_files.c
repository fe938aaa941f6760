/* static_files.c: static routes (pikku.wire_static): files beneath a directory, found by file descriptor, never above it. */
#define _GNU_SOURCE
#include "static_files.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "cors.h"
#include "http_file.h"
#include "mime.h"
#include "route_settings.h"

#define REL_MAX 4096

pk__static_dir *pk__static_dir_new(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open the directory \"%s\": %s", path, strerror(errno));
    return NULL;
  }
  pk__static_dir *d = calloc(1, sizeof *d);
  if (!d) { close(fd); snprintf(err, errlen, "out of memory"); return NULL; }
  d->fd = fd;
  d->max_age = -1;
  return d;
}

void pk__static_dir_free(pk__static_dir *d) {
  if (!d) return;
  close(d->fd);
  free(d->index);
  free(d);
}

/* ---- opening beneath a directory ------------------------------------------------------------ */

/* Without openat2: one component at a time, no symlink followed, no ".." taken. */
static int open_walk(int dirfd, const char *rel, int flags) {
  char part[256];
  int cur = dirfd;
  const char *p = rel;
  for (;;) {
    while (*p == '/') p++;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    while (e && e[1] == '/') e++;
    int last = !e || !e[1];
    if (n >= sizeof part) { if (cur != dirfd) close(cur); return -ENAMETOOLONG; }
    memcpy(part, n ? p : ".", n ? n : 1);
    part[n ? n : 1] = 0;
    if (!strcmp(part, "..")) { if (cur != dirfd) close(cur); return -EXDEV; }
    int fd = openat(cur, part, last ? (flags | O_NOFOLLOW | O_CLOEXEC) : (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    int saved = errno;
    if (cur != dirfd) close(cur);
    if (fd < 0) return -saved;
    if (last) return fd;
    cur = fd;
    p = e + 1;
  }
}

int pk__open_beneath(int dirfd, const char *rel, int flags) {
  static int no_openat2;
  if (!*rel) rel = ".";
  if (!no_openat2) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (;;) {
      long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
      if (fd >= 0) return (int)fd;
      if (errno == EINTR || errno == EAGAIN) continue;   /* EAGAIN: a rename raced the lookup */
      if (errno != ENOSYS) return -errno;
      break;
    }
    no_openat2 = 1;
  }
  return open_walk(dirfd, rel, flags);
}

long pk__path_decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '%' && i + 2 < n) {
      int h = -1, l = -1;
      char a = s[i + 1], b = s[i + 2];
      if (a >= '0' && a <= '9') h = a - '0'; else if ((a | 0x20) >= 'a' && (a | 0x20) <= 'f') h = (a | 0x20) - 'a' + 10;
      if (b >= '0' && b <= '9') l = b - '0'; else if ((b | 0x20) >= 'a' && (b | 0x20) <= 'f') l = (b | 0x20) - 'a' + 10;
      if (h >= 0 && l >= 0) { ch = (unsigned char)(h * 16 + l); i += 2; }
    }
    if (!ch || o + 1 >= cap) return -1;
    out[o++] = (char)ch;
  }
  out[o] = 0;
  return (long)o;
}

/* ---- serving -------------------------------------------------------------------------------- */

/* A name starting with '.' in rel, other than ".well-known" (RFC 8615). */
static int has_dotfile(const char *rel) {
  for (const char *p = rel; *p; ) {
    if (*p == '.' && strncmp(p, ".well-known", 11) != 0) return 1;
    if (*p == '.' && p[11] && p[11] != '/') return 1;   /* ".well-knownX" */
    const char *e = strchr(p, '/');
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* Whether Accept-Encoding (v, n bytes) accepts coding (a q-value of 0 refuses it). */
static int accepts(const char *v, size_t n, const char *coding) {
  size_t cl = strlen(coding);
  const char *p = v, *end = v + n;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
    const char *t = p;
    while (p < end && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') p++;
    int match = (size_t)(p - t) == cl && strncasecmp(t, coding, cl) == 0;
    int zero = 0;
    while (p < end && *p != ',') {
      if (*p == ';') {
        const char *q = p + 1;
        while (q < end && (*q == ' ' || *q == '\t')) q++;
        if (end - q >= 2 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
          q += 2;
          zero = 1;   /* q=0, q=0.0, q=0.000 */
          if (q < end && *q == '0') {
            q++;
            if (q < end && *q == '.') for (q++; q < end && *q >= '0' && *q <= '9'; q++) if (*q != '0') zero = 0;
          } else {
            zero = 0;
          }
        }
      }
      p++;
    }
    if (match) return !zero;
  }
  return 0;
}

/* Opens a regular file rel beneath d; its stat in st. Returns fd or a negative errno (-EISDIR for a directory). */
static int open_file(const pk__static_dir *d, const char *rel, struct stat *st) {
  int fd = pk__open_beneath(d->fd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return fd;
  if (fstat(fd, st)) { int e = -errno; close(fd); return e; }
  if (S_ISDIR(st->st_mode)) { close(fd); return -EISDIR; }
  if (!S_ISREG(st->st_mode)) { close(fd); return -ENOENT; }   /* no devices, FIFOs, sockets */
  return fd;
}

#define LIT(b, s) pk__buf_append((b), (s), sizeof(s) - 1)

void pk__static_serve(pk__conn *c, pk__host *h, const pk__route_match *m, const char *path, size_t plen,
                      size_t qlen) {
  pk__request *r = &c->parser.req;
  pk__route_settings *rs = pk__route_settings_of(h, m->index);
  const pk__static_dir *d = rs ? rs->dir : NULL;
  if (!d || m->nparams == 0) { pk__conn_respond_error(c, 404, "File not found", NULL, 0); return; }
  const pk__span *w = &m->params[m->nparams - 1];
  char rel[REL_MAX + 256];
  long rn = pk__path_decode(w->p, w->n, rel, REL_MAX);
  if (rn < 0 || (!d->dotfiles && has_dotfile(rel))) { pk__conn_respond_error(c, 404, "File not found", NULL, 0); return; }
  int want_dir = plen > 0 && path[plen - 1] == '/';
  struct stat st;
  int fd = rn == 0 || want_dir ? -EISDIR : open_file(d, rel, &st);
  if (fd == -EISDIR) {
    if (!want_dir) {   /* "/docs" names a directory: "/docs/", so that its page's relative links work */
      pk__buf loc;
      pk__buf_init(&loc);
      LIT(&loc, "Location: ");
      pk__buf_append(&loc, path, plen);
      LIT(&loc, "/");
      pk__buf_append(&loc, path + plen, qlen);
      LIT(&loc, "\r\n");
      pk__conn_write(c, 301, NULL, 0, NULL, 0, loc.data, loc.len, 0);
      pk__conn_access_log(c, 301, NULL, 0);
      pk__buf_free(&loc);
      return;
    }
    fd = -ENOENT;
    if (d->index) {
      size_t k = (size_t)rn;
      if (k && rel[k - 1] != '/') rel[k++] = '/';
      snprintf(rel + k, sizeof rel - k, "%s", d->index);
      fd = open_file(d, rel, &st);
    }
  }
  if (fd < 0 && d->spa && d->index) {   /* a client-side route ("/app/settings"): the app's page */
    const char *last = strrchr(rel, '/');
    if (!strchr(last ? last + 1 : rel, '.')) {
      snprintf(rel, sizeof rel, "%s", d->index);
      fd = open_file(d, rel, &st);
    }
  }
  if (fd < 0) { pk__conn_respond_error(c, 404, "File not found", NULL, 0); return; }
  const char *type = pk__mime_type(rel, strlen(rel));
  pk__buf extra;
  pk__buf_init(&extra);
  if (d->max_age >= 0) {
    LIT(&extra, "Cache-Control: public, max-age=");
    pk__buf_append_uint(&extra, (unsigned long long)d->max_age);
    if (d->immutable) LIT(&extra, ", immutable");
    LIT(&extra, "\r\n");
  }
  if (d->precompressed) {
    LIT(&extra, "Vary: Accept-Encoding\r\n");
    size_t aen;
    const char *ae = pk__request_header_joined(r, "accept-encoding", 15, &aen);
    static const char *const codings[][2] = {{"br", ".br"}, {"gzip", ".gz"}};
    size_t k = strlen(rel);
    for (int i = 0; ae && i < 2 && k + 4 < sizeof rel; i++) {
      if (!accepts(ae, aen, codings[i][0])) continue;
      memcpy(rel + k, codings[i][1], 4);
      struct stat zst;
      int zfd = open_file(d, rel, &zst);
      rel[k] = 0;
      if (zfd < 0) continue;
      close(fd);
      fd = zfd;
      st = zst;
      LIT(&extra, "Content-Encoding: ");
      pk__buf_append_str(&extra, codings[i][0]);
      LIT(&extra, "\r\n");
      break;
    }
  }
  if (h->cors) {
    size_t olen;
    const char *origin = pk__request_header(r, "origin", 6, &olen);
    pk__cors_response_headers(h->cors, &extra, origin, origin ? olen : 0);
  }
  pk__file_answer(c, fd, &st, type, extra.data, extra.len);
  pk__buf_free(&extra);
}
