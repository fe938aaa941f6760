/* lua_schema.c: the pikku.schema_c Lua module: compiles JSON Schema tables into validators in C. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "json_decode.h"
#include "lua_modules.h"
#include "schema_internal.h"

#define MAX_SCHEMA_DEPTH 200

typedef struct sblock {
  struct sblock *next;
  double data[]; /* aligned storage */
} sblock;

/* Compile state. Stack indices are absolute. */
typedef struct {
  lua_State *L;
  pk__svalidator *v;
  int env;                 /* the validator's environment table */
  int refs;                /* schema table -> lightuserdata node, for $ref (and recursion) */
  int registry;            /* name -> schema, or 0 */
  int doc;                 /* root of the document being compiled (for "#" and "#/$defs/...") */
  int ptrs;                /* lightuserdata node -> its schema pointer, for the $ref cycle error */
  const char *where;
  int depth;
  size_t plen;
  char ptr[480];           /* JSON Pointer of the current subschema, for errors */
} cc_t;

static pk__snode *compile_schema(cc_t *c, int si, const char *kw);

/* ---- errors and allocation ------------------------------------------------------------------ */

/* Raises "<where>: schema <pointer>: <keyword>: <problem>". Compile-time only. */
static void cerr(cc_t *c, const char *kw, const char *fmt, ...) {
  lua_State *L = c->L;
  va_list ap;
  lua_checkstack(L, 4);
  if (kw) lua_pushfstring(L, "%s: schema %s: %s: ", c->where, c->ptr, kw);
  else lua_pushfstring(L, "%s: schema %s: ", c->where, c->ptr);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  lua_error(L);
}

static void *salloc(cc_t *c, size_t n) {
  sblock *b = calloc(1, sizeof *b + n);
  if (!b) luaL_error(c->L, "out of memory");
  b->next = c->v->blocks;
  c->v->blocks = b;
  return b->data;
}

static pk__snode *new_node(cc_t *c) {
  pk__snode *n = calloc(1, sizeof *n);
  if (!n) luaL_error(c->L, "out of memory");
  n->next = c->v->nodes;
  c->v->nodes = n;
  return n;
}

/* Pops the top value into a new slot of the environment; returns the slot. */
static int env_add(cc_t *c) {
  lua_rawseti(c->L, c->env, ++c->v->nenv);
  return c->v->nenv;
}

static int env_msg(cc_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(c->L, fmt, ap);
  va_end(ap);
  return env_add(c);
}

/* Appends "/seg" (escaped per RFC 6901) to the schema pointer; returns the old length. */
static size_t ptr_push(cc_t *c, const char *seg) {
  size_t old = c->plen, cap = sizeof c->ptr - 4;
  if (c->plen < cap) c->ptr[c->plen++] = '/';
  for (; *seg && c->plen < cap; seg++) {
    if (*seg == '~' || *seg == '/') {
      c->ptr[c->plen++] = '~';
      c->ptr[c->plen++] = *seg == '~' ? '0' : '1';
    } else {
      c->ptr[c->plen++] = *seg;
    }
  }
  if (*seg && c->plen + 3 < sizeof c->ptr) memcpy(c->ptr + c->plen, "...", 3), c->plen += 3;
  c->ptr[c->plen] = '\0';
  return old;
}

static size_t ptr_push_index(cc_t *c, int i) {
  char b[24];
  snprintf(b, sizeof b, "%d", i);
  return ptr_push(c, b);
}

static void ptr_pop(cc_t *c, size_t old) {
  c->plen = old;
  c->ptr[old] = '\0';
}

/* ---- keyword readers -------------------------------------------------------------------------- */

/* A table with keys 1..n only (n >= 1). */
static int is_array_table(lua_State *L, int i) {
  if (lua_type(L, i) != LUA_TTABLE) return 0;
  return pk__schema_kind(L, i) == PK__ST_ARRAY;
}

static int is_list_table(lua_State *L, int i) {
  return lua_type(L, i) == LUA_TTABLE && (pk__schema_kind(L, i) & PK__ST_ARRAY);
}

static double get_number(cc_t *c, int i, const char *kw) {
  if (lua_type(c->L, i) != LUA_TNUMBER) cerr(c, kw, "must be a number, not %s", luaL_typename(c->L, i));
  double d = lua_tonumber(c->L, i);
  if (!isfinite(d)) cerr(c, kw, "must be a finite number");
  return d;
}

static size_t get_count(cc_t *c, int i, const char *kw) {
  double d = get_number(c, i, kw);
  if (d < 0 || d != floor(d) || d > 1e15) cerr(c, kw, "must be a non-negative integer");
  return (size_t)d;
}

static const char *type_word(unsigned t) {
  switch (t) {
  case PK__ST_NULL: return "null";
  case PK__ST_BOOLEAN: return "boolean";
  case PK__ST_OBJECT: return "object";
  case PK__ST_ARRAY: return "array";
  case PK__ST_NUMBER: return "number";
  case PK__ST_STRING: return "string";
  case PK__ST_INTEGER: return "integer";
  default: return "?";
  }
}

static unsigned type_bit(cc_t *c, int i) {
  static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
  if (lua_type(c->L, i) != LUA_TSTRING) cerr(c, "type", "must be a type name or an array of them");
  const char *s = lua_tostring(c->L, i);
  for (unsigned k = 0; k < 7; k++)
    if (strcmp(s, names[k]) == 0) return 1u << k;
  cerr(c, "type", "unknown type \"%s\" (use string, number, integer, boolean, object, array or null)", s);
  return 0;
}

/* "must be string", "must be string or null", "must be integer, string or null". */
static int type_message(cc_t *c, unsigned types) {
  lua_State *L = c->L;
  static const unsigned order[] = {PK__ST_STRING, PK__ST_NUMBER, PK__ST_INTEGER, PK__ST_BOOLEAN,
                                   PK__ST_OBJECT, PK__ST_ARRAY,  PK__ST_NULL};
  int n = 0, total = 0;
  for (int k = 0; k < 7; k++) total += (types & order[k]) != 0;
  lua_pushliteral(L, "must be ");
  for (int k = 0; k < 7; k++) {
    if (!(types & order[k])) continue;
    if (n > 0) lua_pushstring(L, n == total - 1 ? " or " : ", ");
    lua_pushstring(L, type_word(order[k]));
    n++;
  }
  lua_concat(L, 2 * n);
  return env_add(c);
}

/* Pushes a short JSON-like rendering of the value at i (for messages). */
static void push_repr(lua_State *L, int i) {
  switch (lua_type(L, i)) {
  case LUA_TSTRING: lua_pushfstring(L, "\"%s\"", lua_tostring(L, i)); break;
  case LUA_TNUMBER: lua_pushfstring(L, "%f", lua_tonumber(L, i)); break;
  case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, i) ? "true" : "false"); break;
  case LUA_TTABLE: lua_pushstring(L, pk__schema_kind(L, i) == PK__ST_ARRAY ? "[...]" : "{...}"); break;
  default: lua_pushstring(L, "null"); break;
  }
}


/* ---- $ref ------------------------------------------------------------------------------------ */

/* Pushes registry[name] (or nil). */
static void push_registered(cc_t *c, const char *name) {
  if (!c->registry) { lua_pushnil(c->L); return; }
  lua_getfield(c->L, c->registry, name);
}

/* Pushes the reference token of a JSON Pointer in a URI fragment that starts at p (after its '/'),
 * decoded: first the %HH escapes of the URI (RFC 3986: "a%20b" is "a b"), then ~0 and ~1 (RFC
 * 6901: "~1" is "/", so "a~1b" is the key "a/b"). Returns the end of the token. */
static const char *push_token(cc_t *c, const char *ref, const char *p) {
  luaL_Buffer b;
  luaL_buffinit(c->L, &b);
  for (; *p && *p != '/'; p++) {
    int ch = (unsigned char)*p;
    if (ch == '%') {
      if (!pk__is_hex((unsigned char)p[1]) || !pk__is_hex((unsigned char)p[2]))
        cerr(c, "$ref", "\"%s\": %% must start an escape %%HH", ref);
      char hex[3] = {p[1], p[2], 0};
      ch = (int)strtol(hex, NULL, 16);
      p += 2;
    }
    luaL_addchar(&b, (char)ch);
  }
  luaL_pushresult(&b);
  size_t n;
  const char *raw = lua_tolstring(c->L, -1, &n);
  if (!memchr(raw, '~', n)) return p;
  luaL_buffinit(c->L, &b);
  for (size_t k = 0; k < n; k++) {
    if (raw[k] != '~') { luaL_addchar(&b, raw[k]); continue; }
    if (k + 1 == n || (raw[k + 1] != '0' && raw[k + 1] != '1'))
      cerr(c, "$ref", "\"%s\": ~ must be written ~0 in a JSON Pointer (~1 is /)", ref);
    luaL_addchar(&b, raw[++k] == '0' ? '~' : '/');
  }
  luaL_pushresult(&b);
  lua_remove(c->L, -2);
  return p;
}

/* Follows a JSON Pointer ("#/a/b") inside the document; pushes the target or nil. */
static void push_pointer(cc_t *c, const char *ref, const char *p) {
  lua_State *L = c->L;
  lua_pushvalue(L, c->doc);
  while (*p == '/' && lua_type(L, -1) == LUA_TTABLE) {
    p = push_token(c, ref, p + 1);
    size_t n;
    const char *seg = lua_tolstring(L, -1, &n);
    char *end;
    long idx = strtol(seg, &end, 10);
    if (n > 0 && pk__is_digit((unsigned char)seg[0]) && *end == '\0' && idx >= 0 && is_list_table(L, -2)) {
      lua_pop(L, 1);
      lua_rawgeti(L, -1, (int)idx + 1);
    } else {
      lua_gettable(L, -2);
    }
    lua_remove(L, -2);
  }
  if (*p) { lua_pop(L, 1); lua_pushnil(L); }
}

/* Pushes the schema's own $defs[name], else its definitions[name], else nil; *place says which. */
static void push_local_def(cc_t *c, const char *name, const char **place) {
  static const char *const places[] = {"$defs", "definitions"};
  lua_State *L = c->L;
  for (int k = 0; k < 2; k++) {
    lua_getfield(L, c->doc, places[k]);
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_getfield(L, -1, name);
      lua_remove(L, -2);
      if (!lua_isnil(L, -1)) {
        *place = places[k];
        return;
      }
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
}

/* The Name of "#/$defs/Name", "#/definitions/Name" or "#/components/schemas/Name" (decoded as a
 * pointer's token, and left on the stack), else NULL (nothing pushed). */
static const char *named_pointer(cc_t *c, const char *ref) {
  static const char *const prefixes[] = {"#/$defs/", "#/definitions/", "#/components/schemas/"};
  for (int k = 0; k < 3; k++) {
    size_t n = strlen(prefixes[k]);
    if (strncmp(ref, prefixes[k], n) == 0 && ref[n] && !strchr(ref + n, '/')) {
      push_token(c, ref, ref + n);
      return lua_tostring(c->L, -1);
    }
  }
  return NULL;
}

/* Pushes the target of a $ref (nil if there is none) and writes the pointer to compile it under.
 * A bare "Name" is the schema's own $defs/Name, else its definitions/Name, else the registered
 * Name. A pointer "#/..." is followed inside the schema; when one of the named forms points to
 * nothing there, it is the registered Name (so "#/components/schemas/Name", where OpenAPI keeps
 * named schemas, is the registered one). Returns 1 for a registered schema, with *name set. */
static int push_ref_target(cc_t *c, const char *ref, const char **name, char *ptr, size_t cap) {
  const char *place = NULL;
  *name = NULL;
  if (ref[0] == '#' && (ref[1] == '\0' || ref[1] == '/')) {
    push_pointer(c, ref, ref + 1);
    snprintf(ptr, cap, "%s", ref);
    if (!lua_isnil(c->L, -1) || !(*name = named_pointer(c, ref))) return 0;
    lua_insert(c->L, -2); /* the name stays below, alive while it is used */
  } else if (ref[0] && !strchr(ref, '#') && !strchr(ref, '/')) {
    *name = ref;
    push_local_def(c, ref, &place);
    if (place) {
      snprintf(ptr, cap, "#/%s/%s", place, ref);
      return 0;
    }
  } else {
    cerr(c, "$ref", "unsupported reference \"%s\" (use \"Name\", \"#/$defs/Name\", \"#/components/schemas/Name\" or \"#/...\")", ref);
  }
  lua_pop(c->L, 1);
  push_registered(c, *name);
  snprintf(ptr, cap, "%s#", *name);
  return 1;
}

static pk__snode *compile_ref(cc_t *c, const char *ref) {
  lua_State *L = c->L;
  const char *name;
  char target_ptr[sizeof c->ptr];
  int base = lua_gettop(L);
  int from_registry = push_ref_target(c, ref, &name, target_ptr, sizeof target_ptr - 4);
  int ti = lua_gettop(L);
  if (lua_isnil(L, ti)) {
    if (name) cerr(c, "$ref", "unknown schema \"%s\" (register it with pikku.schema(\"%s\", ...))", name, name);
    cerr(c, "$ref", "\"%s\" points to nothing", ref);
  }
  if (lua_type(L, ti) != LUA_TTABLE && lua_type(L, ti) != LUA_TBOOLEAN)
    cerr(c, "$ref", "\"%s\" is not a schema", ref);
  if (lua_type(L, ti) == LUA_TTABLE) {
    lua_pushvalue(L, ti);
    lua_rawget(L, c->refs);
    if (lua_touserdata(L, -1)) {
      pk__snode *n = lua_touserdata(L, -1);
      lua_settop(L, base);
      return n;
    }
    lua_pop(L, 1);
  }
  /* compile the target under its own pointer ("Name#/..." for a registered schema) */
  char saved[sizeof c->ptr];
  size_t saved_len = c->plen;
  int saved_doc = c->doc;
  memcpy(saved, c->ptr, c->plen + 1);
  if (from_registry) c->doc = ti;
  memcpy(c->ptr, target_ptr, strlen(target_ptr) + 1);
  c->plen = strlen(c->ptr);
  pk__snode *n = compile_schema(c, ti, "$ref");
  memcpy(c->ptr, saved, saved_len + 1);
  c->plen = saved_len;
  c->doc = saved_doc;
  lua_settop(L, base);
  return n;
}

/* ---- keywords -------------------------------------------------------------------------------- */

static int field(cc_t *c, int si, const char *k) {
  lua_getfield(c->L, si, k);
  if (lua_isnil(c->L, -1)) { lua_pop(c->L, 1); return 0; }
  return lua_gettop(c->L);
}

/* Compiles the value at i as a subschema at pointer "<kw>" or "<kw>/<sub>". */
static pk__snode *sub_schema(cc_t *c, int i, const char *kw, const char *sub) {
  size_t old = ptr_push(c, kw);
  if (sub) ptr_push(c, sub);
  pk__snode *n = compile_schema(c, i, kw);
  ptr_pop(c, old);
  return n;
}

static pk__snode **schema_list(cc_t *c, int i, const char *kw, int *count) {
  lua_State *L = c->L;
  int n = is_array_table(L, i) ? (int)lua_objlen(L, i) : 0;
  if (n == 0) cerr(c, kw, "must be a non-empty array of schemas");
  pk__snode **arr = salloc(c, sizeof *arr * (size_t)n);
  size_t old = ptr_push(c, kw);
  for (int k = 1; k <= n; k++) {
    lua_rawgeti(L, i, k);
    size_t o2 = ptr_push_index(c, k - 1);
    arr[k - 1] = compile_schema(c, lua_gettop(L), kw);
    ptr_pop(c, o2);
    lua_pop(L, 1);
  }
  ptr_pop(c, old);
  *count = n;
  return arr;
}

static void compile_type(cc_t *c, pk__snode *n, int si) {
  lua_State *L = c->L;
  int i = field(c, si, "type");
  if (i) {
    if (lua_type(L, i) == LUA_TTABLE) {
      if (!is_array_table(L, i) || lua_objlen(L, i) == 0)
        cerr(c, "type", "must be a type name or a non-empty array of them");
      for (int k = 1; k <= (int)lua_objlen(L, i); k++) {
        lua_rawgeti(L, i, k);
        n->types |= type_bit(c, lua_gettop(L));
        lua_pop(L, 1);
      }
    } else {
      n->types = type_bit(c, i);
    }
    lua_pop(L, 1);
  }
  /* OpenAPI 3.0's nullable: true */
  lua_getfield(L, si, "nullable");
  if (n->types && lua_toboolean(L, -1) && lua_type(L, -1) == LUA_TBOOLEAN) n->types |= PK__ST_NULL;
  lua_pop(L, 1);
  if (n->types & PK__ST_NUMBER) n->types |= PK__ST_INTEGER; /* integers are numbers */
  if (n->types) {
    n->checks |= 1u << PK__SK_TYPE;
    unsigned shown = n->types;
    if (shown & PK__ST_NUMBER) shown &= ~(unsigned)PK__ST_INTEGER;
    n->msg[PK__SK_TYPE] = type_message(c, shown);
  }
}

/* A lower and an upper bound that leave no number between them are a load error. The stricter of
 * minimum and exclusiveMinimum is the lower bound (at the same value, the exclusive one). */
static void check_number_range(cc_t *c, const pk__snode *n, int excl_min, int excl_max) {
  unsigned k = n->checks;
  int has_lo = (k & (1u << PK__SK_MINIMUM)) || (k & (1u << PK__SK_XMIN));
  int has_hi = (k & (1u << PK__SK_MAXIMUM)) || (k & (1u << PK__SK_XMAX));
  if (!has_lo || !has_hi) return;
  int lo_x = (k & (1u << PK__SK_XMIN)) && (!(k & (1u << PK__SK_MINIMUM)) || n->xmin >= n->minimum);
  int hi_x = (k & (1u << PK__SK_XMAX)) && (!(k & (1u << PK__SK_MAXIMUM)) || n->xmax <= n->maximum);
  double lo = lo_x ? n->xmin : n->minimum, hi = hi_x ? n->xmax : n->maximum;
  if (lo < hi || (lo == hi && !lo_x && !hi_x)) return;
  /* exclusiveMinimum: true (OpenAPI 3.0) makes `minimum` the exclusive bound: name the keyword given */
  const char *lo_kw = lo_x && !excl_min ? "exclusiveMinimum" : "minimum";
  const char *hi_kw = hi_x && !excl_max ? "exclusiveMaximum" : "maximum";
  cerr(c, lo_kw, "%f with %s %f leaves no number allowed", lo, hi_kw, hi);
}

static void compile_numbers(cc_t *c, pk__snode *n, int si) {
  lua_State *L = c->L;
  int i, excl_min = 0, excl_max = 0;
  /* OpenAPI 3.0 / draft 4: exclusiveMinimum: true turns minimum exclusive */
  if ((i = field(c, si, "exclusiveMinimum"))) {
    if (lua_type(L, i) == LUA_TBOOLEAN) excl_min = lua_toboolean(L, i);
    else {
      n->xmin = get_number(c, i, "exclusiveMinimum");
      n->checks |= 1u << PK__SK_XMIN;
      n->msg[PK__SK_XMIN] = env_msg(c, "must be > %f", n->xmin);
    }
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "exclusiveMaximum"))) {
    if (lua_type(L, i) == LUA_TBOOLEAN) excl_max = lua_toboolean(L, i);
    else {
      n->xmax = get_number(c, i, "exclusiveMaximum");
      n->checks |= 1u << PK__SK_XMAX;
      n->msg[PK__SK_XMAX] = env_msg(c, "must be < %f", n->xmax);
    }
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "minimum"))) {
    double d = get_number(c, i, "minimum");
    if (excl_min) {
      n->xmin = d;
      n->checks |= 1u << PK__SK_XMIN;
      n->msg[PK__SK_XMIN] = env_msg(c, "must be > %f", d);
    } else {
      n->minimum = d;
      n->checks |= 1u << PK__SK_MINIMUM;
      n->msg[PK__SK_MINIMUM] = env_msg(c, "must be >= %f", d);
    }
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "maximum"))) {
    double d = get_number(c, i, "maximum");
    if (excl_max) {
      n->xmax = d;
      n->checks |= 1u << PK__SK_XMAX;
      n->msg[PK__SK_XMAX] = env_msg(c, "must be < %f", d);
    } else {
      n->maximum = d;
      n->checks |= 1u << PK__SK_MAXIMUM;
      n->msg[PK__SK_MAXIMUM] = env_msg(c, "must be <= %f", d);
    }
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "multipleOf"))) {
    n->multiple = get_number(c, i, "multipleOf");
    if (n->multiple <= 0) cerr(c, "multipleOf", "must be greater than 0");
    n->checks |= 1u << PK__SK_MULTIPLE;
    n->msg[PK__SK_MULTIPLE] = env_msg(c, "must be a multiple of %f", n->multiple);
    lua_pop(L, 1);
  }
  check_number_range(c, n, excl_min, excl_max);
}

static const char *plural(size_t k, const char *one, const char *many) { return k == 1 ? one : many; }

/* Pushes the pattern as messages show it: a NUL character (which a C string cannot hold) as \0. */
static const char *shown_pattern(lua_State *L, const char *src, size_t len) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t k = 0; k < len; k++) {
    if (src[k]) luaL_addchar(&b, src[k]);
    else luaL_addstring(&b, "\\0");
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* Translates a pattern into POSIX ERE in a userdata left on the stack (collected with it), growing
 * the buffer until the translation fits. */
static const char *translate_pattern(cc_t *c, const char *src, size_t len, const char *shown) {
  for (size_t cap = len * 8 + 256;; cap *= 4) {
    char *ere = lua_newuserdata(c->L, cap);
    const char *why = NULL;
    int rc = pk__spattern_translate(src, len, ere, cap, &why);
    if (rc == 0) return ere;
    if (rc != -ENOSPC || cap > ((size_t)1 << 24)) cerr(c, "pattern", "%s in \"%s\"", why, shown);
    lua_pop(c->L, 1);
  }
}

static void compile_strings(cc_t *c, pk__snode *n, int si) {
  lua_State *L = c->L;
  int i;
  int has_min = 0, has_max = 0;
  if ((i = field(c, si, "minLength"))) {
    n->min_len = get_count(c, i, "minLength");
    has_min = 1;
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "maxLength"))) {
    n->max_len = get_count(c, i, "maxLength");
    has_max = 1;
    lua_pop(L, 1);
  }
  if (has_min && has_max && n->min_len > n->max_len) cerr(c, "minLength", "is greater than maxLength");
  if (has_min && has_max && n->min_len == n->max_len) {
    int m = env_msg(c, "must be exactly %d %s long", (int)n->min_len, plural(n->min_len, "character", "characters"));
    n->msg[PK__SK_MINLEN] = n->msg[PK__SK_MAXLEN] = m;
  } else {
    if (has_min)
      n->msg[PK__SK_MINLEN] = n->min_len == 1
        ? env_msg(c, "must not be empty")
        : env_msg(c, "must be at least %d characters long", (int)n->min_len);
    if (has_max)
      n->msg[PK__SK_MAXLEN] = env_msg(c, "must be at most %d %s long", (int)n->max_len,
                                      plural(n->max_len, "character", "characters"));
  }
  if (has_min) n->checks |= 1u << PK__SK_MINLEN;
  if (has_max) n->checks |= 1u << PK__SK_MAXLEN;
  if ((i = field(c, si, "pattern"))) {
    size_t len;
    if (lua_type(L, i) != LUA_TSTRING) cerr(c, "pattern", "must be a string");
    const char *raw = lua_tolstring(L, i, &len);
    const char *src = shown_pattern(L, raw, len);
    const char *ere = translate_pattern(c, raw, len, src);
    int rc = regcomp(&n->re, ere, REG_EXTENDED | REG_NOSUB);
    if (rc) {
      char msg[128];
      regerror(rc, &n->re, msg, sizeof msg);
      cerr(c, "pattern", "\"%s\" does not compile: %s", src, msg);
    }
    n->has_re = 1;
    pk__sre *fast = salloc(c, sizeof *fast);
    if (pk__sre_compile(ere, fast) == 0) n->fast = fast;
    n->checks |= 1u << PK__SK_PATTERN;
    n->msg[PK__SK_PATTERN] = env_msg(c, "must match the pattern %s", src);
    if (!n->fast) {
      n->msg[PK__SK_PATTERN_LONG] = env_msg(c, "is longer than %d bytes, the most matched against the pattern %s"
                                            " (a pattern with groups or |)", PK__SPATTERN_MAX_SUBJECT, src);
      n->msg[PK__SK_PATTERN_BUDGET] = env_msg(c, "cannot be matched against the pattern %s: this value holds more"
                                              " than %d bytes of text for patterns with groups or |",
                                              src, PK__SPATTERN_MAX_SUBJECTS);
    }
    lua_pop(L, 3);
  }
  if ((i = field(c, si, "format"))) {
    if (lua_type(L, i) != LUA_TSTRING) cerr(c, "format", "must be a string");
    n->format = pk__sformat_id(lua_tostring(L, i));
    if (n->format) {
      static const char *const what[] = {NULL, "an email address", "a UUID", "an RFC 3339 date-time",
                                         "a date (YYYY-MM-DD)", "an absolute URI"};
      n->checks |= 1u << PK__SK_FORMAT;
      n->msg[PK__SK_FORMAT] = env_msg(c, "must be %s (format %s)", what[n->format], pk__sformat_name(n->format));
    }
    lua_pop(L, 1);
  }
}

static void check_finite_at(cc_t *c, int i, const char *kw, int depth) {
  lua_State *L = c->L;
  if (lua_type(L, i) == LUA_TNUMBER && !isfinite(lua_tonumber(L, i)))
    cerr(c, kw, "NaN and infinity are not JSON values");
  if (lua_type(L, i) != LUA_TTABLE || depth >= 64) return;
  lua_checkstack(L, 4);
  lua_pushnil(L);
  while (lua_next(L, i)) {
    check_finite_at(c, lua_gettop(L), kw, depth + 1);
    lua_pop(L, 1);
  }
}

/* enum, const and default values are JSON values: no NaN (which cannot even be a table key) or
 * infinity, in them or in the tables inside them (to the 64 levels that defaults are copied to). */
static void check_finite(cc_t *c, int i, const char *kw) {
  check_finite_at(c, i, kw, 0);
}

static void compile_enum_const(cc_t *c, pk__snode *n, int si) {
  lua_State *L = c->L;
  int i;
  if ((i = field(c, si, "enum"))) {
    if (!is_list_table(L, i)) cerr(c, "enum", "must be an array");
    int count = (int)lua_objlen(L, i), ntables = 0, pieces = 1;
    lua_newtable(L);
    int set = lua_gettop(L);
    lua_newtable(L);
    int list = set + 1;
    for (int k = 1; k <= count; k++) {
      lua_rawgeti(L, i, k);
      check_finite(c, lua_gettop(L), "enum");
      if (lua_type(L, -1) == LUA_TTABLE) {
        pk__schema_push_copy(L, lua_gettop(L), 0);
        lua_rawseti(L, list, ++ntables);
        lua_pop(L, 1);
      } else {
        lua_pushboolean(L, 1);
        lua_rawset(L, set);
      }
    }
    lua_checkstack(L, 32);
    lua_pushliteral(L, "must be one of: ");
    for (int k = 1; k <= count && k <= 12; k++) {
      if (k > 1) lua_pushliteral(L, ", "), pieces++;
      lua_rawgeti(L, i, k);
      push_repr(L, lua_gettop(L));
      lua_remove(L, -2);
      pieces++;
    }
    if (count > 12) lua_pushliteral(L, ", ..."), pieces++;
    if (count == 0) lua_pushliteral(L, "(nothing: the enum is empty)"), pieces++;
    lua_concat(L, pieces);
    n->msg[PK__SK_ENUM] = env_add(c);
    lua_pushvalue(L, set);
    n->enum_set = env_add(c);
    if (ntables) {
      lua_pushvalue(L, list);
      n->enum_list = env_add(c);
    }
    n->checks |= 1u << PK__SK_ENUM;
    lua_settop(L, i - 1);
  }
  if ((i = field(c, si, "const"))) {
    check_finite(c, i, "const");
    pk__schema_push_copy(L, i, 0);
    n->const_val = env_add(c);
    push_repr(L, i);
    n->msg[PK__SK_CONST] = env_msg(c, "must be %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    n->checks |= 1u << PK__SK_CONST;
    lua_pop(L, 1);
  }
}

static int cmp_props(const void *a, const void *b) {
  const pk__sprop *x = a, *y = b;
  size_t m = x->len < y->len ? x->len : y->len;
  int r = memcmp(x->name, y->name, m);
  return r ? r : (x->len > y->len) - (x->len < y->len);
}

static void compile_object(cc_t *c, pk__snode *n, int si) {
  lua_State *L = c->L;
  int props = field(c, si, "properties");
  int req = field(c, si, "required");
  int addl = field(c, si, "additionalProperties");
  int count = 0, top = lua_gettop(L) - (props != 0) - (req != 0) - (addl != 0);
  if (props) {
    if (lua_type(L, props) != LUA_TTABLE || pk__schema_kind(L, props) == PK__ST_ARRAY)
      cerr(c, "properties", "must be an object of name -> schema");
    lua_pushnil(L);
    while (lua_next(L, props)) {
      if (lua_type(L, -2) != LUA_TSTRING) cerr(c, "properties", "property names must be strings");
      count++;
      lua_pop(L, 1);
    }
  }
  if (req) {
    if (!is_list_table(L, req)) cerr(c, "required", "must be an array of property names");
    count += (int)lua_objlen(L, req);
  }
  if (count == 0 && !addl) {
    lua_settop(L, top);
    return;
  }
  n->props = salloc(c, sizeof *n->props * (size_t)(count ? count : 1));
  lua_newtable(L);
  int set = lua_gettop(L);
  if (props) {
    lua_pushnil(L);
    while (lua_next(L, props)) {
      pk__sprop *p = &n->props[n->nprops++];
      int ki = lua_gettop(L) - 1, vi = ki + 1;
      p->name = lua_tolstring(L, ki, &p->len);
      lua_pushvalue(L, ki);
      p->key = env_add(c);
      p->in_props = 1;
      p->schema = sub_schema(c, vi, "properties", p->name);
      if (lua_type(L, vi) == LUA_TTABLE) {
        lua_getfield(L, vi, "default");
        if (!lua_isnil(L, -1)) {
          pk__schema_push_copy(L, lua_gettop(L), 0);
          p->def = env_add(c);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  if (req) {
    int nreq = (int)lua_objlen(L, req);
    for (int k = 1; k <= nreq; k++) {
      lua_rawgeti(L, req, k);
      if (lua_type(L, -1) != LUA_TSTRING) {
        size_t old = ptr_push(c, "required");
        ptr_push_index(c, k - 1);
        (void)old;
        cerr(c, NULL, "required: must be an array of property names (strings)");
      }
      size_t len;
      const char *name = lua_tolstring(L, -1, &len);
      int found = 0;
      for (int j = 0; j < n->nprops; j++)
        if (n->props[j].len == len && memcmp(n->props[j].name, name, len) == 0) {
          n->props[j].required = 1;
          if (!n->props[j].req_rank) n->props[j].req_rank = k;
          found = 1;
        }
      if (found) { lua_pop(L, 1); continue; }
      pk__sprop *p = &n->props[n->nprops++];
      p->name = name;
      p->len = len;
      p->key = env_add(c); /* pops the name; the environment keeps the string alive */
      p->required = 1;
      p->req_rank = k;
    }
  }
  qsort(n->props, (size_t)n->nprops, sizeof *n->props, cmp_props);
  for (int j = 0; j < n->nprops; j++) {
    pk__sprop *p = &n->props[j];
    n->nrequired += p->required;
    n->ndefaults += p->def != 0;
    if (!p->in_props) continue;
    lua_rawgeti(L, c->env, p->key);
    lua_pushinteger(L, j + 1);
    lua_rawset(L, set);
  }
  lua_pushvalue(L, set);
  n->prop_set = env_add(c);
  if (addl) {
    if (lua_type(L, addl) == LUA_TBOOLEAN) {
      n->addl_mode = lua_toboolean(L, addl) ? 0 : 1;
    } else {
      n->addl = sub_schema(c, addl, "additionalProperties", NULL);
      n->addl_mode = 2;
    }
  }
  lua_settop(L, top);
}

static void compile_array(cc_t *c, pk__snode *n, int si) {
  lua_State *L = c->L;
  int i;
  if ((i = field(c, si, "prefixItems"))) {
    n->prefix = schema_list(c, i, "prefixItems", &n->nprefix);
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "items"))) {
    if (lua_type(L, i) == LUA_TBOOLEAN) {
      n->items_false = !lua_toboolean(L, i);
    } else if (is_array_table(L, i)) { /* draft 2019 tuple form: same as prefixItems */
      if (n->prefix) cerr(c, "items", "an array of schemas cannot be combined with prefixItems");
      n->prefix = schema_list(c, i, "items", &n->nprefix);
    } else {
      n->items = sub_schema(c, i, "items", NULL);
    }
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "minItems"))) {
    n->min_items = get_count(c, i, "minItems");
    n->checks |= 1u << PK__SK_MINITEMS;
    n->msg[PK__SK_MINITEMS] = env_msg(c, "must have at least %d %s", (int)n->min_items, plural(n->min_items, "item", "items"));
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "maxItems"))) {
    n->max_items = get_count(c, i, "maxItems");
    n->checks |= 1u << PK__SK_MAXITEMS;
    n->msg[PK__SK_MAXITEMS] = env_msg(c, "must have at most %d %s", (int)n->max_items, plural(n->max_items, "item", "items"));
    lua_pop(L, 1);
  }
  if ((n->checks & (1u << PK__SK_MINITEMS)) && (n->checks & (1u << PK__SK_MAXITEMS)) && n->min_items > n->max_items)
    cerr(c, "minItems", "is greater than maxItems");
  if ((i = field(c, si, "uniqueItems"))) {
    if (lua_type(L, i) != LUA_TBOOLEAN) cerr(c, "uniqueItems", "must be a boolean");
    if (lua_toboolean(L, i)) {
      n->checks |= 1u << PK__SK_UNIQUE;
      n->msg[PK__SK_UNIQUE] = env_msg(c, "must not contain duplicate items");
    }
    lua_pop(L, 1);
  }
}

static void compile_logic(cc_t *c, pk__snode *n, int si) {
  lua_State *L = c->L;
  int i;
  if ((i = field(c, si, "allOf"))) {
    n->all = schema_list(c, i, "allOf", &n->nall);
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "anyOf"))) {
    n->any = schema_list(c, i, "anyOf", &n->nany);
    n->checks |= 1u << PK__SK_ANYOF;
    n->msg[PK__SK_ANYOF] = env_msg(c, "must match at least one of the schemas in anyOf");
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "oneOf"))) {
    n->one = schema_list(c, i, "oneOf", &n->none);
    n->checks |= 1u << PK__SK_ONEOF;
    n->msg[PK__SK_ONEOF] = env_msg(c, "must match exactly one of the schemas in oneOf");
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "not"))) {
    n->not_ = sub_schema(c, i, "not", NULL);
    n->checks |= 1u << PK__SK_NOT;
    n->msg[PK__SK_NOT] = env_msg(c, "must not match the schema in not");
    lua_pop(L, 1);
  }
  if ((i = field(c, si, "$ref"))) {
    if (lua_type(L, i) != LUA_TSTRING) cerr(c, "$ref", "must be a string");
    n->ref = compile_ref(c, lua_tostring(L, i));
    lua_pop(L, 1);
  }
}

/* The keys a schema object may have besides "x-" extensions: the keywords read above, annotations,
 * and the JSON Schema (2020-12 and 2019-09) and OpenAPI keywords that are accepted but not checked.
 * Any other key is a load error: a misspelt keyword ({minlength = 1}) would otherwise check nothing. */
static const char *const known_keys[] = {
  "type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum", "const",
  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
  "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "format", "allOf", "anyOf", "oneOf",
  "not", "default", "$ref", "$defs", "definitions", "nullable",
  /* annotations */
  "title", "description", "examples", "example", "$schema", "$id", "$comment", "deprecated",
  "readOnly", "writeOnly", "discriminator", "xml", "externalDocs", "contentEncoding",
  "contentMediaType", "contentSchema",
  /* not supported: accepted and ignored (docs/schemas.md) */
  "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies", "if",
  "then", "else", "contains", "minContains", "maxContains", "minProperties", "maxProperties",
  "unevaluatedProperties", "unevaluatedItems", "additionalItems", "$anchor", "$dynamicRef",
  "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$vocabulary"};

static void check_keys(cc_t *c, int si) {
  lua_State *L = c->L;
  lua_pushnil(L);
  while (lua_next(L, si)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      cerr(c, NULL, "a schema object's keys are keywords (strings), not %s", luaL_typename(L, -1));
    const char *k = lua_tostring(L, -1);
    if (strncmp(k, "x-", 2) == 0) continue;
    size_t j = 0, count = sizeof known_keys / sizeof *known_keys;
    while (j < count && strcmp(k, known_keys[j]) != 0) j++;
    if (j == count)
      cerr(c, k, "not a JSON Schema keyword (misspelt? keywords are case-sensitive; extensions start with \"x-\")");
  }
}

/* Fills node n from the schema table at si. */
static void compile_into(cc_t *c, pk__snode *n, int si) {
  if (++c->depth > MAX_SCHEMA_DEPTH) cerr(c, NULL, "nested too deeply");
  lua_checkstack(c->L, 24);
  int top = lua_gettop(c->L);
  check_keys(c, si);
  int d = field(c, si, "default");
  if (d) check_finite(c, d, "default");
  lua_settop(c->L, top);
  compile_type(c, n, si);
  compile_numbers(c, n, si);
  compile_strings(c, n, si);
  compile_enum_const(c, n, si);
  compile_object(c, n, si);
  compile_array(c, n, si);
  compile_logic(c, n, si);
  lua_settop(c->L, top);
  c->depth--;
}

static pk__snode *compile_schema(cc_t *c, int si, const char *kw) {
  lua_State *L = c->L;
  pk__snode *n;
  if (lua_type(L, si) == LUA_TBOOLEAN) {
    n = new_node(c);
    if (!lua_toboolean(L, si)) {
      n->checks |= 1u << PK__SK_FALSE;
      n->msg[PK__SK_FALSE] = PK__SENV_NOT_ALLOWED;
    }
    return n;
  }
  if (lua_type(L, si) != LUA_TTABLE || pk__schema_kind(L, si) == PK__ST_ARRAY)
    cerr(c, kw, "must be a schema (an object or a boolean), not %s",
         lua_type(L, si) == LUA_TTABLE ? "an array" : luaL_typename(L, si));
  n = new_node(c);
  lua_pushvalue(L, si);
  lua_pushlightuserdata(L, n);
  lua_rawset(L, c->refs);
  lua_pushlightuserdata(L, n);
  lua_pushlstring(L, c->ptr, c->plen);
  lua_rawset(L, c->ptrs);
  compile_into(c, n, si);
  return n;
}

/* ---- $ref cycles ----------------------------------------------------------------------------- */

/* The keywords that apply a schema to the same value (not to a property or an item): the k-th of
 * them, NULL when that one is absent; *count is how many there can be. */
static pk__snode *same_value_child(const pk__snode *n, int k, int *count) {
  *count = 2 + n->nall + n->nany + n->none;
  if (k == 0) return n->ref;
  if (--k < n->nall) return n->all[k];
  if ((k -= n->nall) < n->nany) return n->any[k];
  if ((k -= n->nany) < n->none) return n->one[k];
  return n->not_;
}

/* A $ref that leads back to its own schema through $ref, allOf, anyOf, oneOf and not only (A =
 * {$ref = "B"}, B = {$ref = "A"}; A = {allOf = {{$ref = "A"}}}) would apply that schema to the same
 * value forever: a load error listing the cycle. Cycles through properties, items, prefixItems or
 * additionalProperties (a tree of Nodes) go one level into the value each time, and are fine.
 * An iterative depth-first search over the nodes (grey = mark 1 = on the path). */
static void check_ref_cycles(cc_t *c) {
  typedef struct { pk__snode *n; int k; } frame;
  lua_State *L = c->L;
  int total = 0;
  for (pk__snode *n = c->v->nodes; n; n = n->next) n->mark = 0, total++;
  frame *st = lua_newuserdata(L, sizeof *st * (size_t)(total + 1));
  for (pk__snode *root = c->v->nodes; root; root = root->next) {
    if (root->mark) continue;
    int top = 0, count;
    st[0].n = root, st[0].k = 0, root->mark = 1;
    while (top >= 0) {
      frame *f = &st[top];
      same_value_child(f->n, 0, &count);
      if (f->k >= count) {
        f->n->mark = 2;
        top--;
        continue;
      }
      pk__snode *next = same_value_child(f->n, f->k++, &count);
      if (!next || next->mark == 2) continue;
      if (next->mark == 0) {
        next->mark = 1;
        st[++top].n = next, st[top].k = 0;
        continue;
      }
      /* next is on the path: the cycle is the path from it to here, and back to it */
      int from = top, pieces = 0;
      while (st[from].n != next) from--;
      lua_checkstack(L, 2 * (top - from) + 8);
      for (int j = from; j <= top + 1; j++) {
        if (pieces) lua_pushliteral(L, " -> "), pieces++;
        lua_pushlightuserdata(L, j <= top ? st[j].n : next);
        lua_rawget(L, c->ptrs);
        pieces++;
      }
      lua_concat(L, pieces);
      lua_pushlightuserdata(L, next);
      lua_rawget(L, c->ptrs);
      snprintf(c->ptr, sizeof c->ptr, "%s", lua_tostring(L, -1));
      cerr(c, "$ref", "a cycle that never goes into a property or an item, so it would check the same value forever: %s",
           lua_tostring(L, -2));
    }
  }
  lua_pop(L, 1);
}

/* ---- Lua bindings ---------------------------------------------------------------------------- */

static pk__svalidator *check_validator(lua_State *L) {
  pk__svalidator *v = lua_touserdata(L, 1);
  if (!v || !lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(1)))
    luaL_typerror(L, 1, "schema validator");
  lua_pop(L, 1);
  return v;
}

static int l_gc(lua_State *L) {
  pk__svalidator *v = lua_touserdata(L, 1);
  for (pk__snode *n = v->nodes, *next; n; n = next) {
    next = n->next;
    if (n->has_re) regfree(&n->re);
    free(n->dslot);
    free(n->estr);
    free(n);
  }
  for (sblock *b = v->blocks, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  v->nodes = NULL;
  v->blocks = NULL;
  v->root = NULL;
  return 0;
}

static int l_tostring(lua_State *L) {
  lua_getfenv(L, 1);
  lua_rawgeti(L, -1, PK__SENV_WHERE);
  lua_pushfstring(L, "schema validator (%s)", lua_tostring(L, -1));
  return 1;
}

/* validator:validate(value, fill_defaults) -> true | false, {{path=, message=}, ...}, count: the
 * list holds at most PK__SCHEMA_MAX_LISTED errors, count is how many there are in all */
static int l_validate(lua_State *L) {
  pk__svalidator *v = check_validator(L);
  if (!v->root) return luaL_error(L, "validator is closed");
  lua_settop(L, 3);
  int fill = lua_toboolean(L, 3);
  lua_getfenv(L, 1);
  int n = pk__schema_validate(L, v, 4, 2, fill);
  if (n == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  lua_pushinteger(L, n);
  return 3;
}

/* validator:decode(json) -> the decoded object when the JSON text is an object this validator
 * accepts, decoded and checked in one pass (schema_decode.c); nil when it is not, or when that
 * pass cannot tell: decode it with pikku.json and validate, which says what is wrong. */
static int l_decode(lua_State *L) {
  pk__svalidator *v = check_validator(L);
  if (!v->root) return luaL_error(L, "validator is closed");
  size_t n;
  const char *s = lua_tolstring(L, 2, &n);
  if (!s || lua_type(L, 2) != LUA_TSTRING) return 0;
  lua_settop(L, 2);
  lua_getfenv(L, 1);
  return pk__schema_decode(L, v, 3, lua_upvalueindex(2), lua_upvalueindex(3), s, n) ? 1 : 0;
}

/* validator:coerce_query(tbl) -> tbl (changed in place) */
static int l_coerce_query(lua_State *L) {
  pk__svalidator *v = check_validator(L);
  if (!v->root) return luaL_error(L, "validator is closed");
  lua_settop(L, 2);
  if (lua_type(L, 2) != LUA_TTABLE) return 1;
  lua_getfenv(L, 1);
  pk__schema_coerce(L, v, 2);
  lua_settop(L, 2);
  return 1;
}

/* validator:top_keys(arrays_only) -> { name = true } (see pk__schema_top_keys) */
static int l_top_keys(lua_State *L) {
  pk__svalidator *v = check_validator(L);
  if (!v->root) return luaL_error(L, "validator is closed");
  int arrays = lua_toboolean(L, 2);
  lua_settop(L, 1);
  lua_getfenv(L, 1);
  pk__schema_top_keys(L, v, arrays);
  return 1;
}

/* compile(schema, where, registry) -> validator; raises "<where>: schema <ptr>: <kw>: <problem>" */
static int l_compile(lua_State *L) {
  static const char *const fixed[] = {"path", "message", "is required", "is not allowed",
                                      "has a key that is not a string", "is not a JSON value",
                                      "is nested too deeply",
                                      "must be a finite number (JSON has no NaN or infinity)"};
  lua_settop(L, 3);
  const char *where = luaL_optstring(L, 2, "schema");
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  pk__svalidator *v = lua_newuserdata(L, sizeof *v); /* 4 */
  memset(v, 0, sizeof *v);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, 4);
  lua_newtable(L); /* 5: environment */
  for (int k = 0; k < (int)(sizeof fixed / sizeof *fixed); k++) {
    lua_pushstring(L, fixed[k]);
    lua_rawseti(L, 5, k + 1);
  }
  lua_pushstring(L, where);
  lua_rawseti(L, 5, PK__SENV_WHERE);
  v->nenv = PK__SENV_FIRST_FREE - 1;
  lua_pushvalue(L, 5);
  lua_setfenv(L, 4);
  lua_newtable(L); /* 6: refs */
  lua_newtable(L); /* 7: node -> pointer */
  cc_t c;
  memset(&c, 0, sizeof c);
  c.L = L;
  c.v = v;
  c.env = 5;
  c.refs = 6;
  c.ptrs = 7;
  c.registry = lua_isnil(L, 3) ? 0 : 3;
  c.doc = 1;
  c.where = where;
  strcpy(c.ptr, "#");
  c.plen = 1;
  v->root = compile_schema(&c, 1, NULL);
  check_ref_cycles(&c);
  pk__schema_decode_prepare(v);
  pk__schema_decode_ctors(L, v, c.env);
  lua_settop(L, 4);
  return 1;
}

int luaopen_pikku_schema_c(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"validate", l_validate}, {"coerce_query", l_coerce_query},
    {"top_keys", l_top_keys}, {NULL, NULL}};
  lua_newtable(L); /* module */
  lua_newtable(L); /* metatable */
  int mt = lua_gettop(L);
  lua_newtable(L); /* __index */
  for (const luaL_Reg *r = methods; r->name; r++) {
    lua_pushvalue(L, mt);
    lua_pushcclosure(L, r->func, 1);
    lua_setfield(L, -2, r->name);
  }
  /* decode marks arrays and empty objects as pikku.json_c's decoder does: its markers as upvalues */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "pikku.json_c");
  lua_call(L, 1, 0);
  lua_pushvalue(L, mt);
  lua_getfield(L, LUA_REGISTRYINDEX, PK_JSON_ARRAY_MT);
  lua_getfield(L, LUA_REGISTRYINDEX, PK_JSON_OBJECT_MT);
  lua_pushcclosure(L, l_decode, 3);
  lua_setfield(L, -2, "decode");
  lua_setfield(L, mt, "__index");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, mt, "__gc");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, mt, "__tostring");
  lua_pushliteral(L, PK__SCHEMA_MT);
  lua_setfield(L, mt, "__metatable");
  lua_pushvalue(L, mt);
  lua_pushcclosure(L, l_compile, 1);
  lua_setfield(L, -3, "compile");
  lua_createtable(L, 0, (int)(sizeof known_keys / sizeof *known_keys));   /* keywords: set of known_keys */
  for (size_t k = 0; k < sizeof known_keys / sizeof *known_keys; k++) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, known_keys[k]);
  }
  lua_setfield(L, -3, "keywords");
  lua_pop(L, 1); /* metatable */
  return 1;
}
