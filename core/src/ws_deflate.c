/* ws_deflate.c: permessage-deflate offer negotiation and inflate/deflate of whole messages; streams reset per message. */
#include "ws_deflate.h"
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* One inflate stream (2^15 reads any client window) and one deflate stream per zlib window size,
 * made when first needed; shared by the worker's connections, reset for every message. */
static z_stream inf, def[16];
static int inf_ready, def_ready[16];

/* ---- negotiation (RFC 7692 section 7.1; the header's grammar is RFC 6455 section 9.1) --------- */

typedef struct { const char *p, *end; } cursor;

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void ows(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static size_t token(cursor *c, const char **t) {
  *t = c->p;
  while (c->p < c->end && is_tchar((unsigned char)*c->p)) c->p++;
  return (size_t)(c->p - *t);
}

/* A quoted-string starting at c->p, unescaped into buf. Returns its length, or cap + 1 when it
 * is longer than cap or never closed. */
static size_t quoted(cursor *c, char *buf, size_t cap) {
  size_t n = 0;
  int over = 0;
  c->p++;
  while (c->p < c->end) {
    char ch = *c->p++;
    if (ch == '"') return over ? cap + 1 : n;
    if (ch == '\\') {
      if (c->p == c->end) break;
      ch = *c->p++;
    }
    if (n < cap) buf[n++] = ch;
    else over = 1;
  }
  return cap + 1;
}

/* Moves to the ',' that ends the current element (or the end), stepping over quoted strings. */
static void skip_element(cursor *c) {
  while (c->p < c->end && *c->p != ',') {
    if (*c->p == '"') quoted(c, NULL, 0);
    else c->p++;
  }
}

/* A window size: a decimal 8..15 without leading zeroes (section 7.1.2.1). -1 otherwise. */
static int bits_value(const char *v, size_t n) {
  if (n == 1 && (v[0] == '8' || v[0] == '9')) return v[0] - '0';
  if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + v[1] - '0';
  return -1;
}

enum { SERVER_NCT = 1, CLIENT_NCT = 2, SERVER_BITS = 4, CLIENT_BITS = 8 };

static const struct { const char *name; size_t len; unsigned bit; } params[] = {
  {"server_no_context_takeover", 26, SERVER_NCT}, {"client_no_context_takeover", 26, CLIENT_NCT},
  {"server_max_window_bits", 22, SERVER_BITS},    {"client_max_window_bits", 22, CLIENT_BITS},
};

/* One element of the list, c->p at its first character. Returns 1 and fills *out if it is a
 * permessage-deflate offer the server accepts (what it answers with, it does: each message on
 * its own, the asked window, inflate with 2^15). */
static int offer(cursor *c, pk__ws_deflate_params *out) {
  const char *name;
  size_t n = token(c, &name);
  if (n != 18 || strncasecmp(name, "permessage-deflate", 18) != 0) return 0;
  unsigned seen = 0;
  int bits = 15, named = 0;
  for (;;) {
    ows(c);
    if (c->p == c->end || *c->p == ',') break;
    if (*c->p != ';') return 0;
    c->p++;
    ows(c);
    const char *pn;
    size_t pl = token(c, &pn);
    if (!pl) return 0;
    ows(c);
    char qbuf[4];
    const char *v = NULL;
    size_t vl = 0;
    if (c->p < c->end && *c->p == '=') {
      c->p++;
      ows(c);
      if (c->p < c->end && *c->p == '"') {   /* a quoted value must unquote to a token (RFC 6455 9.1) */
        vl = quoted(c, qbuf, sizeof qbuf);
        if (vl > sizeof qbuf) return 0;
        v = qbuf;
      } else if (!(vl = token(c, &v))) {
        return 0;
      }
    }
    unsigned which = 0;
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
      if (pl == params[i].len && strncasecmp(pn, params[i].name, pl) == 0) which = params[i].bit;
    if (!which || (seen & which)) return 0;   /* unknown, or given twice: decline (section 7) */
    seen |= which;
    if (which == SERVER_NCT || which == CLIENT_NCT) {
      if (v) return 0;                        /* these take no value */
    } else if (which == SERVER_BITS) {
      if (!v || (bits = bits_value(v, vl)) < 0) return 0;
      named = 1;
    } else if (v && bits_value(v, vl) < 0) {  /* client_max_window_bits: the value is optional */
      return 0;
    }
  }
  out->window_bits = bits;
  out->bits_named = named;
  return 1;
}

int pk__ws_deflate_negotiate(const char *value, size_t len, pk__ws_deflate_params *out) {
  out->window_bits = 0;
  out->bits_named = 0;
  if (!value) return 0;
  cursor c = {value, value + len};
  while (c.p < c.end) {
    ows(&c);
    if (c.p < c.end && *c.p != ',' && offer(&c, out)) return 1;
    skip_element(&c);
    if (c.p < c.end) c.p++;
  }
  return 0;
}

size_t pk__ws_deflate_response(const pk__ws_deflate_params *p, char buf[PK__WS_DEFLATE_RESPONSE_MAX]) {
  /* Both no_context_takeover: the server may always add them (sections 7.1.1.1 and 7.1.1.2), and
   * it resets both streams for every message. client_max_window_bits is never named: inflate
   * with 2^15 reads any window the client uses. */
  static const char base[] = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  static const char bits[] = "; server_max_window_bits=";
  _Static_assert(sizeof base - 1 + sizeof bits - 1 + 2 <= PK__WS_DEFLATE_RESPONSE_MAX, "room");
  size_t n = sizeof base - 1;
  memcpy(buf, base, n);
  if (p->bits_named) {
    memcpy(buf + n, bits, sizeof bits - 1);
    n += sizeof bits - 1;
    if (p->window_bits >= 10) buf[n++] = '1';
    buf[n++] = (char)('0' + p->window_bits % 10);
  }
  return n;
}

/* ---- whole messages ------------------------------------------------------------------------- */

int pk__ws_inflate(const char *data, size_t len, size_t max, pk__buf *out) {
  static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
  if (!inf_ready) {
    if (inflateInit2(&inf, -15) != Z_OK) return -ENOMEM;
    inf_ready = 1;
  } else {
    inflateReset(&inf);
  }
  pk__buf_reset(out);
  for (int part = 0; part < 2; part++) {
    inf.next_in = (Bytef *)(part ? tail : (const unsigned char *)data);
    inf.avail_in = (uInt)(part ? sizeof tail : len);
    while (inf.avail_in > 0) {
      size_t room;
      char *at = pk__buf_space(out, 16384, &room);
      if (!at) return -ENOMEM;
      if (room > UINT_MAX) room = UINT_MAX;
      inf.next_out = (Bytef *)at;
      inf.avail_out = (uInt)room;
      int rc = inflate(&inf, Z_SYNC_FLUSH);
      pk__buf_commit(out, room - inf.avail_out);
      if (out->len > max) return -E2BIG;
      if (rc == Z_STREAM_END) break;
      if (rc == Z_BUF_ERROR && inf.avail_out > 0) break;   /* nothing more to do with this input */
      if (rc != Z_OK && rc != Z_BUF_ERROR) return -EINVAL;
    }
  }
  return 0;
}

int pk__ws_deflate_window(const char *data, size_t len, int window_bits, pk__buf *out) {
  if (window_bits < 8 || window_bits > 15) return -EINVAL;
  /* zlib has no raw deflate with a 256-byte window (deflateInit2 refuses -8 since 1.2.9), but its
   * matches never reach further back than the window less MIN_LOOKAHEAD (262 bytes): 250 bytes
   * with 2^9. So a 2^9 stream is one a client that asked for 2^8 can read (Node's zlib turns 8
   * into 9 the same way); tests/unit/test_ws_handshake.c inflates it with a 2^8 window. */
  int zb = window_bits < 9 ? 9 : window_bits;
  z_stream *z = &def[zb];
  if (!def_ready[zb]) {
    if (deflateInit2(z, 1, Z_DEFLATED, -zb, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -ENOMEM;
    def_ready[zb] = 1;
  } else {
    deflateReset(z);
  }
  pk__buf_reset(out);
  z->next_in = (Bytef *)data;
  z->avail_in = (uInt)len;
  do {
    size_t room;
    char *at = pk__buf_space(out, len / 2 + 64, &room);
    if (!at) return -ENOMEM;
    if (room > UINT_MAX) room = UINT_MAX;
    z->next_out = (Bytef *)at;
    z->avail_out = (uInt)room;
    if (deflate(z, Z_SYNC_FLUSH) == Z_STREAM_ERROR) return -EINVAL;
    pk__buf_commit(out, room - z->avail_out);
  } while (z->avail_out == 0);
  if (out->len >= 4 && memcmp(out->data + out->len - 4, "\x00\x00\xff\xff", 4) == 0) pk__buf_truncate(out, out->len - 4);
  return 0;
}
