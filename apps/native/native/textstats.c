/* textstats.c: a Lua C module of the native app (require "textstats"): counts words and lines, and logs through pikku.h. */
#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <pikku.h>

/* textstats.count(s) -> { words = n, lines = n, bytes = n } */
static int count(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  long words = 0, lines = len > 0;
  int in_word = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '\n') lines++;
    if (isspace(ch)) in_word = 0;
    else if (!in_word) { in_word = 1; words++; }
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, words);
  lua_setfield(L, -2, "words");
  lua_pushinteger(L, lines);
  lua_setfield(L, -2, "lines");
  lua_pushinteger(L, (lua_Integer)len);
  lua_setfield(L, -2, "bytes");
  return 1;
}

/* textstats.version() -> the host's version, through pikku.h */
static int version(lua_State *L) {
  lua_pushstring(L, pk_version());
  return 1;
}

int luaopen_textstats(lua_State *L) {
  static const luaL_Reg fns[] = {{"count", count}, {"version", version}, {NULL, NULL}};
  lua_newtable(L);
  luaL_register(L, NULL, fns);
  lua_pushstring(L, "1");
  lua_setfield(L, -2, "generation");   /* the reload test changes this and rebuilds */
  return 1;
}
