/* lua_core.h: what the worker asks of the pikku.core module (lua_core.c) besides opening it. */
#ifndef PK_LUA_CORE_H
#define PK_LUA_CORE_H

/* Drops every pending core.timer (nothing is resumed; each releases its host). For pikku test's end. */
void pk__core_cancel_timers(void);
#endif
