/* test_json.c: unit tests of the JSON encoder (arrays, empty arrays, objects, escapes, errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>
#include "lua_host.h"

extern int luaopen_cjson_safe(lua_State *L);
static lua_State *L;

static int setup(void **s) {
  L = luaL_newstate();
  luaL_openlibs(L);
  pk__json_open(L);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_cjson_safe);
  lua_setfield(L, -2, "cjson.safe");
  lua_pop(L, 2);
  assert_int_equal(luaL_dostring(L, "package.path = '" PIKKU_LUA_DIR "/?.lua;' .. package.path; json = require 'pikku.json'"), 0);
  return 0;
}
static int teardown(void **s) { lua_close(L); return 0; }

/* Runs `return <expr>` and compares the string result. */
static void check(const char *expr, const char *want) {
  char code[512];
  snprintf(code, sizeof code, "return %s", expr);
  if (luaL_dostring(L, code)) fail_msg("%s: %s", expr, lua_tostring(L, -1));
  const char *got = lua_tostring(L, -1);
  if (!got || strcmp(got, want)) fail_msg("%s: got %s, want %s", expr, got ? got : "nil", want);
  lua_settop(L, 0);
}

static void test_scalars(void **s) {
  check("json.encode(1)", "1");
  check("json.encode(1.5)", "1.5");
  check("json.encode(12345678901)", "12345678901");
  check("json.encode(-0.25)", "-0.25");
  check("json.encode(true)", "true");
  check("json.encode(json.null)", "null");
  check("json.encode('a\"b\\n/')", "\"a\\\"b\\n/\"");
}

static void test_arrays_and_objects(void **s) {
  check("json.encode({1, 2, 3})", "[1,2,3]");
  check("json.encode(json.array())", "[]");
  check("json.encode({})", "{}");
  check("json.encode({a = json.array({})})", "{\"a\":[]}");
  check("json.encode({a = {b = {1}}})", "{\"a\":{\"b\":[1]}}");
  check("json.encode(json.array({{x = 1}}))", "[{\"x\":1}]");
  check("json.encode({[2] = 'b'})", "{\"2\":\"b\"}");
}

static void test_errors(void **s) {
  check("select(2, json.encode(function() end))", "cannot encode a value of this type as JSON");
  check("select(2, json.encode(0/0))", "cannot encode NaN or infinity as JSON");
  check("(function() local t = {} t.self = t return select(2, json.encode(t)) end)()",
        "table nested too deeply (or a cycle) for JSON");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
    cmocka_unit_test_setup_teardown(test_arrays_and_objects, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
