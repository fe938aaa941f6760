/* schema.c: JSON Schema validation in C (placeholder until the validator lands). */
#include <lua.h>

/* Puts the `pikku.schema_c` C module in package.preload of L. */
void pk__schema_open(lua_State *L) { (void)L; }
