/* ws_handshake.h: the server side of the RFC 6455 opening handshake (checks, Sec-WebSocket-Accept, 101 bytes). */
#ifndef PK_WS_HANDSHAKE_H
#define PK_WS_HANDSHAKE_H
#include <stddef.h>
#include "buf.h"

/* Sec-WebSocket-Accept is base64 of a 20-byte SHA-1: 28 characters. */
#define PK__WS_ACCEPT_LEN 28

/* What the caller looked up in the parsed request. A header that is absent has value NULL; a
 * header sent twice should be passed joined with ", " (RFC 9110 section 5.3). */
typedef struct pk__ws_upgrade_req {
  const char *method; size_t method_len;           /* "GET" */
  int http_major, http_minor;                      /* must be >= 1.1 */
  const char *upgrade; size_t upgrade_len;         /* Upgrade: list holding "websocket" */
  const char *connection; size_t connection_len;   /* Connection: list holding "Upgrade" */
  const char *key; size_t key_len;                 /* Sec-WebSocket-Key */
  const char *version; size_t version_len;         /* Sec-WebSocket-Version */
  const char *protocol; size_t protocol_len;       /* Sec-WebSocket-Protocol (offered list) or NULL */
} pk__ws_upgrade_req;

/* The outcome. Every field is read-only for the caller. */
typedef struct pk__ws_upgrade_res {
  int status;              /* 101, or the error status to answer: 400 or 426 */
  const char *reason;      /* for an error: what was wrong, for the body and the log (static) */
  const char *extra;       /* for an error: complete header lines to send with it, or NULL */
  char accept[PK__WS_ACCEPT_LEN + 1];  /* for 101: Sec-WebSocket-Accept, NUL-terminated */
  const char *protocol; size_t protocol_len;  /* for 101: the chosen subprotocol (points into the
                                                 request's value), or NULL for none */
} pk__ws_upgrade_res;

/* Checks an upgrade request and fills *res. `supported` is a NULL-terminated list of the
 * subprotocols the server speaks (NULL for none); the first one the client offers, in the
 * client's order, is chosen, and none is chosen when nothing matches (the client then decides).
 * Returns 0 for an acceptable request (res->status 101), or -EINVAL (res->status 400 or 426 with
 * res->reason and res->extra); -EIO if libcrypto fails (res->status 500). */
int pk__ws_upgrade_check(const pk__ws_upgrade_req *req, const char *const *supported,
                         pk__ws_upgrade_res *res);

/* Appends the complete 101 response for a successful check. Returns 0, or -ENOMEM. */
int pk__ws_upgrade_write(pk__buf *out, const pk__ws_upgrade_res *res);

/* Writes base64(SHA-1(key + GUID)) for a key (as sent, already trimmed; at most 64 bytes) into
 * accept (29 bytes, NUL-terminated). Returns 0, -EINVAL for a longer key, or -EIO if libcrypto
 * fails. */
int pk__ws_accept_key(const char *key, size_t key_len, char accept[PK__WS_ACCEPT_LEN + 1]);

/* 1 when the comma-separated header value `list` holds `token` (case-insensitive, optional
 * whitespace around elements, empty elements ignored). */
int pk__ws_list_has(const char *list, size_t len, const char *token, size_t tlen);
#endif
