/* lua_host.h: one LuaJIT state with an app loaded, its routes, and the count of what pins it. */
#ifndef PK_LUA_HOST_H
#define PK_LUA_HOST_H
#include <lua.h>
#include "options.h"
#include "cors.h"
#include "router.h"

typedef struct pk__host {
  lua_State *L;             /* read-only outside lua_host.c */
  pk__router *router;       /* read-only outside lua_host.c: built while app.lua loads */
  int dispatch_ref;         /* private */
  int resume_ref;           /* private */
  int refs;                 /* private: current-state ref + requests in flight + timers */
  int generation;           /* read-only: 1 for the first load, +1 per reload */
  unsigned char *channel_routes;  /* private: route index -> PK_ROUTE_* (0 for plain HTTP) */
  char ***channel_protocols;      /* private: route index -> NULL-terminated subprotocols, or NULL */
  int channel_routes_cap;   /* private */
  int channel_open_ref, channel_message_ref, channel_close_ref;  /* private: LUA_NOREF if absent */
  pk__cors *cors;           /* read-only outside lua_core.c: set by pikku.cors at load, or NULL */
  struct pk__host *next;    /* private: close list */
} pk__host;

/* Builds a state and loads APP_DIR/app.lua. Returns NULL with err set ("file:line: msg") on failure.
 * The new host holds one reference (the caller's). */
pk__host *pk__host_new(const pk__options *o, int worker, int generation, char *err, size_t errlen);
void pk__host_ref(pk__host *h);
/* Drops a reference; at zero the host is queued and closed by pk__host_collect (never while its
 * own Lua code is on the C stack). */
void pk__host_unref(pk__host *h);
void pk__host_collect(void);
void pk__host_free(pk__host *h);
/* Calls the runtime's dispatch. Errors inside are the runtime's job; a failure of the call itself
 * returns -1 (and is logged). */
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
};
int pk__host_mark_route(pk__host *h, int index, int kind);
static inline int pk__host_route_kind(const pk__host *h, int index) {
  return index >= 0 && index < h->channel_routes_cap ? h->channel_routes[index] : 0;
}
/* The subprotocols a channel route speaks (a copy is kept): n names. Returns 0 or -1. */
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
/* Calls the runtime's resume(token, ...): the nargs values on top of h->L's stack (popped) become
 * the results of the coroutine.yield the call waiting on token is suspended in. */
void pk__host_resume(pk__host *h, double token, int nargs);
/* Sets pikku.core.worker in a state loaded before the worker existed (the master's copy). */
void pk__host_set_worker(pk__host *h, int worker);
/* package.preload[name] = the function on top of the stack (popped), or fn. */
void pk__preload_top(lua_State *L, const char *name);
void pk__preload(lua_State *L, const char *name, lua_CFunction fn);
/* Put C modules in package.preload: pikku.schema_c (schema.c), pikku.crypto_c (crypto.c). */
void pk__schema_open(lua_State *L);
void pk__crypto_open(lua_State *L);
void pk__json_open(lua_State *L);   /* pikku.json_c (json.c) */
/* Registers the pikku.core module in L (lua_core.c). */
void pk__core_open(lua_State *L, pk__host *h, const pk__options *o, int worker);
/* Drops every pending core.timer (nothing is resumed; each releases its host). For pikku test's end. */
void pk__core_cancel_timers(void);
#endif
