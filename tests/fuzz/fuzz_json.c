/* fuzz_json.c: libFuzzer target: the JSON decoder on any bytes, and decode(encode(v)) == v. */
#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "lua_modules.h"

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) {
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");   /* host_state.c is not linked here: the module is preloaded by hand */
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_pikku_json_c);
    lua_setfield(L, -2, "pikku.json_c");
    lua_pop(L, 2);
    if (luaL_dostring(L, "local j = require 'pikku.json_c'\n"
        "local function same(a, b)\n"
        "  if a == b then return true end\n"
        "  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
        "  if getmetatable(a) ~= getmetatable(b) then return false end\n"
        "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
        "  for k in pairs(b) do if a[k] == nil then return false end end\n"
        "  return true\n"
        "end\n"
        "function roundtrip(s)\n"
        "  local v, err = j.decode(s)\n"
        "  if v == nil then assert(type(err) == 'string' and err:find('at ', 1, true), err) return end\n"
        "  local e1 = j.encode(v)\n"
        "  if e1 == nil then return end\n"          /* deeper than the encoder's limit */
        "  local v2, err2 = j.decode(e1)\n"
        "  assert(err2 == nil, 'the encoder wrote what the decoder refuses')\n"
        "  assert(same(v, v2), 'decode(encode(v)) differs from v')\n"
        "end")) __builtin_trap();
  }
  lua_getglobal(L, "roundtrip");
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0)) {
    const char *msg = lua_tostring(L, -1);
    if (msg && strstr(msg, "not enough memory")) { lua_pop(L, 1); return 0; }
    __builtin_trap();
  }
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
