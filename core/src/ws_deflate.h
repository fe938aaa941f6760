/* ws_deflate.h: permessage-deflate (RFC 7692) without context takeover: offer negotiation and whole-message zlib. */
#ifndef PK_WS_DEFLATE_H
#define PK_WS_DEFLATE_H
#include <stddef.h>
#include "buf.h"

/* What was agreed with one client (RFC 7692 section 7.1). Both directions always run without
 * context takeover (each message is its own deflate stream), and the server inflates with a
 * 2^15 window, which reads whatever window the client compresses with: so the only thing that
 * differs between connections is the window the server compresses with. */
typedef struct pk__ws_deflate_params {
  int window_bits;   /* 0: not negotiated; 8..15: the server compresses with at most a 2^N window */
  int bits_named;    /* 1: the offer had server_max_window_bits, so the response names window_bits */
} pk__ws_deflate_params;

/* Longest response value pk__ws_deflate_response writes (without a NUL). */
#define PK__WS_DEFLATE_RESPONSE_MAX 104

/* Goes through the offers in a Sec-WebSocket-Extensions value (several lines joined with ", ")
 * in the client's order and accepts the first permessage-deflate offer whose parameters are all
 * known, given once and valid (RFC 7692 section 7.1); other extensions and bad offers are
 * skipped. Returns 1 and fills *out when one is accepted, 0 (and out->window_bits 0) when none. */
int pk__ws_deflate_negotiate(const char *value, size_t len, pk__ws_deflate_params *out);
/* Writes the Sec-WebSocket-Extensions value that accepts *p into buf (no NUL); returns its length. */
size_t pk__ws_deflate_response(const pk__ws_deflate_params *p, char buf[PK__WS_DEFLATE_RESPONSE_MAX]);

/* Inflates one message into out (reset first). Returns 0, -E2BIG past max bytes, -EINVAL for
 * bad data, -ENOMEM. */
int pk__ws_inflate(const char *data, size_t len, size_t max, pk__buf *out);
/* Deflates one message with at most a 2^window_bits window (8..15: the negotiated window_bits)
 * into out (reset first), without the final 00 00 ff ff. Returns 0, -EINVAL for other bits, or
 * another value < 0. */
int pk__ws_deflate_window(const char *data, size_t len, int window_bits, pk__buf *out);
#endif
