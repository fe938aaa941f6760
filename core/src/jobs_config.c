/* jobs_config.c: copies a loaded app's schedules and queues (runtime.jobs_config()) out of its Lua state. */
#include "jobs_config.h"
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_LATER "pikku:run-later"

static int fail(char *err, size_t errlen, int rc, const char *msg) {
  snprintf(err, errlen, "%s", msg);
  return rc;
}

/* t[key] of the table at idx as a copied string (NULL when nil). -EINVAL when it is not a string. */
static int str_field(lua_State *L, int idx, const char *key, char **out) {
  lua_getfield(L, idx, key);
  *out = NULL;
  int rc = 0;
  if (lua_type(L, -1) == LUA_TSTRING) {
    if (!(*out = strdup(lua_tostring(L, -1)))) rc = -ENOMEM;
  } else if (!lua_isnil(L, -1)) {
    rc = -EINVAL;
  }
  lua_pop(L, 1);
  return rc;
}

static int64_t num_field(lua_State *L, int idx, const char *key, int64_t dflt) {
  lua_getfield(L, idx, key);
  int64_t v = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

static int bool_field(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int read_schedule(lua_State *L, int idx, pk__schedule_cfg *s) {
  int rc;
  if ((rc = str_field(L, idx, "name", &s->name)) || (rc = str_field(L, idx, "schedule", &s->expr)) ||
      (rc = str_field(L, idx, "timezone", &s->timezone)))
    return rc;
  if (!s->name || !s->expr) return -EINVAL;
  if (!s->timezone && !(s->timezone = strdup("UTC"))) return -ENOMEM;
  char *overlap = NULL;
  if ((rc = str_field(L, idx, "overlap", &overlap))) return rc;
  s->overlap_allow = overlap && !strcmp(overlap, "allow");
  free(overlap);
  s->catch_up = bool_field(L, idx, "catch_up");
  return 0;
}

static int read_queue(lua_State *L, int idx, pk__queue_cfg *q) {
  int rc;
  if ((rc = str_field(L, idx, "name", &q->name)) || (rc = str_field(L, idx, "dead_letter", &q->dead_letter)))
    return rc;
  if (!q->name) return -EINVAL;
  lua_getfield(L, idx, "worker");
  q->worker = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
  lua_pop(L, 1);
  q->concurrency = (int)num_field(L, idx, "concurrency", 1);
  q->retry_attempts = (int)num_field(L, idx, "retry_attempts", 0);
  q->retry_delay = num_field(L, idx, "retry_delay", 1000);
  q->timeout = num_field(L, idx, "timeout", 30000);
  char *backoff = NULL;
  if ((rc = str_field(L, idx, "retry_backoff", &backoff))) return rc;
  q->exponential = backoff && !strcmp(backoff, "exponential");
  free(backoff);
  if (q->concurrency < 1) q->concurrency = 1;
  if (q->timeout < 1) q->timeout = 1;
  if (q->retry_delay < 0) q->retry_delay = 0;
  if (q->retry_attempts < 0) q->retry_attempts = 0;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const pk__queue_cfg *)a)->name, ((const pk__queue_cfg *)b)->name);
}

/* Reads the list t[key] (t at the top of the stack) with read_one into a new array. */
static int read_list(lua_State *L, const char *key, size_t size, void **out, int *n,
                     int (*read_one)(lua_State *, int, void *)) {
  lua_getfield(L, -1, key);
  *out = NULL;
  *n = 0;
  if (!lua_istable(L, -1)) { lua_pop(L, 1); return 0; }
  int len = (int)lua_objlen(L, -1);
  if (len > 0 && !(*out = calloc((size_t)len, size))) { lua_pop(L, 1); return -ENOMEM; }
  int rc = 0;
  for (int i = 1; i <= len && !rc; i++) {
    lua_rawgeti(L, -1, i);
    rc = lua_istable(L, -1) ? read_one(L, lua_gettop(L), (char *)*out + (size_t)(i - 1) * size) : -EINVAL;
    lua_pop(L, 1);
    (*n)++;
  }
  lua_pop(L, 1);
  return rc;
}

static int read_schedule_any(lua_State *L, int idx, void *p) { return read_schedule(L, idx, p); }
static int read_queue_any(lua_State *L, int idx, void *p) { return read_queue(L, idx, p); }

int pk__jobs_config_read(lua_State *L, pk__jobs_config *c, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, "pikku.runtime");
  if (lua_pcall(L, 1, 1, 0)) {
    snprintf(err, errlen, "pikku.runtime: %s", lua_tostring(L, -1));
    lua_settop(L, top);
    return -EINVAL;
  }
  lua_getfield(L, -1, "jobs_config");
  if (lua_isnil(L, -1)) {   /* a runtime without jobs (a stand-in runtime of the tests): none */
    lua_settop(L, top);
    return 0;
  }
  if (!lua_isfunction(L, -1) || lua_pcall(L, 0, 1, 0) || !lua_istable(L, -1)) {
    snprintf(err, errlen, "runtime.jobs_config failed: %s",
             lua_isstring(L, -1) ? lua_tostring(L, -1) : "no table");
    lua_settop(L, top);
    return -EINVAL;
  }
  void *list;
  int rc = read_list(L, "schedules", sizeof *c->schedules, &list, &c->nschedules, read_schedule_any);
  c->schedules = list;
  if (!rc) {
    rc = read_list(L, "queues", sizeof *c->queues, &list, &c->nqueues, read_queue_any);
    c->queues = list;
  }
  lua_settop(L, top);
  if (rc) {
    pk__jobs_config_free(c);
    return fail(err, errlen, rc, rc == -ENOMEM ? "out of memory" : "runtime.jobs_config: a malformed entry");
  }
  if (c->nqueues > 1) qsort(c->queues, (size_t)c->nqueues, sizeof *c->queues, by_name);
  return 0;
}

void pk__jobs_config_free(pk__jobs_config *c) {
  for (int i = 0; i < c->nschedules; i++) {
    free(c->schedules[i].name);
    free(c->schedules[i].expr);
    free(c->schedules[i].timezone);
  }
  for (int i = 0; i < c->nqueues; i++) {
    free(c->queues[i].name);
    free(c->queues[i].dead_letter);
  }
  free(c->schedules);
  free(c->queues);
  memset(c, 0, sizeof *c);
}

const pk__queue_cfg *pk__jobs_config_queue(const pk__jobs_config *c, const char *name, size_t len) {
  int lo = 0, hi = c->nqueues - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    const char *n = c->queues[mid].name;
    size_t nl = strlen(n);
    int cmp = memcmp(n, name, nl < len ? nl : len);
    if (!cmp) cmp = nl < len ? -1 : nl > len;
    if (!cmp) return &c->queues[mid];
    if (cmp < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

int pk__jobs_config_declares_any(const pk__jobs_config *c) {
  if (c->nschedules > 0) return 1;
  for (int i = 0; i < c->nqueues; i++)
    if (strcmp(c->queues[i].name, RUN_LATER)) return 1;
  return 0;
}
