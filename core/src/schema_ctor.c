/* schema_ctor.c: what schema_decode.c takes ready-made from the environment: object constructors and enum strings. */
/*
 * schema_decode.c used to make each object with lua_createtable and set every property with
 * lua_rawset: each one a hash look-up that finds no key and links a new node (lj_tab_newkey). A
 * Lua table constructor with constant string keys, `function(a1, ..., aN) return { ["k1"] = a1,
 * ... } end`, is compiled by LuaJIT to a template that already holds the keys (TDUP copies it,
 * then each TSETS finds its slot): the decoder keeps the values on the stack as it reads them and
 * calls this function once per object. An absent (optional) property's key stays in the table
 * with a nil value, which no Lua code and no `next` can tell from no key at all.
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "schema_internal.h"

/* Appends `s` as a Lua string literal, every byte a three-digit decimal escape (any name is safe). */
static int append_lua_string(pk__buf *b, const char *s, size_t len) {
  char tmp[8];
  if (pk__buf_append(b, "\"", 1)) return -1;
  for (size_t i = 0; i < len; i++) {
    snprintf(tmp, sizeof tmp, "\\%03u", (unsigned)(unsigned char)s[i]);
    if (pk__buf_append(b, tmp, 4)) return -1;
  }
  return pk__buf_append(b, "\"", 1);
}

/*
 * The order of the constructor's arguments: the order a client most likely sends the properties
 * in, the required ones as `required` lists them, then the others (by name, as n->props is
 * sorted). The decoder pushes a value that comes in this order straight into its argument's slot
 * (the next one); one that does not is moved there with lua_replace. Sets each property's `arg`
 * and writes into order[i] the property whose argument is the i-th.
 */
static void arg_order(pk__snode *n, int *order) {
  int count = 0;
  for (int rank = 1; count < n->nprops; rank++) {   /* the ranks of `required` in turn */
    int any = 0;
    for (int j = 0; j < n->nprops; j++) {
      if (n->props[j].req_rank > rank) any = 1;
      if (n->props[j].req_rank == rank) order[count++] = j;
    }
    if (!any) break;
  }
  for (int j = 0; j < n->nprops; j++)
    if (!n->props[j].req_rank) order[count++] = j;
  for (int i = 0; i < n->nprops; i++) n->props[order[i]].arg = i;
}

/* The source of the chunk that returns node n's constructor (arguments: n->props in the order
 * arg_order gives; the table's keys in n->props order, as before). */
static int ctor_source(pk__snode *n, pk__buf *b) {
  char tmp[32];
  int order[PK__SCTOR_MAX];
  arg_order(n, order);
  int rc = pk__buf_append_str(b, "return function(");
  for (int i = 0; i < n->nprops && !rc; i++) {
    snprintf(tmp, sizeof tmp, "%sa%d", i ? "," : "", order[i] + 1);
    rc = pk__buf_append_str(b, tmp);
  }
  rc = rc || pk__buf_append_str(b, ") return {");
  for (int j = 0; j < n->nprops && !rc; j++) {
    if (!n->props[j].in_props) continue;
    rc = pk__buf_append_str(b, "[") || append_lua_string(b, n->props[j].name, n->props[j].len);
    snprintf(tmp, sizeof tmp, "]=a%d,", j + 1);
    rc = rc || pk__buf_append_str(b, tmp);
  }
  return rc || pk__buf_append_str(b, "} end");
}

/*
 * An enum's strings: a string value checked against an enum was pushed with lua_pushlstring (a
 * hash and an intern look-up) and then looked up in the enum's set. With the enum's strings listed
 * here (each also kept in an environment slot), the decoder compares the bytes and pushes the
 * string the environment already holds: the same Lua string, found without hashing.
 */
static void enum_strings(lua_State *L, pk__svalidator *v, pk__snode *n, int env) {
  n->estr = NULL;
  n->nestr = 0;
  if (!n->direct || !(n->checks & (1u << PK__SK_ENUM))) return;
  struct pk__senum_str tmp[PK__SENUM_STR_MAX];
  int count = 0, top = lua_gettop(L);
  lua_rawgeti(L, env, n->enum_set);
  lua_pushnil(L);
  while (lua_next(L, top + 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) continue;
    if (count == PK__SENUM_STR_MAX) { lua_settop(L, top); return; }
    tmp[count].s = lua_tolstring(L, -1, &tmp[count].len);
    lua_pushvalue(L, -1);
    lua_rawseti(L, env, ++v->nenv);   /* the environment keeps the string (and its bytes) alive */
    tmp[count++].slot = v->nenv;
  }
  lua_settop(L, top);
  if (!count || !(n->estr = malloc(sizeof *n->estr * (size_t)count))) return;
  memcpy(n->estr, tmp, sizeof *n->estr * (size_t)count);
  n->nestr = count;
}

void pk__schema_decode_ctors(lua_State *L, pk__svalidator *v, int env) {
  for (pk__snode *n = v->nodes; n; n = n->next) {
    enum_strings(L, v, n, env);
    n->ctor = 0;
    if (!n->direct || !n->nprops || n->nprops > PK__SCTOR_MAX || n->addl_mode == 2) continue;
    pk__buf b;
    pk__buf_init(&b);
    int ok = ctor_source(n, &b) == 0 && luaL_loadbuffer(L, b.data, b.len, "=schema object") == 0;
    pk__buf_free(&b);
    if (ok && lua_pcall(L, 0, 1, 0) == 0 && lua_type(L, -1) == LUA_TFUNCTION) {
      lua_rawseti(L, env, ++v->nenv);
      n->ctor = v->nenv;
    } else {
      lua_pop(L, 1);   /* the error (out of memory): this node keeps lua_rawset */
    }
  }
}
