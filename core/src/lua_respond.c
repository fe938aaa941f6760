/* lua_respond.c: the pikku.respond_c module: answers a request with a Lua value written as JSON straight into the response. */
/*
 * The runtime used to encode a function's result into a Lua string (pikku.json.encode) and pass
 * that string to pk_rt_respond, which copies it into the connection's output: a string made,
 * hashed, interned and later collected for every JSON answer. json() writes the JSON text into a
 * buffer of its own and hands it to pk__conn_respond, the same door pk_rt_respond uses.
 */
#include <lauxlib.h>
#include <lua.h>
#include "buf.h"
#include "http_conn.h"
#include "json_decode.h"
#include "json_encode.h"
#include "lua_modules.h"

#define KEEP (256 * 1024)   /* a buffer that grew past this for one big answer is given back */

static const char *opt_lstring(lua_State *L, int i, size_t *len) {
  if (lua_isnoneornil(L, i)) { *len = 0; return NULL; }
  return luaL_checklstring(L, i, len);
}

/* json(handle, status, value, content_type, extra_headers, no_body) -> true (answered), nil (the
 * request is gone), or false, why (the value cannot be encoded: nothing was sent). Like
 * pikku.core.respond with the body pikku.json.encode(value) would make; no_body: status is one
 * that has no body (204, 205, 304): the value is encoded (so that a value that cannot be still
 * fails as before) but neither it nor the content type is sent. */
static int l_json(lua_State *L) {
  static pk__buf out;
  double handle = luaL_checknumber(L, 1);
  int status = (int)luaL_checkinteger(L, 2);
  size_t ctlen, elen;
  const char *ct = opt_lstring(L, 4, &ctlen);
  const char *extra = opt_lstring(L, 5, &elen);
  int no_body = lua_toboolean(L, 6);
  const char *err = NULL;
  pk__buf_reset(&out);
  if (pk__json_encode(L, 3, lua_upvalueindex(1), &out, &err)) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, err);
    return 2;
  }
  int rc = no_body ? pk__conn_respond(handle, status, NULL, 0, NULL, 0, extra, elen, NULL, 0)
                   : pk__conn_respond(handle, status, out.data ? out.data : "", out.len, ct, ctlen, extra, elen, NULL, 0);
  if (out.cap > KEEP) pk__buf_free(&out);
  if (rc) return 0;
  lua_pushboolean(L, 1);
  return 1;
}

int luaopen_pikku_respond_c(lua_State *L) {
  /* the array marker of pikku.json_c (loaded first if it is not yet), kept as an upvalue */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "pikku.json_c");
  lua_call(L, 1, 0);
  lua_newtable(L);
  lua_getfield(L, LUA_REGISTRYINDEX, PK_JSON_ARRAY_MT);
  lua_pushcclosure(L, l_json, 1);
  lua_setfield(L, -2, "json");
  return 1;
}
