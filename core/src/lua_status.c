/* lua_status.c: the pikku.status_c module: the core's status table (http_response.c) for pikku.errors. */
#include <lauxlib.h>
#include "http_response.h"
#include "lua_modules.h"

/* errors: { {status = 400, name = "BadRequest", message = "Bad request"}, ... } in status order,
 * one per error status of the table; reasons: { [200] = "OK", ... } for every status. */
int luaopen_pikku_status_c(lua_State *L) {
  size_t n;
  const pk__status_info *t = pk__status_table(&n);
  lua_createtable(L, 0, 2);
  lua_newtable(L);
  int k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!t[i].name) continue;
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, t[i].code);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, t[i].name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, t[i].message);
    lua_setfield(L, -2, "message");
    lua_rawseti(L, -2, ++k);
  }
  lua_setfield(L, -2, "errors");
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, t[i].reason);
    lua_rawseti(L, -2, t[i].code);
  }
  lua_setfield(L, -2, "reasons");
  return 1;
}
