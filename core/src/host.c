/* host.c: a loaded app (host): its references, route kinds, and the calls into its runtime's entry points. */
#include "host.h"
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "body_predecode.h"
#include "call_guard.h"
#include "hub_jobs.h"
#include "jobs_client.h"
#include "log.h"
#include "mem_limit.h"
#include "route_settings.h"

static pk__host *close_list;
static pk__host *live_list;   /* hosts that loaded and are not freed yet */

pk__host *pk__host_of(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, PK_HOST_REGISTRY_KEY);
  pk__host *h = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return h;
}

void pk__host_live(pk__host *h) {
  if (h->live) return;
  h->live = 1;
  h->live_next = live_list;
  live_list = h;
}

void pk__host_free(pk__host *h) {
  if (!h) return;
  for (pk__host **p = &live_list; h->live && *p; p = &(*p)->live_next) {
    if (*p == h) { *p = h->live_next; break; }
  }
  if (h->L) pk__mem_close(h->L);
  pk__router_free(h->router);
  pk__cors_free(h->cors);
  pk__route_settings_free(h);
  for (int i = 0; h->channel_protocols && i < h->channel_routes_cap; i++) {
    char **list = h->channel_protocols[i];
    for (int k = 0; list && list[k]; k++) free(list[k]);
    free(list);
  }
  free(h->channel_protocols);
  free(h->channel_routes);
  free(h);
}

void pk__host_ref(pk__host *h) { h->refs++; }

void pk__host_unref(pk__host *h) {
  if (--h->refs > 0) return;
  h->next = close_list;
  close_list = h;
}

void pk__host_collect(void) {
  while (close_list) {
    pk__host *h = close_list;
    close_list = h->next;
    pk__host_free(h);
  }
}

static void log_lua_failure(pk__host *h, const char *what) {
  size_t len;
  const char *msg = lua_tolstring(h->L, -1, &len);
  char line[256];
  int n = snprintf(line, sizeof line, "%s failed: ", what);
  pk__buf b;
  pk__buf_init(&b);
  pk__buf_append(&b, line, (size_t)n);
  pk__buf_append(&b, msg ? msg : "?", msg ? len : 1);
  pk__log_msg("error", b.data, b.len, NULL, 0);
  pk__buf_free(&b);
  lua_pop(h->L, 1);
}

/* Pushes the request method's name. llhttp's names are few: each is made a Lua string once per
 * host and kept in the registry (no strlen, hash and intern look-up per request). */
static void push_method(pk__host *h, lua_State *L, const char *method) {
  size_t len = strlen(method);
  for (int i = 0; i < h->nmethods; i++)
    if (h->methods[i].len == len && memcmp(h->methods[i].name, method, len) == 0) {
      lua_rawgeti(L, PK__HOST_SLOT_METHODS, i + 1);
      return;
    }
  lua_pushlstring(L, method, len);
  if (h->nmethods < (int)(sizeof h->methods / sizeof *h->methods) && len < sizeof h->methods[0].name) {
    lua_pushvalue(L, -1);
    lua_rawseti(L, PK__HOST_SLOT_METHODS, h->nmethods + 1);   /* its array part: made at its size */
    memcpy(h->methods[h->nmethods].name, method, len);
    h->methods[h->nmethods++].len = len;
  }
}

/* Pushes a request's arguments for dispatch and dispatch_direct (handle, index, method, path,
 * query, body, params...); returns how many. */
static int push_request(pk__host *h, lua_State *L, double handle, int index, const char *method,
                        const char *path, size_t plen, const char *query, size_t qlen, const char *body, size_t blen, const pk__route_match *m) {
  lua_pushnumber(L, handle);
  lua_pushinteger(L, index);
  push_method(h, L, method);
  lua_pushlstring(L, path, plen);
  if (query) lua_pushlstring(L, query, qlen); else lua_pushnil(L);
  if (body) lua_pushlstring(L, body, blen); else lua_pushnil(L);
  for (int i = 0; i < m->nparams; i++) lua_pushlstring(L, m->params[i].p, m->params[i].n);
  return 6 + m->nparams;
}

/* Whether the request's body is decoded on the way in (body_predecode.c): a route in the decoders
 * table, no path parameters or query string (the body is then all of data), a JSON body. */
static int predecoded(pk__host *h, double handle, int index, const char *query, size_t qlen, const char *body,
                      size_t blen, const pk__route_match *m) {
  lua_State *L = h->L;
  if (!blen || !body || m->nparams || (query && qlen) || lua_type(L, PK__HOST_SLOT_PREDECODE) != LUA_TFUNCTION)
    return 0;
  /* the route first (an array slot): a route without a schema pays no header look-up */
  lua_rawgeti(L, PK__HOST_SLOT_DECODERS, index);   /* left pushed for the entry, as its first argument */
  size_t n;
  const char *ct = lua_type(L, -1) == LUA_TUSERDATA ? pk_rt_header(handle, "content-type", 12, &n) : NULL;
  if (ct && pk__predecode_is_json(ct, n)) return 1;
  lua_pop(L, 1);
  return 0;
}

/* The runtime's dispatch_direct (see lua/pikku/runtime.lua) called without a Lua-level xpcall, so
 * that LuaJIT can compile the request's path: its error handler is the runtime's traceback, and
 * when it raises, the runtime's dispatch_failed(handle, error) answers and logs, as its own
 * safe_dispatch would. A request whose body is decoded on the way in (predecoded) goes the same
 * way through body_predecode.c's entry, which calls the runtime's dispatch_decoded. */
static int dispatch_direct(pk__host *h, double handle, int index, const char *method, const char *path,
                           size_t plen, const char *query, size_t qlen, const char *body, size_t blen,
                           const pk__route_match *m) {
  lua_State *L = h->L;
  if (!lua_checkstack(L, 10 + m->nparams)) return -ENOMEM;
  int base = lua_gettop(L), nargs;
  lua_pushvalue(L, PK__HOST_SLOT_TRACEBACK);
  if (predecoded(h, handle, index, query, qlen, body, blen, m)) {
    /* (validator, handle, index, method, path, body): body_predecode.c */
    lua_pushvalue(L, PK__HOST_SLOT_PREDECODE);
    lua_insert(L, -2);
    lua_pushnumber(L, handle);
    lua_pushinteger(L, index);
    push_method(h, L, method);
    lua_pushlstring(L, path, plen);
    lua_pushlstring(L, body, blen);
    nargs = 6;
  } else {
    lua_pushvalue(L, PK__HOST_SLOT_DIRECT);
    nargs = push_request(h, L, handle, index, method, path, plen, query, qlen, body, blen, m);
  }
  if (lua_pcall(L, nargs, 0, base + 1) == 0) {
    lua_settop(L, base);
    return 0;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->failed_ref);   /* failed(handle, error) */
  lua_pushnumber(L, handle);
  lua_pushvalue(L, -3);
  int rc = lua_pcall(L, 2, 0, 0);
  if (rc) log_lua_failure(h, "dispatch");
  lua_settop(L, base);
  return rc ? -EIO : 0;
}

int pk__host_dispatch(pk__host *h, double handle, int index, const char *method, const char *path,
                      size_t plen, const char *query, size_t qlen, const char *body, size_t blen,
                      const pk__route_match *m) {
  lua_State *L = h->L;
  pk__call_guard_enter(L);
  if (h->direct_ref > 0 && h->failed_ref > 0 && h->traceback_ref > 0 && m->nparams <= PK_MAX_PARAMS)
    return dispatch_direct(h, handle, index, method, path, plen, query, qlen, body, blen, m);
  if (!lua_checkstack(L, 8 + m->nparams)) return -ENOMEM;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->dispatch_ref);
  int nargs = push_request(h, L, handle, index, method, path, plen, query, qlen, body, blen, m);
  if (lua_pcall(L, nargs, 0, 0)) { log_lua_failure(h, "dispatch"); return -EIO; }
  return 0;
}

void pk__host_resume(pk__host *h, double token, int nvals) {
  lua_State *L = h->L;
  pk__call_guard_enter(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->resume_ref);   /* resume and token go under the values */
  lua_insert(L, -1 - nvals);
  lua_pushnumber(L, token);
  lua_insert(L, -1 - nvals);
  if (lua_pcall(L, 1 + nvals, 0, 0)) log_lua_failure(h, "resume");
}

void pk__host_set_worker(pk__host *h, int worker) {
  lua_State *L = h->L;
  h->worker = worker;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_getfield(L, -1, "pikku.core");
  if (lua_istable(L, -1)) {
    lua_pushinteger(L, worker);
    lua_setfield(L, -2, "worker");
  }
  lua_pop(L, 3);
}

int pk__host_mark_route(pk__host *h, int index, int kind) {
  if (index < 0) return -EINVAL;
  if (index >= h->channel_routes_cap) {
    int cap = h->channel_routes_cap ? h->channel_routes_cap : 64;
    while (cap <= index) cap *= 2;
    unsigned char *p = realloc(h->channel_routes, (size_t)cap);
    if (!p) return -ENOMEM;
    memset(p + h->channel_routes_cap, 0, (size_t)(cap - h->channel_routes_cap));
    h->channel_routes = p;
    char ***pp = realloc(h->channel_protocols, sizeof *pp * (size_t)cap);
    if (!pp) return -ENOMEM;
    memset(pp + h->channel_routes_cap, 0, sizeof *pp * (size_t)(cap - h->channel_routes_cap));
    h->channel_protocols = pp;
    h->channel_routes_cap = cap;
  }
  h->channel_routes[index] = (unsigned char)kind;
  return 0;
}

int pk__host_set_protocols(pk__host *h, int index, const char *const *names, int n) {
  if (index < 0 || index >= h->channel_routes_cap || n <= 0) return -EINVAL;
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (!list) return -ENOMEM;
  for (int i = 0; i < n; i++) {
    if (!(list[i] = strdup(names[i]))) {
      for (int k = 0; k < i; k++) free(list[k]);
      free(list);
      return -ENOMEM;
    }
  }
  h->channel_protocols[index] = list;
  return 0;
}

void pk__host_channel_open(pk__host *h, double cid, int index, const char *path, size_t plen,
                           const char *query, size_t qlen, const pk__route_match *m) {
  lua_State *L = h->L;
  pk__call_guard_enter(L);
  if (h->channel_open_ref == LUA_NOREF || !lua_checkstack(L, 8 + m->nparams)) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->channel_open_ref);
  lua_pushnumber(L, cid);
  lua_pushinteger(L, index);
  lua_pushlstring(L, path, plen);
  if (query) lua_pushlstring(L, query, qlen); else lua_pushnil(L);
  for (int i = 0; i < m->nparams; i++) lua_pushlstring(L, m->params[i].p, m->params[i].n);
  if (lua_pcall(L, 4 + m->nparams, 0, 0)) log_lua_failure(h, "channel_open");
}

void pk__host_channel_message(pk__host *h, double cid, const char *data, size_t len, int binary) {
  lua_State *L = h->L;
  pk__call_guard_enter(L);
  if (h->channel_message_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->channel_message_ref);
  lua_pushnumber(L, cid);
  lua_pushlstring(L, data, len);
  lua_pushboolean(L, binary);
  if (lua_pcall(L, 3, 0, 0)) log_lua_failure(h, "channel_message");
}

void pk__host_channel_close(pk__host *h, double cid, int code) {
  lua_State *L = h->L;
  pk__call_guard_enter(L);
  if (h->channel_close_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->channel_close_ref);
  lua_pushnumber(L, cid);
  lua_pushinteger(L, code);
  if (lua_pcall(L, 2, 0, 0)) log_lua_failure(h, "channel_close");
}

void pk__host_abandon(pk__host *h, int kind, double id, int why) {
  static const char *const kinds[] = {"request", "channel", "all"};
  static const char *const whys[] = {"gone", "limit", "drain"};
  lua_State *L = h->L;
  pk__call_guard_enter(L);
  if (h->abandon_ref == LUA_NOREF || h->abandon_ref == 0 || !lua_checkstack(L, 4)) return;
  if (kind < PK_ABANDON_REQUEST || kind > PK_ABANDON_ALL || why < PK_ABANDON_GONE || why > PK_ABANDON_DRAIN) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->abandon_ref);
  lua_pushstring(L, kinds[kind]);
  lua_pushnumber(L, id);
  lua_pushstring(L, whys[why]);
  if (lua_pcall(L, 3, 0, 0)) log_lua_failure(h, "abandon");
}

void pk__host_abandon_everywhere(int kind, double id, int why) {
  /* a host whose last call ends here is only queued for closing (pk__host_unref): the list holds */
  for (pk__host *h = live_list; h; h = h->live_next) pk__host_abandon(h, kind, id, why);
}

void pk__host_job_run(pk__host *h, double job, int attempt, const char *queue, size_t qlen,
                      const char *key, size_t klen, const char *data, size_t dlen, double timeout_ms) {
  lua_State *L = h->L;
  if (h->job_run_ref == LUA_NOREF || h->job_run_ref == 0 || !lua_checkstack(L, 8)) {
    static const char msg[] = "this worker's code runs no jobs";
    pk__jobs_client_result((int64_t)job, (uint32_t)attempt, PK_OUTCOME_FAIL, msg, sizeof msg - 1);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->job_run_ref);
  lua_pushnumber(L, job);
  lua_pushinteger(L, attempt);
  lua_pushlstring(L, queue, qlen);
  lua_pushlstring(L, key, klen);
  lua_pushlstring(L, data, dlen);
  lua_pushnumber(L, timeout_ms);
  if (lua_pcall(L, 6, 0, 0)) log_lua_failure(h, "job_run");
}

void pk__host_tick(pk__host *h, const char *name, size_t nlen, double execution_ms, int catch_up) {
  lua_State *L = h->L;
  if (h->tick_ref == LUA_NOREF || h->tick_ref == 0 || !lua_checkstack(L, 4)) {
    static const char msg[] = "this worker's code runs no schedules";
    pk__jobs_client_tick_done(name, nlen, (int64_t)execution_ms, PK_OUTCOME_FAIL, msg, sizeof msg - 1);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->tick_ref);
  lua_pushlstring(L, name, nlen);
  lua_pushnumber(L, execution_ms);
  lua_pushboolean(L, catch_up);
  if (lua_pcall(L, 3, 0, 0)) log_lua_failure(h, "tick");
}
