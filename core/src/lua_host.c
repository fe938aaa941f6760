/* lua_host.c: creates a LuaJIT state for an app, loads it through pikku.runtime, and calls into it. */
#include "lua_host.h"
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

extern int luaopen_cjson(lua_State *L);
extern int luaopen_cjson_safe(lua_State *L);

static pk__host *close_list;

static const char *lua_dir(void) {
  const char *d = getenv("PIKKU_LUA_DIR");
  return d && *d ? d : PIKKU_LUA_DIR;
}

/* Load errors are reported as the runtime raised them ("file:line: message"): a traceback through
 * the runtime's own loader would only hide the line that matters. */
static int load_error(lua_State *L) {
  if (!lua_isstring(L, 1)) {
    if (!(luaL_callmeta(L, 1, "__tostring") && lua_isstring(L, -1)))
      lua_pushstring(L, "(error object is not a string)");
  }
  return 1;
}

void pk__preload_top(lua_State *L, const char *name) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, name);
  lua_pop(L, 3);
}

void pk__preload(lua_State *L, const char *name, lua_CFunction fn) {
  lua_pushcfunction(L, fn);
  pk__preload_top(L, name);
}

static void set_path(lua_State *L, const char *app_dir) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char *def = lua_tostring(L, -1);
  const char *ld = lua_dir();
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s/?/init.lua;%s", app_dir, app_dir, ld, ld, def ? def : "");
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
  pk__preload(L, "cjson", luaopen_cjson);
  pk__preload(L, "cjson.safe", luaopen_cjson_safe);
}

pk__host *pk__host_new(const pk__options *o, int worker, int generation, char *err, size_t errlen) {
  pk__host *h = calloc(1, sizeof *h);
  if (!h) { snprintf(err, errlen, "out of memory"); return NULL; }
  h->refs = 1;
  h->generation = generation;
  h->router = pk__router_new();
  h->L = luaL_newstate();
  if (!h->router || !h->L) { snprintf(err, errlen, "out of memory"); pk__host_free(h); return NULL; }
  lua_State *L = h->L;
  luaL_openlibs(L);
  set_path(L, o->app_dir);
  pk__core_open(L, h, o, worker);
  pk__schema_open(L);
  pk__crypto_open(L);
  pk__json_open(L);
  lua_pushcfunction(L, load_error);
  lua_getglobal(L, "require");
  lua_pushstring(L, "pikku.runtime");
  if (lua_pcall(L, 1, 1, -3)) goto fail;
  lua_getfield(L, -1, "load");
  lua_remove(L, -2);
  lua_pushstring(L, o->app_dir);
  if (lua_pcall(L, 1, 1, -3)) goto fail;
  if (!lua_istable(L, -1)) {
    lua_pushstring(L, "pikku.runtime.load did not return its entry points");
    goto fail;
  }
  lua_getfield(L, -1, "dispatch");
  h->dispatch_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, -1, "resume");
  h->resume_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  h->channel_open_ref = h->channel_message_ref = h->channel_close_ref = LUA_NOREF;
  lua_getfield(L, -1, "channel_open");
  if (lua_isfunction(L, -1)) h->channel_open_ref = luaL_ref(L, LUA_REGISTRYINDEX); else lua_pop(L, 1);
  lua_getfield(L, -1, "channel_message");
  if (lua_isfunction(L, -1)) h->channel_message_ref = luaL_ref(L, LUA_REGISTRYINDEX); else lua_pop(L, 1);
  lua_getfield(L, -1, "channel_close");
  if (lua_isfunction(L, -1)) h->channel_close_ref = luaL_ref(L, LUA_REGISTRYINDEX); else lua_pop(L, 1);
  lua_settop(L, 0);
  return h;
fail:
  snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown error");
  pk__host_free(h);
  return NULL;
}

void pk__host_free(pk__host *h) {
  if (!h) return;
  if (h->L) lua_close(h->L);
  pk__router_free(h->router);
  pk__cors_free(h->cors);
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

int pk__host_dispatch(pk__host *h, double handle, int index, const char *method, const char *path,
                      size_t plen, const char *query, size_t qlen, const char *body, size_t blen,
                      const pk__route_match *m) {
  lua_State *L = h->L;
  if (!lua_checkstack(L, 8 + m->nparams)) return -1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->dispatch_ref);
  lua_pushnumber(L, handle);
  lua_pushinteger(L, index);
  lua_pushstring(L, method);
  lua_pushlstring(L, path, plen);
  if (query) lua_pushlstring(L, query, qlen); else lua_pushnil(L);
  if (body) lua_pushlstring(L, body, blen); else lua_pushnil(L);
  for (int i = 0; i < m->nparams; i++) lua_pushlstring(L, m->params[i].p, m->params[i].n);
  if (lua_pcall(L, 6 + m->nparams, 0, 0)) { log_lua_failure(h, "dispatch"); return -1; }
  return 0;
}

void pk__host_resume(pk__host *h, double token, int nargs) {
  lua_State *L = h->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->resume_ref);
  lua_insert(L, -1 - nargs);
  lua_pushnumber(L, token);
  lua_insert(L, -1 - nargs);
  if (lua_pcall(L, 1 + nargs, 0, 0)) log_lua_failure(h, "resume");
}

void pk__host_set_worker(pk__host *h, int worker) {
  lua_State *L = h->L;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_getfield(L, -1, "pikku.core");
  lua_pushinteger(L, worker);
  lua_setfield(L, -2, "worker");
  lua_pop(L, 3);
}

int pk__host_mark_route(pk__host *h, int index, int kind) {
  if (index < 0) return -1;
  if (index >= h->channel_routes_cap) {
    int cap = h->channel_routes_cap ? h->channel_routes_cap : 64;
    while (cap <= index) cap *= 2;
    unsigned char *p = realloc(h->channel_routes, (size_t)cap);
    if (!p) return -1;
    memset(p + h->channel_routes_cap, 0, (size_t)(cap - h->channel_routes_cap));
    h->channel_routes = p;
    char ***pp = realloc(h->channel_protocols, sizeof *pp * (size_t)cap);
    if (!pp) return -1;
    memset(pp + h->channel_routes_cap, 0, sizeof *pp * (size_t)(cap - h->channel_routes_cap));
    h->channel_protocols = pp;
    h->channel_routes_cap = cap;
  }
  h->channel_routes[index] = (unsigned char)kind;
  return 0;
}

int pk__host_set_protocols(pk__host *h, int index, const char *const *names, int n) {
  if (index < 0 || index >= h->channel_routes_cap || n <= 0) return -1;
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (!list) return -1;
  for (int i = 0; i < n; i++) {
    if (!(list[i] = strdup(names[i]))) {
      for (int k = 0; k < i; k++) free(list[k]);
      free(list);
      return -1;
    }
  }
  h->channel_protocols[index] = list;
  return 0;
}

void pk__host_channel_open(pk__host *h, double cid, int index, const char *path, size_t plen,
                           const char *query, size_t qlen, const pk__route_match *m) {
  lua_State *L = h->L;
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
  if (h->channel_message_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->channel_message_ref);
  lua_pushnumber(L, cid);
  lua_pushlstring(L, data, len);
  lua_pushboolean(L, binary);
  if (lua_pcall(L, 3, 0, 0)) log_lua_failure(h, "channel_message");
}

void pk__host_channel_close(pk__host *h, double cid, int code) {
  lua_State *L = h->L;
  if (h->channel_close_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->channel_close_ref);
  lua_pushnumber(L, cid);
  lua_pushinteger(L, code);
  if (lua_pcall(L, 2, 0, 0)) log_lua_failure(h, "channel_close");
}
