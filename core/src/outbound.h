/* outbound.h: what the outbound clients (HTTP, Redis, PostgreSQL, sockets) share: the loop, failures, waiters. */
#ifndef PK_OUTBOUND_H
#define PK_OUTBOUND_H
#include <lua.h>
#include <uv.h>
#include "host.h"

/* The worker's loop, or raises a Lua error naming `what` (no loop while the app loads in the master). */
uv_loop_t *pk__ob_loop(lua_State *L, const char *what);
/* Resumes the call waiting on token with (nil, kind, message): the Lua side raises it. */
void pk__ob_fail(pk__host *h, double token, const char *kind, const char *message);
/* The same with a printf-style message. */
void pk__ob_failf(pk__host *h, double token, const char *kind, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));
/* A number field of the table at idx, or def when absent. */
double pk__ob_optnum(lua_State *L, int idx, const char *field, double def);
/* Seconds/milliseconds for a libuv timer from a Lua millisecond count (<= 0: none). */
static inline uint64_t pk__ob_ms(double ms) { return ms <= 0 ? 0 : ms > 9e15 ? (uint64_t)9e15 : (uint64_t)ms; }
#endif
