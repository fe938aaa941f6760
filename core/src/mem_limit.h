/* mem_limit.h: the memory ceiling of a Lua state (--max-lua-memory): its allocator counts what it holds. */
#ifndef PK_MEM_LIMIT_H
#define PK_MEM_LIMIT_H
#include <lua.h>
#include <stddef.h>

/* Outside a call (the core pushing a request's body, the runtime's own work) a state may go this
 * far over its ceiling, so that the core's unprotected calls into Lua do not fail first. */
#define PK__MEM_HEADROOM(limit) ((limit) / 8 > (16u << 20) ? (limit) / 8 : (16u << 20))

typedef struct pk__mem {
  lua_Alloc inner;    /* private: LuaJIT's own allocator */
  void *inner_ud;     /* private */
  size_t used;        /* read-only: bytes the state holds */
  size_t peak;        /* read-only: the most it held */
  size_t limit;       /* read-only: the ceiling (0: none) */
  size_t mark;        /* private: the fast path's bound, the lower of the peak and the ceiling */
  unsigned long refused;  /* read-only: allocations refused */
} pk__mem;

/* Puts a counting allocator in front of L's own, with this ceiling (0: count only). Returns the
 * accounting (freed by pk__mem_close), or NULL when out of memory (L keeps its
 * allocator). An allocation that would take the state over the ceiling while a call runs fails:
 * LuaJIT raises "not enough memory" in the call, which fails it (the runtime collects after it). */
pk__mem *pk__mem_attach(lua_State *L, size_t limit);
/* Closes L (lua_close), its own allocator put back first so LuaJIT frees its arena, then the
 * accounting. */
void pk__mem_close(lua_State *L);
/* The accounting of L's allocator, or NULL when it has none. */
pk__mem *pk__mem_of(lua_State *L);
/* Called by LuaJIT when a Lua error escapes every protected call (an allocation failed in the
 * core's own unprotected calls, outside the headroom): logs it and exits the worker (the master
 * starts a new one), instead of LuaJIT's bare message. */
int pk__mem_panic(lua_State *L);
#endif
