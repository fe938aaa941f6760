/* lua_guard.c: the pikku.guard_c module: what the runtime asks of the guards (memory, replacing the worker, pikku test's progress). */
#include <lauxlib.h>
#include "crash.h"
#include "host.h"
#include "lua_modules.h"
#include "mem_limit.h"
#include "worker.h"

/* memory() -> used, limit (0: none), peak, refused: this state's allocator's accounting. */
static int l_memory(lua_State *L) {
  pk__mem *m = pk__mem_of(L);
  if (!m) {
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) * 1024);
    lua_pushnumber(L, 0);
    lua_pushnumber(L, 0);
    lua_pushnumber(L, 0);
    return 4;
  }
  lua_pushnumber(L, (lua_Number)m->used);
  lua_pushnumber(L, (lua_Number)m->limit);
  lua_pushnumber(L, (lua_Number)m->peak);
  lua_pushnumber(L, (lua_Number)m->refused);
  return 4;
}

/* replace_worker(reason): the worker stops taking connections, finishes what it has and exits; the
 * master starts a new one from the code it holds. false when there is no worker (pikku test). */
static int l_replace_worker(lua_State *L) {
  const char *why = luaL_checkstring(L, 1);
  lua_pushboolean(L, pk__worker_replace(why) == 0);
  return 1;
}

/* test_progress(name?, passed, failed): for the report of a crash under pikku test. */
static int l_test_progress(lua_State *L) {
  pk__crash_test_progress(lua_tostring(L, 1), (int)luaL_optinteger(L, 2, 0), (int)luaL_optinteger(L, 3, 0));
  return 0;
}

int luaopen_pikku_guard_c(lua_State *L) {
  pk__host *h = pk__host_of(L);
  static const luaL_Reg fns[] = {
    {"memory", l_memory}, {"replace_worker", l_replace_worker}, {"test_progress", l_test_progress}, {NULL, NULL},
  };
  lua_newtable(L);
  luaL_register(L, NULL, fns);
  /* the default time limit of a call (--call-timeout-ms), ms; 0: none */
  lua_pushnumber(L, h && h->opts ? (lua_Number)h->opts->call_timeout_ms : 30000);
  lua_setfield(L, -2, "call_timeout_ms");
  return 1;
}
