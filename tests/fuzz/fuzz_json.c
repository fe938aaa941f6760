/* fuzz_json.c: libFuzzer target: the JSON decoder on any bytes, decode(encode(v)) == v, and encode == the public-API encoder. */
#include "fuzz_lua.h"

static const char setup[] =
  "local j = require 'pikku.json_c'\n"
  FUZZ_LUA_SAME
  "function roundtrip(s)\n"
  "  local v, err = j.decode(s)\n"
  "  if v == nil then assert(type(err) == 'string' and err:find('at ', 1, true), err) return end\n"
  "  local e1 = j.encode(v)\n"
  "  assert(e1 == j._encode_public(v), 'encode differs from the public-API encoder')\n"
  "  if e1 == nil then return end\n"          /* deeper than the encoder's limit */
  "  local v2, err2 = j.decode(e1)\n"
  "  assert(err2 == nil, 'the encoder wrote what the decoder refuses')\n"
  "  assert(same(v, v2), 'decode(encode(v)) differs from v')\n"
  "end";

static const luaL_Reg modules[] = {{"pikku.json_c", luaopen_pikku_json_c}, {NULL, NULL}};
static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) L = fuzz_lua_state(modules, setup);
  fuzz_lua_call(L, "roundtrip", data, size);
  return 0;
}
