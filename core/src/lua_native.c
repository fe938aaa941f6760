/* lua_native.c: the pikku.native_c module: an app's libraries (loaded from fresh copies), their symbols, native function calls, and the searcher that finds the app's C modules. */
#include <dlfcn.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "host.h"
#include "lua_modules.h"
#include "native_func.h"
#include "native_load.h"

#define LIB_MT "pikku.native.lib"
#define LIBS_KEY "pikku.native.libs"   /* registry: name -> lib userdata, this state's loaded libraries */

typedef struct { void *handle; char name[128]; } lib;

static const char *app_dir_of(lua_State *L) {
  pk__host *h = pk__host_of(L);
  return h && h->opts && h->opts->app_dir ? h->opts->app_dir : ".";
}

static int lib_gc(lua_State *L) {
  lib *l = luaL_checkudata(L, 1, LIB_MT);
  if (l->handle) dlclose(l->handle);   /* the state closes: no call uses this copy any more */
  l->handle = NULL;
  return 0;
}

/* A library built for another major version of pikku.h, or a newer minor one, is refused. */
static const char *version_problem(void *handle, char *buf, size_t n) {
  const int *v = dlsym(handle, "pk_library_api_version");
  if (!v) return NULL;
  if (*v / 1000 == PK_API_MAJOR && *v % 1000 <= PK_API_MINOR) return NULL;
  snprintf(buf, n, "it was built against pikku.h API %d.%d and this host has %d.%d: rebuild it (pikku build)",
           *v / 1000, *v % 1000, PK_API_MAJOR, PK_API_MINOR);
  return buf;
}

/* Pushes this state's library `name`, loading it (a fresh copy) the first time; nil, err. */
static int push_lib(lua_State *L, const char *name) {
  lua_getfield(L, LUA_REGISTRYINDEX, LIBS_KEY);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LIBS_KEY);
  }
  lua_getfield(L, -1, name);
  if (!lua_isnil(L, -1)) { lua_remove(L, -2); return 1; }
  lua_pop(L, 1);
  char err[1024];
  void *h = pk__native_open(app_dir_of(L), name, err, sizeof err);
  if (!h) { lua_pop(L, 1); lua_pushnil(L); lua_pushstring(L, err); return 2; }
  char vbuf[256];
  const char *bad = version_problem(h, vbuf, sizeof vbuf);
  if (bad) {
    dlclose(h);
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_pushfstring(L, "native library \"%s\": %s", name, bad);
    return 2;
  }
  lib *l = lua_newuserdata(L, sizeof *l);
  l->handle = h;
  snprintf(l->name, sizeof l->name, "%s", name);
  luaL_getmetatable(L, LIB_MT);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  lua_remove(L, -2);
  return 1;
}

/* open(name) -> lib | nil, err */
static int l_open(lua_State *L) { return push_lib(L, luaL_checkstring(L, 1)); }

/* symbol(lib, name) -> the function's address (a light userdata) | nil, err */
static int l_symbol(lua_State *L) {
  lib *l = luaL_checkudata(L, 1, LIB_MT);
  const char *name = luaL_checkstring(L, 2);
  void *p = l->handle ? dlsym(l->handle, name) : NULL;
  if (!p) {
    lua_pushnil(L);
    lua_pushfstring(L, "native library \"%s\" has no symbol \"%s\" (exported functions only: not static)", l->name, name);
    return 2;
  }
  lua_pushlightuserdata(L, p);
  return 1;
}

/* call(fn, data, session, ctx) -> result, content_type: runs a native function (native_func.c) */
static int l_call(lua_State *L) {
  luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
  luaL_checktype(L, 4, LUA_TTABLE);
  pk_native_fn fn;
  void *p = lua_touserdata(L, 1);
  memcpy(&fn, &p, sizeof fn);
  return pk__native_call(L, fn, 2, 3, 4);
}

/* path(name) -> where the library is | nil, err */
static int l_path(lua_State *L) {
  char path[PATH_MAX], err[1024];
  if (pk__native_find(app_dir_of(L), luaL_checkstring(L, 1), path, sizeof path, err, sizeof err)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushstring(L, path);
  return 1;
}

/* copy(name) -> the path of a fresh copy of the library (for ffi.load), to forget once loaded | nil, err */
static int l_copy(lua_State *L) {
  char path[PATH_MAX], copy[PATH_MAX], err[1024];
  const char *dir = app_dir_of(L);
  if (pk__native_find(dir, luaL_checkstring(L, 1), path, sizeof path, err, sizeof err) ||
      pk__native_copy(dir, path, copy, sizeof copy, err, sizeof err)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushstring(L, copy);
  return 1;
}

static int l_forget(lua_State *L) {
  pk__native_forget(luaL_checkstring(L, 1));
  return 0;
}

/* The package.loaders entry for the app's C modules: require "name" finds
 * APP_DIR/.pikku/native/name.so or APP_DIR/name.so, whatever the working directory, and loads a
 * fresh copy (so a reload runs a rebuilt module). Returns the loader (luaopen_name), a message
 * saying where it looked, or an error for a library that does not open. */
static int l_searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  char path[PATH_MAX], err[1024];
  if (pk__native_find(app_dir_of(L), name, path, sizeof path, err, sizeof err)) {
    lua_pushfstring(L, "\n\tno file '%s/.pikku/native/%s.so' or '%s/%s.so' (the app's C modules)", app_dir_of(L),
                    name, app_dir_of(L), name);
    return 1;
  }
  if (push_lib(L, name) == 2) return luaL_error(L, "error loading module '%s': %s", name, lua_tostring(L, -1));
  lib *l = lua_touserdata(L, -1);
  char sym[256];
  const char *dot = strrchr(name, '.');
  snprintf(sym, sizeof sym, "luaopen_%s", dot ? dot + 1 : name);
  for (char *q = sym; *q; q++) if (*q == '-') *q = '_';
  void *p = dlsym(l->handle, sym);
  if (!p) return luaL_error(L, "error loading module '%s' from %s: it has no %s function", name, path, sym);
  lua_CFunction f;
  memcpy(&f, &p, sizeof f);
  lua_pushcfunction(L, f);
  return 1;
}

int luaopen_pikku_native_c(lua_State *L) {
  luaL_newmetatable(L, LIB_MT);
  lua_pushcfunction(L, lib_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"open", l_open}, {"symbol", l_symbol}, {"call", l_call}, {"path", l_path}, {"copy", l_copy},
    {"forget", l_forget}, {"searcher", l_searcher}, {NULL, NULL},
  };
  lua_newtable(L);
  luaL_register(L, NULL, fns);
  return 1;
}
