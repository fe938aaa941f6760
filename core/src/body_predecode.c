/* body_predecode.c: a JSON body decoded and validated against its route's input schema before the runtime is entered. */
/*
 * The runtime used to do this itself (pikku.request_data add_body): ask for the Content-Type
 * through FFI (a Lua string made of it), look its kind up, and call the validator's decode, a C
 * function that a compiled trace can only reach by leaving the trace (LuaJIT "stitches" around a
 * lua_CFunction) and whose arguments are checked again on every call. For the routes where that
 * one pass applies (an HTTP route with an input schema, no path parameters, no query string, not
 * raw_body, a body sent as application/json), the host now does it on the way in: the runtime's
 * dispatch_decoded gets the table the body decoded to, or false when the one pass cannot tell (a
 * body it does not take, or one that is not valid), and then decodes and validates the two-pass
 * way as before, without trying the one pass again. What a request sees is the same either way:
 * the same data, the same errors, wire.http.body the same string.
 */
#include "body_predecode.h"
#include <lauxlib.h>
#include <string.h>
#include "ascii_case.h"
#include "json_decode.h"
#include "schema_internal.h"

int pk__predecode_is_json(const char *ct, size_t n) {
  static const char json[] = "application/json";
  /* what clients send: the type itself, alone or before its parameters */
  if (n >= 16 && memcmp(ct, json, 16) == 0 && (n == 16 || ct[16] == ';' || pk__ascii_space((unsigned char)ct[16])))
    return 1;
  /* body_kind's base type: match(ct, "^%s*([^;%s]+)"), lower-cased; "json" for application/json */
  size_t i = 0;
  while (i < n && pk__ascii_space((unsigned char)ct[i])) i++;
  size_t start = i;
  while (i < n && ct[i] != ';' && !pk__ascii_space((unsigned char)ct[i])) i++;
  return i - start == sizeof json - 1 && pk__ascii_ieq(ct + start, json, sizeof json - 1);
}

/* The entry the host calls (in its protected call): (validator, handle, index, method, path, body)
 * -> dispatch_decoded(handle, index, method, path, body, data or false). Upvalues: the runtime's
 * dispatch_decoded, and the array and object markers of pikku.json_c (what the decoder marks
 * arrays and empty objects with, as the validator's own decode does). */
static int predecoded_dispatch(lua_State *L) {
  const pk__svalidator *v = lua_touserdata(L, 1);   /* checked when the table was installed */
  size_t n;
  const char *s = lua_tolstring(L, 6, &n);
  lua_settop(L, 6);
  lua_getfenv(L, 1);                                  /* 7: the validator's environment */
  if (!(v && v->root && s && pk__schema_decode(L, v, 7, lua_upvalueindex(2), lua_upvalueindex(3), s, n)))
    lua_pushboolean(L, 0);                            /* 8: data, or false */
  lua_remove(L, 7);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_replace(L, 1);                                  /* dispatch_decoded, in the validator's place */
  lua_call(L, 6, 0);
  return 0;
}

int pk__predecode_entry(lua_State *L, int dispatch_decoded) {
  lua_pushvalue(L, dispatch_decoded);
  lua_getfield(L, LUA_REGISTRYINDEX, PK_JSON_ARRAY_MT);
  lua_getfield(L, LUA_REGISTRYINDEX, PK_JSON_OBJECT_MT);
  if (!lua_istable(L, -1) || !lua_istable(L, -2)) {   /* pikku.json_c not loaded: nothing to mark with */
    lua_pop(L, 3);
    return 0;
  }
  lua_pushcclosure(L, predecoded_dispatch, 3);
  return 1;
}

int pk__predecode_check_table(lua_State *L, int t) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int ok = 0;
    if (lua_type(L, -2) != LUA_TNUMBER) {
      ok = 0;
    } else if (lua_type(L, -1) == LUA_TBOOLEAN) {
      ok = !lua_toboolean(L, -1);                     /* false: a route the host leaves alone */
    } else if (lua_type(L, -1) == LUA_TUSERDATA && lua_getmetatable(L, -1)) {
      lua_getfield(L, -1, "__metatable");
      const char *name = lua_tostring(L, -1);
      ok = name && strcmp(name, PK__SCHEMA_MT) == 0;
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (!ok) {
      lua_pop(L, 1);
      return 0;
    }
  }
  return 1;
}
