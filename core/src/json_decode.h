/* json_decode.h: the JSON decoder behind pikku.json.decode. */
#ifndef PK_JSON_DECODE_H
#define PK_JSON_DECODE_H
#include <lua.h>
#include <stddef.h>

/* Registry keys of the markers that pikku.json_c puts on decoded arrays and empty objects. */
#define PK_JSON_ARRAY_MT "pikku.json.array_mt"
#define PK_JSON_OBJECT_MT "pikku.json.object_mt"

/* How deep the decoder nests arrays and objects; the encoder takes twice as deep, so a body the
 * decoder accepted can always be answered, even wrapped in as many levels again. */
#define PK__JSON_DECODE_DEPTH 1000
#define PK__JSON_ENCODE_DEPTH (2 * PK__JSON_DECODE_DEPTH)

/* Decodes the n bytes at s and pushes the value (objects and arrays as tables, null as a NULL
 * light userdata). Arrays get the metatable at stack index array_mt and empty objects the one at
 * object_mt (0 = none), so that [] and {} stay apart. Returns NULL, or err filled with a message
 * naming the byte offset (nothing pushed). */
const char *pk__json_decode(lua_State *L, const char *s, size_t n, int array_mt, int object_mt, char *err,
                            size_t errlen);
#endif
