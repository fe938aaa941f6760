/* test_cmd.c: `pikku test APP_DIR`: loads the app in one Lua state and runs its tests, no transport. */
#include <lauxlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "test_cmd.h"
#include "host_state.h"
#include "log.h"
#include "buf.h"
#include "crash.h"
#include "native_build.h"
#include "lua_core.h"
#include "worker.h"

static int traceback(lua_State *L) {
  luaL_traceback(L, L, lua_tostring(L, 1) ? lua_tostring(L, 1) : "(error object is not a string)", 1);
  return 1;
}

/* stop(): ends the loop once the tests are done, even when a timed-out test left a timer behind. */
static int stop_loop(lua_State *L) {
  (void)L;
  uv_stop(pk__W->loop);
  return 0;
}

/* Calls require("pikku.testing")[fn](arg, stop, filter); leaves one result on the stack. Returns 0 or -1. */
static int call_testing(lua_State *L, const char *fn, const char *arg, const char *filter) {
  lua_pushcfunction(L, traceback);
  int base = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, "pikku.testing");
  if (lua_pcall(L, 1, 1, base)) goto fail;
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  int nargs = 0;
  if (arg) {
    lua_pushstring(L, arg);
    lua_pushcfunction(L, stop_loop);
    if (filter) lua_pushstring(L, filter); else lua_pushnil(L);
    nargs = 3;
  }
  if (lua_pcall(L, nargs, 1, base)) goto fail;
  lua_remove(L, base);
  return 0;
fail:
  pk__log_flush();
  fprintf(stderr, "pikku test: %s\n", lua_tostring(L, -1));
  lua_settop(L, base - 1);
  return -EIO;
}

int pk__test_run(const pk__options *o) {
  static pk__worker w;
  w.loop = uv_default_loop();
  w.opts = o;
  w.id = 1;
  pk__W = &w;            /* timers (services.sleep) run on this loop */
  pk__crash_install(1);  /* a crash names the test that caused it, with the run's summary */
  pk__buf out;              /* the app's native code, built when its sources changed */
  pk__buf_init(&out);
  int built = pk__native_build(o->app_dir, 1, &out);
  if (out.len) fwrite(out.data, 1, out.len, stderr);
  pk__buf_free(&out);
  if (built < 0) {
    fprintf(stderr, "pikku test: the app's native code does not build (above)\n");
    return 1;
  }
  char err[4096];
  pk__host *h = pk__host_new(o, 1, 1, err, sizeof err);
  if (!h) {
    fprintf(stderr, "pikku test: cannot load the app: %s\n", err);
    return 1;
  }
  w.host = h;
  int rc = 1;
  if (call_testing(h->L, "start", o->app_dir, o->filter) == 0) {
    lua_pop(h->L, 1);
    uv_run(w.loop, UV_RUN_DEFAULT);        /* until the tests are done (stop) or no timer is left */
    pk__log_flush();
    if (call_testing(h->L, "finish", NULL, NULL) == 0) {
      rc = lua_tointeger(h->L, -1) > 0 ? 1 : 0;
      lua_pop(h->L, 1);
    }
  }
  pk__log_flush();
  fflush(stdout);
  pk__core_cancel_timers();                /* what timed-out tests and their limits left behind */
  uv_run(w.loop, UV_RUN_NOWAIT);           /* their close callbacks */
  pk__host_unref(h);
  pk__host_collect();
  return rc;
}
