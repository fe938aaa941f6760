/* lua_native.c: the pikku.native_c module (placeholder). */
#include <lauxlib.h>
#include "lua_modules.h"
int luaopen_pikku_native_c(lua_State *L) { lua_newtable(L); return 1; }
