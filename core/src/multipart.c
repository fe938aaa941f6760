/* multipart.c: a streaming multipart/form-data parser (RFC 7578): text fields in memory, file parts written to temporary files as they arrive. */
#define _GNU_SOURCE   /* memmem */
#include "multipart.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

enum { PREAMBLE, AFTER_DELIM, HEADERS, BODY, EPILOGUE, FAILED };

typedef struct { char *name; size_t off, len; } field;
typedef struct { char *field, *filename, *ctype, *path; uint64_t size; } upload;

struct pk__multipart {
  char delim[4 + PK__MULTIPART_MAX_BOUNDARY];   /* "\r\n--" boundary */
  size_t dlen;
  pk__buf win;              /* bytes received and not yet consumed */
  int state;
  int nparts;
  size_t header_bytes;      /* of the current part */
  /* the current part */
  char *name, *filename, *ctype;
  int is_file, skip, fd, has_disposition;
  char *path;
  uint64_t size;
  size_t text_start;        /* where its value starts in text */
  /* results */
  pk__buf text;             /* the text fields' values, back to back */
  field *fields;
  int nfields, fields_cap;
  upload *files;
  int nfiles, files_cap;
  char *tmpdir;
};

/* ---- the boundary ------------------------------------------------------------------------------ */

static int bchar(unsigned char c) {   /* RFC 2046 bcharsnospace, plus space inside */
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("'()+_,-./:=? ", c));
}

int pk__multipart_boundary(const char *ct, size_t n, const char **b, size_t *blen) {
  const char *p = ct, *end = ct + n;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  if (end - p < 19 || strncasecmp(p, "multipart/form-data", 19)) return 0;
  p += 19;
  if (p < end && *p != ';' && *p != ' ' && *p != '\t') return 0;   /* multipart/form-dataX */
  while (p < end) {
    while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) p++;
    const char *k = p;
    while (p < end && *p != '=' && *p != ';') p++;
    size_t klen = (size_t)(p - k);
    while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t')) klen--;
    if (p >= end || *p != '=') continue;
    p++;
    const char *v = p;
    size_t vlen;
    if (p < end && *p == '"') {
      v = ++p;
      while (p < end && *p != '"') p++;
      if (p >= end) return -1;
      vlen = (size_t)(p - v);
      p++;
    } else {
      while (p < end && *p != ';' && *p != ' ' && *p != '\t') p++;
      vlen = (size_t)(p - v);
    }
    if (klen == 8 && strncasecmp(k, "boundary", 8) == 0) {
      if (vlen == 0 || vlen > PK__MULTIPART_MAX_BOUNDARY || v[vlen - 1] == ' ') return -1;
      for (size_t i = 0; i < vlen; i++) if (!bchar((unsigned char)v[i])) return -1;
      *b = v;
      *blen = vlen;
      return 1;
    }
  }
  return -1;
}

/* ---- results and cleanup --------------------------------------------------------------------- */

static void end_part_state(pk__multipart *m) {
  free(m->name); free(m->filename); free(m->ctype); free(m->path);
  m->name = m->filename = m->ctype = m->path = NULL;
  if (m->fd >= 0) close(m->fd);
  m->fd = -1;
  m->is_file = m->skip = m->has_disposition = 0;
  m->size = 0;
  m->header_bytes = 0;
}

static void remove_files(pk__multipart *m) {
  if (m->path) unlink(m->path);            /* the part being written */
  for (int i = 0; i < m->nfiles; i++) if (m->files[i].path) unlink(m->files[i].path);
}

static int failure(pk__multipart *m, int status, const char *msg, const char **why) {
  remove_files(m);
  end_part_state(m);
  for (int i = 0; i < m->nfiles; i++) { free(m->files[i].path); m->files[i].path = NULL; }
  m->state = FAILED;
  *why = msg;
  return status;
}

pk__multipart *pk__multipart_new(const char *boundary, size_t blen, const char *tmpdir) {
  if (blen == 0 || blen > PK__MULTIPART_MAX_BOUNDARY) return NULL;
  pk__multipart *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  memcpy(m->delim, "\r\n--", 4);
  memcpy(m->delim + 4, boundary, blen);
  m->dlen = 4 + blen;
  m->fd = -1;
  m->tmpdir = strdup(tmpdir && *tmpdir ? tmpdir : "/tmp");
  pk__buf_init(&m->win);
  pk__buf_init(&m->text);
  /* the body's first delimiter may come without the CRLF before it: start as if one came */
  if (!m->tmpdir || pk__buf_append(&m->win, "\r\n", 2)) { pk__multipart_free(m); return NULL; }
  return m;
}

void pk__multipart_free(pk__multipart *m) {
  if (!m) return;
  remove_files(m);
  end_part_state(m);
  for (int i = 0; i < m->nfields; i++) free(m->fields[i].name);
  for (int i = 0; i < m->nfiles; i++) {
    upload *u = &m->files[i];
    free(u->field); free(u->filename); free(u->ctype); free(u->path);
  }
  free(m->fields);
  free(m->files);
  pk__buf_free(&m->win);
  pk__buf_free(&m->text);
  free(m->tmpdir);
  free(m);
}

size_t pk__multipart_memory(const pk__multipart *m) { return m->win.len + m->text.len; }
int pk__multipart_files(const pk__multipart *m) { return m->nfiles; }

/* ---- part headers ------------------------------------------------------------------------------ */

static char *dupn(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) { memcpy(d, s, n); d[n] = 0; }
  return d;
}

/* The value of parameter `key` in a Content-Disposition value (quoted-string unescaped). 1 found,
 * 0 absent, -1 malformed or out of memory. */
static int disposition_param(const char *v, size_t n, const char *key, char **out) {
  size_t kl = strlen(key);
  const char *p = memchr(v, ';', n), *end = v + n;
  while (p && p < end) {
    p++;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *k = p;
    while (p < end && *p != '=' && *p != ';') p++;
    size_t klen = (size_t)(p - k);
    while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t')) klen--;
    int want = klen == kl && strncasecmp(k, key, kl) == 0;
    if (p >= end || *p == ';') continue;
    p++;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p < end && *p == '"') {
      pk__buf b;
      pk__buf_init(&b);
      for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < end) p++;
        pk__buf_append(&b, p, 1);
      }
      if (p >= end) { pk__buf_free(&b); return -1; }
      p++;
      if (want) {
        *out = dupn(b.data ? b.data : "", b.len);
        pk__buf_free(&b);
        return *out ? 1 : -1;
      }
      pk__buf_free(&b);
    } else {
      const char *s = p;
      while (p < end && *p != ';') p++;
      size_t len = (size_t)(p - s);
      while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
      if (want) return (*out = dupn(s, len)) ? 1 : -1;
    }
    p = memchr(p, ';', (size_t)(end - p));
  }
  return 0;
}

/* One header line of a part (CRLF removed). Returns 0 or a status. */
static int header_line(pk__multipart *m, const char *l, size_t n, const char **why) {
  const char *colon = memchr(l, ':', n);
  if (!colon || colon == l) return failure(m, 400, "Malformed multipart body: a part header line without a name", why);
  size_t nl = (size_t)(colon - l);
  const char *v = colon + 1, *end = l + n;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
  size_t vl = (size_t)(end - v);
  if (nl == 19 && strncasecmp(l, "content-disposition", 19) == 0) {
    if (m->has_disposition) return failure(m, 400, "Malformed multipart body: two Content-Disposition headers in a part", why);
    m->has_disposition = 1;
    if (vl < 9 || strncasecmp(v, "form-data", 9) || (vl > 9 && v[9] != ';' && v[9] != ' ' && v[9] != '\t'))
      return failure(m, 400, "Malformed multipart body: a part's Content-Disposition is not form-data", why);
    if (disposition_param(v, vl, "name", &m->name) < 0 || disposition_param(v, vl, "filename", &m->filename) < 0)
      return failure(m, 400, "Malformed multipart body: a bad Content-Disposition parameter", why);
  } else if (nl == 12 && strncasecmp(l, "content-type", 12) == 0) {
    free(m->ctype);
    if (!(m->ctype = dupn(v, vl))) return failure(m, 500, "Out of memory", why);
  }
  return 0;   /* other headers (Content-Transfer-Encoding is deprecated by RFC 7578) are ignored */
}

static int open_upload(pk__multipart *m, const char **why) {
  unsigned char rnd[16];
  char hex[33];
  if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
    static unsigned long long counter;
    unsigned long long a = (unsigned long long)getpid() << 32 ^ ++counter, b = (unsigned long long)(uintptr_t)m ^ counter << 7;
    memcpy(rnd, &a, 8);
    memcpy(rnd + 8, &b, 8);
  }
  for (int i = 0; i < 16; i++) { hex[2 * i] = "0123456789abcdef"[rnd[i] >> 4]; hex[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15]; }
  hex[32] = 0;
  size_t need = strlen(m->tmpdir) + 48;
  if (!(m->path = malloc(need))) return failure(m, 500, "Out of memory", why);
  snprintf(m->path, need, "%s/pikku-upload-%s", m->tmpdir, hex);
  m->fd = open(m->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (m->fd < 0) {
    free(m->path);
    m->path = NULL;
    return failure(m, 500, "Cannot write an uploaded file (the temporary directory is not writable)", why);
  }
  return 0;
}

/* The headers of a part are complete: what is it? */
static int begin_part(pk__multipart *m, const char **why) {
  if (++m->nparts > PK__MULTIPART_MAX_PARTS)
    return failure(m, 413, "Too many parts in the multipart body (at most 100)", why);
  if (!m->has_disposition || !m->name)
    return failure(m, 400, "Malformed multipart body: a part without Content-Disposition: form-data; name=...", why);
  if (m->filename) {
    if (!*m->filename) { m->skip = 1; return 0; }   /* a file input left empty: no file, no field */
    m->is_file = 1;
    return open_upload(m, why);
  }
  m->text_start = m->text.len;
  return 0;
}

static int part_data(pk__multipart *m, const char *d, size_t n, const char **why) {
  if (!n || m->skip) return 0;
  if (m->is_file) {
    m->size += n;
    while (n) {
      ssize_t w = write(m->fd, d, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return failure(m, 500, "Cannot write an uploaded file (is the disk full?)", why);
      d += w;
      n -= (size_t)w;
    }
    return 0;
  }
  if (m->text.len + n > PK__MULTIPART_MAX_FIELDS)
    return failure(m, 413, "The text fields of the multipart body are too large (at most 1 MiB together)", why);
  if (pk__buf_append(&m->text, d, n)) return failure(m, 500, "Out of memory", why);
  return 0;
}

static int end_part(pk__multipart *m, const char **why) {
  if (m->skip) { end_part_state(m); return 0; }
  if (m->is_file) {
    if (m->files_cap == m->nfiles) {
      int cap = m->files_cap ? 2 * m->files_cap : 4;
      upload *p = realloc(m->files, sizeof *p * (size_t)cap);
      if (!p) return failure(m, 500, "Out of memory", why);
      m->files = p;
      m->files_cap = cap;
    }
    if (close(m->fd)) { m->fd = -1; return failure(m, 500, "Cannot write an uploaded file (is the disk full?)", why); }
    m->fd = -1;
    upload *u = &m->files[m->nfiles++];
    u->field = m->name; u->filename = m->filename; u->ctype = m->ctype; u->path = m->path; u->size = m->size;
    m->name = m->filename = m->ctype = m->path = NULL;
  } else {
    if (m->fields_cap == m->nfields) {
      int cap = m->fields_cap ? 2 * m->fields_cap : 8;
      field *p = realloc(m->fields, sizeof *p * (size_t)cap);
      if (!p) return failure(m, 500, "Out of memory", why);
      m->fields = p;
      m->fields_cap = cap;
    }
    field *f = &m->fields[m->nfields++];
    f->name = m->name;
    f->off = m->text_start;
    f->len = m->text.len - m->text_start;
    m->name = NULL;
  }
  end_part_state(m);
  return 0;
}

/* ---- the state machine ------------------------------------------------------------------------ */

static int run(pk__multipart *m, int final, const char **why) {
  for (;;) {
    char *w = m->win.data;
    size_t n = m->win.len;
    switch (m->state) {
    case PREAMBLE:
    case BODY: {
      const char *hit = n >= m->dlen ? memmem(w, n, m->delim, m->dlen) : NULL;
      if (!hit) {   /* all but what may begin a delimiter is data (or preamble, dropped) */
        size_t safe = n > m->dlen - 1 ? n - (m->dlen - 1) : 0;
        if (m->state == BODY) { int rc = part_data(m, w, safe, why); if (rc) return rc; }
        pk__buf_consume(&m->win, safe);
        return 0;
      }
      size_t at = (size_t)(hit - w);
      if (m->state == BODY) {
        int rc = part_data(m, w, at, why);
        if (!rc) rc = end_part(m, why);
        if (rc) return rc;
      }
      pk__buf_consume(&m->win, at + m->dlen);
      m->state = AFTER_DELIM;
      break;
    }
    case AFTER_DELIM: {   /* "--" (the close delimiter), or transport padding then CRLF */
      if (n >= 2 && w[0] == '-' && w[1] == '-') { pk__buf_consume(&m->win, 2); m->state = EPILOGUE; break; }
      size_t i = 0;
      while (i < n && (w[i] == ' ' || w[i] == '\t')) i++;
      if (i > 256) return failure(m, 400, "Malformed multipart body: junk after a delimiter", why);
      if (i + 2 > n || (n < 2 && !final)) {
        if (final) return failure(m, 400, "Malformed multipart body: it ends after a delimiter", why);
        return 0;
      }
      if (w[i] != '\r' || w[i + 1] != '\n') return failure(m, 400, "Malformed multipart body: a delimiter not followed by CRLF", why);
      pk__buf_consume(&m->win, i + 2);
      m->state = HEADERS;
      break;
    }
    case HEADERS: {
      const char *le = n >= 2 ? memmem(w, n, "\r\n", 2) : NULL;
      if (!le) {
        if (n > PK__MULTIPART_MAX_HEADER) return failure(m, 400, "Malformed multipart body: part headers too large", why);
        return 0;
      }
      size_t ll = (size_t)(le - w);
      m->header_bytes += ll + 2;
      if (m->header_bytes > PK__MULTIPART_MAX_HEADER) return failure(m, 400, "Malformed multipart body: part headers too large", why);
      int rc = ll ? header_line(m, w, ll, why) : begin_part(m, why);
      if (rc) return rc;
      pk__buf_consume(&m->win, ll + 2);
      if (!ll) m->state = BODY;
      break;
    }
    case EPILOGUE:
      pk__buf_reset(&m->win);   /* after the close delimiter: ignored (RFC 2046) */
      return 0;
    default:
      *why = "Malformed multipart body";
      return 400;
    }
  }
}

int pk__multipart_feed(pk__multipart *m, const char *data, size_t len, const char **why) {
  if (m->state == FAILED) { *why = "Malformed multipart body"; return 400; }
  if (m->state == EPILOGUE) return 0;
  if (pk__buf_append(&m->win, data, len)) return failure(m, 500, "Out of memory", why);
  return run(m, 0, why);
}

int pk__multipart_finish(pk__multipart *m, const char **why) {
  if (m->state == FAILED) { *why = "Malformed multipart body"; return 400; }
  if (m->state != EPILOGUE) return failure(m, 400, "Malformed multipart body: it ends before its closing delimiter", why);
  return 0;
}

#define LIT(b, s) pk__buf_append((b), (s), sizeof(s) - 1)

int pk__multipart_json(const pk__multipart *m, pk__buf *out) {
  int rc = LIT(out, "{\"fields\":[");
  for (int i = 0; i < m->nfields; i++) {
    const field *f = &m->fields[i];
    rc |= pk__buf_append_str(out, i ? ",[" : "[");
    rc |= pk__buf_append_json_string(out, f->name, strlen(f->name));
    rc |= LIT(out, ",");
    rc |= pk__buf_append_json_string(out, m->text.data ? m->text.data + f->off : "", f->len);
    rc |= LIT(out, "]");
  }
  rc |= LIT(out, "],\"files\":[");
  for (int i = 0; i < m->nfiles; i++) {
    const upload *u = &m->files[i];
    const char *ct = u->ctype ? u->ctype : "application/octet-stream";
    rc |= pk__buf_append_str(out, i ? ",{\"field\":" : "{\"field\":");
    rc |= pk__buf_append_json_string(out, u->field, strlen(u->field));
    rc |= LIT(out, ",\"filename\":");
    rc |= pk__buf_append_json_string(out, u->filename, strlen(u->filename));
    rc |= LIT(out, ",\"content_type\":");
    rc |= pk__buf_append_json_string(out, ct, strlen(ct));
    rc |= LIT(out, ",\"size\":");
    rc |= pk__buf_append_uint(out, (unsigned long long)u->size);
    rc |= LIT(out, ",\"path\":");
    rc |= pk__buf_append_json_string(out, u->path, strlen(u->path));
    rc |= LIT(out, "}");
  }
  rc |= LIT(out, "]}");
  return rc ? -ENOMEM : 0;
}
