/* fuzz_schema_decode.c: libFuzzer target: the one-pass decode (validator:decode) against decode + validate. */
#include <stdlib.h>
#include "fuzz_lua.h"

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
  FUZZ_LUA_SAME
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

static const luaL_Reg modules[] = {
  {"pikku.json_c", luaopen_pikku_json_c}, {"pikku.schema_c", luaopen_pikku_schema_c}, {NULL, NULL}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) {
    L = fuzz_lua_state(modules, setup);
    atexit(close_state);
  }
  fuzz_lua_call(L, "check", data, size);
  return 0;
}
