/* ws_handshake.c: reads and validates a WebSocket upgrade request (RFC 6455 section 4.2) and builds the 101 answer. */
#include "ws_handshake.h"
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include "http_parser.h"

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
#define GUID_LEN (sizeof GUID - 1)
/* A key is 16 bytes in base64: 22 characters and "==". */
#define KEY_LEN 24

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* Narrows [*s, *s + *n) to drop optional whitespace at both ends. */
static void trim(const char **s, size_t *n) {
  while (*n && is_ows(**s)) { (*s)++; (*n)--; }
  while (*n && is_ows((*s)[*n - 1])) (*n)--;
}

/* Calls back for each non-empty, trimmed element of a comma-separated list; stops when the
 * callback returns non-zero and returns that value. */
typedef int (*elem_fn)(const char *e, size_t n, void *arg);
static int list_each(const char *list, size_t len, elem_fn fn, void *arg) {
  size_t i = 0;
  while (i <= len && list) {
    size_t j = i;
    while (j < len && list[j] != ',') j++;
    const char *e = list + i;
    size_t n = j - i;
    trim(&e, &n);
    if (n) {
      int r = fn(e, n, arg);
      if (r) return r;
    }
    i = j + 1;
  }
  return 0;
}

struct token { const char *s; size_t n; };
static int token_eq(const char *e, size_t n, void *arg) {
  const struct token *t = arg;
  return n == t->n && strncasecmp(e, t->s, n) == 0;
}

int pk__ws_list_has(const char *list, size_t len, const char *token, size_t tlen) {
  struct token t = { token, tlen };
  return list_each(list, len, token_eq, &t);
}

/* Subprotocol names are compared exactly (RFC 6455 section 11.5: case-sensitive). */
struct pick { const char *const *supported; const char *s; size_t n; };
static int pick_protocol(const char *e, size_t n, void *arg) {
  struct pick *pk = arg;
  for (const char *const *p = pk->supported; *p; p++)
    if (strlen(*p) == n && memcmp(*p, e, n) == 0) { pk->s = e; pk->n = n; return 1; }
  return 0;
}

static int b64_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* The key must be base64 (RFC 4648 section 4, with padding) of exactly 16 bytes. Unused low bits
 * of the last character are not required to be zero: a decoder ignores them, so such a key
 * still decodes to 16 bytes. */
static int key_ok(const char *k, size_t n) {
  if (n != KEY_LEN || k[22] != '=' || k[23] != '=') return 0;
  for (size_t i = 0; i < 22; i++)
    if (!b64_char((unsigned char)k[i])) return 0;
  return 1;
}

int pk__ws_accept_key(const char *key, size_t key_len, char accept[PK__WS_ACCEPT_LEN + 1]) {
  unsigned char in[64 + GUID_LEN], md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (key_len > 64) return -EINVAL;
  memcpy(in, key, key_len);
  memcpy(in + key_len, GUID, GUID_LEN);
  if (!EVP_Digest(in, key_len + GUID_LEN, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20) return -EIO;
  /* EVP_EncodeBlock writes padded standard base64 and a NUL: 28 + 1 bytes for 20. */
  if (EVP_EncodeBlock((unsigned char *)accept, md, 20) != PK__WS_ACCEPT_LEN) return -EIO;
  return 0;
}

/* ---- reading the request ----------------------------------------------------------------------- */

static int name_is(const pk__request *r, const pk__header *h, const char *name, size_t nlen) {
  return h->name_len == nlen && strncasecmp(r->head.data + h->name_off, name, nlen) == 0;
}

static const char *value_of(const pk__request *r, const pk__header *h) {
  return h->value_len ? r->head.data + h->value_off : "";
}

/* One header: *v and *n are its first line's value, *lines how many lines carried it; when
 * `join` and there are several, their values go to the end of scratch joined with ", ", *off
 * says where (*v is set once scratch stops growing). */
static int field(const pk__request *r, const char *name, size_t nlen, int join, pk__buf *scratch,
                 const char **v, size_t *n, size_t *off, int *lines) {
  *lines = 0;
  for (int i = 0; i < r->nheaders; i++) {
    const pk__header *h = &r->headers[i];
    if (!name_is(r, h, name, nlen)) continue;
    if (++*lines == 1) {
      *v = value_of(r, h);
      *n = h->value_len;
      continue;
    }
    if (!join) continue;
    if (*lines == 2) {
      *off = scratch->len;
      if (pk__buf_append(scratch, *v, *n)) return -ENOMEM;
    }
    if (pk__buf_append(scratch, ", ", 2) || pk__buf_append(scratch, value_of(r, h), h->value_len))
      return -ENOMEM;
    *n = scratch->len - *off;
  }
  return 0;
}

int pk__ws_upgrade_req_from(pk__ws_upgrade_req *q, const pk__request *r, pk__buf *scratch) {
  memset(q, 0, sizeof *q);
  pk__buf_reset(scratch);
  q->method = llhttp_method_name((llhttp_method_t)r->method);
  q->method_len = strlen(q->method);
  q->http_major = 1;
  q->http_minor = r->http_minor;
  struct { const char *name; size_t len; const char **v; size_t *n; } lists[] = {
    {"upgrade", 7, &q->upgrade, &q->upgrade_len},
    {"connection", 10, &q->connection, &q->connection_len},
    {"sec-websocket-protocol", 22, &q->protocol, &q->protocol_len},
    {"sec-websocket-extensions", 24, &q->extensions, &q->extensions_len},
  };
  enum { NLISTS = sizeof lists / sizeof lists[0] };
  size_t off[NLISTS];
  int lines[NLISTS];
  for (int i = 0; i < NLISTS; i++)
    if (field(r, lists[i].name, lists[i].len, 1, scratch, lists[i].v, lists[i].n, &off[i], &lines[i]))
      return -ENOMEM;
  for (int i = 0; i < NLISTS; i++)       /* scratch is done growing: point into it */
    if (lines[i] > 1) *lists[i].v = scratch->data + off[i];
  size_t unused;
  field(r, "sec-websocket-key", 17, 0, scratch, &q->key, &q->key_len, &unused, &q->key_lines);
  field(r, "sec-websocket-version", 21, 0, scratch, &q->version, &q->version_len, &unused, &q->version_lines);
  return 0;
}

/* ---- checking it -------------------------------------------------------------------------------- */

static int fail(pk__ws_upgrade_res *res, int status, const char *reason, const char *extra) {
  res->status = status;
  res->reason = reason;
  res->extra = extra;
  return -EINVAL;
}

int pk__ws_upgrade_check(const pk__ws_upgrade_req *req, const char *const *supported,
                         pk__ws_upgrade_res *res) {
  memset(res, 0, sizeof *res);
  if (!req->method || req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
    return fail(res, 400, "a WebSocket upgrade must be a GET request", NULL);
  if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1))
    return fail(res, 400, "a WebSocket upgrade needs HTTP/1.1", NULL);
  /* A plain request to a WebSocket-only resource. A 426 must name the protocol to switch to in
   * Upgrade (RFC 9110 section 15.5.22); the Connection: upgrade that must go with it (section
   * 7.8) is pk__response_write's, which owns the one Connection header. */
  if (!req->upgrade || !pk__ws_list_has(req->upgrade, req->upgrade_len, "websocket", 9))
    return fail(res, 426, "this resource needs a WebSocket connection (Upgrade: websocket)",
                "Upgrade: websocket\r\n");
  if (!req->connection || !pk__ws_list_has(req->connection, req->connection_len, "upgrade", 7))
    return fail(res, 400, "a WebSocket upgrade needs \"Upgrade\" in the Connection header", NULL);
  /* RFC 6455 sections 11.3.1 and 11.3.5: each MUST NOT appear more than once in a request. */
  if (req->version_lines > 1)
    return fail(res, 400, "Sec-WebSocket-Version was sent more than once: send it once, as 13",
                "Sec-WebSocket-Version: 13\r\n");
  if (req->key_lines > 1)
    return fail(res, 400, "Sec-WebSocket-Key was sent more than once: send one key", NULL);
  const char *v = req->version;
  size_t vn = req->version_len;
  if (v) trim(&v, &vn);
  if (!v || vn != 2 || memcmp(v, "13", 2) != 0)
    return fail(res, 426, "unsupported WebSocket version: only Sec-WebSocket-Version 13 is spoken",
                "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  const char *k = req->key;
  size_t kn = req->key_len;
  if (!k) return fail(res, 400, "a WebSocket upgrade needs a Sec-WebSocket-Key header", NULL);
  trim(&k, &kn);
  if (!key_ok(k, kn))
    return fail(res, 400, "Sec-WebSocket-Key must be the base64 encoding of 16 bytes", NULL);
  if (pk__ws_accept_key(k, kn, res->accept)) {
    res->status = 500;
    res->reason = "SHA-1 failed in libcrypto";
    return -EIO;
  }
  if (supported && req->protocol) {
    struct pick pk = { supported, NULL, 0 };
    if (list_each(req->protocol, req->protocol_len, pick_protocol, &pk)) {
      res->protocol = pk.s;
      res->protocol_len = pk.n;
    }
  }
  pk__ws_deflate_negotiate(req->extensions, req->extensions_len, &res->deflate);
  res->status = 101;
  return 0;
}

int pk__ws_upgrade_write(pk__buf *out, const pk__ws_upgrade_res *res) {
  static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
  static const char proto[] = "\r\nSec-WebSocket-Protocol: ";
  static const char ext[] = "\r\nSec-WebSocket-Extensions: ";
  char deflate[PK__WS_DEFLATE_RESPONSE_MAX];
  size_t dlen = res->deflate.window_bits ? pk__ws_deflate_response(&res->deflate, deflate) : 0;
  size_t need = sizeof head - 1 + PK__WS_ACCEPT_LEN + 4;
  if (res->protocol) need += sizeof proto - 1 + res->protocol_len;
  if (dlen) need += sizeof ext - 1 + dlen;
  /* One reservation, so the appends below cannot fail half-way. */
  if (pk__buf_reserve(out, need)) return -ENOMEM;
  pk__buf_append(out, head, sizeof head - 1);
  pk__buf_append(out, res->accept, PK__WS_ACCEPT_LEN);
  if (res->protocol) {
    pk__buf_append(out, proto, sizeof proto - 1);
    pk__buf_append(out, res->protocol, res->protocol_len);
  }
  if (dlen) {
    pk__buf_append(out, ext, sizeof ext - 1);
    pk__buf_append(out, deflate, dlen);
  }
  pk__buf_append(out, "\r\n\r\n", 4);
  return 0;
}
