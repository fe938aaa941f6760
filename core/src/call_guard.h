/* call_guard.h: the call a worker runs now (pk_rt_call), and the watchdog that stops one over its time limit. */
#ifndef PK_CALL_GUARD_H
#define PK_CALL_GUARD_H
#include <lua.h>
#include <signal.h>
#include "pikku.h"

/* How long a call over its limit is given to unwind after the hook raised in it (interpreted Lua
 * stops at once; compiled loops and native code do not): then the worker answers for it and is
 * replaced. */
#define PK__GUARD_GRACE_MS 200
/* How often the watchdog process looks (ms). */
#define PK__GUARD_TICK_MS 20
/* The exit code of a worker that gave up a call it could not stop. */
#define PK__EXIT_OVERRUN 70

/* The call running now: what the runtime told (pk_rt_call_enter, pk_rt_call_leave, pk_rt_call_id). */
typedef struct pk__call_record {
  double handle;       /* the HTTP request's handle, 0 for none */
  double cid;          /* the channel connection's id, 0 for none */
  double started_ms;   /* pk__clock_ms() when the call started */
  double deadline_ms;  /* past this the call is over its time limit; 0: no limit */
  double limit_ms;     /* the limit itself, for messages */
  int label;           /* what runs (pk_rt_label), 0: unknown */
  volatile int running;/* 1 while the call's own code runs (not while it waits) */
  volatile unsigned serial; /* bumped at every enter */
  char id[48];         /* the call's errorId once the runtime made one ("" before) */
  volatile sig_atomic_t guard_stage;   /* private (the watchdog's): what its next signal asks, 1 hook, 2 give up */
  volatile unsigned guard_serial;      /* private (the watchdog's): the call the hook is for */
} pk__call_record;
/* The record: a static one, until pk__call_guard_start moves it into a page shared with the
 * worker's watchdog process. */
extern pk__call_record *pk__call;
/* The clock (pk__clock_ns) when the read being fed began (http_conn.c sets it for the length of
 * one feed), 0: none. The first call started meanwhile takes it as its start and clears it
 * (pk_rt_call_start_ms), so a second request of the same read reads the clock itself: the first
 * one's call may have run long. */
extern uint64_t pk__call_clock_ns;
/* The Lua state the core called into last (host.c sets it before every call into a runtime):
 * the one the watchdog's hook goes to. */
extern lua_State *volatile pk__guard_L;
static inline void pk__call_guard_enter(lua_State *L) { pk__guard_L = L; }
/* Starts the watchdog process of a worker (and the worker's signal handler). heartbeat: the
 * master's heartbeat slot, stamped while a call runs within its limit (so the master's
 * --worker-timeout-ms applies outside calls only), or NULL. 0 or a negative errno. */
int pk__call_guard_start(volatile double *heartbeat);
/* The deadline (pk__clock_ms) of the call that just left the request `handle` waiting, 0: none. */
double pk__call_guard_deadline(double handle);
struct pk__conn;
/* A request whose call waits (sleeps, or waits on an outbound call) past its time limit: answered
 * 503 now, its waiting call abandoned (an outbound operation is cancelled; what the call answers
 * later goes nowhere). Returns 1 if answered. now_ms: the loop's time. */
int pk__call_guard_expire(struct pk__conn *c, double now_ms);
/* The text of a label (pk_rt_label), or NULL. Safe in a signal handler (no allocation). */
const char *pk__call_label(int id);
#endif
