/* fuzz_schema_decode.c: libFuzzer target: the one-pass decode (validator:decode) against decode + validate. */
#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lua_modules.h"

static lua_State *L;

/* Whatever the one pass returns for a body must be what pikku.json_c's decode gives for it
 * (metatables included) and a value the validator accepts without writing a default; nil is
 * always allowed (the two-pass way then decides). Every schema below is tried on every input. */
static const char setup[] =
  "local J = require 'pikku.json_c'\n"
  "local C = require 'pikku.schema_c'\n"
  "local S = {\n"
  "  { type = 'object', additionalProperties = false, required = { 'name', 'email', 'age', 'tags' },\n"
  "    properties = { name = { type = 'string', minLength = 1, maxLength = 64 },\n"
  "      email = { type = 'string', pattern = '^[^@\\\\s]+@[^@\\\\s]+\\\\.[^@\\\\s]+$' },\n"
  "      age = { type = 'integer', minimum = 0, maximum = 150 }, active = { type = 'boolean' },\n"
  "      tags = { type = 'array', items = { type = 'string' }, maxItems = 10 },\n"
  "      role = { type = 'string', enum = { 'admin', 'user', 'guest' } },\n"
  "      score = { type = 'number', minimum = 0, exclusiveMaximum = 100, multipleOf = 0.5 },\n"
  "      zip = { type = 'string', pattern = '^[0-9]{5}$' }, note = { type = { 'string', 'null' }, maxLength = 3 } } },\n"
  "  { additionalProperties = { type = { 'integer', 'array', 'object', 'null', 'boolean' }, items = { type = 'number' },\n"
  "      properties = { a = { type = 'string', format = 'email' } } } },\n"
  "  { properties = { d = { type = 'integer', default = 7 }, e = { enum = { 1, 'x', true } },\n"
  "      o = { type = 'object', properties = { p = { type = 'array', minItems = 1, items = { type = 'object',\n"
  "        properties = { q = { type = 'string', minLength = 2 } }, required = { 'q' } } } } } } },\n"
  "  { type = 'object' },\n"
  "}\n"
  "local V = {}\n"
  "for i, s in ipairs(S) do V[i] = C.compile(s, 'fuzz') end\n"
  "local function same(a, b)\n"
  "  if a == b then return true end\n"
  "  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
  "  if getmetatable(a) ~= getmetatable(b) then return false end\n"
  "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
  "  for k in pairs(b) do if a[k] == nil then return false end end\n"
  "  return true\n"
  "end\n"
  "function check(body)\n"
  "  for _, v in ipairs(V) do\n"
  "    local x = v:decode(body)\n"
  "    if x ~= nil then\n"
  "      local y = J.decode(body)\n"
  "      assert(y ~= nil, 'one pass took what the decoder refuses')\n"
  "      assert(v:validate(y, true), 'one pass took what validate refuses')\n"
  "      assert(same(x, y), 'one pass decoded differently (or validate wrote a default)')\n"
  "    end\n"
  "  end\n"
  "end\n";

/* the validators hold regcomp's memory until they are collected: close the state before the leak check */
static void close_state(void) { lua_close(L); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) {
    L = luaL_newstate();
    atexit(close_state);
    luaL_openlibs(L);
    lua_getglobal(L, "package");   /* host_state.c is not linked here: the modules are preloaded by hand */
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_pikku_json_c);
    lua_setfield(L, -2, "pikku.json_c");
    lua_pushcfunction(L, luaopen_pikku_schema_c);
    lua_setfield(L, -2, "pikku.schema_c");
    lua_pop(L, 2);
    if (luaL_dostring(L, setup)) __builtin_trap();
  }
  lua_getglobal(L, "check");
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0)) {
    const char *msg = lua_tostring(L, -1);
    if (msg && strstr(msg, "not enough memory")) { lua_pop(L, 1); return 0; }
    __builtin_trap();
  }
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
