/* json_decode.c: a strict RFC 8259 JSON decoder into Lua values (arrays and empty objects marked, null as cjson.null). */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "json_decode.h"
#include "utf8.h"

typedef struct {
  lua_State *L;
  const unsigned char *s, *p, *end;
  int array_mt;          /* stack index of the array marker, or 0 for none */
  int object_mt;         /* stack index of the empty-object marker, or 0 for none */
  int depth;
  pk__buf tmp;           /* unescaped strings */
  char err[160];
} dec;

static int fail(dec *d, const char *what) {
  if (d->p >= d->end) snprintf(d->err, sizeof d->err, "%s at the end of the input", what);
  else snprintf(d->err, sizeof d->err, "%s at byte %zu", what, (size_t)(d->p - d->s) + 1);
  return -1;
}

/* A repeated name in an object: the message names it (at most 40 bytes of it, cut at a UTF-8
 * character boundary) and where its second occurrence starts. */
static int duplicate(dec *d, const char *key) {
  size_t n = strlen(key), cut = n > 40 ? 40 : n;
  while (cut < n && cut > 0 && ((unsigned char)key[cut] & 0xC0) == 0x80) cut--;
  snprintf(d->err, sizeof d->err, "duplicate key \"%.*s\"%s in an object at byte %zu", (int)cut, key,
           cut < n ? "..." : "", (size_t)(d->p - d->s) + 1);
  return -1;
}

static inline void skip_ws(dec *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t')) d->p++;
}

static int value(dec *d);

static int hex4(const unsigned char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i], x;
    if (c >= '0' && c <= '9') x = c - '0';
    else if (c >= 'a' && c <= 'f') x = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') x = c - 'A' + 10;
    else return -1;
    v = v << 4 | x;
  }
  *out = v;
  return 0;
}

/* Skips the bytes of a string that need no work (not a quote, backslash or control character;
 * non-ASCII bytes must be well-formed UTF-8, RFC 8259 section 8.1). Returns where it stopped, or
 * NULL at a malformed UTF-8 sequence (d->p is set to it). */
static const unsigned char *plain_run(dec *d, const unsigned char *p) {
  const unsigned char *end = d->end;
  for (;;) {
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80) p++;
    if (p >= end || *p < 0x80) return p;
    size_t n = pk__utf8_seq(p, (size_t)(end - p));
    if (!n) { d->p = p; return NULL; }
    p += n;
  }
}

/* A string at d->p (just after the opening quote), pushed onto the stack. Strings without escapes
 * are pushed straight from the input. */
static int string(dec *d) {
  const unsigned char *start = d->p, *p = plain_run(d, d->p), *end = d->end;
  if (!p) return fail(d, "invalid UTF-8 in a string");
  if (p < end && *p == '"') {
    lua_pushlstring(d->L, (const char *)start, (size_t)(p - start));
    d->p = p + 1;
    return 0;
  }
  pk__buf_reset(&d->tmp);
  if (pk__buf_append(&d->tmp, start, (size_t)(p - start))) return fail(d, "out of memory");
  for (;;) {
    const unsigned char *run = p;
    p = plain_run(d, p);
    if (!p) return fail(d, "invalid UTF-8 in a string");
    if (pk__buf_append(&d->tmp, run, (size_t)(p - run))) return fail(d, "out of memory");
    d->p = p;
    if (p >= end) return fail(d, "unterminated string");
    if (*p == '"') break;
    if (*p < 0x20) return fail(d, "control character in a string (escape it)");
    if (p + 1 >= end) { d->p = end; return fail(d, "unterminated string"); }
    char c;
    switch (p[1]) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u': {
      unsigned cp, lo;
      if (end - p < 6 || hex4(p + 2, &cp)) return fail(d, "bad \\u escape");
      p += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
          d->p = p;
          return fail(d, "lone UTF-16 surrogate in a \\u escape");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail(d, "lone UTF-16 surrogate in a \\u escape");
      }
      char u[4];
      if (pk__buf_append(&d->tmp, u, (size_t)pk__utf8_encode(cp, u))) return fail(d, "out of memory");
      continue;
    }
    default: return fail(d, "bad escape in a string");
    }
    if (pk__buf_append(&d->tmp, &c, 1)) return fail(d, "out of memory");
    p += 2;
  }
  lua_pushlstring(d->L, d->tmp.data ? d->tmp.data : "", d->tmp.len);
  d->p = p + 1;
  return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(dec *d) {
  const unsigned char *p = d->p, *end = d->end, *start = p;
  int neg = 0;
  if (p < end && *p == '-') { neg = 1; p++; }
  if (p >= end || *p < '0' || *p > '9') return fail(d, "bad number");
  double ival = 0;
  int digits = 0;
  if (*p == '0') { p++; digits = 1; }
  else while (p < end && *p >= '0' && *p <= '9') { ival = ival * 10 + (*p - '0'); p++; digits++; }
  int simple = 1;
  if (p < end && *p == '.') {
    simple = 0;
    p++;
    if (p >= end || *p < '0' || *p > '9') { d->p = p; return fail(d, "bad number (a digit must follow '.')"); }
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    simple = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || *p < '0' || *p > '9') { d->p = p; return fail(d, "bad number (a digit must follow the exponent)"); }
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  double v;
  if (simple && digits <= 15) v = neg ? -ival : ival;     /* exact in a double */
  else {
    char tmp[64], *heap = NULL, *buf = tmp;
    size_t n = (size_t)(p - start);
    if (n >= sizeof tmp) {
      heap = malloc(n + 1);
      if (!heap) return fail(d, "out of memory");
      buf = heap;
    }
    memcpy(buf, start, n);
    buf[n] = '\0';
    v = strtod(buf, NULL);
    free(heap);
    if (isinf(v)) return fail(d, "number out of range");
  }
  lua_pushnumber(d->L, v);
  d->p = p;
  return 0;
}

static int literal(dec *d, const char *word, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n)) return fail(d, "unexpected character");
  d->p += n;
  return 0;
}

static int array(dec *d) {
  lua_State *L = d->L;
  lua_createtable(L, 4, 0);
  if (d->array_mt) {
    lua_pushvalue(L, d->array_mt);
    lua_setmetatable(L, -2);
  }
  skip_ws(d);
  if (d->p < d->end && *d->p == ']') { d->p++; return 0; }
  for (int i = 1;; i++) {
    if (value(d)) return -1;
    lua_rawseti(L, -2, i);
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == ']') { d->p++; return 0; }
    return fail(d, "expected ',' or ']'");
  }
}

static int object(dec *d) {
  lua_State *L = d->L;
  lua_createtable(L, 0, 4);
  skip_ws(d);
  if (d->p < d->end && *d->p == '}') {
    d->p++;
    if (d->object_mt) {
      lua_pushvalue(L, d->object_mt);
      lua_setmetatable(L, -2);
    }
    return 0;
  }
  for (;;) {
    skip_ws(d);
    if (d->p >= d->end || *d->p != '"') return fail(d, "expected a string key");
    const unsigned char *key_at = d->p;
    d->p++;
    if (string(d)) return -1;
    /* RFC 8259 section 4 says names SHOULD be unique; a second value would silently replace the
     * first (and a validator would see only one), so a repeated name is refused, by name */
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (!lua_isnil(L, -1)) { d->p = key_at; return duplicate(d, lua_tostring(L, -2)); }
    lua_pop(L, 1);
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':') return fail(d, "expected ':'");
    d->p++;
    if (value(d)) return -1;
    lua_rawset(L, -3);
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == '}') { d->p++; return 0; }
    return fail(d, "expected ',' or '}'");
  }
}

static int value(dec *d) {
  skip_ws(d);
  if (d->p >= d->end) return fail(d, "expected a value");
  switch (*d->p) {
  case '{':
  case '[': {
    if (++d->depth > PK__JSON_DECODE_DEPTH) return fail(d, "nested too deeply");
    if (!lua_checkstack(d->L, 4)) return fail(d, "out of Lua stack");
    int open = *d->p++;
    int rc = open == '{' ? object(d) : array(d);
    d->depth--;
    return rc;
  }
  case '"': d->p++; return string(d);
  case 't': if (literal(d, "true", 4)) return -1; lua_pushboolean(d->L, 1); return 0;
  case 'f': if (literal(d, "false", 5)) return -1; lua_pushboolean(d->L, 0); return 0;
  case 'n': if (literal(d, "null", 4)) return -1; lua_pushlightuserdata(d->L, NULL); return 0;
  default:
    if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9')) return number(d);
    return fail(d, "unexpected character");
  }
}

const char *pk__json_decode(lua_State *L, const char *s, size_t n, int array_mt, int object_mt, char *err,
                            size_t errlen) {
  dec d = { .L = L, .s = (const unsigned char *)s, .p = (const unsigned char *)s,
            .end = (const unsigned char *)s + n, .array_mt = array_mt, .object_mt = object_mt, .depth = 0 };
  pk__buf_init(&d.tmp);
  int top = lua_gettop(L);
  int rc = value(&d);
  if (rc == 0) {
    skip_ws(&d);
    if (d.p < d.end) rc = fail(&d, "unexpected data after the JSON value");
  }
  pk__buf_free(&d.tmp);
  if (rc == 0) return NULL;
  lua_settop(L, top);
  snprintf(err, errlen, "%s", d.err);
  return err;
}
