/* ws_handshake.h: the server side of the RFC 6455 opening handshake (checks, Sec-WebSocket-Accept, 101 bytes). */
#ifndef PK_WS_HANDSHAKE_H
#define PK_WS_HANDSHAKE_H
#include <stddef.h>
#include "buf.h"
#include "ws_deflate.h"

struct pk__request;

/* Sec-WebSocket-Accept is base64 of a 20-byte SHA-1: 28 characters. */
#define PK__WS_ACCEPT_LEN 28

/* What the caller looked up in the parsed request (pk__ws_upgrade_req_from does it). A header
 * that is absent has value NULL; a list header sent on several lines is passed joined with ", "
 * (RFC 9110 section 5.3). */
typedef struct pk__ws_upgrade_req {
  const char *method; size_t method_len;           /* "GET" */
  int http_major, http_minor;                      /* must be >= 1.1 */
  const char *upgrade; size_t upgrade_len;         /* Upgrade: list holding "websocket" */
  const char *connection; size_t connection_len;   /* Connection: list holding "Upgrade" */
  const char *key; size_t key_len;                 /* Sec-WebSocket-Key */
  const char *version; size_t version_len;         /* Sec-WebSocket-Version */
  const char *protocol; size_t protocol_len;       /* Sec-WebSocket-Protocol (offered list) or NULL */
  const char *extensions; size_t extensions_len;   /* Sec-WebSocket-Extensions or NULL: no deflate */
  int key_lines, version_lines;                    /* lines that carried the key and the version;
                                                      0 when not counted (taken as 1) */
} pk__ws_upgrade_req;

/* The outcome. Every field is read-only for the caller. */
typedef struct pk__ws_upgrade_res {
  int status;              /* 101, or the error status to answer: 400 or 426 */
  const char *reason;      /* for an error: what was wrong, for the body and the log (static) */
  const char *extra;       /* for an error: complete header lines to send with it, or NULL; a 426
                              names Upgrade here and pk__response_write adds Connection: upgrade */
  char accept[PK__WS_ACCEPT_LEN + 1];  /* for 101: Sec-WebSocket-Accept, NUL-terminated */
  const char *protocol; size_t protocol_len;  /* for 101: the chosen subprotocol (points into the
                                                 request's value), or NULL for none */
  pk__ws_deflate_params deflate;  /* for 101: permessage-deflate, window_bits 0 when not agreed */
} pk__ws_upgrade_res;

/* Fills *q from a parsed request: method, version and the headers above. Upgrade, Connection,
 * Sec-WebSocket-Protocol and Sec-WebSocket-Extensions sent on several lines are joined with ", "
 * into scratch (reset first; it must outlive *q and the result); a single line points into the
 * request. Returns 0, or -ENOMEM. */
int pk__ws_upgrade_req_from(pk__ws_upgrade_req *q, const struct pk__request *r, pk__buf *scratch);

/* Checks an upgrade request and fills *res. `supported` is a NULL-terminated list of the
 * subprotocols the server speaks (NULL for none); the first one the client offers, in the
 * client's order, is chosen, and none is chosen when nothing matches (the client then decides).
 * permessage-deflate is negotiated from req->extensions (pk__ws_deflate_negotiate).
 * Returns 0 for an acceptable request (res->status 101), or -EINVAL (res->status 400 or 426 with
 * res->reason and res->extra); -EIO if libcrypto fails (res->status 500). */
int pk__ws_upgrade_check(const pk__ws_upgrade_req *req, const char *const *supported,
                         pk__ws_upgrade_res *res);

/* Appends the complete 101 response for a successful check, Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions included when agreed. Returns 0, or -ENOMEM. */
int pk__ws_upgrade_write(pk__buf *out, const pk__ws_upgrade_res *res);

/* Writes base64(SHA-1(key + GUID)) for a key (as sent, already trimmed; at most 64 bytes) into
 * accept (29 bytes, NUL-terminated). Returns 0, -EINVAL for a longer key, or -EIO if libcrypto
 * fails. */
int pk__ws_accept_key(const char *key, size_t key_len, char accept[PK__WS_ACCEPT_LEN + 1]);

/* 1 when the comma-separated header value `list` holds `token` (case-insensitive, optional
 * whitespace around elements, empty elements ignored). */
int pk__ws_list_has(const char *list, size_t len, const char *token, size_t tlen);
#endif
