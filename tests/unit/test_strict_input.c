/* test_strict_input.c: unit tests of duplicate JSON keys refused by name and of validation errors listed up to a bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>
#include "host_state.h"
#include "schema_internal.h"

static lua_State *L;

static int setup(void **s) {
  L = pk__lua_state_new();
  assert_int_equal(luaL_dostring(L, "package.path = '" PIKKU_LUA_DIR "/?.lua;' .. package.path;"
                                    " json = require 'pikku.json'; C = require 'pikku.schema_c'"), 0);
  return 0;
}
static int teardown(void **s) { lua_close(L); return 0; }

/* Runs a chunk that must return true (or raise with its message). */
static void ok(const char *code) {
  if (luaL_dostring(L, code)) fail_msg("%s", lua_tostring(L, -1));
  if (!lua_toboolean(L, -1)) fail_msg("false: %s", code);
  lua_settop(L, 0);
}

static void test_duplicate_keys(void **s) {
  ok("local v, e = json.decode('{\"title\":\"x\",\"title\":\"y\"}')\n"
     "return v == nil and e:find('duplicate key \"title\"', 1, true) ~= nil and e:find('byte 14', 1, true) ~= nil");
  ok("local v, e = json.decode('{\"a\":{\"b\":1,\"c\":2,\"b\":null}}')\n"
     "return v == nil and e:find('duplicate key \"b\"', 1, true) ~= nil");
  /* the same key at different levels, and in sibling objects, is fine */
  ok("local v = json.decode('{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}') return v and v.a.a == 1 and v.b[2].a == 2");
  /* escapes decode to the same key */
  ok("local v, e = json.decode('{\"\\\\u0061\":1,\"a\":2}') return v == nil and e:find('duplicate key \"a\"', 1, true) ~= nil");
  /* a long key is cut in the message */
  ok("local k = string.rep('k', 500) local v, e = json.decode('{\"' .. k .. '\":1,\"' .. k .. '\":2}')\n"
     "return v == nil and #e < 160 and e:find('...', 1, true) ~= nil");
}

static void test_error_bound(void **s) {
  char code[1024];
  snprintf(code, sizeof code,
           "local v = C.compile({type='object', additionalProperties=false, properties={}}, 't')\n"
           "local t = {} for i = 1, 60000 do t['k' .. i] = i end\n"
           "local ok, errs, count = v:validate(t)\n"
           "return not ok and #errs == %d and count == 60000", PK__SCHEMA_MAX_LISTED);
  ok(code);
  ok("local v = C.compile({type='object', required={'a','b'}}, 't')\n"
     "local ok, errs, count = v:validate({}) return not ok and #errs == 2 and count == 2");
  /* errors inside anyOf branches are not counted as the value's own */
  ok("local v = C.compile({anyOf={{type='string'},{type='number'}}}, 't')\n"
     "local ok, errs, count = v:validate(true) return not ok and count == #errs");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_duplicate_keys),
    cmocka_unit_test(test_error_bound),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
