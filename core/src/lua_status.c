/* lua_status.c: the pikku.status_c module: the core's status table (http_response.c) for pikku.errors. */
#include <lauxlib.h>
#include "http_response.h"
#include "lua_modules.h"

/* Pushes a status's default message: its own, else its reason phrase in sentence case ("Not
 * Found" -> "Not found"; words in capitals such as URI and HTTP stay as they are). */
static void push_message(lua_State *L, const pk__status_info *s) {
  if (s->message) { lua_pushstring(L, s->message); return; }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int word_start = 1, word_upper = 0;
  for (const char *p = s->reason; *p; p++) {
    if (*p == ' ') word_start = 1;
    else if (word_start) {   /* is the word all capitals? (the first word keeps its case anyway) */
      word_upper = 1;
      for (const char *q = p; *q && *q != ' '; q++) if (*q >= 'a' && *q <= 'z') word_upper = 0;
      word_start = 0;
    }
    char ch = *p;
    if (p != s->reason && !word_upper && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
    luaL_addchar(&b, ch);
  }
  luaL_pushresult(&b);
}

/* errors: { {status = 400, name = "BadRequest", message = "Bad request"}, ... } in status order,
 * one per error status of the table. */
int luaopen_pikku_status_c(lua_State *L) {
  size_t n;
  const pk__status_info *t = pk__status_table(&n);
  lua_createtable(L, 0, 1);
  lua_newtable(L);
  int k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!t[i].name) continue;
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, t[i].code);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, t[i].name);
    lua_setfield(L, -2, "name");
    push_message(L, &t[i]);
    lua_setfield(L, -2, "message");
    lua_rawseti(L, -2, ++k);
  }
  lua_setfield(L, -2, "errors");
  return 1;
}
