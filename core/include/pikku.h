/* pikku.h: the one public C header of the pikku host: every exported pk_ function (api.c). */
#ifndef PIKKU_H
#define PIKKU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== For extension authors (LuaJIT FFI or Lua C modules) ==== */

/* The host's version string, e.g. "0.1.0". */
const char *pk_version(void);

/* Monotonic time in milliseconds (the event loop's cached time when inside a worker). */
double pk_now_ms(void);

/* Writes one log line at level "info", "warn" or "error" in the format in force. */
void pk_log(const char *level, const char *message);

/* ==== For the runtime's FFI path only (lua/pikku/host.lua) ====
 * The calls every request makes, called through LuaJIT FFI instead of the classic Lua C API so
 * the JIT can compile through them (see docs/internals.md for the meaning of each argument). Not
 * for extensions: their arguments follow the runtime's request handles and may change with it. */

/* Answers the request `handle`: 0, or -ENOENT when it is gone. Pointer/length pairs may be NULL/0. */
int pk_rt_respond(double handle, int status, const char *body, size_t blen, const char *ct, size_t ctlen,
                  const char *extra, size_t elen, const char *error_id, size_t idlen);
/* A request header (case-insensitive; repeated headers joined with ", ", Cookie with "; "), or
 * NULL. The value stays valid until the next call; *vlen receives its length. */
const char *pk_rt_header(double handle, const char *name, size_t nlen, size_t *vlen);
/* Milliseconds on the core's monotonic clock (what pikku.core.now returns): the runtime times every
 * call with it (lua/pikku/loop_guard.lua). */
double pk_rt_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif
