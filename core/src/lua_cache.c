/* lua_cache.c: a process's cache of pikku's own Lua modules as bytecode, so a reload re-reads only the app.
 *
 * A reload builds a new Lua state, which requires pikku's runtime again: some 40 files, half a
 * megabyte of Lua that LuaJIT would parse again for every reload in the master and in every worker
 * (about 5 ms each). Their bytecode (string.dump's, with its debug information, so tracebacks are
 * the same) is kept per process, keyed by path, size and modification time; a changed file is
 * parsed again. Only pikku's folder is cached: the app's own modules are read fresh every time. */
#include "lua_cache.h"
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "buf.h"

typedef struct entry {
  char *path;
  long long mtime_ns, size;
  pk__buf code;
  struct entry *next;
} entry;

static entry *cache;

static entry *find(const char *path) {
  for (entry *e = cache; e; e = e->next)
    if (!strcmp(e->path, path)) return e;
  return NULL;
}

static int writer(lua_State *L, const void *p, size_t n, void *ud) {
  (void)L;
  return pk__buf_append((pk__buf *)ud, p, n);
}

/* Loads path (source, or the cached bytecode) onto the stack. 0, or a Lua status with a message. */
static int load(lua_State *L, const char *path, const struct stat *st) {
  long long mtime = (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
  char chunk[PATH_MAX + 2];
  snprintf(chunk, sizeof chunk, "@%s", path);
  entry *e = find(path);
  if (e && e->mtime_ns == mtime && e->size == (long long)st->st_size)
    return luaL_loadbuffer(L, e->code.data, e->code.len, chunk);
  int rc = luaL_loadfile(L, path);
  if (rc) return rc;
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e || !(e->path = strdup(path))) { free(e); return 0; }   /* no cache: still loaded */
    pk__buf_init(&e->code);
    e->next = cache;
    cache = e;
  }
  pk__buf_reset(&e->code);
  e->mtime_ns = mtime;
  e->size = (long long)st->st_size;
  if (lua_dump(L, writer, &e->code)) e->size = -1;   /* (a failed dump is never matched) */
  return 0;
}

/* The searcher: upvalues app_dir, lua_dir. Returns the loader, a message, or raises a syntax error. */
static int searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (strcmp(name, "pikku") && strncmp(name, "pikku.", 6)) return 0;
  const char *app_dir = lua_tostring(L, lua_upvalueindex(1));
  const char *lua_dir = lua_tostring(L, lua_upvalueindex(2));
  char rel[PATH_MAX];
  if (snprintf(rel, sizeof rel, "%s", name) >= (int)sizeof rel) return 0;
  for (char *p = rel; *p; p++) if (*p == '.') *p = '/';
  static const char *const forms[] = {"%s/%s.lua", "%s/%s/init.lua"};
  for (int i = 0; i < 2; i++) {
    char path[PATH_MAX];
    struct stat st;
    /* the app folder comes first in package.path: a module it holds is its own business */
    if (snprintf(path, sizeof path, forms[i], app_dir, rel) < (int)sizeof path && !stat(path, &st)) return 0;
    if (snprintf(path, sizeof path, forms[i], lua_dir, rel) >= (int)sizeof path || stat(path, &st)) continue;
    if (load(L, path, &st)) return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, path,
                                              lua_tostring(L, -1));
    return 1;
  }
  return 0;
}

void pk__lua_cache_install(lua_State *L, const char *app_dir, const char *lua_dir) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaders");
  int n = (int)lua_objlen(L, -1);
  for (int i = n; i >= 2; i--) {        /* make room at 2: after package.preload */
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushstring(L, app_dir);
  lua_pushstring(L, lua_dir);
  lua_pushcclosure(L, searcher, 2);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}
