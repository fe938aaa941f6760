/* lua_stream.c: the pikku.stream_c module: streamed responses and files as answers, for wire.http:stream and :send_file. */
#define _GNU_SOURCE   /* O_PATH */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "http_file.h"
#include "http_stream.h"
#include "lua_modules.h"
#include "mime.h"
#include "static_files.h"
#include "worker.h"

static const char *opt_lstring(lua_State *L, int i, size_t *len) {
  if (lua_isnoneornil(L, i)) { *len = 0; return NULL; }
  return luaL_checklstring(L, i, len);
}

/* begin(handle, status, content_type, extra_lines?) -> true | nil (the request is gone) */
static int l_begin(lua_State *L) {
  double handle = luaL_checknumber(L, 1);
  int status = (int)luaL_checkinteger(L, 2);
  size_t ctlen, elen;
  const char *ct = luaL_checklstring(L, 3, &ctlen);
  const char *extra = opt_lstring(L, 4, &elen);
  int rc = pk__stream_begin(handle, status, ct, ctlen, extra, elen);
  if (rc == -EINVAL) return luaL_error(L, "wire.http:stream: status %d has no body", status);
  if (rc == -ENOMEM) return luaL_error(L, "out of memory");
  lua_pushboolean(L, rc == 0);
  return 1;
}

/* write(handle, data) -> true | "wait" (the writer should wait) | nil (the stream is gone) */
static int l_write(lua_State *L) {
  double handle = luaL_checknumber(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int rc = pk__stream_write(handle, data, len);
  if (rc < 0) lua_pushnil(L);
  else if (rc) lua_pushliteral(L, "wait");
  else lua_pushboolean(L, 1);
  return 1;
}

/* wait(handle, token) -> true (the core resumes token when drained) | false (no need) | nil (gone) */
static int l_wait(lua_State *L) {
  int rc = pk__stream_wait(luaL_checknumber(L, 1), luaL_checknumber(L, 2));
  if (rc < 0) lua_pushnil(L); else lua_pushboolean(L, rc);
  return 1;
}

static int l_unwait(lua_State *L) {
  pk__stream_unwait(luaL_checknumber(L, 1));
  return 0;
}

/* finish(handle, abort?) -> true | nil */
static int l_finish(lua_State *L) {
  int rc = pk__stream_end(luaL_checknumber(L, 1), lua_toboolean(L, 2));
  if (rc) lua_pushnil(L); else lua_pushboolean(L, 1);
  return 1;
}

/* send_file(handle, path, dir?, content_type?, extra_lines?) -> status | nil, errno, message: the
 * request is answered with the file (path beneath dir when dir is given: never above it); errno 0:
 * the request is gone. */
static int l_send_file(lua_State *L) {
  double handle = luaL_checknumber(L, 1);
  const char *path = luaL_checkstring(L, 2);
  const char *dir = luaL_optstring(L, 3, NULL);
  size_t ctlen, elen;
  const char *ct = opt_lstring(L, 4, &ctlen);
  const char *extra = opt_lstring(L, 5, &elen);
  pk__conn *c = pk__conn_of_request(handle);
  if (!c || c->stream) { lua_pushnil(L); lua_pushinteger(L, 0); lua_pushliteral(L, "the request is gone"); return 3; }
  int fd;
  if (dir) {
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) fd = -errno;
    else {
      while (*path == '/') path++;
      fd = pk__open_beneath(dfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
      close(dfd);
    }
  } else {
    fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fd = -errno;
  }
  struct stat st;
  if (fd >= 0 && fstat(fd, &st)) { int e = errno; close(fd); fd = -e; }
  if (fd >= 0 && !S_ISREG(st.st_mode)) { close(fd); fd = S_ISDIR(st.st_mode) ? -EISDIR : -ENOENT; }
  if (fd < 0) {
    lua_pushnil(L);
    lua_pushinteger(L, -fd);
    lua_pushstring(L, strerror(-fd));
    return 3;
  }
  char type[128];
  if (ct) snprintf(type, sizeof type, "%.*s", (int)ctlen, ct);
  else snprintf(type, sizeof type, "%s", pk__mime_type(path, strlen(path)));
  c->req_handle = 0;
  int status = pk__file_answer(c, fd, &st, type, extra, elen);
  pk__conn_request_done(c, status, NULL, 0, 1);
  lua_pushinteger(L, status);
  return 1;
}

int luaopen_pikku_stream_c(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"begin", l_begin}, {"write", l_write}, {"wait", l_wait}, {"unwait", l_unwait}, {"finish", l_finish},
    {"send_file", l_send_file}, {NULL, NULL},
  };
  lua_newtable(L);
  luaL_register(L, NULL, fns);
  lua_pushinteger(L, PK__STREAM_HIGH_WATER);
  lua_setfield(L, -2, "HIGH_WATER");
  return 1;
}
