/* json.c: a JSON encoder for Lua values that keeps empty arrays as [] (tables marked with array_mt). */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "buf.h"
#include "lua_host.h"

#define MAX_DEPTH 128

typedef struct { pk__buf out; int array_mt; const char *err; } enc;

static int encode_value(lua_State *L, enc *e, int idx, int depth);

/* A table is an array if it carries array_mt, or if its keys are exactly 1..n with n >= 1. */
static int array_length(lua_State *L, enc *e, int idx) {
  if (lua_getmetatable(L, idx)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->array_mt);
    int marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (marked) return (int)lua_objlen(L, idx);
  }
  int n = 0;
  double max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) { lua_pop(L, 1); return -1; }
    double k = lua_tonumber(L, -1);
    if (k < 1 || floor(k) != k) { lua_pop(L, 1); return -1; }
    if (k > max) max = k;
    n++;
  }
  if (n == 0) return -1;            /* an unmarked empty table is an object, as in lua-cjson */
  if (max != n) return -1;          /* sparse: encode as an object would lose nothing, but refuse */
  return n;
}

static int encode_string(enc *e, const char *s, size_t n) {
  return pk__buf_append_json_string(&e->out, s, n);
}

static int encode_number(enc *e, double d) {
  if (isnan(d) || isinf(d)) { e->err = "cannot encode NaN or infinity as JSON"; return -1; }
  char tmp[32];
  int len;
  if (floor(d) == d && fabs(d) < 1e15) len = snprintf(tmp, sizeof tmp, "%.0f", d);
  else len = snprintf(tmp, sizeof tmp, "%.14g", d);
  return pk__buf_append(&e->out, tmp, (size_t)len);
}

static int encode_table(lua_State *L, enc *e, int idx, int depth) {
  if (depth > MAX_DEPTH) { e->err = "table nested too deeply (or a cycle) for JSON"; return -1; }
  if (!lua_checkstack(L, 4)) { e->err = "out of Lua stack"; return -1; }
  int n = array_length(L, e, idx);
  if (n >= 0) {
    pk__buf_append(&e->out, "[", 1);
    for (int i = 1; i <= n; i++) {
      if (i > 1) pk__buf_append(&e->out, ",", 1);
      lua_rawgeti(L, idx, i);
      int rc = encode_value(L, e, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
      if (rc) return -1;
    }
    return pk__buf_append(&e->out, "]", 1);
  }
  pk__buf_append(&e->out, "{", 1);
  int first = 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (!first) pk__buf_append(&e->out, ",", 1);
    first = 0;
    int kt = lua_type(L, -2);
    if (kt == LUA_TSTRING) {
      size_t kl;
      const char *k = lua_tolstring(L, -2, &kl);
      encode_string(e, k, kl);
    } else if (kt == LUA_TNUMBER) {
      pk__buf_append(&e->out, "\"", 1);
      encode_number(e, lua_tonumber(L, -2));
      pk__buf_append(&e->out, "\"", 1);
    } else {
      lua_pop(L, 2);
      e->err = "table keys must be strings or numbers for JSON";
      return -1;
    }
    pk__buf_append(&e->out, ":", 1);
    if (encode_value(L, e, lua_gettop(L), depth + 1)) { lua_pop(L, 2); return -1; }
    lua_pop(L, 1);
  }
  return pk__buf_append(&e->out, "}", 1);
}

static int encode_value(lua_State *L, enc *e, int idx, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return pk__buf_append(&e->out, "null", 4);
  case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? pk__buf_append(&e->out, "true", 4) : pk__buf_append(&e->out, "false", 5);
  case LUA_TNUMBER: return encode_number(e, lua_tonumber(L, idx));
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return encode_string(e, s, n);
  }
  case LUA_TTABLE: return encode_table(L, e, idx, depth);
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return pk__buf_append(&e->out, "null", 4);   /* cjson.null */
    /* fall through */
  default:
    e->err = "cannot encode a value of this type as JSON";
    return -1;
  }
}

/* encode(value) -> string | nil, err */
static int l_encode(lua_State *L) {
  enc e;
  pk__buf_init(&e.out);
  e.err = NULL;
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  e.array_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  int rc = encode_value(L, &e, 1, 0);
  luaL_unref(L, LUA_REGISTRYINDEX, e.array_mt);
  if (rc) {
    pk__buf_free(&e.out);
    lua_pushnil(L);
    lua_pushstring(L, e.err ? e.err : "out of memory");
    return 2;
  }
  lua_pushlstring(L, e.out.data ? e.out.data : "", e.out.len);
  pk__buf_free(&e.out);
  return 1;
}

static int open_json(lua_State *L) {
  lua_newtable(L);
  lua_newtable(L);                       /* array_mt */
  lua_pushstring(L, "array");
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_encode, 1);
  lua_setfield(L, -3, "encode");
  lua_setfield(L, -2, "array_mt");
  return 1;
}

/* Puts the `pikku.json_c` C module in package.preload of L. */
void pk__json_open(lua_State *L) {
  pk__preload(L, "pikku.json_c", open_json);
}
