/* host_state.c: creates a host: a LuaJIT state, the table of C modules it preloads, its app loaded. */
#include "host_state.h"
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include "body_predecode.h"
#include "call_guard.h"
#include "lua_cache.h"
#include "lua_modules.h"
#include "mem_limit.h"

/* Every C module Lua sees, as Lua's own linit.c lists the standard libraries: a module is one line
 * here (its opener declared in lua_modules.h). Each is put in package.preload, so it opens at its
 * first require and never calls back into this file. */
static const luaL_Reg modules[] = {
  {"pikku.core", luaopen_pikku_core},
  {"pikku.work_c", luaopen_pikku_work_c},
  {"pikku.json_c", luaopen_pikku_json_c},
  {"pikku.respond_c", luaopen_pikku_respond_c},
  {"pikku.schema_c", luaopen_pikku_schema_c},
  {"pikku.crypto_c", luaopen_pikku_crypto_c},
  {"pikku.status_c", luaopen_pikku_status_c},
  {"pikku.outbound_c", luaopen_pikku_outbound_c},
  {"pikku.http_c", luaopen_pikku_http_c},
  {"pikku.redis_c", luaopen_pikku_redis_c},
  {"pikku.pg_c", luaopen_pikku_pg_c},
  {"pikku.socket_c", luaopen_pikku_socket_c},
  {"pikku.guard_c", luaopen_pikku_guard_c},
  {"pikku.native_c", luaopen_pikku_native_c},
  {"pikku.jobs_c", luaopen_pikku_jobs_c},
  {"pikku.job_store_c", luaopen_pikku_job_store_c},
  {"pikku.serve_c", luaopen_pikku_serve_c},
  {"pikku.stream_c", luaopen_pikku_stream_c},
  {"cjson", luaopen_cjson},
  {"cjson.safe", luaopen_cjson_safe},
  {NULL, NULL},
};

lua_State *pk__lua_state_new(void) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  luaL_openlibs(L);
  pk__lua_preload(L, modules);
  return L;
}

static const char *lua_dir(void) {
  const char *d = getenv("PIKKU_LUA_DIR");
  return d && *d ? d : PIKKU_LUA_DIR;
}

/* package.path: the app's folder first, then pikku's Lua modules, then the default. */
static void set_path(lua_State *L, const char *app_dir) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char *def = lua_tostring(L, -1);
  const char *ld = lua_dir();
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s/?/init.lua;%s", app_dir, app_dir, ld, ld, def ? def : "");
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
  pk__lua_cache_install(L, app_dir, ld);   /* pikku's own modules from bytecode after the first load */
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

/* The runtime's entry point `name` from the table on top of the stack, as a registry reference
 * (LUA_NOREF when the runtime has none). */
static int entry_ref(lua_State *L, const char *name) {
  lua_getfield(L, -1, name);
  if (lua_isfunction(L, -1)) return luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return LUA_NOREF;
}

pk__host *pk__host_new(const pk__options *o, int worker, int generation, char *err, size_t errlen) {
  pk__host *h = calloc(1, sizeof *h);
  if (!h) { snprintf(err, errlen, "out of memory"); return NULL; }
  h->refs = 1;
  h->generation = generation;
  h->opts = o;
  h->worker = worker;
  h->router = pk__router_new();
  h->L = pk__lua_state_new();
  if (!h->router || !h->L) { snprintf(err, errlen, "out of memory"); pk__host_free(h); return NULL; }
  lua_State *L = h->L;
  pk__mem_attach(L, (size_t)o->max_lua_memory);   /* the ceiling applies to calls (mem_limit.h) */
  pk__call_guard_enter(L);
  lua_pushlightuserdata(L, h);
  lua_setfield(L, LUA_REGISTRYINDEX, PK_HOST_REGISTRY_KEY);
  set_path(L, o->app_dir);
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
  h->dispatch_ref = entry_ref(L, "dispatch");
  h->resume_ref = entry_ref(L, "resume");
  h->channel_open_ref = entry_ref(L, "channel_open");
  h->channel_message_ref = entry_ref(L, "channel_message");
  h->channel_close_ref = entry_ref(L, "channel_close");
  h->abandon_ref = entry_ref(L, "abandon");
  h->job_run_ref = entry_ref(L, "job_run");
  h->tick_ref = entry_ref(L, "tick");
  h->direct_ref = entry_ref(L, "dispatch_direct");
  h->failed_ref = entry_ref(L, "dispatch_failed");
  h->traceback_ref = entry_ref(L, "traceback");
  /* routes whose JSON body is decoded before the runtime is entered (body_predecode.c) */
  int decoded_ref = entry_ref(L, "dispatch_decoded"), decoders_ref = LUA_NOREF;
  lua_getfield(L, -1, "decoders");
  if (lua_istable(L, -1) && pk__predecode_check_table(L, lua_gettop(L))) decoders_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else lua_pop(L, 1);
  if (h->dispatch_ref == LUA_NOREF || h->resume_ref == LUA_NOREF) {
    lua_pushstring(L, "pikku.runtime.load did not return dispatch and resume");
    goto fail;
  }
  lua_settop(L, 0);
  /* the stack's bottom slots (host.h), below every call's own */
  if (h->traceback_ref > 0) lua_rawgeti(L, LUA_REGISTRYINDEX, h->traceback_ref); else lua_pushnil(L);
  if (h->direct_ref > 0) lua_rawgeti(L, LUA_REGISTRYINDEX, h->direct_ref); else lua_pushnil(L);
  lua_createtable(L, (int)(sizeof h->methods / sizeof *h->methods), 0);
  int predecode = 0;
  if (decoded_ref > 0 && decoders_ref > 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, decoders_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, decoded_ref);
    predecode = pk__predecode_entry(L, lua_gettop(L));
    if (predecode) lua_remove(L, -2);   /* the entry holds dispatch_decoded */
    else lua_pop(L, 2);
  }
  if (!predecode) { lua_pushnil(L); lua_pushnil(L); }
  luaL_unref(L, LUA_REGISTRYINDEX, decoded_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, decoders_ref);
  pk__host_live(h);
  return h;
fail:
  snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown error");
  pk__host_free(h);
  return NULL;
}
