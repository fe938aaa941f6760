/* lua_cache.h: a process's cache of pikku's own Lua modules as bytecode, so a reload re-reads only the app. */
#ifndef PK_LUA_CACHE_H
#define PK_LUA_CACHE_H
#include <lua.h>

/* Puts a searcher in L's package.loaders, before the Lua-file searcher: a module under lua_dir
 * (pikku's own, `pikku` and `pikku.*`) loads from bytecode compiled the first time this process
 * (or the master it was forked from) loaded it, as long as its file's size and modification time
 * are the same. A module the app folder holds itself is left to the usual searchers (the app
 * wins, as package.path says). */
void pk__lua_cache_install(lua_State *L, const char *app_dir, const char *lua_dir);
#endif
