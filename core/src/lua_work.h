/* lua_work.h: work for Lua calls on libuv's thread pool (core.pbkdf2_async). */
#ifndef PK_LUA_WORK_H
#define PK_LUA_WORK_H
#include <lua.h>
#include <lauxlib.h>
#include "lua_host.h"

/* Adds pbkdf2_async to the table on top of the stack (the pikku.core table of
 * the Lua state of host h). */
void pk__work_open(lua_State *L, pk__host *h);
#endif
