/* redis_uv.h: hiredis's async API on the worker's libuv loop: one uv_poll per connection, kept on READABLE for the connection's life, commands written at once. */
#ifndef PK_REDIS_UV_H
#define PK_REDIS_UV_H
#include <hiredis/async.h>
#include <uv.h>

/* Attaches ac (just made by redisAsyncConnect) to loop, in place of hiredis/adapters/libuv.h.
 * The poll watches WRITABLE only while connecting or while a write is incomplete, and READABLE
 * from the connection's start to its end, idle or not: what a connection with no reply pending
 * reads (the server closed it, or sent something nobody asked for) disconnects it at once
 * (redisAsyncDisconnect: the disconnect callback runs), so a pool learns it without asking the
 * socket. The poll is unref'd: an idle connection does not keep the loop running.
 * Returns REDIS_OK or REDIS_ERR. */
int pk__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

/* Writes what commands queued on ac since the last write (one write(2) for a whole pipeline),
 * instead of waiting for a writable event on the next loop turn. Inside hiredis (a reply or
 * connect callback of ac) it only leaves the output for the poll's callback to write when hiredis
 * returns. Returns 0, or -1 when the write failed (ac->c.errstr tells; the caller drops ac: this
 * runs no hiredis callback). */
int pk__redis_uv_flush(redisAsyncContext *ac);
#endif
