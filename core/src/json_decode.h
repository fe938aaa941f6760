/* json_decode.h: the JSON decoder behind pikku.json.decode. */
#ifndef PK_JSON_DECODE_H
#define PK_JSON_DECODE_H
#include <lua.h>
#include <stddef.h>

/* Decodes the n bytes at s and pushes the value (objects and arrays as tables, null as a NULL
 * light userdata; arrays get the metatable at stack index array_mt unless it is 0). Returns NULL,
 * or err filled with a message naming the byte offset (nothing pushed). */
const char *pk__json_decode(lua_State *L, const char *s, size_t n, int array_mt, char *err, size_t errlen);
#endif
