/* json_encode.h: the JSON encoder behind pikku.json.encode, for C callers that write the text themselves. */
#ifndef PK_JSON_ENCODE_H
#define PK_JSON_ENCODE_H
#include <lua.h>
#include "buf.h"

/* Appends the JSON text of the value at stack index idx to out (arrays: tables with the metatable
 * at stack index array_mt, or keys 1..n). Returns 0, or -1 with *err saying why the value cannot
 * be encoded (out keeps what was written before). Runs no Lua code and makes no Lua object. */
int pk__json_encode(lua_State *L, int idx, int array_mt, pk__buf *out, const char **err);
#endif
