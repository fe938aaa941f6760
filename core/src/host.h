/* host.h: one LuaJIT state with an app loaded (a host), its routes, what pins it, and calls into its runtime. */
#ifndef PK_HOST_H
#define PK_HOST_H
#include <lua.h>
#include "options.h"
#include "cors.h"
#include "router.h"

/* The bottom of the host's Lua stack, kept there between calls (pk__host_new): what every request
 * pushes, reached by stack index instead of a registry look-up (a hash look-up each). */
#define PK__HOST_SLOT_TRACEBACK 1   /* the runtime's traceback (dispatch_direct's error handler) */
#define PK__HOST_SLOT_DIRECT 2      /* the runtime's dispatch_direct, or nil */
#define PK__HOST_SLOT_METHODS 3     /* a table: the method names seen so far, as Lua strings */
#define PK__HOST_SLOT_DECODERS 4    /* route index -> its input validator, for the routes whose JSON
                                       body the host decodes before the runtime (body_predecode.c); nil: none */
#define PK__HOST_SLOT_PREDECODE 5   /* the entry that does it (pk__predecode_entry), or nil */

typedef struct pk__host {
  lua_State *L;             /* read-only outside host.c and host_state.c */
  pk__router *router;       /* read-only outside host.c: built while app.lua loads */
  const pk__options *opts;  /* read-only: the settings it was loaded with */
  int worker;               /* read-only: the worker id it serves (0: the master's copy) */
  int dispatch_ref;         /* private */
  int direct_ref, failed_ref, traceback_ref;   /* private: dispatch_direct, dispatch_failed,
                                                  traceback; LUA_NOREF if absent */
  int resume_ref;           /* private */
  int refs;                 /* private: current-state ref + requests in flight + timers */
  int generation;           /* read-only: 1 for the first load, +1 per reload */
  unsigned char *channel_routes;  /* private: route index -> PK_ROUTE_* (0 for plain HTTP) */
  char ***channel_protocols;      /* private: route index -> NULL-terminated subprotocols, or NULL */
  int channel_routes_cap;   /* private */
  int channel_open_ref, channel_message_ref, channel_close_ref;  /* private: LUA_NOREF if absent */
  int abandon_ref;          /* private: the runtime's abandon, LUA_NOREF if absent */
  int job_run_ref, tick_ref;  /* private: LUA_NOREF if absent */
  pk__cors *cors;           /* read-only outside lua_core.c: set by pikku.cors at load, or NULL */
  struct pk__route_settings **settings;  /* private (route_settings.c): route index -> settings or NULL */
  int nsettings;            /* private */
  int body_limits;          /* read-only: some route has its own max_body (route_settings.c) */
  struct pk__host *next;    /* private: close list */
  struct pk__host *live_next;  /* private: the hosts alive in this process (pk__host_abandon_everywhere) */
  int live;                 /* private: on that list */
  struct { char name[12]; size_t len; } methods[8];  /* private (host.c): method names, interned once: */
  int nmethods;             /* private: method i's string is item i + 1 of the stack's PK__HOST_SLOT_METHODS */
} pk__host;

/* The host whose state L is (set by host_state.c before any C module opens), or NULL in a bare
 * state (unit tests). */
#define PK_HOST_REGISTRY_KEY "pikku.host"
pk__host *pk__host_of(lua_State *L);
/* The host a module's C function was made for: modules give each function the host as its first
 * upvalue (a light userdata), so a call finds it without a registry look-up. */
static inline pk__host *pk__host_upvalue(lua_State *L) {
  return (pk__host *)lua_touserdata(L, lua_upvalueindex(1));
}
void pk__host_ref(pk__host *h);
/* Drops a reference; at zero the host is queued and closed by pk__host_collect (never while its
 * own Lua code is on the C stack). */
void pk__host_unref(pk__host *h);
void pk__host_collect(void);
void pk__host_free(pk__host *h);
/* Calls the runtime's dispatch (dispatch_direct when the runtime has it: see host.c). Errors inside
 * are the runtime's job; a failure of the call itself returns -EIO (logged), or -ENOMEM when the
 * Lua stack cannot grow. */
int pk__host_dispatch(pk__host *h, double handle, int index, const char *method, const char *path,
                      size_t plen, const char *query, size_t qlen, const char *body, size_t blen,
                      const pk__route_match *m);
/* Channel routes and entry points (see docs/internals.md, Channels). */
/* What the core does itself at a route before Lua runs (pk__host_route_kind). */
enum {
  PK_ROUTE_HTTP,        /* a request for Lua */
  PK_ROUTE_CHANNEL,     /* a WebSocket upgrade */
  PK_ROUTE_SSE,         /* an event stream */
  PK_ROUTE_PREFLIGHT,   /* the CORS preflight route pikku.cors adds (answered in C) */
  PK_ROUTE_STATIC,      /* files of a directory (pikku.wire_static; answered in C, static_files.c) */
  PK_ROUTE_HTTP_CHANNEL,  /* a GET route sharing its path with a channel: a GET with Upgrade:
                             websocket opens the channel, any other request is for Lua */
};
/* Sets what the core does at route `index` (PK_ROUTE_*). Returns 0, -EINVAL or -ENOMEM. */
int pk__host_mark_route(pk__host *h, int index, int kind);
static inline int pk__host_route_kind(const pk__host *h, int index) {
  return index >= 0 && index < h->channel_routes_cap ? h->channel_routes[index] : 0;
}
/* The subprotocols a channel route speaks (a copy is kept): n names. Returns 0, -EINVAL or -ENOMEM. */
int pk__host_set_protocols(pk__host *h, int index, const char *const *names, int n);
/* NULL-terminated list of the route's subprotocols, or NULL for none. */
static inline const char *const *pk__host_protocols(const pk__host *h, int index) {
  return index >= 0 && index < h->channel_routes_cap && h->channel_protocols
             ? (const char *const *)h->channel_protocols[index] : NULL;
}
void pk__host_channel_open(pk__host *h, double cid, int index, const char *path, size_t plen,
                           const char *query, size_t qlen, const pk__route_match *m);
void pk__host_channel_message(pk__host *h, double cid, const char *data, size_t len, int binary);
void pk__host_channel_close(pk__host *h, double cid, int code);
/* Background work the master hands this worker (docs/internals.md, Jobs): the runtime's
 * job_run(job, attempt, queue, key, data, timeout_ms) and tick(name, execution_ms, catch_up). Both
 * report back through pikku.jobs_c when the run ends. Without the entry point the run is reported
 * failed at once. */
void pk__host_job_run(pk__host *h, double job, int attempt, const char *queue, size_t qlen,
                      const char *key, size_t klen, const char *data, size_t dlen, double timeout_ms);
void pk__host_tick(pk__host *h, const char *name, size_t nlen, double execution_ms, int catch_up);
/* Calls the runtime's resume(token, v1..vn): the nvals values on top of h->L's stack (popped) are
 * what the waiting call's yield returns; 0 for none (a timer). */
void pk__host_resume(pk__host *h, double token, int nvals);
/* What pk__host_abandon abandons: the call of a request (id: its handle), the calls of a channel
 * connection (id: its cid), or every call still waiting (id unused). */
enum { PK_ABANDON_REQUEST, PK_ABANDON_CHANNEL, PK_ABANDON_ALL };
/* Why: the client is gone, the call waited past its time limit, the drain's deadline passed. */
enum { PK_ABANDON_GONE, PK_ABANDON_LIMIT, PK_ABANDON_DRAIN };
/* Calls the runtime's abandon(kind, id, why): a call waiting on an outbound operation has it
 * cancelled and unwinds (PK_ABANDON_ALL: cancelled only; see lua/pikku/runtime.lua). Never while
 * the core walks its connections: queue a request's with pk__abandon_later (abandon.h). */
void pk__host_abandon(pk__host *h, int kind, double id, int why);
/* The same in every host alive in this process: the current one and those a reload left with
 * calls in flight. */
void pk__host_abandon_everywhere(int kind, double id, int why);
/* Puts a host that loaded on the list of live hosts (pk__host_new does it; pk__host_free takes
 * it off). */
void pk__host_live(pk__host *h);
/* Sets the worker id of a host loaded before the worker existed (the master's copy). */
void pk__host_set_worker(pk__host *h, int worker);
#endif
