/* outbound.c: the pikku.outbound_c module (one-shot waiters with a timeout) and helpers the outbound clients share. */
#include "outbound.h"
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "lua_modules.h"
#include "worker.h"

uv_loop_t *pk__ob_loop(lua_State *L, const char *what) {
  if (!pk__W) luaL_error(L, "%s: not available while the app is loading (call it from a function)", what);
  return pk__W->loop;
}

void pk__ob_fail(pk__host *h, double token, const char *kind, const char *message) {
  lua_State *L = h->L;
  lua_pushnil(L);
  lua_pushstring(L, kind);
  lua_pushstring(L, message);
  pk__host_resume(h, token, 3);
}

void pk__ob_failf(pk__host *h, double token, const char *kind, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pk__ob_fail(h, token, kind, msg);
}

double pk__ob_optnum(lua_State *L, int idx, const char *field, double def) {
  lua_getfield(L, idx, field);
  double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
  lua_pop(L, 1);
  return v;
}

/* ---- waiters: a call waits for another call to hand it something (a pooled connection), or for
 * its timeout. wake() resumes it on the next loop turn with true; the timeout with false. ------- */

typedef struct waiter {
  uv_timer_t t;
  pk__host *h;
  double token;
  int armed;      /* the call is still waiting: the timer runs and the host is pinned */
  int woken;
  int boxed;      /* a Lua userdata still points here */
} waiter;

#define WAITER_MT "pikku.outbound.waiter"

static void waiter_closed(uv_handle_t *t) {
  waiter *w = t->data;
  if (!w->boxed) free(w);
  else w->armed = -1;   /* closed: the userdata's __gc frees it */
}

static void waiter_fired(uv_timer_t *t) {
  waiter *w = t->data;
  pk__host *h = w->h;
  w->armed = 0;
  uv_close((uv_handle_t *)&w->t, waiter_closed);
  lua_pushboolean(h->L, w->woken);
  pk__host_resume(h, w->token, 1);
  pk__host_unref(h);
}

static waiter *check_waiter(lua_State *L) {
  waiter **p = luaL_checkudata(L, 1, WAITER_MT);
  return *p;
}

/* waiter(token, timeout_ms) -> w: the call waiting on token is resumed with true by w:wake(), or
 * with false after timeout_ms. */
static int l_waiter(lua_State *L) {
  uv_loop_t *loop = pk__ob_loop(L, "pikku.outbound");
  double token = luaL_checknumber(L, 1);
  double ms = luaL_checknumber(L, 2);
  waiter **p = lua_newuserdata(L, sizeof *p);
  *p = NULL;
  waiter *w = calloc(1, sizeof *w);
  if (!w) return luaL_error(L, "out of memory");
  *p = w;
  luaL_getmetatable(L, WAITER_MT);
  lua_setmetatable(L, -2);
  w->h = pk__host_upvalue(L);
  w->token = token;
  w->armed = 1;
  w->boxed = 1;
  uv_timer_init(loop, &w->t);
  w->t.data = w;
  pk__host_ref(w->h);
  uv_timer_start(&w->t, waiter_fired, pk__ob_ms(ms), 0);
  return 1;
}

/* w:wake() -> true if the call was still waiting (it is resumed with true on the next turn). */
static int l_wake(lua_State *L) {
  waiter *w = check_waiter(L);
  if (!w || w->armed != 1 || w->woken) { lua_pushboolean(L, 0); return 1; }
  w->woken = 1;
  uv_timer_stop(&w->t);
  uv_timer_start(&w->t, waiter_fired, 0, 0);
  lua_pushboolean(L, 1);
  return 1;
}

/* w:cancel(): the call no longer waits (it is never resumed through w). */
static int l_cancel(lua_State *L) {
  waiter *w = check_waiter(L);
  if (!w || w->armed != 1) return 0;
  w->armed = 0;
  uv_timer_stop(&w->t);
  uv_close((uv_handle_t *)&w->t, waiter_closed);
  pk__host_unref(w->h);
  return 0;
}

static int l_waiter_gc(lua_State *L) {
  waiter **p = luaL_checkudata(L, 1, WAITER_MT);
  waiter *w = *p;
  *p = NULL;
  if (!w) return 0;
  if (w->armed == -1) free(w);   /* its timer is closed already */
  else w->boxed = 0;              /* the timer's close callback frees it */
  return 0;
}

int luaopen_pikku_outbound_c(lua_State *L) {
  pk__host *h = pk__host_of(L);
  if (!h) return luaL_error(L, "pikku.outbound_c: only inside the pikku host");
  luaL_newmetatable(L, WAITER_MT);
  lua_pushcfunction(L, l_waiter_gc);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  lua_pushcfunction(L, l_wake);
  lua_setfield(L, -2, "wake");
  lua_pushcfunction(L, l_cancel);
  lua_setfield(L, -2, "cancel");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushlightuserdata(L, h);
  lua_pushcclosure(L, l_waiter, 1);
  lua_setfield(L, -2, "waiter");
  return 1;
}
