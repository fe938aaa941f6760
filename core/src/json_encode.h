/* json_encode.h: the JSON encoder behind pikku.json.encode, for C callers that write the text themselves. */
#ifndef PK_JSON_ENCODE_H
#define PK_JSON_ENCODE_H
#include <lua.h>
#include "buf.h"
#include "json_scan.h"

/* Appends the JSON text of the value at stack index idx to out (arrays: tables with the metatable
 * at stack index array_mt, or keys 1..n). Returns 0, or -1 with *err saying why the value cannot
 * be encoded (out keeps what was written before). Runs no Lua code and makes no Lua object. */
int pk__json_encode(lua_State *L, int idx, int array_mt, pk__buf *out, const char **err);

/* The same through the public Lua API only (pk__json_encode reads tables through lj_view.h when it
 * can, and this way when it cannot): for tests that compare the two. */
int pk__json_encode_public(lua_State *L, int idx, int array_mt, pk__buf *out, const char **err);

/* The encoder's parts shared by both ways. */

/* Appends a finite number as JSON writes it (integers below 2^53 without a point; otherwise the
 * shortest of 15, 16 or 17 significant digits that reads back as d). */
int pk__json_put_number(pk__buf *b, double d);

/* Appends a string literal: a short string with nothing to escape (keys, most values) inline. */
static inline __attribute__((always_inline)) int pk__json_put_string(pk__buf *b, const char *s, size_t n) {
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

/* Appends the JSON text of the value at stack index idx read through lj_view.h, and returns 0,
 * when it is a table that holds only what the common case does (strings, finite numbers, booleans,
 * and tables that are plain objects with string keys or arrays 1..n in the array part, nested less
 * than the limit) and the views are usable in this process. Returns 1 otherwise, with out as it
 * was: pk__json_encode then takes the public way, which decides. */
int pk__json_encode_view(lua_State *L, int idx, int array_mt, pk__buf *out);

#endif
