/* lua_json.c: the pikku.json_c module: encode Lua values (marked empty arrays stay []) and decode. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "json_decode.h"
#include "json_encode.h"
#include "json_scan.h"
#include "lua_modules.h"

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

/* A short string with nothing to escape (keys, most values) is written here, inline; the rest by
 * pk__buf_append_json_string. */
static inline __attribute__((always_inline)) int encode_string(enc *e, const char *s, size_t n) {
  pk__buf *b = &e->out;
  if (n <= 32 && b->len + n + 2 <= b->cap && pk__json_plain_short((const unsigned char *)s, n)) {
    char *o = b->data + b->len;
    o[0] = '"';
    pk__json_copy_short(o + 1, s, n);
    o[n + 1] = '"';
    b->len += n + 2;
    return 0;
  }
  return pk__buf_append_json_string(b, s, n);
}

/* A number that %.15g writes without an exponent (1e-4 <= |d| < 1e15) and that is m / 10^k exactly
 * as a double for an integer m below 10^15 (87.5 is 875 / 10): written as m with a decimal point,
 * with no printf and no strtod. The smallest such k gives %.15g's digits: m * 10^-k reads back as d
 * (m and 10^k are exact, so m / 10^k is the correctly rounded quotient, as strtod rounds), and it
 * is the only decimal of at most 15 significant digits within half a unit in the last place of d.
 * Returns 1 when written, 0 when the caller must format d itself. */
static int short_decimal(enc *e, double d) {
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
    return pk__buf_append(&e->out, o, (size_t)(tmp + sizeof tmp - o)) == 0;
  }
  return 0;
}

static int encode_number(enc *e, double d) {
  if (isnan(d) || isinf(d)) { e->err = "cannot encode NaN or infinity as JSON"; return -1; }
  if (floor(d) == d && fabs(d) < 9007199254740992.0) {   /* integers below 2^53: no printf */
    if (d < 0) {
      if (pk__buf_append(&e->out, "-", 1)) return -1;
      return pk__buf_append_uint(&e->out, (unsigned long long)-d);
    }
    return pk__buf_append_uint(&e->out, (unsigned long long)d);
  }
  if (short_decimal(e, d)) return 0;
  /* the shortest of 15, 16 or 17 significant digits that reads back as the same double */
  char tmp[32];
  int len = 0;
  for (int prec = 15; prec <= 17; prec++) {
    len = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (prec == 17 || strtod(tmp, NULL) == d) break;
  }
  return pk__buf_append(&e->out, tmp, (size_t)len);
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
      encode_string(e, k, kl);
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
    return encode_string(e, s, n);
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

int pk__json_encode(lua_State *L, int idx, int array_mt, pk__buf *out, const char **err) {
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

/* One output buffer per process, reused by every encode (workers run one Lua call at a time and
 * encoding runs no Lua code); one that grew past SCRATCH_KEEP is given back afterwards. While it
 * is in use (lua_pushlstring may run the GC, and a __gc finalizer could encode), an encode gets
 * its own. */
#define SCRATCH_KEEP (256 * 1024)
static pk__buf scratch;
static int scratch_busy;

/* encode(value) -> string | nil, err */
static int l_encode(lua_State *L) {
  enc e;
  int own = !scratch_busy;
  if (own) {
    e.out = scratch;
    pk__buf_reset(&e.out);
    scratch_busy = 1;
  } else {
    pk__buf_init(&e.out);
  }
  e.err = NULL;
  e.room = 0;
  lua_settop(L, 1);
  e.array_mt = lua_upvalueindex(1);
  int rc = encode_value(L, &e, 1, 0);
  if (own) scratch = e.out;          /* before lua_pushlstring, which may raise (out of memory) */
  if (rc == 0) lua_pushlstring(L, e.out.data ? e.out.data : "", e.out.len);
  if (own) {
    scratch_busy = 0;
    if (scratch.cap > SCRATCH_KEEP) pk__buf_free(&scratch);
  } else {
    pk__buf_free(&e.out);
  }
  if (rc) {
    lua_pushnil(L);
    lua_pushstring(L, e.err ? e.err : "out of memory");
    return 2;
  }
  return 1;
}

/* decode(string) -> value | nil, err */
static int l_decode(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    lua_pushnil(L);
    lua_pushstring(L, "JSON to decode must be a string");
    return 2;
  }
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  char err[160];
  lua_settop(L, 1);
  if (pk__json_decode(L, s, n, lua_upvalueindex(1), lua_upvalueindex(2), err, sizeof err) == NULL) return 1;
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}

/* The module: encode, decode, array_mt and object_mt. The two markers are also kept in the registry
 * (PK_JSON_ARRAY_MT, PK_JSON_OBJECT_MT) for the schema validator. */
int luaopen_pikku_json_c(lua_State *L) {
  lua_newtable(L);                       /* the module */
  lua_newtable(L);                       /* array_mt */
  lua_pushstring(L, "array");
  lua_setfield(L, -2, "__name");
  lua_newtable(L);                       /* object_mt: marks decoded empty objects */
  lua_pushstring(L, "object");
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, PK_JSON_ARRAY_MT);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, PK_JSON_OBJECT_MT);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_encode, 1);
  lua_setfield(L, -4, "encode");
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_decode, 2);
  lua_setfield(L, -4, "decode");
  lua_setfield(L, -3, "object_mt");
  lua_setfield(L, -2, "array_mt");
  return 1;
}
