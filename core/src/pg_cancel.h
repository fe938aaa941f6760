/* pg_cancel.h: cancel requests for PostgreSQL queries whose connection is dropped, sent from libuv's thread pool. */
#ifndef PK_PG_CANCEL_H
#define PK_PG_CANCEL_H
#include <libpq-fe.h>
#include <uv.h>

/* Asks the server of `pg` (a connection still open, with a query running) to stop that query:
 * libpq's PQcancel (a new connection to the server carrying the backend's key) on libuv's thread
 * pool, as it blocks. The caller may PQfinish `pg` at once. At most 2 run at a time (the pool is
 * shared with name resolution and PBKDF2); the others wait, up to 256, beyond which they are
 * dropped. Returns 0, -EINVAL (no cancel key: the connection is not open) or -EAGAIN (dropped). */
int pk__pg_cancel_send(uv_loop_t *loop, PGconn *pg);
/* Cancel requests not finished yet (running or waiting their turn). */
int pk__pg_cancel_pending(void);
#endif
