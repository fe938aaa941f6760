/* native_func.h: a native function's call (pk_call): the validated input and session it reads, the result it builds on the Lua stack. */
#ifndef PK_NATIVE_FUNC_H
#define PK_NATIVE_FUNC_H
#include <lua.h>
#include "pikku.h"

#define PK__NATIVE_MAX_DEPTH 64

struct pk_call {
  lua_State *L;       /* private: the state the call runs in */
  int data, session;  /* private: stack indexes of the input and the session (nil: none) */
  int ctx;            /* private: stack index of the runtime's helpers (native.lua) */
  int keep;           /* private: stack index of a table holding strings handed out (pk_json) */
  int result;         /* private: stack index the result goes to */
  int has_result, failed;
  int depth;          /* private: open containers */
  struct { int idx, is_array, n, key; } frames[PK__NATIVE_MAX_DEPTH];
  const char *misuse; /* private: the first misuse of the pk_out_ calls */
  char content_type[128];
};

/* Calls fn for the call whose input is at stack index data, session at session and helpers
 * (native.lua's ctx table) at ctx; pushes the result (nil for none) and its content type (nil for
 * JSON) and returns 2, or raises the call's error (a lua_CFunction's convention). */
int pk__native_call(lua_State *L, pk_native_fn fn, int data, int session, int ctx);
#endif
