/* lua_json.c: the pikku.json_c module: encode Lua values (marked empty arrays stay []) and decode. */
#include <lauxlib.h>
#include <lua.h>
#include "buf.h"
#include "json_decode.h"
#include "json_encode.h"
#include "lj_view.h"
#include "lua_modules.h"

/* One output buffer per process, reused by every encode (workers run one Lua call at a time and
 * encoding runs no Lua code); one that grew past SCRATCH_KEEP is given back afterwards. While it
 * is in use (lua_pushlstring may run the GC, and a __gc finalizer could encode), an encode gets
 * its own. */
#define SCRATCH_KEEP (256 * 1024)
static pk__buf scratch;
static int scratch_busy;

typedef int (*encoder)(lua_State *L, int idx, int array_mt, pk__buf *out, const char **err);

static int encode_with(lua_State *L, encoder enc) {
  pk__buf out;
  int own = !scratch_busy;
  if (own) {
    out = scratch;
    pk__buf_reset(&out);
    scratch_busy = 1;
  } else {
    pk__buf_init(&out);
  }
  const char *err = NULL;
  lua_settop(L, 1);
  int rc = enc(L, 1, lua_upvalueindex(1), &out, &err);
  if (own) scratch = out;            /* before lua_pushlstring, which may raise (out of memory) */
  if (rc == 0) lua_pushlstring(L, out.data ? out.data : "", out.len);
  if (own) {
    scratch_busy = 0;
    if (scratch.cap > SCRATCH_KEEP) pk__buf_free(&scratch);
  } else {
    pk__buf_free(&out);
  }
  if (rc) {
    lua_pushnil(L);
    lua_pushstring(L, err ? err : "out of memory");
    return 2;
  }
  return 1;
}

/* encode(value) -> string | nil, err */
static int l_encode(lua_State *L) { return encode_with(L, pk__json_encode); }

/* _encode_public(value): the same through the public Lua API only (tests compare the two ways) */
static int l_encode_public(lua_State *L) { return encode_with(L, pk__json_encode_public); }

/* _encode_view(value) -> string, or nil and a reason when lj_view.h's way does not take it (or is
 * not in use in this process): for tests that check that way is taken */
static int encode_view_only(lua_State *L, int idx, int array_mt, pk__buf *out, const char **err) {
  if (pk__json_encode_view(L, idx, array_mt, out) == 0) return 0;
  *err = "not taken by the table views";
  return -1;
}

static int l_encode_view(lua_State *L) { return encode_with(L, encode_view_only); }

/* decode(string) -> value | nil, err */
static int l_decode(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    lua_pushnil(L);
    lua_pushstring(L, "JSON to decode must be a string");
    return 2;
  }
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  char err[160];
  lua_settop(L, 1);
  if (pk__json_decode(L, s, n, lua_upvalueindex(1), lua_upvalueindex(2), err, sizeof err) == NULL) return 1;
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}

/* The module: encode, decode, array_mt and object_mt. The two markers are also kept in the registry
 * (PK_JSON_ARRAY_MT, PK_JSON_OBJECT_MT) for the schema validator. */
int luaopen_pikku_json_c(lua_State *L) {
  pk__ljv_usable(L);                     /* the layout probe, once, while nothing is being encoded */
  lua_newtable(L);                       /* the module */
  lua_newtable(L);                       /* array_mt */
  lua_pushstring(L, "array");
  lua_setfield(L, -2, "__name");
  lua_newtable(L);                       /* object_mt: marks decoded empty objects */
  lua_pushstring(L, "object");
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, PK_JSON_ARRAY_MT);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, PK_JSON_OBJECT_MT);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_encode, 1);
  lua_setfield(L, -4, "encode");
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_encode_public, 1);
  lua_setfield(L, -4, "_encode_public");
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_encode_view, 1);
  lua_setfield(L, -4, "_encode_view");
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_decode, 2);
  lua_setfield(L, -4, "decode");
  lua_setfield(L, -3, "object_mt");
  lua_setfield(L, -2, "array_mt");
  return 1;
}
