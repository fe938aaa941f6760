/* tool_cmd.c: `pikku codegen` and `pikku routes`: the app loaded without serving, handed to pikku.codegen. */
#include <lauxlib.h>
#include <stdio.h>
#include "tool_cmd.h"
#include "host_state.h"
#include "log.h"
#include "worker.h"

static int traceback(lua_State *L) {
  luaL_traceback(L, L, lua_tostring(L, 1) ? lua_tostring(L, 1) : "(error object is not a string)", 1);
  return 1;
}

static void set_field(lua_State *L, const char *k, const char *v) {
  if (!v) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

int pk__tool_run(const pk__options *o) {
  static pk__worker w;
  w.loop = uv_default_loop();
  w.opts = o;
  w.id = 1;
  pk__W = &w;
  const char *cmd = o->command == PK_CMD_ROUTES ? "routes" : "codegen";
  char err[4096];
  pk__host *h = pk__host_new(o, 1, 1, err, sizeof err);
  if (!h) {
    pk__log_flush();
    fprintf(stderr, "pikku %s: cannot load the app: %s\n", cmd, err);
    return 1;
  }
  w.host = h;
  lua_State *L = h->L;
  int rc = 1;
  lua_pushcfunction(L, traceback);
  int base = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, "pikku.codegen");
  if (lua_pcall(L, 1, 1, base) == 0) {
    lua_getfield(L, -1, "main");
    lua_newtable(L);
    set_field(L, "command", cmd);
    set_field(L, "app_dir", o->app_dir);
    set_field(L, "out", o->out_dir);
    set_field(L, "check", o->check_dir);
    if (lua_pcall(L, 1, 1, base) == 0) rc = (int)lua_tointeger(L, -1);
  }
  pk__log_flush();
  if (rc == 1 && lua_isstring(L, -1) && !lua_isnumber(L, -1))
    fprintf(stderr, "pikku %s: %s\n", cmd, lua_tostring(L, -1));
  fflush(stdout);
  lua_settop(L, base - 1);   /* the host's own slots (host.h) stay */
  uv_run(w.loop, UV_RUN_NOWAIT);
  pk__host_unref(h);
  pk__host_collect();
  return rc;
}
