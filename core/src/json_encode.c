/* json_encode.c: the JSON encoder through the public Lua API (every value it can write, and every error), and the door that tries lj_view.h's way first. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "json_decode.h"
#include "json_encode.h"

/* array_mt is the stack index of the array marker (the encoder's upvalue). room: the stack index
 * up to which lua_checkstack made room (one call for ROOM_LEVELS levels of tables, not one per
 * table). */
typedef struct { pk__buf out; int array_mt; int room; const char *err; } enc;

/* Stack slots one table's walk takes at most: an array's items in batches of ITEM_BATCH (popped
 * together), or an object's key and value; and array_length's two while it looks. */
#define ITEM_BATCH 4
#define LEVEL_SLOTS (ITEM_BATCH + 2)
#define ROOM_LEVELS 3
#define ROOM (ROOM_LEVELS * LEVEL_SLOTS + 2)

static int encode_value(lua_State *L, enc *e, int idx, int depth);

/* A table is an array if it carries array_mt, or if its keys are exactly 1..n with n >= 1: returns
 * n, or -1 for an object. An unmarked table whose first key is not a number is an object at once:
 * -2, with that key and its value left on the stack (the object's walk goes on from them). */
static int array_length(lua_State *L, enc *e, int idx) {
  if (lua_getmetatable(L, idx)) {
    int marked = lua_rawequal(L, -1, e->array_mt);
    lua_pop(L, 1);
    if (marked) return (int)lua_objlen(L, idx);
  }
  lua_pushnil(L);
  if (!lua_next(L, idx)) return -1;                 /* empty */
  if (lua_type(L, -2) != LUA_TNUMBER) return -2;
  lua_pop(L, 2);
  int n = 0;
  double max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) { lua_pop(L, 1); return -1; }
    double k = lua_tonumber(L, -1);
    if (k < 1 || floor(k) != k) { lua_pop(L, 1); return -1; }
    if (k > max) max = k;
    n++;
  }
  if (n == 0) return -1;            /* an unmarked empty table is an object, as in lua-cjson */
  if (max != n) return -1;          /* sparse: encode as an object would lose nothing, but refuse */
  return n;
}

/* A number that %.15g writes without an exponent (1e-4 <= |d| < 1e15) and that is m / 10^k exactly
 * as a double for an integer m below 10^15 (87.5 is 875 / 10): written as m with a decimal point,
 * with no printf and no strtod. The smallest such k gives %.15g's digits: m * 10^-k reads back as d
 * (m and 10^k are exact, so m / 10^k is the correctly rounded quotient, as strtod rounds), and it
 * is the only decimal of at most 15 significant digits within half a unit in the last place of d.
 * Returns 1 when written, 0 when the caller must format d itself. */
static int short_decimal(pk__buf *b, double d) {
  double a = fabs(d), p = 1;
  if (!(a >= 1e-4 && a < 1e15)) return 0;
  for (int k = 1; k <= 19; k++) {
    p *= 10;                                  /* 10^k, exact */
    double m = a * p;
    if (m >= 1e15) return 0;                  /* more than 15 significant digits */
    if (m != floor(m) || m / p != a) continue;
    unsigned long long im = (unsigned long long)m, ip = 1;
    for (int j = 0; j < k; j++) ip *= 10;
    char tmp[48], *o = tmp + sizeof tmp;
    unsigned long long frac = im % ip, whole = im / ip;
    int digits = k;
    while (digits > 0 && frac % 10 == 0) { frac /= 10; digits--; }   /* %g drops trailing zeros */
    for (int j = 0; j < digits; j++) { *--o = (char)('0' + frac % 10); frac /= 10; }
    if (digits) *--o = '.';
    do { *--o = (char)('0' + whole % 10); whole /= 10; } while (whole);
    if (d < 0) *--o = '-';
    return pk__buf_append(b, o, (size_t)(tmp + sizeof tmp - o)) == 0;
  }
  return 0;
}

int pk__json_put_number(pk__buf *b, double d) {
  if (floor(d) == d && fabs(d) < 9007199254740992.0) {   /* integers below 2^53: no printf */
    if (d < 0) {
      if (pk__buf_append(b, "-", 1)) return -1;
      return pk__buf_append_uint(b, (unsigned long long)-d);
    }
    return pk__buf_append_uint(b, (unsigned long long)d);
  }
  if (short_decimal(b, d)) return 0;
  /* the shortest of 15, 16 or 17 significant digits that reads back as the same double */
  char tmp[32];
  int len = 0;
  for (int prec = 15; prec <= 17; prec++) {
    len = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (prec == 17 || strtod(tmp, NULL) == d) break;
  }
  return pk__buf_append(b, tmp, (size_t)len);
}

static int encode_number(enc *e, double d) {
  if (isnan(d) || isinf(d)) { e->err = "cannot encode NaN or infinity as JSON"; return -1; }
  return pk__json_put_number(&e->out, d);
}

static int encode_table(lua_State *L, enc *e, int idx, int depth) {
  if (depth >= PK__JSON_ENCODE_DEPTH) {   /* depth counts from 0 */
    e->err = "table nested more than 2000 levels deep (or a cycle) for JSON";
    return -1;
  }
  int top = depth ? idx : lua_gettop(L);   /* a nested table is the value on top (idx absolute) */
  if (top + LEVEL_SLOTS > e->room) {
    if (!lua_checkstack(L, ROOM)) { e->err = "out of Lua stack"; return -1; }
    e->room = top + ROOM;
  }
  int n = array_length(L, e, idx);
  if (n >= 0) {
    pk__buf_append(&e->out, "[", 1);
    for (int i = 1; i <= n; i++) {
      if (i > 1) pk__buf_append(&e->out, ",", 1);
      lua_rawgeti(L, idx, i);
      if (encode_value(L, e, top + 1 + (i - 1) % ITEM_BATCH, depth + 1)) { lua_settop(L, top); return -1; }
      if (i % ITEM_BATCH == 0) lua_settop(L, top);   /* the items encoded so far, at once */
    }
    if (n % ITEM_BATCH) lua_settop(L, top);
    return pk__buf_append(&e->out, "]", 1);
  }
  pk__buf_append(&e->out, "{", 1);
  int first = 1, have = n == -2;   /* have: array_length left the first pair on the stack */
  if (!have) lua_pushnil(L);
  while (have || lua_next(L, idx)) {
    have = 0;
    if (!first) pk__buf_append(&e->out, ",", 1);
    first = 0;
    int kt = lua_type(L, -2);
    if (kt == LUA_TSTRING) {
      size_t kl;
      const char *k = lua_tolstring(L, -2, &kl);
      pk__json_put_string(&e->out, k, kl);
    } else if (kt == LUA_TNUMBER) {
      pk__buf_append(&e->out, "\"", 1);
      encode_number(e, lua_tonumber(L, -2));
      pk__buf_append(&e->out, "\"", 1);
    } else {
      lua_pop(L, 2);
      e->err = "table keys must be strings or numbers for JSON";
      return -1;
    }
    pk__buf_append(&e->out, ":", 1);
    if (encode_value(L, e, top + 2, depth + 1)) { lua_pop(L, 2); return -1; }
    lua_pop(L, 1);
  }
  return pk__buf_append(&e->out, "}", 1);
}

/* idx: a stack index, or -1 (the top); below the top level, always the absolute index of the top */
static int encode_value(lua_State *L, enc *e, int idx, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return pk__buf_append(&e->out, "null", 4);
  case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? pk__buf_append(&e->out, "true", 4) : pk__buf_append(&e->out, "false", 5);
  case LUA_TNUMBER: return encode_number(e, lua_tonumber(L, idx));
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return pk__json_put_string(&e->out, s, n);
  }
  case LUA_TTABLE: return encode_table(L, e, idx < 0 ? lua_gettop(L) + 1 + idx : idx, depth);
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return pk__buf_append(&e->out, "null", 4);   /* cjson.null */
    /* fall through */
  default:
    e->err = "cannot encode a value of this type as JSON";
    return -1;
  }
}

int pk__json_encode_public(lua_State *L, int idx, int array_mt, pk__buf *out, const char **err) {
  enc e;
  e.out = *out;
  e.err = NULL;
  e.array_mt = array_mt;
  e.room = 0;   /* the first table makes room */
  int rc = encode_value(L, &e, idx, 0);
  *out = e.out;
  if (rc) *err = e.err ? e.err : "out of memory";
  return rc ? -1 : 0;
}

int pk__json_encode(lua_State *L, int idx, int array_mt, pk__buf *out, const char **err) {
  if (pk__json_encode_view(L, idx, array_mt, out) == 0) return 0;
  return pk__json_encode_public(L, idx, array_mt, out, err);
}
