/* ws_frame.h: RFC 6455 framing for the server side: a streaming frame parser and the frame encoders. */
#ifndef PK_WS_FRAME_H
#define PK_WS_FRAME_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "input_budget.h"
#include "utf8.h"

/* Opcodes (RFC 6455 section 5.2). */
enum {
  PK__WS_OP_CONT = 0x0,
  PK__WS_OP_TEXT = 0x1,
  PK__WS_OP_BINARY = 0x2,
  PK__WS_OP_CLOSE = 0x8,
  PK__WS_OP_PING = 0x9,
  PK__WS_OP_PONG = 0xa,
};

/* Close codes (RFC 6455 section 7.4.1) the core uses. */
enum {
  PK__WS_CLOSE_NORMAL = 1000,
  PK__WS_CLOSE_GOING_AWAY = 1001,
  PK__WS_CLOSE_PROTOCOL = 1002,
  PK__WS_CLOSE_UNSUPPORTED = 1003,
  PK__WS_CLOSE_NO_STATUS = 1005,     /* never sent: "the close frame had no code" */
  PK__WS_CLOSE_ABNORMAL = 1006,      /* never sent: "the connection dropped without a close" */
  PK__WS_CLOSE_INVALID_DATA = 1007,
  PK__WS_CLOSE_POLICY = 1008,
  PK__WS_CLOSE_TOO_BIG = 1009,
  PK__WS_CLOSE_EXTENSION = 1010,
  PK__WS_CLOSE_INTERNAL = 1011,
  PK__WS_CLOSE_TRY_AGAIN = 1013,     /* the server is overloaded (its input budget is in use) */
};

#define PK__WS_MAX_CONTROL 125       /* payload bytes of a control frame */
#define PK__WS_MAX_HEADER 10         /* bytes of an unmasked (server) frame header */
/* A message buffer larger than this is freed once its message is delivered, so an idle
 * connection that once received a big message does not keep the memory. */
#define PK__WS_KEEP_BUFFER 16384

/* Or-ed into on_message's opcode for a permessage-deflate message (RFC 7692): the data is still
 * compressed, and a text message's UTF-8 is checked by the caller after inflating. */
#define PK__WS_COMPRESSED 0x100

/* Return values of pk__ws_parser_feed besides 0 and negative errors. */
#define PK__WS_STOP 1

typedef struct pk__ws_parser pk__ws_parser;

/* The parser's callbacks, shared by all connections (keep one static table). Each returns 0 to go
 * on, or non-zero to make pk__ws_parser_feed return PK__WS_STOP right after this frame. Data
 * pointers are valid during the call only (they may point into the fed chunk). A callback must
 * not free or re-initialise the parser; return non-zero and do it after the feed returns. */
typedef struct pk__ws_callbacks {
  /* A complete message, reassembled and unmasked; opcode PK__WS_OP_TEXT (valid UTF-8, checked) or
   * PK__WS_OP_BINARY. data is never NULL, even for len 0. */
  int (*on_message)(pk__ws_parser *p, int opcode, const char *data, size_t len);
  int (*on_ping)(pk__ws_parser *p, const char *data, size_t len);
  int (*on_pong)(pk__ws_parser *p, const char *data, size_t len);
  /* A valid close frame: code is PK__WS_CLOSE_NO_STATUS (1005) when the frame had no payload;
   * reason is valid UTF-8. The parser then ignores everything that follows. */
  int (*on_close)(pk__ws_parser *p, int code, const char *reason, size_t len);
} pk__ws_callbacks;

struct pk__ws_parser {
  void *data;                     /* public: the owner's pointer */
  const pk__ws_callbacks *cb;     /* public */
  uint64_t max_message;           /* public: bytes of a message (all its fragments) -> 1009 */
  uint8_t deflate;                /* public: permessage-deflate was negotiated: RSV1 allowed */
  pk__input_budget *budget;       /* public: the budget a buffered message is held under (NULL: none) */
  uint8_t msg_open;               /* read-only: a data message has begun (a frame header of it was
                                     read) and is not complete yet */
  uint32_t msg_begun;             /* read-only: data messages begun so far (tells one open message
                                     from the next) */
  uint8_t msg_compressed;         /* private: the open message has RSV1 */
  int close_code;                 /* read-only: after an error, the code to close with */
  const char *error;              /* read-only: after an error, what was wrong (static) */
  /* private below */
  uint8_t state;                  /* HDR, PAYLOAD, CLOSED or FAILED (ws_frame.c) */
  uint8_t hdr_len, hdr_need;      /* header bytes held in hdr / needed for the next step */
  uint8_t fin, opcode;            /* of the frame being read */
  uint8_t msg_opcode;             /* TEXT or BINARY while a fragmented message is open, else 0 */
  uint8_t phase;                  /* position in the masking key of the next payload byte */
  uint8_t ctl_len;                /* control payload bytes held in ctl */
  uint8_t hdr[14];
  uint8_t key[4];
  uint64_t remaining;             /* payload bytes of this frame still to come */
  uint64_t msg_size;              /* declared bytes of the open message, this frame included */
  pk__utf8_state utf8;            /* of the open text message */
  pk__buf msg;                    /* the open message's bytes (unless delivered in place) */
  uint64_t reserved;              /* msg's share of the budget */
  char ctl[PK__WS_MAX_CONTROL];   /* the control frame's payload */
};

/* max_message: the largest message accepted (1009 beyond it); the parser allocates nothing until
 * a message needs buffering. A message that is buffered (fragmented, or a frame split over feeds)
 * is held under p->budget when set: before the first of a frame's bytes is kept, the declared
 * length of the message so far (this whole frame included) is reserved; over the budget the
 * feed fails with close code 1013. The share goes back when the message is delivered, on any
 * failure, after a close frame, on pk__ws_parser_drop and on pk__ws_parser_free. */
void pk__ws_parser_init(pk__ws_parser *p, const pk__ws_callbacks *cb, uint64_t max_message,
                        void *data);
void pk__ws_parser_free(pk__ws_parser *p);
/* Forgets the open message (its buffer and its share of the budget) and ignores everything fed
 * from now on (a failed parser stays failed): for a connection that closes. Not from a callback. */
void pk__ws_parser_drop(pk__ws_parser *p);

/* Parses the next n bytes from the client, split anywhere. The payload is unmasked in place, so
 * data must be writable; a frame that arrives whole is delivered from data without a copy.
 * *used is set to the bytes consumed. Returns:
 *   0            all n consumed (after a close frame the rest is consumed and ignored);
 *   PK__WS_STOP  a callback returned non-zero: feed data + *used again to go on;
 *   -EPROTO      the client broke the protocol: close with p->close_code (1002, 1007 or 1009),
 *                p->error says why; every later feed returns -EPROTO again;
 *   -ENOMEM      the message buffer could not grow (close_code 1011);
 *   -ENOBUFS     the budget cannot hold the message (close_code 1013). */
int pk__ws_parser_feed(pk__ws_parser *p, char *data, size_t n, size_t *used);

/* XORs src[0..n) with the masking key starting at key position phase (0..3) into dst (which may
 * be src), eight bytes at a time. Returns the key position after the last byte. */
unsigned pk__ws_mask(char *dst, const char *src, size_t n, const uint8_t key[4], unsigned phase);

/* 1 when a close frame from a peer may carry this code (RFC 6455 section 7.4 and the IANA
 * registry): 1000-1003, 1007-1014, 3000-4999. */
int pk__ws_close_code_valid(int code);

/* Writes the header of an unmasked server frame (2, 4 or 10 bytes) into buf (room for
 * PK__WS_MAX_HEADER) and returns its length. fin 0 starts or continues a fragmented message. */
size_t pk__ws_frame_header(uint8_t *buf, int opcode, uint64_t len, int fin);

/* Writes a whole close frame into buf (room for 2 + PK__WS_MAX_CONTROL bytes) and returns its
 * length. The code is written as given (check it with pk__ws_close_code_valid if it comes from
 * an app). code PK__WS_CLOSE_NO_STATUS writes an empty close frame (no code, no reason). A reason
 * over 123 bytes is cut at the last UTF-8 code point boundary that fits. */
size_t pk__ws_close_frame(uint8_t *buf, int code, const char *reason, size_t len);

/* Writes a whole control frame (ping or pong) with len <= 125 payload bytes (longer is cut) into
 * buf (room for 2 + PK__WS_MAX_CONTROL) and returns its length. */
size_t pk__ws_control_frame(uint8_t *buf, int opcode, const char *data, size_t len);
static inline size_t pk__ws_pong_frame(uint8_t *buf, const char *data, size_t len) {
  return pk__ws_control_frame(buf, PK__WS_OP_PONG, data, len);
}
static inline size_t pk__ws_ping_frame(uint8_t *buf, const char *data, size_t len) {
  return pk__ws_control_frame(buf, PK__WS_OP_PING, data, len);
}
#endif
