/* schema_decode.c: decodes a JSON body straight into the shape its schema describes, validating as it goes (one pass). */
/*
 * The request path used to decode a body into Lua tables (json_decode.c) and then walk those
 * tables again to validate them (schema_validate.c). For a body that is valid, this file does both
 * in one pass over the bytes: each value is checked against its schema node as it is read, object
 * keys are matched against the node's properties (their interned names are taken from the
 * validator's environment, and each table is made at its final size, by a constructor that already
 * holds the names when the node has one: schema_ctor.c), and nothing is walked twice.
 *
 * It only ever answers "valid, and here is the value" or "don't know": at anything it does not
 * handle, and at the first error, it gives up, and the caller decodes and validates the ordinary
 * way, which finds and reports every error with its path. So error reporting has one owner
 * (schema_validate.c), and a body this decoder accepts must be exactly one the two-pass path
 * accepts, decoded to exactly the same Lua value (arrays and empty objects marked as json_decode.c
 * marks them, null as the NULL light userdata, numbers rounded as strtod rounds them).
 *
 * Given up on (the two-pass path takes these): a root that is not an object; a key that is not a
 * declared property (unless additionalProperties is a schema), or one seen twice; a string with an
 * escape or a control character, or malformed UTF-8; an absent property that has a default (the
 * two-pass path writes it); a schema node with keywords this file does not check (allOf, anyOf,
 * oneOf, not, $ref, const, uniqueItems, prefixItems, items: false, a pattern that needs regexec, an
 * enum holding arrays or objects, false); a value whose schema allows anything (it would need a
 * decoder of its own); nesting deeper than MAX_DEPTH.
 */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "json_number.h"
#include "json_scan.h"
#include "schema_internal.h"
#include "utf8.h"

#define BIT(k) (1u << (k))
#define MAX_DEPTH 32          /* deeper bodies go the two-pass way */
#define MAX_PROPS 256         /* properties of one object node this decoder follows */
#define CHUNK 64              /* array items kept on the stack before they go into the table */

/* keywords this decoder does not check: a node that has one is never decoded here */
#define UNSUPPORTED (BIT(PK__SK_FALSE) | BIT(PK__SK_CONST) | BIT(PK__SK_UNIQUE) | BIT(PK__SK_ANYOF) | \
                     BIT(PK__SK_ONEOF) | BIT(PK__SK_NOT))

typedef struct {
  lua_State *L;
  int env, array_mt, object_mt;    /* stack indices */
  const unsigned char *p, *end;
  int depth;
  int room;                        /* the stack index up to which lua_checkstack made room */
} sd_t;

#define ROOT_ROOM 64          /* slots made at the start: most bodies need no other lua_checkstack */
#define ROOM_EXTRA 32         /* made on top of what a node asks for, when it asks for more */

/* Room for `need` slots above stack index top (the current top): one lua_checkstack for many
 * nodes. Every node makes room for what it pushes, plus 8 for a child's first pushes (an empty
 * object's table and its marker, a scalar) before the child makes its own. */
static __attribute__((noinline, cold)) int make_more_room(sd_t *d, int top, int need) {
  if (!lua_checkstack(d->L, need + ROOM_EXTRA)) return 0;
  d->room = top + need + ROOM_EXTRA;
  return 1;
}

static inline int make_room(sd_t *d, int top, int need) {
  return top + need <= d->room || make_more_room(d, top, need);
}

/* A property name's slot in the node's hash: its length and three of its bytes (no loop over the
 * name; a collision only costs a comparison). */
static inline uint32_t name_hash(const char *s, size_t len) {
  if (!len) return 0;
  uint32_t h = (uint32_t)len * 0x9e3779b1u;
  h ^= (unsigned char)s[0] * 0x85ebca6bu;
  h ^= (unsigned char)s[len - 1] * 0xc2b2ae35u;
  h ^= (unsigned char)s[len / 2] * 0x27d4eb2fu;
  return h ^ (h >> 15);
}

void pk__schema_decode_prepare(pk__svalidator *v) {
  for (pk__snode *n = v->nodes; n; n = n->next) {
    int ok = !(n->checks & UNSUPPORTED) && !n->ref && !n->nall && !n->nany && !n->none && !n->not_ &&
             !((n->checks & BIT(PK__SK_PATTERN)) && !n->fast) &&
             !((n->checks & BIT(PK__SK_ENUM)) && n->enum_list) && !n->nprefix && !n->items_false &&
             n->nprops <= MAX_PROPS;
    memset(n->must, 0, sizeof n->must);
    for (int j = 0; ok && j < n->nprops; j++)
      if (n->props[j].required || n->props[j].def) n->must[j / 64] |= 1ull << (j % 64);
    if (ok && n->nprops) {   /* the names of `properties`, hashed (open addressing, at most half full) */
      unsigned size = 8;
      while (size < 2u * (unsigned)n->nprops) size *= 2;
      if (!(n->dslot = calloc(size, sizeof *n->dslot))) ok = 0;
      n->dmask = size - 1;
      for (int j = 0; ok && j < n->nprops; j++) {
        if (!n->props[j].in_props) continue;
        uint32_t i = name_hash(n->props[j].name, n->props[j].len) & n->dmask;
        while (n->dslot[i]) i = (i + 1) & n->dmask;
        n->dslot[i] = (unsigned short)(j + 1);
      }
    }
    n->direct = ok;
  }
}

static inline void skip_ws(sd_t *d) {
  if (d->p < d->end && *d->p > ' ') return;   /* the usual case: no white space at all */
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t')) d->p++;
}

/* A string without escapes at d->p (after its opening quote): its bytes and length, d->p after
 * the closing quote. 0, or -1 to give up (an escape, a control character, bad UTF-8, no end). */
static inline __attribute__((always_inline)) int scan_string(sd_t *d, const char **s, size_t *len) {
  const unsigned char *start = d->p, *p = start, *end = d->end;
  for (;;) {
    p += pk__json_plain_run(p, (size_t)(end - p));
    if (p >= end) return -1;
    if (*p == '"') break;
    if (*p < 0x80) return -1;                 /* a backslash or a control character */
    size_t n = pk__utf8_seq(p, (size_t)(end - p));
    if (!n) return -1;
    p += n;
  }
  *s = (const char *)start;
  *len = (size_t)(p - start);
  d->p = p + 1;
  return 0;
}

/* The string checks of schema_validate.c's vstring, as one verdict. */
static int string_ok(const pk__snode *n, const char *s, size_t len) {
  unsigned k = n->checks;
  size_t cp = (size_t)-1;
  if (k & BIT(PK__SK_MINLEN)) {
    if (len < n->min_len) return 0;
    if ((len + 3) / 4 < n->min_len && (cp = pk__utf8_len(s, len)) < n->min_len) return 0;
  }
  if ((k & BIT(PK__SK_MAXLEN)) && len > n->max_len) {
    if (cp == (size_t)-1) cp = pk__utf8_len(s, len);
    if (cp > n->max_len) return 0;
  }
  if ((k & BIT(PK__SK_PATTERN)) && !pk__sre_match(n->fast, s, len)) return 0;
  if ((k & BIT(PK__SK_FORMAT)) && !pk__sformat_check(n->format, s, len)) return 0;
  return 1;
}

/* The number checks of schema_validate.c's vnumber, as one verdict. */
static int number_ok(const pk__snode *n, double x) {
  unsigned k = n->checks;
  if ((k & BIT(PK__SK_MINIMUM)) && !(x >= n->minimum)) return 0;
  if ((k & BIT(PK__SK_MAXIMUM)) && !(x <= n->maximum)) return 0;
  if ((k & BIT(PK__SK_XMIN)) && !(x > n->xmin)) return 0;
  if ((k & BIT(PK__SK_XMAX)) && !(x < n->xmax)) return 0;
  if ((k & BIT(PK__SK_MULTIPLE)) && !pk__smultiple_ok(x, n->multiple)) return 0;
  return 1;
}

/* enum on the scalar on top of the stack */
static int enum_ok(sd_t *d, const pk__snode *n) {
  lua_State *L = d->L;
  lua_rawgeti(L, d->env, n->enum_set);
  lua_pushvalue(L, -2);
  lua_rawget(L, -2);
  int ok = !lua_isnil(L, -1);
  lua_pop(L, 2);
  return ok;
}

static int value(sd_t *d, const pk__snode *n);

/* Whether the len bytes at a and b are the same. Names are short: compared here in words (two
 * that overlap for 4 to 16 bytes) rather than through a call to memcmp. */
static inline int same_bytes(const char *a, const char *b, size_t len) {
  if (len >= 8 && len <= 16) {
    uint64_t x, y, z, w;
    memcpy(&x, a, 8); memcpy(&y, b, 8); memcpy(&z, a + len - 8, 8); memcpy(&w, b + len - 8, 8);
    return x == y && z == w;
  }
  if (len >= 4 && len < 8) {
    uint32_t x, y, z, w;
    memcpy(&x, a, 4); memcpy(&y, b, 4); memcpy(&z, a + len - 4, 4); memcpy(&w, b + len - 4, 4);
    return x == y && z == w;
  }
  size_t k = 0;
  while (k < len && a[k] == b[k]) k++;
  return k == len;
}

/* The property named (s, len) in `properties`, or NULL. */
static const pk__sprop *find_prop(const pk__snode *n, const char *s, size_t len) {
  if (!n->dslot) return NULL;
  for (uint32_t i = name_hash(s, len) & n->dmask; n->dslot[i]; i = (i + 1) & n->dmask) {
    const pk__sprop *p = &n->props[n->dslot[i] - 1];
    if (p->len != len) continue;
    if (same_bytes(p->name, s, len)) return p;
  }
  return NULL;
}

/* Every required property is here, and none with a default is missing (the two-pass path writes
 * defaults; a property named only in `required` is never matched by find_prop, so it gives up too). */
static int object_end(const pk__snode *n, const uint64_t *seen) {
  uint64_t missing = 0;
  for (int w = 0; w < MAX_PROPS / 64; w++) missing |= n->must[w] & ~seen[w];
  return missing ? -1 : 0;
}

static __attribute__((noinline)) int object(sd_t *d, const pk__snode *n) {
  lua_State *L = d->L;
  if ((n->types && !(n->types & PK__ST_OBJECT)) || (n->checks & BIT(PK__SK_ENUM))) return -1;
  uint64_t seen[MAX_PROPS / 64] = {0};
  d->p++;
  skip_ws(d);
  if (d->p < d->end && *d->p == '}') {
    d->p++;
    lua_createtable(L, 0, n->nprops + (n->addl_mode == 2 ? 4 : 0));
    lua_pushvalue(L, d->object_mt);
    lua_setmetatable(L, -2);
    return object_end(n, seen);
  }
  /* with a constructor (schema_ctor.c): it and one stack slot per argument. While the values come
   * in the arguments' order (in_order: the first `filled` are there), each is pushed into its slot;
   * at the first that does not, the rest of the slots are made (nil) and each value is moved to
   * its slot as it comes. Without: the table, filled with lua_rawset. */
  int t = lua_gettop(L) + 1, args = t + 1, filled = 0, in_order = n->ctor != 0;
  if (!make_room(d, t - 1, (n->ctor ? 1 + n->nprops : 3) + 8)) return -1;
  if (n->ctor) {
    lua_rawgeti(L, d->env, n->ctor);
  } else {
    lua_createtable(L, 0, n->nprops + (n->addl_mode == 2 ? 4 : 0));
  }
  for (;;) {
    const char *k;
    size_t klen;
    if (d->p >= d->end || *d->p != '"') return -1;
    d->p++;
    if (scan_string(d, &k, &klen)) return -1;
    const pk__sprop *p = find_prop(n, k, klen);
    const pk__snode *sub;
    if (p) {
      size_t j = (size_t)(p - n->props);
      if (seen[j / 64] & (1ull << (j % 64))) return -1;          /* a key seen twice */
      seen[j / 64] |= 1ull << (j % 64);
      if (!n->ctor) lua_rawgeti(L, d->env, p->key);
      sub = p->schema;
    } else if (n->addl_mode == 2) {
      lua_pushlstring(L, k, klen);
      lua_pushvalue(L, -1);
      lua_rawget(L, t);
      if (!lua_isnil(L, -1)) return -1;                          /* a key seen twice */
      lua_pop(L, 1);
      sub = n->addl;
    } else {
      return -1;   /* not allowed (false), or any value (true): the two-pass path decides */
    }
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':') return -1;
    d->p++;
    if (in_order && p && p->arg != filled) {
      lua_settop(L, t + n->nprops);
      in_order = 0;
    }
    if (value(d, sub)) return -1;
    if (p && n->ctor) {
      if (in_order) filled++;                 /* pushed into its slot */
      else lua_replace(L, args + p->arg);
    } else {
      lua_rawset(L, t);
    }
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') { d->p++; skip_ws(d); continue; }
    if (d->p < d->end && *d->p == '}') { d->p++; break; }
    return -1;
  }
  if (object_end(n, seen)) return -1;
  if (n->ctor) {
    if (in_order && filled < n->nprops) lua_settop(L, t + n->nprops);   /* absent ones: nil */
    lua_call(L, n->nprops, 1);
  }
  return 0;
}

/* Moves the `pending` items on top of the stack into the table at t, as items from+1.. */
static void flush_items(lua_State *L, int t, int from, int pending) {
  for (int i = pending; i >= 1; i--) lua_rawseti(L, t, from + i);
}

static __attribute__((noinline)) int array(sd_t *d, const pk__snode *n) {
  lua_State *L = d->L;
  if ((n->types && !(n->types & PK__ST_ARRAY)) || (n->checks & BIT(PK__SK_ENUM))) return -1;
  int base = lua_gettop(L), t = 0, count = 0, flushed = 0;
  d->p++;
  skip_ws(d);
  if (d->p < d->end && *d->p == ']') {
    d->p++;
  } else {
    for (;;) {
      if (!make_room(d, base + (t != 0) + count - flushed, 8)) return -1;   /* the table, the pending items */
      if (value(d, n->items)) return -1;    /* no `items`: any value, which this decoder does not take */
      if (++count - flushed == CHUNK) {
        if (!t) {
          lua_createtable(L, 2 * CHUNK, 0);
          lua_insert(L, base + 1);
          t = base + 1;
        }
        flush_items(L, t, flushed, CHUNK);
        flushed = count;
      }
      skip_ws(d);
      if (d->p < d->end && *d->p == ',') { d->p++; continue; }
      if (d->p < d->end && *d->p == ']') { d->p++; break; }
      return -1;
    }
  }
  if (!t) {
    lua_createtable(L, count, 0);
    lua_insert(L, base + 1);
    t = base + 1;
  }
  flush_items(L, t, flushed, count - flushed);
  lua_pushvalue(L, d->array_mt);
  lua_setmetatable(L, t);
  unsigned k = n->checks;
  if ((k & BIT(PK__SK_MINITEMS)) && (size_t)count < n->min_items) return -1;
  if ((k & BIT(PK__SK_MAXITEMS)) && (size_t)count > n->max_items) return -1;
  return 0;
}

static int literal(sd_t *d, const char *word, size_t len) {
  if ((size_t)(d->end - d->p) < len || memcmp(d->p, word, len)) return -1;
  d->p += len;
  return 0;
}

/* Reads the value at d->p (after white space) as node n says, and pushes it. 0, or -1 to give up
 * (the stack is then left as it is: the caller resets it). */
static int value(sd_t *d, const pk__snode *n) {
  lua_State *L = d->L;
  if (!n || !n->direct) return -1;
  skip_ws(d);
  if (d->p >= d->end) return -1;
  unsigned kind;
  switch (*d->p) {
  case '{':
  case '[': {
    if (++d->depth > MAX_DEPTH) return -1;   /* the parent made room for a child's first pushes */
    int rc = *d->p == '{' ? object(d, n) : array(d, n);
    d->depth--;
    return rc;
  }
  case '"': {
    const char *s;
    size_t len;
    d->p++;
    if (scan_string(d, &s, &len)) return -1;
    if (n->types && !(n->types & PK__ST_STRING)) return -1;
    if (!string_ok(n, s, len)) return -1;
    if (n->estr) {   /* an enum: one of its strings (the one the environment holds), or not valid */
      for (int i = 0; i < n->nestr; i++)
        if (n->estr[i].len == len && same_bytes(n->estr[i].s, s, len)) {
          lua_rawgeti(L, d->env, n->estr[i].slot);
          return 0;
        }
      return -1;
    }
    lua_pushlstring(L, s, len);
    break;
  }
  case 't':
  case 'f': {
    int b = *d->p == 't';
    if (literal(d, b ? "true" : "false", b ? 4 : 5)) return -1;
    if (n->types && !(n->types & PK__ST_BOOLEAN)) return -1;
    lua_pushboolean(L, b);
    break;
  }
  case 'n':
    if (literal(d, "null", 4)) return -1;
    if (n->types && !(n->types & PK__ST_NULL)) return -1;
    lua_pushlightuserdata(L, NULL);
    break;
  default: {
    double x;
    if (pk__json_number(&d->p, d->end, &x) != PK__JNUM_OK) return -1;
    kind = PK__ST_NUMBER | (x == floor(x) ? PK__ST_INTEGER : 0);
    if (n->types && !(n->types & kind)) return -1;
    if (!number_ok(n, x)) return -1;
    lua_pushnumber(L, x);
    break;
  }
  }
  return (n->checks & BIT(PK__SK_ENUM)) && !enum_ok(d, n) ? -1 : 0;
}

int pk__schema_decode(lua_State *L, const pk__svalidator *v, int env, int array_mt, int object_mt,
                      const char *s, size_t len) {
  const pk__snode *root = v->root;
  if (!root || !root->direct) return 0;
  int top = lua_gettop(L);
  sd_t d = {.L = L, .env = env, .array_mt = array_mt, .object_mt = object_mt,
            .p = (const unsigned char *)s, .end = (const unsigned char *)s + len};
  skip_ws(&d);
  if (d.p >= d.end || *d.p != '{') return 0;   /* the root must be an object: data is its table */
  if (!lua_checkstack(L, ROOT_ROOM)) return 0;
  d.room = top + ROOT_ROOM;
  if (value(&d, root) == 0) {
    skip_ws(&d);
    if (d.p == d.end) return 1;
  }
  lua_settop(L, top);
  return 0;
}
