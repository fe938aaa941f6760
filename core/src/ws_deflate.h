/* ws_deflate.h: permessage-deflate (RFC 7692) without context takeover, one zlib stream pair per worker. */
#ifndef PK_WS_DEFLATE_H
#define PK_WS_DEFLATE_H
#include <stddef.h>
#include "buf.h"

/* The response header value the server sends when the client offered permessage-deflate. */
#define PK__WS_DEFLATE_RESPONSE "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

/* 1 if a Sec-WebSocket-Extensions value offers permessage-deflate. */
int pk__ws_deflate_offered(const char *value, size_t len);
/* Inflates one message into out (reset first). Returns 0, -E2BIG past max bytes, -EINVAL for
 * bad data, -ENOMEM. */
int pk__ws_inflate(const char *data, size_t len, size_t max, pk__buf *out);
/* Deflates one message into out (reset first), without the final 00 00 ff ff. Returns 0 or < 0. */
int pk__ws_deflate(const char *data, size_t len, pk__buf *out);
#endif
