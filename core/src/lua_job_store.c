/* lua_job_store.c: the pikku.job_store_c module: pikku test's in-process job store (":memory:") with a clock tests can move forward. */
#include "lua_modules.h"
#include <errno.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "clock.h"
#include "hub_jobs.h"
#include "job_policy.h"
#include "job_store.h"

/* The store and its clock: one per Lua state (a userdata; closed with the state). */
typedef struct mem_store {
  pk__job_store *s;
  int64_t clock;     /* the test clock: never behind the wall clock, moved on by advance() */
} mem_store;

#define STORE_MT "pikku.job_store_c"

static mem_store *self(lua_State *L) {
  mem_store *m = lua_touserdata(L, lua_upvalueindex(1));
  if (!m->s) {
    char err[512];
    if (pk__job_store_open(&m->s, ":memory:", err, sizeof err)) luaL_error(L, "%s", err);
  }
  return m;
}

static int64_t now_of(mem_store *m) {
  int64_t wall = pk__wall_ms();
  if (m->clock < wall) m->clock = wall;
  return m->clock;
}

static int64_t int_arg(lua_State *L, int i, int64_t dflt) {
  if (lua_isnoneornil(L, i)) return dflt;
  return (int64_t)luaL_checknumber(L, i);
}

static int store_error(lua_State *L, mem_store *m) {
  lua_pushnil(L);
  lua_pushstring(L, pk__job_store_error(m->s));
  return 2;
}

/* add(queue, key|nil, data, priority, delay_ms, max_attempts) -> id, existed | nil, message */
static int l_add(lua_State *L) {
  mem_store *m = self(L);
  const char *queue = luaL_checkstring(L, 1);
  const char *key = luaL_optstring(L, 2, NULL);
  size_t dlen;
  const char *data = luaL_checklstring(L, 3, &dlen);
  int64_t priority = int_arg(L, 4, 0), delay = int_arg(L, 5, 0), max_attempts = int_arg(L, 6, 1);
  int64_t now = now_of(m), id = 0;
  int existed = 0;
  if (pk__job_store_add(m->s, queue, key, data, dlen, (int)priority, now + (delay > 0 ? delay : 0),
                        (int)max_attempts, now, &id, &existed))
    return store_error(L, m);
  if (key) {
    lua_pushstring(L, key);
  } else {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)id);
    lua_pushstring(L, buf);
  }
  lua_pushboolean(L, existed);
  return 2;
}

/* get(queue, key) -> the job as JSON (services.queue:get_job's), or nil */
static int l_get(lua_State *L) {
  mem_store *m = self(L);
  pk__job j;
  int rc = pk__job_store_get(m->s, luaL_checkstring(L, 1), luaL_checkstring(L, 2), &j);
  if (rc == -ENOENT) return 0;
  if (rc) return store_error(L, m);
  pk__buf b;
  pk__buf_init(&b);
  rc = pk__job_to_json(&b, &j, now_of(m));
  if (!rc) lua_pushlstring(L, b.data, b.len);
  pk__buf_free(&b);
  pk__job_free(&j);
  if (rc) return luaL_error(L, "out of memory");
  return 1;
}

/* lease(queue, lease_ms) -> { id, key, queue, attempt, data } or nil when none is runnable now */
static int l_lease(lua_State *L) {
  mem_store *m = self(L);
  pk__job j;
  int rc = pk__job_store_lease(m->s, luaL_checkstring(L, 1), now_of(m), int_arg(L, 2, 30000), 1, &j);
  if (rc == -ENOENT) return 0;
  if (rc) return store_error(L, m);
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, (lua_Number)j.id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, j.key);
  lua_setfield(L, -2, "key");
  lua_pushstring(L, j.queue);
  lua_setfield(L, -2, "queue");
  lua_pushinteger(L, j.attempts);
  lua_setfield(L, -2, "attempt");
  if (j.data) lua_pushlstring(L, j.data, j.dlen);
  else lua_pushliteral(L, "null");
  lua_setfield(L, -2, "data");
  pk__job_free(&j);
  return 1;
}

/* finish(id, attempt, outcome, payload, queue_settings?) -> "completed" | "retry" | "failed" |
 * "dead_letter" | "stale", retry_at. queue_settings: { name, retry_delay, retry_backoff,
 * dead_letter } (the retries themselves were fixed by max_attempts at add). */
static int l_finish(lua_State *L) {
  mem_store *m = self(L);
  int64_t id = int_arg(L, 1, 0), attempt = int_arg(L, 2, 0), outcome = int_arg(L, 3, PK_OUTCOME_FAIL);
  size_t len = 0;
  const char *payload = luaL_optlstring(L, 4, "", &len);
  pk__queue_cfg q = {0}, *qp = NULL;
  if (lua_istable(L, 5)) {
    lua_getfield(L, 5, "name");
    q.name = (char *)lua_tostring(L, -1);
    lua_getfield(L, 5, "retry_delay");
    q.retry_delay = (int64_t)lua_tonumber(L, -1);
    lua_getfield(L, 5, "retry_backoff");
    q.exponential = lua_isstring(L, -1) && !strcmp(lua_tostring(L, -1), "exponential");
    lua_getfield(L, 5, "dead_letter");
    q.dead_letter = (char *)lua_tostring(L, -1);   /* the strings stay on the stack until we return */
    if (q.name) qp = &q;
  }
  int64_t at = 0;
  int end = pk__job_finish(m->s, qp, id, (int)attempt, (int)outcome, payload, len, now_of(m), &at);
  static const char *names[] = {"completed", "retry", "failed", "dead_letter", "stale"};
  if (end < 0) return store_error(L, m);
  lua_pushstring(L, names[end]);
  lua_pushnumber(L, (lua_Number)at);
  return 2;
}

/* progress(id, json) */
static int l_progress(lua_State *L) {
  mem_store *m = self(L);
  pk__job_store_progress(m->s, (int64_t)luaL_checknumber(L, 1), luaL_checkstring(L, 2), now_of(m));
  return 0;
}

/* next_due(queue) -> the earliest run_at of its delayed jobs, or nil */
static int l_next_due(lua_State *L) {
  mem_store *m = self(L);
  int64_t t;
  if (pk__job_store_next_due(m->s, luaL_checkstring(L, 1), &t)) return 0;
  lua_pushnumber(L, (lua_Number)t);
  return 1;
}

/* counts(queue) -> { waiting, delayed, active, completed, failed } */
static int l_counts(lua_State *L) {
  mem_store *m = self(L);
  pk__job_counts c;
  if (pk__job_store_counts(m->s, luaL_checkstring(L, 1), now_of(m), &c)) return store_error(L, m);
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, (lua_Number)c.waiting); lua_setfield(L, -2, "waiting");
  lua_pushnumber(L, (lua_Number)c.delayed); lua_setfield(L, -2, "delayed");
  lua_pushnumber(L, (lua_Number)c.active); lua_setfield(L, -2, "active");
  lua_pushnumber(L, (lua_Number)c.completed); lua_setfield(L, -2, "completed");
  lua_pushnumber(L, (lua_Number)c.failed); lua_setfield(L, -2, "failed");
  return 1;
}

/* now() -> the test clock (Unix ms); advance(to_ms): moves it on to to_ms (never back) */
static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)now_of(self(L)));
  return 1;
}

static int l_advance(lua_State *L) {
  mem_store *m = self(L);
  int64_t to = (int64_t)luaL_checknumber(L, 1);
  if (to > m->clock) m->clock = to;
  return 0;
}

/* reset(): empties the store (a fresh :memory: one) */
static int l_reset(lua_State *L) {
  mem_store *m = lua_touserdata(L, lua_upvalueindex(1));
  pk__job_store_close(m->s);
  m->s = NULL;
  return 0;
}

static int gc(lua_State *L) {
  mem_store *m = luaL_checkudata(L, 1, STORE_MT);
  pk__job_store_close(m->s);
  m->s = NULL;
  return 0;
}

int luaopen_pikku_job_store_c(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"add", l_add}, {"get", l_get}, {"lease", l_lease}, {"finish", l_finish}, {"progress", l_progress},
    {"next_due", l_next_due}, {"counts", l_counts}, {"now", l_now}, {"advance", l_advance},
    {"reset", l_reset}, {NULL, NULL},
  };
  mem_store *m = lua_newuserdata(L, sizeof *m);
  memset(m, 0, sizeof *m);
  if (luaL_newmetatable(L, STORE_MT)) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  int ud = lua_gettop(L);
  lua_newtable(L);
  lua_pushvalue(L, ud);
  luaL_setfuncs(L, fns, 1);
  lua_pushvalue(L, ud);   /* the table keeps the store alive */
  lua_setfield(L, -2, "_store");
  return 1;
}
