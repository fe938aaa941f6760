/* lj_view.c: checks once per process that lj_view.h's layout is this LuaJIT's, with a probe table read through the public API and through the views. */
#include <stdlib.h>
#include <string.h>
#include "lj_view.h"

#define PROBE "pikku-view-probe"

#if PK_LJV_BUILT
/* The probe: { [1] = PROBE, [2] = 2.5, [3] = true, k = false } with an empty metatable, made by
 * lua_createtable(L, 3, 1): LuaJIT gives it 4 array slots (keys 0..3) stored right after the
 * table's header (colocated), and a hash part of 2 nodes. Every pointer is compared with what the
 * public API says before it is followed. */
static int probe(lua_State *L) {
  lua_createtable(L, 3, 1);
  lua_pushliteral(L, PROBE);
  lua_rawseti(L, -2, 1);
  lua_pushnumber(L, 2.5);
  lua_rawseti(L, -2, 2);
  lua_pushboolean(L, 1);
  lua_rawseti(L, -2, 3);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "k");
  lua_createtable(L, 0, 0);
  const void *mt = lua_topointer(L, -1);
  lua_setmetatable(L, -2);
  lua_rawgeti(L, -1, 1);
  const char *probe_bytes = lua_tostring(L, -1);
  lua_pop(L, 1);

  const pk__ljv_tab *t = lua_topointer(L, -1);
  if (!t || !mt || t->gct != PK_LJV_GCT_TAB || t->asize != 4 || t->colo <= 0) return 0;
  if (t->metatable != (uint64_t)(uintptr_t)mt || t->array != (uint64_t)(uintptr_t)(t + 1)) return 0;
  const pk__ljv_tv *a = pk__ljv_array(t);
  if (pk__ljv_type(a[0]) != PK_LJV_NIL || pk__ljv_type(a[1]) != PK_LJV_STR) return 0;
  const pk__ljv_str *s = pk__ljv_ptr(a[1]);
  if (pk__ljv_strdata(s) != probe_bytes || s->gct != PK_LJV_GCT_STR || s->len != sizeof PROBE - 1) return 0;
  if (pk__ljv_type(a[2]) >= PK_LJV_NUM || pk__ljv_num(a[2]) != 2.5) return 0;
  if (pk__ljv_type(a[3]) != PK_LJV_TRUE) return 0;
  if (t->hmask != 1 || !t->node) return 0;
  const pk__ljv_node *n = pk__ljv_nodes(t);
  int found = 0, used = 0;
  for (uint32_t i = 0; i <= t->hmask; i++) {
    if (pk__ljv_type(n[i].val) == PK_LJV_NIL) continue;
    used++;
    if (pk__ljv_type(n[i].key) != PK_LJV_STR || pk__ljv_type(n[i].val) != PK_LJV_FALSE) return 0;
    const pk__ljv_str *k = pk__ljv_ptr(n[i].key);
    found = k->gct == PK_LJV_GCT_STR && k->len == 1 && pk__ljv_strdata(k)[0] == 'k';
  }
  return used == 1 && found;
}
#endif

int pk__ljv_usable(lua_State *L) {
  static int state = -1;   /* the same answer for every state of the process: one library */
  if (state >= 0) return state;
  int ok = 0;
#if PK_LJV_BUILT
  const char *env = getenv("PIKKU_LJ_VIEW");
  if (!(env && strcmp(env, "0") == 0) && lua_checkstack(L, 4)) {
    int top = lua_gettop(L);
    ok = probe(L);
    lua_settop(L, top);
  }
#else
  (void)L;
#endif
  state = ok;
  return ok;
}
