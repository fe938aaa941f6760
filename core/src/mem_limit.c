/* mem_limit.c: the memory ceiling of a Lua state (--max-lua-memory): its allocator counts what it holds. */
#include "mem_limit.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "call_guard.h"
#include "log.h"

/* The call segment (pk__call->serial) that was refused an allocation: the rest of it (its error
 * unwinding, the runtime's answer, the collector's own work) gets the headroom, or the error could
 * not even be handled. */
static unsigned refused_serial;

/* The fast path's bound: a growth that stays under both the peak and the ceiling needs no check. */
static void set_mark(pk__mem *m) {
  m->mark = m->limit && m->limit < m->peak ? m->limit : m->peak;
}

/* A growth past the peak or the ceiling: a new peak, or an allocation the ceiling refuses. */
__attribute__((noinline)) static void *grow_past_mark(pk__mem *m, void *p, size_t osize, size_t nsize) {
  size_t want = m->used - osize + nsize;
  if (m->limit && want > m->limit) {
    int strict = pk__call->running && pk__call->serial != refused_serial;
    size_t ceiling = strict ? m->limit : m->limit + PK__MEM_HEADROOM(m->limit);
    if (want > ceiling) {
      m->refused++;
      if (strict) refused_serial = pk__call->serial;
      return NULL;
    }
  }
  void *q = m->inner(m->inner_ud, p, osize, nsize);
  if (q) {
    m->used = want;
    if (want > m->peak) {
      m->peak = want;
      set_mark(m);
    }
  }
  return q;
}

/* Called for every allocation, resize and free of the state (~14 per request): a compare, an add
 * and a tail call. The count is updated before the call: a free or a shrink cannot fail, and a
 * growth the system itself refuses (mmap failing, not the ceiling) leaves it high by that much. */
static void *counting_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  pk__mem *m = ud;
  if (!p) osize = 0;                      /* LuaJIT passes a type tag there for new objects */
  size_t used = m->used - osize + nsize;
  if (nsize > osize && used > m->mark) return grow_past_mark(m, p, osize, nsize);
  m->used = used;
  return m->inner(m->inner_ud, p, osize, nsize);
}

pk__mem *pk__mem_attach(lua_State *L, size_t limit) {
  pk__mem *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->inner = lua_getallocf(L, &m->inner_ud);
  m->limit = limit;
  m->used = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
  m->peak = m->used;
  set_mark(m);
  lua_setallocf(L, counting_alloc, m);
  lua_atpanic(L, pk__mem_panic);
  return m;
}

void pk__mem_close(lua_State *L) {
  pk__mem *m = pk__mem_of(L);
  if (m) lua_setallocf(L, m->inner, m->inner_ud);
  lua_close(L);
  free(m);
}

pk__mem *pk__mem_of(lua_State *L) {
  void *ud;
  return lua_getallocf(L, &ud) == counting_alloc ? ud : NULL;
}

int pk__mem_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  pk__logf("error", "unprotected error in the Lua state, the worker exits (the master starts a new one): %s%s",
           msg ? msg : "?", msg && strstr(msg, "memory") ? " (its memory ceiling, --max-lua-memory, was reached"
                                                          " outside a call)" : "");
  pk__log_flush();
  _exit(71);
}
