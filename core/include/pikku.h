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
 * The two calls every request makes, called through LuaJIT FFI instead of the classic Lua C API so
 * the JIT can compile through them (see docs/internals.md for the meaning of each argument). Not
 * for extensions: their arguments follow the runtime's request handles and may change with it. */

/* The call a worker runs now, one per process. The runtime writes it at every start and resume of a
 * call (call_guard.lua) and clears `running` when the call yields or ends; the core reads it to stop
 * a call over its time limit, to log what ran when a worker crashed, and to apply the memory
 * ceiling to calls only. */
typedef struct pk_rt_call {
  double handle;       /* the HTTP request's handle, 0 for none */
  double cid;          /* the channel connection's id, 0 for none */
  double started_ms;   /* pk_now_ms() when the call started */
  double deadline_ms;  /* past this pk_now_ms() the call is over its time limit; 0: no limit */
  double limit_ms;     /* the limit itself, for messages */
  int label;           /* what runs (pk_rt_label), 0: unknown */
  int running;         /* 1 while the call's own code runs (not while it waits) */
  unsigned serial;     /* bumped at every start of a call */
  char id[48];         /* the call's errorId once the runtime made one ("" before) */
} pk_rt_call;
pk_rt_call *pk_rt_call_slot(void);
/* Registers a label ("GET /x: function \"f\" (app.lua:12)") and returns its number (>= 1; the same
 * text always gets the same number), 0 when out of memory. */
int pk_rt_label(const char *text, size_t len);

/* Answers the request `handle`: 0, or -ENOENT when it is gone. Pointer/length pairs may be NULL/0. */
int pk_rt_respond(double handle, int status, const char *body, size_t blen, const char *ct, size_t ctlen,
                  const char *extra, size_t elen, const char *error_id, size_t idlen);
/* A request header (case-insensitive; repeated headers joined with ", ", Cookie with "; "), or
 * NULL. The value stays valid until the next call; *vlen receives its length. */
const char *pk_rt_header(double handle, const char *name, size_t nlen, size_t *vlen);

#ifdef __cplusplus
}
#endif
#endif
