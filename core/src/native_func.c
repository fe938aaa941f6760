/* native_func.c: a native function's call (pk_call): the exported pk_ calls that read its input and session and build its result. */
#include "native_func.h"
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "call_guard.h"
#include "clock.h"

/* ---- reading ------------------------------------------------------------------------------- */

/* Pushes the value at JSON Pointer ptr under from (nil when there is none); returns 1 if found. */
static int push_at(pk_call *c, int from, const char *ptr) {
  lua_State *L = c->L;
  lua_pushvalue(L, from == PK_SESSION ? c->session : c->data);
  if (!ptr) ptr = "";
  char key[1024];
  while (*ptr) {
    if (*ptr != '/' || !lua_istable(L, -1)) { lua_pop(L, 1); lua_pushnil(L); return 0; }
    ptr++;
    size_t n = 0;
    while (*ptr && *ptr != '/' && n < sizeof key - 1) {
      if (ptr[0] == '~' && ptr[1] == '1') { key[n++] = '/'; ptr += 2; }
      else if (ptr[0] == '~' && ptr[1] == '0') { key[n++] = '~'; ptr += 2; }
      else key[n++] = *ptr++;
    }
    key[n] = 0;
    int digits = n > 0 && n < 10;
    for (size_t i = 0; i < n && digits; i++) digits = key[i] >= '0' && key[i] <= '9';
    if (digits && !(n > 1 && key[0] == '0')) {       /* an array index, from 0 */
      lua_rawgeti(L, -1, (int)strtol(key, NULL, 10) + 1);
      if (!lua_isnil(L, -1)) { lua_remove(L, -2); continue; }
      lua_pop(L, 1);
    }
    lua_pushlstring(L, key, n);
    lua_rawget(L, -2);
    lua_remove(L, -2);
  }
  return !lua_isnil(L, -1);
}

static int is_array_table(pk_call *c, int idx) {
  lua_State *L = c->L;
  int array = 0;
  if (lua_getmetatable(L, idx)) {
    lua_getfield(L, c->ctx, "array_mt");
    array = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (array) return 1;
  }
  return lua_objlen(L, idx) > 0;
}

static int type_of_top(pk_call *c) {
  lua_State *L = c->L;
  switch (lua_type(L, -1)) {
  case LUA_TNIL: return PK_NONE;
  case LUA_TBOOLEAN: return PK_BOOLEAN;
  case LUA_TNUMBER: return PK_NUMBER;
  case LUA_TSTRING: return PK_STRING;
  case LUA_TTABLE: return is_array_table(c, lua_gettop(L)) ? PK_ARRAY : PK_OBJECT;
  case LUA_TLIGHTUSERDATA: return PK_NULL;   /* pikku.json.null (cjson.null) */
  default: return PK_NONE;
  }
}

int pk_type(pk_call *c, int from, const char *ptr) {
  push_at(c, from, ptr);
  int t = type_of_top(c);
  lua_pop(c->L, 1);
  return t;
}

/* A string stays valid while its container does (the input and session stay on the stack). */
const char *pk_string(pk_call *c, int from, const char *ptr, size_t *len) {
  push_at(c, from, ptr);
  const char *s = lua_type(c->L, -1) == LUA_TSTRING ? lua_tolstring(c->L, -1, len) : NULL;
  lua_pop(c->L, 1);
  return s;
}

double pk_number(pk_call *c, int from, const char *ptr, double dflt) {
  push_at(c, from, ptr);
  double v = lua_type(c->L, -1) == LUA_TNUMBER ? lua_tonumber(c->L, -1) : dflt;
  lua_pop(c->L, 1);
  return v;
}

int pk_boolean(pk_call *c, int from, const char *ptr, int dflt) {
  push_at(c, from, ptr);
  int v = lua_type(c->L, -1) == LUA_TBOOLEAN ? lua_toboolean(c->L, -1) : dflt;
  lua_pop(c->L, 1);
  return v;
}

size_t pk_count(pk_call *c, int from, const char *ptr) {
  lua_State *L = c->L;
  push_at(c, from, ptr);
  size_t n = 0;
  if (lua_istable(L, -1)) {
    if (is_array_table(c, lua_gettop(L))) n = lua_objlen(L, -1);
    else for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) n++;
  }
  lua_pop(L, 1);
  return n;
}

const char *pk_key(pk_call *c, int from, const char *ptr, size_t i, size_t *len) {
  lua_State *L = c->L;
  push_at(c, from, ptr);
  const char *k = NULL;
  if (lua_istable(L, -1)) {
    size_t n = 0;
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
      if (n++ == i && lua_type(L, -2) == LUA_TSTRING) {
        k = lua_tolstring(L, -2, len);   /* keys are held by the table */
        lua_pop(L, 2);
        break;
      }
    }
  }
  lua_pop(L, 1);
  return k;
}

/* Calls ctx[name] with the nargs values on top; leaves its one result. 0, or -EINVAL (the error
 * message is dropped: the pk_ call reports the failure). */
static int call_helper(pk_call *c, const char *name, int nargs) {
  lua_State *L = c->L;
  lua_getfield(L, c->ctx, name);
  lua_insert(L, -1 - nargs);
  if (lua_pcall(L, nargs, 1, 0)) { lua_pop(L, 1); return -EINVAL; }
  return 0;
}

const char *pk_json(pk_call *c, int from, const char *ptr, size_t *len) {
  lua_State *L = c->L;
  if (!push_at(c, from, ptr)) { lua_pop(L, 1); return NULL; }
  if (call_helper(c, "encode", 1)) return NULL;
  if (lua_type(L, -1) != LUA_TSTRING) { lua_pop(L, 1); return NULL; }
  lua_pushvalue(L, -1);
  lua_rawseti(L, c->keep, (int)lua_objlen(L, c->keep) + 1);   /* kept until the call returns */
  const char *s = lua_tolstring(L, -1, len);
  lua_pop(L, 1);
  return s;
}

/* ---- the result ------------------------------------------------------------------------------ */

static int misuse(pk_call *c, const char *what) {
  if (!c->misuse) c->misuse = what;
  return -EINVAL;
}

/* Puts the value on top where it goes: the result, the next element of the open array, or the
 * value of the pending key of the open object. keep_copy: a container (opened, not closed) whose
 * table must stay on the stack as the open frame. */
static int attach(pk_call *c, int keep_copy) {
  lua_State *L = c->L;
  if (keep_copy) lua_pushvalue(L, -1);
  if (c->depth == 0) {
    if (c->has_result) { lua_pop(L, keep_copy ? 2 : 1); return misuse(c, "a second top-level value (the result is one value)"); }
    lua_replace(L, c->result);
    c->has_result = 1;
    return 0;
  }
  __typeof__(c->frames[0]) *f = &c->frames[c->depth - 1];
  if (f->is_array) {
    lua_rawseti(L, f->idx, ++f->n);
    return 0;
  }
  if (!f->key) { lua_pop(L, keep_copy ? 2 : 1); return misuse(c, "a value inside an object without pk_out_key before it"); }
  if (keep_copy) lua_insert(L, -3);     /* the open table under the key */
  lua_rawset(L, f->idx);                /* key, value */
  f->key = 0;
  return 0;
}

static int open_container(pk_call *c, int is_array) {
  lua_State *L = c->L;
  if (c->depth >= PK__NATIVE_MAX_DEPTH) return misuse(c, "containers nested too deep");
  if (!lua_checkstack(L, 4)) return misuse(c, "out of stack");
  lua_createtable(L, 0, 0);
  lua_getfield(L, c->ctx, is_array ? "array_mt" : "object_mt");
  lua_setmetatable(L, -2);
  if (attach(c, 1)) return -EINVAL;
  c->frames[c->depth].idx = lua_gettop(L);
  c->frames[c->depth].is_array = is_array;
  c->frames[c->depth].n = 0;
  c->frames[c->depth].key = 0;
  c->depth++;
  return 0;
}

int pk_out_object(pk_call *c) { return open_container(c, 0); }
int pk_out_array(pk_call *c) { return open_container(c, 1); }

int pk_out_end(pk_call *c) {
  if (c->depth == 0) return misuse(c, "pk_out_end with no open object or array");
  if (c->frames[c->depth - 1].key) return misuse(c, "pk_out_end right after pk_out_key (the key has no value)");
  c->depth--;
  lua_settop(c->L, c->frames[c->depth].idx - 1);
  return 0;
}

int pk_out_key(pk_call *c, const char *key, size_t len) {
  if (c->depth == 0 || c->frames[c->depth - 1].is_array) return misuse(c, "pk_out_key outside an object");
  if (c->frames[c->depth - 1].key) return misuse(c, "two pk_out_key in a row");
  if (!key || !lua_checkstack(c->L, 4)) return misuse(c, "pk_out_key without a key");
  lua_pushlstring(c->L, key, len);
  c->frames[c->depth - 1].key = 1;
  return 0;
}

static int scalar(pk_call *c) { return lua_checkstack(c->L, 4) ? 0 : misuse(c, "out of stack"); }

int pk_out_string(pk_call *c, const char *s, size_t len) {
  if (scalar(c)) return -EINVAL;
  if (!s) return misuse(c, "pk_out_string with NULL");
  lua_pushlstring(c->L, s, len);
  return attach(c, 0);
}

int pk_out_number(pk_call *c, double n) {
  if (scalar(c)) return -EINVAL;
  if (!isfinite(n)) return misuse(c, "pk_out_number with NaN or an infinity (JSON has neither)");
  lua_pushnumber(c->L, n);
  return attach(c, 0);
}

int pk_out_integer(pk_call *c, int64_t n) { return pk_out_number(c, (double)n); }

int pk_out_boolean(pk_call *c, int b) {
  if (scalar(c)) return -EINVAL;
  lua_pushboolean(c->L, b);
  return attach(c, 0);
}

int pk_out_null(pk_call *c) {
  if (scalar(c)) return -EINVAL;
  lua_getfield(c->L, c->ctx, "null");
  return attach(c, 0);
}

int pk_out_json(pk_call *c, const char *json, size_t len) {
  if (scalar(c)) return -EINVAL;
  if (!json) return misuse(c, "pk_out_json with NULL");
  lua_pushlstring(c->L, json, len);
  if (call_helper(c, "decode", 1) || lua_isnil(c->L, -1)) {
    lua_pop(c->L, 1);
    return misuse(c, "pk_out_json with text that is not JSON");
  }
  return attach(c, 0);
}

int pk_out_bytes(pk_call *c, const char *data, size_t len, const char *content_type) {
  if (c->depth || c->has_result) return misuse(c, "pk_out_bytes is the whole result (no other value)");
  if (!data && len) return misuse(c, "pk_out_bytes with NULL");
  size_t n = content_type ? strlen(content_type) : 0;
  if (!n || n >= sizeof c->content_type || strpbrk(content_type, "\r\n"))
    return misuse(c, "pk_out_bytes needs a content type such as \"image/png\" (one line, under 128 bytes)");
  memcpy(c->content_type, content_type, n + 1);
  lua_pushlstring(c->L, data ? data : "", len);
  return attach(c, 0);
}

/* ---- the rest of the call -------------------------------------------------------------------- */

int pk_error(pk_call *c, const char *name, const char *message, const char *payload) {
  lua_State *L = c->L;
  if (c->failed) return PK_FAIL;   /* the first error is the call's */
  if (!lua_checkstack(L, 4)) return PK_FAIL;
  c->failed = 1;                   /* kept in the keep table: the stack may still change */
  lua_pushstring(L, name ? name : "InternalServerError");
  lua_setfield(L, c->keep, "name");
  if (message) { lua_pushstring(L, message); lua_setfield(L, c->keep, "message"); }
  if (payload) { lua_pushstring(L, payload); lua_setfield(L, c->keep, "payload"); }
  return PK_FAIL;
}

void pk_call_log(pk_call *c, const char *level, const char *message) {
  lua_State *L = c->L;
  if (!lua_checkstack(L, 4)) return;
  lua_pushstring(L, level ? level : "info");
  lua_pushstring(L, message ? message : "");
  if (!call_helper(c, "log", 2)) lua_pop(L, 1);
}

int pk_publish(pk_call *c, const char *topic, const char *json, size_t len) {
  lua_State *L = c->L;
  if (!topic || !json || !lua_checkstack(L, 4)) return -EINVAL;
  lua_pushstring(L, topic);
  lua_pushlstring(L, json, len);
  if (call_helper(c, "publish", 2)) return -EINVAL;   /* the count, or a negative errno */
  int rc = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : -EINVAL;
  lua_pop(L, 1);
  return rc;
}

double pk_time_left_ms(pk_call *c) {
  (void)c;
  if (!pk__call->running || pk__call->deadline_ms <= 0) return HUGE_VAL;
  return pk__call->deadline_ms - pk__clock_ms();
}

int pk__native_call(lua_State *L, pk_native_fn fn, int data, int session, int ctx) {
  pk_call c;
  memset(&c, 0, sizeof c);
  c.L = L;
  c.data = data;
  c.session = session;
  c.ctx = ctx;
  lua_newtable(L);
  c.keep = lua_gettop(L);
  lua_pushnil(L);
  c.result = lua_gettop(L);
  int rc = fn(&c);
  if (c.failed) {
    /* ctx.error(name, message, payload) builds the pikku error; raised here */
    lua_getfield(L, ctx, "error");
    lua_getfield(L, c.keep, "name");
    lua_getfield(L, c.keep, "message");
    lua_getfield(L, c.keep, "payload");
    lua_call(L, 3, 1);
    return lua_error(L);
  }
  if (rc != PK_OK) {
    lua_getfield(L, ctx, "error");
    lua_pushstring(L, "InternalServerError");
    lua_pushfstring(L, "the native function returned %d without pk_error", rc);
    lua_call(L, 2, 1);
    return lua_error(L);
  }
  if (!c.misuse && c.depth) c.misuse = "an object or array was not closed (pk_out_end)";
  if (c.misuse) {
    lua_getfield(L, ctx, "error");
    lua_pushstring(L, "InternalServerError");
    lua_pushfstring(L, "the native function built its result wrongly: %s", c.misuse);
    lua_call(L, 2, 1);
    return lua_error(L);
  }
  lua_pushvalue(L, c.result);
  if (c.content_type[0]) lua_pushstring(L, c.content_type); else lua_pushnil(L);
  return 2;
}
