/* lua_serve.c: the pikku.serve_c module: what the core keeps of a route beyond its kind (static directories, body limits), and the path rule for in-process requests. */
#define _GNU_SOURCE   /* O_PATH */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "http_conn.h"
#include "lua_modules.h"
#include "mime.h"
#include "path_normalize.h"
#include "route_settings.h"
#include "static_files.h"

static pk__route_settings *settings(lua_State *L, int index) {
  pk__route_settings *s = pk__route_settings_get(pk__host_upvalue(L), index);
  if (!s) luaL_error(L, "out of memory");
  return s;
}

/* route(index, { max_body = bytes?, raw_body = bool?, label = "GET /x"? }) */
static int l_route(lua_State *L) {
  pk__host *h = pk__host_upvalue(L);
  int index = (int)luaL_checkinteger(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  pk__route_settings *s = settings(L, index);
  lua_getfield(L, 2, "max_body");
  if (lua_isnumber(L, -1) && lua_tonumber(L, -1) > 0) {
    s->max_body = (uint64_t)lua_tonumber(L, -1);
    h->body_limits = 1;
  }
  lua_getfield(L, 2, "raw_body");
  s->raw_body = lua_toboolean(L, -1);
  lua_getfield(L, 2, "label");
  if (lua_isstring(L, -1)) {
    free(s->label);
    s->label = strdup(lua_tostring(L, -1));
  }
  lua_pop(L, 3);
  return 0;
}

static int opt_bool(lua_State *L, int t, const char *k, int def) {
  lua_getfield(L, t, k);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* static_route(index, dir, { index = "index.html"?, max_age = s?, immutable?, spa?, precompressed?,
 * dotfiles? }) -> true | nil, message */
static int l_static_route(lua_State *L) {
  int index = (int)luaL_checkinteger(L, 1);
  const char *dir = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  char err[512];
  pk__static_dir *d = pk__static_dir_new(dir, err, sizeof err);
  if (!d) { lua_pushnil(L); lua_pushstring(L, err); return 2; }
  lua_getfield(L, 3, "index");
  if (lua_isstring(L, -1)) d->index = strdup(lua_tostring(L, -1));
  lua_getfield(L, 3, "max_age");
  if (lua_isnumber(L, -1)) d->max_age = (long)lua_tonumber(L, -1);
  lua_pop(L, 2);
  d->immutable = opt_bool(L, 3, "immutable", 0);
  d->spa = opt_bool(L, 3, "spa", 0);
  d->precompressed = opt_bool(L, 3, "precompressed", 1);
  d->dotfiles = opt_bool(L, 3, "dotfiles", 0);
  pk__route_settings *s = pk__route_settings_get(pk__host_upvalue(L), index);
  if (!s) { pk__static_dir_free(d); return luaL_error(L, "out of memory"); }
  pk__static_dir_free(s->dir);
  s->dir = d;
  lua_pushboolean(L, 1);
  return 1;
}

/* normalize_path(path) -> path (dot segments removed) | nil, why (what the core answers 400 to) */
static int l_normalize_path(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  pk__buf scratch;
  pk__buf_init(&scratch);
  const char *out;
  size_t olen;
  const char *why = pk__path_normalize(p, n, &scratch, &out, &olen);
  if (why) lua_pushnil(L), lua_pushstring(L, why);
  else if (out == p) lua_pushvalue(L, 1);
  else lua_pushlstring(L, out, olen);
  pk__buf_free(&scratch);
  return why ? 2 : 1;
}

/* Pushes the bytes of the open file fd (then closed) and the media type of its name; returns 2. */
static int push_file(lua_State *L, int fd, const char *name) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char chunk[LUAL_BUFFERSIZE];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0) luaL_addlstring(&b, chunk, (size_t)got);
  close(fd);
  luaL_pushresult(&b);
  lua_pushstring(L, pk__mime_type(name, strlen(name)));
  return 2;
}

/* static_file(index, raw_param) -> bytes, content_type | nil: a static route's file for an
 * in-process request (pikku test): found as a real request finds it, without ranges or validators */
static int l_static_file(lua_State *L) {
  pk__route_settings *s = pk__route_settings_of(pk__host_upvalue(L), (int)luaL_checkinteger(L, 1));
  size_t n;
  const char *raw = luaL_checklstring(L, 2, &n);
  if (!s || !s->dir) return 0;
  char rel[4352];
  long rn = pk__path_decode(raw, n, rel, 4096);
  if (rn < 0) return 0;
  if ((rn == 0 || rel[rn - 1] == '/') && s->dir->index) snprintf(rel + rn, sizeof rel - (size_t)rn, "%s", s->dir->index);
  int fd = pk__open_beneath(s->dir->fd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  struct stat st;
  if (fd < 0) return 0;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) { close(fd); return 0; }
  return push_file(L, fd, rel);
}

/* read_file(path, dir?) -> bytes, content_type | nil, errno, message: a file for wire.http:send_file
 * of an in-process request, found by the rule a real one uses (beneath dir when given) */
static int l_read_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *dir = luaL_optstring(L, 2, NULL);
  int fd;
  if (dir) {
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    const char *rel = path;
    while (*rel == '/') rel++;
    fd = dfd < 0 ? -errno : pk__open_beneath(dfd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (dfd >= 0) close(dfd);
  } else {
    fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fd = -errno;
  }
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) { close(fd); fd = -ENOENT; }
  if (fd < 0) { lua_pushnil(L); lua_pushinteger(L, -fd); lua_pushstring(L, strerror(-fd)); return 3; }
  return push_file(L, fd, path);
}

/* uploads(handle) -> true when the request's multipart/form-data body was parsed by the core */
static int l_uploads(lua_State *L) {
  lua_pushboolean(L, lua_type(L, 1) == LUA_TNUMBER && pk__conn_has_uploads(lua_tonumber(L, 1)));
  return 1;
}

int luaopen_pikku_serve_c(lua_State *L) {
  pk__host *h = pk__host_of(L);
  if (!h) return luaL_error(L, "pikku.serve_c: only inside the pikku host");
  static const luaL_Reg fns[] = {
    {"route", l_route}, {"static_route", l_static_route}, {"normalize_path", l_normalize_path},
    {"static_file", l_static_file}, {"read_file", l_read_file}, {"uploads", l_uploads},
    {NULL, NULL},
  };
  lua_newtable(L);
  lua_pushlightuserdata(L, h);   /* every function's upvalue: the host */
  luaL_setfuncs(L, fns, 1);
  return 1;
}
