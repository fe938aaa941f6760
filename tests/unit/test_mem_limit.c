/* test_mem_limit.c: unit tests of a Lua state's counting allocator (mem_limit.c): its count and its ceiling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include "mem_limit.h"

/* What LuaJIT itself counts, in bytes. */
static size_t lua_count(lua_State *L) {
  return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
}

static void run(lua_State *L, const char *code) {
  if (luaL_dostring(L, code) != 0) fail_msg("lua: %s", lua_tostring(L, -1));
}

static lua_State *new_state(pk__mem **m) {
  lua_State *L = luaL_newstate();
  assert_non_null(L);
  luaL_openlibs(L);
  *m = pk__mem_attach(L, 0);
  assert_non_null(*m);
  return L;
}

/* The count is what LuaJIT counts, through growth, garbage and collection. */
static void test_count_follows_lua(void **state) {
  (void)state;
  pk__mem *m;
  lua_State *L = new_state(&m);
  assert_int_equal(m->used, lua_count(L));
  run(L, "keep = {} for i = 1, 5000 do keep[i] = { a = i, s = string.rep('x', i % 300) } end");
  assert_int_equal(m->used, lua_count(L));
  size_t grown = m->used;
  run(L, "keep = nil collectgarbage()");
  assert_int_equal(m->used, lua_count(L));
  assert_true(m->used < grown);
  assert_true(m->peak >= grown);
  pk__mem_close(L);
}

/* Over the ceiling outside a call, a state gets the headroom and no more. */
static void test_ceiling_outside_a_call(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  assert_non_null(L);
  luaL_openlibs(L);
  size_t base = lua_count(L);
  pk__mem *m = pk__mem_attach(L, base + (1u << 20));
  assert_non_null(m);
  /* outside a call a state gets the headroom (16 MB here): 64 MB of tables are refused */
  int rc = luaL_dostring(L, "local t = {} for i = 1, 1000000 do t[i] = { a = i, b = i } end");
  assert_int_not_equal(rc, 0);
  assert_true(m->refused > 0);
  assert_true(m->used <= m->limit + PK__MEM_HEADROOM(m->limit));
  pk__mem_close(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_count_follows_lua),
    cmocka_unit_test(test_ceiling_outside_a_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
