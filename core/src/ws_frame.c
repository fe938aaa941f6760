/* ws_frame.c: the RFC 6455 frame parser for client-to-server traffic, and the server's frame encoders. */
#include "ws_frame.h"
#include <errno.h>
#include <string.h>

enum { ST_HDR, ST_PAYLOAD, ST_CLOSED, ST_FAILED };

void pk__ws_parser_init(pk__ws_parser *p, const pk__ws_callbacks *cb, uint64_t max_message,
                        void *data) {
  memset(p, 0, sizeof *p);
  p->data = data;
  p->cb = cb;
  p->max_message = max_message;
  p->state = ST_HDR;
  p->hdr_need = 2;
  pk__utf8_init(&p->utf8);
  pk__buf_init(&p->msg);
}

/* The open message is gone (delivered, failed, closed): its buffer and its share of the budget. */
static void forget_message(pk__ws_parser *p) {
  pk__buf_free(&p->msg);
  pk__input_release(p->budget, &p->reserved);
  p->msg_open = 0;
}

void pk__ws_parser_free(pk__ws_parser *p) { forget_message(p); }

void pk__ws_parser_drop(pk__ws_parser *p) {
  forget_message(p);
  p->msg_opcode = 0;
  if (p->state != ST_FAILED) p->state = ST_CLOSED;
}

unsigned pk__ws_mask(char *dst, const char *src, size_t n, const uint8_t key[4], unsigned phase) {
  /* The key repeated over eight bytes, rotated to the phase: k[i] masks byte i (and i + 8, ...).
   * Built byte by byte, so the 64-bit XOR is right on any byte order. */
  uint8_t k[8];
  for (unsigned j = 0; j < 8; j++) k[j] = key[(phase + j) & 3];
  uint64_t k64;
  memcpy(&k64, k, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, src + i, 8);
    v ^= k64;
    memcpy(dst + i, &v, 8);
  }
  for (; i < n; i++) dst[i] = (char)(src[i] ^ k[i & 7]);
  return (unsigned)((phase + n) & 3);
}

int pk__ws_close_code_valid(int code) {
  if (code >= 3000 && code <= 4999) return 1;          /* libraries (3xxx) and applications (4xxx) */
  if (code < 1000 || code > 1014) return 0;            /* 0-999 unused; 1015-2999 reserved */
  return code != 1004 && code != 1005 && code != 1006; /* reserved, or only for local reporting */
}

static int error_of(int code) {
  return code == PK__WS_CLOSE_INTERNAL ? -ENOMEM : code == PK__WS_CLOSE_TRY_AGAIN ? -ENOBUFS : -EPROTO;
}

static int fail(pk__ws_parser *p, int code, const char *why) {
  p->state = ST_FAILED;
  p->close_code = code;
  p->error = why;
  forget_message(p);             /* nothing more is read: the connection closes */
  return error_of(code);
}

static uint64_t be_read(const uint8_t *b, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | b[i];
  return v;
}

/* Bytes of the extended payload length after the first two header bytes: 0, 2 or 8. */
static unsigned ext_len(const pk__ws_parser *p) {
  unsigned l7 = p->hdr[1] & 0x7f;
  return l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
}

/* The payload length is known: check it against the message limit and count it. */
static int set_length(pk__ws_parser *p, uint64_t len) {
  if ((p->opcode & 8) && len > PK__WS_MAX_CONTROL)
    return fail(p, PK__WS_CLOSE_PROTOCOL, "control frame payload over 125 bytes");
  if (!(p->opcode & 8)) {
    if (len > p->max_message || p->msg_size > p->max_message - len)
      return fail(p, PK__WS_CLOSE_TOO_BIG, "message larger than the maximum message size");
    p->msg_size += len;
  }
  p->remaining = len;
  p->hdr_need += 4;                                    /* then the masking key */
  return 0;
}

/* Runs when hdr holds hdr_need bytes: validates what they say as early as it can, then asks for
 * more header bytes or switches to the payload. */
static int header_step(pk__ws_parser *p) {
  unsigned ext = ext_len(p);
  if (p->hdr_len == 2) {
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    p->fin = b0 >> 7;
    p->opcode = b0 & 0x0f;
    /* RSV1 marks a permessage-deflate message (its first frame only); RSV2/3 have no extension. */
    if (b0 & 0x30) return fail(p, PK__WS_CLOSE_PROTOCOL, "reserved bits set without an extension");
    if ((b0 & 0x40) && (!p->deflate || (p->opcode != PK__WS_OP_TEXT && p->opcode != PK__WS_OP_BINARY)))
      return fail(p, PK__WS_CLOSE_PROTOCOL, p->deflate ? "RSV1 on a frame that is not a message's first"
                                                       : "reserved bits set without an extension");
    if (!(b1 & 0x80)) return fail(p, PK__WS_CLOSE_PROTOCOL, "frame from the client is not masked");
    switch (p->opcode) {
    case PK__WS_OP_CONT:
      if (!p->msg_opcode) return fail(p, PK__WS_CLOSE_PROTOCOL, "continuation frame without a message to continue");
      break;
    case PK__WS_OP_TEXT:
    case PK__WS_OP_BINARY:
      if (p->msg_opcode) return fail(p, PK__WS_CLOSE_PROTOCOL, "new data frame before the fragmented message ended");
      p->msg_size = 0;
      p->msg_compressed = (b0 & 0x40) ? 1 : 0;
      p->msg_open = 1;
      p->msg_begun++;
      pk__utf8_init(&p->utf8);
      if (!p->fin) p->msg_opcode = p->opcode;
      break;
    case PK__WS_OP_CLOSE:
    case PK__WS_OP_PING:
    case PK__WS_OP_PONG:
      if (!p->fin) return fail(p, PK__WS_CLOSE_PROTOCOL, "fragmented control frame");
      break;       /* its length (at most 125) is checked once known, extended form or not */
    default:
      return fail(p, PK__WS_CLOSE_PROTOCOL, "unknown opcode");
    }
    if (ext) { p->hdr_need = (uint8_t)(2 + ext); return 0; }
    return set_length(p, b1 & 0x7f);
  }
  if (ext && p->hdr_len == 2 + ext) {
    uint64_t len = be_read(p->hdr + 2, (int)ext);
    if (len >> 63) return fail(p, PK__WS_CLOSE_PROTOCOL, "64-bit payload length with the top bit set");
    /* Lengths not in their shortest form (126 with a value under 126...) are accepted: the
     * minimal form is a MUST for senders, and nothing is gained by refusing it. That holds for
     * control frames too: what counts is that their payload is at most 125 bytes. */
    return set_length(p, len);
  }
  memcpy(p->key, p->hdr + p->hdr_len - 4, 4);
  p->phase = 0;
  p->ctl_len = 0;
  p->hdr_len = 0;
  p->hdr_need = 2;
  p->state = ST_PAYLOAD;
  return 0;
}

static int call(pk__ws_parser *p, int (*fn)(pk__ws_parser *, const char *, size_t), const char *d, size_t n) {
  return fn && fn(p, d, n) ? 1 : 0;
}

/* A control frame's payload is complete in ctl. Callbacks' results become 1 (stop) or 0;
 * failures are negative. */
static int control_done(pk__ws_parser *p) {
  const pk__ws_callbacks *cb = p->cb;
  if (p->opcode == PK__WS_OP_PING) return call(p, cb->on_ping, p->ctl, p->ctl_len);
  if (p->opcode == PK__WS_OP_PONG) return call(p, cb->on_pong, p->ctl, p->ctl_len);
  int code = PK__WS_CLOSE_NO_STATUS;
  const char *reason = p->ctl + 2;
  size_t rlen = 0;
  if (p->ctl_len == 1) return fail(p, PK__WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
  if (p->ctl_len >= 2) {
    code = (uint8_t)p->ctl[0] << 8 | (uint8_t)p->ctl[1];
    rlen = p->ctl_len - 2u;
    if (!pk__ws_close_code_valid(code)) return fail(p, PK__WS_CLOSE_PROTOCOL, "invalid close code");
    if (!pk__utf8_valid(reason, rlen)) return fail(p, PK__WS_CLOSE_INVALID_DATA, "close reason is not valid UTF-8");
  }
  p->state = ST_CLOSED;
  forget_message(p);             /* a message left open will never end */
  return cb->on_close && cb->on_close(p, code, reason, rlen) ? 1 : 0;
}

/* The last frame of a message was read: deliver it from the buffer. */
static int message_done(pk__ws_parser *p, int opcode) {
  if (opcode == PK__WS_OP_TEXT && !p->msg_compressed && !pk__utf8_complete(&p->utf8))
    return fail(p, PK__WS_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
  size_t len = p->msg.len;
  int flag = p->msg_compressed ? PK__WS_COMPRESSED : 0;
  p->msg_open = 0;
  int r = p->cb->on_message && p->cb->on_message(p, opcode | flag, p->msg.data ? p->msg.data : "", len) ? 1 : 0;
  p->msg_opcode = 0;
  p->msg_size = 0;
  /* Buffers grow by doubling, so after a message of len bytes the buffer holds under 2 * len
   * (or 256): freeing after big messages bounds what an idle connection keeps. */
  if (len > PK__WS_KEEP_BUFFER) pk__buf_free(&p->msg);
  else pk__buf_reset(&p->msg);
  pk__input_release(p->budget, &p->reserved);
  return r;
}

/* The open message is about to be buffered: the declared bytes of the message so far (msg_size,
 * the current frame's whole length included) are held under the budget, and the buffer grows at
 * once to take the rest of this frame. Returns 0, or fails the parser (1013 or 1011). */
static int hold(pk__ws_parser *p) {
  if (p->reserved >= p->msg_size && p->budget) return 0;
  if (pk__input_reserve(p->budget, &p->reserved, p->msg_size))
    return fail(p, PK__WS_CLOSE_TRY_AGAIN, "the server's memory for incoming messages is in use");
  if (pk__buf_reserve(&p->msg, (size_t)(p->msg_size - p->msg.len)))
    return fail(p, PK__WS_CLOSE_INTERNAL, "out of memory for the message");
  return 0;
}

int pk__ws_parser_feed(pk__ws_parser *p, char *data, size_t n, size_t *used) {
  size_t i = 0;
  int r = 0;
  *used = 0;
  if (p->state == ST_FAILED) return error_of(p->close_code);
  for (;;) {
    if (p->state == ST_CLOSED) { i = n; break; }
    if (p->state == ST_HDR) {
      if (i == n) break;
      size_t take = (size_t)(p->hdr_need - p->hdr_len);
      if (take > n - i) take = n - i;
      memcpy(p->hdr + p->hdr_len, data + i, take);
      p->hdr_len = (uint8_t)(p->hdr_len + take);
      i += take;
      if (p->hdr_len < p->hdr_need) break;
      if ((r = header_step(p)) < 0) break;
      continue;
    }
    /* ST_PAYLOAD: possibly zero bytes left to take (an empty frame completes here). */
    size_t take = n - i;
    if (take > p->remaining) take = (size_t)p->remaining;
    char *at = data + i;
    int op = p->opcode;
    if (op & 8) {
      p->phase = (uint8_t)pk__ws_mask(p->ctl + p->ctl_len, at, take, p->key, p->phase);
      p->ctl_len = (uint8_t)(p->ctl_len + take);
      i += take;
      p->remaining -= take;
      if (p->remaining) break;
      p->state = ST_HDR;
      r = control_done(p);
    } else if (op != PK__WS_OP_CONT && p->fin && take == p->msg_size) {
      /* A whole unfragmented message in this chunk: unmask and deliver it in place. */
      pk__ws_mask(at, at, take, p->key, 0);
      i += take;
      p->remaining = 0;
      p->state = ST_HDR;
      p->msg_size = 0;
      p->msg_open = 0;
      if (op == PK__WS_OP_TEXT && !p->msg_compressed && !pk__utf8_valid(at, take)) {
        r = fail(p, PK__WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
        break;
      }
      int flag = p->msg_compressed ? PK__WS_COMPRESSED : 0;
      r = p->cb->on_message && p->cb->on_message(p, op | flag, at, take) ? 1 : 0;
    } else {
      /* Part of a message: unmask in place, keep it, and check text as it comes so invalid
       * UTF-8 is refused without waiting for the rest. */
      if (take && (r = hold(p)) < 0) break;        /* (a header that ended the chunk keeps nothing yet) */
      p->phase = (uint8_t)pk__ws_mask(at, at, take, p->key, p->phase);
      if (pk__buf_append(&p->msg, at, take)) { r = fail(p, PK__WS_CLOSE_INTERNAL, "out of memory for the message"); break; }
      i += take;
      p->remaining -= take;
      int mop = op == PK__WS_OP_CONT ? p->msg_opcode : op;
      if (mop == PK__WS_OP_TEXT && !p->msg_compressed && pk__utf8_feed(&p->utf8, at, take)) {
        r = fail(p, PK__WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
        break;
      }
      if (p->remaining) break;
      p->state = ST_HDR;
      if (p->fin) r = message_done(p, mop);
    }
    if (r < 0) break;
    if (p->state == ST_CLOSED) i = n;
    if (r) { r = PK__WS_STOP; break; }
  }
  *used = i;
  return r;
}

/* ---- encoders (server frames are never masked) ---- */

size_t pk__ws_frame_header(uint8_t *buf, int opcode, uint64_t len, int fin) {
  buf[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (len < 126) {
    buf[1] = (uint8_t)len;
    return 2;
  }
  if (len <= 0xffff) {
    buf[1] = 126;
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    return 4;
  }
  buf[1] = 127;
  for (int i = 0; i < 8; i++) buf[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}

size_t pk__ws_control_frame(uint8_t *buf, int opcode, const char *data, size_t len) {
  if (len > PK__WS_MAX_CONTROL) len = PK__WS_MAX_CONTROL;
  buf[0] = (uint8_t)(0x80 | (opcode & 0x0f));
  buf[1] = (uint8_t)len;
  if (len) memcpy(buf + 2, data, len);
  return 2 + len;
}

size_t pk__ws_close_frame(uint8_t *buf, int code, const char *reason, size_t len) {
  if (code == PK__WS_CLOSE_NO_STATUS) return pk__ws_control_frame(buf, PK__WS_OP_CLOSE, NULL, 0);
  if (!reason) len = 0;
  if (len > PK__WS_MAX_CONTROL - 2) {
    len = PK__WS_MAX_CONTROL - 2;
    /* Cut before the code point the limit falls in: while the first byte left out is a
     * continuation byte, leave out one more, down to (and including) that code point's lead. */
    while (len && ((uint8_t)reason[len] & 0xc0) == 0x80) len--;
  }
  buf[0] = 0x80 | PK__WS_OP_CLOSE;
  buf[1] = (uint8_t)(2 + len);
  buf[2] = (uint8_t)(code >> 8);
  buf[3] = (uint8_t)code;
  if (len) memcpy(buf + 4, reason, len);
  return 4 + len;
}
