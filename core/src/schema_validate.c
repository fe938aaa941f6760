/* schema_validate.c: walks a Lua value against a compiled schema, collecting every error; query coercion. */
#include <lauxlib.h>
#include <errno.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "json_decode.h"
#include "schema_internal.h"

#define MAX_PATH_DEPTH 128   /* nesting of the data */
#define MAX_LEVEL 512        /* nesting of schema applications ($ref, allOf, ...) */
#define BIT(k) (1u << (k))

/* One segment of the JSON Pointer to the value being checked: a key or an array index. The string
 * stays alive on the Lua stack (or in the environment) while the segment is in use. */
typedef struct {
  const char *s; /* NULL: array index */
  size_t len;
  size_t idx;
} seg_t;

/* Validation state. The path is built only when an error is reported, never on the way down. */
typedef struct {
  lua_State *L;
  int env;      /* the validator's environment table */
  int errs;     /* stack slot of the errors array (nil until the first error) */
  int nerr;     /* errors seen (in silent mode too) */
  int nrep;     /* errors put in the array */
  int silent;   /* > 0 inside anyOf/oneOf/not: stop at the first error, report nothing */
  int fill;     /* write defaults */
  int level;
  int depth;
  size_t regexec_bytes;   /* text given to regexec so far (PK__SPATTERN_MAX_SUBJECTS) */
  seg_t seg[MAX_PATH_DEPTH];
} vctx;

static int vnode(vctx *c, const pk__snode *n, int vi);

/* ---- kinds and equality ---------------------------------------------------------------------- */

/* An empty table is an array and an object, unless it carries the JSON decoder's marker for one
 * (pikku.json.array() or a decoded [], a decoded {}). */
static unsigned empty_table_kind(lua_State *L, int i) {
  if (!lua_getmetatable(L, i)) return PK__ST_OBJECT | PK__ST_ARRAY;
  unsigned kind = PK__ST_OBJECT | PK__ST_ARRAY;
  lua_getfield(L, LUA_REGISTRYINDEX, PK_JSON_ARRAY_MT);
  if (lua_rawequal(L, -1, -2)) kind = PK__ST_ARRAY;
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, PK_JSON_OBJECT_MT);
  if (lua_rawequal(L, -1, -2)) kind = PK__ST_OBJECT;
  lua_pop(L, 2);
  return kind;
}

static unsigned table_kind(lua_State *L, int i) {
  size_t len = lua_objlen(L, i), count = 0;
  int arr = 1;
  lua_pushnil(L);
  if (!lua_next(L, i)) return empty_table_kind(L, i);
  if (len == 0) {
    lua_pop(L, 2);
    return PK__ST_OBJECT;
  }
  do {
    count++;
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) arr = 0;
    else {
      double k = lua_tonumber(L, -1);
      if (k < 1 || k > (double)len || k != floor(k)) arr = 0;
    }
    if (!arr) { lua_pop(L, 1); break; }
  } while (lua_next(L, i));
  return arr && count == len ? PK__ST_ARRAY : PK__ST_OBJECT;
}

static inline unsigned kind_of(lua_State *L, int i) {
  switch (lua_type(L, i)) {
  case LUA_TBOOLEAN: return PK__ST_BOOLEAN;
  case LUA_TSTRING: return PK__ST_STRING;
  case LUA_TNUMBER: {
    double d = lua_tonumber(L, i);
    if (!isfinite(d)) return 0; /* NaN and infinity: Lua has them, JSON does not */
    return PK__ST_NUMBER | (d == floor(d) ? PK__ST_INTEGER : 0);
  }
  case LUA_TTABLE: return table_kind(L, i);
  case LUA_TLIGHTUSERDATA: return lua_touserdata(L, i) == NULL ? PK__ST_NULL : 0; /* cjson.null */
  default: return 0;
  }
}

unsigned pk__schema_kind(lua_State *L, int i) { return kind_of(L, i); }

/* JSON equality of two Lua values (absolute indices). */
static int json_equal(lua_State *L, int a, int b, int depth) {
  int t = lua_type(L, a);
  if (t != lua_type(L, b)) return 0;
  if (t != LUA_TTABLE) return lua_rawequal(L, a, b);
  if (lua_rawequal(L, a, b)) return 1;
  if (depth > 64 || !lua_checkstack(L, 6)) return 0;
  size_t na = 0, nb = 0;
  lua_pushnil(L);
  while (lua_next(L, a)) {
    int vi = lua_gettop(L);
    na++;
    lua_pushvalue(L, vi - 1);
    lua_rawget(L, b);
    if (!json_equal(L, vi, vi + 1, depth + 1)) {
      lua_pop(L, 3);
      return 0;
    }
    lua_pop(L, 2);
  }
  lua_pushnil(L);
  while (lua_next(L, b)) {
    nb++;
    lua_pop(L, 1);
  }
  if (na != nb) return 0;
  /* two empty tables: a decoded [] and a decoded {} differ; an unmarked {} is either */
  return na > 0 || (empty_table_kind(L, a) & empty_table_kind(L, b)) != 0;
}

/* ---- uniqueItems on long arrays: hash, sort, compare only items whose hashes are equal ---------- */

#define UNIQUE_PAIRWISE_MAX 32   /* up to this many items, every pair is compared */

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

/* A hash under which values json_equal calls equal hash alike (a table's is the sum over its
 * pairs, so the order of lua_next does not matter; below depth 8 all tables hash alike). */
static uint64_t value_hash(lua_State *L, int i, int depth) {
  int t = lua_type(L, i);
  switch (t) {
  case LUA_TNUMBER: {
    double d = lua_tonumber(L, i);
    if (d == 0) d = 0;               /* -0 equals 0 */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return mix64(u ^ 0x1);
  }
  case LUA_TSTRING: {
    size_t n;
    const unsigned char *p = (const unsigned char *)lua_tolstring(L, i, &n);
    uint64_t h = 1469598103934665603ULL;
    for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ULL;
    return mix64(h ^ n);
  }
  case LUA_TBOOLEAN: return lua_toboolean(L, i) ? 0x3a : 0x3b;
  case LUA_TTABLE: {
    uint64_t h = 0x7ab1e;
    size_t count = 0;
    if (depth > 8 || !lua_checkstack(L, 4)) return h;
    lua_pushnil(L);
    while (lua_next(L, i)) {
      int top = lua_gettop(L);
      h += mix64(value_hash(L, top - 1, depth + 1) * 31 + value_hash(L, top, depth + 1));
      count++;
      lua_pop(L, 1);
    }
    return h + count;
  }
  default: return (uint64_t)t * 0x9e3779b97f4a7c15ULL;   /* nil, null (a light userdata): by type */
  }
}

typedef struct { uint64_t h; size_t i; } hashed;

static int by_hash(const void *a, const void *b) {
  uint64_t x = ((const hashed *)a)->h, y = ((const hashed *)b)->h;
  return x < y ? -1 : x > y;
}

/* 1 if the array at vi (len items) has two equal items, 0 if not, -1 out of memory. */
static int has_duplicates(lua_State *L, int vi, size_t len) {
  hashed *v = malloc(len * sizeof *v);
  if (!v) return -ENOMEM;
  for (size_t i = 0; i < len; i++) {
    lua_rawgeti(L, vi, (int)i + 1);
    v[i].h = value_hash(L, lua_gettop(L), 0);
    v[i].i = i + 1;
    lua_pop(L, 1);
  }
  qsort(v, len, sizeof *v, by_hash);
  int dup = 0;
  for (size_t a = 0; a < len && !dup; a++) {
    for (size_t b = a + 1; b < len && v[b].h == v[a].h && !dup; b++) {
      lua_rawgeti(L, vi, (int)v[a].i);
      lua_rawgeti(L, vi, (int)v[b].i);
      dup = json_equal(L, lua_gettop(L) - 1, lua_gettop(L), 0);
      lua_pop(L, 2);
    }
  }
  free(v);
  return dup;
}

/* Pushes a deep copy of the value at i: defaults are copied so no two calls share a table, and
 * the compiler copies schema values so later changes to the app's tables do not reach it. */
void pk__schema_push_copy(lua_State *L, int i, int depth) {
  if (lua_type(L, i) != LUA_TTABLE || depth > 64) { lua_pushvalue(L, i); return; }
  lua_checkstack(L, 6);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, i)) {
    int vi = lua_gettop(L);
    lua_pushvalue(L, vi - 1);
    pk__schema_push_copy(L, vi, depth + 1);
    lua_rawset(L, vi - 2);
    lua_pop(L, 1);
  }
  if (lua_getmetatable(L, i)) lua_setmetatable(L, -2); /* keeps array markers such as cjson's */
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void push_path(vctx *c) {
  lua_State *L = c->L;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int d = 0; d < c->depth; d++) {
    const seg_t *s = &c->seg[d];
    luaL_addchar(&b, '/');
    if (!s->s) {
      char num[24];
      int k = snprintf(num, sizeof num, "%zu", s->idx);
      luaL_addlstring(&b, num, (size_t)k);
      continue;
    }
    for (size_t i = 0; i < s->len; i++) {
      char ch = s->s[i];
      if (ch == '~') luaL_addlstring(&b, "~0", 2);
      else if (ch == '/') luaL_addlstring(&b, "~1", 2);
      else luaL_addchar(&b, ch);
    }
  }
  luaL_pushresult(&b);
}

/* Records an error with the message in environment slot `msg` at the current path. Returns
 * nonzero when the caller must stop (silent mode: one error decides). */
static int fail(vctx *c, int msg) {
  lua_State *L = c->L;
  c->nerr++;
  if (c->silent) return 1;
  if (c->nrep >= PK__SCHEMA_MAX_LISTED) return 0;   /* counted, not listed */
  lua_checkstack(L, 8);
  if (c->nrep == 0) {
    lua_createtable(L, 4, 0);
    lua_replace(L, c->errs);
  }
  lua_createtable(L, 0, 2);
  lua_rawgeti(L, c->env, PK__SENV_PATH);
  push_path(c);
  lua_rawset(L, -3);
  lua_rawgeti(L, c->env, PK__SENV_MESSAGE);
  lua_rawgeti(L, c->env, msg);
  lua_rawset(L, -3);
  lua_rawseti(L, c->errs, ++c->nrep);
  return 0;
}

static int push_key(vctx *c, const char *s, size_t len) {
  if (c->depth >= MAX_PATH_DEPTH) return -E2BIG;
  seg_t *g = &c->seg[c->depth++];
  g->s = s;
  g->len = len;
  return 0;
}

static int push_index(vctx *c, size_t idx) {
  if (c->depth >= MAX_PATH_DEPTH) return -E2BIG;
  seg_t *g = &c->seg[c->depth++];
  g->s = NULL;
  g->idx = idx;
  return 0;
}

/* An error at a child's path (a missing or unexpected property, an extra item). */
static int fail_key(vctx *c, int msg, const char *s, size_t len) {
  if (c->silent) return fail(c, msg);
  if (push_key(c, s, len)) return fail(c, PK__SENV_TOO_DEEP);
  int r = fail(c, msg);
  c->depth--;
  return r;
}

/* Validates the value at vi against n under the key (s, len) or index idx. */
static void vchild_key(vctx *c, const pk__snode *n, int vi, const char *s, size_t len) {
  if (push_key(c, s, len)) { fail(c, PK__SENV_TOO_DEEP); return; }
  vnode(c, n, vi);
  c->depth--;
}

static void vchild_index(vctx *c, const pk__snode *n, int vi, size_t idx) {
  if (push_index(c, idx)) { fail(c, PK__SENV_TOO_DEEP); return; }
  vnode(c, n, vi);
  c->depth--;
}

/* Silent check: does the value match n? Reports nothing. */
static int matches(vctx *c, const pk__snode *n, int vi) {
  int saved = c->nerr;
  c->silent++;
  vnode(c, n, vi);
  c->silent--;
  int ok = c->nerr == saved;
  c->nerr = saved;
  return ok;
}

/* ---- keywords -------------------------------------------------------------------------------- */

#define NUMBER_CHECKS (BIT(PK__SK_MINIMUM) | BIT(PK__SK_MAXIMUM) | BIT(PK__SK_XMIN) | BIT(PK__SK_XMAX) | BIT(PK__SK_MULTIPLE))
#define STRING_CHECKS (BIT(PK__SK_MINLEN) | BIT(PK__SK_MAXLEN) | BIT(PK__SK_PATTERN) | BIT(PK__SK_FORMAT))

static int vnumber(vctx *c, const pk__snode *n, double d) {
  unsigned k = n->checks;
  if ((k & BIT(PK__SK_MINIMUM)) && !(d >= n->minimum) && fail(c, n->msg[PK__SK_MINIMUM])) return 1;
  if ((k & BIT(PK__SK_MAXIMUM)) && !(d <= n->maximum) && fail(c, n->msg[PK__SK_MAXIMUM])) return 1;
  if ((k & BIT(PK__SK_XMIN)) && !(d > n->xmin) && fail(c, n->msg[PK__SK_XMIN])) return 1;
  if ((k & BIT(PK__SK_XMAX)) && !(d < n->xmax) && fail(c, n->msg[PK__SK_XMAX])) return 1;
  if ((k & BIT(PK__SK_MULTIPLE)) && !pk__smultiple_ok(d, n->multiple) && fail(c, n->msg[PK__SK_MULTIPLE]))
    return 1;
  return 0;
}

static int vstring(vctx *c, const pk__snode *n, int vi) {
  unsigned k = n->checks;
  size_t len;
  const char *s = lua_tolstring(c->L, vi, &len);
  /* code points <= bytes <= 4 * code points: the byte length often decides without counting */
  size_t cp = (size_t)-1;
  if (k & BIT(PK__SK_MINLEN)) {
    if (len < n->min_len) {
      if (fail(c, n->msg[PK__SK_MINLEN])) return 1;
    } else if ((len + 3) / 4 < n->min_len) {
      cp = pk__utf8_len(s, len);
      if (cp < n->min_len && fail(c, n->msg[PK__SK_MINLEN])) return 1;
    }
  }
  if ((k & BIT(PK__SK_MAXLEN)) && len > n->max_len) {
    if (cp == (size_t)-1) cp = pk__utf8_len(s, len);
    if (cp > n->max_len && fail(c, n->msg[PK__SK_MAXLEN])) return 1;
  }
  if ((k & BIT(PK__SK_PATTERN)) && n->fast) {
    if (!pk__sre_match(n->fast, s, len) && fail(c, n->msg[PK__SK_PATTERN])) return 1;
  } else if ((k & BIT(PK__SK_PATTERN)) && len > PK__SPATTERN_MAX_SUBJECT) {
    if (fail(c, n->msg[PK__SK_PATTERN_LONG])) return 1;
  } else if ((k & BIT(PK__SK_PATTERN)) && (c->regexec_bytes += len) > PK__SPATTERN_MAX_SUBJECTS) {
    if (fail(c, n->msg[PK__SK_PATTERN_BUDGET])) return 1;
  } else if (k & BIT(PK__SK_PATTERN)) {
    int rc;
#ifdef REG_STARTEND
    regmatch_t m[1];
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)len;
    rc = regexec(&n->re, s, 1, m, REG_STARTEND);
#else
    rc = regexec(&n->re, s, 0, NULL, 0);
#endif
    if (rc != 0 && fail(c, n->msg[PK__SK_PATTERN])) return 1;
  }
  if ((k & BIT(PK__SK_FORMAT)) && !pk__sformat_check(n->format, s, len) && fail(c, n->msg[PK__SK_FORMAT]))
    return 1;
  return 0;
}

/* Writes the default of the absent property p into the object at vi (a fresh copy of a table), then
 * checks the written value as if it had been sent, which fills the defaults inside it too. */
static void fill_default(vctx *c, const pk__sprop *p, int vi) {
  lua_State *L = c->L;
  if (!lua_checkstack(L, 4)) { fail(c, PK__SENV_TOO_DEEP); return; }
  lua_rawgeti(L, c->env, p->def);
  if (lua_type(L, -1) == LUA_TTABLE) {
    pk__schema_push_copy(L, lua_gettop(L), 0);
    lua_remove(L, -2);
  }
  int di = lua_gettop(L);
  lua_rawgeti(L, c->env, p->key);
  lua_pushvalue(L, di);
  lua_rawset(L, vi);
  if (p->schema) vchild_key(c, p->schema, di, p->name, p->len);
  lua_settop(L, di - 1);
}

/* One pass over the object's keys validates the present properties (the key and value are already
 * on the stack from lua_next); absent ones are looked up only when a required property was not seen
 * or defaults are to be written. */
static int vobject(vctx *c, const pk__snode *n, int vi, int nonempty) {
  lua_State *L = c->L;
  int start = c->nerr, seen_required = 0;
  if (nonempty) {
    int bad_key = 0, set = 0;
    if (!lua_checkstack(L, 8)) return fail(c, PK__SENV_TOO_DEEP);
    if (n->prop_set) {
      lua_rawgeti(L, c->env, n->prop_set);
      set = lua_gettop(L);
    }
    lua_pushnil(L);
    while (lua_next(L, vi)) {
      int ki = lua_gettop(L) - 1;
      if (lua_type(L, ki) != LUA_TSTRING) {
        if (!bad_key && fail(c, PK__SENV_BAD_KEY)) return 1; /* vnode restores the stack */
        bad_key = 1;
        lua_pop(L, 1);
        continue;
      }
      int idx = 0;
      if (set) {
        lua_pushvalue(L, ki);
        lua_rawget(L, set);
        idx = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
      }
      if (idx > 0) {
        const pk__sprop *p = &n->props[idx - 1];
        seen_required += p->required;
        if (p->schema) {
          vchild_key(c, p->schema, ki + 1, p->name, p->len);
          if (c->silent && c->nerr != start) return 1;
        }
      } else if (n->addl_mode) {
        size_t klen;
        const char *k = lua_tolstring(L, ki, &klen);
        if (n->addl_mode == 1) {
          if (fail_key(c, PK__SENV_NOT_ALLOWED, k, klen)) return 1;
        } else {
          vchild_key(c, n->addl, ki + 1, k, klen);
          if (c->silent && c->nerr != start) return 1;
        }
      }
      lua_pop(L, 1);
    }
    if (set) lua_pop(L, 1);
  }
  if (seen_required == n->nrequired && !(c->fill && n->ndefaults && !c->silent)) return 0;
  for (int i = 0; i < n->nprops; i++) {
    const pk__sprop *p = &n->props[i];
    if (!p->required && !(p->def && c->fill)) continue;
    lua_rawgeti(L, c->env, p->key);
    lua_rawget(L, vi);
    int absent = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!absent) continue;
    if (p->def && c->fill && !c->silent) {
      fill_default(c, p, vi);
    } else if (p->required && fail_key(c, PK__SENV_REQUIRED, p->name, p->len)) {
      return 1;
    }
  }
  return 0;
}

static int varray(vctx *c, const pk__snode *n, int vi) {
  lua_State *L = c->L;
  if (!lua_checkstack(L, 8)) return fail(c, PK__SENV_TOO_DEEP);
  unsigned k = n->checks;
  int start = c->nerr;
  size_t len = lua_objlen(L, vi);
  if ((k & BIT(PK__SK_MINITEMS)) && len < n->min_items && fail(c, n->msg[PK__SK_MINITEMS])) return 1;
  if ((k & BIT(PK__SK_MAXITEMS)) && len > n->max_items && fail(c, n->msg[PK__SK_MAXITEMS])) return 1;
  if (n->nprefix || n->items || n->items_false) {
    for (size_t i = 1; i <= len; i++) {
      const pk__snode *sub = i <= (size_t)n->nprefix ? n->prefix[i - 1] : n->items;
      if (i > (size_t)n->nprefix && n->items_false) {
        if (c->silent) return fail(c, PK__SENV_NOT_ALLOWED);
        if (push_index(c, i - 1) == 0) {
          fail(c, PK__SENV_NOT_ALLOWED);
          c->depth--;
        }
        continue;
      }
      if (!sub) break;
      lua_rawgeti(L, vi, (int)i);
      vchild_index(c, sub, lua_gettop(L), i - 1);
      lua_pop(L, 1);
      if (c->silent && c->nerr != start) return 1;
    }
  }
  if ((k & BIT(PK__SK_UNIQUE)) && len > UNIQUE_PAIRWISE_MAX) {
    if (has_duplicates(L, vi, len)) return fail(c, n->msg[PK__SK_UNIQUE]);   /* -1: no memory to tell */
  } else if (k & BIT(PK__SK_UNIQUE)) {
    /* small arrays: pairwise, which allocates nothing */
    for (size_t i = 1; i < len; i++) {
      lua_rawgeti(L, vi, (int)i);
      for (size_t j = i + 1; j <= len; j++) {
        lua_rawgeti(L, vi, (int)j);
        int eq = json_equal(L, lua_gettop(L) - 1, lua_gettop(L), 0);
        lua_pop(L, 1);
        if (eq) {
          lua_pop(L, 1);
          return fail(c, n->msg[PK__SK_UNIQUE]);
        }
      }
      lua_pop(L, 1);
    }
  }
  return 0;
}

static int venum(vctx *c, const pk__snode *n, int vi) {
  lua_State *L = c->L;
  int ok = 0;
  if (lua_type(L, vi) != LUA_TTABLE) {
    lua_rawgeti(L, c->env, n->enum_set);
    lua_pushvalue(L, vi);
    lua_rawget(L, -2);
    ok = !lua_isnil(L, -1);
    lua_pop(L, 2);
  } else if (n->enum_list) {
    lua_rawgeti(L, c->env, n->enum_list);
    int list = lua_gettop(L);
    for (int i = 1; !ok && i <= (int)lua_objlen(L, list); i++) {
      lua_rawgeti(L, list, i);
      ok = json_equal(L, vi, lua_gettop(L), 0);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  return ok ? 0 : fail(c, n->msg[PK__SK_ENUM]);
}

static int vlogic(vctx *c, const pk__snode *n, int vi) {
  int start = c->nerr;
  for (int i = 0; i < n->nall; i++) {
    vnode(c, n->all[i], vi);
    if (c->silent && c->nerr != start) return 1;
  }
  if (n->nany) {
    int found = -1;
    for (int i = 0; i < n->nany && found < 0; i++)
      if (matches(c, n->any[i], vi)) found = i;
    if (found < 0) {
      if (fail(c, n->msg[PK__SK_ANYOF])) return 1;
    } else if (c->fill && !c->silent) {
      vnode(c, n->any[found], vi); /* again, to fill the defaults of the branch that matched */
    }
  }
  if (n->none) {
    int found = -1, count = 0;
    for (int i = 0; i < n->none && count < 2; i++)
      if (matches(c, n->one[i], vi)) found = i, count++;
    if (count != 1) {
      if (fail(c, n->msg[PK__SK_ONEOF])) return 1;
    } else if (c->fill && !c->silent) {
      vnode(c, n->one[found], vi);
    }
  }
  if (n->not_ && matches(c, n->not_, vi) && fail(c, n->msg[PK__SK_NOT])) return 1;
  return 0;
}

/* Checks the value at vi against n. Returns nonzero if it found an error. Leaves the stack as it
 * found it. */
static int vnode(vctx *c, const pk__snode *n, int vi) {
  lua_State *L = c->L;
  int start = c->nerr, top = c->silent ? lua_gettop(L) : 0;
  if (++c->level > MAX_LEVEL) {
    fail(c, PK__SENV_TOO_DEEP);
    goto out;
  }
  if (n->checks & BIT(PK__SK_FALSE)) {
    fail(c, n->msg[PK__SK_FALSE]);
    goto out;
  }
  unsigned kind = kind_of(L, vi);
  if (!kind) {
    fail(c, lua_type(L, vi) == LUA_TNUMBER ? PK__SENV_NOT_FINITE : PK__SENV_NOT_JSON);
    goto out;
  }
  if (n->types && !(kind & n->types)) {
    fail(c, n->msg[PK__SK_TYPE]);
    goto out;
  }
  if (n->ref && vnode(c, n->ref, vi) && c->silent) goto out;
  unsigned eff = n->types ? kind & n->types : kind;
  if (eff & (PK__ST_NUMBER | PK__ST_INTEGER)) {
    if ((n->checks & NUMBER_CHECKS) && vnumber(c, n, lua_tonumber(L, vi))) goto out;
  } else if (eff & PK__ST_STRING) {
    if ((n->checks & STRING_CHECKS) && vstring(c, n, vi)) goto out;
  } else {
    if ((eff & PK__ST_OBJECT) && vobject(c, n, vi, !(kind & PK__ST_ARRAY)))
      goto out;
    if ((eff & PK__ST_ARRAY) && varray(c, n, vi)) goto out;
  }
  if ((n->checks & BIT(PK__SK_ENUM)) && venum(c, n, vi)) goto out;
  if (n->checks & BIT(PK__SK_CONST)) {
    lua_rawgeti(L, c->env, n->const_val);
    int eq = json_equal(L, vi, lua_gettop(L), 0);
    lua_pop(L, 1);
    if (!eq && fail(c, n->msg[PK__SK_CONST])) goto out;
  }
  if (n->nall || n->nany || n->none || n->not_) vlogic(c, n, vi);
out:
  c->level--;
  /* every path is balanced except an early stop in silent mode */
  if (c->silent && c->nerr != start) lua_settop(L, top);
  return c->nerr != start;
}

int pk__schema_validate(lua_State *L, const pk__svalidator *v, int env, int vi, int fill) {
  vctx c;
  c.L = L;
  c.env = env;
  c.nerr = c.nrep = c.silent = c.level = c.depth = 0;
  c.regexec_bytes = 0;
  c.fill = fill;
  lua_pushnil(L);
  c.errs = lua_gettop(L);
  vnode(&c, v->root, vi);
  lua_settop(L, c.nrep ? c.errs : c.errs - 1);
  return c.nrep ? c.nerr : 0;
}

/* ---- query-string coercion ------------------------------------------------------------------- */

/* The type mask of a schema, looking through $ref; 0 = any. */
static unsigned types_of(const pk__snode *n) {
  for (int hops = 0; n && hops < 16; hops++, n = n->ref)
    if (n->types) return n->types;
  return 0;
}

static const pk__snode *items_of(const pk__snode *n) {
  for (int hops = 0; n && hops < 16; hops++, n = n->ref)
    if (n->items) return n->items;
  return NULL;
}

/* JSON number syntax: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number(const char *s, size_t n, double *out) {
  size_t i = 0;
  if (i < n && s[i] == '-') i++;
  if (i >= n) return 0;
  if (s[i] == '0') i++;
  else if (s[i] >= '1' && s[i] <= '9') while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  else return 0;
  if (i < n && s[i] == '.') {
    size_t d = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == d) return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == d) return 0;
  }
  if (i != n) return 0;
  *out = strtod(s, NULL);
  return isfinite(*out);
}

/* Pushes the string at si coerced to a scalar of `types`, or the string itself. */
static void push_scalar(lua_State *L, int si, unsigned types) {
  size_t n;
  const char *s = lua_tolstring(L, si, &n);
  double d;
  if (types == 0 || (types & PK__ST_STRING)) lua_pushvalue(L, si);
  else if ((types & PK__ST_BOOLEAN) && n == 4 && memcmp(s, "true", 4) == 0) lua_pushboolean(L, 1);
  else if ((types & PK__ST_BOOLEAN) && n == 5 && memcmp(s, "false", 5) == 0) lua_pushboolean(L, 0);
  else if ((types & (PK__ST_NUMBER | PK__ST_INTEGER)) && json_number(s, n, &d)) lua_pushnumber(L, d);
  else if ((types & PK__ST_NULL) && n == 4 && memcmp(s, "null", 4) == 0) lua_pushlightuserdata(L, NULL);
  else lua_pushvalue(L, si);
}

static void coerce_props(lua_State *L, int env, const pk__snode *n, int ti, int depth) {
  if (!n || depth > 8) return;
  for (int i = 0; i < n->nprops; i++) {
    const pk__sprop *p = &n->props[i];
    if (!p->schema) continue;
    unsigned t = types_of(p->schema);
    if (t == 0) continue;
    lua_rawgeti(L, env, p->key);
    lua_pushvalue(L, -1);
    lua_rawget(L, ti);
    int ki = lua_gettop(L) - 1, vi = ki + 1;
    int vt = lua_type(L, vi);
    if (vt == LUA_TSTRING && (t & PK__ST_ARRAY) && !(t & PK__ST_STRING)) {
      /* "a,b,c" -> {"a", "b", "c"}; "" -> {} */
      const pk__snode *it = items_of(p->schema);
      unsigned itt = types_of(it);
      size_t len;
      const char *s = lua_tolstring(L, vi, &len);
      lua_newtable(L);
      int arr = lua_gettop(L), k = 0;
      size_t from = 0;
      while (len > 0 && from <= len) {
        const char *comma = memchr(s + from, ',', len - from);
        size_t to = comma ? (size_t)(comma - s) : len;
        lua_pushlstring(L, s + from, to - from);
        push_scalar(L, lua_gettop(L), itt);
        lua_rawseti(L, arr, ++k);
        lua_pop(L, 1);
        from = to + 1;
      }
      lua_pushvalue(L, ki);
      lua_pushvalue(L, arr);
      lua_rawset(L, ti);
    } else if (vt == LUA_TSTRING) {
      push_scalar(L, vi, t);
      if (!lua_rawequal(L, -1, vi)) {
        lua_pushvalue(L, ki);
        lua_insert(L, -2);
        lua_rawset(L, ti);
      }
    } else if (vt == LUA_TTABLE && (t & PK__ST_ARRAY)) {
      /* a repeated query key arrives as an array of strings: coerce its items in place */
      unsigned itt = types_of(items_of(p->schema));
      int len = (int)lua_objlen(L, vi);
      for (int k = 1; itt && k <= len; k++) {
        lua_rawgeti(L, vi, k);
        if (lua_type(L, -1) == LUA_TSTRING) {
          push_scalar(L, lua_gettop(L), itt);
          lua_rawseti(L, vi, k);
        }
        lua_pop(L, 1);
      }
    }
    lua_settop(L, ki - 1);
  }
  coerce_props(L, env, n->ref, ti, depth + 1);
  for (int i = 0; i < n->nall; i++) coerce_props(L, env, n->all[i], ti, depth + 1);
}

static void top_keys(lua_State *L, int env, const pk__snode *n, int out, int arrays, int depth) {
  if (!n || depth > 8) return;
  for (int i = 0; i < n->nprops; i++) {
    const pk__sprop *p = &n->props[i];
    unsigned t = p->schema ? types_of(p->schema) : 0;
    if (arrays && (!(t & PK__ST_ARRAY) || (t & PK__ST_STRING))) continue;
    lua_rawgeti(L, env, p->key);
    lua_pushboolean(L, 1);
    lua_rawset(L, out);
  }
  top_keys(L, env, n->ref, out, arrays, depth + 1);
  for (int i = 0; i < n->nall; i++) top_keys(L, env, n->all[i], out, arrays, depth + 1);
}

void pk__schema_top_keys(lua_State *L, const pk__svalidator *v, int arrays) {
  lua_checkstack(L, 8);
  int env = lua_gettop(L);
  lua_newtable(L);
  top_keys(L, env, v->root, env + 1, arrays, 0);
}

void pk__schema_coerce(lua_State *L, const pk__svalidator *v, int ti) {
  lua_checkstack(L, 16);
  coerce_props(L, lua_gettop(L), v->root, ti, 0);
}
