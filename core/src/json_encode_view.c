/* json_encode_view.c: the JSON encoder's common case, reading tables through lj_view.h: no C API call per key or value. */
#include <lua.h>
#include <math.h>
#include "json_decode.h"
#include "json_encode.h"
#include "lj_view.h"

/*
 * What it writes is byte for byte what the public way (json_encode.c) writes, in the same key
 * order (lua_next's: the array part from slot 0, then the hash nodes in order). It takes only
 * what it can decide without the public way's rules for odd tables, and gives up (returns 1) at
 * anything else: a key that is not a string in an object, a table with both array slots and hash
 * entries, a hole, slot 0, an array marker on a table that is not a plain array, NaN or infinity,
 * a value that is not nil, a boolean, a number, a string or a table, and depth at the limit.
 * Every error is the public way's to report.
 */

static int view_value(pk__ljv_tv v, const void *array_mt, pk__buf *out, int depth);

static int view_table(const pk__ljv_tab *t, const void *array_mt, pk__buf *out, int depth) {
  if (depth >= PK__JSON_ENCODE_DEPTH) return 1;
  const pk__ljv_tv *a = pk__ljv_array(t);
  uint32_t asize = t->asize, n = 0;
  if (asize) {
    if (pk__ljv_type(a[0]) != PK_LJV_NIL) return 1;               /* key 0 */
    while (n + 1 < asize && pk__ljv_type(a[n + 1]) != PK_LJV_NIL) n++;
    for (uint32_t i = n + 2; i < asize; i++)
      if (pk__ljv_type(a[i]) != PK_LJV_NIL) return 1;             /* a hole */
  }
  const pk__ljv_node *node = pk__ljv_nodes(t), *end = node + t->hmask + 1;
  const pk__ljv_node *first = node;
  while (first < end && pk__ljv_type(first->val) == PK_LJV_NIL) first++;
  int marked = t->metatable && t->metatable == (uint64_t)(uintptr_t)array_mt;
  if (n) {
    if (first < end) return 1;                                    /* array slots and hash entries */
    if (pk__buf_append(out, "[", 1)) return 1;
    for (uint32_t i = 1; i <= n; i++) {
      if (i > 1 && pk__buf_append(out, ",", 1)) return 1;
      if (view_value(a[i], array_mt, out, depth + 1)) return 1;
    }
    return pk__buf_append(out, "]", 1) ? 1 : 0;
  }
  if (first == end) return pk__buf_append(out, marked ? "[]" : "{}", 2) ? 1 : 0;
  if (marked) return 1;                                           /* its length is lua_objlen's */
  if (pk__buf_append(out, "{", 1)) return 1;
  for (const pk__ljv_node *nd = first; nd < end; nd++) {
    if (pk__ljv_type(nd->val) == PK_LJV_NIL) continue;
    if (pk__ljv_type(nd->key) != PK_LJV_STR) return 1;
    const pk__ljv_str *k = pk__ljv_ptr(nd->key);
    if (nd != first && pk__buf_append(out, ",", 1)) return 1;
    if (pk__json_put_string(out, pk__ljv_strdata(k), k->len) || pk__buf_append(out, ":", 1)) return 1;
    if (view_value(nd->val, array_mt, out, depth + 1)) return 1;
  }
  return pk__buf_append(out, "}", 1) ? 1 : 0;
}

static int view_value(pk__ljv_tv v, const void *array_mt, pk__buf *out, int depth) {
  uint32_t type = pk__ljv_type(v);
  if (type < PK_LJV_NUM) {
    double d = pk__ljv_num(v);
    if (!isfinite(d)) return 1;
    return pk__json_put_number(out, d) ? 1 : 0;
  }
  switch (type) {
  case PK_LJV_STR: {
    const pk__ljv_str *s = pk__ljv_ptr(v);
    return pk__json_put_string(out, pk__ljv_strdata(s), s->len) ? 1 : 0;
  }
  case PK_LJV_TAB: return view_table(pk__ljv_ptr(v), array_mt, out, depth);
  case PK_LJV_TRUE: return pk__buf_append(out, "true", 4) ? 1 : 0;
  case PK_LJV_FALSE: return pk__buf_append(out, "false", 5) ? 1 : 0;
  default: return 1;   /* nil never comes here: arrays have no holes, and objects skip nil */
  }
}

int pk__json_encode_view(lua_State *L, int idx, int array_mt, pk__buf *out) {
#if PK_LJV_BUILT
  if (lua_type(L, idx) != LUA_TTABLE || !pk__ljv_usable(L)) return 1;
  size_t start = out->len;
  if (view_table(lua_topointer(L, idx), lua_topointer(L, array_mt), out, 0) == 0) return 0;
  pk__buf_truncate(out, start);
#else
  (void)L; (void)idx; (void)array_mt; (void)out;
#endif
  return 1;
}
