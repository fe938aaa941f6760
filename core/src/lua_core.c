/* lua_core.c: the `pikku.core` module: what Lua functions may ask of the C core. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "clock.h"
#include "host.h"
#include "http_conn.h"
#include "http_response.h"
#include "hub.h"
#include "log.h"
#include "lua_core.h"
#include "lua_modules.h"
#include "pikku.h"
#include "traceparent.h"
#include "utf8.h"
#include "worker.h"
#include "ws_conn.h"


static int need_worker(lua_State *L) {
  if (!pk__W) return luaL_error(L, "pikku.core: not available while the app is loading");
  return 0;
}

static int l_add_route(lua_State *L) {
  pk__host *h = pk__host_upvalue(L);
  const char *method = luaL_checkstring(L, 1);
  const char *pattern = luaL_checkstring(L, 2);
  int index = (int)luaL_checkinteger(L, 3);
  const char *kind = luaL_optstring(L, 4, "http");
  char err[512];
  int k = !strcmp(kind, "channel") ? PK_ROUTE_CHANNEL : !strcmp(kind, "sse") ? PK_ROUTE_SSE
        : !strcmp(kind, "preflight") ? PK_ROUTE_PREFLIGHT : !strcmp(kind, "static") ? PK_ROUTE_STATIC
        : !strcmp(kind, "http") ? PK_ROUTE_HTTP : !strcmp(kind, "http+channel") ? PK_ROUTE_HTTP_CHANNEL : -1;
  if (k < 0)
    return luaL_error(L, "add_route: kind must be \"http\", \"channel\", \"http+channel\", \"sse\", \"static\" or \"preflight\", got \"%s\"", kind);
  if (pk__router_add(h->router, method, pattern, index, err, sizeof err)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  if (k != PK_ROUTE_HTTP && pk__host_mark_route(h, index, k)) return luaL_error(L, "out of memory");
  if ((k == PK_ROUTE_CHANNEL || k == PK_ROUTE_HTTP_CHANNEL) && lua_type(L, 5) == LUA_TTABLE) {   /* the channel's subprotocols, in preference order */
    const char *names[64];
    int n = (int)lua_objlen(L, 5);
    if (n > 64) return luaL_error(L, "add_route: at most 64 subprotocols");
    for (int i = 0; i < n; i++) {
      lua_rawgeti(L, 5, i + 1);
      names[i] = lua_tostring(L, -1);
      if (!names[i]) return luaL_error(L, "add_route: subprotocols must be strings");
      lua_pop(L, 1);   /* the string stays alive in the table */
    }
    if (n && pk__host_set_protocols(h, index, names, n)) return luaL_error(L, "out of memory");
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* match(method, path) -> index, {raw params...} | nil, 404 | nil, 405, "GET, HEAD" (in-process requests) */
static int l_match(lua_State *L) {
  pk__host *h = pk__host_upvalue(L);
  size_t mlen, plen;
  const char *method = luaL_checklstring(L, 1, &mlen);
  const char *path = luaL_checklstring(L, 2, &plen);
  pk__route_match m;
  int rc = pk__router_match(h->router, pk__method_id(method, mlen), path, plen, &m);
  if (rc == 1) {
    lua_pushinteger(L, m.index);
    lua_createtable(L, m.nparams, 0);
    for (int i = 0; i < m.nparams; i++) {
      lua_pushlstring(L, m.params[i].p, m.params[i].n);
      lua_rawseti(L, -2, i + 1);
    }
    return 2;
  }
  lua_pushnil(L);
  if (rc == 0) { lua_pushinteger(L, 404); return 2; }
  char allow[96];
  pk__router_allow_str(m.allow, allow, sizeof allow);
  lua_pushinteger(L, 405);
  lua_pushstring(L, allow);
  return 3;
}

static char *dup_field(lua_State *L, int t, const char *name) {
  lua_getfield(L, t, name);
  const char *v = lua_tostring(L, -1);
  char *r = v ? strdup(v) : NULL;
  lua_pop(L, 1);
  return r;
}

/* cors{ origins = {...} | "*", methods = "GET, POST"?, headers = "..."?, expose_headers = "..."?,
 * credentials = bool, max_age = n? } (pikku.cors's lists joined by pikku.cors.configure): the
 * settings every CORS answer of this app is made from, by cors.c alone (preflights without
 * entering Lua). */
static int l_cors(lua_State *L) {
  pk__host *h = pk__host_upvalue(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  pk__cors *c = calloc(1, sizeof *c);
  if (!c) return luaL_error(L, "out of memory");
  lua_getfield(L, 1, "origins");
  if (lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "*") == 0) c->any_origin = 1;
  else if (lua_istable(L, -1)) {
    int n = (int)lua_objlen(L, -1);
    c->origins = calloc((size_t)(n ? n : 1), sizeof(char *));
    for (int i = 1; c->origins && i <= n; i++) {
      lua_rawgeti(L, -1, i);
      if (lua_isstring(L, -1)) c->origins[c->norigins++] = strdup(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  c->methods = dup_field(L, 1, "methods");
  c->headers = dup_field(L, 1, "headers");
  c->expose = dup_field(L, 1, "expose_headers");
  lua_getfield(L, 1, "credentials");
  c->credentials = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "max_age");
  c->max_age = lua_isnumber(L, -1) ? (long)lua_tonumber(L, -1) : -1;
  lua_pop(L, 1);
  pk__cors_free(h->cors);
  h->cors = c;
  return 0;
}

/* The header lines cors.c writes for Lua: one buffer, reused by every call (a call per request). */
static pk__buf cors_lines;

/* Pushes cors_lines (nil when empty) after cors.c wrote them (rc: what it returned). */
static int push_lines(lua_State *L, int rc) {
  if (rc) return luaL_error(L, "out of memory");
  if (cors_lines.len) lua_pushlstring(L, cors_lines.data, cors_lines.len); else lua_pushnil(L);
  return 1;
}

/* cors_response(origin?) -> the CORS header lines of an answer to this origin, or nil (also
 * without pikku.cors): for the answers Lua makes, the same lines the core's own answers carry. */
static int l_cors_response(lua_State *L) {
  pk__host *h = pk__host_upvalue(L);
  size_t olen = 0;
  const char *origin = lua_isstring(L, 1) ? lua_tolstring(L, 1, &olen) : NULL;
  if (!h->cors) return 0;
  pk__buf_reset(&cors_lines);
  return push_lines(L, pk__cors_response_headers(h->cors, &cors_lines, origin, olen));
}

/* cors_preflight(origin?, request_headers?, path) -> the header lines of the 204 answer to a
 * preflight on path (what the core answers itself on a socket; for in-process requests). */
static int l_cors_preflight(lua_State *L) {
  pk__host *h = pk__host_upvalue(L);
  size_t olen = 0, rlen = 0, plen;
  const char *origin = lua_isstring(L, 1) ? lua_tolstring(L, 1, &olen) : NULL;
  const char *req = lua_isstring(L, 2) ? lua_tolstring(L, 2, &rlen) : NULL;
  const char *path = luaL_checklstring(L, 3, &plen);
  if (!h->cors) return 0;
  char wired[96];
  pk__router_path_methods(h->router, path, plen, wired, sizeof wired);
  pk__buf_reset(&cors_lines);
  return push_lines(L, pk__cors_preflight_headers(h->cors, &cors_lines, origin, olen, req, rlen, wired));
}

/* request_id(x_request_id?, traceparent?) -> the errorId of a call, as the core picks its own
 * (pk__call_id: the X-Request-Id, else the traceparent's trace-id, else a new id) */
static int l_request_id(lua_State *L) {
  size_t n = 0, tn = 0, len;
  const char *client = lua_isstring(L, 1) ? lua_tolstring(L, 1, &n) : NULL;
  const char *tp = lua_isstring(L, 2) ? lua_tolstring(L, 2, &tn) : NULL;
  char gen[33];
  const char *id = pk__call_id(client, n, tp, tn, gen, &len);
  if (id == client) lua_pushvalue(L, 1); else lua_pushlstring(L, id, len);
  return 1;
}

static const char *opt_lstring(lua_State *L, int i, size_t *len) {
  if (lua_isnoneornil(L, i)) { *len = 0; return NULL; }
  return luaL_checklstring(L, i, len);
}

/* ---- channels (docs/internals.md, Channels) ---- */

static pk__conn *ws_conn(lua_State *L) {
  return pk__W ? pk__conn_from_cid(luaL_checknumber(L, 1)) : NULL;
}

/* Text goes out as UTF-8 (RFC 6455 section 5.6 for text frames and close reasons; an EventSource
 * decodes its stream as UTF-8): text that is not is the app's mistake, raised here where the app
 * can see it, instead of sent to a client that must then fail the connection. The check is on
 * every text sent; the validator goes eight bytes at a time over ASCII, so JSON costs little. */
#define NOT_UTF8 "wire.channel.send: text must be valid UTF-8; use send_binary for bytes"

/* Raises msg as it is: no "file:line" of pikku's own Lua module that called the core. */
static int raise_plain(lua_State *L, const char *msg) {
  lua_pushstring(L, msg);
  return lua_error(L);
}

static int l_ws_send(lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int binary = lua_toboolean(L, 3);
  if (!binary && !pk__utf8_valid(data, len)) return raise_plain(L, NOT_UTF8);
  pk__conn *c = ws_conn(L);
  if (!c || pk__ws_send(c, binary ? PK__WS_OP_BINARY : PK__WS_OP_TEXT, data, len)) return 0;
  lua_pushboolean(L, 1);
  return 1;
}

static int l_ws_close(lua_State *L) {
  int code = (int)luaL_optinteger(L, 2, 1000);
  size_t rlen;
  const char *reason = luaL_optlstring(L, 3, "", &rlen);
  if (code != 1000 && !(code >= 3000 && code <= 4999) && !pk__ws_close_code_valid(code))
    return luaL_error(L, "ws_close: %d is not a close code an app may send (1000 or 3000-4999)", code);
  if (!pk__utf8_valid(reason, rlen)) return raise_plain(L, "wire.channel.close: the close reason must be valid UTF-8 text");
  pk__conn *c = ws_conn(L);
  if (!c) return 0;
  pk__ws_close(c, code, reason, rlen);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_channel_set(lua_State *L) {
  const char *key = luaL_checkstring(L, 2);
  size_t vlen;
  const char *v = opt_lstring(L, 3, &vlen);
  pk__conn *c = ws_conn(L);
  if (!c) return 0;
  if (pk__ws_kv_set(c->ws, key, v, vlen)) return luaL_error(L, "out of memory");
  lua_pushboolean(L, 1);
  return 1;
}

static int l_channel_get(lua_State *L) {
  const char *key = luaL_checkstring(L, 2);
  pk__conn *c = ws_conn(L);
  size_t vlen;
  const pk__ws *ws = c ? c->ws : NULL;
  if (!ws && pk__ws_closing && pk__ws_closing->cid == luaL_checknumber(L, 1)) ws = pk__ws_closing;
  const char *v = ws ? pk__ws_kv_get(ws, key, &vlen) : NULL;
  if (!v) { lua_pushnil(L); return 1; }
  lua_pushlstring(L, v, vlen);
  return 1;
}

/* A topic refused by the core's limits: nil, why (the caller raises it as the app's error: 429
 * for too many topics, 400 for a name too long). */
static int refused_topic(lua_State *L, const char *why) {
  lua_pushnil(L);
  lua_pushstring(L, why);
  return 2;
}

static int l_subscribe(lua_State *L) {
  size_t tlen;
  const char *topic = luaL_checklstring(L, 2, &tlen);
  pk__conn *c = ws_conn(L);
  if (!c) return 0;
  int rc = pk__topic_subscribe(c, c->ws, topic, tlen);
  if (rc == -E2BIG) return refused_topic(L, PK__WS_TOO_MANY_TOPICS);
  if (rc == -ENAMETOOLONG) return refused_topic(L, PK__WS_TOPIC_TOO_LONG);
  if (rc) return luaL_error(L, "out of memory");
  lua_pushboolean(L, 1);
  return 1;
}

static int l_unsubscribe(lua_State *L) {
  size_t tlen;
  const char *topic = luaL_checklstring(L, 2, &tlen);
  if (tlen > PK__WS_MAX_TOPIC_LEN) return refused_topic(L, PK__WS_TOPIC_TOO_LONG);
  pk__conn *c = ws_conn(L);
  if (!c) return 0;
  pk__topic_unsubscribe(c->ws, topic, tlen);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_publish(lua_State *L) {
  size_t tlen, dlen;
  const char *topic = luaL_checklstring(L, 1, &tlen);
  const char *data = luaL_checklstring(L, 2, &dlen);
  double exclude = luaL_optnumber(L, 3, 0);
  if (tlen > PK__WS_MAX_TOPIC_LEN) return refused_topic(L, PK__WS_TOPIC_TOO_LONG);
  if (!pk__utf8_valid(data, dlen))
    return raise_plain(L, "services.eventhub:publish: the data must be valid UTF-8 text (it goes out as text frames and events)");
  /* the same limit everywhere: a message the hub cannot carry reaches no subscriber at all,
   * rather than only those of this worker */
  if (PK_HUB_PUBLISH_FIXED + tlen + dlen > PK_HUB_MAX_FRAME)
    return luaL_error(L, "publish: topic and data over %d bytes (the limit of a message between workers)",
                      (int)(PK_HUB_MAX_FRAME - PK_HUB_PUBLISH_FIXED));
  if (!pk__W) return 0;
  int n = pk__channel_publish(topic, tlen, data, dlen, exclude);   /* the size was checked above */
  if (n < 0)
    return luaL_error(L, "publish: over 16 MiB of publishes already wait to go to the other workers (a burst"
                      " faster than the master forwards it); this one is dropped for every subscriber");
  lua_pushinteger(L, n);
  return 1;
}

static int l_respond(lua_State *L) {
  need_worker(L);
  double handle = luaL_checknumber(L, 1);
  int status = (int)luaL_checkinteger(L, 2);
  size_t blen, ctlen, elen, idlen;
  const char *body = opt_lstring(L, 3, &blen);
  const char *ct = opt_lstring(L, 4, &ctlen);
  const char *extra = opt_lstring(L, 5, &elen);
  const char *id = opt_lstring(L, 6, &idlen);
  if (pk__conn_respond(handle, status, body, blen, ct, ctlen, extra, elen, id, idlen)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_header(lua_State *L) {
  double handle = luaL_checknumber(L, 1);
  size_t nlen, vlen;
  const char *name = luaL_checklstring(L, 2, &nlen);
  const char *v = pk_rt_header(handle, name, nlen, &vlen);
  if (!v) return 0;
  lua_pushlstring(L, v, vlen);
  return 1;
}

/* peer(handle or channel id) -> "ip", port | nil: the address of the client of a request, or of a
 * channel (whose upgrade request's handle is gone once the connection is a channel) */
static int l_peer(lua_State *L) {
  double handle = luaL_checknumber(L, 1);
  pk__conn *c = pk__W ? pk__conn_from_handle(handle) : NULL;
  if (!c && pk__W) c = pk__conn_from_cid(handle);
  if (!c) return 0;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len)) return 0;
  char ip[INET6_ADDRSTRLEN] = "";
  int port;
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
  }
  lua_pushstring(L, ip);
  lua_pushinteger(L, port);
  return 2;
}

static int l_headers(lua_State *L) {
  double handle = luaL_checknumber(L, 1);
  pk__conn *c = pk__W ? pk__conn_from_handle(handle) : NULL;
  if (!c) return 0;
  pk__request *r = &c->parser.req;
  lua_createtable(L, 0, r->nheaders);
  char name[256];
  for (int i = 0; i < r->nheaders; i++) {
    pk__header *hd = &r->headers[i];
    size_t n = hd->name_len < sizeof name ? hd->name_len : sizeof name - 1;
    for (size_t j = 0; j < n; j++) {
      char ch = r->head.data[hd->name_off + j];
      name[j] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    lua_pushlstring(L, name, n);
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isstring(L, -1)) {
      lua_pushlstring(L, pk__header_separator(name, n), 2);
      lua_pushlstring(L, r->head.data + hd->value_off, hd->value_len);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, r->head.data + hd->value_off, hd->value_len);
    }
    lua_rawset(L, -3);
  }
  return 1;
}

/* core.timer's timers, kept in a list so that pk__core_cancel_timers can drop the pending ones. */
typedef struct lua_timer { uv_timer_t t; pk__host *h; double token; struct lua_timer *prev, *next; } lua_timer;
static lua_timer *pending_timers;

static void timer_closed(uv_handle_t *t) { free(t->data); }

static void timer_unlink(lua_timer *lt) {
  if (lt->prev) lt->prev->next = lt->next; else pending_timers = lt->next;
  if (lt->next) lt->next->prev = lt->prev;
}

static void timer_fired(uv_timer_t *t) {
  lua_timer *lt = t->data;
  timer_unlink(lt);
  pk__host_resume(lt->h, lt->token, 0);
  pk__host_unref(lt->h);
  uv_close((uv_handle_t *)&lt->t, timer_closed);
}

void pk__core_cancel_timers(void) {
  while (pending_timers) {
    lua_timer *lt = pending_timers;
    timer_unlink(lt);
    uv_timer_stop(&lt->t);
    pk__host_unref(lt->h);
    uv_close((uv_handle_t *)&lt->t, timer_closed);
  }
}

static int l_timer(lua_State *L) {
  need_worker(L);
  double ms = luaL_checknumber(L, 1);
  double token = luaL_checknumber(L, 2);
  if (ms < 0) ms = 0;
  lua_timer *lt = malloc(sizeof *lt);
  if (!lt) return luaL_error(L, "out of memory");
  lt->h = pk__host_upvalue(L);
  lt->token = token;
  lt->prev = NULL;
  lt->next = pending_timers;
  if (pending_timers) pending_timers->prev = lt;
  pending_timers = lt;
  uv_timer_init(pk__W->loop, &lt->t);
  lt->t.data = lt;
  pk__host_ref(lt->h);
  uv_timer_start(&lt->t, timer_fired, (uint64_t)ms, 0);
  return 0;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, pk__clock_ms());
  return 1;
}

static int l_gen_id(lua_State *L) {
  char id[33];
  lua_pushlstring(L, id, pk__gen_id(id));
  return 1;
}

static int l_log(lua_State *L) {
  const char *level = luaL_checkstring(L, 1);
  size_t len;
  const char *msg = luaL_checklstring(L, 2, &len);
  size_t idlen;
  const char *id = opt_lstring(L, 3, &idlen);
  if (strcmp(level, "info") && strcmp(level, "warn") && strcmp(level, "error") && strcmp(level, "debug"))
    return luaL_error(L, "log level must be debug, info, warn or error, got \"%s\"", level);
  pk__log_msg(level, msg, len, id, idlen);
  return 0;
}

static int l_log_error(lua_State *L) {
  size_t idlen, len;
  const char *id = opt_lstring(L, 1, &idlen);
  const char *msg = luaL_checklstring(L, 2, &len);
  pk__log_msg("error", msg, len, id, idlen);
  return 0;
}

int luaopen_pikku_core(lua_State *L) {
  pk__host *h = pk__host_of(L);
  if (!h) return luaL_error(L, "pikku.core: only inside the pikku host (a state made by pk__host_new)");
  const pk__options *o = h->opts;
  static const luaL_Reg fns[] = {
    {"add_route", l_add_route}, {"match", l_match}, {"cors", l_cors}, {"cors_response", l_cors_response},
    {"cors_preflight", l_cors_preflight}, {"request_id", l_request_id}, {"ws_send", l_ws_send},
    {"ws_close", l_ws_close}, {"channel_set", l_channel_set}, {"channel_get", l_channel_get},
    {"subscribe", l_subscribe}, {"unsubscribe", l_unsubscribe}, {"publish", l_publish}, {"respond", l_respond}, {"header", l_header}, {"headers", l_headers},
    {"peer", l_peer},
    {"timer", l_timer}, {"now", l_now}, {"gen_id", l_gen_id}, {"log", l_log}, {"log_error", l_log_error},
    {NULL, NULL},
  };
  lua_newtable(L);
  lua_pushlightuserdata(L, h);   /* every function's upvalue: the host */
  luaL_setfuncs(L, fns, 1);
  lua_pushboolean(L, o->dev);
  lua_setfield(L, -2, "dev");
  lua_pushboolean(L, o->test);
  lua_setfield(L, -2, "test");
  lua_pushstring(L, o->app_dir);
  lua_setfield(L, -2, "app_dir");
  lua_pushstring(L, o->api_docs);   /* --api-docs PATH|off, or nil (pikku.api_docs decides) */
  lua_setfield(L, -2, "api_docs");
  lua_pushinteger(L, h->worker);
  lua_setfield(L, -2, "worker");
  lua_pushstring(L, PIKKU_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushinteger(L, PK__WS_MAX_TOPICS);   /* the limit C applies; in-process channels ask it too */
  lua_setfield(L, -2, "MAX_TOPICS");
  lua_pushstring(L, PK__WS_TOO_MANY_TOPICS);
  lua_setfield(L, -2, "TOO_MANY_TOPICS");
  lua_pushinteger(L, PK__WS_MAX_TOPIC_LEN);   /* the longest topic name C takes */
  lua_setfield(L, -2, "MAX_TOPIC_LEN");
  lua_pushstring(L, PK__WS_TOPIC_TOO_LONG);
  lua_setfield(L, -2, "TOPIC_TOO_LONG");
  return 1;
}
