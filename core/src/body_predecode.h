/* body_predecode.h: a JSON body decoded and validated against its route's input schema before the runtime is entered. */
#ifndef PK_BODY_PREDECODE_H
#define PK_BODY_PREDECODE_H
#include <lua.h>
#include <stddef.h>

/* Whether a Content-Type value (as the runtime reads it: repeated headers joined) is the one the
 * runtime decodes with the one pass, application/json (any case, any parameters). */
int pk__predecode_is_json(const char *ct, size_t n);
/* Pushes the entry the host calls in a protected call as (validator, handle, index, method, path,
 * body): it decodes body against the validator and calls the runtime's dispatch_decoded (at stack
 * index dispatch_decoded) with the table, or false. 1, or 0 with nothing pushed when pikku.json_c
 * has not set its markers. */
int pk__predecode_entry(lua_State *L, int dispatch_decoded);
/* Whether the table at t maps route indices to schema validators, or false, only (checked once,
 * when the app loads: the entry then takes them as they are). */
int pk__predecode_check_table(lua_State *L, int t);
#endif
