/* host_state.h: creating a host: a LuaJIT state with pikku's C modules, and the app loaded in it. */
#ifndef PK_HOST_STATE_H
#define PK_HOST_STATE_H
#include <lua.h>
#include <stddef.h>
#include "host.h"
#include "options.h"

/* A new LuaJIT state with the standard libraries and every C module of lua_modules.h in
 * package.preload (the table in host_state.c). NULL when out of memory. */
lua_State *pk__lua_state_new(void);
/* Builds a state for host (pk__lua_state_new), sets package.path for APP_DIR, and loads
 * APP_DIR/app.lua through pikku.runtime. Returns NULL with err set ("file:line: msg") on failure.
 * The new host holds one reference (the caller's). */
pk__host *pk__host_new(const pk__options *o, int worker, int generation, char *err, size_t errlen);
#endif
