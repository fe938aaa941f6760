/* lua_jobs.c: the pikku.jobs_c module: a worker's job requests to the master (add, get), its reports (result, progress, tick done), and cron checks. */
#include "lua_modules.h"
#include <errno.h>
#include <lauxlib.h>
#include <string.h>
#include "cron.h"
#include "host.h"
#include "hub_jobs.h"
#include "jobs_client.h"

static pk__host *host_arg(lua_State *L) {
  pk__host *h = pk__host_upvalue(L);
  if (!h) luaL_error(L, "pikku.jobs_c: only inside the pikku host");
  return h;
}

/* nil, message for a request that could not be sent */
static int refused(lua_State *L, int rc) {
  lua_pushnil(L);
  switch (rc) {
  case -ENOTCONN: lua_pushstring(L, "no job store here: the master process is not reachable"); break;
  case -EMSGSIZE: lua_pushstring(L, "the job is over the 8 MiB a message between processes may hold"); break;
  case -ENOBUFS: lua_pushstring(L, "over 16 MiB of messages already wait for the master: try again later"); break;
  default: lua_pushstring(L, strerror(-rc)); break;
  }
  return 2;
}

static int64_t check_int64(lua_State *L, int i) {
  lua_Number n = luaL_checknumber(L, i);
  luaL_argcheck(L, n >= -9007199254740992.0 && n <= 9007199254740992.0 && n == (lua_Number)(int64_t)n, i,
                "an integer");
  return (int64_t)n;
}

/* add(queue, key|nil, data_json, priority, delay_ms, token) -> true | nil, err. The call waiting
 * on token is resumed with (id, existed) or (nil, message) once the master has committed it. */
static int l_add(lua_State *L) {
  pk__host *h = host_arg(L);
  size_t qlen, klen = 0, dlen;
  const char *queue = luaL_checklstring(L, 1, &qlen);
  const char *key = lua_isnoneornil(L, 2) ? NULL : luaL_checklstring(L, 2, &klen);
  const char *data = luaL_checklstring(L, 3, &dlen);
  int64_t priority = check_int64(L, 4), delay = check_int64(L, 5);
  double token = luaL_checknumber(L, 6);
  luaL_argcheck(L, priority >= 0 && priority <= UINT32_MAX, 4, "priority out of range");
  int rc = pk__jobs_client_add(h, token, queue, qlen, key, klen, data, dlen, (uint32_t)priority,
                               delay < 0 ? 0 : delay);
  if (rc) return refused(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* get(queue, key, token) -> true | nil, err; the call is resumed with the job's JSON or nil. */
static int l_get(lua_State *L) {
  pk__host *h = host_arg(L);
  size_t qlen, klen;
  const char *queue = luaL_checklstring(L, 1, &qlen);
  const char *key = luaL_checklstring(L, 2, &klen);
  double token = luaL_checknumber(L, 3);
  int rc = pk__jobs_client_get(h, token, queue, qlen, key, klen);
  if (rc) return refused(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* counts(queue, token) -> true | nil, err; the call is resumed with the counts as JSON. */
static int l_counts(lua_State *L) {
  pk__host *h = host_arg(L);
  size_t qlen;
  const char *queue = luaL_checklstring(L, 1, &qlen);
  double token = luaL_checknumber(L, 2);
  int rc = pk__jobs_client_counts(h, token, queue, qlen);
  if (rc) return refused(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int done(lua_State *L, int rc) {
  if (rc) return refused(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* result(job, attempt, outcome, payload) -> true | nil, err */
static int l_result(lua_State *L) {
  int64_t job = check_int64(L, 1), attempt = check_int64(L, 2), outcome = check_int64(L, 3);
  size_t len = 0;
  const char *payload = luaL_optlstring(L, 4, "", &len);
  return done(L, pk__jobs_client_result(job, (uint32_t)attempt, (int)outcome, payload, len));
}

/* progress(job, attempt, json) -> true | nil, err */
static int l_progress(lua_State *L) {
  int64_t job = check_int64(L, 1), attempt = check_int64(L, 2);
  size_t len;
  const char *json = luaL_checklstring(L, 3, &len);
  return done(L, pk__jobs_client_progress(job, (uint32_t)attempt, json, len));
}

/* tick_done(name, execution_ms, outcome, message?) -> true | nil, err */
static int l_tick_done(lua_State *L) {
  size_t nlen, mlen = 0;
  const char *name = luaL_checklstring(L, 1, &nlen);
  int64_t ms = check_int64(L, 2), outcome = check_int64(L, 3);
  const char *msg = luaL_optlstring(L, 4, "", &mlen);
  return done(L, pk__jobs_client_tick_done(name, nlen, ms, (int)outcome, msg, mlen));
}

/* cron_check(expr, timezone?) -> true | nil, message naming what is wrong (the field, the zone).
 * The same parser and zone loader the master uses (cron.c, tzfile.c). */
static int l_cron_check(lua_State *L) {
  const char *expr = luaL_checkstring(L, 1);
  const char *tz_name = luaL_optstring(L, 2, "UTC");
  pk__cron c;
  char err[256];
  if (pk__cron_parse(&c, expr, err, sizeof err)) {
    lua_pushnil(L);
    lua_pushfstring(L, "schedule \"%s\": %s", expr, err);
    return 2;
  }
  pk__tz *tz = NULL;
  if (pk__tz_load(&tz, tz_name, err, sizeof err)) {
    lua_pushnil(L);
    lua_pushfstring(L, "timezone \"%s\": %s", tz_name, err);
    return 2;
  }
  pk__tz_free(tz);
  lua_pushboolean(L, 1);
  return 1;
}

/* cron_next(expr, timezone, after_ms, n) -> { ms, ... }, { iso, ... }: the next n run times
 * (fewer when the schedule ends), as Unix ms and as ISO 8601 in the zone. Raises on a bad
 * expression or zone. */
static int l_cron_next(lua_State *L) {
  const char *expr = luaL_checkstring(L, 1);
  const char *tz_name = luaL_optstring(L, 2, "UTC");
  int64_t after = check_int64(L, 3);
  int n = (int)luaL_optinteger(L, 4, 1);
  pk__cron c;
  char err[256];
  if (pk__cron_parse(&c, expr, err, sizeof err)) return luaL_error(L, "schedule \"%s\": %s", expr, err);
  pk__tz *tz = NULL;
  if (pk__tz_load(&tz, tz_name, err, sizeof err)) return luaL_error(L, "timezone \"%s\": %s", tz_name, err);
  lua_newtable(L);
  lua_newtable(L);
  for (int i = 1; i <= n; i++) {
    int64_t t = pk__cron_next(&c, tz, after);
    if (t < 0) break;
    char iso[64];
    pk__cron_format_iso(iso, sizeof iso, tz, t);
    lua_pushnumber(L, (lua_Number)t);
    lua_rawseti(L, -3, i);
    lua_pushstring(L, iso);
    lua_rawseti(L, -2, i);
    after = t;
  }
  pk__tz_free(tz);
  return 2;
}

int luaopen_pikku_jobs_c(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"add", l_add}, {"get", l_get}, {"counts", l_counts}, {"result", l_result}, {"progress", l_progress},
    {"tick_done", l_tick_done}, {"cron_check", l_cron_check}, {"cron_next", l_cron_next}, {NULL, NULL},
  };
  pk__host *h = pk__host_of(L);
  lua_newtable(L);
  lua_pushlightuserdata(L, h);   /* every function's upvalue: the host */
  luaL_setfuncs(L, fns, 1);
  static const struct { const char *name; int v; } consts[] = {
    {"OK", PK_OUTCOME_OK}, {"FAIL", PK_OUTCOME_FAIL}, {"DISCARD", PK_OUTCOME_DISCARD},
    {"SKIPPED", PK_OUTCOME_SKIPPED}, {NULL, 0},
  };
  for (int i = 0; consts[i].name; i++) {
    lua_pushinteger(L, consts[i].v);
    lua_setfield(L, -2, consts[i].name);
  }
  return 1;
}
