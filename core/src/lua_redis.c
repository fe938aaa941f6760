/* lua_redis.c: the pikku.redis_c module: one Redis connection per object on hiredis's async API, on the loop through redis_uv.c. */
#include "lua_modules.h"
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <lauxlib.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "outbound.h"
#include "redis_uv.h"

#define CONN_MT "pikku.redis.conn"
#define MAX_ARGS 4096

/* A connection. Only one operation (connect, a command, or a pipeline) is in flight at a time: the
 * Lua pool hands a connection to one call at a time. Freed when the userdata, the timer and the
 * name resolution have all let go of it (refs). */
typedef struct rconn {
  redisAsyncContext *ac;    /* NULL once disconnected */
  pk__host *h;
  uv_loop_t *loop;
  uv_timer_t timer;         /* the operation's time limit */
  uv_getaddrinfo_t gai;
  double token;             /* the call waiting on the operation */
  int busy;                 /* an operation is in flight (the host is pinned) */
  int expect, got;          /* replies of the operation (a pipeline: several) */
  int results_ref;          /* the pipeline's results table */
  int port;
  int refs;                 /* userdata + timer + resolution in flight */
  int connected;
  char err[200];
} rconn;

static void conn_release(rconn *c) {
  if (--c->refs == 0) free(c);
}

static void timer_closed(uv_handle_t *t) { conn_release(t->data); }

/* Ends the operation: the host's pin goes; returns the host to resume (or NULL if none was in flight). */
static pk__host *op_end(rconn *c) {
  if (!c->busy) return NULL;
  c->busy = 0;
  uv_timer_stop(&c->timer);
  if (c->results_ref != LUA_NOREF) {
    luaL_unref(c->h->L, LUA_REGISTRYINDEX, c->results_ref);
    c->results_ref = LUA_NOREF;
  }
  return c->h;
}

static void op_fail(rconn *c, const char *kind, const char *msg) {
  double token = c->token;
  pk__host *h = op_end(c);
  if (!h) return;
  pk__ob_fail(h, token, kind, msg);
  pk__host_unref(h);
}

/* Drops the connection at once (what it had in flight is failed or forgotten). */
static void conn_kill(rconn *c) {
  redisAsyncContext *ac = c->ac;
  if (!ac) return;
  c->ac = NULL;
  ac->data = NULL;
  redisAsyncFree(ac);   /* callbacks of pending commands run with no reply: ignored (data is NULL) */
}

static void push_reply(lua_State *L, redisReply *r, int top) {
  switch (r->type) {
  case REDIS_REPLY_STRING: case REDIS_REPLY_STATUS:
    lua_pushlstring(L, r->str, r->len);
    break;
  case REDIS_REPLY_INTEGER:
    lua_pushnumber(L, (lua_Number)r->integer);
    break;
  case REDIS_REPLY_NIL:
    if (top) lua_pushnil(L); else lua_pushlightuserdata(L, NULL);   /* cjson.null inside arrays */
    break;
  case REDIS_REPLY_ERROR:   /* inside an array (or a pipeline's list): { false, message } */
    lua_createtable(L, 2, 0);
    lua_pushboolean(L, 0);
    lua_rawseti(L, -2, 1);
    lua_pushlstring(L, r->str, r->len);
    lua_rawseti(L, -2, 2);
    break;
  case REDIS_REPLY_ARRAY:
    lua_createtable(L, (int)r->elements, 0);
    for (size_t i = 0; i < r->elements; i++) {
      push_reply(L, r->element[i], 0);
      lua_rawseti(L, -2, (int)i + 1);
    }
    break;
  default:
    lua_pushnil(L);
  }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  rconn *c = ac->data;
  redisReply *r = reply;
  if (!c || !c->busy) return;           /* dropped, timed out or cancelled */
  if (!r) { op_fail(c, "closed", ac->errstr[0] ? ac->errstr : "the connection to Redis was lost"); return; }
  lua_State *L = c->h->L;
  if (c->results_ref != LUA_NOREF) {      /* a pipeline: collect, resume after the last */
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->results_ref);
    push_reply(L, r, 0);
    lua_rawseti(L, -2, ++c->got);
    if (c->got < c->expect) { lua_pop(L, 1); return; }
    double token = c->token;
    pk__host *h = op_end(c);   /* unrefs results_ref; the table stays on the stack */
    pk__host_resume(h, token, 1);
    pk__host_unref(h);
    return;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    char msg[512];
    snprintf(msg, sizeof msg, "%.*s", (int)(r->len < 500 ? r->len : 500), r->str);
    op_fail(c, "redis", msg);
    return;
  }
  push_reply(L, r, 1);
  double token = c->token;
  pk__host *h = op_end(c);
  pk__host_resume(h, token, 1);
  pk__host_unref(h);
}

static void on_timeout(uv_timer_t *t) {
  rconn *c = t->data;
  if (!c->busy) return;
  conn_kill(c);   /* a late reply would answer the next command: the connection cannot be kept */
  op_fail(c, "timeout", c->connected ? "no reply from Redis in time" : "cannot connect to Redis in time");
}

static void on_connect(const redisAsyncContext *ac, int status) {
  rconn *c = ac->data;
  if (!c) return;
  if (status != REDIS_OK) {
    snprintf(c->err, sizeof c->err, "%s", ac->errstr);
    c->ac = NULL;   /* hiredis frees it after this callback */
    op_fail(c, strstr(c->err, "timed out") ? "timeout" : "refused", c->err);
    return;
  }
  c->connected = 1;
  double token = c->token;
  pk__host *h = op_end(c);
  if (!h) return;
  lua_pushboolean(h->L, 1);
  pk__host_resume(h, token, 1);
  pk__host_unref(h);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  rconn *c = ac->data;
  if (!c) return;
  c->ac = NULL;
  op_fail(c, "closed", "the connection to Redis was lost");
}

static void op_begin(rconn *c, double token, double ms) {
  c->busy = 1;
  c->token = token;
  c->got = 0;
  pk__host_ref(c->h);
  uv_timer_start(&c->timer, on_timeout, pk__ob_ms(ms), 0);
}

/* Starts connecting to an IP address. Returns 0, or -1 with the reason in c->err (nothing resumed). */
static int connect_ip(rconn *c, const char *ip) {
  redisAsyncContext *ac = redisAsyncConnect(ip, c->port);
  if (!ac || ac->err) {
    snprintf(c->err, sizeof c->err, "%s", ac ? ac->errstr : "out of memory");
    if (ac) redisAsyncFree(ac);
    return -1;
  }
  ac->data = c;
  c->ac = ac;
  if (pk__redis_uv_attach(ac, c->loop) != REDIS_OK) {
    conn_kill(c);
    snprintf(c->err, sizeof c->err, "cannot attach the connection to the loop");
    return -1;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  rconn *c = req->data;
  char ip[64] = "";
  if (status == 0 && res) {
    if (res->ai_family == AF_INET) uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
    else uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
  }
  if (res) uv_freeaddrinfo(res);
  if (c->busy) {
    if (status) op_fail(c, "dns", uv_strerror(status));
    else if (connect_ip(c, ip)) op_fail(c, "refused", c->err);
  }
  conn_release(c);
}

static rconn *check_conn(lua_State *L) {
  rconn **p = luaL_checkudata(L, 1, CONN_MT);
  if (!*p) luaL_error(L, "pikku.redis: the connection is closed");
  return *p;
}

/* connect(host, port, token, timeout_ms) -> conn: the call waiting on token is resumed with true
 * once connected, or (nil, kind, message). A failure known at once returns (nil, kind, message)
 * instead, and nothing is resumed. */
static int l_connect(lua_State *L) {
  uv_loop_t *loop = pk__ob_loop(L, "pikku.redis");
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  double token = luaL_checknumber(L, 3);
  double ms = luaL_checknumber(L, 4);
  rconn **p = lua_newuserdata(L, sizeof *p);
  *p = NULL;
  rconn *c = calloc(1, sizeof *c);
  if (!c) return luaL_error(L, "out of memory");
  *p = c;
  luaL_getmetatable(L, CONN_MT);
  lua_setmetatable(L, -2);
  c->h = pk__host_upvalue(L);
  c->loop = loop;
  c->port = port;
  c->results_ref = LUA_NOREF;
  c->refs = 2;   /* the userdata and the timer */
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  op_begin(c, token, ms);
  struct in6_addr a6;
  struct in_addr a4;
  if (inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
    if (connect_ip(c, host)) {
      pk__host *h = op_end(c);
      if (h) pk__host_unref(h);
      lua_pushnil(L);
      lua_pushstring(L, "refused");
      lua_pushstring(L, c->err);
      return 3;
    }
  } else {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    c->refs++;
    int rc = uv_getaddrinfo(loop, &c->gai, on_resolved, host, NULL, &hints);
    if (rc) {
      c->refs--;
      pk__host *h = op_end(c);
      if (h) pk__host_unref(h);
      lua_pushnil(L);
      lua_pushstring(L, "dns");
      lua_pushstring(L, uv_strerror(rc));
      return 3;
    }
  }
  return 1;
}

/* Pushes argv from the Lua values at [first, top]: strings and numbers. */
static int collect_args(lua_State *L, int first, const char **argv, size_t *lens) {
  int n = lua_gettop(L) - first + 1;
  if (n > MAX_ARGS) return luaL_error(L, "pikku.redis: more than %d arguments", MAX_ARGS);
  for (int i = 0; i < n; i++) {
    int idx = first + i;
    int t = lua_type(L, idx);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
      return luaL_error(L, "pikku.redis: argument #%d is a %s (give a string or a number)", i + 1, lua_typename(L, t));
    argv[i] = lua_tolstring(L, idx, &lens[i]);
  }
  return n;
}

/* Writes the commands just queued at once (redis_uv.c): returns 0, or 3 with (nil, "closed",
 * message) pushed when the write failed (the connection is dropped; nothing is resumed). */
static int send_now(lua_State *L, rconn *c) {
  if (pk__redis_uv_flush(c->ac) == 0) return 0;
  char msg[200];
  snprintf(msg, sizeof msg, "%s", c->ac->c.errstr[0] ? c->ac->c.errstr : "cannot write to Redis");
  conn_kill(c);
  lua_pushnil(L);
  lua_pushstring(L, "closed");
  lua_pushstring(L, msg);
  return 3;
}

static int need_ready(lua_State *L, rconn *c) {
  if (c->busy) return luaL_error(L, "pikku.redis: the connection is in use by another operation");
  if (!c->ac) return luaL_error(L, "pikku.redis: the connection is closed");
  return 0;
}

/* conn:command(token, timeout_ms, name, args...): the call waiting on token is resumed with the
 * reply (nil for a nil reply), or (nil, kind, message); kind "redis" for an error reply. The
 * command is written before this returns; when that fails it returns (nil, "closed", message)
 * and nothing is resumed. */
static int l_command(lua_State *L) {
  rconn *c = check_conn(L);
  need_ready(L, c);
  double token = luaL_checknumber(L, 2);
  double ms = luaL_checknumber(L, 3);
  luaL_checkstring(L, 4);
  static const char *argv[MAX_ARGS];
  static size_t lens[MAX_ARGS];
  int n = collect_args(L, 4, argv, lens);
  if (redisAsyncCommandArgv(c->ac, on_reply, NULL, n, argv, lens) != REDIS_OK)
    return luaL_error(L, "pikku.redis: cannot send the command");
  int r = send_now(L, c);
  if (r) return r;
  op_begin(c, token, ms);
  return 0;
}

/* conn:pipeline(token, timeout_ms, {{name, args...}, ...}): resumed with a list of the replies
 * (an error reply is {false, message}; a nil one cjson.null), or (nil, kind, message); written
 * at once, as command's. */
static int l_pipeline(lua_State *L) {
  rconn *c = check_conn(L);
  need_ready(L, c);
  double token = luaL_checknumber(L, 2);
  double ms = luaL_checknumber(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  int ncmd = (int)lua_objlen(L, 4);
  if (ncmd == 0) return luaL_error(L, "pikku.redis: an empty pipeline");
  static const char *argv[MAX_ARGS];
  static size_t lens[MAX_ARGS];
  for (int i = 1; i <= ncmd; i++) {
    lua_settop(L, 4);
    lua_rawgeti(L, 4, i);
    if (!lua_istable(L, 5)) return luaL_error(L, "pikku.redis: pipeline command #%d is not a list", i);
    int nargs = (int)lua_objlen(L, 5);
    if (nargs < 1 || nargs > MAX_ARGS - 8) return luaL_error(L, "pikku.redis: pipeline command #%d is empty or too long", i);
    for (int k = 1; k <= nargs; k++) lua_rawgeti(L, 5, k);
    int n = collect_args(L, 6, argv, lens);
    if (redisAsyncCommandArgv(c->ac, on_reply, NULL, n, argv, lens) != REDIS_OK) {
      conn_kill(c);
      return luaL_error(L, "pikku.redis: cannot send the pipeline");
    }
  }
  lua_settop(L, 4);
  int r = send_now(L, c);
  if (r) return r;
  lua_createtable(L, ncmd, 0);
  c->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->expect = ncmd;
  op_begin(c, token, ms);
  return 0;
}

/* conn:alive() -> true while connected and not failed. Asking the socket is not needed: its poll
 * watches it while it is idle too, and a connection the server closed (or that read anything
 * while no reply was awaited) is disconnected when the loop sees it (redis_uv.c). */
static int l_alive(lua_State *L) {
  rconn **p = luaL_checkudata(L, 1, CONN_MT);
  rconn *c = *p;
  lua_pushboolean(L, c && c->ac && c->connected && !c->busy);
  return 1;
}

/* conn:cancel(): forgets the operation in flight (its call is not resumed) and drops the connection. */
static int l_cancel(lua_State *L) {
  rconn **p = luaL_checkudata(L, 1, CONN_MT);
  rconn *c = *p;
  if (!c) return 0;
  conn_kill(c);
  pk__host *h = op_end(c);
  if (h) pk__host_unref(h);
  return 0;
}

static int l_close(lua_State *L) {
  rconn **p = luaL_checkudata(L, 1, CONN_MT);
  rconn *c = *p;
  if (!c) return 0;
  *p = NULL;
  conn_kill(c);
  pk__host *h = op_end(c);
  if (h) pk__host_unref(h);
  uv_close((uv_handle_t *)&c->timer, timer_closed);
  conn_release(c);
  return 0;
}

int luaopen_pikku_redis_c(lua_State *L) {
  pk__host *h = pk__host_of(L);
  if (!h) return luaL_error(L, "pikku.redis_c: only inside the pikku host");
  luaL_newmetatable(L, CONN_MT);
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  const luaL_Reg methods[] = {
    {"command", l_command}, {"pipeline", l_pipeline}, {"alive", l_alive}, {"cancel", l_cancel},
    {"close", l_close}, {NULL, NULL},
  };
  for (const luaL_Reg *m = methods; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushlightuserdata(L, h);
  lua_pushcclosure(L, l_connect, 1);
  lua_setfield(L, -2, "connect");
  return 1;
}
