/* fuzz_lua.h: what the fuzz targets that run Lua share: a state with C modules preloaded, a deep comparison in Lua, one call per input. */
#ifndef FUZZ_LUA_H
#define FUZZ_LUA_H
#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "lua_modules.h"

/* Lua source of `same(a, b)`: a and b equal, tables compared deeply (metatables included). */
#define FUZZ_LUA_SAME                                                           \
  "local function same(a, b)\n"                                                 \
  "  if a == b then return true end\n"                                          \
  "  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"       \
  "  if getmetatable(a) ~= getmetatable(b) then return false end\n"             \
  "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"  \
  "  for k in pairs(b) do if a[k] == nil then return false end end\n"           \
  "  return true\n"                                                             \
  "end\n"

/* A state with the standard libraries and modules (a list ending in {NULL, NULL}) in
 * package.preload (host_state.c is not linked here), after running setup; traps if setup fails. */
static lua_State *fuzz_lua_state(const luaL_Reg *modules, const char *setup) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  pk__lua_preload(L, modules);
  if (luaL_dostring(L, setup)) __builtin_trap();
  return L;
}

/* Calls the global function fn with the input as a string: an error traps (running out of memory
 * does not), then one step of the collector. */
static void fuzz_lua_call(lua_State *L, const char *fn, const uint8_t *data, size_t size) {
  lua_getglobal(L, fn);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0)) {
    const char *msg = lua_tostring(L, -1);
    if (msg && strstr(msg, "not enough memory")) { lua_pop(L, 1); return; }
    __builtin_trap();
  }
  lua_gc(L, LUA_GCSTEP, 0);
}
#endif
